// Parlor's window. Everything it shows is built from the engine's event
// stream ("engine-event"); commands only start and stop things.
//
// Text that comes from other people (names, messages, reasons) is only ever
// put on the page with textContent, never as HTML.
"use strict";

const { invoke } = window.__TAURI__.core;
const { listen } = window.__TAURI__.event;

const $ = (id) => document.getElementById(id);

/** What the window knows about the room, rebuilt from events. */
const model = {
  view: "start",
  room: null, // { link, peerId }
  peers: new Map(), // id -> { id, name, parlor, state, path, detail, steps: [{ at, label, kind }] }
  messages: [], // { el, mine, id, sentTo: Set, deliveredTo: Set, failedTo: Set, failed }
  early: new Map(), // message id -> delivery events that arrived before send_message returned it
  gone: new Set(), // peers that left; their connections' last events are ignored
};

// ---------------------------------------------------------------- helpers

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function clockTime(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

function shortId(id) {
  return id.length > 8 ? id.slice(0, 8) : id;
}

function peerLabel(id, name) {
  if (name) return name;
  const peer = model.peers.get(id);
  if (peer && peer.name) return peer.name;
  return `Peer ${shortId(id)}`;
}

/** An error from a command: { kind, message } from Rust, or anything else. */
function errorText(error) {
  if (error && typeof error === "object" && "message" in error) return String(error.message);
  return String(error);
}

function showBanner(text, tone = "error") {
  $("banner-text").textContent = text;
  $("banner").dataset.tone = tone;
  $("banner").hidden = false;
}

function hideBanner() {
  $("banner").hidden = true;
}

function setServerStatus(text, tone) {
  const pill = $("server-status");
  pill.hidden = !text;
  pill.textContent = text || "";
  pill.dataset.tone = tone || "";
}

// ---------------------------------------------------------------- views

function showView(view) {
  model.view = view;
  $("start-view").hidden = view === "room";
  $("room-view").hidden = view !== "room";
  const busy = view === "joining";
  $("create-room").disabled = busy;
  $("join-room").disabled = busy;
  $("join-link").disabled = busy;
  document.body.dataset.view = view;
}

function resetRoom() {
  model.room = null;
  model.peers.clear();
  model.messages = [];
  model.early = new Map();
  model.gone.clear();
  $("message-log").replaceChildren();
  renderPeers();
  setServerStatus("");
}

function enterRoom(info) {
  model.room = info;
  $("room-link").value = info.link;
  const qr = $("room-qr");
  if (info.qrSvg) {
    qr.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(info.qrSvg)}`;
    qr.hidden = false;
  } else {
    qr.hidden = true;
  }
  $("start-progress").hidden = true;
  showView("room");
  $("message-input").focus();
}

function leftRoom() {
  resetRoom();
  showView("start");
  $("create-room").focus();
}

// ---------------------------------------------------------------- joining

async function startJoin(what, call) {
  hideBanner();
  $("join-error").hidden = true;
  resetRoom();
  showView("joining");
  $("start-progress").textContent = what;
  $("start-progress").hidden = false;
  try {
    enterRoom(await call());
  } catch (error) {
    resetRoom();
    showView("start");
    $("start-progress").hidden = true;
    if (error && error.kind === "bad-link") {
      $("join-error").textContent = errorText(error);
      $("join-error").hidden = false;
      $("join-link").focus();
    } else {
      showBanner(errorText(error));
    }
  }
}

function createRoom() {
  startJoin("Creating a room…", () => invoke("create_room"));
}

function joinRoom(link) {
  const trimmed = link.trim();
  if (!trimmed) {
    $("join-error").textContent = "Paste a room link first.";
    $("join-error").hidden = false;
    $("join-link").focus();
    return;
  }
  if (model.room && model.room.link === trimmed) return;
  startJoin("Joining the room…", () => invoke("join_room", { link: trimmed }));
}

async function leaveRoom() {
  try {
    await invoke("leave_room");
  } catch (error) {
    if (!error || error.kind !== "not-in-room") showBanner(errorText(error));
  }
  leftRoom();
}

/** Joins a link that arrived from outside (command line, deep link). */
async function takePendingLink() {
  const snapshot = await invoke("get_state");
  if (snapshot.pendingLink) {
    $("join-link").value = snapshot.pendingLink;
    joinRoom(snapshot.pendingLink);
  }
  return snapshot;
}

// ---------------------------------------------------------------- peers

const PATH_LABELS = {
  lan: "Direct on the LAN",
  nat: "Direct through NAT",
  relay: "Relayed (TURN)",
};

const STATE_LABELS = {
  joined: "In the room",
  negotiating: "Negotiating",
  connecting: "Connecting",
  encrypted: "Encrypted",
  connected: "Connected",
  reconnecting: "Reconnecting",
  failed: "Trouble",
};

/** A step's label (labels.js), with its detail when there is one. */
function stepLabel(step, detail) {
  const label = STEP_LABELS[step] || step;
  return detail ? `${label} (${detail})` : label;
}

function ensurePeer(id, parlor) {
  let peer = model.peers.get(id);
  if (!peer) {
    peer = { id, name: null, parlor: !!parlor, state: "joined", path: null, detail: null, steps: [] };
    model.peers.set(id, peer);
  }
  return peer;
}

function addStep(peer, at, label, kind = "") {
  peer.steps.push({ at, label, kind });
}

function renderPeers() {
  const list = $("peer-list");
  const template = $("peer-template");
  const items = [];
  for (const peer of model.peers.values()) {
    const item = template.content.firstElementChild.cloneNode(true);
    item.dataset.peer = peer.id;
    item.dataset.state = peer.state;
    item.querySelector(".peer-name").textContent = peerLabel(peer.id);
    item.querySelector(".peer-state").textContent = STATE_LABELS[peer.state] || peer.state;
    const path = item.querySelector(".peer-path");
    if (peer.path) {
      path.textContent = `${PATH_LABELS[peer.path.kind] || peer.path.kind} · ${peer.path.local} ↔ ${peer.path.remote}`;
      path.dataset.path = peer.path.kind;
    } else {
      path.hidden = true;
    }
    const timeline = item.querySelector(".timeline");
    const start = peer.steps.length ? peer.steps[0].at : 0;
    for (const step of peer.steps) {
      const row = el("li", `step ${step.kind}`);
      const offset = step.at - start;
      const time = el("time", "step-time", offset < 1000 ? `+${offset} ms` : `+${(offset / 1000).toFixed(2)} s`);
      time.title = clockTime(step.at);
      row.append(time, el("span", "step-label", step.label));
      timeline.append(row);
    }
    items.push(item);
  }
  list.replaceChildren(...items);
  $("peer-count").textContent = String(model.peers.size);
  $("no-peers").hidden = model.peers.size > 0;
  $("empty-log").hidden = $("message-log").childElementCount > 0;
}

// ---------------------------------------------------------------- messages

function appendMessage({ mine, from, name, text, at }) {
  const item = el("li", mine ? "message mine" : "message");
  item.dataset.from = mine ? "me" : from;
  const meta = el("div", "message-meta");
  meta.append(el("span", "sender", mine ? "You" : peerLabel(from, name)));
  const time = el("time", "message-time", clockTime(at));
  time.dateTime = new Date(at).toISOString();
  meta.append(time);
  const status = el("span", "delivery");
  meta.append(status);
  item.append(meta, el("div", "text", text));
  const log = $("message-log");
  const nearBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  log.append(item);
  if (mine || nearBottom) log.scrollTop = log.scrollHeight;
  $("empty-log").hidden = true;
  const message = {
    el: item, mine, id: null, sentTo: new Set(), deliveredTo: new Set(), failedTo: new Set(), failed: false,
  };
  model.messages.push(message);
  renderDelivery(message);
  return message;
}

function appendNote(text, at) {
  const item = el("li", "note");
  item.append(el("span", "note-text", text), el("time", "message-time", clockTime(at)));
  $("message-log").append(item);
  $("message-log").scrollTop = $("message-log").scrollHeight;
}

function renderDelivery(message) {
  if (!message.mine) return;
  const status = message.el.querySelector(".delivery");
  let text;
  let state;
  if (message.failed || (message.failedTo.size > 0 && message.failedTo.size >= message.sentTo.size)) {
    [text, state] = ["Not sent", "failed"];
  } else if (message.failedTo.size > 0) {
    [text, state] = [`Not sent to ${message.failedTo.size} of ${message.sentTo.size}`, "partial"];
  } else if (message.sentTo.size === 0) {
    [text, state] = ["Sending…", "sending"];
  } else if (message.deliveredTo.size >= message.sentTo.size) {
    [text, state] = ["Delivered", "delivered"];
  } else if (message.deliveredTo.size > 0) {
    [text, state] = [`Delivered to ${message.deliveredTo.size} of ${message.sentTo.size}`, "partial"];
  } else {
    [text, state] = ["Sent", "sent"];
  }
  status.textContent = text;
  message.el.dataset.delivery = state;
}

/** Applies a `queued`, `delivered` or `send-failed` event to our message. */
function applyDelivery(message, event) {
  if (event.event === "queued") message.sentTo.add(event.to);
  if (event.event === "delivered") message.deliveredTo.add(event.to);
  if (event.event === "send-failed") message.failedTo.add(event.to);
  renderDelivery(message);
}

async function sendMessage() {
  const input = $("message-input");
  const text = input.value;
  if (!text.trim()) return;
  if (model.peers.size === 0) {
    showBanner("No one else is in the room yet. Share the link first.", "info");
    return;
  }
  input.value = "";
  const message = appendMessage({ mine: true, text, at: Date.now() });
  try {
    message.id = await invoke("send_message", { text });
    // Its first delivery events may have come in before its id did.
    for (const event of model.early.get(message.id) || []) applyDelivery(message, event);
    model.early.delete(message.id);
  } catch (error) {
    message.failed = true;
    renderDelivery(message);
    showBanner(errorText(error));
  }
}

// ---------------------------------------------------------------- engine events

function onEngineEvent(event) {
  if (model.view === "start") return;
  const at = event.at_ms;
  if (event.event === "peer-joined") model.gone.delete(event.peer);
  else if (event.peer && model.gone.has(event.peer)) return;
  const peer = event.peer ? model.peers.get(event.peer) : undefined;
  switch (event.event) {
    case "signaling-connected":
      setServerStatus("Signaling server connected", "ok");
      break;
    case "signaling-disconnected":
      setServerStatus(`Signaling server lost, retrying in ${Math.ceil(event.retry_in_ms / 1000)} s`, "warn");
      if (model.view === "room") {
        appendNote(`Lost the signaling server (${event.reason}). Open connections stay up; reconnecting…`, at);
      }
      break;
    case "peer-joined": {
      const joined = ensurePeer(event.peer, event.parlor);
      addStep(joined, at, "Joined the room");
      break;
    }
    case "negotiation": {
      const p = peer || ensurePeer(event.peer, false);
      if (p.state !== "connected") p.state = "negotiating";
      addStep(p, at, stepLabel(event.step, event.detail), event.step === "operation-failed" ? "warn" : "");
      break;
    }
    case "ice": {
      const p = peer || ensurePeer(event.peer, false);
      if (event.state === "checking" && p.state !== "connected") p.state = "connecting";
      if (event.state === "failed") p.state = "failed";
      addStep(p, at, ICE_LABELS[event.state] || `ICE ${event.state}`, event.state === "failed" ? "bad" : "");
      break;
    }
    case "path-selected": {
      const p = peer || ensurePeer(event.peer, false);
      p.path = { kind: event.path, local: event.local, remote: event.remote };
      addStep(p, at, `Path: ${PATH_LABELS[event.path] || event.path}`);
      break;
    }
    case "dtls-connected": {
      const p = peer || ensurePeer(event.peer, false);
      if (p.state !== "connected") p.state = "encrypted";
      addStep(p, at, "Encrypted (DTLS)");
      break;
    }
    case "peer-connected": {
      const p = peer || ensurePeer(event.peer, event.parlor);
      const first = !p.announced;
      p.announced = true;
      p.state = "connected";
      p.parlor = event.parlor;
      if (event.name) p.name = event.name;
      addStep(p, at, "Connected: chat open", "good");
      if (first) appendNote(`${peerLabel(p.id)} joined`, at);
      break;
    }
    case "peer-reconnecting": {
      const p = peer || ensurePeer(event.peer, false);
      p.state = "reconnecting";
      addStep(p, at, `Reconnecting: ${event.reason}`, "warn");
      break;
    }
    case "peer-left":
      if (peer) {
        model.peers.delete(event.peer);
        model.gone.add(event.peer);
        appendNote(`${peerLabel(event.peer, peer.name)} left`, at);
      }
      break;
    case "message":
      appendMessage({ mine: false, from: event.from, name: event.name, text: event.text, at });
      break;
    case "queued":
    case "delivered":
    case "send-failed": {
      const message = model.messages.find((m) => m.mine && m.id === event.id);
      if (message) {
        applyDelivery(message, event);
      } else {
        model.early.set(event.id, [...(model.early.get(event.id) || []), event]);
      }
      break;
    }
    case "error":
      if (peer) {
        addStep(peer, at, event.message, "bad");
      } else {
        showBanner(event.message, "warn");
      }
      break;
    case "join-refused":
      // Usually reported by the join command itself; a refusal that comes
      // later still ends the room.
      showBanner(`The signaling server refused to let you in: ${event.reason}`);
      if (model.view === "room") leaveRoom();
      return;
    case "left":
      break;
    default:
      break;
  }
  renderPeers();
}

// ---------------------------------------------------------------- settings

function iceToText(servers) {
  return servers
    .map((s) => [s.urls.join(","), s.username, s.credential].filter((part) => part).join(" "))
    .join("\n");
}

function textToIce(text) {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line)
    .map((line) => {
      const [urls, username = "", credential = ""] = line.split(/\s+/);
      return { urls: urls.split(","), username, credential };
    });
}

async function openSettings() {
  $("settings-error").hidden = true;
  try {
    const settings = await invoke("get_settings");
    $("display-name").value = settings.displayName;
    $("signaling-server").value = settings.signalingServer;
    $("ice-servers").value = iceToText(settings.iceServers);
  } catch (error) {
    $("settings-error").textContent = errorText(error);
    $("settings-error").hidden = false;
  }
  $("settings-dialog").showModal();
  $("display-name").focus();
}

async function saveSettings(event) {
  event.preventDefault();
  const settings = {
    displayName: $("display-name").value,
    signalingServer: $("signaling-server").value,
    iceServers: textToIce($("ice-servers").value),
  };
  try {
    await invoke("save_settings", { settings });
    $("settings-dialog").close();
  } catch (error) {
    $("settings-error").textContent = errorText(error);
    $("settings-error").hidden = false;
  }
}

// ---------------------------------------------------------------- copy

async function copyLink() {
  const field = $("room-link");
  const button = $("copy-link");
  let copied = false;
  try {
    await navigator.clipboard.writeText(field.value);
    copied = true;
  } catch {
    field.select();
    copied = document.execCommand("copy");
  }
  button.textContent = copied ? "Copied" : "Select and copy";
  if (!copied) field.select();
  setTimeout(() => {
    button.textContent = "Copy";
  }, 1600);
}

// ---------------------------------------------------------------- wiring

function wire() {
  $("create-room").addEventListener("click", createRoom);
  $("join-form").addEventListener("submit", (event) => {
    event.preventDefault();
    joinRoom($("join-link").value);
  });
  $("join-link").addEventListener("input", () => {
    $("join-error").hidden = true;
  });
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    sendMessage();
  });
  $("leave-room").addEventListener("click", leaveRoom);
  $("copy-link").addEventListener("click", copyLink);
  $("banner-close").addEventListener("click", hideBanner);
  $("open-settings").addEventListener("click", openSettings);
  $("settings-form").addEventListener("submit", saveSettings);
  $("settings-cancel").addEventListener("click", () => $("settings-dialog").close());
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !$("banner").hidden && !$("settings-dialog").open) hideBanner();
  });
}

async function main() {
  wire();
  showView("start");
  await listen("engine-event", (event) => onEngineEvent(event.payload));
  await listen("open-link", () => {
    takePendingLink().catch((error) => showBanner(errorText(error)));
  });
  try {
    const snapshot = await takePendingLink();
    $("app-version").textContent = `Parlor ${snapshot.version}`;
    if (snapshot.room && !snapshot.pendingLink) enterRoom(snapshot.room);
  } catch (error) {
    showBanner(errorText(error));
  }
  if (model.view === "start") $("create-room").focus();
}

main();

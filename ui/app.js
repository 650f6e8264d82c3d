// Parlor's window. Everything it shows is built from the engine's event
// stream ("engine-event"); commands only start and stop things. Each event
// carries `room_session`, the room it belongs to: events of any other room
// are ignored (or held while a join is under way), so a room being left
// never mixes into the next one.
//
// Before any link is joined, the window shows where it leads (its signaling
// server) and asks. Each connected peer's card shows its identity (the
// start of its certificate fingerprint) and the safety code both sides of
// the connection see; verified identities are remembered in Rust
// (contacts.rs), which also decides whether a peer uses a verified
// contact's name without being that contact.
//
// Text that comes from other people (names, messages, reasons) is only ever
// put on the page with textContent, never as HTML.
"use strict";

const { invoke } = window.__TAURI__.core;
const { listen } = window.__TAURI__.event;

const $ = (id) => document.getElementById(id);

/**
 * How much the page keeps. A peer may send 50 messages a second (bursts of
 * 500) or keep reconnecting: without bounds the window would slow down and
 * its memory grow for as long as the room lasts.
 */
const BOUNDS = {
  logItems: 500, // entries in the message log: messages, notes and the "older messages" line
  steps: 50, // timeline steps on a peer's card (older ones are counted in an "earlier steps" line)
  early: 100, // message ids whose delivery events came before send_message returned the id
  earlyEvents: 256, // delivery events held for one such id
  held: 1000, // events of other rooms held while a join is under way
  gone: 1000, // peers that left, whose connections' last events are ignored
};

/** What the window knows about the room, rebuilt from events. */
const model = {
  view: "start",
  room: null, // { link, peerId, qrSvg, server: { host, encrypted, embedded }, session }
  session: null, // the room whose events are shown
  joining: false, // a join is under way
  held: [], // events of other rooms that arrived while joining
  identity: null, // { fingerprint, short }: ours
  peers: new Map(), // id -> { id, name, parlor, state, path, steps: [{ at, label, kind }] (the last BOUNDS.steps),
  //                           firstAt, earlierSteps, card (its <li> in the peer list),
  //                           fingerprint, safetyCode: { emoji, digits }, trust: { short, verified, impersonates } }
  messages: [], // the messages in the log, oldest first:
  //               { el, mine, session, id, sentTo: Set, deliveredTo: Set, failedTo: Set, failed, trimmed }
  byId: new Map(), // message id -> our message in the log
  sending: 0, // send_message calls under way
  early: new Map(), // message id -> delivery events that arrived before send_message returned it
  gone: new Set(), // peers that left; their connections' last events are ignored
  logEntries: 0, // messages and notes in the log
  logTrimmed: false, // older entries were removed from the log
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

/** Forgets the oldest entries of a Set or Map (insertion order) beyond `limit`. */
function keepLast(collection, limit) {
  while (collection.size > limit) collection.delete(collection.keys().next().value);
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

/** The first four byte pairs of a fingerprint (`ab:cd:ef:01`), as Rust's `short_fingerprint`. */
function shortFingerprint(fingerprint) {
  return fingerprint ? fingerprint.split(":").slice(0, 4).join(":") : "";
}

/** A peer's name with its short identity, for notes in the log. */
function peerTitle(peer) {
  const label = peerLabel(peer.id);
  return peer.fingerprint ? `${label} (${shortFingerprint(peer.fingerprint)})` : label;
}

/** The warning for a peer that uses a verified contact's name without being them. */
function impostorText(name) {
  return `Not the ${name} you verified — this is a different identity`;
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
  model.session = null;
  model.peers.clear();
  model.messages = [];
  model.byId = new Map();
  model.early = new Map();
  model.gone.clear();
  model.logEntries = 0;
  model.logTrimmed = false;
  $("message-log").replaceChildren();
  $("peer-list").replaceChildren();
  renderPeerCount();
  $("empty-log").hidden = false;
  setServerStatus("");
}

function enterRoom(info) {
  model.room = info;
  model.session = info.session;
  $("room-link").value = info.link;
  const server = info.server;
  $("room-lan").hidden = !server.embedded;
  $("room-server").dataset.embedded = String(server.embedded);
  $("room-server-text").textContent = server.embedded
    ? "On this computer's built-in server: people on your network can join."
    : `On ${server.host} · ${server.encrypted ? "encrypted (wss)" : "not encrypted (ws)"}`;
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

/**
 * Joins a room through `call` (create_room or join_room). From the start
 * view the window shows the progress; from a room it stays in that room
 * until the new one is joined, and stays there if the join fails.
 */
async function startJoin(what, call) {
  if (model.joining) {
    showBanner("A room is being joined already; try again in a moment.", "info");
    return;
  }
  hideBanner();
  $("join-error").hidden = true;
  const fromRoom = model.view === "room";
  model.joining = true;
  model.held = [];
  if (fromRoom) {
    showBanner(what, "info");
  } else {
    resetRoom();
    showView("joining");
    $("start-progress").textContent = what;
    $("start-progress").hidden = false;
  }
  try {
    const info = await call();
    // The new room's first events may have come in before its info did.
    const early = model.held.filter((event) => event.room_session === info.session);
    model.joining = false;
    model.held = [];
    resetRoom();
    enterRoom(info);
    for (const event of early) onEngineEvent(event);
    if (fromRoom) hideBanner();
  } catch (error) {
    model.joining = false;
    model.held = [];
    if (fromRoom) {
      showBanner(`${errorText(error)} You are still in this room.`);
      return;
    }
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

/** Resolves the open link dialog's promise; null when it is closed. */
let linkChoice = null;

/**
 * Shows where a link leads (`info` from inspect_link) and resolves to true
 * if the person chose Join. A link that arrived from outside (`source`
 * "outside") starts with Cancel focused, so keys typed into another app
 * cannot join a room unawares; a pasted one starts with Join.
 */
function confirmLink(info, source) {
  if (linkChoice) linkChoice(false);
  const dialog = $("link-dialog");
  dialog.dataset.embedded = String(info.embedded);
  dialog.dataset.encrypted = String(info.encrypted);
  $("link-host").textContent = info.host;
  $("link-host").title = info.server;
  const encryption = $("link-encryption");
  encryption.dataset.encrypted = String(info.encrypted);
  encryption.textContent = info.encrypted
    ? "Encrypted connection to the server (wss)."
    : "Not encrypted (ws): others on the network path can see that you join.";
  const where = $("link-where");
  where.dataset.embedded = String(info.embedded);
  where.textContent = info.embedded
    ? "This computer's built-in server (LAN only)."
    : "Not this computer's built-in server: a server elsewhere.";
  $("link-stay").hidden = model.view !== "room";
  dialog.returnValue = "";
  if (!dialog.open) dialog.showModal();
  (source === "outside" ? $("link-cancel") : $("link-join")).focus();
  return new Promise((resolve) => {
    linkChoice = resolve;
  });
}

/**
 * Asks before joining `link`: shows the server it leads to, then joins if
 * the person agrees. `source` is "paste" (the Join field) or "outside"
 * (command line, deep link, second launch).
 */
async function joinRoom(link, source = "paste") {
  const trimmed = link.trim();
  const fieldError = (text) => {
    $("join-error").textContent = text;
    $("join-error").hidden = false;
    $("join-link").focus();
  };
  if (!trimmed) {
    fieldError("Paste a room link first.");
    return;
  }
  let info;
  try {
    info = await invoke("inspect_link", { link: trimmed });
  } catch (error) {
    if (model.view === "start" && source === "paste") fieldError(errorText(error));
    else showBanner(errorText(error));
    return;
  }
  if (model.room && model.room.link === info.link) {
    showBanner("You are already in this room.", "info");
    return;
  }
  if (!(await confirmLink(info, source))) return;
  startJoin(`Joining the room on ${info.host}…`, () => invoke("join_room", { link: info.link }));
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
    if (model.view !== "room") $("join-link").value = snapshot.pendingLink;
    joinRoom(snapshot.pendingLink, "outside");
  }
  return snapshot;
}

// ---------------------------------------------------------------- identity

function showIdentity(identity) {
  model.identity = identity;
  for (const id of ["room-identity", "identity-short"]) {
    $(id).textContent = identity.short;
    $(id).title = identity.fingerprint;
  }
  $("identity-fingerprint").textContent = identity.fingerprint;
}

async function loadIdentity() {
  showIdentity(await invoke("get_identity"));
}

// ---------------------------------------------------------------- verification

/** Asks Rust what the verified contacts say about `peer`, and shows it. */
async function checkPeer(peer) {
  const { id, fingerprint } = peer;
  const session = model.session;
  try {
    const trust = await invoke("check_peer", { fingerprint, name: peer.name || null });
    const current = model.peers.get(id);
    if (model.session !== session || !current || current.fingerprint !== fingerprint) return;
    current.trust = trust;
    renderIdentity(current);
    placeCard(current);
  } catch (error) {
    showBanner(errorText(error));
  }
}

/** Checks every connected peer again (after the contacts changed). */
function checkAllPeers() {
  return Promise.all([...model.peers.values()].filter((p) => p.fingerprint).map(checkPeer));
}

/** Runs a verify or unverify click, then moves focus to the control that replaced the button. */
async function verifyAction(peer, action) {
  try {
    if (action === "verify") {
      await invoke("mark_verified", { fingerprint: peer.fingerprint, name: peer.name || "" });
    } else {
      await invoke("unmark_verified", { fingerprint: peer.fingerprint });
    }
  } catch (error) {
    showBanner(errorText(error));
    return;
  }
  await checkAllPeers();
  const current = model.peers.get(peer.id);
  const item = current && current.card;
  const next = item && item.querySelector(`[data-action="${action === "verify" ? "unverify" : "verify"}"]`);
  if (next && !next.hidden) next.focus();
}

function onPeerListClick(event) {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  const item = button.closest(".peer");
  const peer = item && model.peers.get(item.dataset.peer);
  if (peer && peer.fingerprint) verifyAction(peer, button.dataset.action);
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
  unreachable: "Cannot reach",
  failed: "Trouble",
};

/** A step's label (labels.js), with its detail when there is one. */
function stepLabel(step, detail) {
  const label = STEP_LABELS[step] || step;
  return detail ? `${label} (${detail})` : label;
}

/** The peer `id`, with its card in the peer list, made the first time it is heard of. */
function ensurePeer(id, parlor) {
  let peer = model.peers.get(id);
  if (!peer) {
    peer = {
      id, name: null, parlor: !!parlor, state: "joined", path: null, steps: [], firstAt: null, earlierSteps: 0, card: null,
    };
    model.peers.set(id, peer);
    addCard(peer);
  }
  return peer;
}

/** Makes a peer's card, at the end of the list (where a peer that just came belongs). */
function addCard(peer) {
  const card = $("peer-template").content.firstElementChild.cloneNode(true);
  card.dataset.peer = peer.id;
  peer.card = card;
  renderPeerHead(peer);
  renderPath(peer);
  renderIdentity(peer);
  $("peer-list").append(card);
  renderPeerCount();
}

/** Removes a peer that left: its card and its place in the model. */
function removePeer(peer) {
  model.peers.delete(peer.id);
  model.gone.add(peer.id);
  keepLast(model.gone, BOUNDS.gone);
  if (peer.card) peer.card.remove();
  renderPeerCount();
}

function renderPeerCount() {
  $("peer-count").textContent = String(model.peers.size);
  $("no-peers").hidden = model.peers.size > 0;
}

/**
 * Moves a card to where it belongs: peers flagged as using a verified
 * contact's name first, the others in the order they came. Only a change of
 * trust moves a card; the others stay in order, so placing this one is enough.
 */
function placeCard(peer) {
  const card = peer.card;
  if (!card) return;
  const flagged = (p) => !!(p.trust && p.trust.impersonates);
  const peers = [...model.peers.values()].filter((p) => p.card);
  const order = [...peers.filter(flagged), ...peers.filter((p) => !flagged(p))];
  const next = order[order.indexOf(peer) + 1];
  const before = next ? next.card : null;
  if (card.nextElementSibling === before) return;
  // Moving an element takes the keyboard focus off it: put it back.
  const focused = card.contains(document.activeElement) ? document.activeElement : null;
  $("peer-list").insertBefore(card, before);
  if (focused && !focused.hidden && document.activeElement !== focused) focused.focus();
}

function setState(peer, state) {
  if (peer.state === state) return;
  peer.state = state;
  renderPeerHead(peer);
}

/** A card's head: name and state. */
function renderPeerHead(peer) {
  const card = peer.card;
  card.dataset.state = peer.state;
  card.querySelector(".peer-name").textContent = peerLabel(peer.id);
  card.querySelector(".peer-state").textContent = STATE_LABELS[peer.state] || peer.state;
}

/** A card's path line (hidden until a path is known). */
function renderPath(peer) {
  const path = peer.card.querySelector(".peer-path");
  path.hidden = !peer.path;
  if (peer.path) {
    const via = peer.path.relay ? ` via ${peer.path.relay}` : "";
    path.textContent = `${PATH_LABELS[peer.path.kind] || peer.path.kind}${via} · ${peer.path.local} ↔ ${peer.path.remote}`;
    path.dataset.path = peer.path.kind;
  }
}

/**
 * Adds a step to a peer's timeline: one row at the end of its card. Beyond
 * BOUNDS.steps the oldest row goes, counted in an "earlier steps" line at
 * the top. Times are from the peer's first step, kept or not.
 */
function addStep(peer, at, label, kind = "") {
  if (peer.firstAt === null) peer.firstAt = at;
  const step = { at, label, kind };
  peer.steps.push(step);
  const timeline = peer.card.querySelector(".timeline");
  const row = el("li", `step ${kind}`);
  const offset = at - peer.firstAt;
  const time = el("time", "step-time", offset < 1000 ? `+${offset} ms` : `+${(offset / 1000).toFixed(2)} s`);
  time.title = clockTime(at);
  row.append(time, el("span", "step-label", label));
  timeline.append(row);
  if (peer.steps.length > BOUNDS.steps) {
    peer.steps.shift();
    peer.earlierSteps += 1;
    let earlier = timeline.querySelector(".steps-earlier");
    if (!earlier) {
      earlier = el("li", "steps-earlier");
      timeline.prepend(earlier);
    }
    earlier.nextElementSibling.remove();
    earlier.textContent = `…${peer.earlierSteps} earlier ${peer.earlierSteps === 1 ? "step" : "steps"}`;
  }
}

/** Fills a peer card's identity parts: short fingerprint, safety code, verification, warning. */
function renderIdentity(peer) {
  const item = peer.card;
  const trust = peer.trust;
  const impostor = trust && trust.impersonates;
  const verified = trust && trust.verified;
  item.dataset.trust = impostor ? "impostor" : verified ? "verified" : "unverified";
  item.querySelector(".peer-id").textContent = shortFingerprint(peer.fingerprint);
  item.querySelector(".peer-id").title = peer.fingerprint || "";
  const warning = item.querySelector(".impostor-warning");
  warning.hidden = !impostor;
  if (impostor) warning.textContent = impostorText(impostor);

  const section = item.querySelector(".peer-identity");
  section.hidden = !peer.fingerprint;
  if (!peer.fingerprint) return;
  const code = peer.safetyCode || { emoji: "", digits: "" };
  // One span per emoji (drawn with an emoji font), the spaces between them
  // in the text font: the text reads exactly as the engine wrote the code.
  const emoji = item.querySelector(".safety-emoji");
  emoji.replaceChildren();
  code.emoji.split(" ").filter((e) => e).forEach((e, i) => {
    if (i > 0) emoji.append(" ");
    emoji.append(el("span", "emoji", e));
  });
  item.querySelector(".safety-digits").textContent = code.digits;
  const other = peer.name || "them";
  item.querySelector(".safety-hint").textContent = peer.parlor
    ? `Safety code: compare it with ${other}. The same on both screens means nobody is in between.`
    : "An older app: it shows no safety code to compare.";
  item.querySelector(".safety-code").hidden = !peer.parlor;
  const verify = item.querySelector(".verify");
  const badge = item.querySelector(".verified-badge");
  const unverify = item.querySelector(".unverify");
  verify.hidden = !peer.parlor || !!verified || !trust;
  badge.hidden = !verified;
  unverify.hidden = !verified;
  if (verified) {
    const renamed = verified.name && verified.name !== peer.name;
    badge.textContent = renamed ? `✓ Verified as ${verified.name}` : "✓ Verified";
    badge.title = `Verified on ${new Date(verified.verifiedAt).toLocaleString()}`;
  }
  verify.setAttribute("aria-label", `Mark ${other} as verified`);
  unverify.setAttribute("aria-label", `Unverify ${other}`);
}

// ---------------------------------------------------------------- messages

/**
 * Whether the log scrolls to its end this frame: decided before the first
 * entry of the frame is added (was the reader at the end?), applied once
 * in the next animation frame, so a flood of entries measures and scrolls
 * the log once a frame, not once an entry.
 */
let followLog = null;

function scrollLogSoon(force) {
  const log = $("message-log");
  if (followLog === null) {
    followLog = log.scrollHeight - log.scrollTop - log.clientHeight < 80;
    requestAnimationFrame(() => {
      if (followLog) log.scrollTop = log.scrollHeight;
      followLog = null;
    });
  }
  if (force) followLog = true;
}

/** Adds an entry (a message or a note) at the end of the log, keeping the log within BOUNDS.logItems. */
function appendToLog(item, scroll) {
  scrollLogSoon(scroll);
  const log = $("message-log");
  log.append(item);
  model.logEntries += 1;
  $("empty-log").hidden = true;
  // The oldest entries go, and a line at the top says so; it counts too.
  while (model.logEntries + (model.logTrimmed ? 1 : 0) > BOUNDS.logItems) {
    const oldest = model.logTrimmed ? log.firstElementChild.nextElementSibling : log.firstElementChild;
    if (model.messages.length > 0 && model.messages[0].el === oldest) forgetMessage(model.messages.shift());
    oldest.remove();
    model.logEntries -= 1;
    if (!model.logTrimmed) {
      model.logTrimmed = true;
      log.prepend(el("li", "log-trimmed", "Older messages are not shown"));
    }
  }
}

/** A message that left the log: its delivery events are no longer looked for. */
function forgetMessage(message) {
  message.trimmed = true;
  if (message.id !== null) model.byId.delete(message.id);
}

function appendMessage({ mine, from, name, text, at }) {
  const item = el("li", mine ? "message mine" : "message");
  item.dataset.from = mine ? "me" : from;
  const meta = el("div", "message-meta");
  meta.append(el("span", "sender", mine ? "You" : peerLabel(from, name)));
  const sender = mine ? null : model.peers.get(from);
  if (sender && sender.fingerprint) {
    meta.append(el("span", "sender-id", shortFingerprint(sender.fingerprint)));
    const trust = sender.trust;
    if (trust && trust.impersonates) {
      item.classList.add("impostor");
      meta.append(el("span", "sender-warning", impostorText(trust.impersonates)));
    } else if (trust && trust.verified) {
      meta.append(el("span", "sender-verified", "✓ Verified"));
    }
  }
  const time = el("time", "message-time", clockTime(at));
  time.dateTime = new Date(at).toISOString();
  meta.append(time);
  const status = el("span", "delivery");
  meta.append(status);
  item.append(meta, el("div", "text", text));
  const message = {
    el: item,
    mine,
    session: model.session,
    id: null,
    sentTo: new Set(),
    deliveredTo: new Set(),
    failedTo: new Set(),
    failed: false,
    trimmed: false,
  };
  model.messages.push(message);
  renderDelivery(message);
  appendToLog(item, mine);
  return message;
}

function appendNote(text, at) {
  const item = el("li", "note");
  item.append(el("span", "note-text", text), el("time", "message-time", clockTime(at)));
  appendToLog(item, true);
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

/**
 * A delivery event for a message id the log does not know: held while a
 * send is under way (its id may be this one); otherwise the message has
 * left the log, or was never ours to show.
 */
function holdEarly(event) {
  if (model.sending === 0) return;
  let events = model.early.get(event.id);
  if (!events) {
    events = [];
    model.early.set(event.id, events);
    keepLast(model.early, BOUNDS.early);
  }
  if (events.length < BOUNDS.earlyEvents) events.push(event);
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
  model.sending += 1;
  try {
    message.id = await invoke("send_message", { text });
    if (!message.trimmed && message.session === model.session) model.byId.set(message.id, message);
    // Its first delivery events may have come in before its id did.
    for (const event of model.early.get(message.id) || []) applyDelivery(message, event);
    model.early.delete(message.id);
  } catch (error) {
    message.failed = true;
    renderDelivery(message);
    // Nothing typed is lost: a refused message goes back into the box (if
    // nothing new was typed there meanwhile) to be sent again.
    if (!input.value) input.value = text;
    showBanner(errorText(error));
  } finally {
    model.sending -= 1;
    // With no send under way, nothing held can still find its message.
    if (model.sending === 0) model.early.clear();
  }
}

// ---------------------------------------------------------------- engine events

/** An engine event: shown if it belongs to the room shown, held if a join may want it. */
function onTaggedEvent(event) {
  if (event.room_session === model.session && model.session !== null) {
    onEngineEvent(event);
  } else if (model.joining) {
    model.held.push(event);
    if (model.held.length > BOUNDS.held) model.held.shift();
  }
}

/**
 * Shows one engine event. Each changes only its part of the page: a step
 * adds a row to its peer's card (and may change the state badge), a message
 * adds one entry to the log, a delivery event updates one message, a peer
 * coming or going adds or removes its card. Nothing is redrawn whole, so
 * the keyboard focus and the scroll position stay where they are.
 */
function onEngineEvent(event) {
  if (model.view === "start") return;
  const at = event.at_ms;
  if (event.event === "peer-joined") model.gone.delete(event.peer);
  else if (event.peer && model.gone.has(event.peer)) return;
  const peer = event.peer ? model.peers.get(event.peer) : undefined;
  switch (event.event) {
    case "identity":
      if (!model.identity || model.identity.fingerprint !== event.fingerprint) {
        showIdentity({ fingerprint: event.fingerprint, short: shortFingerprint(event.fingerprint) });
      }
      break;
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
      if (p.state !== "connected") setState(p, "negotiating");
      addStep(p, at, stepLabel(event.step, event.detail), event.step === "operation-failed" ? "warn" : "");
      break;
    }
    case "ice": {
      const p = peer || ensurePeer(event.peer, false);
      if (event.state === "checking" && p.state !== "connected") setState(p, "connecting");
      if (event.state === "failed") setState(p, "failed");
      addStep(p, at, ICE_LABELS[event.state] || `ICE ${event.state}`, event.state === "failed" ? "bad" : "");
      break;
    }
    case "path-selected": {
      const p = peer || ensurePeer(event.peer, false);
      p.path = { kind: event.path, local: event.local, remote: event.remote, relay: event.relay };
      renderPath(p);
      addStep(p, at, `Path: ${PATH_LABELS[event.path] || event.path}`);
      break;
    }
    case "dtls-connected": {
      const p = peer || ensurePeer(event.peer, false);
      if (p.state !== "connected") setState(p, "encrypted");
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
      if (p.fingerprint !== event.fingerprint) p.trust = null;
      p.fingerprint = event.fingerprint;
      p.safetyCode = event.safety_code;
      renderPeerHead(p);
      renderIdentity(p);
      addStep(p, at, "Connected: chat open", "good");
      if (first) appendNote(`${peerTitle(p)} joined`, at);
      checkPeer(p);
      break;
    }
    case "peer-unreachable": {
      const p = peer || ensurePeer(event.peer, false);
      if (p.state !== "connected") setState(p, "unreachable");
      const retry = Math.round(event.retry_in_ms / 1000);
      addStep(p, at, `Cannot reach this peer: ${event.reason}. Trying again (next report in ${retry} s)`, "bad");
      break;
    }
    case "peer-reconnecting": {
      const p = peer || ensurePeer(event.peer, false);
      setState(p, "reconnecting");
      addStep(p, at, `Reconnecting: ${event.reason}`, "warn");
      break;
    }
    case "peer-left":
      if (peer) {
        removePeer(peer);
        appendNote(`${peerTitle(peer)} left`, at);
      }
      break;
    case "message":
      appendMessage({ mine: false, from: event.from, name: event.name, text: event.text, at });
      break;
    case "queued":
    case "delivered":
    case "send-failed": {
      const message = model.byId.get(event.id);
      if (message) applyDelivery(message, event);
      else holdEarly(event);
      break;
    }
    case "error":
      if (peer) {
        // Most errors end the connection (the peer was dropped, or could
        // not be reached): the badge stops saying "Connected".
        setState(peer, "failed");
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
    await loadIdentity();
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
    joinRoom($("join-link").value, "paste");
  });
  $("link-form").addEventListener("submit", (event) => {
    event.preventDefault();
    $("link-dialog").close("join");
  });
  $("link-cancel").addEventListener("click", () => $("link-dialog").close("cancel"));
  // Escape, Cancel and Join all end here; only Join leaves "join" behind.
  $("link-dialog").addEventListener("close", () => {
    const choice = linkChoice;
    linkChoice = null;
    if (choice) choice($("link-dialog").returnValue === "join");
  });
  $("peer-list").addEventListener("click", onPeerListClick);
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
    const dialogOpen = $("settings-dialog").open || $("link-dialog").open;
    if (event.key === "Escape" && !$("banner").hidden && !dialogOpen) hideBanner();
  });
}

async function main() {
  wire();
  showView("start");
  await listen("engine-event", (event) => onTaggedEvent(event.payload));
  await listen("open-link", () => {
    takePendingLink().catch((error) => showBanner(errorText(error)));
  });
  try {
    // A window that reloads shows the room it was in; a link waiting to be
    // joined is then offered from there.
    const snapshot = await invoke("get_state");
    $("app-version").textContent = `Parlor ${snapshot.version}`;
    if (snapshot.room) enterRoom(snapshot.room);
    if (snapshot.pendingLink) {
      if (model.view !== "room") $("join-link").value = snapshot.pendingLink;
      joinRoom(snapshot.pendingLink, "outside");
    }
  } catch (error) {
    showBanner(errorText(error));
  }
  loadIdentity().catch((error) => showBanner(errorText(error)));
  if (model.view === "start") $("create-room").focus();
}

main();

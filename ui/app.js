// Parlor's window. Everything it shows is built from the engine's event
// stream ("engine-event"); commands only start and stop things. The window
// holds any number of rooms at once: each event carries `room_session`, the
// room it belongs to, and is drawn into that room's own log and peer list
// whether or not it is on screen (events of a room not joined yet are held
// while a join is under way; those of a room left are ignored). The room
// list counts each room's people and unread messages; the total goes to the
// window's title through Rust, which also decides desktop notifications.
//
// Before any link is joined, the window shows where it leads (its signaling
// server) and asks. Each connected peer's card shows its identity (the
// start of its certificate fingerprint) and the safety code both sides of
// the connection see; verified identities are remembered in Rust
// (contacts.rs), which also decides whether a peer uses a verified
// contact's name without being that contact.
//
// Messages are kept (Rust's message store): entering a room shows its
// earlier messages above this visit's, a message written with nobody in
// the room waits for whoever comes, the start view lists recent rooms, and
// closing with messages undelivered asks first.
//
// Files are offered with "Send files…" (the desktop's picker) or by
// dropping them on the window; offers from others are cards in the log
// with Accept and Decline, and every transfer shows its progress there.
//
// Text that comes from other people (names, messages, reasons, file names)
// is only ever put on the page with textContent, never as HTML.
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
  shown: 5000, // ids of messages in the log, so a message is never shown twice
  history: 1000, // kept messages shown above this visit's (five pages)
};

/** Messages per page of history (`messages::HISTORY_PAGE` in Rust). */
const HISTORY_PAGE = 200;

/** What the window holds beside its rooms. */
const app = {
  view: "start", // "start" (also "New or join"), "joining" (from the start view) or "room"
  rooms: new Map(), // session -> a room (see newRoom), in the order they were joined
  shown: null, // the room on screen, or null
  joining: 0, // joins under way
  held: [], // events of rooms not known yet (their join has not answered), held while joining
  identity: null, // { fingerprint, short }: ours
  settings: null, // the saved settings, once read (theme, notifications)
  recent: [], // the recent rooms (recent_rooms) not open now, for the sidebar
};

/**
 * The room being drawn: the one on screen, or the one whose event is being
 * applied (see `inRoom`). Every function below that draws a room draws
 * this one, into its own elements.
 */
let model = null;

/** What the window knows about one room, rebuilt from its events; its log and peer list are its own elements. */
function newRoom(info) {
  const log = el("ol", "message-log");
  log.setAttribute("aria-label", "Messages");
  log.tabIndex = 0;
  log.dataset.session = String(info.session);
  const peerList = el("ul", "peer-list");
  peerList.setAttribute("aria-label", "People in the room");
  const room = {
    info, // { link, peerId, qrSvg, server: { host, encrypted, embedded, room }, session, label, muted }
    session: info.session,
    log,
    peerList,
    navItem: null, // its entry in the room list
    unread: 0, // messages from others that came while it was not on screen (or the window not focused)
    draft: "", // what was in the box when another room was shown
    scrollTop: null, // where the log was scrolled when another room was shown (null: at the end)
    serverStatus: { text: "", tone: "" },
    peers: new Map(), // id -> { id, name, parlor, state, path, steps: [{ at, label, kind }] (the last BOUNDS.steps),
    //                           firstAt, earlierSteps, card (its <li> in the peer list),
    //                           fingerprint, safetyCode: { emoji, digits }, trust: { short, verified, impersonates } }
    messages: [], // this visit's messages in the log, oldest first:
    //               { el, mine, room, id, recipients: Map(key -> { label, state }), waiting, sendError, trimmed }
    history: [], // kept messages shown above them, oldest first (same shape, with `seq`)
    historyOldestSeq: null, // the smallest seq shown: the next page is the one before
    historyMore: false, // the last page was full: there may be older messages
    historyLoading: false,
    historyTop: null, // the first line of the log: "Show earlier messages", or the beginning
    separator: null, // the line between the history and this visit
    shown: new Set(), // "in:<id>" / "out:<id>" of every message in the log
    byId: new Map(), // message id -> our message in the log
    sending: 0, // send_message calls under way
    early: new Map(), // message id -> delivery events that arrived before send_message returned it
    gone: new Set(), // peers that left; their connections' last events are ignored
    logEntries: 0, // messages and notes in the log
    logTrimmed: false, // older entries were removed from the log
    transfers: new Map(), // "out:<transfer>" / "in:<peer>:<transfer>" -> a transfer card (see "files")
    preparing: 0, // send_files calls under way (the engine reads and hashes the files first)
    left: false, // the room was left: late answers about it change nothing
  };
  log.addEventListener("click", onMessageLogClick);
  log.addEventListener("scroll", onLogScroll, { passive: true });
  peerList.addEventListener("click", onPeerListClick);
  peerList.addEventListener("keydown", onPeerListKey);
  return room;
}

/**
 * Runs `draw` with `room` as the room being drawn, then puts back the one
 * that was. Async work (a command's answer) comes back through here, so
 * what it draws lands in the room that asked, whichever is on screen then.
 */
function inRoom(room, draw) {
  const before = model;
  model = room;
  try {
    return draw();
  } finally {
    model = before;
  }
}

/** Whether the room being drawn is the one on screen. */
function drawnOnScreen() {
  return model !== null && app.shown === model;
}

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

/** The pill of the room on screen. */
function renderServerStatus() {
  setServerStatus(model.serverStatus.text, model.serverStatus.tone);
}

function hideBanner() {
  $("banner").hidden = true;
}

/** The signaling server's state for the room being drawn; the pill shows the room on screen's. */
function setServerStatus(text, tone) {
  if (model) model.serverStatus = { text, tone };
  if (model && !drawnOnScreen()) return;
  const pill = $("server-status");
  pill.hidden = !text;
  pill.textContent = text || "";
  pill.dataset.tone = tone || "";
}

// ---------------------------------------------------------------- views

function showView(view) {
  app.view = view;
  $("start-view").hidden = view === "room";
  $("room-view").hidden = view !== "room";
  const busy = view === "joining";
  $("create-room").disabled = busy;
  $("join-room").disabled = busy;
  $("join-link").disabled = busy;
  for (const button of $("recent-list").querySelectorAll("button")) button.disabled = busy;
  document.body.dataset.view = view;
  $("nav-home").setAttribute("aria-current", String(view !== "room"));
}

/** A room's name as the person sees it: theirs for it, or the start of the link's. */
function roomName(room) {
  return room.info.label || shortRoomName(room.info.server.room || "");
}

/** Whether a log is scrolled to its end (new entries then keep it there). */
function atEnd(log) {
  return log.scrollHeight - log.scrollTop - log.clientHeight < 80;
}

/**
 * Puts `room` on screen (null: the start view, with every room still
 * connected). The room's own log and peer list take the places of the
 * last one's, with the ids the page and its tests know them by; the box
 * gets the room's draft back, and the log its scroll position.
 */
function showRoom(room) {
  const previous = app.shown;
  if (previous && previous !== room) {
    previous.draft = $("message-input").value;
    previous.scrollTop = atEnd(previous.log) ? null : previous.log.scrollTop;
    // A scroll to the end asked for the last room is not this one's.
    followLog = null;
  }
  app.shown = room;
  if (room) {
    const log = document.querySelector("#room-view .message-log");
    if (log !== room.log) {
      log.removeAttribute("id");
      log.replaceWith(room.log);
    }
    room.log.id = "message-log";
    const peers = document.querySelector("#room-view .peer-list");
    if (peers !== room.peerList) {
      peers.removeAttribute("id");
      peers.replaceWith(room.peerList);
    }
    room.peerList.id = "peer-list";
    inRoom(room, () => {
      renderRoomHeader();
      renderPeerCount();
      renderSendFilesButton();
      renderServerStatus();
      $("empty-log").hidden = room.log.childElementCount > 0;
    });
    $("drop-zone").hidden = true;
    // Shown first: a log out of the layout has no height to scroll in.
    showView("room");
    $("message-input").value = room.draft;
    fitComposer();
    if (room.scrollTop === null) room.log.scrollTop = room.log.scrollHeight;
    else room.log.scrollTop = room.scrollTop;
    seen(room);
  } else {
    inRoom(null, () => setServerStatus(""));
    showView("start");
  }
  for (const other of app.rooms.values()) renderNavItem(other);
  invoke("show_room", { session: room ? room.session : null }).catch((error) => showBanner(errorText(error)));
}

/** The room header and invitation: its name, link, server and QR code. */
function renderRoomHeader() {
  const info = model.info;
  $("room-title").textContent = roomName(model);
  $("room-title").title = info.link;
  $("room-mute").checked = !info.muted;
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
}

/** Adds a room the app joined (a join's answer, or the rooms of a reloaded page) and its entry in the room list. */
function addRoom(info) {
  const room = newRoom(info);
  app.rooms.set(info.session, room);
  const item = el("li", "room-entry");
  const button = el("button", "room-item");
  button.type = "button";
  button.dataset.session = String(info.session);
  button.title = info.link;
  button.tabIndex = -1;
  button.append(
    el("span", "room-item-name"),
    el("span", "room-item-people"),
    el("span", "room-item-unread"),
    el("span", "visually-hidden room-item-said"),
  );
  button.querySelector(".room-item-people").setAttribute("aria-hidden", "true");
  button.querySelector(".room-item-unread").setAttribute("aria-hidden", "true");
  item.append(button);
  room.navItem = button;
  $("room-list").append(item);
  renderNavItem(room);
  renderRecentNav();
  inRoom(room, () => loadHistory(true));
  return room;
}

/** One entry of the room list: name, people connected, unread messages. */
function renderNavItem(room) {
  const button = room.navItem;
  if (!button) return;
  const name = roomName(room);
  const connected = [...room.peers.values()].filter((p) => p.state === "connected").length;
  button.querySelector(".room-item-name").textContent = name;
  button.querySelector(".room-item-people").textContent = String(connected);
  button.querySelector(".room-item-people").title = connected === 1 ? "1 person connected" : `${connected} people connected`;
  const unread = button.querySelector(".room-item-unread");
  unread.textContent = room.unread > 99 ? "99+" : String(room.unread);
  unread.hidden = room.unread === 0;
  button.dataset.unread = String(room.unread);
  const current = app.shown === room;
  if (current) button.setAttribute("aria-current", "true");
  else button.removeAttribute("aria-current");
  const people = connected === 1 ? "1 person connected" : `${connected} people connected`;
  const news = room.unread === 0 ? "" : room.unread === 1 ? ", 1 unread message" : `, ${room.unread} unread messages`;
  button.querySelector(".room-item-said").textContent = `, ${people}${news}${room.info.muted ? ", notifications off" : ""}`;
  button.dataset.muted = String(room.info.muted);
  rovingTabStop($("room-list"));
}

/**
 * Makes one button of a list the list's only Tab stop (the room on screen,
 * else the first): the arrow keys move between the others.
 */
function rovingTabStop(list) {
  const buttons = [...list.querySelectorAll("button")];
  if (buttons.length === 0) return;
  const stop = buttons.find((b) => b.getAttribute("aria-current") === "true") || buttons[0];
  for (const button of buttons) button.tabIndex = button === stop ? 0 : -1;
}

/** Up, Down, Home and End move the focus along a list of buttons (the room lists). */
function onListKey(event) {
  const lists = [$("room-list"), $("recent-nav")];
  const buttons = lists.flatMap((list) => [...list.querySelectorAll("button")]);
  const index = buttons.indexOf(document.activeElement);
  if (index < 0) return;
  const next = { ArrowDown: index + 1, ArrowUp: index - 1, Home: 0, End: buttons.length - 1 }[event.key];
  if (next === undefined) return;
  event.preventDefault();
  const target = buttons[Math.max(0, Math.min(buttons.length - 1, next))];
  target.focus();
}

/** A click on an open room in the list: it goes on screen. */
function onRoomListClick(event) {
  const button = event.target.closest("button.room-item");
  if (!button) return;
  const room = app.rooms.get(Number(button.dataset.session));
  if (room) {
    showRoom(room);
    $("message-input").focus();
  }
}

/** Alt+Up and Alt+Down: the room above or below in the list goes on screen. */
function switchRoom(step) {
  const rooms = [...app.rooms.values()];
  if (rooms.length === 0) return;
  const index = rooms.indexOf(app.shown);
  const next = index < 0 ? (step > 0 ? 0 : rooms.length - 1) : (index + step + rooms.length) % rooms.length;
  showRoom(rooms[next]);
  $("message-input").focus();
}

/** The rooms of the recent list that are not open, in the sidebar under the open ones. */
function renderRecentNav() {
  const open = new Set([...app.rooms.values()].map((room) => room.info.link));
  const list = $("recent-nav");
  list.replaceChildren();
  for (const recent of app.recent.filter((r) => !open.has(r.link)).slice(0, 10)) {
    const name = shortRoomName(recent.name || recent.room);
    const button = el("button", "recent-room nav-recent", name);
    button.type = "button";
    button.tabIndex = -1;
    button.dataset.link = recent.link;
    button.dataset.host = recent.host;
    button.title = recent.link;
    button.prepend(el("span", "visually-hidden", "Rejoin room "));
    const item = el("li", "recent-entry");
    item.append(button);
    list.append(item);
  }
  $("recent-nav-section").hidden = list.childElementCount === 0;
  $("open-rooms-section").hidden = app.rooms.size === 0;
  rovingTabStop($("room-list"));
  if (app.rooms.size === 0) rovingTabStop(list);
}

/** Forgets a room that was left: its entry, its elements, its model. */
function removeRoom(room) {
  room.left = true;
  app.rooms.delete(room.session);
  if (room.navItem) room.navItem.closest("li").remove();
  if (app.shown === room) {
    const next = [...app.rooms.values()].pop() || null;
    showRoom(next);
    if (!next) {
      $("create-room").focus();
      loadRecentRooms();
    }
  }
  renderRecentNav();
  renderUnreadTotal();
}

// ---------------------------------------------------------------- joining

/**
 * Joins a room through `call` (create_room or join_room), keeping every
 * room already open. From the start view the window shows the progress;
 * from a room it stays there (a banner says what is under way) until the
 * new one is joined, and stays there if the join fails. `quiet`: a room
 * rejoined at start, which does not take the screen.
 */
async function startJoin(what, call, { quiet = false } = {}) {
  hideBanner();
  $("join-error").hidden = true;
  const fromStart = app.view !== "room";
  app.joining += 1;
  if (!quiet) {
    if (fromStart) {
      showView("joining");
      $("start-progress").textContent = what;
      $("start-progress").hidden = false;
    } else {
      showBanner(what, "info");
    }
  }
  try {
    const info = await call();
    let room = app.rooms.get(info.session);
    if (!room) {
      room = addRoom(info);
      // The new room's first events may have come in before its info did.
      const early = app.held.filter((event) => event.room_session === info.session);
      app.held = app.held.filter((event) => event.room_session !== info.session);
      for (const event of early) onTaggedEvent(event);
    }
    if (!quiet) {
      $("start-progress").hidden = true;
      // Joined: the link is not left in the field for the next one.
      $("join-link").value = "";
      showRoom(room);
      $("message-input").focus();
      if (!fromStart) hideBanner();
    }
    return room;
  } catch (error) {
    if (quiet) {
      showBanner(`${what.replace(/…$/, "")}: ${errorText(error)}`);
      return null;
    }
    if (!fromStart) {
      showBanner(`${errorText(error)} Your rooms are as they were.`);
      return null;
    }
    showView(app.shown ? "room" : "start");
    $("start-progress").hidden = true;
    if (error && error.kind === "bad-link") {
      $("join-error").textContent = errorText(error);
      $("join-error").hidden = false;
      $("join-link").focus();
    } else {
      showBanner(errorText(error));
    }
    return null;
  } finally {
    app.joining -= 1;
    if (app.joining === 0) app.held = [];
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
  $("link-stay").hidden = app.rooms.size === 0;
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
    if (app.view === "start" && source === "paste") fieldError(errorText(error));
    else showBanner(errorText(error));
    return;
  }
  // A room already open goes on screen; nothing to ask.
  const open = [...app.rooms.values()].find((room) => room.info.link === info.link);
  if (open) {
    $("join-link").value = "";
    showRoom(open);
    $("message-input").focus();
    return;
  }
  if (!(await confirmLink(info, source))) return;
  startJoin(`Joining the room on ${info.host}…`, () => invoke("join_room", { link: info.link }));
}

/** Leaves the room on screen (the Leave button); the other rooms stay connected. */
async function leaveRoom(room = app.shown) {
  if (!room || room.left) return;
  try {
    await invoke("leave_room", { session: room.session });
  } catch (error) {
    if (!error || error.kind !== "not-in-room") showBanner(errorText(error));
  }
  removeRoom(room);
}

/** Joins a link that arrived from outside (command line, deep link). */
async function takePendingLink() {
  const snapshot = await invoke("get_state");
  if (snapshot.pendingLink) {
    if (app.view !== "room") $("join-link").value = snapshot.pendingLink;
    joinRoom(snapshot.pendingLink, "outside");
  }
  return snapshot;
}

// ---------------------------------------------------------------- recent rooms

/** A room's name as a list shows it: long random names cut to their start. */
function shortRoomName(name) {
  return name.length > 14 ? `${name.slice(0, 8)}…` : name;
}

/** How long ago `ms` was, in words ("5 minutes ago"). */
function agoText(ms) {
  const minutes = Math.floor(Math.max(0, Date.now() - ms) / 60000);
  if (minutes < 1) return "just now";
  if (minutes < 60) return minutes === 1 ? "a minute ago" : `${minutes} minutes ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return hours === 1 ? "an hour ago" : `${hours} hours ago`;
  const days = Math.floor(hours / 24);
  if (days === 1) return "yesterday";
  if (days < 30) return `${days} days ago`;
  return `on ${new Date(ms).toLocaleDateString()}`;
}

/** Lists the rooms this profile was in (recent_rooms), newest first: on the start view, and in the sidebar those not open. */
function renderRecentRooms(rooms) {
  app.recent = rooms;
  renderRecentNav();
  const open = new Set([...app.rooms.values()].map((room) => room.info.link));
  const list = $("recent-list");
  list.replaceChildren();
  for (const room of rooms.filter((r) => !open.has(r.link))) {
    const name = shortRoomName(room.name || room.room);
    const where = room.embedded ? `${room.host} · this computer` : room.host;
    const when = agoText(room.lastActiveMs);
    const button = el("button", "recent-room");
    button.type = "button";
    button.dataset.link = room.link;
    button.dataset.host = room.host;
    button.title = room.link;
    button.append(
      el("span", "visually-hidden", "Rejoin room "),
      el("span", "recent-name", name),
      el("span", "recent-host", where),
      el("span", "recent-when", `Last active ${when}`),
    );
    const item = el("li", "recent-item");
    item.append(button);
    list.append(item);
  }
  $("recent").hidden = list.childElementCount === 0;
}

async function loadRecentRooms() {
  try {
    renderRecentRooms(await invoke("recent_rooms"));
  } catch (error) {
    showBanner(errorText(error));
  }
}

/**
 * Rejoins a recent room with one click. These are the person's own rooms,
 * joined before: no question about where the link leads.
 */
function onRecentClick(event) {
  const button = event.target.closest("button.recent-room");
  if (!button) return;
  const { link, host } = button.dataset;
  startJoin(`Joining the room on ${host}…`, () => invoke("join_room", { link })).then((room) => {
    if (room) loadRecentRooms();
  });
}

// ---------------------------------------------------------------- closing

/**
 * The window's close was held because messages have not reached everyone
 * (`close-requested`, from Rust): asks, Keep open first. Close ends the app.
 */
function onCloseRequested(request) {
  const count = request.undelivered;
  const what = count === 1 ? "1 message has" : `${count} messages have`;
  $("close-text").textContent = request.kept
    ? `${what} not reached everyone yet. Parlor delivers them when you and they are both online again. Close anyway?`
    : `${what} not reached everyone yet, and Parlor cannot keep messages this time: they are lost if you close it. Close anyway?`;
  const dialog = $("close-dialog");
  dialog.dataset.undelivered = String(count);
  dialog.returnValue = "";
  if (!dialog.open) dialog.showModal();
  $("close-keep").focus();
}

async function confirmClose() {
  $("close-dialog").close("close");
  try {
    await invoke("confirm_close");
  } catch (error) {
    showBanner(errorText(error));
  }
}

/** Ctrl+Q: closes the window the way its close button does (and so may ask first). */
async function requestClose() {
  try {
    await invoke("close_window");
  } catch (error) {
    showBanner(errorText(error));
  }
}

/** The start view's note about the message store (damaged and moved aside, or not kept). */
function showStoreNotice(notice) {
  $("store-notice-text").textContent = notice || "";
  $("store-notice").hidden = !notice;
}

// ---------------------------------------------------------------- identity

function showIdentity(identity) {
  app.identity = identity;
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

/** Asks Rust what the verified contacts say about `peer` (of the room being drawn), and shows it. */
async function checkPeer(peer) {
  const { id, fingerprint } = peer;
  const room = model;
  try {
    const trust = await invoke("check_peer", { fingerprint, name: peer.name || null });
    const current = room.peers.get(id);
    if (room.left || !current || current.fingerprint !== fingerprint) return;
    current.trust = trust;
    inRoom(room, () => {
      renderIdentity(current);
      placeCard(current);
    });
  } catch (error) {
    showBanner(errorText(error));
  }
}

/** Checks every connected peer of every room again (after the contacts changed). */
function checkAllPeers() {
  const checks = [];
  for (const room of app.rooms.values()) {
    inRoom(room, () => {
      for (const peer of room.peers.values()) if (peer.fingerprint) checks.push(checkPeer(peer));
    });
  }
  return Promise.all(checks);
}

/** Runs a verify or unverify click, then moves focus to the control that replaced the button. */
async function verifyAction(peer, action) {
  const room = model;
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
  const current = room.peers.get(peer.id);
  const item = current && current.card;
  const next = item && item.querySelector(`[data-action="${action === "verify" ? "unverify" : "verify"}"]`);
  if (next && !next.hidden) next.focus();
}

function onPeerListClick(event) {
  const button = event.target.closest("button[data-action]");
  if (!button || !app.shown) return;
  const item = button.closest(".peer");
  const room = app.shown;
  const peer = item && room.peers.get(item.dataset.peer);
  if (peer && peer.fingerprint) inRoom(room, () => verifyAction(peer, button.dataset.action));
}

/** Up, Down, Home and End move the focus from one person's card to the next. */
function onPeerListKey(event) {
  const card = event.target.closest && event.target.closest(".peer");
  if (!card || event.target !== card) return;
  const cards = [...event.currentTarget.querySelectorAll(".peer")];
  const index = cards.indexOf(card);
  const next = { ArrowDown: index + 1, ArrowUp: index - 1, Home: 0, End: cards.length - 1 }[event.key];
  if (next === undefined) return;
  event.preventDefault();
  const target = cards[Math.max(0, Math.min(cards.length - 1, next))];
  for (const other of cards) other.tabIndex = other === target ? 0 : -1;
  target.focus();
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
  // One Tab stop for the list (the first card); the arrow keys go through the rest.
  card.tabIndex = model.peerList.querySelector(".peer") ? -1 : 0;
  model.peerList.append(card);
  renderPeerCount();
}

/** Removes a peer that left: its card and its place in the model. */
function removePeer(peer) {
  model.peers.delete(peer.id);
  model.gone.add(peer.id);
  keepLast(model.gone, BOUNDS.gone);
  if (peer.card) {
    const wasStop = peer.card.tabIndex === 0;
    peer.card.remove();
    const first = model.peerList.querySelector(".peer");
    if (wasStop && first) first.tabIndex = 0;
  }
  renderPeerCount();
}

/** The number of people in the room: beside its "People" heading when on screen, and in the room list. */
function renderPeerCount() {
  renderNavItem(model);
  if (!drawnOnScreen()) return;
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
  model.peerList.insertBefore(card, before);
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
  const wasConnected = card.dataset.state === "connected";
  card.dataset.state = peer.state;
  const label = peerLabel(peer.id);
  const state = STATE_LABELS[peer.state] || peer.state;
  card.querySelector(".peer-name").textContent = label;
  card.querySelector(".peer-state").textContent = state;
  // The room list counts the people connected.
  if (wasConnected !== (peer.state === "connected")) renderNavItem(model);
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
  verify.setAttribute("aria-label", `Mark as verified: ${other}`);
  unverify.setAttribute("aria-label", `Unverify: ${other}`);
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
  // A room off screen keeps its place, or its end when it was there (or we wrote).
  if (!drawnOnScreen()) {
    if (force) model.scrollTop = null;
    return;
  }
  const log = model.log;
  if (followLog === null) {
    followLog = log.scrollHeight - log.scrollTop - log.clientHeight < 80;
    // The frame may come late (WebKit paints only when it must): by then
    // another room may be on screen, whose log is the one to scroll.
    requestAnimationFrame(() => {
      const shown = app.shown && app.shown.log;
      if (followLog && shown) shown.scrollTop = shown.scrollHeight;
      followLog = null;
    });
  }
  if (force) followLog = true;
}

/** The first entry of this visit (after the history and its separator, if any). */
function firstLive() {
  return model.separator ? model.separator.nextElementSibling : model.log.firstElementChild;
}

/** Adds an entry (a message or a note) at the end of the log, keeping this visit's entries within BOUNDS.logItems. */
function appendToLog(item, scroll) {
  scrollLogSoon(scroll);
  const log = model.log;
  log.append(item);
  model.logEntries += 1;
  if (drawnOnScreen()) $("empty-log").hidden = true;
  // The oldest entries go, and a line at the top says so; it counts too.
  while (model.logEntries + (model.logTrimmed ? 1 : 0) > BOUNDS.logItems) {
    const first = firstLive();
    const oldest = model.logTrimmed ? first.nextElementSibling : first;
    if (model.messages.length > 0 && model.messages[0].el === oldest) forgetMessage(model.messages.shift());
    if (oldest.transfer && model.transfers.get(oldest.transfer.key) === oldest.transfer) {
      model.transfers.delete(oldest.transfer.key);
    }
    oldest.remove();
    model.logEntries -= 1;
    if (!model.logTrimmed) {
      model.logTrimmed = true;
      log.insertBefore(el("li", "log-trimmed", "Older messages are not shown"), firstLive());
    }
  }
}

/** A message that left the log: its delivery events are no longer looked for. */
function forgetMessage(message) {
  message.trimmed = true;
  if (message.id !== null && model.byId.get(message.id) === message) model.byId.delete(message.id);
}

/** Remembers that the message `id` (ours or theirs) is in the log, so it is never shown twice. */
function markShown(mine, id) {
  if (id === null || id === undefined) return;
  model.shown.add(`${mine ? "out" : "in"}:${id}`);
  keepLast(model.shown, BOUNDS.shown);
}

function isShown(mine, id) {
  return id !== null && id !== undefined && model.shown.has(`${mine ? "out" : "in"}:${id}`);
}

/** When a message was written: the time, with the date if it was not today. */
function whenText(ms) {
  const date = new Date(ms);
  if (date.toDateString() === new Date().toDateString()) return clockTime(ms);
  return date.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}

/** The date and time in full, for a message time's tooltip. */
function fullTime(ms) {
  return new Date(ms).toLocaleString([], { dateStyle: "full", timeStyle: "medium" });
}

/** Web addresses in a message: marked so they stand out, never made clickable. */
const LINK_PATTERN = /\b(?:https?:\/\/|www\.|parlor:\/\/)[^\s<>"]+/gi;

/**
 * A message's text, with its line breaks, as text nodes only. Addresses in
 * it are shown as addresses to select and copy: a link from a stranger is
 * never opened by a click.
 */
function messageText(text) {
  const body = el("div", "text");
  let last = 0;
  for (const match of text.matchAll(LINK_PATTERN)) {
    if (match.index > last) body.append(text.slice(last, match.index));
    const link = el("span", "message-link", match[0]);
    link.title = "Links are not opened from Parlor: select the address to copy it";
    body.append(link);
    last = match.index + match[0].length;
  }
  if (last < text.length) body.append(text.slice(last));
  return body;
}

/**
 * Makes a message's entry. `sender` is { label, short, title, trust } for
 * someone else's message (trust marks a verified contact or an impostor).
 */
function makeMessage({ mine, sender, text, at, id = null }) {
  const item = el("li", mine ? "message mine" : "message");
  const meta = el("div", "message-meta");
  meta.append(el("span", "sender", mine ? "You" : sender.label));
  if (!mine && sender.short) {
    const short = el("span", "sender-id", sender.short);
    if (sender.title) short.title = sender.title;
    meta.append(short);
    const trust = sender.trust;
    if (trust && trust.impersonates) {
      item.classList.add("impostor");
      meta.append(el("span", "sender-warning", impostorText(trust.impersonates)));
    } else if (trust && trust.verified) {
      meta.append(el("span", "sender-verified", "✓ Verified"));
    }
  }
  const time = el("time", "message-time", whenText(at));
  time.dateTime = new Date(at).toISOString();
  time.title = fullTime(at);
  meta.append(time);
  const status = el("span", "delivery");
  status.append(el("span", "delivery-text"));
  meta.append(status);
  item.append(meta, messageText(text));
  const message = {
    el: item,
    mine,
    session: model.session,
    id,
    recipients: new Map(), // fingerprint (or "peer:" + peer id before it is known) -> { label, state }
    waiting: false, // the engine keeps it for whoever comes
    sendError: false, // send_message refused it
    trimmed: false,
  };
  item.message = message;
  renderDelivery(message);
  return message;
}

/** A message of this visit, at the end of the log. */
function appendMessage({ mine, from, name, text, at, id = null }) {
  let sender = null;
  if (!mine) {
    const peer = model.peers.get(from);
    sender = {
      label: peerLabel(from, name),
      short: peer && peer.fingerprint ? shortFingerprint(peer.fingerprint) : "",
      title: peer && peer.fingerprint ? peer.fingerprint : "",
      trust: peer ? peer.trust : null,
    };
    markShown(false, id);
  }
  const message = makeMessage({ mine, sender, text, at });
  message.el.dataset.from = mine ? "me" : from;
  model.messages.push(message);
  appendToLog(message.el, mine);
  return message;
}

function appendNote(text, at) {
  const item = el("li", "note");
  item.append(el("span", "note-text", text), el("time", "message-time", clockTime(at)));
  appendToLog(item, true);
}

/** "Bob", "Bob and Carol", "Bob, Carol and Dave", "Bob, Carol, Dave and 4 others". */
function nameList(names) {
  if (names.length <= 1) return names.join("");
  if (names.length <= 3) return `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
  return `${names.slice(0, 3).join(", ")} and ${names.length - 3} others`;
}

/** How far one of our messages got, in words and as a state for the page (data-delivery). */
function deliveryOf(message) {
  if (message.sendError) return { state: "failed", text: "Not sent" };
  const all = [...message.recipients.values()];
  if (all.length === 0) {
    return message.waiting ? { state: "waiting", text: "Waiting for someone" } : { state: "sending", text: "Sending…" };
  }
  const who = (state) => all.filter((r) => r.state === state).map((r) => r.label);
  const failed = who("failed");
  const delivered = who("delivered");
  const queued = who("queued");
  const sent = who("sent");
  if (failed.length > 0) return { state: "failed", text: `Failed to reach ${nameList(failed)} —`, retry: true };
  if (delivered.length === all.length) return { state: "delivered", text: `Delivered to ${nameList(delivered)}` };
  const pending = [];
  if (queued.length > 0) pending.push(`queued for ${nameList(queued)}`);
  if (sent.length > 0) pending.push(`sent to ${nameList(sent)}`);
  const rest = pending.join(", ");
  if (delivered.length > 0) return { state: "partial", text: `Delivered to ${nameList(delivered)}; ${rest}` };
  const text = rest.charAt(0).toUpperCase() + rest.slice(1);
  return { state: queued.length > 0 ? "queued" : "sent", text };
}

function renderDelivery(message) {
  if (!message.mine) return;
  const status = message.el.querySelector(".delivery");
  const { state, text, retry } = deliveryOf(message);
  status.querySelector(".delivery-text").textContent = text;
  message.el.dataset.delivery = state;
  let button = status.querySelector(".retry");
  if (retry && message.id !== null && !button) {
    button = el("button", "retry ghost small", "Retry");
    button.type = "button";
    button.setAttribute("aria-label", "Retry sending this message");
    status.append(" ", button);
  } else if (!retry && button) {
    button.previousSibling.remove(); // the space before it
    button.remove();
  }
}

/** The key and label of the person behind peer `to`: their identity once known. */
function recipientOf(to) {
  const peer = model.peers.get(to);
  if (peer && peer.fingerprint) {
    const label = peer.name || shortFingerprint(peer.fingerprint);
    return { key: peer.fingerprint, label, alias: `peer:${to}` };
  }
  return { key: `peer:${to}`, label: peerLabel(to) };
}

/** Applies a `waiting`, `queued`, `delivered` or `send-failed` event to our message. */
function applyDelivery(message, event) {
  if (event.event === "waiting") {
    message.waiting = true;
    renderDelivery(message);
    return;
  }
  const { key, label, alias } = recipientOf(event.to);
  // Its first event may have named the peer before its identity was known.
  if (alias && message.recipients.has(alias) && !message.recipients.has(key)) {
    message.recipients.set(key, message.recipients.get(alias));
  }
  if (alias) message.recipients.delete(alias);
  const recipient = message.recipients.get(key) || { label, state: "queued" };
  recipient.label = label;
  if (recipient.state !== "delivered") {
    if (event.event === "delivered") recipient.state = "delivered";
    if (event.event === "send-failed") recipient.state = "failed";
    if (event.event === "queued") {
      // Handed to a connected peer's channel at once: sent. To one still
      // connecting: queued until its channel opens.
      const peer = model.peers.get(event.to);
      recipient.state = peer && peer.state === "connected" ? "sent" : "queued";
    }
  }
  message.recipients.set(key, recipient);
  renderDelivery(message);
}

/**
 * A delivery event for a message id the log does not know: held while a
 * send is under way (its id may be this one) or a page of history is
 * loading (it may be one of those, read before the event); otherwise the
 * message has left the log, or was never ours to show.
 */
function holdEarly(event) {
  if (model.sending === 0 && !model.historyLoading) return;
  let events = model.early.get(event.id);
  if (!events) {
    events = [];
    model.early.set(event.id, events);
    keepLast(model.early, BOUNDS.early);
  }
  if (events.length < BOUNDS.earlyEvents) events.push(event);
}

/**
 * Sends what is in the box. With nobody in the room the message is kept
 * and shown as waiting; it goes out when someone comes.
 */
async function sendMessage() {
  const room = app.shown;
  const input = $("message-input");
  const text = input.value;
  if (!room || !text.trim()) return;
  input.value = "";
  room.draft = "";
  fitComposer();
  const message = inRoom(room, () => appendMessage({ mine: true, text, at: Date.now() }));
  room.sending += 1;
  try {
    const id = await invoke("send_message", { session: room.session, text });
    message.id = id;
    inRoom(room, () => {
      if (!message.trimmed) {
        // The history may have drawn it already (it was kept before the
        // reply came): this entry replaces that one.
        const drawn = room.byId.get(id);
        if (drawn && drawn !== message) {
          for (const [key, recipient] of drawn.recipients) message.recipients.set(key, recipient);
          removeHistoryMessage(drawn);
        }
        room.byId.set(id, message);
        markShown(true, id);
      }
      // Its first delivery events may have come in before its id did.
      for (const event of room.early.get(id) || []) applyDelivery(message, event);
      room.early.delete(id);
      renderDelivery(message);
    });
  } catch (error) {
    message.sendError = true;
    inRoom(room, () => renderDelivery(message));
    // Nothing typed is lost: a refused message goes back into its room's
    // box (if nothing new was typed there meanwhile) to be sent again.
    if (app.shown === room) {
      if (!input.value) {
        input.value = text;
        fitComposer();
      }
    } else if (!room.draft) {
      room.draft = text;
    }
    showBanner(errorText(error));
  } finally {
    room.sending -= 1;
    inRoom(room, forgetHeldEvents);
  }
}

/** With no send under way and no history loading, nothing held can still find its message. */
function forgetHeldEvents() {
  if (model.sending === 0 && !model.historyLoading) model.early.clear();
}

/** The Retry button of one of our messages that failed to reach someone. */
async function retryMessage(message) {
  const room = model;
  if (message.id === null) return;
  try {
    await invoke("retry_message", { session: room.session, id: message.id });
  } catch (error) {
    showBanner(errorText(error));
    return;
  }
  // Owed again to everyone it failed to reach; those connected get it now
  // (their `queued` events follow), the others when they come back.
  for (const recipient of message.recipients.values()) {
    if (recipient.state === "failed") recipient.state = "queued";
  }
  inRoom(room, () => renderDelivery(message));
  const input = $("message-input");
  if (input) input.focus();
}

function onMessageLogClick(event) {
  const button = event.target.closest("button");
  const room = app.rooms.get(Number(event.currentTarget.dataset.session));
  if (!button || !room) return;
  inRoom(room, () => onLogButton(button));
}

/** A button in the room being drawn's log: Retry, earlier messages, or a transfer's. */
function onLogButton(button) {
  if (button.classList.contains("retry")) {
    const item = button.closest(".message");
    if (item && item.message) retryMessage(item.message);
  } else if (button.classList.contains("history-more-button")) {
    loadHistory(false);
  } else if (button.dataset.action && button.closest(".transfer")) {
    onTransferClick(button);
  }
}

// ---------------------------------------------------------------- files

/**
 * File transfers, one card in the log each. An offer from someone shows
 * who sent it (name, short identity, whether it is verified) and what
 * (names and sizes), with Accept and Decline. An offer of ours goes to
 * everyone in the room: its card has a row for each person it goes to.
 * Every row has a progress bar with bytes, rate and time left (from the
 * engine's `file-progress` events, at most four a second) and a Cancel
 * button; received files get Open and Show in folder. File names come from
 * other people: they are only ever put on the page as text.
 */

/** Files listed on a card; the rest are counted in one line. */
const FILES_SHOWN = 20;

/** How far back progress samples go when working out the rate. */
const RATE_WINDOW_MS = 5000;

/** "3.4 MB": sizes in decimal units, as file managers show them. */
function sizeText(bytes) {
  if (!Number.isFinite(bytes) || bytes < 1000) return `${Math.max(0, Math.round(bytes || 0))} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/** "2 min 5 s": a time left, in words a person reads at a glance. */
function durationText(seconds) {
  const s = Math.max(1, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function filesText(count) {
  return count === 1 ? "1 file" : `${count} files`;
}

/** The key of a transfer's card: ours by transfer, theirs by peer and transfer. */
function transferKey(direction, peer, transfer) {
  return direction === "send" ? `out:${transfer}` : `in:${peer}:${transfer}`;
}

/** A readable sentence for a `file-failed` reason. `who` is the other person. */
function failureText(reason, who) {
  const text = String(reason || "");
  const other = "the other side stopped it: ";
  if (text === "cancelled") return "You cancelled it.";
  if (text.startsWith(other)) {
    const why = text.slice(other.length);
    if (why === "declined") return `${who} declined.`;
    if (why === "cancelled") return `${who} cancelled it.`;
    return `${who} stopped it: ${why}`;
  }
  if (text === "declined: declined") return "You declined.";
  if (text.startsWith("declined: ")) return `Not received: ${text.slice("declined: ".length)}`;
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** A small button of a transfer card; `action` says what a click does. */
function transferButton(action, label, className, ariaLabel) {
  const button = el("button", `${className} small`, label);
  button.type = "button";
  button.dataset.action = action;
  if (ariaLabel) button.setAttribute("aria-label", ariaLabel);
  return button;
}

/** Makes a card (not yet in the log) and its place in the model. */
function makeTransfer(direction, peer, transfer, at) {
  const item = el("li", direction === "send" ? "transfer mine" : "transfer");
  item.dataset.transfer = transfer;
  item.dataset.direction = direction;
  const head = el("div", "transfer-head");
  const time = el("time", "message-time", whenText(at));
  time.dateTime = new Date(at).toISOString();
  const files = el("ul", "transfer-files");
  const rows = el("div", "transfer-rows");
  item.append(head, files, rows);
  const entry = {
    key: transferKey(direction, peer, transfer),
    direction,
    transfer,
    peer, // theirs: who offers it
    files: [],
    total: 0,
    received: new Map(), // theirs: file index -> path
    dir: null, // theirs: the folder it goes into
    rows: new Map(), // peer id -> row
    el: item,
    head,
    time,
    list: files,
    rowsEl: rows,
  };
  item.transfer = entry;
  model.transfers.set(entry.key, entry);
  return entry;
}

/** Lists a card's files (the first FILES_SHOWN, then how many more) and its size. */
function renderFiles(entry) {
  entry.list.replaceChildren();
  entry.files.slice(0, FILES_SHOWN).forEach(([name, size], index) => {
    const item = el("li", "transfer-file");
    item.dataset.index = String(index);
    item.append(el("span", "file-name", name), el("span", "file-size", sizeText(size)), el("span", "file-actions"));
    entry.list.append(item);
  });
  if (entry.files.length > FILES_SHOWN) {
    entry.list.append(el("li", "transfer-more muted", `…and ${entry.files.length - FILES_SHOWN} more`));
  }
}

/** The head of one of our offers: what, how big, to whom. */
function renderSendHead(entry) {
  const what = entry.files.length > 0 ? `${filesText(entry.files.length)} · ${sizeText(entry.total)}` : sizeText(entry.total);
  entry.head.replaceChildren(
    el("span", "sender", "You"),
    el("span", "transfer-what", `offered ${what} to everyone in the room`),
    entry.time,
  );
}

/** The head of someone's offer: who (name, short identity, verified or not) and what. */
function renderOfferHead(entry) {
  const peer = model.peers.get(entry.peer);
  const from = el("span", "sender transfer-from", peerLabel(entry.peer));
  const parts = [from];
  if (peer && peer.fingerprint) {
    const short = el("span", "sender-id", shortFingerprint(peer.fingerprint));
    short.title = peer.fingerprint;
    parts.push(short);
  }
  const trust = peer ? peer.trust : null;
  let badge;
  if (trust && trust.impersonates) {
    badge = el("span", "sender-warning transfer-trust", impostorText(trust.impersonates));
    entry.el.dataset.trust = "impostor";
  } else if (trust && trust.verified) {
    badge = el("span", "sender-verified transfer-trust", "✓ Verified");
    entry.el.dataset.trust = "verified";
  } else {
    badge = el("span", "unverified transfer-trust", "Not verified");
    entry.el.dataset.trust = "unverified";
  }
  parts.push(badge, el("span", "transfer-what", `offers ${filesText(entry.files.length)} · ${sizeText(entry.total)}`), entry.time);
  entry.head.replaceChildren(...parts);
}

/** Asks Rust whether the sender of an offer is verified, then shows it on the card. */
async function checkOfferSender(entry) {
  const peer = model.peers.get(entry.peer);
  if (!peer || !peer.fingerprint || peer.trust) return;
  const room = model;
  try {
    const trust = await invoke("check_peer", { fingerprint: peer.fingerprint, name: peer.name || null });
    if (room.left || room.transfers.get(entry.key) !== entry) return;
    peer.trust = trust;
    inRoom(room, () => renderOfferHead(entry));
  } catch (error) {
    showBanner(errorText(error));
  }
}

/** A row of a card: one person's share of the transfer. */
function ensureRow(entry, peer) {
  let row = entry.rows.get(peer);
  if (row) return row;
  const who = peerLabel(peer);
  const mine = entry.direction === "send";
  const item = el("div", "transfer-row");
  item.dataset.peer = peer;
  const label = el("span", "row-label", mine ? `To ${who}` : "");
  label.hidden = !mine;
  const progress = document.createElement("progress");
  progress.className = "row-progress";
  progress.max = 1;
  progress.value = 0;
  progress.setAttribute("aria-label", mine ? `Sending to ${who}` : `Receiving from ${who}`);
  const stats = el("span", "row-stats");
  const status = el("span", "row-status");
  const actions = el("span", "row-actions");
  if (!mine) {
    actions.append(
      transferButton("accept", "Accept", "primary", `Accept the files from ${who}`),
      transferButton("decline", "Decline", "ghost", `Decline the files from ${who}`),
    );
  }
  actions.append(transferButton("cancel", "Cancel", "danger", mine ? `Cancel sending to ${who}` : `Cancel receiving from ${who}`));
  item.append(label, progress, stats, status, actions);
  row = {
    peer, state: "offered", bytes: 0, total: entry.total, samples: [], el: item, progress, stats, status, busy: false, pending: null, reason: null,
  };
  entry.rows.set(peer, row);
  entry.rowsEl.append(item);
  renderRow(entry, row);
  return row;
}

/** What a row's status line says in each state. */
function rowStatus(entry, row) {
  const who = peerLabel(row.peer);
  const mine = entry.direction === "send";
  if (row.pending && row.state !== "done" && row.state !== "failed") return row.pending;
  switch (row.state) {
    case "offered":
      return mine ? `Waiting for ${who} to accept` : "Waiting for you to accept or decline";
    case "starting":
      return "Starting…";
    case "active":
      return mine ? "Sending" : "Receiving";
    case "done":
      if (mine) return `Sent to ${who}`;
      return entry.dir ? `Received into ${entry.dir}` : "Received";
    default:
      return row.reason || "";
  }
}

/** Draws a row from its state; keeps the keyboard focus on the card if its control went. */
function renderRow(entry, row) {
  const active = document.activeElement;
  const hadFocus = entry.el.contains(active);
  const { state } = row;
  row.el.dataset.state = state;
  const total = row.total || entry.total;
  const moving = state === "starting" || state === "active";
  row.progress.hidden = !(moving || state === "done");
  row.progress.max = Math.max(1, total);
  row.progress.value = state === "done" ? Math.max(1, total) : Math.min(row.bytes, total);
  row.stats.hidden = !(state === "active" || state === "done");
  row.stats.textContent = state === "done" ? sizeText(total) : progressText(row, total);
  row.status.textContent = rowStatus(entry, row);
  row.status.dataset.tone = state === "failed" ? "bad" : state === "done" ? "good" : "";
  const button = (action) => row.el.querySelector(`[data-action="${action}"]`);
  const offered = state === "offered" && entry.direction === "receive";
  for (const action of ["accept", "decline"]) {
    const control = button(action);
    if (control) {
      control.hidden = !offered;
      control.disabled = row.busy;
    }
  }
  const cancel = button("cancel");
  cancel.hidden = !(moving || (state === "offered" && entry.direction === "send"));
  cancel.disabled = row.busy;
  entry.el.dataset.state = cardState(entry);
  if (hadFocus && (active.hidden || active.offsetParent === null || !entry.el.contains(active))) {
    const next = [...entry.el.querySelectorAll("button")].find((b) => !b.hidden && !b.disabled && b.offsetParent !== null);
    (next || $("message-input")).focus();
  }
}

/** A card's state for the page: its one row's, or for ours, how its rows stand. */
function cardState(entry) {
  const states = [...entry.rows.values()].map((row) => row.state);
  if (states.length === 0) return "offered";
  if (entry.direction === "receive") return states[0];
  if (states.some((s) => s === "active" || s === "starting")) return "active";
  if (states.every((s) => s === "done")) return "done";
  if (states.every((s) => s === "failed")) return "failed";
  if (states.some((s) => s === "offered")) return "offered";
  return "done";
}

/** "12.0 MB of 300 MB · 4.1 MB/s · 1 min 10 s left". */
function progressText(row, total) {
  const parts = [`${sizeText(row.bytes)} of ${sizeText(total)}`];
  const samples = row.samples;
  if (samples.length >= 2) {
    const first = samples[0];
    const last = samples[samples.length - 1];
    const seconds = (last.at - first.at) / 1000;
    const rate = seconds > 0 ? (last.bytes - first.bytes) / seconds : 0;
    if (rate > 0) {
      parts.push(`${sizeText(rate)}/s`);
      if (total > row.bytes) parts.push(`${durationText((total - row.bytes) / rate)} left`);
    }
  }
  return parts.join(" · ");
}

/**
 * Whether every row of a card has ended (done, declined, cancelled,
 * failed). The same files offered again have the same transfer id: a card
 * that ended stays in the log as it was, and the new offer gets its own.
 */
function transferEnded(entry) {
  const rows = [...entry.rows.values()];
  return rows.length > 0 && rows.every((row) => row.state === "done" || row.state === "failed");
}

/** Someone offers files: a card with Accept and Decline. */
function onFileOffered(event) {
  const key = transferKey("receive", event.peer, event.transfer);
  const earlier = model.transfers.get(key);
  if (earlier && !transferEnded(earlier)) return;
  const entry = makeTransfer("receive", event.peer, event.transfer, event.at_ms);
  entry.files = event.files || [];
  entry.total = event.total_bytes || 0;
  renderFiles(entry);
  renderOfferHead(entry);
  ensureRow(entry, event.peer);
  appendToLog(entry.el, true);
  checkOfferSender(entry);
}

/** The card of our offer `transfer`, made if the events came before send_files answered. */
function ensureSendCard(transfer, at) {
  const key = transferKey("send", null, transfer);
  let entry = model.transfers.get(key);
  if (!entry) {
    entry = makeTransfer("send", null, transfer, at);
    renderSendHead(entry);
    appendToLog(entry.el, true);
  }
  return entry;
}

/** Our offer as send_files described it: its files, and a row for each person connected now. */
function showSentOffer(offer) {
  const earlier = model.transfers.get(transferKey("send", null, offer.transfer));
  if (earlier && transferEnded(earlier)) model.transfers.delete(earlier.key);
  const entry = ensureSendCard(offer.transfer, Date.now());
  entry.files = offer.files;
  entry.total = offer.totalBytes;
  renderFiles(entry);
  renderSendHead(entry);
  for (const peer of model.peers.values()) {
    if (peer.state === "connected" && peer.parlor) ensureRow(entry, peer.id);
  }
  for (const row of entry.rows.values()) renderRow(entry, row);
}

/** The card a `file-progress`, `file-failed`… event is about, or null. */
function transferOf(event, direction) {
  if (direction !== "send") {
    const theirs = model.transfers.get(transferKey("receive", event.peer, event.transfer));
    if (theirs || direction === "receive") return theirs || null;
  }
  return model.transfers.get(transferKey("send", null, event.transfer)) || null;
}

function onFileProgress(event) {
  const entry = event.direction === "send" ? ensureSendCard(event.transfer, event.at_ms) : transferOf(event, "receive");
  if (!entry) return;
  const row = ensureRow(entry, event.peer);
  if (row.state === "done" || row.state === "failed") return;
  row.state = "active";
  row.total = event.total;
  if (!entry.total) entry.total = event.total;
  // A transfer that resumed after a break starts its samples again.
  if (event.bytes < row.bytes) row.samples = [];
  row.bytes = event.bytes;
  row.samples.push({ at: event.at_ms, bytes: event.bytes });
  while (row.samples.length > 2 && row.samples[0].at < event.at_ms - RATE_WINDOW_MS) row.samples.shift();
  renderRow(entry, row);
}

/** A file of an offer we took arrived whole and verified: Open and Show in folder. */
function onFileReceived(event) {
  const entry = transferOf(event, "receive");
  if (!entry) return;
  entry.received.set(event.file, event.path);
  const item = entry.list.querySelector(`.transfer-file[data-index="${Number(event.file)}"]`);
  if (item) {
    // Its name on this disk ("report (2).pdf" beside an older report.pdf).
    const name = event.path.split(/[\\/]/).pop() || event.path;
    item.querySelector(".file-name").textContent = name;
    item.dataset.received = "true";
    const actions = item.querySelector(".file-actions");
    const open = transferButton("open", "Open", "secondary", `Open ${name}`);
    const reveal = transferButton("reveal", "Show in folder", "ghost", `Show in folder: ${name}`);
    open.dataset.path = event.path;
    reveal.dataset.path = event.path;
    actions.replaceChildren(open, reveal);
  }
  const row = ensureRow(entry, event.peer);
  if (entry.received.size >= entry.files.length) {
    row.state = "done";
    row.busy = false;
    row.pending = null;
  }
  renderRow(entry, row);
}

function onFileSent(event) {
  const entry = transferOf(event, "send");
  if (!entry) return;
  const row = ensureRow(entry, event.peer);
  row.state = "done";
  row.busy = false;
  row.pending = null;
  renderRow(entry, row);
}

function onFileFailed(event) {
  const entry = transferOf(event, null);
  if (!entry) return;
  const row = ensureRow(entry, event.peer);
  if (row.state === "done") return;
  row.state = "failed";
  row.busy = false;
  row.pending = null;
  row.reason = failureText(event.reason, peerLabel(event.peer));
  renderRow(entry, row);
}

/** Offers `paths` (from the picker or a drop) to everyone in the room. */
/** Offers `paths` (from the picker or a drop) to everyone in the room on screen. */
async function sendFiles(paths) {
  if (!paths || paths.length === 0) return;
  const room = app.shown;
  if (!room) {
    showBanner("Join a room first to send files.");
    return;
  }
  room.preparing += 1;
  inRoom(room, renderSendFilesButton);
  try {
    const offer = await invoke("send_files", { session: room.session, paths });
    if (!room.left) inRoom(room, () => showSentOffer(offer));
  } catch (error) {
    if (!room.left) showBanner(errorText(error));
  } finally {
    room.preparing -= 1;
    inRoom(room, renderSendFilesButton);
  }
}

/** The Send files button says when the room's files are being read before they are offered. */
function renderSendFilesButton() {
  if (!drawnOnScreen()) return;
  const button = $("send-files");
  button.textContent = model.preparing > 0 ? "Preparing files…" : "Send files…";
  button.setAttribute("aria-busy", String(model.preparing > 0));
}

/** The Send files button: the desktop's file picker, then the offer. */
async function pickAndSendFiles() {
  let paths;
  try {
    paths = await invoke("pick_files");
  } catch (error) {
    showBanner(errorText(error));
    return;
  }
  $("send-files").focus();
  await sendFiles(paths);
}

/** Files dragged over the window (Tauri's drag-and-drop, with real paths): for the room on screen. */
function onDragDrop(payload) {
  const zone = $("drop-zone");
  if (app.view !== "room" || !payload) {
    zone.hidden = true;
    return;
  }
  if (payload.type === "enter" || payload.type === "over") {
    zone.hidden = false;
  } else if (payload.type === "leave") {
    zone.hidden = true;
  } else if (payload.type === "drop") {
    zone.hidden = true;
    sendFiles(payload.paths);
  }
}

/** A click on a transfer card's button: Accept, Decline, Cancel, Open, Show in folder. */
async function onTransferClick(button) {
  const entry = button.closest(".transfer") && button.closest(".transfer").transfer;
  if (!entry) return;
  const action = button.dataset.action;
  if (action === "open" || action === "reveal") {
    try {
      await invoke(action === "open" ? "open_file" : "show_in_folder", { path: button.dataset.path });
    } catch (error) {
      showBanner(errorText(error));
    }
    return;
  }
  const rowEl = button.closest(".transfer-row");
  const row = rowEl && entry.rows.get(rowEl.dataset.peer);
  if (!row || row.busy) return;
  const room = model;
  const args = { session: room.session, peer: row.peer, transfer: entry.transfer };
  if (action === "accept") {
    row.state = "starting";
  } else {
    // Until the engine's `file-failed` says it is over.
    row.busy = true;
    row.pending = action === "decline" ? "Declining…" : "Cancelling…";
  }
  renderRow(entry, row);
  const command = { accept: "accept_files", decline: "decline_files", cancel: "cancel_transfer" }[action];
  try {
    const answer = await invoke(command, args);
    if (action === "accept" && !room.left) {
      entry.dir = answer;
      inRoom(room, () => renderRow(entry, row));
    }
  } catch (error) {
    if (room.left) return;
    showBanner(errorText(error));
    row.busy = false;
    row.pending = null;
    if (action === "accept" && row.state === "starting") row.state = "offered";
    inRoom(room, () => renderRow(entry, row));
  }
}

// ---------------------------------------------------------------- history

/**
 * A kept message (room_history) as an entry: ours with how far it got with
 * each person, theirs with the name and identity it came with.
 */
function historyMessage(stored) {
  const sender = stored.outgoing
    ? null
    : { label: stored.senderName || "Someone", short: stored.sender, title: stored.senderFingerprint, trust: null };
  const message = makeMessage({ mine: stored.outgoing, sender, text: stored.text, at: stored.atMs, id: stored.id });
  message.el.classList.add("from-history");
  message.el.dataset.seq = String(stored.seq);
  message.seq = stored.seq;
  for (const recipient of stored.recipients) {
    message.recipients.set(recipient.fingerprint, { label: recipient.label, state: recipient.state });
  }
  // No one to deliver to yet: it waits for whoever comes.
  message.waiting = stored.outgoing && stored.recipients.length === 0;
  renderDelivery(message);
  return message;
}

/** Takes a history entry out of the log (the same message is shown live). */
function removeHistoryMessage(message) {
  message.el.remove();
  model.history = model.history.filter((m) => m !== message);
}

/** The line at the top of the history: a button for older messages, or why there are none. */
function renderHistoryTop() {
  const log = model.log;
  if (!model.historyTop) {
    model.historyTop = el("li", "history-more");
    log.prepend(model.historyTop);
  }
  const top = model.historyTop;
  top.replaceChildren();
  if (model.historyMore && model.history.length < BOUNDS.history) {
    const button = el("button", "history-more-button ghost small", "Show earlier messages");
    button.type = "button";
    top.append(button);
  } else if (model.historyMore) {
    top.append(el("span", "muted", "Earlier messages are kept but not shown here"));
  } else {
    top.append(el("span", "muted", "The beginning of this room on this computer"));
  }
}

/**
 * Loads a page of the room's kept messages: the latest (`initial`, on
 * entering the room) or the page before the oldest shown (scrolling up).
 */
async function loadHistory(initial) {
  const room = model;
  if (!room || room.historyLoading) return;
  if (!initial && (!room.historyMore || room.history.length >= BOUNDS.history)) return;
  room.historyLoading = true;
  try {
    const page = await invoke("room_history", {
      link: room.info.link,
      beforeSeq: initial ? null : room.historyOldestSeq,
    });
    if (!room.left) inRoom(room, () => showHistoryPage(page, initial));
  } catch (error) {
    if (!room.left) showBanner(errorText(error));
  } finally {
    room.historyLoading = false;
    inRoom(room, forgetHeldEvents);
  }
}

/** Draws one page of history above what the log shows, without moving what the reader looks at. */
function showHistoryPage(page, initial) {
  const log = model.log;
  if (page.length > 0) model.historyOldestSeq = page[0].seq;
  model.historyMore = page.length >= HISTORY_PAGE;
  const fresh = page.filter((stored) => !isShown(stored.outgoing, stored.id));
  if (initial && page.length === 0) {
    log.dataset.history = "none";
    return;
  }
  if (!model.separator) {
    model.separator = el("li", "history-separator", "Earlier messages above");
    log.prepend(model.separator);
  }
  const fromBottom = log.scrollHeight - log.scrollTop;
  // Oldest first: each page goes right below the top line, above the page after it.
  const anchor = model.historyTop ? model.historyTop.nextElementSibling : log.firstElementChild;
  const messages = fresh.map(historyMessage);
  for (const message of messages) {
    log.insertBefore(message.el, anchor);
    markShown(message.mine, message.id);
    if (message.mine && message.id !== null && !model.byId.has(message.id)) {
      model.byId.set(message.id, message);
      // Delivery news that came while the page was being read.
      for (const event of model.early.get(message.id) || []) applyDelivery(message, event);
      model.early.delete(message.id);
    }
  }
  model.history = [...messages, ...model.history];
  renderHistoryTop();
  log.dataset.history = String(model.history.length);
  if (drawnOnScreen()) $("empty-log").hidden = true;
  if (initial) scrollLogSoon(true);
  else log.scrollTop = log.scrollHeight - fromBottom;
}

/** Scrolling to the top of the log loads the page before. */
function onLogScroll(event) {
  const log = event.currentTarget;
  const room = app.rooms.get(Number(log.dataset.session));
  if (!room || app.shown !== room) return;
  if (log.scrollTop < 40 && room.historyMore && !room.historyLoading && room.separator) inRoom(room, () => loadHistory(false));
  // Reading to the end of the log is reading what came.
  if (atEnd(log)) seen(room);
}

// ---------------------------------------------------------------- engine events

/**
 * An engine event: drawn into its room (on screen or not), held if it is
 * of a room whose join has not answered yet, ignored if of a room left.
 */
function onTaggedEvent(event) {
  const room = app.rooms.get(event.room_session);
  if (room) {
    inRoom(room, () => onEngineEvent(event));
  } else if (app.joining > 0) {
    app.held.push(event);
    if (app.held.length > BOUNDS.held) app.held.shift();
  }
}

// ---------------------------------------------------------------- unread

/** The unread total last told to Rust (window title, badge). */
let toldUnread = 0;

/**
 * A message from someone else arrived in the room being drawn: unread
 * unless the person is looking at it (its room on screen, the window
 * focused); said to screen readers either way (the log itself is not a
 * live region, so history drawn into it is never read out).
 */
function noteIncoming(label, text) {
  const room = model;
  const looking = app.shown === room && document.hasFocus();
  if (!looking) {
    room.unread += 1;
    renderNavItem(room);
    renderUnreadTotal();
  }
  const short = text.length > 200 ? `${text.slice(0, 200)}…` : text;
  announce(app.shown === room ? `${label}: ${short}` : `New message in ${roomName(room)} from ${label}`);
}

/** The person sees the room now: its unread count goes. */
function seen(room) {
  if (!room || room.unread === 0 || !document.hasFocus()) return;
  room.unread = 0;
  renderNavItem(room);
  renderUnreadTotal();
}

/** A change of the total waiting to be told (at most five times a second, however fast messages come). */
let unreadTimer = null;

function unreadTotal() {
  return [...app.rooms.values()].reduce((sum, room) => sum + room.unread, 0);
}

/** The unread total of every room, above the room list and in the window's title (and badge) through Rust. */
function renderUnreadTotal() {
  const total = unreadTotal();
  $("nav-unread").textContent = total === 0 ? "" : `${total} unread`;
  if (total === toldUnread || unreadTimer !== null) return;
  unreadTimer = setTimeout(() => {
    unreadTimer = null;
    toldUnread = unreadTotal();
    invoke("set_unread", { total: toldUnread }).catch(() => {});
  }, 200);
}

/** Says `text` to screen readers, once (a polite live region, emptied before each). */
function announce(text) {
  const region = $("announcer");
  region.textContent = "";
  requestAnimationFrame(() => {
    region.textContent = text;
  });
}

/**
 * Shows one engine event. Each changes only its part of the page: a step
 * adds a row to its peer's card (and may change the state badge), a message
 * adds one entry to the log, a delivery event updates one message, a peer
 * coming or going adds or removes its card. Nothing is redrawn whole, so
 * the keyboard focus and the scroll position stay where they are.
 */
function onEngineEvent(event) {
  const at = event.at_ms;
  if (event.event === "peer-joined") model.gone.delete(event.peer);
  else if (event.peer && model.gone.has(event.peer)) return;
  const peer = event.peer ? model.peers.get(event.peer) : undefined;
  switch (event.event) {
    case "identity":
      if (!app.identity || app.identity.fingerprint !== event.fingerprint) {
        showIdentity({ fingerprint: event.fingerprint, short: shortFingerprint(event.fingerprint) });
      }
      break;
    case "signaling-connected":
      setServerStatus("Signaling server connected", "ok");
      break;
    case "signaling-disconnected":
      setServerStatus(`Signaling server lost, retrying in ${Math.ceil(event.retry_in_ms / 1000)} s`, "warn");
      appendNote(`Lost the signaling server (${event.reason}). Open connections stay up; reconnecting…`, at);
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
      // Already drawn from the history (it was kept before the page asked).
      if (isShown(false, event.id)) break;
      appendMessage({ mine: false, from: event.from, name: event.name, text: event.text, at, id: event.id });
      noteIncoming(peerLabel(event.from, event.name), event.text);
      break;
    case "waiting":
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
      showBanner(`The signaling server refused to let ${roomName(model)} in: ${event.reason}`);
      leaveRoom(model);
      return;
    case "file-offered":
      onFileOffered(event);
      break;
    case "file-progress":
      onFileProgress(event);
      break;
    case "file-received":
      onFileReceived(event);
      break;
    case "file-sent":
      onFileSent(event);
      break;
    case "file-failed":
      onFileFailed(event);
      break;
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

/** Draws the page in the theme setting: the system's (no attribute), light or dark. */
function applyTheme(theme) {
  if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;
  else delete document.documentElement.dataset.theme;
}

async function openSettings() {
  $("settings-error").hidden = true;
  try {
    const settings = await invoke("get_settings");
    app.settings = settings;
    $("display-name").value = settings.displayName;
    $("signaling-server").value = settings.signalingServer;
    $("ice-servers").value = iceToText(settings.iceServers);
    $("theme").value = settings.theme || "system";
    $("notifications").checked = settings.notifications !== false;
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
    theme: $("theme").value,
    notifications: $("notifications").checked,
  };
  try {
    app.settings = await invoke("save_settings", { settings });
    applyTheme(app.settings.theme);
    $("settings-dialog").close();
  } catch (error) {
    $("settings-error").textContent = errorText(error);
    $("settings-error").hidden = false;
  }
}

// ---------------------------------------------------------------- the room's own settings

/** Opens the dialog that names the room on screen on this computer. */
function openRename() {
  const room = app.shown;
  if (!room) return;
  $("rename-input").value = room.info.label || "";
  $("rename-input").placeholder = shortRoomName(room.info.server.room || "");
  $("rename-error").hidden = true;
  $("rename-dialog").dataset.session = String(room.session);
  $("rename-dialog").showModal();
  $("rename-input").select();
}

async function saveRename(event) {
  event.preventDefault();
  const room = app.rooms.get(Number($("rename-dialog").dataset.session));
  if (!room) {
    $("rename-dialog").close();
    return;
  }
  try {
    room.info = await invoke("rename_room", { session: room.session, name: $("rename-input").value });
    $("rename-dialog").close();
    updateRoomInfo(room);
    $("rename-room").focus();
  } catch (error) {
    $("rename-error").textContent = errorText(error);
    $("rename-error").hidden = false;
  }
}

/** The Notifications switch of the room on screen. */
async function toggleMute() {
  const room = app.shown;
  if (!room) return;
  const muted = !$("room-mute").checked;
  try {
    room.info = await invoke("mute_room", { session: room.session, muted });
    updateRoomInfo(room);
  } catch (error) {
    $("room-mute").checked = !room.info.muted;
    showBanner(errorText(error));
  }
}

/** A room's name or switch changed: its list entry, and its header if on screen. */
function updateRoomInfo(room) {
  renderNavItem(room);
  if (app.shown === room) inRoom(room, renderRoomHeader);
}

// ---------------------------------------------------------------- composer

/** The box grows with what is typed, up to a few lines, then scrolls. */
function fitComposer() {
  const input = $("message-input");
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight + 2, 160)}px`;
}

/** Enter sends; Shift+Enter starts a new line (as does Enter while composing with an input method). */
function onComposerKey(event) {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    sendMessage();
  }
}

// ---------------------------------------------------------------- copy

/** A short note at the bottom of the window ("Link copied"), read out by screen readers. */
function showToast(text) {
  const toast = $("toast");
  toast.textContent = text;
  toast.hidden = false;
  clearTimeout(showToast.timer);
  showToast.timer = setTimeout(() => {
    toast.hidden = true;
  }, 2000);
}

async function copyLink() {
  const field = $("room-link");
  let copied = false;
  try {
    await navigator.clipboard.writeText(field.value);
    copied = true;
  } catch {
    field.select();
    copied = document.execCommand("copy");
  }
  if (copied) {
    showToast("Link copied: send it to the people you want in the room");
  } else {
    field.select();
    showToast("Press Ctrl+C to copy the selected link");
  }
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
  $("recent-list").addEventListener("click", onRecentClick);
  $("recent-nav").addEventListener("click", onRecentClick);
  $("room-list").addEventListener("click", onRoomListClick);
  $("room-nav").addEventListener("keydown", onListKey);
  $("nav-home").addEventListener("click", () => {
    showRoom(null);
    $("join-link").focus();
  });
  $("rename-room").addEventListener("click", openRename);
  $("rename-form").addEventListener("submit", saveRename);
  $("rename-cancel").addEventListener("click", () => $("rename-dialog").close());
  $("room-mute").addEventListener("change", toggleMute);
  $("message-input").addEventListener("keydown", onComposerKey);
  $("message-input").addEventListener("input", fitComposer);
  // Coming back to the window is seeing the room on screen.
  window.addEventListener("focus", () => seen(app.shown));
  $("store-notice-close").addEventListener("click", () => {
    showStoreNotice(null);
    $("create-room").focus();
  });
  $("close-form").addEventListener("submit", (event) => {
    event.preventDefault();
    confirmClose();
  });
  // Keep open and Escape close the dialog and nothing else.
  $("close-keep").addEventListener("click", () => $("close-dialog").close("keep"));
  $("join-link").addEventListener("input", () => {
    $("join-error").hidden = true;
  });
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    sendMessage();
  });
  $("leave-room").addEventListener("click", () => leaveRoom());
  $("send-files").addEventListener("click", pickAndSendFiles);
  $("copy-link").addEventListener("click", copyLink);
  $("banner-close").addEventListener("click", hideBanner);
  $("open-settings").addEventListener("click", openSettings);
  $("settings-form").addEventListener("submit", saveSettings);
  $("settings-cancel").addEventListener("click", () => $("settings-dialog").close());
  document.addEventListener("keydown", (event) => {
    const dialogOpen = [...document.querySelectorAll("dialog")].some((dialog) => dialog.open);
    if (event.key === "Escape" && !$("banner").hidden && !dialogOpen) hideBanner();
    if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === "q") {
      event.preventDefault();
      requestClose();
    }
    if (event.altKey && !event.ctrlKey && !dialogOpen && (event.key === "ArrowUp" || event.key === "ArrowDown")) {
      event.preventDefault();
      switchRoom(event.key === "ArrowDown" ? 1 : -1);
    }
  });
}

/**
 * Rejoins the rooms that were open when the app last closed (they are the
 * person's own: no question), one after another so the room list keeps
 * its order, and puts the one that was on screen back on screen.
 */
async function restoreRooms(restore) {
  const count = restore.rooms.length;
  $("start-progress").textContent = count === 1 ? "Rejoining your room…" : `Rejoining your ${count} rooms…`;
  $("start-progress").hidden = false;
  const joined = [];
  for (const link of restore.rooms) {
    const room = await startJoin(`Rejoining ${link}…`, () => invoke("join_room", { link }), { quiet: true });
    if (room) joined.push([link, room]);
  }
  $("start-progress").hidden = true;
  if (app.shown) return;
  const shown = joined.find(([link]) => link === restore.shown) || joined[0];
  if (shown) {
    showRoom(shown[1]);
    $("message-input").focus();
  }
  loadRecentRooms();
}

async function main() {
  wire();
  showView("start");
  await listen("engine-event", (event) => onTaggedEvent(event.payload));
  await listen("open-link", () => {
    takePendingLink().catch((error) => showBanner(errorText(error)));
  });
  await listen("close-requested", (event) => onCloseRequested(event.payload));
  // A click on a notification: its room goes on screen.
  await listen("open-room", (event) => {
    const room = app.rooms.get(event.payload.session);
    if (room) showRoom(room);
  });
  // Files dropped on the window arrive with their real paths (the page's
  // own drop events carry none).
  const webview = window.__TAURI__.webview;
  if (webview && webview.getCurrentWebview) {
    await webview.getCurrentWebview().onDragDropEvent((event) => onDragDrop(event.payload));
  }
  let restore = null;
  try {
    // A window that reloads shows the rooms it was in; a link waiting to
    // be joined is then offered from there.
    const snapshot = await invoke("get_state");
    applyTheme(snapshot.theme);
    $("app-version").textContent = `Parlor ${snapshot.version}`;
    showStoreNotice(snapshot.storeNotice);
    for (const info of snapshot.rooms) addRoom(info);
    const shown = app.rooms.get(snapshot.shown) || [...app.rooms.values()].pop();
    if (shown) showRoom(shown);
    restore = snapshot.restore;
    if (snapshot.pendingLink) {
      if (app.view !== "room") $("join-link").value = snapshot.pendingLink;
      joinRoom(snapshot.pendingLink, "outside");
    }
  } catch (error) {
    showBanner(errorText(error));
  }
  loadIdentity().catch((error) => showBanner(errorText(error)));
  if (app.view === "start") $("create-room").focus();
  await loadRecentRooms();
  invoke("ui_ready").catch(() => {});
  if (restore && restore.rooms.length > 0) await restoreRooms(restore);
  // Started, and the rooms of the last run are back: what tests wait for.
  document.body.dataset.ready = "true";
}

main();

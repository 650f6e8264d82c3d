// A stand-in for the Tauri bridge the window's page uses, so that ui/ runs
// in a plain browser (tests/ui_a11y.rs serves it and puts this script before
// the page's own). It answers `invoke` from a table of canned replies, one
// per command, in the shapes the Rust commands return (src-tauri/src/
// commands.rs and the types it names: camelCase fields), and records
// everything the page does:
//
//   window.__bridge.calls    every invoke: { cmd, args }
//   window.__bridge.unknown  commands with no canned reply (they reject)
//   window.__bridge.errors   console.error calls, uncaught errors and
//                            unhandled promise rejections
//   window.__bridge.emit(name, payload)  delivers a Tauri event to the page
//   window.__bridge.dragDrop(payload)    a drag-and-drop event of the webview
//
// Commands about one room take its `session` (the window of several
// rooms); the replies accept it and do without it (the window of one room),
// and get_state answers both windows' snapshots.
//
// A reply is a value or a function (args, bridge) => value; a function may
// return a promise (bridge.never() never settles: a command still under
// way) or throw { kind, message } as Rust's AppError does. Scenes
// (tests/ui/scenes.js) change `bridge.replies` and `bridge.state` to put the
// page into each view.
"use strict";

(() => {
  /** Our identity (get_identity; the `identity` event of tests/ui/events.json names the same). */
  const ME = "27:44:cc:d1:0c:75:33:bd:73:6a:d8:90:f9:dd:5c:ab:2a:db:27:b0:7d:50:0b:94:93:f2:9c:dc:42:0c:b2:e0";

  /** The room create_room makes (its link is the one events.json's signaling-connected names). */
  const ROOM = "9f1c2e7a4b6d80e35c7a1f2b9d4e6c08";
  const LAN_SERVER = "ws://192.168.1.20:1999";

  /** A small stand-in for the QR code's SVG (Rust draws dark modules on white). */
  const QR_SVG =
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 21 21" shape-rendering="crispEdges">' +
    '<rect width="21" height="21" fill="#ffffff"/>' +
    '<path fill="#000000" d="M0 0h7v7H0zM14 0h7v7h-7zM0 14h7v7H0zM2 2v3h3V2zM16 2v3h3V2zM2 16v3h3v-3zM9 9h3v3H9zM14 14h2v2h-2zM18 17h3v2h-3z"/>' +
    "</svg>";

  const shortFingerprint = (fingerprint) => fingerprint.split(":").slice(0, 4).join(":");

  /** LinkInfo (src-tauri/src/links.rs) of a `parlor://join/<room>?server=<url>` link. */
  function linkInfo(link, embeddedHosts) {
    const match = /^parlor:\/\/join\/([A-Za-z0-9_-]+)\?server=([^&\s]+)$/.exec(String(link).trim());
    if (!match) {
      throw {
        kind: "bad-link",
        message: "This link cannot be opened: not a Parlor room link (expected parlor://join/<room>?server=...).",
      };
    }
    const server = decodeURIComponent(match[2]);
    const scheme = /^(wss?):\/\/(.+)$/.exec(server);
    if (!scheme) {
      throw { kind: "bad-link", message: `This link cannot be opened: the server ${server} is not a ws:// or wss:// address.` };
    }
    const host = scheme[2].replace(/\/$/, "");
    return {
      link: `parlor://join/${match[1]}?server=${encodeURIComponent(server)}`,
      room: match[1],
      server,
      host,
      encrypted: scheme[1] === "wss",
      embedded: embeddedHosts.includes(host),
    };
  }

  const bridge = {
    calls: [],
    unknown: [],
    errors: [],
    listeners: new Map(), // event name -> [handler]
    dragDropHandlers: [],
    /** Invokes answered or failed, and those still under way (never() ones not counted). */
    outstanding: 0,
    nextEventId: 1,

    /** What the canned replies answer from; scenes change it. */
    state: {
      version: "0.1.0",
      storeNotice: null,
      rooms: [], // the RoomInfo of each room we are in, in the order joined
      shown: null, // the session of the room on screen (show_room)
      restore: null, // the rooms of the last run to rejoin: { rooms: [link], shown: link }
      pendingLink: null, // handed out once by get_state, as Rust does
      embeddedHosts: ["192.168.1.20:1999"],
      identity: { fingerprint: ME, short: shortFingerprint(ME) },
      settings: { displayName: "Sam", signalingServer: "", iceServers: [], theme: "system", notifications: true },
      recentRooms: [],
      history: {}, // link -> [HistoryMessage], oldest first
      // Verified contacts (contacts.rs): Alice as she connects in events.json,
      // and the real Bob, whose name another identity uses there.
      contacts: {
        "2b:d8:06:c9:7f:0e:00:af:1a:1f:c3:32:8f:a7:63:a9:26:97:23:c8:db:8f:ac:4f:93:af:71:db:18:6d:6e:90": {
          name: "Alice",
          verifiedAt: 1764400000000,
        },
        "81:b6:37:d8:fc:d2:c6:da:63:59:e6:96:31:13:a1:17:0d:e7:95:e4:b7:25:b8:4d:1e:0b:4c:fd:9e:c5:8c:e9": {
          name: "Bob",
          verifiedAt: 1764300000000,
        },
      },
      nextSession: 1,
      nextMessage: 1,
      nextTransfer: 1,
      session: null, // the session of the room last joined
      unread: 0, // what set_unread was told last
      undelivered: 0,
      pickedFiles: ["/home/sam/Documents/report.pdf", "/home/sam/Pictures/trip"],
    },

    /** A promise that never settles: a command still under way. */
    never() {
      const promise = new Promise(() => {});
      promise.neverSettles = true;
      return promise;
    },

    /**
     * A RoomInfo (state.rs) for `link`, as create_room and join_room return
     * it: the room already open if it is one (join_room returns it as it is).
     */
    roomInfo(link) {
      const info = linkInfo(link, bridge.state.embeddedHosts);
      const open = bridge.state.rooms.find((room) => room.link === info.link);
      if (open) return open;
      const session = bridge.state.nextSession++;
      bridge.state.session = session;
      const room = { link: info.link, peerId: "7e3b1d9a0c5f2468", qrSvg: QR_SVG, server: info, session, label: null, muted: false };
      bridge.state.rooms.push(room);
      return room;
    },

    /** The open room `session`, or the error Rust gives for another. */
    room(session) {
      const room = bridge.state.rooms.find((r) => r.session === session);
      if (!room) throw { kind: "not-in-room", message: "You are not in a room." };
      return room;
    },

    /** PeerTrust (contacts.rs) for a peer's identity and the name it uses. */
    trust(fingerprint, name) {
      const contacts = bridge.state.contacts;
      const contact = contacts[fingerprint] || null;
      let impersonates = null;
      if (!contact && name) {
        const wanted = name.trim().toLowerCase();
        const other = Object.values(contacts).find((c) => c.name.trim().toLowerCase() === wanted);
        if (other) impersonates = other.name;
      }
      return { fingerprint, short: shortFingerprint(fingerprint), verified: contact, impersonates };
    },
  };

  /** The canned replies, by command name (src-tauri/src/commands.rs). */
  bridge.replies = {
    // AppSnapshot: `rooms`, `shown`, `restore` and `theme` are the window of
    // several rooms' (`room`, the one room of the window before it).
    get_state: (_args, b) => {
      const pendingLink = b.state.pendingLink;
      b.state.pendingLink = null;
      const restore = b.state.restore;
      b.state.restore = null;
      const shown = b.state.rooms.find((r) => r.session === b.state.shown) || null;
      return {
        rooms: b.state.rooms,
        shown: shown ? shown.session : null,
        room: shown,
        restore,
        theme: b.state.settings.theme,
        pendingLink,
        version: b.state.version,
        storeNotice: b.state.storeNotice,
      };
    },
    ui_ready: () => null,
    show_room: ({ session }, b) => {
      b.state.shown = session === undefined ? null : session;
      return null;
    },
    rename_room: ({ session, name }, b) => {
      const room = b.room(session);
      room.label = String(name || "").trim() || null;
      return room;
    },
    mute_room: ({ session, muted }, b) => {
      const room = b.room(session);
      room.muted = !!muted;
      return room;
    },
    set_unread: ({ total }, b) => {
      b.state.unread = total;
      return null;
    },
    get_identity: (_args, b) => b.state.identity,
    get_settings: (_args, b) => b.state.settings,
    save_settings: ({ settings }, b) => {
      b.state.settings = settings;
      return settings;
    },
    recent_rooms: (_args, b) => b.state.recentRooms,
    inspect_link: ({ link }, b) => linkInfo(link, b.state.embeddedHosts),
    create_room: (_args, b) => b.roomInfo(`parlor://join/${ROOM}?server=${encodeURIComponent(LAN_SERVER)}`),
    join_room: ({ link }, b) => b.roomInfo(link),
    leave_room: ({ session }, b) => {
      b.state.rooms = b.state.rooms.filter((r) => session !== undefined && r.session !== session);
      return null;
    },
    room_history: ({ link }, b) => b.state.history[link] || [],
    send_message: ({ text }, b) => {
      if (!String(text || "").trim()) throw { kind: "empty-message", message: "Type a message first." };
      return `out-${b.state.nextMessage++}`;
    },
    retry_message: () => 1,
    undelivered_count: (_args, b) => b.state.undelivered,
    get_contacts: (_args, b) => b.state.contacts,
    check_peer: ({ fingerprint, name }, b) => b.trust(fingerprint, name),
    mark_verified: ({ fingerprint, name }, b) => {
      const contact = { name: name || "", verifiedAt: 1764500000000 };
      b.state.contacts[fingerprint] = contact;
      return { fingerprint, ...contact };
    },
    unmark_verified: ({ fingerprint }, b) => {
      const was = fingerprint in b.state.contacts;
      delete b.state.contacts[fingerprint];
      return was;
    },
    close_window: () => null,
    confirm_close: () => null,
    pick_files: (_args, b) => b.state.pickedFiles,
    send_files: ({ paths }, b) => {
      const files = paths.map((path, index) => {
        const name = path.split("/").pop();
        return index === 1 ? [`${name}/`, 12400000] : [name, 2480000];
      });
      return {
        transfer: `t-out-${b.state.nextTransfer++}`,
        files,
        totalBytes: files.reduce((sum, [, size]) => sum + size, 0),
      };
    },
    accept_files: () => "/home/sam/Downloads",
    decline_files: () => null,
    cancel_transfer: () => null,
    open_file: () => null,
    show_in_folder: () => null,
  };

  /** What IPC does to a value: JSON there and back (undefined becomes null). */
  const overIpc = (value) => (value === undefined ? null : JSON.parse(JSON.stringify(value)));

  async function invoke(cmd, args) {
    const copy = args === undefined ? undefined : overIpc(args);
    bridge.calls.push({ cmd, args: copy });
    const reply = Object.prototype.hasOwnProperty.call(bridge.replies, cmd) ? bridge.replies[cmd] : undefined;
    if (reply === undefined) {
      bridge.unknown.push(cmd);
      throw { kind: "unknown", message: `The test bridge has no reply for the command ${cmd}` };
    }
    let answer;
    try {
      answer = typeof reply === "function" ? reply(copy || {}, bridge) : reply;
    } catch (error) {
      answer = Promise.reject(error);
    }
    if (answer && answer.neverSettles) return answer;
    bridge.outstanding += 1;
    try {
      const value = await answer;
      // Replies arrive on a later task, as over IPC.
      await new Promise((resolve) => setTimeout(resolve, 0));
      return overIpc(value);
    } catch (error) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      throw overIpc(error);
    } finally {
      bridge.outstanding -= 1;
    }
  }

  async function listen(name, handler) {
    if (!bridge.listeners.has(name)) bridge.listeners.set(name, []);
    bridge.listeners.get(name).push(handler);
    return () => {
      const handlers = bridge.listeners.get(name) || [];
      const at = handlers.indexOf(handler);
      if (at >= 0) handlers.splice(at, 1);
    };
  }

  /** Delivers the Tauri event `name` to the page, as Tauri does: { event, id, payload }. */
  bridge.emit = (name, payload) => {
    const handlers = bridge.listeners.get(name) || [];
    for (const handler of [...handlers]) handler({ event: name, id: bridge.nextEventId++, payload: overIpc(payload) });
    return handlers.length;
  };

  /** A drag-and-drop event of the webview: { type: "enter" | "over" | "drop" | "leave", paths, position }. */
  bridge.dragDrop = (payload) => {
    for (const handler of [...bridge.dragDropHandlers]) {
      handler({ event: "tauri://drag-drop", id: bridge.nextEventId++, payload: overIpc(payload) });
    }
    return bridge.dragDropHandlers.length;
  };

  /** Resolves once no invoke has been under way for a few tasks and two frames were drawn. */
  bridge.idle = async () => {
    const frame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));
    const task = () => new Promise((resolve) => setTimeout(resolve, 0));
    for (let quiet = 0; quiet < 3; ) {
      await task();
      quiet = bridge.outstanding === 0 ? quiet + 1 : 0;
    }
    await frame();
    await frame();
  };

  // Errors the page makes: every one fails the test.
  const consoleError = console.error.bind(console);
  console.error = (...args) => {
    bridge.errors.push({ type: "console.error", message: args.map((a) => (a instanceof Error ? a.stack || a.message : String(a))).join(" ") });
    consoleError(...args);
  };
  window.addEventListener("error", (event) => {
    bridge.errors.push({
      type: "uncaught error",
      message: `${event.message} (${event.filename}:${event.lineno}:${event.colno})`,
    });
  });
  window.addEventListener("unhandledrejection", (event) => {
    const reason = event.reason;
    const message = reason instanceof Error ? reason.stack || reason.message : JSON.stringify(reason);
    bridge.errors.push({ type: "unhandled rejection", message });
  });

  window.__bridge = bridge;
  window.__TAURI__ = {
    core: { invoke },
    event: { listen },
    webview: {
      getCurrentWebview() {
        return {
          onDragDropEvent: async (handler) => {
            bridge.dragDropHandlers.push(handler);
            return () => {
              const at = bridge.dragDropHandlers.indexOf(handler);
              if (at >= 0) bridge.dragDropHandlers.splice(at, 1);
            };
          },
        };
      },
    },
  };
})();

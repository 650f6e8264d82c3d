// The views of the window's page, each reached through the page's own
// controls and events, for tests/ui_a11y.rs to check (axe-core in both
// themes, focus rings, errors). All view-driving lives here, and the canned
// replies in bridge.js: when ui/ changes, these are the two files to adjust.
//
// A view is { setup(bridge), run() }: `setup` runs before the page's own
// scripts (the test loads `/?scene=NAME`) and may change the bridge's
// replies and state; `run` drives the page once it has started. The test
// reloads the page before each view.
"use strict";

(() => {
  const bridge = window.__bridge;
  const $ = (id) => document.getElementById(id);

  /** The room's events: tests/ui/events.json, served at /test/events.json. */
  let eventsCache = null;
  async function events() {
    if (!eventsCache) {
      const response = await fetch("/test/events.json", { cache: "no-store" });
      if (!response.ok) throw new Error(`/test/events.json: ${response.status}`);
      eventsCache = (await response.json()).events;
    }
    return eventsCache;
  }

  /** Events that end the room: replayed last, or not at all in views of a room. */
  const ENDS_THE_ROOM = ["join-refused", "left"];

  /** Our messages, sent before the events are replayed: bridge.js answers out-1 … out-6. */
  const OUR_MESSAGES = [
    "Anyone here? I'll wait for you.", // out-1: waiting for someone
    "Eve, can you see this?", // out-2: queued for a peer still connecting
    "Sent, not confirmed yet", // out-3: sent to Alice
    "This one reached Alice", // out-4: delivered
    "Delivered to Alice, sent to Bob", // out-5: partly delivered
    "To the old client, which fails", // out-6: failed, with Retry
  ];

  function element(id) {
    const node = $(id);
    if (!node) throw new Error(`the page has no #${id} (has ui/ changed? adjust tests/ui/scenes.js)`);
    return node;
  }

  function click(id) {
    const node = element(id);
    if (node.disabled) throw new Error(`#${id} is disabled`);
    node.click();
  }

  /** Types `text` into a field as a person would end up with it (value, then an input event). */
  function type(id, text) {
    const field = element(id);
    field.focus();
    field.value = text;
    field.dispatchEvent(new Event("input", { bubbles: true }));
  }

  /** Polls `condition` until it holds. */
  async function waitFor(condition, what, ms = 5000) {
    const deadline = performance.now() + ms;
    for (;;) {
      const value = condition();
      if (value) return value;
      if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** The page has started: it listens for engine events and asked for its state. */
  async function ready() {
    await waitFor(() => bridge.listeners.has("engine-event"), "the page to listen for engine events");
    await waitFor(() => bridge.calls.some((c) => c.cmd === "get_state"), "the page to ask for its state");
    await bridge.idle();
  }

  /** Creates a room with the start view's button and waits until its view shows. */
  async function createRoom() {
    click("create-room");
    await waitFor(() => bridge.state.session !== null, "create_room");
    await bridge.idle();
    await waitFor(() => !element("room-view").hidden, "the room view");
  }

  /** Sends each text with the composer, one after the other. */
  async function send(texts) {
    for (const text of texts) {
      type("message-input", text);
      click("send");
      await bridge.idle();
    }
  }

  /**
   * Replays events into the room joined last: events of room_session 1 are
   * that room's (their session is rewritten to the one create_room gave),
   * others are stale rooms'.
   */
  async function replay(list) {
    const session = bridge.state.session;
    for (const event of list) {
      const tagged = { ...event, room_session: event.room_session === 1 ? session : event.room_session };
      bridge.emit("engine-event", tagged);
    }
    await bridge.idle();
  }

  /** The room's events up to the one that ends it. */
  async function roomEvents() {
    const all = await events();
    const end = all.findIndex((e) => ENDS_THE_ROOM.includes(e.event));
    return end < 0 ? all : all.slice(0, end);
  }

  async function endEvents() {
    const all = await events();
    const end = all.findIndex((e) => ENDS_THE_ROOM.includes(e.event));
    return end < 0 ? [] : all.slice(end);
  }

  const isFileEvent = (e) => e.event.startsWith("file-");
  const isMessageEvent = (e) => ["message", "waiting", "queued", "delivered", "send-failed"].includes(e.event);

  /**
   * A room with our messages sent and the room's events replayed (those
   * `wanted`, all by default). Views show part of it each, so that what
   * they check fits in the window (axe-core checks the text it can see).
   */
  async function busyRoom(wanted = () => true, { ours = true } = {}) {
    await createRoom();
    if (ours) await send(OUR_MESSAGES);
    await replay((await roomEvents()).filter(wanted));
  }

  /** A transfer card's button (`action`) for the transfer `transfer`. */
  function transferButton(transfer, action) {
    const button = document.querySelector(`.transfer[data-transfer="${transfer}"] button[data-action="${action}"]`);
    if (!button) throw new Error(`no ${action} button on the card of ${transfer}`);
    return button;
  }

  /** A page of kept messages (messages.rs HistoryMessage), oldest first: a full page of 200. */
  function historyPage() {
    const alice = "2b:d8:06:c9:7f:0e:00:af:1a:1f:c3:32:8f:a7:63:a9:26:97:23:c8:db:8f:ac:4f:93:af:71:db:18:6d:6e:90";
    const dana = "2c:9e:0a:25:85:dc:74:06:58:9a:37:24:f0:02:78:11:50:6e:0f:13:37:26:30:3a:15:d6:77:9d:53:2a:25:73";
    const me = bridge.state.identity.fingerprint;
    const short = (f) => f.split(":").slice(0, 4).join(":");
    const states = [
      [{ fingerprint: alice, label: "Alice", state: "delivered" }],
      [{ fingerprint: alice, label: "Alice", state: "delivered" }, { fingerprint: dana, label: "Dana", state: "queued" }],
      [{ fingerprint: dana, label: "Dana", state: "sent" }],
      [{ fingerprint: alice, label: "Alice", state: "failed" }],
      [], // waiting for whoever comes
    ];
    const page = [];
    for (let seq = 101; seq <= 300; seq += 1) {
      const outgoing = seq % 3 === 0;
      const from = seq % 2 === 0 ? { name: "Alice", fingerprint: alice } : { name: null, fingerprint: dana };
      page.push({
        seq,
        id: `kept-${seq}`,
        outgoing,
        senderName: outgoing ? null : from.name,
        sender: short(outgoing ? me : from.fingerprint),
        senderFingerprint: outgoing ? me : from.fingerprint,
        text: outgoing ? `Our kept message ${seq}` : `A kept message ${seq}\nwith a second line`,
        atMs: 1764000000000 + seq * 60000,
        recipients: outgoing ? states[seq % states.length] : [],
      });
    }
    return page;
  }

  const REMOTE_LINK = "parlor://join/0c7d9e2f4a6b8d1e3f5a7c9e1b3d5f70?server=wss%3A%2F%2Fsignal.example.org";
  const PLAIN_LINK = "parlor://join/5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b?server=ws%3A%2F%2F203.0.113.50%3A8080";

  /** Every view the test checks, in order. */
  const views = {
    // The start view with the note about the message store and recent rooms.
    start: {
      setup(b) {
        b.state.storeNotice =
          "Your message store /home/sam/.config/parlor/messages.db was damaged; it was moved to /home/sam/.config/parlor/messages.db.damaged-1764500000 and a fresh one started.";
        b.state.recentRooms = [
          { link: "parlor://join/9f1c2e7a4b6d80e35c7a1f2b9d4e6c08?server=ws%3A%2F%2F192.168.1.20%3A1999", room: "9f1c2e7a4b6d80e35c7a1f2b9d4e6c08", server: "ws://192.168.1.20:1999", host: "192.168.1.20:1999", encrypted: false, embedded: true, name: "9f1c2e7a4b6d80e35c7a1f2b9d4e6c08", lastActiveMs: Date.now() - 5 * 60000 },
          { link: REMOTE_LINK, room: "0c7d9e2f4a6b8d1e3f5a7c9e1b3d5f70", server: "wss://signal.example.org", host: "signal.example.org", encrypted: true, embedded: false, name: "0c7d9e2f4a6b8d1e3f5a7c9e1b3d5f70", lastActiveMs: Date.now() - 26 * 3600000 },
          { link: "parlor://join/bookclub?server=wss%3A%2F%2Fsignal.example.org", room: "bookclub", server: "wss://signal.example.org", host: "signal.example.org", encrypted: true, embedded: false, name: "bookclub", lastActiveMs: Date.now() - 40 * 86400000 },
        ];
      },
      async run() {
        await waitFor(() => !element("store-notice").hidden, "the store notice");
        await waitFor(() => document.querySelectorAll("#recent-list button").length === 3, "the recent rooms");
      },
    },

    // A pasted link that is not a room link: the error under the field.
    "join-error": {
      async run() {
        type("join-link", "https://example.org/not-a-room");
        click("join-room");
        await bridge.idle();
        await waitFor(() => !element("join-error").hidden, "the link error");
      },
    },

    // Creating a room, still under way: the start view says so.
    joining: {
      setup(b) {
        b.replies.create_room = () => b.never();
      },
      async run() {
        click("create-room");
        await bridge.idle();
        await waitFor(() => !element("start-progress").hidden, "the progress line");
      },
    },

    // A command failed on the start view: the error banner.
    banner: {
      setup(b) {
        b.replies.create_room = () => {
          throw { kind: "server-unreachable", message: "Cannot reach the signaling server at wss://signal.example.org: connection refused." };
        };
      },
      async run() {
        click("create-room");
        await bridge.idle();
        await waitFor(() => !element("banner").hidden, "the banner");
      },
    },

    // A pasted link: where it leads, Join or Cancel.
    "link-dialog": {
      async run() {
        type("join-link", REMOTE_LINK);
        click("join-room");
        await bridge.idle();
        await waitFor(() => element("link-dialog").open, "the link dialog");
      },
    },

    // A link from outside (open-link) while in a room: an unencrypted server elsewhere.
    "link-dialog-outside": {
      async run() {
        await createRoom();
        bridge.state.pendingLink = PLAIN_LINK;
        bridge.emit("open-link", PLAIN_LINK);
        await bridge.idle();
        await waitFor(() => element("link-dialog").open, "the link dialog");
      },
    },

    // Joining another room from a room: the info banner while it is under way.
    "banner-info": {
      setup(b) {
        b.replies.join_room = () => b.never();
      },
      async run() {
        await createRoom();
        bridge.state.pendingLink = REMOTE_LINK;
        bridge.emit("open-link", REMOTE_LINK);
        await bridge.idle();
        await waitFor(() => element("link-dialog").open, "the link dialog");
        click("link-join");
        await bridge.idle();
        await waitFor(() => !element("banner").hidden, "the banner");
      },
    },

    // A room just created: nobody here yet.
    "room-empty": {
      async run() {
        await createRoom();
      },
    },

    // A room with peers in every state (connected and verified, impostor,
    // old client, reconnecting, unreachable, failed, negotiating, left).
    peers: {
      async run() {
        await busyRoom((e) => !isFileEvent(e) && !isMessageEvent(e), { ours: false });
      },
    },

    // Our messages in every delivery state, theirs (plain, HTML-looking,
    // long, several lines), notes, and one still sending and one refused.
    messages: {
      async run() {
        await busyRoom((e) => !isFileEvent(e));
        bridge.replies.send_message = () => bridge.never();
        await send(["Still sending…"]);
        bridge.replies.send_message = () => {
          throw { kind: "backlogged", message: "Bob has not taken the last messages yet. Your message is still in the box." };
        };
        await send(["Refused by the engine"]);
        await waitFor(() => !element("banner").hidden, "the banner");
      },
    },

    // File transfers in every state: offered to us, accepted and starting,
    // receiving, received, failed, many files; ours offered, sending, sent, failed.
    files: {
      async run() {
        await busyRoom((e) => !isMessageEvent(e), { ours: false });
        transferButton("t-in-accept", "accept").click();
        await bridge.idle();
        click("send-files");
        await bridge.idle();
        await waitFor(() => document.querySelector('.transfer[data-transfer="t-out-1"]'), "our new offer's card");
      },
    },

    // Files dragged over the chat.
    "drop-zone": {
      async run() {
        await createRoom();
        bridge.dragDrop({ type: "enter", paths: ["/home/sam/Pictures/cat.jpg"], position: { x: 600, y: 300 } });
        await bridge.idle();
        await waitFor(() => !element("drop-zone").hidden, "the drop zone");
      },
    },

    // A room with kept messages: a page of history, the separator, this visit's.
    history: {
      setup(b) {
        const link = "parlor://join/9f1c2e7a4b6d80e35c7a1f2b9d4e6c08?server=ws%3A%2F%2F192.168.1.20%3A1999";
        b.state.history[link] = historyPage();
      },
      async run() {
        await createRoom();
        await send(["Back again"]);
        const all = await events();
        await replay(all.filter((e) => e.event === "message").slice(0, 1));
        await waitFor(() => document.querySelector(".history-separator"), "the history separator");
      },
    },

    // Two rooms open: the second joined from the first (a link from
    // outside), then a message in the first, which is not on screen.
    "several-rooms": {
      async run() {
        await createRoom();
        const first = bridge.state.session;
        bridge.state.pendingLink = REMOTE_LINK;
        bridge.emit("open-link", REMOTE_LINK);
        await bridge.idle();
        await waitFor(() => element("link-dialog").open, "the link dialog");
        click("link-join");
        await bridge.idle();
        await waitFor(() => bridge.state.session !== first, "the second room");
        await bridge.idle();
        const message = (await events()).find((e) => e.event === "message");
        bridge.emit("engine-event", { ...message, room_session: first });
        await bridge.idle();
      },
    },

    // Renaming the room on screen.
    "rename-dialog": {
      async run() {
        await createRoom();
        click("rename-room");
        await bridge.idle();
        await waitFor(() => element("rename-dialog").open, "the rename dialog");
      },
    },

    // The settings dialog.
    settings: {
      setup(b) {
        b.state.settings = {
          displayName: "Sam",
          signalingServer: "wss://signal.example.org",
          iceServers: [{ urls: ["turn:turn.example.org:3478"], username: "sam", credential: "secret" }],
        };
      },
      async run() {
        click("open-settings");
        await bridge.idle();
        await waitFor(() => element("settings-dialog").open, "the settings dialog");
      },
    },

    // The settings dialog after a refused save: the error in it.
    "settings-error": {
      setup(b) {
        b.replies.save_settings = () => {
          throw { kind: "invalid-settings", message: "Invalid setting: signaling server address: not a ws:// or wss:// URL." };
        };
      },
      async run() {
        click("open-settings");
        await bridge.idle();
        await waitFor(() => element("settings-dialog").open, "the settings dialog");
        type("signaling-server", "http://example.org");
        click("settings-save");
        await bridge.idle();
        await waitFor(() => !element("settings-error").hidden, "the settings error");
      },
    },

    // Closing with messages undelivered: the question.
    "close-dialog": {
      async run() {
        await createRoom();
        await send(OUR_MESSAGES.slice(0, 1));
        bridge.emit("close-requested", { undelivered: 3, kept: true });
        await bridge.idle();
        await waitFor(() => element("close-dialog").open, "the close dialog");
      },
    },
  };

  /** Runs the view `name`'s driving part. */
  async function run(name) {
    const view = views[name];
    if (!view) throw new Error(`no view ${name} in tests/ui/scenes.js`);
    await ready();
    if (view.run) await view.run();
    await bridge.idle();
  }

  /** For the replay test: a room with our messages and every event of it. */
  async function replayRoom() {
    await ready();
    await busyRoom();
  }

  /** For the replay test: the events that end the room. */
  async function replayEnd() {
    await replay(await endEvents());
  }

  window.__scenes = { views, names: Object.keys(views), run, ready, replayRoom, replayEnd, events, OUR_MESSAGES };

  // The view the test loaded the page for: its setup, before the page starts.
  const wanted = new URLSearchParams(location.search).get("scene");
  if (wanted && views[wanted] && views[wanted].setup) views[wanted].setup(bridge);
})();

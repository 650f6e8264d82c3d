// A browser client that behaves like the old JavaScript library Parlor must
// interoperate with (substrate-system/webrtc, protocol.md), written for the
// tests: the real library needs a bundler and a PartyKit server, and has bugs
// of its own that are not the wire behaviour Parlor promises to keep.
//
// What it reproduces, on purpose, because Parlor has to survive each of them:
// - a partysocket-style URL, `ws://HOST/parties/main/<room>?_pk=<uuid>`,
//   without Parlor's `parlor=1` declaration;
// - on EVERY `info:peerlist` it fetches `/parties/main/<room>/turn` and then
//   builds a NEW RTCPeerConnection; negotiation messages that arrive while it
//   has none are dropped silently;
// - polite = (the peer list is empty): impolite whenever anyone else is in
//   the room, whoever came first;
// - MDN perfect negotiation (makingOffer / ignoreOffer, the browser's
//   implicit rollback), every message broadcast (no `to`);
// - offers `{"type":"offer","description":{...}}`, answers
//   `{"description":{"type":"answer",...}}` (no top-level type), candidates
//   `{"candidate":{...}}` and no end-of-candidates message;
// - its `chat` channel is created only when connect() is called (the
//   "Connect" button); it takes the other side's channel from ondatachannel;
// - on channel open it sends `{"type":"info","peerId":...}`, then plain text;
//   it does so on EVERY channel that opens, a second one included;
// - who sent a received message is known the way the real library knows it
//   (`Connection.listenToDataChannel` and `connectToPeer` in src/index.ts of
//   substrate-system/webrtc, v0.0.7, last changed in commit 86ede07):
//   * one "got info" flag for the whole connection (`_gotInfo`), not one per
//     channel, cleared whenever any channel closes (here also when the
//     client replaces its RTCPeerConnection: the real library keeps the old
//     one open, this client closes it, see above);
//   * a map from channel to peer id (`peerIdByChannel`): the channel that
//     carried the first `info` maps to that info's peerId, and a channel the
//     client made itself with connect(peerId) maps to that peerId;
//   * until the flag is set, plain text is a message from
//     `peerIdByChannel.get(channel)`; JSON with `type: "info"` sets the flag
//     and the map; other JSON is handed to the app as the parsed object,
//     which has no sender (and the JSON `null` throws, losing the message);
//   * once the flag is set, EVERY message, a later `{"type":"info",...}`
//     included, is a chat message from `peerIdByChannel.get(channel)`, which
//     is `undefined` on a channel that neither carried the first info nor was
//     made by connect(): the user sees raw info JSON, or text from no one;
// - send() writes to the latest channel it made or saw open (the real
//   library's `this.dc`), even while that channel is still connecting.
//
// The test drives it through `window.oldClient`:
//   start(serverHost, room, options) → Promise<its peer id>, once the socket
//                             is open; options.connectAfterMs: click
//                             "Connect" that long after start(), whatever
//                             the state then (the library's own browser
//                             tests wait 1 s or 2 s, then connectToPeer)
//   connect(peerId)         → Promise, once the channel exists; peerId (whom
//                             the new channel is attributed to) defaults to
//                             the first id of the latest peer list, the peer
//                             whose "Connect" button the demo shows. With a
//                             connection already up it adds a second `chat`
//                             channel to the same RTCPeerConnection. (The
//                             real one does nothing while there is no
//                             RTCPeerConnection; this one waits for it.)
//   send(text)              → false if the channel is not open
//   canSend()               → whether send() would send now
//   messages                → texts received (not the info that introduced
//                             the peer, but any later info, as users see it)
//   received                → the same as {text, peer}: peer is the sender
//                             the real library reports, null when none
//   remoteInfo              → the info message that introduced the peer
//   connections             → how many RTCPeerConnections it has built
//   channelsOpened          → how many data channels have opened
//   connectClicks           → connect() calls, each {at, wasOpen}: when (ms
//                             since the epoch) and whether a channel was
//                             already open then
//   state, log              → for failure messages
//   onText                  → optional callback; when set, received texts go
//                             to it instead of `messages` and `received`
//                             (benchmarks)
//   joinedAt, openedAt      → when start() was called and the first channel
//                             opened, in ms since the epoch (comparable
//                             across pages)
'use strict';

(function () {
  const client = {
    id: null,
    state: 'idle',
    peers: null,
    messages: [],
    received: [],
    remoteInfo: null,
    connections: 0,
    channelsOpened: 0,
    connectClicks: [],
    log: [],
    onText: null,
    joinedAt: null,
    openedAt: null,
  };
  window.oldClient = client;

  let ws = null;
  let serverHost = null;
  let room = null;
  let pc = null;
  // Where send() writes: the real library's `this.dc`.
  let channel = null;
  // The real library's `_gotInfo` and `peerIdByChannel` (see the header).
  let gotInfo = false;
  let peerIdByChannel = new Map();
  // Numbers the channels for the log.
  let channelCount = 0;
  let polite = true;
  let makingOffer = false;
  let ignoreOffer = false;
  // Bumped on every peer list: a fetch that finishes after a newer list
  // arrived must not install its (stale) peer connection.
  let generation = 0;
  // Resolved when a peer connection exists (connect() waits for it).
  let pcReady = null;
  let resolvePcReady = null;

  function now() {
    return performance.timeOrigin + performance.now();
  }

  function note(text) {
    client.log.push(`${performance.now().toFixed(1)} ms: ${text}`);
  }

  function newId() {
    if (crypto.randomUUID) return crypto.randomUUID();
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  function signal(body) {
    ws.send(JSON.stringify(body));
  }

  function resetReady() {
    pcReady = new Promise((resolve) => { resolvePcReady = resolve; });
  }

  client.start = function (host, roomName, options) {
    serverHost = host;
    room = roomName;
    client.id = newId();
    client.state = 'joining';
    client.joinedAt = now();
    resetReady();
    const connectAfterMs = options && options.connectAfterMs;
    if (typeof connectAfterMs === 'number') {
      setTimeout(() => {
        note(`clicking "Connect" ${connectAfterMs} ms after joining`);
        client.connect();
      }, connectAfterMs);
    }
    return new Promise((resolve, reject) => {
      ws = new WebSocket(`ws://${host}/parties/main/${encodeURIComponent(room)}?_pk=${client.id}`);
      ws.onopen = () => {
        client.state = 'signaling';
        note('signaling open');
        resolve(client.id);
      };
      ws.onerror = () => {
        note('signaling error');
        reject(new Error('websocket error; log: ' + client.log.join(' | ')));
      };
      ws.onclose = (ev) => note(`signaling closed: ${ev.code} ${ev.reason}`);
      ws.onmessage = (ev) => onSignal(ev.data);
    });
  };

  function onSignal(data) {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch (err) {
      note(`not JSON from the server: ${data}`);
      return;
    }
    if (msg.type === 'info:peerlist') {
      onPeerList(msg.peers || []);
      return;
    }
    if (msg.type === 'error') {
      note(`server error: ${msg.code} ${msg.message}`);
      return;
    }
    if (!('description' in msg) && !('candidate' in msg)) return;
    if (!pc) {
      note(`dropped ${'description' in msg ? 'a description' : 'a candidate'}: no peer connection yet`);
      return;
    }
    if (msg.description) {
      onDescription(pc, msg.description);
    } else if (msg.candidate) {
      onCandidate(pc, msg.candidate);
    }
  }

  async function onPeerList(peers) {
    const mine = ++generation;
    client.peers = peers;
    polite = peers.length === 0;
    note(`peer list [${peers.join(', ')}]: polite=${polite}`);
    if (pc) {
      pc.close();
      pc = null;
      channel = null;
      gotInfo = false;
      peerIdByChannel = new Map();
      resetReady();
    }
    let iceServers;
    try {
      const response = await fetch(`http://${serverHost}/parties/main/${encodeURIComponent(room)}/turn`);
      iceServers = (await response.json()).iceServers || [];
    } catch (err) {
      // The old client then has no peer connection at all.
      note(`fetching /turn failed: ${err}`);
      return;
    }
    if (mine !== generation) return;
    pc = build(iceServers);
    client.connections += 1;
    note(`new RTCPeerConnection (${iceServers.length} ICE servers)`);
    resolvePcReady(pc);
  }

  function build(iceServers) {
    const conn = new RTCPeerConnection({ iceServers });
    makingOffer = false;
    ignoreOffer = false;
    conn.onnegotiationneeded = async () => {
      try {
        makingOffer = true;
        await conn.setLocalDescription();
        const { type, sdp } = conn.localDescription;
        signal({ type, description: { type, sdp } });
        note(`sent ${type}`);
      } catch (err) {
        note(`making an offer failed: ${err}`);
      } finally {
        makingOffer = false;
      }
    };
    conn.onicecandidate = ({ candidate }) => {
      if (!candidate) return;
      signal({ candidate: candidate.toJSON() });
      note(`sent candidate ${candidate.candidate}`);
    };
    conn.oniceconnectionstatechange = () => {
      note(`ice ${conn.iceConnectionState}`);
      if (conn.iceConnectionState === 'failed') conn.restartIce();
    };
    conn.onconnectionstatechange = () => note(`connection ${conn.connectionState}`);
    conn.ondatachannel = (ev) => {
      note(`ondatachannel ${ev.channel.label}`);
      attach(ev.channel);
    };
    return conn;
  }

  async function onDescription(conn, description) {
    try {
      const collision = description.type === 'offer'
        && (makingOffer || conn.signalingState !== 'stable');
      ignoreOffer = !polite && collision;
      if (ignoreOffer) {
        note('ignored a colliding offer (impolite)');
        return;
      }
      await conn.setRemoteDescription(description);
      note(`set remote ${description.type}`);
      if (description.type === 'offer') {
        await conn.setLocalDescription();
        signal({ description: { type: 'answer', sdp: conn.localDescription.sdp } });
        note('sent answer');
      }
    } catch (err) {
      note(`handling a ${description.type} failed: ${err}`);
    }
  }

  async function onCandidate(conn, candidate) {
    try {
      await conn.addIceCandidate(candidate);
      note(`added candidate ${candidate.candidate}`);
    } catch (err) {
      if (!ignoreOffer) note(`adding a candidate failed: ${err}`);
    }
  }

  // The "Connect" button (the real library's connectToPeer): a new `chat`
  // channel on the current RTCPeerConnection, whether or not one is already
  // open, attributed to `peerId` before anything arrives on it.
  client.connect = async function (peerId) {
    const wasOpen = client.canSend();
    client.connectClicks.push({ at: now(), wasOpen });
    const conn = await pcReady;
    const to = peerId === undefined ? (client.peers || [])[0] : peerId;
    const ch = conn.createDataChannel('chat');
    attach(ch);
    channel = ch;
    peerIdByChannel.set(ch, to);
    note(`created chat channel #${ch.parlorTestNumber} for ${to} (a channel was open: ${wasOpen})`);
  };

  function attach(ch) {
    ch.parlorTestNumber = ++channelCount;
    let opened = false;
    const onOpen = () => {
      if (opened) return;
      opened = true;
      client.channelsOpened += 1;
      if (client.openedAt === null) client.openedAt = now();
      channel = ch;
      note(`channel #${ch.parlorTestNumber} ${ch.label} open`);
      // A send made directly in an answerer's ondatachannel can be lost.
      setTimeout(() => {
        ch.send(JSON.stringify({ type: 'info', peerId: client.id }));
        // 'open' once our info is out, so the test's texts follow it.
        client.state = 'open';
      }, 0);
    };
    ch.onopen = onOpen;
    ch.onclose = () => {
      note(`channel #${ch.parlorTestNumber} ${ch.label} closed`);
      // The real library forgets it was introduced when any channel closes.
      gotInfo = false;
      if (channel === ch) client.state = 'closed';
    };
    ch.onmessage = (ev) => onChannelMessage(ch, ev.data);
    if (ch.readyState === 'open') onOpen();
  }

  // The real library's 'message' listener, line for line in its decisions.
  function onChannelMessage(ch, data) {
    if (typeof data !== 'string') {
      note('ignored a binary message');
      return;
    }
    if (gotInfo) {
      deliver(data, peerIdByChannel.get(ch));
      return;
    }
    let msg;
    try {
      msg = JSON.parse(data);
    } catch (err) {
      deliver(data, peerIdByChannel.get(ch));
      return;
    }
    if (msg === null) {
      note(`lost ${data} on channel #${ch.parlorTestNumber}: the real library throws on it`);
      return;
    }
    if (msg.type === 'info') {
      gotInfo = true;
      client.remoteInfo = msg;
      peerIdByChannel.set(ch, msg.peerId);
      note(`info from ${msg.peerId} on channel #${ch.parlorTestNumber}`);
      return;
    }
    // Handed over as the parsed object: no sender.
    deliver(data, undefined);
  }

  function deliver(text, peer) {
    if (client.onText) {
      client.onText(text);
      return;
    }
    client.messages.push(text);
    client.received.push({ text, peer: peer === undefined ? null : peer });
  }

  client.send = function (text) {
    if (!client.canSend()) return false;
    channel.send(text);
    return true;
  };

  client.canSend = function () {
    return channel !== null && channel.readyState === 'open';
  };

  // For benchmarks: the open channel itself (bufferedAmount, back-pressure).
  client.channel = () => channel;

  // The selected candidate pair, for diagnostics:
  // {local: {type, address, port}, remote: {...}}, or null.
  client.selectedPair = async function () {
    if (!pc) return null;
    const stats = await pc.getStats();
    let pair = null;
    stats.forEach((s) => {
      if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
    });
    if (!pair) return null;
    const side = (id) => {
      const c = stats.get(id);
      return c ? { type: c.candidateType, address: c.address, port: c.port } : null;
    };
    return { local: side(pair.localCandidateId), remote: side(pair.remoteCandidateId) };
  };
}());

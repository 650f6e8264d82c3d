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
// - on channel open it sends `{"type":"info","peerId":...}`, then plain text.
//
// The test drives it through `window.oldClient`:
//   start(serverHost, room) → Promise<its peer id>, once the socket is open
//   connect()               → Promise, once the channel exists
//   send(text)              → false if the channel is not open
//   messages                → texts received (not the info message)
//   remoteInfo              → the other side's info message, once received
//   connections             → how many RTCPeerConnections it has built
//   state, log              → for failure messages
//   onText                  → optional callback; when set, received texts go
//                             to it instead of `messages` (benchmarks)
//   joinedAt, openedAt      → when start() was called and the channel opened,
//                             in ms since the epoch (comparable across pages)
'use strict';

(function () {
  const client = {
    id: null,
    state: 'idle',
    peers: null,
    messages: [],
    remoteInfo: null,
    connections: 0,
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
  let channel = null;
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

  client.start = function (host, roomName) {
    serverHost = host;
    room = roomName;
    client.id = newId();
    client.state = 'joining';
    client.joinedAt = now();
    resetReady();
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

  client.connect = async function () {
    const conn = await pcReady;
    attach(conn.createDataChannel('chat'));
    note('created the chat channel');
  };

  function attach(ch) {
    channel = ch;
    let opened = false;
    const onOpen = () => {
      if (opened) return;
      opened = true;
      client.openedAt = now();
      note(`channel ${ch.label} open`);
      // A send made directly in an answerer's ondatachannel can be lost.
      setTimeout(() => {
        ch.send(JSON.stringify({ type: 'info', peerId: client.id }));
        // 'open' once our info is out, so the test's texts follow it.
        client.state = 'open';
      }, 0);
    };
    ch.onopen = onOpen;
    ch.onclose = () => {
      note(`channel ${ch.label} closed`);
      if (channel === ch) client.state = 'closed';
    };
    ch.onmessage = (ev) => onChannelMessage(ev.data);
    if (ch.readyState === 'open') onOpen();
  }

  function onChannelMessage(data) {
    if (typeof data !== 'string') {
      note('ignored a binary message');
      return;
    }
    if (data.startsWith('{')) {
      try {
        const msg = JSON.parse(data);
        if (msg && msg.type === 'info') {
          client.remoteInfo = msg;
          note(`info from ${msg.peerId}`);
          return;
        }
      } catch (err) {
        // Plain text that happens to start with a brace.
      }
    }
    if (client.onText) {
      client.onText(data);
    } else {
      client.messages.push(data);
    }
  }

  client.send = function (text) {
    if (!channel || channel.readyState !== 'open') return false;
    channel.send(text);
    return true;
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

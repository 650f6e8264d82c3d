// Reference relay for parlor-signal's load benchmark: the signaling relay a
// user would otherwise write with Node's `ws` package. It speaks the same
// basics as parlor-signal so the load generator runs unchanged against both:
// the PartyKit URL /parties/main/<room>?_pk=<id>, info:peerlist (with the
// parlor field) on every join and leave, `from` stamped by the server, and
// delivery to `to` or to every other member.
//
// Usage: node relay.js [--listen HOST:PORT]   (default 127.0.0.1:0)
// The first stdout line is `listening on HOST:PORT`.
'use strict';

const http = require('http');
const { randomUUID } = require('crypto');
const { WebSocketServer } = require('ws');

const listenArg = process.argv.indexOf('--listen');
const listen = listenArg >= 0 ? process.argv[listenArg + 1] : '127.0.0.1:0';
const colon = listen.lastIndexOf(':');
const host = listen.slice(0, colon);
const port = Number(listen.slice(colon + 1));

// room name -> Map(peer id -> { socket, parlor }); Map keeps join order.
const rooms = new Map();

function sendPeerLists(members) {
  for (const [id, member] of members) {
    const peers = [];
    const parlor = [];
    for (const [other, info] of members) {
      if (other === id) continue;
      peers.push(other);
      if (info.parlor) parlor.push(other);
    }
    member.socket.send(JSON.stringify({ type: 'info:peerlist', peers, parlor }));
  }
}

const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end('ok\n');
});

const wss = new WebSocketServer({ server, maxPayload: 64 * 1024 });

wss.on('connection', (socket, req) => {
  const url = new URL(req.url, 'http://relay');
  const match = /^\/parties\/main\/([A-Za-z0-9_-]{1,64})$/.exec(url.pathname);
  if (!match) {
    socket.close(4400, 'invalid room name');
    return;
  }
  const room = match[1];
  const id = url.searchParams.get('_pk') || randomUUID();
  let members = rooms.get(room);
  if (!members) {
    members = new Map();
    rooms.set(room, members);
  }
  if (members.has(id)) {
    socket.close(4409, 'duplicate peer id');
    return;
  }
  members.set(id, { socket, parlor: url.searchParams.get('parlor') === '1' });
  sendPeerLists(members);

  socket.on('message', (data, isBinary) => {
    if (isBinary) return;
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    if (typeof message !== 'object' || message === null || Array.isArray(message)) return;
    message.from = id;
    const text = JSON.stringify(message);
    if (typeof message.to === 'string') {
      const target = members.get(message.to);
      if (target && message.to !== id) target.socket.send(text);
      return;
    }
    for (const [other, member] of members) {
      if (other !== id) member.socket.send(text);
    }
  });

  socket.on('close', () => {
    members.delete(id);
    if (members.size === 0) rooms.delete(room);
    else sendPeerLists(members);
  });
  socket.on('error', () => {});
});

server.listen(port, host, () => {
  process.stdout.write(`listening on ${host}:${server.address().port}\n`);
});

function stop() {
  for (const client of wss.clients) client.close(1001, 'server shutting down');
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

#!/usr/bin/env node
// The selectors echo server from Python's `selectors` documentation: the accept/read callback is
// stored in key.data and dispatched as key.data(key.fileobj, mask). Listens on 127.0.0.1 (port
// from argv[2], 0 = any free port, printed on stdout) and stops after argv[3] connections have
// closed (default 2) or after 30 s.
//
//   node examples/selectors-echo-server.js 10001 2 &
//   node examples/select-echo-client.js 10001
'use strict';
const { DefaultSelector, EVENT_READ } = require('muxloop/selectors');
const { Socket } = require('muxloop/socket');

const port = Number(process.argv[2] ?? 0);
const maxClients = Number(process.argv[3] ?? 2);
const deadline = Date.now() + 30_000;
const sel = new DefaultSelector();
let closed = 0;

function accept(sock, mask) {
  const [conn, addr] = sock.accept(); // should be ready
  console.log(`accepted ${conn} from ${addr.join(':')}`);
  conn.setblocking(false);
  sel.register(conn, EVENT_READ, read);
}

function read(conn, mask) {
  const data = conn.recv(1000); // should be ready
  if (data.length) {
    console.log(`echoing ${JSON.stringify(data.toString())} to ${conn}`);
    conn.sendall(data); // small echoes on loopback: the send buffer has room
  } else {
    console.log(`closing ${conn}`);
    sel.unregister(conn); // unregister first, then close
    conn.close();
    closed++;
  }
}

const sock = new Socket();
sock.bind(['127.0.0.1', port]);
sock.listen(100);
sock.setblocking(false);
sel.register(sock, EVENT_READ, accept);
console.log(`listening on ${sock.getsockname().join(':')}`);

while (closed < maxClients && Date.now() < deadline) {
  const events = sel.select(1.0);
  for (const [key, mask] of events) {
    const callback = key.data;
    callback(key.fileobj, mask);
  }
}

for (const key of [...sel.getMap().values()]) {
  sel.unregister(key.fileobj);
  key.fileobj.close();
}
sel.close();
console.log(`served ${closed} connections`);

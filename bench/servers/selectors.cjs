'use strict';
// The classic selectors echo loop (examples/selectors-echo-server.js, Python's selectors docs),
// on DefaultSelector and non-blocking muxloop Sockets; the callback lives in key.data. Made
// sound for load: receives into one shared buffer, and keeps what send() did not take until the
// socket is writable (the example's sendall() would throw EAGAIN under load).
//   node bench/servers/selectors.cjs   -> prints "PORT <n>"; stops on SIGTERM or after --ttl s
const path = require('node:path');
const args = require('../workers/args.cjs')();
const stdinIsPipe = require('./stdin.cjs');
const dist = path.join(__dirname, '..', '..', 'dist');
const { DefaultSelector, EVENT_READ, EVENT_WRITE } = require(path.join(dist, 'selectors'));
const { Socket, IPPROTO_TCP, TCP_NODELAY, read: readFd } = require(path.join(dist, 'socket'));

const sel = new DefaultSelector();
const buffer = Buffer.alloc(256 * 1024);
const pending = new Map(); // conn -> Buffer not yet sent

function accept(sock) {
  for (;;) {
    let conn;
    try {
      [conn] = sock.accept();
    } catch (error) {
      if (error.code === 'EAGAIN') return;
      throw error;
    }
    conn.setblocking(false);
    conn.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
    sel.register(conn, EVENT_READ, read);
  }
}

function drop(conn) {
  sel.unregister(conn); // unregister first, then close
  pending.delete(conn);
  conn.close();
}

function read(conn) {
  let n;
  try {
    n = conn.recvInto(buffer);
  } catch (error) {
    if (error.code === 'EAGAIN') return;
    return drop(conn);
  }
  if (n === 0) return drop(conn);
  let sent = 0;
  try {
    sent = conn.send(buffer.subarray(0, n));
  } catch (error) {
    if (error.code !== 'EAGAIN') return drop(conn);
  }
  if (sent < n) {
    pending.set(conn, Buffer.from(buffer.subarray(sent, n)));
    sel.modify(conn, EVENT_WRITE, write); // stop reading until the rest is out
  }
}

function write(conn) {
  const rest = pending.get(conn);
  let sent = 0;
  try {
    sent = conn.send(rest);
  } catch (error) {
    if (error.code === 'EAGAIN') return;
    return drop(conn);
  }
  if (sent < rest.length) pending.set(conn, rest.subarray(sent));
  else {
    pending.delete(conn);
    sel.modify(conn, EVENT_READ, read);
  }
}

const sock = new Socket();
sock.bind(['127.0.0.1', 0]);
sock.listen(1024);
sock.setblocking(false);
sel.register(sock, EVENT_READ, accept);
if (stdinIsPipe()) {
  // Stdin is a pipe from the driver: when it ends, the driver is gone.
  sel.register(0, EVENT_READ, () => {
    try {
      if (readFd(0, 4096).length === 0) process.exit(0);
    } catch (error) {
      if (error.code !== 'EAGAIN') process.exit(0);
    }
  });
}
console.log(`PORT ${sock.getsockname()[1]}`);

const deadline = Date.now() + Number(args.ttl ?? 1800) * 1000;
while (Date.now() < deadline) {
  for (const [key, mask] of sel.select(1.0)) key.data(key.fileobj, mask);
}

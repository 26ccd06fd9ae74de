'use strict';
// A plain-node workout of the addon's native surface for scripts/valgrind.sh (vitest itself needs
// WebAssembly, which --jitless removes). Uses the compiled dist/; asserts as it goes and exits
// non-zero on a failure. Bounded: a few thousand calls.
const assert = require('node:assert/strict');
const path = require('node:path');
const dist = path.join(__dirname, '..', '..', 'dist');
const m = require(path.join(dist, 'index.js'));
const { binding } = require(path.join(dist, 'core', 'native.js'));
const { select } = require(path.join(dist, 'selectors', 'select.js'));

for (const kind of m.availableSelectors()) {
  const sel = new (m.selectorClass(kind))();
  const pairs = [];
  for (let i = 0; i < 50; i++) {
    const [a, b] = binding.socketpair(m.AF_UNIX, m.SOCK_STREAM, true);
    pairs.push([a, b]);
    sel.register(a, m.EVENT_READ, i);
  }
  for (const [, b] of pairs.slice(0, 25)) binding.write(b, Buffer.from('x'));
  assert.equal(sel.select(0).length, 25);
  for (const [a] of pairs.slice(0, 10)) sel.modify(a, m.EVENT_READ | m.EVENT_WRITE);
  assert.throws(() => sel.register(pairs[0][0], m.EVENT_READ), { code: 'ERR_FD_ALREADY_REGISTERED' });
  assert.throws(() => sel.register(-1, m.EVENT_READ), RangeError);
  const [a0, b0] = pairs[49];
  binding.close(a0); // closed while registered
  sel.select(0);
  sel.unregister(a0);
  binding.close(b0);
  for (const [a, b] of pairs.slice(0, 49)) {
    sel.unregister(a);
    binding.close(a);
    binding.close(b);
  }
  sel.close();
  sel.close();
  assert.throws(() => sel.select(0), { code: 'ERR_SELECTOR_CLOSED' });
}

// Sockets: TCP, UDP, Unix, sendmsg, bad arguments.
{
  const server = m.createServer(['127.0.0.1', 0]);
  const client = m.createConnection(server.getsockname(), 5);
  const [conn] = server.accept();
  client.sendall(Buffer.alloc(100000, 7));
  let got = 0;
  while (got < 100000) got += conn.recv(65536).length;
  assert.equal(client.sendmsg([Buffer.from('ab'), Buffer.from('cd')]), 4);
  assert.equal(Buffer.from(conn.recv(10)).toString(), 'abcd');
  assert.throws(() => conn.recv(0), RangeError);
  assert.throws(() => binding.recv(conn.fileno(), Buffer.alloc(4), 3, 5), RangeError);
  for (const s of [client, conn, server]) s.close();
  const u = new m.Socket(m.AF_INET, m.SOCK_DGRAM);
  u.bind(['127.0.0.1', 0]);
  u.sendto(Buffer.from('dgram'), u.getsockname());
  assert.equal(Buffer.from(u.recvfrom(100)[0]).toString(), 'dgram');
  u.close();
  assert.throws(() => m.socketpair(m.AF_UNIX, m.SOCK_STREAM).forEach((s) => s.bind('\0'.repeat(200))));
}

// select(2) and pipes.
{
  const [r, w] = binding.pipe(true);
  binding.write(w, Buffer.from('p'));
  assert.deepEqual(select([r], [w], [], 0)[0], [r]);
  assert.throws(() => select([1500], [], [], 0), RangeError);
  binding.close(r);
  binding.close(w);
}

// A hosted loop with a transport echo, timers, and close.
(async () => {
  const loop = m.newEventLoop();
  class Echo extends m.Protocol {
    connectionMade(t) { this.t = t; }
    dataReceived(d) { this.t.write(d); }
  }
  const text = await loop.runUntilComplete((async () => {
    const server = await loop.createServer(() => new Echo(), '127.0.0.1', 0);
    const [host, port] = server.sockets[0].getsockname();
    const [reader, writer] = await m.openConnection(host, port);
    writer.write(Buffer.from('hello\n'));
    const line = await reader.readline();
    writer.close();
    server.close();
    await server.waitClosed();
    await new Promise((res) => loop.callLater(0.01, res));
    return line.toString();
  })());
  loop.close();
  assert.equal(text, 'hello\n');
  console.log('valgrind-smoke: ok');
})().catch((e) => {
  console.error(e);
  process.exit(1);
});

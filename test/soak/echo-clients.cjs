'use strict';
// The client side of echo-soak.cjs, in its own process and on Node's own net module (so muxloop
// is not measured against itself, and each process needs only one fd per connection):
//   node echo-clients.cjs <port> <connections> <seconds>
// Opens the connections (at most 256 connects in flight, below the server's backlog), then on
// each one writes a 32-byte line about once a second and checks that exactly that comes back.
// Prints JSON lines on stdout: {phase:'connected'}, then {phase:'ran', ...figures}; then waits
// for a line on stdin, closes every socket, prints {phase:'closed'} and exits.
const net = require('node:net');

const [port, connections, seconds] = process.argv.slice(2).map(Number);
const say = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const sockets = [];
const stats = { connected: 0, sent: 0, echoed: 0, mismatched: 0, errors: [] };

function open(i) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let expected = '';
    let got = '';
    s.setEncoding('latin1');
    s.on('connect', () => { stats.connected++; resolve(); });
    s.on('data', (d) => {
      got += d;
      const n = Math.min(got.length, expected.length);
      if (got.slice(0, n) !== expected.slice(0, n)) stats.mismatched++;
      stats.echoed += n;
      got = got.slice(n);
      expected = expected.slice(n);
    });
    s.on('error', (e) => { if (stats.errors.length < 10) stats.errors.push(`${i}: ${e.code || e.message}`); resolve(); });
    s.ping = () => {
      if (s.destroyed) return;
      const line = `ping ${String(i).padStart(6, '0')} ${String(stats.sent % 1e6).padStart(8, '0')}.....\n`.slice(0, 32);
      expected += line;
      stats.sent += line.length;
      s.write(line);
    };
    sockets.push(s);
  });
}

async function main() {
  for (let i = 0; i < connections; i += 256) {
    const batch = [];
    for (let j = i; j < Math.min(connections, i + 256); j++) batch.push(open(j));
    await Promise.all(batch);
  }
  say({ phase: 'connected', connected: stats.connected });
  const end = Date.now() + seconds * 1000;
  // Every socket writes once per second, spread evenly over the second.
  await new Promise((resolve) => {
    let next = 0;
    const tick = setInterval(() => {
      const per = Math.ceil(sockets.length / 100);
      for (let k = 0; k < per; k++) sockets[(next + k) % sockets.length].ping();
      next = (next + per) % sockets.length;
      if (Date.now() >= end) { clearInterval(tick); resolve(); }
    }, 10);
  });
  // Let the last echoes arrive.
  const settle = Date.now() + 5000;
  while (stats.echoed < stats.sent && Date.now() < settle) await new Promise((r) => setTimeout(r, 20));
  say({ phase: 'ran', ...stats });
  process.stdin.once('data', () => {
    let open = sockets.length;
    for (const s of sockets) {
      s.once('close', () => { if (--open === 0) { say({ phase: 'closed' }); process.exit(0); } });
      s.end();
    }
  });
}
main();

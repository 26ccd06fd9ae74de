'use strict';
// Microseconds per `select()` with N idle registered fds and one active (readable) fd, for each
// backend. Run with the fd limit raised (the driver starts it under `ulimit -n <hard limit>`).
// The idle fds are both ends of N/2 socketpairs, so N fds need N (not 2N) descriptors and the
// select backend fits N = 1000 under FD_SETSIZE; one more socketpair with unread data is the
// active one. Prints {"results": {N: {backend: us}}, "notes": [...]}.
//   node bench/workers/selector-scaling.cjs --sizes=10,100,1000,10000 --round=0 --seconds=0.15
const path = require('node:path');
const args = require('./args.cjs')();
const muxloop = require(path.join(__dirname, '..', '..', 'dist'));
const { socketpair } = require(path.join(__dirname, '..', '..', 'dist', 'socket'));

const sizes = (args.sizes ?? '10,100,1000,10000').split(',').map(Number);
const seconds = Number(args.seconds ?? 0.15);
const round = Number(args.round ?? 0);
const backends = { epoll: muxloop.EpollSelector, poll: muxloop.PollSelector, select: muxloop.SelectSelector };
const kinds = Object.keys(backends).filter((k) => muxloop.availableSelectors().includes(k));
const results = {};
const notes = [];
const fdLimit = Number(require('node:child_process').execSync('ulimit -n', { shell: '/bin/sh' }).toString().trim());

function measure(Selector, idle, active) {
  const sel = new Selector();
  try {
    for (const s of idle) sel.register(s, muxloop.EVENT_READ);
    sel.register(active, muxloop.EVENT_READ);
    for (let i = 0; i < 50; i++) if (sel.select(0).length !== 1) throw new Error('expected exactly one ready fd');
    // Batches of iterations until `seconds` have passed: the clock is read once per batch.
    let iterations = 0;
    let batch = 16;
    const start = process.hrtime.bigint();
    let elapsed = 0;
    while (elapsed < seconds * 1e9) {
      for (let i = 0; i < batch; i++) sel.select(0);
      iterations += batch;
      if (batch < 4096) batch *= 2;
      elapsed = Number(process.hrtime.bigint() - start);
    }
    return elapsed / 1e3 / iterations;
  } finally {
    for (const s of [...idle, active]) {
      try {
        sel.unregister(s);
      } catch {}
    }
    sel.close();
  }
}

const [activeA, activeB] = socketpair();
activeB.send(Buffer.from('x')); // never read: activeA stays readable
for (const n of sizes) {
  if (n + 64 > fdLimit) {
    notes.push(`N=${n} skipped: needs ${n + 64} fds, the fd limit is ${fdLimit}`);
    continue;
  }
  const pairs = [];
  const idle = [];
  for (let i = 0; i < Math.ceil(n / 2); i++) {
    const pair = socketpair();
    pairs.push(pair);
    idle.push(...pair);
  }
  idle.length = n;
  results[n] = {};
  const order = [...kinds.slice(round % kinds.length), ...kinds.slice(0, round % kinds.length)];
  for (const kind of order) {
    const maxFd = Math.max(...idle.map((s) => s.fileno()), activeA.fileno());
    if (kind === 'select' && maxFd >= muxloop.FD_SETSIZE) {
      results[n][kind] = null;
      if (round === 0) notes.push(`select at N=${n}: fds reach ${maxFd} >= FD_SETSIZE (${muxloop.FD_SETSIZE})`);
      continue;
    }
    results[n][kind] = measure(backends[kind], idle, activeA);
  }
  for (const pair of pairs) for (const s of pair) s.close();
}
activeA.close();
activeB.close();
console.log(JSON.stringify({ results, notes, fdLimit }));

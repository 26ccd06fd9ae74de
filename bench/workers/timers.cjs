'use strict';
// One timers run. Variant "cancel": N timers scheduled then all cancelled, from inside a callback
// of the running loop (Node: inside a setImmediate callback); prints schedule+cancel pairs/s.
// Variant "fire": N timers with random delays of 1..100 ms (the same seeded sequence for every
// peer, whole milliseconds so Node keeps one list per duration) all fire; prints timers per CPU
// second of the process and the lateness (fired - due) percentiles in ms.
//   node bench/workers/timers.cjs --peer=callLater-owning --variant=fire --n=100000
const path = require('node:path');
const args = require('./args.cjs')();
const muxloop = require(path.join(__dirname, '..', '..', 'dist'));

const peer = args.peer;
const variant = args.variant;
const N = Number(args.n ?? 1e6);

let seed = 42;
function random() {
  // mulberry32
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const delaysMs = new Float64Array(N);
for (let i = 0; i < N; i++) delaysMs[i] = 1 + Math.floor(random() * 100);

const now = () => performance.now();
let done = () => {};

function cancelRun(schedule, cancel) {
  const handles = new Array(N);
  const start = process.hrtime.bigint();
  for (let i = 0; i < N; i++) handles[i] = schedule(delaysMs[i]);
  for (let i = 0; i < N; i++) cancel(handles[i]);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(JSON.stringify({ opsPerSec: N / seconds, seconds }));
  done();
}

function fireRun(schedule) {
  const lateness = new Float64Array(N);
  let fired = 0;
  const cpu0 = process.cpuUsage();
  const start = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    const due = now() + delaysMs[i];
    schedule(delaysMs[i], () => {
      lateness[fired] = now() - due;
      if (++fired === N) {
        const cpu = process.cpuUsage(cpu0);
        const cpuSeconds = (cpu.user + cpu.system) / 1e6;
        const seconds = Number(process.hrtime.bigint() - start) / 1e9;
        lateness.sort();
        const pct = (p) => lateness[Math.min(N - 1, Math.floor(p * N))];
        console.log(
          JSON.stringify({ timersPerCpuSecond: N / cpuSeconds, cpuSeconds, seconds, lateP50Ms: pct(0.5), lateP99Ms: pct(0.99) }),
        );
        done();
      }
    });
  }
}

if (peer === 'setTimeout') {
  setImmediate(() => {
    if (variant === 'cancel') cancelRun((ms) => setTimeout(() => {}, ms), clearTimeout);
    else fireRun((ms, cb) => setTimeout(cb, ms));
  });
} else if (peer === 'callLater-hosted' || peer === 'callLater-owning') {
  const loop = muxloop.newEventLoop();
  done = () => loop.stop();
  loop.callSoon(() => {
    if (variant === 'cancel') cancelRun((ms) => loop.callLater(ms / 1000, () => {}), (h) => h.cancel());
    else fireRun((ms, cb) => loop.callLater(ms / 1000, cb));
  });
  if (peer === 'callLater-owning') {
    loop.runForeverSync();
    loop.close();
  } else {
    loop.runForever().then(() => loop.close());
  }
} else {
  throw new Error(`unknown peer ${peer}`);
}

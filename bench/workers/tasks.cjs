'use strict';
// One tasks run: N trivial tasks created and gathered, timed from the first creation until the
// gathered result is back. Prints {"tasksPerSec", "seconds", "rssMiB"}.
//   node bench/workers/tasks.cjs --peer=generator|async|Promise.all --n=1000000 [--mode=owning]
// gather() takes its awaitables as arguments; a million arguments overflow V8's stack, so the
// muxloop peers gather chunks of CHUNK tasks, then gather the chunks (still one gather tree).
const path = require('node:path');
const args = require('./args.cjs')();
const muxloop = require(path.join(__dirname, '..', '..', 'dist'));

const peer = args.peer;
const N = Number(args.n ?? 1e6);
const CHUNK = 50000;
// One function per style, as `async def f(i): return i` would be in Python. (A fresh `function*`
// closure per task would give every generator object its own prototype and map.)
function* trivialGenerator(i) {
  return i;
}
async function trivialAsync(i) {
  return i;
}
const report = (start, count) => {
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (count !== N) throw new Error(`gathered ${count} results, expected ${N}`);
  console.log(JSON.stringify({ tasksPerSec: N / seconds, seconds, rssMiB: process.memoryUsage().rss / 2 ** 20 }));
};

if (peer === 'Promise.all') {
  const start = process.hrtime.bigint();
  const promises = new Array(N);
  for (let i = 0; i < N; i++) promises[i] = trivialAsync(i);
  Promise.all(promises).then((results) => report(start, results.length));
} else {
  const loop = muxloop.newEventLoop();
  const { gather } = muxloop;
  const make =
    peer === 'generator'
      ? (i) => trivialGenerator(i)
      : peer === 'async'
        ? (i) => () => trivialAsync(i)
        : undefined;
  if (!make) throw new Error(`unknown peer ${peer}`);
  let start;
  const main = function* () {
    start = process.hrtime.bigint();
    const chunks = [];
    for (let base = 0; base < N; base += CHUNK) {
      const tasks = [];
      for (let i = base; i < Math.min(N, base + CHUNK); i++) tasks.push(loop.createTask(make(i)));
      chunks.push(gather(...tasks));
    }
    const results = yield gather(...chunks);
    return results.reduce((sum, chunk) => sum + chunk.length, 0);
  };
  if (args.mode === 'owning') {
    const count = loop.runUntilCompleteSync(main());
    report(start, count);
    loop.close();
  } else {
    loop.runUntilComplete(main()).then((count) => {
      report(start, count);
      loop.close();
    });
  }
}

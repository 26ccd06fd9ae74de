'use strict';
// One queue drain: N items put with putNowait, then taken one by one, timed. Prints
// {"itemsPerSec", "seconds"}.
//   node bench/workers/queues.cjs --peer=Queue|LifoQueue|Queue-get|array-shift --n=1000000
// Queue and LifoQueue drain with getNowait; Queue-get drains with `yield q.get()` in a generator
// task (a waiter Future per item); array-shift is a plain JS array drained with shift(), the
// structure the queues used before (quadratic in n once V8 stops trimming in place).
const path = require('node:path');
const args = require('./args.cjs')();
const muxloop = require(path.join(__dirname, '..', '..', 'dist'));

const peer = args.peer;
const N = Number(args.n ?? 1e6);
const report = (start, sum) => {
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (sum !== (N * (N - 1)) / 2) throw new Error(`drained sum ${sum}, expected ${(N * (N - 1)) / 2}`);
  console.log(JSON.stringify({ itemsPerSec: N / seconds, seconds }));
};

if (peer === 'array-shift') {
  const items = [];
  for (let i = 0; i < N; i++) items.push(i);
  const start = process.hrtime.bigint();
  let sum = 0;
  while (items.length > 0) sum += items.shift();
  report(start, sum);
} else {
  const loop = muxloop.newEventLoop();
  const Kind = peer === 'LifoQueue' ? muxloop.LifoQueue : muxloop.Queue;
  if (!['Queue', 'LifoQueue', 'Queue-get'].includes(peer)) throw new Error(`unknown peer ${peer}`);
  const main = function* () {
    const q = new Kind();
    for (let i = 0; i < N; i++) q.putNowait(i);
    const start = process.hrtime.bigint();
    let sum = 0;
    if (peer === 'Queue-get') for (let i = 0; i < N; i++) sum += yield q.get();
    else for (let i = 0; i < N; i++) sum += q.getNowait();
    report(start, sum);
  };
  loop.runUntilComplete(main).then(() => loop.close());
}

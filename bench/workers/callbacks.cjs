'use strict';
// One callbacks run: N callbacks through one scheduler, either all scheduled up front or each
// scheduling the next. Prints {"opsPerSec": ...}. Owning mode must start at CommonJS top level,
// so everything here runs at the top level.
//   node bench/workers/callbacks.cjs --peer=callSoon-owning --variant=chained --n=1000000
const path = require('node:path');
const args = require('./args.cjs')();
const muxloop = require(path.join(__dirname, '..', '..', 'dist'));

const peer = args.peer;
const chained = args.variant === 'chained';
const N = Number(args.n ?? 1e6);
let count = 0;
let start = 0n;
let end = 0n;
const report = () => {
  const seconds = Number(end - start) / 1e9;
  console.log(JSON.stringify({ opsPerSec: N / seconds, seconds, count }));
};

function nodeScheduler(schedule) {
  const cb = () => {
    if (++count === N) {
      end = process.hrtime.bigint();
      report();
    } else if (chained) schedule(cb);
  };
  start = process.hrtime.bigint();
  if (chained) schedule(cb);
  else for (let i = 0; i < N; i++) schedule(cb);
}

if (peer === 'setImmediate') nodeScheduler(setImmediate);
else if (peer === 'queueMicrotask') nodeScheduler(queueMicrotask);
else if (peer === 'nextTick') nodeScheduler(process.nextTick);
else if (peer === 'callSoon-hosted' || peer === 'callSoon-owning') {
  const loop = muxloop.newEventLoop();
  const cb = () => {
    if (++count === N) {
      end = process.hrtime.bigint();
      loop.stop();
    } else if (chained) loop.callSoon(cb);
  };
  start = process.hrtime.bigint();
  if (chained) loop.callSoon(cb);
  else for (let i = 0; i < N; i++) loop.callSoon(cb);
  if (peer === 'callSoon-owning') {
    loop.runForeverSync();
    loop.close();
    report();
  } else {
    loop.runForever().then(() => {
      loop.close();
      report();
    });
  }
} else {
  throw new Error(`unknown peer ${peer}`);
}

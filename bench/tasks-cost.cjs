'use strict';
// Cost of tasks (run after `npm run build:ts`): microseconds per task created, started and
// finished, per style; per `await` of a loop Future inside a task; and what enabling the
// AsyncLocalStorage that tracks the current task costs plain promise code in the same process
// (Node 20 implements it with promise hooks, so it is paid process-wide once enabled).
const { newEventLoop, sleep, gather } = require('..');

const N = Number(process.argv[2] || 20000);

async function plainPromises(n) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await Promise.resolve(i);
  return Number(process.hrtime.bigint() - start) / 1e3 / n;
}

async function perTask(loop, make) {
  return loop.runUntilComplete(async () => {
    const start = process.hrtime.bigint();
    const tasks = [];
    for (let i = 0; i < N; i++) tasks.push(loop.createTask(make()));
    await gather(...tasks);
    return Number(process.hrtime.bigint() - start) / 1e3 / N;
  });
}

(async () => {
  const before = await plainPromises(200000);
  const loop = newEventLoop();
  const generator = await perTask(loop, () => (function* () { yield sleep(0); })());
  const asyncFn = await perTask(loop, () => async () => { await sleep(0); });
  const awaitCost = await loop.runUntilComplete(async () => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < N; i++) await sleep(0);
    return Number(process.hrtime.bigint() - start) / 1e3 / N;
  });
  const yieldCost = await loop.runUntilComplete(
    (function* () {
      const start = process.hrtime.bigint();
      for (let i = 0; i < N; i++) yield sleep(0);
      return Number(process.hrtime.bigint() - start) / 1e3 / N;
    })(),
  );
  loop.close();
  const after = await plainPromises(200000);
  const fmt = (x) => x.toFixed(2);
  console.log(`per task (create, one sleep(0), finish, gathered): generator ${fmt(generator)} us, async function ${fmt(asyncFn)} us`);
  console.log(`per resumption in a task: await sleep(0) ${fmt(awaitCost)} us, yield sleep(0) ${fmt(yieldCost)} us (each includes one loop iteration)`);
  console.log(`plain 'await Promise.resolve()' elsewhere in the process: ${fmt(before)} us before any async task, ${fmt(after)} us after (${fmt(after / before)}x)`);
})();

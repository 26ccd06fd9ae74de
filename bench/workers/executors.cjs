'use strict';
// One executors run. Prints {"us": median microseconds per round trip, "mean": ...}.
//   --peer=runInExecutor | submit | piscina-run | postMessage   sequential round trips of a trivial job
//   --peer=wake-fd-hosted | wake-port-hosted | wake-fd-owning | wake-port-owning
//       a worker thread calls a loop callback through a threadsafe handle and waits (Atomics.wait)
//       for the callback to answer: the round trip is the wake latency plus one Atomics.notify.
// Owning mode must start at CommonJS top level, so the loop runs at the top level here.
//   node bench/workers/executors.cjs --peer=runInExecutor --n=20000
const path = require('node:path');
const { Worker, isMainThread, workerData, parentPort } = require('node:worker_threads');
const args = require('./args.cjs')();

const DIST = path.join(__dirname, '..', '..', 'dist');
const JOBS = path.join(__dirname, 'executor-jobs.cjs');

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function report(samplesNs) {
  const us = samplesNs.map((ns) => ns / 1000);
  console.log(JSON.stringify({ us: median(us), mean: us.reduce((a, b) => a + b, 0) / us.length, n: us.length }));
}

if (!isMainThread) {
  // The worker side of the wake runs and of the postMessage peer.
  if (workerData.mode === 'echo') {
    parentPort.on('message', (m) => parentPort.postMessage(m));
  } else {
    const { openThreadsafeHandle } = require(path.join(DIST, 'loop', 'threadsafe.js'));
    const remote = openThreadsafeHandle(workerData.handle);
    const reply = new Int32Array(workerData.reply);
    const samples = [];
    for (let i = 0; i < workerData.n; i++) {
      const t0 = process.hrtime.bigint();
      remote.callSoon('ping', i + 1);
      while (Atomics.load(reply, 0) !== i + 1) Atomics.wait(reply, 0, i, 1000);
      samples.push(Number(process.hrtime.bigint() - t0));
    }
    remote.callSoon('done', samples.slice(Math.min(100, samples.length >> 2))); // warm-up dropped
    remote.close();
  }
  return;
}

const peer = args.peer;
const N = Number(args.n ?? 10000);

async function sequential(once) {
  for (let i = 0; i < Math.min(200, N); i++) await once(i); // warm-up
  const samples = [];
  for (let i = 0; i < N; i++) {
    const t0 = process.hrtime.bigint();
    await once(i);
    samples.push(Number(process.hrtime.bigint() - t0));
  }
  return samples;
}

if (peer === 'runInExecutor' || peer === 'submit') {
  const muxloop = require(DIST);
  const { ThreadPoolExecutor } = require(path.join(DIST, 'loop', 'thread_pool.js'));
  const { runInExecutor } = require(path.join(DIST, 'loop', 'run_in_executor.js'));
  const pool = new ThreadPoolExecutor({ filename: JOBS, maxWorkers: 1 });
  if (peer === 'submit') {
    sequential((i) => pool.submit('noop', i).promise).then(async (samples) => {
      await pool.shutdown();
      report(samples);
    });
  } else {
    const loop = muxloop.newEventLoop();
    loop
      .runUntilComplete(loop.createTask(() => sequential((i) => runInExecutor(loop, pool, 'noop', i))))
      .then(async (samples) => {
        loop.close();
        await pool.shutdown();
        report(samples);
      });
  }
} else if (peer === 'piscina-run') {
  const Piscina = require('piscina');
  const pool = new Piscina({ filename: JOBS, minThreads: 1, maxThreads: 1, idleTimeout: Infinity });
  sequential((i) => pool.run(i)).then(async (samples) => {
    await pool.destroy();
    report(samples);
  });
} else if (peer === 'postMessage') {
  const worker = new Worker(__filename, { workerData: { mode: 'echo' } });
  let pending;
  worker.on('message', (m) => pending(m));
  sequential((i) => new Promise((resolve) => {
    pending = resolve;
    worker.postMessage(i);
  })).then(async (samples) => {
    await worker.terminate();
    report(samples);
  });
} else if (peer.startsWith('wake-')) {
  const [, mechanism, mode] = peer.split('-');
  const muxloop = require(DIST);
  const { createThreadsafeScheduler } = require(path.join(DIST, 'loop', 'threadsafe.js'));
  const loop = muxloop.newEventLoop();
  const scheduler = createThreadsafeScheduler(loop, { mechanism });
  const reply = new Int32Array(new SharedArrayBuffer(4));
  const finished = loop.createFuture();
  scheduler.register('ping', (i) => {
    Atomics.store(reply, 0, i);
    Atomics.notify(reply, 0);
  });
  scheduler.register('done', (samples) => finished.setResult(samples));
  const { handle, transferList } = scheduler.handle();
  new Worker(__filename, { workerData: { handle, n: N, reply: reply.buffer }, transferList });
  const guard = loop.callLater(120, () => finished.done() || finished.setException(new Error('wake run timed out')));
  const end = (samples) => {
    guard.cancel();
    scheduler.close();
    loop.close();
    report(samples);
  };
  if (mode === 'owning') end(loop.runUntilCompleteSync(finished));
  else loop.runUntilComplete(finished).then(end);
} else {
  throw new Error(`unknown peer ${peer}`);
}

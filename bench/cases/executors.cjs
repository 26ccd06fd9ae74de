'use strict';
// Case 7: executors and threads. (1) The round trip of a trivial job, one at a time on a
// one-thread pool: runInExecutor (a Future on a hosted loop), ThreadPoolExecutor.submit alone,
// piscina's own run, and a bare postMessage echo to a worker. (2) Wake latency of a loop from a
// worker thread through a threadsafe handle, 'fd' (pipe in the loop's selector) vs 'port'
// (MessagePort listener), hosted and owning: the worker times callSoon -> loop callback ->
// Atomics.notify back. Figures are medians of per-round-trip times, in microseconds.
const path = require('node:path');
const { collect, node, runJson, ratioOf, target } = require('../lib/common.cjs');

const WORKER = path.join(__dirname, '..', 'workers', 'executors.cjs');
const ROUND_TRIP = ['runInExecutor', 'submit', 'piscina-run', 'postMessage'];
const WAKE = ['wake-fd-hosted', 'wake-port-hosted', 'wake-fd-owning', 'wake-port-owning'];

module.exports = {
  id: 'executors',
  title: 'Executors and thread wakes',
  async run({ quick }) {
    const n = quick ? 5_000 : 50_000;
    const rounds = quick ? 2 : 5;
    const groups = [
      { id: 'roundtrip', label: `trivial job round trip x ${n.toLocaleString('en')} (1 thread)`, reference: 'piscina-run', peers: ROUND_TRIP },
      { id: 'wake', label: `worker -> loop wake round trip x ${n.toLocaleString('en')}`, reference: 'wake-port-hosted', peers: WAKE },
    ];
    const results = await collect({
      caseId: 'executors',
      groups,
      peers: [...ROUND_TRIP, ...WAKE],
      rounds,
      unit: 'us',
      runOne: async (_group, peer) => {
        const r = await runJson([node, WORKER, `--peer=${peer}`, `--n=${n}`], { timeoutMs: 120_000 });
        return r.skipped ? r : { value: r.us, extra: { mean: r.mean } };
      },
    });
    const ratio = (group, a, b) => ratioOf(results, group, a, b);
    const targets = [
      target('runInExecutor round trip <= 1.2x piscina run', ratio('roundtrip', 'runInExecutor', 'piscina-run'), '<=', 1.2),
      target('submit round trip <= 1.2x piscina run', ratio('roundtrip', 'submit', 'piscina-run'), '<=', 1.2),
    ];
    const notes = [
      `piscina run / postMessage: ${ratio('roundtrip', 'piscina-run', 'postMessage')?.toFixed(2)}x`,
      `wake fd / port, hosted: ${ratio('wake', 'wake-fd-hosted', 'wake-port-hosted')?.toFixed(2)}x; owning: ${ratio('wake', 'wake-fd-owning', 'wake-port-owning')?.toFixed(2)}x`,
    ];
    return {
      id: 'executors',
      title: 'Executors and thread wakes',
      unit: 'us',
      higherIsBetter: false,
      description: `Medians of per-round-trip times (microseconds; lower is better), one child process per run, ${rounds} rounds.`,
      groups: results,
      targets,
      notes,
    };
  },
};

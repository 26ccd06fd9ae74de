'use strict';
// Case 2: timers. callLater scheduled then cancelled, and timers with random delays that fire,
// against setTimeout/clearTimeout.
const path = require('node:path');
const { collect, node, runJson, rowOf, target } = require('../lib/common.cjs');

const WORKER = path.join(__dirname, '..', 'workers', 'timers.cjs');
const PEERS = ['callLater-hosted', 'callLater-owning', 'setTimeout'];

module.exports = {
  id: 'timers',
  title: 'Timers',
  async run({ quick }) {
    const nCancel = quick ? 200_000 : 1_000_000;
    const nFire = quick ? 30_000 : 100_000;
    const rounds = quick ? 2 : 5;
    const groups = [
      { id: 'cancel', label: `${nCancel.toLocaleString('en')} scheduled then cancelled (pairs/s)`, reference: 'setTimeout', n: nCancel },
      { id: 'fire', label: `${nFire.toLocaleString('en')} fired, delays 1-100 ms (timers per CPU second)`, reference: 'setTimeout', n: nFire },
    ];
    const results = await collect({
      caseId: 'timers',
      groups,
      peers: PEERS,
      rounds,
      runOne: async (group, peer) => {
        const r = await runJson([node, WORKER, `--peer=${peer}`, `--variant=${group.id}`, `--n=${group.n}`], { timeoutMs: 60_000 });
        if (r.skipped) return r;
        if (group.id === 'cancel') return { value: r.opsPerSec };
        return { value: r.timersPerCpuSecond, extra: { lateP50Ms: r.lateP50Ms, lateP99Ms: r.lateP99Ms, wallSeconds: r.seconds } };
      },
    });
    const ref = rowOf(results, 'cancel', 'setTimeout');
    const targets = ['hosted', 'owning'].map((mode) => {
      const row = rowOf(results, 'cancel', `callLater-${mode}`);
      return target(`callLater schedule+cancel (${mode}) >= 1x setTimeout/clearTimeout`, row && ref && row.median / ref.median, '>=', 1);
    });
    return {
      id: 'timers',
      title: 'Timers',
      unit: 'per second',
      higherIsBetter: true,
      description:
        'Scheduled from inside a running loop callback (Node: a setImmediate callback). "fire": the same seeded random whole-millisecond delays for every peer; the figure is timers per second of process CPU time, lateness = fired - due.',
      groups: results,
      targets,
      notes: [],
    };
  },
};

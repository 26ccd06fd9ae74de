'use strict';
// Case 1: callbacks per second through callSoon (hosted and owning mode) and Node's schedulers,
// with all callbacks scheduled up front and with each callback scheduling the next.
const path = require('node:path');
const { collect, node, runJson, rowOf, target } = require('../lib/common.cjs');

const WORKER = path.join(__dirname, '..', 'workers', 'callbacks.cjs');
const PEERS = ['callSoon-hosted', 'callSoon-owning', 'setImmediate', 'queueMicrotask', 'nextTick'];

module.exports = {
  id: 'callbacks',
  title: 'Callbacks',
  async run({ quick }) {
    const n = quick ? 200_000 : 1_000_000;
    const rounds = quick ? 2 : 5;
    const groups = [
      { id: 'upfront', label: `${n.toLocaleString('en')} scheduled up front`, reference: 'setImmediate' },
      { id: 'chained', label: `${n.toLocaleString('en')} chained (each schedules the next)`, reference: 'setImmediate' },
    ];
    const results = await collect({
      caseId: 'callbacks',
      groups,
      peers: PEERS,
      rounds,
      unit: 'ops/s',
      runOne: async (group, peer) => {
        const r = await runJson([node, WORKER, `--peer=${peer}`, `--variant=${group.id}`, `--n=${n}`], { timeoutMs: 60_000 });
        return r.skipped ? r : { value: r.opsPerSec };
      },
    });
    const targets = [];
    for (const group of groups) {
      const ref = rowOf(results, group.id, 'setImmediate');
      for (const mode of ['hosted', 'owning']) {
        const row = rowOf(results, group.id, `callSoon-${mode}`);
        // issue 15: chained >= 1.2x, up front >= 1.5x setImmediate, in both modes.
        const goal = group.id === 'chained' ? 1.2 : 1.5;
        targets.push(target(`callSoon (${mode}, ${group.id}) >= ${goal}x setImmediate`, row && ref && row.median / ref.median, '>=', goal));
      }
    }
    return {
      id: 'callbacks',
      title: 'Callbacks',
      unit: 'callbacks/s',
      higherIsBetter: true,
      description: `${n.toLocaleString('en')} callbacks through each scheduler, one child process per run; time from the first schedule call to the last callback.`,
      groups: results,
      targets,
      notes: [],
    };
  },
};

'use strict';
// Case 3: trivial tasks created and gathered (generator and async styles) vs Promise.all.
const path = require('node:path');
const { collect, node, runJson, rowOf, target } = require('../lib/common.cjs');

const WORKER = path.join(__dirname, '..', 'workers', 'tasks.cjs');
const PEERS = ['tasks-generator', 'tasks-async', 'Promise.all'];

module.exports = {
  id: 'tasks',
  title: 'Tasks',
  async run({ quick }) {
    const n = quick ? 100_000 : 1_000_000;
    const rounds = quick ? 2 : 3;
    const groups = [{ id: 'gather', label: `${n.toLocaleString('en')} trivial tasks created and gathered`, reference: 'Promise.all' }];
    const results = await collect({
      caseId: 'tasks',
      groups,
      peers: PEERS,
      rounds,
      unit: 'tasks/s',
      runOne: async (group, peer) => {
        const r = await runJson([node, WORKER, `--peer=${peer.replace('tasks-', '')}`, `--n=${n}`], { timeoutMs: 120_000 });
        return r.skipped ? r : { value: r.tasksPerSec, extra: { seconds: r.seconds, rssMiB: r.rssMiB } };
      },
    });
    const gen = rowOf(results, 'gather', 'tasks-generator');
    const secondsPerMillion = gen && 1e6 / gen.median;
    const asyncRow = rowOf(results, 'gather', 'tasks-async');
    return {
      id: 'tasks',
      title: 'Tasks',
      unit: 'tasks/s',
      higherIsBetter: true,
      description: `Hosted mode. muxloop: loop.createTask(f(i)) for a generator function or an async function, gathered with gather() in chunks of 50,000 (a million arguments overflow V8's stack), timed until the results are back. Node: Promise.all over async function calls.`,
      groups: results,
      targets: [
        target(
          '1,000,000 generator tasks created and gathered in under 1 s',
          secondsPerMillion,
          '<=',
          1,
          secondsPerMillion === undefined ? '' : `${secondsPerMillion.toFixed(2)} s per million${n !== 1e6 ? ' (extrapolated)' : ''}`,
        ),
        // issue 15: >= 500,000 async-function tasks/s.
        target('async-function tasks >= 500,000/s', asyncRow?.median, '>=', 500_000),
      ],
      notes: [],
    };
  },
};

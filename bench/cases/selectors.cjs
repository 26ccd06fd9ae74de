'use strict';
// Case 5: selector scaling. Microseconds per select() with N idle registered fds and one active,
// per backend. Runs in a child started under `ulimit -n <hard limit>`.
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { collect, node, runJson, rowOf, target } = require('../lib/common.cjs');

const WORKER = path.join(__dirname, '..', 'workers', 'selector-scaling.cjs');
const SIZES = [10, 100, 1000, 10000];

module.exports = {
  id: 'selectors',
  title: 'Selector scaling',
  async run({ quick }) {
    const rounds = quick ? 2 : 5;
    const seconds = quick ? 0.05 : 0.15;
    const hard = spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).stdout.trim();
    const notes = [];
    const perRound = new Map();
    const peers = ['epoll', 'poll', 'select'];
    const groups = SIZES.map((n) => ({ id: String(n), label: `${n.toLocaleString('en')} idle fds + 1 active`, reference: 'epoll' }));
    const results = await collect({
      caseId: 'selectors',
      groups,
      peers,
      rounds,
      unit: 'us per select()',
      runOne: async (group, peer, round) => {
        // One child per round measures every size and backend (in an order rotated per round).
        if (!perRound.has(round)) {
          const r = await runJson([node, WORKER, `--sizes=${SIZES.join(',')}`, `--round=${round}`, `--seconds=${seconds}`], {
            raiseFdLimit: true,
            timeoutMs: 120_000,
          });
          perRound.set(round, r);
          if (round === 0) {
            notes.push(...r.notes, `fd limit in the child: ${r.fdLimit} (hard limit ${hard})`);
          }
        }
        const value = perRound.get(round).results[group.id]?.[peer];
        if (value === undefined) return { na: `not measured: fd limit` };
        if (value === null) return { na: 'fds >= FD_SETSIZE (1024)' };
        return { value };
      },
    });
    const growth = (peer, from, to) => {
      const a = rowOf(results, String(from), peer);
      const b = rowOf(results, String(to), peer);
      return a && b ? b.median / a.median : undefined;
    };
    const epollGrowth = growth('epoll', 10, 10000);
    return {
      id: 'selectors',
      title: 'Selector scaling',
      unit: 'us per select()',
      higherIsBetter: false,
      description:
        'Microseconds per sel.select(0) through the public selector API with N idle registered fds (both ends of N/2 socketpairs) and one socket that is always readable; one child per round.',
      groups: results,
      targets: [
        target('epoll select() flat from 10 to 10,000 fds (growth <= 1.5x)', epollGrowth, '<=', 1.5),
        target('poll select() grows from 10 to 10,000 fds (growth >= 1.5x)', growth('poll', 10, 10000), '>=', 1.5),
        target('select select() grows from 10 to 1,000 fds (growth >= 1.5x)', growth('select', 10, 1000), '>=', 1.5),
      ],
      notes,
    };
  },
};

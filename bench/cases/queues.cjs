'use strict';
// Case 7: draining a queue of n items, at two sizes: the time per item must not grow with n
// (issue 12: the queues used Array.shift, quadratic). A plain array drained with shift() is the
// reference peer, the structure the queues had before.
const path = require('node:path');
const { collect, node, runJson, rowOf, target } = require('../lib/common.cjs');

const WORKER = path.join(__dirname, '..', 'workers', 'queues.cjs');
const PEERS = ['Queue', 'LifoQueue', 'Queue-get', 'array-shift'];

module.exports = {
  id: 'queues',
  title: 'Queues',
  async run({ quick }) {
    const small = 100_000;
    const large = quick ? 400_000 : 1_000_000;
    const rounds = quick ? 2 : 3;
    // array-shift only at the small size: it is quadratic (18.6 s for 400,000 items here).
    const groups = [
      { id: `drain-${small}`, n: small, label: `${small.toLocaleString('en')} items put, then drained`, reference: 'array-shift' },
      {
        id: `drain-${large}`,
        n: large,
        label: `${large.toLocaleString('en')} items put, then drained`,
        reference: 'Queue',
        peers: PEERS.filter((p) => p !== 'array-shift'),
      },
    ];
    const results = await collect({
      caseId: 'queues',
      groups,
      peers: PEERS,
      rounds,
      unit: 'items/s',
      runOne: async (group, peer) => {
        const r = await runJson([node, WORKER, `--peer=${peer}`, `--n=${group.n}`], { timeoutMs: 180_000 });
        return { value: r.itemsPerSec, extra: { seconds: r.seconds } };
      },
    });
    // Linear means the same rate at both sizes: rate(large) / rate(small) >= 0.7 allows for noise
    // and cache effects; a quadratic drain falls to about small/large (0.1 at 1M).
    const scaling = (peer) => {
      const a = rowOf(results, `drain-${small}`, peer);
      const b = rowOf(results, `drain-${large}`, peer);
      return a && b ? b.median / a.median : undefined;
    };
    return {
      id: 'queues',
      title: 'Queues',
      unit: 'items/s',
      higherIsBetter: true,
      description: `Hosted mode. muxloop: Queue and LifoQueue drained with getNowait(), Queue-get with yield q.get() in a generator task. Reference: a JS array drained with shift().`,
      groups: results,
      targets: ['Queue', 'LifoQueue', 'Queue-get'].map((peer) =>
        target(`${peer}: rate at ${large.toLocaleString('en')} items / rate at ${small.toLocaleString('en')} (linear in n)`, scaling(peer), '>=', 0.7),
      ),
      notes: [],
    };
  },
};

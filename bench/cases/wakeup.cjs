'use strict';
// Case: wakeup latency. One connection sends a 64 B message every 5 ms (open loop, loadgen.c
// --rate), so every request finds the server asleep: the figure is how fast each server wakes for
// I/O that comes from another process, the path a saturating load never takes. It guards the
// io_uring transports against a late doorbell (native/uring/completion.h, "Waking the loop": with
// DEFER_TASKRUN and an eventfd, this kernel signalled 12-17 ms late).
const { collect, ratioOf, target, summarize } = require('../lib/common.cjs');
const { startServer, load, stop, loadgenSkipped } = require('../lib/echo.cjs');

const PEERS = ['c-epoll', 'c-uring', 'muxloop-protocol-hosted', 'muxloop-protocol-owning', 'muxloop-uring-hosted', 'muxloop-uring-owning', 'node-net'];
const RATE = 200; // messages per second: 5 ms apart

module.exports = {
  id: 'wakeup',
  title: 'Wakeup latency',
  async run({ quick, peers }) {
    const skipped = loadgenSkipped('wakeup', 'Wakeup latency');
    if (skipped) return skipped;
    const duration = quick ? 1 : 3;
    const group = { id: 'p50', label: `1 conn x ${RATE} msgs/s (asleep before each): p50 latency (us)`, reference: 'c-epoll' };
    const results = await collect({
      caseId: 'wakeup',
      groups: [group],
      peers: (peers ?? PEERS).filter((p) => PEERS.includes(p)),
      rounds: quick ? 2 : 3,
      unit: 'us',
      startServer: (peer) => startServer(peer),
      runOne: async (_group, peer, _round, server) => {
        const r = await load(server, { conns: 1, size: 64, rate: RATE, warmup: 0.2, duration });
        if (r.connsOk < 1) return { failed: 'the connection was not set up' };
        if (r.msgs === 0) return { failed: 'no message completed in the measured window' };
        return { value: r.p50Us, extra: { p99Us: r.p99Us, msgs: r.msgs, serverCpuPct: r.serverCpuPct } };
      },
    });
    const p99 = {
      id: 'p99',
      label: `1 conn x ${RATE} msgs/s (asleep before each): p99 latency (us)`,
      reference: 'c-epoll',
      rows: results[0].rows.map((row) => {
        if (row.skipped) return row;
        const stats = summarize(row.extraSamples.p99Us);
        return { peer: row.peer, samples: row.extraSamples.p99Us, ...stats, extra: {} };
      }),
    };
    const groups = [results[0], p99];
    return {
      id: 'wakeup',
      title: 'Wakeup latency',
      unit: 'us',
      higherIsBetter: false,
      description: `One connection, a 64 B message every ${1000 / RATE} ms for ${duration} s (open loop: the server sleeps before each); latency from the send to the last byte back.`,
      groups,
      targets: [
        target('p99: io_uring Protocol (hosted) <= 2x the epoll Protocol (hosted)', ratioOf(groups, 'p99', 'muxloop-uring-hosted', 'muxloop-protocol-hosted'), '<=', 2),
        target('p99: io_uring Protocol (owning) <= 2x the epoll Protocol (owning)', ratioOf(groups, 'p99', 'muxloop-uring-owning', 'muxloop-protocol-owning'), '<=', 2),
      ],
      notes: ['The load generator sleeps between sends too; both sides pay a wakeup per message, so only the differences between servers count.'],
    };
  },
};

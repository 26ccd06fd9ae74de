'use strict';
// Case 6: many connections. N concurrent connections, each echoing one message per second:
// server memory per connection (RSS after the run minus RSS before connecting, / N) and p99
// latency. A fresh server per run, so the RSS baseline is clean.
const { collect, ratioOf, target, summarize } = require('../lib/common.cjs');
const { startServer, load, stop, loadgenSkipped } = require('../lib/echo.cjs');

const PEERS = ['muxloop-protocol-hosted', 'muxloop-protocol-owning', 'muxloop-streams', 'muxloop-selectors', 'node-net', 'c-epoll'];

module.exports = {
  id: 'connections',
  title: 'Many connections',
  async run({ quick }) {
    const skipped = loadgenSkipped('connections', 'Many connections');
    if (skipped) return skipped;
    const conns = quick ? 1000 : 10000;
    const duration = quick ? 1.5 : 10;
    const rounds = 2;
    const group = { id: 'memory', label: `${conns.toLocaleString('en')} conns x 1 msg/s x ${duration} s: KiB per connection`, reference: 'node-net' };
    const results = await collect({
      caseId: 'connections',
      groups: [group],
      peers: PEERS,
      rounds,
      unit: 'KiB/conn',
      runOne: async (_group, peer) => {
        const server = await startServer(peer, { raiseFdLimit: true });
        if (server.skipped) return server;
        try {
          await new Promise((resolve) => setTimeout(resolve, 300)); // settle before the idle RSS
          const r = await load(server, { conns, size: 64, rate: 1, warmup: 0, duration, 'connect-batch': 200, 'setup-timeout': 60 });
          if (r.connsOk < conns) return { failed: `only ${r.connsOk}/${conns} connections set up` };
          return {
            value: (r.serverRssKbEnd - r.serverRssKbIdle) / r.connsOk,
            extra: { p99Us: r.p99Us, p50Us: r.p50Us, setupSeconds: r.setupSeconds, serverCpuPct: r.serverCpuPct, loadgenCpuPct: r.loadgenCpuPct },
          };
        } finally {
          await stop(server.child);
        }
      },
    });
    // The same runs, seen as latency: a second group built from the p99 samples.
    const latency = {
      id: 'p99',
      label: `${conns.toLocaleString('en')} conns x 1 msg/s: p99 latency (us)`,
      reference: 'node-net',
      rows: results[0].rows.map((row) => {
        if (row.skipped) return row;
        const stats = summarize(row.extraSamples.p99Us);
        return { peer: row.peer, samples: row.extraSamples.p99Us, ...stats, extra: {} };
      }),
    };
    return {
      id: 'connections',
      title: 'Many connections',
      unit: 'KiB per connection / us',
      higherIsBetter: false,
      description: `${conns.toLocaleString('en')} concurrent connections set up 200 at a time, then each sends one 64 B message per second (open loop, evenly spread) for ${duration} s. Memory per connection = (server RSS at the end - RSS before connecting) / connections.`,
      groups: [results[0], latency],
      targets: [
        target('memory per idle connection: muxloop Protocol (hosted) below Node net', ratioOf(results, 'memory', 'muxloop-protocol-hosted', 'node-net'), '<', 1),
        target('memory per idle connection: muxloop streams below Node net', ratioOf(results, 'memory', 'muxloop-streams', 'node-net'), '<', 1),
      ],
      notes: ['RSS counts user-space memory only: kernel socket buffers are the same for every server and not in it (hence the C server near 0).'],
    };
  },
};

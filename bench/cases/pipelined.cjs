'use strict';
// Case: pipelined small requests. A Redis-protocol key-value server (GET/SET of short keys, 25-48
// byte requests) under the C load generator in --proto=kv mode, 16 requests in flight per
// connection (and 1, for contrast). Every JS peer runs the same parser (servers/kv-parser.cjs);
// a real redis-server is the limit when it is installed (skipped with a message otherwise).
const { collect, rowOf, ratioOf, target, hasTaskset } = require('../lib/common.cjs');
const { startServer, load, loadgenSkipped, KV_SERVERS } = require('../lib/echo.cjs');

const PEERS = Object.keys(KV_SERVERS);

function configs(quick) {
  const list = quick
    ? [
        { conns: 100, depth: 16 },
        { conns: 100, depth: 1 },
      ]
    : [
        { conns: 10, depth: 16 },
        { conns: 100, depth: 16 },
        { conns: 100, depth: 1 },
      ];
  return list.map((c) => ({
    ...c,
    id: `kv-x${c.conns}-d${c.depth}`,
    label: `GET/SET x ${c.conns} conns x ${c.depth} in flight`,
    reference: 'node-net',
  }));
}

module.exports = {
  id: 'pipelined',
  title: 'Pipelined requests',
  async run({ quick }) {
    const skipped = loadgenSkipped('pipelined', 'Pipelined requests');
    if (skipped) return skipped;
    const groups = configs(quick);
    const rounds = quick ? 2 : 3;
    const warmup = quick ? 0.1 : 0.3;
    const duration = quick ? 0.3 : 1.0;
    const results = await collect({
      caseId: 'pipelined',
      groups,
      peers: PEERS,
      rounds,
      unit: 'requests/s',
      startServer: (peer) => startServer(peer, { servers: KV_SERVERS }),
      runOne: async (group, peer, _round, server) => {
        const r = await load(server, { proto: 'kv', conns: group.conns, depth: group.depth, warmup, duration });
        if (r.connsOk < group.conns) return { failed: `only ${r.connsOk}/${group.conns} connections set up` };
        if (r.errors > 0) return { failed: `${r.errors} connections got a wrong reply` };
        // A window with no reply at all (the server got no CPU on a crowded machine) is no sample.
        if (r.msgs === 0) return { failed: 'no message completed in the measured window' };
        return {
          value: r.msgsPerSec,
          extra: {
            p50Us: r.p50Us,
            p99Us: r.p99Us,
            serverCpuSecondsPerMmsg: r.serverCpuSecondsPerMmsg,
            serverCpuPct: r.serverCpuPct,
            loadgenCpuPct: r.loadgenCpuPct,
          },
        };
      },
    });
    const ratio = (gid, a, b) => ratioOf(results, gid, a, b);
    const gid = 'kv-x100-d16';
    const targets = [
      target('GET/SET x 100 conns x 16 in flight: Protocol (owning) >= 1.2x Node net', ratio(gid, 'muxloop-protocol-owning', 'node-net'), '>=', 1.2),
      target('GET/SET x 100 conns x 16 in flight: Protocol (hosted) >= 1.2x Node net', ratio(gid, 'muxloop-protocol-hosted', 'node-net'), '>=', 1.2),
      target('GET/SET x 100 conns x 16 in flight: streams >= 1.2x Node net', ratio(gid, 'muxloop-streams', 'node-net'), '>=', 1.2),
    ];
    const redis = rowOf(results, gid, 'redis');
    return {
      id: 'pipelined',
      title: 'Pipelined requests',
      unit: 'requests/s',
      higherIsBetter: true,
      description: `Redis protocol (RESP) GET/SET of 7-byte keys and 16-byte values, each connection alternating SET and GET of its own key with 16 (or 1) requests in flight, every reply byte checked by the load generator (bench/loadgen.c --proto=kv, busy-polling). The same JS parser (bench/servers/kv-parser.cjs) for every JS peer; redis-server as the limit. ${warmup} s warm-up, ${duration} s measured per run; ${hasTaskset() ? 'server on CPU 0, load generator on CPU 1' : 'not pinned (no taskset)'}. Extra columns: latency p50/p99 (us), server CPU seconds per million requests.`,
      groups: results,
      targets,
      notes: redis ? [] : ['redis-server is not installed: no Redis column (apt-get install redis-server)'],
    };
  },
};

'use strict';
// Case 4: TCP echo over loopback. Every server is driven by the same C load generator (CPU 1,
// server on CPU 0 when taskset exists); a fresh set of servers per round, peers alternating per
// configuration.
const { collect, rowOf, ratioOf, target, hasTaskset, LOADGEN_BOUND_PCT, loadgenCpuNote } = require('../lib/common.cjs');
const { startServer, load, loadgenSkipped, SERVERS } = require('../lib/echo.cjs');

const ALL_PEERS = Object.keys(SERVERS);

function configs(quick) {
  const list = [];
  const sizes = quick ? [64, 1024, 16384] : [64, 1024, 16384];
  const connCounts = quick ? [100] : [1, 10, 100];
  for (const size of sizes) for (const conns of connCounts) list.push({ size, conns, depth: 1 });
  if (quick) list.splice(1, 0, { size: 64, conns: 1, depth: 1 });
  list.push({ size: 64, conns: 100, depth: 16 });
  return list.map((c) => ({
    ...c,
    id: `${c.size}B-x${c.conns}${c.depth > 1 ? `-d${c.depth}` : ''}`,
    label: `${c.size >= 1024 ? `${c.size / 1024} KiB` : `${c.size} B`} x ${c.conns} conn${c.conns > 1 ? 's' : ''}${c.depth > 1 ? ` x ${c.depth} in flight` : ''}`,
    reference: 'c-epoll',
  }));
}

module.exports = {
  id: 'echo',
  title: 'TCP echo',
  async run({ quick, peers }) {
    const unknownPeers = (peers ?? []).filter((p) => !ALL_PEERS.includes(p));
    if (unknownPeers.length) throw new Error(`unknown echo peer(s) ${unknownPeers.join(', ')}; known: ${ALL_PEERS.join(', ')}`);
    const PEERS = peers ?? ALL_PEERS;
    const skipped = loadgenSkipped('echo', 'TCP echo');
    if (skipped) return skipped;
    const groups = configs(quick);
    const rounds = quick ? 2 : 3;
    const warmup = quick ? 0.1 : 0.3;
    const duration = quick ? 0.3 : 1.0;
    const results = await collect({
      caseId: 'echo',
      groups,
      peers: PEERS,
      rounds,
      unit: 'msgs/s',
      // Fresh servers each round; idle servers cost no CPU while another peer is measured.
      startServer: (peer) => startServer(peer),
      runOne: async (group, peer, _round, server) => {
        const r = await load(server, { conns: group.conns, size: group.size, depth: group.depth, warmup, duration });
        if (r.connsOk < group.conns) return { failed: `only ${r.connsOk}/${group.conns} connections set up` };
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
            loadgenBusy: r.busy,
          },
        };
      },
    });
    // On 2 cores the generator has one core, like the server: against the fastest servers it can
    // saturate first. Such a figure is a floor of what the server can do, not its limit.
    // A busy-polling generator (the default in closed loop, loadgen.c --busy) always shows ~100%:
    // then its CPU says nothing about being the bottleneck, and no run is flagged.
    const bound = (gid, peer) => {
      const row = rowOf(results, gid, peer);
      return !row?.extra.loadgenBusy && (row?.extra.loadgenCpuPct ?? 0) >= LOADGEN_BOUND_PCT;
    };
    const targets = [];
    const ratio = (gid, a, b, field) => ratioOf(results, gid, a, b, field);
    for (const gid of ['64B-x100', '64B-x100-d16']) {
      const g = groups.find((x) => x.id === gid);
      const cBound = bound(gid, 'c-epoll')
        ? 'the C server run was load-generator-bound, so this ratio is a ceiling (CPU per message is the robust comparison)'
        : '';
      targets.push(target(`${g.label}: Protocol (owning) >= 0.85x C epoll msgs/s`, ratio(gid, 'muxloop-protocol-owning', 'c-epoll'), '>=', 0.85, cBound));
      targets.push(target(`${g.label}: Protocol (hosted) >= 0.75x C epoll msgs/s`, ratio(gid, 'muxloop-protocol-hosted', 'c-epoll'), '>=', 0.75, cBound));
      targets.push(
        target(
          `${g.label}: streams >= 1.1x Node net msgs/s`,
          ratio(gid, 'muxloop-streams', 'node-net'),
          '>=',
          1.1,
          bound(gid, 'muxloop-streams') ? 'the streams run was load-generator-bound: the ratio is a floor' : '',
        ),
      );
      for (const mode of ['owning', 'hosted']) {
        targets.push(
          target(
            `${g.label}: Protocol (${mode}) server CPU per message <= 1.25x C's`,
            ratio(gid, `muxloop-protocol-${mode}`, 'c-epoll', 'serverCpuSecondsPerMmsg'),
            '<=',
            1.25,
          ),
        );
      }
    }
    // Issue 16: the io_uring Protocol server against the C epoll server, owning and hosted mode.
    for (const gid of ['64B-x100', '64B-x100-d16', '1024B-x100', '16384B-x100']) {
      const g = groups.find((x) => x.id === gid);
      if (!g) continue;
      for (const mode of ['owning', 'hosted']) {
        const peer = `muxloop-uring-${mode}`;
        targets.push(target(`${g.label}: io_uring Protocol (${mode}) >= 1.0x C epoll msgs/s`, ratio(gid, peer, 'c-epoll'), '>=', 1.0, ''));
        targets.push(target(`${g.label}: io_uring Protocol (${mode}) server CPU per message <= 1.0x C epoll's`, ratio(gid, peer, 'c-epoll', 'serverCpuSecondsPerMmsg'), '<=', 1.0, ''));
      }
    }
    // Issue 15, gap 4: geometric means over the four echo configurations an independent
    // busy-polling client was run with (those of this run's configurations that exist).
    const GEO = ['64B-x10', '64B-x100', '1024B-x100', '64B-x100-d16'].filter((gid) => groups.some((g) => g.id === gid));
    const geo = (peer, field) => {
      const rs = GEO.map((gid) => ratio(gid, peer, 'c-epoll', field));
      return rs.every((r) => r !== undefined && Number.isFinite(r)) ? Math.exp(rs.reduce((a, r) => a + Math.log(r), 0) / rs.length) : undefined;
    };
    const over = `geometric mean over ${GEO.join(', ')}`;
    targets.push(target(`echo, ${over}: Protocol (hosted) >= 0.85x C epoll`, geo('muxloop-protocol-hosted'), '>=', 0.85));
    targets.push(target(`echo, ${over}: Protocol (owning) >= 0.9x C epoll`, geo('muxloop-protocol-owning'), '>=', 0.9));
    for (const mode of ['hosted', 'owning']) {
      const u = geo('uvloop');
      const m = geo(`muxloop-protocol-${mode}`);
      targets.push(target(`echo, ${over}: Protocol (${mode}) ahead of uvloop`, u && m && m / u, '>=', 1, u === undefined ? 'uvloop not measured' : ''));
      targets.push(target(`echo, ${over}: Protocol (${mode}) server CPU per message <= 1.15x C's`, geo(`muxloop-protocol-${mode}`, 'serverCpuSecondsPerMmsg'), '<=', 1.15));
    }
    const boundRuns = results.flatMap((g) => g.rows.filter((r) => bound(g.id, r.peer)).map((r) => `${g.label} / ${r.peer}`));
    return {
      id: 'echo',
      title: 'TCP echo',
      unit: 'msgs/s',
      higherIsBetter: true,
      description: `Loopback echo, closed loop: each connection keeps 1 (or 16) messages in flight; a message is done when all its bytes are back. ${warmup} s warm-up, ${duration} s measured per run; server ${hasTaskset() ? 'pinned to CPU 0, load generator (bench/loadgen.c, epoll, busy-polling: epoll_wait with timeout 0, so its CPU is always near 100%) to CPU 1' : 'and load generator not pinned (no taskset)'}. Extra columns: latency p50/p99 (us), server CPU seconds per million messages, server and load generator CPU %.`,
      groups: results,
      targets,
      notes: [
        loadgenCpuNote(results),
        ...(boundRuns.length
          ? [
              `load generator at >= ${LOADGEN_BOUND_PCT}% CPU (its figure is a floor of the server's capacity; server CPU per message is unaffected): ${boundRuns.join('; ')}`,
            ]
          : []),
      ],
    };
  },
};

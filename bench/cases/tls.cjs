'use strict';
// Case 9: TLS (issue 14). A TLS 1.3 echo, 1 KiB x 100 connections, and full handshakes per
// second, for Node's tls server, muxloop's (native engine, lib/net/tls; owning and hosted loop)
// and Python asyncio's ssl. Every server is its own child (CPU 0 with taskset), driven by the C
// generator bench/tls_loadgen.c (CPU 1; OpenSSL, so it needs libssl's headers: libssl-dev);
// fresh servers each round, peers in an order rotated per round.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { collect, buildC, rowOf, ratioOf, target, progress, hasTaskset, runJson, which, LOADGEN_BOUND_PCT, loadgenCpuNote, skippedCase } = require('../lib/common.cjs');
const { startServer: startPeer } = require('../lib/echo.cjs');
const { TLS_SERVERS } = require('../servers/index.cjs');

const PEERS = Object.keys(TLS_SERVERS);

/** A throwaway P-256 key and self-signed certificate (the servers read them from files). */
function makeCert() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'muxloop-bench-tls-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], { cwd: dir, stdio: 'ignore' });
  return { dir, key: path.join(dir, 'key.pem'), cert: path.join(dir, 'cert.pem') };
}

/** Starts TLS server `peer` on CPU 0 with the certificate `pem`: { child, port, pid } or { skipped }. */
function startServer(peer, pem) {
  return startPeer(peer, { servers: TLS_SERVERS, args: [pem], raiseFdLimit: true });
}

module.exports = {
  id: 'tls',
  title: 'TLS',
  async run({ quick }) {
    const empty = (skipped) => skippedCase('tls', 'TLS', skipped);
    if (!which('openssl')) return empty('no openssl binary (for the bench certificate)');
    const loadgen = buildC('tls_loadgen.c', ['-lssl', '-lcrypto']);
    if (loadgen.skipped) {
      progress(`tls: skipped: ${loadgen.skipped} (the TLS load generator needs libssl-dev)`);
      return empty(`${loadgen.skipped} (needs libssl-dev)`);
    }
    const pem = makeCert();
    const rounds = quick ? 2 : 5;
    const warmup = quick ? 0.2 : 0.5;
    const duration = quick ? 0.5 : 2.0;
    const groups = [
      { id: 'echo-1KiB-x100', label: '1 KiB echo x 100 conns (msgs/s)', reference: 'node-tls', conns: 100, size: 1024 },
      { id: 'handshakes-x8', label: 'full handshakes, 8 at a time (handshakes/s)', reference: 'node-tls', conns: 8, handshakes: 1 },
    ];
    try {
      const results = await collect({
        caseId: 'tls',
        groups,
        peers: PEERS,
        rounds,
        unit: '/s',
        startServer: (peer) => startServer(peer, pem),
        runOne: async (group, peer, _round, server) => {
          const argv = [loadgen.path, `--port=${server.port}`, `--server-pid=${server.child.pid}`, `--conns=${group.conns}`, `--warmup=${warmup}`, `--duration=${duration}`];
          if (group.handshakes) argv.push('--handshakes=1');
          else argv.push(`--size=${group.size}`);
          const r = await runJson(argv, { cpu: 1, raiseFdLimit: true, timeoutMs: 1000 * (warmup + duration) + 20_000 });
          if (server.child.exitCode !== null || server.child.signalCode !== null) return { failed: `server exited: ${server.child.stderrText.trim().split('\n').slice(-1)[0]}` };
          if (!group.handshakes && r.connsOk < group.conns) return { failed: `only ${r.connsOk}/${group.conns} connections set up` };
          return { value: r.perSec, extra: { serverCpuUsPerOp: r.serverCpuUsPerOp, serverCpuPct: r.serverCpuPct, loadgenCpuPct: r.loadgenCpuPct, errors: r.errors } };
        },
      });
      const ratio = (gid, a, b, field) => ratioOf(results, gid, a, b, field);
      const bound = (gid, peer) => (rowOf(results, gid, peer)?.extra.loadgenCpuPct ?? 0) >= LOADGEN_BOUND_PCT;
      const boundNote = (gid) => (bound(gid, 'muxloop-tls-owning') || bound(gid, 'node-tls') ? 'a run was load-generator-bound: compare server CPU per operation' : '');
      const targets = [
        target('TLS 1 KiB echo x 100: muxloop (owning) >= 1.2x Node tls msgs/s', ratio('echo-1KiB-x100', 'muxloop-tls-owning', 'node-tls'), '>=', 1.2, boundNote('echo-1KiB-x100')),
        target('TLS 1 KiB echo x 100: muxloop (hosted) >= 1.2x Node tls msgs/s', ratio('echo-1KiB-x100', 'muxloop-tls-hosted', 'node-tls'), '>=', 1.2, boundNote('echo-1KiB-x100')),
        target('TLS handshakes: muxloop (owning) >= 1x Node tls handshakes/s', ratio('handshakes-x8', 'muxloop-tls-owning', 'node-tls'), '>=', 1.0, boundNote('handshakes-x8')),
        target('TLS 1 KiB echo: muxloop (owning) server CPU per message <= 1/1.2 of Node tls', ratio('echo-1KiB-x100', 'muxloop-tls-owning', 'node-tls', 'serverCpuUsPerOp'), '<=', 1 / 1.2),
      ];
      return {
        id: 'tls',
        title: 'TLS',
        unit: 'ops/s',
        higherIsBetter: true,
        description: `TLS 1.3 (P-256 ECDSA certificate, the default suites) over loopback. Echo: closed loop, one 1 KiB message in flight per connection. Handshakes: 8 connections at a time, each a full handshake (no resumption), close_notify and the server's close, then reconnect. ${warmup} s warm-up, ${duration} s measured per run, ${rounds} rounds; server ${hasTaskset() ? 'pinned to CPU 0, load generator (bench/tls_loadgen.c, OpenSSL) to CPU 1' : 'and load generator not pinned (no taskset)'}. Extra columns: server CPU microseconds per operation, server and generator CPU %.`,
        groups: results,
        targets,
        notes: [
          loadgenCpuNote(results),
          'on a shared machine a server may get less than its core (server CPU % below 100 with the generator far from 100): msgs/s then follows the neighbours\' load, and server CPU per operation is the steadier comparison',
        ],
      };
    } finally {
      fs.rmSync(pem.dir, { recursive: true, force: true });
    }
  },
};

// For the harness smoke test (test/bench-smoke.test.ts).
module.exports.makeCert = makeCert;
module.exports.startServer = startServer;

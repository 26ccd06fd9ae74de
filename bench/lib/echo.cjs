'use strict';
// Running echo servers and the load generator against them.
const { buildC, start, stop, runJson, progress, skippedCase } = require('./common.cjs');
const { SERVERS, KV_SERVERS } = require('../servers/index.cjs');

const SERVER_CPU = 0;
const LOADGEN_CPU = 1;

/**
 * Starts the server of `peer` (from `servers`, default the echo servers; its argv from
 * `servers[peer](...args)`) on CPU 0; resolves with { child, port, pid } or { skipped }. `pid` is
 * the measured process: the child, unless it printed "PID <n>" before its port (a launcher such
 * as kv-redis.cjs).
 */
async function startServer(peer, { raiseFdLimit = false, servers = SERVERS, args = [] } = {}) {
  const argv = servers[peer](...args);
  if (argv.skipped) return argv;
  const child = start(argv, { cpu: SERVER_CPU, raiseFdLimit });
  try {
    const m = await child.waitLine(/^(PORT (\d+)|SKIP (.*))$/, 15_000);
    if (m[3] !== undefined) {
      await stop(child);
      return { skipped: m[3] };
    }
    const pidLine = child.lines.find((l) => /^PID \d+$/.test(l));
    return { child, port: Number(m[2]), pid: pidLine ? Number(pidLine.slice(4)) : child.pid };
  } catch (error) {
    await stop(child);
    throw error;
  }
}

/** Runs the load generator (CPU 1) against `server`; resolves with its JSON report. */
async function load(server, options) {
  const bin = buildC('loadgen.c');
  if (bin.skipped) throw new Error(bin.skipped);
  const argv = [bin.path, `--port=${server.port}`, `--server-pid=${server.pid ?? server.child.pid}`];
  for (const [k, v] of Object.entries(options)) argv.push(`--${k}=${v}`);
  const budget = 1000 * ((options.warmup ?? 0.3) + (options.duration ?? 1) + (options['setup-timeout'] ?? 60)) + 10_000;
  const r = await runJson(argv, { cpu: LOADGEN_CPU, raiseFdLimit: true, timeoutMs: budget });
  if (server.child.exitCode !== null || server.child.signalCode !== null) {
    throw new Error(`server exited during the run: ${server.child.stderrText.trim().split('\n').slice(-2).join(' | ')}`);
  }
  return r;
}

/**
 * The result of case `id` when loadgen.c cannot be built (no C compiler), after a progress line
 * saying so; undefined when the load generator is there.
 */
function loadgenSkipped(id, title) {
  const bin = buildC('loadgen.c');
  if (!bin.skipped) return undefined;
  progress(`${id}: skipped: ${bin.skipped}`);
  return skippedCase(id, title, bin.skipped);
}

module.exports = { startServer, load, stop, loadgenSkipped, SERVERS, KV_SERVERS };

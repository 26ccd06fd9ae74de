'use strict';
// Shared pieces of the bench driver: child processes (tracked, bounded in time, always killed),
// statistics, progress lines, and building the C helpers with `cc`.
const { spawn, spawnSync, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const BENCH = path.join(__dirname, '..');
const ROOT = path.join(BENCH, '..');
/** Scratch directory for the C binaries: under build/ (git-ignored), never committed. */
const SCRATCH = path.join(ROOT, 'build', 'bench');

// ---------------------------------------------------------------------------------------------
// Children: every one is remembered until it exits, and killed when the driver ends for any reason.

const live = new Set();

function killAll(signal = 'SIGKILL') {
  for (const child of live) {
    try {
      child.kill(signal);
    } catch {}
  }
}
process.on('exit', () => killAll());
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });
}

/**
 * Starts `argv` (pinned to `cpu` when taskset exists and `cpu` is given, with the fd limit raised
 * to the hard limit when `raiseFdLimit`). Returns the ChildProcess, with `lines` (stdout lines so
 * far), `stderrText` and `exited` (a promise of the exit code).
 */
function start(argv, { cpu, raiseFdLimit = false, env, stdin = 'pipe' } = {}) {
  let cmd = argv;
  if (cpu !== undefined && hasTaskset()) cmd = ['taskset', '-c', String(cpu), ...cmd];
  if (raiseFdLimit) {
    // `exec` keeps the pid: /proc/<pid> of the child is the measured program itself.
    const quoted = cmd.map((a) => `'${String(a).replace(/'/g, `'\\''`)}'`).join(' ');
    cmd = ['sh', '-c', `ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec ${quoted}`];
  }
  const child = spawn(cmd[0], cmd.slice(1), { stdio: [stdin, 'pipe', 'pipe'], env: { ...process.env, ...env } });
  live.add(child);
  child.lines = [];
  child.stderrText = '';
  let pending = '';
  const waiters = [];
  child.stdout.setEncoding('utf8').on('data', (chunk) => {
    pending += chunk;
    let nl;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      child.lines.push(line);
      for (const w of [...waiters]) w(line);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk) => {
    if (child.stderrText.length < 20000) child.stderrText += chunk;
  });
  child.exited = new Promise((resolve) => {
    child.on('error', (error) => {
      child.stderrText += String(error);
      live.delete(child);
      resolve(-1);
    });
    child.on('close', (code, signal) => {
      live.delete(child);
      resolve(code ?? signal);
    });
  });
  /** Resolves with the first stdout line matching `re` (match array), or rejects on exit/timeout. */
  child.waitLine = (re, timeoutMs) =>
    new Promise((resolve, reject) => {
      for (const line of child.lines) {
        const m = re.exec(line);
        if (m) return resolve(m);
      }
      const timer = setTimeout(() => done(new Error(`timed out after ${timeoutMs} ms waiting for ${re}`)), timeoutMs);
      const onLine = (line) => {
        const m = re.exec(line);
        if (m) done(undefined, m);
      };
      const done = (error, m) => {
        clearTimeout(timer);
        const i = waiters.indexOf(onLine);
        if (i >= 0) waiters.splice(i, 1);
        if (error) reject(error);
        else resolve(m);
      };
      waiters.push(onLine);
      child.exited.then((code) => done(new Error(`exited (${code}) before ${re}: ${tail(child)}`)));
    });
  return child;
}

function tail(child) {
  return (child.stderrText || child.lines.slice(-3).join(' | ')).trim().split('\n').slice(-3).join(' | ');
}

/** Stops a child: SIGTERM, then SIGKILL after `graceMs`. */
async function stop(child, graceMs = 1000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await child.exited;
  clearTimeout(timer);
}

/**
 * Runs `argv` to completion (killed after `timeoutMs`) and parses the last stdout line starting
 * with '{' as JSON. A line "SKIP <reason>" gives `{ skipped: reason }`.
 */
async function runJson(argv, { timeoutMs = 60000, ...options } = {}) {
  const child = start(argv, options);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await child.exited;
  clearTimeout(timer);
  const skip = child.lines.find((l) => l.startsWith('SKIP '));
  if (skip) return { skipped: skip.slice(5) };
  const json = [...child.lines].reverse().find((l) => l.startsWith('{'));
  if (code !== 0 || !json) {
    throw new Error(`${path.basename(String(argv[1] ?? argv[0]))} failed (exit ${code}): ${tail(child)}`);
  }
  return JSON.parse(json);
}

// ---------------------------------------------------------------------------------------------
// Machine

let tasksetCache;
function hasTaskset() {
  if (tasksetCache === undefined) {
    tasksetCache = os.cpus().length >= 2 && spawnSync('taskset', ['-c', '0', 'true']).status === 0;
  }
  return tasksetCache;
}

function which(cmd) {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

function machineInfo() {
  let kernel = os.release();
  const cpus = os.cpus();
  const hardFd = spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).stdout.trim();
  return {
    cpuModel: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    kernel: `${os.type()} ${kernel}`,
    arch: os.arch(),
    memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    node: process.version,
    loadAverage: os.loadavg().map((x) => +x.toFixed(2)),
    taskset: hasTaskset(),
    fdHardLimit: hardFd,
    date: new Date().toISOString(),
  };
}

/** `input` and the local headers it includes (`#include "x.h"`, found beside it, as cc finds them). */
function sourcesOf(input) {
  const text = fs.readFileSync(input, 'utf8');
  return [input, ...[...text.matchAll(/^#include "([^"]+)"/gm)].map((m) => path.join(path.dirname(input), m[1]))];
}

/**
 * Builds `bench/<src>` with cc -O2 into the scratch dir (only when the source, or a local header it
 * includes, is newer); `libs` go last (-lssl).
 */
function buildC(src, libs = []) {
  const cc = which('cc');
  if (!cc) return { skipped: 'no C compiler (cc) on PATH' };
  fs.mkdirSync(SCRATCH, { recursive: true });
  const input = path.join(BENCH, src);
  const output = path.join(SCRATCH, path.basename(src, '.c'));
  try {
    if (!fs.existsSync(output) || fs.statSync(output).mtimeMs < Math.max(...sourcesOf(input).map((f) => fs.statSync(f).mtimeMs))) {
      execFileSync(cc, ['-O2', '-Wall', '-o', output, input, ...libs], { stdio: ['ignore', 'ignore', 'pipe'] });
    }
  } catch (error) {
    return { skipped: `cc failed on ${src}: ${String(error.stderr ?? error.message).trim().split('\n')[0]}` };
  }
  return { path: output };
}

// ---------------------------------------------------------------------------------------------
// Statistics

function summarize(samples) {
  const xs = samples.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (xs.length === 0) return undefined;
  const q = (p) => {
    const i = (xs.length - 1) * p;
    const lo = Math.floor(i);
    return xs[lo] + (xs[Math.ceil(i)] - xs[lo]) * (i - lo);
  };
  return { median: q(0.5), min: xs[0], max: xs[xs.length - 1], q1: q(0.25), q3: q(0.75), n: xs.length };
}

/** Rotates `list` by `round`, so each round starts with a different peer. */
function rotate(list, round) {
  const k = round % Math.max(list.length, 1);
  return [...list.slice(k), ...list.slice(0, k)];
}

function fmt(x, digits = 3) {
  if (x === undefined || x === null || !Number.isFinite(x)) return '-';
  const abs = Math.abs(x);
  if (abs >= 1e9) return `${(x / 1e9).toPrecision(digits)}G`;
  if (abs >= 1e6) return `${(x / 1e6).toPrecision(digits)}M`;
  if (abs >= 1e4) return `${(x / 1e3).toPrecision(digits)}k`;
  if (abs >= 100) return x.toFixed(0);
  return x.toPrecision(digits);
}

const t0 = Date.now();
function progress(message) {
  const s = ((Date.now() - t0) / 1000).toFixed(1).padStart(6);
  process.stdout.write(`[${s}s] ${message}\n`);
}

const node = process.execPath;

module.exports = {
  BENCH,
  ROOT,
  SCRATCH,
  start,
  stop,
  runJson,
  killAll,
  hasTaskset,
  which,
  machineInfo,
  buildC,
  summarize,
  rotate,
  fmt,
  progress,
  node,
};

/**
 * The measurement loop every case uses: `rounds` rounds; in each, every group, and in each group
 * every peer in an order rotated per round (so no peer always goes first or last). `runOne(group,
 * peer, round, server)` returns `{ value, extra? }` or `{ skipped: reason }`. A peer skipped once is not
 * tried again. Returns the groups with `rows` (per peer: samples, stats, extra medians, skipped).
 *
 * With `startServer(peer)` (resolving with `{ child, ... }` or `{ skipped }`), every round starts a
 * fresh server for each of `peers`, one after another, before its first run, and stops them all
 * after its last: idle servers cost no CPU while another peer is measured. A start that throws is
 * that peer's failure for the round; `runOne` gets the peer's server, and is not called when it
 * was skipped or failed (that result stands for the run).
 */
async function collect({ caseId, groups, peers, rounds, runOne, unit, onRound, startServer }) {
  const skipped = new Map();
  const rows = new Map(); // `${group.id}\0${peer}` -> {samples, extras}
  let servers = new Map();
  for (let round = 0; round < rounds; round++) {
    if (startServer) servers = await startServers(peers, startServer);
    if (onRound) await onRound(round, 'start');
    for (const group of groups) {
      const parts = [];
      for (const peer of rotate(group.peers ?? peers, round)) {
        if (skipped.has(peer)) continue;
        let result;
        try {
          const server = servers.get(peer);
          result = server && (server.skipped || server.failed) ? server : await runOne(group, peer, round, server);
        } catch (error) {
          result = { failed: String(error.message ?? error).slice(0, 300) };
        }
        const key = `${group.id}\0${peer}`;
        if (!rows.has(key)) rows.set(key, { samples: [], extras: [], failures: [] });
        if (result.skipped) {
          skipped.set(peer, result.skipped);
          progress(`${caseId}: ${peer} skipped: ${result.skipped}`);
          continue;
        }
        if (result.na) {
          rows.get(key).na = result.na;
          parts.push(`${peer} n/a`);
          continue;
        }
        if (result.failed) {
          rows.get(key).failures.push(result.failed);
          parts.push(`${peer} FAILED`);
          progress(`${caseId}: ${group.id} ${peer} failed: ${result.failed}`);
          continue;
        }
        rows.get(key).samples.push(result.value);
        rows.get(key).extras.push(result.extra ?? {});
        parts.push(`${peer} ${fmt(result.value)}`);
      }
      progress(`${caseId} ${group.label} round ${round + 1}/${rounds}: ${parts.join(', ')}${unit ? ` (${unit})` : ''}`);
    }
    if (onRound) await onRound(round, 'end');
    if (startServer) await Promise.all([...servers.values()].filter((s) => s.child).map((s) => stop(s.child)));
  }
  return groups.map((group) => ({
    id: group.id,
    label: group.label,
    reference: group.reference,
    rows: (group.peers ?? peers).map((peer) => {
      if (skipped.has(peer)) return { peer, skipped: skipped.get(peer) };
      const row = rows.get(`${group.id}\0${peer}`) ?? { samples: [], extras: [], failures: [] };
      const extra = {};
      for (const name of new Set(row.extras.flatMap((e) => Object.keys(e)))) {
        extra[name] = summarize(row.extras.map((e) => e[name]))?.median;
      }
      const stats = summarize(row.samples);
      if (!stats && row.na) return { peer, skipped: row.na };
      if (!stats) return { peer, skipped: `failed: ${row.failures[0] ?? 'no result'}` };
      const extraSamples = {};
      for (const name of Object.keys(extra)) extraSamples[name] = row.extras.map((e) => e[name]);
      return { peer, samples: row.samples, ...stats, extra, extraSamples, failures: row.failures.length || undefined };
    }),
  }));
}

/** Starts `startServer(peer)` for each of `peers` in turn: peer -> server, or `{ failed }` where it threw. */
async function startServers(peers, startServer) {
  const servers = new Map();
  for (const peer of peers) {
    try {
      servers.set(peer, await startServer(peer));
    } catch (error) {
      servers.set(peer, { failed: String(error.message) });
    }
  }
  return servers;
}

/** The row of `peer` in `group` (or undefined). */
function rowOf(groups, groupId, peer) {
  return groups.find((g) => g.id === groupId)?.rows.find((r) => r.peer === peer && !r.skipped);
}

/**
 * Peer `a`'s median over peer `b`'s in group `groupId` (with `field`, the ratio of that extra
 * column's medians instead); undefined when either row is missing or skipped.
 */
function ratioOf(groups, groupId, a, b, field) {
  const ra = rowOf(groups, groupId, a);
  const rb = rowOf(groups, groupId, b);
  if (!ra || !rb) return undefined;
  return field ? ra.extra[field] / rb.extra[field] : ra.median / rb.median;
}

/** Load generator CPU (% of one core, median) from which a run counts as generator-bound. */
const LOADGEN_BOUND_PCT = 95;

/** The note of the highest load generator CPU use (extra column `loadgenCpuPct`) in any run. */
function loadgenCpuNote(groups) {
  const max = Math.max(...groups.flatMap((g) => g.rows.map((r) => r.extra?.loadgenCpuPct ?? 0)));
  return `highest load generator CPU use in any run: ${max.toFixed(0)}% of one core`;
}

/** The result of a case that could not run at all (`skipped` says why). */
function skippedCase(id, title, skipped) {
  return { id, title, skipped, groups: [], targets: [], notes: [] };
}

/** A target line: `ratio` compared with `bound` (`>=` or `<=`); undefined ratio = not measured. */
function target(label, ratio, op, bound, detail = '') {
  const pass = ratio === undefined || !Number.isFinite(ratio) ? undefined : op === '>=' ? ratio >= bound : op === '<' ? ratio < bound : ratio <= bound;
  return { label, ratio, op, bound, pass, detail };
}

module.exports.collect = collect;
module.exports.rowOf = rowOf;
module.exports.ratioOf = ratioOf;
module.exports.target = target;
module.exports.LOADGEN_BOUND_PCT = LOADGEN_BOUND_PCT;
module.exports.loadgenCpuNote = loadgenCpuNote;
module.exports.skippedCase = skippedCase;

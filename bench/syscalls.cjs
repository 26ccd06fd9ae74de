'use strict';
// System calls per echoed message, epoll vs io_uring servers (issue 16): each server runs under the
// C load generator (64 B x 100 connections, 1 and 16 in flight); while it runs, the server's
// system calls are counted for one second with `perf stat -e raw_syscalls:sys_enter -p PID`
// (counts every thread of the process; low overhead), divided by the messages echoed in that
// second. Then `strace -c -f -p PID` attaches for one second of a second run for the breakdown by
// name (strace slows the server, so only its proportions are used, not its totals).
//   node bench/syscalls.cjs [--peers=c-epoll,c-uring,...] [--seconds=1]
// Writes bench/results/local/syscalls.{json,md}. Needs perf (or strace) and root or
// kernel.perf_event_paranoid <= 0; a missing tool is reported, not fatal.
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { buildC, start, which, progress, killAll } = require('./lib/common.cjs');
const { startServer, stop } = require('./lib/echo.cjs');

const DEFAULT_PEERS = ['c-epoll', 'c-uring', 'muxloop-protocol-owning', 'muxloop-protocol-hosted', 'muxloop-uring-owning', 'muxloop-uring-hosted'];
const CONFIGS = [
  { size: 64, conns: 100, depth: 1 },
  { size: 64, conns: 100, depth: 16 },
];

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')));
const peers = args.peers ? args.peers.split(',') : DEFAULT_PEERS;
const seconds = Number(args.seconds ?? 1);

function wait(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs `argv` to completion; resolves with { code, stdout, stderr }. */
function run(argv, timeoutMs) {
  return new Promise((resolve) => {
    const child = start(argv);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.exited.then((code) => {
      clearTimeout(timer);
      resolve({ code, stdout: child.lines.join('\n'), stderr: child.stderrText });
    });
  });
}

function loadgenArgv(bin, port, c, duration) {
  return [bin, `--port=${port}`, `--conns=${c.conns}`, `--size=${c.size}`, `--depth=${c.depth}`, '--warmup=0.2', `--duration=${duration}`];
}

/** msgs/s and syscalls/s of one server under load, measured over the same second. */
async function measure(server, loadgen, c) {
  const gen = run(loadgenArgv(loadgen, server.port, c, seconds + 0.8), 60_000);
  await wait(500);
  const counted = await run(['perf', 'stat', '-x', ',', '-e', 'raw_syscalls:sys_enter', '-p', String(server.child.pid), '--', 'sleep', String(seconds)], 30_000);
  const g = await gen;
  const report = JSON.parse(g.stdout.trim().split('\n').pop());
  const line = counted.stderr.split('\n').find((l) => l.includes('raw_syscalls:sys_enter'));
  const calls = line ? Number(line.split(',')[0]) : NaN;
  return { msgsPerSec: report.msgsPerSec, syscallsPerSec: calls / seconds, perMsg: calls / seconds / report.msgsPerSec };
}

/** strace -c breakdown (calls per name) for one second of load. */
async function breakdown(server, loadgen, c) {
  const gen = run(loadgenArgv(loadgen, server.port, c, seconds + 0.8), 60_000);
  await wait(400);
  const out = path.join(require('node:os').tmpdir(), `muxloop-strace-${process.pid}.txt`);
  const tids = fs.readdirSync(`/proc/${server.child.pid}/task`);
  const tracer = start(['strace', '-c', '-f', '-o', out, ...tids.flatMap((t) => ['-p', t])]);
  await wait(seconds * 1000);
  tracer.kill('SIGINT');
  await tracer.exited;
  await gen;
  const text = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : '';
  fs.rmSync(out, { force: true });
  const calls = {};
  for (const l of text.split('\n')) {
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:(\d+)\s+)?(\w+)\s*$/.exec(l);
    if (m && m[3] !== 'total') calls[m[3]] = Number(m[1]);
  }
  const total = Object.values(calls).reduce((a, b) => a + b, 0);
  return Object.fromEntries(
    Object.entries(calls)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 5)
      .map(([k, v]) => [k, Number((v / total).toFixed(3))]),
  );
}

async function main() {
  const loadgen = buildC('loadgen.c');
  if (loadgen.skipped) throw new Error(loadgen.skipped);
  const havePerf = which('perf') !== undefined && spawnSync('perf', ['stat', '-e', 'raw_syscalls:sys_enter', '--', 'true']).status === 0;
  const haveStrace = which('strace') !== undefined;
  const load = require('node:os').loadavg().map((x) => x.toFixed(2));
  progress(`syscalls per message; load average ${load.join(' ')}; perf ${havePerf ? 'yes' : 'no'}, strace ${haveStrace ? 'yes' : 'no'}`);
  const rows = [];
  for (const c of CONFIGS) {
    for (const peer of peers) {
      const server = await startServer(peer);
      if (server.skipped) {
        rows.push({ ...c, peer, skipped: server.skipped });
        continue;
      }
      try {
        const row = { ...c, peer };
        if (havePerf) Object.assign(row, await measure(server, loadgen.path, c));
        if (haveStrace) row.shares = await breakdown(server, loadgen.path, c);
        rows.push(row);
        progress(`${c.size} B x ${c.conns} x ${c.depth}: ${peer}: ${row.perMsg?.toFixed(3)} syscalls/msg at ${Math.round(row.msgsPerSec)} msgs/s ${JSON.stringify(row.shares ?? {})}`);
      } finally {
        await stop(server.child);
      }
    }
  }
  const dir = path.join(__dirname, 'results', 'local');
  fs.mkdirSync(dir, { recursive: true });
  const result = { date: new Date().toISOString(), loadAverage: load, seconds, rows };
  fs.writeFileSync(path.join(dir, 'syscalls.json'), JSON.stringify(result, null, 2));
  const md = [
    `# System calls per echoed message (${result.date}, load average ${load.join(' ')})`,
    '',
    'perf stat -e raw_syscalls:sys_enter -p SERVER for 1 s under load; shares by name from strace -c (a second run).',
    '',
    '| config | server | msgs/s | syscalls/s | syscalls per msg | top syscalls (share) |',
    '| --- | --- | ---: | ---: | ---: | --- |',
    ...rows.map((r) =>
      r.skipped
        ? `| ${r.size} B x ${r.conns} x ${r.depth} | ${r.peer} | skipped: ${r.skipped} | | | |`
        : `| ${r.size} B x ${r.conns} x ${r.depth} | ${r.peer} | ${Math.round(r.msgsPerSec ?? NaN)} | ${Math.round(r.syscallsPerSec ?? NaN)} | ${(r.perMsg ?? NaN).toFixed(3)} | ${Object.entries(r.shares ?? {}).map(([k, v]) => `${k} ${v}`).join(', ')} |`,
    ),
    '',
  ].join('\n');
  fs.writeFileSync(path.join(dir, 'syscalls.md'), md);
  process.stdout.write(md);
}

main()
  .catch((error) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => killAll());

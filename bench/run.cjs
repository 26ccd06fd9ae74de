'use strict';
// The bench driver. `npm run bench` (everything, about 15 minutes on 2 cores) or
// `npm run bench:quick` (under 2 minutes):
//   node bench/run.cjs [--quick] [--only=callbacks,timers,tasks,queues,echo,pipelined,selectors,connections,executors,subprocess,tls]
//                      [--peers=c-epoll,c-uring,...] (echo: only these servers; a partial run)
// Every case runs each peer in its own child process, peers alternating, several rounds; the
// figures are medians with their spread. Writes bench/results/latest.{json,md,svg} (quick mode:
// bench/results/local/quick.{json,md,svg}, ignored by git) and prints the table and the target PASS/MISS lines. A missed target does
// not fail the run; a broken harness does.
const path = require('node:path');
const fs = require('node:fs');
const { machineInfo, progress, killAll, buildC, ROOT } = require('./lib/common.cjs');
const { writeAll } = require('./report.cjs');

const CASES = ['callbacks', 'timers', 'tasks', 'queues', 'echo', 'pipelined', 'wakeup', 'selectors', 'connections', 'executors', 'subprocess', 'tls'];

async function main() {
  const argv = process.argv.slice(2);
  const quick = argv.includes('--quick');
  const only = argv.find((a) => a.startsWith('--only='))?.slice(7).split(',');
  const peers = argv.find((a) => a.startsWith('--peers='))?.slice(8).split(',');
  const unknown = (only ?? []).filter((c) => !CASES.includes(c));
  if (unknown.length) throw new Error(`unknown case(s) ${unknown.join(', ')}; known: ${CASES.join(', ')}`);
  if (!fs.existsSync(path.join(ROOT, 'dist', 'index.js'))) throw new Error('dist/ is missing: run `npm run build:ts` first');
  const started = Date.now();
  const machine = machineInfo();
  progress(`muxloop bench ${quick ? '(quick) ' : ''}on ${machine.cpuModel}, ${machine.cores} cores, Node ${machine.node}, load ${machine.loadAverage.join(' ')}`);
  for (const src of ['loadgen.c', 'servers/echo_epoll.c', 'servers/echo_uring.c']) {
    const r = buildC(src);
    progress(r.skipped ? `build ${src}: ${r.skipped}` : `built ${path.relative(ROOT, r.path)}`);
  }
  const cases = [];
  for (const id of only ?? CASES) {
    const mod = require(`./cases/${id}.cjs`);
    progress(`-- case ${id}`);
    const t = Date.now();
    const result = await mod.run({ quick, peers });
    result.seconds = (Date.now() - t) / 1000;
    progress(`-- case ${id} done in ${result.seconds.toFixed(1)} s`);
    cases.push(result);
  }
  const run = {
    mode: quick ? 'quick' : 'full',
    command: `node bench/run.cjs ${argv.join(' ')}`.trim(),
    roundsNote: quick ? '2 rounds' : '3-5 rounds',
    machine,
    durationSeconds: (Date.now() - started) / 1000,
    cases,
  };
  // Only the full run's results are committed; quick and partial runs go to an ignored folder.
  const full = !quick && !only && !peers;
  const dir = full ? path.join(__dirname, 'results') : path.join(__dirname, 'results', 'local');
  fs.mkdirSync(dir, { recursive: true });
  const base = quick ? 'quick' : only || peers ? 'partial' : 'latest';
  process.stdout.write(writeAll(run, dir, base));
  progress(`results: ${['json', 'md', 'svg'].map((e) => path.relative(process.cwd(), path.join(dir, `${base}.${e}`))).join(', ')}`);
  progress(`total ${run.durationSeconds.toFixed(0)} s`);
}

main()
  .catch((error) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => killAll());

'use strict';
// F5 (reliability.md section 2, issue 17): many concurrent echo connections for a while, then all
// closed; the server's fds and RSS must come back to the baseline (within 5%) and no transport or
// protocol may stay reachable. The server is a muxloop Protocol echo server on a hosted loop in
// this process; the clients are Node's own sockets in a child process (echo-clients.cjs).
//
//   node test/soak/echo-soak.cjs                                 # 10,000 connections, 60 s
//   node test/soak/echo-soak.cjs --connections 1000 --seconds 5  # the CI version
//   options: --selector epoll|poll|io_uring (select stops at FD_SETSIZE), --rss-tolerance 0.05,
//            --warmup 200 (connections), --settle 15 (idle seconds before the last figures)
//
// Baseline: after a warm-up round (--warmup, 200 connections: JIT code, the selector's tables and
// the loop's pools exist) and full GCs; --warmup equal to --connections measures against the
// high-water mark instead, which tells a leak (grows every round) from memory the allocator keeps. "Retained": every server transport and protocol is put in a
// FinalizationRegistry; after closing and GCs the number not yet finalized must be 0 (what a
// heap snapshot would show as retained, counted without writing one; --snapshot <file> writes
// v8.writeHeapSnapshot too). Prints the figures and one JSON line; exits 1 when a check fails.
// Loopback only; bounded by --connections and --seconds. Needs connections + ~100 fds in this
// process and as many in the child: the soft `ulimit -n` is raised up to the hard limit.
const path = require('node:path');
const v8 = require('node:v8');
const { spawn } = require('node:child_process');
const readline = require('node:readline');
const { parseArgs, openFds, rssMb, heapMb, settleGc, ensureFdLimit } = require('./soak-common.cjs');

const opts = parseArgs({ connections: 10000, seconds: 60, warmup: 200, settle: 15, selector: 'epoll', 'rss-tolerance': 0.05, snapshot: '' });
if (typeof global.gc !== 'function' || ensureFdLimit(opts.connections + 200, ['--expose-gc'])) {
  if (typeof global.gc !== 'function' && !process.exitCode) {
    const r = require('node:child_process').spawnSync(process.execPath, ['--expose-gc', ...process.argv.slice(1)], { stdio: 'inherit' });
    process.exitCode = r.status ?? 1;
  }
  return;
}

const muxloop = require('muxloop');

const loop = muxloop.newEventLoop({ selector: new (muxloop.selectorClass(opts.selector))() });
const errors = [];
loop.setExceptionHandler((_l, ctx) => errors.push(ctx.message + (ctx.exception ? `: ${ctx.exception.message}` : '')));
let live = 0;
let made = 0;
let lost = 0;
const registry = new FinalizationRegistry(() => { live--; });

class Echo extends muxloop.Protocol {
  connectionMade(t) {
    this.t = t;
    made++;
    live += 2;
    registry.register(t, 'transport');
    registry.register(this, 'protocol');
  }
  dataReceived(data) { this.t.write(data); }
  eofReceived() { return false; }
  connectionLost() { lost++; this.t = null; }
}

const turn = () => new Promise((r) => setImmediate(r));
const snap = (label) => {
  const mu = process.memoryUsage();
  return { label, fds: openFds(), rss: rssMb(), heap: heapMb(), heapTotal: mu.heapTotal / 1048576, external: mu.external / 1048576, live, made, lost };
};

function runClients(port, connections, seconds, onPhase) {
  const child = spawn(process.execPath, [path.join(__dirname, 'echo-clients.cjs'), String(port), String(connections), String(seconds)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = readline.createInterface({ input: child.stdout });
  const done = new Promise((resolve, reject) => {
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`clients exited with ${code}`))));
  });
  lines.on('line', (line) => onPhase(JSON.parse(line), () => child.stdin.write('close\n')));
  return done;
}

async function waitFor(cond, ms) {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await muxloop.sleep(0.02);
  return cond();
}

async function main() {
  const server = await loop.createServer(() => new Echo(), '127.0.0.1', 0, { backlog: 4096 });
  const port = server.sockets[0].getsockname()[1];

  // Warm-up, then the baseline.
  await runClients(port, opts.warmup, 1, (msg, close) => { if (msg.phase === 'ran') close(); });
  await waitFor(() => lost === made, 10000);
  await settleGc(turn);
  const base = snap('baseline');

  let during = null;
  let ran = null;
  const t0 = Date.now();
  await runClients(port, opts.connections, opts.seconds, (msg, close) => {
    if (msg.phase === 'connected') during = snap('connected');
    if (msg.phase === 'ran') {
      ran = msg;
      during = { ...snap('end of run'), connectedAt: during };
      close();
    }
  });
  const runMs = Date.now() - t0;
  const allLost = await waitFor(() => lost === made, 30000);
  await settleGc(turn);
  // --settle N (15): stay idle N s, then GC again. V8 gives reserved heap pages back lazily (its
  // memory reducer runs once the isolate is idle): right after the close the heap is back to
  // 5.6 MB but about 30 MB of heapTotal is still mapped; after 15 s idle it is released.
  if (opts.settle > 0) {
    await muxloop.sleep(opts.settle);
    await settleGc(turn);
  }
  const after = snap('after close');
  if (opts.snapshot) v8.writeHeapSnapshot(opts.snapshot);
  server.close();
  await server.waitClosed();
  return { base, during, after, ran, runMs, allLost };
}

loop.runUntilComplete(main()).then((r) => {
  loop.close();
  const { base, during, after, ran } = r;
  const peak = during.connectedAt;
  const rssDelta = (after.rss - base.rss) / base.rss;
  const checks = {
    'all connections made': ran.connected === opts.connections,
    'every byte echoed, in order': ran.echoed === ran.sent && ran.mismatched === 0 && ran.errors.length === 0,
    'every server transport lost': r.allLost,
    'fds back to baseline': after.fds === base.fds,
    [`RSS within ${opts['rss-tolerance'] * 100}% of baseline`]: Math.abs(rssDelta) <= opts['rss-tolerance'],
    'no transport or protocol retained': after.live === 0,
    'no loop errors': errors.length === 0,
  };
  const mb = (x) => `${x.toFixed(1)} MB`;
  console.log(`F5 echo soak, ${opts.connections} connections for ${opts.seconds} s on ${opts.selector}:`);
  console.log(`  baseline     fds ${base.fds}, rss ${mb(base.rss)}, heap ${mb(base.heap)}`);
  console.log(`  connected    fds ${peak.fds}, rss ${mb(peak.rss)}, heap ${mb(peak.heap)}, live objects ${peak.live}`);
  console.log(`  end of run   fds ${during.fds}, rss ${mb(during.rss)}, heap ${mb(during.heap)}; ${ran.sent} bytes sent, ${ran.echoed} echoed`);
  console.log(`  after close  fds ${after.fds}, rss ${mb(after.rss)} (${(rssDelta * 100).toFixed(1)}%), heap ${mb(after.heap)}, live objects ${after.live}`);
  console.log(`  V8 heap reserved (heapTotal) ${mb(base.heapTotal)} -> ${mb(peak.heapTotal)} -> ${mb(after.heapTotal)}; external ${mb(base.external)} -> ${mb(after.external)}`);
  for (const [name, ok] of Object.entries(checks)) console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${name}`);
  if (errors.length) console.log('  loop errors:', errors.slice(0, 5));
  console.log(JSON.stringify({ soak: 'F5', options: opts, base, peak, end: { ...during, connectedAt: undefined }, after, rssDelta, ran, checks, errors: errors.slice(0, 5) }));
  process.exitCode = Object.values(checks).every(Boolean) ? 0 : 1;
}, (e) => { console.error(e); process.exitCode = 1; });

'use strict';
// F6 (reliability.md section 2, issue 17): connect/close cycles against a muxloop server, both
// ends muxloop transports on one hosted loop; fds and RSS must stay flat, and running out of
// ephemeral ports (EADDRNOTAVAIL) must be a clean error, never a crash or a leaked fd.
//
//   node test/soak/churn-soak.cjs                      # 1,000,000 cycles
//   node test/soak/churn-soak.cjs --cycles 20000       # the CI version
//   options: --concurrency 64, --selector epoll|poll|select|io_uring, --rss-tolerance 0.05
//
// A cycle: createConnection to 127.0.0.1, the server accepts, the client closes, the server sees
// EOF and closes. The client closing first leaves its port in TIME_WAIT; on loopback Linux
// reuses those (net.ipv4.tcp_tw_reuse=2, the default), elsewhere a long run may exhaust the
// ephemeral range: then connect fails with EADDRNOTAVAIL, which is counted (it must be an Error
// with that code) and the cycle is retried after 10 ms. Samples fds and RSS every 10% of the run;
// "flat" compares the end with the sample at half way (the first half is warm-up: V8's code and
// young generation, malloc's arenas). Prints the figures and
// one JSON line; exits 1 when a check fails. Loopback only; bounded by --cycles.
const { parseArgs, openFds, rssMb, heapMb, settleGc, ensureFdLimit } = require('./soak-common.cjs');

const opts = parseArgs({ cycles: 1000000, concurrency: 64, selector: 'epoll', 'rss-tolerance': 0.05 });
if (typeof global.gc !== 'function' || ensureFdLimit(2 * opts.concurrency + 200, ['--expose-gc'])) {
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
const counts = { done: 0, accepted: 0, serverLost: 0, addrNotAvail: 0, otherErrors: [] };

class Sink extends muxloop.Protocol {
  connectionMade() { counts.accepted++; }
  eofReceived() { return false; }
  connectionLost() { counts.serverLost++; }
}

const turn = () => new Promise((r) => setImmediate(r));
const sample = () => ({ at: counts.done, fds: openFds(), rss: rssMb(), heap: heapMb() });

async function main() {
  const server = await loop.createServer(() => new Sink(), '127.0.0.1', 0, { backlog: 1024 });
  const port = server.sockets[0].getsockname()[1];
  await settleGc(turn);
  const base = sample();
  const samples = [];
  let next = 0;
  const step = Math.max(1, Math.floor(opts.cycles / 10));
  const t0 = Date.now();
  async function worker() {
    while (next < opts.cycles) {
      next++;
      for (;;) {
        try {
          const closed = loop.createFuture();
          const [t] = await loop.createConnection(() => ({ connectionLost() { closed.setResult(); } }), '127.0.0.1', port);
          t.close();
          await closed;
          break;
        } catch (e) {
          if (e && e.code === 'EADDRNOTAVAIL') {
            counts.addrNotAvail++;
            await muxloop.sleep(0.01);
            continue;
          }
          if (counts.otherErrors.length < 10) counts.otherErrors.push(String(e && (e.code || e.message)));
          break;
        }
      }
      counts.done++;
      if (counts.done % step === 0) {
        global.gc();
        samples.push(sample());
      }
    }
  }
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  const seconds = (Date.now() - t0) / 1000;
  const end = Date.now() + 10000;
  while (counts.serverLost < counts.accepted && Date.now() < end) await muxloop.sleep(0.02);
  // EADDRNOTAVAIL for certain, whatever the port range: a local address this host does not have
  // (TEST-NET-1, RFC 5737). Must be a coded Error, with no fd left behind.
  const fdsBefore = openFds();
  try {
    await loop.createConnection(() => ({}), '127.0.0.1', port, { localAddr: ['192.0.2.1', 0] });
    counts.forced = 'connected?';
  } catch (e) {
    counts.forced = e && e.code;
  }
  counts.forcedFdsLeft = openFds() - fdsBefore;
  await settleGc(turn);
  const after = sample();
  server.close();
  await server.waitClosed();
  return { base, samples, after, seconds };
}

loop.runUntilComplete(main()).then((r) => {
  loop.close();
  const { base, samples, after, seconds } = r;
  const warm = samples[Math.floor(samples.length / 2) - 1] ?? base;
  const rssDrift = (after.rss - warm.rss) / warm.rss;
  const checks = {
    'every cycle completed': counts.done === opts.cycles && counts.otherErrors.length === 0,
    'every accepted connection closed on the server': counts.serverLost === counts.accepted,
    'fds back to baseline': after.fds === base.fds,
    'fds flat during the run': samples.every((s) => s.fds <= base.fds + 2 * opts.concurrency + 2),
    [`RSS flat within ${opts['rss-tolerance'] * 100}% (half way to the end)`]: Math.abs(rssDrift) <= opts['rss-tolerance'],
    'EADDRNOTAVAIL is a coded error and leaks no fd': counts.forced === 'EADDRNOTAVAIL' && counts.forcedFdsLeft === 0,
    'no loop errors': errors.length === 0,
  };
  const mb = (x) => `${x.toFixed(1)} MB`;
  console.log(`F6 churn, ${opts.cycles} connect/close cycles, ${opts.concurrency} at a time, on ${opts.selector}: ${seconds.toFixed(1)} s (${Math.round(opts.cycles / seconds)} cycles/s)`);
  console.log(`  baseline  fds ${base.fds}, rss ${mb(base.rss)}, heap ${mb(base.heap)}`);
  for (const s of samples) console.log(`  ${String(s.at).padStart(8)}  fds ${s.fds}, rss ${mb(s.rss)}, heap ${mb(s.heap)}`);
  console.log(`  after     fds ${after.fds}, rss ${mb(after.rss)} (${(rssDrift * 100).toFixed(1)}% from half way), heap ${mb(after.heap)}`);
  console.log(`  EADDRNOTAVAIL during the run (clean, retried): ${counts.addrNotAvail}; other errors: ${counts.otherErrors.length}; forced one (bind to 192.0.2.1): ${counts.forced}, fds left ${counts.forcedFdsLeft}`);
  for (const [name, ok] of Object.entries(checks)) console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${name}`);
  if (errors.length) console.log('  loop errors:', errors.slice(0, 5));
  console.log(JSON.stringify({ soak: 'F6', options: opts, seconds, base, samples, after, rssDrift, counts, checks, errors: errors.slice(0, 5) }));
  process.exitCode = Object.values(checks).every(Boolean) ? 0 : 1;
}, (e) => { console.error(e); process.exitCode = 1; });

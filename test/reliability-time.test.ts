// Time and memory (issue 17; reliability.md C11, F7), each in a child process.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const DIST = join(__dirname, '..', 'dist');
import { existsSync } from 'node:fs';
// libfaketime itself (the faketime wrapper's -f would take precedence over the timestamp file).
const LIBFAKETIME = [`/usr/lib/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu/faketime/libfaketime.so.1`, '/usr/lib/faketime/libfaketime.so.1'].find((p) => existsSync(p));
const hasFaketime = LIBFAKETIME !== undefined;
if (!hasFaketime) console.warn('C11 skipped: faketime is missing (Debian package faketime; .ci/run installs it)');

function lastJson(stdout: string): any {
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]);
}

describe('C11: a wall clock jump does not move loop timers', () => {
  // libfaketime with the monotonic clock left alone, the wall clock read from a file on every call
  // (FAKETIME_NO_CACHE): the child itself moves the wall clock by an hour, forward then back,
  // while a timer is pending. Under ASan this would need libasan first in LD_PRELOAD: plain build.
  it.skipIf(!hasFaketime || process.env.MUXLOOP_SANITIZED)('jumps of +1 h and -1 h of the wall clock: timers fire on the monotonic clock, loop.time() is monotonic', () => {
    const dir = mkdtempSync(join(tmpdir(), 'muxloop-c11-'));
    const stamp = join(dir, 'faketime');
    writeFileSync(stamp, '+0\n');
    const script = `
      const fs = require('node:fs');
      const m = require(${JSON.stringify(join(DIST, 'index.js'))});
      const loop = m.newEventLoop();
      const results = [];
      const guard = setTimeout(() => { console.log(JSON.stringify({ hung: true, results })); process.exit(3); }, 15000);
      async function one(jump) {
        const wall0 = Date.now(), mono0 = process.hrtime.bigint(), loop0 = loop.time();
        const fired = loop.createFuture();
        loop.callLater(0.3, () => fired.setResult({ wall: Date.now() - wall0, mono: Number(process.hrtime.bigint() - mono0) / 1e6, loopDt: loop.time() - loop0 }));
        await new Promise((r) => loop.callLater(0.05, r));
        fs.writeFileSync(${JSON.stringify(stamp)}, jump + '\\n');
        const r = await fired;
        fs.writeFileSync(${JSON.stringify(stamp)}, '+0\\n');
        results.push({ jump, ...r });
      }
      loop.runUntilComplete((async () => { await one('+1h'); await one('-1h'); })()).then(() => {
        clearTimeout(guard); loop.close(); console.log(JSON.stringify({ results }));
      });
    `;
    const r = spawnSync(process.execPath, ['-e', script], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, FAKETIME_DONT_FAKE_MONOTONIC: '1', FAKETIME_NO_CACHE: '1', FAKETIME_TIMESTAMP_FILE: stamp, LD_PRELOAD: LIBFAKETIME as string },
    });
    const out = lastJson(r.stdout);
    console.log('C11 figures (ms):', JSON.stringify(out.results));
    expect(out.hung).toBeUndefined();
    const [fwd, back] = out.results;
    // The wall clock really jumped for the child...
    expect(fwd.wall).toBeGreaterThan(3_500_000);
    expect(back.wall).toBeLessThan(-3_500_000);
    // ...and the timers neither fired early (forward) nor waited an hour (back): 0.3 s of
    // monotonic time had passed, and loop.time() moved by about that, not by the jump.
    for (const x of [fwd, back]) {
      expect(x.mono).toBeGreaterThanOrEqual(299);
      expect(x.loopDt).toBeGreaterThanOrEqual(0.299);
      expect(x.loopDt).toBeLessThan(60);
    }
  }, 40_000);
});

describe('F7: 1,000,000 live timers', () => {
  it('schedule and cancel a million timers; after cancel and GC the heap is back near its baseline (figures printed)', () => {
    const script = `
      const m = require(${JSON.stringify(join(DIST, 'index.js'))});
      const loop = m.newEventLoop();
      const heap = () => { for (let i = 0; i < 3; i++) global.gc(); return process.memoryUsage().heapUsed; };
      const N = 1000000;
      loop.runUntilComplete((async () => {
        await new Promise((r) => loop.callLater(0, r));
        const base = heap();
        let t0 = process.hrtime.bigint();
        let handles = new Array(N);
        for (let i = 0; i < N; i++) handles[i] = loop.callLater(1000 + (i % 9973), () => {});
        const scheduleMs = Number(process.hrtime.bigint() - t0) / 1e6;
        const peak = heap();
        t0 = process.hrtime.bigint();
        for (let i = 0; i < N; i++) handles[i].cancel();
        const cancelMs = Number(process.hrtime.bigint() - t0) / 1e6;
        handles = null;
        await new Promise((r) => loop.callLater(0, r)); await new Promise((r) => loop.callLater(0, r)); // an iteration or two: cancelled timers are compacted
        const after = heap();
        return { base, peak, after, scheduleMs, cancelMs };
      })()).then((r) => { loop.close(); console.log(JSON.stringify(r)); });
    `;
    const r = spawnSync(process.execPath, ['--expose-gc', '--max-old-space-size=2048', '-e', script], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const f = lastJson(r.stdout);
    const mb = (x: number): string => (x / 1048576).toFixed(1);
    console.log(`F7: heap base ${mb(f.base)} MB, with 1e6 timers ${mb(f.peak)} MB, after cancel+GC ${mb(f.after)} MB; schedule ${f.scheduleMs.toFixed(0)} ms, cancel ${f.cancelMs.toFixed(0)} ms`);
    // The timers did take memory (at least 40 bytes each)...
    expect(f.peak - f.base).toBeGreaterThan(40 * 1e6);
    // ...and it was given back: less than 10% of it remains.
    expect(f.after - f.base).toBeLessThan((f.peak - f.base) * 0.1);
  }, 150_000);
});

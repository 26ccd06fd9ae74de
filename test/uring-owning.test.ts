// Owning mode on an io_uring loop sleeps in the ring, not in epoll_wait (native/host/loop_host.h,
// "With a CompletionWaiter"): one io_uring_enter per iteration submits and waits, the ring polls
// the epoll set, and epoll_wait runs only when the set has something. What that poll must not
// lose runs in a child (owning mode needs a CommonJS top level): test/fixtures/owning-uring.cjs.
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { uringIoAvailable } from './helpers';

const FIXTURES = path.join(__dirname, 'fixtures');

function runFixture(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['owning-uring.cjs'], { timeout: 60_000, cwd: FIXTURES }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stdout, stderr });
    });
  });
}

describe.runIf(uringIoAvailable())('owning mode in the io_uring ring', () => {
  it('echoes with one ring wait per iteration and epoll_wait only when the set has something; level-triggered fds, Node timers, a rebuilt epoll set (within and across runs) all still wake it', async () => {
    const r = await runFixture();
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout.trim().split('\n').pop() as string);
    expect(report).toMatchObject({
      echoed: 500,
      deferTaskrun: 1, // the engine was made for the owning run: its completions wait for its enters
      levelCalls: 3,
      node: 'timeout+immediate',
      afterRebuild: 'late',
      rebuilds: 1,
      betweenRuns: { rebuilds: 1 },
      secondRun: 'again',
    });
    // The run waited in the ring (the hosted route never does: 0), and asked epoll for events only
    // when the ring's poll of the set said it had some: 1,000 messages, a handful of epoll_waits.
    expect(report.waits).toBeGreaterThanOrEqual(500);
    expect(report.polls).toBeLessThan(report.waits / 10);
  }, 60_000);
});

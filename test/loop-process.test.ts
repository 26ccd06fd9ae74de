// The loop in child processes: hosted mode from CommonJS, from an ES module and in worker threads;
// owning mode at CommonJS top level, and its refusals; idle CPU; the process exits when it should.
// Children load the built package (`npm test` runs tsc first), through its own name.
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { availableSelectors } from '../lib/selectors';

const FIXTURES = path.join(__dirname, 'fixtures');
const KINDS = availableSelectors();
const ALL_PROBES = ['await', 'readFile', 'signal', 'timeout', 'worker'];

interface ChildResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runChild(script: string, args: string[] = [], timeoutMs = 20_000, nodeArgs: string[] = []): Promise<ChildResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...nodeArgs, path.join(FIXTURES, script), ...args],
      { timeout: timeoutMs, cwd: FIXTURES, env: { ...process.env, DBG: '' } },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** The last line of stdout, as JSON; fails with the child's output otherwise. */
function lastJson(result: ChildResult): Record<string, unknown> {
  const line = result.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    throw new Error(`child printed no JSON (code ${result.code}):\n${result.stdout}\n${result.stderr}`);
  }
}

describe('iterations back to back while only callbacks are queued', () => {
  it.each(['hosted', 'owning'])('%s: ticks and chained promise jobs run between iterations, and Node gets its turns', async (mode) => {
    const result = await runChild('spin.cjs', [mode]);
    expect(result.code).toBe(0);
    const out = lastJson(result);
    expect(out.order).toEqual(['a', 'tick', 'microtask', 'b', 'job 1', 'job 2', 'c']);
    // Both ran; their order is libuv's and the clock's (a 5 ms timer comes first on a loaded machine).
    expect([...(out.nodeTurns as string[])].sort()).toEqual(['immediate', 'timeout']);
    expect(out.chainEndedByNode).toBe(true);
  });
});

describe.each(KINDS)('%s backend in child processes', (kind) => {
  it('hosted mode from CommonJS: every must-hold probe, then the process exits by itself', async () => {
    const result = await runChild('hosted.cjs', [kind]);
    expect(result.code).toBe(0);
    expect((lastJson(result).seen as string[]).sort()).toEqual(ALL_PROBES);
  });

  it('hosted mode from an ES module with top-level await', async () => {
    const result = await runChild('hosted.mjs', [kind]);
    expect(result.code).toBe(0);
    expect((lastJson(result).seen as string[]).sort()).toEqual(ALL_PROBES);
  });

  it('owning mode at CommonJS top level: every must-hold probe', async () => {
    const result = await runChild('owning.cjs', [kind]);
    expect(result.code).toBe(0);
    expect((lastJson(result).seen as string[]).sort()).toEqual(ALL_PROBES);
  });

  it('owning mode with a loop that never waits: Node timers, fs, workers, signals and TCP still run', async () => {
    const result = await runChild('owning-busy.cjs', [kind]);
    expect(result.code).toBe(0);
    const json = lastJson(result);
    expect((json.seen as string[]).sort()).toEqual([...ALL_PROBES, 'net'].sort());
    // The chain kept the loop busy throughout: many iterations, none of them a wait.
    expect(json.iterations as number).toBeGreaterThan(100);
  });

  it('a loop in a worker thread; terminating a worker whose loop runs leaks no fd', async () => {
    const result = await runChild('worker.cjs', [kind]);
    expect(result.code).toBe(0);
    const json = lastJson(result);
    expect((json.seen as string[]).sort()).toEqual(['await', 'readFile', 'timeout', 'worker']);
    expect(json.fdsLeaked).toBe(0);
  });

  it('an idle loop waiting on a 2 s timer does not busy-poll, hosted or owning', async () => {
    const [hosted, owning] = await Promise.all([runChild('idle-cpu.cjs', ['hosted', kind]), runChild('idle-cpu.cjs', ['owning', kind])]);
    for (const result of [hosted, owning]) {
      expect(result.code).toBe(0);
      const { wallMs, cpuMs } = lastJson(result) as { wallMs: number; cpuMs: number };
      expect(wallMs).toBeGreaterThanOrEqual(1990);
      // A busy loop would be near 100%; this is a semantic check, not a speed threshold.
      expect(cpuMs / wallMs).toBeLessThan(0.25);
    }
  });

  it('never keeps the process alive by accident (C15: hosted, a future nothing can complete)', async () => {
    const results = await Promise.all(
      ['not-running', 'after-run', 'pending-future'].map((scenario) => runChild('exit.cjs', [scenario, kind], 10_000)),
    );
    expect(results.map((r) => r.code)).toEqual([0, 0, 0]);
    expect(results.map((r) => lastJson(r))).toEqual([
      { scenario: 'not-running', code: 0, running: false },
      { scenario: 'after-run', code: 0, running: false },
      { scenario: 'pending-future', code: 0, running: true },
    ]);
  });
});

describe.each(['hosted', 'owning'])('a throwing process.nextTick queued by a loop callback (%s)', (mode) => {
  it('is reported as uncaught; with a handler the loop goes on', async () => {
    const result = await runChild('tick-throw.cjs', ['handled', mode]);
    expect(result.code).toBe(0);
    expect(lastJson(result)).toEqual({ settled: true, caught: ['tick boom'], ran: ['next callback', 'timer'] });
  });

  it('without a handler the process dies of it, as Node does', async () => {
    const result = await runChild('tick-throw.cjs', ['unhandled', mode]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('Error: tick boom');
  });
});

describe('owning mode refusals', () => {
  it('outside CommonJS top level it throws ERR_LOOP_CANNOT_OWN_THREAD at once; with nothing to wait for, ERR_LOOP_WOULD_BLOCK_FOREVER', async () => {
    const result = await runChild('owning-refused.cjs');
    expect(result.code).toBe(0);
    expect(lastJson(result)).toEqual({
      wouldBlock: 'ERR_LOOP_WOULD_BLOCK_FOREVER',
      microtask: 'ERR_LOOP_CANNOT_OWN_THREAD',
      microtaskMs: expect.any(Number),
      timeout: 'ERR_LOOP_CANNOT_OWN_THREAD',
      timeoutMs: expect.any(Number),
      immediate: 'ERR_LOOP_CANNOT_OWN_THREAD',
      immediateMs: expect.any(Number),
      insideHosted: 'ERR_LOOP_RUNNING',
      insideHostedMs: expect.any(Number),
    });
    const json = lastJson(result) as Record<string, number>;
    for (const key of ['microtaskMs', 'timeoutMs', 'immediateMs', 'insideHostedMs']) expect(json[key]).toBeLessThan(1000);
  });

  it('at ES module top level it is refused', async () => {
    const result = await runChild('owning-refused.mjs');
    expect(result.code).toBe(0);
    expect(lastJson(result)).toEqual({ esm: 'ERR_LOOP_CANNOT_OWN_THREAD' });
  });
});

describe('Future exceptions nobody retrieved', () => {
  it('are reported through the exception handler at garbage collection, once; retrieved ones are not', async () => {
    const result = await runChild('unretrieved.cjs', [], 20_000, ['--expose-gc']);
    expect(result.code).toBe(0);
    expect(lastJson(result)).toEqual({ reports: ['Future exception was never retrieved: lost'] });
  });
});

describe('worker threads terminated at random moments', () => {
  it('never crash and leave no fd behind', async () => {
    const result = await runChild('worker-stress.cjs', [], 60_000);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(lastJson(result)).toEqual({ workers: 12 * availableSelectors().length, fdsLeaked: 0 });
  });
});

// Threads scheduling work on a loop: worker threads call callbacks registered on a hosted loop
// (this process) and on an owning loop (a child process at CommonJS top level), through both wake
// mechanisms, on every backend; callSoonThreadsafe on the loop's own thread; closing with writers
// about; refusals. Leak-checked (the pipe of an 'fd' scheduler, the loop's selector).
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { createThreadsafeScheduler, openThreadsafeHandle } from '../lib/loop/threadsafe';
import { availableSelectors } from '../lib/selectors';
import { useRealLoop } from './helpers';

const FIXTURES = path.join(__dirname, 'fixtures');
const WORKER = path.join(FIXTURES, 'threadsafe-worker.cjs');
const MECHANISMS = ['fd', 'port'] as const;

describe.each(availableSelectors())('%s backend', (kind) => {
  const fx = useRealLoop(kind);

  describe.each(MECHANISMS)('mechanism %s', (mechanism) => {
    it('workers wake a waiting hosted loop; each worker\'s calls run in order, as loop callbacks', async () => {
      const { loop } = fx;
      const scheduler = fx.track(createThreadsafeScheduler(loop, { mechanism }));
      const seen = new Map<number, number[]>();
      let done = 0;
      const finished = loop.createFuture<void>();
      scheduler.register('tick', (i: number, id: number) => {
        expect(loop.isRunning()).toBe(true);
        const list = seen.get(id) ?? [];
        list.push(i);
        seen.set(id, list);
      });
      scheduler.register('done', () => {
        if (++done === 2) finished.setResult();
      });
      const workers = [0, 1].map(() => {
        const { handle, transferList } = scheduler.handle();
        const worker = new Worker(WORKER, { workerData: { handle, count: 40, spaced: true }, transferList });
        return new Promise((resolve) => worker.once('exit', resolve));
      });
      // Nothing else is scheduled on the loop: only the workers' wakes can finish this.
      const guard = loop.callLater(5, () => finished.done() || finished.setException(new Error(`a wake was lost: ${done} done, ${[...seen.values()].map((l) => l.length)} ticks`)));
      await loop.runUntilComplete(finished);
      guard.cancel();
      await Promise.all(workers);
      expect([...seen.values()].map((list) => list.join())).toEqual([0, 1].map(() => [...Array(40).keys()].join()));
    });

    it('owning mode (child process at CommonJS top level): workers wake the blocked loop', async () => {
      const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        execFile(process.execPath, [path.join(FIXTURES, 'threadsafe-owning.cjs'), mechanism, kind], { timeout: 30_000, cwd: FIXTURES }, (error, stdout, stderr) =>
          resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stdout, stderr }),
        );
      });
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(JSON.parse(result.stdout.trim().split('\n').pop() ?? '')).toEqual({ ticks: 100, ordered: true });
    });

    it('an unknown name reaches the exception handler; the loop goes on', async () => {
      const { loop } = fx;
      const scheduler = fx.track(createThreadsafeScheduler(loop, { mechanism }));
      const finished = loop.createFuture<void>();
      scheduler.register('done', () => finished.setResult());
      const { handle, transferList } = scheduler.handle();
      const worker = new Worker(
        `const { workerData } = require('node:worker_threads');
         const h = require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'loop', 'threadsafe.js'))}).openThreadsafeHandle(workerData);
         h.callSoon('nobody', 1); h.callSoon('done'); h.close();`,
        { eval: true, workerData: handle, transferList },
      );
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      await loop.runUntilComplete(finished);
      await exited;
      expect(fx.errors.map((e) => (e.exception as { code: string }).code)).toEqual(['ERR_THREADSAFE_UNKNOWN_CALLBACK']);
      fx.errors.length = 0;
    });

    it('after close, calls are dropped (false) and handle() is refused', () => {
      const scheduler = createThreadsafeScheduler(fx.loop, { mechanism });
      const { handle } = scheduler.handle();
      const remote = openThreadsafeHandle(handle);
      scheduler.close();
      scheduler.close();
      expect(remote.callSoon('x')).toBe(mechanism === 'fd' ? false : true);
      remote.close();
      expect(remote.callSoon('x')).toBe(false);
      expect(() => scheduler.handle()).toThrow(expect.objectContaining({ code: 'ERR_THREADSAFE_CLOSED' }));
    });
  });

  it('close() while a worker keeps calling: the worker sees false, no write reaches a closed fd, nothing leaks', async () => {
    const scheduler = createThreadsafeScheduler(fx.loop, { mechanism: 'fd' });
    const { handle, transferList } = scheduler.handle();
    const worker = new Worker(
      `const { workerData, parentPort } = require('node:worker_threads');
       const h = require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'loop', 'threadsafe.js'))}).openThreadsafeHandle(workerData);
       let n = 0;
       while (h.callSoon('tick', n) && n < 1e7) if (++n === 1000) parentPort.postMessage('calling');
       parentPort.postMessage(n);`,
      { eval: true, workerData: handle, transferList },
    );
    const messages: unknown[] = [];
    const finished = new Promise<void>((resolve) => worker.on('message', (m) => messages.push(m) === 2 && resolve()));
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    await new Promise<void>((resolve) => worker.once('message', () => resolve()));
    scheduler.close(); // the loop never ran: what was posted is dropped with the ports
    await finished;
    await exited;
    expect(messages[0]).toBe('calling');
    expect(messages[1]).toBeGreaterThanOrEqual(1000);
    expect(messages[1]).toBeLessThan(1e7);
  });

  it('callSoonThreadsafe on the loop thread, from a Node callback while the hosted loop waits, wakes it', async () => {
    const { loop } = fx;
    const finished = loop.createFuture<string>();
    setTimeout(() => loop.callSoonThreadsafe(() => finished.setResult('woken')), 10);
    expect(await loop.runUntilComplete(finished)).toBe('woken');
  });
});

describe('argument checks', () => {
  const fx = useRealLoop(availableSelectors()[0]);

  it('refuses a bad mechanism, a closed loop, bad names and callbacks, a bad handle', () => {
    expect(() => createThreadsafeScheduler(fx.loop, { mechanism: 'smoke' as 'fd' })).toThrow(TypeError);
    const scheduler = fx.track(createThreadsafeScheduler(fx.loop));
    expect(() => scheduler.register(1 as unknown as string, () => 1)).toThrow(TypeError);
    expect(() => scheduler.register('x', 1 as unknown as () => void)).toThrow(TypeError);
    expect(() => openThreadsafeHandle({} as never)).toThrow(TypeError);
    scheduler.close();
    fx.loop.close();
    expect(() => createThreadsafeScheduler(fx.loop)).toThrow(expect.objectContaining({ code: 'ERR_LOOP_CLOSED' }));
  });
});

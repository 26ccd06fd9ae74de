// Executors: one behaviour suite for ThreadPoolExecutor and ProcessPoolExecutor (both forms of
// work, transfer, cancellation of queued and running jobs, errors, crashes, shutdown), then
// runInExecutor / toThread / the default executor on a real loop. Jobs prove what ran by writing
// files (shared by threads and processes alike); every test ends with the fd leak check.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CancelledError } from '../lib/tasks/futures';
import '../lib/tasks/tasks';
import { type BasePoolExecutor, transfer } from '../lib/loop/executors';
import { ProcessPoolExecutor } from '../lib/loop/process_pool';
import { peekDefaultExecutor, runInExecutor, shutdownDefaultExecutor, toThread } from '../lib/loop/run_in_executor';
import { ThreadPoolExecutor } from '../lib/loop/thread_pool';
import { useFdLeakCheck, useRealLoop } from './helpers';

const TASKS = path.join(__dirname, 'fixtures', 'executor-tasks.cjs');

const POOLS = [
  ['ThreadPoolExecutor', (maxWorkers: number) => new ThreadPoolExecutor({ filename: TASKS, maxWorkers })],
  ['ProcessPoolExecutor', (maxWorkers: number) => new ProcessPoolExecutor({ filename: TASKS, maxWorkers })],
] as const;

function waitForFile(file: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 20_000;
    const check = (): void => {
      if (existsSync(file)) resolve();
      else if (Date.now() > deadline) reject(new Error(`${file} never appeared`));
      else setTimeout(check, 5);
    };
    check();
  });
}

describe.each(POOLS)('%s', (_name, makePool) => {
  useFdLeakCheck();
  let dir = '';
  let pools: BasePoolExecutor[] = [];
  const pool = (maxWorkers = 2): BasePoolExecutor => {
    const p = makePool(maxWorkers);
    pools.push(p);
    return p;
  };
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'muxloop-executors-'));
    pools = [];
  });
  // Registered after the leak check, so it runs before it: the workers are gone when fds are counted.
  afterEach(async () => {
    await Promise.all(pools.map((p) => p.shutdown(true)));
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs a module export and a self-contained function (sync and async), with arguments', async () => {
    const p = pool();
    expect(await p.submit('add', 2, 3).promise).toBe(5);
    expect(await p.submit('later', 21).promise).toBe(42);
    expect(await p.submit((a: number, b: string) => `${b}${a * 2}`, 21, 'x').promise).toBe('x42');
    // Written with new Function because vitest rewrites import() and imported names in this file's
    // own functions (and the worker would rightly refuse those as closures).
    const usesImport = new Function('n', "return import('node:path').then((p) => p.join('a', String(n)));");
    expect(await p.submit(usesImport as (n: number) => Promise<string>, 7).promise).toBe(path.join('a', '7'));
    // A method that does not use `this` is sent as a function.
    const obj = { square(x: number) { return x * x; } };
    expect(await p.submit(obj.square, 9).promise).toBe(81);
    // Structured clone: Maps, Dates, typed arrays, cycles.
    const cyclic: Record<string, unknown> = { when: new Date(0), map: new Map([[1, 'a']]) };
    cyclic.self = cyclic;
    const back = (await p.submit((value: Record<string, unknown>) => value, cyclic).promise) as Record<string, unknown>;
    expect(back.self).toBe(back);
    expect(back.map).toEqual(new Map([[1, 'a']]));
  });

  it('transfer(): a buffer argument is moved to a thread (copied to a process); a result can be moved back', async () => {
    const p = pool();
    const bytes = new Uint8Array([1, 2, 3, 4]);
    expect(await p.submit('sum', transfer(bytes, [bytes.buffer])).promise).toBe(10);
    expect(bytes.byteLength).toBe(p instanceof ThreadPoolExecutor ? 0 : 4);
    // `transfer` is the name the worker gives functions sent by value (new Function: see above).
    const makes = new Function('n', 'const out = new Uint8Array(n).fill(7); return transfer(out, [out.buffer]);');
    const made = (await p.submit(makes as (n: number) => Uint8Array, 1024).promise) as Uint8Array;
    expect(made.byteLength).toBe(1024);
    expect(made[1023]).toBe(7);
  });

  it('a job that throws rejects with that error: class, message, own properties, and a stack through the job', async () => {
    const error = (await pool().submit('fail', 'bad input').promise.catch((e: unknown) => e)) as RangeError & {
      code: string;
      detail: unknown;
    };
    expect(error).toBeInstanceOf(RangeError);
    expect(error.message).toBe('bad input');
    expect(error.code).toBe('E_JOB');
    expect(error.detail).toEqual({ n: 1 });
    expect(error.stack).toContain('failingJob');
    expect(error.stack).toContain('executor-tasks.cjs');
  });

  it('values that cannot be cloned: an argument is ERR_EXECUTOR_DATA_CLONE, a result a coded error; the pool goes on', async () => {
    const p = pool(1);
    const arg = await p.submit((x: unknown) => typeof x, () => 1).promise.catch((e: unknown) => e);
    expect(arg).toBeInstanceOf(TypeError);
    expect(arg).toMatchObject({ code: 'ERR_EXECUTOR_DATA_CLONE' });
    const result = await p.submit(() => () => 1).promise.catch((e: unknown) => e);
    // A thread's reply fails inside piscina's worker, which piscina treats as the thread failing.
    expect(result).toMatchObject({ code: p instanceof ThreadPoolExecutor ? 'ERR_WORKER_CRASHED' : 'ERR_EXECUTOR_DATA_CLONE' });
    expect(await p.submit('add', 1, 2).promise).toBe(3);
  });

  it('a closure is refused with ERR_EXECUTOR_CLOSURE; `this` with ERR_EXECUTOR_THIS', async () => {
    const p = pool();
    const captured = 5;
    const closure = await p.submit((x: number) => x * captured, 2).promise.catch((e: unknown) => e);
    expect(closure).toMatchObject({ code: 'ERR_EXECUTOR_CLOSURE' });
    expect((closure as Error).message).toContain('captured');
    const obj = { factor: 3, times(x: number) { return x * this.factor; } };
    expect(await p.submit(obj.times, 2).promise.catch((e: unknown) => e)).toMatchObject({ code: 'ERR_EXECUTOR_THIS' });
    // The pool is unharmed.
    expect(await p.submit('add', 1, 1).promise).toBe(2);
  });

  it('bound, native, class and accessor functions are refused at submit; bad work and a missing filename too', () => {
    const p = pool();
    const notSendable = expect.objectContaining({ code: 'ERR_EXECUTOR_NOT_SENDABLE' });
    expect(() => p.submit(((x: number) => x).bind(null))).toThrow(notSendable);
    expect(() => p.submit(Math.max)).toThrow(notSendable);
    expect(() => p.submit(class A {} as never)).toThrow(notSendable);
    const getter = Object.getOwnPropertyDescriptor({ get x() { return 1; } }, 'x')?.get as () => number;
    expect(() => p.submit(getter)).toThrow(notSendable);
    expect(() => p.submit(42 as never)).toThrow(TypeError);
    const bare = new ThreadPoolExecutor({ maxWorkers: 1 });
    pools.push(bare);
    expect(() => bare.submit('add')).toThrow(expect.objectContaining({ code: 'ERR_EXECUTOR_NO_FILENAME' }));
    expect(() => new ThreadPoolExecutor({ maxWorkers: 0 })).toThrow(RangeError);
    expect(() => new ProcessPoolExecutor({ filename: 'relative.js' })).toThrow(TypeError);
  });

  it('cancel() of a queued job: it leaves the queue and never runs', async () => {
    const p = pool(1);
    const started = path.join(dir, 'started');
    const release = path.join(dir, 'release');
    const marks = path.join(dir, 'marks');
    const blocker = p.submit('startThenWait', started, release, 'first');
    const queued = p.submit('mark', marks, 'queued');
    await waitForFile(started);
    expect(queued.state).toBe('queued');
    expect(queued.cancel()).toBe(true);
    expect(queued.cancel()).toBe(false);
    expect(queued.state).toBe('cancelled');
    await expect(queued.promise).rejects.toBeInstanceOf(CancelledError);
    writeFileSync(release, '');
    expect(await blocker.promise).toBe('first');
    // The single worker has taken everything queued after it by now.
    expect(await p.submit('mark', marks, 'after').promise).toBe('after');
    expect(readFileSync(marks, 'utf8')).toBe('after\n');
  });

  it('cancel() of a running job returns false: it finishes', async () => {
    const p = pool(1);
    const started = path.join(dir, 'started');
    const release = path.join(dir, 'release');
    const job = p.submit('startThenWait', started, release, 'done');
    await waitForFile(started);
    expect(job.state).toBe('running');
    expect(job.cancel()).toBe(false);
    writeFileSync(release, '');
    expect(await job.promise).toBe('done');
  });

  it('a worker that dies rejects its job with ERR_WORKER_CRASHED and is replaced: the next job succeeds', async () => {
    const p = pool(1);
    const crash = await p.submit('die', 3).promise.catch((e: unknown) => e);
    expect(crash).toMatchObject({ code: 'ERR_WORKER_CRASHED' });
    expect(await p.submit('add', 40, 2).promise).toBe(42);
    expect(await p.submit(() => 'again').promise).toBe('again');
  });

  it('shutdown(true): refuses new jobs at once, resolves after the queued and running ones finished', async () => {
    const p = pool(1);
    const release = path.join(dir, 'release');
    const order: string[] = [];
    const running = p.submit<string>('waitFor', release, 'running').promise.then((v) => order.push(v));
    const queued = p.submit('add', 1, 2).promise.then(() => order.push('queued'));
    const shutdown = p.shutdown(true).then(() => order.push('shutdown'));
    expect(() => p.submit('add', 1, 2)).toThrow(expect.objectContaining({ code: 'ERR_EXECUTOR_SHUTDOWN' }));
    expect(p.isShutdown).toBe(true);
    writeFileSync(release, '');
    await Promise.all([running, queued, shutdown]);
    expect(order).toEqual(['running', 'queued', 'shutdown']);
  });

  it('shutdown(false) returns before the running job ends, which still completes; cancelFutures drops the queued', async () => {
    const p = pool(1);
    const started = path.join(dir, 'started');
    const release = path.join(dir, 'release');
    const marks = path.join(dir, 'marks');
    const running = p.submit('startThenWait', started, release, 'finished');
    const queued = p.submit('mark', marks, 'queued');
    await waitForFile(started);
    await p.shutdown(false, { cancelFutures: true });
    expect(running.state).toBe('running');
    expect(queued.state).toBe('cancelled');
    writeFileSync(release, '');
    expect(await running.promise).toBe('finished');
    await expect(queued.promise).rejects.toBeInstanceOf(CancelledError);
    await p.shutdown(true);
    expect(existsSync(marks)).toBe(false);
  });

  it('Symbol.asyncDispose shuts down and waits', async () => {
    const p = makePool(1);
    const result = await p.submit('add', 1, 1).promise;
    await p[Symbol.asyncDispose]();
    expect(result).toBe(2);
    expect(p.isShutdown).toBe(true);
  });
});

describe('runInExecutor and toThread on a loop', () => {
  const fx = useRealLoop('poll');
  let dir = '';
  const pools: BasePoolExecutor[] = [];
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'muxloop-executors-'));
  });
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((p) => p.shutdown(true)));
    await shutdownDefaultExecutor(fx.loop);
    rmSync(dir, { recursive: true, force: true });
  });

  it('returns a Future of the loop; the default executor is made once, on first use, and closed by shutdownDefaultExecutor', async () => {
    const { loop } = fx;
    expect(peekDefaultExecutor(loop)).toBeUndefined();
    const first = runInExecutor(loop, null, (x: number) => x + 1, 1);
    const executor = peekDefaultExecutor(loop);
    expect(executor).toBeInstanceOf(ThreadPoolExecutor);
    expect(first.getLoop()).toBe(loop);
    const second = runInExecutor(loop, undefined, (x: number) => x + 2, 1);
    expect(peekDefaultExecutor(loop)).toBe(executor);
    expect(await loop.runUntilComplete(first)).toBe(2);
    expect(await loop.runUntilComplete(second)).toBe(3);
    await shutdownDefaultExecutor(loop);
    expect(executor?.isShutdown).toBe(true);
    expect(() => runInExecutor(loop, null, () => 1)).toThrow(expect.objectContaining({ code: 'ERR_EXECUTOR_SHUTDOWN' }));
  });

  it('toThread runs in the running loop\'s default pool; outside a running loop it throws ERR_NO_RUNNING_LOOP', async () => {
    const { loop } = fx;
    expect(() => toThread(() => 1)).toThrow(expect.objectContaining({ code: 'ERR_NO_RUNNING_LOOP' }));
    const main = loop.createTask(async () => {
      const [a, b] = await Promise.all([toThread((n: number) => n * 2, 21), toThread(() => 'b')]);
      return `${a}${b}`;
    });
    const result = await loop.runUntilComplete(main);
    expect(result).toBe('42b');
  });

  it('a named export through an explicit executor; a job error becomes the Future\'s exception', async () => {
    const { loop } = fx;
    const pool = new ThreadPoolExecutor({ filename: TASKS, maxWorkers: 1 });
    pools.push(pool);
    expect(await loop.runUntilComplete(runInExecutor(loop, pool, 'add', 20, 22))).toBe(42);
    const failed = runInExecutor(loop, pool, 'fail', 'no');
    await expect(loop.runUntilComplete(failed)).rejects.toMatchObject({ code: 'E_JOB', message: 'no' });
  });

  it('cancelling the Future of a queued job: the job never runs', async () => {
    const { loop } = fx;
    const pool = new ThreadPoolExecutor({ filename: TASKS, maxWorkers: 1 });
    pools.push(pool);
    const started = path.join(dir, 'started');
    const release = path.join(dir, 'release');
    const marks = path.join(dir, 'marks');
    const blocker = runInExecutor(loop, pool, 'startThenWait', started, release, 'first');
    const queued = runInExecutor(loop, pool, 'mark', marks, 'queued');
    await waitForFile(started);
    expect(queued.cancel()).toBe(true);
    writeFileSync(release, '');
    expect(await loop.runUntilComplete(blocker)).toBe('first');
    expect(await loop.runUntilComplete(runInExecutor(loop, pool, 'mark', marks, 'after'))).toBe('after');
    expect(readFileSync(marks, 'utf8')).toBe('after\n');
    expect(queued.cancelled()).toBe(true);
  });

  it('cancelling the Future of a running job: the job finishes, its result is dropped, nothing is reported', async () => {
    const { loop } = fx;
    const pool = new ThreadPoolExecutor({ filename: TASKS, maxWorkers: 1 });
    pools.push(pool);
    const started = path.join(dir, 'started');
    const release = path.join(dir, 'release');
    const marks = path.join(dir, 'marks');
    const running = runInExecutor(loop, pool, 'startThenWait', started, release, 'dropped');
    await waitForFile(started);
    expect(running.cancel()).toBe(true);
    writeFileSync(release, '');
    // The worker is free again only once the running job has finished.
    expect(await loop.runUntilComplete(runInExecutor(loop, pool, 'mark', marks, 'next'))).toBe('next');
    expect(running.cancelled()).toBe(true);
    expect(fx.errors).toEqual([]);
  });

  it('refuses a closed loop and a non-executor', () => {
    const { loop } = fx;
    expect(() => runInExecutor(loop, {} as never, () => 1)).toThrow(TypeError);
    loop.close();
    expect(() => runInExecutor(loop, null, () => 1)).toThrow(expect.objectContaining({ code: 'ERR_LOOP_CLOSED' }));
  });
});

describe('owning mode', () => {
  it('a task at CommonJS top level awaits toThread and process-pool jobs; the process then exits by itself', async () => {
    const fixture = path.join(__dirname, 'fixtures', 'executor-owning.cjs');
    const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [fixture], { timeout: 30_000, cwd: path.dirname(fixture) }, (error, stdout, stderr) =>
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stdout, stderr }),
      );
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout.trim())).toEqual({ results: [42, 'thread', 42], ticks: ['timer'] });
  });
});

describe('shutdown holds the process alive', () => {
  // Idle process-pool children are unref'd so an idle pool does not keep Node running; a
  // shutdown that waits for them must ref them again, or `await pool.shutdown(true)` as the last
  // pending thing lets Node exit with the await never settling (seen in the README example).
  it('await pool.shutdown(true) settles, then the loop goes on (process pool and default thread pool)', async () => {
    const script = `
      const { run, toThread, getRunningLoop, ProcessPoolExecutor } = require(${JSON.stringify(path.join(__dirname, '..', 'dist'))});
      run(async () => {
        const loop = getRunningLoop();
        const pool = new ProcessPoolExecutor({ maxWorkers: 1 });
        await loop.runInExecutor(pool, () => 1);
        await pool.shutdown(true);
        console.log('after shutdown', await toThread((x) => x * 2, 21));
      }).then(() => console.log('run done'));`;
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ['-e', script], { timeout: 60_000 }, (error, stdout, stderr) =>
        error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout),
      ),
    );
    expect(out).toBe('after shutdown 42\nrun done\n');
  });
});

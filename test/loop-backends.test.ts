// The loop on every real backend (epoll, poll, select here; kqueue where it exists), hosted on
// Node's libuv: the ordering contract again, fd watching on real socketpairs, coexistence with
// Node (the must-hold list of issue 4), and an fd leak check after each test.
import { readFileSync, readlinkSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventLoop } from '../lib/loops';
import { availableSelectors, selectorClass, type SelectorKind } from '../lib/selectors';
import { binding } from '../lib/core/native';
import type { ExceptionContext } from '../lib/core/events';
import { FdScope, drain, openFdCount, openFds, poke } from './helpers';

describe.each(availableSelectors())('%s backend, hosted', (kind: SelectorKind) => {
  let fds: FdScope;
  let loop: EventLoop;
  let baseline: number;
  let errors: ExceptionContext[];

  beforeEach(() => {
    baseline = openFdCount();
    fds = new FdScope();
    loop = new EventLoop({ selector: new (selectorClass(kind))() });
    errors = [];
    loop.setExceptionHandler((_loop, context) => errors.push(context));
  });

  afterEach(() => {
    if (!loop.isRunning()) loop.close();
    fds.closeAll();
    expect(errors).toEqual([]);
    expect(openFdCount()).toBe(baseline);
  });

  it('orders callSoon, callLater and callAt like asyncio', async () => {
    const calls: string[] = [];
    const t = loop.time();
    loop.callLater(0.02, () => calls.push('later 0.02'));
    loop.callAt(t + 0.01, () => calls.push('at +0.01'));
    loop.callLater(0, () => calls.push('later 0'));
    loop.callSoon(() => calls.push('soon 1'));
    loop.callSoon(() => calls.push('soon 2'));
    loop.callLater(-1, () => calls.push('later -1'));
    for (let i = 0; i < 5; i++) loop.callAt(t + 0.03, () => calls.push(`equal ${i}`));
    loop.callAt(t + 0.04, () => loop.stop());
    await loop.runForever();
    expect(calls).toEqual([
      'soon 1',
      'soon 2',
      'later -1',
      'later 0',
      'at +0.01',
      'later 0.02',
      'equal 0',
      'equal 1',
      'equal 2',
      'equal 3',
      'equal 4',
    ]);
  });

  it('timers never fire early', async () => {
    const lateness: number[] = [];
    for (const delay of [0.001, 0.005, 0.013, 0.03]) {
      const due = loop.time() + delay;
      loop.callAt(due, () => lateness.push(loop.time() - due));
    }
    loop.callLater(0.05, () => loop.stop());
    await loop.runForever();
    expect(lateness).toHaveLength(4);
    for (const late of lateness) expect(late).toBeGreaterThanOrEqual(0);
  });

  it('a chain of shrinking delays (1e-2 s down to 1e-10 s) takes a few iterations, no spin (C7)', async () => {
    const delays = [1e-2, 1e-4, 1e-6, 1e-8, 1e-10];
    const next = (): void => {
      const delay = delays.shift();
      if (delay === undefined) loop.stop();
      else loop.callLater(delay, next);
    };
    loop.callSoon(next);
    await loop.runForever();
    expect(loop.iterationCount).toBeLessThanOrEqual(20);
  });

  it('addReader on a socketpair: replacing reader, removal, unregistered when no interest remains', async () => {
    const [a, b] = fds.socketpair();
    const calls: string[] = [];
    loop.addReader(a, () => calls.push('first'));
    loop.addReader(a, () => {
      calls.push(`second:${drain(a)}`);
      expect(loop.removeReader(a)).toBe(true);
      expect(loop.removeReader(a)).toBe(false);
      loop.stop();
    });
    loop.callLater(0.01, () => poke(b, 'abc'));
    await loop.runForever();
    expect(calls).toEqual(['second:3']);
  });

  it('addWriter fires while writable; reader and writer on one fd', async () => {
    const [a, b] = fds.socketpair();
    const calls: string[] = [];
    loop.addWriter(a, () => {
      calls.push('writable');
      loop.removeWriter(a);
      poke(a, 'x');
    });
    loop.addReader(b, () => {
      calls.push(`readable:${drain(b)}`);
      loop.removeReader(b);
      loop.stop();
    });
    await loop.runForever();
    expect(calls).toEqual(['writable', 'readable:1']);
  });

  it('I/O is processed every iteration while a callback keeps rescheduling itself (C8)', async () => {
    const [a, b] = fds.socketpair();
    let spins = 0;
    const reads: number[] = [];
    const spin = (): void => {
      spins++;
      if (loop.isRunning()) loop.callSoon(spin);
    };
    loop.callSoon(spin);
    loop.addReader(a, () => {
      drain(a);
      reads.push(spins);
      if (reads.length === 3) {
        loop.removeReader(a);
        loop.stop();
      } else {
        poke(b);
      }
    });
    poke(b);
    await loop.runForever();
    expect(reads[1] - reads[0]).toBe(1);
    expect(reads[2] - reads[1]).toBe(1);
  });

  it('a reader added and removed from a Node callback while the loop waits (guarded selector use)', async () => {
    const [a, b] = fds.socketpair();
    const calls: string[] = [];
    loop.callLater(0.3, () => loop.stop());
    setTimeout(() => {
      loop.addReader(a, () => {
        calls.push(`read:${drain(a)}`);
        loop.removeReader(a);
        loop.stop();
      });
      setTimeout(() => poke(b, 'zz'), 10);
    }, 20);
    await loop.runForever();
    expect(calls).toEqual(['read:2']);
  });

  it('callSoon, callSoonThreadsafe and stop from Node callbacks wake a waiting loop', async () => {
    const calls: string[] = [];
    loop.callLater(10, () => calls.push('never'));
    const started = loop.time();
    setTimeout(() => loop.callSoonThreadsafe(() => calls.push('threadsafe')), 10);
    setTimeout(() => loop.callSoon(() => calls.push('soon')), 20);
    setTimeout(() => loop.stop(), 30);
    await loop.runForever();
    expect(calls).toEqual(['threadsafe', 'soon']);
    expect(loop.time() - started).toBeLessThan(5);
  });

  it('must hold: Node setTimeout, fs.promises, worker messages and signals all progress while it runs', async () => {
    const seen: string[] = [];
    const fut = loop.createFuture<void>();
    const pending = new Set(['timeout', 'readFile', 'worker', 'signal']);
    const mark = (what: string): void => {
      seen.push(what);
      pending.delete(what);
      if (pending.size === 0 && !fut.done()) fut.setResult();
    };
    setTimeout(() => mark('timeout'), 10);
    void readFile(__filename).then(() => mark('readFile'));
    const worker = new Worker('require("worker_threads").parentPort.postMessage("hi")', { eval: true });
    worker.once('message', () => mark('worker'));
    const onSignal = (): void => mark('signal');
    process.once('SIGUSR2', onSignal);
    loop.callLater(0.02, () => process.kill(process.pid, 'SIGUSR2'));
    const guard = loop.callLater(10, () => loop.stop());
    try {
      await loop.runUntilComplete(fut);
    } finally {
      guard.cancel();
      process.off('SIGUSR2', onSignal);
      await worker.terminate();
    }
    expect(new Set(seen)).toEqual(new Set(['timeout', 'readFile', 'worker', 'signal']));
  });

  it('must hold: an async function awaiting a Future resumes in the iteration it was resolved in or the next', async () => {
    let iteration = 0;
    let resolvedIn = -1;
    let resumedIn = -1;
    const fut = loop.createFuture<number>();
    const counter = (): void => {
      iteration++;
      if (iteration === 5) {
        fut.setResult(5);
        resolvedIn = iteration;
      }
      if (iteration < 20) loop.callSoon(counter);
      else loop.stop();
    };
    loop.callSoon(counter);
    const waiter = (async () => {
      await fut;
      resumedIn = iteration;
      // And the loop can be used from the async function, too.
      await new Promise<void>((resolve) => loop.callSoon(resolve));
    })();
    await loop.runForever();
    await waiter;
    expect(resumedIn - resolvedIn).toBeGreaterThanOrEqual(0);
    expect(resumedIn - resolvedIn).toBeLessThanOrEqual(1);
  });

  it('a loop that always has work does not starve Node: setInterval and a SIGTERM handler still run (C12)', async () => {
    let intervals = 0;
    let signals = 0;
    let spins = 0;
    const interval = setInterval(() => intervals++, 10);
    const onTerm = (): void => {
      signals++;
    };
    process.on('SIGTERM', onTerm);
    const spin = (): void => {
      spins++;
      if (loop.isRunning()) loop.callSoon(spin);
    };
    loop.callSoon(spin);
    loop.callLater(0.05, () => process.kill(process.pid, 'SIGTERM'));
    loop.callLater(0.2, () => loop.stop());
    try {
      await loop.runForever();
    } finally {
      clearInterval(interval);
      process.off('SIGTERM', onTerm);
    }
    expect(spins).toBeGreaterThan(10);
    expect(intervals).toBeGreaterThanOrEqual(5);
    expect(signals).toBe(1);
  });

  it('process.nextTick queued by a callback runs before the next iteration', async () => {
    const calls: string[] = [];
    loop.callSoon(() => {
      process.nextTick(() => calls.push('tick'));
      void Promise.resolve().then(() => calls.push('microtask'));
      loop.callSoon(() => {
        calls.push('next iteration');
        loop.stop();
      });
      calls.push('callback');
    });
    await loop.runForever();
    expect(calls).toEqual(['callback', 'tick', 'microtask', 'next iteration']);
  });

  it('runUntilComplete with a Promise; the loop does not keep a ref after the run', async () => {
    await expect(loop.runUntilComplete(new Promise((resolve) => setTimeout(() => resolve('ok'), 5)))).resolves.toBe(
      'ok',
    );
    expect(loop.isRunning()).toBe(false);
    expect(process.getActiveResourcesInfo().filter((r) => /Poll|Idle|Async/.test(r))).toEqual([]);
  });

  it('back-to-back runs on one loop, each with an fd watched (handles closed and made again)', async () => {
    const [a, b] = fds.socketpair();
    let reads = 0;
    loop.addReader(a, () => {
      drain(a);
      reads++;
      loop.stop();
    });
    for (let run = 0; run < 20; run++) {
      poke(b);
      await loop.runForever();
    }
    expect(reads).toBe(20);
    loop.removeReader(a);
  });

  it('a selector closed under a running loop does not crash it', async () => {
    const [a] = fds.socketpair();
    const sel = new (selectorClass(kind))();
    const other = new EventLoop({ selector: sel });
    other.addReader(a, () => {});
    other.callLater(0.02, () => sel.close());
    other.callLater(0.05, () => other.stop());
    await other.runForever();
    other.close();
  });

  it('owning mode is refused inside vitest (not CommonJS top level)', () => {
    expect(() => loop.runForeverSync()).toThrow(expect.objectContaining({ code: 'ERR_LOOP_CANNOT_OWN_THREAD' }));
    expect(() => loop.runUntilCompleteSync(loop.createFuture())).toThrow(
      expect.objectContaining({ code: 'ERR_LOOP_CANNOT_OWN_THREAD' }),
    );
    expect(loop.isRunning()).toBe(false);
  });
});

describe('native LoopHost argument checks', () => {
  it('refuses a non-selector, a bad buffer and a selector already hosted', () => {
    const out = new Int32Array(8);
    expect(() => new binding.LoopHost({} as never, () => {}, out)).toThrow(TypeError);
    const sel = new binding.Selector('poll');
    expect(() => new binding.LoopHost(sel, 1 as never, out)).toThrow(TypeError);
    expect(() => new binding.LoopHost(sel, () => {}, new Int32Array(1))).toThrow(RangeError);
    const host = new binding.LoopHost(sel, () => {}, out);
    expect(host.mode).toBe('thread');
    expect(() => new binding.LoopHost(sel, () => {}, out)).toThrow(expect.objectContaining({ code: 'ERR_SELECTOR_IN_USE' }));
    expect(() => host.arm(Number.NaN, false, false)).toThrow(RangeError);
    expect(() => host.arm(0, 1 as never, false)).toThrow(TypeError);
    host.close();
    host.close();
    expect(() => host.arm(0, false, false)).toThrow(expect.objectContaining({ code: 'ERR_LOOP_HOST_CLOSED' }));
    sel.close();
  });
});

/** Both ends of the pipe created since `before` (the host's self-pipe), by /proc/self/fd links. */
function newPipe(before: Set<number>): { read: number; write: number } {
  const link = (fd: number): string => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      return '';
    }
  };
  const writeOnly = (fd: number): boolean =>
    (parseInt(/flags:\s*(\d+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1] ?? '0', 8) & 3) === 1;
  const all = [...openFds()];
  // The read end may reuse the number readdir itself had when `before` was taken: find the write
  // end among the new fds, then its peer by pipe inode among all of them.
  const write = all.find((fd) => !before.has(fd) && link(fd).startsWith('pipe:') && writeOnly(fd));
  if (write === undefined) throw new Error('no new pipe');
  const read = all.find((fd) => fd !== write && link(fd) === link(write));
  if (read === undefined) throw new Error('no read end');
  return { read, write };
}

const THREADED = availableSelectors().filter((kind) => kind === 'poll' || kind === 'select');

describe.each(THREADED)('%s host: its self-pipe closed from outside (C13)', (kind: SelectorKind) => {
  it.each(['write', 'read'])('closing the %s end: no hang, no spin, I/O and wakeups still work', async (end) => {
    const baseline = openFdCount();
    const fds = new FdScope();
    const [a, b] = fds.socketpair();
    const loop = new EventLoop({ selector: new (selectorClass(kind))() });
    const before = openFds();
    const calls: string[] = [];
    let closed = -1;
    let iterationsAtClose = 0;
    loop.addReader(a, () => {
      calls.push(`read:${drain(a)}`);
    });
    loop.callSoon(() => {
      const pipe = newPipe(before);
      const victim = end === 'write' ? pipe.write : pipe.read;
      setTimeout(() => {
        iterationsAtClose = loop.iterationCount;
        binding.close(victim);
        closed = victim;
        setTimeout(() => poke(b, 'after'), 30);
        setTimeout(() => loop.callSoon(() => loop.stop()), 100);
      }, 20);
    });
    const started = Date.now();
    await loop.runForever();
    expect(closed).toBeGreaterThanOrEqual(0);
    expect(calls).toEqual(['read:5']);
    expect(loop.iterationCount - iterationsAtClose).toBeLessThan(20);
    expect(Date.now() - started).toBeLessThan(5000);
    loop.close();
    fds.closeAll();
    expect(openFdCount()).toBe(baseline);
  });
});

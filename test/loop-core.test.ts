// The loop core with a fake clock and a scripted selector: the ordering contract
// (python-anchor.md 2.1, scenarios 18-28) and reliability.md group C, deterministically.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { inspect } from 'node:util';
import { EventLoop, getEventLoop, getRunningLoop, newEventLoop, setEventLoop } from '../lib/loops';
import { CancelledError, Future, InvalidStateError, wrapFuture } from '../lib/tasks/futures';
import { EVENT_READ, EVENT_WRITE } from '../lib/selectors';
import type { ExceptionContext } from '../lib/core/events';
import { FakeClock, FakeSelector } from './fake';
import { openFdCount } from './helpers';

let clock: FakeClock;
let selector: FakeSelector;
let loop: EventLoop;
let errors: ExceptionContext[];

beforeEach(() => {
  clock = new FakeClock();
  selector = new FakeSelector(clock);
  loop = new EventLoop({ selector, clock: clock.time, debug: false });
  errors = [];
  loop.setExceptionHandler((_loop, context) => errors.push(context));
});

afterEach(() => {
  if (!loop.isRunning()) loop.close();
});

/** Runs the loop until `fn`'s callbacks call stop (with a safety stop far in the future). */
async function runOnce(): Promise<void> {
  loop.stop();
  await loop.runForever();
}

describe('callSoon', () => {
  it('runs callbacks FIFO with their arguments (scenario 18)', async () => {
    const calls: unknown[] = [];
    loop.callSoon(() => calls.push('a'));
    loop.callSoon((x: number, y: number) => calls.push(['b', x, y]), 1, 2);
    loop.callSoon(() => calls.push('c'));
    await runOnce();
    expect(calls).toEqual(['a', ['b', 1, 2], 'c']);
  });

  it('a callback scheduled during an iteration runs in the next one; stop lets the batch finish (scenario 19)', async () => {
    const calls: string[] = [];
    loop.callSoon(() => {
      calls.push('cb1');
      loop.callSoon(() => calls.push('nested'));
      loop.stop();
    });
    loop.callSoon(() => calls.push('cb2'));
    await loop.runForever();
    expect(calls).toEqual(['cb1', 'cb2']);
    await runOnce();
    expect(calls).toEqual(['cb1', 'cb2', 'nested']);
  });

  it('stop() before runForever() runs exactly one iteration with a zero poll timeout', async () => {
    loop.stop();
    await loop.runForever();
    expect(selector.waits).toEqual([0]);
    // And the loop can run again.
    loop.callSoon(() => loop.stop());
    await loop.runForever();
    expect(selector.waits.length).toBe(2);
  });

  it('a non-callable is a TypeError at scheduling time (C3)', () => {
    expect(() => loop.callSoon(1 as never)).toThrow(TypeError);
    expect(() => loop.callSoon(1 as never)).toThrow(/callable object was expected/);
    expect(() => loop.callLater(1, 'x' as never)).toThrow(TypeError);
    expect(() => loop.callAt(1, null as never)).toThrow(TypeError);
    expect(() => loop.addReader(0, {} as never)).toThrow(TypeError);
  });

  it('a cancelled handle never runs (scenario 23)', async () => {
    const calls: string[] = [];
    const handle = loop.callSoon(() => calls.push('f'));
    handle.cancel();
    expect(handle.cancelled()).toBe(true);
    await runOnce();
    expect(calls).toEqual([]);
  });
});

describe('timers', () => {
  it('run in deadline order, in seconds (scenario 20)', async () => {
    const calls: Array<[string, number]> = [];
    const t0 = loop.time();
    loop.callLater(0.02, () => calls.push(['a', loop.time() - t0]));
    loop.callLater(0.01, () => {
      calls.push(['b', loop.time() - t0]);
    });
    loop.callLater(0.03, () => loop.stop());
    await loop.runForever();
    expect(calls.map((c) => c[0])).toEqual(['b', 'a']);
    expect(calls[0][1]).toBeCloseTo(0.01, 9);
    expect(calls[1][1]).toBeCloseTo(0.02, 9);
  });

  it('negative delays run on the next iteration, in deadline order (C4)', async () => {
    const calls: string[] = [];
    loop.callLater(-1, () => calls.push('a'));
    loop.callLater(-2, () => calls.push('b'));
    await runOnce();
    expect(calls).toEqual(['b', 'a']);
    expect(selector.waits).toEqual([0]);
  });

  it('callLater(0, x) then callSoon(y) runs y before x (scenario 21)', async () => {
    const calls: string[] = [];
    loop.callLater(0, () => calls.push('x'));
    loop.callSoon(() => calls.push('y'));
    await runOnce();
    expect(calls).toEqual(['y', 'x']);
  });

  it('equal deadlines run FIFO (C5, scenario 22)', async () => {
    const calls: number[] = [];
    const t = loop.time() + 0.5;
    for (let i = 0; i < 10; i++) loop.callAt(t, () => calls.push(i));
    loop.callAt(t + 1, () => loop.stop());
    await loop.runForever();
    expect(calls).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('FIFO for equal deadlines holds under a random mix (model check)', async () => {
    let seed = 12345;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const expected: Array<{ when: number; seq: number }> = [];
    const fired: number[] = [];
    const t0 = loop.time();
    for (let seq = 0; seq < 300; seq++) {
      const when = t0 + Math.floor(random() * 20) / 10;
      const handle = loop.callAt(when, () => fired.push(seq));
      if (random() < 0.3) handle.cancel();
      else expected.push({ when, seq });
    }
    loop.callAt(t0 + 5, () => loop.stop());
    await loop.runForever();
    expected.sort((a, b) => a.when - b.when || a.seq - b.seq);
    expect(fired).toEqual(expected.map((e) => e.seq));
  });

  it('NaN is a RangeError, a non-number a TypeError; 1e12 is accepted and the wait capped at a day (C4)', async () => {
    expect(() => loop.callLater(Number.NaN, () => {})).toThrow(RangeError);
    expect(() => loop.callAt(Number.NaN, () => {})).toThrow(RangeError);
    expect(() => loop.callLater('1' as never, () => {})).toThrow(TypeError);
    const far = loop.callLater(1e12, () => {});
    loop.callLater(86400 * 2, () => loop.stop());
    await loop.runForever();
    expect(selector.waits[0]).toBe(86400);
    expect(far.cancelled()).toBe(false);
  });

  it('when() is the absolute time; cancelling a fired timer is a no-op (scenario 23)', async () => {
    const when = loop.time() + 3;
    const handle = loop.callAt(when, () => loop.stop());
    expect(handle.when()).toBe(when);
    await loop.runForever();
    handle.cancel();
    expect(loop.timerHeapSize).toBe(0);
  });

  it('cancelled timers are compacted when more than half of the heap (C6)', () => {
    for (let i = 0; i < 1_000_000; i++) loop.callLater(10 + i, () => {}).cancel();
    expect(loop.timerHeapSize).toBeLessThanOrEqual(202);
    const live = Array.from({ length: 1000 }, (_, i) => loop.callLater(i, () => {}));
    for (let i = 0; i < 10_000; i++) loop.callLater(5, () => {}).cancel();
    expect(loop.timerHeapSize).toBeLessThanOrEqual(2 * live.length + 2);
  });

  it('a chain of shrinking sleeps takes few iterations and never spins (C7)', async () => {
    const delays = [1e-2, 1e-4, 1e-6, 1e-8, 1e-10];
    const next = (): void => {
      const delay = delays.shift();
      if (delay === undefined) loop.stop();
      else loop.callLater(delay, next);
    };
    next();
    await loop.runForever();
    expect(selector.waits.length).toBeLessThanOrEqual(20);
  });
});

describe('exception handling', () => {
  it('a throwing callback reaches the handler; the rest of the batch runs (C1)', async () => {
    const calls: string[] = [];
    const boom = new Error('boom');
    const handle = loop.callSoon(function failing() {
      throw boom;
    });
    loop.callSoon(() => calls.push('after'));
    await runOnce();
    expect(calls).toEqual(['after']);
    expect(errors).toHaveLength(1);
    expect(errors[0].message).toMatch(/^Exception in callback failing\(\)/);
    expect(errors[0].exception).toBe(boom);
    expect(errors[0].handle).toBe(handle);
  });

  it('a throwing handler is reported by the default handler and the loop goes on (C2)', async () => {
    const logged: string[] = [];
    const spy = vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => {
      logged.push(args.join(' '));
    });
    try {
      loop.setExceptionHandler(() => {
        throw new Error('handler broke');
      });
      loop.callSoon(() => {
        throw new Error('first');
      });
      const calls: string[] = [];
      loop.callSoon(() => calls.push('still running'));
      await runOnce();
      expect(calls).toEqual(['still running']);
      expect(logged).toHaveLength(1);
      expect(logged[0]).toMatch(/^Unhandled error in exception handler/);
      expect(logged[0]).toMatch(/handler broke/);
    } finally {
      spy.mockRestore();
    }
  });

  it('setExceptionHandler refuses a non-callable; get returns what was set', () => {
    expect(() => loop.setExceptionHandler('spam' as never)).toThrow(TypeError);
    const handler = (): void => {};
    loop.setExceptionHandler(handler);
    expect(loop.getExceptionHandler()).toBe(handler);
    loop.setExceptionHandler(null);
    expect(loop.getExceptionHandler()).toBe(null);
  });

  it('the default handler prints message, keys and the stack', () => {
    const logged: string[] = [];
    const spy = vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => {
      logged.push(args.join(' '));
    });
    try {
      loop.defaultExceptionHandler({ message: 'oops', exception: new Error('inner'), extra: 1 });
    } finally {
      spy.mockRestore();
    }
    expect(logged[0]).toMatch(/^oops\nextra: 1\nError: inner/);
  });
});

describe('fd watching', () => {
  it('one reader per fd: adding again replaces it; remove returns true then false (scenario 28)', async () => {
    const calls: string[] = [];
    const first = loop.addReader(5, () => calls.push('cb1'));
    loop.addReader(5, () => calls.push('cb2'));
    expect(first.cancelled()).toBe(true);
    selector.ready.set(5, EVENT_READ);
    await runOnce();
    expect(calls).toEqual(['cb2']);
    expect(loop.removeReader(5)).toBe(true);
    expect(loop.removeReader(5)).toBe(false);
    expect(selector.getMap().size).toBe(0);
  });

  it('reader and writer share one registration; it leaves the kernel when no interest remains', async () => {
    const calls: string[] = [];
    loop.addReader(7, () => calls.push('r'));
    loop.addWriter(7, () => calls.push('w'));
    expect(selector.getKey(7).events).toBe(EVENT_READ | EVENT_WRITE);
    selector.ready.set(7, EVENT_READ | EVENT_WRITE);
    await runOnce();
    expect(calls).toEqual(['r', 'w']);
    expect(loop.removeWriter(7)).toBe(true);
    expect(selector.getKey(7).events).toBe(EVENT_READ);
    expect(loop.removeReader(7)).toBe(true);
    expect(selector.calls).toEqual([
      ['add', 7, EVENT_READ],
      ['modify', 7, EVENT_READ | EVENT_WRITE],
      ['modify', 7, EVENT_READ],
      ['remove', 7],
    ]);
  });

  it('accepts objects with fileno(); refuses bad file objects', () => {
    loop.addReader({ fileno: () => 9 }, () => {});
    expect(selector.getKey(9).events).toBe(EVENT_READ);
    expect(loop.removeReader({ fileno: () => 9 })).toBe(true);
    expect(() => loop.addReader('bad' as never, () => {})).toThrow(TypeError);
    expect(() => loop.addReader(-1, () => {})).toThrow(RangeError);
  });

  it('a reader cancelled through its handle is unregistered at its next readiness', async () => {
    const calls: string[] = [];
    const handle = loop.addReader(4, () => calls.push('r'));
    handle.cancel();
    selector.ready.set(4, EVENT_READ);
    await runOnce();
    expect(calls).toEqual([]);
    expect(selector.getMap().has(4)).toBe(false);
  });

  it('a callback that reschedules itself does not starve I/O (C8)', async () => {
    let spins = 0;
    const reads: number[] = [];
    const spin = (): void => {
      spins++;
      loop.callSoon(spin);
    };
    loop.callSoon(spin);
    loop.addReader(3, () => {
      reads.push(spins);
      if (reads.length === 3) loop.stop();
    });
    selector.onWait = (iteration) => {
      if (iteration === 2) selector.ready.set(3, EVENT_READ);
    };
    await loop.runForever();
    // asyncio's order: the spin queued last iteration runs before this iteration's I/O handle.
    expect(reads).toEqual([2, 3, 4]);
    expect(selector.waits.every((w) => w === 0)).toBe(true);
  });

  it('I/O callbacks run exactly once across a stop and restart (C10)', async () => {
    const calls: string[] = [];
    selector.ready.set(3, EVENT_READ);
    selector.ready.set(4, EVENT_READ);
    loop.addReader(3, () => {
      calls.push('r3');
      selector.ready.delete(3); // consumed
      loop.stop();
    });
    loop.addReader(4, () => {
      calls.push('r4');
      selector.ready.delete(4);
    });
    await loop.runForever();
    expect(calls).toEqual(['r3', 'r4']);
    loop.callSoon(() => loop.stop());
    await loop.runForever();
    expect(calls).toEqual(['r3', 'r4']);
  });
});

describe('lifecycle (C9, scenario 25)', () => {
  it('close() while running is ERR_LOOP_RUNNING; nested runs are refused', async () => {
    let closeError: unknown;
    let nested: Promise<unknown> | undefined;
    let nestedSync: unknown;
    loop.callSoon(() => {
      try {
        loop.close();
      } catch (error) {
        closeError = error;
      }
      nested = loop.runUntilComplete(Promise.resolve(1));
      try {
        loop.runForeverSync();
      } catch (error) {
        nestedSync = error;
      }
      loop.stop();
    });
    await loop.runForever();
    expect(closeError).toMatchObject({ code: 'ERR_LOOP_RUNNING', message: 'Cannot close a running event loop' });
    await expect(nested).rejects.toMatchObject({ code: 'ERR_LOOP_RUNNING', message: 'This event loop is already running' });
    expect(nestedSync).toMatchObject({ code: 'ERR_LOOP_RUNNING' });
  });

  it('a second loop cannot run while one runs on this thread', async () => {
    const other = new EventLoop({ selector: new FakeSelector(clock), clock: clock.time });
    let refused: Promise<unknown> | undefined;
    loop.callSoon(() => {
      refused = other.runForever();
      loop.stop();
    });
    await loop.runForever();
    await expect(refused).rejects.toMatchObject({ code: 'ERR_LOOP_RUNNING', message: /another loop is running/ });
    other.close();
  });

  it('a closed loop refuses scheduling and running; close is idempotent; removeReader is false', async () => {
    loop.addReader(3, () => {});
    loop.close();
    loop.close();
    expect(loop.isClosed()).toBe(true);
    const closed = { code: 'ERR_LOOP_CLOSED', message: 'Event loop is closed' };
    expect(() => loop.callSoon(() => {})).toThrow(expect.objectContaining(closed));
    expect(() => loop.callSoonThreadsafe(() => {})).toThrow(expect.objectContaining(closed));
    expect(() => loop.callLater(1, () => {})).toThrow(expect.objectContaining(closed));
    expect(() => loop.callAt(1, () => {})).toThrow(expect.objectContaining(closed));
    expect(() => loop.addReader(3, () => {})).toThrow(expect.objectContaining(closed));
    expect(() => loop.addWriter(3, () => {})).toThrow(expect.objectContaining(closed));
    expect(loop.removeReader(3)).toBe(false);
    expect(loop.removeWriter(3)).toBe(false);
    await expect(loop.runForever()).rejects.toMatchObject(closed);
    await expect(loop.runUntilComplete(Promise.resolve(1))).rejects.toMatchObject(closed);
    expect(() => loop.runForeverSync()).toThrow(expect.objectContaining(closed));
    expect(selector.closed).toBe(true);
  });

  it('runUntilComplete resolves with the result, rejects with the exception', async () => {
    const fut = loop.createFuture<number>();
    loop.callLater(0.5, () => fut.setResult(42));
    await expect(loop.runUntilComplete(fut)).resolves.toBe(42);
    const failing = loop.createFuture<number>();
    const boom = new Error('boom');
    loop.callLater(0.5, () => failing.setException(boom));
    await expect(loop.runUntilComplete(failing)).rejects.toBe(boom);
    await expect(loop.runUntilComplete(Promise.resolve('p'))).resolves.toBe('p');
    expect(loop.isRunning()).toBe(false);
  });

  it('runUntilComplete: stopped before completion is an error; other loops and non-thenables are refused (scenario 24)', async () => {
    const fut = loop.createFuture();
    loop.callSoon(() => loop.stop());
    await expect(loop.runUntilComplete(fut)).rejects.toMatchObject({
      code: 'ERR_LOOP_STOPPED',
      message: 'Event loop stopped before Future completed.',
    });
    const other = new EventLoop({ selector: new FakeSelector(clock), clock: clock.time });
    await expect(loop.runUntilComplete(other.createFuture())).rejects.toThrow(/different loop/);
    await expect(loop.runUntilComplete(5 as never)).rejects.toThrow(TypeError);
    other.close();
  });

  it('getRunningLoop inside a run, ERR_NO_RUNNING_LOOP outside; getEventLoop/setEventLoop', async () => {
    expect(() => getRunningLoop()).toThrow(expect.objectContaining({ code: 'ERR_NO_RUNNING_LOOP' }));
    let seen: EventLoop | undefined;
    loop.callSoon(() => {
      seen = getRunningLoop();
      loop.stop();
    });
    await loop.runForever();
    expect(seen).toBe(loop);
    setEventLoop(loop);
    expect(getEventLoop()).toBe(loop);
    setEventLoop(null);
    const created = getEventLoop();
    expect(created).toBeInstanceOf(EventLoop);
    expect(getEventLoop()).toBe(created);
    created.close();
    setEventLoop(null);
  });

  it('C15: a future nothing can complete stays pending without spinning; a Node callback can still complete it', async () => {
    const fut = loop.createFuture<string>();
    const run = loop.runUntilComplete(fut);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(fut.done()).toBe(false);
    // Exactly one iteration ran (the first one); since then the loop has simply been waiting.
    expect(selector.waits.length).toBeLessThanOrEqual(1);
    fut.setResult('late');
    await expect(run).resolves.toBe('late');
  });
});

describe('debug mode', () => {
  it('handles record where they were created; slow callbacks are reported with the handle (C14)', async () => {
    loop.setDebug(true);
    expect(loop.getDebug()).toBe(true);
    const warnings: Array<Error & { handle?: unknown }> = [];
    const onWarning = (w: Error): void => {
      warnings.push(w);
    };
    process.on('warning', onWarning);
    try {
      const handle = loop.callSoon(function slow() {
        clock.advance(0.2);
      });
      loop.callSoon(function quick() {});
      expect(handle.sourceTraceback).toMatch(/loop-core\.test\.ts/);
      expect(handle.toString()).toMatch(/^<Handle slow\(\) created at .*loop-core\.test\.ts:\d+:\d+>$/);
      await runOnce();
      await new Promise((resolve) => setImmediate(resolve));
      const slow = warnings.filter((w) => w.name === 'SlowCallbackWarning');
      expect(slow).toHaveLength(1);
      expect(slow[0].message).toMatch(/^Executing <Handle slow\(\) created at .*> took 0\.200 seconds$/);
      expect(slow[0].handle).toBe(handle);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('MUXLOOP_DEBUG=1 turns debug mode on by default', () => {
    const saved = process.env.MUXLOOP_DEBUG;
    process.env.MUXLOOP_DEBUG = '1';
    try {
      const debugLoop = new EventLoop({ selector: new FakeSelector(clock), clock: clock.time });
      expect(debugLoop.getDebug()).toBe(true);
      debugLoop.close();
    } finally {
      if (saved === undefined) delete process.env.MUXLOOP_DEBUG;
      else process.env.MUXLOOP_DEBUG = saved;
    }
  });
});

describe('Future', () => {
  it('state errors (scenario 32)', () => {
    const fut = loop.createFuture<number>();
    expect(() => fut.result()).toThrow(InvalidStateError);
    expect(() => fut.exception()).toThrow(InvalidStateError);
    fut.setResult(1);
    expect(() => fut.setResult(2)).toThrow(InvalidStateError);
    expect(() => fut.setException(new Error('x'))).toThrow(InvalidStateError);
    expect(fut.cancel()).toBe(false);
    expect(fut.result()).toBe(1);
    expect(fut.exception()).toBeUndefined();
    const cancelled = loop.createFuture();
    expect(cancelled.cancel('bye')).toBe(true);
    expect(cancelled.cancelled()).toBe(true);
    expect(cancelled.done()).toBe(true);
    expect(() => cancelled.result()).toThrow(CancelledError);
    expect(() => cancelled.result()).toThrow('bye');
    expect(() => cancelled.exception()).toThrow(CancelledError);
    expect(fut.getLoop()).toBe(loop);
  });

  it('setException instantiates a class; undefined is refused', () => {
    const fut = loop.createFuture();
    expect(() => fut.setException(undefined)).toThrow(TypeError);
    fut.setException(RangeError);
    expect(fut.exception()).toBeInstanceOf(RangeError);
  });

  it('done callbacks run through the loop, in order, after the synchronous code (scenario 33)', async () => {
    const calls: string[] = [];
    const fut = loop.createFuture<number>();
    const cb = (f: Future<number>): void => {
      calls.push(`cb:${f.result()}`);
    };
    fut.addDoneCallback(() => calls.push('one'));
    fut.addDoneCallback(cb);
    fut.addDoneCallback(cb);
    fut.addDoneCallback(() => calls.push('three'));
    expect(fut.removeDoneCallback(cb)).toBe(2);
    loop.callSoon(() => {
      fut.setResult(7);
      calls.push('after setResult');
      loop.callSoon(() => calls.push('later callSoon'));
    });
    await runOnce();
    await runOnce();
    expect(calls).toEqual(['after setResult', 'one', 'three', 'later callSoon']);
    fut.addDoneCallback(() => calls.push('on done future'));
    expect(calls).not.toContain('on done future');
    await runOnce();
    expect(calls).toContain('on done future');
  });

  it('a throwing done callback goes to the handler; the others still run (D7)', async () => {
    const calls: string[] = [];
    const fut = loop.createFuture();
    fut.addDoneCallback(() => {
      throw new Error('cb failed');
    });
    fut.addDoneCallback(() => calls.push('second'));
    fut.setResult(undefined);
    await runOnce();
    expect(calls).toEqual(['second']);
    expect(errors[0].message).toMatch(/Exception in callback/);
  });

  it('await works in any async function and resumes in the iteration after the one that resolved it', async () => {
    const fut = loop.createFuture<string>();
    let iteration = 0;
    let resumedIn = -1;
    let resolvedIn = -1;
    const tick = (): void => {
      iteration++;
      if (iteration === 3) {
        fut.setResult('value');
        resolvedIn = iteration;
      }
      if (iteration < 10) loop.callSoon(tick);
      else loop.stop();
    };
    loop.callSoon(tick);
    const waiter = (async () => {
      const value = await fut;
      resumedIn = iteration;
      return value;
    })();
    await loop.runForever();
    await expect(waiter).resolves.toBe('value');
    expect(resumedIn - resolvedIn).toBeGreaterThanOrEqual(0);
    expect(resumedIn - resolvedIn).toBeLessThanOrEqual(1);
  });

  it('await of a failed or cancelled Future throws; a closed loop rejects with ERR_LOOP_CLOSED (D8)', async () => {
    const failed = loop.createFuture();
    failed.setException(new Error('nope'));
    const cancelled = loop.createFuture();
    cancelled.cancel('gone');
    const a = (async () => await failed)();
    const b = (async () => await cancelled)();
    await runOnce();
    await expect(a).rejects.toThrow('nope');
    await expect(b).rejects.toBeInstanceOf(CancelledError);
    const pending = loop.createFuture();
    loop.close();
    await expect((async () => await pending)()).rejects.toMatchObject({ code: 'ERR_LOOP_CLOSED' });
  });

  it('wrapFuture adopts a promise; a Future passes through', async () => {
    const wrapped = wrapFuture(Promise.resolve(3), loop);
    expect(wrapFuture(wrapped)).toBe(wrapped);
    await expect(loop.runUntilComplete(wrapped)).resolves.toBe(3);
    const rejected = wrapFuture(Promise.reject(new Error('r')), loop);
    await expect(loop.runUntilComplete(rejected)).rejects.toThrow('r');
    expect(() => wrapFuture(3 as never, loop)).toThrow(TypeError);
  });
});

describe('newEventLoop options', () => {
  it("refuses a bad io: an unknown string is ERR_INVALID_ARG_VALUE, another type ERR_INVALID_ARG_TYPE; no fd is made", () => {
    const before = openFdCount();
    for (const io of ['uring2', '', 'URING', 'epoll ']) {
      expect(() => newEventLoop({ io: io as never })).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE', message: `The value of "options.io" must be 'uring', 'epoll' or 'auto'. Received string ${inspect(io)}` }));
    }
    for (const io of [1, {}, true, ['uring'], Symbol('uring')]) {
      expect(() => newEventLoop({ io: io as never })).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }));
    }
    expect(() => newEventLoop({ io: 1 as never })).toThrow('The "options.io" argument must be of type string. Received number 1');
    // The options bag itself: an object or undefined.
    for (const options of [null, 5, 'uring']) {
      expect(() => newEventLoop(options as never)).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }));
    }
    expect(openFdCount()).toBe(before);
  });

  it('refuses unknown keys (a misspelt option is not ignored), before any fd; the valid modes still work', () => {
    const before = openFdCount();
    for (const options of [{ iO: 'uring' }, { io: 'epoll', bogus: 1 }]) {
      expect(() => newEventLoop(options as never)).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE', message: expect.stringMatching(/^The option "options\.(iO|bogus)" is not known \(known: selector, clock, debug, io\)$/) }));
    }
    expect(openFdCount()).toBe(before);
    // null, like undefined, is the default.
    for (const io of ['auto', 'epoll', 'uring', undefined, null] as const) {
      const l = newEventLoop({ io: io as never });
      expect(['epoll', 'uring']).toContain(l.io);
      l.close();
    }
    expect(openFdCount()).toBe(before);
  });
});

// Tasks in both coroutine styles on a fake clock and a scripted selector: python-anchor.md
// scenarios 32-48 and reliability.md D6-D9, deterministically.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventLoop } from '../lib/loops';
import { CancelledError, Future, InvalidStateError } from '../lib/tasks/futures';
import type { ExceptionContext } from '../lib/core/events';
import { allTasks, createTask, currentTask, ensureFuture, Task } from '../lib/tasks/tasks';
import { sleep } from '../lib/tasks/helpers';
import { FakeClock, FakeSelector, caught } from './fake';

let clock: FakeClock;
let loop: EventLoop;
let errors: ExceptionContext[];

beforeEach(() => {
  clock = new FakeClock();
  loop = new EventLoop({ selector: new FakeSelector(clock), clock: clock.time, debug: false });
  errors = [];
  loop.setExceptionHandler((_loop, context) => errors.push(context));
});

afterEach(() => {
  if (!loop.isRunning()) loop.close();
});

describe('Future (scenarios 32-33, D7)', () => {
  it('result while pending, setResult twice, cancel when done, cancelled result carries the message', () => {
    const fut = loop.createFuture<number>();
    expect(() => fut.result()).toThrow(InvalidStateError);
    fut.setResult(1);
    expect(() => fut.setResult(2)).toThrow(InvalidStateError);
    expect(fut.cancel()).toBe(false);
    const cancelled = loop.createFuture();
    cancelled.cancel('why');
    expect(() => cancelled.result()).toThrow(new CancelledError('why'));
    expect(() => cancelled.exception()).toThrow(CancelledError);
  });

  it('a done callback that throws goes to the handler and the others still run (D7)', async () => {
    const fut = loop.createFuture();
    const calls: number[] = [];
    fut.addDoneCallback(() => calls.push(1));
    fut.addDoneCallback(() => {
      throw new Error('boom');
    });
    fut.addDoneCallback(() => calls.push(3));
    fut.setResult(undefined);
    await loop.runUntilComplete(sleepOn(loop, 0));
    expect(calls).toEqual([1, 3]);
    expect(errors.map((e) => (e.exception as Error).message)).toEqual(['boom']);
  });
});

function sleepOn(on: EventLoop, seconds: number): Future<void> {
  const fut = on.createFuture<void>();
  on.callLater(seconds, () => fut.setResult(undefined));
  return fut;
}

type Style = 'async' | 'generator';
const STYLES: Style[] = ['async', 'generator'];

describe.each(STYLES)('tasks, %s style', (style) => {
  /** A worker that records `name<i>` and gives up one iteration, `rounds` times. */
  function worker(log: string[], name: string, rounds: number): unknown {
    if (style === 'async') {
      return async () => {
        for (let i = 0; i < rounds; i++) {
          log.push(`${name}${i}`);
          await sleep(0);
        }
      };
    }
    return (function* () {
      for (let i = 0; i < rounds; i++) {
        log.push(`${name}${i}`);
        yield sleep(0);
      }
    })();
  }

  /** Sleeps `seconds`, recording a CancelledError it sees, then rethrows or returns `swallow`. */
  function sleeper(seen: unknown[], seconds: number, swallow?: unknown): unknown {
    if (style === 'async') {
      return async () => {
        try {
          await sleep(seconds);
        } catch (error) {
          seen.push(error);
          if (swallow !== undefined) return swallow;
          throw error;
        }
        return 'slept';
      };
    }
    return (function* () {
      try {
        yield sleep(seconds);
      } catch (error) {
        seen.push(error);
        if (swallow !== undefined) return swallow;
        throw error;
      }
      return 'slept';
    })();
  }

  it('tasks start on the next iteration, in creation order, interleaving with sleep(0) (scenario 34)', async () => {
    const log: string[] = [];
    const main = async (): Promise<void> => {
      const a = createTask(worker(log, 'A', 3) as never);
      const b = createTask(worker(log, 'B', 3) as never);
      log.push('main-before-yield');
      await sleep(0);
      log.push('main-after-1');
      await Promise.all([a, b]);
    };
    await loop.runUntilComplete(main);
    expect(log).toEqual(['main-before-yield', 'A0', 'B0', 'main-after-1', 'A1', 'B1', 'A2', 'B2']);
  });

  it('cancel(msg) on a sleeping task: the coroutine and the awaiter see it, first message wins (scenario 35)', async () => {
    const seen: unknown[] = [];
    const result = await loop.runUntilComplete(async () => {
      const task = createTask(sleeper(seen, 10) as never);
      await sleep(0);
      expect(task.cancel('bye')).toBe(true);
      expect(task.cancel('second')).toBe(true);
      expect(task.cancelling()).toBe(2);
      const error = await caught(task);
      expect(task.cancelled()).toBe(true);
      expect(task.cancel()).toBe(false);
      expect(task.cancelling()).toBe(2);
      return error;
    });
    expect(result).toBeInstanceOf(CancelledError);
    expect((result as Error).message).toBe('bye');
    expect((seen[0] as Error).message).toBe('bye');
  });

  it('a task that catches CancelledError and returns is not cancelled (scenario 36)', async () => {
    const seen: unknown[] = [];
    await loop.runUntilComplete(async () => {
      const task = createTask(sleeper(seen, 10, 42) as never);
      await sleep(0);
      task.cancel();
      expect(await task).toBe(42);
      expect(task.cancelled()).toBe(false);
    });
    expect(seen).toHaveLength(1);
  });

  it('a task cancelled before its first step never runs its body', async () => {
    const seen: unknown[] = [];
    let ran = false;
    await loop.runUntilComplete(async () => {
      const task = createTask(
        style === 'async'
          ? async () => {
              ran = true;
            }
          : (function* () {
              ran = true;
            })(),
      );
      task.cancel();
      expect(await caught(task)).toBeInstanceOf(CancelledError);
    });
    expect(ran).toBe(false);
    expect(seen).toEqual([]);
  });

  it('a task that cancels itself and returns without awaiting ends cancelled (scenario 36)', async () => {
    await loop.runUntilComplete(async () => {
      const task: Task = createTask(
        style === 'async'
          ? async () => {
              currentTask()?.cancel();
              return 1;
            }
          : (function* () {
              currentTask()?.cancel();
              return 1;
            })(),
      );
      expect(await caught(task)).toBeInstanceOf(CancelledError);
      expect(task.cancelled()).toBe(true);
    });
  });

  it('uncancel: the count goes back to 0 and a later cancel works normally (scenario 37, D6)', async () => {
    await loop.runUntilComplete(async () => {
      const log: unknown[] = [];
      const body =
        style === 'async'
          ? async () => {
              try {
                await sleep(10);
              } catch {
                log.push(currentTask()?.uncancel());
              }
              await sleep(10);
            }
          : (function* () {
              try {
                yield sleep(10);
              } catch {
                log.push(currentTask()?.uncancel());
              }
              yield sleep(10);
            })();
      const task = createTask(body);
      await sleep(0);
      task.cancel();
      await sleep(0);
      await sleep(0);
      expect(log).toEqual([0]);
      expect(task.done()).toBe(false);
      task.cancel();
      expect(await caught(task)).toBeInstanceOf(CancelledError);
      expect(task.uncancel()).toBe(0);
      expect(task.cancelled()).toBe(true);
    });
  });

  it('a task awaiting itself fails; names; setResult is refused (scenario 38)', async () => {
    await loop.runUntilComplete(async () => {
      let self: Task | undefined;
      const task = createTask(
        style === 'async'
          ? async () => {
              self = currentTask();
              await (self as Task);
            }
          : (function* () {
              self = currentTask();
              yield self;
            })(),
        { name: 123 as never },
      );
      const error = (await caught(task)) as Error & { code: string };
      expect(error.message).toBe('Task cannot await on itself');
      expect(self).toBe(task);
      expect(task.getName()).toBe('123');
      task.setName('renamed');
      expect(task.getName()).toBe('renamed');
      expect(() => task.setResult(1 as never)).toThrow(/does not support/);
      expect(createTask(async () => 1).getName()).toMatch(/^Task-\d+$/);
    });
  });

  it('task.signal aborts when the task is cancelled, with a CancelledError reason', async () => {
    await loop.runUntilComplete(async () => {
      const task = createTask(sleeper([], 10) as never);
      const signal = task.signal;
      let reason: unknown;
      signal.addEventListener('abort', () => {
        reason = signal.reason;
      });
      await sleep(0);
      task.cancel('stop');
      expect(signal.aborted).toBe(true);
      expect(reason).toBeInstanceOf(CancelledError);
      await caught(task);
      const late = createTask(async () => 1);
      late.cancel();
      expect(late.signal.aborted).toBe(true);
    });
  });

  it('an exception in the coroutine fails the task, and the awaiter gets it', async () => {
    await loop.runUntilComplete(async () => {
      const task = createTask(
        style === 'async'
          ? async () => {
              await sleep(1);
              throw new RangeError('bad');
            }
          : (function* () {
              yield sleep(1);
              throw new RangeError('bad');
            })(),
      );
      expect(await caught(task)).toBeInstanceOf(RangeError);
      expect(task.exception()).toBeInstanceOf(RangeError);
    });
  });
});

describe('generator coroutines', () => {
  it('yield* delegates through a chain of sub-coroutines, values and errors included', async () => {
    function* leaf(x: number): Generator<unknown, number, unknown> {
      const y = (yield sleep(0.1, x)) as number;
      if (y < 0) throw new RangeError('negative');
      return y * 2;
    }
    function* middle(x: number): Generator<unknown, number, unknown> {
      return (yield* leaf(x)) + 1;
    }
    function* top(): Generator<unknown, unknown, unknown> {
      const a = yield* middle(5);
      try {
        yield* middle(-1);
      } catch (error) {
        return [a, (error as Error).message];
      }
    }
    expect(await loop.runUntilComplete(top())).toEqual([11, 'negative']);
  });

  it('a bare yield gives up one iteration; a bad yield is a TypeError thrown in', async () => {
    const result = await loop.runUntilComplete(
      (function* () {
        const before = loop.iterationCount;
        yield;
        const after = loop.iterationCount;
        try {
          yield 42;
        } catch (error) {
          return [after - before, (error as Error).message];
        }
      })(),
    );
    expect(result).toEqual([1, 'Task got bad yield: number 42']);
  });

  it('yields Promises by adopting them, and a generator function is accepted as a function', async () => {
    const result = await loop.runUntilComplete(function* (): Generator<unknown, unknown, unknown> {
      return yield Promise.resolve('adopted');
    });
    expect(result).toBe('adopted');
  });

  it('currentTask is the stepping task, and undefined in a plain callback (scenario 48)', async () => {
    let inCallback: unknown = 'unset';
    let stepping: Task | undefined;
    const task: Task = loop.createTask(
      (function* (): Generator<unknown, void, unknown> {
        stepping = currentTask();
        loop.callSoon(() => {
          inCallback = currentTask();
        });
        yield sleep(0);
      })(),
    );
    await loop.runUntilComplete(task);
    expect(stepping).toBe(task);
    expect(inCallback).toBeUndefined();
    expect(() => currentTask()).toThrow(/no running event loop/);
  });
});

describe('async-function coroutines', () => {
  it('currentTask survives awaits of loop Futures and foreign Promises; undefined in callbacks', async () => {
    const seen: unknown[] = [];
    let task: Task | undefined;
    const main = async (): Promise<void> => {
      task = currentTask();
      seen.push(currentTask() === task);
      await sleep(0.5);
      seen.push(currentTask() === task);
      await new Promise((resolve) => setImmediate(resolve));
      seen.push(currentTask() === task);
      await Promise.resolve();
      loop.callSoon(() => seen.push(currentTask()));
      await sleep(0);
    };
    await loop.runUntilComplete(main);
    expect(task).toBeInstanceOf(Task);
    expect(seen).toEqual([true, true, true, undefined]);
  });

  it('a cancellation while awaiting a foreign Promise lands at the next loop await; the signal aborts at once', async () => {
    const seen: unknown[] = [];
    await loop.runUntilComplete(async () => {
      const task = createTask(async () => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        seen.push('after foreign');
        try {
          await sleep(0);
        } catch (error) {
          seen.push(error);
          throw error;
        }
      });
      await sleep(0);
      task.cancel('late');
      expect(task.signal.aborted).toBe(true);
      expect(await caught(task)).toBeInstanceOf(CancelledError);
    });
    expect(seen[0]).toBe('after foreign');
    expect((seen[1] as Error).message).toBe('late');
  });

  it('Promise.all of loop Futures inside a task is cancelled through the latest await', async () => {
    await loop.runUntilComplete(async () => {
      const task = createTask(async () => Promise.all([sleep(10), sleep(10)]));
      await sleep(0);
      await sleep(0);
      task.cancel();
      expect(await caught(task)).toBeInstanceOf(CancelledError);
    });
  });

  it('arguments are passed with options.args; a bare Promise is adopted; cancelling it ends it cancelled', async () => {
    await loop.runUntilComplete(async () => {
      const add = createTask(async (a: number, b: number) => a + b, { args: [2, 3] });
      expect(await add).toBe(5);
      const adopted = createTask(Promise.resolve('p'));
      expect(await adopted).toBe('p');
      const never = createTask(new Promise(() => {}));
      expect(never.cancel()).toBe(true);
      expect(never.cancelled()).toBe(true);
    });
  });

  it('awaiting a Future of another loop fails the await (D8)', async () => {
    const other = new EventLoop({ selector: new FakeSelector(clock), clock: clock.time });
    const error = await caught(
      loop.runUntilComplete(async () => {
        await other.createFuture();
      }),
    );
    expect((error as Error).message).toBe('Future attached to a different loop');
    other.close();
    const closed = other.createFuture;
    expect(closed).toBeTypeOf('function');
  });

  it('awaiting a Future of a closed loop rejects with ERR_LOOP_CLOSED (D8)', async () => {
    const other = new EventLoop({ selector: new FakeSelector(clock), clock: clock.time });
    const fut = other.createFuture();
    other.close();
    const error = await caught(
      loop.runUntilComplete(async () => {
        await fut;
      }),
    );
    expect((error as { code?: string }).code).toBe('ERR_LOOP_CLOSED');
  });
});

describe('registry and ensureFuture', () => {
  it('allTasks excludes finished tasks; createTask needs a running loop; closed loop refuses (scenarios 25, 48)', async () => {
    expect(() => createTask(async () => 1)).toThrow(/no running event loop/);
    await loop.runUntilComplete(async () => {
      const done = createTask(async () => 1);
      const pending = createTask(async () => sleep(10));
      await done;
      const tasks = allTasks();
      expect(tasks.has(done)).toBe(false);
      expect(tasks.has(pending)).toBe(true);
      expect(tasks.has(currentTask() as Task)).toBe(true);
      pending.cancel();
    });
    loop.close();
    expect(() => loop.createTask(async () => 1)).toThrow(/closed/);
  });

  it('allTasks lists a task unstarted, just started and tracked weakly; one cancelled before its start leaves at its step', async () => {
    const f = loop.createFuture();
    const phases: boolean[] = [];
    const other = new EventLoop({ selector: new FakeSelector(clock), clock: clock.time });
    await loop.runUntilComplete(function* () {
      // Interleave with another loop's unstarted tasks, so that the slots free up out of order
      // and the registry compacts (it does so past 1,024 holes).
      const foreign = Array.from({ length: 1500 }, () => other.createTask(async () => 1));
      const waiting = Array.from({ length: 3000 }, () => loop.createTask(async () => f));
      const early = loop.createTask(async () => 1);
      expect(early.cancel()).toBe(true);
      phases.push(allTasks().has(waiting[2999]), allTasks().has(early)); // unstarted (a cancel is only requested)
      yield null; // first steps: pending, listed strongly
      phases.push(allTasks().has(waiting[2999]) && !allTasks().has(early), allTasks(other).has(foreign[1499]));
      yield null; // the sweep: tracked weakly
      yield null;
      phases.push(allTasks().has(waiting[0]) && allTasks().has(waiting[2999]), allTasks().size === 3001);
      f.setResult(1);
      yield f;
      yield null;
      yield null;
      phases.push(allTasks().size === 1, early.cancelled());
      expect(allTasks(other).size).toBe(1500); // never started: still listed
    });
    other.close();
    expect(phases).toEqual([true, true, true, true, true, true, true, true]);
  });

  it('a Future with one done callback: removeDoneCallback removes it, a second makes a list in order', async () => {
    const calls: string[] = [];
    const one = (): number => calls.push('one');
    const fut = loop.createFuture();
    fut.addDoneCallback(one);
    expect(fut.removeDoneCallback(() => 0)).toBe(0);
    expect(fut.removeDoneCallback(one)).toBe(1);
    expect(fut.removeDoneCallback(one)).toBe(0);
    fut.addDoneCallback(one);
    fut.addDoneCallback(() => calls.push('two'));
    fut.setResult(1);
    await loop.runUntilComplete(sleepOn(loop, 0));
    expect(calls).toEqual(['one', 'two']);
  });

  it('createTask(5) is a TypeError; ensureFuture passes Futures through and wraps the rest', async () => {
    expect(() => loop.createTask(5 as never)).toThrow(TypeError);
    const fut = loop.createFuture();
    expect(ensureFuture(fut, loop)).toBe(fut);
    expect(ensureFuture(Promise.resolve(1), loop)).toBeInstanceOf(Future);
    expect(ensureFuture(async () => 1, loop)).toBeInstanceOf(Task);
    expect(() => ensureFuture(7 as never, loop)).toThrow(TypeError);
    const other = new EventLoop({ selector: new FakeSelector(clock), clock: clock.time });
    expect(() => ensureFuture(fut, other)).toThrow(/different loop/);
    other.close();
    await loop.runUntilComplete(sleepOn(loop, 0)); // let the tasks above start and finish
  });

  it('runUntilComplete takes generator objects and async functions (ensure_future)', async () => {
    expect(
      await loop.runUntilComplete(
        (function* () {
          return (yield sleep(1, 'gen')) as string;
        })(),
      ),
    ).toBe('gen');
    expect(await loop.runUntilComplete(async () => sleep(1, 'fn'))).toBe('fn');
  });

  it('a task factory replaces Task for createTask', async () => {
    const made: unknown[] = [];
    loop.setTaskFactory((on, coro, options) => {
      made.push(options.name);
      return new Task(coro, { ...options, loop: on });
    });
    expect(loop.getTaskFactory()).toBeTypeOf('function');
    expect(await loop.runUntilComplete(loop.createTask(async () => 3, { name: 'x' }))).toBe(3);
    expect(made).toEqual(['x']);
    loop.setTaskFactory(null);
  });
});

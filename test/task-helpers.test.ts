// gather, wait, waitFor, asCompleted, shield, timeout and TaskGroup on a fake clock:
// python-anchor.md scenarios 39-47 and reliability.md D6, D9.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventLoop } from '../lib/loops';
import { CancelledError } from '../lib/tasks/futures';
import type { ExceptionContext } from '../lib/core/events';
import { createTask, currentTask, type Task } from '../lib/tasks/tasks';
import {
  ALL_COMPLETED,
  asCompleted,
  FIRST_COMPLETED,
  FIRST_EXCEPTION,
  gather,
  shield,
  sleep,
  wait,
  waitFor,
} from '../lib/tasks/helpers';
import { timeout, timeoutAt, TimeoutError } from '../lib/tasks/timeouts';
import { ExceptionGroup, TaskGroup } from '../lib/tasks/taskgroups';
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

const later = <T>(seconds: number, value: T) => async (): Promise<T> => sleep(seconds, value);
const failLater = (seconds: number, error: Error) => async (): Promise<never> => {
  await sleep(seconds);
  throw error;
};

describe('gather (scenarios 39-41, D9)', () => {
  it('results in argument order, exceptions in place with returnExceptions, duplicates once, empty', async () => {
    await loop.runUntilComplete(async () => {
      expect(await gather(later(0.2, 'a'), later(0.1, 'b'), later(0.3, 'c'))).toEqual(['a', 'b', 'c']);
      const boom = new Error('boom');
      const cancelled = createTask(later(10, 'x'));
      cancelled.cancel('gone');
      const results = await gather(later(0.1, 1), failLater(0.1, boom), cancelled, { returnExceptions: true });
      expect(results[0]).toBe(1);
      expect(results[1]).toBe(boom);
      expect(results[2]).toBeInstanceOf(CancelledError);
      let runs = 0;
      const once = (function* () {
        runs++;
        return (yield sleep(0.1, 'dup')) as string;
      })();
      expect(await gather(once, once)).toEqual(['dup', 'dup']);
      expect(runs).toBe(1);
      expect(await gather()).toEqual([]);
    });
  });

  it('one array of awaitables works like the spread form, also for 200,000 tasks (too many to spread)', async () => {
    await loop.runUntilComplete(async () => {
      expect(await gather([later(0.2, 'a'), later(0.1, 'b')])).toEqual(['a', 'b']);
      const boom = new Error('boom');
      expect(await gather([later(0.1, 1), failLater(0.1, boom)], { returnExceptions: true })).toEqual([1, boom]);
      const shared = createTask(later(0.1, 's'));
      expect(await gather([shared, shared])).toEqual(['s', 's']);
      const many = Array.from({ length: 200_000 }, (_, i) => loop.createTask((function* () { return i; })()));
      const results = (await gather(many)) as number[];
      expect(results.length).toBe(200_000);
      expect(results[199_999]).toBe(199_999);
    });
  });

  it('the first failure rejects at once, the other children keep running (scenario 40)', async () => {
    await loop.runUntilComplete(async () => {
      const ok = createTask(later(0.05, 'ok'));
      const start = loop.time();
      const error = await caught(gather(failLater(0.01, new Error('fast')), ok));
      expect((error as Error).message).toBe('fast');
      expect(loop.time() - start).toBeCloseTo(0.01, 5);
      expect(ok.cancelled()).toBe(false);
      expect(await ok).toBe('ok');
    });
  });

  it('a cancelled child makes gather raise CancelledError without being cancelled itself (scenario 41)', async () => {
    await loop.runUntilComplete(async () => {
      const child = createTask(later(10, 1));
      const outer = gather(child, later(0.1, 2));
      await sleep(0);
      child.cancel();
      expect(await caught(outer)).toBeInstanceOf(CancelledError);
      expect(outer.cancelled()).toBe(false);
    });
  });

  it('cancelling gather cancels the children; it raises CancelledError even if they swallow it (scenario 41, D9)', async () => {
    await loop.runUntilComplete(async () => {
      const swallow = async (): Promise<string> => {
        try {
          await sleep(10);
        } catch {
          return 'swallowed';
        }
        return 'slept';
      };
      const a = createTask(swallow);
      const b = createTask(swallow);
      const outer = gather(a, b);
      await sleep(0);
      expect(outer.cancel()).toBe(true);
      expect(await caught(outer)).toBeInstanceOf(CancelledError);
      expect(await a).toBe('swallowed');
      const mixed = gather(later(10, 1), failLater(10, new Error('never')), later(0, 3));
      await sleep(0);
      await sleep(0);
      mixed.cancel();
      expect(await caught(mixed)).toBeInstanceOf(CancelledError);
      expect(mixed.cancel()).toBe(false);
    });
    expect(errors).toEqual([]); // nothing "never retrieved"
  });

  it('gather of groups, cancelling one group', async () => {
    await loop.runUntilComplete(async () => {
      const group1 = gather(later(0.1, 1), later(0.2, 2));
      const group2 = gather(later(0.1, 3), later(10, 4));
      await sleep(0.15);
      group2.cancel();
      const all = await gather(group1, group2, { returnExceptions: true });
      expect(all[0]).toEqual([1, 2]);
      expect(all[1]).toBeInstanceOf(CancelledError);
    });
  });
});

describe('wait (scenario 42)', () => {
  it('argument errors', async () => {
    await loop.runUntilComplete(async () => {
      expect(() => wait([])).toThrow(/empty/);
      expect(() => wait([sleep(1)], { returnWhen: 'x' as never })).toThrow(/Invalid returnWhen/);
      expect(() => wait([(function* () {})()] as never)).toThrow(/coroutines is forbidden/);
      expect(() => wait(sleep(1) as never)).toThrow(TypeError);
    });
  });

  it('each returnWhen; a timeout neither raises nor cancels', async () => {
    await loop.runUntilComplete(async () => {
      const fast = createTask(later(0.1, 'fast'));
      const slow = createTask(later(0.3, 'slow'));
      let [done, pending] = await wait([fast, slow], { returnWhen: FIRST_COMPLETED });
      expect([...done]).toEqual([fast]);
      expect([...pending]).toEqual([slow]);
      const failing = createTask(failLater(0.05, new Error('x')));
      const sleepy = createTask(later(1, 'z'));
      [done, pending] = await wait([failing, sleepy], { returnWhen: FIRST_EXCEPTION });
      expect(done.has(failing) && pending.has(sleepy)).toBe(true);
      expect(failing.exception()).toBeInstanceOf(Error);
      [done, pending] = await wait([slow, sleepy], { returnWhen: ALL_COMPLETED });
      expect(done.size).toBe(2);
      const long = createTask(later(5, 'l'));
      [done, pending] = await wait([long], { timeout: 0.001 });
      expect(done.size).toBe(0);
      expect(pending.has(long)).toBe(true);
      expect(await long).toBe('l');
    });
  });

  it('FIRST_EXCEPTION with no failure waits for all', async () => {
    await loop.runUntilComplete(async () => {
      const [done] = await wait([createTask(later(0.1, 1)), createTask(later(0.2, 2))], { returnWhen: FIRST_EXCEPTION });
      expect(done.size).toBe(2);
    });
  });
});

describe('waitFor (scenario 43, D6)', () => {
  it('times out with TimeoutError caused by CancelledError, after the inner is cancelled', async () => {
    await loop.runUntilComplete(async () => {
      const inner = createTask(later(1, 'x'));
      const error = await caught(waitFor(inner, 0.01));
      expect(error).toBeInstanceOf(TimeoutError);
      expect((error as Error).cause).toBeInstanceOf(CancelledError);
      expect(inner.cancelled()).toBe(true);
      expect(await waitFor(later(0.01, 'in time'), 1)).toBe('in time');
      expect(await waitFor(later(0.01, 'no limit'), null)).toBe('no limit');
    });
  });

  it('timeout 0 never starts a coroutine; an inner that swallows the cancel returns its value', async () => {
    let started = false;
    await loop.runUntilComplete(async () => {
      const error = await caught(
        waitFor(async () => {
          started = true;
        }, 0),
      );
      expect(error).toBeInstanceOf(TimeoutError);
      const stubborn = async (): Promise<string> => {
        try {
          await sleep(10);
        } catch {
          await sleep(0.1);
          return 'x';
        }
        return 'slept';
      };
      expect(await waitFor(stubborn, 0.01)).toBe('x');
      expect(currentTask()?.cancelling()).toBe(0);
    });
    expect(started).toBe(false);
  });

  it('cancelling the caller cancels the awaited task', async () => {
    await loop.runUntilComplete(async () => {
      const inner = createTask(later(10, 1));
      const caller = createTask(async () => waitFor(inner, 5));
      await sleep(0.1);
      caller.cancel();
      expect(await caught(caller)).toBeInstanceOf(CancelledError);
      expect(inner.cancelled()).toBe(true);
    });
  });

  it('works from a generator task', async () => {
    const result = await loop.runUntilComplete(
      (function* () {
        try {
          yield waitFor(sleep(1), 0.1);
        } catch (error) {
          return (error as Error).name;
        }
      })(),
    );
    expect(result).toBe('TimeoutError');
  });
});

describe('asCompleted (scenario 44)', () => {
  it('plain iteration gives results in completion order; async iteration the Futures themselves', async () => {
    await loop.runUntilComplete(async () => {
      const order: unknown[] = [];
      for (const next of asCompleted([later(0.03, 30), later(0.01, 10), later(0.02, 20)])) order.push(await next);
      expect(order).toEqual([10, 20, 30]);
      const tasks = [createTask(later(0.02, 'b')), createTask(later(0.01, 'a'))];
      const seen: unknown[] = [];
      for await (const fut of asCompleted(tasks)) seen.push(fut);
      expect(seen).toEqual([tasks[1], tasks[0]]);
    });
  });

  it('a timeout makes the next awaitable raise TimeoutError; pending ones are not cancelled', async () => {
    await loop.runUntilComplete(async () => {
      const slow = createTask(later(0.3, 'slow'));
      const [first] = asCompleted([slow], { timeout: 0.01 });
      expect(await caught(first)).toBeInstanceOf(TimeoutError);
      expect(slow.cancelled()).toBe(false);
      const iterator = asCompleted([createTask(later(0.3, 1))], { timeout: 0.01 })[Symbol.asyncIterator]();
      expect(await caught(iterator.next())).toBeInstanceOf(TimeoutError);
      expect(() => asCompleted(sleep(1) as never)).toThrow(TypeError);
      slow.cancel();
    });
  });
});

describe('shield (scenario 45)', () => {
  it('the awaiting task is cancelled, the inner one runs on', async () => {
    await loop.runUntilComplete(async () => {
      const inner = createTask(later(0.1, 'inner'));
      const outer = createTask(async () => shield(inner));
      await sleep(0.01);
      outer.cancel();
      expect(await caught(outer)).toBeInstanceOf(CancelledError);
      expect(inner.cancelled()).toBe(false);
      expect(await inner).toBe('inner');
    });
  });

  it('an inner cancelled cancels the shield; a done inner is returned as it is', async () => {
    await loop.runUntilComplete(async () => {
      const inner = createTask(later(1, 1));
      const shielded = shield(inner);
      await sleep(0);
      inner.cancel();
      await caught(shielded);
      expect(shielded.cancelled()).toBe(true);
      const done = loop.createFuture();
      done.setResult(3);
      expect(shield(done)).toBe(done);
    });
  });
});

describe('timeout (scenario 46)', () => {
  it('timeout(0) around sleep(0) raises TimeoutError; the task is not left cancelled', async () => {
    await loop.runUntilComplete(async () => {
      const error = await caught(timeout(0, async () => sleep(0)));
      expect(error).toBeInstanceOf(TimeoutError);
      expect(currentTask()?.cancelling()).toBe(0);
      expect(await timeout(1, async () => sleep(0.1, 'ok'))).toBe('ok');
    });
  });

  it('nested: the inner expiry raises at the inner block only, then the outer fires', async () => {
    await loop.runUntilComplete(async () => {
      const log: unknown[] = [];
      const error = await caught(
        timeout(0.05, async () => {
          const inner = await caught(timeout(0.01, async () => sleep(10)));
          log.push(inner instanceof TimeoutError, loop.time());
          await sleep(10);
        }),
      );
      expect(error).toBeInstanceOf(TimeoutError);
      expect(log[0]).toBe(true);
    });
  });

  it('a foreign cancel inside timeout(10) stays a CancelledError', async () => {
    await loop.runUntilComplete(async () => {
      let scope: unknown;
      const task = createTask(async () =>
        timeout(10, async () => {
          scope = 'entered';
          await sleep(5);
        }),
      );
      await sleep(1);
      task.cancel();
      expect(await caught(task)).toBeInstanceOf(CancelledError);
      expect(scope).toBe('entered');
    });
  });

  it('the using form: the await in progress throws the TimeoutError itself; expired() tells', async () => {
    await loop.runUntilComplete(async () => {
      const scope = timeout(0.01);
      let error: unknown;
      try {
        await sleep(10);
      } catch (e) {
        error = e;
      } finally {
        await scope[Symbol.asyncDispose]();
      }
      expect(error).toBeInstanceOf(TimeoutError);
      expect(scope.expired()).toBe(true);
      expect(currentTask()?.cancelling()).toBe(0);
      const quiet = timeoutAt(loop.time() + 1);
      await sleep(0.1);
      quiet[Symbol.dispose]();
      expect(quiet.expired()).toBe(false);
      expect(() => quiet.reschedule(5)).toThrow(/Cannot change state of finished Timeout/);
    });
  });

  it('the yield* form in a generator task; outside a task it refuses', async () => {
    const result = await loop.runUntilComplete(
      (function* () {
        try {
          yield* timeout(0.01, function* () {
            yield sleep(1);
          });
        } catch (error) {
          return (error as Error).name;
        }
      })(),
    );
    expect(result).toBe('TimeoutError');
    const outside = await loop.runUntilComplete(async () => {
      const fut = loop.createFuture();
      loop.callSoon(() => {
        try {
          timeout(1);
        } catch (error) {
          fut.setResult((error as { code?: string }).code);
        }
      });
      return fut;
    });
    expect(outside).toBe('ERR_NO_CURRENT_TASK');
  });
});

describe('TaskGroup (scenario 47)', () => {
  it('two children fail while a third sleeps: sleeper and body cancelled, both errors grouped, count back to 0', async () => {
    await loop.runUntilComplete(async () => {
      const seen: string[] = [];
      const error = await caught(
        TaskGroup.run(async (tg) => {
          tg.createTask(failLater(0.01, new RangeError('v')));
          tg.createTask(failLater(0.01, new TypeError('k')));
          tg.createTask(async () => {
            try {
              await sleep(10);
            } catch (e) {
              seen.push('sleeper ' + (e as Error).name);
              throw e;
            }
          });
          try {
            await sleep(10);
          } catch (e) {
            seen.push('body ' + (e as Error).name);
            throw e;
          }
        }),
      );
      expect(error).toBeInstanceOf(ExceptionGroup);
      const group = error as ExceptionGroup;
      expect(group.exceptions.map((e) => (e as Error).message).sort()).toEqual(['k', 'v']);
      expect(group.errors).toBe(group.exceptions);
      expect(seen.sort()).toEqual(['body CancelledError', 'sleeper CancelledError']);
      expect(currentTask()?.cancelling()).toBe(0);
    });
  });

  it('an exception in the body cancels the running children and joins the group', async () => {
    await loop.runUntilComplete(async () => {
      let child: Task | undefined;
      const error = await caught(
        TaskGroup.run(async (tg) => {
          child = tg.createTask(later(10, 1));
          await sleep(0.01);
          throw new Error('body');
        }),
      );
      expect((error as ExceptionGroup).exceptions.map((e) => (e as Error).message)).toEqual(['body']);
      expect(child?.cancelled()).toBe(true);
    });
  });

  it('external cancellation of the parent gives CancelledError, not a group; createTask after exit refuses', async () => {
    await loop.runUntilComplete(async () => {
      let group: TaskGroup | undefined;
      const parent = createTask(async () =>
        TaskGroup.run(async (tg) => {
          group = tg;
          tg.createTask(later(10, 1));
          await sleep(10);
        }),
      );
      await sleep(0.1);
      parent.cancel();
      expect(await caught(parent)).toBeInstanceOf(CancelledError);
      expect(() => group?.createTask(later(1, 1))).toThrow(/finished/);
    });
  });

  it('waits for every child even when the body ends normally; results come back', async () => {
    await loop.runUntilComplete(async () => {
      const tasks: Task[] = [];
      const value = await TaskGroup.run(async (tg) => {
        tasks.push(tg.createTask(later(0.2, 'a')), tg.createTask(later(0.1, 'b')));
        return 'body';
      });
      expect(value).toBe('body');
      expect(tasks.map((t) => t.result())).toEqual(['a', 'b']);
    });
  });

  it('nested groups: an inner failure surfaces as a group inside the outer group', async () => {
    await loop.runUntilComplete(async () => {
      const error = await caught(
        TaskGroup.run(async (outer) => {
          outer.createTask(later(10, 'long'));
          await TaskGroup.run(async (inner) => {
            inner.createTask(failLater(0.01, new Error('deep')));
          });
        }),
      );
      const top = error as ExceptionGroup;
      expect(top.exceptions).toHaveLength(1);
      expect(top.exceptions[0]).toBeInstanceOf(ExceptionGroup);
      expect(((top.exceptions[0] as ExceptionGroup).exceptions[0] as Error).message).toBe('deep');
    });
  });

  it('a child cancelled on its own does not affect the group', async () => {
    await loop.runUntilComplete(async () => {
      await TaskGroup.run(async (tg) => {
        const lone = tg.createTask(later(10, 1));
        tg.createTask(later(0.1, 2));
        await sleep(0);
        lone.cancel();
      });
    });
  });

  it('the await using form: a child failure is thrown into the block as the group', async () => {
    await loop.runUntilComplete(async () => {
      const tg = new TaskGroup();
      let error: unknown;
      try {
        tg.createTask(failLater(0.01, new Error('child')));
        tg.createTask(later(10, 1));
        await sleep(10);
      } catch (e) {
        error = e;
      } finally {
        await tg[Symbol.asyncDispose]();
      }
      expect(error).toBeInstanceOf(ExceptionGroup);
      expect((error as ExceptionGroup).exceptions.map((e) => (e as Error).message)).toEqual(['child']);
      expect(currentTask()?.cancelling()).toBe(0);
    });
  });

  it('the yield* form in a generator task', async () => {
    const result = await loop.runUntilComplete(
      (function* () {
        try {
          yield* TaskGroup.run(function* (tg) {
            tg.createTask(failLater(0.01, new Error('g')));
            yield sleep(10);
          });
        } catch (error) {
          return (error as ExceptionGroup).exceptions.length;
        }
      })(),
    );
    expect(result).toBe(1);
  });

  it('outside a task it refuses', () => {
    expect(() => new TaskGroup()).toThrow();
  });
});

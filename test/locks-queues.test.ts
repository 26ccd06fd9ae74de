// Locks and queues on a fake clock: python-anchor.md scenarios 51-54, fairness and cancellation
// safety of waiters, both coroutine styles.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventLoop } from '../lib/loops';
import { CancelledError } from '../lib/tasks/futures';
import { createTask, type Task } from '../lib/tasks/tasks';
import { gather, sleep } from '../lib/tasks/helpers';
import { Barrier, BoundedSemaphore, BrokenBarrierError, Condition, Event, Lock, Semaphore } from '../lib/tasks/locks';
import { LifoQueue, PriorityQueue, Queue, QueueEmpty, QueueFull, QueueShutDown } from '../lib/tasks/queues';
import { FakeClock, FakeSelector, caught } from './fake';

let clock: FakeClock;
let loop: EventLoop;

beforeEach(() => {
  clock = new FakeClock();
  loop = new EventLoop({ selector: new FakeSelector(clock), clock: clock.time, debug: false });
  loop.setExceptionHandler(() => {});
});

afterEach(() => {
  if (!loop.isRunning()) loop.close();
});

const run = <T>(main: () => Promise<T>): Promise<T> => loop.runUntilComplete(main);

describe('Lock (scenario 51)', () => {
  it('waiters acquire FIFO and a newcomer after release goes behind them', async () => {
    await run(async () => {
      const lock = new Lock();
      const order: number[] = [];
      await lock.acquire();
      const holder = (i: number) => async (): Promise<void> => {
        await lock.acquire();
        order.push(i);
        await sleep(0.01);
        lock.release();
      };
      const waiters = [1, 2, 3].map((i) => createTask(holder(i)));
      await sleep(0);
      lock.release();
      const late = createTask(holder(4));
      await gather(...waiters, late);
      expect(order).toEqual([1, 2, 3, 4]);
      expect(lock.locked()).toBe(false);
      expect(() => lock.release()).toThrow('Lock is not acquired.');
    });
  });

  it('a waiter cancelled just before the release lets the next one acquire; it never takes the lock', async () => {
    await run(async () => {
      const lock = new Lock();
      await lock.acquire();
      const first = createTask(async () => lock.acquire());
      const second = createTask(async () => lock.acquire());
      await sleep(0);
      first.cancel();
      lock.release();
      expect(await caught(first)).toBeInstanceOf(CancelledError);
      expect(await second).toBe(true);
      lock.release();
      expect(lock.locked()).toBe(false);
    });
  });

  it('a task cancelled after the lock was handed to it, before it resumed, gives it back', async () => {
    await run(async () => {
      const lock = new Lock();
      await lock.acquire();
      const waiter = createTask(async () => lock.acquire());
      await sleep(0);
      lock.release(); // handed over to waiter's Future
      waiter.cancel(); // before the waiter resumes
      expect(await caught(waiter)).toBeInstanceOf(CancelledError);
      expect(lock.locked()).toBe(false);
      // And in a generator task, the fast path.
      const gen = createTask(
        (function* () {
          yield lock.acquire();
        })(),
      );
      await sleep(0);
      // The generator took the lock at once; cancelling before it resumes gives it back.
      gen.cancel();
      await caught(gen);
      expect(lock.locked()).toBe(false);
    });
  });

  it('with() and hold() release on exit, also after an error', async () => {
    await run(async () => {
      const lock = new Lock();
      expect(await lock.with(async () => lock.locked())).toBe(true);
      expect(lock.locked()).toBe(false);
      await caught(
        lock.with(async () => {
          throw new Error('x');
        }),
      );
      expect(lock.locked()).toBe(false);
      const held = await lock.hold();
      expect(lock.locked()).toBe(true);
      held[Symbol.dispose]();
      held.release();
      expect(lock.locked()).toBe(false);
    });
  });
});

describe('Event and Condition (scenario 52)', () => {
  it('set() then clear() still wakes every current waiter', async () => {
    await run(async () => {
      const event = new Event();
      const waiters = [1, 2, 3].map(() => createTask(async () => event.wait()));
      await sleep(0);
      event.set();
      event.clear();
      expect(await gather(...waiters)).toEqual([true, true, true]);
      expect(event.isSet()).toBe(false);
    });
  });

  it('notify without the lock fails; notify(2) wakes the two oldest; a cancelled wait holds the lock', async () => {
    await run(async () => {
      const cond = new Condition();
      expect(() => cond.notify()).toThrow('cannot notify on un-acquired lock');
      expect(() => cond.wait()).toThrow('cannot wait on un-acquired lock');
      const woken: number[] = [];
      const waiters = [1, 2, 3].map((i) =>
        createTask(async () =>
          cond.with(async () => {
            await cond.wait();
            woken.push(i);
          }),
        ),
      );
      await sleep(0.01);
      await cond.with(() => cond.notify(2));
      await sleep(0.01);
      expect(woken).toEqual([1, 2]);
      let heldWhenCancelled: boolean | undefined;
      const cancelled = createTask(async () => {
        await cond.acquire();
        try {
          await cond.wait();
        } catch (error) {
          heldWhenCancelled = cond.locked();
          throw error;
        } finally {
          cond.release();
        }
      });
      await sleep(0.01);
      cancelled.cancel();
      expect(await caught(cancelled)).toBeInstanceOf(CancelledError);
      expect(heldWhenCancelled).toBe(true);
      waiters[2].cancel();
      await caught(waiters[2]);
    });
  });

  it('waitFor re-checks the predicate after each notification (generator style)', async () => {
    await run(async () => {
      const cond = new Condition();
      let value = 0;
      const task = createTask(
        (function* () {
          yield cond.acquire();
          try {
            return (yield cond.waitFor(() => value >= 2 && value)) as number;
          } finally {
            cond.release();
          }
        })(),
      );
      for (let i = 0; i < 2; i++) {
        await sleep(0.01);
        await cond.with(() => {
          value++;
          cond.notifyAll();
        });
      }
      expect(await task).toBe(2);
    });
  });
});

describe('Semaphore and Barrier (scenario 53)', () => {
  it('Semaphore(3) never lets more than 3 of 10 workers in', async () => {
    await run(async () => {
      const sem = new Semaphore(3);
      let inside = 0;
      let most = 0;
      await gather(
        ...Array.from({ length: 10 }, (_, i) => async () =>
          sem.with(async () => {
            inside++;
            most = Math.max(most, inside);
            await sleep(0.01 * (1 + (i % 3)));
            inside--;
          }),
        ),
      );
      expect(most).toBe(3);
    });
  });

  it('Semaphore(0): two releases let exactly the two oldest of three in; locked() stays true', async () => {
    await run(async () => {
      const sem = new Semaphore(0);
      const entered: number[] = [];
      const waiters = [1, 2, 3].map((i) =>
        createTask(async () => {
          await sem.acquire();
          entered.push(i);
        }),
      );
      await sleep(0);
      sem.release();
      sem.release();
      await sleep(0.01);
      expect(entered).toEqual([1, 2]);
      expect(sem.locked()).toBe(true);
      waiters[2].cancel();
      await caught(waiters[2]);
      expect(sem.locked()).toBe(true); // value is 0
      sem.release();
      expect(sem.locked()).toBe(false);
    });
  });

  it('a cancelled waiter never consumes a permit', async () => {
    await run(async () => {
      const sem = new Semaphore(1);
      await sem.acquire();
      const a = createTask(async () => sem.acquire());
      const b = createTask(async () => sem.acquire());
      await sleep(0);
      sem.release(); // handed to a
      a.cancel(); // a gives it back, b gets it
      await caught(a);
      expect(await b).toBe(true);
      sem.release();
      expect(sem.locked()).toBe(false);
    });
  });

  it('argument checks: BoundedSemaphore over-release, negative values, Barrier parties', () => {
    const bounded = new BoundedSemaphore(1);
    expect(() => bounded.release()).toThrow(RangeError);
    expect(() => new Semaphore(-1)).toThrow(RangeError);
    expect(() => new Barrier(0)).toThrow(RangeError);
  });

  it('Barrier(3) gives indices 0..2 and can pass again; abort breaks the waiters', async () => {
    await run(async () => {
      const barrier = new Barrier(3);
      expect((await gather(barrier.wait(), barrier.wait(), barrier.wait())).sort()).toEqual([0, 1, 2]);
      expect((await gather(barrier.wait(), barrier.wait(), barrier.wait())).sort()).toEqual([0, 1, 2]);
      const w1 = createTask(async () => barrier.wait());
      await sleep(0.01);
      expect(barrier.nWaiting).toBe(1);
      await barrier.abort();
      expect(await caught(w1)).toBeInstanceOf(BrokenBarrierError);
      expect(barrier.broken).toBe(true);
      expect(await caught(barrier.wait())).toBeInstanceOf(BrokenBarrierError);
    });
  });

  it('Barrier.reset wakes waiters with BrokenBarrierError and fills again', async () => {
    await run(async () => {
      const barrier = new Barrier(2);
      const w1 = createTask(async () => barrier.wait());
      await sleep(0.01);
      await barrier.reset();
      expect(await caught(w1)).toBeInstanceOf(BrokenBarrierError);
      expect((await gather(barrier.with(async (i) => i), barrier.with(async (i) => i))).sort()).toEqual([0, 1]);
    });
  });
});

describe('queues (scenario 54)', () => {
  it('nowait errors, priority and lifo orders, taskDone and join', async () => {
    await run(async () => {
      const q = new Queue<number>(1);
      q.putNowait(1);
      expect(q.full()).toBe(true);
      expect(() => q.putNowait(2)).toThrow(QueueFull);
      expect(q.getNowait()).toBe(1);
      expect(() => q.getNowait()).toThrow(QueueEmpty);
      const pq = new PriorityQueue<number>();
      [3, 1, 2].forEach((x) => pq.putNowait(x));
      expect([pq.getNowait(), pq.getNowait(), pq.getNowait()]).toEqual([1, 2, 3]);
      const tuples = new PriorityQueue<[number, string]>();
      tuples.putNowait([2, 'b']);
      tuples.putNowait([1, 'a']);
      expect(tuples.getNowait()).toEqual([1, 'a']);
      const lq = new LifoQueue<number>();
      [1, 2, 3].forEach((x) => lq.putNowait(x));
      expect([lq.getNowait(), lq.getNowait()]).toEqual([3, 2]);
      lq.putNowait(4);
      expect([lq.getNowait(), lq.getNowait()]).toEqual([4, 1]);
      expect(new Queue().full()).toBe(false);
      expect(new Queue(0).maxsize).toBe(0);
      // taskDone/join
      const work = new Queue<number>();
      for (let i = 0; i < 3; i++) work.putNowait(i);
      let joined = false;
      const joiner = createTask(async () => {
        await work.join();
        joined = true;
      });
      for (let i = 0; i < 3; i++) {
        await work.get();
        await sleep(0.01);
        expect(joined).toBe(false);
        work.taskDone();
      }
      await joiner;
      expect(joined).toBe(true);
      expect(() => work.taskDone()).toThrow('taskDone() called too many times');
    });
  });

  it('blocked getters and putters, FIFO; a woken getter can be robbed by getNowait', async () => {
    await run(async () => {
      const q = new Queue<string>(1);
      const got: string[] = [];
      const getters = [1, 2].map(() =>
        createTask(async () => {
          got.push(await q.get());
        }),
      );
      await sleep(0);
      q.putNowait('a');
      expect(q.getNowait()).toBe('a'); // robbed: the woken getter waits again
      q.putNowait('b');
      await sleep(0.01);
      q.putNowait('c');
      await gather(...getters);
      expect(got).toEqual(['b', 'c']);
      q.putNowait('x');
      const putter = createTask(async () => q.put('y'));
      await sleep(0.01);
      expect(putter.done()).toBe(false);
      expect(await q.get()).toBe('x');
      await putter;
      expect(q.getNowait()).toBe('y');
    });
  });

  it('cancelled get and put lose nothing and add nothing', async () => {
    await run(async () => {
      const q = new Queue<string>();
      const getter = createTask(async () => q.get());
      await sleep(0);
      q.putNowait('kept');
      await sleep(0); // the getter is woken and takes the item...
      getter.cancel(); // ...but is cancelled before it resumes: the item goes back
      await caught(getter);
      expect(q.qsize()).toBe(1);
      expect(q.getNowait()).toBe('kept');
      const full = new Queue<string>(1);
      full.putNowait('first');
      const putter = createTask(async () => full.put('second'));
      await sleep(0);
      putter.cancel();
      expect(await caught(putter)).toBeInstanceOf(CancelledError);
      expect(full.qsize()).toBe(1);
      expect(full.getNowait()).toBe('first');
    });
  });

  it('shutdown: items still gettable then QueueShutDown, puts refused, blocked getters woken', async () => {
    await run(async () => {
      const q = new Queue<number>();
      const blocked = createTask(async () => q.get());
      await sleep(0);
      q.shutdown();
      expect(await caught(blocked)).toBeInstanceOf(QueueShutDown);
      expect(() => q.putNowait(1)).toThrow(QueueShutDown);
      const q2 = new Queue<number>(1);
      q2.putNowait(1);
      const putter = createTask(async () => q2.put(2));
      await sleep(0);
      q2.shutdown();
      expect(await caught(putter)).toBeInstanceOf(QueueShutDown);
      expect(await q2.get()).toBe(1);
      expect(await caught(q2.get())).toBeInstanceOf(QueueShutDown);
      const q3 = new Queue<number>();
      q3.putNowait(1);
      q3.putNowait(2);
      const joiner = createTask(async () => q3.join());
      q3.shutdown(true);
      expect(q3.empty()).toBe(true);
      expect(await joiner).toBe(true);
      expect(() => q3.getNowait()).toThrow(QueueShutDown);
    });
  });
});

describe('loop binding', () => {
  it('a primitive used from two loops refuses the second', async () => {
    const lock = new Lock();
    await run(async () => {
      await lock.acquire();
      lock.release();
    });
    const other = new EventLoop({ selector: new FakeSelector(clock), clock: clock.time });
    await expect(
      other.runUntilComplete(async () => {
        await lock.acquire();
      }),
    ).rejects.toThrow(/bound to a different event loop/);
    other.close();
    const tasks: Task[] = [];
    expect(tasks).toEqual([]);
  });
});

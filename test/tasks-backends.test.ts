// Tasks on the real selectors, hosted: the classic asyncio teaching examples with real time, run()
// end to end, and the fd leak check.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventLoop } from '../lib/loops';
import { CancelledError } from '../lib/tasks/futures';
import { availableSelectors, selectorClass } from '../lib/selectors';
import { allTasks, createTask } from '../lib/tasks/tasks';
import { gather, sleep, waitFor } from '../lib/tasks/helpers';
import { TaskGroup } from '../lib/tasks/taskgroups';
import { run } from '../lib/runners';
import { Queue } from '../lib/tasks/queues';
import { openFdCount } from './helpers';

let fdsBefore: number;
beforeAll(() => {
  fdsBefore = openFdCount();
});
afterAll(() => {
  expect(openFdCount()).toBe(fdsBefore);
});

describe.each(availableSelectors())('%s backend', (kind) => {
  const newLoop = (): EventLoop => new EventLoop({ selector: new (selectorClass(kind))() });

  it('two sleeps of 0.2 s take about 0.2 s under gather and 0.4 s one after the other', async () => {
    const loop = newLoop();
    const [together, apart] = await loop.runUntilComplete(async () => {
      let start = loop.time();
      await gather(sleep(0.2), sleep(0.2));
      const concurrent = loop.time() - start;
      start = loop.time();
      await sleep(0.2);
      await sleep(0.2);
      return [concurrent, loop.time() - start];
    });
    loop.close();
    // Timers never fire early; the upper bounds only tell "concurrent" from "sequential".
    expect(together).toBeGreaterThanOrEqual(0.2);
    expect(together).toBeLessThan(0.35);
    expect(apart).toBeGreaterThanOrEqual(0.4);
  });

  it('producer/consumer through a Queue inside a TaskGroup, with Node timers interleaved', async () => {
    const loop = newLoop();
    const consumed = await loop.runUntilComplete(async () => {
      const queue = new Queue<number>(2);
      const got: number[] = [];
      await TaskGroup.run(async (tg) => {
        tg.createTask(async () => {
          for (let i = 0; i < 5; i++) {
            await new Promise((resolve) => setTimeout(resolve, 2));
            await queue.put(i);
          }
          queue.shutdown();
        });
        tg.createTask(async () => {
          try {
            for (;;) got.push(await queue.get());
          } catch {
            // QueueShutDown: done
          }
        });
      });
      return got;
    });
    loop.close();
    expect(consumed).toEqual([0, 1, 2, 3, 4]);
  });

  it('waitFor cuts a slow task; its cancellation reaches the task', async () => {
    const loop = newLoop();
    const outcome = await loop.runUntilComplete(async () => {
      let seen: unknown;
      const slow = createTask(async () => {
        try {
          await sleep(5);
        } catch (error) {
          seen = error;
          throw error;
        }
      });
      const error = await waitFor(slow, 0.05).catch((e: unknown) => e);
      return [(error as Error).name, seen instanceof CancelledError];
    });
    loop.close();
    expect(outcome).toEqual(['TimeoutError', true]);
  });
});

describe('run()', () => {
  it('a task created and never awaited is cut off when run returns; the loop is closed (scenario 49)', async () => {
    let background: ReturnType<typeof createTask> | undefined;
    let cleanedUp = false;
    const value = await run(async () => {
      background = createTask(async () => {
        try {
          await sleep(10);
        } finally {
          cleanedUp = true;
        }
      });
      await sleep(0.01);
      return 'main';
    });
    expect(value).toBe('main');
    expect(background?.cancelled()).toBe(true);
    expect(cleanedUp).toBe(true);
    expect(background?.getLoop().isClosed()).toBe(true);
    expect(allTasks(background?.getLoop()).size).toBe(0);
  });

  it('refuses a non-coroutine and a nested call', async () => {
    await expect(run(5 as never)).rejects.toThrow(TypeError);
    await expect(run(async () => run(async () => 1))).rejects.toThrow(/cannot be called from a running event loop/);
  });

  it('runs a generator function, and reports a task that failed during shutdown', async () => {
    const reports: string[] = [];
    const value = await run(function* () {
      const loop = createTask(async () => 1).getLoop();
      loop.setExceptionHandler((_loop, context) => reports.push(context.message));
      createTask(async () => {
        try {
          await sleep(10);
        } catch {
          throw new Error('bad cleanup');
        }
      });
      yield sleep(0.01);
      return 'gen';
    });
    expect(value).toBe('gen');
    expect(reports).toEqual(['unhandled exception during run() shutdown']);
  });
});

// The contract holes of issue 12, one block per item, each in both coroutine styles where a
// coroutine is involved and on every backend where I/O is. Only the public API is used (the
// package's entry point), so the same file ran against the code before the fix and failed there.
// "Promptly" is never a timing threshold: the slow path sleeps for an hour, so a task that is not
// cancelled promptly hangs the test and fails it on vitest's timeout.
import { setTimeout as nodeSleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  AF_UNIX,
  asCompleted,
  availableSelectors,
  CancelledError,
  createTask,
  currentTask,
  EventLoop,
  ExceptionGroup,
  Future,
  LifoQueue,
  newEventLoop,
  PriorityQueue,
  Queue,
  run,
  selectorClass,
  setEventLoop,
  shield,
  sleep,
  type SelectorKind,
  SOCK_STREAM,
  socketpair,
  TaskGroup,
  timeout,
  TimeoutError,
  wait,
  waitFor,
} from '../lib/index';
import { useRealLoop } from './helpers';

const HOUR = 3600;

let loop: EventLoop;
beforeEach(() => {
  loop = newEventLoop();
  setEventLoop(loop);
});
afterEach(() => {
  setEventLoop(null);
  if (!loop.isRunning()) loop.close();
});

describe('1. a task whose function returns a Future is cancelled like a yield', () => {
  it('createTask(() => sleep(HOUR)) ends cancelled when cancelled', async () => {
    const task = loop.createTask(() => sleep(HOUR));
    loop.callLater(0.03, () => task.cancel('stop'));
    await expect(loop.runUntilComplete(task)).rejects.toThrow(CancelledError);
    expect(task.cancelled()).toBe(true);
  });

  it('waitFor(createTask(() => sleep(HOUR)), 0.05) times out (async function)', async () => {
    const main = async (): Promise<string> => {
      try {
        await waitFor(createTask(() => sleep(HOUR)), 0.05);
        return 'no timeout';
      } catch (error) {
        return error instanceof TimeoutError ? 'timeout' : String(error);
      }
    };
    expect(await loop.runUntilComplete(main)).toBe('timeout');
  });

  it('waitFor(createTask(() => sleep(HOUR)), 0.05) times out (generator)', async () => {
    const main = function* (): Generator<unknown, string, unknown> {
      try {
        yield waitFor(createTask(() => sleep(HOUR)), 0.05);
        return 'no timeout';
      } catch (error) {
        return error instanceof TimeoutError ? 'timeout' : String(error);
      }
    };
    expect(await loop.runUntilComplete(main)).toBe('timeout');
  });

  it('a TaskGroup cancels tg.createTask(() => sleep(HOUR)) when a sibling fails (both styles)', async () => {
    const boom = new Error('boom');
    const asyncStyle = async (): Promise<unknown[]> => {
      try {
        await TaskGroup.run(async (tg) => {
          tg.createTask(() => sleep(HOUR));
          tg.createTask(async () => {
            await sleep(0.01);
            throw boom;
          });
        });
      } catch (error) {
        return (error as ExceptionGroup).exceptions;
      }
      return [];
    };
    expect(await loop.runUntilComplete(asyncStyle)).toEqual([boom]);
    const generatorStyle = function* (): Generator<unknown, unknown[], unknown> {
      try {
        yield* TaskGroup.run(function* (tg) {
          tg.createTask(() => sleep(HOUR));
          tg.createTask(function* () {
            yield sleep(0.01);
            throw boom;
          });
        });
      } catch (error) {
        return (error as ExceptionGroup).exceptions;
      }
      return [];
    };
    expect(await loop.runUntilComplete(generatorStyle)).toEqual([boom]);
  });

  it('a function returning a foreign thenable ends cancelled at once, and its signal aborts', async () => {
    const task = loop.createTask(() => new Promise<never>(() => {}));
    const signal = task.signal;
    loop.callSoon(() => task.cancel());
    await expect(loop.runUntilComplete(task)).rejects.toThrow(CancelledError);
    expect(signal.aborted).toBe(true);
  });
});

describe.each(availableSelectors())('1. (%s) a cancelled createTask(() => loop.sockRecv()) consumes nothing', (kind: SelectorKind) => {
  const fixture = useRealLoop(kind);

  it('the bytes that arrive after the cancel are there for the next receive', async () => {
    const l = fixture.loop;
    const [a, b] = socketpair(AF_UNIX, SOCK_STREAM).map((s) => fixture.track(s));
    a.setblocking(false);
    const main = async (): Promise<string> => {
      const receiving = l.createTask(() => l.sockRecv(a, 100));
      await sleep(0.01);
      receiving.cancel();
      await expect(receiving).rejects.toThrow(CancelledError);
      b.send(Buffer.from('kept'));
      await sleep(0.01);
      return (await l.sockRecv(a, 100)).toString();
    };
    expect(await l.runUntilComplete(main)).toBe('kept');
  });
});

describe('2. a done Future settles when awaited outside its running loop', () => {
  it('a result set before a run', async () => {
    const f = loop.createFuture<number>();
    f.setResult(7);
    loop.callSoon(() => loop.stop());
    await loop.runForever();
    expect(await f).toBe(7);
  });

  it('a finished task after runUntilComplete returned, and after the loop closed', async () => {
    const task = loop.createTask(async () => 42);
    await loop.runUntilComplete(task);
    expect(await task).toBe(42);
    loop.close();
    expect(await task).toBe(42);
  });

  it('a cancelled Future and a failed one reject with their errors', async () => {
    const cancelled = loop.createFuture();
    cancelled.cancel('gone');
    await expect(cancelled).rejects.toThrow(CancelledError);
    const failed = loop.createFuture();
    failed.setException(new RangeError('bad'));
    await expect(failed).rejects.toThrow(RangeError);
  });

  it('a pending Future settles when the loop next runs and completes it', async () => {
    const f = loop.createFuture<string>();
    const awaited = Promise.resolve(f).then((v) => `got ${v}`);
    loop.callLater(0.01, () => f.setResult('late'));
    await loop.runUntilComplete(f);
    expect(await awaited).toBe('got late');
  });

  it('a pending Future of a closed loop rejects with ERR_LOOP_CLOSED', async () => {
    const f = loop.createFuture();
    loop.close();
    await expect(f).rejects.toMatchObject({ code: 'ERR_LOOP_CLOSED' });
  });
});

describe('3. wait, waitFor, asCompleted, shield and sleep work where gather does', () => {
  it('loop.runUntilComplete(wait(tasks)) (the seed programs shape)', async () => {
    const tasks = [1, 2, 3].map((n) => loop.createTask(async () => n));
    const [done, pending] = await loop.runUntilComplete(wait(tasks));
    expect(done.size).toBe(3);
    expect(pending.size).toBe(0);
  });

  it('waitFor, shield, sleep and asCompleted made before the loop runs', async () => {
    const task = loop.createTask(() => sleep(0.01, 'slept'));
    expect(await loop.runUntilComplete(waitFor(task, 5))).toBe('slept');
    expect(await loop.runUntilComplete(shield(loop.createTask(async () => 'shielded')))).toBe('shielded');
    expect(await loop.runUntilComplete(sleep(0, 'zero'))).toBe('zero');
    const order: number[] = [];
    const main = function* (): Generator<unknown, void, unknown> {
      for (const next of asCompleted([sleep(0.02, 2), sleep(0.01, 1)])) order.push((yield next) as number);
    };
    await loop.runUntilComplete(main);
    expect(order).toEqual([1, 2]);
  });

  it('a Future of another loop is refused with a message that says what to do', async () => {
    const other = newEventLoop();
    try {
      const f = other.createFuture();
      await expect(loop.runUntilComplete(f)).rejects.toThrow(/setEventLoop\(loop\)|pass the coroutine function/);
    } finally {
      other.close();
    }
  });

  it('with no loop at all, the error names the call to make instead', () => {
    expect(() => createTask(async () => 1)).toThrow(/pass the coroutine function, not its call/);
  });
});

describe('4. AbortSignals, both ways', () => {
  it('a Node API given task.signal rejecting with AbortError ends the task cancelled (async)', async () => {
    const task = loop.createTask(async () => {
      await nodeSleep(HOUR * 1000, undefined, { signal: (currentTask() as NonNullable<ReturnType<typeof currentTask>>).signal });
    });
    loop.callLater(0.02, () => task.cancel('enough'));
    await expect(loop.runUntilComplete(task)).rejects.toThrow(CancelledError);
    expect(task.cancelled()).toBe(true);
  });

  it('the same in a generator task', async () => {
    const task = loop.createTask(function* () {
      yield nodeSleep(HOUR * 1000, undefined, { signal: (currentTask() as NonNullable<ReturnType<typeof currentTask>>).signal });
    });
    loop.callLater(0.02, () => task.cancel());
    await expect(loop.runUntilComplete(task)).rejects.toThrow(CancelledError);
    expect(task.cancelled()).toBe(true);
  });

  it('inside a TaskGroup, a child stopped through its signal is not a failure', async () => {
    const boom = new Error('boom');
    const main = async (): Promise<unknown[]> => {
      try {
        await TaskGroup.run(async (tg) => {
          tg.createTask(async () => {
            const me = currentTask() as NonNullable<ReturnType<typeof currentTask>>;
            await nodeSleep(HOUR * 1000, undefined, { signal: me.signal });
          });
          tg.createTask(async () => {
            await sleep(0.01);
            throw boom;
          });
        });
      } catch (error) {
        return (error as ExceptionGroup).exceptions;
      }
      return [];
    };
    expect(await loop.runUntilComplete(main)).toEqual([boom]);
  });

  it('createTask(coro, { signal }): an abort cancels with the reason as the message', async () => {
    const controller = new AbortController();
    const task = loop.createTask(() => sleep(HOUR), { signal: controller.signal });
    loop.callLater(0.01, () => controller.abort(new Error('user hit stop')));
    await expect(loop.runUntilComplete(task)).rejects.toThrow('user hit stop');
    expect(task.cancelled()).toBe(true);
    const before = new AbortController();
    before.abort('too late');
    let ran = false;
    const never = loop.createTask(
      async () => {
        ran = true;
      },
      { signal: before.signal },
    );
    await expect(loop.runUntilComplete(never)).rejects.toThrow(CancelledError);
    expect(ran).toBe(false);
    expect(() => loop.createTask(async () => 1, { signal: {} as AbortSignal })).toThrow(TypeError);
  });

  it('run(main, { signal }) and sleep(delay, value, { signal })', async () => {
    setEventLoop(null);
    loop.close();
    const controller = new AbortController();
    setTimeout(() => controller.abort('shutdown'), 20);
    await expect(run(() => sleep(HOUR), { signal: controller.signal })).rejects.toThrow(CancelledError);
    const second = new AbortController();
    const main = async (): Promise<string> => {
      setTimeout(() => second.abort('wake'), 10);
      try {
        await sleep(HOUR, undefined, { signal: second.signal });
        return 'slept';
      } catch (error) {
        return error instanceof CancelledError ? `cancelled: ${error.message}` : String(error);
      }
    };
    expect(await run(main)).toBe('cancelled: wake');
    loop = newEventLoop();
  });

  it('timeout(delay, { signal }) cancels the task; the expiry still gives TimeoutError (generator too)', async () => {
    const controller = new AbortController();
    const asyncStyle = async (): Promise<string> => {
      loop.callLater(0.01, () => controller.abort('aborted'));
      try {
        await timeout(HOUR, async () => sleep(HOUR), { signal: controller.signal });
        return 'finished';
      } catch (error) {
        return (error as Error).name;
      }
    };
    expect(await loop.runUntilComplete(asyncStyle)).toBe('CancelledError');
    const generatorStyle = function* (): Generator<unknown, string, unknown> {
      try {
        yield* timeout(0.01, function* () {
          yield sleep(HOUR);
        }, { signal: new AbortController().signal });
        return 'finished';
      } catch (error) {
        return (error as Error).name;
      }
    };
    expect(await loop.runUntilComplete(generatorStyle)).toBe('TimeoutError');
  });
});

describe.each(availableSelectors())('5. (%s) a second receive on a busy socket is refused', (kind: SelectorKind) => {
  const fixture = useRealLoop(kind);

  it('sockRecv, sockRecvInto and sockAccept fail with ERR_SOCKET_BUSY; the first one still gets the data', async () => {
    const l = fixture.loop;
    const [a, b] = socketpair(AF_UNIX, SOCK_STREAM).map((s) => fixture.track(s));
    a.setblocking(false);
    const main = async (): Promise<string> => {
      const first = l.sockRecv(a, 100);
      await expect(l.sockRecv(a, 100)).rejects.toMatchObject({ code: 'ERR_SOCKET_BUSY' });
      await expect(l.sockRecvInto(a, Buffer.alloc(10))).rejects.toMatchObject({ code: 'ERR_SOCKET_BUSY' });
      b.send(Buffer.from('first'));
      return (await first).toString();
    };
    expect(await l.runUntilComplete(main)).toBe('first');
    const server = fixture.track(new (await import('../lib/index')).Socket(AF_UNIX, SOCK_STREAM));
    server.bind('');
    server.listen(1);
    server.setblocking(false);
    const accepts = async (): Promise<void> => {
      const accepting = l.sockAccept(server);
      await expect(l.sockAccept(server)).rejects.toMatchObject({ code: 'ERR_SOCKET_BUSY' });
      accepting.cancel();
      // Once the first is cancelled, the socket is free again.
      const again = l.sockAccept(server);
      again.cancel();
      await expect(again).rejects.toThrow(CancelledError);
    };
    await l.runUntilComplete(accepts);
  });
});

describe('5. callLater with a delay over a day warns once in debug mode', () => {
  it('one MUXLOOP_LONG_DELAY warning, and none without debug mode', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      loop.callLater(5000, () => {}).cancel(); // under a day: fine
      loop.callLater(100_000, () => {}).cancel(); // no debug mode: silent
      expect(warn).not.toHaveBeenCalled();
      loop.setDebug(true);
      loop.callLater(100_000, () => {}).cancel();
      loop.callLater(200_000, () => {}).cancel();
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0][0])).toMatch(/SECONDS/);
    } finally {
      warn.mockRestore();
    }
  });
});

describe('6. queues and lock waiters keep FIFO order over many items', () => {
  it('Queue, LifoQueue and PriorityQueue drain 100,000 items in their order', async () => {
    const n = 100_000;
    const main = function* (): Generator<unknown, boolean, unknown> {
      const fifo = new Queue<number>();
      const lifo = new LifoQueue<number>();
      const prio = new PriorityQueue<number>();
      for (let i = 0; i < n; i++) {
        fifo.putNowait(i);
        lifo.putNowait(i);
        prio.putNowait((i * 7919) % n);
      }
      for (let i = 0; i < n; i++) {
        if (fifo.getNowait() !== i) return false;
        if (lifo.getNowait() !== n - 1 - i) return false;
        if (prio.getNowait() !== i) return false;
      }
      yield sleep(0);
      return fifo.empty() && lifo.empty() && prio.empty();
    };
    expect(await loop.runUntilComplete(main)).toBe(true);
  });

  it('getters queued on an empty Queue are served first in, first out, cancelled ones skipped', async () => {
    const main = async (): Promise<number[]> => {
      const q = new Queue<number>();
      const getters = Array.from({ length: 1000 }, () => loop.createTask(() => q.get()));
      await sleep(0);
      for (let i = 0; i < 1000; i += 2) getters[i].cancel();
      for (let i = 0; i < 500; i++) q.putNowait(i);
      const values = await Promise.all(getters.filter((_, i) => i % 2 === 1));
      return values;
    };
    expect(await loop.runUntilComplete(main)).toEqual(Array.from({ length: 500 }, (_, i) => i));
  });
});

describe('Future is what every helper returns', () => {
  it('sleep, wait and waitFor give loop Futures bound to the current loop', () => {
    const s = sleep(1);
    expect(s).toBeInstanceOf(Future);
    expect(s.getLoop()).toBe(loop);
    s.cancel();
    expect(selectorClass).toBeTypeOf('function');
  });
});

/**
 * The loop side of executors: `runInExecutor`, the loop's default thread pool, and `toThread`,
 * as asyncio's `loop.run_in_executor`, `loop.shutdown_default_executor` and `asyncio.to_thread`.
 * Standalone functions taking the loop for now, to become `BaseEventLoop` methods.
 * @packageDocumentation
 */
import { availableParallelism } from 'node:os';
import { codedError, invalidArgType } from '../core/errors';
import type { Future } from '../tasks/futures';
import { getRunningLoop } from '../core/events';
import type { BaseEventLoop } from './base_loop';
import type { Executor, Work } from './executors';
import { ThreadPoolExecutor } from './thread_pool';

interface DefaultExecutorState {
  executor: ThreadPoolExecutor | undefined;
  shutdownCalled: boolean;
}

// Per loop, without keeping a closed loop alive.
const defaults = new WeakMap<BaseEventLoop, DefaultExecutorState>();

function stateOf(loop: BaseEventLoop): DefaultExecutorState {
  let state = defaults.get(loop);
  if (state === undefined) {
    state = { executor: undefined, shutdownCalled: false };
    defaults.set(loop, state);
  }
  return state;
}

/**
 * The loop's default executor: a `ThreadPoolExecutor` of `os.availableParallelism()` threads,
 * made on first use. Throws `ERR_EXECUTOR_SHUTDOWN` after `shutdownDefaultExecutor(loop)`.
 */
export function getDefaultExecutor(loop: BaseEventLoop): ThreadPoolExecutor {
  const state = stateOf(loop);
  if (state.shutdownCalled) throw codedError('ERR_EXECUTOR_SHUTDOWN', 'Executor shutdown has been called');
  state.executor ??= new ThreadPoolExecutor({ maxWorkers: availableParallelism() });
  return state.executor;
}

/** @internal For tests: the default executor if it was made, without making one. */
export function peekDefaultExecutor(loop: BaseEventLoop): ThreadPoolExecutor | undefined {
  return defaults.get(loop)?.executor;
}

/**
 * Runs `fn(...args)` in `executor` (`null`/`undefined`: the loop's default thread pool) and
 * returns a Future of `loop` for the result (asyncio's `loop.run_in_executor`). `fn` is a
 * self-contained function, or the name of an export of the executor's `filename` (executors.ts
 * explains both; wrap an argument in `transfer(value, list)` to move its buffers).
 *
 * Cancelling the Future cancels the job if it is still queued (it never runs); a running job
 * finishes and its result is dropped. Throws `ERR_LOOP_CLOSED` on a closed loop.
 *
 * ```ts
 * const digest = await runInExecutor(loop, null, (text: string) => text.length, 'abc');
 * ```
 */
export function runInExecutor<T = unknown>(
  loop: BaseEventLoop,
  executor: Executor | null | undefined,
  fn: Work,
  ...args: unknown[]
): Future<T> {
  if (loop.isClosed()) throw codedError('ERR_LOOP_CLOSED', 'Event loop is closed');
  if (executor !== null && executor !== undefined && typeof executor.submit !== 'function') {
    throw invalidArgType('executor', 'an executor, null or undefined', executor);
  }
  const job = (executor ?? getDefaultExecutor(loop)).submit<T>(fn, ...args);
  const future = loop.createFuture<T>();
  future.addDoneCallback((done) => {
    if (done.cancelled()) job.cancel();
  });
  // The job's promise settles on this thread (Node's loop); setResult schedules the Future's
  // callbacks with callSoon, which wakes a waiting loop in both modes.
  job.promise.then(
    (value) => {
      if (!future.done() && !loop.isClosed()) future.setResult(value);
    },
    (error: unknown) => {
      if (!future.done() && !loop.isClosed()) future.setException(error ?? new Error('job failed with undefined'));
    },
  );
  return future;
}

/**
 * Shuts the loop's default executor down and waits for its threads (asyncio's
 * `loop.shutdown_default_executor`); afterwards `runInExecutor(loop, null, ...)` throws
 * `ERR_EXECUTOR_SHUTDOWN`. Resolves at once if none was made.
 */
export async function shutdownDefaultExecutor(loop: BaseEventLoop): Promise<void> {
  const state = stateOf(loop);
  state.shutdownCalled = true;
  const executor = state.executor;
  if (executor !== undefined) await executor.shutdown(true);
}

/**
 * Runs `fn(...args)` in the running loop's default thread pool and returns the Future
 * (asyncio's `to_thread`); throws `ERR_NO_RUNNING_LOOP` outside a running loop. `fn` must be
 * self-contained (executors.ts): it runs in another thread.
 */
export function toThread<T = unknown>(fn: Work, ...args: unknown[]): Future<T> {
  return runInExecutor<T>(getRunningLoop() as BaseEventLoop, null, fn, ...args);
}

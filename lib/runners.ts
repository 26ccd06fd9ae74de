/**
 * `run(main)` and `runSync(main)`: the entry points of a program (python-anchor.md section 3.6,
 * asyncio's `asyncio.run` and `Runner`). Each creates a loop, runs `main` as a task, cancels the
 * tasks still pending when `main` is done and waits for them, reports their unexpected errors,
 * and closes the loop. Ctrl-C (SIGINT) cancels `main`, as in asyncio; a second Ctrl-C kills the
 * process the usual way.
 * @packageDocumentation
 */
import { executionAsyncId } from 'node:async_hooks';
import { codedError, invalidArgType } from './core/errors';
import { checkOptionKeys, optionKeys } from './core/options';
import { peekDefaultExecutor } from './loop/run_in_executor';
import { SigintGuard } from './loop/signals';
import { CancelledError, type Future, wrapFuture } from './tasks/futures';
import { gather } from './tasks/helpers';
import type { EventLoopOptions } from './loop/base_loop';
import { type EventLoop, getRunningLoop, newEventLoop, setEventLoop } from './loops';
import { allTasks, checkSignal, type Coroutine, isCoroutine, type Task } from './tasks/tasks';

export { KeyboardInterrupt } from './loop/signals';

/** Options of `run` and `runSync`. */
export interface RunOptions {
  /** Debug mode for the loop (default: `MUXLOOP_DEBUG`). */
  debug?: boolean;
  /** Makes the loop (default: `newEventLoop({debug})`). */
  loopFactory?: (options: EventLoopOptions) => EventLoop;
  /**
   * Cancels `main` when it aborts (the signal's reason as the cancel message): the run then
   * rejects (or throws) `CancelledError` after the usual shutdown.
   */
  signal?: AbortSignal;
}

type RunUntil = <T>(loop: EventLoop, future: Future<T>) => T | Promise<T>;

/** One run: loop setup, SIGINT, and the shutdown that cancels what is left. */
class Runner {
  readonly loop: EventLoop;
  #sigint: SigintGuard | undefined;

  constructor(options: RunOptions) {
    try {
      getRunningLoop();
    } catch {
      const factory = options.loopFactory ?? newEventLoop;
      this.loop = factory(options.debug === undefined ? {} : { debug: options.debug });
      setEventLoop(this.loop);
      return;
    }
    throw codedError('ERR_LOOP_RUNNING', 'run() cannot be called from a running event loop');
  }

  start<T>(main: Coroutine<T>, signal: AbortSignal | undefined): Task<T> {
    const task = this.loop.createTask(main as Coroutine<unknown>, signal === undefined ? {} : { signal }) as Task<T>;
    // Installed before the run, so the run's own guard (runUntilComplete) leaves SIGINT to this one.
    this.#sigint = SigintGuard.install(task as Task<unknown>);
    return task;
  }

  /** After main: turns its cancellation by Ctrl-C into KeyboardInterrupt. */
  failure(error: unknown): unknown {
    const interrupt = error instanceof CancelledError ? this.#sigint?.interruption() : undefined;
    this.#sigint?.remove();
    return interrupt ?? error;
  }

  /** asyncio's `_cancel_all_tasks`, then close. Yields what must be run until complete. */
  *shutdown(): Generator<Future<unknown>, void, unknown> {
    this.#sigint?.remove();
    try {
      const leftover = allTasks(this.loop);
      if (leftover.size > 0) {
        for (const task of leftover) task.cancel();
        yield gather([...leftover], { returnExceptions: true });
        for (const task of leftover) {
          if (task.cancelled()) continue;
          const exception = task.exception();
          if (exception !== undefined) {
            this.loop.callExceptionHandler({
              message: 'unhandled exception during run() shutdown',
              exception,
              task,
            });
          }
        }
      }
      // As asyncio.run: the default executor's threads are joined before the loop closes.
      if (peekDefaultExecutor(this.loop) !== undefined) yield wrapFuture(this.loop.shutdownDefaultExecutor(), this.loop);
    } finally {
      setEventLoop(null);
      this.loop.close();
    }
  }
}

function checkMain(main: unknown): void {
  if (!isCoroutine(main) && typeof (main as PromiseLike<unknown>)?.then !== 'function') {
    throw invalidArgType('main', 'a coroutine (an async function or a generator)', main);
  }
}

const RUN_KEYS = optionKeys<RunOptions>()(['debug', 'loopFactory', 'signal']);

function checkRunOptions(options: RunOptions): void {
  if (options === null || typeof options !== 'object') throw invalidArgType('options', 'an object', options);
  checkOptionKeys(options, RUN_KEYS);
}

/**
 * Runs `main` (an async function, a generator function or object, or a Promise) on a new loop in
 * hosted mode and resolves with its result. When `main` is done, every task still pending is
 * cancelled and awaited, the loop is closed and the current loop is cleared. Ctrl-C cancels
 * `main`; if it ends cancelled, `run` rejects with `KeyboardInterrupt`. `ERR_LOOP_RUNNING` inside
 * a running loop.
 *
 * ```ts
 * await run(async () => { await sleep(0.1); console.log('done'); });
 * ```
 */
export async function run<T>(main: Coroutine<T>, options: RunOptions = {}): Promise<T> {
  checkMain(main);
  checkRunOptions(options);
  const signal = checkSignal(options.signal);
  const runner = new Runner(options);
  const runUntil: RunUntil = (loop, future) => loop.runUntilComplete(future);
  let result: T;
  try {
    result = await runUntil(runner.loop, runner.start(main, signal));
  } catch (error) {
    await finish(runner, runUntil);
    throw runner.failure(error);
  }
  await finish(runner, runUntil);
  return result;
}

async function finish(runner: Runner, runUntil: RunUntil): Promise<void> {
  for (const future of runner.shutdown()) await runUntil(runner.loop, future);
}

/**
 * Owning-mode twin of `run`: blocks the thread in the loop until `main` is done and returns its
 * result. Only allowed at the top level of a CommonJS module (`ERR_LOOP_CANNOT_OWN_THREAD`
 * elsewhere); see `EventLoop.runForeverSync`.
 */
export function runSync<T>(main: Coroutine<T>, options: RunOptions = {}): T {
  checkMain(main);
  checkRunOptions(options);
  // The loop refuses the same way; checking first leaves no task behind that could never run.
  if (executionAsyncId() !== 1) {
    throw codedError(
      'ERR_LOOP_CANNOT_OWN_THREAD',
      'Cannot run the loop in owning mode: runSync() is not called from the top level of a CommonJS module (use run() here)',
    );
  }
  const signal = checkSignal(options.signal);
  const runner = new Runner(options);
  let result: T;
  try {
    result = runner.loop.runUntilCompleteSync(runner.start(main, signal));
  } catch (error) {
    for (const future of runner.shutdown()) runner.loop.runUntilCompleteSync(future);
    throw runner.failure(error);
  }
  for (const future of runner.shutdown()) runner.loop.runUntilCompleteSync(future);
  return result;
}

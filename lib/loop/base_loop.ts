/**
 * `BaseEventLoop`: asyncio's `BaseEventLoop`, the part of every muxloop loop that is not about I/O:
 * scheduling (`callSoon`, `callLater`, `callAt`), timers, futures and tasks, the exception
 * handler, debug mode, name resolution, signal handlers, and the runs (hosted and owning) with
 * `stop`/`close`. The
 * I/O engine is a selector given at construction: subclasses (`SelectorEventLoop` in lib/net/,
 * a completion loop later) watch fds on it and turn its ready events into callbacks
 * (`processEvents`). This folder imports core/, selectors/, socket/ and tasks/, never net/.
 *
 * **All delays and times are in SECONDS** (`callLater(0.5, cb)` is half a second), as in asyncio,
 * not milliseconds as in `setTimeout`.
 *
 * Two ways to run it (DESIGN.md section 3):
 * - **Hosted (default)**: `await loop.runForever()`, `await loop.runUntilComplete(x)`. The loop
 *   never blocks the thread: Node's libuv watches the selector and the next deadline, and each
 *   wakeup runs one loop iteration inside a Node-API callback scope, so `process.nextTick` and
 *   promise jobs drain after it. Node's timers, fs, workers and signals keep working.
 * - **Owning (opt-in)**: `loop.runForeverSync()`, `loop.runUntilCompleteSync(x)` block the thread
 *   in our selector with libuv's own fd in the set, and run Node's pending work between
 *   iterations. Only allowed at the top level of a CommonJS module, before Node's loop starts;
 *   anywhere else they throw `ERR_LOOP_CANNOT_OWN_THREAD` at once.
 *
 * The ordering contract (python-anchor.md section 2.1), one iteration:
 * 1. the ready fds' reader, then writer, handles are queued (one handle per fd and direction,
 *    reused, so no allocation per event);
 * 2. every timer due by now is queued, earliest deadline first, equal deadlines FIFO;
 * 3. a snapshot of the ready queue runs, FIFO, skipping cancelled handles. Whatever these
 *    callbacks schedule (callSoon, done callbacks, timers already due) runs in the next
 *    iteration, after another poll for I/O.
 * `stop()` lets the current iteration finish and ends the run after it.
 *
 * Longer than the project's ~600 lines on purpose: one class whose private run state (`#ready`,
 * `#timers`, `#waiting`, `#armedAt`) is shared by scheduling, the iteration and both run modes;
 * splitting it would turn that state into a protected surface.
 * @packageDocumentation
 */
import { executionAsyncId } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';
import { codedError, describe, invalidArgType, outOfRange } from '../core/errors';
import {
  type Callback,
  type ExceptionContext,
  forgetCurrentLoop,
  Handle,
  runningLoopOrNone,
  setRunningLoop,
  TimerHandle,
} from '../core/events';
import { TimerHeap } from '../core/heap';
import { binding, type NativeUringEngine, OWNER_COMPLETIONS } from '../core/native';
import { type BaseSelector, DefaultSelector, nativeSelectorOf } from '../selectors';
import { Future, wrapFuture } from '../tasks/futures';
import { type Coroutine, isCoroutine, type ResultOf, Task, type TaskLoop, type TaskOptions, type TaskOptionsFor } from '../tasks/tasks';
import type { Executor, Work } from './executors';
import { createHost, type LoopHost } from './hosts';
import * as executors from './run_in_executor';
import * as resolver from './resolver';
import type { AddrInfo, GetaddrinfoOptions } from './resolver';
import { resolveSignal, SigintGuard, SignalHandlers, type SignalLike } from './signals';

/** asyncio's MAXIMUM_SELECT_TIMEOUT: no single wait is longer than a day. */
const MAX_TIMEOUT = 24 * 3600;
/** asyncio's _MIN_SCHEDULED_TIMER_HANDLES: below this many timers the heap is never compacted. */
const MIN_TIMERS_TO_COMPACT = 100;
/** callLater delays above this many seconds (a day) warn once in debug mode. */
const LONG_DELAY = 24 * 3600;
/** Events handed over per wakeup; the kernel keeps the rest for the next one. */
const MAX_BATCH = 1024;
/**
 * Iterations run back to back while only callbacks are queued and no fd is watched (a poll could
 * report nothing): at most this many, for at most SPIN_MS milliseconds, so that Node's own timers
 * and I/O still get a turn about every millisecond. `process.nextTick` callbacks and promise jobs
 * run between two of them, as after any wakeup, so loop callbacks and promise continuations keep
 * their order. Owning mode does it in runForeverSync (no wait in between); hosted mode has the
 * host call the loop again at once (native/bindings/loop_host_binding.cc, the same two limits),
 * each call its own Node-API callback scope, without libuv's turn in between. Python's
 * `run_forever` calls `_run_once` back to back the same way.
 */
const SPIN_ITERATIONS = 128;
/** The arguments of every handle scheduled without any (never changed). */
const NO_ARGS: unknown[] = Object.freeze([]) as unknown as unknown[];
const SPIN_MS = 1;


/**
 * @internal What a loop with a completion engine of its own (the io_uring proactor) lends an
 * owning run, so that the run sleeps in the engine (one `io_uring_enter` submits the iteration's
 * work and waits; native/host/loop_host.h) instead of in the selector.
 */
export interface OwnedCompletions {
  /** The native engine, handed to the `LoopOwner` (made now, for a run that waits in it, if need be). */
  ownedEngine(): NativeUringEngine;
  /** The owner waits in the engine from now on: its fd leaves the selector, submissions wait for the owner's wait. */
  beginOwned(): void;
  /** The run ended: back to being watched through the selector. */
  endOwned(): void;
  /** The owner's wait left completions to reap: queue their processing in this iteration. */
  completionsReady(): void;
}

/** A custom exception handler: `(loop, context)`. */
export type ExceptionHandler = (loop: BaseEventLoop, context: ExceptionContext) => void;

/** Loop construction options; every one has a default. */
export interface EventLoopOptions {
  /** The selector to multiplex fds with (default: a new `DefaultSelector`). Closed by `close()`. */
  selector?: BaseSelector<unknown>;
  /** Monotonic clock in SECONDS (default: `performance.now() / 1000`). Tests pass a fake one. */
  clock?: () => number;
  /** Debug mode (default: the `MUXLOOP_DEBUG` environment variable is set and not `0`). */
  debug?: boolean;
}

export type { TaskOptions } from '../tasks/tasks';

/** A task factory (`setTaskFactory`): makes the Future that runs `coro` on `loop`. */
export type TaskFactory = (loop: BaseEventLoop, coro: Coroutine<unknown>, options: TaskOptions) => Future<unknown>;

function noop(): void {}

/**
 * Owning mode's drain of `process.nextTick` callbacks and promise jobs. A throwing tick is
 * reported as Node reports one (the 'uncaughtException' handlers, or the process dies of it)
 * instead of ending the run: a microtask rethrows it, and Node hands what a `queueMicrotask`
 * callback throws to its uncaught-exception handling. The rest of the queue drains after it.
 */
function drainTicks(tick: () => void): void {
  for (;;) {
    try {
      tick.call(process);
      return;
    } catch (error) {
      queueMicrotask(() => {
        throw error;
      });
    }
  }
}

/** @internal The error of every scheduling call on a closed loop. */
export function loopClosed(): Error {
  return codedError('ERR_LOOP_CLOSED', 'Event loop is closed');
}

/** @internal Throws the TypeError asyncio raises for a non-callable callback. */
export function checkCallable(callback: unknown, method: string): asserts callback is Callback {
  if (typeof callback !== 'function') {
    throw codedError(
      'ERR_INVALID_ARG_TYPE',
      `a callable object was expected by ${method}(), got ${describe(callback)}`,
      TypeError,
    );
  }
}

function checkSeconds(value: unknown, name: string): number {
  if (typeof value !== 'number') throw invalidArgType(name, 'a number of seconds', value);
  if (Number.isNaN(value)) throw outOfRange(name, 'a number of seconds, not NaN', value);
  return value;
}

function defaultClock(): number {
  return performance.now() / 1000;
}

function envDebug(): boolean {
  const value = process.env.MUXLOOP_DEBUG;
  return value !== undefined && value !== '' && value !== '0';
}

/**
 * The I/O-independent half of every muxloop loop; see the module documentation for the two run
 * modes and the ordering contract. **Delays are in seconds.** Subclasses implement
 * `processEvents` (turn a batch of ready `(fd, events)` pairs into queued handles) and
 * `hasIoWatches`; they queue handles with `queueReady`, and call `ioChanged` after changing what
 * they watch so that a waiting hosted run re-arms.
 */
export abstract class BaseEventLoop implements TaskLoop {
  readonly #selector: BaseSelector<unknown>;
  readonly #clock: () => number;
  #ready: Handle[] = [];
  #spare: Handle[] = [];
  readonly #timers = new TimerHeap<TimerHandle>();
  #cancelledTimers = 0;
  #sequence = 0;
  #iterations = 0;
  #running = false;
  #stopping = false;
  #closed = false;
  #debug: boolean;
  #exceptionHandler: ExceptionHandler | null = null;
  #taskFactory: TaskFactory | null = null;
  #warnedLongDelay = false;
  #signals: SignalHandlers | undefined;
  /** A ref'd Node timer while a run has signal handlers: Node's signal handles are unref'd. */
  #signalKeeper: NodeJS.Timeout | undefined;
  /** Callbacks slower than this many seconds are reported in debug mode (asyncio: 0.1). */
  slowCallbackDuration = 0.1;

  // Hosted run state.
  #host: LoopHost | undefined;
  /** Between two hosted iterations: scheduling must (re)arm the host. */
  #waiting = false;
  /** Loop time the host is armed for; -Infinity = already armed to wake at once. */
  #armedAt = Infinity;
  #finishRun: (() => void) | undefined;
  #failRun: ((error: unknown) => void) | undefined;
  readonly #out = new Int32Array(2 * MAX_BATCH);

  /** A loop over `options.selector` (default `DefaultSelector`) and `options.clock`. */
  constructor(options: EventLoopOptions = {}) {
    this.#selector = options.selector ?? new DefaultSelector();
    this.#clock = options.clock ?? defaultClock;
    this.#debug = options.debug ?? envDebug();
  }

  /** The selector the loop waits on (its I/O engine). */
  protected get selector(): BaseSelector<unknown> {
    return this.#selector;
  }

  // ---------------------------------------------------------------------------------------------
  // What a subclass provides

  /** Phase 1 of an iteration: queue the handles of `count` ready `(fd, events)` pairs in `out`. */
  protected abstract processEvents(count: number, out: Int32Array): void;

  /** Whether any fd is watched (a hosted run then waits for I/O, and holds Node alive). */
  protected abstract hasIoWatches(): boolean;

  /** Queues `handle` for the current iteration's snapshot (from `processEvents`). */
  protected queueReady(handle: Handle): void {
    this.#ready.push(handle);
  }

  /**
   * Called once per iteration just before the loop may wait for I/O (hosted and owning mode): a
   * subclass with submissions of its own (the io_uring proactor) hands them to the kernel here.
   */
  protected beforeWait(): void {}

  /**
   * @internal Owning mode: a completion engine the run may sleep in instead of the selector (the
   * io_uring proactor), or undefined. See `OwnedCompletions`.
   */
  protected ownedCompletions(): OwnedCompletions | undefined {
    return undefined;
  }

  /** What the loop watches changed: a waiting hosted run re-arms. */
  protected ioChanged(): void {
    if (this.#waiting) this.#rearm();
  }

  /** Handles created now record where, in debug mode. */
  protected newHandle(callback: unknown, args: unknown[]): Handle {
    return new Handle(callback as Callback, args, this, this.#traceback());
  }

  // ---------------------------------------------------------------------------------------------
  // Scheduling

  /** The loop's monotonic clock, in SECONDS. */
  time(): number {
    return this.#clock();
  }

  /**
   * Schedules `callback(...args)` for the next iteration, after the callbacks already queued
   * (FIFO). Throws `TypeError` for a non-function, `ERR_LOOP_CLOSED` on a closed loop.
   */
  callSoon<A extends unknown[]>(callback: (...args: A) => unknown, ...args: A): Handle;
  callSoon(callback: Callback): Handle {
    if (this.#closed) throw loopClosed();
    checkCallable(callback, 'callSoon');
    // `arguments` rather than a rest parameter: no array for a callback without arguments (the
    // handle never changes its array), the commonest call. V8 reads `arguments` in optimized code
    // without making the object.
    const count = arguments.length;
    let args: unknown[];
    if (count <= 1) args = NO_ARGS;
    else if (count === 2) args = [arguments[1]];
    else args = Array.prototype.slice.call(arguments, 1);
    const handle = new Handle(callback, args, this, this.#traceback());
    this.#ready.push(handle);
    if (this.#waiting && this.#armedAt !== -Infinity) this.#wakeNow();
    return handle;
  }

  /**
   * Same as `callSoon`, and wakes the loop if it is waiting. In Node a loop object lives in one
   * isolate (one thread), and no other thread can even hold a reference to it, so "thread-safe"
   * here means: callable from any code on the loop's thread, including Node callbacks (timers,
   * fs, sockets, signals, messages from workers) and promise jobs that run while a hosted loop
   * waits or between an owning loop's iterations; it wakes the loop (so does `callSoon`). From a
   * worker thread, use `createThreadsafeScheduler(loop)` (lib/loop/threadsafe.ts): the worker
   * calls callbacks registered by name, with cloneable arguments, and wakes the loop.
   */
  callSoonThreadsafe<A extends unknown[]>(callback: (...args: A) => unknown, ...args: A): Handle {
    return this.callSoon(callback, ...args);
  }

  /**
   * Schedules `callback(...args)` after `delay` **SECONDS** (not milliseconds). A delay <= 0 runs
   * it on the next iteration, in deadline order among the timers due (so `callLater(-2, b)` runs
   * before `callLater(-1, a)`). `NaN` is a `RangeError`.
   */
  callLater<A extends unknown[]>(delay: number, callback: (...args: A) => unknown, ...args: A): TimerHandle {
    checkSeconds(delay, 'delay');
    if (delay > LONG_DELAY && this.#debug && !this.#warnedLongDelay) {
      // Node's setTimeout takes milliseconds; callLater(5000, cb) is most likely meant as 5 s.
      this.#warnedLongDelay = true;
      process.emitWarning(
        `callLater(${delay}, ...) waits more than a day: delays are in SECONDS, not milliseconds`,
        { type: 'MuxloopWarning', code: 'MUXLOOP_LONG_DELAY' },
      );
    }
    return this.#schedule(this.time() + delay, callback, args, 'callLater');
  }

  /**
   * Schedules `callback(...args)` at loop time `when` (SECONDS on the `time()` clock). Timers
   * with equal deadlines run in the order they were scheduled.
   */
  callAt<A extends unknown[]>(when: number, callback: (...args: A) => unknown, ...args: A): TimerHandle {
    checkSeconds(when, 'when');
    return this.#schedule(when, callback, args, 'callAt');
  }

  #schedule(when: number, callback: unknown, args: unknown[], method: string): TimerHandle {
    if (this.#closed) throw loopClosed();
    checkCallable(callback, method);
    const timer = new TimerHandle(when, this.#sequence++, callback, args, this, this.#traceback());
    this.#timers.push(timer);
    if (this.#waiting && when < this.#armedAt) this.#rearm();
    return timer;
  }

  /** @internal A scheduled timer was cancelled: count it, and compact the heap when half are. */
  timerHandleCancelled(_handle: TimerHandle): void {
    this.#cancelledTimers++;
    if (this.#cancelledTimers > MIN_TIMERS_TO_COMPACT && this.#cancelledTimers * 2 > this.#timers.size) {
      this.#timers.retain((timer) => {
        if (!timer.cancelled()) return true;
        timer.scheduled = false;
        return false;
      });
      this.#cancelledTimers = 0;
    }
    if (this.#waiting) this.#rearm();
  }

  /** @internal For tests: iterations run so far (to check that nothing spins). */
  get iterationCount(): number {
    return this.#iterations;
  }

  /** @internal For tests: entries in the timer heap, cancelled ones included. */
  get timerHeapSize(): number {
    return this.#timers.size;
  }

  /** A new pending Future bound to this loop. */
  createFuture<T = unknown>(): Future<T> {
    return new Future<T>(this);
  }

  /**
   * Wraps `coro` in a `Task` (or what the task factory makes) that starts on the next iteration.
   * `coro` is a generator object (`function*`), a function (usually `async`, called with
   * `options.args`) or a Promise; see tasks.ts. Throws `ERR_LOOP_CLOSED` on a closed loop.
   */
  createTask<C extends Coroutine<unknown>>(coro: C, options?: TaskOptionsFor<C>): Task<ResultOf<C>> {
    if (this.#closed) throw loopClosed();
    const factory = this.#taskFactory;
    if (factory !== null) return factory(this, coro, (options ?? {}) as TaskOptions) as Task<ResultOf<C>>;
    // No options: the Task takes its shared empty bag (no object, no key check per task).
    return new Task(coro as Coroutine<ResultOf<C>>, options as TaskOptions | undefined, this);
  }

  /**
   * Sets the factory `createTask` uses, `(loop, coro, options) => Future` (`null`: the default,
   * `new Task(...)`).
   */
  setTaskFactory(factory: TaskFactory | null): void {
    if (factory !== null && typeof factory !== 'function') throw invalidArgType('factory', 'a function or null', factory);
    this.#taskFactory = factory;
  }

  /** The task factory set with `setTaskFactory`, or `null`. */
  getTaskFactory(): TaskFactory | null {
    return this.#taskFactory;
  }

  // ---------------------------------------------------------------------------------------------
  // Executors (run_in_executor.ts, executors.ts)

  /**
   * Runs `fn(...args)` in `executor` (`null`/`undefined`: the loop's default thread pool of
   * `os.availableParallelism()` threads, made on first use) and returns a Future of this loop for
   * the result (asyncio's `run_in_executor`). JavaScript functions cannot cross threads, so `fn`
   * is either the name of an export of the executor's `filename` module, or a self-contained
   * function sent by its source (a closure is refused with `ERR_EXECUTOR_CLOSURE`). Arguments and
   * results cross by structured clone; `transfer(value, list)` moves buffers instead.
   *
   * Cancelling the Future cancels a job still queued (it never runs); a running job finishes and
   * its result is dropped. `ERR_LOOP_CLOSED` on a closed loop.
   */
  runInExecutor<T = unknown>(executor: Executor | null | undefined, fn: Work, ...args: unknown[]): Future<T> {
    return executors.runInExecutor<T>(this, executor, fn, ...args);
  }

  /**
   * Shuts the default executor down and waits for its threads (asyncio's
   * `shutdown_default_executor`); `runInExecutor(null, ...)` then throws `ERR_EXECUTOR_SHUTDOWN`.
   * `run()` and `runSync()` call it before closing their loop. Resolves at once if none was made.
   */
  shutdownDefaultExecutor(): Promise<void> {
    return executors.shutdownDefaultExecutor(this);
  }

  // ---------------------------------------------------------------------------------------------
  // Name resolution (off the JS thread, through Node's dns)

  /**
   * Resolves `host` and `port` off the JS thread; resolves with a list of
   * `[family, type, proto, canonname, sockaddr]`, in the resolver's order. A null host gives the
   * wildcard addresses with `AI_PASSIVE`, the loopback ones without.
   */
  getaddrinfo(host: string | null | undefined, port: number | string | null | undefined, options?: GetaddrinfoOptions): Future<AddrInfo[]> {
    return resolver.getaddrinfo(this, host, port, options);
  }

  /**
   * Turns `sockaddr` (`[host, port]` or `[host, port, flowinfo, scopeId]`) into `[host, service]`
   * off the JS thread (`NI_*` flags). Both numeric flags skip the lookup.
   */
  getnameinfo(sockaddr: readonly [string, number, ...unknown[]], flags?: number): Future<[string, string]> {
    return resolver.getnameinfo(this, sockaddr, flags);
  }

  // ---------------------------------------------------------------------------------------------
  // The iteration. Long on purpose: it is the ordering contract, phase by phase (phase 1 is the
  // subclass's processEvents).

  /** Phases 2 and 3: due timers, then one snapshot of the ready queue. */
  #runDue(): void {
    this.#iterations++;
    // Phase 2: timers due by now, in (deadline, sequence) order.
    const timers = this.#timers;
    const end = this.time() + 1e-9;
    for (let timer = timers.peek(); timer !== undefined && timer.deadline < end; timer = timers.peek()) {
      timers.pop();
      timer.scheduled = false;
      if (timer.cancelled()) this.#cancelledTimers--;
      else this.#ready.push(timer);
    }
    // Phase 3: exactly the handles queued so far; what they schedule goes to the next iteration.
    const batch = this.#ready;
    this.#ready = this.#spare;
    const debug = this.#debug;
    for (let i = 0; i < batch.length; i++) {
      const handle = batch[i];
      if (handle.cancelled()) continue;
      if (!debug) {
        handle.run();
        continue;
      }
      const start = this.time();
      handle.run();
      const took = this.time() - start;
      if (took >= this.slowCallbackDuration) this.#reportSlow(handle, took);
    }
    batch.length = 0;
    this.#spare = batch;
  }

  /** Drops cancelled timers at the head of the heap; returns the first live one. */
  #firstTimer(): TimerHandle | undefined {
    const timers = this.#timers;
    let timer = timers.peek();
    while (timer !== undefined && timer.cancelled()) {
      timers.pop();
      timer.scheduled = false;
      this.#cancelledTimers--;
      timer = timers.peek();
    }
    return timer;
  }

  /** How long the next poll may wait: 0 with work queued or stopping, < 0 for "until I/O". */
  #pollTimeout(): number {
    if (this.#ready.length > 0 || this.#stopping) return 0;
    const timer = this.#firstTimer();
    if (timer === undefined) return -1;
    return Math.min(Math.max(0, timer.deadline - this.time()), MAX_TIMEOUT);
  }

  /** Whether the loop has work of its own that could make progress (holds Node alive). */
  #hasWork(): boolean {
    return (
      this.#ready.length > 0 ||
      this.#stopping ||
      this.hasIoWatches() ||
      this.#timers.size - this.#cancelledTimers > 0
    );
  }

  // ---------------------------------------------------------------------------------------------
  // Hosted runs

  /**
   * Runs until `stop()` is called; the promise resolves after the iteration in which it was.
   * Never blocks the thread. Rejects with `ERR_LOOP_CLOSED` on a closed loop and with
   * `ERR_LOOP_RUNNING` if this or another loop is already running on this thread.
   *
   * While it runs, the loop holds the Node process alive only when it has work of its own
   * (ready callbacks, live timers, watched fds); an idle loop with none of these does not (like
   * a pending Promise, it cannot make progress on its own).
   */
  async runForever(): Promise<void> {
    this.#checkCanRun();
    this.#host = createHost(this.#selector, this.#out, (count, out) => this.#onHostWake(count, out));
    this.#beginRun();
    const done = new Promise<void>((resolve, reject) => {
      this.#finishRun = resolve;
      this.#failRun = reject;
    });
    this.beforeWait();
    this.#waiting = true;
    try {
      this.#rearm();
    } catch (error) {
      this.#endHostedRun();
      throw error;
    }
    await done;
  }

  /**
   * Runs until `future` is done and resolves with its result (or rejects with its exception).
   * A coroutine (generator object or function) is wrapped in a Task, as asyncio's
   * `ensure_future` does; a Promise or any thenable is adopted with `wrapFuture`. Rejects with "Event loop stopped
   * before Future completed." if `stop()` ends the run first.
   *
   * A Future that nothing can complete (no timers, no watched fds, nothing else in Node that
   * could resolve it) stays pending without spinning, and the loop does not keep Node alive for
   * it (reliability.md C15).
   *
   * Ctrl-C: when nobody else listens for SIGINT (no `process.on('SIGINT')`, no
   * `addSignalHandler('SIGINT')`) and this is the main thread, the first SIGINT during the run
   * cancels `future` and the run rejects with `KeyboardInterrupt` (asyncio's `Runner`); a second
   * one kills the process at once with the default action.
   */
  async runUntilComplete<T>(future: Future<T> | Coroutine<T>): Promise<T> {
    this.#checkCanRun();
    const fut = this.#adopt(future);
    const onDone = (): void => this.stop();
    fut.addDoneCallback(onDone);
    const sigint = SigintGuard.install(fut);
    try {
      await this.runForever();
    } finally {
      fut.removeDoneCallback(onDone);
      sigint?.remove();
    }
    return this.#outcome(fut, sigint);
  }

  /** The end of `runUntilComplete(Sync)`: the result, `KeyboardInterrupt`, or "stopped". */
  #outcome<T>(fut: Future<T>, sigint: SigintGuard | undefined): T {
    if (!fut.done()) throw codedError('ERR_LOOP_STOPPED', 'Event loop stopped before Future completed.');
    const interrupt = sigint?.interruption();
    if (interrupt !== undefined) throw interrupt;
    return fut.result();
  }

  /**
   * One hosted iteration: `count` ready `(fd, events)` pairs in `out`. Returns whether another
   * iteration may run at once without a poll (only callbacks queued, no fd watched): the host
   * then calls again right after Node drained its ticks and promise jobs (see SPIN_ITERATIONS).
   */
  #onHostWake(count: number, out: Int32Array): boolean {
    if (!this.#running) return false;
    this.#waiting = false;
    try {
      if (count > 0) this.processEvents(count, out);
      this.#runDue();
      this.#afterPoll();
    } catch (error) {
      this.#endHostedRun(error);
      return false;
    }
    return this.#waiting && this.#canSpin();
  }

  /** Whether the next iteration may run at once, without a poll (see SPIN_ITERATIONS). */
  #canSpin(): boolean {
    return this.#ready.length > 0 && !this.#stopping && this.#running && !this.hasIoWatches();
  }

  #afterPoll(): void {
    if (this.#stopping) {
      this.#endHostedRun();
      return;
    }
    this.beforeWait();
    this.#waiting = true;
    this.#rearm();
  }

  #rearm(): void {
    const host = this.#host as LoopHost;
    const timeout = this.#pollTimeout();
    this.#armedAt = timeout === 0 ? -Infinity : timeout < 0 ? Infinity : this.time() + timeout;
    host.arm(timeout, this.#hasWork(), this.hasIoWatches());
  }

  #wakeNow(): void {
    this.#armedAt = -Infinity;
    (this.#host as LoopHost).arm(0, true, this.hasIoWatches());
  }

  #endHostedRun(error?: unknown): void {
    const host = this.#host;
    this.#host = undefined;
    this.#waiting = false;
    this.#armedAt = Infinity;
    const finish = this.#finishRun;
    const fail = this.#failRun;
    this.#finishRun = this.#failRun = undefined;
    this.#endRun();
    try {
      host?.close();
    } catch (closeError) {
      error ??= closeError;
    }
    if (error !== undefined) fail?.(error);
    else finish?.();
  }

  // ---------------------------------------------------------------------------------------------
  // Owning runs

  /**
   * Owning mode: runs until `stop()`, blocking the thread in the loop's selector with libuv's fd
   * in the set; Node's timers, I/O, messages and signals, `process.nextTick` and promise jobs run
   * between iterations. Only allowed at the top level of a CommonJS module (before Node's own loop
   * runs): anywhere else, and for a selector that is not one of muxloop's native ones, it throws
   * `ERR_LOOP_CANNOT_OWN_THREAD` at once. Throws `ERR_LOOP_WOULD_BLOCK_FOREVER` instead of
   * hanging when neither the loop nor Node has anything left that could wake it. A loop made
   * with `io: 'uring'` on an epoll selector sleeps in its io_uring ring instead, which polls the
   * selector's epoll fd: one `io_uring_enter` per iteration submits the iteration's I/O and waits.
   */
  runForeverSync(): void {
    this.#checkCanRun();
    const native = nativeSelectorOf(this.#selector);
    const reason =
      native === undefined
        ? 'its selector is not a native muxloop selector'
        : executionAsyncId() !== 1
          ? 'it is not called from the top level of a CommonJS module (use the hosted runForever() here)'
          : undefined;
    if (reason !== undefined) {
      throw codedError('ERR_LOOP_CANNOT_OWN_THREAD', `Cannot run the loop in owning mode: ${reason}`);
    }
    // The ring polls an epoll set only (native/host/loop_host.h).
    const lent = (native as NonNullable<typeof native>).kind === 'epoll' ? this.ownedCompletions() : undefined;
    const owner = new binding.LoopOwner(native as NonNullable<typeof native>, lent?.ownedEngine());
    // The owner takes the engine only with an epoll selector; otherwise it stays watched as a reader.
    const owned = owner.waitsInRing ? lent : undefined;
    const tick = (process as unknown as { _tickCallback: () => void })._tickCallback;
    const out = this.#out;
    this.#beginRun();
    owned?.beginOwned();
    try {
      for (;;) {
        const timeout = this.#pollTimeout();
        if (timeout < 0 && !this.hasIoWatches() && !owner.libuvAlive()) {
          throw codedError(
            'ERR_LOOP_WOULD_BLOCK_FOREVER',
            'The loop would wait forever: it has no callbacks, timers or watched fds, and Node has nothing pending',
          );
        }
        this.beforeWait();
        const result = owner.wait(timeout, out);
        drainTicks(tick); // ticks and promise jobs of the Node callbacks libuv just ran
        const count = result & (OWNER_COMPLETIONS - 1);
        if (count > 0) this.processEvents(count, out);
        if (result >= OWNER_COMPLETIONS) owned?.completionsReady();
        this.#runDue();
        drainTicks(tick); // ticks and promise jobs our callbacks queued
        if (this.#canSpin()) {
          // Only callbacks queued: more iterations before libuv's next turn (see SPIN_ITERATIONS).
          const deadline = performance.now() + SPIN_MS;
          for (let i = 1; i < SPIN_ITERATIONS && this.#canSpin(); i++) {
            this.#runDue();
            drainTicks(tick);
            if (performance.now() > deadline) break;
          }
        }
        if (this.#stopping) break;
      }
    } finally {
      this.#endRun();
      owner.close();
      owned?.endOwned(); // submits what the last iteration queued
    }
  }

  /**
   * Owning mode `runUntilComplete`: blocks until `future` is done and returns its result (or
   * throws its exception). Same restrictions as `runForeverSync`; Ctrl-C as in `runUntilComplete`.
   */
  runUntilCompleteSync<T>(future: Future<T> | Coroutine<T>): T {
    this.#checkCanRun();
    const fut = this.#adopt(future);
    const onDone = (): void => this.stop();
    fut.addDoneCallback(onDone);
    const sigint = SigintGuard.install(fut);
    try {
      this.runForeverSync();
    } finally {
      fut.removeDoneCallback(onDone);
      sigint?.remove();
    }
    return this.#outcome(fut, sigint);
  }

  // ---------------------------------------------------------------------------------------------
  // Lifecycle

  #checkCanRun(): void {
    if (this.#closed) throw loopClosed();
    if (this.#running) throw codedError('ERR_LOOP_RUNNING', 'This event loop is already running');
    if (runningLoopOrNone() !== undefined) {
      throw codedError('ERR_LOOP_RUNNING', 'Cannot run the event loop while another loop is running');
    }
  }

  #adopt<T>(future: Future<T> | Coroutine<T>): Future<T> {
    if (future instanceof Future) {
      if ((future.getLoop() as BaseEventLoop) !== this) {
        throw codedError(
          'ERR_INVALID_ARG_VALUE',
          'The future belongs to a different loop than this one (it was made on getEventLoop()): make this loop ' +
            'the current one with setEventLoop(loop), or pass the coroutine function, not its call',
          TypeError,
        );
      }
      return future;
    }
    if (isCoroutine(future)) return this.createTask(future as Coroutine<unknown>) as Future<T>;
    if (future === null || typeof (future as { then?: unknown })?.then !== 'function') {
      throw invalidArgType('future', 'a Future, a coroutine or a thenable', future);
    }
    return wrapFuture(future as PromiseLike<T>, this);
  }

  #beginRun(): void {
    this.#running = true;
    setRunningLoop(this);
    this.#keepAliveForSignals();
  }

  #endRun(): void {
    this.#stopping = false;
    this.#running = false;
    if (runningLoopOrNone() === this) setRunningLoop(undefined);
    this.#keepAliveForSignals();
  }

  /**
   * Stops the loop after the current iteration (or, if it is not running, makes the next run do
   * exactly one iteration). Never throws.
   */
  stop(): void {
    this.#stopping = true;
    if (this.#waiting && this.#armedAt !== -Infinity) this.#wakeNow();
  }

  /** Whether a run is in progress. */
  isRunning(): boolean {
    return this.#running;
  }

  /** Whether `close()` was called. */
  isClosed(): boolean {
    return this.#closed;
  }

  /**
   * Drops every pending callback and timer without running them, and closes the selector
   * (registered fds stay open). Idempotent; `ERR_LOOP_RUNNING` while running.
   */
  close(): void {
    if (this.#running) throw codedError('ERR_LOOP_RUNNING', 'Cannot close a running event loop');
    if (this.#closed) return;
    this.#closed = true;
    this.#signals?.removeAll();
    this.#keepAliveForSignals();
    this.#ready = [];
    this.#spare = [];
    for (const timer of this.#timers.values()) timer.scheduled = false;
    this.#timers.clear();
    this.#cancelledTimers = 0;
    this.#selector.close();
    forgetCurrentLoop(this);
  }

  // ---------------------------------------------------------------------------------------------
  // Signals

  /**
   * Runs `callback(...args)` as a loop callback (through `callSoon`, never inside the signal
   * handler) each time the process receives `sig`: a name (`'SIGTERM'`) or a number. One handler
   * per signal and loop; a second call for the same signal replaces the first. Works in hosted
   * and owning mode, through Node's own signal handling (`process.on`), so Node's listeners for
   * the same signal still run. While the loop runs with a handler registered it holds Node
   * alive, so `runForever()` waits for the signal as asyncio's loop does.
   *
   * Refuses, with nothing registered: an unknown signal (`ERR_UNKNOWN_SIGNAL`, TypeError or
   * RangeError), SIGKILL and SIGSTOP (`ERR_INVALID_ARG_VALUE`, RangeError), a callback that is not a
   * function or is an async or generator function (TypeError, as asyncio refuses coroutines),
   * a worker thread (`ERR_WORKER_UNSUPPORTED_OPERATION`), a closed loop (`ERR_LOOP_CLOSED`).
   * `close()` removes the loop's handlers.
   *
   * ```ts
   * loop.addSignalHandler('SIGTERM', () => loop.stop());
   * await loop.runForever();
   * ```
   */
  addSignalHandler<A extends unknown[]>(sig: SignalLike, callback: (...args: A) => unknown, ...args: A): void {
    if (this.#closed) throw loopClosed();
    this.#signals ??= new SignalHandlers(this);
    this.#signals.add(sig, callback, args);
    this.#keepAliveForSignals();
  }

  /**
   * Removes the handler for `sig` (name or number); `true` if there was one, `false` if not.
   * An unknown signal throws `ERR_UNKNOWN_SIGNAL`.
   */
  removeSignalHandler(sig: SignalLike): boolean {
    if (this.#signals === undefined) {
      resolveSignal(sig); // the same refusal of an unknown signal as with handlers
      return false;
    }
    const removed = this.#signals.remove(sig);
    this.#keepAliveForSignals();
    return removed;
  }

  #keepAliveForSignals(): void {
    const want = this.#running && !this.#closed && (this.#signals?.size ?? 0) > 0;
    if (want && this.#signalKeeper === undefined) {
      // An interval of about 24 days: the cheapest ref'd libuv handle; it never fires in practice.
      this.#signalKeeper = setInterval(noop, 0x7fffffff);
    } else if (!want && this.#signalKeeper !== undefined) {
      clearInterval(this.#signalKeeper);
      this.#signalKeeper = undefined;
    }
  }

  /** Same as `close()`, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  // ---------------------------------------------------------------------------------------------
  // Errors and debug

  /** Sets the handler `(loop, context)` for errors the loop catches; `null` restores the default. */
  setExceptionHandler(handler: ExceptionHandler | null): void {
    if (handler !== null && typeof handler !== 'function') {
      throw codedError(
        'ERR_INVALID_ARG_TYPE',
        `A callable object or null is expected, got ${describe(handler)}`,
        TypeError,
      );
    }
    this.#exceptionHandler = handler;
  }

  /** The custom exception handler, or `null`. */
  getExceptionHandler(): ExceptionHandler | null {
    return this.#exceptionHandler;
  }

  /**
   * Reports an error context to the custom handler, or to `defaultExceptionHandler`. Never
   * throws: if the custom handler throws, the default handler reports that ("Unhandled error in
   * exception handler") with the original context.
   */
  callExceptionHandler(context: ExceptionContext): void {
    const handler = this.#exceptionHandler;
    if (handler === null) {
      try {
        this.defaultExceptionHandler(context);
      } catch {
        // Nothing sensible is left to report to (asyncio logs and goes on, too).
      }
      return;
    }
    try {
      handler(this, context);
    } catch (exception) {
      try {
        this.defaultExceptionHandler({ message: 'Unhandled error in exception handler', exception, context });
      } catch {
        // As above.
      }
    }
  }

  /**
   * Writes `context.message`, the other keys and the exception's stack to stderr (asyncio logs
   * them at ERROR level).
   */
  defaultExceptionHandler(context: ExceptionContext): void {
    const lines = [context.message || 'Unhandled exception in event loop'];
    for (const key of Object.keys(context).sort()) {
      if (key === 'message' || key === 'exception') continue;
      lines.push(`${key}: ${String(context[key])}`);
    }
    const exception = context.exception;
    if (exception !== undefined) {
      lines.push(exception instanceof Error && exception.stack ? exception.stack : describe(exception));
    }
    console.error(lines.join('\n'));
  }

  /** Whether debug mode is on. */
  getDebug(): boolean {
    return this.#debug;
  }

  /**
   * Debug mode: handles and futures record where they were created (`sourceTraceback`), and a
   * callback that takes longer than `slowCallbackDuration` seconds is reported with a
   * `SlowCallbackWarning` (`process.emitWarning`, with the handle in `warning.handle`).
   * Also on when the environment has `MUXLOOP_DEBUG=1`.
   */
  setDebug(enabled: boolean): void {
    this.#debug = Boolean(enabled);
  }

  #traceback(): string | undefined {
    return this.#debug ? new Error().stack : undefined;
  }

  #reportSlow(handle: Handle, took: number): void {
    const warning = new Error(`Executing ${handle.toString()} took ${took.toFixed(3)} seconds`) as Error & {
      handle: Handle;
    };
    warning.name = 'SlowCallbackWarning';
    warning.handle = handle;
    process.emitWarning(warning);
  }

  /** `<SelectorEventLoop running=… closed=… debug=…>` (the class's name) */
  toString(): string {
    return `<${this.constructor.name} running=${this.#running} closed=${this.#closed} debug=${this.#debug}>`;
  }
}

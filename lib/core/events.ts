/**
 * `Handle` and `TimerHandle`: what `callSoon`, `callLater`, `callAt`, `addReader` and `addWriter`
 * return, as in asyncio (python-anchor.md section 2.2); the abstract loop that futures and tasks
 * see, and the registry of this thread's running and current loop (asyncio's `events.py`). It
 * imports nothing of ours but core/errors; handles see the loop through `HandleOwner`.
 * @packageDocumentation
 */
import { inspect } from 'node:util';
import { codedError } from './errors';

/**
 * What the exception handler receives. `message` is always there; the other keys are present
 * when they apply (asyncio's context keys, in camelCase).
 */
export interface ExceptionContext {
  /** What happened, for a person. */
  message: string;
  /** The exception that was raised, if any. */
  exception?: unknown;
  /** The handle whose callback raised it. */
  handle?: Handle;
  /** The future whose exception was never retrieved. */
  future?: unknown;
  /** The task that was destroyed pending, or whose exception was never retrieved. */
  task?: unknown;
  /** Where the handle or future was created, in debug mode. */
  sourceTraceback?: string;
  /** The original context, when a custom handler failed on it. */
  context?: ExceptionContext;
  [key: string]: unknown;
}

/** The side of the loop a handle talks to. */
export interface HandleOwner {
  /** Passes `context` to the loop's exception handler (asyncio's `call_exception_handler`). */
  callExceptionHandler(context: ExceptionContext): void;
  /** @internal A scheduled TimerHandle was cancelled (for the compaction heuristic). */
  timerHandleCancelled(handle: TimerHandle): void;
}

/** A callback and its arguments. */
export type Callback<A extends unknown[] = unknown[]> = (...args: A) => unknown;

/**
 * A scheduled callback. Cancel it with `cancel()`; the loop skips cancelled handles. A handle is
 * reused for every readiness of an fd watched with `addReader`/`addWriter`.
 */
export class Handle {
  #callback: Callback | undefined;
  #args: unknown[] | undefined;
  #cancelled = false;
  /** @internal */
  protected readonly owner: HandleOwner;
  /** Where the handle was created (a stack trace), in debug mode only. */
  readonly sourceTraceback: string | undefined;

  /** @internal Created by the loop. */
  constructor(callback: Callback, args: unknown[], owner: HandleOwner, sourceTraceback?: string) {
    this.#callback = callback;
    this.#args = args;
    this.owner = owner;
    this.sourceTraceback = sourceTraceback;
  }

  /** Cancels the callback: it will not run. Idempotent; a no-op once it has run. */
  cancel(): void {
    if (this.#cancelled) return;
    this.#cancelled = true;
    // Drop the references now so a cancelled handle keeps nothing alive (asyncio does the same).
    this.#callback = undefined;
    this.#args = undefined;
  }

  /** Whether `cancel()` was called. */
  cancelled(): boolean {
    return this.#cancelled;
  }

  /**
   * @internal Runs the callback. Only the loop's iteration calls this (one place runs
   * callbacks). An exception goes to the loop's exception handler, never further.
   */
  run(): void {
    const callback = this.#callback;
    if (callback === undefined) return;
    const args = this.#args as unknown[];
    try {
      switch (args.length) {
        case 0:
          callback();
          break;
        case 1:
          callback(args[0]);
          break;
        default:
          callback(...args);
      }
    } catch (exception) {
      const context: ExceptionContext = { message: `Exception in callback ${this.describeCallback()}`, exception, handle: this };
      if (this.sourceTraceback !== undefined) context.sourceTraceback = this.sourceTraceback;
      this.owner.callExceptionHandler(context);
    }
  }

  /** `name(args)` of the callback, for messages. */
  protected describeCallback(): string {
    const callback = this.#callback;
    if (callback === undefined) return '<cancelled>';
    const args = (this.#args ?? []).map((a) => inspect(a, { depth: 0, breakLength: Infinity })).join(', ');
    return `${callback.name || '<anonymous>'}(${args})`;
  }

  /** `<Handle cb(args) created at file:line>` in the style of asyncio's repr. */
  toString(): string {
    const parts = [this.constructor.name];
    if (this.#cancelled) parts.push('cancelled');
    else parts.push(this.describeCallback());
    const where = firstUserFrame(this.sourceTraceback);
    if (where !== undefined) parts.push(`created at ${where}`);
    return `<${parts.join(' ')}>`;
  }

  /** @internal */
  [inspect.custom](): string {
    return this.toString();
  }
}

/**
 * A callback scheduled for a loop time (`callLater`, `callAt`). Timers run in order of
 * `when()`; equal deadlines run in the order they were scheduled.
 */
export class TimerHandle extends Handle {
  /** @internal Absolute loop time, seconds. */
  readonly deadline: number;
  /** @internal Scheduling order, the tie-break for equal deadlines. */
  readonly sequence: number;
  /** @internal Whether the handle is in the loop's timer heap. */
  scheduled = true;

  /** @internal Created by the loop. */
  constructor(
    when: number,
    sequence: number,
    callback: Callback,
    args: unknown[],
    owner: HandleOwner,
    sourceTraceback?: string,
  ) {
    super(callback, args, owner, sourceTraceback);
    this.deadline = when;
    this.sequence = sequence;
  }

  /** The absolute loop time (`loop.time()` clock, seconds) at which the callback is due. */
  when(): number {
    return this.deadline;
  }

  /** Cancels the timer; the loop drops cancelled timers lazily and compacts its heap. */
  override cancel(): void {
    if (!this.cancelled() && this.scheduled) {
      super.cancel();
      this.owner.timerHandleCancelled(this);
      return;
    }
    super.cancel();
  }

  override toString(): string {
    return super.toString().replace(/^<TimerHandle/, `<TimerHandle when=${this.deadline}`);
  }
}

/** The first stack frame outside muxloop's own files, as `file:line:col`. */
function firstUserFrame(stack: string | undefined): string | undefined {
  if (stack === undefined) return undefined;
  for (const line of stack.split('\n').slice(1)) {
    if (/[/\\](lib|dist)[/\\](core|loop|tasks|net|streams)[/\\]/.test(line)) continue;
    const match = /\(?([^()\s]+:\d+:\d+)\)?\s*$/.exec(line);
    if (match) return match[1];
  }
  return undefined;
}

// -------------------------------------------------------------------------------------------------
// The abstract loop, and the loop of this thread

/**
 * What futures, tasks and the synchronization primitives need of a loop: scheduling, the clock,
 * error reporting and the run state. Every muxloop loop (`BaseEventLoop` and its subclasses)
 * implements it; its full surface is declared on those classes. Like asyncio's
 * `AbstractEventLoop`, this lives beside `Handle` so that the lower layers depend on it, not on
 * the concrete loop.
 */
export interface AbstractEventLoop extends HandleOwner {
  /** The loop's monotonic clock, in SECONDS. */
  time(): number;
  /** Schedules `callback(...args)` for the next iteration (FIFO). */
  callSoon<A extends unknown[]>(callback: (...args: A) => unknown, ...args: A): Handle;
  /** Schedules `callback(...args)` after `delay` SECONDS. */
  callLater<A extends unknown[]>(delay: number, callback: (...args: A) => unknown, ...args: A): TimerHandle;
  /** Schedules `callback(...args)` at loop time `when` (SECONDS on the `time()` clock). */
  callAt<A extends unknown[]>(when: number, callback: (...args: A) => unknown, ...args: A): TimerHandle;
  /** Whether debug mode is on. */
  getDebug(): boolean;
  /** Whether a run is in progress. */
  isRunning(): boolean;
  /** Whether `close()` was called. */
  isClosed(): boolean;
  /** Stops the loop after the current iteration. */
  stop(): void;
}

let runningLoop: AbstractEventLoop | undefined;
let currentLoop: AbstractEventLoop | undefined;
let loopFactory: (() => AbstractEventLoop) | undefined;

/**
 * @internal The running loop of this thread, or `undefined`. The public `getRunningLoop()` (which
 * throws when none runs) is exported by the package's entry point.
 */
export function runningLoopOrNone(): AbstractEventLoop | undefined {
  return runningLoop;
}

/** @internal Called by the loop when a run starts (`loop`) and ends (`undefined`). */
export function setRunningLoop(loop: AbstractEventLoop | undefined): void {
  runningLoop = loop;
}

/** The loop running on this thread. Throws `ERR_NO_RUNNING_LOOP` when none is. */
export function getRunningLoop(): AbstractEventLoop {
  if (runningLoop === undefined) {
    throw codedError(
      'ERR_NO_RUNNING_LOOP',
      'no running event loop: call this from a task or callback of a running loop; to start one, pass the ' +
        'coroutine function, not its call (loop.runUntilComplete(main) or run(main), not main())',
    );
  }
  return runningLoop;
}

/**
 * The running loop, else the current one (`setCurrentLoop`), else a new loop from the factory
 * that the package's entry point installs, which becomes the current one.
 */
export function getEventLoop(): AbstractEventLoop {
  if (runningLoop !== undefined) return runningLoop;
  if (currentLoop === undefined || currentLoop.isClosed()) {
    if (loopFactory === undefined) {
      throw codedError('ERR_NO_EVENT_LOOP_FACTORY', 'No event loop factory: import muxloop (its entry point installs newEventLoop)');
    }
    currentLoop = loopFactory();
  }
  return currentLoop;
}

/** @internal Makes `loop` the current loop of this thread (`undefined` clears it). */
export function setCurrentLoop(loop: AbstractEventLoop | undefined): void {
  currentLoop = loop;
}

/** @internal The current loop if it is `loop`'s own slot: cleared when that loop closes. */
export function forgetCurrentLoop(loop: AbstractEventLoop): void {
  if (currentLoop === loop) currentLoop = undefined;
}

/** @internal Installs what `getEventLoop()` creates when there is no current loop (once, by lib/runners.ts). */
export function setEventLoopFactory(factory: () => AbstractEventLoop): void {
  loopFactory = factory;
}

/**
 * `Handle` and `TimerHandle`: what `callSoon`, `callLater`, `callAt`, `addReader` and `addWriter`
 * return, as in asyncio (python-anchor.md section 2.2). This module imports nothing of ours; the
 * loop is seen through the small `HandleOwner` interface.
 * @packageDocumentation
 */
import { inspect } from 'node:util';

/**
 * What the exception handler receives. `message` is always there; the other keys are present
 * when they apply (asyncio's context keys, in camelCase).
 */
export interface ExceptionContext {
  message: string;
  exception?: unknown;
  handle?: Handle;
  future?: unknown;
  task?: unknown;
  /** Where the handle or future was created, in debug mode. */
  sourceTraceback?: string;
  /** The original context, when a custom handler failed on it. */
  context?: ExceptionContext;
  [key: string]: unknown;
}

/** The side of the loop a handle talks to. */
export interface HandleOwner {
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

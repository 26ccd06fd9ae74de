/**
 * `Future`: asyncio's low-level awaitable result (python-anchor.md section 3.1). A Future is a
 * thenable, so `await future` works in any async function; its done callbacks always run through
 * the loop (`callSoon`), never synchronously.
 * @packageDocumentation
 */
import { type AbstractEventLoop, type ExceptionContext, getEventLoop } from '../core/events';
// Type only (erased at run time): getLoop() gives users the loop's whole surface, not the
// abstract one this module works with.
import type { EventLoop } from '../loops';
import type { TaskLoop } from './tasks';

/** An operation is not allowed in the Future's current state (asyncio's `InvalidStateError`). */
export class InvalidStateError extends Error {
  /** Always `'ERR_INVALID_STATE'`. */
  readonly code = 'ERR_INVALID_STATE';
  constructor(message: string) {
    super(message);
    this.name = 'InvalidStateError';
  }
}

/** The operation was cancelled (asyncio's `CancelledError`); `message` is the cancel message. */
export class CancelledError extends Error {
  /** Always `'ERR_CANCELLED'`. */
  readonly code = 'ERR_CANCELLED';
  constructor(message = '') {
    super(message);
    this.name = 'CancelledError';
  }
}

/** A loop that makes Futures: what tasks and the synchronization primitives are given. */
export interface FutureLoop extends AbstractEventLoop {
  /** A new pending Future bound to this loop. */
  createFuture<T = unknown>(): Future<T>;
}

const PENDING = 0;
const FINISHED = 1;
const CANCELLED = 2;

interface Unretrieved {
  loop: FutureLoop;
  exception: unknown;
  name: string;
  sourceTraceback: string | undefined;
}

// An exception nobody looked at is reported when the Future is garbage-collected, through the
// loop's exception handler, never as an unhandled rejection (DESIGN.md section 4). The held value
// must not reference the Future itself, or it would never be collected.
const unretrieved = new FinalizationRegistry<Unretrieved>((held) => {
  const context: ExceptionContext = {
    message: `${held.name} exception was never retrieved`,
    exception: held.exception,
  };
  if (held.sourceTraceback !== undefined) context.sourceTraceback = held.sourceTraceback;
  held.loop.callExceptionHandler(context);
});

/**
 * @internal Set by tasks.ts: `then()` first offers the await to it, so that a Task running an
 * async function learns which Future it awaits (and can cancel it). It returns the Promise that
 * settles the await, or `undefined` when no task is awaiting.
 */
let awaitHook: (<T>(future: Future<T>) => Promise<T> | undefined) | undefined;

/** @internal Installs the await hook (tasks.ts, once). */
export function setAwaitHook(hook: <T>(future: Future<T>) => Promise<T> | undefined): void {
  awaitHook = hook;
}

/**
 * A done callback: called with the Future once it is done. Declared as a method type so that its
 * parameter is bivariant: a `Future<number>` is then usable where a `Future<unknown>` is expected
 * (a `Set<Task>` of tasks of any result type, for instance).
 */
export type DoneCallback<T> = {
  /** Called with the Future once it is done; the return value is ignored. */
  bivariant(future: Future<T>): unknown;
}['bivariant'];

/**
 * The eventual result of an operation: pending, then finished with a result or an exception, or
 * cancelled. One-way.
 *
 * ```ts
 * const fut = loop.createFuture<number>();
 * loop.callLater(0.1, () => fut.setResult(42)); // 0.1 SECONDS
 * console.log(await loop.runUntilComplete(fut)); // 42
 * ```
 */
export class Future<T = unknown> implements PromiseLike<T> {
  #loop: TaskLoop;
  #state = PENDING;
  #result: T | undefined;
  #exception: unknown;
  #cancelMessage: string | undefined;
  /**
   * The done callbacks: none, one (the function itself) or several (an array, at the second).
   * Most Futures get one callback or none, and an array made for one by `push` reserves 16 slots
   * (about 150 bytes, measured by heap snapshot): the single slot keeps a gathered task small.
   */
  #callbacks: DoneCallback<T> | Array<DoneCallback<T>> | undefined;
  /** Where the Future was created, in debug mode. */
  readonly sourceTraceback: string | undefined;

  /** A pending Future bound to `loop` (default: `getEventLoop()`). Prefer `loop.createFuture()`. */
  constructor(loop?: AbstractEventLoop) {
    this.#loop = (loop ?? getEventLoop()) as TaskLoop;
    this.sourceTraceback = this.#loop.getDebug() ? new Error().stack : undefined;
  }

  /** The loop the Future is bound to. */
  getLoop(): EventLoop {
    return this.#loop as EventLoop;
  }

  /** Whether it finished, failed or was cancelled. */
  done(): boolean {
    return this.#state !== PENDING;
  }

  /** Whether it was cancelled. */
  cancelled(): boolean {
    return this.#state === CANCELLED;
  }

  /**
   * The result. Throws the exception if one was set (and marks it retrieved), `CancelledError`
   * if cancelled, `InvalidStateError` while pending.
   */
  result(): T {
    if (this.#state === CANCELLED) throw new CancelledError(this.#cancelMessage);
    if (this.#state === PENDING) throw new InvalidStateError('Result is not ready.');
    if (this.#exception !== undefined) {
      this.#markRetrieved();
      throw this.#exception;
    }
    return this.#result as T;
  }

  /**
   * The exception, or `undefined` if it finished with a result. Throws `CancelledError` if
   * cancelled, `InvalidStateError` while pending. Marks the exception retrieved.
   */
  exception(): unknown {
    if (this.#state === CANCELLED) throw new CancelledError(this.#cancelMessage);
    if (this.#state === PENDING) throw new InvalidStateError('Exception is not set.');
    this.#markRetrieved();
    return this.#exception;
  }

  /** Finishes with `value` and schedules the done callbacks. `InvalidStateError` if done. */
  setResult(value: T): void {
    if (this.#state !== PENDING) throw new InvalidStateError(`invalid state: ${this.#stateName()}`);
    this.#result = value;
    this.#state = FINISHED;
    this.#scheduleCallbacks();
  }

  /**
   * Fails with `exception` (a class is instantiated) and schedules the done callbacks.
   * `InvalidStateError` if done; `TypeError` for `undefined` (it could not be told from success).
   */
  setException(exception: unknown): void {
    if (this.#state !== PENDING) throw new InvalidStateError(`invalid state: ${this.#stateName()}`);
    if (exception === undefined) throw new TypeError('exception must not be undefined');
    if (typeof exception === 'function') exception = new (exception as new () => unknown)();
    this.#exception = exception;
    this.#state = FINISHED;
    // V8 keeps an Error's stack frames, receivers included, until `stack` is first read: an error
    // thrown in a method of this Future (a Task's step) would keep the Future alive from the
    // registry's held value, and it would never be reported. Reading `stack` formats and drops them.
    if (exception instanceof Error) void exception.stack;
    unretrieved.register(
      this,
      { loop: this.#loop, exception, name: this.constructor.name, sourceTraceback: this.sourceTraceback },
      this,
    );
    this.#scheduleCallbacks();
  }

  /**
   * Cancels the Future: returns `false` if it is already done, otherwise marks it cancelled with
   * `message`, schedules the done callbacks and returns `true`.
   */
  cancel(message?: string): boolean {
    if (this.#state !== PENDING) return false;
    this.#state = CANCELLED;
    this.#cancelMessage = message;
    this.#scheduleCallbacks();
    return true;
  }

  /**
   * Calls `fn(future)` once the Future is done, through `loop.callSoon` (never synchronously,
   * even when it is done already). Callbacks run in the order they were added.
   */
  addDoneCallback(fn: DoneCallback<T>): void {
    if (typeof fn !== 'function') throw new TypeError('a callable object was expected by addDoneCallback()');
    if (this.#state !== PENDING) {
      this.#loop.callSoon(fn, this);
      return;
    }
    const callbacks = this.#callbacks;
    if (callbacks === undefined) this.#callbacks = fn;
    else if (typeof callbacks === 'function') this.#callbacks = [callbacks, fn];
    else callbacks.push(fn);
  }

  /** Removes every registration of `fn`; returns how many were removed. */
  removeDoneCallback(fn: DoneCallback<T>): number {
    const callbacks = this.#callbacks;
    if (callbacks === undefined) return 0;
    if (typeof callbacks === 'function') {
      if (callbacks !== fn) return 0;
      this.#callbacks = undefined;
      return 1;
    }
    const before = callbacks.length;
    this.#callbacks = callbacks.filter((cb) => cb !== fn);
    return before - this.#callbacks.length;
  }

  /**
   * Makes the Future a thenable: `await future` gives its result or throws its exception.
   *
   * While its loop runs, the continuation runs through the loop like any done callback, so it
   * resumes in the iteration after the one that completed the Future; inside a task's async
   * function, the task records the Future as the one it awaits, so that cancelling the task
   * cancels it (tasks.ts). When its loop is not running (stopped, or closed), a done Future
   * settles on Node's microtask queue like a settled Promise: `await task` after
   * `runUntilComplete` returned gives the result at once. A pending Future of a loop that is not
   * running settles when that loop next runs and completes it; of a closed loop, it rejects with
   * `ERR_LOOP_CLOSED` (nothing could complete it any more).
   */
  then<R1 = T, R2 = never>(
    onFulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onRejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    if (this.#state !== PENDING && !this.#loop.isRunning()) {
      let settled: Promise<T>;
      try {
        settled = Promise.resolve(this.result());
      } catch (error) {
        settled = Promise.reject(error);
      }
      return settled.then(onFulfilled, onRejected);
    }
    if (this.#loop.isClosed()) {
      const error = new Error('Event loop is closed') as Error & { code: string };
      error.code = 'ERR_LOOP_CLOSED';
      return Promise.reject(error).then(onFulfilled, onRejected);
    }
    const settled =
      awaitHook?.(this) ??
      new Promise<T>((resolve, reject) => {
        this.addDoneCallback((future) => {
          try {
            resolve(future.result());
          } catch (error) {
            reject(error);
          }
        });
      });
    return settled.then(onFulfilled, onRejected);
  }

  /** `then(undefined, onRejected)`, as on a Promise. */
  catch<R = never>(onRejected?: ((reason: unknown) => R | PromiseLike<R>) | null): Promise<T | R> {
    return this.then(undefined, onRejected);
  }

  /** Like `Promise.prototype.finally`: runs `onFinally` once the Future is done. */
  finally(onFinally?: (() => void) | null): Promise<T> {
    return this.then().finally(onFinally);
  }

  /** `<Future pending>`, `<Future finished result=…>`, … */
  toString(): string {
    return `<${this.constructor.name} ${this.#stateName()}>`;
  }

  #stateName(): string {
    if (this.#state === PENDING) return 'pending';
    if (this.#state === CANCELLED) return 'cancelled';
    return this.#exception !== undefined ? 'finished exception' : 'finished result';
  }

  #markRetrieved(): void {
    if (this.#exception !== undefined) unretrieved.unregister(this);
  }

  #scheduleCallbacks(): void {
    const callbacks = this.#callbacks;
    if (callbacks === undefined) return;
    this.#callbacks = undefined;
    if (typeof callbacks === 'function') {
      this.#loop.callSoon(callbacks, this);
      return;
    }
    for (let i = 0; i < callbacks.length; i++) this.#loop.callSoon(callbacks[i], this);
  }
}

/** A done Future is a `Future`; anything else a loop can run is a thenable. */
export function isFuture(value: unknown): value is Future<unknown> {
  return value instanceof Future;
}

/**
 * Adopts a Promise (or any thenable) as a Future of `loop` (default: `getEventLoop()`). A Future
 * is returned as it is. Cancelling the returned Future does not cancel the Promise (a Promise
 * cannot be cancelled); its outcome is then ignored.
 */
export function wrapFuture<T>(promise: PromiseLike<T> | Future<T>, loop?: AbstractEventLoop): Future<T> {
  if (promise instanceof Future) return promise;
  if (promise === null || typeof (promise as { then?: unknown })?.then !== 'function') {
    throw new TypeError('An asyncio.Future, a coroutine or an awaitable is required');
  }
  const future = new Future<T>(loop);
  promise.then(
    (value) => {
      if (!future.done()) future.setResult(value);
    },
    (error: unknown) => {
      if (!future.done()) future.setException(error === undefined ? new Error('rejected with undefined') : error);
    },
  );
  return future;
}

/**
 * `Task`: a Future that drives a coroutine (python-anchor.md section 3.2, DESIGN.md section 4).
 *
 * A coroutine is one of
 * - a **generator object** from a `function*`: `yield future` suspends the task until the Future
 *   is done and resumes it with the result (or throws the exception in); `yield* sub()` delegates
 *   to a sub-coroutine like Python's `yield from`; a bare `yield` gives up one loop iteration;
 * - a **function** (usually `async`), called by the task with its `args` on the task's first
 *   step, so that `currentTask()` is right inside it across every `await`;
 * - a **Promise** (or any thenable), adopted: the task finishes with it.
 *
 * Every task starts on the next loop iteration, in creation order, exactly like asyncio.
 *
 * How an async function is cancelled. A generator is stepped by the task, so the task always knows
 * which Future it waits for and throws `CancelledError` in at the `yield`, as Python does. An async
 * function is resumed by V8, not by the task, so the task learns what it awaits from the Future
 * itself: `await future` calls `future.then()` in the async function's context, and the async
 * context (an `AsyncLocalStorage` whose store is the running task, entered when the task calls the
 * function) tells `then()` which task is awaiting. `then()` hands the await to that task
 * (`futures.ts` `setAwaitHook`), which records the Future as the one it waits for. `cancel()` then
 * cancels that Future, so the `await` throws `CancelledError`; if nothing is awaited at that
 * moment (the function runs synchronously, or awaits a foreign Promise), the cancellation is
 * delivered at the next `await` of a loop Future, and `task.signal` aborts at once. One caveat:
 * an async function started inside a task without being awaited (`void helper()`) inherits the
 * task's context, so its awaits count as the task's too.
 *
 * Folder tasks/ (futures, tasks, gather/wait/sleep, timeouts, task groups, locks, queues): imports
 * core/ only and sees the loop through `AbstractEventLoop` (core/events.ts) and `TaskLoop` (here).
 *
 * Longer than ~600 lines on purpose: `Task` steps generators and async functions with one
 * cancellation state machine, which reads best in one place.
 * @packageDocumentation
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { codedError, describe, invalidArgType } from '../core/errors';
import { checkOptionKeys, optionKeys } from '../core/options';
import { getEventLoop as anyEventLoop, getRunningLoop as anyRunningLoop } from '../core/events';
import { CancelledError, Future, type FutureLoop, setAwaitHook, wrapFuture } from './futures';

/** Options of `createTask`. */
export interface TaskOptions {
  /** The task's name (default `Task-<n>`); converted with `String`. */
  name?: string;
  /** Arguments the task calls a coroutine function with (a closure works as well). */
  args?: unknown[];
  /**
   * An `AbortSignal` that cancels the task when it aborts, with the signal's reason as the cancel
   * message (an `Error` reason gives its `message`). Already aborted: the task is cancelled
   * before its first step, so its function never runs.
   */
  signal?: AbortSignal;
}

/**
 * A loop that runs tasks: what the helpers, locks and queues are given. Every muxloop loop
 * (`BaseEventLoop` and its subclasses) is one.
 */
export interface TaskLoop extends FutureLoop {
  /** Wraps `coro` in a Task (or what the loop's task factory makes), started on the next iteration. */
  createTask<C extends Coroutine<unknown>>(coro: C, options?: TaskOptionsFor<C>): Task<ResultOf<C>>;
}

/** @internal The running loop, as a TaskLoop (every loop muxloop makes is one). */
export function getRunningLoop(): TaskLoop {
  return anyRunningLoop() as TaskLoop;
}

/** @internal The running loop, else the current one, else a new one, as a TaskLoop. */
export function getEventLoop(): TaskLoop {
  return anyEventLoop() as TaskLoop;
}

/** Something a task can drive: a generator object, a function (async or not) or a thenable. */
export type Coroutine<T = unknown> =
  | Generator<unknown, T, any> // eslint-disable-line @typescript-eslint/no-explicit-any
  | ((...args: any[]) => PromiseLike<T> | T | Generator<unknown, T, any>) // eslint-disable-line @typescript-eslint/no-explicit-any
  | PromiseLike<T>;

/** Anything `ensureFuture` accepts: a Future, or something a task can drive. */
export type Awaitable<T = unknown> = Future<T> | Coroutine<T>;

/**
 * What awaiting (or yielding) `A` gives: the result type of a Future, a Promise, a generator, or
 * of what a coroutine function returns (`ResultOf<() => Promise<number>>` is `number`).
 */
export type ResultOf<A> =
  A extends PromiseLike<infer R>
    ? R
    : A extends Generator<unknown, infer R, any> // eslint-disable-line @typescript-eslint/no-explicit-any
      ? R
      : A extends (...args: any[]) => infer F // eslint-disable-line @typescript-eslint/no-explicit-any
        ? F extends PromiseLike<infer R>
          ? R
          : F extends Generator<unknown, infer R, any> // eslint-disable-line @typescript-eslint/no-explicit-any
            ? R
            : F
        : unknown;

/** `createTask`'s options for `coro`: for a function, `args` must match its parameters. */
export type TaskOptionsFor<C> = C extends (...args: infer P) => unknown
  ? Omit<TaskOptions, 'args'> & {
      /** The arguments `coro` is called with, checked against its parameters. */
      args?: P;
    }
  : TaskOptions;

/**
 * @internal A Future whose successful result a cancelled task may drop (it gets `CancelledError`
 * instead, because it was cancelled after the Future completed but before it resumed) carries a
 * function under this key that gives back what the result stood for: the lock, the permit, the
 * queue item. Only the task that owns the await calls it.
 */
export const resultDiscarded = Symbol('muxloop.resultDiscarded');

// Future<T> is invariant in T (its done callbacks take a Future<T>): bookkeeping that holds Futures
// of any result type uses this.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyFuture = Future<any>;

type Discardable = AnyFuture & { [resultDiscarded]?: () => void };

const KIND_GENERATOR = 0;
const KIND_FUNCTION = 1;
const KIND_PROMISE = 2;

/** @internal The cancel message an aborted signal stands for. */
export function abortMessage(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason.message;
  return reason === undefined ? '' : String(reason);
}

/** @internal Checks an incoming `signal` option: `undefined`, or an AbortSignal. */
export function checkSignal(signal: unknown, name = 'options.signal'): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  if (!(signal instanceof AbortSignal)) throw invalidArgType(name, 'an AbortSignal', signal);
  return signal;
}

/**
 * @internal Calls `cancel(message)` when `signal` aborts, at once if it already has. Returns what
 * removes the listener (a no-op when `cancel` already ran).
 */
export function cancelOnAbort(signal: AbortSignal, cancel: (message: string) => unknown): () => void {
  if (signal.aborted) {
    cancel(abortMessage(signal));
    return () => undefined;
  }
  const listener = (): void => void cancel(abortMessage(signal));
  signal.addEventListener('abort', listener, { once: true });
  return () => signal.removeEventListener('abort', listener);
}

function isAsyncFunction(fn: unknown): boolean {
  return Object.prototype.toString.call(fn) === '[object AsyncFunction]';
}

let nextTaskId = 1;
/** The task whose generator step runs right now (generator tasks only; see currentTask). */
let stepping: Task<unknown> | undefined;
/** The running task of an async function, across its awaits. Enabled on first use only. */
const taskContext = new AsyncLocalStorage<Task<unknown>>();
let contextEnabled = false;

/**
 * How tasks are tracked, for `allTasks()` and the "destroyed but pending" report. A WeakRef and
 * a FinalizationRegistry entry cost about a microsecond each, more than a trivial task's whole
 * life, so only tasks still pending one iteration after their first step pay for them:
 * - `unstarted`: tasks not started yet, strongly (the loop's ready queue holds them strongly
 *   anyway), each at its `#slot`. Tasks start in creation order, so slots free up from the head
 *   and the array empties itself; it is compacted when holes from several loops pile up. (A
 *   `Set` of a million tasks cost 9% of a million-task gather in its own hashing: --cpu-prof.)
 * - `justStarted`: per loop (weakly keyed), tasks whose first step left them pending, strongly,
 *   for one or two iterations: a sweep callSoon'd on their loop sees each twice (the list can
 *   grow in the sweep's own iteration), and those still pending then move to `liveTasks` and
 *   `pendingTasks`. An async function task that only awaits finished promises is done by then
 *   (the promise jobs of its first iteration have run) and never tracked weakly.
 * - `liveTasks`: started tasks still pending, weakly. Entries leave when their task finishes or
 *   is collected.
 */
const unstarted: Array<Task<unknown> | undefined> = [];
let unstartedHead = 0;
let unstartedHoles = 0;
const justStarted = new WeakMap<TaskLoop, Array<Task<unknown>>>();
const liveTasks = new Map<number, WeakRef<Task<unknown>>>();

/** The task at `slot` of `unstarted` started or finished: free the slot. */
function freeSlot(slot: number): void {
  unstarted[slot] = undefined;
  unstartedHoles++;
  while (unstartedHead < unstarted.length && unstarted[unstartedHead] === undefined) {
    unstartedHead++;
    unstartedHoles--;
  }
  if (unstartedHead === unstarted.length) {
    unstarted.length = 0;
    unstartedHead = 0;
    unstartedHoles = 0;
  } else if (unstartedHoles + unstartedHead > 1024 && 2 * (unstartedHoles + unstartedHead) > unstarted.length) {
    Task.compactUnstarted();
  }
}

/**
 * The sweep of `loop`'s `justStarted` list. The list may have grown in this very iteration (tasks
 * that started after the sweep was queued): a task is tracked at its second sweep, so that it
 * has had at least one drain of promise jobs since its first step.
 */
function sweepJustStarted(loop: TaskLoop): void {
  const tasks = justStarted.get(loop);
  justStarted.delete(loop);
  if (tasks !== undefined) for (let i = 0; i < tasks.length; i++) Task.sweep(tasks[i]);
}

/** Adds a pending task to its loop's `justStarted` list, scheduling the sweep with the list. */
function listJustStarted(loop: TaskLoop, task: Task<unknown>): void {
  let tasks = justStarted.get(loop);
  if (tasks === undefined) {
    tasks = [];
    justStarted.set(loop, tasks);
    try {
      loop.callSoon(sweepJustStarted, loop);
    } catch {
      // A closed loop: nothing can resume the task; it stays listed strongly.
    }
  }
  tasks.push(task);
}

const NO_ARGS: unknown[] = [];
Object.freeze(NO_ARGS);

interface PendingHeld {
  id: number;
  loop: TaskLoop;
  description: string;
  sourceTraceback: string | undefined;
}

// A task that is collected while pending was dropped by everything that could resume it (its
// awaited Future was lost): asyncio reports "Task was destroyed but it is pending!".
const pendingTasks = new FinalizationRegistry<PendingHeld>((held) => {
  liveTasks.delete(held.id);
  const context: { message: string; task: string; sourceTraceback?: string } = {
    message: 'Task was destroyed but it is pending!',
    task: held.description,
  };
  if (held.sourceTraceback !== undefined) context.sourceTraceback = held.sourceTraceback;
  held.loop.callExceptionHandler(context);
});

/** @internal Whether `value` is a generator object. */
export function isGenerator(value: unknown): value is Generator<unknown, unknown, unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Generator).next === 'function' &&
    typeof (value as Generator).throw === 'function' &&
    typeof (value as Generator)[Symbol.iterator] === 'function'
  );
}

/** @internal Whether `value` has a callable `then`. */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as PromiseLike<unknown>).then === 'function'
  );
}

/** Whether `value` is a coroutine a task can drive (generator object or function). */
export function isCoroutine(value: unknown): boolean {
  return isGenerator(value) || typeof value === 'function';
}

function differentLoop(): Error {
  return codedError('ERR_FUTURE_DIFFERENT_LOOP', 'Future attached to a different loop');
}

/** Options of the Task constructor. */
export interface TaskConstructorOptions extends TaskOptions {
  /** The loop (default: the running loop, else `getEventLoop()`). */
  loop?: TaskLoop;
}

/**
 * A Future that runs a coroutine; see the module documentation. Create tasks with
 * `createTask(coro, {name})` or `loop.createTask(...)`, and keep a reference to them: like
 * asyncio, the loop only holds tasks weakly.
 *
 * ```ts
 * const task = createTask(async () => { await sleep(0.1); return 42; }, { name: 'answer' });
 * console.log(await task); // 42
 * ```
 */
export class Task<T = unknown> extends Future<T> {
  readonly #id = nextTaskId++;
  readonly #loop: TaskLoop;
  readonly #coro: Coroutine<T>;
  readonly #args: unknown[];
  #kind: number;
  #generator: Generator<unknown, T, unknown> | undefined;
  /** Undefined until named: `Task-<id>` is made when asked for. */
  #name: string | undefined;
  /** Whether the task is in `liveTasks` and `pendingTasks`. */
  #tracked = false;
  /** Its index in `unstarted`, or -1. */
  #slot = -1;
  /** Seen pending by one sweep of `justStarted` already. */
  #swept = false;
  /** The Future the task waits for (generator: its yield; function: its latest await). */
  #waiter: AnyFuture | undefined;
  /** A cancellation not yet delivered: the next resumption throws it in. */
  #mustCancel = false;
  #cancelMessage: string | undefined;
  #cancelRequests = 0;
  /** @internal Thrown in instead of the next CancelledError (timeout's scoped form). */
  #substitute: unknown;
  #controller: AbortController | undefined;
  /** The function returned a thenable that is not a loop Future, and is not an async function's own. */
  #foreign = false;
  /** Removes the listener on the incoming `options.signal`, when the task is done. */
  #stopListening: (() => void) | undefined;
  readonly #internal: boolean;
  /** @internal What a dropped result of this (internal) task stood for. */
  [resultDiscarded]?: () => void;

  /**
   * A task running `coro` on `options.loop`. The first step is scheduled with `callSoon` (or,
   * for library-internal helpers, run at once). Prefer `createTask`.
   */
  constructor(coro: Coroutine<T>, options?: TaskConstructorOptions, /** @internal */ loopOverride?: TaskLoop) {
    if (options === undefined || options === null) options = NO_OPTIONS;
    else checkOptionKeys(options, TASK_KEYS);
    const loop = loopOverride ?? options.loop ?? getEventLoop();
    super(loop);
    this.#loop = loop;
    if (isGenerator(coro)) {
      this.#kind = KIND_GENERATOR;
      this.#generator = coro as Generator<unknown, T, unknown>;
    } else if (typeof coro === 'function') {
      this.#kind = KIND_FUNCTION;
    } else if (isThenable(coro)) {
      this.#kind = KIND_PROMISE;
    } else {
      throw invalidArgType('coro', 'a generator object, a function or a Promise', coro);
    }
    if (options.args !== undefined && !Array.isArray(options.args)) {
      throw invalidArgType('options.args', 'an array', options.args);
    }
    this.#coro = coro;
    this.#args = options.args ?? NO_ARGS;
    if (options.name !== undefined && options.name !== null) this.#name = String(options.name);
    this.#internal = (options as InternalOptions)[internalTask] === true;
    const signal = checkSignal(options.signal);
    if (this.#kind === KIND_PROMISE) {
      this.#adopt(coro as PromiseLike<T>);
    } else if (this.#internal) {
      this.#start(); // eager, like asyncio's eager task factory: helpers need no extra iteration
    } else {
      loop.callSoon(startTask, this as Task<unknown>);
    }
    if (!this.#internal && !this.done()) {
      if (this.#kind === KIND_PROMISE) {
        this.#track();
      } else {
        this.#slot = unstarted.length;
        unstarted.push(this as Task<unknown>);
      }
    }
    if (signal !== undefined && !this.done()) this.#stopListening = cancelOnAbort(signal, (message) => this.cancel(message));
  }

  /** Started and still pending: track weakly, for `allTasks()` and the "destroyed but pending" report. */
  #track(): void {
    this.#tracked = true;
    liveTasks.set(this.#id, new WeakRef<AnyFuture>(this) as WeakRef<Task<unknown>>);
    pendingTasks.register(
      this,
      { id: this.#id, loop: this.#loop, description: `<Task pending name=${this.getName()}>`, sourceTraceback: this.sourceTraceback },
      this,
    );
  }

  /** @internal The first step, scheduled with callSoon. */
  static start(task: Task<unknown>): void {
    if (task.#slot >= 0) {
      freeSlot(task.#slot);
      task.#slot = -1;
    }
    task.#start();
    if (task.#internal || task.done()) return;
    listJustStarted(task.#loop, task);
  }

  /** @internal From the sweep: still pending at its second sweep, a task is tracked weakly. */
  static sweep(task: Task<unknown>): void {
    if (task.done() || task.#tracked) return;
    if (task.#swept) {
      task.#track();
    } else {
      task.#swept = true;
      listJustStarted(task.#loop, task);
    }
  }

  /** @internal Drops the holes of `unstarted`, renumbering the slots. */
  static compactUnstarted(): void {
    let j = 0;
    for (let i = unstartedHead; i < unstarted.length; i++) {
      const task = unstarted[i];
      if (task === undefined) continue;
      task.#slot = j;
      unstarted[j++] = task;
    }
    unstarted.length = j;
    unstartedHead = 0;
    unstartedHoles = 0;
  }

  /** The task's name: `Task-<n>` unless one was given. */
  getName(): string {
    return this.#name ?? `Task-${this.#id}`;
  }

  /** Renames the task (the value is converted with `String`). */
  setName(value: unknown): void {
    this.#name = String(value);
  }

  /** The coroutine: the generator object, function or Promise the task was created with. */
  getCoro(): Coroutine<T> {
    return this.#coro;
  }

  /**
   * An `AbortSignal` that aborts when the task is cancelled (at the first `cancel()`, with a
   * `CancelledError` as its reason), so Node APIs that take a `signal` stop with the task.
   */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#cancelRequests > 0 || this.cancelled()) this.#controller.abort(new CancelledError(this.#cancelMessage));
    }
    return this.#controller.signal;
  }

  /** Tasks are finished by their coroutine: always throws `ERR_METHOD_NOT_SUPPORTED`. */
  override setResult(_value: T): void {
    throw codedError('ERR_METHOD_NOT_SUPPORTED', 'Task does not support setResult operation');
  }

  /** Tasks are finished by their coroutine: always throws `ERR_METHOD_NOT_SUPPORTED`. */
  override setException(_exception: unknown): void {
    throw codedError('ERR_METHOD_NOT_SUPPORTED', 'Task does not support setException operation');
  }

  /**
   * Requests cancellation: `false` if the task is done, else `true` (also when it is already
   * being cancelled; the first message wins). The Future the task waits for is cancelled, so
   * `CancelledError` is thrown in where the coroutine is suspended; if it waits for nothing, the
   * error is thrown in at its next resumption. The coroutine may catch it and go on: the task then
   * finishes normally and is not cancelled. Each call counts in `cancelling()`.
   */
  override cancel(message?: string): boolean {
    if (this.done()) return false;
    this.#cancelRequests++;
    const first = this.#cancelRequests === 1 && !this.#mustCancel;
    if (first) {
      this.#cancelMessage = message;
      this.#controller?.abort(new CancelledError(message));
    }
    if (this.#kind === KIND_PROMISE) {
      // A Promise cannot be stopped: the task finishes cancelled and ignores its outcome.
      this.#finishCancelled(this.#cancelMessage);
      return true;
    }
    // Leave #waiter set: it may be a task that swallows the cancellation, to be cancelled again.
    if (this.#waiter !== undefined && this.#waiter.cancel(this.#cancelMessage)) return true;
    if (this.#foreign) {
      // A foreign thenable cannot be stopped either, and no loop Future of ours is awaited now.
      this.#finishCancelled(this.#cancelMessage);
      return true;
    }
    this.#mustCancel = true;
    return true;
  }

  /** How many cancellation requests are pending (`cancel()` calls not undone by `uncancel()`). */
  cancelling(): number {
    return this.#cancelRequests;
  }

  /**
   * Undoes one cancellation request and returns the count left. At 0, a cancellation not yet
   * delivered is dropped. Used by `timeout()` and `TaskGroup` to tell their own cancellation from
   * one that came from outside.
   */
  uncancel(): number {
    if (this.#cancelRequests > 0) {
      this.#cancelRequests--;
      if (this.#cancelRequests === 0) this.#mustCancel = false;
    }
    return this.#cancelRequests;
  }

  /** `<Task pending name=Task-3>` and the like. */
  override toString(): string {
    return super.toString().replace(/^<\w+ /, `<Task `).replace(/>$/, ` name=${this.getName()}>`);
  }

  /** @internal Cancels with `substitute` thrown in instead of the CancelledError (scoped timeouts). */
  cancelWith(substitute: unknown): boolean {
    if (this.done()) return false;
    this.#substitute = substitute;
    return this.cancel();
  }

  /**
   * @internal Drops a substitute that was never delivered (its scope has ended); `true` if it was
   * still pending.
   */
  clearSubstitute(substitute: unknown): boolean {
    if (this.#substitute !== substitute) return false;
    this.#substitute = undefined;
    return true;
  }

  // ---------------------------------------------------------------------------------------------
  // Stepping

  #start(): void {
    if (this.done()) return;
    if (this.#kind === KIND_GENERATOR) {
      this.#step(false, undefined, undefined);
      return;
    }
    if (this.#mustCancel) {
      // Cancelled before its first step: the function never runs (as a coroutine never started).
      this.#mustCancel = false;
      this.#finishCancelled(this.#cancelMessage);
      return;
    }
    let result: unknown;
    try {
      if (!contextEnabled) contextEnabled = true;
      result = taskContext.run(this as Task<unknown>, this.#coro as (...args: unknown[]) => unknown, ...this.#args);
    } catch (error) {
      this.#finishWithError(error);
      return;
    }
    if (isGenerator(result)) {
      // A generator function given as a function: drive the generator it made.
      this.#kind = KIND_GENERATOR;
      this.#generator = result as Generator<unknown, T, unknown>;
      this.#step(false, undefined, undefined);
    } else if (result instanceof Future) {
      this.#waitReturned(result as Future<T>);
    } else if (isThenable(result)) {
      // An async function's own promise: its awaits of loop Futures reach this task (the await
      // hook), so cancellation goes in there. Any other thenable cannot be stopped.
      if (!isAsyncFunction(this.#coro)) this.#foreign = true;
      this.#adopt(result as PromiseLike<T>);
    } else {
      this.#finishWithValue(result as T);
    }
  }

  /**
   * The function returned a loop Future (`() => sleep(5)`, `() => loop.sockRecv(sock, 100)`): wait
   * for it exactly as for a generator's `yield`, so that `cancel()` cancels it.
   */
  #waitReturned(future: Future<T>): void {
    if (future === (this as Future<unknown>)) {
      this.#finishWithError(codedError('ERR_TASK_AWAITS_ITSELF', 'Task cannot await on itself'));
      return;
    }
    if (future.getLoop() !== (this.#loop as unknown)) {
      this.#finishWithError(differentLoop());
      return;
    }
    this.#waiter = future;
    future.addDoneCallback((done) => {
      if (this.#waiter === done) this.#waiter = undefined;
      if (this.done()) return;
      let value: T;
      try {
        value = done.result();
      } catch (error) {
        this.#finishWithError(this.#mustCancel ? new CancelledError(this.#cancelMessage) : error);
        return;
      }
      if (this.#mustCancel) discard(done);
      this.#finishWithValue(value);
    });
  }

  #adopt(promise: PromiseLike<T>): void {
    promise.then(
      (value) => {
        if (!this.done()) this.#finishWithValue(value);
      },
      (error: unknown) => {
        if (!this.done()) this.#finishWithError(error);
      },
    );
  }

  /** One step of a generator: send `value` in, or throw `error` in. */
  #step(hasError: boolean, error: unknown, value: unknown): void {
    if (this.done()) return;
    if (this.#mustCancel) {
      this.#mustCancel = false;
      if (!(error instanceof CancelledError)) error = new CancelledError(this.#cancelMessage);
      hasError = true;
    }
    if (hasError) error = this.#deliverable(error);
    const generator = this.#generator as Generator<unknown, T, unknown>;
    const previous = stepping;
    stepping = this as Task<unknown>;
    let next: IteratorResult<unknown, T>;
    try {
      next = hasError ? generator.throw(error) : generator.next(value);
    } catch (thrown) {
      stepping = previous;
      this.#finishWithError(thrown);
      return;
    }
    stepping = previous;
    if (next.done === true) this.#finishWithValue(next.value);
    else this.#suspend(next.value);
  }

  #stepSoon(hasError: boolean, error: unknown, value: unknown): void {
    this.#loop.callSoon(() => this.#step(hasError, error, value));
  }

  /** The generator yielded `yielded`: wait for it. */
  #suspend(yielded: unknown): void {
    if (yielded === undefined || yielded === null) {
      this.#stepSoon(false, undefined, undefined); // bare yield: one iteration
      return;
    }
    let future: AnyFuture;
    if (yielded instanceof Future) {
      future = yielded;
    } else if (isThenable(yielded)) {
      future = wrapFuture(yielded, this.#loop);
    } else {
      const bad = codedError('ERR_TASK_BAD_YIELD', `Task got bad yield: ${describe(yielded)}`, TypeError);
      this.#stepSoon(true, bad, undefined);
      return;
    }
    if (future === (this as Future<unknown>)) {
      this.#stepSoon(true, codedError('ERR_TASK_AWAITS_ITSELF', 'Task cannot await on itself'), undefined);
      return;
    }
    if (future.getLoop() !== this.#loop) {
      this.#stepSoon(true, differentLoop(), undefined);
      return;
    }
    this.#waiter = future;
    this.#wakeup ??= (done: AnyFuture): void => this.#wakeUp(done);
    future.addDoneCallback(this.#wakeup);
    if (this.#mustCancel && future.cancel(this.#cancelMessage)) this.#mustCancel = false;
  }

  /** The done callback of awaited Futures, made at the first suspension and reused. */
  #wakeup: ((future: AnyFuture) => void) | undefined;

  #wakeUp(future: AnyFuture): void {
    if (this.#waiter === future) this.#waiter = undefined;
    let value: unknown;
    try {
      value = future.result();
    } catch (error) {
      this.#step(true, error, undefined);
      return;
    }
    if (this.#mustCancel) discard(future);
    this.#step(false, undefined, value);
  }

  // ---------------------------------------------------------------------------------------------
  // Awaits of an async function (called through the Future.then hook)

  /** `await future` inside this task's async function: a Promise settled through the loop. */
  #awaitFuture<R>(future: Future<R>): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      if (future === (this as Future<unknown>)) {
        this.#loop.callSoon(reject, codedError('ERR_TASK_AWAITS_ITSELF', 'Task cannot await on itself'));
        return;
      }
      if (future.getLoop() !== this.#loop) {
        this.#loop.callSoon(reject, differentLoop());
        return;
      }
      if (this.#mustCancel) {
        // As Python's step with a pending cancellation: throw it in here, leave the Future alone.
        this.#mustCancel = false;
        this.#loop.callSoon(reject, this.#deliverable(new CancelledError(this.#cancelMessage)));
        return;
      }
      this.#waiter = future;
      future.addDoneCallback((done) => {
        if (this.#waiter === done) this.#waiter = undefined;
        let value: R;
        try {
          value = done.result();
        } catch (error) {
          if (this.#mustCancel && !(error instanceof CancelledError)) {
            this.#mustCancel = false;
            error = new CancelledError(this.#cancelMessage);
          } else if (this.#mustCancel) {
            this.#mustCancel = false;
          }
          reject(this.#deliverable(error));
          return;
        }
        if (this.#mustCancel && !this.done()) {
          // Cancelled after the Future completed but before we resumed: the result is dropped.
          this.#mustCancel = false;
          discard(done);
          reject(this.#deliverable(new CancelledError(this.#cancelMessage)));
          return;
        }
        resolve(value);
      });
    });
  }

  /** The error to throw in: a pending substitute replaces a CancelledError (once). */
  #deliverable(error: unknown): unknown {
    if (this.#substitute !== undefined && error instanceof CancelledError) {
      const substitute = this.#substitute;
      this.#substitute = undefined;
      return substitute;
    }
    return error;
  }

  // ---------------------------------------------------------------------------------------------
  // Finishing

  #finishWithValue(value: T): void {
    if (this.#mustCancel) {
      // Python: a coroutine that returns while a cancellation is pending ends cancelled.
      this.#mustCancel = false;
      this.#finishCancelled(this.#cancelMessage);
      return;
    }
    this.#settle();
    try {
      super.setResult(value);
    } catch (error) {
      loopClosedLate(error);
    }
  }

  #finishWithError(error: unknown): void {
    if (this.#isOwnAbort(error)) {
      // A Node API given task.signal rejected with AbortError: that is this task's cancellation.
      this.#finishCancelled(this.#cancelMessage);
      return;
    }
    if (error instanceof CancelledError) {
      this.#finishCancelled(error.message === '' ? this.#cancelMessage : error.message);
      return;
    }
    const exception = error === undefined ? new TypeError('The coroutine threw undefined') : error;
    this.#settle();
    try {
      super.setException(exception);
    } catch (error) {
      loopClosedLate(error);
    }
  }

  #finishCancelled(message: string | undefined): void {
    this.#settle();
    try {
      super.cancel(message);
    } catch (error) {
      loopClosedLate(error);
    }
    if (this.#controller !== undefined && !this.#controller.signal.aborted) {
      this.#controller.abort(new CancelledError(message));
    }
  }

  /** Whether `error` is the AbortError a Node API throws for this task's own `signal`. */
  #isOwnAbort(error: unknown): boolean {
    const signal = this.#controller?.signal;
    if (signal === undefined || !signal.aborted || error === null || typeof error !== 'object') return false;
    if (error === signal.reason) return true;
    return (error as Error).name === 'AbortError' && (error as Error).cause === signal.reason;
  }

  /** Before finishing: drop the coroutine and the tracking. */
  #settle(): void {
    this.#generator = undefined;
    this.#waiter = undefined;
    this.#stopListening?.();
    this.#stopListening = undefined;
    if (this.#tracked) {
      this.#tracked = false;
      liveTasks.delete(this.#id);
      pendingTasks.unregister(this);
    } else if (this.#slot >= 0) {
      freeSlot(this.#slot);
      this.#slot = -1;
    }
  }

  static {
    setAwaitHook(<R>(future: Future<R>): Promise<R> | undefined => {
      if (!contextEnabled || stepping !== undefined) return undefined;
      const task = taskContext.getStore();
      if (task === undefined || task.done() || task.#kind !== KIND_FUNCTION) return undefined;
      return task.#awaitFuture(future);
    });
  }
}

/** The loop was closed under a task that finished late (its done callbacks cannot run): ignored. */
function loopClosedLate(error: unknown): void {
  if ((error as { code?: unknown }).code !== 'ERR_LOOP_CLOSED') throw error;
}

function startTask(task: Task<unknown>): void {
  Task.start(task);
}

/** Calls the give-back function of a result that a cancelled task will never see. */
function discard(future: AnyFuture): void {
  const giveBack = (future as Discardable)[resultDiscarded];
  if (giveBack !== undefined) {
    (future as Discardable)[resultDiscarded] = undefined;
    giveBack();
  }
}

const internalTask = Symbol('muxloop.internalTask');
const NO_OPTIONS: TaskConstructorOptions = Object.freeze({});
const TASK_KEYS = optionKeys<TaskConstructorOptions>()(['name', 'args', 'signal', 'loop']);
interface InternalOptions extends TaskConstructorOptions {
  [internalTask]?: boolean;
}

/**
 * @internal Runs a library helper written as a generator (a Python coroutine, nearly verbatim) as
 * a task whose first step runs at once. Awaiting tasks wait for it like for any Future; cancelling
 * them cancels it and throws `CancelledError` in at its `yield`. It is not listed by `allTasks()`.
 */
export function spawn<T>(loop: TaskLoop, generator: Generator<unknown, T, unknown>, onDiscard?: (value: T) => void): Task<T> {
  const task = new Task<T>(generator, { loop, [internalTask]: true } as InternalOptions);
  if (onDiscard !== undefined) {
    task[resultDiscarded] = () => onDiscard(task.result());
  }
  return task;
}

/**
 * Creates a task on the running loop that runs `coro` (a generator object, a function called with
 * `options.args`, or a Promise), starting on the next iteration. Throws `ERR_NO_RUNNING_LOOP`
 * without a running loop (use `loop.createTask` then).
 */
export function createTask<C extends Coroutine<unknown>>(coro: C, options?: TaskOptionsFor<C>): Task<ResultOf<C>> {
  return getRunningLoop().createTask(coro, options);
}

/**
 * The task running right now on `loop` (default: the running loop): the one whose generator step
 * or async function is executing. `undefined` in plain callbacks. Throws `ERR_NO_RUNNING_LOOP`
 * when no loop is given and none is running.
 */
export function currentTask(loop?: TaskLoop): Task | undefined {
  // A helper's internal task may take its first step before its loop runs (eagerly, in the
  // call that made it): that step is the current task then.
  if (loop === undefined && stepping !== undefined && !stepping.getLoop().isRunning()) return stepping;
  const target = loop ?? getRunningLoop();
  if (stepping !== undefined) {
    if (stepping.getLoop() !== target) return undefined;
    return stepping;
  }
  if (!contextEnabled) return undefined;
  const task = taskContext.getStore();
  if (task === undefined || task.done() || task.getLoop() !== target) return undefined;
  return task;
}

/** The tasks of `loop` (default: the running loop) that are not done yet. */
export function allTasks(loop?: TaskLoop): Set<Task> {
  const target = loop ?? getRunningLoop();
  const tasks = new Set<Task>();
  for (let i = unstartedHead; i < unstarted.length; i++) {
    const task = unstarted[i];
    if (task !== undefined && !task.done() && task.getLoop() === target) tasks.add(task);
  }
  for (const task of justStarted.get(target) ?? NO_ARGS) if (!(task as Task).done()) tasks.add(task as Task);
  for (const [id, ref] of liveTasks) {
    const task = ref.deref();
    if (task === undefined) liveTasks.delete(id);
    else if (!task.done() && task.getLoop() === target) tasks.add(task);
  }
  return tasks;
}

/**
 * A Future for `x`: a Future is returned as it is (`ERR_FUTURE_DIFFERENT_LOOP` if `loop` is given
 * and differs); a generator object or a function becomes a Task; a Promise or thenable is wrapped
 * with `wrapFuture`. Anything else is a `TypeError`. The loop defaults to `getEventLoop()`.
 */
export function ensureFuture<T>(x: Awaitable<T>, loop?: TaskLoop): Future<T> {
  if (x instanceof Future) {
    if (loop !== undefined && x.getLoop() !== loop) {
      throw codedError('ERR_FUTURE_DIFFERENT_LOOP', 'The future belongs to a different loop than the one specified');
    }
    return x;
  }
  const target = loop ?? getEventLoop();
  if (isCoroutine(x)) return target.createTask(x as Coroutine<T>) as Task<T>;
  if (isThenable(x)) return wrapFuture(x as PromiseLike<T>, target);
  throw invalidArgType('x', 'a Future, a coroutine or an awaitable', x);
}

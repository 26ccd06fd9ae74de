/**
 * asyncio's task helpers (python-anchor.md section 3.3): `sleep`, `gather`, `wait`, `waitFor`,
 * `asCompleted`, `shield`. Each returns a Future (or a Promise-free iterator of Futures), so it
 * works in both coroutine styles: `await sleep(1)` in an async function, `yield sleep(1)` in a
 * generator. Helpers that are coroutines in CPython run here as library-internal tasks written as
 * generators, so cancelling the caller throws `CancelledError` in at the same point as in Python.
 * **Delays and timeouts are in SECONDS.**
 * @packageDocumentation
 */
import { Deque } from '../core/deque';
import { codedError, invalidArgType, outOfRange } from '../core/errors';
import { checkOptionKeys, optionKeys } from '../core/options';
import type { TimerHandle } from '../core/events';
import { CancelledError, Future } from './futures';
import { cancelOnAbort, type Awaitable, type ResultOf, checkSignal, ensureFuture, getEventLoop, isCoroutine, resultDiscarded, spawn, type TaskLoop } from './tasks';
import { timeoutAt, TimeoutError } from './timeouts';

// Future<T> is invariant in T; collections of Futures of any type use this.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyFuture = Future<any>;

/** `wait()` returns when any awaitable finishes. */
export const FIRST_COMPLETED = 'FIRST_COMPLETED';
/** `wait()` returns when any awaitable fails (or all are done). */
export const FIRST_EXCEPTION = 'FIRST_EXCEPTION';
/** `wait()` returns when all awaitables are done (the default). */
export const ALL_COMPLETED = 'ALL_COMPLETED';

/** A `returnWhen` value of `wait()`. */
export type ReturnWhen = typeof FIRST_COMPLETED | typeof FIRST_EXCEPTION | typeof ALL_COMPLETED;

function checkDelay(value: unknown, name: string): number {
  if (typeof value !== 'number') throw invalidArgType(name, 'a number of seconds', value);
  if (Number.isNaN(value)) throw outOfRange(name, 'a number of seconds, not NaN', value);
  return value;
}

function checkTimeout(value: unknown): number | null {
  return value === null || value === undefined ? null : checkDelay(value, 'timeout');
}

/** A sleep's Future: cancelling it cancels its timer. */
class SleepFuture<T> extends Future<T> {
  timer: TimerHandle | undefined;
  override cancel(message?: string): boolean {
    const cancelled = super.cancel(message);
    if (cancelled) this.timer?.cancel();
    return cancelled;
  }
}

function setUnlessDone<T>(future: Future<T>, value: T): void {
  if (!future.done()) future.setResult(value);
}

/** Options of `sleep`. */
export interface SleepOptions {
  /** Cancels the sleep when it aborts, with the signal's reason as the cancel message. */
  signal?: AbortSignal;
}

/**
 * A Future that resolves with `result` after `delay` SECONDS, on the running loop, else on the
 * current one (`getEventLoop()`, so `loop.runUntilComplete(sleep(1))` works for that loop). A
 * delay <= 0 gives up exactly one loop iteration (no timer). `NaN` is a `RangeError`. Cancelling
 * it (or the task awaiting it), or aborting `options.signal`, cancels the timer.
 */
export function sleep<T = undefined>(delay: number, result?: T, options: SleepOptions = {}): Future<T> {
  checkDelay(delay, 'delay');
  if (options !== null && typeof options === 'object') checkOptionKeys(options, SLEEP_KEYS);
  const signal = checkSignal(options?.signal);
  const loop = getEventLoop();
  const future = new SleepFuture<T>(loop);
  if (signal !== undefined) {
    future.addDoneCallback(cancelOnAbort(signal, (message) => future.cancel(message)));
    if (future.done()) return future;
  }
  // A done Future resumes its awaiter through callSoon: exactly one iteration, as a bare yield.
  if (delay <= 0) future.setResult(result as T);
  else future.timer = loop.callLater(delay, setUnlessDone, future, result as T);
  return future;
}

// -------------------------------------------------------------------------------------------------
// gather

/** What `gather` returns: cancelling it cancels every child that is not done. */
class GatheringFuture<T> extends Future<T> {
  readonly #children: AnyFuture[];
  /** @internal Set once cancel() reached a child: the gather ends with CancelledError. */
  cancelRequested = false;

  constructor(loop: TaskLoop, children: AnyFuture[]) {
    super(loop);
    this.#children = children;
  }

  override cancel(message?: string): boolean {
    if (this.done()) return false;
    let cancelled = false;
    for (const child of this.#children) if (child.cancel(message)) cancelled = true;
    // The outer Future itself is not cancelled: it ends when the children do, with CancelledError.
    if (cancelled) this.cancelRequested = true;
    return cancelled;
  }
}

/** The Future `wait` hands back for an awaitable of type `F` (a Future stays itself). */
export type AsFuture<F> = F extends Future<any> ? F : Future<ResultOf<F>>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** What `gather(a, b, ...)` resolves with: a tuple of the results, in argument order. */
export type GatherResults<A extends readonly unknown[]> = { -readonly [K in keyof A]: ResultOf<A[K]> };
/** With `{ returnExceptions: true }`: each place holds the result or the error. */
export type GatherOutcomes<A extends readonly unknown[]> = { -readonly [K in keyof A]: ResultOf<A[K]> | Error };

/** Options of `gather`. */
export interface GatherOptions {
  /** Put exceptions (and `CancelledError`s) in the result list instead of failing. */
  returnExceptions?: boolean;
}

const SLEEP_KEYS = optionKeys<SleepOptions>()(['signal']);
const GATHER_KEYS = optionKeys<GatherOptions>()(['returnExceptions']);
const WAIT_KEYS = optionKeys<WaitOptions>()(['timeout', 'returnWhen']);
const AS_COMPLETED_KEYS = optionKeys<{ timeout?: number | null }>()(['timeout']);

function isOptions(value: unknown): value is GatherOptions {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype && !('then' in value);
}

/**
 * Runs the awaitables concurrently and resolves with their results in argument order (a
 * coroutine is wrapped in a task; the same awaitable twice runs once). The last argument may be
 * `{returnExceptions}`. Without it, the first failure (or cancelled child, as `CancelledError`)
 * rejects the gather at once and the other children keep running; with it, exceptions take their
 * place in the list. Cancelling the gather cancels every unfinished child, and the gather then
 * rejects with `CancelledError` even if children swallow it.
 *
 * As with `Promise.all`, the awaitables may also come as one array: `gather(list)` or
 * `gather(list, {returnExceptions})`. Use that form for large counts: a spread call
 * (`gather(...list)`) overflows the stack somewhere above 100,000 arguments.
 */
export function gather<const A extends readonly Awaitable[]>(...aws: A): Future<GatherResults<A>>;
export function gather<const A extends readonly Awaitable[]>(
  ...args: [...aws: A, options: GatherOptions & { returnExceptions: true }]
): Future<GatherOutcomes<A>>;
export function gather<const A extends readonly Awaitable[]>(...args: [...aws: A, options: GatherOptions]): Future<GatherResults<A>>;
export function gather<A extends Awaitable>(list: readonly A[], options: GatherOptions & { returnExceptions: true }): Future<Array<ResultOf<A> | Error>>;
export function gather<A extends Awaitable>(list: readonly A[], options?: GatherOptions): Future<Array<ResultOf<A>>>;
export function gather(...args: unknown[]): Future<unknown[]> {
  let options: GatherOptions = {};
  if (args.length > 0 && isOptions(args[args.length - 1])) {
    options = args.pop() as GatherOptions;
    checkOptionKeys(options, GATHER_KEYS);
  }
  const returnExceptions = options.returnExceptions === true;
  const awaitables = (args.length === 1 && Array.isArray(args[0]) ? args[0] : args) as Awaitable[];
  if (awaitables.length === 0) {
    const empty = getEventLoop().createFuture<unknown[]>();
    empty.setResult([]);
    return empty;
  }
  let loop: TaskLoop | undefined;
  for (const aw of awaitables) if (aw instanceof Future) loop ??= aw.getLoop();
  loop ??= getEventLoop();
  // The same awaitable twice runs once: a Future is its own child; other awaitables are mapped.
  let byArgument: Map<unknown, AnyFuture> | undefined;
  const children: AnyFuture[] = new Array(awaitables.length);
  const unique = new Set<AnyFuture>();
  for (let i = 0; i < awaitables.length; i++) {
    const aw = awaitables[i];
    let child: AnyFuture | undefined;
    if (aw instanceof Future) {
      if (loop !== aw.getLoop()) throw codedError('ERR_FUTURE_DIFFERENT_LOOP', 'The future belongs to a different loop than the one specified');
      child = aw;
    } else {
      byArgument ??= new Map();
      child = byArgument.get(aw);
      if (child === undefined) {
        child = ensureFuture(aw, loop);
        byArgument.set(aw, child);
      }
    }
    children[i] = child;
    unique.add(child);
  }
  const outer = new GatheringFuture<unknown[]>(loop, children);
  let finished = 0;
  const onChildDone = (child: AnyFuture): void => {
    finished++;
    if (outer.done()) {
      if (!child.cancelled()) child.exception(); // mark it retrieved: the gather is over
      return;
    }
    if (!returnExceptions) {
      if (child.cancelled()) {
        outer.setException(cancelledErrorOf(child));
        return;
      }
      const exception = child.exception();
      if (exception !== undefined) {
        outer.setException(exception);
        return;
      }
    }
    if (finished < unique.size) return;
    const results = children.map((fut) => {
      if (fut.cancelled()) return cancelledErrorOf(fut);
      return fut.exception() ?? fut.result();
    });
    if (outer.cancelRequested) outer.setException(cancelledErrorOf(child));
    else outer.setResult(results);
  };
  for (const child of unique) child.addDoneCallback(onChildDone);
  return outer;
}

/** The CancelledError a cancelled Future raises (with its message). */
function cancelledErrorOf(future: AnyFuture): CancelledError {
  try {
    future.result();
  } catch (error) {
    if (error instanceof CancelledError) return error;
  }
  return new CancelledError();
}

// -------------------------------------------------------------------------------------------------
// wait, waitFor

/** Options of `wait`. */
export interface WaitOptions {
  /** Seconds to wait at most (`null`: no limit). A timeout returns; it neither throws nor cancels. */
  timeout?: number | null;
  /** `ALL_COMPLETED` (default), `FIRST_COMPLETED` or `FIRST_EXCEPTION`. */
  returnWhen?: ReturnWhen;
}

/**
 * Waits for the Futures (or Promises) in `aws` and resolves with `[done, pending]`, two Sets,
 * when `returnWhen` is met or `timeout` seconds pass. Nothing is cancelled. Coroutines are
 * refused (`TypeError`: create tasks explicitly); an empty iterable is a `RangeError`.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function wait<F extends Future<any> | PromiseLike<unknown>>(aws: Iterable<F>, options?: WaitOptions): Future<[Set<AsFuture<F>>, Set<AsFuture<F>>]>;
export function wait<T = unknown>(
  aws: Iterable<Future<T> | PromiseLike<T>>,
  options: WaitOptions = {},
): Future<[Set<Future<T>>, Set<Future<T>>]> {
  if (aws instanceof Future || isCoroutine(aws) || typeof (aws as Iterable<unknown>)?.[Symbol.iterator] !== 'function') {
    throw invalidArgType('aws', 'an iterable of Futures', aws);
  }
  if (options !== null && typeof options === 'object') checkOptionKeys(options, WAIT_KEYS);
  const returnWhen = options.returnWhen ?? ALL_COMPLETED;
  if (returnWhen !== ALL_COMPLETED && returnWhen !== FIRST_COMPLETED && returnWhen !== FIRST_EXCEPTION) {
    throw codedError('ERR_INVALID_ARG_VALUE', `Invalid returnWhen value: ${String(returnWhen)}`, RangeError);
  }
  const timeout = checkTimeout(options.timeout);
  const list = [...aws];
  // Bound to the loop of its Futures (as gather is), else the running or current loop.
  let loop: TaskLoop | undefined;
  for (const aw of list) if (aw instanceof Future) loop ??= aw.getLoop();
  loop ??= getEventLoop();
  const futures = new Set<Future<T>>();
  for (const aw of list) {
    if (isCoroutine(aw)) {
      throw codedError('ERR_INVALID_ARG_TYPE', 'Passing coroutines is forbidden, use tasks explicitly.', TypeError);
    }
    futures.add(ensureFuture(aw as Future<T>, loop));
  }
  if (futures.size === 0) throw codedError('ERR_INVALID_ARG_VALUE', 'Set of Tasks/Futures is empty.', RangeError);
  return spawn(loop, waitCoroutine(loop, futures, timeout, returnWhen));
}

function* waitCoroutine<T>(
  loop: TaskLoop,
  futures: Set<Future<T>>,
  timeout: number | null,
  returnWhen: ReturnWhen,
): Generator<unknown, [Set<Future<T>>, Set<Future<T>>], unknown> {
  const waiter = loop.createFuture<void>();
  const timer = timeout === null ? undefined : loop.callLater(timeout, setUnlessDone, waiter, undefined);
  let counter = futures.size;
  const onCompletion = (future: Future<T>): void => {
    counter--;
    if (
      counter <= 0 ||
      returnWhen === FIRST_COMPLETED ||
      (returnWhen === FIRST_EXCEPTION && !future.cancelled() && future.exception() !== undefined)
    ) {
      timer?.cancel();
      setUnlessDone(waiter, undefined);
    }
  };
  for (const future of futures) future.addDoneCallback(onCompletion);
  try {
    yield waiter;
  } finally {
    timer?.cancel();
    for (const future of futures) future.removeDoneCallback(onCompletion);
  }
  const done = new Set<Future<T>>();
  const pending = new Set<Future<T>>();
  for (const future of futures) (future.done() ? done : pending).add(future);
  return [done, pending];
}

/**
 * Waits for `aw` at most `timeout` SECONDS (`null`: no limit). On timeout `aw` is cancelled and
 * awaited until it has really finished, then `TimeoutError` is thrown (its `cause` is the
 * `CancelledError`); if `aw` swallows the cancellation and returns a value, that value is
 * returned. A timeout <= 0 never starts a coroutine that has not started yet. Cancelling the
 * caller cancels `aw`.
 */
export function waitFor<T>(aw: Awaitable<T>, timeout: number | null): Future<T> {
  const seconds = checkTimeout(timeout);
  const inner = ensureFuture(aw, aw instanceof Future ? undefined : getEventLoop());
  if (seconds === null) return inner;
  return spawn(inner.getLoop(), waitForCoroutine(inner, seconds));
}

function* waitForCoroutine<T>(inner: Future<T>, seconds: number): Generator<unknown, T, unknown> {
  if (seconds <= 0) {
    if (inner.done()) return inner.result();
    yield* cancelAndWait(inner);
    try {
      return inner.result();
    } catch (error) {
      if (error instanceof CancelledError) throw new TimeoutError('', { cause: error });
      throw error;
    }
  }
  return yield* timeoutAt(inner.getLoop().time() + seconds, function* () {
    return (yield inner) as T;
  });
}

/** Cancels `future` and waits until it is done (it may swallow the cancellation). */
function* cancelAndWait(future: AnyFuture): Generator<unknown, void, unknown> {
  const waiter = future.getLoop().createFuture<void>();
  const release = (): void => setUnlessDone(waiter, undefined);
  future.addDoneCallback(release);
  try {
    future.cancel();
    yield waiter;
  } finally {
    future.removeDoneCallback(release);
  }
}

// -------------------------------------------------------------------------------------------------
// asCompleted

const TIMED_OUT = Symbol('timed out');

/**
 * What `asCompleted` returns. Iterate it plainly to get one Future per input that resolves with
 * the next result in completion order (or rejects with its error, or `TimeoutError`); iterate it
 * with `for await` to get the input Futures themselves as they complete.
 */
export class AsCompleted<T> implements Iterable<Future<T>>, AsyncIterable<Future<T>> {
  readonly #loop: TaskLoop;
  readonly #todo: Set<Future<T>>;
  readonly #done = new Deque<Future<T> | typeof TIMED_OUT>();
  // Getters receive boxes: a Promise would flatten a Future (a thenable) handed over bare.
  readonly #getters = new Deque<Future<{ item: Future<T> | typeof TIMED_OUT }>>();
  #remaining: number;
  #timer: TimerHandle | undefined;

  /** @internal Made by `asCompleted`. */
  constructor(loop: TaskLoop, futures: Set<Future<T>>, timeout: number | null) {
    this.#loop = loop;
    this.#todo = futures;
    this.#remaining = futures.size;
    for (const future of futures) future.addDoneCallback(this.#onCompletion);
    if (timeout !== null && futures.size > 0) this.#timer = loop.callLater(timeout, this.#onTimeout);
  }

  /** One Future per input: each resolves with the next result to complete. */
  *[Symbol.iterator](): Iterator<Future<T>> {
    while (this.#remaining > 0) {
      this.#remaining--;
      const next = this.#loop.createFuture<T>();
      const item = this.#next();
      item.addDoneCallback(() => {
        if (next.done()) return;
        if (item.cancelled()) {
          next.cancel();
          return;
        }
        const completed = item.result().item;
        if (completed === TIMED_OUT) next.setException(new TimeoutError());
        else if (completed.cancelled()) next.setException(new CancelledError());
        else if (completed.exception() !== undefined) next.setException(completed.exception());
        else next.setResult(completed.result());
      });
      next.addDoneCallback(() => {
        if (next.cancelled()) item.cancel();
      });
      yield next;
    }
  }

  /**
   * The input Futures as they complete; throws `TimeoutError` when the timeout passes first.
   * (Written by hand: an async generator would await each Future it yields, a Future being a
   * thenable, and hand out results instead.)
   */
  [Symbol.asyncIterator](): AsyncIterator<Future<T>> {
    return {
      next: async (): Promise<IteratorResult<Future<T>>> => {
        if (this.#remaining <= 0) return { done: true, value: undefined };
        this.#remaining--;
        const { item: completed } = await this.#next();
        if (completed === TIMED_OUT) throw new TimeoutError();
        return { done: false, value: completed };
      },
    };
  }

  /** The next completed Future (or the timeout mark), handed over through a Future. */
  #next(): Future<{ item: Future<T> | typeof TIMED_OUT }> {
    const getter = this.#loop.createFuture<{ item: Future<T> | typeof TIMED_OUT }>();
    (getter as AnyFuture & { [resultDiscarded]?: () => void })[resultDiscarded] = () => {
      // The caller was cancelled before it saw this one: keep it for the next caller.
      if (getter.done() && !getter.cancelled() && getter.result().item !== TIMED_OUT) this.#done.unshift(getter.result().item);
    };
    if (this.#done.length > 0) {
      const first = this.#done.get(0);
      if (first !== TIMED_OUT) this.#done.shift();
      getter.setResult({ item: first });
    } else {
      this.#getters.push(getter);
    }
    return getter;
  }

  #deliver(item: Future<T> | typeof TIMED_OUT): void {
    while (this.#getters.length > 0) {
      const getter = this.#getters.shift() as Future<{ item: Future<T> | typeof TIMED_OUT }>;
      if (!getter.done()) {
        getter.setResult({ item });
        if (item !== TIMED_OUT) return;
      }
    }
    if (item !== TIMED_OUT || this.#done.length === 0 || this.#done.get(this.#done.length - 1) !== TIMED_OUT) this.#done.push(item);
  }

  #onCompletion = (future: Future<T>): void => {
    if (!this.#todo.delete(future)) return;
    if (this.#todo.size === 0) this.#timer?.cancel();
    this.#deliver(future);
  };

  #onTimeout = (): void => {
    for (const future of this.#todo) future.removeDoneCallback(this.#onCompletion);
    this.#todo.clear();
    this.#deliver(TIMED_OUT);
  };
}

/**
 * Iterates `aws` (Futures, coroutines, Promises) in completion order, with an optional overall
 * `timeout` in SECONDS; see `AsCompleted`. Pending inputs are not cancelled on timeout. A single
 * awaitable instead of an iterable is a `TypeError`.
 */
export function asCompleted<A extends Awaitable>(aws: Iterable<A>, options?: { timeout?: number | null }): AsCompleted<ResultOf<A>>;
export function asCompleted<T>(
  aws: Iterable<Awaitable<T>>,
  options: { timeout?: number | null } = {},
): AsCompleted<T> {
  if (aws instanceof Future || isCoroutine(aws) || typeof (aws as Iterable<unknown>)?.[Symbol.iterator] !== 'function') {
    throw invalidArgType('aws', 'an iterable of awaitables', aws);
  }
  if (options !== null && typeof options === 'object') checkOptionKeys(options, AS_COMPLETED_KEYS);
  const timeout = checkTimeout(options.timeout);
  const list = [...new Set(aws)];
  let loop: TaskLoop | undefined;
  for (const aw of list) if (aw instanceof Future) loop ??= aw.getLoop();
  loop ??= getEventLoop();
  const futures = new Set(list.map((aw) => ensureFuture(aw, loop)));
  return new AsCompleted(loop, futures, timeout);
}

// -------------------------------------------------------------------------------------------------
// shield

/**
 * Protects `aw` from cancellation: the returned Future mirrors it, and cancelling the returned
 * Future (or the task awaiting it) does not cancel `aw`, which runs on (the awaiting task still
 * gets `CancelledError`). If `aw` itself is cancelled, so is the returned Future. A done `aw` is
 * returned as it is.
 */
export function shield<T>(aw: Awaitable<T>): Future<T> {
  const inner = ensureFuture(aw);
  if (inner.done()) return inner;
  const outer = inner.getLoop().createFuture<T>();
  const onInnerDone = (done: Future<T>): void => {
    if (outer.cancelled()) {
      if (!done.cancelled()) done.exception(); // mark retrieved: nobody is waiting any more
      return;
    }
    if (done.cancelled()) outer.cancel();
    else if (done.exception() !== undefined) outer.setException(done.exception());
    else outer.setResult(done.result());
  };
  inner.addDoneCallback(onInnerDone);
  outer.addDoneCallback(() => {
    if (!inner.done()) inner.removeDoneCallback(onInnerDone);
  });
  // The inner task must stay referenced while it runs even if only the shield knew it.
  shielded.add(inner);
  inner.addDoneCallback(() => shielded.delete(inner));
  return outer;
}

const shielded = new Set<AnyFuture>();

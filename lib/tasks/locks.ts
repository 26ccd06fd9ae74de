/**
 * Synchronisation primitives for tasks (python-anchor.md section 4): `Lock`, `Event`,
 * `Condition`, `Semaphore`, `BoundedSemaphore`, `Barrier`. Not thread-safe (nothing here is
 * shared between threads); each binds to the loop of its first waiter.
 *
 * Waits return Futures, so both coroutine styles use them (`await lock.acquire()`,
 * `yield lock.acquire()`). Fairness is asyncio's: `Lock` and `Semaphore` serve waiters first in,
 * first out, and a newcomer never overtakes a waiter. Cancellation is safe: a waiter that is
 * cancelled never takes the lock or a permit. `Lock` and `Semaphore` hand the lock (permit) over
 * to the woken waiter directly; if its task is cancelled before it resumes, the task gives it
 * back (tasks.ts `resultDiscarded`). So between a `release()` and the waiter resuming, `locked()`
 * stays true (in CPython it is briefly false, though nobody can take the lock meanwhile either).
 *
 * Scoped forms: `await lock.with(async () => ...)`, or `using held = await lock.hold()` (also
 * `Semaphore` and `Condition`); `Barrier.with(async (index) => ...)`.
 * @packageDocumentation
 */
import { Deque } from '../core/deque';
import { codedError, invalidArgType, outOfRange } from '../core/errors';
import { CancelledError, Future } from './futures';
import { getRunningLoop, resultDiscarded, spawn, type TaskLoop } from './tasks';

type Handoff<T> = Future<T> & { [resultDiscarded]?: () => void };

/** The loop a primitive is bound to: the running loop at its first wait, then always that one. */
class LoopBound {
  #loop: TaskLoop | undefined;

  /**
   * The running loop, bound at the first wait; a later wait from another loop throws
   * `ERR_BOUND_TO_DIFFERENT_LOOP` (asyncio's RuntimeError).
   */
  protected boundLoop(): TaskLoop {
    const loop = getRunningLoop();
    if (this.#loop === undefined) this.#loop = loop;
    else if (this.#loop !== loop) {
      throw codedError('ERR_BOUND_TO_DIFFERENT_LOOP', `${this.constructor.name} is bound to a different event loop`);
    }
    return loop;
  }
}

/** What `hold()` returns: releases on dispose (`using`/`await using`) or `release()`. */
export interface Held {
  /** Releases what was acquired; later calls do nothing. */
  release(): void;
  /** `release()`, for `using`. */
  [Symbol.dispose](): void;
  /** `release()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

function held(release: () => void): Held {
  let released = false;
  const once = (): void => {
    if (released) return;
    released = true;
    release();
  };
  return { release: once, [Symbol.dispose]: once, [Symbol.asyncDispose]: async () => once() };
}

async function withAcquired<R>(acquire: Future<unknown>, release: () => void, body: () => PromiseLike<R> | R): Promise<R> {
  await acquire;
  try {
    return await body();
  } finally {
    release();
  }
}

/** The oldest waiter not cancelled, removed from `waiters`. */
function firstLive<T>(waiters: Deque<Future<T>>): Future<T> | undefined {
  while (waiters.length > 0) {
    const waiter = waiters.shift() as Future<T>;
    if (!waiter.done()) return waiter;
  }
  return undefined;
}

/** Whether a waiter not cancelled is queued (cancelled ones at the front are dropped). */
function hasLive<T>(waiters: Deque<Future<T>>): boolean {
  while (waiters.length > 0 && waiters.get(0).done()) waiters.shift();
  return waiters.length > 0;
}

/** A mutual-exclusion lock for tasks. Not owned: any task may release it. */
export class Lock extends LoopBound {
  #locked = false;
  readonly #waiters = new Deque<Handoff<true>>();

  /** Whether the lock is held (or handed over to a waiter that has not resumed yet). */
  locked(): boolean {
    return this.#locked;
  }

  /**
   * A Future that resolves with `true` once the lock is held by the caller: at once if it is free
   * and nobody waits, else after the waiters queued before. Cancelling it gives up the wait.
   */
  acquire(): Future<true> {
    const loop = this.boundLoop();
    const waiter: Handoff<true> = loop.createFuture<true>();
    waiter[resultDiscarded] = this.#giveBack;
    if (!this.#locked && !hasLive(this.#waiters)) {
      this.#locked = true;
      waiter.setResult(true);
    } else {
      this.#waiters.push(waiter);
    }
    return waiter;
  }

  /** Releases the lock, handing it to the oldest waiter. `ERR_LOCK_NOT_ACQUIRED` if not held. */
  release(): void {
    if (!this.#locked) throw codedError('ERR_LOCK_NOT_ACQUIRED', 'Lock is not acquired.');
    const next = firstLive(this.#waiters);
    if (next === undefined) this.#locked = false;
    else next.setResult(true); // handed over: stays locked
  }

  #giveBack = (): void => this.release();

  /** Acquires, runs `body`, releases (also when `body` throws). */
  with<R>(body: () => PromiseLike<R> | R): Promise<R> {
    return withAcquired(this.acquire(), () => this.release(), body);
  }

  /** Acquires and resolves with a `Held` for `using held = await lock.hold()`. */
  async hold(): Promise<Held> {
    await this.acquire();
    return held(() => this.release());
  }
}

/** A flag tasks can wait for. */
export class Event extends LoopBound {
  #value = false;
  #waiters: Array<Future<true>> = [];

  /** Whether the flag is set. */
  isSet(): boolean {
    return this.#value;
  }

  /** Sets the flag and wakes every waiter (even if `clear()` follows at once). */
  set(): void {
    if (this.#value) return;
    this.#value = true;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) if (!waiter.done()) waiter.setResult(true);
  }

  /** Clears the flag. */
  clear(): void {
    this.#value = false;
  }

  /** A Future that resolves with `true` once the flag is set (at once if it is). */
  wait(): Future<true> {
    const waiter = this.boundLoop().createFuture<true>();
    if (this.#value) waiter.setResult(true);
    else this.#waiters.push(waiter);
    return waiter;
  }
}

/**
 * A condition variable: tasks wait for a notification while holding `lock` (default: a new
 * `Lock`), which `wait()` releases and takes back.
 */
export class Condition extends LoopBound {
  readonly #lock: Lock;
  readonly #waiters: Array<Future<boolean>> = [];

  /** A condition over `lock` (default: a new Lock). */
  constructor(lock?: Lock) {
    super();
    if (lock !== undefined && !(lock instanceof Lock)) throw invalidArgType('lock', 'a Lock', lock);
    this.#lock = lock ?? new Lock();
  }

  /** Whether the underlying lock is held. */
  locked(): boolean {
    return this.#lock.locked();
  }

  /** Acquires the underlying lock. */
  acquire(): Future<true> {
    return this.#lock.acquire();
  }

  /** Releases the underlying lock. */
  release(): void {
    this.#lock.release();
  }

  /** Acquires, runs `body`, releases. */
  with<R>(body: () => PromiseLike<R> | R): Promise<R> {
    return this.#lock.with(body);
  }

  /** Acquires and resolves with a `Held`. */
  hold(): Promise<Held> {
    return this.#lock.hold();
  }

  /**
   * Releases the lock, waits for a notification, takes the lock back and resolves with `true`.
   * The lock is taken back even if the wait is cancelled: the `CancelledError` surfaces with the
   * lock held. `ERR_LOCK_NOT_ACQUIRED` if the lock is not held.
   */
  wait(): Future<true> {
    if (!this.locked()) throw codedError('ERR_LOCK_NOT_ACQUIRED', 'cannot wait on un-acquired lock');
    return spawn(this.boundLoop(), this.#wait());
  }

  *#wait(): Generator<unknown, true, unknown> {
    this.release();
    let cancelled: unknown;
    try {
      const waiter = this.boundLoop().createFuture<boolean>();
      this.#waiters.push(waiter);
      try {
        yield waiter;
        return true;
      } catch (error) {
        // Woken but cancelled before resuming: pass the notification on.
        if (waiter.done() && !waiter.cancelled()) this.#notify(1);
        throw error;
      } finally {
        const index = this.#waiters.indexOf(waiter);
        if (index >= 0) this.#waiters.splice(index, 1);
      }
    } finally {
      // Must take the lock back even if cancelled (only CancelledError is retried).
      for (;;) {
        try {
          yield this.#lock.acquire();
          break;
        } catch (error) {
          if (!(error instanceof CancelledError)) throw error;
          cancelled = error;
        }
      }
      if (cancelled !== undefined) throw cancelled; // eslint-disable-line no-unsafe-finally
    }
  }

  /** Waits until `predicate()` is truthy (checked first, then after each notification); resolves with its value. */
  waitFor<R>(predicate: () => R): Future<R> {
    if (!this.locked()) throw codedError('ERR_LOCK_NOT_ACQUIRED', 'cannot wait on un-acquired lock');
    return spawn(this.boundLoop(), this.#waitFor(predicate));
  }

  *#waitFor<R>(predicate: () => R): Generator<unknown, R, unknown> {
    let result = predicate();
    while (!result) {
      yield this.wait();
      result = predicate();
    }
    return result;
  }

  /** Wakes the `n` oldest waiters (default 1). `ERR_LOCK_NOT_ACQUIRED` without the lock. */
  notify(n = 1): void {
    if (!this.locked()) throw codedError('ERR_LOCK_NOT_ACQUIRED', 'cannot notify on un-acquired lock');
    this.#notify(n);
  }

  /** Wakes every waiter. */
  notifyAll(): void {
    this.notify(this.#waiters.length);
  }

  #notify(n: number): void {
    let woken = 0;
    for (const waiter of this.#waiters) {
      if (woken >= n) break;
      if (!waiter.done()) {
        woken++;
        waiter.setResult(false);
      }
    }
  }
}

/** A counter of permits: `acquire()` waits while it is 0, `release()` adds one. */
export class Semaphore extends LoopBound {
  #value: number;
  readonly #waiters = new Deque<Handoff<true>>();

  /** `value` permits (default 1); a negative value is a `RangeError`. */
  constructor(value = 1) {
    super();
    if (typeof value !== 'number' || !Number.isInteger(value)) throw invalidArgType('value', 'an integer', value);
    if (value < 0) throw outOfRange('value', '>= 0 (Semaphore initial value must be >= 0)', value);
    this.#value = value;
  }

  /** Whether `acquire()` would wait: no permit left, or tasks already waiting (FIFO). */
  locked(): boolean {
    return this.#value === 0 || hasLive(this.#waiters);
  }

  /** A Future that resolves with `true` once the caller holds a permit (FIFO). */
  acquire(): Future<true> {
    const loop = this.boundLoop();
    const waiter: Handoff<true> = loop.createFuture<true>();
    waiter[resultDiscarded] = this.#giveBack;
    if (!this.locked()) {
      this.#value--;
      waiter.setResult(true);
    } else {
      this.#waiters.push(waiter);
    }
    return waiter;
  }

  /** Returns a permit, handing it to the oldest waiter if there is one. */
  release(): void {
    const next = firstLive(this.#waiters);
    if (next === undefined) this.#value++;
    else next.setResult(true); // the permit goes straight to the waiter
  }

  #giveBack = (): void => this.release();

  /** @internal The permits left, for BoundedSemaphore. */
  protected get value(): number {
    return this.#value;
  }

  /** Acquires, runs `body`, releases. */
  with<R>(body: () => PromiseLike<R> | R): Promise<R> {
    return withAcquired(this.acquire(), () => this.release(), body);
  }

  /** Acquires and resolves with a `Held`. */
  async hold(): Promise<Held> {
    await this.acquire();
    return held(() => this.release());
  }
}

/** A Semaphore that refuses to be released above its initial value (`RangeError`). */
export class BoundedSemaphore extends Semaphore {
  readonly #bound: number;

  /** `value` permits (default 1), also the bound. */
  constructor(value = 1) {
    super(value);
    this.#bound = value;
  }

  /** Returns a permit; `ERR_SEMAPHORE_OVER_RELEASED` (a RangeError) above the initial value. */
  override release(): void {
    if (this.value >= this.#bound) {
      throw codedError('ERR_SEMAPHORE_OVER_RELEASED', 'BoundedSemaphore released too many times', RangeError);
    }
    super.release();
  }
}

/** A Barrier was reset or aborted while (or before) a task waited on it. */
export class BrokenBarrierError extends Error {
  /** Always `'ERR_BROKEN_BARRIER'`. */
  readonly code = 'ERR_BROKEN_BARRIER';
  constructor(message = 'Barrier aborted') {
    super(message);
    this.name = 'BrokenBarrierError';
  }
}

const FILLING = 'filling';
const DRAINING = 'draining';
const RESETTING = 'resetting';
const BROKEN = 'broken';

/** Lets `parties` tasks wait for each other: the last to arrive releases them all. */
export class Barrier {
  readonly #cond = new Condition();
  readonly #parties: number;
  #state = FILLING;
  #count = 0;

  /** A barrier for `parties` tasks (>= 1). */
  constructor(parties: number) {
    if (typeof parties !== 'number' || !Number.isInteger(parties)) throw invalidArgType('parties', 'an integer', parties);
    if (parties < 1) throw outOfRange('parties', '>= 1', parties);
    this.#parties = parties;
  }

  /** How many tasks it takes to pass. */
  get parties(): number {
    return this.#parties;
  }

  /** How many tasks wait now (while filling). */
  get nWaiting(): number {
    return this.#state === FILLING ? this.#count : 0;
  }

  /** Whether it is broken (aborted). */
  get broken(): boolean {
    return this.#state === BROKEN;
  }

  /**
   * Waits until `parties` tasks wait; resolves with a distinct index in 0..parties-1.
   * `BrokenBarrierError` if the barrier is reset or aborted meanwhile (or is broken).
   */
  wait(): Future<number> {
    return spawn(getRunningLoop(), this.#wait());
  }

  /** Waits at the barrier, then runs `body(index)`. */
  async with<R>(body: (index: number) => PromiseLike<R> | R): Promise<R> {
    return body(await this.wait());
  }

  *#wait(): Generator<unknown, number, unknown> {
    yield this.#cond.acquire();
    try {
      // Block while the barrier drains or resets.
      yield this.#cond.waitFor(() => this.#state !== DRAINING && this.#state !== RESETTING);
      if (this.#state === BROKEN) throw new BrokenBarrierError('Barrier aborted');
      const index = this.#count++;
      try {
        if (index + 1 === this.#parties) {
          this.#state = DRAINING;
          this.#cond.notifyAll();
        } else {
          yield this.#cond.waitFor(() => this.#state !== FILLING);
          if (this.#state === BROKEN || this.#state === RESETTING) {
            throw new BrokenBarrierError('Abort or reset of barrier');
          }
        }
        return index;
      } finally {
        this.#count--;
        this.#exit();
      }
    } finally {
      this.#cond.release();
    }
  }

  #exit(): void {
    if (this.#count === 0) {
      if (this.#state === RESETTING || this.#state === DRAINING) this.#state = FILLING;
      this.#cond.notifyAll();
    }
  }

  /** Puts it back to the initial state; tasks waiting get `BrokenBarrierError`. */
  reset(): Future<void> {
    return spawn(getRunningLoop(), this.#locked(() => {
      if (this.#count > 0) {
        if (this.#state !== RESETTING) this.#state = RESETTING;
      } else {
        this.#state = FILLING;
      }
      this.#cond.notifyAll();
    }));
  }

  /** Breaks it: current and future `wait()`s fail with `BrokenBarrierError`. */
  abort(): Future<void> {
    return spawn(getRunningLoop(), this.#locked(() => {
      this.#state = BROKEN;
      this.#cond.notifyAll();
    }));
  }

  *#locked(action: () => void): Generator<unknown, void, unknown> {
    yield this.#cond.acquire();
    try {
      action();
    } finally {
      this.#cond.release();
    }
  }
}

/**
 * Queues for tasks (python-anchor.md section 4, Python 3.13 semantics including `shutdown`):
 * `Queue` (FIFO), `PriorityQueue` (lowest first), `LifoQueue` (stack). `get()`, `put()` and
 * `join()` return Futures, so both coroutine styles use them.
 *
 * As in asyncio, a `put` wakes the oldest waiting getter without handing the item over: a
 * `getNowait()` that runs first may take it, and the woken getter waits again. A task cancelled
 * while its `get()` completes puts the item back at the head; one cancelled while its `put()`
 * completes takes its item out again, so a cancelled call never loses or adds an item.
 * @packageDocumentation
 */
import { Deque } from '../core/deque';
import { codedError, invalidArgType } from '../core/errors';
import { Future } from './futures';
import { Event } from './locks';
import { getRunningLoop, resultDiscarded, spawn, type TaskLoop } from './tasks';

/** `getNowait()` on an empty queue. */
export class QueueEmpty extends Error {
  /** Always `'ERR_QUEUE_EMPTY'`. */
  readonly code = 'ERR_QUEUE_EMPTY';
  constructor(message = 'Queue is empty') {
    super(message);
    this.name = 'QueueEmpty';
  }
}

/** `putNowait()` on a full queue. */
export class QueueFull extends Error {
  /** Always `'ERR_QUEUE_FULL'`. */
  readonly code = 'ERR_QUEUE_FULL';
  constructor(message = 'Queue is full') {
    super(message);
    this.name = 'QueueFull';
  }
}

/** A put on a queue that was shut down, or a get on one that is shut down and empty. */
export class QueueShutDown extends Error {
  /** Always `'ERR_QUEUE_SHUT_DOWN'`. */
  readonly code = 'ERR_QUEUE_SHUT_DOWN';
  constructor(message = 'Queue is shut down') {
    super(message);
    this.name = 'QueueShutDown';
  }
}

type Handoff<T> = Future<T> & { [resultDiscarded]?: () => void };

/**
 * A first-in, first-out queue. `maxsize <= 0` (the default) means unbounded. Subclasses change
 * the order by overriding the storage methods (`_put`, `_get`, `_unget`, `_remove`).
 */
export class Queue<T = unknown> {
  readonly #maxsize: number;
  readonly #getters = new Deque<Future<void>>();
  readonly #putters = new Deque<Future<void>>();
  #unfinished = 0;
  readonly #finished = new Event();
  #shutdown = false;
  #loop: TaskLoop | undefined;
  /** @internal The items, in the subclass's storage order. */
  protected items = new Deque<T>();

  /** A queue holding at most `maxsize` items (<= 0: no limit). */
  constructor(maxsize = 0) {
    if (typeof maxsize !== 'number' || Number.isNaN(maxsize)) throw invalidArgType('maxsize', 'a number', maxsize);
    this.#maxsize = maxsize;
    this.#finished.set();
  }

  /** The size limit (<= 0: none). */
  get maxsize(): number {
    return this.#maxsize;
  }

  /** How many items it holds. */
  qsize(): number {
    return this.items.length;
  }

  /** Whether it holds no item. */
  empty(): boolean {
    return this.items.length === 0;
  }

  /** Whether it holds `maxsize` items (never for an unbounded queue). */
  full(): boolean {
    return this.#maxsize > 0 && this.items.length >= this.#maxsize;
  }

  /** Adds `item` now: `QueueFull` if full, `QueueShutDown` after `shutdown()`. */
  putNowait(item: T): void {
    if (this.#shutdown) throw new QueueShutDown();
    if (this.full()) throw new QueueFull();
    this._put(item);
    this.#unfinished++;
    this.#finished.clear();
    wakeupNext(this.#getters);
  }

  /** Takes the next item now: `QueueEmpty` if empty (`QueueShutDown` if also shut down). */
  getNowait(): T {
    if (this.empty()) {
      if (this.#shutdown) throw new QueueShutDown();
      throw new QueueEmpty();
    }
    const item = this._get();
    wakeupNext(this.#putters);
    return item;
  }

  /** A Future that resolves once `item` is in the queue (waiting while it is full). */
  put(item: T): Future<void> {
    const loop = this.#bind();
    if (!this.full()) {
      const done: Handoff<void> = loop.createFuture<void>();
      this.putNowait(item); // throws QueueShutDown
      done[resultDiscarded] = () => this.#takeBack(item);
      done.setResult(undefined);
      return done;
    }
    return spawn(loop, this.#put(item), () => this.#takeBack(item));
  }

  /** A Future of the next item (waiting while the queue is empty). */
  get(): Future<T> {
    const loop = this.#bind();
    if (!this.empty()) {
      const done: Handoff<T> = loop.createFuture<T>();
      const item = this.getNowait();
      done[resultDiscarded] = () => this.#giveBack(item);
      done.setResult(item);
      return done;
    }
    return spawn(loop, this.#get(), (item) => this.#giveBack(item));
  }

  /**
   * Marks one item taken by a consumer as processed; `join()` resolves when every item put was.
   * More calls than items put is a `RangeError` ("task_done() called too many times").
   */
  taskDone(): void {
    if (this.#unfinished <= 0) {
      throw codedError('ERR_QUEUE_TASK_DONE', 'taskDone() called too many times', RangeError);
    }
    this.#unfinished--;
    if (this.#unfinished === 0) this.#finished.set();
  }

  /** A Future that resolves once every item put has been marked with `taskDone()`. */
  join(): Future<true> {
    this.#bind();
    return this.#finished.wait();
  }

  /**
   * Shuts the queue down: puts fail with `QueueShutDown` (blocked putters too); gets drain what is
   * left, then fail with it. `immediate`: drops the items (counting them done for `join()`) so
   * gets fail at once.
   */
  shutdown(immediate = false): void {
    this.#shutdown = true;
    if (immediate) {
      while (!this.empty()) {
        this._get();
        if (this.#unfinished > 0) this.#unfinished--;
      }
      if (this.#unfinished === 0) this.#finished.set();
    }
    for (const waiters of [this.#getters, this.#putters]) {
      const woken = [...waiters];
      waiters.clear();
      for (const waiter of woken) if (!waiter.done()) waiter.setResult(undefined);
    }
  }

  *#put(item: T): Generator<unknown, void, unknown> {
    const loop = this.#loop as TaskLoop;
    while (this.full()) {
      if (this.#shutdown) throw new QueueShutDown();
      const putter = loop.createFuture<void>();
      this.#putters.push(putter);
      try {
        yield putter;
      } catch (error) {
        putter.cancel();
        removeWaiter(this.#putters, putter);
        if (!this.full() && !putter.cancelled()) wakeupNext(this.#putters);
        throw error;
      }
    }
    this.putNowait(item);
  }

  *#get(): Generator<unknown, T, unknown> {
    const loop = this.#loop as TaskLoop;
    while (this.empty()) {
      if (this.#shutdown) throw new QueueShutDown();
      const getter = loop.createFuture<void>();
      this.#getters.push(getter);
      try {
        yield getter;
      } catch (error) {
        getter.cancel();
        removeWaiter(this.#getters, getter);
        if (!this.empty() && !getter.cancelled()) wakeupNext(this.#getters);
        throw error;
      }
    }
    return this.getNowait();
  }

  /** A cancelled get: the item goes back where it came from, and a getter may take it. */
  #giveBack(item: T): void {
    this._unget(item);
    wakeupNext(this.#getters);
  }

  /** A cancelled put: its item leaves again. */
  #takeBack(item: T): void {
    if (!this._remove(item)) return;
    if (this.#unfinished > 0) this.#unfinished--;
    if (this.#unfinished === 0) this.#finished.set();
    wakeupNext(this.#putters);
  }

  #bind(): TaskLoop {
    const loop = getRunningLoop();
    if (this.#loop === undefined) this.#loop = loop;
    else if (this.#loop !== loop) {
      throw codedError('ERR_BOUND_TO_DIFFERENT_LOOP', `${this.constructor.name} is bound to a different event loop`);
    }
    return loop;
  }

  /** @internal Stores an item. */
  protected _put(item: T): void {
    this.items.push(item);
  }

  /** @internal Takes the next item. */
  protected _get(): T {
    return this.items.shift() as T;
  }

  /** @internal Puts back the item just taken, so that it is the next one again. */
  protected _unget(item: T): void {
    this.items.unshift(item);
  }

  /** @internal Removes the most recently stored `item`; false if it is gone already. */
  protected _remove(item: T): boolean {
    const index = this.items.lastIndexOf(item);
    if (index < 0) return false;
    this.items.removeAt(index);
    return true;
  }

  /** `<Queue maxsize=0 qsize=2>` */
  toString(): string {
    return `<${this.constructor.name} maxsize=${this.#maxsize} qsize=${this.items.length}${this.#shutdown ? ' shutdown' : ''}>`;
  }
}

function wakeupNext(waiters: Deque<Future<void>>): void {
  while (waiters.length > 0) {
    const waiter = waiters.shift() as Future<void>;
    if (!waiter.done()) {
      waiter.setResult(undefined);
      return;
    }
  }
}

function removeWaiter(waiters: Deque<Future<void>>, waiter: Future<void>): void {
  waiters.remove(waiter);
}

/** Last in, first out. */
export class LifoQueue<T = unknown> extends Queue<T> {
  protected override _get(): T {
    return this.items.pop() as T;
  }

  protected override _unget(item: T): void {
    this.items.push(item);
  }
}

/**
 * Lowest item first (a binary heap). Items are compared with `compare` (default: `<` on the
 * values, so numbers, strings, or `[priority, data]` arrays compared by their first element).
 */
export class PriorityQueue<T = unknown> extends Queue<T> {
  readonly #less: (a: T, b: T) => boolean;

  /** A priority queue of at most `maxsize` items ordered by `compare(a, b)` (< 0: a first). */
  constructor(maxsize = 0, compare?: (a: T, b: T) => number) {
    super(maxsize);
    this.#less = compare === undefined ? defaultLess : (a, b) => compare(a, b) < 0;
  }

  protected override _put(item: T): void {
    const heap = this.items;
    heap.push(item);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(heap.get(i), heap.get(parent))) break;
      swap(heap, i, parent);
      i = parent;
    }
  }

  protected override _get(): T {
    const heap = this.items;
    const top = heap.get(0);
    const last = heap.pop() as T;
    if (heap.length > 0) {
      heap.set(0, last);
      this.#siftDown(0);
    }
    return top;
  }

  protected override _unget(item: T): void {
    this._put(item);
  }

  protected override _remove(item: T): boolean {
    const heap = this.items;
    const index = heap.lastIndexOf(item);
    if (index < 0) return false;
    const last = heap.pop() as T;
    if (index < heap.length) {
      heap.set(index, last);
      this.#siftDown(index);
      // The moved item may also belong higher up.
      let i = index;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!this.#less(heap.get(i), heap.get(parent))) break;
        swap(heap, i, parent);
        i = parent;
      }
    }
    return true;
  }

  #siftDown(start: number): void {
    const heap = this.items;
    let i = start;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < heap.length && this.#less(heap.get(left), heap.get(smallest))) smallest = left;
      if (right < heap.length && this.#less(heap.get(right), heap.get(smallest))) smallest = right;
      if (smallest === i) return;
      swap(heap, i, smallest);
      i = smallest;
    }
  }
}

function swap<T>(heap: Deque<T>, i: number, j: number): void {
  const value = heap.get(i);
  heap.set(i, heap.get(j));
  heap.set(j, value);
}

function defaultLess<T>(a: T, b: T): boolean {
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      if (a[i] < b[i]) return true;
      if (a[i] > b[i]) return false;
    }
    return a.length < b.length;
  }
  return a < b;
}

/**
 * Scheduling work on a loop from another thread (asyncio's `call_soon_threadsafe` across real
 * threads). JavaScript functions cannot cross threads, so the loop side registers callbacks by
 * name and a worker calls them by name with cloneable arguments:
 *
 * ```ts
 * // loop thread
 * const scheduler = createThreadsafeScheduler(loop);
 * scheduler.register('progress', (done: number) => bar.update(done));
 * const { handle, transferList } = scheduler.handle();
 * new Worker(file, { workerData: handle, transferList });
 * // worker thread
 * const remote = openThreadsafeHandle(workerData);
 * remote.callSoon('progress', 42); // runs bar.update(42) as a loop callback, FIFO, soon
 * ```
 *
 * Two wake mechanisms, chosen per scheduler (`mechanism`), both working in hosted and owning mode:
 * - `'port'` (default): a MessagePort listener that calls `loop.callSoon`; the wake goes through
 *   Node's libuv (which a hosted loop sits in, and an owning loop keeps in its fd set).
 * - `'fd'`: every handle posts on its own MessagePort, which the loop side never listens to; the
 *   worker then writes one byte to a pipe the loop watches with `addReader` (once per batch: a
 *   shared flag says a wake is pending), and the reader drains the ports with
 *   `receiveMessageOnPort`. The wake goes through the loop's own selector.
 * The default is the one measured faster: bench/cases/executors.cjs, worker -> loop callback ->
 * Atomics.notify round trip, medians on a shared 2-vCPU VM (Node 20.20, epoll): 'port' 9.4 us
 * hosted and 9.3 us owning, 'fd' 11-12 us in both (a pipe write plus the selector's wake costs
 * more than libuv's async handle, and the port path needs no fd).
 *
 * The pipe's write end is used by other threads while the loop side may close it: writers
 * announce themselves in a shared counter and `close()` waits for it to reach zero before
 * closing the fds, so a worker never writes to a closed (or reused) fd number.
 * @packageDocumentation
 */
import { MessageChannel, type MessagePort, receiveMessageOnPort } from 'node:worker_threads';
import { codedError, invalidArgType } from '../core/errors';
import { checkOptionKeys, optionKeys } from '../core/options';
import type { FileObject } from '../selectors';
import type { BaseEventLoop } from './base_loop';

/**
 * The loop a scheduler needs: any loop; with mechanism `'fd'`, one that watches fds
 * (`SelectorEventLoop`, lib/net/: named structurally here, the loop layer sits below net).
 */
export type SchedulerLoop = BaseEventLoop & {
  /** `SelectorEventLoop.addReader`, for the `'fd'` mechanism. */
  addReader?(fileobj: FileObject, callback: () => unknown): unknown;
  /** `SelectorEventLoop.removeReader`, for the `'fd'` mechanism. */
  removeReader?(fileobj: FileObject): boolean;
};
import { binding } from '../core/native';

/** What a worker receives (plain data: it crosses by structured clone, its port by transfer). */
export interface ThreadsafeHandleData {
  /** Tells a handle from other data. */
  readonly brand: 'muxloop.threadsafe';
  /** How the worker wakes the loop (`createThreadsafeScheduler`'s `mechanism`). */
  readonly mechanism: 'fd' | 'port';
  /** The worker's end of the channel its calls travel on. */
  readonly port: MessagePort;
  /** `'fd'` only (else -1 and undefined): the pipe's write end, and [wakePending, closed, writers] as Int32s. */
  readonly wakeFd: number;
  /** `'fd'` only: the shared [wakePending, closed, writers] flags. */
  readonly state: SharedArrayBuffer | undefined;
}

const SCHEDULER_KEYS = optionKeys<ThreadsafeSchedulerOptions>()(['mechanism']);

/** Options of `createThreadsafeScheduler`. */
export interface ThreadsafeSchedulerOptions {
  /** How workers wake the loop (module documentation). Default `'port'` (measured faster). */
  mechanism?: 'fd' | 'port';
}

const PENDING = 0;
const CLOSED = 1;
const WRITERS = 2;

type Message = [name: string, args: unknown[]];

/** The loop side: callbacks by name, handles for workers. Close it when done (or with the loop). */
export class ThreadsafeScheduler {
  /** The wake mechanism. */
  readonly mechanism: 'fd' | 'port';
  readonly #loop: SchedulerLoop;
  readonly #callbacks = new Map<string, (...args: never[]) => unknown>();
  readonly #ports = new Set<MessagePort>();
  readonly #state: Int32Array | undefined;
  readonly #fds: [number, number] | undefined;
  readonly #buf = new Uint8Array(64);
  #closed = false;

  /** Prefer `createThreadsafeScheduler(loop, options)`. */
  constructor(loop: SchedulerLoop, options: ThreadsafeSchedulerOptions = {}) {
    if (options === null || typeof options !== 'object') throw invalidArgType('options', 'an object', options);
    checkOptionKeys(options, SCHEDULER_KEYS);
    const mechanism = options.mechanism ?? 'port';
    if (mechanism !== 'fd' && mechanism !== 'port') throw invalidArgType('mechanism', "'fd' or 'port'", mechanism);
    if (loop.isClosed()) throw codedError('ERR_LOOP_CLOSED', 'Event loop is closed');
    this.mechanism = mechanism;
    this.#loop = loop;
    if (mechanism === 'fd') {
      if (typeof loop.addReader !== 'function') {
        throw codedError('ERR_INVALID_ARG_VALUE', "mechanism 'fd' needs a loop that watches fds (addReader)", TypeError);
      }
      this.#fds = binding.pipe(true);
      this.#state = new Int32Array(new SharedArrayBuffer(12));
      try {
        loop.addReader(this.#fds[0], () => this.#onWake());
      } catch (error) {
        binding.close(this.#fds[0]);
        binding.close(this.#fds[1]);
        throw error;
      }
    }
  }

  /**
   * Makes `callback(...args)` callable from workers as `handle.callSoon(name, ...args)`; it runs
   * as a loop callback (`loop.callSoon`). Registering a name again replaces the callback.
   */
  register(name: string, callback: (...args: never[]) => unknown): void {
    if (typeof name !== 'string') throw invalidArgType('name', 'a string', name);
    if (typeof callback !== 'function') throw invalidArgType('callback', 'a function', callback);
    this.#callbacks.set(name, callback);
  }

  /** Forgets `name`; `true` if it was registered. */
  unregister(name: string): boolean {
    return this.#callbacks.delete(name);
  }

  /**
   * A new handle for one worker: post `handle` to it (`workerData` or `postMessage`) with
   * `transferList`, and open it there with `openThreadsafeHandle`. Throws
   * `ERR_THREADSAFE_CLOSED` after `close()`.
   */
  handle(): {
    /** For the worker: `workerData` (or a message) it passes to `openThreadsafeHandle`. */
    handle: ThreadsafeHandleData;
    /** Give this as the `transferList` of the Worker or `postMessage` that carries `handle`. */
    transferList: MessagePort[];
  } {
    if (this.#closed) throw codedError('ERR_THREADSAFE_CLOSED', 'The threadsafe scheduler is closed');
    const { port1, port2 } = new MessageChannel();
    this.#ports.add(port1);
    if (this.mechanism === 'port') {
      port1.on('message', (message: Message) => this.#dispatch(message));
      // Like the loop's own watches: a listening port must not hold the process alive alone.
      port1.unref();
    }
    port1.on('close', () => this.#ports.delete(port1));
    const handle: ThreadsafeHandleData = {
      brand: 'muxloop.threadsafe',
      mechanism: this.mechanism,
      port: port2,
      wakeFd: this.#fds?.[1] ?? -1,
      state: this.#state?.buffer as SharedArrayBuffer | undefined,
    };
    return { handle, transferList: [port2] };
  }

  #dispatch(message: Message): void {
    if (this.#closed || this.#loop.isClosed()) return;
    const [name, args] = message;
    const callback = this.#callbacks.get(name);
    if (callback === undefined) {
      this.#loop.callExceptionHandler({
        message: `A thread called "${name}", which is not registered on this loop's threadsafe scheduler`,
        exception: codedError('ERR_THREADSAFE_UNKNOWN_CALLBACK', `no callback registered as "${name}"`),
      });
      return;
    }
    this.#loop.callSoon(callback as (...a: unknown[]) => unknown, ...args);
  }

  /** The pipe is readable: empty it, re-arm the flag, then take every message posted so far. */
  #onWake(): void {
    const [readFd] = this.#fds as [number, number];
    while (binding.read(readFd, this.#buf) > 0);
    Atomics.store(this.#state as Int32Array, PENDING, 0);
    for (const port of this.#ports) {
      for (let entry = receiveMessageOnPort(port); entry !== undefined; entry = receiveMessageOnPort(port)) {
        this.#dispatch(entry.message as Message);
      }
    }
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Stops taking calls: the ports close, the pipe leaves the loop and is closed (after any
   * worker in the middle of a wake write has finished it). Idempotent. Calls made afterwards are
   * dropped; `handle.callSoon` then returns `false`.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const port of this.#ports) port.close();
    this.#ports.clear();
    const state = this.#state;
    const fds = this.#fds;
    if (state === undefined || fds === undefined) return;
    Atomics.store(state, CLOSED, 1);
    // A writer holds the count for one write(2) of one byte: the wait is microseconds.
    while (Atomics.load(state, WRITERS) !== 0) Atomics.wait(state, WRITERS, Atomics.load(state, WRITERS), 1);
    this.#loop.removeReader?.(fds[0]);
    binding.close(fds[0]);
    binding.close(fds[1]);
  }
}

/** A scheduler for `loop` (module documentation). */
export function createThreadsafeScheduler(loop: SchedulerLoop, options?: ThreadsafeSchedulerOptions): ThreadsafeScheduler {
  return new ThreadsafeScheduler(loop, options);
}

const WAKE_BYTE = new Uint8Array([1]);

/** The worker side of a handle: calls callbacks registered on the loop's thread. */
export class ThreadsafeHandle {
  readonly #data: ThreadsafeHandleData;
  readonly #state: Int32Array | undefined;
  #closed = false;

  /** Prefer `openThreadsafeHandle(data)`. */
  constructor(data: ThreadsafeHandleData) {
    if (typeof data !== 'object' || data === null || data.brand !== 'muxloop.threadsafe') {
      throw invalidArgType('data', 'the handle made by ThreadsafeScheduler.handle()', data);
    }
    this.#data = data;
    this.#state = data.state === undefined ? undefined : new Int32Array(data.state);
  }

  /**
   * Asks the loop to run the callback registered as `name` with `args` (structured clone) soon,
   * and wakes it. Returns `false` when this handle was closed, or (mechanism `'fd'`, whose
   * shared state says so) the scheduler was: the call is dropped. With `'port'` a call made after
   * the scheduler closed returns `true` and is dropped on the loop side. Calls from one handle
   * run in the order made.
   */
  callSoon(name: string, ...args: unknown[]): boolean {
    if (typeof name !== 'string') throw invalidArgType('name', 'a string', name);
    const state = this.#state;
    if (this.#closed || (state !== undefined && Atomics.load(state, CLOSED) === 1)) return false;
    this.#data.port.postMessage([name, args]);
    if (state === undefined || Atomics.exchange(state, PENDING, 1) === 1) return true;
    Atomics.add(state, WRITERS, 1);
    try {
      // Full pipe (-1): plenty of wakes are pending already.
      if (Atomics.load(state, CLOSED) === 0) binding.write(this.#data.wakeFd, WAKE_BYTE);
    } finally {
      Atomics.sub(state, WRITERS, 1);
      Atomics.notify(state, WRITERS);
    }
    return true;
  }

  /** Closes this handle's port; later calls return `false`. Idempotent. */
  close(): void {
    this.#closed = true;
    this.#data.port.close();
  }
}

/** Opens, in a worker, a handle made by `ThreadsafeScheduler.handle()` and sent to it. */
export function openThreadsafeHandle(data: ThreadsafeHandleData): ThreadsafeHandle {
  return new ThreadsafeHandle(data);
}

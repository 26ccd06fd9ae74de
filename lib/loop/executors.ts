/**
 * Executors: `ThreadPoolExecutor` (worker threads, over piscina) and `ProcessPoolExecutor`
 * (child processes, over `child_process.fork`), Python's `concurrent.futures` pools for work that
 * would block the loop.
 *
 * JavaScript functions cannot cross threads, so a job names its work in one of two forms:
 * - **a module export** (the robust form): `new ThreadPoolExecutor({ filename: '/abs/tasks.js' })`,
 *   then `executor.submit('exportName', ...args)`. The worker imports the module (CommonJS or ES)
 *   once and calls the export; it may use anything the module imports.
 * - **a self-contained function passed by value**: `executor.submit((a, b) => a + b, 1, 2)`. Its
 *   source is sent and compiled in the worker's global scope (strict mode), so it sees only
 *   globals (`Buffer`, `console`, `process`, `fetch`, `await import('node:crypto')`) and its
 *   arguments, plus `transfer` to return buffers by transfer. A closure cannot work there: a
 *   function that uses a variable of the scope it was written in rejects with
 *   `ERR_EXECUTOR_CLOSURE` when that line runs (V8 reports the free variable as a ReferenceError
 *   where it is used: a branch never taken is never checked; a free name that happens to be a
 *   worker global, such as `process`, is the worker's). Bound functions, native functions,
 *   classes and getters are refused at `submit` with `ERR_EXECUTOR_NOT_SENDABLE`; a method is
 *   compiled as a plain function, and its first use of `this` rejects with `ERR_EXECUTOR_THIS`.
 *
 * Arguments and results cross by structured clone (between processes: Node's 'advanced'
 * serialization, the same algorithm); wrap an argument or a result in `transfer(value, [buffers])`
 * to move buffers instead of copying them (threads only; processes copy).
 *
 * `submit` returns a `Job`: a Promise of the result and `cancel()`. A queued job that is cancelled
 * leaves the queue and never runs; a running job cannot be stopped (`cancel()` returns `false`);
 * `runInExecutor` (run_in_executor.ts) then drops its result. A job that throws rejects with that
 * error (class, message, stack, cause and own properties such as `code` kept); a worker that dies
 * (`process.exit` in a thread, a crashed child) rejects its job with `ERR_WORKER_CRASHED` and is
 * replaced.
 * @packageDocumentation
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as vm from 'node:vm';
import { codedError, invalidArgType, outOfRange } from '../core/errors';
import { checkOptionKeys, optionKeys, type OptionKeys } from '../core/options';
import { CancelledError } from '../tasks/futures';
import {
  type JobMessage,
  type Transferable,
  TRANSFER_BRAND,
  type TransferMarker,
  isPackedError,
  isTransferMarker,
  unpackError,
} from './executor_work';

export type { Transferable, TransferMarker } from './executor_work';

/** The work of a job: the name of an export of the executor's `filename`, or a self-contained function. */
export type Work = string | ((...args: never[]) => unknown);

/**
 * Marks `value` (an argument of `submit`, or a job's result) to be sent with `transferList`: the
 * listed `ArrayBuffer`s (and `MessagePort`s) move to the other side and are detached here, as
 * with `postMessage(value, transferList)`. Between processes the value is copied.
 */
export function transfer<T>(value: T, transferList: readonly Transferable[]): TransferMarker<T> {
  if (!Array.isArray(transferList)) throw invalidArgType('transferList', 'an array', transferList);
  return { [TRANSFER_BRAND]: true, value, transferList };
}

/** A submitted job: its result as a Promise, and a way to take it out of the queue. */
export interface Job<T> {
  /** Resolves with the result; rejects with the job's error, `ERR_WORKER_CRASHED`, or `CancelledError`. */
  readonly promise: Promise<T>;
  /**
   * Cancels the job if it is still queued: it leaves the queue, never runs, and `promise` rejects
   * with `CancelledError`; returns `true`. A running or finished job is not affected: `false`
   * (as `concurrent.futures.Future.cancel`).
   */
  cancel(): boolean;
  /** `'queued'`, `'running'`, `'done'` or `'cancelled'`. */
  readonly state: JobState;
}

/** Where a job is. */
export type JobState = 'queued' | 'running' | 'done' | 'cancelled';

/** What `runInExecutor` needs of an executor: muxloop's own pools, or anything shaped like them. */
export interface Executor {
  /** Queues `work(...args)`; see `Job`. Throws `ERR_EXECUTOR_SHUTDOWN` after `shutdown`. */
  submit<T = unknown>(work: Work, ...args: unknown[]): Job<T>;
  /** Stops accepting jobs; see `BasePoolExecutor.shutdown`. */
  shutdown(wait?: boolean, options?: ShutdownOptions): Promise<void>;
}

const SHUTDOWN_KEYS = optionKeys<ShutdownOptions>()(['cancelFutures']);

/** Options of `shutdown`. */
export interface ShutdownOptions {
  /** Cancel the jobs still queued (Python's `cancel_futures`); running ones finish. Default `false`. */
  cancelFutures?: boolean;
}

/** Options common to both pools. */
export interface PoolOptions {
  /** The module whose exports `submit('name')` runs: an absolute path or a `file:` URL. */
  filename?: string | URL;
  /** Workers at most (default `os.availableParallelism()`). */
  maxWorkers?: number;
}

/** @internal A job inside a pool. */
interface QueuedJob {
  message: JobMessage;
  transferList: Transferable[];
  state: JobState;
  promise: Promise<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** @internal `ERR_WORKER_CRASHED`: the worker running a job died; `cause` says how. */
export function workerCrashed(cause: unknown, detail: string): Error {
  const error = codedError('ERR_WORKER_CRASHED', `The executor's worker died while running the job (${detail}); it is replaced`);
  (error as Error & { cause?: unknown }).cause = cause;
  return error;
}

/**
 * @internal `ERR_EXECUTOR_DATA_CLONE`: a value of the job could not be structured-cloned
 * (a function, a class instance with private state, a socket handle, ...).
 */
export function dataCloneError(what: string, cause: unknown): Error {
  const error = codedError(
    'ERR_EXECUTOR_DATA_CLONE',
    `${what} could not be sent to the executor's worker (structured clone): ${cause instanceof Error ? cause.message : String(cause)}`,
    TypeError,
  );
  (error as Error & { cause?: unknown }).cause = cause;
  return error;
}

// The check of a function sent by value, once per function object.
const sources = new WeakMap<object, string>();

function notSendable(what: string): Error {
  return codedError(
    'ERR_EXECUTOR_NOT_SENDABLE',
    `${what} cannot be sent to an executor: send a self-contained function expression, or name a module export`,
    TypeError,
  );
}

function compiles(source: string): boolean {
  try {
    // Compiled, not run: a syntax check of the expression form the worker will use.
    new vm.Script(`(${source}\n)`);
    return true;
  } catch {
    return false;
  }
}

/** The source to send for `fn`, or a coded error for what cannot be sent. */
export function functionSource(fn: (...args: never[]) => unknown): string {
  const known = sources.get(fn);
  if (known !== undefined) return known;
  const text = Function.prototype.toString.call(fn);
  if (/\{\s*\[native code\]\s*\}$/.test(text)) {
    throw notSendable(fn.name.startsWith('bound ') ? `The bound function ${fn.name}` : `The native function ${fn.name}`);
  }
  if (/^class\b/.test(text)) throw notSendable(`The class ${fn.name}`);
  let source = text;
  if (!compiles(source)) {
    // Method shorthand (`name() {}`, `async name() {}`, `*name() {}`): the same function as a
    // function expression. Getters, setters, computed names and `super` do not survive that.
    if (/^(get|set)\s/.test(source)) throw notSendable(`The accessor ${fn.name}`);
    const match = /^(async\s+)?(\*\s*)?([A-Za-z_$][\w$]*)\s*\(/.exec(source);
    source = match === null ? source : `${match[1] ?? ''}function${match[2] ? '*' : ''} ${source.slice(match[0].length - 1 - match[3].length)}`;
    if (match === null || !compiles(source)) throw notSendable(`The method ${fn.name || '<anonymous>'}`);
  }
  sources.set(fn, source);
  return source;
}

function checkMaxWorkers(value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw invalidArgType('maxWorkers', 'an integer', value);
  if (value < 1 || value > 1024) throw outOfRange('maxWorkers', '>= 1 and <= 1024', value);
  return value;
}

function checkFilename(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  const file = value instanceof URL ? fileURLToPath(value) : typeof value === 'string' && value.startsWith('file:') ? fileURLToPath(value) : value;
  if (typeof file !== 'string' || !path.isAbsolute(file)) throw invalidArgType('filename', 'an absolute path or a file: URL', value);
  return file;
}

/**
 * What both pools share: the FIFO queue of jobs, at most `maxWorkers` running, cancellation and
 * shutdown. The queue is kept here, in front of the workers, and a job reaches a worker only
 * when one is free: then "queued" has one meaning (cancel removes it, it never runs) and a
 * running job is never interrupted. (piscina's own queue with an AbortSignal would terminate the
 * thread of a job already posted to it, and does not say whether a job was posted.)
 */
export abstract class BasePoolExecutor implements Executor, AsyncDisposable {
  /** Workers at most. */
  readonly maxWorkers: number;
  /** The module `submit('name')` runs exports of, if one was given. */
  readonly filename: string | undefined;
  readonly #queue: QueuedJob[] = [];
  #head = 0;
  #running = 0;
  #shutdown = false;
  #idle: Array<() => void> = [];

  constructor(options: PoolOptions, defaultWorkers: number, known: OptionKeys) {
    if (typeof options !== 'object' || options === null) throw invalidArgType('options', 'an object', options);
    checkOptionKeys(options, known);
    this.maxWorkers = checkMaxWorkers(options.maxWorkers, defaultWorkers);
    this.filename = checkFilename(options.filename);
  }

  /**
   * Queues `work(...args)`: `work` is the name of an export of `filename`, or a self-contained
   * function (module documentation). An argument wrapped in `transfer(value, list)` is sent with
   * that transfer list. Throws `ERR_EXECUTOR_SHUTDOWN` after `shutdown`, `ERR_EXECUTOR_NOT_SENDABLE`
   * for a function that cannot be sent, `TypeError` for anything else.
   */
  submit<T = unknown>(work: Work, ...args: unknown[]): Job<T> {
    if (this.#shutdown) throw codedError('ERR_EXECUTOR_SHUTDOWN', 'cannot schedule new jobs after shutdown');
    const transferList: Transferable[] = [];
    const values = args.map((arg) => {
      if (!isTransferMarker(arg)) return arg;
      transferList.push(...arg.transferList);
      return arg.value;
    });
    let message: JobMessage;
    if (typeof work === 'string') {
      if (this.filename === undefined) {
        throw codedError('ERR_EXECUTOR_NO_FILENAME', `submit('${work}') names an export, but the executor was made without a filename`, TypeError);
      }
      message = { kind: 'export', module: this.filename, name: work, args: values };
    } else if (typeof work === 'function') {
      message = { kind: 'source', source: functionSource(work), args: values };
    } else {
      throw invalidArgType('work', 'an export name or a function', work);
    }
    let resolve!: (value: unknown) => void;
    let reject!: (error: unknown) => void;
    const promise = new Promise<T>((res, rej) => {
      resolve = res as (value: unknown) => void;
      reject = rej;
    });
    const job: QueuedJob = { message, transferList, state: 'queued', promise, resolve, reject };
    this.#queue.push(job);
    this.#pump();
    return {
      promise,
      cancel: () => this.#cancel(job),
      get state() {
        return job.state;
      },
    };
  }

  #cancel(job: QueuedJob): boolean {
    if (job.state !== 'queued') return false;
    job.state = 'cancelled';
    // Left in the array and skipped by #pump: removal from the middle would be O(n).
    // Whoever cancels need not await the job: its CancelledError is never an unhandled rejection.
    job.promise.catch(() => undefined);
    job.reject(new CancelledError());
    return true;
  }

  /** Jobs waiting for a worker (cancelled ones excluded). */
  get queueSize(): number {
    let n = 0;
    for (let i = this.#head; i < this.#queue.length; i++) if (this.#queue[i].state === 'queued') n++;
    return n;
  }

  #pump(): void {
    const queue = this.#queue;
    while (this.#running < this.maxWorkers && this.#head < queue.length) {
      const job = queue[this.#head++];
      if (job.state !== 'queued') continue;
      job.state = 'running';
      this.#running++;
      this.dispatch(job.message, job.transferList).then(
        (value) => this.#finish(job, true, value),
        (error: unknown) => this.#finish(job, false, this.mapError(error)),
      );
    }
    if (this.#head === queue.length) {
      queue.length = 0;
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > queue.length) {
      queue.splice(0, this.#head);
      this.#head = 0;
    }
    if (this.#running === 0 && this.queueSize === 0) {
      const idle = this.#idle;
      this.#idle = [];
      for (const fn of idle) fn();
    }
  }

  #finish(job: QueuedJob, ok: boolean, value: unknown): void {
    job.state = 'done';
    this.#running--;
    if (ok) job.resolve(value);
    else job.reject(isPackedError(value) ? unpackError(value) : value);
    this.#pump();
  }

  /**
   * @internal Runs one job on a free worker. Resolves with the result (a `transfer()` result
   * already unwrapped); rejects with a `PackedError` (the job threw) or another error, which
   * `mapError` turns into the job's (`ERR_WORKER_CRASHED`, ...).
   */
  protected abstract dispatch(message: JobMessage, transferList: Transferable[]): Promise<unknown>;

  /** @internal Turns a rejection of `dispatch` into the job's error (default: as it is). */
  protected mapError(error: unknown): unknown {
    return error;
  }

  /** @internal Stops the workers once nothing is queued or running. */
  protected abstract closeWorkers(): Promise<void>;

  /** Whether `shutdown` was called. */
  get isShutdown(): boolean {
    return this.#shutdown;
  }

  /**
   * Stops accepting jobs (`submit` throws `ERR_EXECUTOR_SHUTDOWN`); the queued and running ones
   * still run (`cancelFutures`: the queued ones are cancelled), then the workers exit. With
   * `wait` (the default) the promise resolves once they have; without, at once. Idempotent.
   */
  async shutdown(wait = true, options: ShutdownOptions = {}): Promise<void> {
    if (options !== null && typeof options === 'object') checkOptionKeys(options, SHUTDOWN_KEYS);
    if (options.cancelFutures === true) {
      for (let i = this.#head; i < this.#queue.length; i++) this.#cancel(this.#queue[i]);
    }
    this.#shutdown = true;
    const drained = new Promise<void>((resolve) => {
      this.#idle.push(resolve);
      this.#pump();
    });
    const closed = drained.then(() => this.closeWorkers());
    if (wait) await closed;
    else closed.catch(() => undefined);
  }

  /** `await using executor = new ThreadPoolExecutor(...)`: `shutdown(true)`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown(true);
  }
}

/** The compiled worker module next to this file (dist/), or dist's copy when running from lib/ sources. */
export function compiledSibling(name: string): string {
  const here = path.join(__dirname, `${name}.js`);
  if (fs.existsSync(here)) return here;
  const dist = path.join(__dirname, '..', '..', 'dist', 'loop', `${name}.js`);
  if (fs.existsSync(dist)) return dist;
  throw codedError('ERR_EXECUTOR_WORKER_MISSING', `${name}.js was not found: build muxloop (tsc) first`);
}

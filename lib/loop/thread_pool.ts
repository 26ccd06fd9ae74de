/**
 * `ThreadPoolExecutor`: jobs on worker threads, over piscina (wrapped, not forked). See
 * executors.ts for the forms of work, cancellation and errors.
 * @packageDocumentation
 */
import { availableParallelism } from 'node:os';
import type Piscina from 'piscina';
import { invalidArgType } from '../core/errors';
import { optionKeys } from '../core/options';
import { BasePoolExecutor, compiledSibling, dataCloneError, type PoolOptions, workerCrashed } from './executors';
import { type JobMessage, type Transferable, isPackedError } from './executor_work';

/** Options of `ThreadPoolExecutor`. */
export interface ThreadPoolOptions extends PoolOptions {
  /** Resource limits of each thread (`worker_threads` `resourceLimits`). */
  resourceLimits?: import('node:worker_threads').ResourceLimits;
}

const THREAD_POOL_KEYS = optionKeys<ThreadPoolOptions>()(['filename', 'maxWorkers', 'resourceLimits']);

/**
 * A pool of worker threads (`concurrent.futures.ThreadPoolExecutor`). All `maxWorkers` threads
 * start with the pool (piscina's `minThreads`), so a job handed over runs at once, and they do not
 * keep the process alive while idle.
 *
 * ```ts
 * const pool = new ThreadPoolExecutor({ filename: require.resolve('./tasks.js'), maxWorkers: 2 });
 * const sum = await pool.submit<number>('add', 1, 2).promise; // tasks.js: exports.add = (a, b) => a + b
 * const sq = await pool.submit((x: number) => x * x, 7).promise; // a self-contained function
 * await pool.shutdown();
 * ```
 */
export class ThreadPoolExecutor extends BasePoolExecutor {
  readonly #pool: Piscina;
  #closing: Promise<void> | undefined;

  /** A pool of `options.maxWorkers` threads (default `os.availableParallelism()`). */
  constructor(options: ThreadPoolOptions = {}) {
    super(options, availableParallelism(), THREAD_POOL_KEYS);
    if (options.resourceLimits !== undefined && (typeof options.resourceLimits !== 'object' || options.resourceLimits === null)) {
      throw invalidArgType('resourceLimits', 'an object', options.resourceLimits);
    }
    this.#pool = new (loadPiscina())({
      filename: compiledSibling('executor_worker'),
      minThreads: this.maxWorkers,
      maxThreads: this.maxWorkers,
      // The queue is BasePoolExecutor's; piscina never holds more than maxWorkers jobs.
      concurrentTasksPerWorker: 1,
      idleTimeout: Infinity,
      resourceLimits: options.resourceLimits,
    });
    // Errors outside any job (a worker failing with nothing running) are piscina 'error' events;
    // the pool replaces the worker, and there is no job to reject.
    this.#pool.on('error', () => undefined);
  }

  /**
   * The piscina instance underneath, for its statistics (`utilization`, `histogram`, ...). Typed
   * loosely on purpose: naming piscina's type here would make every consumer's tsc load piscina's
   * declarations, which need `resolveJsonModule`. Cast it to `import('piscina').Piscina`.
   */
  get piscina(): {
    /** The pool's utilization, 0 to 1 (piscina's `utilization`). */
    readonly utilization: number;
    /** Its worker threads. */
    readonly threads: readonly unknown[];
  } {
    return this.#pool;
  }

  protected override dispatch(message: JobMessage, transferList: Transferable[]): Promise<unknown> {
    // piscina's promise as it is: one promise hop less per job (bench/cases/executors.cjs).
    return this.#pool.run(message, { transferList: transferList as never });
  }

  protected override mapError(error: unknown): unknown {
    if (isPackedError(error)) return error;
    // postMessage refused an argument: nothing was sent, the thread is fine.
    if (error instanceof Error && error.name === 'DataCloneError') return dataCloneError('An argument of the job', error);
    // piscina rejects a job whose thread exited ("worker exited with code: N") or failed outside
    // the job's own code, the thread already being replaced (piscina _onError). A result that
    // cannot be cloned ends up here too: piscina's worker throws it outside the job, and what
    // reaches this side is an empty object (checked with piscina 5.3.2).
    const detail = error instanceof Error ? error.message : 'it failed outside the job; a result that cannot be cloned does this';
    return workerCrashed(error, detail);
  }

  protected override closeWorkers(): Promise<void> {
    this.#closing ??= this.#pool.destroy();
    return this.#closing;
  }
}

let PiscinaClass: typeof Piscina | undefined;

/** piscina is loaded on the first pool, not with the package (it costs about 10 ms to load). */
function loadPiscina(): typeof Piscina {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  PiscinaClass ??= (require('piscina') as { Piscina: typeof Piscina }).Piscina;
  return PiscinaClass;
}

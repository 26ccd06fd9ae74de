/**
 * `ProcessPoolExecutor`: jobs in child processes (`child_process.fork` of process_worker.ts), for
 * work that must not share the process (native code that may crash, global state, memory). Same
 * interface and semantics as `ThreadPoolExecutor` (executors.ts); values cross by Node's
 * 'advanced' serialization (structured clone), always copied.
 * @packageDocumentation
 */
import { type ChildProcess, fork } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { BasePoolExecutor, compiledSibling, dataCloneError, type PoolOptions, workerCrashed } from './executors';
import type { JobMessage } from './executor_work';
import { optionKeys } from '../core/options';

/** Options of `ProcessPoolExecutor`. */
export interface ProcessPoolOptions extends PoolOptions {
  /** Node options of the children (default: none, rather than this process's `execArgv`). */
  execArgv?: string[];
  /** Environment of the children (default `process.env`). */
  env?: NodeJS.ProcessEnv;
}

interface Child {
  process: ChildProcess;
  ready: Promise<void>;
  /** The job running on it: settles it when the child answers or dies. */
  current: { id: number; resolve(value: unknown): void; reject(error: unknown): void } | undefined;
}

const PROCESS_POOL_KEYS = optionKeys<ProcessPoolOptions>()(['filename', 'maxWorkers', 'execArgv', 'env']);

/**
 * A pool of child processes (`concurrent.futures.ProcessPoolExecutor`). Children start on demand,
 * one per job running, up to `maxWorkers`, and are kept for the next jobs; a child that dies is
 * replaced by the next job that needs one. Idle children do not keep the parent alive.
 */
export class ProcessPoolExecutor extends BasePoolExecutor {
  readonly #execArgv: string[];
  readonly #env: NodeJS.ProcessEnv | undefined;
  readonly #idle: Child[] = [];
  readonly #all = new Set<Child>();
  #nextId = 1;

  /** A pool of at most `options.maxWorkers` children (default `os.availableParallelism()`). */
  constructor(options: ProcessPoolOptions = {}) {
    super(options, availableParallelism(), PROCESS_POOL_KEYS);
    this.#execArgv = options.execArgv ?? [];
    this.#env = options.env;
  }

  /** Live children (for tests and statistics). */
  get processes(): number {
    return this.#all.size;
  }

  #spawn(): Child {
    const proc = fork(compiledSibling('process_worker'), [], {
      execArgv: this.#execArgv,
      env: this.#env,
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const child: Child = { process: proc, ready: Promise.resolve(), current: undefined };
    child.ready = new Promise<void>((resolve, reject) => {
      const onReady = (message: { ready?: boolean }): void => {
        if (message?.ready !== true) return;
        proc.off('message', onReady);
        resolve();
      };
      proc.on('message', onReady);
      proc.once('error', reject);
      proc.once('exit', (code, signal) => reject(workerCrashed(undefined, `exit before start, code ${code}, signal ${signal}`)));
    });
    child.ready.catch(() => undefined);
    proc.on('message', (message: { id?: number; ok?: boolean; value?: unknown; error?: unknown }) => {
      const job = child.current;
      if (job === undefined || message.id !== job.id) return;
      child.current = undefined;
      if (message.ok === true) job.resolve(message.value);
      else job.reject(message.error);
    });
    proc.on('exit', (code, signal) => {
      this.#all.delete(child);
      const at = this.#idle.indexOf(child);
      if (at !== -1) this.#idle.splice(at, 1);
      const job = child.current;
      child.current = undefined;
      job?.reject(workerCrashed(undefined, `child ${proc.pid} exited with code ${code}, signal ${signal}`));
    });
    this.#unref(proc);
    this.#all.add(child);
    return child;
  }

  /** An idle child does not hold the parent process alive; a busy one does. */
  #unref(proc: ChildProcess): void {
    proc.unref();
    (proc as unknown as { channel?: { unref(): void } }).channel?.unref();
  }

  #ref(proc: ChildProcess): void {
    proc.ref();
    (proc as unknown as { channel?: { ref(): void } }).channel?.ref();
  }

  protected override async dispatch(message: JobMessage): Promise<unknown> {
    const child = this.#idle.pop() ?? this.#spawn();
    this.#ref(child.process);
    try {
      await child.ready;
      return await new Promise<unknown>((resolve, reject) => {
        const id = this.#nextId++;
        child.current = { id, resolve, reject };
        try {
          child.process.send({ id, job: message }, (error) => {
            if (error !== null && child.current?.id === id) {
              child.current = undefined;
              reject(error);
            }
          });
        } catch (error) {
          // The serializer refused an argument before anything was written: the child is fine.
          child.current = undefined;
          reject(dataCloneError('An argument of the job', error));
        }
      });
    } finally {
      if (this.#all.has(child)) {
        this.#unref(child.process);
        this.#idle.push(child);
      }
    }
  }

  protected override async closeWorkers(): Promise<void> {
    const exits: Array<Promise<void>> = [];
    for (const child of this.#all) {
      const proc = child.process;
      if (proc.exitCode !== null || proc.signalCode !== null) continue;
      exits.push(new Promise<void>((resolve) => proc.once('exit', () => resolve())));
      // Idle children are unref'd; a shutdown that waits for them must hold Node alive until they
      // exit, or the process ends with `await pool.shutdown()` never settling.
      proc.ref();
      // The child exits when its channel closes (process_worker.ts).
      if (proc.connected) proc.disconnect();
      else proc.kill();
    }
    this.#idle.length = 0;
    await Promise.all(exits);
  }
}

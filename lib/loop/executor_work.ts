/**
 * What an executor's worker (thread or child process) does with one job: find the callable (a
 * module export, or a function sent by value and compiled here), call it with the arguments, and
 * unwrap a `transfer()` result. Shared by executor_worker.ts (piscina threads) and
 * process_worker.ts (forked children); nothing here knows which one it runs in.
 * @packageDocumentation
 */
import { pathToFileURL } from 'node:url';

/** The brand `transfer()` puts on its marker; `Symbol.for` so any copy of muxloop recognises it. */
export const TRANSFER_BRAND = Symbol.for('muxloop.transfer');

/** A value to send with a transfer list (see `transfer` in executors.ts). */
export interface TransferMarker<T = unknown> {
  /** Marks the object as made by `transfer()`. */
  readonly [TRANSFER_BRAND]: true;
  /** The value to send. */
  readonly value: T;
  /** What is moved with it instead of copied. */
  readonly transferList: readonly Transferable[];
}

/** Transferable objects as `postMessage` takes them. */
export type Transferable = ArrayBuffer | import('node:worker_threads').MessagePort;

/** Whether `value` is a `transfer()` marker. */
export function isTransferMarker(value: unknown): value is TransferMarker {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[TRANSFER_BRAND] === true;
}

/** One job as it crosses to the worker. */
export type JobMessage =
  | { kind: 'export'; module: string; name: string; args: unknown[] }
  | { kind: 'source'; source: string; args: unknown[] };

// Modules by filename, functions by source: a pool runs the same few callables over and over.
// tsc turns `import()` into `require()` under CommonJS, which cannot load ES modules: this one stays
// a real dynamic import.
const importModule = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<unknown>;

const modules = new Map<string, Promise<Record<string, unknown>>>();
const compiled = new Map<string, (...args: unknown[]) => unknown>();
const exportsByKey = new Map<string, (...args: unknown[]) => unknown>();
const MAX_COMPILED = 256;

function coded(code: string, message: string, cause?: unknown): Error & { code: string } {
  const error = new Error(message, cause === undefined ? undefined : { cause }) as Error & { code: string };
  error.code = code;
  return error;
}

async function loadExport(file: string, name: string): Promise<(...args: unknown[]) => unknown> {
  let loading = modules.get(file);
  if (loading === undefined) {
    // import() loads CommonJS and ES modules alike; a failed load is not cached (a fix is picked up).
    loading = importModule(pathToFileURL(file).href) as Promise<Record<string, unknown>>;
    modules.set(file, loading);
    loading.catch(() => modules.delete(file));
  }
  const mod = await loading;
  // A CommonJS module imported from here shows its exports both directly and under `default`.
  const target = mod[name] ?? (mod.default as Record<string, unknown> | undefined)?.[name];
  if (typeof target !== 'function') {
    throw coded('ERR_EXECUTOR_NO_SUCH_EXPORT', `${file} has no exported function "${name}"`);
  }
  return target as (...args: unknown[]) => unknown;
}

/**
 * `this` inside a function sent by value: any use is refused with a coded error (the function was
 * a method of some object that stayed behind in the submitting thread).
 */
const thisTrap: object = new Proxy(Object.create(null) as object, {
  get(_target, key) {
    throw coded(
      'ERR_EXECUTOR_THIS',
      `a function sent by value used this.${String(key)}: methods cannot be sent, their object stays behind`,
    );
  },
  set() {
    throw coded('ERR_EXECUTOR_THIS', 'a function sent by value assigned to a property of `this`');
  },
  has() {
    throw coded('ERR_EXECUTOR_THIS', 'a function sent by value used `this`');
  },
});

const SOURCE_FILE = 'muxloop:function-sent-by-value';

/**
 * Compiles a function's source in this worker's global scope, strict mode. The only name it gets
 * besides the globals is `transfer`, to return buffers by transfer.
 */
function compileSource(source: string): (...args: unknown[]) => unknown {
  let fn = compiled.get(source);
  if (fn !== undefined) return fn;
  // new Function rather than vm.Script: import() inside works without vm's experimental loader
  // hooks; sourceURL names the frames, to tell the function's own ReferenceErrors (closureError).
  const factory = new Function('transfer', `'use strict'; return (${source}\n);\n//# sourceURL=${SOURCE_FILE}`) as (
    t: typeof makeTransfer,
  ) => unknown;
  fn = factory(makeTransfer) as (...args: unknown[]) => unknown;
  if (typeof fn !== 'function') throw coded('ERR_EXECUTOR_NOT_A_FUNCTION', 'the source sent did not evaluate to a function');
  if (compiled.size >= MAX_COMPILED) compiled.delete(compiled.keys().next().value as string);
  compiled.set(source, fn);
  return fn;
}

function makeTransfer<T>(value: T, transferList: readonly Transferable[]): TransferMarker<T> {
  return { [TRANSFER_BRAND]: true, value, transferList };
}

/**
 * A ReferenceError thrown from the sent function's own code is a free variable: a closure over
 * the submitting thread's scope. V8 only reports it when the line runs, so a branch not taken
 * is not checked (documented in executors.ts).
 */
function closureError(error: unknown): Error | undefined {
  if (!(error instanceof ReferenceError)) return undefined;
  const frame = (error.stack ?? '').split('\n')[1] ?? '';
  if (!frame.includes(SOURCE_FILE)) return undefined;
  const name = /^(\S+) is not defined/.exec(error.message)?.[1] ?? 'a variable';
  return coded(
    'ERR_EXECUTOR_CLOSURE',
    `the function sent by value refers to ${name}, which does not exist in the worker: a function sent ` +
      'to an executor cannot use variables of the scope it was written in (a closure). Pass the value as ' +
      'an argument, or submit a module export instead',
    error,
  );
}

/** Runs one job; resolves with its result (a `transfer()` marker is left for the caller to unwrap). */
export async function runJob(job: JobMessage): Promise<unknown> {
  if (job.kind === 'export') {
    // Once loaded, an export is found without awaiting the module's promise again.
    const key = `${job.name}\0${job.module}`;
    let fn = exportsByKey.get(key);
    if (fn === undefined) {
      fn = await loadExport(job.module, job.name);
      exportsByKey.set(key, fn);
    }
    return await fn(...job.args);
  }
  const fn = compileSource(job.source);
  try {
    return await fn.apply(thisTrap, job.args);
  } catch (error) {
    throw closureError(error) ?? error;
  }
}

/** The brand of a packed error (see `packError`). */
export const ERROR_BRAND = '__muxloopExecutorError';

/** An error as it crosses back: the error itself (V8 clones name, message, stack, cause) plus its own properties. */
export interface PackedError {
  [ERROR_BRAND]: true;
  error: unknown;
  props: Record<string, unknown>;
}

/**
 * Structured clone keeps an Error's class, message, stack and cause but drops its own properties
 * (`code`, `errno`, `syscall`, ...: checked on Node 20), so they travel beside it. A property or a
 * thrown value that cannot be cloned is replaced by a description rather than failing the reply.
 */
export function packError(error: unknown): PackedError {
  const props: Record<string, unknown> = {};
  let value: unknown = error;
  if (error instanceof Error) {
    void error.stack;
    for (const key of Object.keys(error)) {
      try {
        props[key] = structuredClone((error as unknown as Record<string, unknown>)[key]);
      } catch {
        props[key] = String((error as unknown as Record<string, unknown>)[key]);
      }
    }
  } else {
    try {
      value = structuredClone(error);
    } catch {
      value = new Error(`a value that cannot be cloned was thrown: ${String(error)}`);
    }
  }
  return { [ERROR_BRAND]: true, error: value, props };
}

/** Whether `value` is a `PackedError`. */
export function isPackedError(value: unknown): value is PackedError {
  return typeof value === 'object' && value !== null && (value as Record<string, unknown>)[ERROR_BRAND] === true;
}

/** The error a `PackedError` carries, its properties restored. */
export function unpackError(packed: PackedError): unknown {
  const error = packed.error;
  if (error instanceof Error) Object.assign(error, packed.props);
  return error;
}

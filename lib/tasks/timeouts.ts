/**
 * `timeout(delay)` and `timeoutAt(when)`: a deadline for a block of code in the current task
 * (python-anchor.md section 3.4). When it expires the task is cancelled; leaving the block turns
 * that cancellation into `TimeoutError`. Delays are in SECONDS, `when` is on `loop.time()`.
 *
 * Three forms:
 * - `await timeout(0.5, async () => { ... })`: exactly asyncio's semantics. Inside, the awaited
 *   operation sees `CancelledError`; the call rejects with `TimeoutError` (its `cause` is the
 *   `CancelledError`).
 * - `yield* timeout(0.5, function* () { ... })` in a generator task: the same, delegated.
 * - `await using t = timeout(0.5)` (or `using`): a disposer cannot see the error leaving its block
 *   (it would be wrapped in a `SuppressedError`), so in this form the expiry throws the
 *   `TimeoutError` itself in at the await the task is suspended in, while the operation awaited
 *   there is cancelled as usual. `t.expired()` tells what happened.
 * @packageDocumentation
 */
import { TimeoutError, codedError, invalidArgType, outOfRange } from '../core/errors';
import { checkOptionKeys, optionKeys } from '../core/options';
import { CancelledError } from './futures';
import type { Handle } from '../core/events';
import { cancelOnAbort, checkSignal, currentTask, getRunningLoop, type Task } from './tasks';

export { TimeoutError };


const CREATED = 'created';
const ENTERED = 'active';
const EXPIRING = 'expiring';
const EXPIRED = 'expired';
const EXITED = 'finished';

function checkWhen(value: unknown, name: string): number | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'number') throw invalidArgType(name, 'a number of seconds or null', value);
  if (Number.isNaN(value)) throw outOfRange(name, 'a number of seconds, not NaN', value);
  return value;
}

/**
 * A deadline for the current task, at loop time `when` (`null`: none). Made by `timeout()` and
 * `timeoutAt()`; see the module documentation.
 */
export class Timeout {
  #when: number | null;
  #state = CREATED;
  #task: Task | undefined;
  #cancelling = 0;
  #handle: Handle | undefined;
  /** Scoped (`using`) form: the TimeoutError thrown in at expiry. */
  #substitute: TimeoutError | undefined;
  readonly #signal: AbortSignal | undefined;
  #stopListening: (() => void) | undefined;

  /**
   * A Timeout at loop time `when` (seconds; `null` for none). Not entered yet. While it is
   * entered, aborting `options.signal` cancels the task (a plain cancellation, with the signal's
   * reason as the message, not a TimeoutError).
   */
  constructor(when: number | null, options: TimeoutOptions = {}) {
    this.#when = checkWhen(when, 'when');
    if (options !== null && typeof options === 'object') checkOptionKeys(options, TIMEOUT_KEYS);
    this.#signal = checkSignal(options?.signal);
  }

  /** The deadline (loop time, seconds), or `null`. */
  when(): number | null {
    return this.#when;
  }

  /** Whether the deadline passed and the task was cancelled for it. */
  expired(): boolean {
    return this.#state === EXPIRING || this.#state === EXPIRED;
  }

  /** Moves the deadline (`null` removes it). Only while entered, else `ERR_INVALID_STATE`. */
  reschedule(when: number | null): void {
    if (this.#state !== ENTERED) {
      if (this.#state === CREATED) throw codedError('ERR_INVALID_STATE', 'Timeout has not been entered');
      throw codedError('ERR_INVALID_STATE', `Cannot change state of ${this.#state} Timeout`);
    }
    this.#when = checkWhen(when, 'when');
    this.#handle?.cancel();
    this.#handle = undefined;
    if (this.#when === null) return;
    const loop = (this.#task as Task).getLoop();
    this.#handle =
      this.#when <= loop.time() ? loop.callSoon(this.#onTimeout) : loop.callAt(this.#when, this.#onTimeout);
  }

  /**
   * @internal Starts the deadline for `task` (asyncio's `__aenter__`). `scoped`: the `using` form,
   * which throws the TimeoutError in itself.
   */
  enter(task: Task | undefined, scoped: boolean): this {
    if (this.#state !== CREATED) throw codedError('ERR_INVALID_STATE', 'Timeout has already been entered');
    if (task === undefined) throw codedError('ERR_NO_CURRENT_TASK', 'Timeout should be used inside a task');
    this.#state = ENTERED;
    this.#task = task;
    this.#cancelling = task.cancelling();
    if (scoped) this.#substitute = new TimeoutError('', { cause: new CancelledError() });
    this.reschedule(this.#when);
    if (this.#signal !== undefined) this.#stopListening = cancelOnAbort(this.#signal, (message) => task.cancel(message));
    return this;
  }

  /**
   * @internal Ends the deadline (asyncio's `__aexit__`). Given the error leaving the block (if
   * `failed`), returns the error that should leave instead, or `undefined` to keep it.
   */
  exit(failed: boolean, error?: unknown): unknown {
    if (this.#state !== ENTERED && this.#state !== EXPIRING) {
      throw codedError('ERR_INVALID_STATE', `Cannot exit a Timeout that is ${this.#state}`);
    }
    this.#handle?.cancel();
    this.#handle = undefined;
    this.#stopListening?.();
    this.#stopListening = undefined;
    const task = this.#task as Task;
    if (this.#substitute !== undefined) task.clearSubstitute(this.#substitute);
    if (this.#state === ENTERED) {
      this.#state = EXITED;
      return undefined;
    }
    this.#state = EXPIRED;
    // No cancellation from anyone else is pending: this one is ours to turn into a TimeoutError.
    if (task.uncancel() <= this.#cancelling && failed && error instanceof CancelledError) {
      return new TimeoutError('', { cause: error });
    }
    return undefined;
  }

  /** Ends a `using` scope. */
  [Symbol.dispose](): void {
    this.exit(false);
  }

  /** Ends an `await using` scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.exit(false);
  }

  /** `<Timeout [active] when=…>` */
  toString(): string {
    return `<Timeout [${this.#state}]${this.#state === ENTERED ? ` when=${this.#when}` : ''}>`;
  }

  #onTimeout = (): void => {
    const task = this.#task as Task;
    if (this.#substitute !== undefined) task.cancelWith(this.#substitute);
    else task.cancel();
    this.#state = EXPIRING;
    this.#handle = undefined;
  };
}

const TIMEOUT_KEYS = optionKeys<TimeoutOptions>()(['signal']);

/** Options of `timeout`, `timeoutAt` and `new Timeout`. */
export interface TimeoutOptions {
  /** Cancels the task while the timeout is entered, when it aborts (reason as the message). */
  signal?: AbortSignal;
}

/** @inline */
type Body<R> = () => PromiseLike<R> | R;
/** @inline */
type GeneratorBody<R> = () => Generator<unknown, R, unknown>;

function isGeneratorFunction(fn: unknown): boolean {
  return typeof fn === 'function' && fn.constructor?.name === 'GeneratorFunction';
}

async function runScoped<R>(scope: Timeout, body: Body<R>): Promise<R> {
  scope.enter(currentTask(), false);
  let result: R;
  try {
    result = await body();
  } catch (error) {
    throw scope.exit(true, error) ?? error;
  }
  scope.exit(false);
  return result;
}

function* runScopedGenerator<R>(scope: Timeout, body: GeneratorBody<R>): Generator<unknown, R, unknown> {
  scope.enter(currentTask(), false);
  let result: R;
  try {
    result = yield* body();
  } catch (error) {
    throw scope.exit(true, error) ?? error;
  }
  scope.exit(false);
  return result;
}

/**
 * A deadline `delay` SECONDS from now (`null`: none) for the current task.
 * - `timeout(delay)`: a `Timeout` entered at once, for `using`/`await using` (see the module
 *   documentation: in this form the await in progress throws the TimeoutError itself);
 * - `timeout(delay, async () => ...)`: runs the function in the current task and rejects with
 *   `TimeoutError` if the deadline cancels it;
 * - `timeout(delay, function* () {...})`: the same for `yield*` in a generator task.
 * Each form takes `{ signal }` last: aborting it cancels the task (see `Timeout`).
 * Throws `ERR_NO_CURRENT_TASK` outside a task.
 */
export function timeout(delay: number | null, options?: TimeoutOptions): Timeout;
export function timeout<R>(delay: number | null, body: GeneratorBody<R>, options?: TimeoutOptions): Generator<unknown, R, unknown>;
export function timeout<R>(delay: number | null, body: Body<R>, options?: TimeoutOptions): Promise<R>;
export function timeout<R>(
  delay: number | null,
  bodyOrOptions?: Body<R> | GeneratorBody<R> | TimeoutOptions,
  options?: TimeoutOptions,
): Timeout | Promise<R> | Generator<unknown, R, unknown> {
  const seconds = checkWhen(delay, 'delay');
  return timeoutAt(seconds === null ? null : getRunningLoop().time() + seconds, bodyOrOptions as Body<R>, options);
}

/** Like `timeout`, with an absolute deadline `when` on `loop.time()` (seconds). */
export function timeoutAt(when: number | null, options?: TimeoutOptions): Timeout;
export function timeoutAt<R>(when: number | null, body: GeneratorBody<R>, options?: TimeoutOptions): Generator<unknown, R, unknown>;
export function timeoutAt<R>(when: number | null, body: Body<R>, options?: TimeoutOptions): Promise<R>;
export function timeoutAt<R>(
  when: number | null,
  bodyOrOptions?: Body<R> | GeneratorBody<R> | TimeoutOptions,
  options?: TimeoutOptions,
): Timeout | Promise<R> | Generator<unknown, R, unknown> {
  const body = typeof bodyOrOptions === 'function' || bodyOrOptions === undefined ? bodyOrOptions : undefined;
  if (body === undefined && bodyOrOptions !== undefined && (typeof bodyOrOptions !== 'object' || bodyOrOptions === null)) {
    throw invalidArgType('body', 'a function or an options object', bodyOrOptions);
  }
  const scope = new Timeout(when, body === undefined ? (bodyOrOptions as TimeoutOptions | undefined) : options);
  if (body === undefined) return scope.enter(currentTask(), true);
  if (isGeneratorFunction(body)) return runScopedGenerator(scope, body as GeneratorBody<R>);
  return runScoped(scope, body as Body<R>);
}

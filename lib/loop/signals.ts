/**
 * Signals on the loop: asyncio's `add_signal_handler`/`remove_signal_handler` and the Ctrl-C
 * handling of `runUntilComplete` (python-anchor.md section 3.6, asyncio's `unix_events.py` and
 * `runners.py`).
 *
 * Route: Node's `process.on('SIGxxx')` listener. Node installs the C signal handler through
 * libuv's `uv_signal_t`, which only writes to a pipe; the listener runs later from libuv's loop,
 * outside the signal handler, and here only queues the callback with `callSoon`. In owning mode
 * libuv's work runs between the loop's iterations (native/host/), so the listener runs there too.
 * Node unrefs its signal handles; the loop itself holds Node alive while it runs with a handler
 * registered (`BaseEventLoop`), so that `runForever()` waits for the signal as asyncio's does.
 * @packageDocumentation
 */
import { constants as osConstants } from 'node:os';
import { isMainThread } from 'node:worker_threads';
import { codedError, describe } from '../core/errors';
import type { Future } from '../tasks/futures';
import type { Task } from '../tasks/tasks';

/** A run ended because of Ctrl-C (Python's `KeyboardInterrupt`). */
export class KeyboardInterrupt extends Error {
  /** Always `'ERR_KEYBOARD_INTERRUPT'`. */
  readonly code = 'ERR_KEYBOARD_INTERRUPT';
  constructor(message = 'interrupted by SIGINT') {
    super(message);
    this.name = 'KeyboardInterrupt';
  }
}

/** A signal given by name (`'SIGINT'`) or number (`os.constants.signals.SIGINT`). */
export type SignalLike = NodeJS.Signals | number;

const SIGNALS = osConstants.signals as Record<string, number>;
const NAMES = new Map<number, NodeJS.Signals>();
for (const [name, value] of Object.entries(SIGNALS)) if (!NAMES.has(value)) NAMES.set(value, name as NodeJS.Signals);

/**
 * `[name, number]` of a signal name or number known on this platform; `ERR_UNKNOWN_SIGNAL`
 * (TypeError for a name or another type, RangeError for a number) otherwise.
 */
export function resolveSignal(sig: unknown): [NodeJS.Signals, number] {
  if (typeof sig === 'string') {
    const value = Object.prototype.hasOwnProperty.call(SIGNALS, sig) ? SIGNALS[sig] : undefined;
    if (value === undefined) throw codedError('ERR_UNKNOWN_SIGNAL', `Unknown signal: ${sig}`, TypeError);
    return [sig as NodeJS.Signals, value];
  }
  if (typeof sig === 'number') {
    const name = Number.isInteger(sig) ? NAMES.get(sig) : undefined;
    if (name === undefined) throw codedError('ERR_UNKNOWN_SIGNAL', `Unknown signal number: ${sig}`, RangeError);
    return [name, sig];
  }
  throw codedError('ERR_UNKNOWN_SIGNAL', `The "sig" argument must be a signal name or number. Received ${describe(sig)}`, TypeError);
}

const CORO_TAGS = new Set(['[object AsyncFunction]', '[object GeneratorFunction]', '[object AsyncGeneratorFunction]']);

interface Registration {
  listener: () => void;
}

/** Where the handlers of one loop queue their callbacks. */
export interface SignalLoop {
  isClosed(): boolean;
  callSoon(callback: (...args: never[]) => unknown, ...args: unknown[]): unknown;
}

/** The signal handlers of one loop (one per signal, as in asyncio). */
export class SignalHandlers {
  readonly #loop: SignalLoop;
  readonly #handlers = new Map<number, Registration & { name: NodeJS.Signals }>();

  constructor(loop: SignalLoop) {
    this.#loop = loop;
  }

  /** How many signals have a handler. */
  get size(): number {
    return this.#handlers.size;
  }

  /** asyncio's `add_signal_handler`; see `BaseEventLoop.addSignalHandler`. */
  add(sig: unknown, callback: unknown, args: unknown[]): void {
    const [name, value] = resolveSignal(sig);
    if (name === 'SIGKILL' || name === 'SIGSTOP') {
      throw codedError('ERR_INVALID_ARG_VALUE', `${name} cannot be caught`, RangeError);
    }
    if (typeof callback !== 'function') {
      throw codedError('ERR_INVALID_ARG_TYPE', `The "callback" argument must be a function. Received ${describe(callback)}`, TypeError);
    }
    if (CORO_TAGS.has(Object.prototype.toString.call(callback))) {
      // asyncio: "coroutines cannot be used with add_signal_handler()".
      throw codedError('ERR_INVALID_ARG_TYPE', 'Coroutine functions cannot be used with addSignalHandler() (wrap it: () => createTask(fn()))', TypeError);
    }
    if (!isMainThread) {
      // asyncio needs the main thread too (signal.set_wakeup_fd); Node emits no signal events in workers.
      throw codedError('ERR_WORKER_UNSUPPORTED_OPERATION', 'Signal handlers can only be added in the main thread');
    }
    if (this.#loop.isClosed()) throw codedError('ERR_LOOP_CLOSED', 'Event loop is closed');
    const loop = this.#loop;
    const fn = callback as (...a: unknown[]) => unknown;
    const listener = (): void => {
      // The listener runs from libuv's loop, never inside the C handler; the callback runs as a loop callback.
      if (!loop.isClosed()) loop.callSoon(fn as never, ...args);
    };
    // Node's own registration first: if it refuses (uv_signal_start), nothing here changed.
    process.on(name, listener);
    const previous = this.#handlers.get(value);
    if (previous !== undefined) process.removeListener(previous.name, previous.listener);
    this.#handlers.set(value, { name, listener });
  }

  /** asyncio's `remove_signal_handler`: whether a handler was removed. */
  remove(sig: unknown): boolean {
    const [, value] = resolveSignal(sig);
    const registration = this.#handlers.get(value);
    if (registration === undefined) return false;
    this.#handlers.delete(value);
    process.removeListener(registration.name, registration.listener);
    return true;
  }

  /** Removes every handler (the loop is closing). */
  removeAll(): void {
    for (const sig of [...this.#handlers.keys()]) this.remove(sig);
  }
}

/**
 * Ctrl-C during one `runUntilComplete(Sync)`, as asyncio's `Runner` does it: only where nobody
 * else handles SIGINT and in the main thread. The first SIGINT cancels `future`; a second one
 * restores the default action and re-raises SIGINT, which kills the process at once.
 */
export class SigintGuard {
  #interrupts = 0;
  #listener: (() => void) | undefined;
  readonly #future: Future<unknown>;

  private constructor(future: Future<unknown>) {
    this.#future = future;
    this.#listener = () => this.#onSigint();
    process.on('SIGINT', this.#listener);
  }

  /** A guard for `future`, or undefined if SIGINT is someone else's (or this is a worker). */
  static install(future: Future<unknown>): SigintGuard | undefined {
    if (!isMainThread || process.listenerCount('SIGINT') > 0) return undefined;
    return new SigintGuard(future);
  }

  #onSigint(): void {
    this.#interrupts++;
    if (this.#interrupts === 1 && !this.#future.done()) {
      this.#future.cancel();
      return;
    }
    this.remove();
    process.kill(process.pid, 'SIGINT');
  }

  remove(): void {
    if (this.#listener !== undefined) process.removeListener('SIGINT', this.#listener);
    this.#listener = undefined;
  }

  /** After the run: `KeyboardInterrupt` if Ctrl-C cancelled the future (asyncio: `uncancel() == 0`). */
  interruption(): KeyboardInterrupt | undefined {
    this.remove();
    if (this.#interrupts === 0 || !this.#future.cancelled()) return undefined;
    const uncancel = (this.#future as Partial<Task<unknown>>).uncancel;
    if (typeof uncancel === 'function' && uncancel.call(this.#future) !== 0) return undefined;
    return new KeyboardInterrupt();
  }
}

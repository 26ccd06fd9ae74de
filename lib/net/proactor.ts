/**
 * `Proactor`: the loop's side of the io_uring completion engine (native/uring/completion.h), the
 * role asyncio's `IocpProactor` plays for its proactor loop. The engine's ring fd is watched as a
 * reader by the loop's own selector (epoll), in hosted and owning mode alike, so both modes keep
 * their waits: a wakeup reaps every completion in one call through the engine's shared
 * `Int32Array`, routes each to the transport or server of its id, and submits what they queued in
 * one `io_uring_enter`. Submissions made elsewhere in an iteration (a task's `write`) go in from
 * the loop's `beforeWait` hook, so nothing waits in the SQ while the thread sleeps.
 *
 * Buffers: a recv completion names a provided buffer; its handler copies the bytes out during
 * `complete` (a fresh Buffer, or the BufferedProtocol's own), and the proactor recycles the bid
 * right after the handler returns, whatever it did: a bid is never handed to the kernel while JS
 * may still read it, and never forgotten (stale completions of closed transports included).
 * @packageDocumentation
 */
import { codedError } from '../core/errors';
import { binding, type NativeUringEngine } from '../core/native';

/** @internal Op codes, as completion.h numbers them. */
export const OP_ACCEPT = 1;
/** @internal */ export const OP_RECV = 2;
/** @internal */ export const OP_SEND = 3;
/** @internal */ export const OP_SHUTDOWN = 4;
/** @internal */ export const OP_CANCEL = 5;
/** @internal IORING_CQE_F_BUFFER and IORING_CQE_F_MORE. */
export const F_BUFFER = 1;
/** @internal */ export const F_MORE = 2;

/** @internal Something with operations in flight: gets their completions. */
export interface CompletionHandler {
  /** One completion; `bid` >= 0 when it carries bytes in `proactor.pool` (valid only during the call). */
  complete(op: number, res: number, flags: number, bid: number): void;
}

/** @internal The loop surface the proactor needs (the SelectorEventLoop). */
export interface ProactorLoop {
  addReader(fd: number, callback: () => void): unknown;
  callSoon(callback: () => void): unknown;
  removeReader(fd: number): boolean;
  callExceptionHandler(context: Record<string, unknown>): void;
}

const MAX_ID = 0x7fffffff;

/** Provided buffers: 512 x 16 KiB (8 MiB) per loop. */
const BUFFER_COUNT = 512;
const BUFFER_SIZE = 16 * 1024;

/**
 * Why io_uring cannot be used here, or undefined when it can: makes (and closes) one engine, so it
 * sees what the loop would see (seccomp, `kernel.io_uring_disabled`, an old kernel).
 * @internal
 */
export function uringRefusal(): Error | undefined {
  if (binding.UringEngine === undefined) return codedError('ERR_URING_UNAVAILABLE', 'io_uring is Linux only');
  try {
    new binding.UringEngine(1, 64).close();
    return undefined;
  } catch (error) {
    return error as Error;
  }
}

/** @internal The completion engine of one loop. */
export class Proactor {
  readonly engine: NativeUringEngine;
  /** The provided buffers, as a Buffer (no copy). */
  readonly pool: Buffer;
  readonly bufferSize: number;
  readonly #loop: ProactorLoop;
  readonly #handlers = new Map<number, CompletionHandler>();
  #nextId = 0;
  #recycleCount = 0;
  #watching = false;
  #closed = false;
  #draining = false;
  #flushScheduled = false;

  constructor(loop: ProactorLoop) {
    const Engine = binding.UringEngine;
    if (Engine === undefined) throw codedError('ERR_URING_UNAVAILABLE', 'io_uring is Linux only');
    this.engine = new Engine(BUFFER_COUNT, BUFFER_SIZE);
    this.pool = Buffer.from(this.engine.buffers.buffer, this.engine.buffers.byteOffset, this.engine.buffers.byteLength);
    this.bufferSize = this.engine.bufferSize;
    this.#loop = loop;
  }

  /** The ring fd (watched by the loop's selector while anything is registered). */
  get fileno(): number {
    return this.engine.fileno;
  }

  /** Engine counters (`enters`: io_uring_enter calls, `sqes`, `cqes`, ...). */
  get counters(): Record<string, number> {
    return this.engine.counters;
  }

  /** A fresh id for `handler`; the ring fd is watched from the first one. */
  register(handler: CompletionHandler): number {
    if (this.#closed) throw codedError('ERR_URING_CLOSED', 'I/O operation on a closed io_uring engine');
    let id = this.#nextId;
    while (this.#handlers.has(id)) id = id === MAX_ID ? 0 : id + 1;
    this.#nextId = id === MAX_ID ? 0 : id + 1;
    this.#handlers.set(id, handler);
    if (!this.#watching) {
      this.#loop.addReader(this.engine.fileno, this.#drain);
      this.#watching = true;
    }
    return id;
  }

  /**
   * Forgets `id`: its late completions are dropped (their buffers recycled, accepted fds closed).
   * The ring fd stops being watched with the last one; completions still in the ring then wait
   * for the next registration or for `close`.
   */
  unregister(id: number): void {
    this.#handlers.delete(id);
    if (this.#handlers.size === 0 && this.#watching && !this.#closed) {
      this.#loop.removeReader(this.engine.fileno);
      this.#watching = false;
    }
  }

  /**
   * Called after an operation was queued. In a completion handler the drain submits at its end;
   * anywhere else (a task's code runs in promise jobs, after the iteration's `beforeWait`) a
   * flush is scheduled for the next iteration, so that no SQE waits while the thread sleeps.
   */
  queued(): void {
    if (this.#draining || this.#flushScheduled || this.#closed) return;
    this.#flushScheduled = true;
    this.#loop.callSoon(this.#scheduledFlush);
  }

  readonly #scheduledFlush = (): void => {
    this.#flushScheduled = false;
    this.flush();
  };

  /** The loop's `beforeWait`: buffers back and queued SQEs in, before the thread may sleep. */
  flush(): void {
    if (this.#closed) return;
    const n = this.#recycleCount;
    this.#recycleCount = 0;
    this.engine.flush(n);
  }

  readonly #drain = (): void => {
    if (this.#closed) return;
    const engine = this.engine;
    const events = engine.events;
    const recycled = engine.recycled;
    const handlers = this.#handlers;
    const n = engine.reap(this.#recycleCount);
    this.#recycleCount = 0;
    this.#draining = true;
    for (let i = 0; i < n; i++) {
      const at = 4 * i;
      const id = events[at];
      const op = events[at + 1];
      const res = events[at + 2];
      const flags = events[at + 3];
      const bid = (flags & F_BUFFER) !== 0 ? flags >>> 16 : -1;
      const handler = handlers.get(id);
      if (handler !== undefined) {
        try {
          handler.complete(op, res, flags, bid);
        } catch (exception) {
          this.#loop.callExceptionHandler({ message: 'io_uring completion handler failed', exception });
        }
      } else if (op === OP_ACCEPT && res >= 0) {
        // A connection accepted for a server that is gone: nobody will serve it.
        binding.close(res);
      }
      if (bid >= 0) recycled[this.#recycleCount++] = bid;
    }
    this.#draining = false;
    this.flush();
  };

  /** Closes the ring (every request ends; unreaped accepted fds are closed natively). */
  close(): void {
    if (this.#closed) return;
    if (this.#watching) this.#loop.removeReader(this.engine.fileno);
    this.#watching = false;
    this.#closed = true;
    this.#handlers.clear();
    this.engine.close();
  }
}

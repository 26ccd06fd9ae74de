/**
 * `Proactor`: the loop's side of the io_uring completion engine (native/uring/completion.h), the
 * role asyncio's `IocpProactor` plays for its proactor loop. In hosted mode the engine's ring fd
 * is watched as a reader by the loop's own selector (epoll): a wakeup reaps every completion in
 * one call through the engine's shared `Int32Array`, routes each to the transport or server of
 * its id, and submits what they queued in one `io_uring_enter`. Submissions made elsewhere in an
 * iteration (a task's `write`) go in from the loop's `beforeWait` hook, so nothing waits in the SQ
 * while the thread sleeps. An owning run sleeps in the ring itself (`OwnedCompletions`): the ring
 * fd leaves the selector, the owner's wait submits and says when to reap.
 *
 * Buffers: a recv completion names a provided buffer; its handler copies the bytes out during
 * `complete` (a fresh Buffer, or the BufferedProtocol's own), and the proactor recycles the bid
 * right after the handler returns, whatever it did: a bid is never handed to the kernel while JS
 * may still read it, and never forgotten (stale completions of closed transports included).
 * @packageDocumentation
 */
import { codedError } from '../core/errors';
import { binding, type NativeUringEngine } from '../core/native';
import type { OwnedCompletions } from '../loop/base_loop';

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
export class Proactor implements OwnedCompletions {
  readonly bufferSize = BUFFER_SIZE;
  #engine: NativeUringEngine | undefined;
  #pool: Buffer | undefined;
  #deferred = false;
  readonly #loop: ProactorLoop;
  readonly #handlers = new Map<number, CompletionHandler>();
  #nextId = 0;
  #recycleCount = 0;
  #watching = false;
  #closed = false;
  #draining = false;
  #flushScheduled = false;
  #owned = false;
  #drainScheduled = false;

  constructor(loop: ProactorLoop) {
    if (binding.UringEngine === undefined) throw codedError('ERR_URING_UNAVAILABLE', 'io_uring is Linux only');
    this.#loop = loop;
  }

  /**
   * The engine, made on first use. Its ring is set up for how the loop waits at that moment: an
   * owning run sleeps in the ring (`ownedEngine`), so its completions can wait as task work
   * until it enters (DEFER_TASKRUN: nothing interrupts the thread per completion); a hosted run
   * sleeps in epoll, where that route's eventfd signal comes late (completion.h), so not there.
   */
  get engine(): NativeUringEngine {
    return this.#engine ?? this.#open(false);
  }

  /** The provided buffers, as a Buffer (no copy). */
  get pool(): Buffer {
    if (this.#pool === undefined) this.#open(false);
    return this.#pool as Buffer;
  }

  #open(deferTaskrun: boolean): NativeUringEngine {
    if (this.#closed) throw codedError('ERR_URING_CLOSED', 'I/O operation on a closed io_uring engine');
    const Engine = binding.UringEngine as NonNullable<typeof binding.UringEngine>;
    const engine = new Engine(BUFFER_COUNT, BUFFER_SIZE, deferTaskrun);
    this.#engine = engine;
    this.#pool = Buffer.from(engine.buffers.buffer, engine.buffers.byteOffset, engine.buffers.byteLength);
    this.#deferred = deferTaskrun;
    return engine;
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
    if (!this.#watching && !this.#owned) {
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
    // An owning run's wait submits what is queued when it goes to sleep.
    if (this.#draining || this.#flushScheduled || this.#closed || this.#owned) return;
    this.#flushScheduled = true;
    this.#loop.callSoon(this.#scheduledFlush);
  }

  readonly #scheduledFlush = (): void => {
    this.#flushScheduled = false;
    this.flush();
  };

  /** Something is registered: the loop has I/O to wait for, watched through the selector or not. */
  get active(): boolean {
    return this.#handlers.size > 0;
  }

  /** `OwnedCompletions.ownedEngine`: the engine, made now for an owning run if there is none yet. */
  ownedEngine(): NativeUringEngine {
    return this.#engine ?? this.#open(true);
  }

  /** `OwnedCompletions.beginOwned`: the owning run waits in the ring, not in the selector. */
  beginOwned(): void {
    this.#owned = true;
    if (this.#watching) this.#loop.removeReader(this.engine.fileno);
    this.#watching = false;
  }

  /** `OwnedCompletions.endOwned`: watched through the selector again, if anything is registered. */
  endOwned(): void {
    this.#owned = false;
    if (this.#closed) return;
    if (this.#handlers.size === 0 && this.#deferred && this.#engine !== undefined) {
      // Nothing uses the owning run's ring any more: a later hosted run gets a ring of its own kind.
      this.#engine.close();
      this.#engine = this.#pool = undefined;
      return;
    }
    this.#submit(); // what the run's last iteration queued
    if (this.#handlers.size === 0 || this.#watching) return;
    this.#loop.addReader(this.engine.fileno, this.#drain);
    this.#watching = true;
  }

  /** `OwnedCompletions.completionsReady`: reap in this iteration, as a reader callback would. */
  completionsReady(): void {
    if (this.#drainScheduled || this.#closed) return;
    this.#drainScheduled = true;
    this.#loop.callSoon(this.#scheduledDrain);
  }

  readonly #scheduledDrain = (): void => {
    this.#drainScheduled = false;
    this.#drain();
  };

  /**
   * The loop's `beforeWait`: buffers back and queued SQEs in, before the thread may sleep. An
   * owning run's wait does both itself, in the `io_uring_enter` it sleeps in.
   */
  flush(): void {
    if (this.#owned && this.#recycleCount === 0) return;
    this.#submit();
  }

  #submit(): void {
    if (this.#closed || this.#engine === undefined) return;
    const n = this.#recycleCount;
    this.#recycleCount = 0;
    this.engine.flush(n);
  }

  readonly #drain = (): void => {
    const engine = this.#engine;
    if (this.#closed || engine === undefined) return;
    // Two rounds: the second takes what the first round's submission completed at once (a send
    // to a socket with room completes inside io_uring_enter), which would otherwise cost the loop
    // another iteration to see.
    for (let round = 0; round < 2; round++) {
      const n = engine.reap(this.#recycleCount);
      this.#recycleCount = 0;
      if (n === 0 && round > 0) return;
      this.#handle(engine, n);
      // At once, owning mode included: the replies to this batch leave now, not at the next wait.
      this.#submit();
      if (this.#closed) return;
    }
  };

  #handle(engine: NativeUringEngine, n: number): void {
    const events = engine.events;
    const recycled = engine.recycled;
    const handlers = this.#handlers;
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
  }

  /** Closes the ring (every request ends; unreaped accepted fds are closed natively). */
  close(): void {
    if (this.#closed) return;
    if (this.#watching) this.#loop.removeReader(this.engine.fileno);
    this.#watching = false;
    this.#closed = true;
    this.#handlers.clear();
    this.#engine?.close();
  }
}

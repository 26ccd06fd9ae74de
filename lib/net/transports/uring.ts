/**
 * The completion-based stream socket transport (TCP, Unix) on the loop's io_uring engine
 * (`../proactor.ts`): asyncio's `_ProactorSocketTransport` idea behind the same `Transport`
 * interface as `socket.ts`, with the shared rules of `base.ts` (call order, connectionLost once
 * and last, the fatal-error policy, write flow control).
 *
 * What differs from the readiness transport:
 * - Reading is one multishot recv (armed once, one completion per arrival, in a provided buffer);
 *   `pauseReading` cancels it (`IORING_OP_ASYNC_CANCEL`) and keeps what arrives before the cancel
 *   lands, delivered first on `resumeReading` (asyncio's proactor keeps its read future's data too).
 * - Writing queues one send (or one sendmsg of everything buffered) at a time: two sends on one
 *   socket may complete in either order. The engine copies the bytes at once, so `write` keeps no
 *   reference to the caller's buffer; what is written while a send is in flight is copied here.
 *   The write buffer size counts the bytes in flight until the kernel confirms them.
 * - Half-close is `IORING_OP_SHUTDOWN` after the last send completed; closing cancels everything in
 *   flight on the fd (submitted at once) before the fd is closed.
 * @packageDocumentation
 */
import { codedError, errnoError } from '../../core/errors';
import type { Future } from '../../tasks/futures';
import type { SelectorEventLoop } from '../selector_loop';
import type { BaseProtocol, BufferedProtocol, BytesLike, Protocol, Transport } from '../protocols';
import { SHUT_WR, type Socket } from '../../socket';
import { E, type Extra, type ServerHooks, toBytes, gatherWrites } from './base';
import { BaseStreamTransport } from './stream';
import { type CompletionHandler, F_MORE, OP_RECV, OP_SEND, OP_SHUTDOWN, type Proactor } from '../proactor';

/** Buffers per sendmsg (the engine's limit is 1024; IOV_MAX is 1024 on Linux). */
const MAX_PIECES = 1024;

/**
 * A stream transport over a connected stream socket, on io_uring completions.
 * @internal Made by the servers and connections of a loop created with `io: 'uring'`.
 */
export class UringSocketTransport extends BaseStreamTransport implements Transport, CompletionHandler {
  readonly #proactor: Proactor;
  readonly #id: number;
  #recvArmed = false;
  #sending = false;
  #inFlight = 0;
  #buffer: Uint8Array[] = [];
  /** What arrived while reading was paused; `pendingEof`: the EOF came too. */
  #pending: Buffer[] = [];
  #pendingEof = false;

  /** @internal */
  constructor(loop: SelectorEventLoop, proactor: Proactor, sock: Socket, protocol: BaseProtocol, waiter?: Future<void>, extra: Extra = {}, server?: ServerHooks) {
    super(loop, sock, protocol, extra, server);
    this.#proactor = proactor;
    this.#id = proactor.register(this);
    this.startUp(this.#arm, waiter);
  }

  /** Stops reading until `resumeReading` (the multishot recv is cancelled). Idempotent. */
  pauseReading(): void {
    if (this.closing || this.paused) return;
    this.paused = true;
    if (this.#recvArmed) this.#cancelRecv();
  }

  /** Resumes reading: what arrived meanwhile first, then the recv again. Idempotent. */
  resumeReading(): void {
    if (this.closing || !this.paused) return;
    this.paused = false;
    this.loop.callSoon(this.#resume);
  }

  readonly #resume = (): void => {
    while (this.#pending.length > 0 && this.isReading() && !this.connLost) {
      const chunk = this.#pending.shift() as Buffer;
      this.#deliver(chunk, 0, chunk.byteLength, false);
    }
    if (!this.isReading() || this.connLost) return;
    if (this.#pendingEof) {
      this.#pendingEof = false;
      this.onEof();
      return;
    }
    this.#arm();
  };

  #cancelRecv(): void {
    try {
      this.#proactor.engine.cancel(this.#id, OP_RECV);
      this.#proactor.queued();
    } catch (error) {
      this.fatalError(error, 'Fatal error: cannot cancel the socket read');
    }
  }

  readonly #arm = (): void => {
    if (this.#recvArmed || !this.isReading() || this.readEof || this.connLost) return;
    try {
      this.#proactor.engine.recv(this.fd, this.#id);
      this.#proactor.queued();
    } catch (error) {
      this.fatalError(error, 'Fatal error: cannot start reading the socket');
      return;
    }
    this.#recvArmed = true;
  };

  /** @internal One completion of this transport's operations (proactor.ts). */
  complete(op: number, res: number, flags: number, bid: number): void {
    if (op === OP_RECV) this.#onRecv(res, flags, bid);
    else if (op === OP_SEND) this.#onSent(res);
    else if (op === OP_SHUTDOWN) this.#onShutdown(res);
    // OP_CANCEL: the cancelled operation reports itself (-ECANCELED).
  }

  // ------------------------------------------------------------------------------------------
  // Reading

  #onRecv(res: number, flags: number, bid: number): void {
    if ((flags & F_MORE) === 0) this.#recvArmed = false;
    if (this.connLost) return;
    if (res > 0) {
      if (bid < 0) {
        this.fatalError(codedError('ERR_URING_NO_BUFFER', 'recv completed without a buffer'), 'Fatal read error on socket transport');
        return;
      }
      const start = bid * this.#proactor.bufferSize;
      this.#deliver(this.#proactor.pool, start, start + res, true);
    } else if (res === 0) {
      if (this.paused) this.#pendingEof = true;
      else if (!this.closing) this.onEof();
      return;
    } else if (res !== -E.ENOBUFS && res !== -E.ECANCELED) {
      this.fatalError(errnoError(-res, 'recv', `fd ${this.fd}`), 'Fatal read error on socket transport');
      return;
    }
    // A multishot recv the kernel ended (out of buffers, a cancel that raced a resume, ...).
    if (!this.#recvArmed) this.#arm();
  }

  /**
   * Hands bytes `src[start, end)` to the protocol, or keeps a copy while reading is paused.
   * `fromPool`: src is the engine's buffer memory, recycled after this call, so never kept.
   */
  #deliver(src: Buffer, start: number, end: number, fromPool: boolean): void {
    if (this.closing) return;
    if (this.paused) {
      this.#pending.push(fromPool ? Buffer.from(src.subarray(start, end)) : src.subarray(start, end));
      return;
    }
    if (!this.buffered) {
      let data: Buffer;
      if (fromPool) {
        data = Buffer.allocUnsafe(end - start);
        src.copy(data, 0, start, end);
      } else {
        data = start === 0 && end === src.byteLength ? src : src.subarray(start, end);
      }
      try {
        (this.protocol as Protocol).dataReceived(data);
      } catch (error) {
        this.fatalError(error, 'Fatal error: protocol.dataReceived() call failed.');
      }
      return;
    }
    const protocol = this.protocol as BufferedProtocol;
    while (start < end) {
      const view = this.protocolBuffer(end - start);
      if (view === undefined) return;
      const n = Math.min(view.byteLength, end - start);
      src.copy(new Uint8Array(view.buffer, view.byteOffset, view.byteLength), 0, start, start + n);
      start += n;
      try {
        protocol.bufferUpdated(n);
      } catch (error) {
        this.fatalError(error, 'Fatal error: protocol.bufferUpdated() call failed.');
        return;
      }
      if (this.closing || this.connLost) return;
      if (this.paused && start < end) {
        this.#pending.push(Buffer.from(src.subarray(start, end)));
        return;
      }
    }
  }

  // ------------------------------------------------------------------------------------------
  // Writing

  /** Writes `data` (bytes, or a string as UTF-8): a send is queued, or the bytes are buffered. */
  write(data: BytesLike): void {
    const bytes = toBytes(data);
    const length = bytes.byteLength;
    if (this.skipWrite(length)) return;
    if (this.#sending) this.#buffer.push(Buffer.from(bytes));
    else if (!this.#send(bytes)) return;
    this.bufferSize += length;
    this.maybePauseProtocol();
  }

  /** Writes every item of `list`: one sendmsg when no send is in flight. */
  writelines(list: Iterable<BytesLike>): void {
    const [views, total] = gatherWrites(list);
    if (this.skipWrite(total)) return;
    if (this.#sending || views.length > MAX_PIECES) {
      for (const view of views) this.#buffer.push(Buffer.from(view));
      if (!this.#sending && !this.#sendBuffered()) return;
    } else if (!this.#send(views.length === 1 ? views[0] : views, total)) {
      return;
    }
    this.bufferSize += total;
    // CVE-2024-12254: writelines must apply flow control as write does.
    this.maybePauseProtocol();
  }

  /** Queues one send (the engine copies the bytes); false after a fatal error. */
  #send(data: Uint8Array | Uint8Array[], total = (data as Uint8Array).byteLength): boolean {
    try {
      this.#proactor.engine.send(this.fd, this.#id, data);
      this.#proactor.queued();
    } catch (error) {
      this.fatalError(error, 'Fatal write error on socket transport');
      return false;
    }
    this.#sending = true;
    this.#inFlight = total;
    return true;
  }

  #sendBuffered(): boolean {
    const pieces = this.#buffer.length <= MAX_PIECES ? this.#buffer : this.#buffer.slice(0, MAX_PIECES);
    this.#buffer = this.#buffer.length <= MAX_PIECES ? [] : this.#buffer.slice(MAX_PIECES);
    let total = 0;
    for (const piece of pieces) total += piece.byteLength;
    return this.#send(pieces.length === 1 ? pieces[0] : pieces, total);
  }

  #onSent(res: number): void {
    this.#sending = false;
    if (this.connLost) return;
    if (res < 0) {
      if (res === -E.ECANCELED) return;
      this.fatalError(errnoError(-res, 'send', `fd ${this.fd}`), 'Fatal write error on socket transport');
      return;
    }
    // The engine finishes short sends itself: res is everything that was in flight.
    this.bufferSize -= this.#inFlight;
    this.#inFlight = 0;
    if (this.#buffer.length > 0) {
      this.#sendBuffered();
      this.maybeResumeProtocol();
      return;
    }
    this.maybeResumeProtocol();
    if (this.bufferSize > 0) return;
    if (this.closing) this.scheduleConnectionLost(undefined);
    else if (this.eof) this.shutdownWrite();
  }

  /** @internal */ protected shutdownWrite(): void {
    try {
      this.#proactor.engine.shutdown(this.fd, this.#id, SHUT_WR);
      this.#proactor.queued();
    } catch (error) {
      this.fatalError(error, 'Fatal error on socket shutdown');
    }
  }

  #onShutdown(res: number): void {
    if (res >= 0 || this.connLost || res === -E.ECANCELED || res === -E.ENOTCONN) return;
    this.fatalError(errnoError(-res, 'shutdown', `fd ${this.fd}`), 'Fatal error on socket shutdown');
  }

  /** Stops reading now, flushes the buffer, then `connectionLost(undefined)`. Idempotent. */
  close(): void {
    if (this.closing) return;
    this.closing = true;
    if (this.#recvArmed) this.#cancelRecv();
    if (this.bufferSize === 0) this.scheduleConnectionLost(undefined);
  }

  /** @internal */ protected hasBuffered(): boolean {
    return this.#buffer.length > 0 || this.#sending;
  }

  /** @internal */ protected clearBuffer(): void {
    this.#buffer = [];
    this.#pending = [];
    this.bufferSize = 0;
  }

  /** @internal Everything in flight on the fd is cancelled before the fd goes. */
  protected closeResource(): void {
    try {
      this.#proactor.engine.cancelFd(this.fd, this.#id);
    } catch {
      // A closed engine (the loop closed first) has ended every request already.
    }
    this.#proactor.unregister(this.#id);
    this.sock.close();
  }
}

/**
 * The stream socket transport (TCP, Unix), asyncio's `_SelectorSocketTransport`; rules in
 * `base.ts`.
 * @packageDocumentation
 */
import { codedError, invalidArgType } from '../../core/errors';
import type { Future } from '../../tasks/futures';
import type { SelectorEventLoop } from '../selector_loop';
import type { BaseProtocol, BufferedProtocol, BytesLike, Protocol, Transport } from '../protocols';
import { AF_INET, AF_INET6, IPPROTO_TCP, SHUT_WR, SOCK_STREAM, TCP_NODELAY, type Socket } from '../../socket';
import { MAX_READ_SIZE, scratch, toBytes, type Extra, BaseSelectorTransport, type ServerHooks, socketExtra, writeAfterEof } from './base';

/**
 * A stream transport over a connected, non-blocking stream socket (TCP or Unix).
 * @internal Made by `createConnection`, `createServer`, ...; typed as `Transport` publicly.
 */
export class SocketTransport extends BaseSelectorTransport implements Transport {
  readonly #sock: Socket;
  #buffer: Uint8Array[] = [];
  #eof = false;
  #paused = false;
  /** The peer's EOF was received and the connection kept half-open: no more reading. */
  #readEof = false;
  #buffered: boolean;

  /** @internal */
  constructor(loop: SelectorEventLoop, sock: Socket, protocol: BaseProtocol, waiter?: Future<void>, extra: Extra = {}, server?: ServerHooks) {
    super(loop, sock.fileno(), protocol, socketExtra(sock, extra), server);
    this.#sock = sock;
    this.#buffered = typeof (protocol as Partial<BufferedProtocol>).getBuffer === 'function';
    // asyncio's _set_nodelay: small writes must not wait for Nagle.
    if ((sock.family === AF_INET || sock.family === AF_INET6) && sock.type === SOCK_STREAM) {
      try {
        sock.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
      } catch {
        // not fatal (asyncio ignores it too)
      }
    }
    this.startUp(this.#addReader, waiter);
  }

  readonly #addReader = (): void => {
    if (!this.isReading() || this.#readEof) return;
    this.watchReadable(this.#onReadable, 'Fatal error: cannot watch the socket for reading');
  };

  override setProtocol(protocol: BaseProtocol): void {
    super.setProtocol(protocol);
    this.#buffered = typeof (protocol as Partial<BufferedProtocol>).getBuffer === 'function';
  }

  /** True unless reading is paused or the transport is closing. */
  isReading(): boolean {
    return !this.#paused && !this.closing;
  }

  /** Stops reading until `resumeReading`. Idempotent. */
  pauseReading(): void {
    if (this.closing || this.#paused) return;
    this.#paused = true;
    this.loop.removeReader(this.fd);
  }

  /** Resumes reading. Idempotent. */
  resumeReading(): void {
    if (this.closing || !this.#paused) return;
    this.#paused = false;
    this.#addReader();
  }

  // ------------------------------------------------------------------------------------------
  // Reading. One recv per readiness, as asyncio; the loop is level-triggered.

  readonly #onReadable = (): void => {
    if (this.connLost) return;
    if (this.#buffered) this.#readBuffered();
    else this.#readStream();
  };

  #readStream(): void {
    const buf = scratch();
    let n: number;
    try {
      n = this.#sock.recvIntoRaw(buf, 0, MAX_READ_SIZE);
    } catch (error) {
      this.fatalError(error, 'Fatal read error on socket transport');
      return;
    }
    if (n < 0) return;
    if (n === 0) {
      this.#onEof();
      return;
    }
    const data = Buffer.allocUnsafe(n);
    buf.copy(data, 0, 0, n);
    try {
      (this.protocol as Protocol).dataReceived(data);
    } catch (error) {
      this.fatalError(error, 'Fatal error: protocol.dataReceived() call failed.');
    }
  }

  #readBuffered(): void {
    const protocol = this.protocol as BufferedProtocol;
    let view: ArrayBufferView;
    try {
      view = protocol.getBuffer(-1);
      if (!ArrayBuffer.isView(view) || view.byteLength === 0) {
        throw codedError('ERR_INVALID_RETURN_VALUE', 'getBuffer() returned an empty buffer or not a buffer');
      }
    } catch (error) {
      this.fatalError(error, 'Fatal error: protocol.getBuffer() call failed.');
      return;
    }
    let n: number;
    try {
      n = this.#sock.recvIntoRaw(view, 0, view.byteLength);
    } catch (error) {
      this.fatalError(error, 'Fatal read error on socket transport');
      return;
    }
    if (n < 0) return;
    if (n === 0) {
      this.#onEof();
      return;
    }
    try {
      protocol.bufferUpdated(n);
    } catch (error) {
      this.fatalError(error, 'Fatal error: protocol.bufferUpdated() call failed.');
    }
  }

  #onEof(): void {
    let keepOpen: unknown;
    try {
      keepOpen = (this.protocol as Protocol).eofReceived?.();
    } catch (error) {
      this.fatalError(error, 'Fatal error: protocol.eofReceived() call failed.');
      return;
    }
    if (keepOpen === true) {
      this.#readEof = true;
      this.loop.removeReader(this.fd);
    } else {
      this.close();
    }
  }

  // ------------------------------------------------------------------------------------------
  // Writing

  /**
   * Writes `data` (bytes, or a string as UTF-8) without blocking: sends at once when nothing is
   * buffered and copies only what the kernel did not take.
   */
  write(data: BytesLike): void {
    const bytes = toBytes(data);
    if (this.#eof) throw writeAfterEof();
    const length = bytes.byteLength;
    if (length === 0) return;
    if (this.connLost) {
      this.dropWrite();
      return;
    }
    if (this.bufferSize === 0) {
      // The fast path: no Future, no buffer, no copy.
      let n: number;
      try {
        n = this.#sock.sendRaw(bytes, 0, length);
      } catch (error) {
        this.fatalError(error, 'Fatal write error on socket transport');
        return;
      }
      if (n === length) return;
      if (n < 0) n = 0;
      if (!this.#startWriting()) return;
      this.#buffer.push(Buffer.from(n === 0 ? bytes : bytes.subarray(n)));
      this.bufferSize = length - n;
    } else {
      this.#buffer.push(Buffer.from(bytes));
      this.bufferSize += length;
    }
    this.maybePauseProtocol();
  }

  /** Writes every item of `list`, gathered into one sendmsg when nothing is buffered. */
  writelines(list: Iterable<BytesLike>): void {
    if (list === null || typeof (list as { [Symbol.iterator]?: unknown })?.[Symbol.iterator] !== 'function' || typeof list === 'string') {
      throw invalidArgType('list', 'an iterable of Buffers, TypedArrays, DataViews or strings', list);
    }
    const views: Uint8Array[] = [];
    let total = 0;
    for (const item of list) {
      const bytes = toBytes(item, 'list item');
      if (bytes.byteLength === 0) continue;
      views.push(bytes);
      total += bytes.byteLength;
    }
    if (this.#eof) throw writeAfterEof();
    if (total === 0) return;
    if (this.connLost) {
      this.dropWrite();
      return;
    }
    let sent = 0;
    if (this.bufferSize === 0) {
      try {
        sent = views.length === 1 ? this.#sock.sendRaw(views[0], 0, total) : this.#sock.sendmsgRaw(views);
      } catch (error) {
        this.fatalError(error, 'Fatal write error on socket transport');
        return;
      }
      if (sent === total) return;
      if (sent < 0) sent = 0;
      if (!this.#startWriting()) return;
    }
    // Copy what is left, skipping what was sent.
    for (const view of views) {
      if (sent >= view.byteLength) {
        sent -= view.byteLength;
        continue;
      }
      this.#buffer.push(Buffer.from(sent === 0 ? view : view.subarray(sent)));
      this.bufferSize += view.byteLength - sent;
      sent = 0;
    }
    // CVE-2024-12254: writelines must apply flow control as write does.
    this.maybePauseProtocol();
  }

  #startWriting(): boolean {
    return this.watchWritable(this.#onWritable, 'Fatal error: cannot watch the socket for writing');
  }

  readonly #onWritable = (): void => {
    if (this.connLost) return;
    const buffer = this.#buffer;
    let n: number;
    try {
      n = buffer.length === 1 ? this.#sock.sendRaw(buffer[0], 0, buffer[0].byteLength) : this.#sock.sendmsgRaw(buffer);
    } catch (error) {
      this.fatalError(error, 'Fatal write error on socket transport');
      return;
    }
    if (n < 0) return;
    this.#consume(n);
    this.maybeResumeProtocol();
    if (this.bufferSize > 0) return;
    this.loop.removeWriter(this.fd);
    if (this.closing) {
      this.scheduleConnectionLost(undefined);
    } else if (this.#eof) {
      this.#shutdownWrite();
    }
  };

  #consume(n: number): void {
    this.bufferSize -= n;
    const buffer = this.#buffer;
    let i = 0;
    while (i < buffer.length && n >= buffer[i].byteLength) n -= buffer[i++].byteLength;
    if (i > 0) buffer.splice(0, i);
    if (n > 0) buffer[0] = buffer[0].subarray(n);
  }

  #shutdownWrite(): void {
    try {
      this.#sock.shutdown(SHUT_WR);
    } catch (error) {
      this.fatalError(error, 'Fatal error on socket shutdown');
    }
  }

  /** Shuts down the write side once the buffer is flushed; `write` after it throws. */
  writeEof(): void {
    if (this.closing || this.#eof) return;
    this.#eof = true;
    if (this.bufferSize === 0) this.#shutdownWrite();
  }

  /** True: sockets support `writeEof`. */
  canWriteEof(): boolean {
    return true;
  }

  /** Stops reading now, flushes the buffer, then `connectionLost(undefined)`. Idempotent. */
  close(): void {
    if (this.closing) return;
    this.closing = true;
    this.loop.removeReader(this.fd);
    if (this.bufferSize === 0) this.scheduleConnectionLost(undefined);
  }

  /** @internal */ protected hasBuffered(): boolean {
    return this.#buffer.length > 0;
  }

  /** @internal */ protected clearBuffer(): void {
    this.#buffer = [];
    this.bufferSize = 0;
  }

  /** @internal */ protected closeResource(): void {
    this.#sock.close();
  }
}


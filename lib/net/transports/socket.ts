/**
 * The stream socket transport (TCP, Unix), asyncio's `_SelectorSocketTransport`; rules in
 * `base.ts`.
 * @packageDocumentation
 */
import type { Future } from '../../tasks/futures';
import type { SelectorEventLoop } from '../selector_loop';
import type { BaseProtocol, BufferedProtocol, BytesLike, Protocol, Transport } from '../protocols';
import { SHUT_WR, type Socket } from '../../socket';
import { MAX_READ_SIZE, scratch, toBytes, type Extra, type ServerHooks, gatherWrites } from './base';
import { BaseStreamTransport } from './stream';

/**
 * A stream transport over a connected, non-blocking stream socket (TCP or Unix).
 * @internal Made by `createConnection`, `createServer`, ...; typed as `Transport` publicly.
 */
export class SocketTransport extends BaseStreamTransport implements Transport {
  #buffer: Uint8Array[] = [];

  /** @internal */
  constructor(loop: SelectorEventLoop, sock: Socket, protocol: BaseProtocol, waiter?: Future<void>, extra: Extra = {}, server?: ServerHooks) {
    super(loop, sock, protocol, extra, server);
    this.startUp(this.#addReader, waiter);
  }

  readonly #addReader = (): void => {
    if (!this.isReading() || this.readEof) return;
    this.watchReadable(this.#onReadable, 'Fatal error: cannot watch the socket for reading');
  };

  /** Stops reading until `resumeReading`. Idempotent. */
  pauseReading(): void {
    if (this.closing || this.paused) return;
    this.paused = true;
    this.loop.removeReader(this.fd);
  }

  /** Resumes reading. Idempotent. */
  resumeReading(): void {
    if (this.closing || !this.paused) return;
    this.paused = false;
    this.#addReader();
  }

  // ------------------------------------------------------------------------------------------
  // Reading. One recv per readiness, as asyncio; the loop is level-triggered.

  readonly #onReadable = (): void => {
    if (this.connLost) return;
    if (this.buffered) this.#readBuffered();
    else this.#readStream();
  };

  #readStream(): void {
    const buf = scratch();
    let n: number;
    try {
      n = this.sock.recvIntoRaw(buf, 0, MAX_READ_SIZE);
    } catch (error) {
      this.fatalError(error, 'Fatal read error on socket transport');
      return;
    }
    if (n < 0) return;
    if (n === 0) {
      this.onEof();
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
    const view = this.protocolBuffer(-1);
    if (view === undefined) return;
    let n: number;
    try {
      n = this.sock.recvIntoRaw(view, 0, view.byteLength);
    } catch (error) {
      this.fatalError(error, 'Fatal read error on socket transport');
      return;
    }
    if (n < 0) return;
    if (n === 0) {
      this.onEof();
      return;
    }
    try {
      (this.protocol as BufferedProtocol).bufferUpdated(n);
    } catch (error) {
      this.fatalError(error, 'Fatal error: protocol.bufferUpdated() call failed.');
    }
  }

  /** @internal A half-open connection reads no more. */
  protected override keptOpen(): void {
    this.loop.removeReader(this.fd);
  }

  // ------------------------------------------------------------------------------------------
  // Writing

  /**
   * Writes `data` (bytes, or a string as UTF-8) without blocking: sends at once when nothing is
   * buffered and copies only what the kernel did not take.
   */
  write(data: BytesLike): void {
    const bytes = toBytes(data);
    const length = bytes.byteLength;
    if (this.skipWrite(length)) return;
    if (this.bufferSize === 0) {
      // The fast path: no Future, no buffer, no copy.
      let n: number;
      try {
        n = this.sock.sendRaw(bytes, 0, length);
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
    const [views, total] = gatherWrites(list);
    if (this.skipWrite(total)) return;
    let sent = 0;
    if (this.bufferSize === 0) {
      try {
        sent = views.length === 1 ? this.sock.sendRaw(views[0], 0, total) : this.sock.sendmsgRaw(views);
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
      n = buffer.length === 1 ? this.sock.sendRaw(buffer[0], 0, buffer[0].byteLength) : this.sock.sendmsgRaw(buffer);
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
    } else if (this.eof) {
      this.shutdownWrite();
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

  /** @internal */ protected shutdownWrite(): void {
    try {
      this.sock.shutdown(SHUT_WR);
    } catch (error) {
      this.fatalError(error, 'Fatal error on socket shutdown');
    }
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
    this.sock.close();
  }
}


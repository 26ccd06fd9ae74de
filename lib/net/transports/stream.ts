/**
 * What the two stream socket transports share: `socket.ts` (readiness, asyncio's
 * `_SelectorSocketTransport`) and `uring.ts` (completions, the `_ProactorSocketTransport` idea).
 * They differ in how bytes move; the contract around the moving is one and lives here: TCP_NODELAY
 * at start, the `BufferedProtocol` check, `isReading`, the write preamble (after `writeEof` a write
 * throws, an empty one is nothing, one after the connection is lost is dropped and counted),
 * `writeEof` once the buffer is flushed, and `eofReceived`'s
 * keep-open answer.
 * @packageDocumentation
 */
import { codedError } from '../../core/errors';
import type { SelectorEventLoop } from '../selector_loop';
import type { BaseProtocol, BufferedProtocol, BytesLike, Protocol, Transport } from '../protocols';
import { AF_INET, AF_INET6, IPPROTO_TCP, SOCK_STREAM, TCP_NODELAY, type Socket } from '../../socket';
import { BaseSelectorTransport, type Extra, type ServerHooks, socketExtra, writeAfterEof } from './base';

/** @internal The shared part of `SocketTransport` and `UringSocketTransport`. */
export abstract class BaseStreamTransport extends BaseSelectorTransport implements Transport {
  /** @internal */ protected readonly sock: Socket;
  /** @internal The protocol is a `BufferedProtocol` (duck-typed: it has `getBuffer`). */
  protected buffered: boolean;
  /** @internal Reading paused by the protocol (`pauseReading`). */
  protected paused = false;
  /** @internal `writeEof` was called: writes throw, the write side shuts once flushed. */
  protected eof = false;
  /** @internal The peer's EOF was received and the connection kept half-open: no more reading. */
  protected readEof = false;

  /** @internal */
  constructor(loop: SelectorEventLoop, sock: Socket, protocol: BaseProtocol, extra: Extra, server?: ServerHooks) {
    super(loop, sock.fileno(), protocol, socketExtra(sock, extra), server);
    this.sock = sock;
    this.buffered = typeof (protocol as Partial<BufferedProtocol>).getBuffer === 'function';
    // asyncio's _set_nodelay: small writes must not wait for Nagle.
    if ((sock.family === AF_INET || sock.family === AF_INET6) && sock.type === SOCK_STREAM) {
      try {
        sock.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
      } catch {
        // not fatal (asyncio ignores it too)
      }
    }
  }

  override setProtocol(protocol: BaseProtocol): void {
    super.setProtocol(protocol);
    this.buffered = typeof (protocol as Partial<BufferedProtocol>).getBuffer === 'function';
  }

  /** True unless reading is paused or the transport is closing. */
  isReading(): boolean {
    return !this.paused && !this.closing;
  }

  abstract pauseReading(): void;
  abstract resumeReading(): void;
  abstract write(data: BytesLike): void;
  abstract writelines(list: Iterable<BytesLike>): void;

  /** Shuts down the write side once the buffer is flushed; `write` after it throws. */
  writeEof(): void {
    if (this.closing || this.eof) return;
    this.eof = true;
    if (this.bufferSize === 0) this.shutdownWrite();
  }

  /** True: sockets support `writeEof`. */
  canWriteEof(): boolean {
    return true;
  }

  /** @internal Shuts the write side (`shutdown(SHUT_WR)`); a failure is fatal. */
  protected abstract shutdownWrite(): void;

  /**
   * @internal The start of every write: throws after `writeEof`; true when there is nothing to
   * send (`length` 0, or the connection is lost: the write is dropped and counted).
   */
  protected skipWrite(length: number): boolean {
    if (this.eof) throw writeAfterEof();
    if (length === 0) return true;
    if (this.connLost) {
      this.dropWrite();
      return true;
    }
    return false;
  }

  /**
   * @internal The protocol's buffer for the next read, or undefined after a fatal error (it threw,
   * or returned something empty or not a buffer).
   */
  protected protocolBuffer(sizeHint: number): ArrayBufferView | undefined {
    try {
      const view = (this.protocol as BufferedProtocol).getBuffer(sizeHint);
      if (!ArrayBuffer.isView(view) || view.byteLength === 0) {
        throw codedError('ERR_INVALID_RETURN_VALUE', 'getBuffer() returned an empty buffer or not a buffer');
      }
      return view;
    } catch (error) {
      this.fatalError(error, 'Fatal error: protocol.getBuffer() call failed.');
      return undefined;
    }
  }

  /**
   * @internal The peer's EOF: `eofReceived()` returning true keeps the connection half-open
   * (`readEof`, then `keptOpen()`); anything else closes the transport. A throw is fatal.
   */
  protected onEof(): void {
    let keepOpen: unknown;
    try {
      keepOpen = (this.protocol as Protocol).eofReceived?.();
    } catch (error) {
      this.fatalError(error, 'Fatal error: protocol.eofReceived() call failed.');
      return;
    }
    if (keepOpen === true) {
      this.readEof = true;
      this.keptOpen();
    } else {
      this.close();
    }
  }

  /** @internal After a kept-open EOF: stop watching for reads (readiness) or nothing (completions). */
  protected keptOpen(): void {}
}


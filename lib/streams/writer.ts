/**
 * `StreamWriter`, the writing half of a stream pair (asyncio's `StreamWriter`).
 * @packageDocumentation
 */
import { invalidArgType } from '../core/errors';
import { checkOptionKeys, optionKeys } from '../core/options';
import type { TlsContext, TlsOptions, WrapTlsOptions } from '../net/tls';
import type { Future } from '../tasks/futures';
import type { SelectorEventLoop } from '../net/selector_loop';
import type { BaseProtocol, BytesLike, Transport } from '../net/protocols';
import { StreamReader } from './reader';
import type { FlowControlProtocol } from './protocol';

/**
 * What a writer needs of its protocol: flow control (`FlowControlProtocol`), the Future
 * `waitClosed()` returns, and which side of TLS it would be (`StreamReaderProtocol`, or a
 * subprocess's stdin protocol).
 */
export type WriterProtocol = BaseProtocol & Pick<FlowControlProtocol, 'drainHelper' | 'drainInto'> & {
  /** The Future `waitClosed()` returns. */
  closeWaiter(): Future<void>;
  /** True on a server's connection (the side `startTls` takes). */
  readonly serverSide: boolean;
};

const START_TLS_KEYS = optionKeys<Omit<WrapTlsOptions, 'serverSide'>>()(['serverHostname', 'sslHandshakeTimeout', 'sslShutdownTimeout', 'sslSession', 'callConnectionMade']);

/**
 * The writing half of a stream connection (asyncio's `StreamWriter`): `write` never blocks and
 * buffers what the kernel does not take; `await writer.drain()` waits while that buffer is over
 * the transport's high-water mark (64 KiB by default), which is what keeps a fast producer's
 * memory bounded.
 */
export class StreamWriter {
  #transport: Transport;
  readonly #protocol: WriterProtocol;
  readonly #reader: StreamReader | undefined;
  readonly #loop: SelectorEventLoop;

  /** Normally made by `openConnection`/`startServer` (or `createSubprocessExec` for stdin). */
  constructor(transport: Transport, protocol: WriterProtocol, reader: StreamReader | undefined, loop: SelectorEventLoop) {
    this.#transport = transport;
    this.#protocol = protocol;
    this.#reader = reader;
    this.#loop = loop;
  }

  /** The underlying transport. */
  get transport(): Transport {
    return this.#transport;
  }

  /** Writes `data` (see `Transport.write`); follow with `await writer.drain()` in a loop. */
  write(data: BytesLike): void {
    this.#transport.write(data);
  }

  /** Writes every item of `list` (see `Transport.writelines`). */
  writelines(list: Iterable<BytesLike>): void {
    this.#transport.writelines(list);
  }

  /** Shuts down the write side once the buffer is flushed. */
  writeEof(): void {
    this.#transport.writeEof();
  }

  /** Whether `writeEof` is supported. */
  canWriteEof(): boolean {
    return this.#transport.canWriteEof();
  }

  /**
   * Upgrades this connection to TLS (STARTTLS), asyncio's `StreamWriter.start_tls`: drains, runs
   * the handshake (the server side on a `startServer` connection), then reads and writes go
   * through TLS. Rejects with a coded error (`ERR_TLS_CERT_ALTNAME_INVALID`, ...) and closes the
   * connection when the handshake or verification fails.
   */
  async startTls(sslContext: TlsContext | TlsOptions | true, options: Omit<WrapTlsOptions, 'serverSide'> = {}): Promise<void> {
    if (options === null || typeof options !== 'object') throw invalidArgType('options', 'an object', options);
    // serverSide is this connection's (it would be overridden): refused with the unknown keys.
    checkOptionKeys(options, START_TLS_KEYS);
    await this.drain();
    const transport = await this.#loop.startTls(this.#transport, this.#protocol, sslContext, { ...options, serverSide: this.#protocol.serverSide });
    this.#transport = transport;
    this.#reader?.replaceTransport(transport);
  }

  /** Closes the transport (buffered data is flushed first); then `await writer.waitClosed()`. */
  close(): void {
    this.#transport.close();
  }

  /** Whether the transport is closing or closed. */
  isClosing(): boolean {
    return this.#transport.isClosing();
  }

  /** Resolves once the connection is gone; rejects with the error that ended it, if any. */
  waitClosed(): Future<void> {
    return this.#protocol.closeWaiter();
  }

  /** `transport.getExtraInfo(name, defaultValue)`: `'peername'`, `'sockname'`, `'socket'`, ... */
  getExtraInfo(name: string, defaultValue?: unknown): unknown {
    return this.#transport.getExtraInfo(name, defaultValue);
  }

  /**
   * Waits until it is appropriate to write more: resolves at once unless the transport's buffer
   * is over its high-water mark. Rejects with the reader's exception if it has one (the error that
   * ended the connection), and with `ECONNRESET` ('Connection lost') once the connection is gone;
   * when the transport is closing it first gives up one loop iteration so `connectionLost` can
   * run. Any number of `drain()` calls may wait at once.
   */
  drain(): Future<void> {
    const exc = this.#reader?.exception();
    if (exc !== undefined) {
      const failed = this.#loop.createFuture<void>();
      failed.setException(exc);
      return failed;
    }
    if (!this.#transport.isClosing()) return this.#protocol.drainHelper();
    const future = this.#loop.createFuture<void>();
    this.#loop.callSoon(() => this.#protocol.drainInto(future));
    return future;
  }

  /**
   * `await using writer = ...`: closes and waits until the connection is gone. The error that
   * ended the connection, if any, is not rethrown here (reads and `drain()` report it).
   */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    try {
      await this.waitClosed();
    } catch {
      // reported by the reader and drain()
    }
  }

  /** `<StreamWriter transport=...>`. */
  toString(): string {
    return `<StreamWriter transport=${String(this.#transport)}${this.#reader ? ` reader=${this.#reader}` : ''}>`;
  }
}

/**
 * Protocols and the transport interfaces, asyncio's `asyncio.protocols` and `asyncio.transports`
 * (python-anchor.md section 5). This module is an interface: it imports nothing of ours at run
 * time. The implementations live in `transports.ts` (sockets, pipes, datagrams) and are made by
 * the loop's `createServer`, `createConnection`, `createDatagramEndpoint`, ... methods.
 *
 * A protocol is any object with the callbacks below; subclassing these base classes is the easy
 * way to get no-op defaults. Which read path a transport uses is decided by duck typing, as
 * asyncio decides it by `isinstance`: an object with a `getBuffer` method is a buffered protocol.
 *
 * Call order, guaranteed by every transport:
 * - stream: `connectionMade` `dataReceived`* `eofReceived`? `connectionLost` (exactly once, last);
 * - buffered: `connectionMade` (`getBuffer` `bufferUpdated`?)* `eofReceived`? `connectionLost`;
 * - datagram: `connectionMade` (`datagramReceived` | `errorReceived`)* `connectionLost`.
 * `pauseWriting`/`resumeWriting` alternate, starting with `pauseWriting`.
 * @packageDocumentation
 */
import type { Address, SocketAddress } from '../socket';

/** Bytes a transport accepts: a Buffer, any TypedArray or DataView, or a string (sent as UTF-8). */
export type BytesLike = ArrayBufferView | string;

/** What every transport has. */
export interface BaseTransport {
  /**
   * Extra information about the transport: `'socket'` (the muxloop `Socket`), `'sockname'`,
   * `'peername'`, `'pipe'` (pipe transports). `defaultValue` (undefined) when unknown.
   */
  getExtraInfo(name: string, defaultValue?: unknown): unknown;
  /** True once the transport is closing or closed (`close`, `abort`, a fatal error). */
  isClosing(): boolean;
  /**
   * Closes the transport: reading stops at once; buffered data is flushed first, then
   * `protocol.connectionLost(undefined)` runs. Idempotent.
   */
  close(): void;
  /** Replaces the protocol (later callbacks go to `protocol`). */
  setProtocol(protocol: BaseProtocol): void;
  /** The current protocol. */
  getProtocol(): BaseProtocol;
}

/** The reading half of a stream transport. */
export interface ReadTransport extends BaseTransport {
  /** True unless reading is paused (or the transport is closing). */
  isReading(): boolean;
  /** Stops calling `dataReceived` until `resumeReading`. Idempotent. */
  pauseReading(): void;
  /** Undoes `pauseReading`. Idempotent. */
  resumeReading(): void;
}

/** The writing half of a stream transport. */
export interface WriteTransport extends BaseTransport {
  /**
   * Sets the write-buffer water marks in bytes. Defaults: `high` 64 KiB, `low` `high / 4`; with
   * only `low`, `high` is `4 * low`. `protocol.pauseWriting()` is called once when the buffer goes
   * above `high`, `resumeWriting()` once when it falls to `low` or below. `high < low` or a
   * negative value is a `RangeError`.
   */
  setWriteBufferLimits(high?: number, low?: number): void;
  /** `[low, high]`. */
  getWriteBufferLimits(): [low: number, high: number];
  /** Bytes buffered, not yet taken by the kernel. */
  getWriteBufferSize(): number;
  /**
   * Writes `data` without blocking: tries the socket at once and buffers only what the kernel did
   * not take. Empty data is a no-op. What is buffered is copied, so the caller may reuse `data`
   * (a `BufferedProtocol`'s receive buffer, say) as soon as `write` returns.
   */
  write(data: BytesLike): void;
  /** Writes every item of `list`, gathered into as few syscalls as possible (`sendmsg`). */
  writelines(list: Iterable<BytesLike>): void;
  /** Shuts down the write side once the buffer is flushed; `write` after it throws. */
  writeEof(): void;
  /** Whether `writeEof` is supported (true for sockets and pipes). */
  canWriteEof(): boolean;
  /** Closes at once, dropping buffered data; `connectionLost(undefined)` follows. */
  abort(): void;
}

/** A bidirectional stream transport (TCP, Unix stream socket). */
export interface Transport extends ReadTransport, WriteTransport {}

/** A datagram transport (UDP, Unix datagram socket). */
export interface DatagramTransport extends BaseTransport {
  /**
   * Sends one datagram to `addr` (on a connected endpoint: omit it, or give the remote address).
   * Never blocks: what the kernel refuses with EAGAIN is queued; other OS errors go to
   * `protocol.errorReceived`.
   */
  sendto(data: BytesLike, addr?: Address): void;
  /** Closes at once, dropping queued datagrams. */
  abort(): void;
  /** Bytes queued (plus 8 per queued datagram, as asyncio counts). */
  getWriteBufferSize(): number;
}

/** Callbacks every protocol has. All are optional on a plain object. */
export class BaseProtocol {
  /** The connection is made; `transport` is the channel to write to. */
  connectionMade(_transport: BaseTransport): void {}

  /**
   * The connection is gone: `exc` is undefined for a clean EOF, `close()` or `abort()`, or the
   * error that ended it (an `Error` with `code` 'ECONNRESET', ...). Called exactly once, last.
   */
  connectionLost(_exc: Error | undefined): void {}

  /** The transport's write buffer went above its high-water mark: stop writing. */
  pauseWriting(): void {}

  /** The buffer drained to the low-water mark: writing may resume. */
  resumeWriting(): void {}
}

/** A stream protocol: data arrives as Buffers. */
export class Protocol extends BaseProtocol {
  /**
   * Some bytes arrived. The Buffer is the protocol's to keep (the transport does not reuse it).
   */
  dataReceived(_data: Buffer): void {}

  /**
   * The peer shut down its write side. Return true to keep the connection half-open (you can
   * still write, then `close()`); anything else closes the transport.
   */
  eofReceived(): boolean | void {}
}

/**
 * A stream protocol that owns its receive buffer: the kernel writes straight into it, with no
 * copy and no allocation per read.
 */
export class BufferedProtocol extends BaseProtocol {
  /**
   * Returns a non-empty writable buffer for the next read (`sizeHint` is the size the transport
   * would like, -1 for any). An empty buffer is a fatal error.
   */
  getBuffer(_sizeHint: number): ArrayBufferView {
    throw new Error('BufferedProtocol.getBuffer() must be implemented');
  }

  /** `nbytes` bytes were written at the start of the buffer `getBuffer` returned. */
  bufferUpdated(_nbytes: number): void {}

  /** As `Protocol.eofReceived`. */
  eofReceived(): boolean | void {}
}

/** A datagram protocol. */
export class DatagramProtocol extends BaseProtocol {
  /** One datagram arrived from `addr`. */
  datagramReceived(_data: Buffer, _addr: SocketAddress): void {}

  /**
   * A send or receive failed with an OS error (`ECONNREFUSED` after an ICMP port unreachable,
   * ...). The transport stays open.
   */
  errorReceived(_exc: Error): void {}
}

/** Makes a protocol per connection, as asyncio's `protocol_factory` (a class there, a function here). */
export type ProtocolFactory<P extends BaseProtocol = BaseProtocol> = () => P;

/**
 * The selector transports, CPython's `selector_events._SelectorSocketTransport`,
 * `_SelectorDatagramTransport` and `unix_events._UnixReadPipeTransport` /
 * `_UnixWritePipeTransport` (python-anchor.md section 5.2). The loop methods in `servers.ts`
 * make them; users only see the interfaces of `protocols.ts`.
 *
 * Shared rules, asyncio's:
 * - The constructor schedules `connectionMade` with `callSoon`, then the reader, then the waiter
 *   (so `createConnection` resolves after `connectionMade` ran).
 * - `connectionLost` runs through `callSoon`, exactly once and last; after it the fd is closed and
 *   no watch is left on it.
 * - An exception from a protocol's data callbacks, or an OS error other than a connection reset,
 *   goes to the loop's exception handler and force-closes the transport with `connectionLost(exc)`.
 *   ECONNRESET, EPIPE, ECONNABORTED and ESHUTDOWN close it the same way but are not reported
 *   (asyncio logs them at debug level only).
 * - Writes after the connection is lost are dropped silently; the 5th one emits one process
 *   warning per transport (`MUXLOOP_WRITE_AFTER_CLOSE`), as asyncio logs "socket.send() raised
 *   exception." from its 5th (reliability.md E6).
 * - `write` never keeps a reference to the caller's buffer: what the kernel does not take at once
 *   is copied (the direct send copies nothing). asyncio copies too; in JS every Buffer is mutable.
 *
 * Read path: a `Protocol` gets a fresh Buffer per read, copied out of one 256 KiB scratch buffer
 * shared by every transport of this thread, so a 64-byte message costs a 64-byte allocation (from
 * Node's pool), not 256 KiB. A `BufferedProtocol` (duck-typed: it has `getBuffer`) is read into
 * directly, with no copy.
 * @packageDocumentation
 */
import { fstatSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { codedError, errnoError, invalidArgType, outOfRange } from '../../core/errors';
import type { Future } from '../../tasks/futures';
import type { SelectorEventLoop } from '../selector_loop';
import { binding } from '../../core/native';
import type {
  BaseProtocol,
  BaseTransport,
  BufferedProtocol,
  BytesLike,
  DatagramProtocol,
  DatagramTransport,
  Protocol,
  Transport,
  WriteTransport,
} from '../protocols';
import { fileobjToFd } from '../../selectors';
import {
  AF_INET,
  AF_INET6,
  type Address,
  IPPROTO_TCP,
  SHUT_WR,
  SOCK_STREAM,
  type Socket,
  type SocketAddress,
  TCP_NODELAY,
} from '../../socket';

const E = osConstants.errno;

/**
 * Bytes per read. asyncio's figure; with the copy-out design it costs 256 KiB once per thread, and
 * bulk transfers make 4x fewer syscalls than with 64 KiB.
 */
export const MAX_READ_SIZE = 256 * 1024;
/** Dropped writes after which one warning is emitted (asyncio's LOG_THRESHOLD_FOR_CONNLOST_WRITES). */
const LOG_THRESHOLD_FOR_CONNLOST_WRITES = 5;
const DEFAULT_HIGH = 64 * 1024;

let scratchBuffer: Buffer | undefined;
function scratch(): Buffer {
  return (scratchBuffer ??= Buffer.allocUnsafe(MAX_READ_SIZE));
}

/** Errors that end a connection normally enough not to be reported (asyncio's _FATAL_ERROR_IGNORE). */
const QUIET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ESHUTDOWN']);

function isQuietError(error: unknown): boolean {
  return QUIET_CODES.has((error as { code?: string } | null)?.code as string);
}

function isOsError(error: unknown): boolean {
  return error instanceof Error && typeof (error as { errno?: unknown }).errno === 'number' && typeof (error as { syscall?: unknown }).syscall === 'string';
}

/** The bytes of `data` as a Uint8Array (strings as UTF-8), without copying views. */
export function toBytes(data: unknown, name = 'data'): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw invalidArgType(name, 'a Buffer, TypedArray, DataView or string', data);
}

function checkLimit(value: unknown, name: string): number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!Number.isSafeInteger(value) || value < 0) throw outOfRange(name, 'an integer >= 0', value);
  return value;
}

/** The high/low pair asyncio's `_set_write_buffer_limits` computes, checked. */
export function writeBufferLimits(high: unknown, low: unknown): [high: number, low: number] {
  let h = high === undefined || high === null ? undefined : checkLimit(high, 'high');
  let l = low === undefined || low === null ? undefined : checkLimit(low, 'low');
  if (h === undefined) h = l === undefined ? DEFAULT_HIGH : 4 * l;
  if (l === undefined) l = Math.floor(h / 4);
  if (h < l) {
    throw codedError('ERR_OUT_OF_RANGE', `high (${h}) must be >= low (${l}) must be >= 0`, RangeError);
  }
  return [h, l];
}

/** Extra info every transport knows. */
type Extra = Record<string, unknown>;

/**
 * What the three kinds of transports share: protocol, closing state, connectionLost scheduling,
 * the fatal-error policy and write flow control.
 * @internal
 */
export abstract class BaseSelectorTransport implements BaseTransport {
  /** @internal */ protected readonly loop: SelectorEventLoop;
  /** @internal */ protected readonly fd: number;
  /** @internal */ protected protocol: BaseProtocol;
  /** @internal */ protected readonly extra: Extra;
  /** @internal */ protected closing = false;
  /** @internal Non-zero once connectionLost is scheduled; counts dropped writes after that. */
  protected connLost = 0;
  /** @internal */ protected protocolPaused = false;
  /** @internal */ protected high = DEFAULT_HIGH;
  /** @internal */ protected low = DEFAULT_HIGH / 4;
  /** @internal */ protected bufferSize = 0;
  #warned = false;
  #server: ServerHooks | undefined;

  /** @internal */
  constructor(loop: SelectorEventLoop, fd: number, protocol: BaseProtocol, extra: Extra, server?: ServerHooks) {
    this.loop = loop;
    this.fd = fd;
    this.protocol = protocol;
    this.extra = extra;
    this.#server = server;
    server?.attach(this);
  }

  /** Extra information: `'socket'`, `'sockname'`, `'peername'`, `'pipe'`; `defaultValue` when unknown. */
  getExtraInfo(name: string, defaultValue?: unknown): unknown {
    return Object.prototype.hasOwnProperty.call(this.extra, name) ? this.extra[name] : defaultValue;
  }

  /** True once the transport is closing or closed. */
  isClosing(): boolean {
    return this.closing;
  }

  /** Replaces the protocol: later callbacks go to `protocol`. */
  setProtocol(protocol: BaseProtocol): void {
    if (protocol === null || typeof protocol !== 'object') throw invalidArgType('protocol', 'a protocol object', protocol);
    this.protocol = protocol;
  }

  /** The current protocol. */
  getProtocol(): BaseProtocol {
    return this.protocol;
  }

  /** Bytes buffered, not yet taken by the kernel. */
  getWriteBufferSize(): number {
    return this.bufferSize;
  }

  /** `[low, high]` water marks in bytes. */
  getWriteBufferLimits(): [low: number, high: number] {
    return [this.low, this.high];
  }

  /**
   * Sets the write-buffer water marks (defaults: high 64 KiB, low high/4; only `low`: high
   * 4*low). `high < low` or a negative value is a RangeError and changes nothing.
   */
  setWriteBufferLimits(high?: number, low?: number): void {
    [this.high, this.low] = writeBufferLimits(high, low);
    this.maybePauseProtocol();
  }

  abstract close(): void;

  /** Closes at once, dropping buffered data; `connectionLost(undefined)` follows. */
  abort(): void {
    this.forceClose(undefined);
  }

  /** Transport description for exception-handler contexts and debugging. */
  toString(): string {
    return `<${this.constructor.name} fd=${this.fd}${this.closing ? ' closing' : ''}>`;
  }

  /** @internal Calls `pauseWriting` once when the buffer goes strictly above high. */
  protected maybePauseProtocol(): void {
    if (this.bufferSize <= this.high || this.protocolPaused) return;
    this.protocolPaused = true;
    try {
      this.protocol.pauseWriting?.();
    } catch (exception) {
      this.report('protocol.pauseWriting() failed', exception);
    }
  }

  /** @internal Calls `resumeWriting` once when the buffer is back to low or below. */
  protected maybeResumeProtocol(): void {
    if (!this.protocolPaused || this.bufferSize > this.low) return;
    this.protocolPaused = false;
    try {
      this.protocol.resumeWriting?.();
    } catch (exception) {
      this.report('protocol.resumeWriting() failed', exception);
    }
  }

  /** @internal A write after the connection was lost: dropped, one warning at the 5th. */
  protected dropWrite(): void {
    if (this.connLost >= LOG_THRESHOLD_FOR_CONNLOST_WRITES && !this.#warned) {
      this.#warned = true;
      process.emitWarning(`${this}: write() called ${this.connLost} times after the connection was lost; the data is dropped`, {
        type: 'TransportWarning',
        code: 'MUXLOOP_WRITE_AFTER_CLOSE',
      });
    }
    this.connLost++;
  }

  /** @internal */
  protected report(message: string, exception: unknown): void {
    this.loop.callExceptionHandler({ message, exception, transport: this, protocol: this.protocol });
  }

  /** @internal Reports `exception` (unless it is a connection reset) and force-closes. */
  /**
   * @internal asyncio's start-up order, for every transport: `connectionMade`, then `addReader`
   * (the subclass's watch), then the creation waiter, each on its own callSoon.
   */
  protected startUp(addReader: () => void, waiter: Future<void> | undefined): void {
    this.loop.callSoon(callConnectionMade, this);
    this.loop.callSoon(addReader);
    if (waiter !== undefined) this.loop.callSoon(setResultUnlessCancelled, waiter);
  }

  /** @internal Watches the fd with `onReadable`; a refusal is a fatal error with `message`. */
  protected watchReadable(onReadable: () => void, message: string): void {
    try {
      this.loop.addReader(this.fd, onReadable);
    } catch (error) {
      this.fatalError(error, message);
    }
  }

  protected fatalError(exception: unknown, message: string): void {
    if (!isQuietError(exception)) this.report(message, exception);
    this.forceClose(exception as Error);
  }

  /** @internal Drops the buffer, stops watching and schedules connectionLost(exc), once. */
  protected forceClose(exc: Error | undefined): void {
    if (this.connLost) return;
    if (this.bufferSize > 0 || this.hasBuffered()) {
      this.clearBuffer();
      this.loop.removeWriter(this.fd);
    }
    if (!this.closing) {
      this.closing = true;
      this.loop.removeReader(this.fd);
    }
    this.scheduleConnectionLost(exc);
  }

  /** @internal */
  protected scheduleConnectionLost(exc: Error | undefined): void {
    this.connLost++;
    this.loop.callSoon(this.callConnectionLost, exc);
  }

  /** @internal Runs via callSoon: connectionLost(exc), then the fd is released. */
  protected readonly callConnectionLost = (exc: Error | undefined): void => {
    try {
      this.protocol.connectionLost?.(exc);
    } finally {
      // Every watch goes before the fd number can be reused.
      this.loop.removeReader(this.fd);
      this.loop.removeWriter(this.fd);
      this.closeResource();
      const server = this.#server;
      this.#server = undefined;
      server?.detach(this);
    }
  };

  /** @internal */ protected abstract hasBuffered(): boolean;
  /** @internal */ protected abstract clearBuffer(): void;
  /** @internal */ protected abstract closeResource(): void;
}

/** @internal What a transport tells the server that accepted it. */
export interface ServerHooks {
  attach(transport: BaseSelectorTransport): void;
  detach(transport: BaseSelectorTransport): void;
}

function setResultUnlessCancelled(waiter: Future<void>): void {
  if (!waiter.done()) waiter.setResult(undefined);
}

/** Fills in sockname/peername for a socket transport. */
function socketExtra(sock: Socket, extra: Extra): Extra {
  extra.socket = sock;
  if (!('sockname' in extra)) {
    try {
      extra.sockname = sock.getsockname();
    } catch {
      extra.sockname = undefined;
    }
  }
  if (!('peername' in extra)) {
    try {
      extra.peername = sock.getpeername();
    } catch {
      extra.peername = undefined;
    }
  }
  return extra;
}

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

  /** Watches for writability; false (after a fatal error) if the loop refused. */
  #startWriting(): boolean {
    try {
      this.loop.addWriter(this.fd, this.#onWritable);
      return true;
    } catch (error) {
      this.fatalError(error, 'Fatal error: cannot watch the socket for writing');
      return false;
    }
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

function writeAfterEof(): Error {
  return codedError('ERR_TRANSPORT_WRITE_AFTER_EOF', 'Cannot call write() after write_eof()');
}

// ----------------------------------------------------------------------------------------------
// Datagrams

function sameAddress(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) {
    // ['::1', 5000] equals ['::1', 5000, 0, 0]: flowinfo and scope only count when both have them.
    const n = Math.min(a.length, b.length);
    if (n < 2) return false;
    for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  if (typeof a === 'string' && b instanceof Uint8Array) return Buffer.from(a).equals(b);
  if (a instanceof Uint8Array && typeof b === 'string') return Buffer.from(b).equals(a);
  if (a instanceof Uint8Array && b instanceof Uint8Array) return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
  return false;
}

function isWouldBlock(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'EAGAIN' || code === 'EWOULDBLOCK' || code === 'EINTR';
}

/**
 * A datagram transport over a non-blocking datagram socket (UDP, Unix datagram).
 * @internal Made by `createDatagramEndpoint`; typed as `DatagramTransport` publicly.
 */
export class DatagramSocketTransport extends BaseSelectorTransport implements DatagramTransport {
  readonly #sock: Socket;
  /** The remote address of a connected endpoint (undefined otherwise). */
  readonly #address: Address | undefined;
  /** Connected with connect(2) (sends need no address); false for a broadcast endpoint. */
  readonly #connected: boolean;
  #buffer: Array<[Uint8Array, Address | undefined]> = [];

  /** @internal */
  constructor(loop: SelectorEventLoop, sock: Socket, protocol: BaseProtocol, address?: Address, waiter?: Future<void>, extra: Extra = {}) {
    super(loop, sock.fileno(), protocol, socketExtra(sock, extra));
    this.#sock = sock;
    this.#address = address;
    this.#connected = this.extra.peername !== undefined && this.extra.peername !== null;
    this.startUp(this.#addReader, waiter);
  }

  readonly #addReader = (): void => {
    if (this.closing) return;
    this.watchReadable(this.#onReadable, 'Fatal error: cannot watch the socket for reading');
  };

  readonly #onReadable = (): void => {
    if (this.connLost) return;
    const buf = scratch();
    let r: [number, SocketAddress] | null;
    try {
      r = this.#sock.recvfromIntoRaw(buf, 0, MAX_READ_SIZE);
    } catch (error) {
      if (isOsError(error)) this.#errorReceived(error as Error);
      else this.fatalError(error, 'Fatal read error on datagram transport');
      return;
    }
    if (r === null) return;
    const data = Buffer.allocUnsafe(r[0]);
    buf.copy(data, 0, 0, r[0]);
    try {
      (this.protocol as DatagramProtocol).datagramReceived(data, r[1]);
    } catch (error) {
      // asyncio lets this reach the loop's handler and keeps the endpoint open.
      this.report('Exception in protocol.datagramReceived()', error);
    }
  };

  #errorReceived(error: Error): void {
    try {
      (this.protocol as DatagramProtocol).errorReceived?.(error);
    } catch (exception) {
      this.report('Exception in protocol.errorReceived()', exception);
    }
  }

  /**
   * Sends one datagram (an empty one is allowed). On a connected endpoint `addr` must be omitted
   * or equal the remote address (else a TypeError, code `ERR_INVALID_ARG_VALUE`). EAGAIN queues
   * it; other OS errors go to `protocol.errorReceived` and the transport stays open.
   */
  sendto(data: BytesLike, addr?: Address): void {
    const bytes = toBytes(data);
    if (addr === null) addr = undefined;
    if (this.#address !== undefined) {
      if (addr !== undefined && !sameAddress(addr, this.#address)) {
        throw codedError(
          'ERR_INVALID_ARG_VALUE',
          `Invalid address: must be undefined or ${JSON.stringify(this.#address)} (the endpoint is connected)`,
          TypeError,
        );
      }
      addr = this.#connected ? undefined : this.#address;
    } else if (addr === undefined) {
      throw codedError('ERR_INVALID_ARG_VALUE', 'sendto() needs an address: the endpoint is not connected', TypeError);
    }
    if (this.connLost) {
      this.dropWrite();
      return;
    }
    if (this.#buffer.length === 0) {
      try {
        if (this.#send(bytes, addr)) return;
      } catch (error) {
        if (isOsError(error)) this.#errorReceived(error as Error);
        else throw error; // an argument error (a bad address): nothing changed
        return;
      }
      if (!this.#startWriting()) return;
    }
    this.#buffer.push([Buffer.from(bytes), addr]);
    this.bufferSize += bytes.byteLength + 8;
    this.maybePauseProtocol();
  }

  /** One send; false if it would block. */
  #send(bytes: Uint8Array, addr: Address | undefined): boolean {
    if (addr === undefined) return this.#sock.sendRaw(bytes, 0, bytes.byteLength) >= 0;
    try {
      this.#sock.sendto(bytes, addr);
      return true;
    } catch (error) {
      if (isWouldBlock(error)) return false;
      throw error;
    }
  }

  #startWriting(): boolean {
    try {
      this.loop.addWriter(this.fd, this.#onWritable);
      return true;
    } catch (error) {
      this.fatalError(error, 'Fatal error: cannot watch the socket for writing');
      return false;
    }
  }

  readonly #onWritable = (): void => {
    if (this.connLost) return;
    const buffer = this.#buffer;
    while (buffer.length > 0) {
      const [bytes, addr] = buffer[0];
      try {
        if (!this.#send(bytes, addr)) break;
      } catch (error) {
        buffer.shift();
        this.bufferSize -= bytes.byteLength + 8;
        if (isOsError(error)) {
          this.#errorReceived(error as Error);
          continue;
        }
        this.fatalError(error, 'Fatal write error on datagram transport');
        return;
      }
      buffer.shift();
      this.bufferSize -= bytes.byteLength + 8;
    }
    this.maybeResumeProtocol();
    if (buffer.length > 0) return;
    this.loop.removeWriter(this.fd);
    if (this.closing) this.scheduleConnectionLost(undefined);
  };

  /** Stops receiving now, sends what is queued, then `connectionLost(undefined)`. Idempotent. */
  close(): void {
    if (this.closing) return;
    this.closing = true;
    this.loop.removeReader(this.fd);
    if (this.#buffer.length === 0) this.scheduleConnectionLost(undefined);
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

// ----------------------------------------------------------------------------------------------
// Pipes

/** A pipe given to connectReadPipe/connectWritePipe: an fd, or an object with `fileno()`. */
export type PipeLike =
  | number
  | {
      /** The pipe's fd. */
      fileno(): number;
      /** Called when the transport closes the pipe, instead of closing the fd itself. */
      close?(): void;
    };

/** Checks that `pipe` is a pipe, socket or character device and makes it non-blocking. */
export function preparePipe(pipe: unknown): number {
  const fd = fileobjToFd(pipe);
  const stats = fstatSync(fd);
  if (!stats.isFIFO() && !stats.isSocket() && !stats.isCharacterDevice()) {
    throw codedError('ERR_INVALID_ARG_VALUE', 'Pipe transport is only for pipes, sockets and character devices', TypeError);
  }
  binding.setNonBlocking(fd, true);
  return fd;
}

function callConnectionMade(transport: BaseSelectorTransport): void {
  transport.getProtocol().connectionMade?.(transport);
}

function closePipe(pipe: PipeLike, fd: number): void {
  if (typeof pipe === 'object' && typeof pipe.close === 'function') pipe.close();
  else binding.close(fd);
}

/**
 * The read end of a pipe (asyncio's `_UnixReadPipeTransport`): `dataReceived` per read; EOF gives
 * `eofReceived` and then closes.
 * @internal Made by `connectReadPipe`.
 */
export class ReadPipeTransport extends BaseSelectorTransport implements Omit<Transport, keyof WriteTransport | 'close' | 'abort'> {
  readonly #pipe: PipeLike;
  #paused = false;

  /** @internal */
  constructor(loop: SelectorEventLoop, pipe: PipeLike, fd: number, protocol: BaseProtocol, waiter?: Future<void>) {
    super(loop, fd, protocol, { pipe });
    this.#pipe = pipe;
    this.startUp(this.#addReader, waiter);
  }

  readonly #addReader = (): void => {
    if (!this.isReading()) return;
    this.watchReadable(this.#onReadable, 'Fatal error: cannot watch the pipe for reading');
  };

  readonly #onReadable = (): void => {
    if (this.connLost) return;
    const buf = scratch();
    let n: number;
    try {
      n = binding.read(this.fd, buf, 0, MAX_READ_SIZE);
    } catch (error) {
      this.fatalError(error, 'Fatal read error on pipe transport');
      return;
    }
    if (n < 0) return;
    if (n === 0) {
      // EOF (EPOLLHUP with or without EPOLLIN): the reader goes at once, so it is delivered once.
      this.closing = true;
      this.loop.removeReader(this.fd);
      this.loop.callSoon(this.#eofReceived);
      this.scheduleConnectionLost(undefined);
      return;
    }
    const data = Buffer.allocUnsafe(n);
    buf.copy(data, 0, 0, n);
    try {
      (this.protocol as Protocol).dataReceived(data);
    } catch (error) {
      this.fatalError(error, 'Fatal error: protocol.dataReceived() call failed.');
    }
  };

  readonly #eofReceived = (): void => {
    try {
      (this.protocol as Protocol).eofReceived?.();
    } catch (error) {
      this.report('Fatal error: protocol.eofReceived() call failed.', error);
    }
  };

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

  /** Stops reading and closes the pipe; `connectionLost(undefined)` follows. Idempotent. */
  close(): void {
    if (!this.closing) this.forceClose(undefined);
  }

  /** @internal */ protected hasBuffered(): boolean {
    return false;
  }

  /** @internal */ protected clearBuffer(): void {}

  /** @internal */ protected closeResource(): void {
    closePipe(this.#pipe, this.fd);
  }
}

/**
 * The write end of a pipe (asyncio's `_UnixWritePipeTransport`). A reader is kept on the write
 * end: it becomes ready only when the read end is closed (EPOLLERR/POLLERR), which ends the
 * transport with `connectionLost(Error code 'EPIPE')` (reliability.md E15).
 * @internal Made by `connectWritePipe`.
 */
export class WritePipeTransport extends BaseSelectorTransport implements WriteTransport {
  readonly #pipe: PipeLike;
  #buffer: Uint8Array[] = [];
  #eof = false;

  /** @internal */
  constructor(loop: SelectorEventLoop, pipe: PipeLike, fd: number, protocol: BaseProtocol, waiter?: Future<void>) {
    super(loop, fd, protocol, { pipe });
    this.#pipe = pipe;
    this.startUp(this.#addReader, waiter);
  }

  readonly #addReader = (): void => {
    if (this.closing) return;
    this.watchReadable(this.#onPeerClosed, 'Fatal error: cannot watch the pipe');
  };

  readonly #onPeerClosed = (): void => {
    if (this.connLost) return;
    this.forceClose(errnoError(E.EPIPE, 'write', 'the read end of the pipe was closed'));
  };

  /** Writes `data` without blocking; what the pipe does not take is copied and buffered. */
  write(data: BytesLike): void {
    const bytes = toBytes(data);
    if (this.#eof) throw writeAfterEof();
    const length = bytes.byteLength;
    if (length === 0) return;
    if (this.connLost || this.closing) {
      this.dropWrite();
      return;
    }
    let n = 0;
    if (this.#buffer.length === 0) {
      try {
        n = binding.write(this.fd, bytes, 0, length);
      } catch (error) {
        this.fatalError(error, 'Fatal write error on pipe transport');
        return;
      }
      if (n === length) return;
      if (n < 0) n = 0;
      try {
        this.loop.addWriter(this.fd, this.#onWritable);
      } catch (error) {
        this.fatalError(error, 'Fatal error: cannot watch the pipe for writing');
        return;
      }
    }
    this.#buffer.push(Buffer.from(n === 0 ? bytes : bytes.subarray(n)));
    this.bufferSize += length - n;
    this.maybePauseProtocol();
  }

  /** Writes every item of `list` in order. */
  writelines(list: Iterable<BytesLike>): void {
    const views = Array.from(list as Iterable<unknown>, (item) => toBytes(item, 'list item'));
    if (this.#eof) throw writeAfterEof();
    const total = views.reduce((sum, v) => sum + v.byteLength, 0);
    if (total === 0) return;
    this.write(views.length === 1 ? views[0] : Buffer.concat(views));
  }

  readonly #onWritable = (): void => {
    if (this.connLost) return;
    const buffer = this.#buffer;
    const data = buffer.length === 1 ? buffer[0] : Buffer.concat(buffer);
    let n: number;
    try {
      n = binding.write(this.fd, data, 0, data.byteLength);
    } catch (error) {
      this.fatalError(error, 'Fatal write error on pipe transport');
      return;
    }
    if (n < 0) return;
    this.bufferSize -= n;
    this.#buffer = n === data.byteLength ? [] : [data.subarray(n)];
    this.maybeResumeProtocol();
    if (this.bufferSize > 0) return;
    this.loop.removeWriter(this.fd);
    if (this.closing || this.#eof) {
      this.closing = true;
      this.loop.removeReader(this.fd);
      this.scheduleConnectionLost(undefined);
    }
  };

  /** No more writes: closes the pipe after the buffer is flushed (the reader sees EOF). */
  writeEof(): void {
    if (this.#eof) return;
    this.#eof = true;
    if (this.connLost) return;
    if (this.bufferSize === 0) {
      this.closing = true;
      this.loop.removeReader(this.fd);
      this.scheduleConnectionLost(undefined);
    }
  }

  /** True. */
  canWriteEof(): boolean {
    return true;
  }

  /** Flushes, then closes the pipe; `connectionLost(undefined)` follows. Idempotent. */
  close(): void {
    if (this.closing || this.#eof) return;
    this.writeEof();
    this.closing = true;
  }

  /** @internal */ protected hasBuffered(): boolean {
    return this.#buffer.length > 0;
  }

  /** @internal */ protected clearBuffer(): void {
    this.#buffer = [];
    this.bufferSize = 0;
  }

  /** @internal */ protected closeResource(): void {
    closePipe(this.#pipe, this.fd);
  }
}

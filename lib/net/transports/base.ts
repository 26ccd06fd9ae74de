/**
 * The selector transports' shared base (`BaseSelectorTransport`) and helpers; one transport per
 * file beside it: `socket.ts`, `datagram.ts`, `pipes.ts`, `uring.ts` (the two stream socket
 * transports share `stream.ts` on top of this). The transports are CPython's `selector_events._SelectorSocketTransport`,
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
import { constants as osConstants } from 'node:os';
import { codedError, invalidArgType, outOfRange } from '../../core/errors';
import type { Future } from '../../tasks/futures';
import type { SelectorEventLoop } from '../selector_loop';
import type { BaseProtocol, BaseTransport, BytesLike } from '../protocols';
import type { Socket } from '../../socket';

/** @internal */
export const E = osConstants.errno;

/**
 * Bytes per read. asyncio's figure; with the copy-out design it costs 256 KiB once per thread, and
 * bulk transfers make 4x fewer syscalls than with 64 KiB.
 */
export const MAX_READ_SIZE = 256 * 1024;
/** @internal Dropped writes after which one warning is emitted (asyncio's LOG_THRESHOLD_FOR_CONNLOST_WRITES). */
export const LOG_THRESHOLD_FOR_CONNLOST_WRITES = 5;
/** @internal */
export const DEFAULT_HIGH = 64 * 1024;

let scratchBuffer: Buffer | undefined;
/** @internal */
export function scratch(): Buffer {
  return (scratchBuffer ??= Buffer.allocUnsafe(MAX_READ_SIZE));
}

/** @internal Errors that end a connection normally enough not to be reported (asyncio's _FATAL_ERROR_IGNORE). */
export const QUIET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ESHUTDOWN']);

/** @internal */
export function isQuietError(error: unknown): boolean {
  return QUIET_CODES.has((error as { code?: string } | null)?.code as string);
}

/** @internal */
export function isOsError(error: unknown): boolean {
  return error instanceof Error && typeof (error as { errno?: unknown }).errno === 'number' && typeof (error as { syscall?: unknown }).syscall === 'string';
}

/** The bytes of `data` as a Uint8Array (strings as UTF-8), without copying views. */
export function toBytes(data: unknown, name = 'data'): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw invalidArgType(name, 'a Buffer, TypedArray, DataView or string', data);
}

/** @internal */
export function checkLimit(value: unknown, name: string): number {
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

/** @internal Extra info every transport knows. */
export type Extra = Record<string, unknown>;

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

  /**
   * @internal Watches the fd with `onWritable`; false (after a fatal error with `message`) if the
   * loop refused.
   */
  protected watchWritable(onWritable: () => void, message: string): boolean {
    try {
      this.loop.addWriter(this.fd, onWritable);
      return true;
    } catch (error) {
      this.fatalError(error, message);
      return false;
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

/** @internal */
export function setResultUnlessCancelled(waiter: Future<void>): void {
  if (!waiter.done()) waiter.setResult(undefined);
}

/** @internal */
export function callConnectionMade(transport: BaseSelectorTransport): void {
  transport.getProtocol().connectionMade?.(transport);
}

/**
 * @internal `writelines`' argument (every stream transport's): the non-empty items as bytes and their total length, all
 * checked before anything is sent.
 */
export function gatherWrites(list: Iterable<BytesLike>): [views: Uint8Array[], total: number] {
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
  return [views, total];
}

/** Fills in sockname/peername for a socket transport. */
export function socketExtra(sock: Socket, extra: Extra): Extra {
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

/** @internal */
export function writeAfterEof(): Error {
  return codedError('ERR_TRANSPORT_WRITE_AFTER_EOF', 'Cannot call write() after write_eof()');
}

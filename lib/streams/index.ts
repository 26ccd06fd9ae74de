/**
 * Streams: asyncio's `asyncio.streams` (python-anchor.md section 5.3), the high-level API for
 * line- and message-oriented network code: `openConnection` gives a `[StreamReader,
 * StreamWriter]` pair, `startServer` calls back with one pair per accepted connection.
 *
 * Every read method, `drain()` and `waitClosed()` return a loop `Future`, so the same code works
 * in both coroutine styles: `await reader.readline()` in an async function, `yield
 * reader.readline()` in a generator task. Cancelling the Future (or the task waiting on it) gives
 * up the read; a result that a cancelled task never receives is put back at the front of the
 * buffer, so no byte is lost.
 *
 * Rules, asyncio's unless noted:
 * - `limit` (default 64 KiB) bounds what `readline`/`readuntil` buffer while looking for a
 *   separator. Above `2 * limit` buffered bytes, and while no read is waiting for more, the
 *   transport stops reading (`pauseReading`); a read that brings the buffer back to `limit` or
 *   less resumes it. A peer that sends faster than the app reads therefore costs at most about
 *   `2 * limit` plus one socket read of memory per connection.
 * - `read(-1)` reads to EOF and is unbounded, as in asyncio; `read(-1, { maxBytes })` fails with
 *   `LimitOverrunError` once more than `maxBytes` are buffered (the data stays buffered).
 * - `readline()` over the limit throws the `LimitOverrunError` itself (asyncio turns it into a
 *   `ValueError` with the same message) after discarding as CPython does: the line and its
 *   separator if the separator was found, else the whole buffer.
 * - Argument errors (`TypeError`/`RangeError`) and state errors are delivered through the
 *   returned Future, as a Python coroutine raises them when awaited.
 * - A waiting read is re-tried as each chunk is fed (asyncio re-tries when the waiting task
 *   resumes, by which time several chunks may have arrived). Results are the same; only which
 *   `LimitOverrunError` message a limit overrun reports can depend on how the bytes were split
 *   into reads, as it already does in asyncio. Replayed chunk by chunk, the outcomes match
 *   CPython's exactly (test/oracle/streamreader.py).
 * @packageDocumentation
 */
import { constants as osConstants } from 'node:os';
import { ChunkQueue } from '../core/chunk_queue';
import { codedError, type CodedError, describe, invalidArgType, outOfRange } from '../core/errors';
import type { Future } from '../tasks/futures';
import { getEventLoop, getRunningLoop, type SelectorEventLoop } from '../net/selector_loop';
import {
  type BaseProtocol,
  type BaseTransport,
  type BytesLike,
  Protocol,
  type ProtocolFactory,
  type Transport,
} from '../net/protocols';
import type { CreateConnectionOptions, CreateServerOptions, CreateUnixServerOptions, Server } from '../net/servers';
import type { Socket } from '../socket';
import { isGenerator, isThenable, resultDiscarded, type Task } from '../tasks/tasks';

/** asyncio's `_DEFAULT_LIMIT`: 64 KiB. */
const DEFAULT_LIMIT = 2 ** 16;
const EMPTY = Buffer.alloc(0);
const NEWLINE = Buffer.from('\n');

// -------------------------------------------------------------------------------------------------
// Errors

/**
 * EOF came before the read was complete (asyncio's `IncompleteReadError`). `partial` holds the
 * bytes read before EOF; `expected` is the size asked for (`undefined` for `readuntil`).
 */
export class IncompleteReadError extends Error {
  /** Always `'ERR_INCOMPLETE_READ'`. */
  readonly code = 'ERR_INCOMPLETE_READ';
  /** The bytes read before EOF (removed from the reader). */
  readonly partial: Buffer;
  /** The number of bytes expected, or `undefined` when reading up to a separator. */
  readonly expected: number | undefined;

  /** `'5 bytes read on a total of 10 expected bytes'`, as asyncio words it. */
  constructor(partial: Buffer, expected: number | undefined) {
    super(`${partial.length} bytes read on a total of ${expected === undefined ? 'undefined' : expected} expected bytes`);
    this.name = 'IncompleteReadError';
    this.partial = partial;
    this.expected = expected;
  }
}

/**
 * The buffer limit was reached while looking for a separator (asyncio's `LimitOverrunError`).
 * `consumed` is the number of bytes to consume to get past the problem.
 */
export class LimitOverrunError extends Error {
  /** Always `'ERR_LIMIT_OVERRUN'`. */
  readonly code = 'ERR_LIMIT_OVERRUN';
  /** How many bytes the caller should consume (`readexactly(consumed)`) to move on. */
  readonly consumed: number;

  /** `message` is asyncio's ('Separator is not found, and chunk exceed the limit', ...). */
  constructor(message: string, consumed: number) {
    super(message);
    this.name = 'LimitOverrunError';
    this.consumed = consumed;
  }
}

/** asyncio's `ConnectionResetError('Connection lost')`: code `'ECONNRESET'`. */
function connectionLostError(): CodedError & { errno: number } {
  const error = codedError('ECONNRESET', 'Connection lost') as CodedError & { errno: number };
  error.errno = osConstants.errno.ECONNRESET;
  return error;
}

// -------------------------------------------------------------------------------------------------
// StreamReader

/** What an attempt at a read returns when it must wait for more data. */
const WAIT: unique symbol = Symbol('wait for data');
type Attempt<T> = () => T | typeof WAIT;

interface PendingRead {
  future: Future<Buffer>;
  attempt: Attempt<Buffer>;
}

type Discardable = Future<Buffer> & { [resultDiscarded]?: () => void };

/** Options of `read(-1)`. */
export interface ReadOptions {
  /** With `n < 0`: fail with `LimitOverrunError` once more than this many bytes are buffered. */
  maxBytes?: number;
}

function toBuffer(data: unknown, name: string): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (typeof data === 'string') return Buffer.from(data);
  throw invalidArgType(name, 'a Buffer, TypedArray, DataView or string', data);
}

function checkSize(n: unknown, name: string): number {
  if (typeof n !== 'number') throw invalidArgType(name, 'an integer', n);
  if (!Number.isInteger(n)) throw outOfRange(name, 'an integer', n);
  return n;
}

/**
 * The reading half of a stream connection (asyncio's `StreamReader`): a buffer fed by the
 * protocol (`feedData`, `feedEof`, `setException`) and read by the app (`read`, `readline`,
 * `readuntil`, `readexactly`, `for await (const line of reader)`). One read at a time: a second
 * read while one waits for data fails with `ERR_CONCURRENT_READ`.
 *
 * ```ts
 * const [reader, writer] = await openConnection('127.0.0.1', port);
 * const status = await reader.readline();          // up to and including '\n'
 * const body = await reader.readexactly(length);   // or IncompleteReadError at EOF
 * ```
 */
export class StreamReader {
  readonly #limit: number;
  readonly #loop: SelectorEventLoop;
  readonly #buffer = new ChunkQueue();
  #eof = false;
  #exception: unknown = undefined;
  #transport: Transport | undefined;
  #paused = false;
  #pending: PendingRead | undefined;

  /**
   * A reader with a buffer limit of `limit` bytes (default 64 KiB; `<= 0` is a `RangeError`),
   * bound to `loop` (default: the running loop, else `getEventLoop()`).
   */
  constructor(limit: number = DEFAULT_LIMIT, loop?: SelectorEventLoop) {
    if (typeof limit !== 'number' || Number.isNaN(limit)) throw invalidArgType('limit', 'a number', limit);
    if (limit <= 0) throw outOfRange('limit', '> 0 (Limit cannot be <= 0)', limit);
    this.#limit = limit;
    this.#loop = loop ?? getEventLoop();
  }

  /** The buffer limit in bytes. */
  get limit(): number {
    return this.#limit;
  }

  /** Bytes buffered and not read yet. */
  get bufferSize(): number {
    return this.#buffer.size;
  }

  /** The exception set with `setException`, or `undefined`. */
  exception(): unknown {
    return this.#exception;
  }

  /** Makes every pending and later read fail with `exc` (the protocol calls it on a lost connection). */
  setException(exc: unknown): void {
    this.#exception = exc;
    const pending = this.#pending;
    this.#pending = undefined;
    if (pending !== undefined && !pending.future.done()) pending.future.setException(exc);
  }

  /** Sets the transport to pause and resume (once; a second call is `ERR_TRANSPORT_ALREADY_SET`). */
  setTransport(transport: Transport): void {
    if (this.#transport !== undefined) throw codedError('ERR_TRANSPORT_ALREADY_SET', 'Transport already set');
    this.#transport = transport;
  }

  /** Marks the end of the stream: waiting reads complete (with what is there, or fail). */
  feedEof(): void {
    this.#eof = true;
    this.#wake();
  }

  /** Whether EOF was fed and every byte has been read. */
  atEof(): boolean {
    return this.#eof && this.#buffer.size === 0;
  }

  /**
   * Adds bytes to the buffer. The Buffer is kept, not copied: do not modify it afterwards (a small
   * view of a much larger ArrayBuffer is copied, so it does not pin the large one). Throws
   * `ERR_STREAM_EOF` after `feedEof()`, `TypeError` for anything but bytes.
   */
  feedData(data: BytesLike): void {
    let chunk = toBuffer(data, 'data');
    if (this.#eof) throw codedError('ERR_STREAM_EOF', 'feedData() called after feedEof()');
    if (chunk.length === 0) return;
    if (chunk.buffer.byteLength > 2 * chunk.length + 8192) chunk = Buffer.from(chunk);
    this.#buffer.push(chunk);
    this.#wake();
    // While a read waits for more, asyncio's reader resumes the transport at once anyway
    // (_wait_for_data): pausing only makes sense when nobody is reading.
    if (this.#transport !== undefined && !this.#paused && this.#pending === undefined && this.#buffer.size > 2 * this.#limit) {
      this.#transport.pauseReading();
      this.#paused = true;
    }
  }

  /**
   * Reads up to `n` bytes. `n > 0`: waits for at least one byte and returns at most `n` (an empty
   * Buffer at EOF). `n == 0`: an empty Buffer. `n < 0` (the default): everything until EOF,
   * unbounded unless `options.maxBytes` is given (then `LimitOverrunError`, `consumed` being the
   * bytes buffered, once more than `maxBytes` are buffered; they stay buffered).
   */
  read(n = -1, options: ReadOptions = {}): Future<Buffer> {
    let maxBytes: number | undefined;
    try {
      checkSize(n, 'n');
      maxBytes = options?.maxBytes;
      if (maxBytes !== undefined) {
        checkSize(maxBytes, 'options.maxBytes');
        if (maxBytes < 0) throw outOfRange('options.maxBytes', '>= 0', maxBytes);
      }
    } catch (error) {
      return this.#failed(error);
    }
    return this.#start('read', () => {
      if (this.#exception !== undefined) throw this.#exception;
      if (n === 0) return EMPTY;
      const size = this.#buffer.size;
      if (n < 0) {
        if (maxBytes !== undefined && size > maxBytes) {
          throw new LimitOverrunError(`read() exceeded maxBytes (${maxBytes})`, size);
        }
        return this.#eof ? this.#consume(size) : WAIT;
      }
      if (size === 0) return this.#eof ? EMPTY : WAIT;
      return this.#consume(Math.min(n, size));
    });
  }

  /**
   * Reads one line, up to and including `'\n'`. At EOF returns what is left (the partial last
   * line, or an empty Buffer). A line longer than `limit` fails with `LimitOverrunError` after
   * discarding it (through its `'\n'` if that arrived, else the whole buffer).
   */
  readline(): Future<Buffer> {
    const until = this.#untilAttempt([NEWLINE]);
    return this.#start('readline', () => {
      try {
        return until();
      } catch (error) {
        if (error instanceof IncompleteReadError) return error.partial;
        if (error instanceof LimitOverrunError) {
          if (this.#buffer.startsWith(NEWLINE, error.consumed)) this.#buffer.take(error.consumed + NEWLINE.length);
          else this.#buffer.clear();
          this.#maybeResume();
        }
        throw error;
      }
    });
  }

  /**
   * Reads up to and including `separator` (default `'\n'`), or the first of several separators
   * to complete (Python 3.13: the shortest result wins). An empty separator or list is a
   * `RangeError`. No separator within `limit` bytes: `LimitOverrunError('Separator is not found,
   * and chunk exceed the limit', consumed)`; found past the limit: `LimitOverrunError('Separator
   * is found, but chunk is longer than limit', consumed)`; the data stays buffered either way. EOF
   * first: `IncompleteReadError(partial, undefined)`, the buffer emptied.
   */
  readuntil(separator: BytesLike | readonly BytesLike[] = NEWLINE): Future<Buffer> {
    let separators: Buffer[];
    try {
      if (Array.isArray(separator)) {
        if (separator.length === 0) {
          throw codedError('ERR_OUT_OF_RANGE', 'Separator should contain at least one element', RangeError);
        }
        separators = separator.map((s, i) => toBuffer(s, `separator[${i}]`)).sort((a, b) => a.length - b.length);
      } else {
        separators = [toBuffer(separator, 'separator')];
      }
      if (separators[0].length === 0) {
        throw codedError('ERR_OUT_OF_RANGE', 'Separator should be at least one-byte string', RangeError);
      }
    } catch (error) {
      return this.#failed(error);
    }
    return this.#start('readuntil', this.#untilAttempt(separators));
  }

  /**
   * Reads exactly `n` bytes. `n < 0` is a `RangeError`; EOF first: `IncompleteReadError(partial,
   * n)` ('5 bytes read on a total of 10 expected bytes'), the buffer emptied.
   */
  readexactly(n: number): Future<Buffer> {
    try {
      checkSize(n, 'n');
      if (n < 0) throw codedError('ERR_OUT_OF_RANGE', 'readexactly size can not be less than zero', RangeError);
    } catch (error) {
      return this.#failed(error);
    }
    return this.#start('readexactly', () => {
      if (this.#exception !== undefined) throw this.#exception;
      if (n === 0) return EMPTY;
      if (this.#buffer.size >= n) return this.#consume(n);
      if (this.#eof) throw new IncompleteReadError(this.#buffer.takeAll(), n);
      return WAIT;
    });
  }

  /** `for await (const line of reader)`: `readline()` until it returns an empty Buffer. */
  [Symbol.asyncIterator](): AsyncIterableIterator<Buffer> {
    const iterator: AsyncIterableIterator<Buffer> = {
      next: async (): Promise<IteratorResult<Buffer>> => {
        const line = await this.readline();
        return line.length === 0 ? { done: true, value: undefined } : { done: false, value: line };
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  /** `<StreamReader 12 bytes eof paused>`. */
  toString(): string {
    const parts = [`${this.#buffer.size} bytes`];
    if (this.#eof) parts.push('eof');
    if (this.#limit !== DEFAULT_LIMIT) parts.push(`limit=${this.#limit}`);
    if (this.#pending !== undefined) parts.push('waiter');
    if (this.#exception !== undefined) parts.push(`exception=${describe(this.#exception)}`);
    if (this.#paused) parts.push('paused');
    return `<StreamReader ${parts.join(' ')}>`;
  }

  /**
   * readuntil's search (CPython's, verbatim in spirit): `offset` is how far the buffer is known
   * to hold no separator, so each byte is searched once however the data was chunked.
   */
  #untilAttempt(separators: Buffer[]): Attempt<Buffer> {
    const minLength = separators[0].length;
    const maxLength = separators[separators.length - 1].length;
    let offset = 0;
    return () => {
      if (this.#exception !== undefined) throw this.#exception;
      const size = this.#buffer.size;
      if (size - offset >= minLength) {
        let matchStart = -1;
        let matchEnd = -1;
        for (const separator of separators) {
          const found = this.#buffer.indexOf(separator, offset);
          if (found >= 0 && (matchEnd < 0 || found + separator.length < matchEnd)) {
            matchStart = found;
            matchEnd = found + separator.length;
          }
        }
        if (matchEnd >= 0) {
          if (matchStart > this.#limit) {
            throw new LimitOverrunError('Separator is found, but chunk is longer than limit', matchStart);
          }
          return this.#consume(matchEnd);
        }
        offset = Math.max(0, size + 1 - maxLength);
        if (offset > this.#limit) throw new LimitOverrunError('Separator is not found, and chunk exceed the limit', offset);
      }
      // A complete separator may have come with the last chunk before EOF: checked above first.
      if (this.#eof) throw new IncompleteReadError(this.#buffer.takeAll(), undefined);
      return WAIT;
    };
  }

  #consume(n: number): Buffer {
    const data = this.#buffer.take(n);
    this.#maybeResume();
    return data;
  }

  #maybeResume(): void {
    if (this.#paused && this.#buffer.size <= this.#limit) {
      this.#paused = false;
      this.#transport?.resumeReading();
    }
  }

  #failed(error: unknown): Future<Buffer> {
    const future = this.#loop.createFuture<Buffer>();
    future.setException(error);
    return future;
  }

  /** Starts a read: runs `attempt` now, and again on each feed until it no longer waits. */
  #start(name: string, attempt: Attempt<Buffer>): Future<Buffer> {
    const future = this.#loop.createFuture<Buffer>();
    if (this.#pending !== undefined && !this.#pending.future.done()) {
      future.setException(
        codedError('ERR_CONCURRENT_READ', `${name}() called while another coroutine is already waiting for incoming data`),
      );
      return future;
    }
    this.#pending = undefined;
    this.#run(future, attempt);
    return future;
  }

  #run(future: Future<Buffer>, attempt: Attempt<Buffer>): void {
    let outcome: Buffer | typeof WAIT;
    try {
      outcome = attempt();
    } catch (error) {
      future.setException(error);
      return;
    }
    if (outcome === WAIT) {
      this.#pending = { future, attempt };
      if (this.#paused) {
        this.#paused = false;
        this.#transport?.resumeReading();
      }
      return;
    }
    // If the task awaiting this is cancelled before it resumes, it never sees the bytes: they go
    // back to the front of the buffer (asyncio keeps them because its read had not run yet).
    if (outcome.length > 0) (future as Discardable)[resultDiscarded] = () => this.#buffer.unshift(outcome as Buffer);
    future.setResult(outcome);
  }

  #wake(): void {
    const pending = this.#pending;
    if (pending === undefined) return;
    this.#pending = undefined;
    if (!pending.future.done()) this.#run(pending.future, pending.attempt);
  }
}

// -------------------------------------------------------------------------------------------------
// Protocols

/**
 * A protocol with the flow control `StreamWriter.drain()` needs (asyncio's `FlowControlMixin`):
 * `pauseWriting`/`resumeWriting` from the transport open and close a gate, `drainHelper()` waits
 * at it, and `connectionLost` wakes every waiter (with the error, if there is one).
 */
export class FlowControlProtocol extends Protocol {
  /** The loop the drain Futures belong to. */
  protected readonly loop: SelectorEventLoop;
  #paused = false;
  #connectionLost = false;
  #drainWaiters: Array<Future<void>> = [];

  /** Bound to `loop` (default: the running loop, else `getEventLoop()`). */
  constructor(loop?: SelectorEventLoop) {
    super();
    this.loop = loop ?? getEventLoop();
  }

  /** The transport's buffer went over its high-water mark. */
  override pauseWriting(): void {
    this.#paused = true;
  }

  /** The transport's buffer drained to its low-water mark: wakes every `drain()`. */
  override resumeWriting(): void {
    this.#paused = false;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const waiter of waiters) if (!waiter.done()) waiter.setResult(undefined);
  }

  /** Wakes every paused `drain()`: with `exc`, or normally for a clean close. */
  override connectionLost(exc: Error | undefined): void {
    this.#connectionLost = true;
    if (!this.#paused) return;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const waiter of waiters) {
      if (waiter.done()) continue;
      if (exc === undefined) waiter.setResult(undefined);
      else waiter.setException(exc);
    }
  }

  /**
   * A Future that resolves once writing may go on: at once unless paused; `ECONNRESET`
   * ('Connection lost') once the connection is gone. Any number may wait.
   */
  drainHelper(): Future<void> {
    const future = this.loop.createFuture<void>();
    this.drainInto(future);
    return future;
  }

  /** @internal `drainHelper`, settling a Future the caller made. */
  drainInto(future: Future<void>): void {
    if (future.done()) return;
    if (this.#connectionLost) future.setException(connectionLostError());
    else if (!this.#paused) future.setResult(undefined);
    else {
      if (this.#drainWaiters.length > 16) this.#drainWaiters = this.#drainWaiters.filter((w) => !w.done());
      this.#drainWaiters.push(future);
    }
  }
}

/**
 * Called for each connection a stream server accepts. It may be an async function or a generator
 * function (run as a task, which ends the connection with `transport.close()` when it fails or is
 * cancelled; a failure goes to the loop's exception handler), or a plain function (its result, if
 * it is a Promise or a generator object, is run as a task the same way).
 */
export type ClientConnectedCallback = (reader: StreamReader, writer: StreamWriter) => unknown;

const CORO_FUNCTION_TAGS = new Set(['[object AsyncFunction]', '[object GeneratorFunction]']);

/**
 * The protocol between a transport and a `StreamReader` (asyncio's `StreamReaderProtocol`): data
 * and EOF go to the reader, a lost connection becomes the reader's exception; for servers it
 * makes the `StreamWriter` and calls the client-connected callback.
 */
export class StreamReaderProtocol extends FlowControlProtocol {
  #reader: StreamReader | undefined;
  #clientConnected: ClientConnectedCallback | undefined;
  #task: Task | undefined;
  readonly #closed: Future<void>;

  /** Feeds `reader`; with `clientConnected`, calls it with the reader and a new writer once connected. */
  constructor(reader: StreamReader | undefined, clientConnected?: ClientConnectedCallback, loop?: SelectorEventLoop) {
    super(loop);
    if (clientConnected !== undefined && typeof clientConnected !== 'function') {
      throw invalidArgType('clientConnected', 'a function', clientConnected);
    }
    this.#reader = reader;
    this.#clientConnected = clientConnected;
    this.#closed = this.loop.createFuture<void>();
  }

  /** Gives the reader its transport and, on a server, runs the client-connected callback. */
  override connectionMade(transport: BaseTransport): void {
    const stream = transport as Transport;
    this.#reader?.setTransport(stream);
    const callback = this.#clientConnected;
    if (callback === undefined) return;
    const reader = this.#reader as StreamReader;
    const writer = new StreamWriter(stream, this, reader, this.loop);
    let task: Task | undefined;
    try {
      if (CORO_FUNCTION_TAGS.has(Object.prototype.toString.call(callback))) {
        // Run the function itself as the task's coroutine, so its awaits are the task's.
        task = this.loop.createTask(callback, { args: [reader, writer] });
      } else {
        const result = callback(reader, writer);
        if (isGenerator(result) || isThenable(result)) task = this.loop.createTask(result as Generator);
      }
    } catch (error) {
      this.#clientFailed(error, stream);
      return;
    }
    if (task === undefined) return;
    this.#task = task;
    task.addDoneCallback((done) => {
      if (this.#task === done) this.#task = undefined;
      if (done.cancelled()) {
        stream.close();
        return;
      }
      const error = done.exception();
      if (error !== undefined) this.#clientFailed(error, stream);
    });
  }

  /** Feeds the reader. */
  override dataReceived(data: Buffer): void {
    this.#reader?.feedData(data);
  }

  /** Feeds EOF to the reader and keeps the transport open for writing (the app closes it). */
  override eofReceived(): boolean {
    this.#reader?.feedEof();
    return true;
  }

  /** EOF (or the error) to the reader, resolves `waitClosed()`, wakes the drainers. */
  override connectionLost(exc: Error | undefined): void {
    const reader = this.#reader;
    if (reader !== undefined) {
      if (exc === undefined) reader.feedEof();
      else reader.setException(exc);
    }
    if (!this.#closed.done()) {
      if (exc === undefined) this.#closed.setResult(undefined);
      else {
        this.#closed.setException(exc);
        this.#closed.exception(); // seen by the reader; not "never retrieved" if nobody waits
      }
    }
    super.connectionLost(exc);
    this.#reader = undefined;
  }

  /** @internal The Future `StreamWriter.waitClosed()` returns. */
  closeWaiter(): Future<void> {
    return this.#closed;
  }

  #clientFailed(error: unknown, transport: Transport): void {
    this.loop.callExceptionHandler({ message: 'Unhandled exception in client_connected_cb', exception: error, transport });
    transport.close();
  }
}

// -------------------------------------------------------------------------------------------------
// StreamWriter

/**
 * The writing half of a stream connection (asyncio's `StreamWriter`): `write` never blocks and
 * buffers what the kernel does not take; `await writer.drain()` waits while that buffer is over
 * the transport's high-water mark (64 KiB by default), which is what keeps a fast producer's
 * memory bounded.
 */
export class StreamWriter {
  readonly #transport: Transport;
  readonly #protocol: StreamReaderProtocol;
  readonly #reader: StreamReader | undefined;
  readonly #loop: SelectorEventLoop;

  /** Normally made by `openConnection`/`startServer`. */
  constructor(transport: Transport, protocol: StreamReaderProtocol, reader: StreamReader | undefined, loop: SelectorEventLoop) {
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

// -------------------------------------------------------------------------------------------------
// openConnection, startServer

/** What every stream function takes besides its loop method's options. */
export interface StreamOptions {
  /** The `StreamReader` buffer limit (default 64 KiB). */
  limit?: number;
  /** The loop (default: the running loop; without one the call throws `ERR_NO_RUNNING_LOOP`). */
  loop?: SelectorEventLoop;
}

/** Options of `openConnection`: `limit`, `loop`, and `loop.createConnection`'s options. */
export type OpenConnectionOptions = StreamOptions & CreateConnectionOptions;
/** Options of `startServer`: `limit`, `loop`, and `loop.createServer`'s options. */
export type StartServerOptions = StreamOptions & CreateServerOptions;
/** Options of `openUnixConnection`: `limit`, `loop`, and `loop.createUnixConnection`'s options. */
export type OpenUnixConnectionOptions = StreamOptions & {
  /** An already connected Unix socket to use instead of connecting to `path`. */
  sock?: Socket;
};
/** Options of `startUnixServer`: `limit`, `loop`, and `loop.createUnixServer`'s options. */
export type StartUnixServerOptions = StreamOptions & CreateUnixServerOptions;

function splitOptions<O extends StreamOptions>(options: O | undefined): { limit: number; rest: Omit<O, 'limit' | 'loop'> } {
  const { limit = DEFAULT_LIMIT, loop: _loop, ...rest } = options ?? ({} as O);
  // The reader would check it too, but only once connected: fail before connecting.
  if (typeof limit !== 'number' || Number.isNaN(limit)) throw invalidArgType('options.limit', 'a number', limit);
  if (limit <= 0) throw outOfRange('options.limit', '> 0 (Limit cannot be <= 0)', limit);
  return { limit, rest };
}

/** Settles `outer` from `inner` through `map`; cancelling `outer` cancels `inner`. */
function chain<A, B>(loop: SelectorEventLoop, inner: Future<A>, map: (value: A) => B): Future<B> {
  const outer = loop.createFuture<B>();
  inner.addDoneCallback(() => {
    if (outer.done()) return;
    if (inner.cancelled()) {
      outer.cancel();
      return;
    }
    try {
      outer.setResult(map(inner.result()));
    } catch (error) {
      outer.setException(error);
    }
  });
  outer.addDoneCallback(() => {
    if (outer.cancelled()) inner.cancel();
  });
  return outer;
}

function failedFuture<T>(loop: SelectorEventLoop, error: unknown): Future<T> {
  const future = loop.createFuture<T>();
  future.setException(error);
  return future;
}

function connect<O extends StreamOptions>(
  options: O | undefined,
  call: (loop: SelectorEventLoop, factory: ProtocolFactory<StreamReaderProtocol>, rest: Omit<O, 'limit' | 'loop'>) => Future<[Transport, BaseProtocol]>,
): Future<[StreamReader, StreamWriter]> {
  const loop = options?.loop ?? getRunningLoop(); // no loop: nothing could settle a Future
  let parsed;
  try {
    parsed = splitOptions(options);
  } catch (error) {
    return failedFuture(loop, error);
  }
  const { limit, rest } = parsed;
  const reader = new StreamReader(limit, loop);
  const protocol = new StreamReaderProtocol(reader, undefined, loop);
  let connecting: Future<[Transport, BaseProtocol]>;
  try {
    connecting = call(loop, () => protocol, rest);
  } catch (error) {
    return failedFuture(loop, error);
  }
  return chain(loop, connecting, ([transport]) => [reader, new StreamWriter(transport, protocol, reader, loop)]);
}

function serve<O extends StreamOptions>(
  clientConnected: ClientConnectedCallback,
  options: O | undefined,
  call: (loop: SelectorEventLoop, factory: ProtocolFactory<StreamReaderProtocol>, rest: Omit<O, 'limit' | 'loop'>) => Future<Server>,
): Future<Server> {
  const loop = options?.loop ?? getRunningLoop(); // no loop: nothing could settle a Future
  try {
    if (typeof clientConnected !== 'function') throw invalidArgType('clientConnected', 'a function', clientConnected);
    const { limit, rest } = splitOptions(options);
    const factory = (): StreamReaderProtocol => new StreamReaderProtocol(new StreamReader(limit, loop), clientConnected, loop);
    return call(loop, factory, rest);
  } catch (error) {
    return failedFuture(loop, error);
  }
}

/**
 * Connects to `host`:`port` over TCP and resolves with `[reader, writer]` (asyncio's
 * `open_connection`). `options.limit` is the reader's limit; the other options go to
 * `loop.createConnection`. Uses the running loop unless `options.loop` is given.
 */
export function openConnection(
  host: string | null,
  port: number | string | null,
  options?: OpenConnectionOptions,
): Future<[StreamReader, StreamWriter]> {
  return connect(options, (loop, factory, rest) => loop.createConnection(factory, host, port, rest));
}

/**
 * Starts a TCP server on `host`:`port` that calls `clientConnected(reader, writer)` for every
 * connection (asyncio's `start_server`); resolves with the loop's `Server`. `options.limit` is
 * each reader's limit; the other options go to `loop.createServer`.
 */
export function startServer(
  clientConnected: ClientConnectedCallback,
  host?: string | readonly string[] | null,
  port?: number | string | null,
  options?: StartServerOptions,
): Future<Server> {
  return serve(clientConnected, options, (loop, factory, rest) => loop.createServer(factory, host, port, rest));
}

/** `openConnection` over a Unix stream socket at `path` (asyncio's `open_unix_connection`). */
export function openUnixConnection(path: string | null, options?: OpenUnixConnectionOptions): Future<[StreamReader, StreamWriter]> {
  return connect(options, (loop, factory, rest) => loop.createUnixConnection(factory, path, rest));
}

/** `startServer` on a Unix stream socket at `path` (asyncio's `start_unix_server`). */
export function startUnixServer(
  clientConnected: ClientConnectedCallback,
  path?: string | null,
  options?: StartUnixServerOptions,
): Future<Server> {
  return serve(clientConnected, options, (loop, factory, rest) => loop.createUnixServer(factory, path, rest));
}

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
import { checkOptionKeys, optionKeys } from '../core/options';
import type { Future } from '../tasks/futures';
import { getEventLoop, type SelectorEventLoop } from '../net/selector_loop';
import type { BytesLike, Transport } from '../net/protocols';
import { resultDiscarded } from '../tasks/tasks';

/** asyncio's `_DEFAULT_LIMIT`: 64 KiB. */
export const DEFAULT_LIMIT = 2 ** 16;
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
export function connectionLostError(): CodedError & { errno: number } {
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

const READ_KEYS = optionKeys<ReadOptions>()(['maxBytes']);

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

  /** @internal `StreamWriter.startTls`: reading now pauses the TLS transport. */
  replaceTransport(transport: Transport): void {
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
      if (options !== null && typeof options === 'object') checkOptionKeys(options, READ_KEYS);
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

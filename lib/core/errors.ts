/**
 * Error helpers. OS errors come from the addon already shaped as `Error{code, errno, syscall}`;
 * argument errors are `TypeError`/`RangeError` with Node's codes; library state errors are plain
 * `Error`s with a stable `code`.
 *
 * Folder core/ (errors, the typed addon surface, the timer heap, the chunk queue, handles and the
 * abstract loop in events.ts): the bottom layer; imports nothing of ours outside core/.
 * @packageDocumentation
 */
import { constants as osConstants } from 'node:os';
import { getSystemErrorMap, inspect } from 'node:util';

/** An `Error` carrying a stable `code` such as `ERR_SELECTOR_CLOSED`. */
export interface CodedError extends Error {
  /** A stable identifier of the error, such as `ERR_INVALID_ARG_TYPE`. */
  code: string;
}

/** Builds an `Error` (or `TypeError`/`RangeError`) with `code` set. */
export function codedError(
  code: string,
  message: string,
  Kind: ErrorConstructor | TypeErrorConstructor | RangeErrorConstructor = Error,
): CodedError {
  const error = new Kind(message) as CodedError;
  error.code = code;
  return error;
}

/** `TypeError` with code `ERR_INVALID_ARG_TYPE`. */
export function invalidArgType(name: string, expected: string, value: unknown): CodedError {
  return codedError(
    'ERR_INVALID_ARG_TYPE',
    `The "${name}" argument must be ${expected}. Received ${describe(value)}`,
    TypeError,
  );
}

/** `TypeError` with code `ERR_INVALID_ARG_VALUE` (Node's kind for it): a value of the right type that is not one of those allowed. */
export function invalidArgValue(name: string, expected: string, value: unknown): CodedError {
  return codedError('ERR_INVALID_ARG_VALUE', `The value of "${name}" must be ${expected}. Received ${describe(value)}`, TypeError);
}

/** `RangeError` with code `ERR_OUT_OF_RANGE`. */
export function outOfRange(name: string, expected: string, value: unknown): CodedError {
  return codedError(
    'ERR_OUT_OF_RANGE',
    `The value of "${name}" is out of range. It must be ${expected}. Received ${describe(value)}`,
    RangeError,
  );
}

/** A short description of a value for error messages. */
export function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'function') return `function ${value.name || '<anonymous>'}`;
  if (typeof value === 'object') return inspect(value, { depth: 0, breakLength: Infinity });
  return `${typeof value} ${inspect(value)}`;
}

/** An OS error shaped like the addon's: `Error{code, errno, syscall}`. */
export interface ErrnoException extends Error {
  /** The errno's name, such as `ECONNREFUSED`. */
  code: string;
  /** The errno's number on this platform. */
  errno: number;
  /** The system call that failed, such as `connect`. */
  syscall: string;
}

// errno -> name; the first name wins where two share a number (EAGAIN before EWOULDBLOCK).
const ERRNO_NAMES = new Map<number, string>();
for (const [name, value] of Object.entries(osConstants.errno)) if (!ERRNO_NAMES.has(value)) ERRNO_NAMES.set(value, name);

/** Builds the addon's error shape in JS, for errnos that come back as values (SO_ERROR, connect). */
export function errnoError(errno: number, syscall: string, detail?: string): ErrnoException {
  const code = ERRNO_NAMES.get(errno) ?? `Unknown system error ${errno}`;
  const text = getSystemErrorMap().get(-errno)?.[1] ?? code;
  const error = new Error(`${syscall} ${code}: ${text}${detail ? ` (${detail})` : ''}`) as ErrnoException;
  error.code = code;
  error.errno = errno;
  error.syscall = syscall;
  return error;
}

/**
 * A deadline expired: Python's builtin `TimeoutError`, which `asyncio.TimeoutError` and
 * `socket.timeout` are aliases of. Thrown by `timeout()`, `waitFor()` and friends (code
 * `'ERR_TIMEOUT'`) and, as its subclass `SocketTimeoutError`, by sockets with a timeout (code
 * `'ETIMEDOUT'`), so one `instanceof TimeoutError` check catches both.
 */
export class TimeoutError extends Error {
  /** `'ERR_TIMEOUT'`, or `'ETIMEDOUT'` for a socket timeout. */
  code: string = 'ERR_TIMEOUT';
  constructor(message = '', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TimeoutError';
  }
}

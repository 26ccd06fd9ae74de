/**
 * Python's low-level `select.select()`, on select(2) itself, so the classic select-based servers run
 * as written.
 *
 * ```ts
 * import { select } from 'muxloop/select';
 * const [readable, writable, exceptional] = select(inputs, outputs, inputs, 1.0);
 * ```
 * @packageDocumentation
 */
import { outOfRange, invalidArgType } from '../core/errors';
import { binding } from '../core/native';
import { fileobjToFd, type FileObject } from './index';

/** FD_SETSIZE of this build: select(2) cannot watch an fd at or above it. */
export const FD_SETSIZE: number = binding.socketConstants.FD_SETSIZE;

function toFds<T extends FileObject>(items: readonly T[]): Int32Array {
  const fds = new Int32Array(items.length);
  for (let i = 0; i < items.length; i++) fds[i] = fileobjToFd(items[i]);
  return fds;
}

function pick<T>(items: readonly T[], fds: Int32Array): T[] {
  const ready: T[] = [];
  for (let i = 0; i < items.length; i++) if (fds[i] >= 0) ready.push(items[i]);
  return ready;
}

/**
 * Waits until some of the file objects are ready for reading (`rlist`), writing (`wlist`) or have
 * an exceptional condition such as TCP urgent data (`xlist`), like Python's `select.select`.
 * Returns three lists holding the very objects passed in, in their order.
 *
 * File objects are fds or objects with `fileno()`. `timeout` is in **seconds**: undefined or null
 * blocks, 0 polls; it is rounded up to a microsecond and a signal does not end the wait early. The
 * call blocks the JS thread, as in Python.
 * @throws RangeError for an fd >= {@link FD_SETSIZE} (checked before any fd_set is touched), a
 * negative fd (a closed Socket), or a negative or NaN timeout; TypeError for a non-file object;
 * Error 'EBADF' when an fd is not open.
 */
export function select<R extends FileObject, W extends FileObject, X extends FileObject>(
  rlist: Iterable<R>,
  wlist: Iterable<W>,
  xlist: Iterable<X>,
  timeout?: number | null,
): [R[], W[], X[]] {
  let seconds = -1;
  if (timeout !== undefined && timeout !== null) {
    if (typeof timeout !== 'number') throw invalidArgType('timeout', 'a number of seconds, null or undefined', timeout);
    if (Number.isNaN(timeout) || timeout < 0) throw outOfRange('timeout', 'a non-negative number of seconds', timeout);
    seconds = timeout;
  }
  const readers = Array.from(rlist);
  const writers = Array.from(wlist);
  const exceptional = Array.from(xlist);
  const readFds = toFds(readers);
  const writeFds = toFds(writers);
  const exceptFds = toFds(exceptional);
  binding.select(readFds, writeFds, exceptFds, seconds);
  return [pick(readers, readFds), pick(writers, writeFds), pick(exceptional, exceptFds)];
}

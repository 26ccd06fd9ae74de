/**
 * The loop's low-level socket coroutines, asyncio's `sock_*` methods (python-anchor.md section
 * 2.3): `loop.sockRecv`, `sockRecvInto`, `sockRecvfrom`, `sockRecvfromInto`, `sockSendall`,
 * `sockSendto`, `sockConnect`, `sockAccept`. Each returns a loop `Future`.
 *
 * The pattern, as in CPython's `selector_events.py`: try the syscall at once; only if it would
 * block, watch the fd with a reader or writer that retries it, and remove that watch as soon as
 * the Future is done. Cancelling the Future (`future.cancel()`, or a task awaiting it being
 * cancelled) removes the watch synchronously, before `cancel()` returns, and no syscall runs for
 * a done Future, so no byte is consumed for a cancelled receive and no connection is accepted for
 * a cancelled accept (reliability.md D3 and D5, cpython#74250).
 *
 * Rules (asyncio's): the socket must be non-blocking (`setblocking(false)`), else the Future
 * fails with `ERR_SOCKET_BLOCKING`; one pending receive/accept per socket at a time: a second
 * one while the first waits fails with `ERR_SOCKET_BUSY` (as a transport refuses a second reader),
 * rather than replacing the first one's watch and leaving it pending forever. Errors,
 * argument errors included, are delivered through the Future, never thrown.
 * @packageDocumentation
 */
import { isIP } from 'node:net';
import { constants as osConstants } from 'node:os';
import { codedError, errnoError, invalidArgType, outOfRange } from '../core/errors';
import type { Handle } from '../core/events';
import { Future } from '../tasks/futures';
import type { SelectorEventLoop } from './selector_loop';
import { AF_INET, AF_INET6, type Address, SOL_SOCKET, SO_ERROR, type Socket, type SocketAddress } from '../socket';

const E = osConstants.errno;

/** What an attempt returns when the syscall would block. */
const WOULD_BLOCK: unique symbol = Symbol('would block');
type Attempt<T> = () => T | typeof WOULD_BLOCK;

/** A Future whose fd watch is removed the moment it is done, cancellation included. */
interface SockFuture<T> extends Future<T> {
  /** Registers the watch removal to run when the Future settles. */
  onRelease(release: () => void): void;
  /** Removes the fd watch (once). */
  release(): void;
}

let SockFutureClass: (new <T>(loop: SelectorEventLoop) => SockFuture<T>) | undefined;

// Made on first use, not at module load: futures.ts and loop.ts import each other, and this module
// is loaded while loop.ts is, possibly before `Future` exists.
function newSockFuture<T>(loop: SelectorEventLoop): SockFuture<T> {
  SockFutureClass ??= class SockFuture<U> extends Future<U> {
    #release: (() => void) | undefined;

    onRelease(release: () => void): void {
      this.#release = release;
    }

    release(): void {
      const release = this.#release;
      this.#release = undefined;
      release?.();
    }

    // A plain Future learns about its cancellation in a done callback, one iteration later; the
    // watch must go before cancel() returns (D3: nothing may read the socket after it).
    override cancel(message?: string): boolean {
      if (!super.cancel(message)) return false;
      this.release();
      return true;
    }
  };
  return new SockFutureClass<T>(loop);
}

/**
 * Runs `first` now; if it would block, retries with `retry` each time `sock` is ready for `event`,
 * until it completes, fails or the Future is cancelled.
 */
/** The receive or accept waiting on each socket (one at a time; see ERR_SOCKET_BUSY). */
const pendingReads = new WeakMap<Socket, Future<unknown>>();

function runSockOp<T>(
  loop: SelectorEventLoop,
  sock: Socket,
  direction: 'read' | 'write',
  first: Attempt<T>,
  retry: Attempt<T> = first,
): Future<T> {
  const future = newSockFuture<T>(loop);
  let outcome: T | typeof WOULD_BLOCK;
  try {
    checkNonBlocking(sock);
    const busy = direction === 'read' ? pendingReads.get(sock) : undefined;
    if (busy !== undefined && !busy.done() && !busy.getLoop().isClosed()) {
      throw codedError('ERR_SOCKET_BUSY', `${String(sock)} already has a receive or accept waiting; await it (or cancel it) first`);
    }
    outcome = first();
  } catch (error) {
    future.setException(error);
    return future;
  }
  if (outcome !== WOULD_BLOCK) {
    future.setResult(outcome);
    return future;
  }
  // Bound to the fd number now: if the caller closes the socket while we wait, the watch is
  // still removed by number (the selector tolerates a closed fd there).
  const fd = sock.fileno();
  const onReady = (): void => {
    if (future.done()) return;
    let result: T | typeof WOULD_BLOCK;
    try {
      result = retry();
    } catch (error) {
      future.release();
      future.setException(error);
      return;
    }
    if (result === WOULD_BLOCK) return; // spurious readiness: keep watching
    future.release();
    future.setResult(result);
  };
  let handle: Handle;
  try {
    handle = direction === 'read' ? loop.addReader(fd, onReady) : loop.addWriter(fd, onReady);
  } catch (error) {
    future.setException(error);
    return future;
  }
  if (direction === 'read') pendingReads.set(sock, future);
  future.onRelease(() => {
    if (direction === 'read' && pendingReads.get(sock) === future) pendingReads.delete(sock);
    // A cancelled handle was replaced by a later watch on the same fd: that one is not ours.
    if (handle.cancelled()) return;
    if (direction === 'read') loop.removeReader(fd);
    else loop.removeWriter(fd);
  });
  return future;
}

function checkNonBlocking(sock: Socket): void {
  if (sock === null || typeof sock !== 'object' || typeof sock.gettimeout !== 'function') {
    throw invalidArgType('sock', 'a muxloop Socket', sock);
  }
  if (sock.gettimeout() !== 0) {
    throw codedError('ERR_SOCKET_BLOCKING', 'the socket must be non-blocking (call sock.setblocking(false))', TypeError);
  }
}

function checkBufsize(value: unknown, name: string): number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!Number.isSafeInteger(value) || value < 1) throw outOfRange(name, 'an integer >= 1', value);
  return value;
}

function checkView(data: unknown, name: string): ArrayBufferView {
  if (!ArrayBuffer.isView(data)) throw invalidArgType(name, 'a Buffer, TypedArray or DataView', data);
  return data;
}

function isWouldBlock(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'EAGAIN' || code === 'EWOULDBLOCK' || code === 'EINTR';
}

/** An IP socket given a host name (not a numeric address) must have it resolved first. */
function needsResolution(sock: Socket, address: Address): boolean {
  if (!Array.isArray(address) || typeof address[0] !== 'string') return false;
  const host = address[0];
  if (host === '' || host === '<broadcast>' || isIP(host) !== 0) return false;
  const family = (sock as { family?: unknown } | null)?.family;
  return family === AF_INET || family === AF_INET6;
}

/** The connect itself: connect(2) now, then wait for writability and read SO_ERROR. */
function connectNow(loop: SelectorEventLoop, sock: Socket, address: Address): Future<void> {
  const fail = (errno: number): never => {
    throw errnoError(errno, 'connect', `Connect call failed ${describeAddress(address)}`);
  };
  const start = (): void | typeof WOULD_BLOCK => {
    const errno = sock.connectEx(address);
    if (errno === 0) return undefined;
    // EAGAIN (a Unix socket whose listener's backlog is full, on Linux) is not "in progress":
    // nothing is under way, so it is reported rather than waited for.
    if (errno === E.EINPROGRESS || errno === E.EINTR) return WOULD_BLOCK;
    return fail(errno);
  };
  const finish = (): void | typeof WOULD_BLOCK => {
    const errno = sock.getsockopt(SOL_SOCKET, SO_ERROR) as number;
    if (errno === 0) return undefined;
    if (errno === E.EINPROGRESS || errno === E.EINTR) return WOULD_BLOCK;
    return fail(errno);
  };
  return runSockOp(loop, sock, 'write', start, finish);
}

function describeAddress(address: unknown): string {
  return Array.isArray(address) ? `(${address.map((part) => JSON.stringify(part)).join(', ')})` : String(address);
}



/** `SelectorEventLoop.sockRecv`. */
export function sockRecv(loop: SelectorEventLoop, sock: Socket, nbytes: number): Future<Buffer> {
  let buffer: Buffer | undefined;
  const attempt = (): Buffer | typeof WOULD_BLOCK => {
    buffer ??= Buffer.allocUnsafe(checkBufsize(nbytes, 'nbytes'));
    const n = sock.recvIntoRaw(buffer, 0, buffer.length);
    return n < 0 ? WOULD_BLOCK : n === buffer.length ? buffer : buffer.subarray(0, n);
  };
  return runSockOp(loop, sock, 'read', attempt);
}

/** `SelectorEventLoop.sockRecvInto`. */
export function sockRecvInto(loop: SelectorEventLoop, sock: Socket, buffer: ArrayBufferView, nbytes?: number): Future<number> {
  const attempt = (): number | typeof WOULD_BLOCK => {
    const view = checkView(buffer, 'buffer');
    const length = nbytes === undefined || nbytes === 0 ? view.byteLength : checkBufsize(nbytes, 'nbytes');
    if (length > view.byteLength) throw outOfRange('nbytes', `<= the buffer's byteLength (${view.byteLength})`, nbytes);
    const n = sock.recvIntoRaw(view, 0, length);
    return n < 0 ? WOULD_BLOCK : n;
  };
  return runSockOp(loop, sock, 'read', attempt);
}

/** `SelectorEventLoop.sockRecvfrom`. */
export function sockRecvfrom(loop: SelectorEventLoop, sock: Socket, bufsize: number): Future<[Buffer, SocketAddress | null]> {
  let buffer: Buffer | undefined;
  const attempt = (): [Buffer, SocketAddress | null] | typeof WOULD_BLOCK => {
    buffer ??= Buffer.allocUnsafe(checkBufsize(bufsize, 'bufsize'));
    const r = sock.recvfromIntoRaw(buffer, 0, buffer.length);
    return r === null ? WOULD_BLOCK : [buffer.subarray(0, r[0]), r[1]];
  };
  return runSockOp(loop, sock, 'read', attempt);
}

/** `SelectorEventLoop.sockRecvfromInto`. */
export function sockRecvfromInto(loop: SelectorEventLoop, sock: Socket, buffer: ArrayBufferView, nbytes?: number): Future<[number, SocketAddress | null]> {
  const attempt = (): [number, SocketAddress | null] | typeof WOULD_BLOCK => {
    const view = checkView(buffer, 'buffer');
    const length = nbytes === undefined || nbytes === 0 ? view.byteLength : checkBufsize(nbytes, 'nbytes');
    if (length > view.byteLength) throw outOfRange('nbytes', `<= the buffer's byteLength (${view.byteLength})`, nbytes);
    return sock.recvfromIntoRaw(view, 0, length) ?? WOULD_BLOCK;
  };
  return runSockOp(loop, sock, 'read', attempt);
}

/** `SelectorEventLoop.sockSendall`. */
export function sockSendall(loop: SelectorEventLoop, sock: Socket, data: ArrayBufferView): Future<void> {
  let sent = 0;
  const attempt = (): void | typeof WOULD_BLOCK => {
    const view = checkView(data, 'data');
    while (sent < view.byteLength) {
      const n = sock.sendRaw(view, sent, view.byteLength - sent);
      if (n < 0) return WOULD_BLOCK;
      sent += n;
    }
    return undefined;
  };
  return runSockOp(loop, sock, 'write', attempt);
}

/** `SelectorEventLoop.sockSendto`. */
export function sockSendto(loop: SelectorEventLoop, sock: Socket, data: ArrayBufferView, address: Address): Future<number> {
  const attempt = (): number | typeof WOULD_BLOCK => {
    try {
      return sock.sendto(checkView(data, 'data'), address);
    } catch (error) {
      // Socket.sendto has no raw variant; EAGAIN on a datagram socket is rare (a full send buffer).
      if (isWouldBlock(error)) return WOULD_BLOCK;
      throw error;
    }
  };
  return runSockOp(loop, sock, 'write', attempt);
}

/** `SelectorEventLoop.sockConnect`. */
export function sockConnect(loop: SelectorEventLoop, sock: Socket, address: Address): Future<void> {
  if (!needsResolution(sock, address)) return connectNow(loop, sock, address);
  // asyncio's _ensure_resolved: a host name goes through loop.getaddrinfo first (off the JS
  // thread), with the socket's family and type, and the first address is used.
  const [host, port, ...rest] = address as readonly [string, number, ...number[]];
  const future = newSockFuture<void>(loop);
  let step: { cancel(): boolean } | undefined;
  future.onRelease(() => step?.cancel());
  const resolving = loop.getaddrinfo(host, port, { family: sock.family, type: sock.type, proto: sock.proto });
  step = resolving;
  resolving.addDoneCallback(() => {
    if (future.done()) return;
    let target: Address;
    try {
      const infos = resolving.result();
      if (infos.length === 0) throw codedError('ENOTFOUND', `getaddrinfo ENOTFOUND ${host}`);
      const [resolvedHost, resolvedPort, ...scope] = infos[0][4] as [string, number, ...number[]];
      target = (rest.length > 0 ? [resolvedHost, resolvedPort, ...rest] : [resolvedHost, resolvedPort, ...scope]) as unknown as Address;
    } catch (error) {
      future.setException(error);
      return;
    }
    const connecting = connectNow(loop, sock, target);
    step = connecting;
    connecting.addDoneCallback(() => {
      if (future.done()) return;
      const error = connecting.exception();
      if (error !== undefined) future.setException(error);
      else future.setResult(undefined);
    });
  });
  return future;
}

/** `SelectorEventLoop.sockAccept`. */
export function sockAccept(loop: SelectorEventLoop, sock: Socket): Future<[Socket, SocketAddress]> {
  return runSockOp(loop, sock, 'read', () => sock.acceptRaw() ?? WOULD_BLOCK);
}

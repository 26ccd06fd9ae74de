/**
 * Python's `socket` module for Node.js, on raw non-blocking fds of muxloop's own (Node does not hand
 * those out).
 *
 * ```ts
 * import { Socket, AF_INET, SOCK_STREAM } from 'muxloop/socket';
 * using server = createServer(['127.0.0.1', 0]);
 * const [conn, addr] = server.accept();   // blocks, like Python
 * conn.sendall(conn.recv(1024));
 * ```
 *
 * Semantics, in short (Python's unless said otherwise):
 * - **Blocking is the default.** A blocking call blocks the JS thread, exactly as in Python; use it
 *   in scripts, worker threads, or with a selector/`select()` that says the call will not block.
 * - **Timeouts are in seconds.** `settimeout(0.5)` makes each call wait at most 0.5 s and then throw
 *   {@link SocketTimeoutError} (`name` 'TimeoutError', `code` 'ETIMEDOUT'), like Python's
 *   `socket.timeout`. `sendall` has one deadline for the whole call.
 * - **Non-blocking mode** (`setblocking(false)` or `settimeout(0)`): a call that would block throws
 *   an `Error` with `code` 'EAGAIN' (Python's `BlockingIOError`); `connect` throws 'EINPROGRESS'.
 * - **EOF** is an empty Buffer from `recv` (0 from `recvInto`), never an error or EAGAIN. Receiving
 *   into 0 bytes is a RangeError (unlike Python's `recv(0) == b''`), so 0 can only mean EOF.
 * - Internally the fd is always `O_NONBLOCK`; blocking and timeouts are emulated with poll(2) in
 *   native code (EINTR is retried with the remaining time). Every fd is close-on-exec and sends use
 *   `MSG_NOSIGNAL` (`SO_NOSIGPIPE` on macOS), so a vanished peer gives EPIPE, never a signal.
 * - **Unregister before close.** A socket registered in a selector must be unregistered before
 *   `close()`: select/poll/kqueue registrations are keyed by fd number, which the kernel may hand to
 *   the next socket at once. (If you forget, the selector still finds the closed socket by identity
 *   in `unregister`, and epoll has already dropped it; but the rule is unregister, then close.)
 * - `close()` is idempotent and stores -1 first, so it can never close an fd number that was reused
 *   since. A socket that is garbage-collected while still open is closed by a finalizer; one that
 *   was closed or detached is never touched again.
 * - Hosts are numeric IPv4/IPv6 literals, `''` (any address), `'localhost'` and `'<broadcast>'`;
 *   names are not resolved (use `dns.lookup` first).
 *
 * Folder socket/ (the `muxloop/socket` entry point): imports core/ only.
 *
 * A little over 600 lines: `Socket` is Python's whole socket object surface (one method each).
 * @packageDocumentation
 */
import { inspect } from 'node:util';
import { constants as osConstants } from 'node:os';
import { TimeoutError, codedError, describe, errnoError, invalidArgType, outOfRange } from '../core/errors';
import { checkOptionKeys, optionKeys } from '../core/options';
import { binding, type NativeAddress } from '../core/native';
import type { Address, AddressKind, AddressOf, Inet6Address, InetAddress, SocketAddress } from './constants';

export * from './constants';

const C = binding.constants;
const S = binding.socketConstants;
const E = osConstants.errno;

/** The error a socket with a timeout throws when the timeout runs out (Python's `socket.timeout`), a {@link TimeoutError}. */
export class SocketTimeoutError extends TimeoutError {
  /** Always 'ETIMEDOUT'. */
  override code = 'ETIMEDOUT';
  /** ETIMEDOUT's number. */
  readonly errno: number = E.ETIMEDOUT;
  /** The call that timed out ('recv', 'connect', ...). */
  readonly syscall: string;

  /** @internal */
  constructor(syscall: string) {
    super(`${syscall} timed out`);
    this.syscall = syscall;
  }
}

/** An OS error shaped like the addon's: `Error{code, errno, syscall}`. */
export type { ErrnoException } from '../core/errors';

const TIMED_OUT = -2;

/** Turns a sentinel from the addon into the exception the public API throws. */
function sentinelError(result: number, syscall: string): Error {
  return result === TIMED_OUT ? new SocketTimeoutError(syscall) : errnoError(E.EAGAIN, syscall);
}

function checkSize(value: unknown, name: string): number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!Number.isSafeInteger(value) || value < 0) throw outOfRange(name, 'an integer >= 0', value);
  return value;
}

function checkFlags(flags: unknown): number {
  if (flags === undefined) return 0;
  if (typeof flags !== 'number') throw invalidArgType('flags', 'of type number', flags);
  return flags; // range-checked natively
}

function checkView(data: unknown, name: string): ArrayBufferView {
  if (!ArrayBuffer.isView(data)) throw invalidArgType(name, 'a Buffer, TypedArray or DataView', data);
  return data;
}

/** Holds the fd for a socket and its finalizer; -1 once closed or detached (B13, B17). */
interface FdCell {
  fd: number;
}

// Closes sockets that were dropped while open, like CPython's socket.__del__ (without the
// ResourceWarning). Guarded by the cell: close() and detach() set fd = -1 and unregister, so the
// finalizer can never close a number that has been reused since (uvloop#645, cpython#130141).
const abandoned = new FinalizationRegistry<FdCell>((cell) => {
  const fd = cell.fd;
  if (fd < 0) return;
  cell.fd = -1;
  try {
    binding.close(fd);
  } catch {
    // Nothing useful to do about a failed close of an abandoned socket.
  }
});

const FAMILIES = new Set([C.AF_INET, C.AF_INET6, C.AF_UNIX]);
const TYPES = new Set([C.SOCK_STREAM, C.SOCK_DGRAM]);

// Set by wrap() so the constructor takes an fd the addon already owns and made non-blocking.
let trustedFd = -1;

/** Wraps an fd the addon created (accept, socketpair) without further syscalls. */
function wrap(fd: number, family: number, type: number, proto: number): Socket {
  trustedFd = fd;
  try {
    return new Socket(family, type, proto, fd);
  } finally {
    trustedFd = -1;
  }
}

/**
 * A socket shaped like Python's `socket.socket`. Blocking by default; see the module notes for
 * timeouts, non-blocking mode, EOF and the unregister-before-close rule.
 */
export class Socket implements Disposable {
  readonly #cell: FdCell;
  readonly #family: number;
  readonly #type: number;
  readonly #proto: number;
  /** null: blocking; 0: non-blocking; > 0: seconds per call. */
  #timeout: number | null = null;

  /**
   * Creates a socket (close-on-exec), or wraps an existing socket fd when `fileno` is given: the
   * Socket then owns it (closes it on `close()`), and `family`/`type` default to what the kernel
   * reports.
   * @param family `AF_INET` (default), `AF_INET6` or `AF_UNIX`.
   * @param type `SOCK_STREAM` (default) or `SOCK_DGRAM`.
   * @param proto protocol number, normally 0.
   * @throws TypeError/RangeError for an unsupported family or type; OS errors such as EMFILE.
   */
  constructor(family?: number, type?: number, proto = 0, fileno?: number) {
    if (fileno !== undefined && fileno !== null) {
      const fd = checkSize(fileno, 'fileno');
      if (fd !== trustedFd) {
        if (type === undefined) type = binding.getsockopt(fd, S.SOL_SOCKET, S.SO_TYPE) as number;
        if (family === undefined && S.SO_DOMAIN !== undefined) {
          family = binding.getsockopt(fd, S.SOL_SOCKET, S.SO_DOMAIN) as number;
        }
      }
    }
    family ??= C.AF_INET;
    type ??= C.SOCK_STREAM;
    if (typeof family !== 'number') throw invalidArgType('family', 'of type number', family);
    if (!FAMILIES.has(family)) throw outOfRange('family', 'AF_INET, AF_INET6 or AF_UNIX', family);
    if (typeof type !== 'number') throw invalidArgType('type', 'of type number', type);
    if (!TYPES.has(type)) throw outOfRange('type', 'SOCK_STREAM or SOCK_DGRAM', type);
    if (typeof proto !== 'number') throw invalidArgType('proto', 'of type number', proto);
    let fd: number;
    if (fileno === undefined || fileno === null) {
      fd = binding.socket(family, type, proto);
    } else {
      fd = fileno;
      if (fd !== trustedFd) {
        binding.setNonBlocking(fd, true);
        binding.adopt(fd);
      }
    }
    this.#family = family;
    this.#type = type;
    this.#proto = proto;
    this.#cell = { fd };
    abandoned.register(this, this.#cell, this.#cell);
  }

  /** The address family (`AF_INET`, `AF_INET6`, `AF_UNIX`). */
  get family(): number {
    return this.#family;
  }

  /** The socket type (`SOCK_STREAM`, `SOCK_DGRAM`). */
  get type(): number {
    return this.#type;
  }

  /** The protocol number. */
  get proto(): number {
    return this.#proto;
  }

  /** The fd, or -1 once closed or detached (Python's `fileno()`). */
  fileno(): number {
    return this.#cell.fd;
  }

  /** Whether `close()` or `detach()` has been called. */
  get closed(): boolean {
    return this.#cell.fd < 0;
  }

  /** Binds to `address` (`['127.0.0.1', 0]`, `['::1', 0]`, a path, ...). */
  bind(address: Address): void {
    binding.bind(this.#fd('bind'), this.#family, address as NativeAddress);
  }

  /** Starts listening; `backlog` defaults to min(SOMAXCONN, 128) like Python. */
  listen(backlog?: number): void {
    const n = backlog === undefined ? Math.min(S.SOMAXCONN, 128) : checkSize(backlog, 'backlog');
    binding.listen(this.#fd('listen'), Math.min(n, 0x7fffffff));
  }

  /**
   * Accepts a connection: `[socket, address]`. The new socket is blocking (Python's default). A
   * connection aborted while it waited in the queue is skipped.
   * @throws Error 'EAGAIN' in non-blocking mode, {@link SocketTimeoutError}, EINVAL when not
   * listening, EMFILE/ENFILE when out of fds.
   */
  accept<K extends AddressKind = AddressKind>(): [Socket, AddressOf<K>] {
    const r = binding.accept(this.#fd('accept'), this.#family, this.#nativeTimeout());
    if (typeof r === 'number') throw sentinelError(r, 'accept');
    return [wrap(r[0], this.#family, this.#type, this.#proto), r[1] as AddressOf<K>];
  }

  /**
   * @internal For the event loop: accepts without waiting; null when nothing is pending. The new
   * socket is non-blocking.
   */
  acceptRaw(): [Socket, SocketAddress] | null {
    const r = binding.accept(this.#fd('accept'), this.#family, 0);
    if (typeof r === 'number') return null;
    const socket = wrap(r[0], this.#family, this.#type, this.#proto);
    socket.#timeout = 0;
    return [socket, r[1] as SocketAddress];
  }

  /**
   * @internal For the io_uring server: wraps `fd`, a connection a multishot accept on this
   * listening socket made (non-blocking and close-on-exec, already the addon's), with no syscall.
   */
  adoptAccepted(fd: number): Socket {
    const socket = wrap(fd, this.#family, this.#type, this.#proto);
    socket.#timeout = 0;
    return socket;
  }

  /**
   * Connects to `address`. With a timeout, waits at most that long ({@link SocketTimeoutError});
   * in non-blocking mode throws 'EINPROGRESS' while the connection is under way (then wait for
   * writability and read `SO_ERROR`, or use `connectEx`).
   */
  connect(address: Address): void {
    const r = binding.connect(this.#fd('connect'), this.#family, address as NativeAddress, this.#nativeTimeout());
    if (r === 0) return;
    if (r === TIMED_OUT) throw new SocketTimeoutError('connect');
    throw errnoError(r, 'connect', describeAddress(address));
  }

  /**
   * Like `connect` but returns an errno instead of throwing OS errors: 0 on success, EINPROGRESS in
   * non-blocking mode, ECONNREFUSED, ... A timeout gives ETIMEDOUT (CPython returns EWOULDBLOCK).
   */
  connectEx(address: Address): number {
    const r = binding.connect(this.#fd('connect'), this.#family, address as NativeAddress, this.#nativeTimeout());
    return r === TIMED_OUT ? E.ETIMEDOUT : r;
  }

  /**
   * Receives at most `bufsize` bytes. An empty Buffer means EOF. `bufsize` 0 is a RangeError (in
   * Python it returns b''), so that an empty result always means EOF.
   * @throws Error 'EAGAIN' in non-blocking mode when nothing is there, {@link SocketTimeoutError},
   * ECONNRESET, ...
   */
  recv(bufsize: number, flags?: number): Buffer {
    const size = checkSize(bufsize, 'bufsize');
    const buffer = Buffer.allocUnsafe(size);
    const n = binding.recv(this.#fd('recv'), buffer, 0, size, checkFlags(flags), this.#nativeTimeout());
    if (n < 0) throw sentinelError(n, 'recv');
    return shrink(buffer, n);
  }

  /**
   * Receives into `buffer` (at most `nbytes` bytes; 0 or undefined means the whole buffer) and
   * returns the count; 0 means EOF.
   */
  recvInto(buffer: ArrayBufferView, nbytes?: number, flags?: number): number {
    const length = intoLength(checkView(buffer, 'buffer'), nbytes);
    const n = binding.recv(this.#fd('recv'), buffer, 0, length, checkFlags(flags), this.#nativeTimeout());
    if (n < 0) throw sentinelError(n, 'recv');
    return n;
  }

  /**
   * @internal The event loop's hot path: one non-waiting recv into `buffer[offset, offset+length)`.
   * Returns the count, 0 at EOF, or -1 when it would block (no exception). OS errors still throw.
   */
  recvIntoRaw(buffer: ArrayBufferView, offset?: number, length?: number): number {
    return binding.recv(this.#cell.fd, buffer, offset, length, 0, 0);
  }

  /** @internal The event loop's hot path: one non-waiting send; the count, or -1 if it would block. */
  sendRaw(buffer: ArrayBufferView, offset?: number, length?: number): number {
    return binding.send(this.#cell.fd, buffer, offset, length, 0, 0);
  }

  /**
   * @internal For datagram transports: one non-waiting recvfrom into `buffer`; `[count, sender]`,
   * or null when it would block.
   */
  recvfromIntoRaw(buffer: ArrayBufferView, offset?: number, length?: number): [number, SocketAddress | null] | null {
    const r = binding.recvfrom(this.#cell.fd, this.#family, buffer, offset, length, 0, 0);
    return typeof r === 'number' ? null : (r as [number, SocketAddress | null]);
  }

  /** @internal For stream transports: one non-waiting gathered send; the count, or -1 if it would block. */
  sendmsgRaw(buffers: ArrayBufferView[]): number {
    return binding.sendmsg(this.#cell.fd, buffers, 0, 0);
  }

  /**
   * Receives a datagram (or stream bytes): `[data, senderAddress]`; the address is null on a
   * connected stream. `recvfrom<'inet'>(n)` types the address as an `IPv4Address`.
   */
  recvfrom<K extends AddressKind = AddressKind>(bufsize: number, flags?: number): [Buffer, AddressOf<K> | null] {
    const size = checkSize(bufsize, 'bufsize');
    const buffer = Buffer.allocUnsafe(size);
    const r = binding.recvfrom(this.#fd('recvfrom'), this.#family, buffer, 0, size, checkFlags(flags), this.#nativeTimeout());
    if (typeof r === 'number') throw sentinelError(r, 'recvfrom');
    return [shrink(buffer, r[0]), r[1] as AddressOf<K> | null];
  }

  /** Receives into `buffer`: `[count, senderAddress]`. */
  recvfromInto<K extends AddressKind = AddressKind>(buffer: ArrayBufferView, nbytes?: number, flags?: number): [number, AddressOf<K> | null] {
    const length = intoLength(checkView(buffer, 'buffer'), nbytes);
    const r = binding.recvfrom(this.#fd('recvfrom'), this.#family, buffer, 0, length, checkFlags(flags), this.#nativeTimeout());
    if (typeof r === 'number') throw sentinelError(r, 'recvfrom');
    return r as [number, AddressOf<K> | null];
  }

  /** Sends what it can of `data` in one call and returns the count (may be partial). */
  send(data: ArrayBufferView, flags?: number): number {
    const n = binding.send(this.#fd('send'), checkView(data, 'data'), 0, undefined, checkFlags(flags), this.#nativeTimeout());
    if (n < 0) throw sentinelError(n, 'send');
    return n;
  }

  /**
   * Sends all of `data`. With a timeout, the whole call has one deadline. In non-blocking mode it
   * throws 'EAGAIN' as soon as the kernel buffer is full (some bytes may have been sent; Python's
   * behaviour).
   */
  sendall(data: ArrayBufferView, flags?: number): void {
    const view = checkView(data, 'data');
    const f = checkFlags(flags);
    const total = view.byteLength;
    const deadline = this.#timeout !== null && this.#timeout > 0 ? performance.now() + this.#timeout * 1000 : 0;
    let sent = 0;
    do {
      let timeout = this.#nativeTimeout();
      if (deadline > 0) {
        timeout = (deadline - performance.now()) / 1000;
        if (timeout <= 0) throw new SocketTimeoutError('send');
      }
      const n = binding.send(this.#fd('send'), view, sent, total - sent, f, timeout);
      if (n < 0) throw sentinelError(n, 'send');
      sent += n;
    } while (sent < total);
  }

  /** Sends a datagram to `address`: `sendto(data, address)` or `sendto(data, flags, address)`. */
  sendto(data: ArrayBufferView, flagsOrAddress: number | Address, address?: Address): number {
    let flags = 0;
    let to = flagsOrAddress as Address;
    if (typeof flagsOrAddress === 'number') {
      flags = flagsOrAddress;
      to = address as Address;
    }
    const view = checkView(data, 'data');
    const n = binding.sendto(this.#fd('sendto'), this.#family, to as NativeAddress, view, 0, undefined, flags, this.#nativeTimeout());
    if (n < 0) throw sentinelError(n, 'sendto');
    return n;
  }

  /**
   * Gathers `buffers` into one sendmsg(2) (writev-style) and returns the bytes sent (may be
   * partial). More than IOV_MAX buffers are sent in batches on stream sockets. Ancillary data is
   * not supported: `ancdata` must be empty.
   */
  sendmsg(buffers: readonly ArrayBufferView[], ancdata: readonly unknown[] = [], flags?: number): number {
    if (!Array.isArray(buffers)) throw invalidArgType('buffers', 'an array of buffers', buffers);
    if (!Array.isArray(ancdata) || ancdata.length !== 0) {
      throw codedError('ERR_NOT_SUPPORTED', 'sendmsg: ancillary data is not supported', TypeError);
    }
    const n = binding.sendmsg(this.#fd('sendmsg'), buffers as ArrayBufferView[], checkFlags(flags), this.#nativeTimeout());
    if (n < 0) throw sentinelError(n, 'sendmsg');
    return n;
  }

  /** Shuts down one or both halves: `SHUT_RD`, `SHUT_WR` or `SHUT_RDWR`. */
  shutdown(how: number): void {
    binding.shutdown(this.#fd('shutdown'), how);
  }

  /**
   * Closes the socket. Idempotent: the fd is forgotten (set to -1) before close(2), so a second
   * call, or the finalizer, can never close a number the kernel has handed out again. Unregister
   * the socket from selectors first.
   */
  close(): void {
    const fd = this.#cell.fd;
    if (fd < 0) return;
    this.#cell.fd = -1;
    abandoned.unregister(this.#cell);
    binding.close(fd);
  }

  /** Gives up the fd without closing it and returns it; the Socket is then closed. */
  detach(): number {
    const fd = this.#cell.fd;
    if (fd < 0) return -1;
    this.#cell.fd = -1;
    abandoned.unregister(this.#cell);
    binding.forget(fd);
    return fd;
  }

  /** Blocking (true: no timeout) or non-blocking (false: timeout 0). */
  setblocking(flag: boolean): void {
    this.#timeout = flag ? null : 0;
  }

  /** False in non-blocking mode; true when blocking, with or without a timeout. */
  getblocking(): boolean {
    return this.#timeout !== 0;
  }

  /**
   * Sets the timeout in **seconds** for each blocking call: null blocks forever, 0 is non-blocking,
   * a positive number waits at most that long and then throws {@link SocketTimeoutError}.
   */
  settimeout(value: number | null): void {
    if (value === null || value === undefined) {
      this.#timeout = null;
      return;
    }
    if (typeof value !== 'number') throw invalidArgType('timeout', 'a number of seconds or null', value);
    if (!Number.isFinite(value) || value < 0) throw outOfRange('timeout', 'a finite number of seconds >= 0', value);
    this.#timeout = value;
  }

  /** The timeout in seconds; null when blocking without one, 0 when non-blocking. */
  gettimeout(): number | null {
    return this.#timeout;
  }

  /**
   * Sets an option: an integer or boolean for flags and sizes, `[onoff, seconds]` for `SO_LINGER`,
   * or raw bytes.
   */
  setsockopt(level: number, option: number, value: number | boolean | [number, number] | ArrayBufferView): void {
    binding.setsockopt(this.#fd('setsockopt'), level, option, value);
  }

  /** Reads an option: an integer, `[onoff, seconds]` for `SO_LINGER`, or `buflen` raw bytes. */
  getsockopt(level: number, option: number, buflen?: number): number | [number, number] | Buffer {
    return binding.getsockopt(this.#fd('getsockopt'), level, option, buflen);
  }

  /**
   * The local address in Python's shape. For a socket whose family you know, name its kind to get
   * the precise type: `sock.getsockname<'inet'>()[1]` is the port, a `number`.
   */
  getsockname<K extends AddressKind = AddressKind>(): AddressOf<K> {
    return binding.getsockname(this.#fd('getsockname'), this.#family) as AddressOf<K>;
  }

  /** The peer's address in Python's shape (typed like `getsockname`); ENOTCONN when not connected. */
  getpeername<K extends AddressKind = AddressKind>(): AddressOf<K> {
    return binding.getpeername(this.#fd('getpeername'), this.#family) as AddressOf<K>;
  }

  /** Same as `close()`, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** A short description such as `<Socket fd=7 family=2 type=1 proto=0>`. */
  toString(): string {
    return `<Socket fd=${this.#cell.fd} family=${this.#family} type=${this.#type} proto=${this.#proto}>`;
  }

  /** Like Python's repr: fd, family, type, proto and, where known, the local and peer addresses. */
  [inspect.custom](): string {
    let text = this.toString().slice(0, -1);
    if (this.#cell.fd >= 0) {
      for (const [label, get] of [
        ['laddr', () => binding.getsockname(this.#cell.fd, this.#family)],
        ['raddr', () => binding.getpeername(this.#cell.fd, this.#family)],
      ] as const) {
        try {
          text += ` ${label}=${inspect(get(), { breakLength: Infinity })}`;
        } catch {
          // not bound / not connected: Python leaves it out too
        }
      }
    }
    return `${text}>`;
  }

  #fd(syscall: string): number {
    const fd = this.#cell.fd;
    if (fd < 0) throw errnoError(E.EBADF, syscall, 'socket is closed');
    return fd;
  }

  #nativeTimeout(): number {
    return this.#timeout === null ? -1 : this.#timeout;
  }
}

function intoLength(buffer: ArrayBufferView, nbytes: number | undefined): number {
  if (nbytes === undefined || nbytes === 0) return buffer.byteLength;
  const n = checkSize(nbytes, 'nbytes');
  if (n > buffer.byteLength) throw outOfRange('nbytes', `<= the buffer's byteLength (${buffer.byteLength})`, n);
  return n;
}

/** The first n bytes; copied when they are a small part of a big buffer, so it can be freed. */
function shrink(buffer: Buffer, n: number): Buffer {
  if (n === buffer.length) return buffer;
  if (buffer.length > 16384 && n < buffer.length / 4) return Buffer.from(buffer.subarray(0, n));
  return buffer.subarray(0, n);
}

function describeAddress(address: unknown): string {
  if (Array.isArray(address)) return address.join(':');
  return describe(address);
}

/**
 * A connected pair of sockets (Python's `socket.socketpair`), AF_UNIX and SOCK_STREAM by default.
 * Both are blocking.
 */
export function socketpair(family: number = C.AF_UNIX, type: number = C.SOCK_STREAM, proto = 0): [Socket, Socket] {
  const [a, b] = binding.socketpair(family, type, true);
  return [wrap(a, family, type, proto), wrap(b, family, type, proto)];
}

/** Options of {@link createServer}. */
export interface CreateServerOptions {
  /** Address family; by default AF_UNIX for a path, AF_INET6 for a host with ':', else AF_INET. */
  family?: number;
  /** listen() backlog; Python's default (min(SOMAXCONN, 128)) when undefined. */
  backlog?: number;
  /** Set SO_REUSEPORT (throws ERR_NOT_SUPPORTED where the platform has none). */
  reusePort?: boolean;
  /** AF_INET6 only: accept IPv4 too (IPV6_V6ONLY off). Otherwise IPV6_V6ONLY is set. */
  dualstack?: boolean;
}

function familyOf(address: Address): number {
  if (typeof address === 'string' || ArrayBuffer.isView(address)) return C.AF_UNIX;
  return typeof address[0] === 'string' && address[0].includes(':') ? C.AF_INET6 : C.AF_INET;
}

const SERVER_KEYS = optionKeys<CreateServerOptions>()(['family', 'backlog', 'reusePort', 'dualstack']);

/**
 * A listening TCP (or Unix stream) socket bound to `address`, like Python's
 * `socket.create_server`: SO_REUSEADDR on IP sockets, optional SO_REUSEPORT and dual-stack. The
 * socket is closed if any step fails (for example EADDRINUSE), and the error keeps its code.
 */
export function createServer(address: Address, options: CreateServerOptions = {}): Socket {
  if (options === null || typeof options !== 'object') throw invalidArgType('options', 'an object', options);
  checkOptionKeys(options, SERVER_KEYS);
  const family = options.family ?? familyOf(address);
  if (options.reusePort && S.SO_REUSEPORT === undefined) {
    throw codedError('ERR_NOT_SUPPORTED', 'SO_REUSEPORT is not supported on this platform');
  }
  if (options.dualstack && family !== C.AF_INET6) {
    throw codedError('ERR_INVALID_ARG_VALUE', 'dualstack requires the AF_INET6 family', TypeError);
  }
  const sock = new Socket(family, C.SOCK_STREAM);
  try {
    if (family !== C.AF_UNIX) sock.setsockopt(S.SOL_SOCKET, S.SO_REUSEADDR, 1);
    if (options.reusePort) sock.setsockopt(S.SOL_SOCKET, S.SO_REUSEPORT as number, 1);
    if (family === C.AF_INET6) sock.setsockopt(S.IPPROTO_IPV6, S.IPV6_V6ONLY, options.dualstack ? 0 : 1);
    sock.bind(address);
    sock.listen(options.backlog);
  } catch (error) {
    sock.close();
    throw error;
  }
  return sock;
}

/**
 * Connects a TCP socket to `[host, port]`, like Python's `socket.create_connection`. `'localhost'`
 * tries 127.0.0.1 then ::1; other hosts must be numeric. `timeout` (seconds) bounds each attempt
 * and stays set on the returned socket; without it the socket is blocking. The last error is thrown
 * when every attempt fails.
 */
export function createConnection(address: InetAddress | Inet6Address, timeout?: number | null): Socket {
  if (!Array.isArray(address)) throw invalidArgType('address', 'an array [host, port]', address);
  const [host, port] = address;
  const candidates: Array<[number, Address]> =
    host === 'localhost'
      ? [
          [C.AF_INET, ['127.0.0.1', port]],
          [C.AF_INET6, ['::1', port]],
        ]
      : [[familyOf(address), address]];
  let lastError: unknown;
  for (const [family, target] of candidates) {
    const sock = new Socket(family, C.SOCK_STREAM);
    try {
      if (timeout !== undefined) sock.settimeout(timeout);
      sock.connect(target);
      return sock;
    } catch (error) {
      sock.close();
      if (error instanceof TypeError || error instanceof RangeError) throw error;
      lastError = error;
    }
  }
  throw lastError;
}

/**
 * A pipe, `[readFd, writeFd]`, close-on-exec and blocking like Python's `os.pipe()`; call
 * {@link setNonBlocking} before using it with a selector. Close both ends with {@link close}.
 */
export function pipe(): [number, number] {
  return binding.pipe(false);
}

/**
 * Reads at most `n` bytes from a plain fd (Python's `os.read`); an empty Buffer at EOF.
 * @throws Error 'EAGAIN' on a non-blocking fd with nothing to read.
 */
export function read(fd: number, n: number): Buffer {
  const size = checkSize(n, 'n');
  const buffer = Buffer.allocUnsafe(size);
  const r = binding.read(fd, buffer, 0, size);
  if (r < 0) throw errnoError(E.EAGAIN, 'read', `fd ${fd}`);
  return shrink(buffer, r);
}

/**
 * Writes `data` to a plain fd (Python's `os.write`) and returns the count (may be partial).
 * @throws Error 'EAGAIN' on a non-blocking fd that is full; EPIPE when the reader has gone.
 */
export function write(fd: number, data: ArrayBufferView): number {
  const r = binding.write(fd, checkView(data, 'data'));
  if (r < 0) throw errnoError(E.EAGAIN, 'write', `fd ${fd}`);
  return r;
}

/** Closes a plain fd (Python's `os.close`). Close each fd exactly once. */
export function close(fd: number): void {
  binding.close(fd);
}

/** Sets (default) or clears O_NONBLOCK on a plain fd (Python's `os.set_blocking(fd, not flag)`). */
export function setNonBlocking(fd: number, nonblocking = true): void {
  binding.setNonBlocking(fd, nonblocking);
}

/** Whether a plain fd is in blocking mode (Python's `os.get_blocking`). */
export function getBlocking(fd: number): boolean {
  return !binding.getNonBlocking(fd);
}

/**
 * The addon's typed surface. This is the only module that loads the addon; everything else imports
 * the interfaces below, which keeps the TypeScript/C++ seam thin and lets tests substitute fakes.
 * @packageDocumentation
 */
import * as path from 'node:path';
import { codedError, type CodedError } from './errors';

/** A backend as the addon exposes it (contract: `native/backends/selector.h`). */
export interface NativeSelector {
  /** Starts watching `fd` for `events` (1 read, 2 write, 3 both); throws OS errors. */
  add(fd: number, events: number): void;
  /** Changes the interest of a watched fd; on failure the old interest is kept. */
  modify(fd: number, events: number): void;
  /** Stops watching; swallows errors for fds closed or reused since. */
  remove(fd: number): void;
  /**
   * Waits at most `timeoutSeconds` (< 0 blocks) and writes `(fd, events)` pairs into `out`.
   * Returns the number of pairs written.
   */
  wait(timeoutSeconds: number, out: Int32Array): number;
  /** Releases the kernel object; idempotent. */
  close(): void;
  /** The kernel object's fd, or -1 for poll and select. */
  readonly fileno: number;
  readonly kind: string;
  /** Backend counters for tests and benchmarks (io_uring: rearms, stale, rechecks); `{}` else. */
  readonly counters: Record<string, number>;
  /** Largest fd accepted (FD_SETSIZE - 1 for select). */
  readonly maxFd: number;
  /** Timeouts are rounded up to this many nanoseconds. */
  readonly resolutionNs: number;
  readonly closed: boolean;
}

/**
 * Hosts a running loop on Node's libuv (native/host/loop_host.cc). For epoll/kqueue, one uv_poll on the
 * selector's fd; for poll/select, a helper thread that waits in the selector and wakes libuv. On
 * each wakeup the host collects the ready events with a zero timeout into `out` and calls
 * `onWake(count)` once, through a Node-API callback scope (ticks and promise jobs drain after it).
 */
export interface NativeLoopHost {
  /**
   * Next wakeup after at most `timeoutSeconds` (< 0: only on I/O); `keepAlive` refs the libuv
   * handles (the Node process stays alive); `watchIo` waits for readiness of registered fds.
   */
  arm(timeoutSeconds: number, keepAlive: boolean, watchIo: boolean): void;
  /** Stops and closes the libuv handles (and joins the helper thread); idempotent. */
  close(): void;
  /** 'poll' (uv_poll on the selector's fd) or 'thread' (helper thread). */
  readonly mode: string;
}

/** `NativeLoopOwner.wait()`'s result bit: the engine has completions to reap (loop_host_binding.cc). */
export const OWNER_COMPLETIONS = 1 << 30;

/**
 * Owning mode (native/host/loop_host.cc): blocks in the selector with libuv's fd in the set, or in
 * the io_uring engine it was given, which polls that set.
 */
export interface NativeLoopOwner {
  /**
   * Waits at most `timeoutSeconds` (< 0: no bound of ours), bounded by libuv's next timeout
   * while libuv is alive, writes the ready `(fd, events)` pairs into `out`, then runs libuv once
   * without blocking (`uv_run(UV_RUN_NOWAIT)`). Returns the number of pairs, plus
   * `OWNER_COMPLETIONS` when the engine it waits in has completions to reap.
   */
  wait(timeoutSeconds: number, out: Int32Array): number;
  /** It waits in the engine it was given (an epoll selector and an open engine), not in the selector. */
  readonly waitsInRing: boolean;
  /** `uv_loop_alive()`: Node has ref'd handles or requests pending. */
  libuvAlive(): boolean;
  /** Takes libuv's fd out of the selector; idempotent. */
  close(): void;
}

/** An SSL_CTX (native/tls/engine.h); options are checked natively (lib/net/tls/context.ts builds them). */
export interface NativeTlsContext {
  /** Drops this reference; engines keep theirs. Idempotent. */
  close(): void;
}

/**
 * One TLS connection over memory BIOs (native/tls/engine.h). `start`, `receive`, `send` and
 * `shutdown` return flags: 1 handshake done now, 2 close_notify received, 4 plaintext waiting
 * (`takePlain`), 8 ciphertext waiting (`takeOut`), 16 server paused at SNI (`resumeSni`), 32 a new
 * client session (`takeSession`); they throw Error{code: 'ERR_SSL_...'}.
 */
export interface NativeTlsEngine {
  start(): number;
  receive(data: ArrayBufferView, offset?: number, length?: number): number;
  send(data: ArrayBufferView, offset?: number, length?: number): number;
  /** `receive` decrypting into `pool` from `poolOffset` when the batch fits: returns used * 256 + flags. */
  openInto(data: ArrayBufferView, length: number, pool: ArrayBufferView, poolOffset: number): number;
  /** `send`, the ciphertext copied to `out`: its length, or -1 when too big (then `takeOut`). */
  sealInto(data: ArrayBufferView, out: ArrayBufferView): number;
  /** `send` returning the ciphertext Buffer (undefined for empty input). */
  seal(data: ArrayBufferView, offset?: number, length?: number): Buffer | undefined;
  shutdown(): number;
  takePlain(): Buffer | undefined;
  takeOut(): Buffer | undefined;
  info(): NativeTlsInfo;
  /** Client, before `start`: a DER session (from `takeSession`) to resume. */
  setSession(der: ArrayBufferView): void;
  /** The newest session the server gave (DER), once per flag 32. */
  takeSession(): Buffer | undefined;
  /** After flag 16: go on with `context`'s certificate (undefined: the engine's own). */
  resumeSni(context?: NativeTlsContext): number;
  /** Frees the SSL object; idempotent. */
  close(): void;
  readonly closed: boolean;
}

/** What `NativeTlsEngine.info()` reports. */
export interface NativeTlsInfo {
  /** The TLS version ('TLSv1.3', ...). */
  protocol: string;
  /** OpenSSL's name of the cipher suite. */
  cipher?: string;
  /** Its IANA (standard) name. */
  cipherStandard?: string;
  /** The TLS version the cipher suite belongs to. */
  cipherVersion?: string;
  /** The cipher's key size in bits. */
  cipherBits?: number;
  /** The protocol ALPN agreed on. */
  alpn?: string;
  /** The SNI name (sent by a client, received by a server). */
  servername?: string;
  /** The peer's certificate, DER. */
  peerCert?: Buffer;
  /** OpenSSL's verify result as Node's code ('CERT_HAS_EXPIRED', ...), when it failed. */
  verifyError?: string;
  /** Its message. */
  verifyMessage?: string;
  /** Whether the session was resumed. */
  sessionReused: boolean;
}

/**
 * The io_uring completion engine (native/uring/completion.h; Linux only). Completions come out of
 * `reap` as four int32 per entry in `events`: id, op, res, flags (the CQE's). A recv completion's
 * bytes are in `buffers` at `bid * bufferSize`; the bids JS is done with go into `recycled`, and
 * their count into the next `reap` or `flush`.
 */
export interface NativeUringEngine {
  readonly buffers: Uint8Array;
  readonly events: Int32Array;
  readonly recycled: Int32Array;
  readonly fileno: number;
  readonly closed: boolean;
  readonly bufferSize: number;
  readonly counters: Record<string, number>;
  accept(fd: number, id: number): void;
  recv(fd: number, id: number): void;
  send(fd: number, id: number, data: ArrayBufferView | ArrayBufferView[]): void;
  shutdown(fd: number, id: number, how: number): void;
  cancelFd(fd: number, id: number): void;
  cancel(id: number, op: number): void;
  reap(recycledCount: number): number;
  flush(recycledCount?: number): boolean;
  close(): void;
}

/** Everything the addon exports. */
export interface NativeBinding {
  /** Linux only. */
  UringEngine?: new (bufferCount?: number, bufferSize?: number, deferTaskrun?: boolean) => NativeUringEngine;
  TlsContext: new (options: Record<string, unknown>) => NativeTlsContext;
  TlsEngine: new (context: NativeTlsContext, serverName?: string, pauseAtSni?: boolean) => NativeTlsEngine;
  /** OpenSSL_version(): the OpenSSL inside this Node. */
  tlsOpenSslVersion: string;
  Selector: new (kind: string) => NativeSelector;
  LoopHost: new (selector: NativeSelector, onWake: (count: number) => void, out: Int32Array) => NativeLoopHost;
  LoopOwner: new (selector: NativeSelector, engine?: NativeUringEngine) => NativeLoopOwner;
  /** Kinds compiled into this build, best first. */
  selectorKinds(): string[];

  /** pipe2(O_CLOEXEC[|O_NONBLOCK]) -> [readFd, writeFd]. */
  pipe(nonblocking?: boolean): [number, number];
  /** socketpair(family, type | SOCK_CLOEXEC[|SOCK_NONBLOCK]) -> two connected fds. */
  socketpair(family: number, type: number, nonblocking?: boolean): [number, number];
  /** read(2) into `view[offset, offset + length)`: bytes read, 0 at EOF, -1 if it would block. */
  read(fd: number, view: ArrayBufferView, offset?: number, length?: number): number;
  /** write(2) from `view[offset, offset + length)`: bytes written, -1 if it would block. */
  write(fd: number, view: ArrayBufferView, offset?: number, length?: number): number;
  /** close(2), exactly once; the addon stops owning the fd. */
  close(fd: number): void;
  /** Stops owning `fd` (it will not be closed at environment teardown). */
  forget(fd: number): void;
  /** Sets or clears O_NONBLOCK. */
  setNonBlocking(fd: number, nonblocking: boolean): void;
  /** Whether O_NONBLOCK is set. */
  getNonBlocking(fd: number): boolean;
  // Child processes (contract: native/syscalls/spawn.h).

  /**
   * posix_spawn of `file` (looked up in the PATH of `env`, else of this process) with `argv`,
   * `env` (`'K=V'` strings; undefined: this process's), `cwd`, and `stdio` for fds 0..2 (-1
   * inherit, -2 /dev/null, else an fd dup2'ed onto it). Returns `[pid, pidfd]` (pidfd -1 when not
   * asked for or not supported; owned by the addon). Throws Error{code, errno, syscall ('spawn',
   * 'execve', 'fcntl'), path}.
   */
  spawn(file: string, argv: string[], env: string[] | undefined, cwd: string | undefined, stdio: [number, number, number], wantPidfd: boolean): [number, number];
  /** waitid(P_PIDFD or P_PID, WEXITED | WNOHANG): the returncode once reaped, null while it runs. */
  reap(pid: number, pidfd: number): number | null;
  /** pidfd_send_signal (pidfd >= 0) or kill(2). */
  sendSignal(pid: number, pidfd: number, signal: number): void;
  /** Platform constants. */
  constants: {
    AF_UNIX: number;
    AF_INET: number;
    AF_INET6: number;
    SOCK_STREAM: number;
    SOCK_DGRAM: number;
  };

  // Sockets (contract: native/syscalls/socket.h). Calls that may block take `timeout` in seconds (< 0 or
  // undefined: forever, 0: never wait, > 0: at most that long) and return the sentinels -1 (would
  // block, only with timeout 0) and -2 (the timeout ran out) instead of throwing. OS errors throw
  // Error{code, errno, syscall}; bad arguments throw TypeError/RangeError before any syscall.

  /** socket(2) with SOCK_CLOEXEC|SOCK_NONBLOCK; the addon owns the fd until `close`/`forget`. */
  socket(family: number, type: number, protocol?: number): number;
  /** The addon owns `fd` from now on (closed at environment teardown unless closed or forgotten). */
  adopt(fd: number): void;
  /** bind(2). `address` has Python's shape for `family`; refused (never truncated) when invalid. */
  bind(fd: number, family: number, address: NativeAddress): void;
  /** listen(2). */
  listen(fd: number, backlog: number): void;
  /** accept4(CLOEXEC|NONBLOCK) -> [fd, peer address] (owned), or -1 / -2. Skips ECONNABORTED. */
  accept(fd: number, family: number, timeout?: number): [number, NativeSocketAddress] | number;
  /**
   * connect(2) -> 0 connected, a positive errno (EINPROGRESS with timeout 0; the SO_ERROR value
   * after a wait), or -2 when the wait ran out. Never throws OS errors.
   */
  connect(fd: number, family: number, address: NativeAddress, timeout?: number): number;
  /** recv(2) into `view[offset, offset + length)`: bytes, 0 at EOF, -1, -2. */
  recv(fd: number, view: ArrayBufferView, offset?: number, length?: number, flags?: number, timeout?: number): number;
  /** recvfrom(2): [bytes, sender address (null when the kernel gives none)], or -1 / -2. */
  recvfrom(
    fd: number,
    family: number,
    view: ArrayBufferView,
    offset?: number,
    length?: number,
    flags?: number,
    timeout?: number,
  ): [number, NativeSocketAddress] | number;
  /** send(2) with MSG_NOSIGNAL: bytes sent, -1, -2. */
  send(fd: number, view: ArrayBufferView, offset?: number, length?: number, flags?: number, timeout?: number): number;
  /** sendto(2) with MSG_NOSIGNAL: bytes sent, -1, -2. */
  sendto(
    fd: number,
    family: number,
    address: NativeAddress,
    view: ArrayBufferView,
    offset?: number,
    length?: number,
    flags?: number,
    timeout?: number,
  ): number;
  /** sendmsg(2) gathering `views` (split in IOV_MAX batches on stream sockets): bytes sent, -1, -2. */
  sendmsg(fd: number, views: ArrayBufferView[], flags?: number, timeout?: number): number;
  /** shutdown(2); `how` is SHUT_RD, SHUT_WR or SHUT_RDWR. */
  shutdown(fd: number, how: number): void;
  /** setsockopt(2) with an int (numbers, booleans), `[onoff, seconds]` for SO_LINGER, or raw bytes. */
  setsockopt(fd: number, level: number, option: number, value: number | boolean | [number, number] | ArrayBufferView): void;
  /** getsockopt(2): an int, `[onoff, seconds]` for SO_LINGER, or at most `buflen` raw bytes. */
  getsockopt(fd: number, level: number, option: number, buflen?: number): number | [number, number] | Buffer;
  /** getsockname(2) in Python's shape. */
  getsockname(fd: number, family: number): NativeSocketAddress;
  /** getpeername(2) in Python's shape. */
  getpeername(fd: number, family: number): NativeSocketAddress;
  /**
   * select(2) over three fd lists; entries that are not ready are overwritten with -1. Returns the
   * number of ready entries. An fd outside [0, FD_SETSIZE) is a RangeError before any FD_SET.
   */
  select(readFds: Int32Array, writeFds: Int32Array, exceptFds: Int32Array, timeout?: number): number;
  /** Socket-level constants of this platform (SO_REUSEPORT and SO_DOMAIN only where they exist). */
  socketConstants: {
    SOL_SOCKET: number;
    SO_REUSEADDR: number;
    SO_REUSEPORT?: number;
    SO_KEEPALIVE: number;
    SO_RCVBUF: number;
    SO_SNDBUF: number;
    SO_ERROR: number;
    SO_LINGER: number;
    SO_TYPE: number;
    SO_DOMAIN?: number;
    SO_BROADCAST: number;
    IPPROTO_IP: number;
    IPPROTO_TCP: number;
    IPPROTO_UDP: number;
    IPPROTO_IPV6: number;
    TCP_NODELAY: number;
    IPV6_V6ONLY: number;
    SHUT_RD: number;
    SHUT_WR: number;
    SHUT_RDWR: number;
    MSG_PEEK: number;
    MSG_OOB: number;
    MSG_WAITALL: number;
    SOMAXCONN: number;
    FD_SETSIZE: number;
  };
}

/**
 * An address as the addon takes it: `[host, port]` (AF_INET), `[host, port, flowinfo?, scopeId?]`
 * (AF_INET6; host may end in `%scope`), or a path / Linux abstract name (AF_UNIX; a leading NUL
 * byte makes it abstract). Hosts are numeric literals, `''` (any) or `'localhost'`.
 */
export type NativeAddress = readonly [string, number] | readonly [string, number, number?, number?] | string | Uint8Array;

/**
 * An address as the addon returns it: `[host, port]`, `[host, port, flowinfo, scopeId]`, a path
 * string (`''` when unnamed), a Buffer for a Linux abstract name, or null when there is none.
 */
export type NativeSocketAddress = [string, number] | [string, number, number, number] | string | Buffer | null;

// node-gyp-build finds a prebuild for this platform, or the local build/Release output.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const load = require('node-gyp-build') as (dir: string) => unknown;

/** The loaded addon. */
// From lib/core/ (tests) or dist/core/ (the package), the package root is two levels up.
// MUXLOOP_TEST_ADDON is for muxloop's own tests only (the kqueue emulation build of
// test/native/kqueue/): a path to another build of the addon to load instead. Not an API.
const testAddon = process.env.MUXLOOP_TEST_ADDON;
export const binding = (testAddon ? require(path.resolve(testAddon)) : loadAddon(path.join(__dirname, '..', '..'))) as NativeBinding;

/**
 * node-gyp-build's pick (a prebuild for this platform and architecture, else the local build), or
 * an error that says what to install: the install step builds from source only when no prebuild
 * matches, and a failed or skipped build leaves nothing to load.
 */
function loadAddon(root: string): unknown {
  try {
    return load(root);
  } catch (cause) {
    const error = codedError(
      'ERR_MUXLOOP_ADDON_NOT_FOUND',
      `muxloop: no native addon could be loaded for ${process.platform}-${process.arch} ` +
        `(Node.js ${process.version}).\n` +
        'No prebuilt binary matches this platform, and the addon was not built at install ' +
        '(or the build failed, or install scripts were skipped). Building it needs python3, ' +
        'make and a C++17 compiler (g++ >= 8 or clang >= 7; on macOS the Xcode Command Line ' +
        'Tools). Install them, then run `npm rebuild muxloop`.\n' +
        `Cause: ${cause instanceof Error ? cause.message : String(cause)}`,
    );
    (error as CodedError & { cause?: unknown }).cause = cause;
    throw error;
  }
}

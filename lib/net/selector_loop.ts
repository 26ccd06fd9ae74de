/**
 * `SelectorEventLoop`: asyncio's `BaseSelectorEventLoop` over a muxloop selector. On top of
 * `BaseEventLoop` (scheduling, timers, runs) it watches fds (`addReader`, `addWriter`), and offers
 * the `sock*` coroutines, servers, connections, datagram endpoints and pipes on the readiness
 * engine; their implementations are the functions of `sock_ops.ts` and `servers.ts`, which the
 * methods below call. `EventLoop` (the package's name for the default loop class) is this class.
 *
 * This folder (net/) imports core/, selectors/, socket/, tasks/ and loop/; streams/ builds on it.
 * @packageDocumentation
 */
import { getEventLoop as anyEventLoop, getRunningLoop as anyRunningLoop, type Handle } from '../core/events';
import { invalidArgType, invalidArgValue } from '../core/errors';
import { checkOptionKeys, optionKeys } from '../core/options';
import { BaseEventLoop, checkCallable, type EventLoopOptions, loopClosed, type OwnedCompletions } from '../loop/base_loop';
import { EVENT_READ, EVENT_WRITE, type FileObject, fileobjToFd } from '../selectors';
import type { Address, Socket, SocketAddress } from '../socket';
import type { Future } from '../tasks/futures';
import type { BaseProtocol, DatagramTransport, ProtocolFactory, ReadTransport, Transport, WriteTransport } from './protocols';
import * as serverOps from './servers';
import type { Server } from './server';
import type { CreateConnectionOptions, CreateDatagramEndpointOptions, CreateServerOptions, CreateUnixServerOptions } from './servers';
import * as sockOps from './sock_ops';
import { wrapTls, type SslOptions, type TlsContext, type TlsOptions, type WrapTlsOptions } from './tls';
import type { PipeLike } from './transports/pipes';
import * as subprocessOps from './subprocess';
import type { SubprocessOptions, SubprocessTransport } from './subprocess';
import { Proactor, uringRefusal } from './proactor';

/**
 * How a loop's stream sockets do their I/O: `'epoll'` (readiness: the selector transports),
 * `'uring'` (completions: io_uring transports), `'auto'` (today `'epoll'`: see README "io_uring").
 */
export type IoMode = 'uring' | 'epoll' | 'auto';

/** `SelectorEventLoop` options: the base loop's, and the I/O engine of stream sockets. */
export interface SelectorEventLoopOptions extends EventLoopOptions {
  /**
   * `'uring'`: TCP and Unix stream transports, servers (multishot accept) and connections run on
   * an io_uring completion engine; when the kernel refuses io_uring (seccomp,
   * `kernel.io_uring_disabled`, too old), the loop uses epoll and says so once in debug mode.
   * `'epoll'` (and `'auto'`, the default): the readiness transports. Datagrams, pipes and the
   * `sock*` coroutines are readiness-based in every mode.
   */
  io?: IoMode;
}

let warnedFallback = false;

interface FdWatch {
  reader: Handle | undefined;
  writer: Handle | undefined;
}

/**
 * An asyncio-style event loop on a muxloop selector (`newEventLoop()` makes one). See
 * `BaseEventLoop` for the run modes and the ordering contract. **Delays are in seconds.**
 */
const LOOP_KEYS = optionKeys<SelectorEventLoopOptions>()(['selector', 'clock', 'debug', 'io']);

export class SelectorEventLoop extends BaseEventLoop {
  readonly #watches: Array<FdWatch | undefined> = [];
  #watchCount = 0;
  readonly #proactor: Proactor | undefined;

  /** A loop over `options.selector` (default `DefaultSelector`); `options.io` picks the stream I/O engine. */
  constructor(options: SelectorEventLoopOptions = {}) {
    if (options === null || typeof options !== 'object') throw invalidArgType('options', 'an object', options);
    checkOptionKeys(options, LOOP_KEYS);
    const io: unknown = options.io ?? 'auto';
    if (typeof io !== 'string') throw invalidArgType('options.io', 'of type string', io);
    if (io !== 'uring' && io !== 'epoll' && io !== 'auto') throw invalidArgValue('options.io', "'uring', 'epoll' or 'auto'", io);
    super(options);
    if (io !== 'uring') return;
    const refusal = uringRefusal();
    if (refusal === undefined) {
      this.#proactor = new Proactor(this);
    } else if (this.getDebug() && !warnedFallback) {
      warnedFallback = true;
      process.emitWarning(`io_uring is not available (${refusal.message}); the loop uses epoll`, {
        type: 'MuxloopWarning',
        code: 'MUXLOOP_URING_FALLBACK',
      });
    }
  }

  /** The I/O engine the loop's stream sockets use: `'uring'` or `'epoll'` (after any fallback). */
  get io(): 'uring' | 'epoll' {
    return this.#proactor === undefined ? 'epoll' : 'uring';
  }

  /** @internal The io_uring engine, when `io` is `'uring'`. */
  get proactor(): Proactor | undefined {
    return this.#proactor;
  }

  /** @internal Submits what the io_uring transports queued during this iteration. */
  protected override beforeWait(): void {
    this.#proactor?.flush();
  }

  /** @internal An owning run sleeps in the io_uring ring (base_loop.ts `OwnedCompletions`). */
  protected override ownedCompletions(): OwnedCompletions | undefined {
    return this.#proactor;
  }

  // ---------------------------------------------------------------------------------------------
  // Watching fds

  /**
   * Calls `callback(...args)` on every iteration in which `fileobj` is readable (level-triggered),
   * until `removeReader`. One reader per fd: adding another replaces it (the old handle is
   * cancelled). Returns the handle.
   */
  addReader<A extends unknown[]>(fileobj: FileObject, callback: (...args: A) => unknown, ...args: A): Handle {
    return this.#addWatch(fileobj, EVENT_READ, callback, args, 'addReader');
  }

  /** Stops watching `fileobj` for reading. `true` if a reader was removed; `false` on a closed loop. */
  removeReader(fileobj: FileObject): boolean {
    return this.#removeWatch(fileobj, EVENT_READ);
  }

  /** Like `addReader`, for writability. */
  addWriter<A extends unknown[]>(fileobj: FileObject, callback: (...args: A) => unknown, ...args: A): Handle {
    return this.#addWatch(fileobj, EVENT_WRITE, callback, args, 'addWriter');
  }

  /** Stops watching `fileobj` for writing. `true` if a writer was removed; `false` on a closed loop. */
  removeWriter(fileobj: FileObject): boolean {
    return this.#removeWatch(fileobj, EVENT_WRITE);
  }

  #addWatch(fileobj: FileObject, event: number, callback: unknown, args: unknown[], method: string): Handle {
    if (this.isClosed()) throw loopClosed();
    checkCallable(callback, method);
    const fd = fileobjToFd(fileobj);
    const handle = this.newHandle(callback, args);
    let watch = this.#watches[fd];
    // Kernel first, bookkeeping after: if the selector refuses, nothing here changed.
    if (watch === undefined) {
      this.selector.register(fd, event);
      watch = { reader: undefined, writer: undefined };
      this.#watches[fd] = watch;
      this.#watchCount++;
    } else {
      const events = (watch.reader ? EVENT_READ : 0) | (watch.writer ? EVENT_WRITE : 0) | event;
      this.selector.modify(fd, events);
    }
    const previous = event === EVENT_READ ? watch.reader : watch.writer;
    if (event === EVENT_READ) watch.reader = handle;
    else watch.writer = handle;
    previous?.cancel();
    this.ioChanged();
    return handle;
  }

  #removeWatch(fileobj: FileObject, event: number): boolean {
    if (this.isClosed()) return false;
    const fd = fileobjToFd(fileobj);
    const watch = this.#watches[fd];
    const handle = watch === undefined ? undefined : event === EVENT_READ ? watch.reader : watch.writer;
    if (watch === undefined || handle === undefined) return false;
    const other = event === EVENT_READ ? watch.writer : watch.reader;
    if (other === undefined) {
      // No interest left: the fd leaves the kernel set too.
      this.selector.unregister(fd);
      this.#watches[fd] = undefined;
      this.#watchCount--;
    } else {
      this.selector.modify(fd, event === EVENT_READ ? EVENT_WRITE : EVENT_READ);
      if (event === EVENT_READ) watch.reader = undefined;
      else watch.writer = undefined;
    }
    handle.cancel();
    this.ioChanged();
    return true;
  }

  /** Phase 1: for each ready fd, queue its reader, then its writer. */
  protected override processEvents(count: number, out: Int32Array): void {
    for (let i = 0; i < count; i++) this.#fdReady(out[2 * i], out[2 * i + 1]);
  }

  protected override hasIoWatches(): boolean {
    // An owning run's ring is not in the selector while it waits in it.
    return this.#watchCount > 0 || this.#proactor?.active === true;
  }

  #fdReady(fd: number, events: number): void {
    const watch = this.#watches[fd];
    if (watch === undefined) return;
    const { reader, writer } = watch;
    if ((events & EVENT_READ) !== 0 && reader !== undefined) {
      if (reader.cancelled()) this.removeReader(fd);
      else this.queueReady(reader);
    }
    if ((events & EVENT_WRITE) !== 0 && writer !== undefined) {
      if (writer.cancelled()) this.removeWriter(fd);
      else this.queueReady(writer);
    }
  }

  /**
   * Drops every pending callback, timer and fd watch without running them, and closes the
   * selector (registered fds stay open). Children started by `subprocessExec` that still run
   * have their pipes closed and are handed, alive, to a reaper: no zombie is left. Idempotent;
   * `ERR_LOOP_RUNNING` while running.
   */
  override close(): void {
    if (!this.isRunning() && !this.isClosed()) {
      subprocessOps.abandonSubprocesses(this);
      this.#proactor?.close();
      this.#watches.length = 0;
      this.#watchCount = 0;
    }
    super.close();
  }

  // ---------------------------------------------------------------------------------------------
  // Socket coroutines (sock_ops.ts): try the syscall at once, watch the fd only if it would block

  /**
   * Receives at most `nbytes` bytes from the non-blocking `sock`; an empty Buffer means EOF.
   * Cancelling the Future stops the wait at once and consumes nothing.
   */
  sockRecv(sock: Socket, nbytes: number): Future<Buffer> {
    return sockOps.sockRecv(this, sock, nbytes);
  }

  /** Receives into `buffer` (all of it, or its first `nbytes` bytes); the count, 0 at EOF. */
  sockRecvInto(sock: Socket, buffer: ArrayBufferView, nbytes?: number): Future<number> {
    return sockOps.sockRecvInto(this, sock, buffer, nbytes);
  }

  /** Receives one datagram of at most `bufsize` bytes: `[data, senderAddress]`. */
  sockRecvfrom(sock: Socket, bufsize: number): Future<[Buffer, SocketAddress | null]> {
    return sockOps.sockRecvfrom(this, sock, bufsize);
  }

  /** Receives one datagram into `buffer` (at most `nbytes` bytes; 0: all of it): `[count, sender]`. */
  sockRecvfromInto(sock: Socket, buffer: ArrayBufferView, nbytes?: number): Future<[number, SocketAddress | null]> {
    return sockOps.sockRecvfromInto(this, sock, buffer, nbytes);
  }

  /**
   * Sends all of `data`, waiting for writability as often as needed; resolves with `undefined`.
   * On an error or cancellation, how much was sent is unknowable (as in asyncio).
   */
  sockSendall(sock: Socket, data: ArrayBufferView): Future<void> {
    return sockOps.sockSendall(this, sock, data);
  }

  /** Sends one datagram to `address`; resolves with the bytes sent. */
  sockSendto(sock: Socket, data: ArrayBufferView, address: Address): Future<number> {
    return sockOps.sockSendto(this, sock, data, address);
  }

  /**
   * Connects `sock` to `address`. A host name (not a numeric address) is resolved first with
   * `loop.getaddrinfo` for the socket's family and type, off the JS thread. A refused or failed connection rejects with the OS error
   * (`code` 'ECONNREFUSED', ...). Cancelling removes the writer and leaves the socket to its
   * owner, open and unconnected-or-connecting (close it yourself).
   */
  sockConnect(sock: Socket, address: Address): Future<void> {
    return sockOps.sockConnect(this, sock, address);
  }

  /**
   * Accepts a connection on the listening `sock`: `[conn, address]`, `conn` non-blocking.
   * Cancelling stops the wait at once; no connection is accepted for a cancelled Future.
   */
  sockAccept(sock: Socket): Future<[Socket, SocketAddress]> {
    return sockOps.sockAccept(this, sock);
  }

  // ---------------------------------------------------------------------------------------------
  // Servers, connections, datagram endpoints and pipes (servers.ts)

  /**
   * A TCP server: binds every address `getaddrinfo(host, port)` returns (`host` may be a list;
   * null, undefined or '' means all interfaces), with SO_REUSEADDR and, for IPv6, IPV6_V6ONLY, as
   * asyncio does. Port 0 picks an ephemeral port (see `server.sockets[0].getsockname()`). Resolves
   * with a `Server` that listens unless `startServing` is false.
   */
  createServer(protocolFactory: ProtocolFactory, host?: string | readonly string[] | null, port?: number | string | null, options?: CreateServerOptions): Future<Server> {
    return serverOps.createServer(this, protocolFactory, host, port, options);
  }

  /**
   * Connects to `host`:`port`, trying every address getaddrinfo returns in order (or uses
   * `options.sock`), sets TCP_NODELAY, and resolves with `[transport, protocol]` once
   * `connectionMade` ran. If every attempt fails: the error when they are all alike, else an
   * `AggregateError` (code `ERR_MULTIPLE_EXCEPTIONS`, "Multiple exceptions: ...").
   */
  createConnection<P extends BaseProtocol>(protocolFactory: ProtocolFactory<P>, host?: string | null, port?: number | string | null, options?: CreateConnectionOptions): Future<[Transport, P]> {
    return serverOps.createConnection(this, protocolFactory, host, port, options);
  }

  /**
   * A Unix stream server on `path` (a stale socket file there is removed first; the file is
   * unlinked on close unless `cleanupSocket` is false), or on `options.sock`.
   */
  createUnixServer(protocolFactory: ProtocolFactory, path?: string | Uint8Array | null, options?: CreateUnixServerOptions): Future<Server> {
    return serverOps.createUnixServer(this, protocolFactory, path, options);
  }

  /** Connects to the Unix stream socket at `path` (or uses `options.sock`): `[transport, protocol]`. */
  createUnixConnection<P extends BaseProtocol>(protocolFactory: ProtocolFactory<P>, path?: string | Uint8Array | null, options?: { sock?: Socket } & SslOptions): Future<[Transport, P]> {
    return serverOps.createUnixConnection(this, protocolFactory, path, options);
  }

  /**
   * Wraps an already accepted (connected) stream socket: `[transport, protocol]`. With
   * `options.ssl` (a server context or its options) the server side of TLS runs first.
   */
  connectAcceptedSocket<P extends BaseProtocol>(protocolFactory: ProtocolFactory<P>, sock: Socket, options?: SslOptions): Future<[Transport, P]> {
    return serverOps.connectAcceptedSocket(this, protocolFactory, sock, options);
  }

  /**
   * Upgrades a connected stream transport to TLS (STARTTLS), asyncio's `loop.start_tls`:
   * resolves with the TLS transport once the handshake and verification succeeded; `protocol`
   * then gets its callbacks (its `connectionMade` is not called again, as asyncio). The old
   * transport must not be used afterwards. Rejects with a coded error and closes the connection
   * when the handshake fails; an argument error (a bad `sslContext` or option) rejects first and
   * leaves the transport as it was.
   */
  startTls(transport: Transport, protocol: BaseProtocol, sslContext: TlsContext | TlsOptions | true, options?: WrapTlsOptions): Future<Transport> {
    return this.createTask(wrapTls(this, transport, protocol, sslContext, { ...options, callConnectionMade: false })) as unknown as Future<Transport>;
  }

  /**
   * A datagram endpoint (UDP over IPv4/IPv6, or AF_UNIX datagram with paths): bound to
   * `localAddr`, connected to `remoteAddr`, or on `sock`. Resolves with `[transport, protocol]`.
   */
  createDatagramEndpoint<P extends BaseProtocol>(protocolFactory: ProtocolFactory<P>, options?: CreateDatagramEndpointOptions): Future<[DatagramTransport, P]> {
    return serverOps.createDatagramEndpoint(this, protocolFactory, options);
  }

  /**
   * Reads a pipe (an fd, or an object with `fileno()`) with a protocol: `dataReceived` per read,
   * then `eofReceived` and `connectionLost` at EOF. The fd is made non-blocking and is closed with
   * the transport (an object's own `close()` is called if it has one).
   */
  connectReadPipe<P extends BaseProtocol>(protocolFactory: ProtocolFactory<P>, pipe: PipeLike): Future<[ReadTransport, P]> {
    return serverOps.connectReadPipe(this, protocolFactory, pipe);
  }

  /**
   * Writes to a pipe (an fd, or an object with `fileno()`). When the read end is closed, the
   * transport ends with `connectionLost(Error code 'EPIPE')`.
   */
  connectWritePipe<P extends BaseProtocol>(protocolFactory: ProtocolFactory<P>, pipe: PipeLike): Future<[WriteTransport, P]> {
    return serverOps.connectWritePipe(this, protocolFactory, pipe);
  }

  // ---------------------------------------------------------------------------------------------
  // Subprocesses (subprocess.ts)

  /**
   * Starts `program` with `args` (argv is `[program, ...args]`; a name without '/' is looked up in
   * PATH) and resolves with `[transport, protocol]` once `protocol.connectionMade(transport)` ran
   * (asyncio's `subprocess_exec`). `options.stdin`/`stdout`/`stderr`: `PIPE` (the default, as in
   * asyncio's loop method), `DEVNULL`, `STDOUT` (stderr only), an fd, or `null` to inherit; the pipes
   * are muxloop pipe transports (`transport.getPipeTransport(fd)`), with flow control. Also
   * `options.cwd` and `options.env` (the whole environment).
   *
   * The protocol (a `SubprocessProtocol`) gets `pipeDataReceived(fd, data)`,
   * `pipeConnectionLost(fd, exc)`, `processExited()` and, last, `connectionLost`. The exit is
   * observed without polling: a pidfd in this loop's selector (Linux 5.3+), else SIGCHLD.
   *
   * Rejects, leaking nothing: a missing program with `ENOENT` (`errno`, `syscall` 'spawn', `path`
   * the program), a missing cwd with `ENOENT` (`syscall` 'chdir'), bad arguments with
   * `TypeError`/`RangeError`.
   */
  subprocessExec<P extends BaseProtocol>(protocolFactory: ProtocolFactory<P>, program: string, args?: readonly string[], options?: SubprocessOptions): Future<[SubprocessTransport, P]> {
    return subprocessOps.subprocessExec(this, protocolFactory, program, args, options);
  }

  /** `subprocessExec` of `/bin/sh -c cmd` (asyncio's `subprocess_shell`). */
  subprocessShell<P extends BaseProtocol>(protocolFactory: ProtocolFactory<P>, cmd: string, options?: SubprocessOptions): Future<[SubprocessTransport, P]> {
    return subprocessOps.subprocessShell(this, protocolFactory, cmd, options);
  }
}

/** @internal The running loop, with the networking surface (every loop muxloop makes has it). */
export function getRunningLoop(): SelectorEventLoop {
  return anyRunningLoop() as SelectorEventLoop;
}

/** @internal The running loop, else the current one, else a new one, with the networking surface. */
export function getEventLoop(): SelectorEventLoop {
  return anyEventLoop() as SelectorEventLoop;
}

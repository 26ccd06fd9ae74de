/**
 * `Server`: a listening server, asyncio's `Server` (python-anchor.md section 2.3), and the
 * accept-side helpers the loop's server methods share (`servers.ts`).
 * @packageDocumentation
 */
import { statSync, unlinkSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { codedError, errnoError } from '../core/errors';
import type { Future } from '../tasks/futures';
import type { SelectorEventLoop } from './selector_loop';
import type { BaseProtocol, ProtocolFactory, Transport } from './protocols';
import { Socket } from '../socket';
import type { TimerHandle } from '../core/events';
import type { BaseSelectorTransport, ServerHooks } from './transports/base';
import { SocketTransport } from './transports/socket';
import { UringSocketTransport } from './transports/uring';
import { type CompletionHandler, F_MORE, OP_ACCEPT } from './proactor';

export const E = osConstants.errno;

/** Seconds to stop accepting after EMFILE and friends (asyncio's ACCEPT_RETRY_DELAY). */
export const ACCEPT_RETRY_DELAY = 1;
export const OUT_OF_RESOURCES = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM']);

/** Runs `body` in a Task of `loop`, so errors and cancellation go through the returned Future. */
export function task<T>(loop: SelectorEventLoop, body: () => Promise<T>): Future<T> {
  return loop.createTask(body) as unknown as Future<T>;
}

/**
 * Makes a transport with a creation waiter and waits until its `connectionMade` ran; closes the
 * transport if the wait fails (cancelled, loop closed).
 */
export async function started<T extends { close(): void }>(loop: SelectorEventLoop, make: (waiter: Future<void>) => T): Promise<T> {
  const waiter = loop.createFuture<void>();
  const transport = make(waiter);
  try {
    await waiter;
  } catch (error) {
    transport.close();
    throw error;
  }
  return transport;
}

/** Creates the transport for `sock` and waits until `connectionMade` ran. */
export async function streamTransport<P extends BaseProtocol>(
  loop: SelectorEventLoop,
  sock: Socket,
  factory: ProtocolFactory<P>,
  extra: Record<string, unknown> = {},
): Promise<[Transport, P]> {
  let protocol: P;
  try {
    sock.setblocking(false);
    protocol = factory();
  } catch (error) {
    sock.close();
    throw error;
  }
  const proactor = loop.proactor;
  const transport = await started(loop, (waiter) =>
    proactor === undefined ? new SocketTransport(loop, sock, protocol, waiter, extra) : new UringSocketTransport(loop, proactor, sock, protocol, waiter, extra),
  );
  return [transport, protocol];
}

/** A Unix socket file bound by a server: unlinked on close if its inode is still the same. */
export interface BoundPath {
  path: string;
  ino: number;
}

/**
 * A listening server, asyncio's `Server`: made by `loop.createServer` and `loop.createUnixServer`.
 * Closing it stops listening and leaves accepted connections open; `waitClosed()` resolves when it
 * is closed and every connection is gone.
 */
export class Server implements ServerHooks, AsyncDisposable {
  readonly #loop: SelectorEventLoop;
  #sockets: Socket[] | null;
  readonly #factory: ProtocolFactory;
  readonly #backlog: number;
  #serving = false;
  #activeCount = 0;
  readonly #clients = new Set<BaseSelectorTransport>();
  #waiters: Array<Future<void>> | null = [];
  #servingForever: Future<void> | undefined;
  readonly #retries = new Map<Socket, TimerHandle>();
  /** io_uring loops: the id of each listening socket's multishot accept. */
  readonly #acceptIds = new Map<Socket, number>();
  readonly #paths: Map<Socket, BoundPath>;

  /** @internal Use `loop.createServer`. */
  constructor(loop: SelectorEventLoop, sockets: Socket[], factory: ProtocolFactory, backlog: number, paths = new Map<Socket, BoundPath>()) {
    this.#loop = loop;
    this.#sockets = sockets;
    this.#factory = factory;
    this.#backlog = backlog;
    this.#paths = paths;
  }

  /** The listening sockets (empty once closed). */
  get sockets(): Socket[] {
    return this.#sockets === null ? [] : [...this.#sockets];
  }

  /** The loop the server runs on. */
  getLoop(): SelectorEventLoop {
    return this.#loop;
  }

  /** Whether the server is accepting connections. */
  isServing(): boolean {
    return this.#serving;
  }

  /** @internal A transport of this server was made. */
  attach(transport: BaseSelectorTransport): void {
    this.#activeCount++;
    this.#clients.add(transport);
  }

  /** @internal A transport of this server is gone. */
  detach(transport: BaseSelectorTransport): void {
    this.#activeCount--;
    this.#clients.delete(transport);
    if (this.#activeCount === 0 && this.#sockets === null) this.#wakeup();
  }

  #wakeup(): void {
    const waiters = this.#waiters;
    this.#waiters = null;
    for (const waiter of waiters ?? []) if (!waiter.done()) waiter.setResult(undefined);
  }

  /** @internal Listens and starts accepting (synchronous; errors throw). */
  startServingNow(): void {
    if (this.#serving || this.#sockets === null) return;
    for (const sock of this.#sockets) sock.listen(this.#backlog);
    this.#serving = true;
    for (const sock of this.#sockets) this.#startAccepting(sock);
  }

  /** Starts listening and accepting if it was created with `startServing: false`. */
  startServing(): Future<void> {
    return task(this.#loop, async () => {
      this.startServingNow();
    });
  }

  #startAccepting(sock: Socket): void {
    const proactor = this.#loop.proactor;
    if (proactor === undefined) {
      this.#loop.addReader(sock.fileno(), this.#accept, sock);
      return;
    }
    let id = this.#acceptIds.get(sock);
    if (id === undefined) {
      const handler: CompletionHandler = { complete: (op, res, flags) => this.#accepted(sock, op, res, flags) };
      id = proactor.register(handler);
      this.#acceptIds.set(sock, id);
    }
    proactor.engine.accept(sock.fileno(), id);
    proactor.queued();
  }

  /** io_uring: one completion of the multishot accept on `sock` (asyncio's policy as in #accept). */
  #accepted(sock: Socket, op: number, res: number, flags: number): void {
    if (op !== OP_ACCEPT || this.#sockets === null) {
      if (op === OP_ACCEPT && res >= 0) new Socket(sock.family, sock.type, sock.proto, res).close();
      return;
    }
    const ended = (flags & F_MORE) === 0;
    if (res >= 0) {
      const conn = sock.adoptAccepted(res);
      let protocol: BaseProtocol;
      try {
        protocol = this.#factory();
        new UringSocketTransport(this.#loop, this.#loop.proactor as NonNullable<SelectorEventLoop['proactor']>, conn, protocol, undefined, {}, this);
      } catch (error) {
        conn.close();
        this.#loop.callExceptionHandler({ message: 'Error on transport creation for incoming connection', exception: error, socket: conn });
      }
      if (ended && this.#serving) this.#startAccepting(sock);
      return;
    }
    const error = errnoError(-res, 'accept', `fd ${sock.fileno()}`);
    const code = error.code;
    if (code === 'ECANCELED') return;
    if (OUT_OF_RESOURCES.has(code)) {
      // F1 as in #accept: stop accepting for a while (the multishot accept ended with the error).
      this.#loop.callExceptionHandler({ message: 'socket.accept() out of system resource', exception: error, socket: sock });
      if (!ended) {
        try {
          this.#loop.proactor?.engine.cancelFd(sock.fileno(), this.#acceptIds.get(sock) as number);
        } catch {
          // the engine is closed: nothing in flight
        }
      }
      this.#retries.set(
        sock,
        this.#loop.callLater(ACCEPT_RETRY_DELAY, () => {
          this.#retries.delete(sock);
          if (this.#serving && this.#sockets !== null) this.#startAccepting(sock);
        }),
      );
      return;
    }
    if (code !== 'ECONNABORTED' && code !== 'EINTR' && code !== 'EPROTO' && code !== 'EAGAIN') {
      this.#loop.callExceptionHandler({ message: 'Error on accepting a connection', exception: error, socket: sock });
    }
    if (ended && this.#serving) this.#startAccepting(sock);
  }

  /** asyncio's _accept_connection: up to `backlog` connections per readiness, then yield. */
  readonly #accept = (sock: Socket): void => {
    for (let i = 0; i < this.#backlog; i++) {
      let accepted: ReturnType<Socket['acceptRaw']>;
      try {
        accepted = sock.acceptRaw();
      } catch (error) {
        const code = (error as { code?: string }).code as string;
        if (code === 'ECONNABORTED' || code === 'EAGAIN' || code === 'EINTR' || code === 'EPROTO') return;
        if (OUT_OF_RESOURCES.has(code)) {
          // F1: stop accepting for a while instead of spinning on a ready listener we cannot serve;
          // connections already accepted keep being served.
          this.#loop.callExceptionHandler({ message: 'socket.accept() out of system resource', exception: error, socket: sock });
          this.#loop.removeReader(sock.fileno());
          this.#retries.set(
            sock,
            this.#loop.callLater(ACCEPT_RETRY_DELAY, () => {
              this.#retries.delete(sock);
              if (this.#serving && this.#sockets !== null) this.#startAccepting(sock);
            }),
          );
        } else {
          this.#loop.callExceptionHandler({ message: 'Error on accepting a connection', exception: error, socket: sock });
        }
        return;
      }
      if (accepted === null) return;
      const [conn, peername] = accepted;
      let protocol: BaseProtocol;
      try {
        protocol = this.#factory();
        new SocketTransport(this.#loop, conn, protocol, undefined, { peername }, this);
      } catch (error) {
        conn.close();
        this.#loop.callExceptionHandler({ message: 'Error on transport creation for incoming connection', exception: error, socket: conn });
      }
    }
  };

  /** Stops listening and closes the listening sockets; connections stay open. Idempotent. */
  close(): void {
    const sockets = this.#sockets;
    if (sockets === null) return;
    this.#sockets = null;
    const proactor = this.#loop.proactor;
    for (const sock of sockets) {
      this.#loop.removeReader(sock.fileno());
      this.#retries.get(sock)?.cancel();
      const id = this.#acceptIds.get(sock);
      if (id !== undefined && proactor !== undefined) {
        // The multishot accept holds the listening file: it goes before the fd is closed.
        try {
          proactor.engine.cancelFd(sock.fileno(), id);
        } catch {
          // a closed engine has ended it already
        }
        proactor.unregister(id);
      }
    }
    this.#acceptIds.clear();
    this.#retries.clear();
    this.#serving = false;
    for (const sock of sockets) {
      const bound = this.#paths.get(sock);
      if (bound !== undefined) {
        try {
          if (statSync(bound.path).ino === bound.ino) unlinkSync(bound.path);
        } catch {
          // already gone
        }
      }
      sock.close();
    }
    const forever = this.#servingForever;
    if (forever !== undefined && !forever.done()) forever.cancel();
    if (this.#activeCount === 0) this.#wakeup();
  }

  /** Closes every connection of this server (they flush first). */
  closeClients(): void {
    for (const transport of [...this.#clients]) transport.close();
  }

  /** Aborts every connection of this server (buffered data is dropped). */
  abortClients(): void {
    for (const transport of [...this.#clients]) transport.abort();
  }

  /** Resolves once the server is closed and every connection is gone (Python 3.12.1 semantics). */
  waitClosed(): Future<void> {
    const waiter = this.#loop.createFuture<void>();
    if (this.#waiters === null) waiter.setResult(undefined);
    else this.#waiters.push(waiter);
    return waiter;
  }

  /**
   * Serves until cancelled (or `close()`): starts serving if needed and returns a Future that never
   * resolves; cancelling it closes the server. Fails with `ERR_SERVER_RUNNING` if already awaited and
   * `ERR_SERVER_CLOSED` once closed.
   */
  serveForever(): Future<void> {
    const future = this.#loop.createFuture<void>();
    if (this.#servingForever !== undefined) {
      future.setException(codedError('ERR_SERVER_RUNNING', `server ${this} is already being awaited on serveForever()`));
      return future;
    }
    if (this.#sockets === null) {
      future.setException(codedError('ERR_SERVER_CLOSED', `server ${this} is closed`));
      return future;
    }
    try {
      this.startServingNow();
    } catch (error) {
      future.setException(error);
      return future;
    }
    this.#servingForever = future;
    future.addDoneCallback(() => {
      this.#servingForever = undefined;
      if (future.cancelled()) this.close();
    });
    return future;
  }

  /** `close()` then `waitClosed()`, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.waitClosed();
  }

  /** A description with the listening sockets. */
  toString(): string {
    return `<Server sockets=[${this.sockets.map(String).join(', ')}]>`;
  }
}

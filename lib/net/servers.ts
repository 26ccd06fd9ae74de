/**
 * The loop's high-level networking, asyncio's `create_server`, `create_connection`,
 * `create_unix_server`, `create_unix_connection`, `connect_accepted_socket`,
 * `create_datagram_endpoint`, `connect_read_pipe` and `connect_write_pipe` (python-anchor.md
 * section 2.3), as functions of the loop that `SelectorEventLoop`'s methods call; `Server` is in
 * `server.ts`. Every method returns a loop Future (a Task);
 * argument errors are delivered through it, as with the sock* coroutines.
 * @packageDocumentation
 */
import { prepareTls, tlsServerFactory, wantsTls, type SslOptions } from './tls';
import { lstatSync, statSync, unlinkSync } from 'node:fs';
import { codedError, errnoError, invalidArgType, outOfRange } from '../core/errors';
import { checkOptionKeys, optionKeys, type OptionKeys } from '../core/options';
import type { Future } from '../tasks/futures';
import type { SelectorEventLoop } from './selector_loop';
import type { BaseProtocol, DatagramTransport, ProtocolFactory, Transport, ReadTransport, WriteTransport } from './protocols';
import { AF_UNSPEC, AI_PASSIVE, type AddrInfo } from '../loop/resolver';
import { AF_INET6, AF_UNIX, type Address, IPPROTO_IPV6, IPV6_V6ONLY, SOCK_DGRAM, SOCK_STREAM, SOL_SOCKET, SO_BROADCAST, SO_REUSEADDR, SO_REUSEPORT, Socket } from '../socket';
import { DatagramSocketTransport } from './transports/datagram';
import { type PipeLike, preparePipe, ReadPipeTransport, WritePipeTransport } from './transports/pipes';
import { E, task, started, streamTransport, type BoundPath, Server } from './server';

/** A read pipe transport: `ReadTransport` of a pipe (`getExtraInfo('pipe')`). */
export type ReadPipeTransportType = ReadTransport;
/** A write pipe transport: `WriteTransport` of a pipe (`getExtraInfo('pipe')`). */
export type WritePipeTransportType = WriteTransport;

/** Options of `loop.createServer`. */
export interface CreateServerOptions extends SslOptions {
  /** `AF_UNSPEC` (default), `AF_INET` or `AF_INET6`. */
  family?: number;
  /** getaddrinfo flags; default `AI_PASSIVE`. */
  flags?: number;
  /** An existing listening-capable stream socket, instead of host and port. */
  sock?: Socket;
  /** listen() backlog and the most connections accepted per readiness event (default 100). */
  backlog?: number;
  /** SO_REUSEADDR (default true, as asyncio on POSIX). */
  reuseAddress?: boolean;
  /** SO_REUSEPORT (default false). */
  reusePort?: boolean;
  /** Listen at once (default true); otherwise call `server.startServing()`. */
  startServing?: boolean;
}

/** Options of `loop.createUnixServer`. */
export interface CreateUnixServerOptions extends SslOptions {
  /** An existing AF_UNIX stream socket, instead of a path. */
  sock?: Socket;
  /** listen() backlog (default 100). */
  backlog?: number;
  /** Listen at once (default true). */
  startServing?: boolean;
  /** Unlink the socket file when the server closes, if it is still ours (default true). */
  cleanupSocket?: boolean;
}

/** Options of `loop.createConnection`. */
export interface CreateConnectionOptions extends SslOptions {
  /** An existing connected (or connecting) stream socket, instead of host and port. */
  sock?: Socket;
  /** `[host, port]` to bind to before connecting. */
  localAddr?: readonly [string | null, number];
  /** `AF_UNSPEC` (default), `AF_INET` or `AF_INET6`. */
  family?: number;
  /** Protocol number (default 0). */
  proto?: number;
  /** getaddrinfo flags (default 0). */
  flags?: number;
}

/** Options of `loop.createDatagramEndpoint`. */
export interface CreateDatagramEndpointOptions {
  /** Address to bind: `[host, port]`, or a path for AF_UNIX. */
  localAddr?: Address;
  /** Address to connect to: `[host, port]`, or a path for AF_UNIX. */
  remoteAddr?: Address;
  /** `AF_UNSPEC` (default; AF_UNIX when an address is a path), `AF_INET`, `AF_INET6` or `AF_UNIX`. */
  family?: number;
  /** Protocol number (default 0). */
  proto?: number;
  /** getaddrinfo flags (default 0). */
  flags?: number;
  /** SO_REUSEPORT. */
  reusePort?: boolean;
  /** SO_BROADCAST; with `remoteAddr`, the socket is not connected (asyncio). */
  allowBroadcast?: boolean;
  /** An existing datagram socket; no other option may be given with it. */
  sock?: Socket;
}

function argValue(message: string): Error {
  return codedError('ERR_INVALID_ARG_VALUE', message, TypeError);
}

function checkFactory<P extends BaseProtocol>(factory: ProtocolFactory<P>): ProtocolFactory<P> {
  if (typeof factory !== 'function') throw invalidArgType('protocolFactory', 'a function', factory);
  return factory;
}

const SSL_KEYS = ['ssl', 'serverHostname', 'sslHandshakeTimeout', 'sslShutdownTimeout', 'sslSession'] as const;
const SERVER_KEYS = optionKeys<CreateServerOptions>()([...SSL_KEYS, 'family', 'flags', 'sock', 'backlog', 'reuseAddress', 'reusePort', 'startServing']);
const UNIX_SERVER_KEYS = optionKeys<CreateUnixServerOptions>()([...SSL_KEYS, 'sock', 'backlog', 'startServing', 'cleanupSocket']);
const CONNECTION_KEYS = optionKeys<CreateConnectionOptions>()([...SSL_KEYS, 'sock', 'localAddr', 'family', 'proto', 'flags']);
const UNIX_CONNECTION_KEYS = optionKeys<{ sock?: Socket } & SslOptions>()([...SSL_KEYS, 'sock']);
const ACCEPTED_KEYS = optionKeys<SslOptions>()(SSL_KEYS);
const DATAGRAM_KEYS = optionKeys<CreateDatagramEndpointOptions>()(['localAddr', 'remoteAddr', 'family', 'proto', 'flags', 'reusePort', 'allowBroadcast', 'sock']);

/** The options object (none: `{}`), refused when it is not an object or has a key not in `known`. */
function checkOptions<T extends object>(options: T | undefined, known: OptionKeys): T {
  if (options === undefined || options === null) return {} as T;
  if (typeof options !== 'object') throw invalidArgType('options', 'an object', options);
  checkOptionKeys(options, known);
  return options;
}

function checkSocket(sock: unknown, type: number, what: string): Socket {
  if (!(sock instanceof Socket)) throw invalidArgType('sock', 'a muxloop Socket', sock);
  if (sock.closed) throw argValue('sock is closed');
  if (sock.type !== type) throw argValue(`A ${what} socket was expected, got ${sock}`);
  return sock;
}

function checkBacklog(backlog: unknown): number {
  if (backlog === undefined) return 100;
  if (typeof backlog !== 'number') throw invalidArgType('backlog', 'of type number', backlog);
  if (!Number.isSafeInteger(backlog) || backlog < 1) throw outOfRange('backlog', 'an integer >= 1', backlog);
  return backlog;
}

function isSocketPath(path: unknown): path is string {
  return typeof path === 'string' && path.length > 0 && path[0] !== '\0';
}

/** asyncio: a stale socket file at `path` is removed before bind. */
function removeStaleSocket(path: unknown): void {
  if (!isSocketPath(path)) return;
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    // ENOENT: nothing to remove; anything else shows up as the bind error.
  }
}








async function resolveAll(loop: SelectorEventLoop, hosts: Array<string | null>, port: unknown, family: number, flags: number): Promise<AddrInfo[]> {
  const lists = await Promise.all(
    hosts.map(async (host) => loop.getaddrinfo(host, port as number, { family, type: SOCK_STREAM, flags })),
  );
  const seen = new Set<string>();
  const infos: AddrInfo[] = [];
  for (const info of lists.flat()) {
    const key = JSON.stringify([info[0], info[1], info[2], info[4]]);
    if (seen.has(key)) continue;
    seen.add(key);
    infos.push(info);
  }
  return infos;
}

function describeAddress(address: unknown): string {
  return Array.isArray(address) ? `(${address.map((part) => JSON.stringify(part)).join(', ')})` : JSON.stringify(address);
}

function bindError(error: unknown, address: unknown): unknown {
  const errno = (error as { errno?: unknown }).errno;
  if (typeof errno !== 'number') return error;
  return errnoError(errno, 'bind', `error while attempting to bind on address ${describeAddress(address)}`);
}

/** asyncio's create_connection error rule. */
function connectFailure(errors: unknown[]): unknown {
  const text = (e: unknown): string => String((e as Error)?.message ?? e);
  const model = text(errors[0]);
  if (errors.every((e) => text(e) === model)) return errors[0];
  const error = new AggregateError(errors, `Multiple exceptions: ${errors.map(text).join(', ')}`) as AggregateError & { code: string };
  error.code = 'ERR_MULTIPLE_EXCEPTIONS';
  return error;
}

/** `SelectorEventLoop.createServer`. */
export function createServer(loop: SelectorEventLoop, protocolFactory: ProtocolFactory, host?: string | readonly string[] | null, port?: number | string | null, options?: CreateServerOptions): Future<Server> {
  return task(loop, async () => {
    const opts = checkOptions(options, SERVER_KEYS);
    const plainFactory = checkFactory(protocolFactory);
    const factory = wantsTls(opts) ? tlsServerFactory(loop, plainFactory, opts) : plainFactory;
    const backlog = checkBacklog(opts.backlog);
    const { family = AF_UNSPEC, flags = AI_PASSIVE, reuseAddress = true, reusePort = false, startServing = true } = opts;
    if (reusePort && SO_REUSEPORT === undefined) throw codedError('ERR_NOT_SUPPORTED', 'SO_REUSEPORT is not supported on this platform');
    const sockets: Socket[] = [];
    if (opts.sock !== undefined && opts.sock !== null) {
      if ((host !== undefined && host !== null) || (port !== undefined && port !== null)) {
        throw argValue('host/port and sock can not be specified at the same time');
      }
      sockets.push(checkSocket(opts.sock, SOCK_STREAM, 'SOCK_STREAM'));
    } else {
      let hosts: Array<string | null>;
      if (host === undefined || host === null || host === '') hosts = [null];
      else if (typeof host === 'string') hosts = [host];
      else if (Array.isArray(host) && host.every((h) => typeof h === 'string')) hosts = host.map((h) => (h === '' ? null : h));
      else throw invalidArgType('host', 'a string, an array of strings or null', host);
      const infos = await resolveAll(loop, hosts, port, family, flags);
      if (infos.length === 0) throw codedError('ENOTFOUND', 'getaddrinfo() returned empty list');
      try {
        for (const [af, type, proto, , sockaddr] of infos) {
          const sock = new Socket(af, type, proto);
          sockets.push(sock);
          if (reuseAddress) sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
          if (reusePort) sock.setsockopt(SOL_SOCKET, SO_REUSEPORT as number, 1);
          // Without V6ONLY the '::' socket would also take IPv4 and collide with the 0.0.0.0 one.
          if (af === AF_INET6) sock.setsockopt(IPPROTO_IPV6, IPV6_V6ONLY, 1);
          try {
            sock.bind(sockaddr as Address);
          } catch (error) {
            throw bindError(error, sockaddr);
          }
        }
      } catch (error) {
        for (const sock of sockets) sock.close();
        throw error;
      }
    }
    for (const sock of sockets) sock.setblocking(false);
    const server = new Server(loop, sockets, factory, backlog);
    if (startServing) {
      try {
        server.startServingNow();
      } catch (error) {
        server.close();
        throw error;
      }
    }
    return server;
  });
}

/** `SelectorEventLoop.createConnection`. */
export function createConnection<P extends BaseProtocol>(loop: SelectorEventLoop, protocolFactory: ProtocolFactory<P>, host?: string | null, port?: number | string | null, options?: CreateConnectionOptions): Future<[Transport, P]> {
  return task(loop, async () => {
    const factory = checkFactory(protocolFactory);
    const opts = checkOptions(options, CONNECTION_KEYS);
    const tls = wantsTls(opts) ? prepareTls(loop, factory, opts, host) : undefined;
    const hasHostPort = (host !== undefined && host !== null) || (port !== undefined && port !== null);
    let sock: Socket;
    if (opts.sock !== undefined && opts.sock !== null) {
      if (hasHostPort) throw argValue('host/port and sock can not be specified at the same time');
      sock = checkSocket(opts.sock, SOCK_STREAM, 'SOCK_STREAM');
    } else {
      if (!hasHostPort) throw argValue('host and port was not specified and no sock specified');
      const { family = AF_UNSPEC, proto = 0, flags = 0, localAddr } = opts;
      if (localAddr !== undefined && localAddr !== null && !Array.isArray(localAddr)) {
        throw invalidArgType('localAddr', 'an array [host, port]', localAddr);
      }
      const infos = await loop.getaddrinfo(host, port, { family, type: SOCK_STREAM, proto, flags });
      if (infos.length === 0) throw codedError('ENOTFOUND', 'getaddrinfo() returned empty list');
      const localInfos =
        localAddr === undefined || localAddr === null
          ? undefined
          : await loop.getaddrinfo(localAddr[0], localAddr[1], { family, type: SOCK_STREAM, proto, flags });
      if (localInfos !== undefined && localInfos.length === 0) throw codedError('ENOTFOUND', 'getaddrinfo() returned empty list');
      const errors: unknown[] = [];
      let connected: Socket | undefined;
      for (const [af, type, pr, , address] of infos) {
        const candidate = new Socket(af, type, pr);
        try {
          candidate.setblocking(false);
          if (localInfos !== undefined) {
            const bindErrors: unknown[] = [];
            let bound = false;
            for (const local of localInfos) {
              if (local[0] !== af) continue;
              try {
                candidate.bind(local[4] as Address);
                bound = true;
                break;
              } catch (error) {
                bindErrors.push(bindError(error, local[4]));
              }
            }
            if (!bound) {
              throw bindErrors.pop() ?? codedError('EADDRNOTAVAIL', `no matching local address with family=${af} found`);
            }
          }
          await loop.sockConnect(candidate, address as Address);
          connected = candidate;
          break;
        } catch (error) {
          candidate.close();
          // Argument errors and cancellation end the attempts at once (asyncio re-raises them).
          if (!isOsLike(error)) throw error;
          errors.push(error);
        }
      }
      if (connected === undefined) throw connectFailure(errors);
      sock = connected;
    }
    if (tls) return tls((proto) => streamTransport(loop, sock, () => proto));
    return streamTransport(loop, sock, factory);
  });
}

/** `SelectorEventLoop.createUnixServer`. */
export function createUnixServer(loop: SelectorEventLoop, protocolFactory: ProtocolFactory, path?: string | Uint8Array | null, options?: CreateUnixServerOptions): Future<Server> {
  return task(loop, async () => {
    const opts = checkOptions(options, UNIX_SERVER_KEYS);
    const plainFactory = checkFactory(protocolFactory);
    const factory = wantsTls(opts) ? tlsServerFactory(loop, plainFactory, opts) : plainFactory;
    const backlog = checkBacklog(opts.backlog);
    const { startServing = true, cleanupSocket = true } = opts;
    let sock: Socket;
    if (path !== undefined && path !== null) {
      if (opts.sock !== undefined && opts.sock !== null) throw argValue('path and sock can not be specified at the same time');
      if (typeof path !== 'string' && !(path instanceof Uint8Array)) throw invalidArgType('path', 'a string or bytes', path);
      removeStaleSocket(path);
      sock = new Socket(AF_UNIX, SOCK_STREAM);
      try {
        sock.bind(path);
      } catch (error) {
        sock.close();
        if ((error as { code?: string }).code === 'EADDRINUSE') {
          throw errnoError(E.EADDRINUSE, 'bind', `Address ${JSON.stringify(path)} is already in use`);
        }
        throw error;
      }
    } else {
      if (opts.sock === undefined || opts.sock === null) throw argValue('path was not specified, and no sock specified');
      sock = checkSocket(opts.sock, SOCK_STREAM, 'SOCK_STREAM');
      if (sock.family !== AF_UNIX) throw argValue(`A UNIX Domain Stream Socket was expected, got ${sock}`);
    }
    const paths = new Map<Socket, BoundPath>();
    if (cleanupSocket) {
      const name = sock.getsockname();
      if (isSocketPath(name)) {
        try {
          paths.set(sock, { path: name, ino: statSync(name).ino });
        } catch {
          // not a file we can track
        }
      }
    }
    sock.setblocking(false);
    const server = new Server(loop, [sock], factory, backlog, paths);
    if (startServing) {
      try {
        server.startServingNow();
      } catch (error) {
        server.close();
        throw error;
      }
    }
    return server;
  });
}

/** `SelectorEventLoop.createUnixConnection`. */
export function createUnixConnection<P extends BaseProtocol>(loop: SelectorEventLoop, protocolFactory: ProtocolFactory<P>, path?: string | Uint8Array | null, options?: { sock?: Socket } & SslOptions): Future<[Transport, P]> {
  return task(loop, async () => {
    const factory = checkFactory(protocolFactory);
    const opts = checkOptions(options, UNIX_CONNECTION_KEYS);
    const tls = wantsTls(opts) ? prepareTls(loop, factory, opts, undefined) : undefined;
    let sock: Socket;
    if (opts.sock !== undefined && opts.sock !== null) {
      if (path !== undefined && path !== null) throw argValue('path and sock can not be specified at the same time');
      sock = checkSocket(opts.sock, SOCK_STREAM, 'SOCK_STREAM');
      if (sock.family !== AF_UNIX) throw argValue(`A UNIX Domain Stream Socket was expected, got ${sock}`);
    } else {
      if (path === undefined || path === null) throw argValue('no path and sock were specified');
      if (typeof path !== 'string' && !(path instanceof Uint8Array)) throw invalidArgType('path', 'a string or bytes', path);
      sock = new Socket(AF_UNIX, SOCK_STREAM);
      try {
        sock.setblocking(false);
        await loop.sockConnect(sock, path);
      } catch (error) {
        sock.close();
        throw error;
      }
    }
    // No host to check: asyncio requires serverHostname with ssl here (or verification off).
    if (tls) return tls((proto) => streamTransport(loop, sock, () => proto));
    return streamTransport(loop, sock, factory);
  });
}

/** `SelectorEventLoop.connectAcceptedSocket`. */
export function connectAcceptedSocket<P extends BaseProtocol>(loop: SelectorEventLoop, protocolFactory: ProtocolFactory<P>, sock: Socket, options?: SslOptions): Future<[Transport, P]> {
  return task(loop, async () => {
    const factory = checkFactory(protocolFactory);
    const opts = checkOptions(options, ACCEPTED_KEYS);
    const checked = checkSocket(sock, SOCK_STREAM, 'SOCK_STREAM');
    if (wantsTls(opts)) return prepareTls(loop, factory, opts, undefined, true)((proto) => streamTransport(loop, checked, () => proto));
    return streamTransport(loop, checked, factory);
  });
}

/** `SelectorEventLoop.createDatagramEndpoint`. */
export function createDatagramEndpoint<P extends BaseProtocol>(loop: SelectorEventLoop, protocolFactory: ProtocolFactory<P>, options?: CreateDatagramEndpointOptions): Future<[DatagramTransport, P]> {
  return task(loop, async () => {
    const factory = checkFactory(protocolFactory);
    const opts = checkOptions(options, DATAGRAM_KEYS);
    let sock: Socket;
    let remote: Address | undefined;
    if (opts.sock !== undefined && opts.sock !== null) {
      sock = checkSocket(opts.sock, SOCK_DGRAM, 'SOCK_DGRAM');
      const modifiers = (['localAddr', 'remoteAddr', 'family', 'proto', 'flags', 'reusePort', 'allowBroadcast'] as const).filter(
        (key) => opts[key] !== undefined && opts[key] !== null && opts[key] !== 0 && opts[key] !== false,
      );
      if (modifiers.length > 0) {
        throw argValue(`socket modifier options can not be used when sock is specified (${modifiers.join(', ')})`);
      }
      sock.setblocking(false);
      try {
        remote = sock.getpeername() as Address;
      } catch {
        remote = undefined;
      }
    } else {
      [sock, remote] = await datagramSocket(loop, opts);
    }
    let protocol: BaseProtocol;
    try {
      protocol = factory();
    } catch (error) {
      sock.close();
      throw error;
    }
    const transport = await started(loop, (waiter) => new DatagramSocketTransport(loop, sock, protocol, remote, waiter));
    return [transport, protocol] as [DatagramTransport, typeof protocol];
  }) as never;
}

/** `SelectorEventLoop.connectReadPipe`. */
export function connectReadPipe<P extends BaseProtocol>(loop: SelectorEventLoop, protocolFactory: ProtocolFactory<P>, pipe: PipeLike): Future<[ReadTransport, P]> {
  return task(loop, async () => {
    const factory = checkFactory(protocolFactory);
    const fd = preparePipe(pipe);
    const protocol = factory();
    const transport = await started(loop, (waiter) => new ReadPipeTransport(loop, pipe, fd, protocol, waiter));
    return [transport, protocol] as [ReadTransport, typeof protocol];
  }) as never;
}

/** `SelectorEventLoop.connectWritePipe`. */
export function connectWritePipe<P extends BaseProtocol>(loop: SelectorEventLoop, protocolFactory: ProtocolFactory<P>, pipe: PipeLike): Future<[WriteTransport, P]> {
  return task(loop, async () => {
    const factory = checkFactory(protocolFactory);
    const fd = preparePipe(pipe);
    const protocol = factory();
    const transport = await started(loop, (waiter) => new WritePipeTransport(loop, pipe, fd, protocol, waiter));
    return [transport, protocol] as [WriteTransport, typeof protocol];
  }) as never;
}

function isOsLike(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code);
}

/** asyncio's create_datagram_endpoint address handling: one socket, bound and/or connected. */
async function datagramSocket(loop: SelectorEventLoop, opts: CreateDatagramEndpointOptions): Promise<[Socket, Address | undefined]> {
  const { localAddr, remoteAddr, proto = 0, flags = 0, reusePort = false, allowBroadcast = false } = opts;
  let family = opts.family ?? AF_UNSPEC;
  const isPath = (a: unknown): boolean => typeof a === 'string' || a instanceof Uint8Array;
  if (family === AF_UNSPEC && (isPath(localAddr) || isPath(remoteAddr))) family = AF_UNIX;
  if (reusePort && SO_REUSEPORT === undefined) throw codedError('ERR_NOT_SUPPORTED', 'SO_REUSEPORT is not supported on this platform');
  let pairs: Array<[number, number, Address | undefined, Address | undefined]>;
  if (localAddr == null && remoteAddr == null) {
    if (family === AF_UNSPEC) throw argValue('unexpected address family');
    pairs = [[family, proto, undefined, undefined]];
  } else if (family === AF_UNIX) {
    for (const addr of [localAddr, remoteAddr]) {
      if (addr != null && !isPath(addr)) throw invalidArgType('address', 'a path (string or bytes) for AF_UNIX', addr);
    }
    removeStaleSocket(localAddr);
    pairs = [[AF_UNIX, proto, localAddr ?? undefined, remoteAddr ?? undefined]];
  } else {
    const byKey = new Map<string, [number, number, Address | undefined, Address | undefined]>();
    for (const [index, addr] of [localAddr, remoteAddr].entries()) {
      if (addr == null) continue;
      if (!Array.isArray(addr) || addr.length !== 2) throw invalidArgType(index === 0 ? 'localAddr' : 'remoteAddr', 'an array [host, port]', addr);
      const infos = await loop.getaddrinfo(addr[0] as string, addr[1] as number, { family, type: SOCK_DGRAM, proto, flags });
      if (infos.length === 0) throw codedError('ENOTFOUND', 'getaddrinfo() returned empty list');
      for (const [fam, , pro, , address] of infos) {
        const key = `${fam}/${pro}`;
        const entry = byKey.get(key) ?? [fam, pro, undefined, undefined];
        entry[index + 2] = address as Address;
        byKey.set(key, entry);
      }
    }
    pairs = [...byKey.values()].filter(([, , l, r]) => !((localAddr != null && l === undefined) || (remoteAddr != null && r === undefined)));
    if (pairs.length === 0) throw argValue('can not get address information');
  }
  const errors: unknown[] = [];
  for (const [fam, pro, local, remote] of pairs) {
    let sock: Socket | undefined;
    try {
      sock = new Socket(fam, SOCK_DGRAM, pro);
      if (reusePort) sock.setsockopt(SOL_SOCKET, SO_REUSEPORT as number, 1);
      if (allowBroadcast) sock.setsockopt(SOL_SOCKET, SO_BROADCAST, 1);
      sock.setblocking(false);
      if (local !== undefined) sock.bind(local);
      if (remote !== undefined && !allowBroadcast) await loop.sockConnect(sock, remote);
      return [sock, remote !== undefined && !allowBroadcast ? remote : undefined];
    } catch (error) {
      sock?.close();
      if (!isOsLike(error)) throw error;
      errors.push(error);
    }
  }
  throw errors[0];
}

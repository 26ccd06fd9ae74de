/**
 * Name resolution off the JS thread: `loop.getaddrinfo` and `loop.getnameinfo`, with Python's
 * result shapes, over Node's `dns.lookup` / `dns.lookupService` (libc getaddrinfo/getnameinfo in
 * libuv's thread pool; asyncio runs them in its default executor, the same idea). Numeric hosts
 * are answered without a thread-pool round trip by Node itself.
 *
 * Differences from Python, all because `dns.lookup` reports addresses only:
 * - with `type` 0, each address yields a `SOCK_STREAM` (proto `IPPROTO_TCP`) and a `SOCK_DGRAM`
 *   (proto `IPPROTO_UDP`) entry, no `SOCK_RAW` one;
 * - `canonname` is always `''` (`AI_CANONNAME` is accepted and ignored);
 * - `port` is a number, a numeric string, or null; service names ('http') are a `TypeError`;
 * - `getnameinfo` looks services up as TCP (`NI_DGRAM` is ignored).
 * Errors are Node's DNS errors (`code` 'ENOTFOUND', 'EAI_AGAIN', ..., `syscall` 'getaddrinfo').
 * @packageDocumentation
 */
import dns from 'node:dns';
import { isIP } from 'node:net';
import { codedError, invalidArgType, outOfRange } from '../core/errors';
import { checkOptionKeys, optionKeys } from '../core/options';
import type { Future } from '../tasks/futures';
import type { BaseEventLoop } from './base_loop';
import { AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP, SOCK_DGRAM, SOCK_STREAM, type SocketAddress } from '../socket';

/** Any address family (getaddrinfo's "both IPv4 and IPv6"). */
export const AF_UNSPEC = 0;
/** getaddrinfo: addresses for `bind` (a null host means the wildcard address). */
export const AI_PASSIVE = 0x1;
/** getaddrinfo: ask for the canonical name (accepted; `canonname` stays `''`, see above). */
export const AI_CANONNAME = 0x2;
/** getaddrinfo: the host must be a numeric address; no lookup is made. */
export const AI_NUMERICHOST = 0x4;
/** getaddrinfo: with `AF_INET6` and no IPv6 address, return IPv4-mapped ones. */
export const AI_V4MAPPED = 0x8;
/** getaddrinfo: with `AI_V4MAPPED`, return IPv6 and IPv4-mapped addresses. */
export const AI_ALL = 0x10;
/** getaddrinfo: only families the host has a configured address for. */
export const AI_ADDRCONFIG = 0x20;
/** getaddrinfo: the port must be numeric (always the case here). */
export const AI_NUMERICSERV = 0x400;
/** getnameinfo: the host as a numeric address, no reverse lookup. */
export const NI_NUMERICHOST = 0x1;
/** getnameinfo: the port as a number string, no service lookup. */
export const NI_NUMERICSERV = 0x2;
/** getnameinfo: fail when the address has no name (instead of returning it numerically). */
export const NI_NAMEREQD = 0x8;
/** getnameinfo: datagram service (accepted and ignored: services are looked up as TCP). */
export const NI_DGRAM = 0x10;

/** One getaddrinfo result: `[family, type, proto, canonname, sockaddr]`, as in Python. */
export type AddrInfo = [family: number, type: number, proto: number, canonname: string, sockaddr: SocketAddress];

/** Options of `loop.getaddrinfo`, Python's keyword arguments. */
export interface GetaddrinfoOptions {
  /** `AF_UNSPEC` (default), `AF_INET` or `AF_INET6`. */
  family?: number;
  /** 0 (default: stream and datagram entries), `SOCK_STREAM` or `SOCK_DGRAM`. */
  type?: number;
  /** 0 (default) or the protocol matching `type`. */
  proto?: number;
  /** `AI_*` flags (default 0). */
  flags?: number;
}



/** Settles `future` from a Node callback, unless it was cancelled or its loop closed meanwhile. */
function settle<T>(future: Future<T>, error: unknown, value?: T): void {
  if (future.done() || future.getLoop().isClosed()) return;
  if (error) future.setException(error);
  else future.setResult(value as T);
}

function checkPort(port: unknown): number {
  if (port === null || port === undefined) return 0;
  const n = typeof port === 'string' && /^\d+$/.test(port) ? Number(port) : port;
  if (typeof n !== 'number') throw invalidArgType('port', 'a number, a numeric string or null (service names are not supported)', port);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw outOfRange('port', 'an integer from 0 to 65535', port);
  return n;
}

/** The [type, proto] pairs each address expands to. */
function socketKinds(type: number, proto: number): Array<[number, number]> {
  if (type === 0) {
    const all: Array<[number, number]> = [
      [SOCK_STREAM, IPPROTO_TCP],
      [SOCK_DGRAM, IPPROTO_UDP],
    ];
    return proto === 0 ? all : all.filter(([, p]) => p === proto);
  }
  if (type !== SOCK_STREAM && type !== SOCK_DGRAM) throw outOfRange('type', '0, SOCK_STREAM or SOCK_DGRAM', type);
  return [[type, proto || (type === SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP)]];
}

function nodeFamily(family: number): 0 | 4 | 6 {
  if (family === AF_UNSPEC) return 0;
  if (family === AF_INET) return 4;
  if (family === AF_INET6) return 6;
  throw outOfRange('family', 'AF_UNSPEC, AF_INET or AF_INET6', family);
}

function nameNotFound(host: string): Error {
  return codedError('ENOTFOUND', `getaddrinfo ENOTFOUND ${host}`);
}

const GETADDRINFO_KEYS = optionKeys<GetaddrinfoOptions>()(['family', 'type', 'proto', 'flags']);

/** `BaseEventLoop.getaddrinfo`. */
export function getaddrinfo(loop: BaseEventLoop, host: string | null | undefined, port: number | string | null | undefined, options: GetaddrinfoOptions = {}): Future<AddrInfo[]> {
  const future = loop.createFuture<AddrInfo[]>();
  try {
    if (options === null || typeof options !== 'object') throw invalidArgType('options', 'an object', options);
    checkOptionKeys(options, GETADDRINFO_KEYS);
    const { family = AF_UNSPEC, type = 0, proto = 0, flags = 0 } = options;
    const portNumber = checkPort(port);
    const want = nodeFamily(family);
    const kinds = socketKinds(type, proto);
    if (host !== null && host !== undefined && typeof host !== 'string') throw invalidArgType('host', 'a string or null', host);
    const build = (addresses: Array<{ address: string; family: number }>): AddrInfo[] => {
      const infos: AddrInfo[] = [];
      for (const { address, family: version } of addresses) {
        const sockaddr: SocketAddress = version === 6 ? [address, portNumber, 0, 0] : [address, portNumber];
        for (const [t, p] of kinds) infos.push([version === 6 ? AF_INET6 : AF_INET, t, p, '', sockaddr]);
      }
      return infos;
    };
    if (host === null || host === undefined) {
      // getaddrinfo(NULL, ...): wildcard for bind with AI_PASSIVE, else loopback.
      const passive = (flags & AI_PASSIVE) !== 0;
      const candidates = [
        { address: passive ? '0.0.0.0' : '127.0.0.1', family: 4 },
        { address: passive ? '::' : '::1', family: 6 },
      ].filter((a) => want === 0 || a.family === want);
      future.setResult(build(candidates));
      return future;
    }
    const numeric = isIP(host);
    if ((flags & AI_NUMERICHOST) !== 0 && numeric === 0) throw nameNotFound(host);
    let hints = 0;
    if (flags & AI_ADDRCONFIG) hints |= dns.ADDRCONFIG;
    if (flags & AI_V4MAPPED) hints |= dns.V4MAPPED;
    if (flags & AI_ALL) hints |= dns.ALL;
    dns.lookup(host, { family: want, all: true, hints, verbatim: true }, (error, addresses) =>
      settle(future, error, error ? undefined : build(addresses)),
    );
  } catch (error) {
    future.setException(error);
  }
  return future;
}

/** `BaseEventLoop.getnameinfo`. */
export function getnameinfo(loop: BaseEventLoop, sockaddr: readonly [string, number, ...unknown[]], flags: number = 0): Future<[string, string]> {
  const future = loop.createFuture<[string, string]>();
  try {
    if (!Array.isArray(sockaddr) || typeof sockaddr[0] !== 'string') {
      throw invalidArgType('sockaddr', 'an array [host, port, ...]', sockaddr);
    }
    const host = sockaddr[0];
    const port = checkPort(sockaddr[1]);
    if (isIP(host) === 0) throw codedError('ENOTFOUND', `getnameinfo ENOTFOUND ${host} (the host must be numeric)`);
    if (typeof flags !== 'number') throw invalidArgType('flags', 'of type number', flags);
    const numericHost = (flags & NI_NUMERICHOST) !== 0;
    const numericServ = (flags & NI_NUMERICSERV) !== 0;
    if (numericHost && numericServ) {
      future.setResult([host, String(port)]);
      return future;
    }
    dns.lookupService(host, port, (error, hostname, service) => {
      if (!error && (flags & NI_NAMEREQD) !== 0 && hostname === host) {
        error = codedError('ENOTFOUND', `getnameinfo ENOTFOUND ${host}`) as NodeJS.ErrnoException;
      }
      settle<[string, string]>(future, error, error ? undefined : [numericHost ? host : hostname, numericServ ? String(port) : service]);
    });
  } catch (error) {
    future.setException(error);
  }
  return future;
}

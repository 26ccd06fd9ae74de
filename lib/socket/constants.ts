/**
 * The socket module's constants (Python's `socket.AF_INET`, ...), read from the addon so they are
 * the platform's own values, and the address types.
 * @packageDocumentation
 */
import { binding } from '../core/native';

const C = binding.constants;
const S = binding.socketConstants;

/** IPv4. */
export const AF_INET: number = C.AF_INET;
/** IPv6. */
export const AF_INET6: number = C.AF_INET6;
/** Unix domain sockets (paths, and Linux abstract names that start with a NUL byte). */
export const AF_UNIX: number = C.AF_UNIX;
/** Stream sockets (TCP, Unix stream). */
export const SOCK_STREAM: number = C.SOCK_STREAM;
/** Datagram sockets (UDP, Unix datagram). */
export const SOCK_DGRAM: number = C.SOCK_DGRAM;
/** Socket-level options. */
export const SOL_SOCKET: number = S.SOL_SOCKET;
/** Allow binding a port in TIME_WAIT. */
export const SO_REUSEADDR: number = S.SO_REUSEADDR;
/** Let several sockets bind the same port (undefined where the platform has no SO_REUSEPORT). */
export const SO_REUSEPORT: number | undefined = S.SO_REUSEPORT;
/** TCP keepalive probes. */
export const SO_KEEPALIVE: number = S.SO_KEEPALIVE;
/** Receive buffer size (Linux reports double the value set). */
export const SO_RCVBUF: number = S.SO_RCVBUF;
/** Send buffer size (Linux reports double the value set). */
export const SO_SNDBUF: number = S.SO_SNDBUF;
/** Pending socket error, cleared when read: the result of a non-blocking connect. */
export const SO_ERROR: number = S.SO_ERROR;
/** Linger on close; `setsockopt(SOL_SOCKET, SO_LINGER, [1, 0])` makes close send a RST. */
export const SO_LINGER: number = S.SO_LINGER;
/** The socket type (read only). */
export const SO_TYPE: number = S.SO_TYPE;
/** Permission to send to broadcast addresses. */
export const SO_BROADCAST: number = S.SO_BROADCAST;
/** TCP protocol level. */
export const IPPROTO_TCP: number = S.IPPROTO_TCP;
/** UDP protocol level. */
export const IPPROTO_UDP: number = S.IPPROTO_UDP;
/** IPv4 protocol level. */
export const IPPROTO_IP: number = S.IPPROTO_IP;
/** IPv6 protocol level. */
export const IPPROTO_IPV6: number = S.IPPROTO_IPV6;
/** Disable Nagle's algorithm. */
export const TCP_NODELAY: number = S.TCP_NODELAY;
/** Restrict an AF_INET6 socket to IPv6 (no IPv4-mapped addresses). */
export const IPV6_V6ONLY: number = S.IPV6_V6ONLY;
/** `shutdown` the receiving side. */
export const SHUT_RD: number = S.SHUT_RD;
/** `shutdown` the sending side (the peer reads EOF). */
export const SHUT_WR: number = S.SHUT_WR;
/** `shutdown` both sides. */
export const SHUT_RDWR: number = S.SHUT_RDWR;
/** recv flag: look at the data without consuming it. */
export const MSG_PEEK: number = S.MSG_PEEK;
/** Out-of-band data. */
export const MSG_OOB: number = S.MSG_OOB;
/** recv flag: wait for the full amount (may still return less on a signal, EOF or error). */
export const MSG_WAITALL: number = S.MSG_WAITALL;
/** The kernel's listen backlog limit. */
export const SOMAXCONN: number = S.SOMAXCONN;

/** An IPv4 address: `[host, port]`. */
export type InetAddress = readonly [host: string, port: number];
/** An IPv6 address: `[host, port, flowinfo?, scopeId?]`; the host may end in `%scope`. */
export type Inet6Address = readonly [host: string, port: number, flowinfo?: number, scopeId?: number];
/** A Unix address: a path, or a Linux abstract name (a string or bytes starting with NUL). */
export type UnixAddress = string | Uint8Array;
/** Any address a `Socket` method accepts. */
export type Address = InetAddress | Inet6Address | UnixAddress;
/** An IPv4 address as a socket returns it: `[host, port]`. */
export type IPv4Address = [host: string, port: number];
/** An IPv6 address as a socket returns it: `[host, port, flowinfo, scopeId]`. */
export type IPv6Address = [host: string, port: number, flowinfo: number, scopeId: number];
/**
 * An address as returned by `accept`, `recvfrom`, `getsockname`, `getpeername`: an
 * `IPv4Address`, an `IPv6Address`, or a `UnixAddress` (a path string, `''` when unnamed, or a
 * Buffer for a Linux abstract name). `recvfrom` adds `null` when the kernel gives none (on a
 * connected stream).
 */
export type SocketAddress = IPv4Address | IPv6Address | UnixAddress;
/** The address kinds, for the typed accessors (`sock.getsockname<'inet'>()`). */
export type AddressKind = 'inet' | 'inet6' | 'unix';
/** The address type of an address kind: `AddressOf<'inet'>` is `IPv4Address`. */
export type AddressOf<K extends AddressKind> = K extends 'inet' ? IPv4Address : K extends 'inet6' ? IPv6Address : UnixAddress;


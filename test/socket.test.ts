// Socket over the real kernel: loopback TCP (IPv4, IPv6), UDP, Unix stream and datagram (paths and
// abstract names), socketpair, pipes; blocking, timeout and non-blocking modes; options and address
// shapes. Every test ends with the fd count back at its baseline.
import { mkdtempSync, rmSync } from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  IPPROTO_IPV6,
  IPPROTO_TCP,
  IPV6_V6ONLY,
  MSG_PEEK,
  SHUT_WR,
  SOCK_DGRAM,
  SOCK_STREAM,
  SOL_SOCKET,
  SO_ERROR,
  SO_KEEPALIVE,
  SO_LINGER,
  SO_RCVBUF,
  SO_REUSEADDR,
  SO_REUSEPORT,
  SO_SNDBUF,
  Socket,
  SocketTimeoutError,
  TCP_NODELAY,
  close,
  createConnection,
  createServer,
  getBlocking,
  pipe,
  read,
  setNonBlocking,
  socketpair,
  write,
} from '../lib/socket';
import { openFdCount, useFdLeakCheck } from './helpers';

function hasIPv6Loopback(): boolean {
  try {
    using s = new Socket(AF_INET6);
    s.bind(['::1', 0]);
    return true;
  } catch {
    return false;
  }
}
const ipv6 = hasIPv6Loopback();
const E = osConstants.errno;

/** Closes these at the end of the test, even when it fails; the fd count is checked after. */
const track = useFdLeakCheck();

function tcpPair(family: number, host: string): [Socket, Socket, Socket] {
  const server = createServer([host, 0], { family });
  track(server);
  const client = createConnection(server.getsockname() as [string, number], 5);
  track(client);
  const [conn] = server.accept();
  track(conn);
  return [server, client, conn];
}

describe.each([
  ['IPv4', AF_INET, '127.0.0.1', true],
  ['IPv6', AF_INET6, '::1', ipv6],
])('TCP over %s loopback', (_name, family, host, available) => {
  it.runIf(available)('connects, echoes both ways and reports addresses in Python shapes', () => {
    const [server, client, conn] = tcpPair(family, host);
    const local = server.getsockname() as unknown[];
    expect(local[0]).toBe(host);
    expect(local[1]).toBeGreaterThan(0);
    if (family === AF_INET6) {
      expect(local).toHaveLength(4);
      expect(local[2]).toBe(0);
      expect(local[3]).toBe(0);
    } else {
      expect(local).toHaveLength(2);
    }
    expect(conn.getpeername()).toEqual(client.getsockname());
    expect(client.getpeername()).toEqual(server.getsockname());
    expect(client.send(Buffer.from('ping'))).toBe(4);
    expect(conn.recv(100).toString()).toBe('ping');
    conn.sendall(Buffer.from('pong'));
    expect(client.recv(100).toString()).toBe('pong');
    expect(conn.family).toBe(family);
    expect(conn.type).toBe(SOCK_STREAM);
    expect(inspect(client)).toContain(`raddr=${inspect(server.getsockname(), { breakLength: Infinity })}`);
  });

  it.runIf(available)('reads EOF as an empty buffer after shutdown(SHUT_WR), distinct from EAGAIN', () => {
    const [, client, conn] = tcpPair(family, host);
    conn.setblocking(false);
    expect(() => conn.recv(10)).toThrow(expect.objectContaining({ code: 'EAGAIN', syscall: 'recv' }));
    client.shutdown(SHUT_WR);
    const eof = conn.recv(10);
    expect(eof).toBeInstanceOf(Buffer);
    expect(eof.length).toBe(0);
    expect(conn.recvInto(Buffer.alloc(4))).toBe(0);
  });
});

describe('Socket basics', () => {
  it('defaults to AF_INET, SOCK_STREAM, blocking', () => {
    const [s] = track(new Socket());
    expect(s.family).toBe(AF_INET);
    expect(s.type).toBe(SOCK_STREAM);
    expect(s.proto).toBe(0);
    expect(s.getblocking()).toBe(true);
    expect(s.gettimeout()).toBeNull();
    expect(s.fileno()).toBeGreaterThanOrEqual(0);
  });

  it('settimeout/setblocking follow Python', () => {
    const [s] = track(new Socket());
    s.settimeout(1.5);
    expect(s.gettimeout()).toBe(1.5);
    expect(s.getblocking()).toBe(true);
    s.setblocking(false);
    expect(s.gettimeout()).toBe(0);
    expect(s.getblocking()).toBe(false);
    s.setblocking(true);
    expect(s.gettimeout()).toBeNull();
    s.settimeout(0);
    expect(s.getblocking()).toBe(false);
    expect(() => s.settimeout(-1)).toThrow(RangeError);
    expect(() => s.settimeout(NaN)).toThrow(RangeError);
    expect(() => s.settimeout(Infinity)).toThrow(RangeError);
    expect(() => s.settimeout('1' as unknown as number)).toThrow(TypeError);
  });

  it('close is idempotent, fileno becomes -1 and operations give EBADF', () => {
    const s = new Socket();
    const fd = s.fileno();
    s.close();
    expect(s.fileno()).toBe(-1);
    expect(s.closed).toBe(true);
    s.close();
    expect(() => s.bind(['127.0.0.1', 0])).toThrow(expect.objectContaining({ code: 'EBADF' }));
    // The number is free again: the next socket may get it, and closing the old object again
    // must not touch it.
    const t = new Socket();
    track(t);
    s.close();
    expect(t.getsockopt(SOL_SOCKET, SO_ERROR)).toBe(0);
    void fd;
  });

  it('detach hands the fd over without closing it', () => {
    const s = new Socket();
    const fd = s.detach();
    expect(s.fileno()).toBe(-1);
    expect(s.detach()).toBe(-1);
    // Still open: wrap it again, with family and type read from the kernel.
    const again = new Socket(undefined, undefined, 0, fd);
    track(again);
    expect(again.fileno()).toBe(fd);
    expect(again.type).toBe(SOCK_STREAM);
    expect(again.family).toBe(AF_INET);
  });

  it('Symbol.dispose closes (using)', () => {
    const before = openFdCount();
    let fd: number;
    {
      using s = new Socket();
      fd = s.fileno();
      expect(fd).toBeGreaterThanOrEqual(0);
    }
    expect(openFdCount()).toBe(before);
  });

  it('rejects unsupported families and types', () => {
    expect(() => new Socket(12345)).toThrow(RangeError);
    expect(() => new Socket(AF_INET, 99)).toThrow(RangeError);
    expect(() => new Socket('2' as unknown as number)).toThrow(TypeError);
  });

  it('supports the listed socket options', () => {
    const [, client] = tcpPair(AF_INET, '127.0.0.1');
    client.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
    expect(client.getsockopt(SOL_SOCKET, SO_REUSEADDR)).toBe(1);
    if (SO_REUSEPORT !== undefined) {
      client.setsockopt(SOL_SOCKET, SO_REUSEPORT, true);
      expect(client.getsockopt(SOL_SOCKET, SO_REUSEPORT)).toBe(1);
    }
    client.setsockopt(SOL_SOCKET, SO_KEEPALIVE, 1);
    expect(client.getsockopt(SOL_SOCKET, SO_KEEPALIVE)).toBe(1);
    client.setsockopt(SOL_SOCKET, SO_RCVBUF, 65536);
    expect(client.getsockopt(SOL_SOCKET, SO_RCVBUF)).toBeGreaterThanOrEqual(65536);
    client.setsockopt(SOL_SOCKET, SO_SNDBUF, 65536);
    expect(client.getsockopt(SOL_SOCKET, SO_SNDBUF)).toBeGreaterThanOrEqual(65536);
    expect(client.getsockopt(SOL_SOCKET, SO_ERROR)).toBe(0);
    client.setsockopt(SOL_SOCKET, SO_LINGER, [1, 5]);
    expect(client.getsockopt(SOL_SOCKET, SO_LINGER)).toEqual([1, 5]);
    client.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
    expect(client.getsockopt(IPPROTO_TCP, TCP_NODELAY)).toBe(1);
    const raw = client.getsockopt(IPPROTO_TCP, TCP_NODELAY, 4) as Buffer;
    expect(raw).toBeInstanceOf(Buffer);
    expect(raw.readInt32LE(0)).toBe(1);
    client.setsockopt(SOL_SOCKET, SO_KEEPALIVE, Buffer.from(Int32Array.of(0).buffer));
    expect(client.getsockopt(SOL_SOCKET, SO_KEEPALIVE)).toBe(0);
    // An IPv6 option on an IPv4 socket: the kernel refuses (ENOTSUP == EOPNOTSUPP on Linux).
    expect(() => client.getsockopt(IPPROTO_IPV6, IPV6_V6ONLY)).toThrow(expect.objectContaining({ syscall: 'getsockopt' }));
  });

  it.runIf(ipv6)("createConnection(['localhost', port]) falls back from 127.0.0.1 to ::1", () => {
    const [server] = track(createServer(['::1', 0]));
    const port = (server.getsockname() as [string, number])[1];
    const [client] = track(createConnection(['localhost', port], 5));
    expect(client.family).toBe(AF_INET6);
    const [conn] = server.accept();
    track(conn);
    expect(conn.getpeername()).toEqual(client.getsockname());
  });

  it.runIf(ipv6)('IPV6_V6ONLY and a dual-stack server accepting IPv4', () => {
    const [server] = track(createServer(['::', 0], { dualstack: true }));
    expect(server.getsockopt(IPPROTO_IPV6, IPV6_V6ONLY)).toBe(0);
    const port = (server.getsockname() as [string, number])[1];
    const [client] = track(createConnection(['127.0.0.1', port], 5));
    const [conn, peer] = server.accept();
    track(conn);
    expect((peer as unknown[])[0]).toBe('::ffff:127.0.0.1');
    client.sendall(Buffer.from('v4'));
    expect(conn.recv(10).toString()).toBe('v4');
    const [only] = track(createServer(['::1', 0]));
    expect(only.getsockopt(IPPROTO_IPV6, IPV6_V6ONLY)).toBe(1);
    expect(() => createServer(['127.0.0.1', 0], { dualstack: true })).toThrow(TypeError);
  });

  it('accepts recvInto with nbytes and MSG_PEEK, recvfromInto, sendmsg', () => {
    const [, client, conn] = tcpPair(AF_INET, '127.0.0.1');
    expect(client.sendmsg([Buffer.from('ab'), new Uint8Array([99]), Buffer.alloc(0), Buffer.from('def')])).toBe(6);
    const peek = Buffer.alloc(6);
    let got = 0;
    while (got < 6) got = conn.recvInto(peek, 6, MSG_PEEK);
    expect(peek.toString()).toBe('abcdef');
    const buf = Buffer.alloc(10);
    expect(conn.recvInto(buf, 2)).toBe(2);
    expect(buf.subarray(0, 2).toString()).toBe('ab');
    const [n, from] = conn.recvfromInto(buf);
    expect(buf.subarray(0, n).toString()).toBe('cdef');
    expect(from).toBeNull(); // a connected stream gives no sender address
    expect(() => conn.recvInto(buf, 11)).toThrow(RangeError);
    expect(() => conn.recvInto(buf, -1)).toThrow(RangeError);
    // 0 bytes would be indistinguishable from EOF: refused (B3).
    expect(() => conn.recv(0)).toThrow(RangeError);
    expect(() => conn.recvInto(Buffer.alloc(0))).toThrow(RangeError);
    expect(() => conn.recvfrom(0)).toThrow(RangeError);
    expect(() => client.sendmsg([Buffer.from('x')], [1])).toThrow(TypeError);
  });

  it('accept() returns blocking sockets and the peer address', () => {
    const [server, client, conn] = tcpPair(AF_INET, '127.0.0.1');
    expect(conn.getblocking()).toBe(true);
    expect(conn.gettimeout()).toBeNull();
    void server;
    void client;
  });
});

describe('timeouts', () => {
  it('recv with a timeout waits at least that long, then throws a TimeoutError', () => {
    const [a, b] = track(...socketpair());
    a.settimeout(0.2);
    const start = performance.now();
    let error: unknown;
    try {
      a.recv(10);
    } catch (e) {
      error = e;
    }
    const elapsed = performance.now() - start;
    expect(error).toBeInstanceOf(SocketTimeoutError);
    expect(error).toMatchObject({ name: 'TimeoutError', code: 'ETIMEDOUT', syscall: 'recv' });
    expect(elapsed).toBeGreaterThanOrEqual(199);
    b.send(Buffer.from('late'));
    expect(a.recv(10).toString()).toBe('late');
  });

  it('accept with a timeout times out; connect to a listening socket within the timeout works', () => {
    const [server] = track(createServer(['127.0.0.1', 0]));
    server.settimeout(0.05);
    expect(() => server.accept()).toThrow(SocketTimeoutError);
    const client = createConnection(server.getsockname() as [string, number], 2);
    track(client);
    expect(client.gettimeout()).toBe(2);
    const [conn] = server.accept();
    track(conn);
  });

  // Linux drops SYNs to a full accept queue (tcp_abort_on_overflow = 0); other kernels may refuse.
  it.runIf(process.platform === 'linux')('connect with a timeout to a listener whose backlog is full times out (no SYN-ACK)', () => {
    const [server] = track(new Socket());
    server.bind(['127.0.0.1', 0]);
    server.listen(0); // the kernel then drops SYNs once one connection waits to be accepted
    let timedOut: unknown;
    for (let i = 0; i < 8 && !timedOut; i++) {
      const [c] = track(new Socket());
      c.settimeout(0.2);
      const start = performance.now();
      try {
        c.connect(server.getsockname() as [string, number]);
      } catch (e) {
        expect(performance.now() - start).toBeGreaterThanOrEqual(199);
        timedOut = e;
      }
    }
    expect(timedOut).toBeInstanceOf(SocketTimeoutError);
    expect(timedOut).toMatchObject({ code: 'ETIMEDOUT', syscall: 'connect' });
    // connectEx reports the same as an errno.
    const [d] = track(new Socket());
    d.settimeout(0.05);
    expect(d.connectEx(server.getsockname() as [string, number])).toBe(E.ETIMEDOUT);
  });

  it('sendall with a timeout to a reader that never reads times out with one deadline', () => {
    const [a, b] = track(...socketpair());
    a.setsockopt(SOL_SOCKET, SO_SNDBUF, 4096);
    a.settimeout(0.1);
    const start = performance.now();
    expect(() => a.sendall(Buffer.alloc(8 * 1024 * 1024))).toThrow(SocketTimeoutError);
    expect(performance.now() - start).toBeGreaterThanOrEqual(99);
    void b;
  });
});

describe('non-blocking mode', () => {
  it('connect raises EINPROGRESS or succeeds; connectEx returns the errno', () => {
    const [server] = track(createServer(['127.0.0.1', 0]));
    const [c] = track(new Socket());
    c.setblocking(false);
    const r = c.connectEx(server.getsockname() as [string, number]);
    expect([0, E.EINPROGRESS]).toContain(r);
    const [d] = track(new Socket());
    d.setblocking(false);
    try {
      d.connect(server.getsockname() as [string, number]);
    } catch (e) {
      expect(e).toMatchObject({ code: 'EINPROGRESS', syscall: 'connect' });
    }
    server.setblocking(true);
    track(server.accept()[0], server.accept()[0]);
  });

  it('accept and send throw EAGAIN instead of blocking', () => {
    const [server] = track(createServer(['127.0.0.1', 0]));
    server.setblocking(false);
    expect(() => server.accept()).toThrow(expect.objectContaining({ code: 'EAGAIN', errno: E.EAGAIN, syscall: 'accept' }));
    expect(server.acceptRaw()).toBeNull();
    const [a, b] = track(...socketpair());
    a.setblocking(false);
    let sent = 0;
    expect(() => {
      for (let i = 0; i < 100000; i++) sent += a.send(Buffer.alloc(65536));
    }).toThrow(expect.objectContaining({ code: 'EAGAIN', syscall: 'send' }));
    expect(sent).toBeGreaterThan(0);
    void b;
  });

  it('raw hot-path methods return -1 for EAGAIN and 0 for EOF without throwing', () => {
    const [a, b] = socketpair();
    track(a);
    const buf = Buffer.alloc(16);
    expect(a.recvIntoRaw(buf)).toBe(-1);
    expect(b.sendRaw(Buffer.from('xy'))).toBe(2);
    expect(a.recvIntoRaw(buf, 4, 8)).toBe(2);
    expect(buf.subarray(4, 6).toString()).toBe('xy');
    expect(b.sendmsgRaw([Buffer.from('m'), Buffer.from('n')])).toBe(2);
    expect(a.recvIntoRaw(buf)).toBe(2);
    b.close();
    expect(a.recvIntoRaw(buf)).toBe(0);
    const [u, v] = track(new Socket(AF_INET, SOCK_DGRAM), new Socket(AF_INET, SOCK_DGRAM));
    u.bind(['127.0.0.1', 0]);
    v.bind(['127.0.0.1', 0]);
    expect(u.recvfromIntoRaw(buf)).toBeNull();
    v.sendto(Buffer.from('dg'), u.getsockname() as [string, number]);
    let got: ReturnType<Socket['recvfromIntoRaw']> = null;
    for (let i = 0; i < 1000 && got === null; i++) got = u.recvfromIntoRaw(buf);
    expect(got).toEqual([2, v.getsockname()]);
    // Filling a socketpair: sendmsgRaw reports -1 once the buffer is full.
    const [p, q] = track(...socketpair());
    let last = 0;
    for (let i = 0; i < 10000 && last !== -1; i++) last = p.sendmsgRaw([Buffer.alloc(65536)]);
    expect(last).toBe(-1);
    void q;
  });
});

describe('UDP', () => {
  it.each([
    ['IPv4', AF_INET, '127.0.0.1', true],
    ['IPv6', AF_INET6, '::1', ipv6],
  ])('exchanges datagrams over %s with sendto/recvfrom', (_n, family, host, available) => {
    if (!available) return;
    const [a, b] = track(new Socket(family, SOCK_DGRAM), new Socket(family, SOCK_DGRAM));
    a.bind([host, 0]);
    b.bind([host, 0]);
    expect(a.sendto(Buffer.from('one'), b.getsockname() as [string, number])).toBe(3);
    const [data, from] = b.recvfrom(100);
    expect(data.toString()).toBe('one');
    expect(from).toEqual(a.getsockname());
    expect(b.sendto(Buffer.from('two'), 0, from as [string, number])).toBe(3);
    expect(a.recvfrom(100)[0].toString()).toBe('two');
    // Datagram boundaries are kept; a short buffer truncates the datagram.
    a.sendto(Buffer.from('abcdef'), b.getsockname() as [string, number]);
    expect(b.recv(3).toString()).toBe('abc');
    b.setblocking(false);
    expect(() => b.recv(3)).toThrow(expect.objectContaining({ code: 'EAGAIN' }));
  });

  it('connected UDP uses send/recv; a zero-length datagram is not EOF', () => {
    const [a, b] = track(new Socket(AF_INET, SOCK_DGRAM), new Socket(AF_INET, SOCK_DGRAM));
    a.bind(['127.0.0.1', 0]);
    b.connect(a.getsockname() as [string, number]);
    b.send(Buffer.alloc(0));
    b.send(Buffer.from('x'));
    expect(a.recvfrom(10)[0].length).toBe(0);
    expect(a.recv(10).toString()).toBe('x');
  });
});

describe('Unix sockets', () => {
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'muxloop-sock-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('stream over a path', () => {
    const path = join(dir, 's');
    const [server] = track(createServer(path));
    expect(server.family).toBe(AF_UNIX);
    expect(server.getsockname()).toBe(path);
    const [client] = track(new Socket(AF_UNIX));
    client.connect(path);
    const [conn, peer] = server.accept();
    track(conn);
    expect(peer).toBe('');
    expect(client.getpeername()).toBe(path);
    client.sendall(Buffer.from('unix'));
    expect(conn.recv(10).toString()).toBe('unix');
  });

  it('datagram over paths', () => {
    const [a, b] = track(new Socket(AF_UNIX, SOCK_DGRAM), new Socket(AF_UNIX, SOCK_DGRAM));
    a.bind(join(dir, 'a'));
    b.bind(Buffer.from(join(dir, 'b')));
    a.sendto(Buffer.from('dgram'), join(dir, 'b'));
    const [data, from] = b.recvfrom(64);
    expect(data.toString()).toBe('dgram');
    expect(from).toBe(join(dir, 'a'));
  });

  it.runIf(process.platform === 'linux')('Linux abstract names come back as Buffers', () => {
    const name = Buffer.from(`\0muxloop-test-${process.pid}-${Date.now()}`);
    const [server] = track(createServer(name));
    expect(server.getsockname()).toEqual(name);
    const [client] = track(new Socket(AF_UNIX));
    client.connect(name);
    track(server.accept()[0]);
    // A string starting with NUL is abstract too.
    const [other] = track(new Socket(AF_UNIX, SOCK_DGRAM));
    other.bind(`\0muxloop-str-${process.pid}`);
    expect((other.getsockname() as Buffer).toString()).toBe(`\0muxloop-str-${process.pid}`);
  });

  it('socketpair stream and datagram', () => {
    const [a, b] = track(...socketpair());
    a.sendall(Buffer.from('s'));
    expect(b.recv(1).toString()).toBe('s');
    expect(a.getsockname()).toBe('');
    const [c, d] = track(...socketpair(AF_UNIX, SOCK_DGRAM));
    c.send(Buffer.from('12'));
    c.send(Buffer.from('345'));
    expect(d.recv(10).toString()).toBe('12');
    expect(d.recv(10).toString()).toBe('345');
    expect(d.type).toBe(SOCK_DGRAM);
  });
});

describe('plain fds', () => {
  it('pipe() is blocking like os.pipe; read/write/close/setNonBlocking', () => {
    const [r, w] = pipe();
    track(() => close(r), () => close(w));
    expect(getBlocking(r)).toBe(true);
    expect(write(w, Buffer.from('pipe'))).toBe(4);
    expect(read(r, 100).toString()).toBe('pipe');
    setNonBlocking(r);
    expect(getBlocking(r)).toBe(false);
    expect(() => read(r, 10)).toThrow(expect.objectContaining({ code: 'EAGAIN', syscall: 'read' }));
    setNonBlocking(r, false);
    expect(getBlocking(r)).toBe(true);
    setNonBlocking(w);
    expect(() => {
      for (let i = 0; i < 10000; i++) write(w, Buffer.alloc(65536));
    }).toThrow(expect.objectContaining({ code: 'EAGAIN', syscall: 'write' }));
  });

  it('read returns an empty buffer at EOF', () => {
    const [r, w] = pipe();
    track(() => close(r));
    write(w, Buffer.from('z'));
    close(w);
    expect(read(r, 10).toString()).toBe('z');
    expect(read(r, 10).length).toBe(0);
  });
});

describe('TimeoutError', () => {
  it('is one class for socket and loop timeouts, as in Python', async () => {
    const { TimeoutError, SocketTimeoutError: STE } = await import('../lib/index');
    const socketError = new STE('recv');
    expect(socketError).toBeInstanceOf(TimeoutError);
    expect(socketError).toMatchObject({ name: 'TimeoutError', code: 'ETIMEDOUT', syscall: 'recv' });
    expect(new TimeoutError()).toMatchObject({ name: 'TimeoutError', code: 'ERR_TIMEOUT' });
  });
});

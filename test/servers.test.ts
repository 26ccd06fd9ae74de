// The loop's servers and clients on every backend (hosted mode): createServer/Server,
// createConnection trying every address, Unix servers, connectAcceptedSocket, datagram endpoints,
// pipe transports (reliability.md E15), argument errors, and 1,000 connections leaving no fd or
// registration behind.
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Future } from '../lib/tasks/futures';
import { sleep } from '../lib/tasks/helpers';
import { EventLoop } from '../lib/loops';
import { DatagramProtocol, Protocol, type DatagramTransport, type Transport } from '../lib/net/protocols';
import type { AddrInfo } from '../lib/loop/resolver';
import { availableSelectors, selectorClass } from '../lib/selectors';
import { AF_INET, AF_UNIX, IPPROTO_TCP, SOCK_DGRAM, SOCK_STREAM, Socket, pipe, socketpair, close as closeFd, read as readFd, write as writeFd, type SocketAddress } from '../lib/socket';
import { type LoopKind, URING_IO, useFdLeakCheck, useRealLoop, withUringIo } from './helpers';

class Echo extends Protocol {
  transport!: Transport;
  override connectionMade(t: Transport): void {
    this.transport = t;
  }
  override dataReceived(data: Buffer): void {
    this.transport.write(data);
  }
}

/** Collects data and resolves `lost`. */
class Sink extends Protocol {
  chunks: Buffer[] = [];
  events: string[] = [];
  transport!: Transport;
  lost: Future<Error | undefined>;
  constructor(loop: EventLoop) {
    super();
    this.lost = loop.createFuture();
  }
  override connectionMade(t: Transport): void {
    this.transport = t;
    this.events.push('made');
  }
  override dataReceived(data: Buffer): void {
    this.events.push('data');
    this.chunks.push(data);
  }
  override eofReceived(): undefined {
    this.events.push('eof');
    return undefined;
  }
  override connectionLost(exc: Error | undefined): void {
    this.events.push('lost');
    this.lost.setResult(exc);
  }
  get text(): string {
    return Buffer.concat(this.chunks).toString();
  }
}

class Datagrams extends DatagramProtocol {
  received: Array<[string, SocketAddress]> = [];
  errors: Error[] = [];
  transport!: DatagramTransport;
  lost: Future<Error | undefined>;
  constructor(loop: EventLoop) {
    super();
    this.lost = loop.createFuture();
  }
  override connectionMade(t: DatagramTransport): void {
    this.transport = t;
  }
  override datagramReceived(data: Buffer, addr: SocketAddress): void {
    this.received.push([data.toString(), addr]);
  }
  override errorReceived(exc: Error): void {
    this.errors.push(exc);
  }
  override connectionLost(exc: Error | undefined): void {
    this.lost.setResult(exc);
  }
}

async function caught(future: PromiseLike<unknown>): Promise<unknown> {
  try {
    await future;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

const portOf = (sock: Socket): number => (sock.getsockname() as [string, number])[1];

describe.each(withUringIo(availableSelectors()))('%s backend: servers and clients', (kind: LoopKind) => {
  const fixture = useRealLoop(kind);
  let loop: EventLoop;
  let dir: string;
  beforeEach(() => {
    loop = fixture.loop;
    dir = mkdtempSync(join(tmpdir(), 'muxloop-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  async function echoOnce(transport: Transport, proto: Sink, text: string): Promise<void> {
    proto.chunks = [];
    transport.write(text);
    while (proto.text.length < text.length) await sleep(0.002);
    expect(proto.text).toBe(text);
  }

  it('createServer on all interfaces binds IPv4 and IPv6 (V6ONLY), serveForever, closeClients, waitClosed', async () => {
    await loop.runUntilComplete(async () => {
      const server = await loop.createServer(() => new Echo(), null, 0, { startServing: false });
      expect(server.isServing()).toBe(false);
      expect(server.getLoop()).toBe(loop);
      const families = server.sockets.map((s) => s.family).sort();
      expect(families.length).toBeGreaterThanOrEqual(1);
      const port = portOf(server.sockets[0]);
      const forever = server.serveForever();
      expect(server.isServing()).toBe(true);
      expect(await caught(server.serveForever())).toMatchObject({ code: 'ERR_SERVER_RUNNING' });
      const clients: Array<[Transport, Sink]> = [];
      for (const sock of server.sockets) {
        const host = sock.family === AF_INET ? '127.0.0.1' : '::1';
        const [t, p] = await loop.createConnection(() => new Sink(loop), host, portOf(sock));
        clients.push([t, p]);
        await echoOnce(t, p, `via ${host}`);
      }
      expect(port).toBeGreaterThan(0);
      let closedWaited = false;
      const waiting = server.waitClosed().then(() => (closedWaited = true));
      forever.cancel(); // cancelling serveForever closes the server
      await sleep(0.01);
      expect(server.isServing()).toBe(false);
      expect(closedWaited).toBe(false); // connections are still open
      server.closeClients();
      for (const [, p] of clients) expect(await p.lost).toBeUndefined();
      await waiting;
      expect(closedWaited).toBe(true);
      expect(await caught(server.serveForever())).toMatchObject({ code: 'ERR_SERVER_CLOSED' });
      await server.waitClosed(); // already woken: resolves at once
    });
  });

  it('Server[Symbol.asyncDispose] closes, abortClients aborts, host may be a list', async () => {
    await loop.runUntilComplete(async () => {
      const server = await loop.createServer(() => new Sink(loop), ['127.0.0.1', '127.0.0.1'], 0, { backlog: 5, reusePort: false });
      expect(server.sockets).toHaveLength(1); // duplicates merged
      const [t, p] = await loop.createConnection(() => new Sink(loop), '127.0.0.1', portOf(server.sockets[0]));
      await sleep(0.01);
      server.abortClients();
      expect(await p.lost).toBeUndefined(); // the peer saw EOF
      t.close();
      await server[Symbol.asyncDispose]();
      expect(server.sockets).toEqual([]);
    });
  });

  it('createServer: EADDRINUSE names the address and leaks nothing; bad arguments go through the Future', async () => {
    await loop.runUntilComplete(async () => {
      const first = await loop.createServer(() => new Echo(), '127.0.0.1', 0, { reuseAddress: false });
      const port = portOf(first.sockets[0]);
      const error = await caught(loop.createServer(() => new Echo(), '127.0.0.1', port, { reuseAddress: false }));
      expect(error).toMatchObject({ code: 'EADDRINUSE', syscall: 'bind' });
      expect((error as Error).message).toMatch(/error while attempting to bind on address \("127.0.0.1", \d+\)/);
      expect(await caught(loop.createServer(42 as never, '127.0.0.1', 0))).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
      expect(await caught(loop.createServer(() => new Echo(), '127.0.0.1', 0, { backlog: -1 }))).toMatchObject({ name: 'RangeError' });
      expect(await caught(loop.createServer(() => new Echo(), '127.0.0.1', 70000))).toMatchObject({ name: 'RangeError' });
      expect(await caught(loop.createServer(() => new Echo(), 5 as never, 0))).toMatchObject({ name: 'TypeError' });
      const sock = fixture.track(new Socket(AF_INET, SOCK_STREAM));
      expect(await caught(loop.createServer(() => new Echo(), '127.0.0.1', 0, { sock }))).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
      const dgram = fixture.track(new Socket(AF_INET, SOCK_DGRAM));
      expect(await caught(loop.createServer(() => new Echo(), undefined, undefined, { sock: dgram }))).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
      expect(await caught(loop.createConnection(() => new Echo()))).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' });
      expect(await caught(loop.createConnection(() => new Echo(), '127.0.0.1', 1, { sock }))).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
      expect(sock.closed).toBe(false); // a rejected sock is left to its owner
      first.close();
      await first.waitClosed();
    });
  });

  it('createServer with sock, and a protocol factory that throws is reported, the connection closed', async () => {
    await loop.runUntilComplete(async () => {
      const sock = new Socket(AF_INET, SOCK_STREAM);
      sock.bind(['127.0.0.1', 0]);
      let fail = true;
      const server = await loop.createServer(() => {
        if (fail) throw new Error('factory failed');
        return new Echo();
      }, undefined, undefined, { sock });
      const port = portOf(sock);
      const client = fixture.track(new Socket(AF_INET, SOCK_STREAM));
      client.setblocking(false);
      await loop.sockConnect(client, ['127.0.0.1', port]);
      expect((await loop.sockRecv(client, 10)).length).toBe(0); // closed by the server
      expect(fixture.errors.map((e) => e.message)).toEqual(['Error on transport creation for incoming connection']);
      fixture.errors.length = 0;
      fail = false;
      const [t, p] = await loop.createConnection(() => new Sink(loop), '127.0.0.1', port);
      await echoOnce(t, p, 'ok');
      t.close();
      await p.lost;
      server.close();
      await server.waitClosed();
      expect(sock.closed).toBe(true);
    });
  });

  it('createConnection tries every resolved address in order and aggregates errors like asyncio', async () => {
    await loop.runUntilComplete(async () => {
      const server = await loop.createServer(() => new Echo(), '127.0.0.1', 0);
      const good = portOf(server.sockets[0]);
      // A port nobody listens on: bind one, note it, close it.
      const probe = new Socket(AF_INET, SOCK_STREAM);
      probe.bind(['127.0.0.1', 0]);
      const dead = portOf(probe);
      probe.close();
      const info = (port: number): AddrInfo => [AF_INET, SOCK_STREAM, IPPROTO_TCP, '', ['127.0.0.1', port]];
      let answer: AddrInfo[] = [];
      const fake = loop as unknown as { getaddrinfo: (...args: unknown[]) => Future<AddrInfo[]> };
      fake.getaddrinfo = () => {
        const f = loop.createFuture<AddrInfo[]>();
        f.setResult(answer);
        return f;
      };
      const before = new Set(readdirSync('/proc/self/fd'));
      answer = [info(dead), info(good)];
      const [t, p] = await loop.createConnection(() => new Sink(loop), 'multi.example', 1);
      await echoOnce(t, p, 'second address');
      t.close();
      await p.lost;
      answer = [info(dead), info(dead)];
      const same = await caught(loop.createConnection(() => new Sink(loop), 'multi.example', 1));
      expect(same).toMatchObject({ code: 'ECONNREFUSED' });
      expect(same).not.toBeInstanceOf(AggregateError);
      const probe2 = new Socket(AF_INET, SOCK_STREAM);
      probe2.bind(['127.0.0.1', 0]);
      const dead2 = portOf(probe2);
      probe2.close();
      answer = [info(dead), info(dead2)];
      const multi = await caught(loop.createConnection(() => new Sink(loop), 'multi.example', 1));
      expect(multi).toBeInstanceOf(AggregateError);
      expect(multi).toMatchObject({ code: 'ERR_MULTIPLE_EXCEPTIONS' });
      expect((multi as Error).message).toMatch(/^Multiple exceptions: /);
      expect((multi as AggregateError).errors).toHaveLength(2);
      answer = [];
      expect(await caught(loop.createConnection(() => new Sink(loop), 'multi.example', 1))).toMatchObject({ code: 'ENOTFOUND' });
      delete (fake as { getaddrinfo?: unknown }).getaddrinfo;
      // Failed attempts left no socket behind.
      expect(new Set(readdirSync('/proc/self/fd')).size).toBeLessThanOrEqual(before.size);
      // Real resolution: 'localhost' with family 0, only IPv4 listening.
      const [t2, p2] = await loop.createConnection(() => new Sink(loop), 'localhost', good, { localAddr: ['127.0.0.1', 0] });
      await echoOnce(t2, p2, 'localhost');
      expect((t2.getExtraInfo('socket') as Socket).getsockopt(IPPROTO_TCP, 1 /* TCP_NODELAY */)).not.toBe(0);
      t2.close();
      await p2.lost;
      server.close();
      await server.waitClosed();
    });
  });

  it('Unix servers: stale socket file removed, connection echoes, file unlinked on close', async () => {
    await loop.runUntilComplete(async () => {
      const path = join(dir, 'echo.sock');
      const stale = new Socket(AF_UNIX, SOCK_STREAM);
      stale.bind(path);
      stale.close();
      expect(existsSync(path)).toBe(true);
      const server = await loop.createUnixServer(() => new Echo(), path);
      const [t, p] = await loop.createUnixConnection(() => new Sink(loop), path);
      await echoOnce(t, p, 'over unix');
      expect(t.getExtraInfo('peername')).toBe(path);
      t.close();
      await p.lost;
      server.close();
      await server.waitClosed();
      expect(existsSync(path)).toBe(false);
      // cleanupSocket: false keeps the file; a regular file at the path is not removed.
      const kept = await loop.createUnixServer(() => new Echo(), path, { cleanupSocket: false });
      kept.close();
      expect(existsSync(path)).toBe(true);
      rmSync(path);
      writeFileSync(path, 'not a socket');
      expect(await caught(loop.createUnixServer(() => new Echo(), path))).toMatchObject({ code: 'EADDRINUSE' });
      expect(await caught(loop.createUnixConnection(() => new Sink(loop), join(dir, 'none.sock')))).toMatchObject({ code: 'ENOENT' });
      expect(await caught(loop.createUnixServer(() => new Echo()))).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    });
  });

  it('connectAcceptedSocket wraps an accepted socket; a blocking one is made non-blocking', async () => {
    await loop.runUntilComplete(async () => {
      const [a, b] = socketpair();
      fixture.track(b);
      b.setblocking(false);
      const [t, p] = await loop.connectAcceptedSocket(() => new Echo(), a);
      expect(a.gettimeout()).toBe(0);
      await loop.sockSendall(b, Buffer.from('ping'));
      expect((await loop.sockRecv(b, 10)).toString()).toBe('ping');
      t.close();
      expect(await loop.sockRecv(b, 10)).toHaveLength(0);
      expect(p.transport).toBe(t);
      expect(await caught(loop.connectAcceptedSocket(() => new Echo(), 'x' as never))).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    });
  });

  it('UDP endpoints: round trip, connected endpoint checks the address, ECONNREFUSED goes to errorReceived', async () => {
    await loop.runUntilComplete(async () => {
      const [server, sp] = await loop.createDatagramEndpoint(() => new Datagrams(loop), { localAddr: ['127.0.0.1', 0] });
      const port = portOf(server.getExtraInfo('socket') as Socket);
      const [client, cp] = await loop.createDatagramEndpoint(() => new Datagrams(loop), { remoteAddr: ['127.0.0.1', port] });
      client.sendto('ping');
      client.sendto(Buffer.from('ping2'), ['127.0.0.1', port]);
      client.sendto(''); // empty datagrams are allowed
      expect(() => client.sendto('x', ['127.0.0.1', port + 1])).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
      expect(() => client.sendto(5 as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
      expect(() => server.sendto('x')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
      while (sp.received.length < 3) await sleep(0.002);
      expect(sp.received.map(([d]) => d)).toEqual(['ping', 'ping2', '']);
      server.sendto('pong', sp.received[0][1] as [string, number]);
      while (cp.received.length < 1) await sleep(0.002);
      expect(cp.received[0]).toEqual(['pong', ['127.0.0.1', port]]);
      expect(client.getExtraInfo('peername')).toEqual(['127.0.0.1', port]);
      server.close();
      expect(await sp.lost).toBeUndefined();
      // The server port is closed now: ICMP port unreachable -> ECONNREFUSED on the connected socket.
      client.sendto('anyone?');
      for (let i = 0; i < 100 && cp.errors.length === 0; i++) {
        await sleep(0.005);
        client.sendto('anyone?');
      }
      expect(cp.errors[0]).toMatchObject({ code: 'ECONNREFUSED' });
      expect(client.isClosing()).toBe(false); // the transport stays open
      client.close();
      expect(await cp.lost).toBeUndefined();
      expect(await caught(loop.createDatagramEndpoint(() => new Datagrams(loop), {}))).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
      const sock = fixture.track(new Socket(AF_INET, SOCK_DGRAM));
      expect(await caught(loop.createDatagramEndpoint(() => new Datagrams(loop), { sock, family: AF_INET }))).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    });
  });

  it('datagrams: EAGAIN queues (bytes + 8 per datagram) and close() flushes the queue first', async () => {
    await loop.runUntilComplete(async () => {
      const [a, b] = socketpair(AF_UNIX, SOCK_DGRAM);
      fixture.track(b);
      b.setblocking(false);
      const [t, p] = await loop.createDatagramEndpoint(() => new Datagrams(loop), { sock: a });
      const datagram = Buffer.alloc(1000, 'd');
      let sent = 0;
      while (t.getWriteBufferSize() === 0 && sent < 100_000) {
        t.sendto(datagram);
        sent++;
      }
      expect(t.getWriteBufferSize()).toBe(1008);
      t.sendto(datagram);
      t.sendto(datagram);
      sent += 2;
      expect(t.getWriteBufferSize()).toBe(3 * 1008);
      t.close();
      let got = 0;
      while (got < sent) {
        const [data] = await loop.sockRecvfrom(b, 2000);
        expect(data.length).toBe(1000);
        got++;
      }
      expect(await p.lost).toBeUndefined();
      expect(t.getWriteBufferSize()).toBe(0);
    });
  });

  it('AF_UNIX datagram endpoints with paths', async () => {
    await loop.runUntilComplete(async () => {
      const serverPath = join(dir, 's.dgram');
      const clientPath = join(dir, 'c.dgram');
      const [server, sp] = await loop.createDatagramEndpoint(() => new Datagrams(loop), { localAddr: serverPath });
      const [client, cp] = await loop.createDatagramEndpoint(() => new Datagrams(loop), { localAddr: clientPath, remoteAddr: serverPath });
      client.sendto('hello');
      while (sp.received.length === 0) await sleep(0.002);
      expect(sp.received[0]).toEqual(['hello', clientPath]);
      server.sendto('back', clientPath);
      while (cp.received.length === 0) await sleep(0.002);
      expect(cp.received[0]).toEqual(['back', serverPath]);
      server.abort();
      client.close();
      await sp.lost;
      await cp.lost;
    });
  });

  it('E15: read pipe: data, then eofReceived once and connectionLost once when the writer closes', async () => {
    await loop.runUntilComplete(async () => {
      const [r, w] = pipe();
      const p = new Sink(loop);
      const [t] = await loop.connectReadPipe(() => p, r);
      expect(t.getExtraInfo('pipe')).toBe(r);
      writeFd(w, Buffer.from('through the pipe'));
      while (p.text.length < 16) await sleep(0.002);
      closeFd(w); // EPOLLHUP (no EPOLLIN left)
      expect(await p.lost).toBeUndefined();
      await sleep(0.02);
      expect(p.events).toEqual(['made', 'data', 'eof', 'lost']);
      expect(t.isClosing()).toBe(true);
    });
  });

  it('E15: write pipe: the reader closing ends it with connectionLost(EPIPE), no spin', async () => {
    await loop.runUntilComplete(async () => {
      const [r, w] = pipe();
      const p = new Sink(loop);
      const [t] = await loop.connectWritePipe(() => p, { fileno: () => w });
      // writelines' argument is checked as on the socket transports: a string or a non-iterable
      // is refused (Array.from made '' of 7 and wrote a string's characters), nothing is sent.
      for (const bad of [7, 'abc', null, [Buffer.from('a'), 5]]) {
        expect(() => t.writelines(bad as unknown as string[])).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }));
      }
      t.write('to the reader');
      await sleep(0.01);
      expect(readFd(r, 100).toString()).toBe('to the reader');
      closeFd(r);
      const exc = await p.lost;
      expect(exc).toMatchObject({ code: 'EPIPE' });
      expect(p.events).toEqual(['made', 'lost']);
      t.write('dropped'); // after the loss: dropped, no throw
      // writeEof on a fresh pipe: the reader sees EOF after the data.
      const [r2, w2] = pipe();
      const p2 = new Sink(loop);
      const [t2] = await loop.connectWritePipe(() => p2, w2);
      const reader = new Sink(loop);
      await loop.connectReadPipe(() => reader, r2);
      t2.write(Buffer.alloc(200_000, 'p'));
      t2.writeEof();
      expect(() => t2.write('x')).toThrow(expect.objectContaining({ code: 'ERR_TRANSPORT_WRITE_AFTER_EOF' }));
      expect(await reader.lost).toBeUndefined();
      expect(Buffer.concat(reader.chunks).length).toBe(200_000);
      expect(await p2.lost).toBeUndefined();
      const tmp = join(dir, 'regular');
      writeFileSync(tmp, 'x');
      const fd = openSync(tmp, 'r');
      expect(await caught(loop.connectReadPipe(() => new Sink(loop), fd))).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
      closeSync(fd);
    });
  });
});

describe.each(withUringIo(availableSelectors().filter((k) => k === 'epoll' || k === 'io_uring' || k === 'poll' || k === 'kqueue')))(
  '%s backend: 1,000 connections',
  (kind: LoopKind) => {
    useFdLeakCheck();
    it('opened and closed leave the fd count and the loop registrations at baseline', async () => {
      const selector = new (selectorClass(kind === URING_IO ? 'epoll' : kind))();
      const loop = new EventLoop({ selector, io: kind === URING_IO ? 'uring' : 'epoll' });
      const errors: unknown[] = [];
      loop.setExceptionHandler((_l, c) => errors.push(c));
      try {
        await loop.runUntilComplete(async () => {
          let served = 0;
          const server = await loop.createServer(() => {
            served++;
            return new Echo();
          }, '127.0.0.1', 0);
          const port = portOf(server.sockets[0]);
          const baseline = selector.getMap().size;
          for (let batch = 0; batch < 20; batch++) {
            const conns = await Promise.all(Array.from({ length: 50 }, () => loop.createConnection(() => new Sink(loop), '127.0.0.1', port)));
            for (const [t] of conns) t.write('x');
            for (const [, p] of conns) while (p.text !== 'x') await sleep(0.001);
            for (const [t] of conns) t.close();
            await Promise.all(conns.map(([, p]) => p.lost));
          }
          while (served < 1000 || selector.getMap().size > baseline) await sleep(0.005);
          expect(selector.getMap().size).toBe(baseline);
          server.close();
          await server.waitClosed();
          expect(selector.getMap().size).toBe(0);
        });
      } finally {
        loop.close();
      }
      expect(errors).toEqual([]);
    }, 60_000);
  },
);

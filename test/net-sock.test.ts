// The loop's socket coroutines (sockRecv, ..., sockAccept) on real loopback sockets, on every real
// backend, hosted: data transfer both ways, TCP/UDP/Unix, refused connects, and cancellation
// (reliability.md D3-D5): the watch is gone when cancel() returns, no byte and no connection is
// lost, nothing leaks. Every test ends with the fd count at its baseline and no loop errors.
import { beforeEach, describe, expect, it } from 'vitest';
import { CancelledError } from '../lib/tasks/futures';
import { EventLoop } from '../lib/loops';
import { availableSelectors, type SelectorKind } from '../lib/selectors';
import {
  AF_INET,
  AF_INET6,
  SOCK_DGRAM,
  SOCK_STREAM,
  SOL_SOCKET,
  SO_SNDBUF,
  Socket,
  type SocketAddress,
  socketpair,
} from '../lib/socket';
import { openFdCount, useRealLoop } from './helpers';

function nonBlocking<T extends Socket>(sock: T): T {
  sock.setblocking(false);
  return sock;
}

function listener(host = '127.0.0.1', family = AF_INET): Socket {
  const sock = nonBlocking(new Socket(family, SOCK_STREAM));
  sock.bind([host, 0]);
  sock.listen(16);
  return sock;
}

function portOf(sock: Socket): number {
  return (sock.getsockname() as [string, number])[1];
}

describe.each(availableSelectors())('%s backend, hosted: sock* coroutines', (kind: SelectorKind) => {
  const fixture = useRealLoop(kind);
  const track = <T extends Socket>(sock: T): T => fixture.track(sock);
  let loop: EventLoop;
  beforeEach(() => {
    loop = fixture.loop;
  });

  it('connect, accept, sendall 4 MiB and recv it back to EOF over TCP', async () => {
    const server = track(listener());
    const payload = Buffer.alloc(4 << 20);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
    const received = await loop.runUntilComplete(
      (async () => {
        const client = track(nonBlocking(new Socket(AF_INET, SOCK_STREAM)));
        const accepting = loop.sockAccept(server);
        await loop.sockConnect(client, ['127.0.0.1', portOf(server)]);
        const [conn, address] = await accepting;
        track(conn);
        expect(conn.gettimeout()).toBe(0);
        expect(address).toEqual(client.getsockname());
        const sending = (async () => {
          await loop.sockSendall(client, payload);
          client.shutdown(1);
        })();
        const chunks: Buffer[] = [];
        for (let i = 0; i < 100_000; i++) {
          const chunk = await loop.sockRecv(conn, 65536);
          if (chunk.length === 0) break;
          chunks.push(chunk);
        }
        await sending;
        return Buffer.concat(chunks);
      })(),
    );
    expect(received.equals(payload)).toBe(true);
  });

  it('sendall waits for writability when the kernel buffer fills (writer path), recvInto drains it', async () => {
    const [a, b] = socketpair().map((s) => track(nonBlocking(s)));
    a.setsockopt(SOL_SOCKET, SO_SNDBUF, 4096);
    const payload = Buffer.alloc(1 << 20, 0x5a);
    const total = await loop.runUntilComplete(
      (async () => {
        const sending = loop.sockSendall(a, payload);
        expect(sending.done()).toBe(false); // 1 MiB cannot fit: a writer waits
        const buffer = Buffer.alloc(8192);
        let count = 0;
        while (count < payload.length) {
          const n = await loop.sockRecvInto(b, buffer);
          expect(n).toBeGreaterThan(0);
          expect(buffer.subarray(0, n).every((byte) => byte === 0x5a)).toBe(true);
          count += n;
        }
        await sending;
        expect(loop.removeWriter(a)).toBe(false); // the writer left with the Future
        return count;
      })(),
    );
    expect(total).toBe(payload.length);
  });

  it('sockRecvInto honours nbytes; sockRecv returns an empty Buffer at EOF', async () => {
    const [a, b] = socketpair().map((s) => track(nonBlocking(s)));
    await loop.runUntilComplete(
      (async () => {
        await loop.sockSendall(a, Buffer.from('hello world'));
        const buffer = Buffer.alloc(64);
        expect(await loop.sockRecvInto(b, buffer, 5)).toBe(5);
        expect(buffer.subarray(0, 5).toString()).toBe('hello');
        expect((await loop.sockRecv(b, 100)).toString()).toBe(' world');
        a.shutdown(1);
        expect((await loop.sockRecv(b, 100)).length).toBe(0);
      })(),
    );
  });

  it('UDP: sockSendto, sockRecvfrom and sockRecvfromInto, IPv4 and IPv6', async () => {
    for (const [family, host] of [
      [AF_INET, '127.0.0.1'],
      [AF_INET6, '::1'],
    ] as const) {
      const receiver = track(nonBlocking(new Socket(family, SOCK_DGRAM)));
      const sender = track(nonBlocking(new Socket(family, SOCK_DGRAM)));
      receiver.bind([host, 0]);
      sender.bind([host, 0]);
      await loop.runUntilComplete(
        (async () => {
          const pending = loop.sockRecvfrom(receiver, 1024);
          expect(pending.done()).toBe(false);
          expect(await loop.sockSendto(sender, Buffer.from('ping'), [host, portOf(receiver)])).toBe(4);
          const [data, from] = await pending;
          expect(data.toString()).toBe('ping');
          expect((from as [string, number])[1]).toBe(portOf(sender));
          await loop.sockSendto(receiver, Buffer.from('pong!'), from as [string, number]);
          const buffer = Buffer.alloc(16);
          const [n, back] = await loop.sockRecvfromInto(sender, buffer);
          expect(buffer.subarray(0, n).toString()).toBe('pong!');
          expect((back as [string, number])[1]).toBe(portOf(receiver));
        })(),
      );
    }
  });

  it('a refused connect rejects with ECONNREFUSED and leaves nothing registered', async () => {
    const closed = listener();
    const port = portOf(closed);
    closed.close();
    const client = track(nonBlocking(new Socket(AF_INET, SOCK_STREAM)));
    const error = await loop.runUntilComplete(loop.sockConnect(client, ['127.0.0.1', port])).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ECONNREFUSED', syscall: 'connect' });
    expect(String((error as Error).message)).toContain('Connect call failed');
    expect(loop.removeWriter(client)).toBe(false);
    expect(client.closed).toBe(false); // the caller owns it
  });

  it('blocking sockets and bad arguments fail the Future, never throw', async () => {
    const [a, b] = socketpair().map((s) => track(s));
    const blocking = loop.sockRecv(a, 10);
    expect(blocking.done()).toBe(true);
    expect(blocking.exception()).toMatchObject({ code: 'ERR_SOCKET_BLOCKING' });
    b.setblocking(false);
    expect(loop.sockRecv(b, 0).exception()).toBeInstanceOf(RangeError);
    expect(loop.sockSendall(b, 'text' as never).exception()).toBeInstanceOf(TypeError);
    expect(loop.sockRecv({} as never, 1).exception()).toBeInstanceOf(TypeError);
  });

  it('D3: cancelling a pending sockRecv removes the reader at once and loses no bytes', async () => {
    const [a, b] = socketpair().map((s) => track(nonBlocking(s)));
    const pending = loop.sockRecv(b, 100);
    expect(pending.done()).toBe(false);
    expect(pending.cancel()).toBe(true);
    expect(loop.removeReader(b)).toBe(false); // already gone when cancel() returned
    // Bytes arrive, the loop runs a few iterations with the cancelled Future: nothing reads them.
    a.send(Buffer.from('kept'));
    const error = await loop.runUntilComplete(pending).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CancelledError);
    expect((await loop.runUntilComplete(loop.sockRecv(b, 100))).toString()).toBe('kept');
  });

  it('D3: cancelling a sockRecv from inside the iteration in which data arrived still loses nothing', async () => {
    const [a, b] = socketpair().map((s) => track(nonBlocking(s)));
    const first = loop.sockRecv(b, 100);
    // This reader on the other end runs in the same iteration as b's and cancels b's receive.
    const [c, d] = socketpair().map((s) => track(nonBlocking(s)));
    loop.addReader(d, () => {
      loop.removeReader(d);
      first.cancel();
    });
    c.send(Buffer.from('x'));
    a.send(Buffer.from('data'));
    await loop.runUntilComplete(first).catch(() => undefined);
    // Whichever callback ran first in that iteration, the bytes went to exactly one receive.
    if (first.cancelled()) {
      expect((await loop.runUntilComplete(loop.sockRecv(b, 100))).toString()).toBe('data');
    } else {
      expect(first.result().toString()).toBe('data');
    }
  });

  it('D4: cancelling a pending sockConnect unregisters it and closes nothing', async () => {
    const server = track(listener());
    const client = track(nonBlocking(new Socket(AF_INET, SOCK_STREAM)));
    const connecting = loop.sockConnect(client, ['127.0.0.1', portOf(server)]);
    connecting.cancel();
    expect(loop.removeWriter(client)).toBe(false);
    expect(client.closed).toBe(false);
    expect(server.closed).toBe(false);
    await loop.runUntilComplete(Promise.resolve());
  });

  it('D5: cancelling sockAccept unregisters the listener and leaks no fd; the next accept gets the connection', async () => {
    const server = track(listener());
    const accepting = loop.sockAccept(server);
    expect(accepting.done()).toBe(false);
    accepting.cancel();
    expect(loop.removeReader(server)).toBe(false);
    const fdsBefore = openFdCount();
    const client = track(nonBlocking(new Socket(AF_INET, SOCK_STREAM)));
    await loop.runUntilComplete(loop.sockConnect(client, ['127.0.0.1', portOf(server)]));
    expect(openFdCount()).toBe(fdsBefore + 1); // the client only: nothing was accepted
    const [conn, address] = await loop.runUntilComplete(loop.sockAccept(server));
    track(conn);
    expect(address).toEqual(client.getsockname() as SocketAddress);
  });

  it('a socket closed while a receive waits does not break the loop; the receive is cancellable', async () => {
    const [a, b] = socketpair().map((s) => nonBlocking(s));
    const pending = loop.sockRecv(b, 10);
    pending.cancel();
    b.close();
    a.close();
    await loop.runUntilComplete(Promise.resolve());
  });

  it('100 accept/connect/close cycles leave fds and registrations at baseline', async () => {
    const server = track(listener());
    await loop.runUntilComplete(
      (async () => {
        for (let i = 0; i < 100; i++) {
          const client = nonBlocking(new Socket(AF_INET, SOCK_STREAM));
          const accepting = loop.sockAccept(server);
          await loop.sockConnect(client, ['127.0.0.1', portOf(server)]);
          const [conn] = await accepting;
          await loop.sockSendall(client, Buffer.from([i]));
          expect((await loop.sockRecv(conn, 1))[0]).toBe(i);
          conn.close();
          client.close();
        }
      })(),
    );
    expect(loop.removeReader(server)).toBe(false);
  });
});

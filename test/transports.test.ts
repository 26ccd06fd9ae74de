// Stream transports and protocols on every backend (hosted mode; owning mode runs in
// transports-process.test.ts): call order, the read paths, write buffering and flow control,
// half-close, close/abort, the fatal-error policy (reliability.md E1-E9) and argument errors.
import { beforeEach, describe, expect, it } from 'vitest';
import type { Future } from '../lib/tasks/futures';
import { sleep } from '../lib/tasks/helpers';
import type { EventLoop } from '../lib/loops';
import { BufferedProtocol, Protocol, type Transport } from '../lib/net/protocols';
import { availableSelectors } from '../lib/selectors';
import { AF_INET, MSG_OOB, SOCK_STREAM, SOL_SOCKET, SO_LINGER, SO_RCVBUF, SO_SNDBUF, Socket, socketpair } from '../lib/socket';
import { type LoopKind, useRealLoop, withUringIo } from './helpers';

/** A protocol that records what happens to it. */
class Recorder extends Protocol {
  events: string[] = [];
  chunks: Buffer[] = [];
  transport!: Transport;
  lost: Future<Error | undefined>;
  lostCount = 0;
  keepOpen: boolean | undefined = undefined;
  throwOn: 'data' | 'eof' | undefined;
  onEof?: (t: Transport) => void;
  constructor(loop: EventLoop) {
    super();
    this.lost = loop.createFuture();
  }
  override connectionMade(transport: Transport): void {
    this.events.push('made');
    this.transport = transport;
  }
  override dataReceived(data: Buffer): void {
    this.events.push('data');
    this.chunks.push(data);
    if (this.throwOn === 'data') throw new Error('boom in dataReceived');
  }
  override eofReceived(): boolean | undefined {
    this.events.push('eof');
    if (this.throwOn === 'eof') throw new Error('boom in eofReceived');
    this.onEof?.(this.transport);
    return this.keepOpen;
  }
  override connectionLost(exc: Error | undefined): void {
    this.events.push('lost');
    this.lostCount++;
    this.lost.setResult(exc);
  }
  override pauseWriting(): void {
    this.events.push('pause');
  }
  override resumeWriting(): void {
    this.events.push('resume');
  }
  get text(): string {
    return Buffer.concat(this.chunks).toString();
  }
}

describe.each(withUringIo(availableSelectors()))('%s backend: stream transports', (kind: LoopKind) => {
  const fixture = useRealLoop(kind);
  let loop: EventLoop;
  beforeEach(() => {
    loop = fixture.loop;
  });
  const raw = (sock: Socket): Socket => {
    sock.setblocking(false);
    return fixture.track(sock);
  };
  /** A transport on one end of a socketpair, and the raw other end. */
  async function pair(protocol = new Recorder(loop)): Promise<[Transport, Recorder, Socket]> {
    const [a, b] = socketpair();
    const peer = raw(b);
    fixture.track(a);
    const [transport, proto] = await loop.connectAcceptedSocket(() => protocol, a);
    return [transport, proto, peer];
  }
  async function readAll(sock: Socket): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for (;;) {
      const data = await loop.sockRecv(sock, 65536);
      if (data.length === 0) return Buffer.concat(chunks);
      chunks.push(data);
    }
  }

  it('TCP echo: connectionMade before createConnection resolves, extra info, clean close', async () => {
    await loop.runUntilComplete(async () => {
      const serverSide: Recorder[] = [];
      const server = await loop.createServer(
        () => {
          const p = new Recorder(loop);
          p.dataReceived = function (data: Buffer) {
            this.chunks.push(data);
            this.transport.write(data);
          };
          serverSide.push(p);
          return p;
        },
        '127.0.0.1',
        0,
      );
      expect(server.isServing()).toBe(true);
      const port = (server.sockets[0].getsockname() as [string, number])[1];
      const [transport, client] = await loop.createConnection(() => new Recorder(loop), '127.0.0.1', port);
      expect(client.events).toEqual(['made']);
      expect(client.transport).toBe(transport);
      expect(transport.getExtraInfo('peername')).toEqual(['127.0.0.1', port]);
      expect((transport.getExtraInfo('sockname') as [string, number])[0]).toBe('127.0.0.1');
      expect(transport.getExtraInfo('socket')).toBeInstanceOf(Socket);
      expect(transport.getExtraInfo('nope', 42)).toBe(42);
      expect(transport.isReading()).toBe(true);
      transport.write('hello ');
      transport.writelines([Buffer.from('wor'), new Uint8Array([108, 100])]);
      while (client.text.length < 11) await sleep(0.005);
      expect(client.text).toBe('hello world');
      transport.close();
      transport.close(); // idempotent
      expect(transport.isClosing()).toBe(true);
      expect(await client.lost).toBeUndefined();
      expect(await serverSide[0].lost).toBeUndefined(); // the server side saw EOF and closed
      expect(serverSide[0].events.at(-2)).toBe('eof');
      expect(client.lostCount).toBe(1);
      server.close();
      await server.waitClosed();
      expect(server.isServing()).toBe(false);
      expect(server.sockets).toEqual([]);
    });
  });

  it('BufferedProtocol: the kernel writes into the protocol buffer; an empty buffer is fatal', async () => {
    await loop.runUntilComplete(async () => {
      const store = Buffer.alloc(8);
      const got: string[] = [];
      const lost = loop.createFuture<Error | undefined>();
      class Into extends BufferedProtocol {
        empty = false;
        override getBuffer(): Buffer {
          return this.empty ? Buffer.alloc(0) : store;
        }
        override bufferUpdated(n: number): void {
          got.push(store.subarray(0, n).toString());
        }
        override connectionLost(exc: Error | undefined): void {
          lost.setResult(exc);
        }
      }
      const [a, b] = socketpair();
      fixture.track(a);
      const peer = raw(b);
      const [transport, proto] = await loop.connectAcceptedSocket(() => new Into(), a);
      peer.sendall(Buffer.from('0123456789'));
      while (got.join('').length < 10) await sleep(0.005);
      expect(got.join('')).toBe('0123456789');
      expect(got[0]).toBe('01234567'); // at most the buffer's size per read
      proto.empty = true;
      peer.sendall(Buffer.from('x'));
      const exc = await lost;
      expect((exc as { code?: string }).code).toBe('ERR_INVALID_RETURN_VALUE');
      expect(fixture.errors.map((e) => e.message)).toEqual(['Fatal error: protocol.getBuffer() call failed.']);
      expect(transport.isClosing()).toBe(true);
      fixture.errors.length = 0;
    });
  });

  it.each(['data', 'eof'] as const)('E1/E2: %sReceived throwing is fatal: handler once, connectionLost(exc) once', async (where) => {
    await loop.runUntilComplete(async () => {
      const [transport, proto, peer] = await pair();
      proto.throwOn = where;
      peer.sendall(Buffer.from('x'));
      if (where === 'eof') peer.shutdown(1);
      const exc = await proto.lost;
      expect(exc).toBeInstanceOf(Error);
      expect((exc as Error).message).toBe(`boom in ${where}Received`);
      expect(fixture.errors).toHaveLength(1);
      expect(fixture.errors[0].message).toBe(`Fatal error: protocol.${where}Received() call failed.`);
      expect(fixture.errors[0].exception).toBe(exc);
      expect(fixture.errors[0].transport).toBe(transport);
      await sleep(0.02);
      expect(proto.lostCount).toBe(1);
      expect(proto.events.at(-1)).toBe('lost');
      expect(await readAll(peer)).toHaveLength(0); // the socket is closed
      fixture.errors.length = 0;
    });
  });

  it('E3: eofReceived() true keeps it half-open so the reply can still be written', async () => {
    await loop.runUntilComplete(async () => {
      const [transport, proto, peer] = await pair();
      proto.keepOpen = true;
      proto.onEof = (t) => loop.callSoon(() => {
        t.write(`got ${proto.text}`);
        t.close();
      });
      peer.sendall(Buffer.from('question'));
      peer.shutdown(1);
      expect((await readAll(peer)).toString()).toBe('got question');
      expect(await proto.lost).toBeUndefined();
      expect(proto.events).toEqual(['made', 'data', 'eof', 'lost']);
      expect(transport.isClosing()).toBe(true);
    });
  });

  it.each([false, undefined])('E3: eofReceived() returning %s closes the transport', async (value) => {
    await loop.runUntilComplete(async () => {
      const [transport, proto, peer] = await pair();
      proto.keepOpen = value as undefined;
      peer.shutdown(1);
      expect(await proto.lost).toBeUndefined();
      expect(proto.events).toEqual(['made', 'eof', 'lost']);
      expect(transport.isClosing()).toBe(true);
      expect(await readAll(peer)).toHaveLength(0);
    });
  });

  it('E4: writeEof() shuts down only after the buffer is flushed; write() after it throws', async () => {
    await loop.runUntilComplete(async () => {
      const [transport, proto, peer] = await pair();
      const payload = Buffer.alloc(1 << 20, 'e');
      transport.write(payload);
      expect(transport.getWriteBufferSize()).toBeGreaterThan(0);
      expect(transport.canWriteEof()).toBe(true);
      transport.writeEof();
      expect(() => transport.write('more')).toThrow(expect.objectContaining({ code: 'ERR_TRANSPORT_WRITE_AFTER_EOF', message: 'Cannot call write() after write_eof()' }));
      expect(() => transport.writelines(['more'])).toThrow(expect.objectContaining({ code: 'ERR_TRANSPORT_WRITE_AFTER_EOF' }));
      const received = await readAll(peer);
      expect(received.equals(payload)).toBe(true);
      expect(transport.getWriteBufferSize()).toBe(0);
      expect(transport.isClosing()).toBe(false); // still reading
      peer.sendall(Buffer.from('late'));
      while (proto.text !== 'late') await sleep(0.005);
      transport.close();
      await proto.lost;
    });
  });

  it('E5: a peer RST ends the connection with ECONNRESET and no exception-handler report', async () => {
    await loop.runUntilComplete(async () => {
      const protos: Recorder[] = [];
      const server = await loop.createServer(() => protos[protos.push(new Recorder(loop)) - 1], '127.0.0.1', 0);
      const port = (server.sockets[0].getsockname() as [string, number])[1];
      const client = raw(new Socket(AF_INET, SOCK_STREAM));
      await loop.sockConnect(client, ['127.0.0.1', port]);
      while (protos.length === 0 || protos[0].events.length === 0) await sleep(0.005);
      client.setsockopt(SOL_SOCKET, SO_LINGER, [1, 0]);
      client.close();
      const exc = await protos[0].lost;
      expect((exc as { code?: string }).code).toBe('ECONNRESET');
      expect(fixture.errors).toEqual([]);
      server.close();
      await server.waitClosed();
    });
  });

  it('E6: writes after the connection is lost are dropped, with one warning after 5', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    try {
      await loop.runUntilComplete(async () => {
        const [transport, proto] = await pair();
        transport.abort();
        await proto.lost;
        for (let i = 0; i < 10; i++) expect(() => transport.write('dropped')).not.toThrow();
        transport.writelines(['dropped']);
        await sleep(0.02);
      });
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.map((w) => (w as { code?: string }).code)).toEqual(['MUXLOOP_WRITE_AFTER_CLOSE']);
  });

  it.each(['write', 'writelines'] as const)('E7: %s: pauseWriting once above high (synchronously), resumeWriting once at low', async (how) => {
    await loop.runUntilComplete(async () => {
      const [transport, proto, peer] = await pair();
      (transport.getExtraInfo('socket') as Socket).setsockopt(SOL_SOCKET, SO_SNDBUF, 4096);
      peer.setsockopt(SOL_SOCKET, SO_RCVBUF, 4096);
      expect(transport.getWriteBufferLimits()).toEqual([16384, 65536]);
      const chunk = Buffer.alloc(16384, 'w');
      let total = 0;
      for (let i = 0; i < 8; i++) {
        if (how === 'write') transport.write(chunk);
        else transport.writelines([chunk.subarray(0, 8192), chunk.subarray(8192)]);
        total += chunk.length;
      }
      // Synchronous: already called when write returned.
      expect(proto.events.filter((e) => e === 'pause')).toHaveLength(1);
      expect(transport.getWriteBufferSize()).toBeGreaterThan(65536);
      const received = await (async () => {
        let n = 0;
        while (n < total) n += (await loop.sockRecv(peer, 65536)).length;
        return n;
      })();
      expect(received).toBe(total);
      await sleep(0.01);
      expect(proto.events.filter((e) => e === 'pause' || e === 'resume')).toEqual(['pause', 'resume']);
      expect(transport.getWriteBufferSize()).toBe(0);
      transport.close();
      await proto.lost;
    });
  });

  it('setWriteBufferLimits: asyncio defaults, RangeError/TypeError leave the limits unchanged', async () => {
    await loop.runUntilComplete(async () => {
      const [transport, proto] = await pair();
      transport.setWriteBufferLimits(undefined, 1000);
      expect(transport.getWriteBufferLimits()).toEqual([1000, 4000]);
      transport.setWriteBufferLimits(100);
      expect(transport.getWriteBufferLimits()).toEqual([25, 100]);
      expect(() => transport.setWriteBufferLimits(1, 2)).toThrow(RangeError);
      expect(() => transport.setWriteBufferLimits(-1)).toThrow(RangeError);
      expect(() => transport.setWriteBufferLimits('1' as unknown as number)).toThrow(TypeError);
      expect(transport.getWriteBufferLimits()).toEqual([25, 100]);
      transport.setWriteBufferLimits();
      expect(transport.getWriteBufferLimits()).toEqual([16384, 65536]);
      transport.close();
      await proto.lost;
    });
  });

  it('write() rejects non-bytes with ERR_INVALID_ARG_TYPE and ignores empty data', async () => {
    await loop.runUntilComplete(async () => {
      const [transport, proto, peer] = await pair();
      for (const bad of [123, null, undefined, {}, [1, 2]]) {
        expect(() => transport.write(bad as unknown as string)).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }));
      }
      expect(() => transport.writelines([Buffer.from('a'), 5 as unknown as string])).toThrow(TypeError);
      expect(() => transport.writelines(7 as unknown as string[])).toThrow(TypeError);
      transport.write('');
      transport.write(Buffer.alloc(0));
      transport.write(new Float32Array([1]));
      transport.close();
      expect((await readAll(peer)).length).toBe(4); // the bad writelines sent nothing
      await proto.lost;
    });
  });

  it('E9: close() flushes first, abort() drops the buffer; connectionLost once each', async () => {
    await loop.runUntilComplete(async () => {
      const payload = Buffer.alloc(1 << 20, 'c');
      const [t1, p1, peer1] = await pair();
      t1.write(payload);
      t1.close();
      t1.close();
      expect(t1.isReading()).toBe(false);
      expect((await readAll(peer1)).equals(payload)).toBe(true);
      expect(await p1.lost).toBeUndefined();
      const [t2, p2, peer2] = await pair();
      t2.write(payload);
      expect(t2.getWriteBufferSize()).toBeGreaterThan(0);
      t2.abort();
      t2.close();
      t2.abort();
      expect(t2.getWriteBufferSize()).toBe(0);
      expect((await readAll(peer2)).length).toBeLessThan(payload.length);
      expect(await p2.lost).toBeUndefined();
      await sleep(0.01);
      expect([p1.lostCount, p2.lostCount]).toEqual([1, 1]);
    });
  });

  it('pauseReading/resumeReading are idempotent; setProtocol switches the callbacks', async () => {
    await loop.runUntilComplete(async () => {
      const [transport, proto, peer] = await pair();
      transport.pauseReading();
      transport.pauseReading();
      expect(transport.isReading()).toBe(false);
      peer.sendall(Buffer.from('held'));
      await sleep(0.02);
      expect(proto.chunks).toEqual([]);
      const other = new Recorder(loop);
      transport.setProtocol(other);
      expect(transport.getProtocol()).toBe(other);
      transport.resumeReading();
      transport.resumeReading();
      expect(transport.isReading()).toBe(true);
      while (other.text !== 'held') await sleep(0.005);
      transport.close();
      await other.lost;
      expect(proto.lostCount).toBe(0);
    });
  });

  it('E16: urgent data (MSG_OOB) does not make the loop spin', async () => {
    await loop.runUntilComplete(async () => {
      const protos: Recorder[] = [];
      const server = await loop.createServer(() => protos[protos.push(new Recorder(loop)) - 1], '127.0.0.1', 0);
      const port = (server.sockets[0].getsockname() as [string, number])[1];
      const client = raw(new Socket(AF_INET, SOCK_STREAM));
      await loop.sockConnect(client, ['127.0.0.1', port]);
      while (protos.length === 0 || protos[0].events.length === 0) await sleep(0.005);
      const sock = protos[0].transport.getExtraInfo('socket') as Socket;
      let recvCalls = 0;
      const original = sock.recvIntoRaw.bind(sock);
      sock.recvIntoRaw = (...args) => {
        recvCalls++;
        return original(...args);
      };
      client.send(Buffer.from('a'));
      client.send(Buffer.from('!'), MSG_OOB);
      client.send(Buffer.from('b'));
      await sleep(0.2);
      expect(protos[0].text).toBe('ab');
      expect(recvCalls).toBeLessThan(50); // a spin would be thousands
      protos[0].transport.close();
      await protos[0].lost;
      server.close();
      await server.waitClosed();
    });
  });
});

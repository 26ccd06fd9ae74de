// TLS over muxloop transports (lib/net/tls) against real peers on loopback: Node's tls and https
// servers and clients, and Debian's `openssl s_client`. No timing assertions.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as https from 'node:https';
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { Transport } from '../lib/net/protocols';
import { availableSelectors } from '../lib/selectors';
import type { Future } from '../lib/tasks/futures';
import type { EventLoop } from '../lib/loops';
import { SSLProtocol, TlsContext, wrapTls } from '../lib/net/tls';
import { openConnection, startServer } from '../lib/streams';
import { hasOpenssl, makeCerts, type Certs } from './tls-certs';
import { openFdCount, useRealLoop } from './helpers';

const HAVE_OPENSSL = hasOpenssl();
if (!HAVE_OPENSSL) console.warn('tls.test: no openssl binary, TLS suites skipped');
const certs: Certs = HAVE_OPENSSL ? makeCerts() : ({} as Certs);

/** Collects what arrives; `done` settles at connectionLost. */
class Collector {
  transport!: Transport;
  chunks: Buffer[] = [];
  received = 0;
  eof = false;
  paused = 0;
  lost: Error | undefined | null = null;
  done: Future<void>;
  hash = createHash('sha256');
  keepChunks = true;
  onData?: (data: Buffer) => void;
  constructor(loop: EventLoop) {
    this.done = loop.createFuture<void>();
  }
  connectionMade(t: Transport): void { this.transport = t; }
  dataReceived(d: Buffer): void {
    this.received += d.length;
    this.hash.update(d);
    if (this.keepChunks) this.chunks.push(d);
    this.onData?.(d);
  }
  eofReceived(): boolean { this.eof = true; return false; }
  pauseWriting(): void { this.paused++; }
  resumeWriting(): void {}
  connectionLost(e: Error | undefined): void { this.lost = e; if (!this.done.done()) this.done.setResult(undefined); }
  text(): string { return Buffer.concat(this.chunks).toString(); }
}

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

async function connectTls(loop: EventLoop, port: number, ssl: unknown, serverHostname?: string): Promise<[Transport, Collector]> {
  const [raw] = await loop.createConnection(() => ({}), '127.0.0.1', port);
  const app = new Collector(loop);
  const t = await wrapTls(loop, raw as Transport, app, ssl as never, { serverHostname });
  return [t, app];
}

describe.skipIf(!HAVE_OPENSSL)('muxloop TLS client', () => {
  const fx = useRealLoop(availableSelectors()[0]!);

  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    it(`echoes with a Node tls server over ${version}, with ALPN, SNI and extra info`, async () => {
      let sni: string | undefined;
      const server = tls.createServer({ key: certs.key, cert: certs.cert, minVersion: version, maxVersion: version, ALPNProtocols: ['h2', 'x-echo'] }, (s) => {
        sni = (s as tls.TLSSocket & { servername?: string }).servername;
        s.pipe(s);
      });
      const port = await listen(server);
      try {
        await fx.loop.runUntilComplete(async () => {
          const [t, app] = await connectTls(fx.loop, port, { ca: certs.cert, ALPNProtocols: ['x-echo'] }, 'localhost');
          expect(t.getExtraInfo('tlsVersion')).toBe(version);
          expect(t.getExtraInfo('alpnProtocol')).toBe('x-echo');
          expect((t.getExtraInfo('peercert') as tls.PeerCertificate).subject.CN).toBe('localhost');
          expect((t.getExtraInfo('cipher') as { name: string }).name).toMatch(/AES|CHACHA/);
          expect(typeof (t.getExtraInfo('sslObject') as { getProtocol(): string }).getProtocol()).toBe('string');
          t.write('hello ');
          t.writelines(['tls ', Buffer.from('world')]);
          while (app.received < 15) await sleepTick(fx.loop);
          expect(app.text()).toBe('hello tls world');
          t.close();
          await app.done;
          expect(app.lost).toBeUndefined();
        });
        expect(sni).toBe('localhost');
      } finally {
        server.close();
      }
    });
  }

  it('fetches from a Node https server', async () => {
    const server = https.createServer({ key: certs.key, cert: certs.cert }, (req, res) => res.end(`you asked ${req.url}`));
    const port = await listen(server);
    try {
      await fx.loop.runUntilComplete(async () => {
        const [t, app] = await connectTls(fx.loop, port, { ca: certs.cert }, 'localhost');
        t.write('GET /tls HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
        await app.done;
        expect(app.text()).toMatch(/^HTTP\/1\.1 200 OK/);
        expect(app.text()).toMatch(/you asked \/tls$/);
      });
    } finally {
      server.close();
    }
  });

  it('refuses a self-signed, an expired and a misnamed certificate with Node codes, leaving no fd', async () => {
    const good = tls.createServer({ key: certs.key, cert: certs.cert }, (s) => s.end());
    const old = tls.createServer({ key: certs.expiredKey, cert: certs.expiredCert }, (s) => s.end());
    const p1 = await listen(good);
    const p2 = await listen(old);
    const before = openFdCount();
    try {
      await fx.loop.runUntilComplete(async () => {
        const code = async (port: number, ssl: unknown, host: string) => {
          try {
            const [t, app] = await connectTls(fx.loop, port, ssl, host);
            t.close();
            await app.done;
            return 'connected';
          } catch (error) {
            return (error as { code?: string }).code;
          }
        };
        expect(await code(p1, true, 'localhost')).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
        expect(await code(p1, { ca: certs.cert }, 'example.com')).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
        expect(await code(p2, { ca: certs.expiredCert }, 'localhost')).toBe('CERT_HAS_EXPIRED');
        expect(await code(p1, { ca: certs.cert, rejectUnauthorized: false }, 'example.com')).toBe('connected');
      });
      await new Promise((r) => setTimeout(r, 50));
      expect(openFdCount()).toBe(before);
    } finally {
      good.close();
      old.close();
    }
  });

  it('moves 64 MiB each way through a Node tls echo server, hashes equal', async () => {
    const server = tls.createServer({ key: certs.key, cert: certs.cert }, (s) => s.pipe(s));
    const port = await listen(server);
    const total = 64 * 1024 * 1024;
    const block = randomBytes(256 * 1024);
    const sent = createHash('sha256');
    for (let i = 0; i < total / block.length; i++) sent.update(block);
    try {
      await fx.loop.runUntilComplete(async () => {
        const [t, app] = await connectTls(fx.loop, port, { ca: certs.cert }, 'localhost');
        app.keepChunks = false;
        let written = 0;
        let resume: (() => void) | undefined;
        app.resumeWriting = () => resume?.();
        while (written < total) {
          t.write(block);
          written += block.length;
          if (t.getWriteBufferSize() > t.getWriteBufferLimits()[1]) await new Promise<void>((r) => (resume = r));
        }
        t.writeEof();
        await app.done;
        expect(app.received).toBe(total);
        expect(app.hash.digest('hex')).toBe(sent.digest('hex'));
        expect(app.paused).toBeGreaterThan(0);
      });
    } finally {
      server.close();
    }
  }, 120_000);

  it('pauses writing when the peer stops reading', async () => {
    let peer: tls.TLSSocket | undefined;
    const server = tls.createServer({ key: certs.key, cert: certs.cert }, (s) => {
      peer = s;
      s.pause();
    });
    const port = await listen(server);
    try {
      await fx.loop.runUntilComplete(async () => {
        const [t, app] = await connectTls(fx.loop, port, { ca: certs.cert }, 'localhost');
        const block = Buffer.alloc(64 * 1024, 1);
        for (let i = 0; i < 2000 && app.paused === 0; i++) {
          t.write(block);
          await sleepTick(fx.loop);
        }
        expect(app.paused).toBe(1);
        expect(t.getWriteBufferSize()).toBeGreaterThan(t.getWriteBufferLimits()[1]);
        t.abort();
        await app.done;
      });
    } finally {
      peer?.destroy();
      server.close();
    }
  });

  it('rejects with ECONNRESET when the peer resets mid-handshake, leaving no fd', async () => {
    const server = net.createServer((s) => s.once('data', () => s.resetAndDestroy()));
    const port = await listen(server);
    const before = openFdCount();
    try {
      await fx.loop.runUntilComplete(async () => {
        await expect(connectTls(fx.loop, port, { ca: certs.cert }, 'localhost')).rejects.toMatchObject({ code: 'ECONNRESET' });
      });
      expect(openFdCount()).toBe(before);
    } finally {
      server.close();
    }
  });

  it('1,000 handshakes leave no fd behind', async () => {
    const server = tls.createServer({ key: certs.key, cert: certs.cert }, (s) => s.end('bye'));
    const port = await listen(server);
    const context = new TlsContext({ ca: certs.cert });
    const before = openFdCount();
    try {
      await fx.loop.runUntilComplete(async () => {
        for (let i = 0; i < 1000; i++) {
          const [, app] = await connectTls(fx.loop, port, context, 'localhost');
          await app.done;
          expect(app.text()).toBe('bye');
        }
      });
      await new Promise((r) => setTimeout(r, 50));
      expect(openFdCount()).toBe(before);
    } finally {
      context.close();
      server.close();
    }
  }, 120_000);

  it('upgrades a plain connection (STARTTLS) with wrapTls', async () => {
    const server = net.createServer((plain) => {
      plain.once('data', (d) => {
        expect(d.toString()).toBe('STARTTLS\n');
        plain.write('GO\n', () => {
          const secure = new tls.TLSSocket(plain, { isServer: true, key: certs.key, cert: certs.cert } as tls.TLSSocketOptions);
          secure.on('data', (x) => secure.end(`secure:${x}`));
          secure.on('error', () => {});
        });
      });
    });
    const port = await listen(server);
    try {
      await fx.loop.runUntilComplete(async () => {
        const plainApp = new Collector(fx.loop);
        const [raw] = await fx.loop.createConnection(() => plainApp, '127.0.0.1', port);
        (raw as Transport).write('STARTTLS\n');
        while (plainApp.received < 3) await sleepTick(fx.loop);
        expect(plainApp.text()).toBe('GO\n');
        const app = new Collector(fx.loop);
        const t = await wrapTls(fx.loop, raw as Transport, app, { ca: certs.cert }, { serverHostname: 'localhost' });
        t.write('hi');
        await app.done;
        expect(app.text()).toBe('secure:hi');
        expect(plainApp.lost).toBeNull();
      });
    } finally {
      server.close();
    }
  });

  it('presents a client certificate to a server that requires one', async () => {
    const server = tls.createServer({ key: certs.key, cert: certs.cert, ca: certs.cert, requestCert: true, rejectUnauthorized: true }, (s) => {
      s.end(`cn=${(s.getPeerCertificate() as tls.PeerCertificate).subject.CN}`);
    });
    const port = await listen(server);
    try {
      await fx.loop.runUntilComplete(async () => {
        const [, app] = await connectTls(fx.loop, port, { ca: certs.cert, key: certs.key, cert: certs.cert }, 'localhost');
        await app.done;
        expect(app.text()).toBe('cn=localhost');
      });
    } finally {
      server.close();
    }
  });

  it('writeEof sends close_notify and half-closes; the peer still answers', async () => {
    const server = tls.createServer({ key: certs.key, cert: certs.cert, allowHalfOpen: true }, (s) => {
      let got = '';
      s.on('data', (d) => (got += d));
      s.on('end', () => s.end(`after eof: ${got}`));
    });
    const port = await listen(server);
    try {
      await fx.loop.runUntilComplete(async () => {
        const [t, app] = await connectTls(fx.loop, port, { ca: certs.cert }, 'localhost');
        expect(t.canWriteEof()).toBe(true);
        t.write('half');
        t.writeEof();
        expect(() => t.write('more')).toThrow(expect.objectContaining({ code: 'ERR_STREAM_WRITE_AFTER_END' }));
        await app.done;
        expect(app.text()).toBe('after eof: half');
        expect(app.eof).toBe(true);
      });
    } finally {
      server.close();
    }
  });

  it('fails with ERR_TLS_HANDSHAKE_TIMEOUT when the server never answers, leaving no fd', async () => {
    const held: net.Socket[] = [];
    const server = net.createServer((s) => held.push(s));
    const port = await listen(server);
    const before = openFdCount();
    try {
      await fx.loop.runUntilComplete(async () => {
        const [raw] = await fx.loop.createConnection(() => ({}), '127.0.0.1', port);
        await expect(wrapTls(fx.loop, raw as Transport, new Collector(fx.loop), { ca: certs.cert }, { serverHostname: 'localhost', sslHandshakeTimeout: 0.2 }))
          .rejects.toMatchObject({ code: 'ERR_TLS_HANDSHAKE_TIMEOUT' });
      });
      await new Promise((r) => setTimeout(r, 20));
      for (const s of held) s.destroy();
      await new Promise((r) => setTimeout(r, 20));
      expect(openFdCount()).toBe(before);
    } finally {
      server.close();
    }
  });

  it('pauseReading holds decrypted data until resumeReading; a BufferedProtocol gets the bytes in its buffer', async () => {
    const server = tls.createServer({ key: certs.key, cert: certs.cert }, (s) => s.pipe(s));
    const port = await listen(server);
    try {
      await fx.loop.runUntilComplete(async () => {
        const [t, app] = await connectTls(fx.loop, port, { ca: certs.cert }, 'localhost');
        t.pauseReading();
        expect(t.isReading()).toBe(false);
        t.write('while paused');
        for (let i = 0; i < 20; i++) await sleepTick(fx.loop);
        expect(app.received).toBe(0);
        t.resumeReading();
        while (app.received < 12) await sleepTick(fx.loop);
        expect(app.text()).toBe('while paused');
        t.close();
        await app.done;

        const [raw] = await fx.loop.createConnection(() => ({}), '127.0.0.1', port);
        const buf = Buffer.alloc(5);
        const parts: string[] = [];
        const done = fx.loop.createFuture<void>();
        const buffered = {
          getBuffer: () => buf,
          bufferUpdated: (n: number) => parts.push(buf.subarray(0, n).toString()),
          connectionLost: () => done.setResult(undefined),
        };
        const bt = await wrapTls(fx.loop, raw as Transport, buffered as never, { ca: certs.cert }, { serverHostname: 'localhost' });
        bt.write('buffered protocol');
        while (parts.join('').length < 17) await sleepTick(fx.loop);
        expect(parts.join('')).toBe('buffered protocol');
        expect(Math.max(...parts.map((p) => p.length))).toBeLessThanOrEqual(5);
        bt.close();
        await done;
      });
    } finally {
      server.close();
    }
  });

  it('refuses a Node SecureContext with a code naming the options form', () => {
    expect(() => new TlsContext(tls.createSecureContext({}) as never)).toThrow(expect.objectContaining({ code: 'ERR_TLS_SECURE_CONTEXT_UNSUPPORTED' }));
  });
});

describe.skipIf(!HAVE_OPENSSL)('muxloop TLS server', () => {
  const fx = useRealLoop(availableSelectors()[0]!);

  async function serve(ctx: TlsContext, onApp: (app: Collector) => void) {
    const server = await fx.loop.createServer(() => {
      const app = new Collector(fx.loop);
      app.onData = (d) => app.transport.write(d);
      app.eofReceived = () => { app.eof = true; return false; };
      onApp(app);
      return new SSLProtocol(fx.loop as never, app, ctx, { serverSide: true });
    }, '127.0.0.1', 0);
    const port = (server.sockets[0]!.getsockname() as [string, number])[1];
    return { server, port };
  }

  it('serves Node tls.connect over TLS 1.2 and 1.3 with ALPN, sees SNI', async () => {
    const ctx = new TlsContext({ key: certs.key, cert: certs.cert, ALPNProtocols: ['x-echo'] }, true);
    const apps: Collector[] = [];
    await fx.loop.runUntilComplete(async () => {
      const { server, port } = await serve(ctx, (a) => apps.push(a));
      for (const v of ['TLSv1.2', 'TLSv1.3'] as const) {
        const reply = await new Promise<{ text: string; alpn: string | false; proto: string | null }>((resolve, reject) => {
          const c = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: certs.cert, maxVersion: v, minVersion: v, ALPNProtocols: ['x-echo'] }, () => c.end('ping'));
          let text = '';
          c.on('data', (d) => (text += d));
          c.on('end', () => resolve({ text, alpn: c.alpnProtocol, proto: c.getProtocol() }));
          c.on('error', reject);
        });
        expect(reply).toEqual({ text: 'ping', alpn: 'x-echo', proto: v });
      }
      server.close();
      await server.waitClosed();
    });
    expect(apps.map((a) => a.transport.getExtraInfo('servername'))).toEqual(['localhost', 'localhost']);
    ctx.close();
  });

  it('closes, without a leak or a report, connections reset mid-handshake or sending garbage', async () => {
    const ctx = new TlsContext({ key: certs.key, cert: certs.cert }, true);
    const apps: Collector[] = [];
    await fx.loop.runUntilComplete(async () => {
      const { server, port } = await serve(ctx, (a) => apps.push(a));
      for (const payload of [Buffer.from([0x16, 0x03, 0x01, 0x00]), Buffer.from('GET / HTTP/1.1\r\n\r\n')]) {
        await new Promise<void>((resolve) => {
          const c = net.connect(port, '127.0.0.1', () => {
            c.write(payload, () => (payload.length === 4 ? c.resetAndDestroy() : undefined));
          });
          c.on('close', () => resolve());
          c.on('error', () => {});
          c.resume();
        });
      }
      const before = openFdCount();
      server.close();
      await server.waitClosed();
      expect(openFdCount()).toBeLessThan(before);
    });
    // The app protocols never saw a connection: the handshake never completed.
    expect(apps.every((a) => a.transport === undefined)).toBe(true);
    ctx.close();
  });

  it('verifies a client certificate when asked (requestCert), and refuses a client without one', async () => {
    const ctx = new TlsContext({ key: certs.key, cert: certs.cert, ca: certs.cert, requestCert: true }, true);
    const apps: Collector[] = [];
    await fx.loop.runUntilComplete(async () => {
      const { server, port } = await serve(ctx, (a) => apps.push(a));
      const talk = (withCert: boolean) => new Promise<string>((resolve) => {
        const c = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: certs.cert, ...(withCert ? { key: certs.key, cert: certs.cert } : {}) }, () => c.end('me'));
        let text = '';
        c.on('data', (d) => (text += d));
        c.on('close', () => resolve(text));
        c.on('error', (e: NodeJS.ErrnoException) => (text = `error:${e.code}`));
      });
      expect(await talk(true)).toBe('me');
      expect(await talk(false)).toMatch(/^error:/);
      server.close();
      await server.waitClosed();
    });
    expect((apps[0]!.transport.getExtraInfo('peercert') as tls.PeerCertificate).subject.CN).toBe('localhost');
    ctx.close();
  });

  it('serves openssl s_client', async () => {
    const ctx = new TlsContext({ key: certs.key, cert: certs.cert }, true);
    await fx.loop.runUntilComplete(async () => {
      const { server, port } = await serve(ctx, () => {});
      const out = await new Promise<string>((resolve) => {
        const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', '-quiet', '-no_ign_eof'], { stdio: ['pipe', 'pipe', 'ignore'] });
        let text = '';
        // stdin stays open until the echo is back: s_client quits on stdin EOF, maybe before it.
        child.stdout.on('data', (d) => {
          text += d;
          if (text.endsWith('\n')) child.stdin.end();
        });
        child.on('close', () => resolve(text));
        child.stdin.write('hello from s_client\n');
      });
      expect(out).toBe('hello from s_client\n');
      server.close();
      await server.waitClosed();
    });
    ctx.close();
  });
});

function sleepTick(loop: EventLoop): Promise<void> {
  return new Promise((resolve) => loop.callLater(0.001, resolve));
}

describe.skipIf(!HAVE_OPENSSL)('ssl option on the loop and streams', () => {
  const fx = useRealLoop(availableSelectors()[0]!);

  it('createServer({ ssl }) and createConnection({ ssl }) talk to each other; openConnection fetches from Node https', async () => {
    const page = https.createServer({ key: certs.key, cert: certs.cert }, (_req, res) => res.end('page'));
    const pagePort = await listen(page);
    try {
      await fx.loop.runUntilComplete(async () => {
        const server = await fx.loop.createServer(() => {
          const app = new Collector(fx.loop);
          app.onData = (d) => app.transport.write(d);
          return app;
        }, '127.0.0.1', 0, { ssl: { key: certs.key, cert: certs.cert } });
        const port = (server.sockets[0]!.getsockname() as [string, number])[1];
        const [t, app] = await fx.loop.createConnection(() => new Collector(fx.loop), '127.0.0.1', port, { ssl: { ca: certs.cert }, serverHostname: 'localhost' });
        t.write('over ssl option');
        while (app.received < 15) await sleepTick(fx.loop);
        expect(app.text()).toBe('over ssl option');
        expect(t.getExtraInfo('peercert')).toBeDefined();
        t.close();
        await app.done;
        await expect(fx.loop.createConnection(() => new Collector(fx.loop), '127.0.0.1', port, { ssl: true, serverHostname: 'localhost' }))
          .rejects.toMatchObject({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
        await expect(fx.loop.createConnection(() => new Collector(fx.loop), '127.0.0.1', port, { serverHostname: 'localhost' }))
          .rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });

        const [reader, writer] = await openConnection('127.0.0.1', pagePort, { loop: fx.loop, ssl: { ca: certs.cert }, serverHostname: 'localhost' });
        writer.write('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
        const body = (await reader.read(-1)).toString();
        expect(body).toMatch(/^HTTP\/1\.1 200 OK[\s\S]*page$/);
        writer.close();
        await writer.waitClosed();
        server.close();
        await server.waitClosed();
      });
    } finally {
      page.close();
    }
  });

  it('startServer({ ssl }) serves Node tls.connect; loop.startTls upgrades a plain connection', async () => {
    await fx.loop.runUntilComplete(async () => {
      const server = await startServer(async (reader, writer) => {
        const line = await reader.readline();
        writer.write(Buffer.concat([Buffer.from('echo:'), line]));
        await writer.drain();
        writer.close();
      }, '127.0.0.1', 0, { loop: fx.loop, ssl: { key: certs.key, cert: certs.cert } });
      const port = (server.sockets[0]!.getsockname() as [string, number])[1];
      const reply = await new Promise<string>((resolve, reject) => {
        const c = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: certs.cert }, () => c.write('hi\n'));
        let text = '';
        c.on('data', (d) => (text += d));
        c.on('end', () => resolve(text));
        c.on('error', reject);
      });
      expect(reply).toBe('echo:hi\n');

      // startTls: a plain muxloop connection to a muxloop plain server that upgrades with
      // connectAcceptedSocket-like wrapping on its side (loop.startTls, serverSide).
      const ctx = new TlsContext({ key: certs.key, cert: certs.cert }, true);
      const plainServer = await fx.loop.createServer(() => {
        const app = new Collector(fx.loop);
        app.onData = () => {
          // The go-ahead goes out in plain text before the upgrade, as SMTP's "220 Ready".
          app.transport.write('GO');
          const secureApp = new Collector(fx.loop);
          // Data may arrive with the client's Finished, before startTls resolves: write through
          // the transport startTls gives (the protocol gets no second connectionMade).
          const upgraded = fx.loop.startTls(app.transport, secureApp, ctx, { serverSide: true });
          secureApp.onData = (d) => void upgraded.then((t) => t.write(d));
        };
        return app;
      }, '127.0.0.1', 0);
      const plainPort = (plainServer.sockets[0]!.getsockname() as [string, number])[1];
      const plainApp = new Collector(fx.loop);
      const [raw] = await fx.loop.createConnection(() => plainApp, '127.0.0.1', plainPort);
      raw.write('STARTTLS');
      while (plainApp.received < 2) await sleepTick(fx.loop);
      expect(plainApp.text()).toBe('GO');
      const secure = new Collector(fx.loop);
      const t = await fx.loop.startTls(raw, secure, { ca: certs.cert }, { serverHostname: 'localhost' });
      expect(secure.transport).toBeUndefined(); // no second connectionMade, as asyncio
      t.write('after upgrade');
      while (secure.received < 13) await sleepTick(fx.loop);
      expect(secure.text()).toBe('after upgrade');
      t.close();
      await secure.done;
      for (const s of [server, plainServer]) {
        s.close();
        await s.waitClosed();
      }
      ctx.close();
    });
  });

  it('createUnixServer({ ssl }) and createUnixConnection({ ssl, serverHostname })', async () => {
    const dir = (await import('node:fs')).mkdtempSync(require('node:path').join(require('node:os').tmpdir(), 'muxloop-tls-unix-'));
    const sockPath = require('node:path').join(dir, 's');
    try {
      await fx.loop.runUntilComplete(async () => {
        const server = await fx.loop.createUnixServer(() => {
          const app = new Collector(fx.loop);
          app.onData = (d) => app.transport.write(d);
          return app;
        }, sockPath, { ssl: { key: certs.key, cert: certs.cert } });
        await expect(fx.loop.createUnixConnection(() => new Collector(fx.loop), sockPath, { ssl: { ca: certs.cert } }))
          .rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
        const [t, app] = await fx.loop.createUnixConnection(() => new Collector(fx.loop), sockPath, { ssl: { ca: certs.cert }, serverHostname: 'localhost' });
        t.write('unix tls');
        while (app.received < 8) await sleepTick(fx.loop);
        expect(app.text()).toBe('unix tls');
        t.close();
        await app.done;
        server.close();
        await server.waitClosed();
      });
    } finally {
      (await import('node:fs')).rmSync(dir, { recursive: true, force: true });
    }
  });

  it('StreamWriter.startTls upgrades both ends of a streams connection', async () => {
    await fx.loop.runUntilComplete(async () => {
      const server = await startServer(async (reader, writer) => {
        expect((await reader.readline()).toString()).toBe('STARTTLS\n');
        writer.write('GO\n');
        await writer.startTls({ key: certs.key, cert: certs.cert });
        const line = await reader.readline();
        writer.write(Buffer.concat([Buffer.from('tls:'), line]));
        writer.close();
      }, '127.0.0.1', 0, { loop: fx.loop });
      const port = (server.sockets[0]!.getsockname() as [string, number])[1];
      const [reader, writer] = await openConnection('127.0.0.1', port, { loop: fx.loop });
      writer.write('STARTTLS\n');
      expect((await reader.readline()).toString()).toBe('GO\n');
      await writer.startTls({ ca: certs.cert }, { serverHostname: 'localhost' });
      expect((writer.getExtraInfo('peercert') as tls.PeerCertificate).subject.CN).toBe('localhost');
      writer.write('secret\n');
      expect((await reader.read(-1)).toString()).toBe('tls:secret\n');
      writer.close();
      await writer.waitClosed();
      server.close();
      await server.waitClosed();
    });
  });
});

describe.skipIf(!HAVE_OPENSSL)('examples/https-fetch.js', () => {
  it('fetches an https page from a local Node https server with muxloop streams (dist/ build)', async () => {
    const { execFileSync } = await import('node:child_process');
    const out = execFileSync(process.execPath, [require('node:path').join(__dirname, '..', 'examples', 'https-fetch.js')], { encoding: 'utf8', timeout: 30_000 });
    const result = JSON.parse(out.trim().split('\n').pop()!) as { status: string; body: string; protocol: string };
    expect(result).toMatchObject({ status: 'HTTP/1.1 200 OK', body: 'hello over TLS, you asked /hello\n', protocol: 'TLSv1.3' });
  });
});

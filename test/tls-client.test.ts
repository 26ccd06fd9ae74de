// The muxloop TLS client (lib/net/tls) against real Node tls and https servers on loopback:
// TLS 1.2/1.3, ALPN, SNI, verification failures with Node's codes, 64 MiB each way, flow control,
// resets, timeouts, 1,000 handshakes without an fd left. No timing assertions.
import { createHash, randomBytes } from 'node:crypto';
import * as https from 'node:https';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import { BaseProtocol, type Transport } from '../lib/net/protocols';
import { TlsContext, wrapTls } from '../lib/net/tls';
import { availableSelectors } from '../lib/selectors';
import { openFdCount, useRealLoop } from './helpers';
import { Collector, HAVE_OPENSSL, certs, closeServer, connectTls, listen, sleepTick } from './tls-helpers';

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
        await closeServer(server);
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
      await closeServer(server);
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
      await closeServer(server);
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
      await closeServer(server);
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
      await closeServer(server);
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
      await closeServer(server);
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
      await closeServer(server);
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
      await closeServer(server);
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
      await closeServer(server);
    }
  });

  it('fails with ERR_TLS_HANDSHAKE_TIMEOUT when the server never answers, leaving no fd', async () => {
    const held: net.Socket[] = [];
    const server = net.createServer((s) => held.push(s));
    const port = await listen(server);
    const before = openFdCount();
    try {
      await fx.loop.runUntilComplete(async () => {
        const [raw] = await fx.loop.createConnection(() => new BaseProtocol(), '127.0.0.1', port);
        await expect(wrapTls(fx.loop, raw as Transport, new Collector(fx.loop), { ca: certs.cert }, { serverHostname: 'localhost', sslHandshakeTimeout: 0.2 }))
          .rejects.toMatchObject({ code: 'ERR_TLS_HANDSHAKE_TIMEOUT' });
      });
      await new Promise((r) => setTimeout(r, 20));
      for (const s of held) s.destroy();
      await new Promise((r) => setTimeout(r, 20));
      expect(openFdCount()).toBe(before);
    } finally {
      await closeServer(server);
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

        const [raw] = await fx.loop.createConnection(() => new BaseProtocol(), '127.0.0.1', port);
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
      await closeServer(server);
    }
  });

  it('refuses a Node SecureContext with a code naming the options form', () => {
    expect(() => new TlsContext(tls.createSecureContext({}) as never)).toThrow(expect.objectContaining({ code: 'ERR_TLS_SECURE_CONTEXT_UNSUPPORTED' }));
  });
});

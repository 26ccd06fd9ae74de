// The muxloop TLS server (SSLProtocol over accepted transports) against Node tls.connect and
// Debian's openssl s_client, on loopback.
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import { SSLProtocol, TlsContext } from '../lib/net/tls';
import { availableSelectors } from '../lib/selectors';
import { openFdCount, useRealLoop } from './helpers';
import { Collector, HAVE_OPENSSL, certs } from './tls-helpers';

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
        const reply = await new Promise<{ text: string; alpn: string | false | null; proto: string | null }>((resolve, reject) => {
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

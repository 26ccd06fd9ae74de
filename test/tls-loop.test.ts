// The `ssl` option wired into the loop and the streams (createConnection, createServer, the Unix
// variants, openConnection, startServer, loop.startTls, StreamWriter.startTls) and
// examples/https-fetch.js.
import * as https from 'node:https';
import * as tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import { TlsContext } from '../lib/net/tls';
import { openConnection, startServer } from '../lib/streams';
import { availableSelectors } from '../lib/selectors';
import { useRealLoop } from './helpers';
import { Collector, HAVE_OPENSSL, certs, listen, sleepTick } from './tls-helpers';

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

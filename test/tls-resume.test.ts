// Session resumption over TLS 1.2 and 1.3: the muxloop client keeps the server's session
// (getExtraInfo('sslSession')) and offers it again (sslSession), against a Node tls server, a
// muxloop server, and Node's tls.connect ('session' event, `session` option) against the muxloop
// server. The second handshake must be the abbreviated one on both ends (isSessionReused).
import * as tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import { BaseProtocol, type Transport } from '../lib/net/protocols';
import { TlsContext, wrapTls } from '../lib/net/tls';
import { availableSelectors } from '../lib/selectors';
import { openFdCount, useRealLoop } from './helpers';
import { Collector, HAVE_OPENSSL, certs, listen, sleepTick } from './tls-helpers';

type SslObject = { isSessionReused(): boolean; session: Buffer | undefined; getProtocol(): string };

describe.skipIf(!HAVE_OPENSSL)('TLS session resumption', () => {
  const fx = useRealLoop(availableSelectors()[0]!);

  /** One muxloop client connection: echo a message (so TLS 1.3 tickets have arrived), close. */
  async function muxloopClient(port: number, ctx: TlsContext, sslSession?: Buffer) {
    const [t, app] = (await fx.loop.createConnection(() => new Collector(fx.loop), '127.0.0.1', port, { ssl: ctx, serverHostname: 'localhost', sslSession })) as [Transport, Collector];
    t.write('ping');
    while (app.received < 4) await sleepTick(fx.loop);
    const ssl = t.getExtraInfo('sslObject') as SslObject;
    const result = { reused: ssl.isSessionReused(), protocol: ssl.getProtocol(), session: t.getExtraInfo('sslSession') as Buffer | undefined };
    expect(ssl.session).toBe(result.session);
    t.close();
    await app.done;
    return result;
  }

  async function muxloopServer(version: tls.SecureVersion, apps: Collector[]) {
    const server = await fx.loop.createServer(() => {
      const app = new Collector(fx.loop);
      app.onData = (d) => app.transport.write(d);
      apps.push(app);
      return app;
    }, '127.0.0.1', 0, { ssl: { key: certs.key, cert: certs.cert, minVersion: version, maxVersion: version } });
    return { server, port: (server.sockets[0]!.getsockname() as [string, number])[1] };
  }

  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    it(`muxloop client resumes with a Node tls server over ${version}`, async () => {
      const reusedOnServer: boolean[] = [];
      const server = tls.createServer({ key: certs.key, cert: certs.cert, minVersion: version, maxVersion: version }, (s) => {
        reusedOnServer.push(s.isSessionReused());
        s.pipe(s);
      });
      const port = await listen(server);
      const ctx = new TlsContext({ ca: certs.cert });
      try {
        await fx.loop.runUntilComplete(async () => {
          const first = await muxloopClient(port, ctx);
          expect(first).toMatchObject({ reused: false, protocol: version });
          expect(Buffer.isBuffer(first.session)).toBe(true);
          const second = await muxloopClient(port, ctx, first.session);
          expect(second).toMatchObject({ reused: true, protocol: version });
          // Without sslSession: a full handshake again.
          const fresh = await muxloopClient(port, ctx, undefined);
          expect(fresh.reused).toBe(false);
        });
      } finally {
        await new Promise((resolve) => server.close(resolve));
        ctx.close();
      }
      expect(reusedOnServer).toEqual([false, true, false]);
    });

    it(`Node tls.connect resumes with the muxloop server over ${version}`, async () => {
      const apps: Collector[] = [];
      const node = (port: number, session?: Buffer) =>
        new Promise<{ reused: boolean; session: Buffer | undefined }>((resolve, reject) => {
          let latest: Buffer | undefined;
          let reused = false;
          const c = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: certs.cert, session }, () => {
            reused = c.isSessionReused();
            c.write('ping');
          });
          c.on('session', (s: Buffer) => (latest = s));
          c.on('data', () => c.end());
          c.on('close', () => resolve({ reused, session: latest }));
          c.on('error', reject);
        });
      await fx.loop.runUntilComplete(async () => {
        const { server, port } = await muxloopServer(version, apps);
        const first = await node(port);
        expect(first.reused).toBe(false);
        expect(Buffer.isBuffer(first.session)).toBe(true);
        const second = await node(port, first.session);
        expect(second.reused).toBe(true);
        server.close();
        await server.waitClosed();
      });
      expect(apps.map((a) => (a.transport.getExtraInfo('sslObject') as SslObject).isSessionReused())).toEqual([false, true]);
    });

    it(`muxloop client resumes with the muxloop server over ${version}`, async () => {
      const apps: Collector[] = [];
      const ctx = new TlsContext({ ca: certs.cert });
      await fx.loop.runUntilComplete(async () => {
        const { server, port } = await muxloopServer(version, apps);
        const first = await muxloopClient(port, ctx);
        const second = await muxloopClient(port, ctx, first.session);
        expect([first.reused, second.reused]).toEqual([false, true]);
        // The session stays resumable: a third connection with the newest one resumes too.
        const third = await muxloopClient(port, ctx, second.session ?? first.session);
        expect(third.reused).toBe(true);
        server.close();
        await server.waitClosed();
      });
      expect(apps.map((a) => (a.transport.getExtraInfo('sslObject') as SslObject).isSessionReused())).toEqual([false, true, true]);
      ctx.close();
    });
  }

  it('refuses a session that is not one (clear errors, no fd left) and on the server side', async () => {
    const server = tls.createServer({ key: certs.key, cert: certs.cert }, (s) => s.end());
    const port = await listen(server);
    const before = openFdCount();
    try {
      await fx.loop.runUntilComplete(async () => {
        const attempt = (sslSession: unknown) =>
          fx.loop.createConnection(() => new Collector(fx.loop), '127.0.0.1', port, { ssl: { ca: certs.cert }, serverHostname: 'localhost', sslSession: sslSession as Buffer }).then(
            () => 'connected',
            (e: unknown) => `${(e as Error).name}:${(e as { code?: string }).code}`,
          );
        expect(await attempt(Buffer.from('not a session'))).toBe('TypeError:ERR_INVALID_ARG_VALUE');
        expect(await attempt('text')).toBe('TypeError:ERR_INVALID_ARG_TYPE');
        expect(await attempt(Buffer.alloc(0))).toBe('TypeError:ERR_INVALID_ARG_VALUE');
        const [raw] = await fx.loop.createConnection(() => new BaseProtocol(), '127.0.0.1', port);
        // An argument error leaves the plain transport as it was (open): the caller closes it.
        await expect(wrapTls(fx.loop as never, raw as Transport, new Collector(fx.loop), { key: certs.key, cert: certs.cert }, { serverSide: true, sslSession: Buffer.alloc(1) })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
        expect(raw.isClosing()).toBe(false);
        raw.close();
        await expect(fx.loop.createConnection(() => new Collector(fx.loop), '127.0.0.1', port, { sslSession: Buffer.alloc(1) })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
      });
      expect(openFdCount()).toBe(before);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
  it('every refused sslSession: a coded error before any connection is made; startTls leaves the transport open; servers refuse one', async () => {
    let connections = 0;
    const server = tls.createServer({ key: certs.key, cert: certs.cert }, (s) => s.end());
    server.on('connection', () => connections++);
    const port = await listen(server);
    const before = openFdCount();
    const outcome = (e: unknown) => [(e as Error).name, (e as { code?: string }).code, (e as Error).message];
    try {
      await fx.loop.runUntilComplete(async () => {
        const connect = (sslSession: unknown) =>
          fx.loop.createConnection(() => new Collector(fx.loop), '127.0.0.1', port, { ssl: { ca: certs.cert }, serverHostname: 'localhost', sslSession: sslSession as Buffer }).then(() => ['connected'], outcome);
        for (const bad of [5, {}, [1, 2], true, 'text', new ArrayBuffer(4), new DataView(new ArrayBuffer(4))]) {
          expect(await connect(bad)).toEqual(['TypeError', 'ERR_INVALID_ARG_TYPE', expect.stringMatching(/^The "sslSession" argument must be a Buffer or Uint8Array. Received /)]);
        }
        for (const bad of [Buffer.from('not a session'), Buffer.alloc(0), new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01])]) {
          expect(await connect(bad)).toEqual(['TypeError', 'ERR_INVALID_ARG_VALUE', expect.stringContaining('"session" argument is not a TLS session')]);
        }
        // Refused before a socket was made: the server never saw a connection.
        expect(connections).toBe(0);

        // startTls: every refusal leaves the plain transport open and usable (the caller owns it).
        const [raw, plain] = await fx.loop.createConnection(() => new Collector(fx.loop), '127.0.0.1', port);
        for (const bad of [5, Buffer.from('junk')]) {
          const error = await fx.loop.startTls(raw, plain, { ca: certs.cert }, { serverHostname: 'localhost', sslSession: bad as Buffer }).then(() => undefined, (e: unknown) => e);
          expect(outcome(error).slice(0, 2)).toEqual(['TypeError', typeof bad === 'number' ? 'ERR_INVALID_ARG_TYPE' : 'ERR_INVALID_ARG_VALUE']);
          expect(raw.isClosing()).toBe(false);
        }
        // So does a bad sslContext (asyncio's start_tls raises before touching the transport).
        for (const [bad, code] of [[5, 'ERR_INVALID_ARG_TYPE'], [{ cert: 'not a PEM' }, undefined]] as const) {
          const error = await fx.loop.startTls(raw, plain, bad as never, { serverHostname: 'localhost' }).then(() => undefined, (e: unknown) => e);
          expect(error).toBeInstanceOf(Error);
          if (code !== undefined) expect((error as { code?: string }).code).toBe(code);
          expect(raw.isClosing()).toBe(false);
        }
        raw.write('still usable');
        raw.close();
        await plain.done;

        // Servers: a session is for clients; refused like connectAcceptedSocket and wrapTls refuse it.
        const serverSsl = { key: certs.key, cert: certs.cert };
        for (const [bad, code] of [[Buffer.alloc(1), 'ERR_INVALID_ARG_VALUE'], [5, 'ERR_INVALID_ARG_TYPE']] as const) {
          const tcp = await fx.loop.createServer(() => new Collector(fx.loop), '127.0.0.1', 0, { ssl: serverSsl, sslSession: bad as Buffer }).then(() => undefined, outcome);
          expect(tcp?.slice(0, 2)).toEqual(['TypeError', code]);
          const unix = await fx.loop.createUnixServer(() => new Collector(fx.loop), `\0muxloop-optcheck-${process.pid}`, { ssl: serverSsl, sslSession: bad as Buffer }).then(() => undefined, outcome);
          expect(unix?.slice(0, 2)).toEqual(['TypeError', code]);
        }
        expect(connections).toBe(1);
      });
      expect(openFdCount()).toBe(before);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

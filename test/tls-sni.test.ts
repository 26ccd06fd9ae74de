// SNI: the muxloop TLS server choosing a certificate per name (ssl.SNICallback, Node's shape)
// against Node's tls.connect, the muxloop client's server name against a Node tls server's
// SNICallback, and muxloop on both ends. Certificates for a.test and b.test are made at run time.
import * as tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import { TlsContext, type TlsOptions } from '../lib/net/tls';
import { availableSelectors } from '../lib/selectors';
import { openFdCount, useRealLoop } from './helpers';
import { makeNamedCert } from './tls-certs';
import { Collector, HAVE_OPENSSL, certs, connectTls, listen, sleepTick } from './tls-helpers';

const named = HAVE_OPENSSL ? { 'a.test': makeNamedCert('a.test'), 'b.test': makeNamedCert('b.test') } : ({} as Record<string, { key: string; cert: string }>);

/** Node's client: the CN the server presented for `servername` (or the error code). */
function nodeClientCN(port: number, servername: string | undefined): Promise<string> {
  return new Promise((resolve) => {
    const c = tls.connect({ port, host: '127.0.0.1', servername, rejectUnauthorized: false }, () => {
      const cn = String(c.getPeerCertificate().subject?.CN ?? '');
      c.end('ping');
      c.on('data', () => {});
      c.on('close', () => resolve(cn));
    });
    c.on('error', (e: NodeJS.ErrnoException) => resolve(`error:${e.code}`));
  });
}

describe.skipIf(!HAVE_OPENSSL)('TLS SNI', () => {
  const fx = useRealLoop(availableSelectors()[0]!);

  async function serve(ssl: TlsOptions | TlsContext, apps: Collector[]) {
    const server = await fx.loop.createServer(() => {
      const app = new Collector(fx.loop);
      app.onData = (d) => app.transport.write(d);
      apps.push(app);
      return app;
    }, '127.0.0.1', 0, { ssl });
    return { server, port: (server.sockets[0]!.getsockname() as [string, number])[1] };
  }

  it('the server picks a certificate per name for Node tls.connect (sync and async answers, the default, no SNI)', async () => {
    const contexts = Object.fromEntries(Object.entries(named).map(([n, pem]) => [n, new TlsContext(pem, true)]));
    const asked: string[] = [];
    const apps: Collector[] = [];
    await fx.loop.runUntilComplete(async () => {
      const { server, port } = await serve({
        key: certs.key,
        cert: certs.cert,
        SNICallback: (name, cb) => {
          asked.push(name);
          // b.test answers later, from the loop: the handshake waits for it.
          if (name === 'b.test') fx.loop.callLater(0.01, () => cb(null, contexts[name]));
          else cb(null, contexts[name] ?? null);
        },
      }, apps);
      const got: string[] = [];
      for (const name of ['a.test', 'b.test', 'other.test', undefined]) got.push(await nodeClientCN(port, name));
      expect(got).toEqual(['a.test', 'b.test', 'localhost', 'localhost']);
      server.close();
      await server.waitClosed();
    });
    // Node sends no SNI for an IP address: the callback saw only the three names.
    expect(asked).toEqual(['a.test', 'b.test', 'other.test']);
    expect(apps.map((a) => a.transport.getExtraInfo('servername', null))).toEqual(['a.test', 'b.test', 'other.test', null]);
    for (const c of Object.values(contexts)) c.close();
  });

  it('the server refuses the handshake on cb(error) and on a throwing callback, leaving no connection', async () => {
    const apps: Collector[] = [];
    await fx.loop.runUntilComplete(async () => {
      const { server, port } = await serve({
        key: certs.key,
        cert: certs.cert,
        SNICallback: (name, cb) => {
          if (name === 'throw.test') throw new Error('boom');
          if (name === 'options.test') cb(null, named['a.test']);
          else cb(new Error(`no certificate for ${name}`));
        },
      }, apps);
      expect(await nodeClientCN(port, 'nope.test')).toMatch(/^error:/);
      expect(await nodeClientCN(port, 'throw.test')).toMatch(/^error:/);
      // An options object (not a prepared context) works too: a context is built for it.
      expect(await nodeClientCN(port, 'options.test')).toBe('a.test');
      server.close();
      await server.waitClosed();
    });
    // The throwing callback reached the exception handler; the refused ones never reached the app.
    expect(fx.errors.map((e) => (e.exception as Error).message)).toEqual(['boom']);
    fx.errors.length = 0;
    expect(apps.filter((a) => a.transport !== undefined).length).toBe(1);
  });

  it('the muxloop client sends serverHostname to a Node tls server SNICallback and verifies the chosen certificate', async () => {
    const seen: string[] = [];
    const server = tls.createServer({
      key: certs.key,
      cert: certs.cert,
      SNICallback: (name, cb) => {
        seen.push(name);
        cb(null, named[name] ? tls.createSecureContext(named[name]) : undefined);
      },
    }, (s) => s.pipe(s));
    const port = await listen(server);
    try {
      await fx.loop.runUntilComplete(async () => {
        for (const name of ['a.test', 'b.test']) {
          const [t, app] = await connectTls(fx.loop, port, { ca: named[name]!.cert }, name);
          expect((t.getExtraInfo('peercert') as tls.PeerCertificate).subject.CN).toBe(name);
          t.write('hi');
          while (app.received < 2) await sleepTick(fx.loop);
          t.close();
          await app.done;
        }
        // The name is checked against the certificate the server chose: a.test's CA does not
        // vouch for the localhost certificate another name gets.
        const failure = await connectTls(fx.loop, port, { ca: named['a.test']!.cert }, 'localhost').then(() => 'connected', (e: { code?: string }) => e.code);
        expect(failure).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
      });
    } finally {
      // Resolves once the server's side of every connection is closed too (the fd check follows).
      await new Promise((resolve) => server.close(resolve));
    }
    expect(seen).toEqual(['a.test', 'b.test', 'localhost']);
  });

  it('muxloop client and server: the certificate follows the name', async () => {
    const a = new TlsContext(named['a.test']!, true);
    const apps: Collector[] = [];
    await fx.loop.runUntilComplete(async () => {
      const { server, port } = await serve({ key: certs.key, cert: certs.cert, SNICallback: (name, cb) => cb(null, name === 'a.test' ? a : null) }, apps);
      const [t, app] = await connectTls(fx.loop, port, { ca: named['a.test']!.cert }, 'a.test');
      expect((t.getExtraInfo('peercert') as tls.PeerCertificate).subject.CN).toBe('a.test');
      t.write('x');
      while (app.received < 1) await sleepTick(fx.loop);
      t.close();
      await app.done;
      server.close();
      await server.waitClosed();
    });
    expect(apps[0]!.transport.getExtraInfo('servername')).toBe('a.test');
    a.close();
  });

  it('a bad answer or none fails that handshake with a clear error; the server keeps serving, nothing leaks', async () => {
    const a = new TlsContext(named['a.test']!, true);
    const client = new TlsContext({}, false);
    const closed = new TlsContext(named['b.test']!, true);
    closed.close();
    const apps: Collector[] = [];
    const before = openFdCount();
    await fx.loop.runUntilComplete(async () => {
      const server = await fx.loop.createServer(() => {
        const app = new Collector(fx.loop);
        app.onData = (d) => app.transport.write(d);
        apps.push(app);
        return app;
      }, '127.0.0.1', 0, {
        sslHandshakeTimeout: 0.5,
        ssl: {
          key: certs.key,
          cert: certs.cert,
          SNICallback: (name, cb) => {
            const answers: Record<string, () => void> = {
              'number.test': () => cb(null, 42 as never),
              'string.test': () => cb(null, 'a.test' as never),
              'client.test': () => cb(null, client),
              'closed.test': () => cb(null, closed),
              'nokey.test': () => cb(null, {}),
              'twice.test': () => {
                cb(null, a);
                cb(null, 42 as never); // a second answer is ignored
              },
              'silent.test': () => {}, // never answers: the handshake timeout ends it
              'text-error.test': () => cb('refused' as never),
            };
            (answers[name] ?? (() => cb(null, a)))();
          },
        },
      });
      const port = (server.sockets[0]!.getsockname() as [string, number])[1];
      const got: Record<string, string> = {};
      for (const name of ['number.test', 'string.test', 'client.test', 'closed.test', 'nokey.test', 'silent.test', 'text-error.test']) {
        got[name] = await nodeClientCN(port, name);
        // Every refusal leaves the server serving the next client.
        got[`${name} then`] = await nodeClientCN(port, 'a.test');
      }
      got['twice.test'] = await nodeClientCN(port, 'twice.test');
      for (const [name, cn] of Object.entries(got)) {
        if (name.endsWith(' then') || name === 'twice.test') expect([name, cn]).toEqual([name, 'a.test']);
        else expect([name, cn]).toEqual([name, expect.stringMatching(/^error:/)]);
      }
      server.close();
      await server.waitClosed();
    });
    // A bad answer is the callback's bug: reported, with the option named and the value received.
    // A refusal (cb(error), here a string) and no answer are not bugs and are not reported.
    const reported = fx.errors.map((e) => [e.message, (e.exception as Error).name, (e.exception as { code?: string }).code, (e.exception as Error).message]);
    fx.errors.length = 0;
    expect(reported).toEqual([
      ['ssl.SNICallback() answered a bad context', 'TypeError', 'ERR_INVALID_ARG_TYPE', 'ssl.SNICallback must answer a server TlsContext, TLS options or null. Received number 42'],
      ['ssl.SNICallback() answered a bad context', 'TypeError', 'ERR_INVALID_ARG_TYPE', "ssl.SNICallback must answer a server TlsContext, TLS options or null. Received string 'a.test'"],
      ['ssl.SNICallback() answered a bad context', 'TypeError', 'ERR_INVALID_ARG_VALUE', 'ssl.SNICallback answered a client context, a server one is needed'],
      ['ssl.SNICallback() answered a bad context', 'Error', 'ERR_TLS_CONTEXT_CLOSED', 'ssl.SNICallback answered a closed TlsContext'],
      ['ssl.SNICallback() answered a bad context', 'TypeError', 'ERR_TLS_MISSING_CERT', 'a server context needs options.cert and options.key'],
    ]);
    // Only the clients that got a.test reached the app.
    expect(apps.filter((app) => app.transport !== undefined).length).toBe(8);
    a.close();
    client.close();
    expect(openFdCount()).toBe(before);
  });

  it('refuses a bad SNICallback option', () => {
    expect(() => new TlsContext({ key: certs.key, cert: certs.cert, SNICallback: 'x' as never }, true)).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => new TlsContext({ SNICallback: () => {} }, false)).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' }));
  });

  it('refuses a bad SNICallback through createServer and createConnection, before any socket exists', async () => {
    const before = openFdCount();
    const outcome = (e: unknown) => [(e as Error).name, (e as { code?: string }).code, (e as Error).message];
    await fx.loop.runUntilComplete(async () => {
      for (const bad of [5, 'cb', {}, null]) {
        const got = await fx.loop.createServer(() => new Collector(fx.loop), '127.0.0.1', 0, { ssl: { key: certs.key, cert: certs.cert, SNICallback: bad as never } }).then(() => undefined, outcome);
        expect(got).toEqual(['TypeError', 'ERR_INVALID_ARG_TYPE', expect.stringMatching(/^The "ssl.SNICallback" argument must be a function. Received /)]);
      }
      const client = await fx.loop.createConnection(() => new Collector(fx.loop), '127.0.0.1', 9, { ssl: { SNICallback: () => {} }, serverHostname: 'localhost' }).then(() => undefined, outcome);
      expect(client).toEqual(['TypeError', 'ERR_INVALID_ARG_VALUE', 'ssl.SNICallback is for a server context']);
    });
    expect(openFdCount()).toBe(before);
  });
});

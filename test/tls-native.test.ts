// The TLS binding checks every argument itself (as test/native-args.test.ts for the rest of the
// addon): whatever JS passes, TlsContext/TlsEngine return or throw a TypeError/RangeError or a
// coded Error; hostile ciphertext is an ERR_SSL_* error, never a crash.
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { binding } from '../lib/core/native';
import { hasOpenssl, makeCerts } from './tls-certs';

const WEIRD: unknown[] = [
  undefined, null, true, '', '3', -1, 0.5, 2 ** 32 + 1, Number.NaN, Infinity, 1n, Symbol('s'), {}, [], [1], () => 1,
  new Date(0), Buffer.alloc(0), { valueOf: () => 3 },
];

function outcome(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (error) {
    if (error instanceof TypeError || error instanceof RangeError) return error.name;
    const code = (error as { code?: string }).code;
    return code !== undefined ? `Error:${code}` : `unexpected:${String(error)}`;
  }
}

describe('TLS binding argument checks', () => {
  it('TlsContext refuses malformed options', () => {
    for (const value of WEIRD) {
      expect(outcome(() => new binding.TlsContext(value as never))).not.toMatch(/^unexpected/);
      for (const key of ['serverSide', 'cert', 'key', 'ca', 'ciphers', 'alpn', 'minVersion', 'maxVersion', 'requestCert', 'passphrase']) {
        const r = outcome(() => new binding.TlsContext({ [key]: value }).close());
        expect(r).not.toMatch(/^unexpected/);
      }
    }
    expect(outcome(() => new binding.TlsContext(null as never))).toBe('TypeError');
    expect(outcome(() => new binding.TlsContext({ minVersion: 0x0304, maxVersion: 0x0303 }))).toBe('RangeError');
    expect(outcome(() => new binding.TlsContext({ minVersion: 0x0305 }))).toBe('RangeError');
    expect(outcome(() => new binding.TlsContext({ alpn: Buffer.from([5, 104]) }))).toBe('RangeError');
    expect(outcome(() => new binding.TlsContext({ alpn: Buffer.from([0]) }))).toBe('RangeError');
    expect(outcome(() => new binding.TlsContext({ serverSide: true }))).toBe('TypeError');
    expect(outcome(() => new binding.TlsContext({ ciphers: 'NOT-A-CIPHER' }))).toMatch(/^Error:ERR_SSL_/);
    expect(outcome(() => new binding.TlsContext({ ca: 'not pem' }))).toMatch(/^Error:ERR_SSL_/);
    expect(outcome(() => new binding.TlsContext({ serverSide: true, cert: 'x', key: 'y' }))).toMatch(/^Error:ERR_SSL_/);
  });

  it('TlsEngine refuses a non-context, a bad server name and bad views, and fails closed', () => {
    const ctx = new binding.TlsContext({});
    for (const value of WEIRD) {
      expect(outcome(() => new binding.TlsEngine(value as never))).toBe('TypeError');
      if (value !== undefined && typeof value !== 'string') expect(outcome(() => new binding.TlsEngine(ctx, value as never))).toBe('TypeError');
    }
    expect(outcome(() => new binding.TlsEngine({} as never))).toBe('TypeError');
    expect(outcome(() => new binding.TlsEngine(ctx, 'a'.repeat(256)))).toBe('RangeError');
    expect(outcome(() => new binding.TlsEngine(ctx, 'a\0b'))).toBe('RangeError');
    const engine = new binding.TlsEngine(ctx, 'localhost');
    for (const value of WEIRD) {
      if (!ArrayBuffer.isView(value)) {
        expect(outcome(() => engine.receive(value as never))).toBe('TypeError');
        expect(outcome(() => engine.send(value as never))).toBe('TypeError');
      }
      if (value !== undefined && typeof value !== 'number') expect(outcome(() => engine.receive(Buffer.alloc(4), value as never))).toBe('TypeError');
    }
    expect(outcome(() => engine.receive(Buffer.alloc(4), 5))).toBe('RangeError');
    expect(outcome(() => engine.receive(Buffer.alloc(4), 0, 5))).toBe('RangeError');
    expect(outcome(() => engine.send(Buffer.from('early')))).toBe('Error:ERR_TLS_HANDSHAKE_PENDING');
    expect(engine.start() & 8).toBe(8);
    expect(engine.takeOut()!.length).toBeGreaterThan(0);
    expect(engine.takeOut()).toBeUndefined();
    // Hostile input: random bytes where a ServerHello should be.
    expect(outcome(() => engine.receive(randomBytes(4096)))).toMatch(/^Error:ERR_SSL_/);
    engine.close();
    engine.close();
    expect(engine.closed).toBe(true);
    for (const call of [() => engine.start(), () => engine.receive(Buffer.alloc(1)), () => engine.takeOut(), () => engine.info(), () => engine.shutdown()]) {
      expect(outcome(call)).toBe('Error:ERR_TLS_ENGINE_CLOSED');
    }
    ctx.close();
    expect(outcome(() => new binding.TlsEngine(ctx))).toBe('Error:ERR_TLS_CONTEXT_CLOSED');
  });

  it.skipIf(!hasOpenssl())('survives random garbage at every handshake stage on the server side', () => {
    const certs = makeCerts();
    const server = new binding.TlsContext({ serverSide: true, key: certs.key, cert: certs.cert });
    const client = new binding.TlsContext({ ca: certs.cert });
    for (let i = 0; i < 200; i++) {
      const s = new binding.TlsEngine(server);
      const c = new binding.TlsEngine(client, 'localhost');
      c.start();
      const hello = c.takeOut()!;
      // A truncated or corrupted hello: the engine waits for more or fails with ERR_SSL_*.
      const bad = Buffer.from(hello.subarray(0, (i * 7) % hello.length));
      if (i % 2 === 1 && bad.length > 0) bad[(i * 13) % bad.length] ^= 0xff;
      expect(outcome(() => s.receive(bad))).toMatch(/^(ok|Error:ERR_SSL_)/);
      expect(outcome(() => s.receive(randomBytes(i)))).toMatch(/^(ok|Error:ERR_SSL_)/);
      s.close();
      c.close();
    }
    server.close();
    client.close();
  });

  it.skipIf(!hasOpenssl())('setSession, takeSession and resumeSni check their arguments and state', () => {
    const certs = makeCerts();
    const server = new binding.TlsContext({ serverSide: true, key: certs.key, cert: certs.cert });
    const other = new binding.TlsContext({ serverSide: true, key: certs.expiredKey, cert: certs.expiredCert });
    const client = new binding.TlsContext({ ca: certs.cert });
    for (const value of WEIRD) {
      if (value !== undefined && typeof value !== 'boolean') expect(outcome(() => new binding.TlsEngine(server, undefined, value as never))).toBe('TypeError');
      if (value !== undefined) expect(outcome(() => new binding.TlsEngine(server, undefined, true).resumeSni(value as never))).toMatch(/^(TypeError|Error:ERR_INVALID_STATE)$/);
      if (!ArrayBuffer.isView(value)) expect(outcome(() => new binding.TlsEngine(client, 'localhost').setSession(value as never))).toBe('TypeError');
    }
    // One in-memory handshake paused at SNI and resumed with another context's certificate.
    const s = new binding.TlsEngine(server, undefined, true);
    const c = new binding.TlsEngine(client, 'localhost');
    expect(outcome(() => s.setSession(Buffer.alloc(8)))).toBe('Error:ERR_TLS_SESSION_LATE');
    expect(outcome(() => s.resumeSni())).toBe('Error:ERR_INVALID_STATE');
    expect(outcome(() => c.setSession(Buffer.from('junk')))).toBe('TypeError');
    let flags = c.start();
    expect(outcome(() => c.setSession(Buffer.alloc(8)))).toBe('Error:ERR_TLS_SESSION_LATE');
    let sflags = s.receive(c.takeOut()!);
    expect(sflags & 16).toBe(16);
    // More bytes while paused wait in the engine; a client context is refused.
    expect(s.receive(Buffer.alloc(0)) & 16).toBe(0);
    expect(outcome(() => s.resumeSni(client))).toBe('TypeError');
    sflags = s.resumeSni(other);
    expect(outcome(() => s.resumeSni())).toBe('Error:ERR_INVALID_STATE');
    for (let i = 0; i < 10 && !(flags & 1); i++) {
      if (sflags & 8) flags = c.receive(s.takeOut()!);
      if (flags & 8) sflags = s.receive(c.takeOut()!);
    }
    expect(flags & 1).toBe(1);
    // The expired certificate came: the context given to resumeSni served it (the listening one's verifies).
    expect(c.info().verifyError).toBe('CERT_HAS_EXPIRED');
    expect(c.info().servername).toBe('localhost');
    // TLS 1.3: the tickets follow the handshake; the client gets a session flag and its bytes.
    if (sflags & 8) flags = c.receive(s.takeOut()!);
    expect(flags & 32).toBe(32);
    expect(c.takeSession()!.length).toBeGreaterThan(0);
    expect(c.takeSession()).toBeUndefined();
    // openInto/sealInto: checked views; a record round trip through the pool and the scratch.
    const out = Buffer.alloc(4096);
    const pool = Buffer.alloc(4096);
    for (const value of WEIRD) {
      if (!ArrayBuffer.isView(value)) {
        expect(outcome(() => c.sealInto(value as never, out))).toBe('TypeError');
        expect(outcome(() => c.sealInto(Buffer.from('x'), value as never))).toBe('TypeError');
        expect(outcome(() => s.openInto(out, 0, value as never, 0))).toBe('TypeError');
      }
      if (value !== undefined && typeof value !== 'number') expect(outcome(() => s.openInto(out, value as never, pool, 0))).toBe('TypeError');
    }
    expect(outcome(() => s.openInto(out, 4097, pool, 0))).toBe('RangeError');
    expect(outcome(() => s.openInto(out, 1, pool, 4097))).toBe('RangeError');
    expect(c.sealInto(Buffer.from('x'.repeat(5000)), Buffer.alloc(16))).toBe(-1); // too big: takeOut has it
    const big = c.takeOut()!;
    expect(big.length).toBeGreaterThan(5000);
    // Too big for the pool's free end: receive-style, the plaintext waits in takePlain.
    const rb = s.openInto(big, big.length, pool, 4000);
    expect([Math.floor(rb / 256), rb & 4]).toEqual([0, 4]);
    expect(s.takePlain()!.length).toBe(5000);
    // A record split across batches: OpenSSL holds its first part, so the second batch's bound
    // counts a whole record; every byte arrives, in order, whatever the pool's room.
    const m = c.sealInto(Buffer.alloc(3000, 7), out);
    const record = Buffer.from(out.subarray(0, m));
    const first = s.openInto(record.subarray(0, 2000), 2000, pool, 0);
    expect(first).toBe(0);
    const second = s.openInto(record.subarray(2000), record.length - 2000, Buffer.alloc(2500), 0);
    const got = Math.floor(second / 256) + (second & 4 ? s.takePlain()!.length : 0);
    expect(got).toBe(3000);
    const n = c.sealInto(Buffer.from('hello'), out);
    expect(n).toBeGreaterThan(5);
    const r = s.openInto(out, n, pool, 100);
    expect([Math.floor(r / 256), r & 255]).toEqual([5, 0]);
    expect(pool.subarray(100, 105).toString()).toBe('hello');
    s.close();
    c.close();
    for (const call of [() => s.resumeSni(), () => c.takeSession(), () => c.setSession(Buffer.alloc(1)), () => s.openInto(out, 1, pool, 0), () => c.sealInto(out, pool)]) {
      expect(outcome(call)).toBe('Error:ERR_TLS_ENGINE_CLOSED');
    }
    server.close();
    other.close();
    client.close();
  });

  it('frees what a worker left open at its teardown (dist/ build)', async () => {
    const native = path.resolve(__dirname, '..', 'dist', 'core', 'native.js');
    const code = `
      const { binding } = require(${JSON.stringify(native)});
      const ctx = new binding.TlsContext({});
      const engines = [];
      for (let i = 0; i < 100; i++) { const e = new binding.TlsEngine(ctx, 'localhost'); e.start(); engines.push(e); }
      globalThis.keep = engines;
      require('node:worker_threads').parentPort.postMessage('ready');
      setInterval(() => {}, 1000);`;
    for (let round = 0; round < 3; round++) {
      const worker = new Worker(code, { eval: true });
      await new Promise((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      expect(await worker.terminate()).toBe(1);
    }
  });
});

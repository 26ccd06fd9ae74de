// Shared by the TLS suites (tls-client, tls-server, tls-loop): certificates, a collecting
// protocol, and small loopback helpers.
import { createHash } from 'node:crypto';
import type * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { BaseProtocol, type Transport } from '../lib/net/protocols';
import type { Future } from '../lib/tasks/futures';
import type { EventLoop } from '../lib/loops';
import { wrapTls } from '../lib/net/tls';
import { hasOpenssl, makeCerts, type Certs } from './tls-certs';

export const HAVE_OPENSSL = hasOpenssl();
if (!HAVE_OPENSSL) console.warn('tls.test: no openssl binary, TLS suites skipped');
export const certs: Certs = HAVE_OPENSSL ? makeCerts() : ({} as Certs);

/** Collects what arrives; `done` settles at connectionLost. */
export class Collector {
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

export function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

export async function connectTls(loop: EventLoop, port: number, ssl: unknown, serverHostname?: string): Promise<[Transport, Collector]> {
  const [raw] = await loop.createConnection(() => new BaseProtocol(), '127.0.0.1', port);
  const app = new Collector(loop);
  const t = await wrapTls(loop, raw as Transport, app, ssl as never, { serverHostname });
  return [t, app];
}


export function sleepTick(loop: EventLoop): Promise<void> {
  return new Promise((resolve) => loop.callLater(0.001, resolve));
}


/**
 * Closes a Node server and waits until its connections are gone too: their fds are what the leak
 * check counts, and Node closes them asynchronously (at most 5 s, so a stuck peer cannot hang).
 */
export function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => {
    const guard = setTimeout(resolve, 5000);
    server.close(() => {
      clearTimeout(guard);
      resolve();
    });
  });
}

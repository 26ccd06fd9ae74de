// 64 MiB over loopback TCP, checked with SHA-256 on both ends: once in blocking mode (the peer runs
// in a worker thread, so neither side can deadlock the other), once in non-blocking mode driven by
// a selector in this thread. Uses the built dist/ in the worker (npm test builds it first).
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { DefaultSelector, EVENT_READ, EVENT_WRITE } from '../lib/selectors';
import { SHUT_WR, createConnection, createServer, type Socket } from '../lib/socket';
import { openFdCount } from './helpers';

const SIZE = 64 * 1024 * 1024;
const DIST = join(__dirname, '..', 'dist', 'socket', 'index.js');

let baseline = 0;
beforeEach(() => {
  baseline = openFdCount();
});
afterEach(() => {
  expect(openFdCount()).toBe(baseline);
});

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

// The peer: connects, hashes everything until EOF, sends the hex digest back, closes.
const PEER = `
const { workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const s = require(workerData.dist);
const sock = s.createConnection(['127.0.0.1', workerData.port], 30);
const hash = createHash('sha256');
const buf = Buffer.alloc(256 * 1024);
let total = 0;
for (;;) {
  const n = sock.recvInto(buf);
  if (n === 0) break;
  total += n;
  hash.update(buf.subarray(0, n));
}
sock.sendall(Buffer.from(hash.digest('hex') + ' ' + total));
sock.close();
`;

it('64 MiB in blocking mode: SHA-256 matches on both ends', async () => {
  const data = randomBytes(SIZE);
  const server = createServer(['127.0.0.1', 0]);
  server.settimeout(30); // bounded: a broken peer fails the test instead of hanging it
  const port = (server.getsockname() as [string, number])[1];
  const worker = new Worker(PEER, { eval: true, workerData: { dist: DIST, port } });
  const exited = new Promise<number>((resolve) => worker.on('exit', resolve));
  let conn: Socket | undefined;
  try {
    [conn] = server.accept();
    conn.settimeout(30);
    conn.sendall(data);
    conn.shutdown(SHUT_WR);
    let reply = Buffer.alloc(0);
    for (;;) {
      const chunk = conn.recv(256);
      if (chunk.length === 0) break;
      reply = Buffer.concat([reply, chunk]);
    }
    expect(reply.toString()).toBe(`${sha256(data)} ${SIZE}`);
  } finally {
    conn?.close();
    server.close();
  }
  expect(await exited).toBe(0);
});

it('64 MiB in non-blocking mode driven by a selector: SHA-256 matches', () => {
  const data = randomBytes(SIZE);
  const server = createServer(['127.0.0.1', 0]);
  const client = createConnection(server.getsockname() as [string, number], 5);
  const [conn] = server.accept();
  const sel = new DefaultSelector();
  try {
    client.setblocking(false);
    conn.setblocking(false);
    sel.register(client, EVENT_WRITE);
    sel.register(conn, EVENT_READ);
    const hash = createHash('sha256');
    const buf = Buffer.alloc(256 * 1024);
    let sent = 0;
    let received = 0;
    let eof = false;
    const deadline = performance.now() + 60_000;
    while (!eof) {
      if (performance.now() > deadline) throw new Error(`stalled at ${received}/${SIZE}`);
      for (const [key, mask] of sel.select(1)) {
        if (key.fileobj === client && mask & EVENT_WRITE) {
          // Partial sends and EAGAIN are normal here; the selector says when to try again.
          const n = client.sendRaw(data, sent, Math.min(SIZE - sent, 1024 * 1024));
          if (n > 0) sent += n;
          if (sent === SIZE) {
            sel.unregister(client);
            client.shutdown(SHUT_WR);
          }
        } else if (key.fileobj === conn && mask & EVENT_READ) {
          for (;;) {
            const n = conn.recvIntoRaw(buf);
            if (n < 0) break; // drained
            if (n === 0) {
              eof = true;
              break;
            }
            received += n;
            hash.update(buf.subarray(0, n));
          }
        }
      }
    }
    expect(received).toBe(SIZE);
    expect(hash.digest('hex')).toBe(sha256(data));
  } finally {
    sel.close();
    client.close();
    conn.close();
    server.close();
  }
});

#!/usr/bin/env node
// The classic asyncio demonstration: fetching many slow resources one after another, then
// concurrently with gather(), then at most 3 at a time with a Semaphore. Everything is local: a
// small HTTP/1.1 server on startServer() answers each request after a simulated latency, and a
// tiny HTTP/1.1 client on openConnection() sends the request line and headers, reads the status
// line and headers with readline() and the body with readexactly(Content-Length).
//
//   node examples/http-fetch.js [count=30] [latency seconds=0.08]
//
// Prints the time each way and, last, one JSON line for the test that runs this example.
'use strict';
const { run, startServer, openConnection, sleep, gather, Semaphore } = require('muxloop');

const COUNT = Number(process.argv[2] ?? 30);
const LATENCY = Number(process.argv[3] ?? 0.08); // seconds, like every delay in muxloop

const bodyFor = (path) => `resource ${path}: ${'x'.repeat(path.length * 7)}\n`;

/** Reads one request (request line + headers); null at EOF. */
async function readRequest(reader) {
  const requestLine = (await reader.readline()).toString('latin1');
  if (requestLine === '') return null;
  const headers = new Map();
  for (;;) {
    const line = (await reader.readline()).toString('latin1');
    if (line === '\r\n' || line === '\n' || line === '') break;
    const colon = line.indexOf(':');
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  const [method, path] = requestLine.split(' ');
  return { method, path, headers };
}

/** The server side of one connection: keep-alive until the client asks to close. */
async function serveHttp(reader, writer) {
  for (;;) {
    const request = await readRequest(reader);
    if (request === null) break;
    await sleep(LATENCY); // the "slow backend"
    const body = Buffer.from(bodyFor(request.path));
    const close = request.headers.get('connection') === 'close';
    writer.write(
      `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n` +
        `Connection: ${close ? 'close' : 'keep-alive'}\r\n\r\n`,
    );
    writer.write(body);
    await writer.drain();
    if (close) break;
  }
  writer.close();
  await writer.waitClosed();
}

/** GET http://host:port/path with a fresh connection; resolves with the body as a string. */
async function fetch(host, port, path) {
  const [reader, writer] = await openConnection(host, port);
  try {
    writer.write(`GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nConnection: close\r\n\r\n`);
    await writer.drain();
    const status = (await reader.readline()).toString('latin1').trimEnd();
    if (!/^HTTP\/1\.1 200 /.test(status)) throw new Error(`bad status: ${status}`);
    let length = -1;
    for (;;) {
      const line = (await reader.readline()).toString('latin1').trimEnd();
      if (line === '') break;
      const [name, value] = line.split(/:\s*/, 2);
      if (name.toLowerCase() === 'content-length') length = Number(value);
    }
    return (await reader.readexactly(length)).toString('latin1');
  } finally {
    writer.close();
    await writer.waitClosed();
  }
}

async function timed(label, fn) {
  const started = performance.now();
  const bodies = await fn();
  const seconds = (performance.now() - started) / 1000;
  const correct = bodies.filter((body, i) => body === bodyFor(`/item/${i}`)).length;
  console.log(`${label.padEnd(13)} ${seconds.toFixed(2)} s  (${correct}/${COUNT} bodies correct)`);
  return { seconds, correct };
}

run(async () => {
  const server = await startServer(serveHttp, '127.0.0.1', 0);
  const [host, port] = server.sockets[0].getsockname();
  console.log(`serving on http://${host}:${port}/, ${LATENCY * 1000} ms per response`);
  const paths = Array.from({ length: COUNT }, (_, i) => `/item/${i}`);
  const results = {};
  try {
    results.sequential = await timed('sequential', async () => {
      const bodies = [];
      for (const path of paths) bodies.push(await fetch(host, port, path));
      return bodies;
    });
    results.gather = await timed('gather', () => gather(...paths.map((path) => () => fetch(host, port, path))));
    const limit = new Semaphore(3);
    results.semaphore3 = await timed('Semaphore(3)', () =>
      gather(...paths.map((path) => () => limit.with(() => fetch(host, port, path)))),
    );
  } finally {
    server.close();
    await server.waitClosed();
  }
  console.log(JSON.stringify({ count: COUNT, latency: LATENCY, ...results }));
});

#!/usr/bin/env node
// The seed programs' shape: blocking calls pushed to the default thread pool with
// loop.runInExecutor(null, fn, ...args) and gathered, while the loop stays responsive (a ticker
// task keeps running). As in Python's `loop.run_in_executor(None, requests.get, url)`.
//
// The "blocking fetch" is a plain HTTP/1.0 GET on muxloop's Python-like blocking Socket, against a
// local Node http server that answers after a simulated latency. The function is sent to the
// worker by its source, so it imports what it needs itself (a closure would be refused).
//
//   node examples/executor-fetch.js [count=6] [latency seconds=0.1]
//
// Prints what it fetched and, last, one JSON line for the test that runs this example.
'use strict';
const http = require('node:http');
const { run, gather, sleep, getRunningLoop } = require('muxloop');

const COUNT = Number(process.argv[2] ?? 6);
const LATENCY = Number(process.argv[3] ?? 0.1); // seconds

/** Runs in a worker thread: blocks it, not the loop. Self-contained (no outer variables). */
async function blockingGet(port, path) {
  const { createConnection } = await import('muxloop/socket');
  const sock = createConnection(['127.0.0.1', port]); // blocking connect
  try {
    sock.sendall(Buffer.from(`GET ${path} HTTP/1.0\r\nHost: localhost\r\n\r\n`));
    const chunks = [];
    for (let chunk = sock.recv(65536); chunk.length > 0; chunk = sock.recv(65536)) chunks.push(chunk);
    const response = Buffer.concat(chunks).toString('latin1');
    return response.slice(response.indexOf('\r\n\r\n') + 4);
  } finally {
    sock.close();
  }
}

run(async () => {
  const server = http.createServer((req, res) => {
    setTimeout(() => res.end(`page ${req.url}`), LATENCY * 1000);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  const loop = getRunningLoop();

  let ticks = 0;
  const ticker = loop.createTask(async () => {
    for (;;) {
      await sleep(0.01);
      ticks++;
    }
  });

  const started = loop.time();
  const paths = Array.from({ length: COUNT }, (_, i) => `/item/${i}`);
  const pages = await gather(paths.map((path) => loop.runInExecutor(null, blockingGet, port, path)));
  const seconds = loop.time() - started;
  ticker.cancel();
  server.close();

  for (const page of pages) console.log(page);
  console.log(`${COUNT} blocking fetches of ${LATENCY} s in ${seconds.toFixed(2)} s; the loop ticked ${ticks} times meanwhile`);
  console.log(JSON.stringify({ pages, ticks, seconds }));
});

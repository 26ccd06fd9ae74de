#!/usr/bin/env node
// The asyncio streams echo server (Python docs, "TCP echo server using streams"): one task per
// connection reads lines with `for await` and writes them back, awaiting drain() for flow
// control. Listens on 127.0.0.1 (port from argv[2], 0 = any free port, printed on stdout) and
// stops after argv[3] connections have closed (default 1) or after 30 s.
//
//   node examples/streams-echo-server.js 8888 1 &
//   node examples/streams-echo-client.js 8888
'use strict';
const { run, startServer, Event, timeout } = require('muxloop');

const port = Number(process.argv[2] ?? 0);
const maxClients = Number(process.argv[3] ?? 1);

run(async () => {
  let served = 0;
  const allServed = new Event();

  async function handleEcho(reader, writer) {
    const peer = writer.getExtraInfo('peername');
    console.log(`connection from ${peer.join(':')}`);
    for await (const line of reader) {
      console.log(`echoing ${JSON.stringify(line.toString())}`);
      writer.write(line);
      await writer.drain(); // waits only when the peer reads slower than we write
    }
    writer.close();
    await writer.waitClosed();
    if (++served === maxClients) allServed.set();
  }

  const server = await startServer(handleEcho, '127.0.0.1', port);
  const [host, actualPort] = server.sockets[0].getsockname();
  console.log(`listening on ${host}:${actualPort}`);
  try {
    await timeout(30, () => allServed.wait());
  } finally {
    server.close();
    await server.waitClosed();
  }
  console.log(`served ${served} connections`);
});

'use strict';
// muxloop streams echo server, asyncio's shape: startServer(clientConnected, host, port), where
// clientConnected(reader, writer) reads, writes and awaits drain(). --mode=hosted or owning
// (default owning: a dedicated server).
//   node bench/servers/muxloop-streams.cjs --mode=owning
// Prints "PORT <n>", or "SKIP <reason>" when the streams are not there.
const path = require('node:path');
const args = require('../workers/args.cjs')();
const { serveOnLoop } = require('./serve.cjs');
const muxloop = require(path.join(__dirname, '..', '..', 'dist'));

const mode = args.mode ?? 'owning';
const loop = muxloop.newEventLoop();
// asyncio has both asyncio.start_server and (internally) the loop; accept either spelling.
const startServer =
  typeof muxloop.startServer === 'function'
    ? muxloop.startServer
    : typeof loop.startServer === 'function'
      ? loop.startServer.bind(loop)
      : undefined;
if (!startServer) {
  console.log('SKIP startServer is not implemented (streams branch not merged)');
  process.exit(0);
}

async function echo(reader, writer) {
  try {
    for (;;) {
      const data = await reader.read(256 * 1024);
      if (data.length === 0) break;
      writer.write(data);
      await writer.drain();
    }
  } catch {
    // a reset connection ends this handler, not the server
  } finally {
    writer.close();
  }
}

// The server is made inside a coroutine so that a startServer that needs a running loop has one.
const listen = () => async () => startServer(echo, '127.0.0.1', 0, { backlog: 1024 });
serveOnLoop(loop, mode, listen, args);

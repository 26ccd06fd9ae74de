'use strict';
// Pipelined key-value server on muxloop with the shared parser (kv-parser.cjs):
//   --api=protocol (default): loop.createServer and a Protocol whose dataReceived feeds the parser
//   --api=streams: startServer; each connection reads with reader.read(), writes, awaits drain()
//   --mode=hosted | owning (default hosted for protocol, owning for streams, as the echo servers)
// Prints "PORT <n>", or "SKIP <reason>".
const path = require('node:path');
const args = require('../workers/args.cjs')();
const { serveOnLoop } = require('./serve.cjs');
const { KvParser } = require('./kv-parser.cjs');
const muxloop = require(path.join(__dirname, '..', '..', 'dist'));

const api = args.api ?? 'protocol';
const mode = args.mode ?? (api === 'streams' ? 'owning' : 'hosted');
const loop = muxloop.newEventLoop();
const store = new Map();

class KvProtocol extends muxloop.Protocol {
  connectionMade(transport) {
    this.transport = transport;
    this.parser = new KvParser(store);
  }
  dataReceived(data) {
    const reply = this.parser.feed(data);
    // muxloop's write() copies what the kernel does not take, so the reused buffer is safe
    if (reply !== undefined) this.transport.write(reply);
  }
}

async function client(reader, writer) {
  const parser = new KvParser(store);
  try {
    for (;;) {
      const data = await reader.read(256 * 1024);
      if (data.length === 0) break;
      const reply = parser.feed(data);
      if (reply !== undefined) {
        writer.write(reply);
        await writer.drain();
      }
    }
  } catch {
    // a reset connection ends this handler, not the server
  } finally {
    writer.close();
  }
}

// startServer needs a running loop: it is made inside a coroutine (run as a task).
const listen =
  api === 'streams'
    ? () => async () => muxloop.startServer(client, '127.0.0.1', 0, { backlog: 1024 })
    : () => loop.createServer(() => new KvProtocol(), '127.0.0.1', 0, { backlog: 1024 });
serveOnLoop(loop, mode, listen, args);

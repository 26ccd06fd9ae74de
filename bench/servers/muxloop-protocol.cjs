'use strict';
// muxloop Protocol echo server, asyncio's shape: loop.createServer(factory, host, port) and a
// Protocol whose dataReceived writes the data back. --mode=hosted (default) or owning.
// --buffered uses a BufferedProtocol instead (getBuffer/bufferUpdated, one reused buffer).
// --io=uring runs the transports on io_uring completions (newEventLoop({ io: 'uring' })).
//   node bench/servers/muxloop-protocol.cjs --mode=owning [--buffered] [--io=uring]
// Prints "PORT <n>", or "SKIP <reason>" when the transports are not there.
// Owning mode needs the CommonJS top level, so the owning path runs there.
const path = require('node:path');
const args = require('../workers/args.cjs')();
const { serveOnLoop } = require('./serve.cjs');
const muxloop = require(path.join(__dirname, '..', '..', 'dist'));

const mode = args.mode ?? 'hosted';
const buffered = args.buffered === 'true';
const io = args.io ?? 'epoll';
const loop = muxloop.newEventLoop({ io });

class EchoProtocol extends muxloop.Protocol {
  connectionMade(transport) {
    this.transport = transport; // TCP_NODELAY is already set, as asyncio does
  }
  dataReceived(data) {
    this.transport.write(data);
  }
}

const RECEIVE_SIZE = 256 * 1024;
class EchoBufferedProtocol extends muxloop.BufferedProtocol {
  connectionMade(transport) {
    this.transport = transport;
    this.buffer = Buffer.allocUnsafe(RECEIVE_SIZE);
  }
  getBuffer() {
    return this.buffer;
  }
  bufferUpdated(nbytes) {
    this.transport.write(this.buffer.subarray(0, nbytes));
    // The contract does not say whether write() copies what it has to keep: if anything stayed
    // buffered, it may be our bytes, so the next read goes into a fresh buffer.
    if (this.transport.getWriteBufferSize() > 0) this.buffer = Buffer.allocUnsafe(RECEIVE_SIZE);
  }
}

const missing =
  typeof loop.createServer !== 'function'
    ? 'loop.createServer is not implemented (transports branch not merged)'
    : buffered && typeof muxloop.BufferedProtocol !== 'function'
      ? 'BufferedProtocol is not exported'
      : io === 'uring' && loop.io !== 'uring'
        ? 'io_uring is not available here (the loop fell back to epoll)'
        : undefined;
if (missing) {
  console.log(`SKIP ${missing}`);
  process.exit(0);
}

const factory = buffered ? () => new EchoBufferedProtocol() : () => new EchoProtocol();
const listen = () => loop.createServer(factory, '127.0.0.1', 0, { backlog: 1024 });
serveOnLoop(loop, mode, listen, args);

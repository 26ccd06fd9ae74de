#!/usr/bin/env node
// An asyncio-style Protocol echo server (the `EchoServerProtocol` of Python's asyncio docs), and
// its client in the same file.
//
//   node examples/protocol-echo-server.js [port] [connections]   serve (stop after that many; 0: forever)
//   node examples/protocol-echo-server.js --client <port> [message]         send one message, print the echo
'use strict';
const { newEventLoop, Protocol } = require('muxloop');

const loop = newEventLoop();

class EchoServerProtocol extends Protocol {
  connectionMade(transport) {
    this.transport = transport;
    console.log(`connection from ${transport.getExtraInfo('peername').join(':')}`);
  }

  dataReceived(data) {
    console.log(`data received: ${JSON.stringify(data.toString())}`);
    this.transport.write(data);
  }

  connectionLost() {
    this.onLost?.();
  }
}

class EchoClientProtocol extends Protocol {
  constructor(message, done) {
    super();
    this.message = message;
    this.done = done;
  }

  connectionMade(transport) {
    transport.write(this.message);
    console.log(`data sent: ${JSON.stringify(this.message)}`);
    this.received = '';
    this.transport = transport;
  }

  dataReceived(data) {
    this.received += data.toString();
    if (this.received.length >= Buffer.byteLength(this.message)) {
      console.log(`data received: ${JSON.stringify(this.received)}`);
      this.transport.close();
    }
  }

  connectionLost(exc) {
    console.log('the server closed the connection');
    this.done.setResult(exc);
  }
}

async function serve(port, limit) {
  let served = 0;
  const server = await loop.createServer(() => {
    const protocol = new EchoServerProtocol();
    protocol.onLost = () => {
      served++;
      if (limit > 0 && served >= limit) server.close();
    };
    return protocol;
  }, '127.0.0.1', port);
  console.log(`listening on 127.0.0.1:${server.sockets[0].getsockname()[1]}`);
  await server.waitClosed(); // resolves once closed and every connection is gone
  console.log(`served ${served} connections`);
}

async function client(port, message) {
  const done = loop.createFuture();
  await loop.createConnection(() => new EchoClientProtocol(message, done), '127.0.0.1', port);
  await done;
}

const args = process.argv.slice(2);
const main = args[0] === '--client' ? client(Number(args[1]), args[2] ?? 'Hello World!') : serve(Number(args[0] ?? 0), Number(args[1] ?? 0));
loop.runUntilComplete(main).then(() => loop.close());

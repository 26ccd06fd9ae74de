#!/usr/bin/env node
// A UDP echo server and client in one script (the asyncio docs' UDP echo example): the client
// sends a datagram, the server sends it back, the client prints the round trip.
//
//   node examples/udp-echo.js [message]
'use strict';
const { newEventLoop, DatagramProtocol } = require('muxloop');

const loop = newEventLoop();

class EchoServerProtocol extends DatagramProtocol {
  connectionMade(transport) {
    this.transport = transport;
  }

  datagramReceived(data, addr) {
    console.log(`server: received ${JSON.stringify(data.toString())} from ${addr.join(':')}`);
    this.transport.sendto(data, addr);
  }
}

class EchoClientProtocol extends DatagramProtocol {
  constructor(message, done) {
    super();
    this.message = message;
    this.done = done;
  }

  connectionMade(transport) {
    this.start = process.hrtime.bigint();
    console.log(`client: sending ${JSON.stringify(this.message)}`);
    transport.sendto(this.message);
  }

  datagramReceived(data) {
    const micros = Number(process.hrtime.bigint() - this.start) / 1000;
    console.log(`client: received ${JSON.stringify(data.toString())} (round trip ${micros.toFixed(0)} us)`);
    this.done.setResult();
  }

  errorReceived(exc) {
    this.done.setException(exc);
  }
}

async function main() {
  const [server] = await loop.createDatagramEndpoint(() => new EchoServerProtocol(), { localAddr: ['127.0.0.1', 0] });
  const port = server.getExtraInfo('sockname')[1];
  console.log(`server: listening on 127.0.0.1:${port}`);
  const done = loop.createFuture();
  const [client] = await loop.createDatagramEndpoint(() => new EchoClientProtocol(process.argv[2] ?? 'Hello World!', done), {
    remoteAddr: ['127.0.0.1', port],
  });
  try {
    await done;
  } finally {
    client.close();
    server.close();
  }
}

loop.runUntilComplete(main()).then(() => loop.close());

'use strict';
// muxloop's TLS echo server: loop.createServer(factory, host, port, { ssl }) with a Protocol
// whose dataReceived writes the data back (the native engine under it, lib/net/tls).
//   node bench/servers/tls-muxloop.cjs --key=K --cert=C [--mode=owning|hosted]  -> "PORT <n>"
const fs = require('node:fs');
const path = require('node:path');
const args = require('../workers/args.cjs')();
const { serveOnLoop } = require('./serve.cjs');
const muxloop = require(path.join(__dirname, '..', '..', 'dist'));

const loop = muxloop.newEventLoop();
class Echo extends muxloop.Protocol {
  connectionMade(transport) {
    this.transport = transport;
  }
  dataReceived(data) {
    this.transport.write(data);
  }
}
const ssl = new muxloop.TlsContext({ key: fs.readFileSync(args.key), cert: fs.readFileSync(args.cert) }, true);
const listen = () => loop.createServer(() => new Echo(), '127.0.0.1', 0, { backlog: 1024, ssl });
serveOnLoop(loop, args.mode ?? 'owning', listen, args);

'use strict';
// muxloop's TLS echo server: loop.createServer(factory, host, port, { ssl }) with a Protocol
// whose dataReceived writes the data back (the native engine under it, lib/net/tls).
//   node bench/servers/tls-muxloop.cjs --key=K --cert=C [--mode=owning|hosted]  -> "PORT <n>"
const fs = require('node:fs');
const path = require('node:path');
const args = require('../workers/args.cjs')();
const stdinIsPipe = require('./stdin.cjs');
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
const announce = (server) => console.log(`PORT ${server.sockets[0].getsockname()[1]}`);
setTimeout(() => process.exit(0), Number(args.ttl ?? 1800) * 1000).unref();
if (stdinIsPipe()) process.stdin.on('end', () => process.exit(0)).resume();

if ((args.mode ?? 'owning') === 'owning') {
  announce(loop.runUntilCompleteSync(listen()));
  loop.runForeverSync();
} else {
  loop.runUntilComplete(listen()).then((server) => {
    announce(server);
    return loop.runForever();
  }, (error) => {
    console.error(error);
    process.exit(1);
  });
}

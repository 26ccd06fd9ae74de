'use strict';
// Node's TLS echo server: tls.createServer with the bench's key and certificate, write on 'data'.
//   node bench/servers/tls-node.cjs --key=K --cert=C   -> prints "PORT <n>"
const fs = require('node:fs');
const tls = require('node:tls');
const args = require('../workers/args.cjs')();
const { exitWithDriver } = require('./serve.cjs');

const server = tls.createServer({ key: fs.readFileSync(args.key), cert: fs.readFileSync(args.cert) }, (socket) => {
  socket.setNoDelay(true);
  socket.on('data', (data) => socket.write(data));
  socket.on('error', () => socket.destroy());
});
server.on('tlsClientError', () => {});
server.listen({ host: '127.0.0.1', port: 0, backlog: 1024 }, () => console.log(`PORT ${server.address().port}`));
exitWithDriver(args);

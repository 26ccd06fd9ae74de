'use strict';
// Node's own echo server, as vmbench's nodeecho.js: net.createServer, setNoDelay, write on 'data'.
//   node bench/servers/node-net.cjs   -> prints "PORT <n>"; stops on SIGTERM or after --ttl s
const net = require('node:net');
const args = require('../workers/args.cjs')();
const { exitWithDriver } = require('./serve.cjs');

const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  socket.on('data', (data) => socket.write(data));
  socket.on('error', () => socket.destroy());
});
server.listen({ host: '127.0.0.1', port: 0, backlog: 1024 }, () => {
  console.log(`PORT ${server.address().port}`);
});
exitWithDriver(args);

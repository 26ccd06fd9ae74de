'use strict';
// Pipelined key-value server on Node's net with the shared parser (kv-parser.cjs).
//   node bench/servers/kv-node-net.cjs   -> prints "PORT <n>"
const net = require('node:net');
const args = require('../workers/args.cjs')();
const { exitWithDriver } = require('./serve.cjs');
const { KvParser } = require('./kv-parser.cjs');

const store = new Map();
const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  const parser = new KvParser(store);
  socket.on('data', (data) => {
    const reply = parser.feed(data);
    // write() may keep the Buffer: the parser's output buffer is reused, so hand over a copy
    if (reply !== undefined) socket.write(Buffer.from(reply));
  });
  socket.on('error', () => socket.destroy());
});
server.listen({ host: '127.0.0.1', port: 0, backlog: 1024 }, () => console.log(`PORT ${server.address().port}`));
exitWithDriver(args);

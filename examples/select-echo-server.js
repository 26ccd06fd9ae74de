#!/usr/bin/env node
// The classic select()-based echo server (PyMOTW's select_echo_server.py), with one message queue
// per connection. Listens on 127.0.0.1 (port from argv[2], 0 = any free port, printed on stdout)
// and, so that it always ends, stops after serving argv[3] connections (default 2) or after 30 s.
//
//   node examples/select-echo-server.js 10000 2 &
//   node examples/select-echo-client.js 10000
'use strict';
const { Socket, AF_INET, SOCK_STREAM, SOL_SOCKET, SO_REUSEADDR } = require('muxloop/socket');
const { select } = require('muxloop/select');

const port = Number(process.argv[2] ?? 0);
const maxClients = Number(process.argv[3] ?? 2);
const deadline = Date.now() + 30_000;

const server = new Socket(AF_INET, SOCK_STREAM);
server.setblocking(false);
server.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
server.bind(['127.0.0.1', port]);
server.listen(5);
console.log(`listening on ${server.getsockname().join(':')}`);

const inputs = [server]; // sockets we expect to read from
const outputs = []; // sockets we expect to write to
const messageQueues = new Map(); // outgoing messages per connection
let served = 0;

function remove(list, item) {
  const i = list.indexOf(item);
  if (i >= 0) list.splice(i, 1);
}

function drop(s) {
  remove(outputs, s);
  remove(inputs, s);
  messageQueues.delete(s);
  s.close();
  served++;
}

while (inputs.length && served < maxClients && Date.now() < deadline) {
  const [readable, writable, exceptional] = select(inputs, outputs, inputs, 1.0);
  for (const s of readable) {
    if (s === server) {
      const [connection, clientAddress] = s.accept();
      console.log(`connection from ${clientAddress.join(':')}`);
      connection.setblocking(false);
      inputs.push(connection);
      messageQueues.set(connection, []);
    } else if (messageQueues.has(s)) {
      const data = s.recv(1024);
      if (data.length) {
        console.log(`received ${JSON.stringify(data.toString())} from ${s.getpeername().join(':')}`);
        messageQueues.get(s).push(data);
        if (!outputs.includes(s)) outputs.push(s);
      } else {
        console.log('closing after reading no data');
        drop(s);
      }
    }
  }
  for (const s of writable) {
    const queue = messageQueues.get(s);
    if (!queue) continue; // closed earlier in this round
    const next = queue.shift();
    if (next === undefined) {
      remove(outputs, s);
      continue;
    }
    const sent = s.send(next);
    if (sent < next.length) queue.unshift(next.subarray(sent)); // the rest goes next time
  }
  for (const s of exceptional) {
    if (!messageQueues.has(s)) continue;
    console.log(`handling exceptional condition for ${s.getpeername().join(':')}`);
    drop(s);
  }
}

for (const s of inputs) s.close();
console.log(`served ${served} connections`);

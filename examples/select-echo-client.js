#!/usr/bin/env node
// The two-socket echo client (PyMOTW's select_echo_multiclient.py): both sockets send each message
// in turn and read its echo. Blocking sockets with a 5 s timeout, so it always ends.
//
//   node examples/select-echo-client.js <port>
'use strict';
const { createConnection } = require('muxloop/socket');

const port = Number(process.argv[2]);
const messages = ['This is the message. ', 'It will be sent ', 'in parts.'];
const sockets = [createConnection(['127.0.0.1', port], 5), createConnection(['127.0.0.1', port], 5)];

for (const message of messages) {
  const outgoing = Buffer.from(message);
  for (const s of sockets) {
    console.log(`${s.getsockname().join(':')}: sending ${JSON.stringify(message)}`);
    s.sendall(outgoing);
  }
  for (const s of sockets) {
    // A stream has no message boundaries: read until the whole echo is back.
    let echoed = Buffer.alloc(0);
    while (echoed.length < outgoing.length) {
      const data = s.recv(1024);
      if (data.length === 0) throw new Error('server closed the connection early');
      echoed = Buffer.concat([echoed, data]);
    }
    console.log(`${s.getsockname().join(':')}: received ${JSON.stringify(echoed.toString())}`);
  }
}
for (const s of sockets) s.close();

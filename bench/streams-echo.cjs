'use strict';
// Line echo servers under the same load generator: muxloop streams (readline + write + drain, in
// hosted or owning mode) against Node's `net` (socket.on('data') + write). The generator runs in
// its own process and is the same for every server: C connections, each sending a 64-byte line
// and waiting for its echo, for D seconds. Not a test; prints round trips per second and ratios.
//   node bench/streams-echo.cjs [connections=50] [seconds=3]
// (Run `npm run build` first.)
const { fork } = require('node:child_process');
const net = require('node:net');
const path = require('node:path');

const role = process.argv[2];

if (role === 'server-net') {
  const server = net.createServer((sock) => {
    sock.setNoDelay(true);
    sock.on('data', (data) => sock.write(data));
    sock.on('error', () => {});
  });
  server.listen(0, '127.0.0.1', () => process.send(server.address().port));
} else if (role === 'server-muxloop') {
  const muxloop = require(path.join(__dirname, '..', 'dist'));
  const mode = process.argv[3];
  const loop = muxloop.newEventLoop();
  const main = async () => {
    const server = await muxloop.startServer(async (reader, writer) => {
      for (let line; (line = await reader.readline()).length > 0; ) {
        writer.write(line);
        await writer.drain();
      }
      writer.close();
    }, '127.0.0.1', 0);
    process.send(server.sockets[0].getsockname()[1]);
    await server.serveForever();
  };
  process.on('disconnect', () => process.exit(0));
  if (mode === 'owning') loop.runUntilCompleteSync(main);
  else loop.runUntilComplete(main);
} else if (role === 'load') {
  const [port, connections, seconds] = process.argv.slice(3).map(Number);
  const line = Buffer.from(`${'x'.repeat(63)}\n`);
  let trips = 0;
  let stop = false;
  let open = 0;
  for (let i = 0; i < connections; i++) {
    const sock = net.connect(port, '127.0.0.1', () => sock.write(line));
    sock.setNoDelay(true);
    open++;
    let pending = 0;
    sock.on('data', (data) => {
      pending += data.length;
      while (pending >= line.length) {
        pending -= line.length;
        trips++;
        if (!stop) sock.write(line);
        else if (pending === 0) sock.end();
      }
    });
    sock.on('close', () => {
      if (--open === 0) process.send(trips);
    });
    sock.on('error', () => {});
  }
  setTimeout(() => (stop = true), seconds * 1000);
} else {
  const connections = Number(process.argv[2] ?? 50);
  const seconds = Number(process.argv[3] ?? 3);
  const measure = (args) =>
    new Promise((resolve) => {
      const server = fork(__filename, args);
      server.once('message', (port) => {
        const load = fork(__filename, ['load', String(port), String(connections), String(seconds)]);
        load.once('message', (trips) => {
          load.disconnect();
          server.kill();
          resolve(trips / seconds);
        });
      });
    });
  (async () => {
    const results = {};
    results.net = await measure(['server-net']);
    results.hosted = await measure(['server-muxloop', 'hosted']);
    results.owning = await measure(['server-muxloop', 'owning']);
    for (const [name, rate] of Object.entries(results)) {
      console.log(`${name.padEnd(7)} ${Math.round(rate).toString().padStart(8)} round trips/s  ${(rate / results.net).toFixed(2)}x net`);
    }
  })();
}

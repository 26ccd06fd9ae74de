#!/usr/bin/env node
// The asyncio streams echo client: openConnection, write a line, drain, readline the echo. Sends
// three lines to 127.0.0.1:argv[2], written in the generator style (`yield` instead of `await`)
// to show that both coroutine styles drive the same streams.
'use strict';
const { run, openConnection } = require('muxloop');

const port = Number(process.argv[2]);

run(function* () {
  const [reader, writer] = yield openConnection('127.0.0.1', port);
  for (const message of ['Hello World!', 'streams over muxloop', 'bye']) {
    console.log(`sending ${JSON.stringify(message)}`);
    writer.write(`${message}\n`);
    yield writer.drain();
    const echo = yield reader.readline();
    console.log(`received ${JSON.stringify(echo.toString().trimEnd())}`);
  }
  writer.close();
  yield writer.waitClosed();
});

'use strict';
// What the JavaScript bench servers share around their own serving code: the end of their life
// (after --ttl seconds, or when the driver's stdin pipe ends) and, for the muxloop ones, the
// "PORT <n>" line and running the loop owning or hosted.
const stdinIsPipe = require('./stdin.cjs');

/** Exits after `args.ttl` seconds (default 1800), and when stdin is a pipe from the driver that ends. */
function exitWithDriver(args) {
  setTimeout(() => process.exit(0), Number(args.ttl ?? 1800) * 1000).unref();
  // Stdin is a pipe from the driver: when it ends, the driver is gone.
  if (stdinIsPipe()) process.stdin.on('end', () => process.exit(0)).resume();
}

/** The readiness line the driver waits for (bench/lib/echo.cjs startServer). */
const announce = (server) => console.log(`PORT ${server.sockets[0].getsockname()[1]}`);

/**
 * Runs a muxloop server on `loop`: `listen()` gives what loop.runUntilComplete takes (a
 * coroutine, or a function making one) and that resolves with the server. `mode` 'owning' runs
 * the loop with runUntilCompleteSync/runForeverSync (call this from the CommonJS top level, as
 * owning mode needs), anything else hosted (runUntilComplete/runForever; an error exits 1).
 */
function serveOnLoop(loop, mode, listen, args) {
  exitWithDriver(args);
  if (mode === 'owning') {
    announce(loop.runUntilCompleteSync(listen()));
    loop.runForeverSync();
  } else {
    loop
      .runUntilComplete(listen())
      .then((server) => {
        announce(server);
        return loop.runForever();
      })
      .catch((error) => {
        console.error(error);
        process.exit(1);
      });
  }
}

module.exports = { exitWithDriver, serveOnLoop };

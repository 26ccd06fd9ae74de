'use strict';
// One byte ping-pong over a socketpair through two addReader callbacks: the cost of one loop
// wakeup (I/O readiness -> iteration -> write) per direction. Not a test; prints microseconds.
//   node bench/loop-pingpong.cjs [hosted|owning] [epoll|poll|select] [round trips]
// (Run `npm run build` first; owning mode must be started like this, from CommonJS top level.)
const path = require('node:path');
const muxloop = require(path.join(__dirname, '..', 'dist'));
const { binding } = require(path.join(__dirname, '..', 'dist', 'core', 'native'));

const mode = process.argv[2] ?? 'hosted';
const kind = process.argv[3] ?? muxloop.availableSelectors()[0];
const rounds = Number(process.argv[4] ?? 50000);
const loop = muxloop.newEventLoop({ selector: new (muxloop.selectorClass(kind))() });
const [a, b] = binding.socketpair(binding.constants.AF_UNIX, binding.constants.SOCK_STREAM, true);
const buf = Buffer.alloc(16);
let done = 0;
loop.addReader(a, () => {
  binding.read(a, buf);
  binding.write(a, buf.subarray(0, 1));
});
loop.addReader(b, () => {
  binding.read(b, buf);
  if (++done === rounds) loop.stop();
  else binding.write(b, buf.subarray(0, 1));
});
binding.write(b, buf.subarray(0, 1));
const start = process.hrtime.bigint();
const report = () => {
  const us = Number(process.hrtime.bigint() - start) / 1000 / rounds;
  console.log(`${mode} ${kind}: ${us.toFixed(2)} us per round trip (${rounds} round trips)`);
  loop.close();
  binding.close(a);
  binding.close(b);
};
if (mode === 'owning') {
  loop.runForeverSync();
  report();
} else {
  loop.runForever().then(report);
}

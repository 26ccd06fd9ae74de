'use strict';
// One subprocess run. Prints {"ms": wall time of the measured part}.
//   --peer=muxloop-spawn | node-spawn --n=1000     spawn `true` and wait for its exit, n times in a row
//                                                  (stdio on /dev/null for both)
//   --peer=muxloop-communicate | node-pipe --mib=256   `cat` of mib MiB: written to its stdin, read
//                                                  back from its stdout to EOF, and the exit awaited
// muxloop runs on a hosted loop; Node's peer is child_process.spawn with its own streams.
//   node bench/workers/subprocess.cjs --peer=muxloop-spawn --n=1000
const path = require('node:path');
const { spawn } = require('node:child_process');
const args = require('./args.cjs')();

const DIST = path.join(__dirname, '..', '..', 'dist');
const peer = args.peer;
const N = Number(args.n ?? 1000);
const MIB = Number(args.mib ?? 256);

function report(t0, check) {
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  console.log(JSON.stringify({ ms, ...check }));
}

function nodeSpawnOnce() {
  return new Promise((resolve, reject) => {
    const child = spawn('true', [], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', (code) => resolve(code));
  });
}

function nodePipe(input) {
  return new Promise((resolve, reject) => {
    const child = spawn('cat', [], { stdio: ['pipe', 'pipe', 'ignore'] });
    const chunks = [];
    child.stdout.on('data', (chunk) => chunks.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve([Buffer.concat(chunks), code]));
    child.stdin.end(input);
  });
}

async function main() {
  if (peer === 'node-spawn') {
    for (let i = 0; i < 20; i++) await nodeSpawnOnce(); // warm-up
    const t0 = process.hrtime.bigint();
    let failures = 0;
    for (let i = 0; i < N; i++) if ((await nodeSpawnOnce()) !== 0) failures++;
    return report(t0, { failures });
  }
  if (peer === 'node-pipe') {
    const input = Buffer.alloc(MIB << 20, 97);
    const t0 = process.hrtime.bigint();
    const [out, code] = await nodePipe(input);
    return report(t0, { bytes: out.length, code });
  }
  const muxloop = require(DIST);
  const { createSubprocessExec, DEVNULL, PIPE } = muxloop;
  const loop = muxloop.newEventLoop();
  const result = await loop.runUntilComplete(async () => {
    if (peer === 'muxloop-spawn') {
      const once = async () => (await createSubprocessExec('true', [], { stdin: DEVNULL, stdout: DEVNULL, stderr: DEVNULL })).wait();
      for (let i = 0; i < 20; i++) await once();
      const t0 = process.hrtime.bigint();
      let failures = 0;
      for (let i = 0; i < N; i++) if ((await once()) !== 0) failures++;
      return [t0, { failures }];
    }
    if (peer === 'muxloop-communicate') {
      const input = Buffer.alloc(MIB << 20, 97);
      const t0 = process.hrtime.bigint();
      const proc = await createSubprocessExec('cat', [], { stdin: PIPE, stdout: PIPE, stderr: DEVNULL });
      const [out] = await proc.communicate(input);
      return [t0, { bytes: out.length, code: proc.returncode }];
    }
    throw new Error(`unknown peer ${peer}`);
  });
  const [t0, check] = result;
  report(t0, check);
  loop.close();
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});

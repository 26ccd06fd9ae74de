// reliability.md B18 and B19: the addon in 20 worker threads that are terminated with sockets and
// selectors open (the fd count returns to baseline), and a bounded fuzz-style loop of hostile
// arguments to every fd/socket entry point (each call returns or throws a TypeError, a RangeError
// or a coded OS error; never a crash).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { binding } from '../lib/core/native';
import { openFdCount } from './helpers';

const DIST = join(__dirname, '..', 'dist');

let fileBaseline = 0;
beforeEach(() => {
  fileBaseline = openFdCount();
});
afterEach(() => {
  expect(openFdCount()).toBe(fileBaseline);
});

async function settle(check: () => boolean, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return check();
}

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const s = require(workerData.dist + '/socket/index.js');
const { DefaultSelector, PollSelector, EVENT_READ } = require(workerData.dist + '/selectors/index.js');
const server = s.createServer(['127.0.0.1', 0]);
const client = s.createConnection(server.getsockname(), 5);
const [conn] = server.accept();
const [a, b] = s.socketpair();
const [r, w] = s.pipe();
const udp = new s.Socket(s.AF_INET, s.SOCK_DGRAM);
const sel = new DefaultSelector();
sel.register(conn, EVENT_READ);
sel.register(a, EVENT_READ);
const poll = new PollSelector();
poll.register(b, EVENT_READ);
parentPort.postMessage('ready');
// Keep the thread busy in JS until it is terminated; nothing is closed by hand.
setInterval(() => {}, 1000);
`;

it('B18: 20 workers terminated with sockets and selectors open leave no fd behind', async () => {
  const baseline = openFdCount();
  const workers = Array.from({ length: 20 }, () => new Worker(WORKER, { eval: true, workerData: { dist: DIST } }));
  await Promise.all(
    workers.map(
      (worker) =>
        new Promise<void>((resolve, reject) => {
          worker.once('message', () => resolve());
          worker.once('error', reject);
        }),
    ),
  );
  // Each worker holds at least 9 fds of ours (3 TCP, 2 socketpair, 2 pipe, 1 UDP, 1 epoll).
  expect(openFdCount()).toBeGreaterThanOrEqual(baseline + 20 * 9);
  await Promise.all(workers.map((worker) => worker.terminate()));
  expect(await settle(() => openFdCount() === baseline)).toBe(true);
  expect(openFdCount()).toBe(baseline);
}, 60_000);

// A small deterministic PRNG, so a failure can be replayed.
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

it('B19: hostile arguments to every native fd/socket function never crash', () => {
  const baseline = openFdCount();
  const random = prng(0x5eed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  const detached = () => {
    const ab = new ArrayBuffer(8);
    const view = new Uint8Array(ab);
    structuredClone(ab, { transfer: [ab] });
    return view;
  };
  const valueOfDetach = () => {
    const ab = new ArrayBuffer(8);
    return {
      valueOf() {
        structuredClone(ab, { transfer: [ab] });
        return 1;
      },
    };
  };
  // fds that are never open in this process: hostile values must not reach a real fd.
  const badFds = [-1, NaN, 2 ** 31, 2 ** 32 + 1, 2 ** 53, 1e300, -0.5, 99999, '3', null, undefined, {}, [], 3n, Symbol('fd'), true];
  const anything = () =>
    pick<() => unknown>([
      () => pick([0, 1, 2, 3, -1, 1.5, NaN, Infinity, -Infinity, 2 ** 31, 2 ** 32 + 2, 2 ** 53, -(2 ** 53), 65536]),
      () => pick(['', '80', '127.0.0.1', '::1', 'x'.repeat(300), '\0abstract', 'a\0b']),
      () => pick([null, undefined, true, false, {}, [], 1n, Symbol('x'), () => 1]),
      () => pick([Buffer.alloc(0), Buffer.alloc(16), new Float64Array(3), new DataView(new ArrayBuffer(4)), new Int32Array([99999]), new Int32Array(0)]),
      () => detached(),
      () => valueOfDetach(),
      () => pick([['127.0.0.1', 0], ['::1', 0, 0, 0], ['256.0.0.1', 1], ['127.0.0.1', '80'], [1, 2, 3, 4, 5], new Array(3)]),
      () => [Buffer.alloc(1), detached(), 5],
      () => new Proxy([Buffer.alloc(2)], { get: (t, k) => (k === 'length' ? 2 ** 32 - 1 : Reflect.get(t, k)) }),
    ])();
  // Timeouts that cannot make select() with nothing to watch block for long.
  const shortTimeouts = [0, 1e-4, NaN, '1', null, {}, -0, 1n];
  type Fn = (...args: unknown[]) => unknown;
  const b = binding as unknown as Record<string, Fn>;
  const calls: Array<[string, () => unknown[]]> = [
    ['pipe', () => [anything()]],
    ['socketpair', () => [anything(), anything(), anything()]],
    ['socket', () => [anything(), anything(), anything()]],
    ['read', () => [pick(badFds), anything(), anything(), anything()]],
    ['write', () => [pick(badFds), anything(), anything(), anything()]],
    ['close', () => [pick(badFds)]],
    ['forget', () => [pick(badFds)]],
    ['adopt', () => [pick(badFds.filter((fd) => fd !== 99999))]],
    ['setNonBlocking', () => [pick(badFds), anything()]],
    ['getNonBlocking', () => [pick(badFds)]],
    ['bind', () => [pick(badFds), anything(), anything()]],
    ['listen', () => [pick(badFds), anything()]],
    ['accept', () => [pick(badFds), anything(), anything()]],
    ['connect', () => [pick(badFds), anything(), anything(), anything()]],
    ['recv', () => [pick(badFds), anything(), anything(), anything(), anything(), anything()]],
    ['recvfrom', () => [pick(badFds), anything(), anything(), anything(), anything(), anything(), anything()]],
    ['send', () => [pick(badFds), anything(), anything(), anything(), anything(), anything()]],
    ['sendto', () => [pick(badFds), anything(), anything(), anything(), anything(), anything(), anything(), anything()]],
    ['sendmsg', () => [pick(badFds), anything(), anything(), anything()]],
    ['shutdown', () => [pick(badFds), anything()]],
    ['setsockopt', () => [pick(badFds), anything(), anything(), anything()]],
    ['getsockopt', () => [pick(badFds), anything(), anything(), anything()]],
    ['getsockname', () => [pick(badFds), anything()]],
    ['getpeername', () => [pick(badFds), anything()]],
    ['select', () => [anything(), anything(), anything(), pick(shortTimeouts)]],
  ];
  const outcomes = new Map<string, number>();
  const created: number[] = [];
  for (let round = 0; round < 200; round++) {
    for (const [name, makeArgs] of calls) {
      const args = makeArgs();
      let outcome: string;
      try {
        const result = b[name](...args);
        // Functions that create fds may succeed with random-but-valid arguments: close them.
        if (name === 'socket' && typeof result === 'number') created.push(result);
        if ((name === 'pipe' || name === 'socketpair') && Array.isArray(result)) created.push(...(result as number[]));
        outcome = 'returned';
      } catch (error) {
        const e = error as { code?: unknown; constructor?: unknown };
        if (error instanceof TypeError) outcome = 'TypeError';
        else if (error instanceof RangeError) outcome = 'RangeError';
        else if (error instanceof Error && typeof e.code === 'string') outcome = `Error ${e.code}`;
        else throw new Error(`${name}(${args.map(String).join(', ')}) threw ${String(error)}`);
      }
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
  }
  for (const fd of created) binding.close(fd);
  // Every kind of outcome happened, so the loop really exercised the checks and the syscalls.
  expect(outcomes.get('TypeError')).toBeGreaterThan(0);
  expect(outcomes.get('RangeError')).toBeGreaterThan(0);
  expect(outcomes.get('Error EBADF')).toBeGreaterThan(0);
  expect(openFdCount()).toBe(baseline);
});

const ROOT = join(__dirname, '..');
const compiler = process.env.CXX ?? 'g++';
const hasCompiler = spawnSync(compiler, ['--version']).status === 0;

it.runIf(hasCompiler && process.platform === 'linux')(
  'B6/B7: the native layer with SIGPIPE at SIG_DFL (C++ harness, ASan+UBSan): EPIPE, no signal',
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'muxloop-harness-'));
    try {
      const exe = join(dir, 'harness');
      const sources = ['native/syscalls/socket.cc', 'native/syscalls/fd.cc', 'native/backends/selector.cc', 'test/native/sigpipe_harness.cc'].map((f) => join(ROOT, f));
      const flags = ['-std=c++17', '-O1', '-g', '-Wall', '-Wextra', '-Werror', '-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-I', join(ROOT, 'native')];
      const build = spawnSync(compiler, [...flags, ...sources, '-o', exe], { encoding: 'utf8', timeout: 120_000 });
      expect(build.stderr).toBe('');
      expect(build.status).toBe(0);
      const run = spawnSync(exe, [], { encoding: 'utf8', timeout: 30_000 });
      expect(run.signal).toBeNull(); // a SIGPIPE would have killed it
      expect(run.stdout).toBe('ok\n');
      expect(run.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
  180_000,
);

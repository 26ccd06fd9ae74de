// io_uring refused for real: a child runs under a seccomp filter that makes io_uring_setup(2) fail
// with EPERM (test/native/deny-io-uring.c, compiled here with the system cc). The probe at load
// must fail cleanly: availableSelectors() omits io_uring, DefaultSelector stays epoll, and
// constructing IoUringSelector throws the kernel's refusal, leaking nothing.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = join(__dirname, '..');
const FIXTURE = join(__dirname, 'fixtures', 'uring-refused.cjs');

function compileLauncher(): { path?: string; why?: string; dir?: string } {
  if (process.platform !== 'linux') return { why: 'io_uring is Linux only' };
  const dir = mkdtempSync(join(tmpdir(), 'muxloop-uring-'));
  const path = join(dir, 'deny-io-uring');
  try {
    execFileSync('cc', ['-O2', '-o', path, join(__dirname, 'native', 'deny-io-uring.c')], { stdio: 'pipe' });
    return { path, dir };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    return { why: `no C compiler to build the seccomp launcher (${(error as Error).message.split('\n')[0]})` };
  }
}

const launcher = compileLauncher();
afterAll(() => {
  if (launcher.dir !== undefined) rmSync(launcher.dir, { recursive: true, force: true });
});

function runFixture(prefix: string[]): Record<string, unknown> {
  const [command, ...args] = [...prefix, process.execPath, FIXTURE];
  const r = spawnSync(command, args, { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout.trim()) as Record<string, unknown>;
}

describe.runIf(process.platform === 'linux')('io_uring refused by seccomp', () => {
  it('is omitted, its constructor throws EPERM from io_uring_setup, nothing leaks', (context) => {
    if (launcher.path === undefined) {
      console.warn(`skipped: ${launcher.why}`);
      context.skip();
      return;
    }
    const out = runFixture([launcher.path]);
    expect(out.available).toEqual(['epoll', 'poll', 'select']);
    expect(out.defaultIsEpoll).toBe(true);
    expect(out.constructed).toBeUndefined();
    expect(out.errors).toEqual(Array.from({ length: 3 }, () => ({ name: 'Error', code: 'EPERM', errno: 1, syscall: 'io_uring_setup' })));
    expect(out.leakedFds).toEqual([]);
    expect(out.epollWorks).toBe(true);
  });

  it('without the filter, the same fixture sees io_uring when the kernel allows it', () => {
    const out = runFixture([]);
    expect(out.defaultIsEpoll).toBe(true);
    expect(out.leakedFds).toEqual([]);
    expect(out.epollWorks).toBe(true);
    if ((out.available as string[]).includes('io_uring')) {
      expect(out.constructed).toBe(true);
      expect(out.errors).toEqual([]);
    } else {
      // kernel.io_uring_disabled or an outer filter: then the refusal is what we saw above.
      expect((out.errors as Array<{ syscall: string }>)[0].syscall).toBe('io_uring_setup');
    }
  });
});

// newEventLoop({ io: 'uring' }) under the same filter: the loop falls back to epoll, says so once
// in debug mode (process warning MUXLOOP_URING_FALLBACK, however many loops), and still serves.
function runIoFixture(prefix: string[]): Record<string, unknown> {
  const [command, ...args] = [...prefix, process.execPath, '--no-warnings', join(__dirname, 'fixtures', 'uring-io-fallback.cjs')];
  const r = spawnSync(command, args, { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout.trim()) as Record<string, unknown>;
}

describe.runIf(process.platform === 'linux')("io: 'uring' loops when io_uring is refused", () => {
  it('fall back to epoll, warn once in debug mode, serve, and leak nothing', (context) => {
    if (launcher.path === undefined) {
      console.warn(`skipped: ${launcher.why}`);
      context.skip();
      return;
    }
    const out = runIoFixture([launcher.path]);
    expect(out).toEqual({ io: ['epoll', 'epoll'], echo: 'ping\n', warnings: ['MUXLOOP_URING_FALLBACK'], leakedFds: [] });
  });

  it('without the filter, get io_uring where the kernel allows it, with no warning', () => {
    const out = runIoFixture([]);
    const got = (out.io as string[])[0];
    expect(out.io).toEqual([got, got]);
    expect(out).toMatchObject({ echo: 'ping\n', leakedFds: [] });
    expect(out.warnings).toEqual(got === 'uring' ? [] : ['MUXLOOP_URING_FALLBACK']);
  });
});

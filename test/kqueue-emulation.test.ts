// The test-only kqueue emulation (test/native/kqueue/) against FreeBSD's kevent(2) semantics, so
// that the "kqueue" vitest project runs selector_kqueue.cc on something faithful: EV_ERROR and
// EV_RECEIPT entries, separate read/write knotes, EV_DISABLE/ENABLE/ONESHOT/CLEAR, EV_EOF, FIONREAD
// data, closed and reused fds, regular files. C++ harness under ASan+UBSan.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const HERE = join(__dirname, 'native', 'kqueue');
const compiler = process.env.CXX ?? 'g++';
const hasCompiler = spawnSync(compiler, ['--version']).status === 0;

it.runIf(hasCompiler && process.platform === 'linux')(
  'kqueue()/kevent() over epoll behave as kevent(2) says (C++ harness, ASan+UBSan)',
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'muxloop-kevent-'));
    try {
      const exe = join(dir, 'harness');
      const sources = ['kevent_harness.cc', 'kqueue_emulation.cc'].map((f) => join(HERE, f));
      const flags = ['-std=c++17', '-O1', '-g', '-Wall', '-Wextra', '-Werror', '-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-I', HERE];
      const build = spawnSync(compiler, [...flags, ...sources, '-o', exe], { encoding: 'utf8', timeout: 120_000 });
      expect(build.stderr).toBe('');
      expect(build.status).toBe(0);
      const run = spawnSync(exe, [], { encoding: 'utf8', timeout: 30_000 });
      expect(run.stdout).toBe('ok\n');
      expect(run.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
  180_000,
);

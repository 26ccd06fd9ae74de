// Subprocesses (lib/net/subprocess.ts, lib/streams/subprocess.ts): real children, hosted mode, on
// both exit routes: pidfd in the loop's selector, and SIGCHLD (forced with the test-only
// MUXLOOP_TEST_NO_PIDFD, read at each spawn). Owning mode runs in a child process
// (fixtures/subprocess.cjs). Every test ends with the fd leak check; children are checked to be
// reaped (waitid on the pid says ECHILD: neither running nor a zombie of ours).
import { execFile } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binding } from '../lib/core/native';
import { pendingOrphans } from '../lib/net/child_watcher';
import { DEVNULL, PIPE, STDOUT, SubprocessProtocol, type SubprocessTransport } from '../lib/net/subprocess';
import { createSubprocessExec, createSubprocessShell, type Process } from '../lib/streams/subprocess';
import type { Future } from '../lib/tasks/futures';
import { EventLoop } from '../lib/loops';
import { availableSelectors } from '../lib/selectors';
import { openFdCount, useRealLoop } from './helpers';

/** Whether `pid` is gone for us: no child of ours by that pid, running or zombie. */
function reaped(pid: number): boolean {
  try {
    binding.reap(pid, -1);
    return false;
  } catch (error) {
    return (error as { code?: string }).code === 'ECHILD';
  }
}

/** Waits (bounded) until /proc/<pid> is gone: the child ended and someone reaped it. */
async function gone(pid: number, seconds = 10): Promise<boolean> {
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    if (!existsSync(`/proc/${pid}`)) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return false;
}

/** The pids of this process's children (every thread's), from /proc. */
function childPids(): number[] {
  const pids: number[] = [];
  for (const task of readdirSync('/proc/self/task')) {
    pids.push(...readFileSync(`/proc/self/task/${task}/children`, 'utf8').split(' ').filter(Boolean).map(Number));
  }
  return pids.sort((a, b) => a - b);
}

function procState(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
  } catch {
    return undefined;
  }
}

describe.each(['pidfd', 'sigchld'])('subprocesses, %s route', (route) => {
  beforeAll(() => {
    if (route === 'sigchld') process.env.MUXLOOP_TEST_NO_PIDFD = '1';
  });
  afterAll(() => {
    delete process.env.MUXLOOP_TEST_NO_PIDFD;
  });
  const fixture = useRealLoop('epoll');

  it('communicate: 64 MiB each way through cat, no deadlock', async () => {
    const input = Buffer.alloc(64 << 20);
    for (let i = 0; i < input.length; i += 4096) input.writeUInt32LE(i, i);
    const [out, err, code] = await fixture.loop.runUntilComplete(async () => {
      const proc = await createSubprocessExec('cat', [], { stdin: PIPE, stdout: PIPE, stderr: PIPE });
      const [stdout, stderr] = await proc.communicate(input);
      return [stdout, stderr, proc.returncode];
    });
    expect(code).toBe(0);
    expect(err?.length).toBe(0);
    expect(out?.length).toBe(input.length);
    expect(out?.equals(input)).toBe(true);
  }, 60_000);

  it('a child that ignores SIGTERM: terminate does not end it, kill does (-9)', async () => {
    const result = await fixture.loop.runUntilComplete(async () => {
      const proc = await createSubprocessShell('trap "" TERM; echo ready; exec sleep 30', { stdout: PIPE });
      expect((await proc.stdout!.readline()).toString()).toBe('ready\n');
      proc.terminate();
      // Still running after the signal was delivered and a moment passed.
      await fixture.loop.createTask(async () => new Promise((resolve) => setTimeout(resolve, 300)));
      const afterTerm = proc.returncode;
      const state = procState(proc.pid);
      proc.kill();
      const code = await proc.wait();
      await proc.stdout!.read();
      return { afterTerm, state, code, pid: proc.pid };
    });
    expect(result.afterTerm).toBeNull();
    expect(result.state).toMatch(/^[RSD]$/);
    expect(result.code).toBe(-9);
    expect(reaped(result.pid)).toBe(true);
  });

  it('1,000 short-lived children leave no fd and no zombie', async () => {
    const before = openFdCount();
    const pids = await fixture.loop.runUntilComplete(async () => {
      const list: number[] = [];
      for (let i = 0; i < 1000; i++) {
        const proc = await createSubprocessExec('true');
        expect(await proc.wait()).toBe(0);
        list.push(proc.pid);
      }
      return list;
    });
    expect(pids.length).toBe(1000);
    expect(openFdCount()).toBe(before);
    expect(pids.filter((pid) => !reaped(pid))).toEqual([]);
  }, 120_000);

  it('the same with pipes: 200 children through communicate', async () => {
    const before = openFdCount();
    const outputs = await fixture.loop.runUntilComplete(async () => {
      const list: string[] = [];
      for (let i = 0; i < 200; i++) {
        const proc = await createSubprocessExec('echo', [String(i)], { stdin: PIPE, stdout: PIPE, stderr: PIPE });
        const [out] = await proc.communicate();
        list.push(out!.toString());
      }
      return list;
    });
    expect(outputs[199]).toBe('199\n');
    expect(openFdCount()).toBe(before);
  }, 60_000);

  it('a child killed while its output is unread', async () => {
    const result = await fixture.loop.runUntilComplete(async () => {
      const proc = await createSubprocessExec('yes', [], { stdout: PIPE });
      // The pipe fills up and the reader pauses the transport; nobody reads.
      await fixture.loop.createTask(async () => new Promise((resolve) => setTimeout(resolve, 100)));
      proc.kill();
      const code = await proc.wait();
      const rest = await proc.stdout!.read(); // what was buffered, then EOF
      return { code, restIsYes: rest.length === 0 || rest.subarray(0, 2).toString() === 'y\n', pid: proc.pid };
    });
    expect(result.code).toBe(-9);
    expect(result.restIsYes).toBe(true);
    expect(reaped(result.pid)).toBe(true);
  });

  it('a missing program rejects with ENOENT (code, errno, syscall, path) and leaks nothing', async () => {
    const before = openFdCount();
    const error = await fixture.loop.runUntilComplete(async () => {
      try {
        await createSubprocessExec('muxloop-no-such-program', [], { stdin: PIPE, stdout: PIPE, stderr: PIPE });
      } catch (e) {
        return e as NodeJS.ErrnoException;
      }
      return undefined;
    });
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ code: 'ENOENT', errno: 2, syscall: 'spawn', path: 'muxloop-no-such-program' });
    const missingPath = await fixture.loop.runUntilComplete(async () => createSubprocessExec('/nonexistent/bin/x').then(undefined, (e: unknown) => e));
    expect(missingPath).toMatchObject({ code: 'ENOENT', path: '/nonexistent/bin/x' });
    const badCwd = await fixture.loop.runUntilComplete(async () => createSubprocessExec('true', [], { cwd: '/nonexistent-dir' }).then(undefined, (e: unknown) => e));
    expect(badCwd).toMatchObject({ code: 'ENOENT', syscall: 'chdir', path: '/nonexistent-dir' });
    expect(openFdCount()).toBe(before);
  });

  it('a signal exit gives a negative returncode; an exit status a positive one', async () => {
    const codes = await fixture.loop.runUntilComplete(async () => {
      const a = await createSubprocessShell('kill -TERM $$');
      const b = await createSubprocessShell('exit 42');
      return [await a.wait(), await b.wait(), a.returncode];
    });
    expect(codes).toEqual([-15, 42, -15]);
  });

  it('cwd, env, DEVNULL, STDOUT merging and fd passing', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'muxloop-sub-'));
    const file = path.join(dir, 'out.txt');
    const fd = openSync(file, 'w');
    try {
      const r = await fixture.loop.runUntilComplete(async () => {
        const pwd = await createSubprocessExec('pwd', { stdout: PIPE, cwd: dir });
        const env = await createSubprocessShell('echo "$FOO:$HOME"', { stdout: PIPE, env: { FOO: 'bar', PATH: process.env.PATH } });
        const devnull = await createSubprocessExec('cat', [], { stdin: DEVNULL, stdout: PIPE });
        const quiet = await createSubprocessShell('echo lost', { stdout: DEVNULL, stderr: PIPE });
        const merged = await createSubprocessShell('echo out; echo err >&2', { stdout: PIPE, stderr: STDOUT });
        const toFile = await createSubprocessShell('echo into the file; echo err into it too >&2', { stdout: fd, stderr: STDOUT });
        const results = [];
        for (const p of [pwd, env, devnull, quiet, merged]) {
          const [out, err] = await p.communicate();
          results.push([out?.toString() ?? null, err?.toString() ?? null]);
        }
        await toFile.wait();
        return { results, quietStdout: quiet.stdout, toFile: toFile.returncode };
      });
      expect(r.results).toEqual([
        [`${realpathSync(dir)}\n`, null],
        ['bar:\n', null],
        ['', null],
        [null, ''],
        ['out\nerr\n', null],
      ]);
      expect(r.quietStdout).toBeNull();
      expect(r.toFile).toBe(0);
      expect(readFileSync(file, 'utf8')).toBe('into the file\nerr into it too\n');
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('bad arguments: TypeError/RangeError with a code, nothing leaked', async () => {
    const before = openFdCount();
    const cases: Array<[unknown, unknown, unknown, string, string]> = [
      [42, [], {}, 'TypeError', 'ERR_INVALID_ARG_TYPE'],
      ['true', [1], {}, 'TypeError', 'ERR_INVALID_ARG_TYPE'],
      ['true', 'x', {}, 'TypeError', 'ERR_INVALID_ARG_TYPE'],
      ['true', [], { stdin: 'pipe' }, 'TypeError', 'ERR_INVALID_ARG_TYPE'],
      ['true', [], { stdin: -7 }, 'RangeError', 'ERR_OUT_OF_RANGE'],
      ['true', [], { stdout: STDOUT }, 'RangeError', 'ERR_OUT_OF_RANGE'],
      ['true', [], { stderr: 1.5 }, 'RangeError', 'ERR_OUT_OF_RANGE'],
      ['true', [], { stdout: PIPE, stderr: PIPE, env: { A: 1 } }, 'TypeError', 'ERR_INVALID_ARG_TYPE'],
      ['true', [], { stdout: PIPE, env: { 'A=B': 'x' } }, 'TypeError', 'ERR_INVALID_ARG_VALUE'],
      ['true', [], { cwd: 5 }, 'TypeError', 'ERR_INVALID_ARG_TYPE'],
      ['true', ['a\0b'], { stdout: PIPE }, 'TypeError', 'ERR_INVALID_ARG_VALUE'],
      ['true', [], { limit: 0, stdout: PIPE }, 'RangeError', 'ERR_OUT_OF_RANGE'],
      ['true', [], { text: true }, 'TypeError', 'ERR_INVALID_ARG_VALUE'],
    ];
    const outcomes = await fixture.loop.runUntilComplete(async () => {
      const list = [];
      for (const [program, args, options] of cases) {
        try {
          await createSubprocessExec(program as string, args as string[], options as never);
          list.push('resolved');
        } catch (error) {
          list.push([(error as Error).constructor.name, (error as { code?: string }).code]);
        }
      }
      // The low-level method checks its factory too.
      try {
        await fixture.loop.subprocessExec(42 as never, 'true');
      } catch (error) {
        list.push([(error as Error).constructor.name, (error as { code?: string }).code]);
      }
      return list;
    });
    expect(outcomes).toEqual([...cases.map((c) => [c[3], c[4]]), ['TypeError', 'ERR_INVALID_ARG_TYPE']]);
    expect(openFdCount()).toBe(before);
    // And natively, without the JS checks.
    expect(() => binding.spawn('true', [], undefined, undefined, [-1, -1, -1], false)).toThrow(RangeError);
    expect(() => binding.spawn('true', ['true'], undefined, undefined, [-1, -1, -9], false)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => binding.spawn('true', ['true'], undefined, undefined, [2 ** 32 + 1, -1, -1], false)).toThrow(RangeError);
    expect(() => binding.spawn('true', ['t\0'], undefined, undefined, [-1, -1, -1], false)).toThrow(TypeError);
    expect(() => binding.spawn('true', ['true'], undefined, undefined, [9999, -1, -1], false)).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'fcntl' }));
    expect(() => binding.reap(0, -1)).toThrow(RangeError);
    expect(() => binding.sendSignal(1, -1, 1000)).toThrow(RangeError);
    expect(openFdCount()).toBe(before);
  });

  it('every refused option: a coded TypeError/RangeError naming it, no child spawned, no pipe left', async () => {
    // `sleep 30` would still run if a refused call had spawned it anyway: no new child may appear.
    const S = ['sleep', ['30']] as const;
    const cases: Array<[string, () => Future<Process>, string, string, RegExp?]> = [
      ['empty program', () => createSubprocessExec('', [], { stdout: PIPE }), 'TypeError', 'ERR_INVALID_ARG_VALUE', /"program".*empty/],
      ['NUL in program', () => createSubprocessExec('sle\0ep', ['30'], { stdout: PIPE }), 'TypeError', 'ERR_INVALID_ARG_VALUE'],
      ['program not a string', () => createSubprocessExec(42 as never, ['30']), 'TypeError', 'ERR_INVALID_ARG_TYPE', /"program"/],
      ['NUL in cmd', () => createSubprocessShell('sleep 30\0', { stdout: PIPE }), 'TypeError', 'ERR_INVALID_ARG_VALUE'],
      ['cmd not a string', () => createSubprocessShell(['sleep 30'] as never), 'TypeError', 'ERR_INVALID_ARG_TYPE', /"cmd"/],
      ['args a string', () => createSubprocessExec(S[0], '30' as never), 'TypeError', 'ERR_INVALID_ARG_TYPE', /"args"/],
      ['args null', () => createSubprocessExec(S[0], null as never, { stdout: PIPE }), 'TypeError', 'ERR_INVALID_ARG_TYPE', /"args"/],
      ['args[1] a number', () => createSubprocessExec(S[0], ['30', 1] as never, { stdout: PIPE }), 'TypeError', 'ERR_INVALID_ARG_TYPE', /"args\[1\]"/],
      // A hole is undefined, not a string (forEach would skip it).
      // eslint-disable-next-line no-sparse-arrays
      ['args with a hole', () => createSubprocessExec(S[0], [, '30'] as never, { stdout: PIPE }), 'TypeError', 'ERR_INVALID_ARG_TYPE', /"args\[0\]"/],
      ['options a number', () => createSubprocessExec(S[0], ['30'], 5 as never), 'TypeError', 'ERR_INVALID_ARG_TYPE', /"options"/],
      ['options a string', () => createSubprocessShell('sleep 30', 'x' as never), 'TypeError', 'ERR_INVALID_ARG_TYPE', /"options"/],
      ['options.loop not a loop', () => createSubprocessExec(S[0], ['30'], { loop: {} as never }), 'TypeError', 'ERR_INVALID_ARG_TYPE', /"options.loop"/],
      ['options.limit a string', () => createSubprocessExec(S[0], ['30'], { limit: '1' as never, stdout: PIPE }), 'TypeError', 'ERR_INVALID_ARG_TYPE', /"options.limit"/],
      ['options.limit NaN', () => createSubprocessExec(S[0], ['30'], { limit: NaN, stdout: PIPE }), 'TypeError', 'ERR_INVALID_ARG_TYPE', /"options.limit"/],
      ['stdin an unknown string', () => createSubprocessExec(S[0], ['30'], { stdin: 'inherit' as never }), 'TypeError', 'ERR_INVALID_ARG_TYPE', /"options.stdin".*Received string 'inherit'/],
      ['stdin an empty string', () => createSubprocessExec(S[0], ['30'], { stdin: '' as never }), 'TypeError', 'ERR_INVALID_ARG_TYPE', /"options.stdin"/],
      ['stdin true', () => createSubprocessExec(S[0], ['30'], { stdin: true as never }), 'TypeError', 'ERR_INVALID_ARG_TYPE', /"options.stdin"/],
      ['stdin a plain object', () => createSubprocessExec(S[0], ['30'], { stdin: {} as never }), 'TypeError', 'ERR_INVALID_ARG_TYPE', /"options.stdin"/],
      ['stdin STDOUT', () => createSubprocessExec(S[0], ['30'], { stdin: STDOUT }), 'RangeError', 'ERR_OUT_OF_RANGE', /"options.stdin"/],
      ['stdout negative', () => createSubprocessExec(S[0], ['30'], { stdin: PIPE, stdout: -4 }), 'RangeError', 'ERR_OUT_OF_RANGE', /"options.stdout"/],
      ['stdout not an integer', () => createSubprocessExec(S[0], ['30'], { stdin: PIPE, stdout: 1.5 }), 'RangeError', 'ERR_OUT_OF_RANGE', /"options.stdout"/],
      ['stdout NaN', () => createSubprocessExec(S[0], ['30'], { stdin: PIPE, stdout: NaN }), 'RangeError', 'ERR_OUT_OF_RANGE', /"options.stdout"/],
      ['stdout beyond an int', () => createSubprocessExec(S[0], ['30'], { stdin: PIPE, stdout: 2 ** 31 }), 'RangeError', 'ERR_OUT_OF_RANGE', /"options.stdout"/],
      ['stderr a fileno() that is not an fd', () => createSubprocessExec(S[0], ['30'], { stdin: PIPE, stderr: { fileno: () => -5 } }), 'RangeError', 'ERR_OUT_OF_RANGE'],
      // Pipes for stdin and stdout are made before the spawn finds fd 9999 closed: they are closed again.
      ['stderr an fd that is not open', () => createSubprocessExec(S[0], ['30'], { stdin: PIPE, stdout: PIPE, stderr: 9999 }), 'Error', 'EBADF'],
      ['cwd a number', () => createSubprocessExec(S[0], ['30'], { stdout: PIPE, cwd: 5 as never }), 'TypeError', 'ERR_INVALID_ARG_TYPE', /"options.cwd"/],
      ['cwd null', () => createSubprocessExec(S[0], ['30'], { stdout: PIPE, cwd: null as never }), 'TypeError', 'ERR_INVALID_ARG_TYPE', /"options.cwd"/],
      ['NUL in cwd', () => createSubprocessExec(S[0], ['30'], { stdout: PIPE, cwd: '/\0tmp' }), 'TypeError', 'ERR_INVALID_ARG_VALUE'],
      ['env a string', () => createSubprocessExec(S[0], ['30'], { stdout: PIPE, env: 'A=1' as never }), 'TypeError', 'ERR_INVALID_ARG_TYPE', /"options.env"/],
      ['env null', () => createSubprocessExec(S[0], ['30'], { stdout: PIPE, env: null as never }), 'TypeError', 'ERR_INVALID_ARG_TYPE', /"options.env"/],
      // Object.entries of these gives "0=A=1" and nothing: both would run the child with a wrong environment.
      ['env an array', () => createSubprocessExec(S[0], ['30'], { stdout: PIPE, env: ['A=1'] as never }), 'TypeError', 'ERR_INVALID_ARG_TYPE', /"options.env"/],
      ['env a Map', () => createSubprocessExec(S[0], ['30'], { stdout: PIPE, env: new Map([['A', '1']]) as never }), 'TypeError', 'ERR_INVALID_ARG_TYPE', /"options.env"/],
      ['env value a number', () => createSubprocessExec(S[0], ['30'], { stdout: PIPE, env: { A: 1 } as never }), 'TypeError', 'ERR_INVALID_ARG_TYPE', /"options.env.A"/],
      ['env value null', () => createSubprocessExec(S[0], ['30'], { stdout: PIPE, env: { A: null } as never }), 'TypeError', 'ERR_INVALID_ARG_TYPE', /"options.env.A"/],
      ['env value a Buffer', () => createSubprocessExec(S[0], ['30'], { stdout: PIPE, env: { A: Buffer.from('1') } as never }), 'TypeError', 'ERR_INVALID_ARG_TYPE', /"options.env.A"/],
      ['env name empty', () => createSubprocessExec(S[0], ['30'], { stdout: PIPE, env: { '': 'x' } }), 'TypeError', 'ERR_INVALID_ARG_VALUE', /options.env/],
      ['NUL in an env value', () => createSubprocessExec(S[0], ['30'], { stdout: PIPE, env: { A: 'x\0y' } }), 'TypeError', 'ERR_INVALID_ARG_VALUE'],
      ['asyncio\'s refused encoding', () => createSubprocessExec(S[0], ['30'], { stdout: PIPE, encoding: 'utf8' } as never), 'TypeError', 'ERR_INVALID_ARG_VALUE', /options.encoding/],
    ];
    const before = openFdCount();
    const childrenBefore = childPids();
    const outcomes = await fixture.loop.runUntilComplete(async () => {
      const list: Array<[string, string, string | undefined, string]> = [];
      for (const [what, start] of cases) {
        try {
          const proc = await start();
          proc.kill();
          await proc.wait();
          list.push([what, 'resolved', undefined, '']);
        } catch (error) {
          list.push([what, (error as Error).constructor.name, (error as { code?: string }).code, (error as Error).message]);
        }
      }
      return list;
    });
    expect(outcomes.map(([what, kind, code]) => [what, kind, code])).toEqual(cases.map(([what, , kind, code]) => [what, kind, code]));
    cases.forEach(([, , , , message], i) => {
      if (message !== undefined) expect(outcomes[i]![3]).toMatch(message);
    });
    expect(childPids()).toEqual(childrenBefore);
    expect(openFdCount()).toBe(before);
  });

  it('unknown option keys are refused, no child made; asyncio\'s text options are accepted when false', async () => {
    const childrenBefore = childPids();
    const outcome = await fixture.loop.runUntilComplete(async () => {
      const refused = await createSubprocessExec('echo', ['hi'], { stdout: PIPE, Stdin: 'x' } as never).then(
        () => undefined,
        (e: unknown) => {
          const { name, code, message } = e as { name: string; code: string; message: string };
          return [name, code, message];
        },
      );
      const proc = await createSubprocessExec('echo', ['hi'], { stdout: PIPE, text: false, encoding: null } as never);
      return { refused, out: (await proc.communicate())[0]?.toString() };
    });
    expect(outcome.refused).toEqual(['TypeError', 'ERR_INVALID_ARG_VALUE', expect.stringContaining('"options.Stdin" is not known')]);
    expect(outcome.out).toBe('hi\n');
    expect(childPids()).toEqual(childrenBefore);
  });

  it('the loop closed while a child runs: its pipes close, and it is reaped when it ends', async () => {
    const before = openFdCount();
    const loop = new EventLoop();
    const pid = await loop.runUntilComplete(async () => {
      const proc = await createSubprocessShell('sleep 0.3', { stdin: PIPE, stdout: PIPE, stderr: PIPE });
      return proc.pid;
    });
    loop.close();
    // pidfd route: the reaper's epoll fd and the orphan's pidfd; the loop's own epoll fd is closed.
    expect(openFdCount()).toBe(before + (route === 'pidfd' ? 2 : 0));
    expect(procState(pid)).toMatch(/^[RSD]$/); // alive, not a zombie
    expect(await gone(pid)).toBe(true);
    if (route === 'pidfd') expect(pendingOrphans()).toBe(0);
    expect(openFdCount()).toBe(before);
  });

  it('generator coroutines work too (yield instead of await)', async () => {
    const out = await fixture.loop.runUntilComplete(function* () {
      const proc: Process = yield createSubprocessExec('cat', [], { stdin: PIPE, stdout: PIPE });
      const [stdout]: [Buffer] = yield proc.communicate('from a generator');
      const code: number = yield proc.wait();
      return `${stdout.toString()} ${code}`;
    } as never);
    expect(out).toBe('from a generator 0');
  });

  it("Node's own children and ours side by side: each side reaps only its own", async () => {
    const { spawn } = await import('node:child_process');
    const r = await fixture.loop.runUntilComplete(async () => {
      const node = Array.from({ length: 20 }, (_, i) => new Promise<number | null>((resolve) => spawn('sh', ['-c', `exit ${i % 3}`], { stdio: 'ignore' }).on('exit', resolve)));
      const ours = [];
      for (let i = 0; i < 20; i++) ours.push(await createSubprocessShell(`exit ${(i % 3) + 3}`));
      const oursCodes = [];
      for (const p of ours) oursCodes.push(await p.wait());
      return [await Promise.all(node), oursCodes];
    });
    expect(r[0]).toEqual(Array.from({ length: 20 }, (_, i) => i % 3));
    expect(r[1]).toEqual(Array.from({ length: 20 }, (_, i) => (i % 3) + 3));
  });

  it('a child reaped by someone else (a wait for any child) reports 255 with a warning, as Python', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error & { code?: string }): void => void warnings.push(w.code ?? '');
    process.on('warning', onWarning);
    try {
      const code = await fixture.loop.runUntilComplete(async () => {
        const proc = await createSubprocessShell('sleep 0.3');
        // Steal the exit status, as code calling waitpid(-1) would: synchronously, so that the
        // loop's watcher cannot run first (bounded: 10 s).
        const end = Date.now() + 10_000;
        while (binding.reap(proc.pid, -1) === null && Date.now() < end);
        if (route === 'sigchld') process.kill(process.pid, 'SIGCHLD'); // the stolen exit's own signal may have come first
        return proc.wait();
      });
      await new Promise((resolve) => setImmediate(resolve));
      expect(code).toBe(255);
      expect(warnings).toContain('MUXLOOP_UNKNOWN_CHILD');
    } finally {
      process.removeListener('warning', onWarning);
    }
  });

  it('sendSignal once the transport finished is ESRCH (ProcessLookupError), as in asyncio', async () => {
    const r = await fixture.loop.runUntilComplete(async () => {
      const proc = await createSubprocessExec('true');
      await proc.wait(); // no pipes: the transport finishes right after the exit
      try {
        proc.terminate();
        return 'no error';
      } catch (error) {
        return (error as { code?: string }).code;
      }
    });
    expect(r).toBe('ESRCH');
  });
});

describe.each(availableSelectors())('on the %s backend', (kind) => {
  const fixture = useRealLoop(kind);

  it.each(['pidfd', 'sigchld'])('communicate and wait (%s)', async (route) => {
    if (route === 'sigchld') process.env.MUXLOOP_TEST_NO_PIDFD = '1';
    try {
      const r = await fixture.loop.runUntilComplete(async () => {
        const cat = await createSubprocessExec('cat', [], { stdin: PIPE, stdout: PIPE });
        const [out] = await cat.communicate(Buffer.alloc(4 << 20, 1));
        const sleeper = await createSubprocessExec('sleep', ['0.05']);
        return [out!.length, cat.returncode, await sleeper.wait()];
      });
      expect(r).toEqual([4 << 20, 0, 0]);
    } finally {
      delete process.env.MUXLOOP_TEST_NO_PIDFD;
    }
  });
});

describe('SubprocessProtocol and SubprocessTransport', () => {
  const fixture = useRealLoop('epoll');

  it('callback order, getPipeTransport, stdin flow control', async () => {
    const events: string[] = [];
    let transport: SubprocessTransport | undefined;
    class Proto extends SubprocessProtocol {
      override connectionMade(t: never): void {
        transport = t;
        events.push('connectionMade');
      }
      override pipeDataReceived(fd: number, data: Buffer): void {
        events.push(`data ${fd} ${data.toString().trim()}`);
      }
      override pipeConnectionLost(fd: number, exc: Error | undefined): void {
        events.push(`pipeLost ${fd} ${exc?.message ?? ''}`.trim());
      }
      override pauseWriting(): void {
        events.push('pause');
      }
      override resumeWriting(): void {
        events.push('resume');
      }
      override processExited(): void {
        events.push(`exited ${transport?.getReturncode()}`);
      }
      override connectionLost(exc: Error | undefined): void {
        events.push(`connectionLost ${exc}`);
      }
    }
    await fixture.loop.runUntilComplete(async () => {
      const [t] = await fixture.loop.subprocessShell(() => new Proto(), 'read line; echo "got $line"; echo e >&2; head -c 1000000 >/dev/null');
      const stdin = t.getPipeTransport(0) as import('../lib/net/protocols').WriteTransport;
      expect(t.getPipeTransport(1)).not.toBeNull();
      expect(t.getPipeTransport(3)).toBeNull();
      expect(t.getPid()).toBeGreaterThan(0);
      stdin.write('hello\n');
      stdin.write(Buffer.alloc(1_000_000)); // over the 64 KiB high-water mark: pause, then resume
      stdin.close();
      const done = fixture.loop.createFuture<void>();
      const check = (): void => {
        if (events.some((e) => e.startsWith('connectionLost'))) done.setResult(undefined);
        else fixture.loop.callLater(0.01, check);
      };
      check();
      await done;
    });
    expect(events[0]).toBe('connectionMade');
    expect(events).toContain('data 1 got hello');
    expect(events).toContain('data 2 e');
    expect(events.indexOf('pause')).toBeGreaterThan(0);
    expect(events.indexOf('resume')).toBeGreaterThan(events.indexOf('pause'));
    expect(events).toContain('pipeLost 0');
    expect(events).toContain('pipeLost 1');
    expect(events).toContain('pipeLost 2');
    expect(events).toContain('exited 0');
    expect(events[events.length - 1]).toBe('connectionLost undefined');
  });

  it('transport.close() kills a running child, which is still reaped', async () => {
    const r = await fixture.loop.runUntilComplete(async () => {
      const exited = fixture.loop.createFuture<void>();
      class Proto extends SubprocessProtocol {
        override processExited(): void {
          exited.setResult(undefined);
        }
      }
      const [t] = await fixture.loop.subprocessExec(() => new Proto(), 'sleep', ['30']);
      t.close();
      expect(t.isClosing()).toBe(true);
      await exited;
      return [t.getReturncode(), t.getPid()] as const;
    });
    expect(r[0]).toBe(-9);
    expect(reaped(r[1])).toBe(true);
  });
});

describe('a parent with its stdio closed', () => {
  it('pipes that land on fds 0..2 still reach the child (the dup2 clears close-on-exec)', async () => {
    const script = "const m = require('muxloop'); m.run(async () => { const p = await m.createSubprocessExec('cat', [], { stdin: m.PIPE, stdout: m.PIPE }); const [o] = await p.communicate('through fd 0'); process.stdout.write(JSON.stringify([o.toString(), p.returncode])); });";
    const out = await new Promise<string>((resolve, reject) => {
      // stdin closed (<&-): the first pipe2 of the child program returns fd 0.
      execFile('/bin/sh', ['-c', `exec ${JSON.stringify(process.execPath)} -e ${JSON.stringify(script)} <&-`], { cwd: path.join(__dirname, '..'), timeout: 30_000 }, (error, stdout, stderr) =>
        error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout),
      );
    });
    expect(JSON.parse(out)).toEqual(['through fd 0', 0]);
  });
});

describe('owning mode (child process)', () => {
  it.each(['pidfd', 'sigchld'])('communicate, kill, many children and a loop closed first (%s)', async (route) => {
    const env = { ...process.env, MUXLOOP_TEST_NO_PIDFD: route === 'sigchld' ? '1' : '' };
    const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [path.join(__dirname, 'fixtures', 'subprocess.cjs')], { env, timeout: 60_000 }, (error, stdout, stderr) =>
        resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr }),
      );
    });
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    const report = JSON.parse(out.stdout.trim().split('\n').pop() as string);
    expect(report).toEqual({ echoed: 8 << 20, killed: -9, children: 100, fdsBack: true, orphanGone: true });
  }, 70_000);
});

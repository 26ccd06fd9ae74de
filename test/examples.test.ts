// The examples run as real programs against their client, so they cannot rot. They load the built
// package through its own name (require('muxloop/socket')), as a user's script would.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openFdCount } from './helpers';

const EXAMPLES = join(__dirname, '..', 'examples');

let baseline = 0;
beforeEach(() => {
  baseline = openFdCount();
});
afterEach(() => {
  expect(openFdCount()).toBe(baseline); // the children's pipes are closed too
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Spawns an example; `onLine` sees stdout lines as they come. Killed after 30 s. */
function run(script: string, args: string[], onLine?: (line: string) => void): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(EXAMPLES, script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let pending = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        onLine?.(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function serveOneClient(serverScript: string): Promise<[Run, Run]> {
  let clientRun: Promise<Run> | undefined;
  const server = run(serverScript, ['0', '2'], (line) => {
    const match = /^listening on 127\.0\.0\.1:(\d+)$/.exec(line);
    if (match && !clientRun) clientRun = run('select-echo-client.js', [match[1]]);
  });
  const serverResult = await server;
  expect(clientRun, `server never listened: ${serverResult.stdout}${serverResult.stderr}`).toBeDefined();
  return [serverResult, await clientRun!];
}

function expectEchoes(client: Run): void {
  expect(client.stderr).toBe('');
  expect(client.code).toBe(0);
  const sent = client.stdout.match(/sending ".*"/g) ?? [];
  const received = client.stdout.match(/received ".*"/g) ?? [];
  expect(sent).toHaveLength(6); // 3 messages x 2 sockets
  expect(received.map((line) => line.replace('received', 'sending'))).toEqual(sent);
}

it('select-echo-server.js echoes the two-socket client and stops by itself', async () => {
  const [server, client] = await serveOneClient('select-echo-server.js');
  expectEchoes(client);
  expect(server.stderr).toBe('');
  expect(server.code).toBe(0);
  expect(server.stdout).toMatch(/served 2 connections/);
  expect(server.stdout.match(/^connection from /gm)).toHaveLength(2);
}, 60_000);

it('selectors-echo-server.js dispatches key.data(key.fileobj, mask) and stops by itself', async () => {
  const [server, client] = await serveOneClient('selectors-echo-server.js');
  expectEchoes(client);
  expect(server.stderr).toBe('');
  expect(server.code).toBe(0);
  expect(server.stdout).toMatch(/served 2 connections/);
  expect(server.stdout.match(/^accepted /gm)).toHaveLength(2);
  expect(server.stdout.match(/^echoing /gm)!.length).toBeGreaterThanOrEqual(6);
}, 60_000);

describe('streams examples', () => {
  it('streams-echo-server.js echoes streams-echo-client.js (generator style) and stops by itself', async () => {
    let clientRun: Promise<Run> | undefined;
    const server = await run('streams-echo-server.js', ['0', '1'], (line) => {
      const match = /^listening on 127\.0\.0\.1:(\d+)$/.exec(line);
      if (match && !clientRun) clientRun = run('streams-echo-client.js', [match[1]]);
    });
    expect(clientRun, `server never listened: ${server.stdout}${server.stderr}`).toBeDefined();
    const client = await clientRun!;
    expect(client.stderr).toBe('');
    expect(client.code).toBe(0);
    const sent = client.stdout.match(/sending ".*"/g) ?? [];
    expect(sent).toHaveLength(3);
    expect((client.stdout.match(/received ".*"/g) ?? []).map((line) => line.replace('received', 'sending'))).toEqual(sent);
    expect(server.stderr).toBe('');
    expect(server.code).toBe(0);
    expect(server.stdout).toMatch(/served 1 connections/);
    expect(server.stdout.match(/^echoing /gm)).toHaveLength(3);
  }, 60_000);

  it('http-fetch.js fetches 30 resources correctly; gather is fastest, sequential slowest', async () => {
    const result = await run('http-fetch.js', []);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.stdout.trim().split('\n').pop()!) as Record<string, { seconds: number; correct: number }> & {
      count: number;
      latency: number;
    };
    expect(summary.count).toBe(30);
    for (const way of ['sequential', 'gather', 'semaphore3']) expect(summary[way].correct, way).toBe(30);
    // 30 x 80 ms one by one is >= 2.4 s; all at once about one latency; 3 at a time about ten.
    // Only the ordering is asserted, with wide margins: the machine is shared.
    expect(summary.sequential.seconds).toBeGreaterThanOrEqual(30 * summary.latency);
    expect(summary.gather.seconds).toBeLessThan(summary.sequential.seconds / 3);
    expect(summary.semaphore3.seconds).toBeLessThan(summary.sequential.seconds);
    expect(summary.semaphore3.seconds).toBeGreaterThanOrEqual(10 * summary.latency);
    expect(summary.gather.seconds).toBeLessThan(summary.semaphore3.seconds);
  }, 60_000);
});

it('executor-fetch.js: blocking fetches in the default thread pool, gathered, while the loop keeps ticking', async () => {
  const result = await run('executor-fetch.js', ['6', '0.1']);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  const summary = JSON.parse(result.stdout.trim().split('\n').pop()!) as { pages: string[]; ticks: number; seconds: number };
  expect(summary.pages).toEqual(Array.from({ length: 6 }, (_, i) => `page /item/${i}`));
  // The loop was not blocked: its 10 ms ticker ran while the threads waited (no timing bound).
  expect(summary.ticks).toBeGreaterThan(0);
}, 60_000);

it('protocol-echo-server.js echoes its own --client and stops after one connection', async () => {
  let clientRun: Promise<Run> | undefined;
  const server = run('protocol-echo-server.js', ['0', '1'], (line) => {
    const match = /^listening on 127\.0\.0\.1:(\d+)$/.exec(line);
    if (match && !clientRun) clientRun = run('protocol-echo-server.js', ['--client', match[1], 'Hello muxloop']);
  });
  const serverResult = await server;
  expect(clientRun, `server never listened: ${serverResult.stdout}${serverResult.stderr}`).toBeDefined();
  const client = await clientRun!;
  expect(client.stderr).toBe('');
  expect(client.code).toBe(0);
  expect(client.stdout).toBe('data sent: "Hello muxloop"\ndata received: "Hello muxloop"\nthe server closed the connection\n');
  expect(serverResult.stderr).toBe('');
  expect(serverResult.code).toBe(0);
  expect(serverResult.stdout).toMatch(/^connection from 127\.0\.0\.1:\d+$/m);
  expect(serverResult.stdout).toMatch(/data received: "Hello muxloop"\nserved 1 connections\n$/);
}, 60_000);

it('udp-echo.js prints the round trip', async () => {
  const result = await run('udp-echo.js', ['ping']);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  expect(result.stdout).toMatch(/server: received "ping" from 127\.0\.0\.1:\d+\nclient: received "ping" \(round trip \d+ us\)\n$/);
}, 60_000);

// The socket coroutines in a child process, in owning and hosted mode, on every backend: a 256 KiB
// echo over loopback TCP, with the client connecting to 'localhost' (resolved in libuv's thread
// pool while the loop runs). Children load the built package (`npm test` runs tsc first).
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { availableSelectors } from '../lib/selectors';

const FIXTURES = path.join(__dirname, 'fixtures');

function runChild(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(FIXTURES, 'net-sock-echo.cjs'), ...args], { timeout: 20_000, cwd: FIXTURES }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stdout, stderr });
    });
  });
}

describe.each(availableSelectors())('%s backend, child process', (kind) => {
  it.each(['owning', 'hosted'])('sock* echo of 256 KiB in %s mode', async (mode) => {
    const result = await runChild([mode, kind]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout.trim())).toEqual({ mode, bytes: 256 * 1024 });
  });
});

// Tasks in child processes: run() under Ctrl-C (SIGINT), runSync() at CommonJS top level, and
// the reports made at garbage collection (reliability.md D1, D2; python-anchor.md 49, 50).
// Children load the built package (`npm test` runs tsc first).
import { execFile, spawn } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const FIXTURES = path.join(__dirname, 'fixtures');

interface ChildResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runChild(script: string, args: string[] = [], nodeArgs: string[] = []): Promise<ChildResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...nodeArgs, path.join(FIXTURES, script), ...args],
      { timeout: 20_000, cwd: FIXTURES },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Starts the child, sends SIGINT once it prints "ready", and collects its output. */
function interruptChild(script: string, args: string[]): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(FIXTURES, script), ...args], { cwd: FIXTURES });
    let stdout = '';
    let stderr = '';
    let sent = false;
    const guard = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (!sent && stdout.includes('ready')) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(guard);
      resolve({ code, stdout, stderr });
    });
  });
}

function lastJson(result: ChildResult): Record<string, unknown> {
  const line = result.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    throw new Error(`child printed no JSON (code ${result.code}):\n${result.stdout}\n${result.stderr}`);
  }
}

describe.each(['async', 'generator'])('run() and Ctrl-C, %s tasks', (style) => {
  it('SIGINT cancels main and every task, run() rejects with KeyboardInterrupt, the loop is closed', async () => {
    const result = await interruptChild('run-sigint.cjs', [style]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(lastJson(result)).toEqual({
      error: 'KeyboardInterrupt',
      seen: ['a', 'b', 'background', 'main'],
      closed: true,
      sigintListeners: 0,
    });
  });
});

describe('runSync', () => {
  it('owning mode at CommonJS top level: both styles, leftover tasks cancelled; refused elsewhere', async () => {
    const result = await runChild('run-sync.cjs');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(lastJson(result)).toEqual({
      generator: 'gen!',
      backgroundCancelled: true,
      async: 'async',
      badMain: 'ERR_INVALID_ARG_TYPE',
      refused: 'ERR_LOOP_CANNOT_OWN_THREAD',
      nested: 'ERR_LOOP_RUNNING',
      hosted: 'hosted',
      currentLoopCleared: true,
    });
  });
});

describe('reports at garbage collection (D1, D2, scenario 50)', () => {
  it('lost task exceptions and destroyed pending tasks are reported once, never as unhandled rejections', async () => {
    const result = await runChild('task-gc.cjs', [], ['--expose-gc']);
    expect(result.code).toBe(0);
    expect(lastJson(result)).toEqual({
      reports: [
        'Task exception was never retrieved: lost-async',
        'Task exception was never retrieved: lost-generator',
        'Task was destroyed but it is pending!',
        'Task was destroyed but it is pending!',
      ],
      unhandled: 0,
    });
  });
});

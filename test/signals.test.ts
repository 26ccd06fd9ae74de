// Signal handlers on the loop (asyncio's add_signal_handler/remove_signal_handler) and Ctrl-C in
// runUntilComplete/runUntilCompleteSync (python-anchor.md section 3.6). In-process tests use
// SIGUSR2 and SIGWINCH (vitest's forks pool runs each file in its own process's main thread);
// SIGINT, SIGTERM and owning mode run in children (test/fixtures/signals.cjs, built dist/).
import { spawn } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { type EventLoop, newEventLoop } from '../lib';

const SIGNALS = osConstants.signals;

function withLoop(fn: (loop: EventLoop) => Promise<void> | void): () => Promise<void> {
  return async () => {
    const loop = newEventLoop();
    try {
      await fn(loop);
    } finally {
      loop.close();
    }
  };
}

function codeOf(fn: () => unknown): [string, string] {
  try {
    fn();
  } catch (error) {
    return [(error as Error).constructor.name, (error as { code: string }).code];
  }
  throw new Error('did not throw');
}

describe('addSignalHandler / removeSignalHandler', () => {
  it('runs the callback as a loop callback with its arguments, never inside the signal delivery', withLoop(async (loop) => {
    const calls: unknown[][] = [];
    let delivering = false;
    loop.addSignalHandler('SIGUSR2', (a: string, b: number) => {
      calls.push([a, b, delivering]);
      loop.stop();
    }, 'x', 7);
    loop.callSoon(() => {
      delivering = true;
      process.kill(process.pid, 'SIGUSR2');
      delivering = false;
    });
    await loop.runForever();
    expect(calls).toEqual([['x', 7, false]]);
    expect(loop.removeSignalHandler('SIGUSR2')).toBe(true);
  }));

  it('takes signal numbers; a second handler replaces the first; remove says whether there was one', withLoop(async (loop) => {
    const before = process.listenerCount('SIGUSR2');
    const seen: string[] = [];
    loop.addSignalHandler(SIGNALS.SIGUSR2, () => seen.push('first'));
    loop.addSignalHandler('SIGUSR2', () => {
      seen.push('second');
      loop.stop();
    });
    expect(process.listenerCount('SIGUSR2')).toBe(before + 1);
    loop.callSoon(() => process.kill(process.pid, 'SIGUSR2'));
    await loop.runForever();
    expect(seen).toEqual(['second']);
    expect(loop.removeSignalHandler(SIGNALS.SIGUSR2)).toBe(true);
    expect(loop.removeSignalHandler('SIGUSR2')).toBe(false);
    expect(loop.removeSignalHandler('SIGWINCH')).toBe(false);
    expect(process.listenerCount('SIGUSR2')).toBe(before);
  }));

  it('a signal that arrives while the loop is stopped runs at the next run', withLoop(async (loop) => {
    let ran = 0;
    loop.addSignalHandler('SIGWINCH', () => ran++);
    process.kill(process.pid, 'SIGWINCH');
    // Node delivers the signal from its own loop; wait for that, then run one iteration.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(ran).toBe(0);
    loop.stop();
    await loop.runForever();
    expect(ran).toBe(1);
    loop.removeSignalHandler('SIGWINCH');
  }));

  it('refuses bad signals and callbacks with clear errors, registering nothing', withLoop((loop) => {
    const before = process.listenerCount('SIGUSR2');
    expect(codeOf(() => loop.addSignalHandler('SIGKILL', () => {}))).toEqual(['RangeError', 'ERR_INVALID_ARG_VALUE']);
    expect(codeOf(() => loop.addSignalHandler(SIGNALS.SIGSTOP, () => {}))).toEqual(['RangeError', 'ERR_INVALID_ARG_VALUE']);
    expect(codeOf(() => loop.addSignalHandler('SIGNOPE' as NodeJS.Signals, () => {}))).toEqual(['TypeError', 'ERR_UNKNOWN_SIGNAL']);
    expect(codeOf(() => loop.addSignalHandler(9999, () => {}))).toEqual(['RangeError', 'ERR_UNKNOWN_SIGNAL']);
    expect(codeOf(() => loop.addSignalHandler(1.5, () => {}))).toEqual(['RangeError', 'ERR_UNKNOWN_SIGNAL']);
    expect(codeOf(() => loop.addSignalHandler({} as never, () => {}))).toEqual(['TypeError', 'ERR_UNKNOWN_SIGNAL']);
    expect(codeOf(() => loop.addSignalHandler('SIGUSR2', 'nope' as never))).toEqual(['TypeError', 'ERR_INVALID_ARG_TYPE']);
    expect(codeOf(() => loop.addSignalHandler('SIGUSR2', async () => {}))).toEqual(['TypeError', 'ERR_INVALID_ARG_TYPE']);
    expect(codeOf(() => loop.addSignalHandler('SIGUSR2', function* () {}))).toEqual(['TypeError', 'ERR_INVALID_ARG_TYPE']);
    expect(codeOf(() => loop.removeSignalHandler('SIGNOPE' as NodeJS.Signals))).toEqual(['TypeError', 'ERR_UNKNOWN_SIGNAL']);
    expect(process.listenerCount('SIGUSR2')).toBe(before);
  }));

  it('close() removes the loop\'s handlers; a closed loop refuses new ones', () => {
    const before = process.listenerCount('SIGUSR2');
    const loop = newEventLoop();
    loop.addSignalHandler('SIGUSR2', () => {});
    loop.addSignalHandler('SIGWINCH', () => {});
    expect(process.listenerCount('SIGUSR2')).toBe(before + 1);
    loop.close();
    expect(process.listenerCount('SIGUSR2')).toBe(before);
    expect(process.listenerCount('SIGWINCH')).toBe(0);
    expect(codeOf(() => loop.addSignalHandler('SIGUSR2', () => {}))).toEqual(['Error', 'ERR_LOOP_CLOSED']);
  });

  it('is refused in a worker thread', async () => {
    const entry = path.join(__dirname, '..', 'dist', 'index.js');
    const code = `
      const { parentPort } = require('node:worker_threads');
      const loop = require(${JSON.stringify(entry)}).newEventLoop();
      try { loop.addSignalHandler('SIGUSR2', () => {}); parentPort.postMessage('registered'); }
      catch (error) { parentPort.postMessage(error.code); }
      finally { loop.close(); }`;
    const worker = new Worker(code, { eval: true });
    const message = await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    expect(message).toBe('ERR_WORKER_UNSUPPORTED_OPERATION');
  });
});

// ------------------------------------------------------------------------------------------------
// Children: SIGTERM handlers that keep the loop alive, Ctrl-C, both modes.

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the fixture and sends `signals[i]` each time "ready" has been printed i+1 times. */
function signalChild(args: string[], signals: NodeJS.Signals[]): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const fixtures = path.join(__dirname, 'fixtures');
    const child = spawn(process.execPath, [path.join(fixtures, 'signals.cjs'), ...args], { cwd: fixtures });
    let stdout = '';
    let stderr = '';
    let sent = 0;
    const guard = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const readies = stdout.split('\n').filter((line) => line.startsWith('ready')).length;
      // Each signal waits for its "ready" line (two signals sent at once may arrive as one).
      while (sent < signals.length && sent < readies) {
        child.kill(signals[sent++]);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

function lastJson(result: ChildResult): Record<string, unknown> {
  const line = result.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    throw new Error(`child printed no JSON (code ${result.code}, signal ${result.signal}):\n${result.stdout}\n${result.stderr}`);
  }
}

describe.each(['hosted', 'owning'])('signals in a child, %s mode', (mode) => {
  it('a SIGTERM handler keeps runForever waiting and runs once per signal', async () => {
    const result = await signalChild(['handler', mode], ['SIGTERM', 'SIGTERM']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(lastJson(result)).toEqual({
      outcome: {}, // { result: undefined } in JSON
      calls: [['x', 42, true], ['x', 42, true]],
      sigintListeners: 0,
      sigtermListeners: 0,
    });
  });

  it('Ctrl-C cancels the main task and the run ends with KeyboardInterrupt', async () => {
    const result = await signalChild(['interrupt', mode], ['SIGINT']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(lastJson(result)).toEqual({
      cancelled: true,
      finallyRan: true,
      outcome: { error: 'KeyboardInterrupt' },
      sigintListeners: 0,
      sigtermListeners: 0,
    });
  });

  it('a second Ctrl-C kills the process at once when the first one was swallowed', async () => {
    const result = await signalChild(['stubborn', mode], ['SIGINT', 'SIGINT']);
    expect(result.stdout).toContain('ready again');
    expect(result.signal).toBe('SIGINT');
    expect(result.code).toBe(null);
  });

  it('leaves SIGINT alone when the program listens for it itself', async () => {
    const result = await signalChild(['foreign', mode], ['SIGINT']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(lastJson(result)).toEqual({
      outcome: { result: 'finished' },
      heard: 1,
      sigintListeners: 1,
      sigtermListeners: 0,
    });
  });
});

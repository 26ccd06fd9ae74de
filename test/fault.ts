// Fault injection for tests (issue 17): builds test/native/fault_shim.c with the system cc into a
// temp dir once per test process, and runs node scripts under it in child processes, so that
// node's own syscalls in the test runner are never disturbed. See the shim's header for the rules.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..');
let shim: string | null | undefined;

/** Path of the built shim, or null (with the reason in `shimError`) when no C compiler works. */
export function faultShim(): string | null {
  if (shim !== undefined) return shim;
  const out = join(mkdtempSync(join(tmpdir(), 'muxloop-fault-')), 'fault_shim.so');
  const cc = process.env.CC ?? 'cc';
  const r = spawnSync(cc, ['-O1', '-g', '-shared', '-fPIC', '-Wall', '-Wextra', '-o', out, join(ROOT, 'test', 'native', 'fault_shim.c'), '-ldl', '-lpthread'], {
    encoding: 'utf8',
  });
  shimError = r.status === 0 ? '' : `${cc}: ${r.error?.message ?? r.stderr}`;
  shim = r.status === 0 ? out : null;
  return shim;
}
/** Why `faultShim()` returned null. */
export let shimError = '';

/** Lines every fault script starts with: the package, and arm/off/fired over the shim's markers. */
const PRELUDE = `
const fs = require('node:fs');
const m = require(${JSON.stringify(join(ROOT, 'dist', 'index.js'))});
const { binding } = require(${JSON.stringify(join(ROOT, 'dist', 'core', 'native.js'))});
const arm = (spec) => { if (!fs.existsSync('/dev/null/muxloop-fault/arm/' + spec)) throw new Error('bad fault spec ' + spec); };
const off = () => fs.existsSync('/dev/null/muxloop-fault/off');
const fired = () => fs.existsSync('/dev/null/muxloop-fault/fired');
const { fdList, fdsGained } = require(${JSON.stringify(join(ROOT, 'test', 'fixtures', 'fds.cjs'))});
const errInfo = (e) => e && ({ name: e.name, code: e.code, errno: e.errno, syscall: e.syscall, message: e.message });
const out = (value) => process.stdout.write(JSON.stringify(value) + '\\n');
`;

/** Result of a fault script: its last stdout line parsed as JSON, and the raw streams. */
export interface FaultRun<T> {
  status: number | null;
  signal: NodeJS.Signals | null;
  result: T;
  stdout: string;
  stderr: string;
}

/**
 * Runs `body` (CommonJS, after the prelude above) in a child node with the shim preloaded (after
 * any sanitizer runtime already in LD_PRELOAD, which must stay first). `env.MUXLOOP_FAULT` arms
 * rules for the whole child; scripts usually arm() just around the call under test.
 */
export function runFaulty<T = unknown>(body: string, options: { env?: Record<string, string>; nodeArgs?: string[]; timeoutMs?: number } = {}): FaultRun<T> {
  const path = faultShim();
  if (path === null) throw new Error(`no fault shim: ${shimError}`);
  const preload = [process.env.LD_PRELOAD, path].filter(Boolean).join(':');
  const r = spawnSync(process.execPath, [...(options.nodeArgs ?? []), '-e', PRELUDE + body], {
    encoding: 'utf8',
    env: { ...process.env, ...options.env, LD_PRELOAD: preload },
    timeout: options.timeoutMs ?? 60_000,
  });
  const lines = (r.stdout ?? '').trim().split('\n');
  let result: T;
  try {
    result = JSON.parse(lines[lines.length - 1]) as T;
  } catch {
    throw new Error(`fault script printed no JSON (status ${r.status}, signal ${r.signal}):\n${r.stdout}\n${r.stderr}`);
  }
  return { status: r.status, signal: r.signal, result, stdout: r.stdout, stderr: r.stderr };
}

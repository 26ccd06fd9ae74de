// The short versions of the soak scripts in test/soak/ (reliability.md F5, F6; issue 17). Each
// runs in a child process with --expose-gc and prints its figures; the long versions are the same
// scripts with their default sizes (RELIABILITY.md). RSS is held to 25% here, not the long runs'
// 5%: a few seconds are mostly warm-up, and the check must not depend on the machine's load.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

function runSoak(script: string, args: string[]): { checks: Record<string, boolean>; text: string } {
  const r = spawnSync(process.execPath, ['--expose-gc', path.join(__dirname, 'soak', script), ...args], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  const text = r.stdout + r.stderr;
  const json = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  expect(json, text).toBeDefined();
  console.log(text.split('\n').filter((l) => !l.startsWith('{')).join('\n'));
  return { checks: JSON.parse(json as string).checks, text };
}

describe.skipIf(process.platform !== 'linux')('soak, short versions', () => {
  it('F5: 1,000 concurrent echo connections for 5 s, then all closed: fds back, RSS back, no transport retained', () => {
    const { checks, text } = runSoak('echo-soak.cjs', ['--connections', '1000', '--seconds', '5', '--settle', '0', '--rss-tolerance', '0.25']);
    expect(Object.keys(checks).length).toBeGreaterThanOrEqual(7);
    for (const [name, ok] of Object.entries(checks)) expect(ok, `${name}\n${text}`).toBe(true);
  }, 120_000);

  it('F6: 20,000 connect/close cycles: fds and RSS flat, EADDRNOTAVAIL a clean error', () => {
    const { checks, text } = runSoak('churn-soak.cjs', ['--cycles', '20000', '--rss-tolerance', '0.25']);
    expect(Object.keys(checks).length).toBeGreaterThanOrEqual(7);
    for (const [name, ok] of Object.entries(checks)) expect(ok, `${name}\n${text}`).toBe(true);
  }, 120_000);
});

// Every ```js (and ```mjs) block of the README runs as written, so the examples cannot rot.
// Excerpts of longer programs use ```javascript fences and are not run here; the programs they come
// from live in examples/ and are run by their own tests.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '..');
const readme = readFileSync(resolve(ROOT, 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/```(js|mjs)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1], code: m[2] }));

describe('README examples', () => {
  it('has runnable examples', () => {
    expect(blocks.length).toBeGreaterThan(0);
  });

  it.each(blocks.map((b, i) => [i + 1, b.lang, b.code] as const))('example %i (%s) runs', (_i, lang, code) => {
    const args = lang === 'mjs' ? ['--input-type=module', '-e', code] : ['-e', code];
    const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(0);
  });
});

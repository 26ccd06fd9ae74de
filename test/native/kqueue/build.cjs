#!/usr/bin/env node
// TEST ONLY: builds the addon for Linux with the real native/backends/selector_kqueue.cc compiled
// against the kqueue emulation beside this file (sys/event.h, kqueue_emulation.cc), with
// -Wall -Wextra -Werror. The target is the project's binding.gyp with these changes, so the two
// builds cannot drift apart. Output: test/native/kqueue/out/build/Release/muxloop.node; vitest's
// "kqueue" project loads it through MUXLOOP_TEST_ADDON (lib/core/native.ts). Skips the build
// when the output is newer than every input. Exit status 0 on success; prints the compiler's
// output on failure. Rebuilds incrementally when only sources changed.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const HERE = __dirname;
const OUT = path.join(HERE, 'out');
const ADDON = path.join(OUT, 'build', 'Release', 'muxloop.node');

function newestMtime(paths) {
  let newest = 0;
  for (const p of paths) {
    const st = fs.statSync(p);
    if (st.isDirectory()) {
      const entries = fs.readdirSync(p).filter((e) => e !== 'out').map((e) => path.join(p, e));
      newest = Math.max(newest, newestMtime(entries));
    } else {
      newest = Math.max(newest, st.mtimeMs);
    }
  }
  return newest;
}

function gypTarget() {
  // binding.gyp is JSON plus gyp's whole-line '#' comments.
  const text = fs.readFileSync(path.join(ROOT, 'binding.gyp'), 'utf8').replace(/^\s*#.*$/gm, '');
  const gyp = JSON.parse(text);
  const target = gyp.targets.find((t) => t.target_name === 'muxloop');
  // gyp wants paths relative to the .gyp file.
  const abs = (src) => path.relative(OUT, path.join(ROOT, src));
  target.sources = [
    ...target.sources.map(abs),
    abs('native/backends/selector_kqueue.cc'),
    path.relative(OUT, path.join(HERE, 'kqueue_emulation.cc')),
  ];
  // The emulated <sys/event.h> first; then the project's own include directories.
  target.include_dirs = [path.relative(OUT, HERE), ...target.include_dirs.map((d) => (d.startsWith('<') ? d : abs(d)))];
  target.defines = [...target.defines, 'MUXLOOP_KQUEUE_EMULATION=1'];
  target.cflags_cc = [...target.cflags_cc, '-Werror'];
  for (const cond of target.conditions ?? []) {
    for (const branch of cond.slice(1)) if (Array.isArray(branch.sources)) branch.sources = branch.sources.map(abs);
  }
  return gyp;
}

function main() {
  const inputs = [path.join(ROOT, 'binding.gyp'), path.join(ROOT, 'native'), HERE];
  if (fs.existsSync(ADDON) && fs.statSync(ADDON).mtimeMs > newestMtime(inputs)) return;
  fs.mkdirSync(OUT, { recursive: true });
  const gypFile = path.join(OUT, 'binding.gyp');
  const gyp = JSON.stringify(gypTarget(), null, 2) + '\n';
  // The same target as last time: an incremental make (only changed sources recompile).
  const incremental =
    fs.existsSync(path.join(OUT, 'build', 'Makefile')) && fs.existsSync(gypFile) && fs.readFileSync(gypFile, 'utf8') === gyp;
  if (!incremental) fs.writeFileSync(gypFile, gyp);
  // node-gyp looks for node-addon-api from the build directory's package: resolve from the root.
  const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js', { paths: [ROOT] });
  const args = [nodeGyp, incremental ? 'build' : 'rebuild', '--jobs', '2'];
  // Outside npm (npx vitest), npm's nodedir setting is not in the environment: use the running
  // Node's own headers when it has them, as node-gyp would after downloading them.
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  if (!process.env.npm_config_nodedir && fs.existsSync(path.join(prefix, 'include', 'node', 'node.h'))) {
    args.push(`--nodedir=${prefix}`);
  }
  const started = Date.now();
  try {
    execFileSync(process.execPath, args, {
      cwd: OUT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_PATH: path.join(ROOT, 'node_modules') },
    });
  } catch (error) {
    process.stderr.write(String(error.stdout ?? '') + String(error.stderr ?? ''));
    throw new Error('kqueue emulation build failed (test/native/kqueue/build.cjs)');
  }
  process.stderr.write(`kqueue emulation addon built in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}

module.exports = { ADDON, build: main };
if (require.main === module) main();

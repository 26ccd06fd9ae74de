'use strict';
// Prints, as JSON, what binding.gyp compiles on this platform: { sources, defines, libraries }.
// CMakeLists.txt reads it, so that the cmake-js build and node-gyp's build compile the same
// files with the same defines, from one list. gyp's condition expressions are Python; the few
// forms binding.gyp uses (==, or, and, string literals, OS and node_* variables) are rewritten
// to JS and evaluated with the values node-gyp would use (OS from process.platform, the rest
// from process.config.variables, which is Node's own config.gypi).
const fs = require('node:fs');
const path = require('node:path');

const gypOs = { darwin: 'mac', linux: 'linux', freebsd: 'freebsd', openbsd: 'openbsd', netbsd: 'netbsd', win32: 'win' };
const file = path.join(__dirname, '..', 'binding.gyp');
// gyp files are Python literals: '#' comments, otherwise JSON here.
const text = fs.readFileSync(file, 'utf8').replace(/^\s*#.*$/gm, '');
const gyp = JSON.parse(text);
const target = gyp.targets[0];

// binding.gyp's own "variables" ("name%": default) under Node's, as gyp layers them.
const defaults = Object.fromEntries(Object.entries(gyp.variables ?? {}).map(([k, v]) => [k.replace(/%$/, ''), v]));
const vars = { ...defaults, ...process.config.variables, OS: gypOs[process.platform] ?? process.platform };
function holds(condition) {
  const js = condition
    .replace(/\bor\b/g, '||')
    .replace(/\band\b/g, '&&')
    .replace(/\bnot\b/g, '!')
    .replace(/==/g, '===')
    .replace(/!=/g, '!==')
    .replace(/\b([A-Za-z_][A-Za-z0-9_]*)\b(?=(?:[^']*'[^']*')*[^']*$)/g, (name) => JSON.stringify(String(vars[name] ?? '')));
  return Boolean(Function(`"use strict"; return (${js});`)());
}

const out = { sources: [...(target.sources ?? [])], defines: [...(target.defines ?? [])], libraries: [...(target.libraries ?? [])] };
for (const [condition, then, otherwise] of target.conditions ?? []) {
  const branch = holds(condition) ? then : otherwise;
  if (!branch) continue;
  out.sources.push(...(branch.sources ?? []));
  out.defines.push(...(branch.defines ?? []));
  out.libraries.push(...(branch.libraries ?? []));
}
process.stdout.write(JSON.stringify(out));

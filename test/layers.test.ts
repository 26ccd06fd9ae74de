// The layout's rules (issue 11, DESIGN.md section 1), checked over the compiled package: no
// import circle between lib/ modules, and imports between folders only point down the layers.
// Type-only imports are erased by tsc and are not seen here, on purpose: they cost nothing at
// run time (Future.getLoop() names the concrete loop type, for instance).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const DIST = join(__dirname, '..', 'dist');

/** Folders (and top-level modules) from the bottom up; a module may import its own layer and below. */
const LAYERS: string[][] = [
  ['core'],
  ['selectors', 'socket'],
  ['tasks'],
  ['loop'],
  ['net'],
  ['streams'],
  ['loops.js', 'runners.js', 'index.js'],
];

function layerOf(file: string): number {
  const top = relative(DIST, file).split('/')[0];
  const index = LAYERS.findIndex((layer) => layer.includes(top));
  if (index < 0) throw new Error(`${relative(DIST, file)} is in no layer: add its folder to LAYERS`);
  return index;
}

function modules(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return modules(path);
    return name.endsWith('.js') ? [path] : [];
  });
}

function resolveModule(from: string, spec: string): string {
  const base = resolve(dirname(from), spec);
  for (const candidate of [base, `${base}.js`, join(base, 'index.js')]) {
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // next candidate
    }
  }
  throw new Error(`${relative(DIST, from)}: cannot resolve ${spec}`);
}

/** Every module's relative require()s, as tsc emits them (CommonJS). */
function graph(): Map<string, string[]> {
  const edges = new Map<string, string[]>();
  for (const file of modules(DIST)) {
    const source = readFileSync(file, 'utf8');
    const deps = [...source.matchAll(/require\("(\.{1,2}\/[^"]*)"\)/g)].map((m) => resolveModule(file, m[1]));
    edges.set(file, deps);
  }
  return edges;
}

describe('lib/ layout', () => {
  const edges = graph();

  it('the graph was read (dist/ is built by pretest)', () => {
    expect(edges.size).toBeGreaterThan(20);
    expect(edges.get(join(DIST, 'index.js'))?.length).toBeGreaterThan(10);
  });

  it('has no import circle', () => {
    const cycles: string[] = [];
    const state = new Map<string, 1 | 2>(); // 1: on the stack, 2: done
    const stack: string[] = [];
    const visit = (node: string): void => {
      state.set(node, 1);
      stack.push(node);
      for (const dep of edges.get(node) ?? []) {
        if (state.get(dep) === 1) {
          cycles.push([...stack.slice(stack.indexOf(dep)), dep].map((f) => relative(DIST, f)).join(' -> '));
        } else if (state.get(dep) === undefined) visit(dep);
      }
      stack.pop();
      state.set(node, 2);
    };
    for (const node of edges.keys()) if (state.get(node) === undefined) visit(node);
    expect(cycles).toEqual([]);
  });

  it('imports point down the layers: core <- selectors, socket <- tasks <- loop <- net <- streams <- entry points', () => {
    const upward: string[] = [];
    for (const [file, deps] of edges) {
      for (const dep of deps) {
        if (layerOf(dep) > layerOf(file)) upward.push(`${relative(DIST, file)} -> ${relative(DIST, dep)}`);
      }
    }
    expect(upward).toEqual([]);
  });

  it('core/events (the abstract loop, the handles) imports nothing of ours but core/errors', () => {
    const deps = (edges.get(join(DIST, 'core', 'events.js')) ?? []).map((f) => relative(DIST, f));
    expect(deps).toEqual(['core/errors.js']);
    expect((edges.get(join(DIST, 'net', 'protocols.js')) ?? []).every((f) => relative(DIST, f).startsWith('core/'))).toBe(true);
  });

  it('no loop method is patched onto a prototype', () => {
    const patched = [...edges.keys()].filter((file) => /Object\.assign\([A-Za-z]+\.prototype/.test(readFileSync(file, 'utf8')));
    expect(patched).toEqual([]);
  });
});

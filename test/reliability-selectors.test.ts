// Generation-safe events at the selector level (issue 17; reliability.md A16, A21), on every
// backend, against the real kernel.
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { binding } from '../lib/core/native';
import { availableSelectors, EVENT_READ, EVENT_WRITE, selectorClass, type SelectorKind } from '../lib/selectors';
import { FdScope, openFdCount } from './helpers';

const softNofile = (() => {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    return Number(line?.split(/\s+/)[3]);
  } catch {
    return 1024;
  }
})();

describe.each(availableSelectors())('%s backend', (kind: SelectorKind) => {
  const fds = new FdScope();
  let baseline = openFdCount();
  afterEach(() => {
    fds.closeAll();
    expect(openFdCount()).toBe(baseline);
  });

  // select(2) holds fds below FD_SETSIZE only, so it gets as many as fit, with a proportional batch.
  const wanted = kind === 'select' ? 800 : 5000;
  const batch = kind === 'select' ? 164 : 1024;
  it.skipIf(kind !== 'select' && softNofile < 6000)(
    `A16: ${wanted} ready fds with a batch of ${batch} are all served within 5 waits, fairly`,
    () => {
      baseline = openFdCount();
      const native = new binding.Selector(kind);
      try {
        const registered: number[] = [];
        while (registered.length < wanted) {
          const [a, b] = fds.socketpair();
          if (kind === 'select' && b > native.maxFd) break;
          native.add(a, EVENT_WRITE);
          native.add(b, EVENT_WRITE);
          registered.push(a, b);
        }
        if (kind === 'select') expect(registered.length).toBeGreaterThan(600);
        const out = new Int32Array(2 * batch);
        const served = new Map<number, number>();
        const perWait: number[] = [];
        let repeatsBeforeAll = 0;
        for (let call = 0; call < 5 && served.size < registered.length; call++) {
          const n = native.wait(0, out);
          perWait.push(n);
          for (let i = 0; i < n; i++) {
            const seen = served.get(out[2 * i]) ?? 0;
            if (seen > 0 && served.size < registered.length) repeatsBeforeAll++;
            served.set(out[2 * i], seen + 1);
          }
        }
        // Every fd was served, every wait filled its batch, and none was served twice before all
        // were served once (a rotating start, not "the first 1024 every time").
        expect(served.size).toBe(registered.length);
        expect(perWait.slice(0, -1).every((n) => n === batch)).toBe(true);
        expect(repeatsBeforeAll).toBe(0);
      } finally {
        native.close();
      }
    },
    60_000,
  );

  it('A21: an fd closed and its number reused within one batch: the queued event stays with the old key, never the new owner', () => {
    baseline = openFdCount();
    const sel = new (selectorClass(kind))<string>();
    try {
      const [a, aPeer] = fds.socketpair();
      const [b, bPeer] = fds.socketpair();
      sel.register(a, EVENT_READ, 'A');
      sel.register(b, EVENT_READ, 'B');
      binding.write(aPeer, Buffer.from('x'));
      binding.write(bPeer, Buffer.from('x'));
      const ready = sel.select(0);
      expect(ready.map(([k]) => k.data).sort()).toEqual(['A', 'B']);
      const delivered: string[] = [];
      let reusedFd = -1;
      for (const [key] of ready) {
        delivered.push(key.data);
        if (key.data === 'A' || key.data === 'B') {
          const other = key.data === 'A' ? b : a;
          if (reusedFd >= 0) continue;
          // The callback of the first entry closes the other fd and opens C, which gets its number.
          sel.unregister(other);
          fds.close(other);
          const [c, cPeer] = fds.socketpair();
          const reused = c === other ? c : cPeer === other ? cPeer : -1;
          expect(reused).toBe(other);
          sel.register(reused, EVENT_READ, 'C');
          reusedFd = reused;
        }
      }
      // The second entry of the batch is the old key object, with its own data: not C's.
      expect(delivered.sort()).toEqual(['A', 'B']);
      expect(ready.every(([k]) => k.data !== 'C')).toBe(true);
      // C is not ready (nothing was written to it), and the next select does not report it.
      const next = sel.select(0).map(([k]) => k.data);
      expect(next).not.toContain('C');
      void bPeer;
    } finally {
      sel.close();
    }
  });
});

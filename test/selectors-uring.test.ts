// What is io_uring's own in IoUringSelector (native/backends/selector_uring.cc), beyond the
// behaviour suite every backend passes (test/selectors.test.ts): stale completions of a removed
// or re-added fd number, multishot polls the kernel ends (re-armed), CQ overflow, 5,000 fds, and
// the ring fd as a loop host sees it. Leak-checked like the suite.
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EVENT_READ, EVENT_WRITE, EpollSelector, IoUringSelector, availableSelectors, nativeSelectorOf } from '../lib/selectors';
import { FdScope, drain, openFdCount, poke } from './helpers';

function counters(sel: IoUringSelector): Record<string, number> {
  return nativeSelectorOf(sel)!.counters;
}

describe.runIf(availableSelectors().includes('io_uring'))('IoUringSelector (io_uring specifics)', () => {
  let fds: FdScope;
  let sel: IoUringSelector;
  let baseline: number;

  beforeEach(() => {
    baseline = openFdCount();
    fds = new FdScope();
    sel = new IoUringSelector();
  });

  afterEach(() => {
    sel.close();
    fds.closeAll();
    expect(openFdCount()).toBe(baseline);
  });

  it('reports an fd that was ready before it was registered', () => {
    const [r, w] = fds.pipe();
    poke(w);
    const key = sel.register(r, EVENT_READ);
    expect(sel.select(0)).toEqual([[key, EVENT_READ]]);
  });

  it('never reports a stale completion of a removed fd whose number was re-added in one batch', () => {
    const [r1, w1] = fds.pipe();
    sel.register(r1, EVENT_READ, 'old');
    // The wakeup posts a CQE for the old registration, not reaped before it is removed.
    poke(w1);
    sel.unregister(r1);
    fds.close(r1);
    fds.close(w1);
    const [r2, w2] = fds.pipe();
    expect([r2, w2]).toContain(r1);
    const reused = r2 === r1 ? r2 : w2;
    const fresh = sel.register(reused, reused === r2 ? EVENT_READ : EVENT_WRITE, 'new');
    const ready = sel.select(0);
    if (reused === r2) {
      // The new pipe is empty: the old file's readiness must not show under the same number.
      expect(ready).toEqual([]);
      poke(w2);
      expect(sel.select(0)).toEqual([[fresh, EVENT_READ]]);
    } else {
      expect(ready).toEqual([[fresh, EVENT_WRITE]]);
    }
    expect(counters(sel).stale).toBeGreaterThan(0);
  });

  it('drops the old interest on modify, even with a completion of it in flight', () => {
    const [a, b] = fds.socketpair();
    sel.register(a, EVENT_READ);
    poke(b);
    const key = sel.modify(a, EVENT_WRITE);
    // Readable and writable, but only write is asked for now.
    expect(sel.select(0)).toEqual([[key, EVENT_WRITE]]);
    const back = sel.modify(a, EVENT_READ);
    expect(sel.select(0)).toEqual([[back, EVENT_READ]]);
    drain(a);
    expect(sel.select(0)).toEqual([]);
  });

  it('re-arms a multishot poll the kernel ends at once (a regular file has no wait queue)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'muxloop-'));
    const path = join(dir, 'file');
    writeFileSync(path, 'data');
    const fd = openSync(path, 'r');
    try {
      const key = sel.register(fd, EVENT_READ);
      for (let i = 0; i < 3; i++) expect(sel.select(0)).toEqual([[key, EVENT_READ]]);
      expect(counters(sel).rearms).toBeGreaterThan(0);
      sel.unregister(fd);
      expect(sel.select(0)).toEqual([]);
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true });
    }
  });

  it('serves 5,000 fds: the CQ overflows (4,096 entries), ended polls are re-armed, nothing is lost', () => {
    const pairs = Array.from({ length: 2500 }, () => fds.socketpair());
    const all = pairs.flat();
    for (const fd of all) sel.register(fd, EVENT_WRITE, fd);
    const first = sel.select(0);
    expect(new Set(first.map(([key]) => key.fd)).size).toBe(5000);
    expect(first.every(([, mask]) => mask === EVENT_WRITE)).toBe(true);
    expect(counters(sel).overflows).toBeGreaterThan(0);
    // Level-triggered: still all writable.
    expect(sel.select(0)).toHaveLength(5000);
    for (const fd of all) sel.modify(fd, EVENT_READ, fd);
    expect(sel.select(0)).toEqual([]);
    // Every poll of the second generation fires, including those armed again after the overflow.
    for (const [a] of pairs) poke(a);
    const second = sel.select(0);
    expect(second.map(([key]) => key.fd).sort((x, y) => x - y)).toEqual(pairs.map(([, b]) => b).sort((x, y) => x - y));
    for (const [, b] of pairs) drain(b);
    expect(sel.select(0)).toEqual([]);
    for (const fd of all) sel.unregister(fd);
    expect(sel.select(0)).toEqual([]);
  });

  it('has a close-on-exec ring fd, readable exactly while a select(0) would report something', () => {
    const ring = sel.fileno();
    const flags = readFileSync(`/proc/self/fdinfo/${ring}`, 'utf8').match(/flags:\s+(\d+)/)![1];
    expect(Number.parseInt(flags, 8) & 0o2000000).not.toBe(0); // O_CLOEXEC
    expect(openFdCount()).toBe(baseline + 1);
    const outer = new EpollSelector();
    try {
      const ringKey = outer.register(ring, EVENT_READ);
      const [r, w] = fds.pipe();
      const key = sel.register(r, EVENT_READ);
      expect(outer.select(0)).toEqual([]);
      poke(w);
      expect(outer.select(0)).toEqual([[ringKey, EVENT_READ]]);
      expect(sel.select(0)).toEqual([[key, EVENT_READ]]);
      // Still ready (not drained): the ring fd stays readable, as an epoll fd would.
      expect(outer.select(0)).toEqual([[ringKey, EVENT_READ]]);
      drain(r);
      expect(sel.select(0)).toEqual([]);
      expect(outer.select(0)).toEqual([]);
    } finally {
      outer.close();
    }
  });

  it('refuses its own ring fd (EINVAL, as epoll refuses itself)', () => {
    const err = (() => {
      try {
        sel.register(sel.fileno(), EVENT_READ);
      } catch (error) {
        return error as { code?: string };
      }
      return undefined;
    })();
    expect(err?.code).toBe('EINVAL');
    expect(sel.getMap().size).toBe(0);
  });

  it('refuses a closed fd at register and modify with EBADF, keeping the old key', () => {
    const [r] = fds.pipe();
    const key = sel.register(r, EVENT_READ);
    fds.close(r);
    expect(() => sel.modify(r, EVENT_WRITE)).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'fcntl' }));
    expect(sel.getKey(r)).toBe(key);
    expect(sel.unregister(r)).toBe(key);
    expect(() => sel.register(r, EVENT_READ)).toThrow(expect.objectContaining({ code: 'EBADF' }));
    expect(sel.getMap().size).toBe(0);
  });
});

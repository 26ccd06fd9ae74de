// One behaviour suite for every selector backend this host has (CPython's BaseSelectorTestCase
// pattern), with a leak check after every test. python-anchor.md section 1, reliability.md group A.
import { openSync, closeSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  BaseSelector,
  DefaultSelector,
  EVENT_READ,
  EVENT_WRITE,
  EpollSelector,
  KqueueSelector,
  availableSelectors,
  selectorClass,
  type SelectorKey,
} from '../lib/selectors';
import { binding } from '../lib/core/native';
import { FdScope, drain, openFdCount, poke } from './helpers';

function elapsed(fn: () => unknown): number {
  const start = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function expectCode(fn: () => unknown, code: string, kind: ErrorConstructor = Error): Error {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(kind);
  expect((caught as { code?: string }).code).toBe(code);
  return caught as Error;
}

// vitest's "kqueue" project: the addon built over test/native/kqueue's emulation (Linux).
const EMULATED_KQUEUE = process.env.MUXLOOP_TEST_ADDON !== undefined;

describe('module', () => {
  it('has Python constants and picks the best backend', () => {
    expect(EVENT_READ).toBe(1);
    expect(EVENT_WRITE).toBe(2);
    const kinds = availableSelectors();
    expect(kinds.length).toBeGreaterThan(0);
    expect(DefaultSelector).toBe(selectorClass(kinds[0]));
    if (EMULATED_KQUEUE) {
      expect(kinds).toEqual(['kqueue']);
      expect(DefaultSelector).toBe(KqueueSelector);
    } else if (process.platform === 'linux') {
      // io_uring only where the kernel allows rings (test/uring-fallback.test.ts covers the refusal).
      expect(kinds.filter((kind) => kind !== 'io_uring')).toEqual(['epoll', 'poll', 'select']);
      expect(DefaultSelector).toBe(EpollSelector);
    }
    if (process.platform === 'darwin') expect(DefaultSelector).toBe(KqueueSelector);
  });

  it('refuses an unknown kind and a backend this host lacks', () => {
    expectCode(() => selectorClass('devpoll' as never), 'ERR_OUT_OF_RANGE', RangeError);
    if (process.platform === 'linux' && !EMULATED_KQUEUE) expectCode(() => new KqueueSelector(), 'ERR_SELECTOR_UNAVAILABLE');
  });
});

describe.each(availableSelectors())('%s selector', (kind) => {
  const Selector = selectorClass(kind);
  let fds: FdScope;
  let sel: BaseSelector;
  let baseline: number;

  beforeEach(() => {
    baseline = openFdCount();
    fds = new FdScope();
    sel = new Selector();
  });

  afterEach(() => {
    sel.close();
    fds.closeAll();
    expect(openFdCount()).toBe(baseline);
  });

  describe('register / getKey / getMap / unregister', () => {
    it('returns a frozen key holding the very file object and data', () => {
      const [r] = fds.pipe();
      const wrapper = { fileno: () => r };
      const data = { tag: 1 };
      const key = sel.register(wrapper, EVENT_READ, data);
      expect(key).toEqual({ fileobj: wrapper, fd: r, events: EVENT_READ, data });
      expect(key.fileobj).toBe(wrapper);
      expect(key.data).toBe(data);
      expect(Object.isFrozen(key)).toBe(true);
      expect(() => {
        (key as { events: number }).events = 3;
      }).toThrow(TypeError);
      expect(sel.getKey(wrapper)).toBe(key);
      expect(sel.getKey(r)).toBe(key);
      expect(sel.unregister(r)).toBe(key);
      expectCode(() => sel.getKey(r), 'ERR_FD_NOT_REGISTERED');
    });

    it('defaults data to undefined', () => {
      const [r] = fds.pipe();
      expect(sel.register(r, EVENT_READ).data).toBeUndefined();
    });

    it('gives a live read-only map keyed by fd', () => {
      const [r, w] = fds.pipe();
      const map = sel.getMap();
      expect(map.size).toBe(0);
      const kr = sel.register(r, EVENT_READ);
      const kw = sel.register({ fileno: () => w }, EVENT_WRITE);
      expect(map.size).toBe(2);
      expect(map.get(r)).toBe(kr);
      expect(map.get(kw.fileobj)).toBe(kw);
      expect(map.has(w)).toBe(true);
      expect(map.get(12345)).toBeUndefined();
      expect([...map.keys()].sort()).toEqual([r, w].sort());
      expect(new Map(map)).toEqual(new Map([[r, kr], [w, kw]]));
      const seen: number[] = [];
      map.forEach((key, fd) => {
        expect(key.fd).toBe(fd);
        seen.push(fd);
      });
      expect(seen.sort()).toEqual([r, w].sort());
      expect((map as unknown as { set?: unknown }).set).toBeUndefined();
      sel.unregister(r);
      expect(map.size).toBe(1);
      expect(map.has(r)).toBe(false);
    });

    it('refuses a second registration of the same fd and keeps the first key (A3)', () => {
      const [r] = fds.pipe();
      const first = sel.register(r, EVENT_READ, 'first');
      const err = expectCode(() => sel.register(r, EVENT_READ), 'ERR_FD_ALREADY_REGISTERED');
      expect(err.message).toContain(`fd ${r}`);
      expectCode(() => sel.register({ fileno: () => r }, EVENT_WRITE), 'ERR_FD_ALREADY_REGISTERED');
      expect(sel.getKey(r)).toBe(first);
      expect(sel.getMap().size).toBe(1);
    });

    it('refuses unknown fds without touching anything (A4)', () => {
      const [r] = fds.pipe();
      expectCode(() => sel.unregister(r), 'ERR_FD_NOT_REGISTERED');
      expectCode(() => sel.modify(r, EVENT_READ), 'ERR_FD_NOT_REGISTERED');
      expectCode(() => sel.getKey(r), 'ERR_FD_NOT_REGISTERED');
    });
  });

  describe('bad input (A1, A2)', () => {
    it.each([
      [-1, RangeError],
      [3.5, RangeError],
      [Number.NaN, RangeError],
      [2 ** 31, RangeError],
      [2 ** 32 + 1, RangeError],
      [Infinity, RangeError],
      ['3', TypeError],
      [null, TypeError],
      [undefined, TypeError],
      [{}, TypeError],
      [{ fileno: () => -1 }, RangeError],
      [{ fileno: () => '3' }, TypeError],
      [10n, TypeError],
    ])('register(%s) throws and registers nothing', (fileobj, Kind) => {
      expect(() => sel.register(fileobj as never, EVENT_READ)).toThrow(Kind);
      expect(sel.getMap().size).toBe(0);
    });

    it('says which fd was invalid, never truncating 2**32 + 1 to fd 1', () => {
      const err = expectCode(() => sel.register(2 ** 32 + 1, EVENT_READ), 'ERR_OUT_OF_RANGE', RangeError);
      expect(err.message).toContain('4294967297');
      expect(sel.getMap().has(1)).toBe(false);
    });

    it.each([0, 4, 999999, -1, 1.5, Number.NaN])('register(fd, %s) is a RangeError', (events) => {
      const [r] = fds.pipe();
      const err = expectCode(() => sel.register(r, events), 'ERR_OUT_OF_RANGE', RangeError);
      expect(err.message).toContain('invalid events mask');
      expect(sel.getMap().size).toBe(0);
    });

    it('register(fd, "1") is a TypeError', () => {
      const [r] = fds.pipe();
      expect(() => sel.register(r, '1' as never)).toThrow(TypeError);
    });

    it.each([
      [Number.NaN, RangeError],
      ['1', TypeError],
      [{}, TypeError],
    ])('select(%s) throws', (timeout, Kind) => {
      expect(() => sel.select(timeout as never)).toThrow(Kind);
    });
  });

  describe('modify', () => {
    it('returns the same key when nothing changes', () => {
      const [r] = fds.pipe();
      const data = {};
      const key = sel.register(r, EVENT_READ, data);
      expect(sel.modify(r, EVENT_READ, data)).toBe(key);
    });

    it('replaces data alone, and events with data', () => {
      const [, w] = fds.pipe();
      const key = sel.register(w, EVENT_READ, 'a');
      const k2 = sel.modify(w, EVENT_READ, 'b');
      expect(k2).not.toBe(key);
      expect(k2).toEqual({ fileobj: w, fd: w, events: EVENT_READ, data: 'b' });
      const k3 = sel.modify(w, EVENT_WRITE);
      expect(k3).toEqual({ fileobj: w, fd: w, events: EVENT_WRITE, data: undefined });
      expect(sel.getKey(w)).toBe(k3);
      // The kernel follows: the write end of an empty pipe is writable.
      expect(sel.select(0)).toEqual([[k3, EVENT_WRITE]]);
    });

    it('validates events and keeps the old registration on failure', () => {
      const [r, w] = fds.pipe();
      const key = sel.register(r, EVENT_READ, 'kept');
      for (const bad of [0, 4, -1]) expect(() => sel.modify(r, bad)).toThrow(RangeError);
      expect(sel.getKey(r)).toBe(key);
      poke(w);
      expect(sel.select(0)).toEqual([[key, EVENT_READ]]);
    });

    it.runIf(kind === 'epoll')('keeps the key when the kernel refuses the change (closed fd)', () => {
      const [r] = fds.pipe();
      const key = sel.register(r, EVENT_READ);
      fds.close(r);
      const err = expectCode(() => sel.modify(r, EVENT_WRITE), 'EBADF');
      expect((err as { syscall?: string }).syscall).toBe('epoll_ctl');
      expect(sel.getKey(r)).toBe(key);
      expect(sel.unregister(r)).toBe(key);
    });
  });

  describe('readiness', () => {
    it('reports a readable pipe once, masked by the registered events', () => {
      const [r, w] = fds.pipe();
      const kr = sel.register(r, EVENT_READ, 'reader');
      expect(sel.select(0)).toEqual([]);
      poke(w, 'hello');
      const ready = sel.select(0);
      expect(ready).toHaveLength(1);
      expect(ready[0][0]).toBe(kr);
      expect(ready[0][1]).toBe(EVENT_READ);
      // Level-triggered: still ready until drained.
      expect(sel.select(0)).toEqual([[kr, EVENT_READ]]);
      expect(drain(r)).toBe(5);
      expect(sel.select(0)).toEqual([]);
    });

    it('reports read and write of one fd as one entry', () => {
      const [a, b] = fds.socketpair();
      const key = sel.register(a, EVENT_READ | EVENT_WRITE);
      expect(sel.select(0)).toEqual([[key, EVENT_WRITE]]);
      poke(b);
      expect(sel.select(0)).toEqual([[key, EVENT_READ | EVENT_WRITE]]);
    });

    it('reports many fds in one call', () => {
      const pairs = Array.from({ length: 20 }, () => fds.socketpair());
      const keys = pairs.map(([a], i) => sel.register(a, EVENT_READ, i));
      pairs.forEach(([, b], i) => {
        if (i % 2 === 0) poke(b);
      });
      const ready = sel.select(0);
      expect(ready.map(([key]) => key.data as number).sort((x, y) => x - y)).toEqual(
        keys.filter((_, i) => i % 2 === 0).map((k) => k.data),
      );
      for (const [, mask] of ready) expect(mask).toBe(EVENT_READ);
    });

    it('reports a peer hang-up as the registered interest (A17)', () => {
      const [a, b] = fds.socketpair();
      const [c, d] = fds.socketpair();
      const reader = sel.register(a, EVENT_READ);
      fds.close(b);
      expect(sel.select(0)).toEqual([[reader, EVENT_READ]]);
      sel.unregister(a);
      // Write interest only: a reset peer shows as writable (the write then fails with EPIPE).
      const writer = sel.register(c, EVENT_WRITE);
      fds.close(d);
      expect(sel.select(0)).toEqual([[writer, EVENT_WRITE]]);
    });

    it('reports a pipe whose writer closed as readable (EOF)', () => {
      const [r, w] = fds.pipe();
      const key = sel.register(r, EVENT_READ);
      fds.close(w);
      expect(sel.select(0)).toEqual([[key, EVENT_READ]]);
      expect(binding.read(r, Buffer.alloc(8))).toBe(0);
    });

    it('works on datagram socketpairs', () => {
      const [a, b] = fds.socketpair(true, binding.constants.SOCK_DGRAM);
      const key = sel.register(a, EVENT_READ);
      poke(b, 'dgram');
      expect(sel.select(0)).toEqual([[key, EVENT_READ]]);
    });
  });

  describe('closed and reused fds (A5, A6, A7)', () => {
    it('unregisters an fd that was closed first (A5)', () => {
      const [r] = fds.pipe();
      const key = sel.register(r, EVENT_READ);
      fds.close(r);
      expect(sel.unregister(r)).toBe(key);
      expect(sel.getMap().size).toBe(0);
    });

    it('unregisters a closed wrapper by identity', () => {
      const [r] = fds.pipe();
      let open = true;
      const wrapper = { fileno: () => (open ? r : -1) };
      const key = sel.register(wrapper, EVENT_READ);
      fds.close(r);
      open = false;
      expect(sel.getKey(wrapper)).toBe(key);
      expect(sel.unregister(wrapper)).toBe(key);
    });

    it('really arms a reused fd number after the stale key is dropped (A6)', () => {
      const [r1, w1] = fds.pipe();
      const stale = sel.register(r1, EVENT_READ, 'stale');
      fds.close(r1);
      fds.close(w1);
      // The next pipe reuses the lowest free numbers.
      const [r2, w2] = fds.pipe();
      expect([r2, w2]).toContain(r1);
      const reused = r2 === r1 ? r2 : w2;
      expect(sel.unregister(reused)).toBe(stale);
      const fresh = sel.register(r2, EVENT_READ, 'fresh');
      poke(w2);
      expect(sel.select(0)).toEqual([[fresh, EVENT_READ]]);
    });

    it('never fails select() because a registered fd was closed (A7)', () => {
      const [r, w] = fds.pipe();
      const [a, b] = fds.socketpair();
      sel.register(r, EVENT_READ, 'closed');
      const live = sel.register(a, EVENT_READ, 'live');
      poke(b);
      fds.close(r);
      fds.close(w);
      const first = sel.select(0);
      const datas = first.map(([key]) => key.data).sort();
      if (kind === 'epoll' || kind === 'kqueue') {
        // The kernel forgot the closed fd.
        expect(datas).toEqual(['live']);
      } else {
        // poll (POLLNVAL) and select (EBADF isolated per fd) report it once, as its interest.
        expect(datas).toEqual(['closed', 'live']);
        expect(first.find(([key]) => key.data === 'closed')?.[1]).toBe(EVENT_READ);
      }
      // Then never again: no busy loop on the dead fd, and the live fd is still served.
      expect(sel.select(0)).toEqual([[live, EVENT_READ]]);
      drain(a);
      expect(sel.select(0.01)).toEqual([]);
      expect(sel.unregister(r).data).toBe('closed');
    });
  });

  describe('timeouts (A11, A12)', () => {
    it('select(0) and select(-1) do not block', () => {
      const [r] = fds.pipe();
      sel.register(r, EVENT_READ);
      expect(elapsed(() => expect(sel.select(0)).toEqual([]))).toBeLessThan(0.5);
      expect(elapsed(() => expect(sel.select(-1)).toEqual([]))).toBeLessThan(0.5);
    });

    it('waits at least the timeout, never waking early', () => {
      const [r] = fds.pipe();
      sel.register(r, EVENT_READ);
      for (const t of [0.05, 0.0001, 0.0015]) {
        const dt = elapsed(() => expect(sel.select(t)).toEqual([]));
        expect(dt).toBeGreaterThanOrEqual(t);
        expect(dt).toBeLessThan(t + 2);
      }
    });

    it('sleeps for the timeout with nothing registered (A12)', () => {
      const dt = elapsed(() => expect(sel.select(0.1)).toEqual([]));
      expect(dt).toBeGreaterThanOrEqual(0.1);
      expect(dt).toBeLessThan(2.1);
    });

    it('returns at once when something is ready, even with a huge timeout', () => {
      const [r, w] = fds.pipe();
      const key = sel.register(r, EVENT_READ);
      poke(w);
      for (const t of [undefined, null, 1e10, Infinity]) {
        expect(sel.select(t)).toEqual([[key, EVENT_READ]]);
      }
    });
  });

  describe('close (A19)', () => {
    it('is idempotent, leaves watched fds open, and makes every other method throw', () => {
      const [r, w] = fds.pipe();
      sel.register(r, EVENT_READ);
      const map = sel.getMap();
      sel.close();
      sel.close();
      expect(sel.closed).toBe(true);
      // The fds are still open: writing and reading still work.
      poke(w);
      expect(drain(r)).toBe(1);
      expect(map.size).toBe(0);
      for (const call of [
        () => sel.register(w, EVENT_WRITE),
        () => sel.unregister(r),
        () => sel.modify(r, EVENT_WRITE),
        () => sel.select(0),
        () => sel.getKey(r),
        () => sel.getMap(),
      ]) {
        expectCode(call, 'ERR_SELECTOR_CLOSED');
      }
    });

    it('closes with `using`', () => {
      const before = openFdCount();
      {
        using scoped = new Selector();
        expect(scoped.closed).toBe(false);
      }
      expect(openFdCount()).toBe(before);
    });
  });

  describe.runIf(kind === 'epoll' || kind === 'kqueue')('kernel object', () => {
    it('exposes a close-on-exec fd that is released by close()', () => {
      const withFileno = sel as BaseSelector & { fileno(): number };
      const fd = withFileno.fileno();
      expect(fd).toBeGreaterThan(2);
      expect(openFdCount()).toBe(baseline + 1);
      sel.close();
      expect(openFdCount()).toBe(baseline);
      expectCode(() => withFileno.fileno(), 'ERR_SELECTOR_CLOSED');
    });

    it('refuses itself but accepts another epoll/kqueue fd (A22)', () => {
      const withFileno = sel as BaseSelector & { fileno(): number };
      const own = withFileno.fileno();
      const err = expectCode(() => sel.register(own, EVENT_READ), 'EINVAL');
      expect((err as { errno?: number }).errno).toBeGreaterThan(0);
      expect(sel.getMap().size).toBe(0);
      const inner = new Selector() as BaseSelector & { fileno(): number };
      try {
        const key = sel.register(inner.fileno(), EVENT_READ);
        const [r, w] = fds.pipe();
        inner.register(r, EVENT_READ);
        expect(sel.select(0)).toEqual([]);
        poke(w);
        expect(sel.select(0)).toEqual([[key, EVENT_READ]]);
        sel.unregister(key.fd);
      } finally {
        inner.close();
      }
    });
  });

  describe('regular files (A10)', () => {
    it(kind === 'epoll' ? 'are refused with EPERM and leave no key' : 'are always ready', () => {
      const dir = mkdtempSync(join(tmpdir(), 'muxloop-'));
      const path = join(dir, 'file');
      writeFileSync(path, 'data');
      const fd = openSync(path, 'r');
      try {
        if (kind === 'epoll') {
          const err = expectCode(() => sel.register(fd, EVENT_READ), 'EPERM');
          expect((err as { syscall?: string }).syscall).toBe('epoll_ctl');
          expect(sel.getMap().size).toBe(0);
        } else if (kind === 'kqueue') {
          // kqueue accepts regular files for EVFILT_READ and reports them readable.
          const key = sel.register(fd, EVENT_READ);
          expect(sel.select(0)).toEqual([[key, EVENT_READ]]);
          sel.unregister(fd);
        } else {
          const key = sel.register(fd, EVENT_READ | EVENT_WRITE);
          expect(sel.select(0)).toEqual([[key, EVENT_READ | EVENT_WRITE]]);
          sel.unregister(fd);
        }
      } finally {
        closeSync(fd);
        rmSync(dir, { recursive: true });
      }
    });
  });

  it.runIf(kind === 'select')('refuses fd >= FD_SETSIZE at register (A14)', async () => {
    // fcntl(F_DUPFD, 1500) is not reachable from Node; open fds until one is >= 1024 instead.
    const extra: number[] = [];
    try {
      let high = -1;
      while (high < 1024 && extra.length < 1100) {
        const [a, b] = fds.pipe();
        extra.push(a, b);
        high = Math.max(a, b);
      }
      expect(high).toBeGreaterThanOrEqual(1024);
      const err = expectCode(() => sel.register(high, EVENT_READ), 'ERR_OUT_OF_RANGE', RangeError);
      expect(err.message).toBe(`fd ${high} out of range for select() (FD_SETSIZE=1024)`);
      expect(sel.getMap().size).toBe(0);
      expect(sel.select(0)).toEqual([]);
    } finally {
      for (const fd of extra) fds.close(fd);
    }
  });

  it('supports subclass-free use from plain JS objects as keys data', () => {
    // key.data holding a callback: the selectors-module dispatch idiom.
    const [a, b] = fds.socketpair();
    const calls: Array<[unknown, number]> = [];
    sel.register(a, EVENT_READ, (fileobj: unknown, mask: number) => calls.push([fileobj, mask]));
    poke(b);
    for (const [key, mask] of sel.select(0) as Array<[SelectorKey<(f: unknown, m: number) => void>, number]>) {
      key.data(key.fileobj, mask);
    }
    expect(calls).toEqual([[a, EVENT_READ]]);
  });
});

// Generation-safe events at the selector level (issue 17; reliability.md A16, A21), on every
// backend, against the real kernel.
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { select as selectFds } from '../lib/selectors/select';
import { afterEach, describe, expect, it } from 'vitest';
import { binding } from '../lib/core/native';
import { availableSelectors, EVENT_READ, EVENT_WRITE, selectorClass, type SelectorKind } from '../lib/selectors';
import { EventLoop } from '../lib/loops';
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

/** The fds the epoll set at `epfd` watches, from the kernel's own list. */
function kernelWatched(epfd: number): number[] {
  return readFileSync(`/proc/self/fdinfo/${epfd}`, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('tfd:'))
    .map((l) => Number(l.split(/\s+/)[1]));
}

describe.skipIf(!availableSelectors().includes('epoll'))('epoll: ghosts (A8)', () => {
  const fds = new FdScope();
  afterEach(() => fds.closeAll());

  it('A8: a dup of a registered and closed fd does not spin: its events reach no one, the set is rebuilt at the same number, and other fds still work', async () => {
    const sel = new (selectorClass('epoll'))<string>();
    const [r, w] = fds.pipe();
    const [other, otherPeer] = fds.socketpair();
    // A child process holds a dup of r: the open file description outlives our close below.
    const child = spawn('sleep', ['20'], { stdio: ['ignore', 'ignore', 'ignore', r] });
    await new Promise((res) => child.once('spawn', res));
    try {
      const epfd = (sel as unknown as { fileno(): number }).fileno();
      sel.register(r, EVENT_READ, 'r');
      sel.register(other, EVENT_READ, 'other');
      fds.close(r); // closed while registered; the dup keeps the registration alive in the kernel
      binding.write(w, Buffer.from('x')); // and it is level-triggered readable from now on
      // Its key is still in the map (the owner has not unregistered yet), so it is reported...
      expect(sel.select(0).map(([k]) => k.data)).toEqual(['r']);
      // ...and unregistering cannot reach the kernel any more (EPOLL_CTL_DEL on a closed number).
      sel.unregister(r);
      expect(kernelWatched(epfd)).toContain(r);
      // The next wait sees an event for a registration we do not have: nothing is reported, and
      // the set is rebuilt without the ghost, at the same number.
      expect(sel.select(0)).toEqual([]);
      expect((sel as unknown as { fileno(): number }).fileno()).toBe(epfd);
      expect(kernelWatched(epfd)).toEqual([other]);
      // The epoll fd is not left readable (which is what made the loop spin), and stays so.
      expect(selectFds([epfd], [], [], 0)[0]).toEqual([]);
      expect(sel.select(0)).toEqual([]);
      // The registrations that remain still work, and a new registration at r's number is a
      // new generation that the ghost's events could never reach.
      binding.write(otherPeer, Buffer.from('y'));
      expect(sel.select(0).map(([k]) => k.data)).toEqual(['other']);
      const [c] = fds.pipe();
      sel.register(c, EVENT_READ, 'c');
      expect(sel.select(0).map(([k]) => k.data)).toEqual(['other']);
    } finally {
      child.kill('SIGKILL');
      sel.close();
    }
  });

  it('A8 in a running hosted loop: after the rebuild, libuv watches the new set and I/O on other fds is still delivered', async () => {
    const loop = new EventLoop({ selector: new (selectorClass('epoll'))() });
    const [r, w] = fds.pipe();
    const [other, otherPeer] = fds.socketpair();
    const child = spawn('sleep', ['20'], { stdio: ['ignore', 'ignore', 'ignore', r] });
    await new Promise((res) => child.once('spawn', res));
    try {
      const got = await loop.runUntilComplete(
        (async () => {
          const first = loop.createFuture<string>();
          loop.addReader(r, () => {
            // The misuse that makes a ghost: close first, then unregister (EPOLL_CTL_DEL fails).
            fds.close(r);
            loop.removeReader(r);
            first.setResult('r');
          });
          binding.write(w, Buffer.from('x')); // never read: the ghost stays readable
          await first;
          // Now only libuv's uv_poll on the epoll fd can wake the loop: the write comes from a
          // Node timer, and the loop has no timer of its own before 4 s.
          let nodeGuardFired = false;
          const ready = loop.createFuture<string>();
          loop.addReader(other, () => {
            loop.removeReader(other);
            ready.setResult(nodeGuardFired ? 'late: woken by its own timer, not by I/O' : 'other');
          });
          const writer = setTimeout(() => binding.write(otherPeer, Buffer.from('y')), 50);
          const nodeGuard = setTimeout(() => (nodeGuardFired = true), 3000);
          const loopGuard = loop.callLater(4, () => undefined);
          await ready;
          clearTimeout(writer);
          clearTimeout(nodeGuard);
          loopGuard.cancel();
          return ready;
        })(),
      );
      expect(got).toBe('other');
    } finally {
      child.kill('SIGKILL');
      loop.close();
    }
  });
});


describe('A20: registered wrappers whose JS references were dropped', () => {
  it.skipIf(softNofile < 12000)('10,000 registered sockets, references dropped, 3 GCs, all readable: every key still holds its live socket (no use-after-free; ASan in CI)', () => {
    const dist = join(__dirname, '..', 'dist');
    const script = `
      const m = require(${JSON.stringify(join(dist, 'index.js'))});
      const sel = new m.DefaultSelector();
      (() => {
        for (let i = 0; i < 5000; i++) {
          const [a, b] = m.socketpair();
          a.setblocking(false); b.setblocking(false);
          sel.register(a, m.EVENT_READ, i * 2);
          sel.register(b, m.EVENT_READ, i * 2 + 1);
          a.send(Buffer.from('x')); b.send(Buffer.from('y'));
        }
      })(); // no reference is left but the selector's keys
      for (let i = 0; i < 3; i++) global.gc();
      const seen = new Set(); let alive = 0, bytes = 0;
      for (let round = 0; round < 20 && seen.size < 10000; round++) {
        for (const [key] of sel.select(0)) {
          if (seen.has(key.data)) continue;
          seen.add(key.data);
          if (key.fileobj.fileno() === key.fd) alive++;
          bytes += key.fileobj.recv(16).length;
        }
      }
      for (const key of [...sel.getMap().values()]) { sel.unregister(key.fileobj); key.fileobj.close(); }
      sel.close();
      console.log(JSON.stringify({ seen: seen.size, alive, bytes }));
    `;
    const r = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop() as string)).toEqual({ seen: 10000, alive: 10000, bytes: 10000 });
  }, 150_000);
});

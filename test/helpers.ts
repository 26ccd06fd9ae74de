// Shared test helpers: fd accounting for the leak check every test ends with, and raw pipes and
// socketpairs straight from the addon.
import { existsSync, readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { afterEach, beforeEach, expect } from 'vitest';
import type { ExceptionContext } from '../lib/core/events';
import { EventLoop } from '../lib/loops';
import { binding } from '../lib/core/native';
import { selectorClass, type SelectorKind } from '../lib/selectors';

/**
 * The io_uring completion transports as one more "backend" of the transport suites: the epoll
 * selector with `io: 'uring'` (stream sockets, servers and connections on the ring).
 */
export const URING_IO = 'io_uring-transports' as const;
/** A selector kind, or the io_uring transports. */
export type LoopKind = SelectorKind | typeof URING_IO;

/** Whether a loop made with `io: 'uring'` gets io_uring here (no seccomp filter, sysctl, old kernel). */
export function uringIoAvailable(): boolean {
  const loop = new EventLoop({ io: 'uring' });
  try {
    return loop.io === 'uring';
  } finally {
    loop.close();
  }
}

/** `kinds`, plus the io_uring transports where this host has them. */
export function withUringIo(kinds: readonly SelectorKind[]): LoopKind[] {
  return uringIoAvailable() ? [...kinds, URING_IO] : [...kinds];
}

/** A new loop for `kind` (a fresh selector of that kind; for the io_uring transports, epoll). */
export function newLoopOf(kind: LoopKind): EventLoop {
  if (kind === URING_IO) {
    const loop = new EventLoop({ io: 'uring' });
    if (loop.io !== 'uring') throw new Error('io_uring transports were asked for but the loop fell back to epoll');
    return loop;
  }
  return new EventLoop({ selector: new (selectorClass(kind))() });
}

// Linux lists a process's fds in /proc/self/fd; macOS and the BSDs in /dev/fd.
const FD_DIR = existsSync('/proc/self/fd') ? '/proc/self/fd' : '/dev/fd';

// Node opens the NODE_EXTRA_CA_CERTS file on a thread of its own (at startup in Node 22, lazily in
// 24) and closes it once read: an fd that may come or go during a test and is not ours, so it is
// not counted (Linux, where /proc names what an fd is).
const NODE_CA_FILE = FD_DIR === '/proc/self/fd' && process.env.NODE_EXTRA_CA_CERTS ? realpathOrSelf(process.env.NODE_EXTRA_CA_CERTS) : undefined;

function realpathOrSelf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/** Number of open fds in this process (Node's NODE_EXTRA_CA_CERTS read left out, see above). */
export function openFdCount(): number {
  const fds = readdirSync(FD_DIR);
  if (NODE_CA_FILE === undefined) return fds.length - 1; // minus the fd readdir itself used
  let count = 0;
  for (const fd of fds) {
    try {
      if (readlinkSync(`${FD_DIR}/${fd}`) !== NODE_CA_FILE) count++;
    } catch {
      // readdir's own fd, closed by now
    }
  }
  return count;
}

/** The fd numbers open in this process. */
export function openFds(): Set<number> {
  return new Set(readdirSync(FD_DIR).map(Number));
}

/** Tracks fds made by a test and closes any it left open. */
export class FdScope {
  readonly #fds = new Set<number>();

  pipe(nonblocking = true): [number, number] {
    const pair = binding.pipe(nonblocking);
    pair.forEach((fd) => this.#fds.add(fd));
    return pair;
  }

  socketpair(nonblocking = true, type = binding.constants.SOCK_STREAM): [number, number] {
    const pair = binding.socketpair(binding.constants.AF_UNIX, type, nonblocking);
    pair.forEach((fd) => this.#fds.add(fd));
    return pair;
  }

  close(fd: number): void {
    if (this.#fds.delete(fd)) binding.close(fd);
  }

  closeAll(): void {
    for (const fd of this.#fds) binding.close(fd);
    this.#fds.clear();
  }
}

/** Writes a byte to make the peer of `fd` readable. */
export function poke(fd: number, data = 'x'): void {
  binding.write(fd, Buffer.from(data));
}

/** Reads and discards what is readable on `fd`. */
export function drain(fd: number): number {
  const buf = Buffer.alloc(65536);
  let total = 0;
  for (;;) {
    const n = binding.read(fd, buf);
    if (n <= 0) return total;
    total += n;
  }
}

/** Something a test opened: an object with `close()`, or a function that releases it. */
export type Closable = { close(): void } | (() => void);

/**
 * Registers the leak check most tests end with: the fd count is taken before each test, whatever
 * the test tracked is released after it (last first, even when the test failed), and the fd count
 * must then be back where it was. Returns `track`, which registers things to release and returns
 * them.
 */
export function useFdLeakCheck(): <T extends Closable>(...items: T[]) => T[] {
  let baseline = 0;
  const cleanup: Closable[] = [];
  beforeEach(() => {
    baseline = openFdCount();
  });
  afterEach(() => {
    for (let item = cleanup.pop(); item !== undefined; item = cleanup.pop()) {
      if (typeof item === 'function') item();
      else item.close();
    }
    expect(openFdCount()).toBe(baseline);
  });
  return (...items) => {
    cleanup.push(...items);
    return items;
  };
}

/** A fresh hosted loop per test on one real backend, with the leak check above. */
export interface RealLoopFixture {
  /** This test's loop; closed after the test unless it is still running. */
  readonly loop: EventLoop;
  /** What reached the loop's exception handler; must be empty at the end of the test. */
  readonly errors: ExceptionContext[];
  /** Closes `item` after the test. */
  track<T extends { close(): void }>(item: T): T;
}

/** Registers the hooks of a {@link RealLoopFixture} for every test of the enclosing suite. */
export function useRealLoop(kind: LoopKind): RealLoopFixture {
  // Hooks run in registration order before a test and in reverse after it: the loop is closed
  // before the tracked sockets, and the fd count is checked last.
  const trackAll = useFdLeakCheck();
  const fixture = {
    loop: undefined as unknown as EventLoop,
    errors: [] as ExceptionContext[],
    track<T extends { close(): void }>(item: T): T {
      trackAll(item);
      return item;
    },
  };
  beforeEach(() => {
    fixture.loop = newLoopOf(kind);
    fixture.errors = [];
    fixture.loop.setExceptionHandler((_loop, context) => fixture.errors.push(context));
  });
  afterEach(() => {
    if (!fixture.loop.isRunning()) fixture.loop.close();
    expect(fixture.errors).toEqual([]);
  });
  return fixture;
}

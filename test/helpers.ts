// Shared test helpers: fd accounting for the leak check every test ends with, and raw pipes and
// socketpairs straight from the addon.
import { existsSync, readdirSync } from 'node:fs';
import { binding } from '../lib/native';

// Linux lists a process's fds in /proc/self/fd; macOS and the BSDs in /dev/fd.
const FD_DIR = existsSync('/proc/self/fd') ? '/proc/self/fd' : '/dev/fd';

/** Number of open fds in this process. */
export function openFdCount(): number {
  return readdirSync(FD_DIR).length - 1; // minus the fd readdir itself used
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

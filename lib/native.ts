/**
 * The addon's typed surface. This is the only module that loads the addon; everything else imports
 * the interfaces below, which keeps the TypeScript/C++ seam thin and lets tests substitute fakes.
 * @packageDocumentation
 */
import * as path from 'node:path';

/** A backend as the addon exposes it (contract: `native/selector.h`). */
export interface NativeSelector {
  /** Starts watching `fd` for `events` (1 read, 2 write, 3 both); throws OS errors. */
  add(fd: number, events: number): void;
  /** Changes the interest of a watched fd; on failure the old interest is kept. */
  modify(fd: number, events: number): void;
  /** Stops watching; swallows errors for fds closed or reused since. */
  remove(fd: number): void;
  /**
   * Waits at most `timeoutSeconds` (< 0 blocks) and writes `(fd, events)` pairs into `out`.
   * Returns the number of pairs written.
   */
  wait(timeoutSeconds: number, out: Int32Array): number;
  /** Releases the kernel object; idempotent. */
  close(): void;
  /** The kernel object's fd, or -1 for poll and select. */
  readonly fileno: number;
  readonly kind: string;
  /** Largest fd accepted (FD_SETSIZE - 1 for select). */
  readonly maxFd: number;
  /** Timeouts are rounded up to this many nanoseconds. */
  readonly resolutionNs: number;
  readonly closed: boolean;
}

/**
 * Hosts a running loop on Node's libuv (native/loop_host.cc). For epoll/kqueue, one uv_poll on the
 * selector's fd; for poll/select, a helper thread that waits in the selector and wakes libuv. On
 * each wakeup the host collects the ready events with a zero timeout into `out` and calls
 * `onWake(count)` once, through a Node-API callback scope (ticks and promise jobs drain after it).
 */
export interface NativeLoopHost {
  /**
   * Next wakeup after at most `timeoutSeconds` (< 0: only on I/O); `keepAlive` refs the libuv
   * handles (the Node process stays alive); `watchIo` waits for readiness of registered fds.
   */
  arm(timeoutSeconds: number, keepAlive: boolean, watchIo: boolean): void;
  /** Stops and closes the libuv handles (and joins the helper thread); idempotent. */
  close(): void;
  /** 'poll' (uv_poll on the selector's fd) or 'thread' (helper thread). */
  readonly mode: string;
}

/** Owning mode (native/loop_host.cc): blocks in the selector with libuv's fd in the set. */
export interface NativeLoopOwner {
  /**
   * Waits at most `timeoutSeconds` (< 0: no bound of ours), bounded by libuv's next timeout
   * while libuv is alive, writes the ready `(fd, events)` pairs into `out`, then runs libuv once
   * without blocking (`uv_run(UV_RUN_NOWAIT)`). Returns the number of pairs.
   */
  wait(timeoutSeconds: number, out: Int32Array): number;
  /** `uv_loop_alive()`: Node has ref'd handles or requests pending. */
  libuvAlive(): boolean;
  /** Takes libuv's fd out of the selector; idempotent. */
  close(): void;
}

/** Everything the addon exports. */
export interface NativeBinding {
  Selector: new (kind: string) => NativeSelector;
  LoopHost: new (selector: NativeSelector, onWake: (count: number) => void, out: Int32Array) => NativeLoopHost;
  LoopOwner: new (selector: NativeSelector) => NativeLoopOwner;
  /** Kinds compiled into this build, best first. */
  selectorKinds(): string[];

  /** pipe2(O_CLOEXEC[|O_NONBLOCK]) -> [readFd, writeFd]. */
  pipe(nonblocking?: boolean): [number, number];
  /** socketpair(family, type | SOCK_CLOEXEC[|SOCK_NONBLOCK]) -> two connected fds. */
  socketpair(family: number, type: number, nonblocking?: boolean): [number, number];
  /** read(2) into `view[offset, offset + length)`: bytes read, 0 at EOF, -1 if it would block. */
  read(fd: number, view: ArrayBufferView, offset?: number, length?: number): number;
  /** write(2) from `view[offset, offset + length)`: bytes written, -1 if it would block. */
  write(fd: number, view: ArrayBufferView, offset?: number, length?: number): number;
  /** close(2), exactly once; the addon stops owning the fd. */
  close(fd: number): void;
  /** Stops owning `fd` (it will not be closed at environment teardown). */
  forget(fd: number): void;
  /** Sets or clears O_NONBLOCK. */
  setNonBlocking(fd: number, nonblocking: boolean): void;
  /** Whether O_NONBLOCK is set. */
  getNonBlocking(fd: number): boolean;
  /** Platform constants. */
  constants: {
    AF_UNIX: number;
    AF_INET: number;
    AF_INET6: number;
    SOCK_STREAM: number;
    SOCK_DGRAM: number;
  };
}

// node-gyp-build finds a prebuild for this platform, or the local build/Release output.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const load = require('node-gyp-build') as (dir: string) => unknown;

/** The loaded addon. */
export const binding = load(path.join(__dirname, '..')) as NativeBinding;

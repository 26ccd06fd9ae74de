/**
 * How a loop learns that one of its children exited, and who reaps the children a closed loop
 * left behind (asyncio's `PidfdChildWatcher` and `ThreadedChildWatcher`, unix_events.py).
 *
 * - **pidfd (Linux 5.3+)**: `pidfd_open` right after the spawn (the child is not reaped, so its
 *   pid cannot have been reused), watched by the loop's own selector with `addReader`; readable
 *   means exited, and `waitid(P_PIDFD, WNOHANG)` reaps it. No signal, no polling, and the watch
 *   keeps a running loop (and so Node) alive while the child runs.
 * - **SIGCHLD (no pidfd)**: Node's `process.on('SIGCHLD')` (libuv's signal pipe, so the listener
 *   runs outside the C handler); each SIGCHLD reaps, with `waitid(P_PID, pid, WNOHANG)`, only the
 *   loops' own children, never "any child": libuv waits for Node's children by pid the same way
 *   (libuv 1.46 `uv__wait_children`), and each side would otherwise steal the other's statuses.
 *   The exit goes to the loop with `callSoon`. Node's signal handles are unref'd, so while such a
 *   child of an open loop runs, a ref'd interval of about 24 days holds Node alive (it never fires).
 *   Worker threads get no signal events: there, without pidfd, an exit is never observed.
 * - **Orphans**: when a loop closes before its children end, they are handed to this thread's
 *   reaper, which needs no loop. With pidfds: a private native selector hosted on Node's libuv
 *   like a loop, unref'd (it never holds Node alive; if Node exits first, init reaps them), which
 *   reaps each child as its pidfd becomes readable. Without: the same SIGCHLD listener.
 *
 * `MUXLOOP_TEST_NO_PIDFD=1` in the environment makes new children use the SIGCHLD route even
 * where pidfd works. It is for muxloop's own tests (test/subprocess.test.ts), not an API.
 * @packageDocumentation
 */
import { binding, type NativeLoopHost, type NativeSelector } from '../core/native';
import type { SelectorEventLoop } from './selector_loop';

/** A child being watched: its pid, its pidfd (-1 on the SIGCHLD route) and what to call at exit. */
export interface WatchedChild {
  readonly pid: number;
  pidfd: number;
  readonly loop: SelectorEventLoop;
  /** Runs as a loop callback once the child is reaped, with its returncode. */
  readonly onExit: (returncode: number) => void;
}

/** Python reports a child someone else reaped with 255 ("Unknown child process pid ..."). */
const UNKNOWN_RETURNCODE = 255;

/** Whether new children should get a pidfd (Linux, unless the test switch says otherwise). */
export function wantPidfd(): boolean {
  const off = process.env.MUXLOOP_TEST_NO_PIDFD;
  return process.platform === 'linux' && (off === undefined || off === '' || off === '0');
}

/**
 * `binding.reap` with ECHILD (reaped by someone else: code that waits for any child) turned into
 * Python's 255 and a warning; null while the child runs.
 */
function reap(pid: number, pidfd: number): number | null {
  try {
    return binding.reap(pid, pidfd);
  } catch (error) {
    if ((error as { code?: string }).code !== 'ECHILD') throw error;
    process.emitWarning(`Unknown child process pid ${pid}, will report returncode 255`, { type: 'SubprocessWarning', code: 'MUXLOOP_UNKNOWN_CHILD' });
    return UNKNOWN_RETURNCODE;
  }
}

function closePidfd(child: { pidfd: number }): void {
  if (child.pidfd < 0) return;
  binding.close(child.pidfd);
  child.pidfd = -1;
}

/** Starts watching `child` on its loop. A child that already exited is reported at once (callSoon). */
export function watchChild(child: WatchedChild): void {
  if (child.pidfd >= 0) {
    child.loop.addReader(child.pidfd, onPidfdReadable, child);
    return;
  }
  sigchld.add(child);
}

function onPidfdReadable(child: WatchedChild): void {
  const returncode = reap(child.pid, child.pidfd);
  if (returncode === null) return; // readable only at exit; a spurious wakeup changes nothing
  child.loop.removeReader(child.pidfd);
  closePidfd(child);
  child.onExit(returncode);
}

/** The loop of `child` is closing: the reaper of this thread takes it over. */
export function orphanChild(child: WatchedChild): void {
  if (child.pidfd >= 0) {
    // The closing loop's selector goes with it; nothing to unregister there.
    pidfdReaper.add(child.pid, child.pidfd);
    child.pidfd = -1;
  } else {
    sigchld.orphan(child);
  }
}

/** The SIGCHLD route: one process listener for every loop's children and the orphans. */
class SigchldWatcher {
  readonly #children = new Set<WatchedChild>();
  readonly #orphans = new Set<number>();
  #keeper: NodeJS.Timeout | undefined;
  readonly #listener = (): void => this.#check();

  add(child: WatchedChild): void {
    this.#children.add(child);
    this.#update();
    // Listener first, then a look: an exit before the listener existed is not missed.
    this.#check();
  }

  orphan(child: WatchedChild): void {
    this.#children.delete(child);
    this.#orphans.add(child.pid);
    this.#update();
    this.#check();
  }

  #check(): void {
    for (const child of [...this.#children]) {
      const returncode = reap(child.pid, -1);
      if (returncode === null) continue;
      this.#children.delete(child);
      if (!child.loop.isClosed()) child.loop.callSoon(child.onExit, returncode);
    }
    for (const pid of [...this.#orphans]) {
      if (reap(pid, -1) !== null) this.#orphans.delete(pid);
    }
    this.#update();
  }

  #update(): void {
    const listening = process.listeners('SIGCHLD').includes(this.#listener);
    const want = this.#children.size + this.#orphans.size > 0;
    if (want && !listening) process.on('SIGCHLD', this.#listener);
    else if (!want && listening) process.removeListener('SIGCHLD', this.#listener);
    const hold = this.#children.size > 0;
    if (hold && this.#keeper === undefined) this.#keeper = setInterval(noop, 0x7fffffff);
    else if (!hold && this.#keeper !== undefined) {
      clearInterval(this.#keeper);
      this.#keeper = undefined;
    }
  }
}

function noop(): void {}

/**
 * Orphans with a pidfd: a native selector of their pidfds, hosted on Node's libuv (the loops'
 * `LoopHost`), unref'd, made on the first orphan and closed with the last.
 */
class PidfdReaper {
  #selector: NativeSelector | undefined;
  #host: NativeLoopHost | undefined;
  readonly #pids = new Map<number, number>(); // pidfd -> pid
  readonly #out = new Int32Array(2 * 64);

  add(pid: number, pidfd: number): void {
    if (reap(pid, pidfd) !== null) {
      binding.close(pidfd);
      return;
    }
    if (this.#selector === undefined) {
      this.#selector = new binding.Selector('epoll');
      this.#host = new binding.LoopHost(this.#selector, (count) => this.#wake(count), this.#out);
    }
    this.#selector.add(pidfd, 1);
    this.#pids.set(pidfd, pid);
    this.#arm();
  }

  #arm(): void {
    (this.#host as NativeLoopHost).arm(-1, false, true);
  }

  #wake(count: number): void {
    const out = this.#out;
    for (let i = 0; i < count; i++) {
      const pidfd = out[2 * i];
      const pid = this.#pids.get(pidfd);
      if (pid === undefined || reap(pid, pidfd) === null) continue;
      this.#pids.delete(pidfd);
      (this.#selector as NativeSelector).remove(pidfd);
      binding.close(pidfd);
    }
    if (this.#pids.size > 0) {
      this.#arm();
      return;
    }
    this.#host?.close();
    this.#selector?.close();
    this.#host = this.#selector = undefined;
  }

  /** @internal For tests: orphans not reaped yet. */
  get size(): number {
    return this.#pids.size;
  }
}

const sigchld = new SigchldWatcher();
const pidfdReaper = new PidfdReaper();

/** @internal For tests: how many orphans with a pidfd wait to be reaped. */
export function pendingOrphans(): number {
  return pidfdReaper.size;
}

/**
 * Subprocesses at the protocol level: asyncio's `loop.subprocess_exec`/`subprocess_shell`,
 * `SubprocessProtocol` and `base_subprocess.BaseSubprocessTransport` (python-anchor.md 2, 5.1).
 *
 * The child's stdio are pipes made here (pipe2 with O_CLOEXEC; the child's ends are dup2'ed onto
 * 0, 1, 2 by posix_spawn, native/syscalls/spawn.h, and closed in the parent right after), and the
 * parent's ends are muxloop's own pipe transports (transports/pipes.ts), flow control included:
 * `pauseWriting`/`resumeWriting` of the stdin pipe reach the `SubprocessProtocol`. The exit is
 * observed by `child_watcher.ts` (pidfd in the loop's selector, else SIGCHLD).
 *
 * Order of the protocol's callbacks, asyncio's: `connectionMade(transport)` once every pipe is
 * connected; `pipeDataReceived(fd, data)` and `pipeConnectionLost(fd, exc)` per pipe (1 stdout,
 * 2 stderr, 0 stdin); `processExited()` once the child is reaped; `connectionLost(undefined)` last,
 * once the child has exited and every pipe is closed.
 *
 * Closing: `transport.close()` closes the pipes and, if the child still runs, kills it (SIGKILL, as
 * asyncio does); the child is still reaped. `loop.close()` with children still running closes
 * their pipes (nobody can read them any more) and hands the children, alive, to the reaper of
 * child_watcher.ts: they are reaped when they end, never left as zombies.
 * @packageDocumentation
 */
import { constants as osConstants } from 'node:os';
import { codedError, describe, invalidArgType, invalidArgValue } from '../core/errors';
import { binding } from '../core/native';
import { checkOptionKeys, optionKeys, type OptionKeys } from '../core/options';
import { fileobjToFd } from '../selectors';
import { resolveSignal, type SignalLike } from '../loop/signals';
import type { Future } from '../tasks/futures';
import { orphanChild, wantPidfd, watchChild, type WatchedChild } from './child_watcher';
import { BaseProtocol, type BaseTransport, type ProtocolFactory, type ReadTransport, type WriteTransport } from './protocols';
import type { SelectorEventLoop } from './selector_loop';
import { ReadPipeTransport, WritePipeTransport } from './transports/pipes';

/** stdio option: a new pipe (Python's `subprocess.PIPE`, -1). */
export const PIPE = -1;
/** stderr option: the same as stdout (Python's `subprocess.STDOUT`, -2). */
export const STDOUT = -2;
/** stdio option: /dev/null (Python's `subprocess.DEVNULL`, -3). */
export const DEVNULL = -3;

/**
 * What one of the child's stdin, stdout, stderr is: `PIPE`, `DEVNULL`, `STDOUT` (stderr only), an
 * fd of this process (or an object with `fileno()`) to give the child, or `null` to inherit this
 * process's own.
 */
export type StdioOption =
  | number
  | {
      /** The fd to give the child. */
      fileno(): number;
    }
  | null;

/** Options of `loop.subprocessExec`/`subprocessShell`. */
export interface SubprocessOptions {
  /** The child's stdin. Default (undefined) `PIPE`, as asyncio's loop methods; `null` inherits. */
  stdin?: StdioOption;
  /** The child's stdout. Default `PIPE`; `null` inherits. */
  stdout?: StdioOption;
  /** The child's stderr. Default `PIPE`; `STDOUT` merges it into stdout; `null` inherits. */
  stderr?: StdioOption;
  /** The child's working directory (default: this process's). */
  cwd?: string;
  /**
   * The child's whole environment (default: this process's). The program is looked up in its
   * `PATH` when it has one (Python's and Node's rule), else in `/bin:/usr/bin`.
   */
  env?: Record<string, string | undefined>;
}

/** A protocol for a child process: asyncio's `SubprocessProtocol`. All callbacks are optional. */
export class SubprocessProtocol extends BaseProtocol {
  /** Bytes from the child's stdout (`fd` 1) or stderr (`fd` 2). */
  pipeDataReceived(_fd: number, _data: Buffer): void {}

  /** One of the child's pipes closed: `exc` undefined at EOF, else the error. */
  pipeConnectionLost(_fd: number, _exc: Error | undefined): void {}

  /** The child exited (and is reaped): `transport.getReturncode()` has its status. */
  processExited(): void {}
}

/** The transport of a child process: asyncio's `SubprocessTransport`. */
export interface SubprocessTransport extends BaseTransport {
  /** The child's process id. */
  getPid(): number;
  /** The exit status, minus the signal number for a child killed by a signal, or null while it runs. */
  getReturncode(): number | null;
  /** The pipe transport of the child's fd 0 (a `WriteTransport`), 1 or 2 (`ReadTransport`s), or null. */
  getPipeTransport(fd: number): ReadTransport | WriteTransport | null;
  /**
   * Sends `sig` (a name or number) to the child; nothing once it has exited. After the transport
   * is finished (`connectionLost` ran) it throws `ESRCH` (Python's `ProcessLookupError`).
   */
  sendSignal(sig: SignalLike): void;
  /** `sendSignal('SIGTERM')`. */
  terminate(): void;
  /** `sendSignal('SIGKILL')`. */
  kill(): void;
}

/** A child's end and the parent's end of one stdio, once set up. */
interface Stdio {
  /** What the child gets on each of 0, 1, 2: -1 inherit, -2 /dev/null, or an fd. */
  childFds: [number, number, number];
  /** The parent's ends of the pipes, by child fd. */
  parentFds: Map<number, number>;
  /** Fds to close in the parent once the child runs (the child's pipe ends). */
  toClose: number[];
}

/** Checks one stdio option; what `setUpStdio` turns it into. */
function checkStdio(value: unknown, name: string, fallback: number, allowStdout: boolean): number | null {
  if (value === undefined) return fallback;
  if (value === null) return null;
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw codedError('ERR_OUT_OF_RANGE', `The value of "${name}" must be an integer. Received ${describe(value)}`, RangeError);
    if (value === PIPE || value === DEVNULL || (value === STDOUT && allowStdout) || (value >= 0 && value <= 0x7fffffff)) return value;
    throw codedError('ERR_OUT_OF_RANGE', `The value of "${name}" is out of range. It must be PIPE, DEVNULL${allowStdout ? ', STDOUT' : ''}, an fd >= 0 or null. Received ${describe(value)}`, RangeError);
  }
  if (typeof value === 'object' && typeof (value as { fileno?: unknown }).fileno === 'function') return fileobjToFd(value as { fileno(): number });
  throw invalidArgType(name, 'PIPE, DEVNULL, STDOUT, an fd, an object with fileno() or null', value);
}

interface Checked {
  argv: string[];
  stdio: [number | null, number | null, number | null];
  cwd: string | undefined;
  env: string[] | undefined;
}

const ASYNCIO_TEXT_KEYS = ['universalNewlines', 'text', 'encoding', 'errors', 'shell'] as const;
/** @internal The keys of `SubprocessOptions`. */
export const SUBPROCESS_KEYS = optionKeys<SubprocessOptions>()(['stdin', 'stdout', 'stderr', 'cwd', 'env']);
const CHECKED_KEYS: OptionKeys = new Set([...SUBPROCESS_KEYS, ...ASYNCIO_TEXT_KEYS]);

/** Every argument checked before anything is made (a bad one leaks nothing). */
function checkArguments(program: unknown, args: unknown, options: unknown): Checked {
  if (typeof program !== 'string') throw invalidArgType('program', 'of type string', program);
  // Node's spawn refuses it too; execve('') would only say ENOENT.
  if (program === '') throw invalidArgValue('program', 'a non-empty string', program);
  if (args !== undefined && !Array.isArray(args)) throw invalidArgType('args', 'an Array of strings', args);
  const argList = (args ?? []) as unknown[];
  // An index loop, not forEach: a hole is undefined, not skipped.
  for (let i = 0; i < argList.length; i++) {
    if (typeof argList[i] !== 'string') throw invalidArgType(`args[${i}]`, 'of type string', argList[i]);
  }
  if (options !== undefined && (options === null || typeof options !== 'object')) throw invalidArgType('options', 'an object', options);
  const opts = (options ?? {}) as Record<string, unknown>;
  // asyncio refuses text mode and buffering (ValueError): bytes only, unbuffered. Their names
  // are known (false/null is accepted, as asyncio does); any other unknown key is refused.
  for (const key of ASYNCIO_TEXT_KEYS) {
    if (opts[key] !== undefined && opts[key] !== false && opts[key] !== null) {
      throw codedError('ERR_INVALID_ARG_VALUE', `options.${key} is not supported: subprocess pipes carry bytes`, TypeError);
    }
  }
  checkOptionKeys(opts, CHECKED_KEYS);
  const stdio: Checked['stdio'] = [
    checkStdio(opts.stdin, 'options.stdin', PIPE, false),
    checkStdio(opts.stdout, 'options.stdout', PIPE, false),
    checkStdio(opts.stderr, 'options.stderr', PIPE, true),
  ];
  if (opts.cwd !== undefined && typeof opts.cwd !== 'string') throw invalidArgType('options.cwd', 'of type string', opts.cwd);
  let env: string[] | undefined;
  if (opts.env !== undefined) {
    // An Array or a Map is an object too, but Object.entries of it is not the environment meant.
    if (opts.env === null || typeof opts.env !== 'object' || Array.isArray(opts.env) || opts.env instanceof Map) {
      throw invalidArgType('options.env', 'an object of strings', opts.env);
    }
    env = [];
    for (const [key, value] of Object.entries(opts.env as Record<string, unknown>)) {
      if (value === undefined) continue;
      if (typeof value !== 'string') throw invalidArgType(`options.env.${key}`, 'of type string', value);
      if (key === '' || key.includes('=')) throw codedError('ERR_INVALID_ARG_VALUE', `options.env: invalid variable name ${describe(key)}`, TypeError);
      env.push(`${key}=${value}`);
    }
  }
  for (const s of [program, ...(argList as string[]), ...(env ?? []), (opts.cwd as string | undefined) ?? '']) {
    if (s.includes('\0')) throw codedError('ERR_INVALID_ARG_VALUE', `Arguments, env and cwd must be strings without null bytes. Received ${describe(s)}`, TypeError);
  }
  return { argv: [program, ...(argList as string[])], stdio, cwd: opts.cwd as string | undefined, env };
}

/** Makes the pipes; on failure closes what it made. */
function setUpStdio(stdio: Checked['stdio']): Stdio {
  const result: Stdio = { childFds: [-1, -1, -1], parentFds: new Map(), toClose: [] };
  try {
    for (let fd = 0; fd < 3; fd++) {
      const option = stdio[fd];
      if (option === null) result.childFds[fd] = -1;
      else if (option === DEVNULL) result.childFds[fd] = -2;
      else if (option === STDOUT) result.childFds[fd] = result.childFds[1] === -1 ? 1 : result.childFds[1];
      else if (option === PIPE) {
        const [readEnd, writeEnd] = binding.pipe(false);
        const [childEnd, parentEnd] = fd === 0 ? [readEnd, writeEnd] : [writeEnd, readEnd];
        result.toClose.push(childEnd);
        result.parentFds.set(fd, parentEnd);
        result.childFds[fd] = childEnd;
        // Only our end is non-blocking: the child expects blocking stdio.
        binding.setNonBlocking(parentEnd, true);
      } else result.childFds[fd] = option;
    }
  } catch (error) {
    for (const fd of [...result.toClose, ...result.parentFds.values()]) binding.close(fd);
    throw error;
  }
  return result;
}

/** Every child transport of a loop that is not finished yet, for `loop.close()`. */
const live = new WeakMap<SelectorEventLoop, Set<SubprocessTransportImpl>>();

/** One of the child's pipes: its transport and whether its connectionLost ran. */
interface PipeEntry {
  transport: ReadPipeTransport | WritePipeTransport;
  fd: number;
  closeFd: () => void;
  disconnected: boolean;
}

/** asyncio's `BaseSubprocessTransport`; see the module documentation. */
class SubprocessTransportImpl implements SubprocessTransport {
  readonly #loop: SelectorEventLoop;
  #protocol: BaseProtocol;
  readonly #child: WatchedChild;
  readonly #argv: string[];
  #returncode: number | null = null;
  #closed = false;
  #finished = false;
  readonly #pipes = new Map<number, PipeEntry>();
  #exitWaiters: Array<Future<number>> = [];
  /** Protocol calls made before connectionMade ran; undefined once it has. */
  #pending: Array<() => void> | undefined = [];

  constructor(loop: SelectorEventLoop, protocol: BaseProtocol, pid: number, pidfd: number, argv: string[]) {
    this.#loop = loop;
    this.#protocol = protocol;
    this.#argv = argv;
    this.#child = { pid, pidfd, loop, onExit: (returncode) => this.#processExited(returncode) };
    let set = live.get(loop);
    if (set === undefined) live.set(loop, (set = new Set()));
    set.add(this);
    watchChild(this.#child);
  }

  /**
   * @internal Connects the parent's pipe ends; once every pipe transport has started,
   * `connectionMade` runs and then `onReady` (asyncio's `_connect_pipes` order), in one callback.
   */
  connectPipes(parentFds: Map<number, number>, onReady: () => void): void {
    let starting = parentFds.size;
    const connected = (): void => {
      this.#protocol.connectionMade?.(this);
      const pending = this.#pending ?? [];
      this.#pending = undefined;
      for (const call of pending) call();
      onReady();
    };
    for (const [childFd, fd] of parentFds) {
      let open = true;
      const closeFd = (): void => {
        if (open) binding.close(fd);
        open = false;
      };
      const pipe = { fileno: () => fd, close: closeFd };
      const waiter = this.#loop.createFuture<void>();
      const proto = childFd === 0 ? new WritePipeProto(this, childFd) : new ReadPipeProto(this, childFd);
      const transport = childFd === 0 ? new WritePipeTransport(this.#loop, pipe, fd, proto, waiter) : new ReadPipeTransport(this.#loop, pipe, fd, proto, waiter);
      this.#pipes.set(childFd, { transport, fd, closeFd, disconnected: false });
      // A pipe transport's waiter is only ever resolved (its start-up cannot fail).
      waiter.addDoneCallback(() => {
        if (--starting === 0) this.#loop.callSoon(connected);
      });
    }
    if (starting === 0) this.#loop.callSoon(connected);
  }

  /** A protocol call: queued until connectionMade ran, then in order. */
  #call(call: () => void): void {
    if (this.#pending !== undefined) this.#pending.push(call);
    else this.#loop.callSoon(call);
  }

  /** @internal */ pipeDataReceived(fd: number, data: Buffer): void {
    const protocol = this.#protocol as SubprocessProtocol;
    if (this.#pending !== undefined) this.#pending.push(() => protocol.pipeDataReceived?.(fd, data));
    else protocol.pipeDataReceived?.(fd, data);
  }

  /** @internal */ pipeConnectionLost(fd: number, exc: Error | undefined): void {
    const entry = this.#pipes.get(fd);
    if (entry !== undefined) entry.disconnected = true;
    this.#call(() => (this.#protocol as SubprocessProtocol).pipeConnectionLost?.(fd, exc));
    this.#tryFinish();
  }

  /** @internal The stdin pipe's flow control, passed on to the protocol. */
  pauseWriting(): void {
    this.#protocol.pauseWriting?.();
  }

  /** @internal */ resumeWriting(): void {
    this.#protocol.resumeWriting?.();
  }

  #processExited(returncode: number): void {
    this.#returncode = returncode;
    this.#call(() => (this.#protocol as SubprocessProtocol).processExited?.());
    this.#tryFinish();
    const waiters = this.#exitWaiters;
    this.#exitWaiters = [];
    for (const waiter of waiters) if (!waiter.done()) waiter.setResult(returncode);
  }

  #tryFinish(): void {
    if (this.#returncode === null || this.#finished) return;
    for (const entry of this.#pipes.values()) if (!entry.disconnected) return;
    this.#finished = true;
    live.get(this.#loop)?.delete(this);
    this.#call(() => this.#protocol.connectionLost?.(undefined));
  }

  /** @internal A Future of the returncode (asyncio's `_wait`). */
  wait(): Future<number> {
    const future = this.#loop.createFuture<number>();
    if (this.#returncode !== null) future.setResult(this.#returncode);
    else this.#exitWaiters.push(future);
    return future;
  }

  /** @internal The loop is closing: pipes closed without callbacks, the child to the reaper. */
  abandon(): void {
    this.#closed = true;
    for (const entry of this.#pipes.values()) entry.closeFd();
    if (this.#returncode === null) orphanChild(this.#child);
  }

  getPid(): number {
    return this.#child.pid;
  }

  getReturncode(): number | null {
    return this.#returncode;
  }

  getPipeTransport(fd: number): ReadTransport | WriteTransport | null {
    return (this.#pipes.get(fd)?.transport as ReadTransport | WriteTransport | undefined) ?? null;
  }

  sendSignal(sig: SignalLike): void {
    const [, number] = resolveSignal(sig);
    if (this.#finished) throw codedError('ESRCH', 'The process has exited and its transport is finished (ProcessLookupError)');
    if (this.#returncode !== null) return;
    binding.sendSignal(this.#child.pid, this.#child.pidfd, number);
  }

  terminate(): void {
    this.sendSignal(osConstants.signals.SIGTERM);
  }

  kill(): void {
    this.sendSignal(osConstants.signals.SIGKILL);
  }

  /** Extra information: `'subprocess'` gives `{ pid, args }`. */
  getExtraInfo(name: string, defaultValue?: unknown): unknown {
    return name === 'subprocess' ? { pid: this.#child.pid, args: [...this.#argv] } : defaultValue;
  }

  isClosing(): boolean {
    return this.#closed;
  }

  /**
   * Closes the pipes and, if the child still runs, kills it with SIGKILL (asyncio's `close`); the
   * child is still reaped and `processExited`/`connectionLost` follow. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const entry of this.#pipes.values()) if (!entry.disconnected) entry.transport.close();
    if (this.#returncode === null) {
      try {
        this.kill();
      } catch (error) {
        if ((error as { code?: string }).code !== 'ESRCH') throw error;
      }
    }
  }

  setProtocol(protocol: BaseProtocol): void {
    if (protocol === null || typeof protocol !== 'object') throw invalidArgType('protocol', 'a protocol object', protocol);
    this.#protocol = protocol;
  }

  getProtocol(): BaseProtocol {
    return this.#protocol;
  }

  toString(): string {
    const state = this.#closed ? ' closed' : this.#returncode !== null ? ` returncode=${this.#returncode}` : ' running';
    return `<SubprocessTransport pid=${this.#child.pid}${state}>`;
  }
}

/** The protocol of a stdout/stderr pipe (asyncio's `ReadSubprocessPipeProto`). */
class ReadPipeProto extends BaseProtocol {
  constructor(
    readonly owner: SubprocessTransportImpl,
    readonly fd: number,
  ) {
    super();
  }

  dataReceived(data: Buffer): void {
    this.owner.pipeDataReceived(this.fd, data);
  }

  override connectionLost(exc: Error | undefined): void {
    this.owner.pipeConnectionLost(this.fd, exc);
  }
}

/** The protocol of the stdin pipe (asyncio's `WriteSubprocessPipeProto`). */
class WritePipeProto extends BaseProtocol {
  constructor(
    readonly owner: SubprocessTransportImpl,
    readonly fd: number,
  ) {
    super();
  }

  override connectionLost(exc: Error | undefined): void {
    this.owner.pipeConnectionLost(this.fd, exc);
  }

  override pauseWriting(): void {
    this.owner.pauseWriting();
  }

  override resumeWriting(): void {
    this.owner.resumeWriting();
  }
}

/** `loop.close()`: every child still running goes to the reaper (see the module documentation). */
export function abandonSubprocesses(loop: SelectorEventLoop): void {
  const set = live.get(loop);
  if (set === undefined) return;
  live.delete(loop);
  for (const transport of set) transport.abandon();
}

/** @internal A Future of `transport`'s returncode (asyncio's `transport._wait()`). */
export function waitForExit(transport: SubprocessTransport): Future<number> {
  return (transport as SubprocessTransportImpl).wait();
}

/** `SelectorEventLoop.subprocessExec`. */
export function subprocessExec<P extends BaseProtocol>(
  loop: SelectorEventLoop,
  protocolFactory: ProtocolFactory<P>,
  program: string,
  args?: readonly string[],
  options?: SubprocessOptions,
): Future<[SubprocessTransport, P]> {
  const outer = loop.createFuture<[SubprocessTransport, P]>();
  let transport: SubprocessTransportImpl;
  let protocol: P;
  let stdio: Stdio | undefined;
  try {
    if (typeof protocolFactory !== 'function') throw invalidArgType('protocolFactory', 'a function', protocolFactory);
    const checked = checkArguments(program, args, options);
    protocol = protocolFactory();
    stdio = setUpStdio(checked.stdio);
    const pidfdWanted = wantPidfd();
    let pid: number;
    let pidfd: number;
    try {
      [pid, pidfd] = binding.spawn(program, checked.argv, checked.env, checked.cwd, stdio.childFds, pidfdWanted);
    } finally {
      for (const fd of stdio.toClose) binding.close(fd);
    }
    transport = new SubprocessTransportImpl(loop, protocol, pid, pidfd, checked.argv);
  } catch (error) {
    if (stdio !== undefined) for (const fd of stdio.parentFds.values()) binding.close(fd);
    outer.setException(error);
    return outer;
  }
  transport.connectPipes(stdio.parentFds, () => {
    if (!outer.done()) outer.setResult([transport, protocol]);
    else transport.close(); // cancelled meanwhile: the child is killed and reaped
  });
  return outer;
}

/** `SelectorEventLoop.subprocessShell`: `/bin/sh -c cmd`. */
export function subprocessShell<P extends BaseProtocol>(
  loop: SelectorEventLoop,
  protocolFactory: ProtocolFactory<P>,
  cmd: string,
  options?: SubprocessOptions,
): Future<[SubprocessTransport, P]> {
  if (typeof cmd !== 'string') {
    const failed = loop.createFuture<[SubprocessTransport, P]>();
    failed.setException(invalidArgType('cmd', 'of type string', cmd));
    return failed;
  }
  return subprocessExec(loop, protocolFactory, '/bin/sh', ['-c', cmd], options);
}

/**
 * Subprocesses with streams: asyncio's `asyncio.subprocess` (`create_subprocess_exec`,
 * `create_subprocess_shell`, `Process`, `SubprocessStreamProtocol`), over `loop.subprocessExec`.
 * Every method that waits returns a loop `Future`, so both coroutine styles work:
 * `await proc.wait()` in an async function, `yield proc.wait()` in a generator.
 * @packageDocumentation
 */
import { invalidArgType, outOfRange } from '../core/errors';
import type { SignalLike } from '../loop/signals';
import type { BaseTransport, BytesLike, ReadTransport, Transport } from '../net/protocols';
import { getRunningLoop, type SelectorEventLoop } from '../net/selector_loop';
import { type SubprocessOptions, type SubprocessTransport, waitForExit } from '../net/subprocess';
import { toBytes } from '../net/transports/base';
import type { WritePipeTransport } from '../net/transports/pipes';
import type { Future } from '../tasks/futures';
import { gather } from '../tasks/helpers';
import { FlowControlProtocol, streamsLoop } from './protocol';
import { DEFAULT_LIMIT, StreamReader } from './reader';
import { StreamWriter } from './writer';

/**
 * Options of `createSubprocessExec`/`createSubprocessShell`: the loop method's, except that an
 * stdio left out (undefined) inherits this process's, as in asyncio's functions; plus the
 * readers' `limit` and the `loop`.
 */
export interface CreateSubprocessOptions extends SubprocessOptions {
  /** The `StreamReader` buffer limit of stdout and stderr (default 64 KiB). */
  limit?: number;
  /** The loop (default: the running loop). */
  loop?: SelectorEventLoop;
}

/** The protocol behind a `Process` (asyncio's `SubprocessStreamProtocol`). */
class SubprocessStreamProtocol extends FlowControlProtocol {
  readonly #limit: number;
  stdin: StreamWriter | null = null;
  stdout: StreamReader | null = null;
  stderr: StreamReader | null = null;
  #transport: SubprocessTransport | undefined;
  #pipeFds: number[] = [];
  #processExited = false;
  readonly #stdinClosed: Future<void>;
  readonly serverSide = false;

  constructor(limit: number, loop: SelectorEventLoop) {
    super(loop);
    this.#limit = limit;
    this.#stdinClosed = loop.createFuture<void>();
  }

  override connectionMade(transport: BaseTransport): void {
    const sub = transport as SubprocessTransport;
    this.#transport = sub;
    const stdout = sub.getPipeTransport(1);
    if (stdout !== null) {
      this.stdout = new StreamReader(this.#limit, this.loop);
      this.stdout.setTransport(stdout as Transport);
      this.#pipeFds.push(1);
    }
    const stderr = sub.getPipeTransport(2);
    if (stderr !== null) {
      this.stderr = new StreamReader(this.#limit, this.loop);
      this.stderr.setTransport(stderr as Transport);
      this.#pipeFds.push(2);
    }
    const stdin = sub.getPipeTransport(0);
    if (stdin !== null) this.stdin = new StreamWriter(stdin as Transport, this, undefined, this.loop);
  }

  pipeDataReceived(fd: number, data: Buffer): void {
    (fd === 1 ? this.stdout : fd === 2 ? this.stderr : null)?.feedData(data);
  }

  pipeConnectionLost(fd: number, exc: Error | undefined): void {
    if (fd === 0) {
      this.#transport?.getPipeTransport(0)?.close();
      this.connectionLost(exc);
      if (exc === undefined) this.#stdinClosed.setResult(undefined);
      else {
        this.#stdinClosed.setException(exc);
        this.#stdinClosed.exception(); // reported through drain(); not "never retrieved"
      }
      return;
    }
    const reader = fd === 1 ? this.stdout : fd === 2 ? this.stderr : null;
    if (reader !== null) {
      if (exc === undefined) reader.feedEof();
      else reader.setException(exc);
    }
    this.#pipeFds = this.#pipeFds.filter((f) => f !== fd);
    this.#maybeCloseTransport();
  }

  processExited(): void {
    this.#processExited = true;
    this.#maybeCloseTransport();
  }

  #maybeCloseTransport(): void {
    if (this.#pipeFds.length === 0 && this.#processExited) {
      this.#transport?.close();
      this.#transport = undefined;
    }
  }

  /** @internal `StreamWriter.waitClosed()` of stdin. */
  closeWaiter(): Future<void> {
    return this.#stdinClosed;
  }
}

/**
 * A child process with streams (asyncio's `asyncio.subprocess.Process`), made by
 * `createSubprocessExec`/`createSubprocessShell`. `stdin`, `stdout`, `stderr` are null unless
 * that stdio is `PIPE`.
 */
export class Process {
  readonly #transport: SubprocessTransport;
  readonly #loop: SelectorEventLoop;
  /** The child's stdin, when it is `PIPE`. */
  readonly stdin: StreamWriter | null;
  /** The child's stdout, when it is `PIPE`. */
  readonly stdout: StreamReader | null;
  /** The child's stderr, when it is `PIPE`. */
  readonly stderr: StreamReader | null;
  /** The child's process id. */
  readonly pid: number;

  /** @internal Made by `createSubprocessExec`. */
  constructor(transport: SubprocessTransport, protocol: SubprocessStreamProtocol, loop: SelectorEventLoop) {
    this.#transport = transport;
    this.#loop = loop;
    this.stdin = protocol.stdin;
    this.stdout = protocol.stdout;
    this.stderr = protocol.stderr;
    this.pid = transport.getPid();
  }

  /** The exit status; minus the signal number if a signal ended it (Python's); null while it runs. */
  get returncode(): number | null {
    return this.#transport.getReturncode();
  }

  /**
   * Resolves with the returncode once the child has exited. With `stdout: PIPE` and nobody
   * reading, a child that writes more than the pipe holds never exits: use `communicate()`.
   */
  wait(): Future<number> {
    return waitForExit(this.#transport);
  }

  /**
   * Writes `input` (if any) to stdin and closes it, reads stdout and stderr to EOF at the same
   * time, waits for the exit, and resolves with `[stdout, stderr]` (null for a stream that is not
   * `PIPE`). `input` is not copied: leave it unchanged until the Future resolves. A child that exits without reading its stdin is not an error (EPIPE and ECONNRESET
   * are ignored, as asyncio does).
   */
  communicate(input?: BytesLike | null): Future<[Buffer | null, Buffer | null]> {
    return this.#loop.createTask(async () => {
      const [, stdout, stderr] = await gather(this.#feedStdin(input), this.#readStream(1), this.#readStream(2));
      await this.wait();
      return [stdout, stderr] as [Buffer | null, Buffer | null];
    });
  }

  async #feedStdin(input: BytesLike | null | undefined): Promise<void> {
    const stdin = this.stdin;
    if (stdin === null) return;
    try {
      if (input !== undefined && input !== null) {
        // No copy of what the pipe does not take at once: `input` is only read until this resolves.
        const pipe = this.#transport.getPipeTransport(0) as WritePipeTransport | null;
        if (pipe !== null && !pipe.isClosing()) pipe.writeBorrowed(toBytes(input, 'input'));
        else stdin.write(input);
      }
      await stdin.drain();
    } catch (error) {
      const code = (error as { code?: string } | null)?.code;
      if (code !== 'EPIPE' && code !== 'ECONNRESET') throw error;
    }
    stdin.close();
  }

  async #readStream(fd: 1 | 2): Promise<Buffer | null> {
    const stream = fd === 1 ? this.stdout : this.stderr;
    if (stream === null) return null;
    const output = await stream.read();
    (this.#transport.getPipeTransport(fd) as ReadTransport | null)?.close();
    return output;
  }

  /** Sends `sig` (name or number); nothing once the child has exited. */
  sendSignal(sig: SignalLike): void {
    this.#transport.sendSignal(sig);
  }

  /** Sends SIGTERM. */
  terminate(): void {
    this.#transport.terminate();
  }

  /** Sends SIGKILL. */
  kill(): void {
    this.#transport.kill();
  }

  /** `<Process pid>`. */
  toString(): string {
    return `<Process ${this.pid}>`;
  }
}

function failed<T>(loop: SelectorEventLoop, error: unknown): Future<T> {
  const future = loop.createFuture<T>();
  future.setException(error);
  return future;
}

function create(options: CreateSubprocessOptions | undefined, start: (loop: SelectorEventLoop, factory: () => SubprocessStreamProtocol, rest: SubprocessOptions) => Future<[SubprocessTransport, SubprocessStreamProtocol]>): Future<Process> {
  if (options !== undefined && options !== null && typeof options !== 'object') return failed(getRunningLoop(), invalidArgType('options', 'an object', options));
  const loop = streamsLoop(options?.loop, 'subprocessExec');
  const { limit = DEFAULT_LIMIT, loop: _loop, stdin = null, stdout = null, stderr = null, ...rest } = options ?? {};
  if (typeof limit !== 'number' || Number.isNaN(limit)) return failed(loop, invalidArgType('options.limit', 'a number', limit));
  if (limit <= 0) return failed(loop, outOfRange('options.limit', '> 0 (Limit cannot be <= 0)', limit));
  const protocol = new SubprocessStreamProtocol(limit, loop);
  const started = start(loop, () => protocol, { ...rest, stdin, stdout, stderr });
  const outer = loop.createFuture<Process>();
  started.addDoneCallback(() => {
    if (outer.done()) return;
    if (started.cancelled()) outer.cancel();
    else if (started.exception() !== undefined) outer.setException(started.exception());
    else outer.setResult(new Process(started.result()[0], protocol, loop));
  });
  outer.addDoneCallback(() => {
    if (outer.cancelled()) started.cancel();
  });
  return outer;
}

/**
 * Starts `program` with `args` and resolves with its `Process` (asyncio's
 * `create_subprocess_exec`). stdio left out inherits this process's; pass `PIPE` to talk to it:
 *
 * ```ts
 * const proc = await createSubprocessExec('ls', ['-l'], { stdout: PIPE });
 * const [out] = await proc.communicate();
 * ```
 *
 * `args` may be left out: `createSubprocessExec('date', { stdout: PIPE })`. A missing program
 * rejects with `ENOENT` (`errno`, `syscall`, `path`).
 */
export function createSubprocessExec(program: string, args?: readonly string[] | CreateSubprocessOptions, options?: CreateSubprocessOptions): Future<Process> {
  if (args !== undefined && args !== null && !Array.isArray(args) && typeof args === 'object' && options === undefined) {
    options = args as CreateSubprocessOptions;
    args = undefined;
  }
  return create(options, (loop, factory, rest) => loop.subprocessExec(factory, program, args as readonly string[] | undefined, rest));
}

/** `createSubprocessExec` of `/bin/sh -c cmd` (asyncio's `create_subprocess_shell`). */
export function createSubprocessShell(cmd: string, options?: CreateSubprocessOptions): Future<Process> {
  return create(options, (loop, factory, rest) => loop.subprocessShell(factory, cmd, rest));
}

export { PIPE, STDOUT, DEVNULL } from '../net/subprocess';

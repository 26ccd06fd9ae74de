/**
 * The protocols behind a stream pair: `FlowControlProtocol` (asyncio's `FlowControlMixin`) and
 * `StreamReaderProtocol`, which feeds a `StreamReader` and makes the `StreamWriter`.
 * @packageDocumentation
 */
import { invalidArgType } from '../core/errors';
import type { Future } from '../tasks/futures';
import { getEventLoop, getRunningLoop, type SelectorEventLoop } from '../net/selector_loop';
import { type BaseTransport, Protocol, type Transport } from '../net/protocols';
import { isGenerator, isThenable, type Task } from '../tasks/tasks';
import { connectionLostError, StreamReader } from './reader';
import { StreamWriter } from './writer';

/**
 * A protocol with the flow control `StreamWriter.drain()` needs (asyncio's `FlowControlMixin`):
 * `pauseWriting`/`resumeWriting` from the transport open and close a gate, `drainHelper()` waits
 * at it, and `connectionLost` wakes every waiter (with the error, if there is one).
 */
export class FlowControlProtocol extends Protocol {
  /** The loop the drain Futures belong to. */
  protected readonly loop: SelectorEventLoop;
  #paused = false;
  #connectionLost = false;
  #drainWaiters: Array<Future<void>> = [];

  /** Bound to `loop` (default: the running loop, else `getEventLoop()`). */
  constructor(loop?: SelectorEventLoop) {
    super();
    this.loop = loop ?? getEventLoop();
  }

  /** The transport's buffer went over its high-water mark. */
  override pauseWriting(): void {
    this.#paused = true;
  }

  /** The transport's buffer drained to its low-water mark: wakes every `drain()`. */
  override resumeWriting(): void {
    this.#paused = false;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const waiter of waiters) if (!waiter.done()) waiter.setResult(undefined);
  }

  /** Wakes every paused `drain()`: with `exc`, or normally for a clean close. */
  override connectionLost(exc: Error | undefined): void {
    this.#connectionLost = true;
    if (!this.#paused) return;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const waiter of waiters) {
      if (waiter.done()) continue;
      if (exc === undefined) waiter.setResult(undefined);
      else waiter.setException(exc);
    }
  }

  /**
   * A Future that resolves once writing may go on: at once unless paused; `ECONNRESET`
   * ('Connection lost') once the connection is gone. Any number may wait.
   */
  drainHelper(): Future<void> {
    const future = this.loop.createFuture<void>();
    this.drainInto(future);
    return future;
  }

  /** @internal `drainHelper`, settling a Future the caller made. */
  drainInto(future: Future<void>): void {
    if (future.done()) return;
    if (this.#connectionLost) future.setException(connectionLostError());
    else if (!this.#paused) future.setResult(undefined);
    else {
      if (this.#drainWaiters.length > 16) this.#drainWaiters = this.#drainWaiters.filter((w) => !w.done());
      this.#drainWaiters.push(future);
    }
  }
}

/**
 * Called for each connection a stream server accepts. It may be an async function or a generator
 * function (run as a task, which ends the connection with `transport.close()` when it fails or is
 * cancelled; a failure goes to the loop's exception handler), or a plain function (its result, if
 * it is a Promise or a generator object, is run as a task the same way).
 */
export type ClientConnectedCallback = (reader: StreamReader, writer: StreamWriter) => unknown;

const CORO_FUNCTION_TAGS = new Set(['[object AsyncFunction]', '[object GeneratorFunction]']);

/**
 * The protocol between a transport and a `StreamReader` (asyncio's `StreamReaderProtocol`): data
 * and EOF go to the reader, a lost connection becomes the reader's exception; for servers it
 * makes the `StreamWriter` and calls the client-connected callback.
 */
export class StreamReaderProtocol extends FlowControlProtocol {
  #reader: StreamReader | undefined;
  #clientConnected: ClientConnectedCallback | undefined;
  #task: Task | undefined;
  readonly #closed: Future<void>;

  /** Feeds `reader`; with `clientConnected`, calls it with the reader and a new writer once connected. */
  constructor(reader: StreamReader | undefined, clientConnected?: ClientConnectedCallback, loop?: SelectorEventLoop) {
    super(loop);
    if (clientConnected !== undefined && typeof clientConnected !== 'function') {
      throw invalidArgType('clientConnected', 'a function', clientConnected);
    }
    this.#reader = reader;
    this.#clientConnected = clientConnected;
    this.#closed = this.loop.createFuture<void>();
  }

  /** @internal True on a server's connection (a client-connected callback): `startTls`'s side. */
  get serverSide(): boolean {
    return this.#clientConnected !== undefined;
  }

  /** Gives the reader its transport and, on a server, runs the client-connected callback. */
  override connectionMade(transport: BaseTransport): void {
    const stream = transport as Transport;
    this.#reader?.setTransport(stream);
    const callback = this.#clientConnected;
    if (callback === undefined) return;
    const reader = this.#reader as StreamReader;
    const writer = new StreamWriter(stream, this, reader, this.loop);
    let task: Task | undefined;
    try {
      if (CORO_FUNCTION_TAGS.has(Object.prototype.toString.call(callback))) {
        // Run the function itself as the task's coroutine, so its awaits are the task's.
        task = this.loop.createTask(callback, { args: [reader, writer] });
      } else {
        const result = callback(reader, writer);
        if (isGenerator(result) || isThenable(result)) task = this.loop.createTask(result as Generator);
      }
    } catch (error) {
      this.#clientFailed(error, stream);
      return;
    }
    if (task === undefined) return;
    this.#task = task;
    task.addDoneCallback((done) => {
      if (this.#task === done) this.#task = undefined;
      if (done.cancelled()) {
        stream.close();
        return;
      }
      const error = done.exception();
      if (error !== undefined) this.#clientFailed(error, stream);
    });
  }

  /** Feeds the reader. */
  override dataReceived(data: Buffer): void {
    this.#reader?.feedData(data);
  }

  /** Feeds EOF to the reader and keeps the transport open for writing (the app closes it). */
  override eofReceived(): boolean {
    this.#reader?.feedEof();
    return true;
  }

  /** EOF (or the error) to the reader, resolves `waitClosed()`, wakes the drainers. */
  override connectionLost(exc: Error | undefined): void {
    const reader = this.#reader;
    if (reader !== undefined) {
      if (exc === undefined) reader.feedEof();
      else reader.setException(exc);
    }
    if (!this.#closed.done()) {
      if (exc === undefined) this.#closed.setResult(undefined);
      else {
        this.#closed.setException(exc);
        this.#closed.exception(); // seen by the reader; not "never retrieved" if nobody waits
      }
    }
    super.connectionLost(exc);
    this.#reader = undefined;
  }

  /** @internal The Future `StreamWriter.waitClosed()` returns. */
  closeWaiter(): Future<void> {
    return this.#closed;
  }

  #clientFailed(error: unknown, transport: Transport): void {
    this.loop.callExceptionHandler({ message: 'Unhandled exception in client_connected_cb', exception: error, transport });
    transport.close();
  }
}

/**
 * @internal The loop of a streams call: `options.loop`, else the running loop (which throws when
 * there is none). Thrown, not returned in a Future: without a loop nothing could settle one.
 * `needs` names a method the loop must have (the call it will make).
 */
export function streamsLoop(given: unknown, needs: keyof SelectorEventLoop): SelectorEventLoop {
  const loop = given ?? getRunningLoop();
  const candidate = loop as Partial<Record<keyof SelectorEventLoop, unknown>> | null;
  if (typeof candidate?.createFuture !== 'function' || typeof candidate[needs] !== 'function') {
    throw invalidArgType('options.loop', 'a SelectorEventLoop', loop);
  }
  return loop as SelectorEventLoop;
}

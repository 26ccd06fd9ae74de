/**
 * Streams: asyncio's `asyncio.streams` (python-anchor.md section 5.3). `openConnection` gives a
 * `[StreamReader, StreamWriter]` pair, `startServer` calls back with one pair per accepted
 * connection. The rules are in `reader.ts`; the pieces: `reader.ts` (StreamReader and its errors),
 * `protocol.ts` (the protocols), `writer.ts` (StreamWriter), this file (the functions).
 * This folder imports net/, tasks/ and core/.
 * @packageDocumentation
 */
import { invalidArgType, outOfRange } from '../core/errors';
import type { Future } from '../tasks/futures';
import type { SelectorEventLoop } from '../net/selector_loop';
import type { BaseProtocol, ProtocolFactory, Transport } from '../net/protocols';
import type { Server } from '../net/server';
import type { CreateConnectionOptions, CreateServerOptions, CreateUnixServerOptions } from '../net/servers';
import type { Socket } from '../socket';
import { DEFAULT_LIMIT, StreamReader } from './reader';
import { type ClientConnectedCallback, StreamReaderProtocol, streamsLoop } from './protocol';
import { StreamWriter } from './writer';

export { IncompleteReadError, LimitOverrunError, StreamReader, type ReadOptions } from './reader';
export { FlowControlProtocol, StreamReaderProtocol, type ClientConnectedCallback } from './protocol';
export { StreamWriter, type WriterProtocol } from './writer';
export { createSubprocessExec, createSubprocessShell, Process, PIPE, STDOUT, DEVNULL, type CreateSubprocessOptions } from './subprocess';

/** What every stream function takes besides its loop method's options. */
export interface StreamOptions {
  /** The `StreamReader` buffer limit (default 64 KiB). */
  limit?: number;
  /** The loop (default: the running loop; without one the call throws `ERR_NO_RUNNING_LOOP`). */
  loop?: SelectorEventLoop;
}

/** Options of `openConnection`: `limit`, `loop`, and `loop.createConnection`'s options. */
export type OpenConnectionOptions = StreamOptions & CreateConnectionOptions;
/** Options of `startServer`: `limit`, `loop`, and `loop.createServer`'s options. */
export type StartServerOptions = StreamOptions & CreateServerOptions;
/** Options of `openUnixConnection`: `limit`, `loop`, and `loop.createUnixConnection`'s options. */
export type OpenUnixConnectionOptions = StreamOptions & {
  /** An already connected Unix socket to use instead of connecting to `path`. */
  sock?: Socket;
};
/** Options of `startUnixServer`: `limit`, `loop`, and `loop.createUnixServer`'s options. */
export type StartUnixServerOptions = StreamOptions & CreateUnixServerOptions;

function splitOptions<O extends StreamOptions>(options: O | undefined): { limit: number; rest: Omit<O, 'limit' | 'loop'> } {
  const { limit = DEFAULT_LIMIT, loop: _loop, ...rest } = options ?? ({} as O);
  // The reader would check it too, but only once connected: fail before connecting.
  if (typeof limit !== 'number' || Number.isNaN(limit)) throw invalidArgType('options.limit', 'a number', limit);
  if (limit <= 0) throw outOfRange('options.limit', '> 0 (Limit cannot be <= 0)', limit);
  return { limit, rest };
}

/** Settles `outer` from `inner` through `map`; cancelling `outer` cancels `inner`. */
function chain<A, B>(loop: SelectorEventLoop, inner: Future<A>, map: (value: A) => B): Future<B> {
  const outer = loop.createFuture<B>();
  inner.addDoneCallback(() => {
    if (outer.done()) return;
    if (inner.cancelled()) {
      outer.cancel();
      return;
    }
    try {
      outer.setResult(map(inner.result()));
    } catch (error) {
      outer.setException(error);
    }
  });
  outer.addDoneCallback(() => {
    if (outer.cancelled()) inner.cancel();
  });
  return outer;
}

function failedFuture<T>(loop: SelectorEventLoop, error: unknown): Future<T> {
  const future = loop.createFuture<T>();
  future.setException(error);
  return future;
}

function connect<O extends StreamOptions>(
  options: O | undefined,
  call: (loop: SelectorEventLoop, factory: ProtocolFactory<StreamReaderProtocol>, rest: Omit<O, 'limit' | 'loop'>) => Future<[Transport, BaseProtocol]>,
): Future<[StreamReader, StreamWriter]> {
  const loop = streamsLoop(options?.loop, 'createConnection');
  let parsed;
  try {
    parsed = splitOptions(options);
  } catch (error) {
    return failedFuture(loop, error);
  }
  const { limit, rest } = parsed;
  const reader = new StreamReader(limit, loop);
  const protocol = new StreamReaderProtocol(reader, undefined, loop);
  let connecting: Future<[Transport, BaseProtocol]>;
  try {
    connecting = call(loop, () => protocol, rest);
  } catch (error) {
    return failedFuture(loop, error);
  }
  return chain(loop, connecting, ([transport]) => [reader, new StreamWriter(transport, protocol, reader, loop)]);
}

function serve<O extends StreamOptions>(
  clientConnected: ClientConnectedCallback,
  options: O | undefined,
  call: (loop: SelectorEventLoop, factory: ProtocolFactory<StreamReaderProtocol>, rest: Omit<O, 'limit' | 'loop'>) => Future<Server>,
): Future<Server> {
  const loop = streamsLoop(options?.loop, 'createServer');
  try {
    if (typeof clientConnected !== 'function') throw invalidArgType('clientConnected', 'a function', clientConnected);
    const { limit, rest } = splitOptions(options);
    const factory = (): StreamReaderProtocol => new StreamReaderProtocol(new StreamReader(limit, loop), clientConnected, loop);
    return call(loop, factory, rest);
  } catch (error) {
    return failedFuture(loop, error);
  }
}

/**
 * Connects to `host`:`port` over TCP and resolves with `[reader, writer]` (asyncio's
 * `open_connection`). `options.limit` is the reader's limit; the other options go to
 * `loop.createConnection`. Uses the running loop unless `options.loop` is given.
 */
export function openConnection(
  host: string | null,
  port: number | string | null,
  options?: OpenConnectionOptions,
): Future<[StreamReader, StreamWriter]> {
  return connect(options, (loop, factory, rest) => loop.createConnection(factory, host, port, rest));
}

/**
 * Starts a TCP server on `host`:`port` that calls `clientConnected(reader, writer)` for every
 * connection (asyncio's `start_server`); resolves with the loop's `Server`. `options.limit` is
 * each reader's limit; the other options go to `loop.createServer`.
 */
export function startServer(
  clientConnected: ClientConnectedCallback,
  host?: string | readonly string[] | null,
  port?: number | string | null,
  options?: StartServerOptions,
): Future<Server> {
  return serve(clientConnected, options, (loop, factory, rest) => loop.createServer(factory, host, port, rest));
}

/** `openConnection` over a Unix stream socket at `path` (asyncio's `open_unix_connection`). */
export function openUnixConnection(path: string | null, options?: OpenUnixConnectionOptions): Future<[StreamReader, StreamWriter]> {
  return connect(options, (loop, factory, rest) => loop.createUnixConnection(factory, path, rest));
}

/** `startServer` on a Unix stream socket at `path` (asyncio's `start_unix_server`). */
export function startUnixServer(
  clientConnected: ClientConnectedCallback,
  path?: string | null,
  options?: StartUnixServerOptions,
): Future<Server> {
  return serve(clientConnected, options, (loop, factory, rest) => loop.createUnixServer(factory, path, rest));
}

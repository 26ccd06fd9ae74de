/**
 * muxloop: Python's `selectors` and `asyncio` for Node.js, on a native core of its own.
 * @packageDocumentation
 */
export * from './selectors';
export { codedError, type CodedError } from './core/errors';
export { Handle, TimerHandle, type ExceptionContext, type Callback } from './core/events';
export { Future, InvalidStateError, CancelledError, wrapFuture, isFuture, type DoneCallback } from './tasks/futures';
export {
  BaseEventLoop,
  type EventLoopOptions,
  type TaskOptions,
  type TaskFactory,
  type ExceptionHandler,
} from './loop/base_loop';
export { SelectorEventLoop, type IoMode, type SelectorEventLoopOptions } from './net/selector_loop';
export { EventLoop, getRunningLoop, getEventLoop, setEventLoop, newEventLoop } from './loops';
export type { AbstractEventLoop } from './core/events';
export type { FutureLoop } from './tasks/futures';
export * from './socket';
export {
  AF_UNSPEC,
  AI_PASSIVE,
  AI_CANONNAME,
  AI_NUMERICHOST,
  AI_V4MAPPED,
  AI_ALL,
  AI_ADDRCONFIG,
  AI_NUMERICSERV,
  NI_NUMERICHOST,
  NI_NUMERICSERV,
  NI_NAMEREQD,
  NI_DGRAM,
  type AddrInfo,
  type GetaddrinfoOptions,
} from './loop/resolver';
export { select, FD_SETSIZE } from './selectors/select';
export {
  Task,
  type TaskConstructorOptions,
  type Coroutine,
  type Awaitable,
  createTask,
  currentTask,
  allTasks,
  ensureFuture,
  isCoroutine,
  type TaskLoop,
  type ResultOf,
  type TaskOptionsFor,
} from './tasks/tasks';
export {
  sleep,
  gather,
  type GatherOptions,
  wait,
  type WaitOptions,
  type ReturnWhen,
  FIRST_COMPLETED,
  FIRST_EXCEPTION,
  ALL_COMPLETED,
  waitFor,
  asCompleted,
  AsCompleted,
  shield,
  type SleepOptions,
  type GatherResults,
  type GatherOutcomes,
  type AsFuture,
} from './tasks/helpers';
export { Timeout, TimeoutError, timeout, timeoutAt, type TimeoutOptions } from './tasks/timeouts';
export { TaskGroup, ExceptionGroup } from './tasks/taskgroups';
export { run, runSync, type RunOptions, KeyboardInterrupt } from './runners';
export type { SignalLike } from './loop/signals';
export { Lock, Event, Condition, Semaphore, BoundedSemaphore, Barrier, BrokenBarrierError, type Held } from './tasks/locks';
export { Queue, PriorityQueue, LifoQueue, QueueEmpty, QueueFull, QueueShutDown } from './tasks/queues';
export {
  BaseProtocol,
  Protocol,
  BufferedProtocol,
  DatagramProtocol,
  type ProtocolFactory,
  type BytesLike,
  type BaseTransport,
  type ReadTransport,
  type WriteTransport,
  type Transport,
  type DatagramTransport,
} from './net/protocols';
export { Server, ACCEPT_RETRY_DELAY } from './net/server';
export {
  type CreateServerOptions as LoopCreateServerOptions,
  type CreateUnixServerOptions,
  type CreateConnectionOptions,
  type CreateDatagramEndpointOptions,
} from './net/servers';
export { MAX_READ_SIZE } from './net/transports/base';
export type { PipeLike } from './net/transports/pipes';
export { TlsContext, wrapTls, SSLProtocol, SSLTransport, SSL_HANDSHAKE_TIMEOUT, SSL_SHUTDOWN_TIMEOUT } from './net/tls';
export type { TlsOptions, WrapTlsOptions, SslOptions, SNICallback } from './net/tls';
export type { PemInput } from './net/tls/context';
export type { SSLProtocolOptions } from './net/tls/sslproto';
export type { NativeTlsInfo } from './core/native';
export {
  StreamReader,
  StreamWriter,
  StreamReaderProtocol,
  FlowControlProtocol,
  IncompleteReadError,
  LimitOverrunError,
  openConnection,
  startServer,
  openUnixConnection,
  startUnixServer,
  type ReadOptions,
  type StreamOptions,
  type OpenConnectionOptions,
  type StartServerOptions,
  type OpenUnixConnectionOptions,
  type StartUnixServerOptions,
  type ClientConnectedCallback,
  type WriterProtocol,
  createSubprocessExec,
  createSubprocessShell,
  Process,
  PIPE,
  STDOUT,
  DEVNULL,
  type CreateSubprocessOptions,
} from './streams';
export { SubprocessProtocol, type SubprocessTransport, type SubprocessOptions, type StdioOption } from './net/subprocess';
export {
  ThreadPoolExecutor,
  type ThreadPoolOptions,
} from './loop/thread_pool';
export { ProcessPoolExecutor, type ProcessPoolOptions } from './loop/process_pool';
export {
  transfer,
  type Executor,
  type Job,
  type JobState,
  type Work,
  type PoolOptions,
  type ShutdownOptions,
  type Transferable,
  type TransferMarker,
} from './loop/executors';
export { toThread } from './loop/run_in_executor';
export {
  createThreadsafeScheduler,
  openThreadsafeHandle,
  ThreadsafeScheduler,
  ThreadsafeHandle,
  type ThreadsafeHandleData,
  type ThreadsafeSchedulerOptions,
  type SchedulerLoop,
} from './loop/threadsafe';

/**
 * muxloop: Python's `selectors` and `asyncio` for Node.js, on a native core of its own.
 * @packageDocumentation
 */
export * from './selectors';
export { codedError, type CodedError } from './errors';
export { Handle, TimerHandle, type ExceptionContext, type Callback } from './events';
export { Future, InvalidStateError, CancelledError, wrapFuture, isFuture, type DoneCallback } from './futures';
export {
  EventLoop,
  type EventLoopOptions,
  type TaskOptions,
  type TaskFactory,
  type ExceptionHandler,
  getRunningLoop,
  getEventLoop,
  setEventLoop,
  newEventLoop,
} from './loop';
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
} from './tasks';
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
} from './helpers';
export { Timeout, TimeoutError, timeout, timeoutAt } from './timeouts';
export { TaskGroup, ExceptionGroup } from './taskgroups';
export { run, runSync, type RunOptions, KeyboardInterrupt } from './runners';
export { Lock, Event, Condition, Semaphore, BoundedSemaphore, Barrier, BrokenBarrierError, type Held } from './locks';
export { Queue, PriorityQueue, LifoQueue, QueueEmpty, QueueFull, QueueShutDown } from './queues';

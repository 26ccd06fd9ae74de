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
  type ExceptionHandler,
  getRunningLoop,
  getEventLoop,
  setEventLoop,
  newEventLoop,
} from './loop';
export * from './tasks';

/**
 * muxloop: Python's `selectors` and `asyncio` for Node.js, on a native core of its own.
 * @packageDocumentation
 */
export * from './selectors';
export { codedError, type CodedError } from './errors';
export * from './socket';
export { select, FD_SETSIZE } from './select';

/**
 * The loop classes as the package offers them, and the loop of this thread: `newEventLoop()`
 * picks the class, `getRunningLoop()`, `getEventLoop()` and `setEventLoop()` as asyncio's. This
 * module sits on top of every layer (it may import any of them) and installs `newEventLoop` as
 * the factory `getEventLoop()` uses when a thread has no loop yet.
 * @packageDocumentation
 */
import { invalidArgType } from './core/errors';
import * as registry from './core/events';
import { BaseEventLoop } from './loop/base_loop';
import { SelectorEventLoop, type SelectorEventLoopOptions } from './net/selector_loop';

/** The default loop class: `SelectorEventLoop` (asyncio's `EventLoop` on Unix, 3.13+). */
export const EventLoop = SelectorEventLoop;
/** The default loop class: `SelectorEventLoop`. */
export type EventLoop = SelectorEventLoop;

/**
 * A new loop (`new SelectorEventLoop(options)`). `options.io` picks how stream sockets do their
 * I/O: `'uring'` (io_uring completions; epoll when the kernel refuses io_uring), `'epoll'`, or
 * `'auto'` (the default, epoll today). `loop.io` tells which one the loop got. Another string is
 * refused with `ERR_INVALID_ARG_VALUE`, a non-string with `ERR_INVALID_ARG_TYPE` (both `TypeError`s,
 * thrown before any fd is made); an unknown key is refused too (`ERR_INVALID_ARG_VALUE`), as in
 * every option bag of muxloop.
 */
export function newEventLoop(options?: SelectorEventLoopOptions): EventLoop {
  return new SelectorEventLoop(options);
}

/**
 * The loop running on this thread (a hosted run counts from its start until its promise
 * settles). Throws `ERR_NO_RUNNING_LOOP` when none is.
 */
export function getRunningLoop(): EventLoop {
  return registry.getRunningLoop() as EventLoop;
}

/**
 * The running loop, else the one set with `setEventLoop`, else a new loop that becomes the
 * current one (as asyncio up to 3.13 does on the main thread).
 */
export function getEventLoop(): EventLoop {
  return registry.getEventLoop() as EventLoop;
}

/** Makes `loop` the current loop of this thread (`null` clears it). */
export function setEventLoop(loop: BaseEventLoop | null): void {
  if (loop !== null && !(loop instanceof BaseEventLoop)) throw invalidArgType('loop', 'an EventLoop or null', loop);
  registry.setCurrentLoop(loop ?? undefined);
}

registry.setEventLoopFactory(() => newEventLoop());

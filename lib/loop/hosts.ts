/**
 * How a hosted run waits between iterations (DESIGN.md section 3). A native selector is watched by
 * Node's libuv through the addon's `LoopHost` (native/host/); a selector written in JavaScript
 * (a test fake, a custom `BaseSelector`) is polled from a `setImmediate` by `JsHost`.
 * @packageDocumentation
 */
import { AsyncResource } from 'node:async_hooks';
import { binding } from '../core/native';
import { type BaseSelector, nativeSelectorOf } from '../selectors';

/**
 * `arm(timeout, keepAlive, watchIo)` asks for the next iteration after at most `timeout` seconds
 * (< 0: only when I/O or a new `arm` comes), holding the Node process alive only when `keepAlive`.
 * Each wakeup calls the host's callback with the number of `(fd, events)` pairs it wrote to `out`;
 * the callback returns `true` when it would like to be called again at once, without a poll (the
 * native host then does so, within a budget; `JsHost` leaves it to its next `setImmediate`).
 */
export interface LoopHost {
  arm(timeout: number, keepAlive: boolean, watchIo: boolean): void;
  close(): void;
}

/** The host for `selector`: the libuv one for a native selector, else `JsHost`. */
export function createHost(selector: BaseSelector<unknown>, out: Int32Array, wake: (count: number, out: Int32Array) => boolean): LoopHost {
  const native = nativeSelectorOf(selector);
  if (native !== undefined) return new binding.LoopHost(native, (count: number): boolean => wake(count, out), out);
  return new JsHost(selector, out, wake);
}

/**
 * Hosting for selectors implemented in JavaScript: each iteration runs from a `setImmediate` and
 * calls `selector.select(timeout)`. Such a selector's `select` blocks the thread for as long as it
 * waits, so this suits selectors that return promptly (a fake selector advancing a fake clock).
 */
class JsHost implements LoopHost {
  readonly #selector: BaseSelector<unknown>;
  #out: Int32Array;
  readonly #wake: (count: number, out: Int32Array) => boolean;
  #pending: NodeJS.Immediate | undefined;
  // setImmediate would carry the async context of whoever armed the host (a task's async function,
  // for instance) into the whole iteration; every iteration runs in the context of the run instead.
  readonly #context = new AsyncResource('MuxloopJsHost');

  constructor(selector: BaseSelector<unknown>, out: Int32Array, wake: (count: number, out: Int32Array) => boolean) {
    this.#selector = selector;
    this.#out = out;
    this.#wake = wake;
  }

  arm(timeout: number, keepAlive: boolean, watchIo: boolean): void {
    if (this.#pending !== undefined) clearImmediate(this.#pending);
    this.#pending = undefined;
    // Nothing to wait for: the next callSoon, timer or watch arms again.
    if (timeout < 0 && !watchIo) return;
    this.#pending = setImmediate(() => {
      this.#pending = undefined;
      this.#context.runInAsyncScope(() => this.#collect(timeout));
    });
    if (!keepAlive) this.#pending.unref();
  }

  #collect(timeout: number): void {
    const ready = this.#selector.select(timeout < 0 ? null : timeout);
    // A JS selector returns every ready key at once; the pairs array grows to hold them.
    if (2 * ready.length > this.#out.length) this.#out = new Int32Array(2 * ready.length);
    const out = this.#out;
    for (let i = 0; i < ready.length; i++) {
      out[2 * i] = ready[i][0].fd;
      out[2 * i + 1] = ready[i][1];
    }
    this.#wake(ready.length, out);
  }

  close(): void {
    if (this.#pending !== undefined) clearImmediate(this.#pending);
    this.#pending = undefined;
  }
}

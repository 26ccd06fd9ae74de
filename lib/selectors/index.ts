/**
 * High-level I/O multiplexing with the semantics of Python's `selectors` module, on native epoll,
 * kqueue, poll and select backends.
 *
 * ```ts
 * import { DefaultSelector, EVENT_READ } from 'muxloop/selectors';
 * const sel = new DefaultSelector();
 * sel.register(fd, EVENT_READ, onReadable);
 * for (const [key, mask] of sel.select(1.0)) key.data(key.fileobj, mask);
 * ```
 *
 * Folder selectors/ (the `muxloop/selectors` and `muxloop/select` entry points): imports core/ only.
 * @packageDocumentation
 */
import { codedError, describe, invalidArgType, outOfRange } from '../core/errors';
import { binding, type NativeSelector } from '../core/native';

/** Interest in (and readiness for) reading: Python's `selectors.EVENT_READ`. */
export const EVENT_READ = 1;
/** Interest in (and readiness for) writing: Python's `selectors.EVENT_WRITE`. */
export const EVENT_WRITE = 2;

/** An object that owns a file descriptor, such as a muxloop `Socket`. */
export interface HasFileno {
  /** The fd, or a negative number once the object is closed. */
  fileno(): number;
}

/** A non-negative integer file descriptor, or an object with a `fileno()` method. */
export type FileObject = number | HasFileno;

/**
 * What `register` returns and `select` reports: an immutable record of one registration, like
 * Python's `SelectorKey` namedtuple.
 */
export interface SelectorKey<T = unknown> {
  /** Exactly the object (or number) given to `register`. */
  readonly fileobj: FileObject;
  /** Its file descriptor. */
  readonly fd: number;
  /** The registered interest: `EVENT_READ`, `EVENT_WRITE` or both. */
  readonly events: number;
  /** The caller's data, `undefined` when none was given. */
  readonly data: T;
}

const MAX_FD = 0x7fffffff;

/**
 * Normalises a file object to its fd, like CPython's `_fileobj_to_fd`.
 * @throws TypeError when `fileobj` is neither a number nor an object with `fileno()`.
 * @throws RangeError when the fd is not an integer in [0, 2**31 - 1].
 */
export function fileobjToFd(fileobj: unknown): number {
  let fd: unknown = fileobj;
  if (typeof fileobj !== 'number') {
    const fileno = (fileobj as { fileno?: unknown } | null)?.fileno;
    if ((typeof fileobj !== 'object' && typeof fileobj !== 'function') || typeof fileno !== 'function') {
      throw codedError('ERR_INVALID_ARG_TYPE', `Invalid file object: ${describe(fileobj)}`, TypeError);
    }
    fd = fileno.call(fileobj);
    if (typeof fd !== 'number') {
      throw codedError('ERR_INVALID_ARG_TYPE', `Invalid file object: fileno() returned ${describe(fd)}`, TypeError);
    }
  }
  if (!Number.isInteger(fd) || (fd as number) < 0 || (fd as number) > MAX_FD) {
    throw codedError('ERR_OUT_OF_RANGE', `invalid file descriptor: ${String(fd)}`, RangeError);
  }
  return fd as number;
}

function checkEvents(events: unknown): number {
  if (typeof events !== 'number') throw invalidArgType('events', 'of type number', events);
  if (events !== 1 && events !== 2 && events !== 3) {
    throw codedError('ERR_OUT_OF_RANGE', `invalid events mask: ${String(events)}`, RangeError);
  }
  return events;
}

/** Timeout in seconds -> the addon's convention (< 0 blocks). */
function checkTimeout(timeout: unknown): number {
  if (timeout === undefined || timeout === null) return -1;
  if (typeof timeout !== 'number') throw invalidArgType('timeout', 'a number of seconds, null or undefined', timeout);
  if (Number.isNaN(timeout)) throw outOfRange('timeout', 'a number of seconds, not NaN', timeout);
  return timeout <= 0 ? 0 : timeout;
}

function makeKey<T>(fileobj: FileObject, fd: number, events: number, data: T): SelectorKey<T> {
  return Object.freeze({ fileobj, fd, events, data });
}

function selectorClosed(): Error {
  return codedError('ERR_SELECTOR_CLOSED', 'I/O operation on a closed selector');
}

/**
 * A read-only, live view of a selector's registrations, keyed by fd (Python's `get_map()`).
 * Lookups accept a file object or an fd; iteration yields `[fd, key]` like a `Map`.
 */
export class SelectorMapping<T = unknown> implements Iterable<[number, SelectorKey<T>]> {
  readonly #selector: BaseSelector<T>;

  /** @internal Obtained through `selector.getMap()`. */
  constructor(selector: BaseSelector<T>) {
    this.#selector = selector;
  }

  /** The key registered for `fileobj`, or `undefined`. */
  get(fileobj: FileObject): SelectorKey<T> | undefined {
    return this.#selector.lookup(fileobj);
  }

  /** Whether `fileobj` is registered. */
  has(fileobj: FileObject): boolean {
    return this.#selector.lookup(fileobj) !== undefined;
  }

  /** How many fds are registered. */
  get size(): number {
    return this.#selector.registrations().size;
  }

  /** Registered fds. */
  keys(): IterableIterator<number> {
    return this.#selector.registrations().keys();
  }

  /** Registered keys. */
  values(): IterableIterator<SelectorKey<T>> {
    return this.#selector.registrations().values();
  }

  /** `[fd, key]` pairs. */
  entries(): IterableIterator<[number, SelectorKey<T>]> {
    return this.#selector.registrations().entries();
  }

  /** Calls `fn(key, fd)` for each registration. */
  forEach(fn: (key: SelectorKey<T>, fd: number, map: SelectorMapping<T>) => void): void {
    for (const [fd, key] of this.entries()) fn(key, fd, this);
  }

  /** Iterates `[fd, key]` pairs, in registration order. */
  [Symbol.iterator](): IterableIterator<[number, SelectorKey<T>]> {
    return this.entries();
  }
}

/**
 * The selector contract, shared by every backend (Python's `selectors.BaseSelector`, with the
 * decisions of DESIGN.md section 5). Differences between backends are bugs.
 *
 * - A file object is a non-negative integer fd or an object with `fileno()`; the key keeps the very
 *   object given. An fd can be registered once; a second registration, even through another
 *   object, throws `ERR_FD_ALREADY_REGISTERED` and leaves the first key as it was.
 * - Interest is level-triggered. `select()` reports each ready fd once, with the ready events
 *   masked by the registered ones; a peer hang-up or socket error shows as every registered
 *   interest, so a reader sees EOF and a writer its error.
 * - `modify()` validates first and, if the kernel refuses, keeps the old registration.
 * - Unregister before closing an fd. If an fd is closed while registered, `select()` still works:
 *   epoll and kqueue forget it, poll and select report it once as ready for its interests, and
 *   `unregister()` of it succeeds.
 * - Timeouts are in **seconds**: `undefined`/`null` block, `<= 0` polls, a positive value is
 *   rounded up to the backend's resolution (never wakes early) and capped at 24 hours; `NaN` is a
 *   `RangeError`. A signal does not end the wait early (the remaining time is waited, PEP 475).
 *   With nothing registered, `select(t)` still sleeps `t`.
 * - After `close()`, every method but `close()` throws `ERR_SELECTOR_CLOSED`; `close()` is
 *   idempotent and never closes the registered fds.
 *
 * Subclass it to build a selector of your own (the event loop accepts any `BaseSelector`).
 */
export abstract class BaseSelector<T = unknown> implements Disposable {
  /** fd -> key, in registration order. */
  readonly #keys = new Map<number, SelectorKey<T>>();
  #closed = false;

  /** Registers `fileobj` for `events` with optional `data`; returns the new key. */
  register(fileobj: FileObject, events: number, data?: T): SelectorKey<T> {
    this.#checkOpen();
    checkEvents(events);
    const fd = fileobjToFd(fileobj);
    const existing = this.#keys.get(fd);
    if (existing !== undefined) {
      throw codedError(
        'ERR_FD_ALREADY_REGISTERED',
        `fd ${fd} is already registered (by ${describe(existing.fileobj)})`,
      );
    }
    // Kernel first: if it refuses, nothing has been recorded.
    this.backendAdd(fd, events);
    const key = makeKey(fileobj, fd, events, data as T);
    this.#keys.set(fd, key);
    return key;
  }

  /** Removes the registration of `fileobj` and returns its key. */
  unregister(fileobj: FileObject): SelectorKey<T> {
    this.#checkOpen();
    const key = this.#require(fileobj);
    this.backendRemove(key.fd);
    this.#keys.delete(key.fd);
    return key;
  }

  /**
   * Changes the events or data of a registration. Returns the same key when nothing changed, a new
   * key otherwise; on failure the old registration is intact.
   */
  modify(fileobj: FileObject, events: number, data?: T): SelectorKey<T> {
    this.#checkOpen();
    const key = this.#require(fileobj);
    checkEvents(events);
    if (events === key.events && Object.is(data, key.data)) return key;
    if (events !== key.events) this.backendModify(key.fd, events);
    const updated = makeKey(key.fileobj, key.fd, events, data as T);
    this.#keys.set(key.fd, updated);
    return updated;
  }

  /**
   * Waits until some registered fds are ready or the timeout (seconds) passes, and returns
   * `[key, readyEvents]` pairs; an empty array on timeout.
   */
  select(timeout?: number | null): Array<[SelectorKey<T>, number]> {
    this.#checkOpen();
    const seconds = checkTimeout(timeout);
    const ready: Array<[SelectorKey<T>, number]> = [];
    this.backendWait(seconds, (fd, events) => {
      const key = this.#keys.get(fd);
      if (key !== undefined) ready.push([key, events & key.events]);
    });
    return ready;
  }

  /** The key registered for `fileobj`; throws `ERR_FD_NOT_REGISTERED` if there is none. */
  getKey(fileobj: FileObject): SelectorKey<T> {
    this.#checkOpen();
    return this.#require(fileobj);
  }

  /** A read-only live view of the registrations. */
  getMap(): SelectorMapping<T> {
    this.#checkOpen();
    return new SelectorMapping(this);
  }

  /** Releases the backend; idempotent; registered fds stay open. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#keys.clear();
    this.backendClose();
  }

  /** Whether `close()` has been called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Same as `close()`, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** @internal The live registrations (for SelectorMapping). Empty once closed. */
  registrations(): ReadonlyMap<number, SelectorKey<T>> {
    return this.#keys;
  }

  /**
   * @internal The key for a file object, or undefined. Like CPython's `_fileobj_lookup`, an object
   * whose `fileno()` is no longer valid (a closed socket) is still found by identity, so it can be
   * unregistered after it was closed.
   */
  lookup(fileobj: FileObject): SelectorKey<T> | undefined {
    let fd: number;
    try {
      fd = fileobjToFd(fileobj);
    } catch (error) {
      for (const key of this.#keys.values()) if (key.fileobj === fileobj) return key;
      throw error;
    }
    return this.#keys.get(fd);
  }

  /** Kernel side of `register`; throws and leaves nothing behind on failure. */
  protected abstract backendAdd(fd: number, events: number): void;
  /** Kernel side of `modify`; throws and keeps the old interest on failure. */
  protected abstract backendModify(fd: number, events: number): void;
  /** Kernel side of `unregister`; never throws for a closed or reused fd. */
  protected abstract backendRemove(fd: number): void;
  /** Waits (seconds, < 0 blocks) and calls `report(fd, events)` for each ready fd. */
  protected abstract backendWait(seconds: number, report: (fd: number, events: number) => void): void;
  /** Releases backend resources. */
  protected abstract backendClose(): void;

  #checkOpen(): void {
    if (this.#closed) throw selectorClosed();
  }

  #require(fileobj: FileObject): SelectorKey<T> {
    const key = this.lookup(fileobj);
    if (key === undefined) {
      throw codedError('ERR_FD_NOT_REGISTERED', `${describe(fileobj)} is not registered`);
    }
    return key;
  }
}

/** Capacity of the reusable event array, in events; the kernel hands out the rest next time. */
const MAX_BATCH = 65536;

/** A selector over one of the addon's backends. */
abstract class NativeBackedSelector<T = unknown> extends BaseSelector<T> {
  /** @internal */
  protected readonly native: NativeSelector;
  #events = new Int32Array(2 * 64);

  protected constructor(kind: string) {
    super();
    this.native = new binding.Selector(kind);
  }

  protected override backendAdd(fd: number, events: number): void {
    this.native.add(fd, events);
  }

  protected override backendModify(fd: number, events: number): void {
    this.native.modify(fd, events);
  }

  protected override backendRemove(fd: number): void {
    this.native.remove(fd);
  }

  protected override backendWait(seconds: number, report: (fd: number, events: number) => void): void {
    const n = this.waitRaw(seconds);
    const events = this.#events;
    for (let i = 0; i < n; i++) report(events[2 * i], events[2 * i + 1]);
  }

  protected override backendClose(): void {
    this.native.close();
  }

  /**
   * @internal The hot path for the event loop: waits and leaves `(fd, events)` pairs in
   * `readyEvents`, returning how many there are. No allocation per event.
   */
  waitRaw(seconds: number): number {
    const wanted = Math.min(Math.max(this.registrations().size, 1), MAX_BATCH);
    if (this.#events.length < 2 * wanted) this.#events = new Int32Array(2 * Math.max(wanted, this.#events.length * 2));
    return this.native.wait(seconds, this.#events);
  }

  /** @internal The array `waitRaw` fills. */
  get readyEvents(): Int32Array {
    return this.#events;
  }

  /** @internal The addon object behind `selector`, if it is a native one (for the loop host). */
  static nativeOf(selector: BaseSelector<unknown>): NativeSelector | undefined {
    return selector instanceof NativeBackedSelector ? selector.native : undefined;
  }
}

/** @internal The addon selector behind one of muxloop's native selectors; `undefined` otherwise. */
export function nativeSelectorOf(selector: BaseSelector<unknown>): NativeSelector | undefined {
  return NativeBackedSelector.nativeOf(selector);
}

/** Linux epoll(7). `fileno()` is the epoll fd. */
export class EpollSelector<T = unknown> extends NativeBackedSelector<T> {
  constructor() {
    super('epoll');
  }

  /** The epoll fd (close-on-exec). */
  fileno(): number {
    if (this.closed) throw selectorClosed();
    return this.native.fileno;
  }
}

/**
 * Linux io_uring(7): multishot `IORING_OP_POLL_ADD` requests, level-triggered like epoll (fds
 * reported by one `select()` are checked again at the next). Listed by `availableSelectors()`
 * only where the kernel lets this process set up a ring; otherwise constructing it throws the
 * kernel's refusal (`EPERM`, `ENOSYS`, ... with `syscall: 'io_uring_setup'`). One difference
 * from epoll: a registered fd closed before `unregister()` keeps its file open in the kernel
 * until it is unregistered or reported (the poll request holds it), so unregister first.
 */
export class IoUringSelector<T = unknown> extends NativeBackedSelector<T> {
  constructor() {
    super('io_uring');
  }

  /** The io_uring fd (close-on-exec); readable while a `select(0)` would report something. */
  fileno(): number {
    if (this.closed) throw selectorClosed();
    return this.native.fileno;
  }
}

/** macOS/BSD kqueue(2); read and write filters are merged into one entry per fd. */
export class KqueueSelector<T = unknown> extends NativeBackedSelector<T> {
  constructor() {
    super('kqueue');
  }

  /** The kqueue fd (close-on-exec). */
  fileno(): number {
    if (this.closed) throw selectorClosed();
    return this.native.fileno;
  }
}

/** poll(2), on every POSIX system. Regular files always poll ready. */
export class PollSelector<T = unknown> extends NativeBackedSelector<T> {
  constructor() {
    super('poll');
  }
}

/**
 * select(2), on every POSIX system. Refuses fds >= FD_SETSIZE (1024) at `register` with a
 * `RangeError`: select's fd sets cannot hold them.
 */
export class SelectSelector<T = unknown> extends NativeBackedSelector<T> {
  constructor() {
    super('select');
  }
}

/** The name of a selector backend. */
export type SelectorKind = 'kqueue' | 'epoll' | 'io_uring' | 'poll' | 'select';

/** A constructor of selectors. */
export type SelectorClass = new <T = unknown>() => BaseSelector<T>;

const CLASSES: Record<SelectorKind, SelectorClass> = {
  kqueue: KqueueSelector,
  epoll: EpollSelector,
  io_uring: IoUringSelector,
  poll: PollSelector,
  select: SelectSelector,
};

function probe(kind: string): boolean {
  try {
    const native = new binding.Selector(kind);
    try {
      native.wait(0, new Int32Array(2));
    } finally {
      native.close();
    }
    return true;
  } catch {
    return false;
  }
}

const AVAILABLE: readonly SelectorKind[] = Object.freeze(
  binding.selectorKinds().filter((kind): kind is SelectorKind => kind in CLASSES && probe(kind)),
);

/**
 * The selector kinds this host has, best first (kqueue > epoll > io_uring > poll > select): those compiled
 * into the addon whose construction the kernel accepted at load time.
 */
export function availableSelectors(): SelectorKind[] {
  return [...AVAILABLE];
}

/** The selector class for a kind. */
export function selectorClass(kind: SelectorKind): SelectorClass {
  const cls = CLASSES[kind];
  if (cls === undefined) throw outOfRange('kind', `one of ${Object.keys(CLASSES).join(', ')}`, kind);
  return cls;
}

/**
 * The best selector this host has: `EpollSelector` on Linux, `KqueueSelector` on macOS and BSD,
 * else poll, else select.
 */
export const DefaultSelector: SelectorClass = CLASSES[AVAILABLE[0] ?? 'select'];
/** The type of a `DefaultSelector` instance: `const sel: DefaultSelector<Handler> = new DefaultSelector()`. */
export type DefaultSelector<T = unknown> = BaseSelector<T>;

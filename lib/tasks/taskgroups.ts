/**
 * `TaskGroup`: structured concurrency (python-anchor.md section 3.5). Tasks created in a group
 * are all awaited before the group's scope ends; the first one that fails cancels the others and
 * the body, and every failure surfaces together in one `ExceptionGroup`.
 *
 * Forms:
 * - `await TaskGroup.run(async (tg) => { tg.createTask(...); ... })`: asyncio's `async with`
 *   semantics exactly, including an error thrown by the body (it cancels the children and joins
 *   the ExceptionGroup).
 * - `yield* TaskGroup.run(function* (tg) { ... })` in a generator task: the same.
 * - `await using tg = new TaskGroup()`: a disposer cannot see the error leaving its block, so in
 *   this form an error thrown by the block does not cancel the children (they are awaited, then the
 *   error leaves), and a child's failure is thrown into the block as the ExceptionGroup itself
 *   (filled in as the other children finish) instead of a CancelledError.
 * @packageDocumentation
 */
import { codedError } from '../core/errors';
import { CancelledError, type Future } from './futures';
import { type Coroutine, currentTask, type ResultOf, type Task, type TaskLoop, type TaskOptionsFor } from './tasks';

/**
 * Several errors at once (Python's `ExceptionGroup`): `exceptions` lists them. It is an
 * `AggregateError`, whose `errors` is the same list.
 */
export class ExceptionGroup extends AggregateError {
  /** Always `'ERR_EXCEPTION_GROUP'`. */
  readonly code = 'ERR_EXCEPTION_GROUP';
  /** The errors, in the order they happened. */
  readonly exceptions: unknown[];

  constructor(message: string, exceptions: unknown[]) {
    super([], message);
    this.name = 'ExceptionGroup';
    this.exceptions = exceptions;
    // One list: errors added later (scoped form) show up in both.
    Object.defineProperty(this, 'errors', { value: exceptions, writable: true, configurable: true });
  }
}

/** @inline */
type AsyncBody<R> = (group: TaskGroup) => PromiseLike<R> | R;
/** @inline */
type GeneratorBody<R> = (group: TaskGroup) => Generator<unknown, R, unknown>;

function isGeneratorFunction(fn: unknown): boolean {
  return typeof fn === 'function' && fn.constructor?.name === 'GeneratorFunction';
}

/** Runs a generator of Futures inside the calling async function (its awaits are the task's). */
async function driveInline<R>(generator: Generator<unknown, R, unknown>): Promise<R> {
  let step = generator.next();
  for (;;) {
    if (step.done === true) return step.value;
    let value: unknown;
    try {
      value = await (step.value as Future<unknown>);
    } catch (error) {
      step = generator.throw(error);
      continue;
    }
    step = generator.next(value);
  }
}

/**
 * A group of tasks with one lifetime, entered in the current task when it is constructed (which
 * must happen inside a task). See the module documentation for its three forms.
 */
export class TaskGroup {
  readonly #loop: TaskLoop;
  readonly #parent: Task;
  #exiting = false;
  #aborting = false;
  #parentCancelRequested = false;
  #tasks = new Set<Task<unknown>>();
  #errors: unknown[] = [];
  #onCompleted: Future<boolean> | undefined;
  /** The `await using` form (default) throws the group in when a child fails. */
  #scoped = true;
  #group: ExceptionGroup | undefined;

  /** A group whose parent is the current task (`ERR_NO_CURRENT_TASK` outside a task). */
  constructor() {
    const parent = currentTask();
    if (parent === undefined) throw codedError('ERR_NO_CURRENT_TASK', 'TaskGroup cannot determine the parent task');
    this.#parent = parent;
    this.#loop = parent.getLoop();
  }

  /**
   * Runs `body(group)` in the current task with a new group, then waits for every task of the
   * group; resolves with what `body` returned, or rejects with an `ExceptionGroup` of the
   * failures. A generator function gives a generator for `yield*` in a generator task.
   */
  static run<R>(body: GeneratorBody<R>): Generator<unknown, R, unknown>;
  static run<R>(body: AsyncBody<R>): Promise<R>;
  static run<R>(body: AsyncBody<R> | GeneratorBody<R>): Promise<R> | Generator<unknown, R, unknown> {
    if (isGeneratorFunction(body)) {
      return (function* () {
        return yield* new TaskGroup().#runGenerator(body as GeneratorBody<R>);
      })();
    }
    return new TaskGroup().#runAsync(body as AsyncBody<R>);
  }

  async #runAsync<R>(body: AsyncBody<R>): Promise<R> {
    this.#scoped = false;
    let result: R;
    try {
      result = await body(this);
    } catch (error) {
      await driveInline(this.#exit(true, error));
      throw error;
    }
    await driveInline(this.#exit(false, undefined));
    return result;
  }

  *#runGenerator<R>(body: GeneratorBody<R>): Generator<unknown, R, unknown> {
    this.#scoped = false;
    let result: R;
    try {
      result = yield* body(this);
    } catch (error) {
      yield* this.#exit(true, error);
      throw error;
    }
    yield* this.#exit(false, undefined);
    return result;
  }

  /** Waits for the group's tasks (the `await using` form). */
  async [Symbol.asyncDispose](): Promise<void> {
    await driveInline(this.#exit(false, undefined));
  }

  /**
   * Creates a task in the group. `ERR_INVALID_STATE` once the group has finished or while it is
   * shutting down after a failure (a generator given is closed then).
   */
  createTask<C extends Coroutine<unknown>>(coro: C, options?: TaskOptionsFor<C>): Task<ResultOf<C>> {
    let refusal: string | undefined;
    if (this.#exiting && this.#tasks.size === 0) refusal = 'is finished';
    else if (this.#aborting) refusal = 'is shutting down';
    if (refusal !== undefined) {
      (coro as Partial<Generator>).return?.(undefined);
      throw codedError('ERR_INVALID_STATE', `TaskGroup ${refusal}`);
    }
    const task = this.#loop.createTask(coro, options);
    if (task.done()) {
      this.#onTaskDone(task);
    } else {
      this.#tasks.add(task);
      task.addDoneCallback(this.#onTaskDone as (future: Future<ResultOf<C>>) => void);
    }
    return task;
  }

  /** asyncio's `TaskGroup._aexit`, as a generator of Futures (driven by either coroutine style). */
  *#exit(failed: boolean, error: unknown): Generator<unknown, void, unknown> {
    this.#exiting = true;
    let propagate: unknown = failed && error instanceof CancelledError ? error : undefined;
    let caughtGroup = false;
    if (failed && !this.#aborting) this.#abort();
    // A loop: the wait can be interrupted by repeated cancellations of the parent.
    while (this.#tasks.size > 0) {
      this.#onCompleted ??= this.#loop.createFuture<boolean>();
      try {
        yield this.#onCompleted;
      } catch (interruption) {
        if (interruption === this.#group && this.#group !== undefined) {
          caughtGroup = true; // our own failure signal reached us here instead of in the body
        } else if (interruption instanceof CancelledError) {
          if (!this.#aborting) {
            // The parent is being cancelled from outside while the children still run.
            propagate = interruption;
            this.#abort();
          }
        } else {
          throw interruption;
        }
      }
      this.#onCompleted = undefined;
    }
    const pendingGroup = this.#group !== undefined && this.#parent.clearSubstitute(this.#group);
    if (this.#parentCancelRequested && this.#parent.uncancel() === 0) propagate = undefined;
    if (propagate !== undefined && this.#errors.length === 0) throw propagate;
    if (failed && !(error instanceof CancelledError)) this.#errors.push(error);
    if (this.#errors.length === 0) return;
    // Keep an outside cancellation of the parent pending (and counted) behind the group error.
    if (this.#parent.cancelling() > 0) {
      this.#parent.uncancel();
      this.#parent.cancel();
    }
    const group = this.#group ?? new ExceptionGroup('unhandled errors in a TaskGroup', this.#errors);
    // Scoped form: if the group was thrown into the block, it is what is leaving it now.
    if (this.#scoped && this.#group !== undefined && !pendingGroup && !caughtGroup) return;
    throw group;
  }

  #abort(): void {
    this.#aborting = true;
    for (const task of this.#tasks) if (!task.done()) task.cancel();
  }

  #onTaskDone = (task: Task<unknown>): void => {
    this.#tasks.delete(task);
    if (this.#onCompleted !== undefined && this.#tasks.size === 0 && !this.#onCompleted.done()) {
      this.#onCompleted.setResult(true);
    }
    if (task.cancelled()) return;
    const exception = task.exception();
    if (exception === undefined) return;
    this.#errors.push(exception);
    if (this.#parent.done()) {
      this.#loop.callExceptionHandler({
        message: `Task ${task.toString()} has errored out but its parent task ${this.#parent.toString()} is already completed`,
        exception,
        task,
      });
      return;
    }
    if (!this.#aborting && !this.#parentCancelRequested) {
      // Stop whatever the body is awaiting; __aexit__ undoes this cancellation with uncancel().
      this.#abort();
      this.#parentCancelRequested = true;
      if (this.#scoped && !this.#exiting) {
        this.#group = new ExceptionGroup('unhandled errors in a TaskGroup', this.#errors);
        this.#parent.cancelWith(this.#group);
      } else {
        this.#parent.cancel();
      }
    }
  };
}

// A fake clock and a scripted selector (DESIGN.md section 1 seam): the loop runs deterministically,
// and "waiting" in select(timeout) just advances the fake clock by the timeout.
import { BaseSelector } from '../lib/selectors';

export class FakeClock {
  now = 1000;
  readonly time = (): number => this.now;
  advance(seconds: number): void {
    this.now += seconds;
  }
}

export class FakeSelector extends BaseSelector<unknown> {
  /** Timeouts select() was called with (-1 = block), one per loop iteration. */
  readonly waits: number[] = [];
  /** Level-triggered readiness: fd -> events, reported while registered. */
  readonly ready = new Map<number, number>();
  /** Kernel-side calls, for assertions: ['add', fd, events], ['modify', ...], ['remove', fd]. */
  readonly calls: Array<[string, number, number?]> = [];
  /** Called on each wait, before readiness is reported (scripts events per iteration). */
  onWait: ((iteration: number) => void) | undefined;

  constructor(readonly clock: FakeClock) {
    super();
  }

  protected override backendAdd(fd: number, events: number): void {
    this.calls.push(['add', fd, events]);
  }
  protected override backendModify(fd: number, events: number): void {
    this.calls.push(['modify', fd, events]);
  }
  protected override backendRemove(fd: number): void {
    this.calls.push(['remove', fd]);
  }
  protected override backendWait(seconds: number, report: (fd: number, events: number) => void): void {
    this.waits.push(seconds);
    this.onWait?.(this.waits.length);
    if (this.ready.size === 0) {
      if (seconds < 0) throw new Error('FakeSelector: the loop would block forever');
      this.clock.advance(seconds);
    }
    for (const [fd, events] of this.ready) report(fd, events);
  }
  protected override backendClose(): void {}
}

/** The error a promise rejects with; fails the test if it resolves. */
export async function caught(promise: PromiseLike<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

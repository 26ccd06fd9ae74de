// The io_uring completion engine's native surface (native/bindings/uring_binding.cc): every
// argument checked natively with a coded error and nothing changed, buffer ownership (a bid is
// recycled only once it is the caller's, all or none), send copies, cancellation, and no fd leak.
// The transports on top of it run in the transport suites (URING_IO in test/helpers.ts).
import { constants } from 'node:os';
import { describe, expect, it } from 'vitest';
import { binding, type NativeUringEngine } from '../lib/core/native';
import { uringIoAvailable, useFdLeakCheck } from './helpers';

const OP_ACCEPT = 1;
const OP_RECV = 2;
const OP_SEND = 3;
const F_BUFFER = 1;

function reapUntil(engine: NativeUringEngine, want: (op: number, res: number, flags: number) => boolean): [number, number, number] {
  for (let round = 0; round < 2000; round++) {
    const n = engine.reap(0);
    for (let i = 0; i < n; i++) {
      const op = engine.events[4 * i + 1];
      const res = engine.events[4 * i + 2];
      const flags = engine.events[4 * i + 3];
      if (want(op, res, flags)) return [op, res, flags];
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
  }
  throw new Error('no such completion');
}

describe.runIf(uringIoAvailable())('io_uring completion engine', () => {
  const track = useFdLeakCheck();
  const Engine = binding.UringEngine as NonNullable<typeof binding.UringEngine>;

  it('checks its arguments natively: TypeError/RangeError with a code, nothing queued', () => {
    const engine = new Engine(8, 4096);
    track(engine);
    const before = engine.counters.sqes;
    const cases: Array<[() => unknown, string, string]> = [
      [() => new Engine(3, 4096), 'RangeError', 'ERR_OUT_OF_RANGE'],
      [() => new Engine(8, 0), 'RangeError', 'ERR_OUT_OF_RANGE'],
      [() => new Engine('8' as never, 4096), 'TypeError', 'ERR_INVALID_ARG_TYPE'],
      [() => new Engine(8, 4096, 1 as never), 'TypeError', 'ERR_INVALID_ARG_TYPE'],
      [() => engine.recv(-1, 0), 'RangeError', 'ERR_OUT_OF_RANGE'],
      [() => engine.recv(2 ** 32 + 1, 0), 'RangeError', 'ERR_OUT_OF_RANGE'],
      [() => engine.recv(0, -1), 'RangeError', 'ERR_OUT_OF_RANGE'],
      [() => engine.accept(0, 1.5), 'RangeError', 'ERR_OUT_OF_RANGE'],
      [() => engine.send(0, 0, 'x' as never), 'TypeError', 'ERR_INVALID_ARG_TYPE'],
      [() => engine.send(0, 0, []), 'RangeError', 'ERR_OUT_OF_RANGE'],
      [() => engine.send(0, 0, [Buffer.from('a'), 7 as never]), 'TypeError', 'ERR_INVALID_ARG_TYPE'],
      [() => engine.shutdown(0, 0, 3), 'RangeError', 'ERR_OUT_OF_RANGE'],
      [() => engine.cancel(0, 9), 'RangeError', 'ERR_OUT_OF_RANGE'],
      [() => engine.reap(9), 'RangeError', 'ERR_OUT_OF_RANGE'],
      [() => engine.reap(Number.NaN), 'RangeError', 'ERR_OUT_OF_RANGE'],
    ];
    for (const [call, name, code] of cases) {
      let caught: unknown;
      try {
        call();
      } catch (error) {
        caught = error;
      }
      expect(caught, String(call)).toMatchObject({ name, code });
    }
    expect(engine.counters.sqes).toBe(before);
    engine.close();
    expect(engine.closed).toBe(true);
    expect(() => engine.recv(0, 0)).toThrow(expect.objectContaining({ code: 'ERR_URING_CLOSED' }));
    engine.close(); // idempotent
  });

  it('a buffer is recycled only when it is the caller\'s, all or none; sends are copied at once', () => {
    const engine = new Engine(8, 4096);
    track(engine);
    const [a, b] = binding.socketpair(binding.constants.AF_UNIX, binding.constants.SOCK_STREAM, true);
    track({ close: () => binding.close(a) }, { close: () => binding.close(b) });
    // Nothing is the caller's yet: every bid is the kernel's.
    engine.recycled[0] = 0;
    expect(() => engine.flush(1)).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE' }));
    engine.recv(a, 7);
    const data = Buffer.from('hello');
    engine.send(b, 8, data);
    data.fill(0); // the engine copied it: the peer still gets "hello"
    expect(() => engine.send(b, 8, Buffer.from('x'))).toThrow(expect.objectContaining({ code: 'EBUSY' })); // one send per id
    engine.flush();
    const [, res, flags] = reapUntil(engine, (op) => op === OP_RECV);
    expect(res).toBe(5);
    expect(flags & F_BUFFER).toBe(F_BUFFER);
    const bid = flags >>> 16;
    expect(Buffer.from(engine.buffers.subarray(bid * 4096, bid * 4096 + res)).toString()).toBe('hello');
    // Listed twice, or with a kernel-owned bid: refused as a whole, and bid stays the caller's.
    engine.recycled[0] = bid;
    engine.recycled[1] = bid;
    expect(() => engine.flush(2)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    engine.recycled[1] = (bid + 1) % 8;
    expect(() => engine.flush(2)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    engine.flush(1);
    expect(engine.counters.recycled).toBe(1);
    expect(() => engine.flush(1)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' })); // the kernel's again
    // Cancelling by fd ends the multishot recv with ECANCELED.
    engine.cancelFd(a, 9);
    const [, cancelled] = reapUntil(engine, (op, r) => op === OP_RECV && r < 0);
    expect(cancelled).toBe(-constants.errno.ECANCELED);
    expect(engine.counters.sendsInFlight).toBe(0);
    engine.close();
  });

  it('sendmsg of several buffers arrives in order; engines leave no fd behind', () => {
    for (let i = 0; i < 20; i++) new Engine(4, 256).close();
    const engine = new Engine(8, 4096);
    track(engine);
    const [a, b] = binding.socketpair(binding.constants.AF_UNIX, binding.constants.SOCK_STREAM, true);
    track({ close: () => binding.close(a) }, { close: () => binding.close(b) });
    engine.send(a, 1, [Buffer.from('one '), new Uint8Array(Buffer.from('two ')), Buffer.from('three')]);
    engine.flush();
    const [, res] = reapUntil(engine, (op) => op === OP_SEND);
    expect(res).toBe(13);
    const out = Buffer.alloc(64);
    expect(out.subarray(0, binding.read(b, out)).toString()).toBe('one two three');
    engine.close();
  });
  it.each([false, true])('deferTaskrun %s: flush leaves the fd readable while a completion waits (no sleep through it)', (defer) => {
    // The loop flushes before it may sleep in its selector. Without DEFER_TASKRUN the ring fd is
    // readable once the completion is posted. With it, the kernel signals the eventfd when task
    // work joins an empty list, but that signal was seen to come 10-20 ms late (an accept's work
    // queued, IORING_SQ_TASKRUN set, the eventfd unreadable): flush must see the flag and make
    // the fd readable itself, here with no sleep to hide the delay.
    const engine = new Engine(8, 4096, defer);
    track(engine);
    expect(engine.counters.deferTaskrun).toBe(defer ? 1 : 0);
    const { AF_INET, SOCK_STREAM } = binding.constants;
    const lfd = binding.socket(AF_INET, SOCK_STREAM);
    track({ close: () => binding.close(lfd) });
    binding.bind(lfd, AF_INET, ['127.0.0.1', 0]);
    binding.listen(lfd, 16);
    const port = (binding.getsockname(lfd, AF_INET) as [string, number])[1];
    engine.accept(lfd, 1);
    engine.flush();
    for (let round = 0; round < 20; round++) {
      const c = binding.socket(AF_INET, SOCK_STREAM);
      binding.connect(c, AF_INET, ['127.0.0.1', port], 0);
      // The listener is readable once the connection is queued, and the ring's poll fired then
      // too; without DEFER_TASKRUN the ring may have taken it already (its fd is readable).
      expect(binding.select(Int32Array.of(lfd, engine.fileno), new Int32Array(0), new Int32Array(0), 5)).toBeGreaterThanOrEqual(1);
      engine.flush();
      expect(binding.select(Int32Array.of(engine.fileno), new Int32Array(0), new Int32Array(0), 0), `round ${round}`).toBe(1);
      const [, fd] = reapUntil(engine, (op, res) => op === OP_ACCEPT && res >= 0);
      binding.close(fd);
      binding.close(c);
    }
    engine.close();
  });
});

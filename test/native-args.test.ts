// The addon checks every argument itself (reliability.md A1, A2, A11, B1, B2, B19): whatever JS
// passes, a native call returns or throws TypeError/RangeError, never crashes or truncates.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { binding } from '../lib/core/native';
import { availableSelectors } from '../lib/selectors';
import { openFdCount } from './helpers';

const WEIRD: unknown[] = [
  undefined, null, true, '', '3', -1, -0, 0.5, 2 ** 31, 2 ** 32 + 1, 2 ** 53, -(2 ** 53), Number.NaN,
  Infinity, -Infinity, 1n, Symbol('s'), {}, [], [1], () => 1, new Date(0), Buffer.alloc(0),
  { valueOf: () => 3 }, { fileno: () => 3 },
];

function outcome(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (error) {
    if (error instanceof TypeError || error instanceof RangeError) return error.name;
    const code = (error as { code?: string }).code;
    return code !== undefined ? `Error:${code}` : `unexpected:${String(error)}`;
  }
}

describe('native argument checks', () => {
  let baseline: number;
  beforeEach(() => {
    baseline = openFdCount();
  });
  afterEach(() => {
    expect(openFdCount()).toBe(baseline);
  });

  // poll, and io_uring where this host has it (a backend of its own in native/backends/).
  const ARG_KINDS = ['poll', ...availableSelectors().filter((kind) => kind === 'io_uring')];
  it.each(ARG_KINDS)('Selector methods (%s) reject every malformed argument with TypeError/RangeError', (kind) => {
    const sel = new binding.Selector(kind);
    const out = new Int32Array(4);
    try {
      for (const value of WEIRD) {
        for (const call of [
          () => sel.add(value as number, 1),
          () => sel.add(5, value as number),
          () => sel.modify(value as number, 1),
          () => sel.remove(value as number),
          // A numeric timeout is valid, and a negative one or undefined blocks: only other
          // non-numbers and NaN here.
          ...(value === undefined || (typeof value === 'number' && !Number.isNaN(value))
            ? []
            : [() => sel.wait(value as number, out)]),
          () => sel.wait(0, value as Int32Array),
        ]) {
          const result = outcome(call);
          expect(result).not.toMatch(/^unexpected/);
        }
      }
      // What must be refused, is.
      expect(outcome(() => sel.add(2 ** 32 + 1, 1))).toBe('RangeError');
      expect(outcome(() => sel.add(5, 4))).toBe('RangeError');
      expect(outcome(() => sel.wait(Number.NaN, out))).toBe('RangeError');
      expect(outcome(() => sel.wait(0, new Float64Array(4) as never))).toBe('TypeError');
      expect(outcome(() => sel.wait(0, new Int32Array(1)))).toBe('RangeError');
      const detached = new Int32Array(4);
      structuredClone(detached.buffer, { transfer: [detached.buffer] });
      expect(outcome(() => sel.wait(0, detached))).toBe('TypeError');
      expect(outcome(() => new binding.Selector(3 as never))).toBe('TypeError');
      expect(outcome(() => new binding.Selector('nope'))).toBe('Error:ERR_SELECTOR_UNAVAILABLE');
    } finally {
      sel.close();
    }
  });

  it('fd functions reject out-of-bounds ranges and detached buffers before touching memory', () => {
    const [r, w] = binding.pipe(true);
    try {
      const buf = Buffer.alloc(8);
      for (const [offset, length] of [
        [0, 9], [9, 0], [8, 1], [-1, 1], [1, -1], [Number.NaN, 1], [0, Number.NaN], [2 ** 53, 1],
        [4, 2 ** 32], [2 ** 32, 0], [0.5, 1], ['1', 1],
      ]) {
        const read = outcome(() => binding.read(r, buf, offset as number, length as number));
        expect(['RangeError', 'TypeError']).toContain(read);
        const write = outcome(() => binding.write(w, buf, offset as number, length as number));
        expect(['RangeError', 'TypeError']).toContain(write);
      }
      // A valueOf that would detach the buffer is never called: non-numbers are refused first.
      const ab = new ArrayBuffer(8);
      const view = new Uint8Array(ab);
      const sneaky = { valueOf: () => (structuredClone(ab, { transfer: [ab] }), 0) };
      expect(outcome(() => binding.write(w, view, sneaky as never, 1))).toBe('TypeError');
      expect(ab.byteLength).toBe(8);
      structuredClone(ab, { transfer: [ab] });
      expect(outcome(() => binding.write(w, view))).toBe('TypeError');
      // In bounds: works, and an empty read of a non-blocking pipe is the EAGAIN sentinel.
      expect(binding.read(r, buf)).toBe(-1);
      expect(binding.write(w, buf, 2, 3)).toBe(3);
      expect(binding.read(r, buf, 7)).toBe(1);
      // Valid fd numbers (such as -0, which is fd 0, stdin) are left out: reading them could block.
      for (const value of WEIRD.filter((v) => !(typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 2 ** 31))) {
        expect(outcome(() => binding.read(value as number, buf))).not.toMatch(/^unexpected/);
        expect(outcome(() => binding.setNonBlocking(value as number, true))).not.toMatch(/^unexpected/);
      }
      expect(outcome(() => binding.close(2 ** 32 + 1))).toBe('RangeError');
      expect(outcome(() => binding.read(999999, buf))).toBe('Error:EBADF');
    } finally {
      binding.close(r);
      binding.close(w);
    }
  });
});

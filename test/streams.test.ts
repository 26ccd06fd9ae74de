// Streams at unit level, on a fake clock and a fake transport: every StreamReader rule of
// python-anchor.md section 5.3 (scenarios 55-57, reliability.md E10, E13), the E14 chunking
// property with a seeded PRNG, StreamWriter.drain() and the protocol glue, in both coroutine
// styles.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Future } from '../lib/tasks/futures';
import { CancelledError } from '../lib/tasks/futures';
import { gather, sleep } from '../lib/tasks/helpers';
import { EventLoop } from '../lib/loops';
import type { BaseProtocol, BytesLike, Transport } from '../lib/net/protocols';
import {
  IncompleteReadError,
  LimitOverrunError,
  StreamReader,
  StreamReaderProtocol,
  StreamWriter,
  openConnection,
  startServer,
} from '../lib/streams';
import { createTask, type Task } from '../lib/tasks/tasks';
import { FakeClock, FakeSelector, caught } from './fake';

let clock: FakeClock;
let loop: EventLoop;
let handled: Array<{ message: string; exception?: unknown }>;

beforeEach(() => {
  clock = new FakeClock();
  loop = new EventLoop({ selector: new FakeSelector(clock), clock: clock.time, debug: false });
  handled = [];
  loop.setExceptionHandler((_loop, context) => handled.push(context));
});

afterEach(() => {
  if (!loop.isRunning()) loop.close();
});

const run = <T>(main: () => Promise<T>): Promise<T> => loop.runUntilComplete(main);
const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const s = (buf: Buffer): string => buf.toString('latin1');

/** A transport that records what the stream layer asks of it. */
class FakeTransport implements Transport {
  reading = true;
  pauses = 0;
  resumes = 0;
  closing = false;
  written: Buffer[] = [];
  eofWritten = false;
  constructor(public protocol: BaseProtocol | undefined = undefined) {}
  getExtraInfo(name: string, defaultValue?: unknown): unknown {
    return name === 'peername' ? ['127.0.0.1', 1] : defaultValue;
  }
  isClosing(): boolean {
    return this.closing;
  }
  close(): void {
    if (this.closing) return;
    this.closing = true;
    this.reading = false;
    loop.callSoon(() => this.protocol?.connectionLost(undefined));
  }
  setProtocol(protocol: BaseProtocol): void {
    this.protocol = protocol;
  }
  getProtocol(): BaseProtocol {
    return this.protocol as BaseProtocol;
  }
  isReading(): boolean {
    return this.reading;
  }
  pauseReading(): void {
    this.pauses++;
    this.reading = false;
  }
  resumeReading(): void {
    this.resumes++;
    this.reading = true;
  }
  setWriteBufferLimits(): void {}
  getWriteBufferLimits(): [number, number] {
    return [16384, 65536];
  }
  getWriteBufferSize(): number {
    return 0;
  }
  write(data: BytesLike): void {
    this.written.push(Buffer.from(data as Buffer));
  }
  writelines(list: Iterable<BytesLike>): void {
    for (const data of list) this.write(data);
  }
  writeEof(): void {
    this.eofWritten = true;
  }
  canWriteEof(): boolean {
    return true;
  }
  abort(): void {
    this.close();
  }
}

function readerWith(data: string | null, limit?: number, eof = false): StreamReader {
  const reader = new StreamReader(limit, loop);
  if (data !== null) reader.feedData(b(data));
  if (eof) reader.feedEof();
  return reader;
}

describe('errors', () => {
  it('IncompleteReadError and LimitOverrunError carry asyncio messages, fields and stable codes', () => {
    const e = new IncompleteReadError(b('hello'), 10);
    expect(e.message).toBe('5 bytes read on a total of 10 expected bytes');
    expect([e.code, e.name, s(e.partial), e.expected]).toEqual(['ERR_INCOMPLETE_READ', 'IncompleteReadError', 'hello', 10]);
    expect(new IncompleteReadError(b(''), undefined).message).toBe('0 bytes read on a total of undefined expected bytes');
    const l = new LimitOverrunError('Separator is not found, and chunk exceed the limit', 7);
    expect([l.code, l.name, l.consumed]).toEqual(['ERR_LIMIT_OVERRUN', 'LimitOverrunError', 7]);
    expect(l).toBeInstanceOf(Error);
  });
});

describe('StreamReader: construction and feeding', () => {
  it('limit <= 0 is a RangeError, a non-number a TypeError (E10)', () => {
    expect(() => new StreamReader(0, loop)).toThrow(RangeError);
    expect(() => new StreamReader(-1, loop)).toThrow(/Limit cannot be <= 0/);
    expect(() => new StreamReader('5' as unknown as number, loop)).toThrow(TypeError);
    expect(() => new StreamReader(NaN, loop)).toThrow(TypeError);
    expect(new StreamReader(undefined, loop).limit).toBe(65536);
  });

  it('feedData after feedEof is ERR_STREAM_EOF; non-bytes are a TypeError; state unchanged', () => {
    const reader = readerWith('ab');
    expect(() => reader.feedData(42 as unknown as Buffer)).toThrow(TypeError);
    expect(reader.bufferSize).toBe(2);
    reader.feedEof();
    expect(() => reader.feedData(b('x'))).toThrow(expect.objectContaining({ code: 'ERR_STREAM_EOF' }));
    expect(reader.bufferSize).toBe(2);
    expect(reader.atEof()).toBe(false);
  });

  it('accepts TypedArrays and strings, and copies a small view of a large ArrayBuffer', async () => {
    const big = new Uint8Array(1 << 20);
    big.set([104, 105, 10], 1000);
    const reader = readerWith(null);
    reader.feedData(big.subarray(1000, 1003));
    reader.feedData('yo\n');
    await run(async () => {
      const line = await reader.readline();
      expect(s(line)).toBe('hi\n');
      expect(line.buffer.byteLength).toBeLessThan(1 << 20);
      expect(s(await reader.readline())).toBe('yo\n');
    });
  });

  it('setTransport twice is ERR_TRANSPORT_ALREADY_SET', () => {
    const reader = readerWith(null);
    reader.setTransport(new FakeTransport());
    expect(() => reader.setTransport(new FakeTransport())).toThrow(expect.objectContaining({ code: 'ERR_TRANSPORT_ALREADY_SET' }));
  });
});

describe('StreamReader: read rules (scenarios 55-57, E10)', () => {
  it('55: readline over the limit throws LimitOverrunError and discards through the newline', async () => {
    await run(async () => {
      const reader = readerWith('abcdefgh\n', 5);
      const error = await caught(reader.readline());
      expect(error).toBeInstanceOf(LimitOverrunError);
      expect((error as Error).message).toBe('Separator is found, but chunk is longer than limit');
      expect(reader.bufferSize).toBe(0);
      // Separator found: only the long line goes, the rest stays.
      const second = readerWith('abcdefgh\nok\n', 5);
      await caught(second.readline());
      expect(s(await second.readline())).toBe('ok\n');
      // Not found: the whole buffer goes.
      const third = readerWith('abcdefghij', 5);
      const overrun = (await caught(third.readline())) as LimitOverrunError;
      expect(overrun.message).toBe('Separator is not found, and chunk exceed the limit');
      expect(third.bufferSize).toBe(0);
    });
  });

  it('55: readuntil with no separator within the limit keeps the data and reports consumed', async () => {
    await run(async () => {
      const reader = readerWith('0123456789', 5);
      const error = (await caught(reader.readuntil('!'))) as LimitOverrunError;
      expect(error).toBeInstanceOf(LimitOverrunError);
      expect(error.consumed).toBe(10);
      expect(error.message).toBe('Separator is not found, and chunk exceed the limit');
      expect(reader.bufferSize).toBe(10);
      const found = readerWith('0123456789!', 5);
      const late = (await caught(found.readuntil('!'))) as LimitOverrunError;
      expect([late.message, late.consumed]).toEqual(['Separator is found, but chunk is longer than limit', 10]);
      expect(s(await found.readexactly(late.consumed))).toBe('0123456789');
      expect(s(await found.readuntil('!'))).toBe('!');
    });
  });

  it('56: readexactly at EOF → IncompleteReadError(partial, expected), then atEof, read/readline empty', async () => {
    await run(async () => {
      const reader = readerWith('hello', undefined, true);
      const error = (await caught(reader.readexactly(10))) as IncompleteReadError;
      expect(error).toBeInstanceOf(IncompleteReadError);
      expect([s(error.partial), error.expected, error.message]).toEqual(['hello', 10, '5 bytes read on a total of 10 expected bytes']);
      expect(reader.atEof()).toBe(true);
      expect((await reader.read()).length).toBe(0);
      expect((await reader.readline()).length).toBe(0);
      const until = (await caught(reader.readuntil())) as IncompleteReadError;
      expect([until.partial.length, until.expected]).toEqual([0, undefined]);
      const partial = readerWith('abc', undefined, true);
      expect(s(((await caught(partial.readuntil('\n'))) as IncompleteReadError).partial)).toBe('abc');
      expect(partial.bufferSize).toBe(0);
    });
  });

  it('57: tuple separators, shortest result wins; bad arguments; read(0); concurrent reads', async () => {
    await run(async () => {
      const reader = readerWith('yza\nb\r\nc');
      expect(s(await reader.readuntil(['\r\n', '\n']))).toBe('yza\n');
      expect(s(await reader.readuntil(['\r\n', '\n']))).toBe('b\r\n');
      // Same end position: the shorter separator is reported (3.13 sorts by length).
      const tie = readerWith('ab\r\n');
      expect(s(await tie.readuntil(['b\r\n', '\n']))).toBe('ab\r\n');
      expect(await caught(reader.readuntil(''))).toBeInstanceOf(RangeError);
      expect(await caught(reader.readuntil([]))).toBeInstanceOf(RangeError);
      expect(await caught(reader.readuntil(['a', '']))).toBeInstanceOf(RangeError);
      expect(await caught(reader.readuntil(5 as unknown as string))).toBeInstanceOf(TypeError);
      const neg = await caught(reader.readexactly(-1));
      expect(neg).toBeInstanceOf(RangeError);
      expect((neg as Error).message).toBe('readexactly size can not be less than zero');
      expect(await caught(reader.read(1.5))).toBeInstanceOf(RangeError);
      expect(await caught(reader.read('1' as unknown as number))).toBeInstanceOf(TypeError);
      expect((await reader.read(0)).length).toBe(0);
      expect((await reader.readexactly(0)).length).toBe(0);
      expect(s(await reader.read(100))).toBe('c'); // state untouched by the bad calls
      const first = reader.read(1);
      const second = await caught(reader.read(1));
      expect(second).toMatchObject({
        code: 'ERR_CONCURRENT_READ',
        message: 'read() called while another coroutine is already waiting for incoming data',
      });
      reader.feedData(b('z'));
      expect(s(await first)).toBe('z');
    });
  });

  it('57: setException fails the pending read and every later one', async () => {
    await run(async () => {
      const reader = readerWith(null);
      const pending = reader.readline();
      const boom = new Error('boom');
      reader.setException(boom);
      expect(await caught(pending)).toBe(boom);
      expect(reader.exception()).toBe(boom);
      for (const read of [() => reader.read(), () => reader.readline(), () => reader.readexactly(1), () => reader.readuntil('x')]) {
        expect(await caught(read())).toBe(boom);
      }
    });
  });

  it('read(n) waits for data, returns at most n, an empty Buffer at EOF', async () => {
    await run(async () => {
      const reader = readerWith(null);
      const reading = reader.read(3);
      await sleep(0);
      expect(reading.done()).toBe(false);
      reader.feedData(b('abcdef'));
      expect(s(await reading)).toBe('abc');
      expect(s(await reader.read(100))).toBe('def');
      reader.feedEof();
      expect((await reader.read(5)).length).toBe(0);
    });
  });

  it('E13: read(-1) is unbounded; maxBytes fails with LimitOverrunError and keeps the data', async () => {
    await run(async () => {
      const reader = readerWith(null, 4);
      const all = reader.read();
      for (let i = 0; i < 100; i++) reader.feedData(b('0123456789'));
      reader.feedEof();
      expect((await all).length).toBe(1000);
      const bounded = readerWith(null, 4);
      const limited = bounded.read(-1, { maxBytes: 25 });
      bounded.feedData(b('0123456789'));
      bounded.feedData(b('0123456789'));
      await sleep(0);
      expect(limited.done()).toBe(false);
      bounded.feedData(b('0123456789'));
      const error = (await caught(limited)) as LimitOverrunError;
      expect(error).toBeInstanceOf(LimitOverrunError);
      expect(error.consumed).toBe(30);
      expect(bounded.bufferSize).toBe(30);
      expect(await caught(bounded.read(-1, { maxBytes: -1 }))).toBeInstanceOf(RangeError);
      bounded.feedEof();
      expect((await bounded.read(-1, { maxBytes: 30 })).length).toBe(30);
    });
  });

  it('pauses the transport above 2 x limit when nobody reads, resumes at <= limit', async () => {
    await run(async () => {
      const transport = new FakeTransport();
      const reader = new StreamReader(10, loop);
      reader.setTransport(transport);
      reader.feedData(b('x'.repeat(20)));
      expect(transport.pauses).toBe(0); // 20 is not above 2 x 10
      reader.feedData(b('y'));
      expect([transport.pauses, transport.reading]).toEqual([1, false]);
      reader.feedData(b('z'.repeat(5))); // already paused: no second call
      expect(transport.pauses).toBe(1);
      await reader.readexactly(10); // 16 left > limit: still paused
      expect(transport.resumes).toBe(0);
      await reader.readexactly(6); // 10 left: resumed
      expect([transport.resumes, transport.reading]).toEqual([1, true]);
      // A read that waits for more resumes a paused transport at once (asyncio's _wait_for_data).
      reader.feedData(b('w'.repeat(20)));
      expect(transport.pauses).toBe(2);
      const big = reader.readexactly(100);
      expect([transport.resumes, transport.reading]).toEqual([2, true]);
      reader.feedData(b('v'.repeat(50))); // a read is pending: no pause
      expect(transport.pauses).toBe(2);
      reader.feedData(b('v'.repeat(50))); // completes it; 30 left > 2 x limit and nobody reads
      expect(transport.pauses).toBe(3);
      expect((await big).length).toBe(100);
    });
  });

  it('for await iterates over lines, the last one without newline', async () => {
    await run(async () => {
      const reader = readerWith('one\ntwo\nthree', undefined, true);
      const lines: string[] = [];
      for await (const line of reader) lines.push(s(line));
      expect(lines).toEqual(['one\n', 'two\n', 'three']);
    });
  });

  it('works in a generator task with yield, chunk by chunk', async () => {
    const reader = readerWith(null);
    const task = loop.createTask(function* (): Generator<Future<Buffer>, string[], Buffer> {
      const got: string[] = [];
      got.push(s(yield reader.readline()));
      got.push(s(yield reader.readuntil(['\r\n'])));
      got.push(s(yield reader.readexactly(4)));
      try {
        yield reader.readexactly(10);
      } catch (error) {
        got.push(`${(error as IncompleteReadError).code}:${s((error as IncompleteReadError).partial)}`);
      }
      return got;
    });
    const feeder = loop.createTask(function* () {
      for (const chunk of ['he', 'llo', '\nwor', 'ld\r', '\nab', 'cdef']) {
        reader.feedData(b(chunk));
        yield sleep(0);
      }
      reader.feedEof();
    });
    expect(await loop.runUntilComplete(gather(task, feeder))).toEqual([
      ['hello\n', 'world\r\n', 'abcd', 'ERR_INCOMPLETE_READ:ef'],
      undefined,
    ]);
  });

  it.each(['async', 'generator'])('a task cancelled after its read completed loses no bytes (%s)', async (style) => {
    await run(async () => {
      const reader = readerWith(null);
      const body =
        style === 'async'
          ? async () => reader.readline()
          : function* (): Generator<Future<Buffer>, Buffer, Buffer> {
              return yield reader.readline();
            };
      const task = createTask(style === 'async' ? body : (body as () => Generator)()) as Task<Buffer>;
      await sleep(0); // the task now waits in readline
      reader.feedData(b('kept\n')); // completes the read...
      task.cancel(); // ...but the task is cancelled before it resumes
      expect(await caught(task)).toBeInstanceOf(CancelledError);
      expect(s(await reader.readline())).toBe('kept\n');
    });
  });

  it('a cancelled pending read lets the next one start', async () => {
    await run(async () => {
      const reader = readerWith(null);
      const first = reader.readline();
      first.cancel();
      const second = reader.readline();
      reader.feedData(b('x\n'));
      expect(s(await second)).toBe('x\n');
    });
  });
});

// -------------------------------------------------------------------------------------------------
// E14: chunking never changes results

/** Mulberry32: a tiny seeded PRNG, so a failure replays from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Op = { kind: 'readline' } | { kind: 'readuntil'; seps: string[] } | { kind: 'readexactly'; n: number };

/** The expected results, computed on the whole byte string at once. */
function model(data: Buffer, ops: Op[]): string[] {
  let pos = 0;
  const out: string[] = [];
  for (const op of ops) {
    if (op.kind === 'readexactly') {
      if (data.length - pos >= op.n) {
        out.push(`ok:${s(data.subarray(pos, pos + op.n))}`);
        pos += op.n;
      } else {
        out.push(`incomplete:${s(data.subarray(pos))}:${op.n}`);
        pos = data.length;
      }
      continue;
    }
    const seps = op.kind === 'readline' ? ['\n'] : op.seps;
    let end = -1;
    for (const sep of seps) {
      const at = data.indexOf(b(sep), pos);
      if (at >= 0 && (end < 0 || at + sep.length < end)) end = at + sep.length;
    }
    if (end >= 0) {
      out.push(`ok:${s(data.subarray(pos, end))}`);
      pos = end;
    } else {
      out.push(op.kind === 'readline' ? `ok:${s(data.subarray(pos))}` : `incomplete:${s(data.subarray(pos))}:undefined`);
      pos = data.length;
    }
  }
  return out;
}

async function chunked(data: Buffer, ops: Op[], random: () => number): Promise<string[]> {
  const reader = new StreamReader(1 << 20, loop);
  const feeder = createTask(async () => {
    for (let pos = 0; pos < data.length; ) {
      const size = Math.min(data.length - pos, 1 + Math.floor(2 ** (random() * 16))); // 1 B .. 64 KiB
      reader.feedData(data.subarray(pos, pos + size));
      pos += size;
      if (random() < 0.7) await sleep(0);
    }
    reader.feedEof();
  });
  const out: string[] = [];
  for (const op of ops) {
    try {
      const got =
        op.kind === 'readline' ? await reader.readline() : op.kind === 'readuntil' ? await reader.readuntil(op.seps) : await reader.readexactly(op.n);
      out.push(`ok:${s(got)}`);
    } catch (error) {
      if (!(error instanceof IncompleteReadError)) throw error;
      out.push(`incomplete:${s(error.partial)}:${error.expected}`);
    }
  }
  await feeder;
  return out;
}

describe('E14: any chunking from 1 B to 64 KiB gives the same results', () => {
  const ALPHABET = ['a', 'b', 'X', 'Y', '\r', '\n', '\r\n', 'XYX'];
  const SEPARATORS = [['\n'], ['\r\n'], ['XY'], ['XYX', 'X'], ['\r\n', '\n'], ['YXY', 'bXY', '\r']];

  it('for 300 seeded streams and op scripts', async () => {
    await run(async () => {
      for (let seed = 1; seed <= 300; seed++) {
        const random = prng(seed);
        const length = seed % 30 === 0 ? 150_000 : Math.floor(random() * 4000);
        const parts: string[] = [];
        for (let n = 0; n < length; ) {
          const piece = ALPHABET[Math.floor(random() * ALPHABET.length)];
          parts.push(piece);
          n += piece.length;
        }
        const data = b(parts.join(''));
        const ops: Op[] = [];
        for (let i = 0; i < 200; i++) {
          const r = random();
          if (r < 0.4) ops.push({ kind: 'readline' });
          else if (r < 0.7) ops.push({ kind: 'readuntil', seps: SEPARATORS[Math.floor(random() * SEPARATORS.length)] });
          else ops.push({ kind: 'readexactly', n: Math.floor(random() * (seed % 30 === 0 ? 5000 : 60)) });
        }
        const expected = model(data, ops);
        expect(await chunked(data, ops, random), `seed ${seed}`).toEqual(expected);
      }
    });
  }, 60_000);
});

// -------------------------------------------------------------------------------------------------
// StreamWriter and the protocol

function connectedPair(): { transport: FakeTransport; protocol: StreamReaderProtocol; reader: StreamReader; writer: StreamWriter } {
  const reader = new StreamReader(undefined, loop);
  const protocol = new StreamReaderProtocol(reader, undefined, loop);
  const transport = new FakeTransport(protocol);
  protocol.connectionMade(transport);
  const writer = new StreamWriter(transport, protocol, reader, loop);
  return { transport, protocol, reader, writer };
}

describe('StreamWriter', () => {
  it('delegates to the transport', () => {
    const { transport, writer } = connectedPair();
    writer.write(b('a'));
    writer.writelines([b('b'), 'c']);
    writer.writeEof();
    expect(transport.written.map(s)).toEqual(['a', 'b', 'c']);
    expect([transport.eofWritten, writer.canWriteEof(), writer.isClosing(), writer.transport]).toEqual([true, true, false, transport]);
    expect(writer.getExtraInfo('peername')).toEqual(['127.0.0.1', 1]);
    expect(writer.getExtraInfo('nope', 7)).toBe(7);
  });

  it('drain resolves at once unless paused; 10 concurrent drainers all resume (E8)', async () => {
    await run(async () => {
      const { protocol, writer } = connectedPair();
      await writer.drain();
      protocol.pauseWriting();
      const drains = Array.from({ length: 10 }, () => writer.drain());
      await sleep(0);
      expect(drains.some((d) => d.done())).toBe(false);
      protocol.resumeWriting();
      await gather(...drains);
    });
  });

  it('E8: paused drainers get the connection error; later drains ECONNRESET "Connection lost"', async () => {
    await run(async () => {
      const { protocol, writer, reader } = connectedPair();
      protocol.pauseWriting();
      const drains = Array.from({ length: 10 }, () => writer.drain());
      const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
      protocol.connectionLost(reset);
      for (const d of drains) expect(await caught(d)).toBe(reset);
      expect(reader.exception()).toBe(reset);
      expect(await caught(writer.drain())).toBe(reset); // the reader's exception first
      expect(await caught(writer.waitClosed())).toBe(reset);
    });
  });

  it('drain after a clean close: one iteration for connectionLost, then ECONNRESET', async () => {
    await run(async () => {
      const { writer, protocol } = connectedPair();
      protocol.pauseWriting();
      const waiting = writer.drain();
      writer.close(); // the fake transport schedules connectionLost(undefined)
      const after = writer.drain();
      await waiting; // woken normally by the clean connectionLost
      const error = await caught(after);
      expect(error).toMatchObject({ code: 'ECONNRESET', message: 'Connection lost' });
      await writer.waitClosed();
    });
  });

  it('await using closes and waits', async () => {
    await run(async () => {
      const { transport, writer } = connectedPair();
      {
        await using w = writer;
        w.write('bye');
      }
      expect(transport.closing).toBe(true);
      expect(writer.waitClosed().done()).toBe(true);
    });
  });
});

describe('StreamReaderProtocol', () => {
  it('feeds data and EOF, keeps the transport open for writing after EOF', async () => {
    await run(async () => {
      const { protocol, reader } = connectedPair();
      protocol.dataReceived(b('x\n'));
      expect(protocol.eofReceived()).toBe(true);
      expect(s(await reader.readline())).toBe('x\n');
      expect(reader.atEof()).toBe(true);
    });
  });

  it.each(['async', 'generator', 'plain returning a promise', 'plain'])('runs a %s client-connected callback', async (style) => {
    await run(async () => {
      const seen: string[] = [];
      const callbacks: Record<string, (r: StreamReader, w: StreamWriter) => unknown> = {
        async: async (r, w) => {
          w.write(await r.readline());
          seen.push('async');
        },
        generator: function* (r: StreamReader, w: StreamWriter) {
          w.write((yield r.readline()) as Buffer);
          seen.push('generator');
        },
        'plain returning a promise': (r, w) =>
          (async () => {
            w.write(await r.readline());
            seen.push('promise');
          })(),
        plain: (r, w) => {
          seen.push('plain');
          r.readline().addDoneCallback((f) => w.write(f.result()));
        },
      };
      const protocol = new StreamReaderProtocol(new StreamReader(undefined, loop), callbacks[style], loop);
      const transport = new FakeTransport(protocol);
      protocol.connectionMade(transport);
      protocol.dataReceived(b('echo\n'));
      await sleep(0.01);
      expect(transport.written.map(s)).toEqual(['echo\n']);
      expect(seen).toHaveLength(1);
      expect(transport.closing).toBe(false);
      expect(handled).toEqual([]);
    });
  });

  it.each(['async', 'sync'])('a failing %s callback goes to the exception handler and closes the transport', async (style) => {
    await run(async () => {
      const boom = new Error('boom');
      const cb =
        style === 'async'
          ? async () => {
              await sleep(0);
              throw boom;
            }
          : () => {
              throw boom;
            };
      const protocol = new StreamReaderProtocol(new StreamReader(undefined, loop), cb, loop);
      const transport = new FakeTransport(protocol);
      protocol.connectionMade(transport);
      await sleep(0.01);
      expect(transport.closing).toBe(true);
      expect(handled).toHaveLength(1);
      expect(handled[0]).toMatchObject({ message: 'Unhandled exception in client_connected_cb', exception: boom, transport });
    });
  });
});

describe('openConnection / startServer arguments', () => {
  it('fail through the Future for a bad limit or callback, throw without a running loop', async () => {
    await run(async () => {
      expect(await caught(openConnection('127.0.0.1', 1, { limit: 0 }))).toBeInstanceOf(RangeError);
      expect(await caught(startServer(42 as unknown as () => void, '127.0.0.1', 0))).toBeInstanceOf(TypeError);
      expect(await caught(startServer(() => {}, '127.0.0.1', 0, { loop, limit: -1 }))).toBeInstanceOf(RangeError);
    });
    expect(() => openConnection('127.0.0.1', 1)).toThrow(expect.objectContaining({ code: 'ERR_NO_RUNNING_LOOP' }));
  });
});

// -------------------------------------------------------------------------------------------------
// E10/E14 against the CPython oracle (test/oracle/streamreader.py), limits included

type OracleOp = ['readline', null] | ['readuntil', string] | ['readexactly', number] | ['read', number];
interface OracleCase {
  limit: number;
  chunks: string[];
  ops: OracleOp[];
}

/** Replays a case the way the oracle does: one chunk fed at a time, only while the op waits. */
function replayHere(c: OracleCase): unknown[] {
  const reader = new StreamReader(c.limit, loop);
  const chunks = [...c.chunks];
  return c.ops.map(([kind, arg]) => {
    const future =
      kind === 'readline'
        ? reader.readline()
        : kind === 'readuntil'
          ? reader.readuntil(arg as string)
          : kind === 'readexactly'
            ? reader.readexactly(arg as number)
            : reader.read(arg as number);
    while (!future.done()) {
      const chunk = chunks.shift();
      if (chunk !== undefined) reader.feedData(b(chunk));
      else reader.feedEof();
    }
    const left = reader.bufferSize;
    const error = future.exception();
    if (error === undefined) return ['ok', s(future.result()), left];
    if (error instanceof IncompleteReadError) return ['incomplete', s(error.partial), error.expected ?? null, left];
    if (error instanceof LimitOverrunError) return ['overrun', error.message, kind === 'readline' ? null : error.consumed, left];
    return ['error', (error as Error).name, (error as Error).message, left];
  });
}

function oracleCases(count: number): OracleCase[] {
  const cases: OracleCase[] = [];
  const alphabet = ['a', 'b', 'X', 'Y', '\r', '\n', '\r\n', 'XYX', 'aaaaaaaaaaaaaaaaaaaa'];
  const seps = ['\n', '\r\n', 'XY', 'XYX'];
  for (let seed = 1; seed <= count; seed++) {
    const random = prng(seed * 7919);
    const pick = <T>(list: T[]): T => list[Math.floor(random() * list.length)];
    let data = '';
    const length = Math.floor(random() * 600);
    while (data.length < length) data += pick(alphabet);
    const chunks: string[] = [];
    for (let pos = 0; pos < data.length; ) {
      const size = 1 + Math.floor(random() * (random() < 0.5 ? 4 : 60));
      chunks.push(data.slice(pos, pos + size));
      pos += size;
    }
    const ops: OracleOp[] = [];
    for (let i = 0; i < 40; i++) {
      const r = random();
      if (r < 0.35) ops.push(['readline', null]);
      else if (r < 0.65) ops.push(['readuntil', pick(seps)]);
      else if (r < 0.85) ops.push(['readexactly', Math.floor(random() * 50)]);
      else if (r < 0.98) ops.push(['read', 1 + Math.floor(random() * 50)]);
      else ops.push(['read', -1]);
    }
    cases.push({ limit: 4 + Math.floor(random() * 60), chunks, ops });
  }
  return cases;
}

const python = spawnSync('python3', ['-c', 'import asyncio'], { encoding: 'utf8' });
describe.skipIf(python.status !== 0)('StreamReader against CPython asyncio (oracle)', () => {
  it('400 seeded cases with small limits give the same results, errors and buffer sizes', () => {
    const cases = oracleCases(400);
    const oracle = spawnSync('python3', [join(__dirname, 'oracle', 'streamreader.py')], {
      input: JSON.stringify(cases),
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    expect(oracle.stderr).toBe('');
    const expected = JSON.parse(oracle.stdout) as unknown[][];
    cases.forEach((c, i) => expect(replayHere(c), `case ${i + 1}`).toEqual(expected[i]));
  });
});

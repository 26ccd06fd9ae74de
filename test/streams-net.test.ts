// Streams on real loopback sockets, hosted mode, on the epoll and poll backends (python-anchor.md
// scenario 60; reliability.md E8, E11, E12, E13 and F9), in both coroutine styles. Owning mode
// runs in a child process (test/fixtures/streams-echo.cjs). Every test is leak-checked. Load
// sizes are scaled down to what a shared CI machine takes; no timing thresholds but generous
// anti-spin bounds.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Future } from '../lib/tasks/futures';
import { gather, sleep } from '../lib/tasks/helpers';
import { Event } from '../lib/tasks/locks';
import type { EventLoop } from '../lib/loops';
import { availableSelectors } from '../lib/selectors';
import type { Server } from '../lib/net/server';
import {
  LimitOverrunError,
  type StreamReader,
  type StreamWriter,
  openConnection,
  openUnixConnection,
  startServer,
  startUnixServer,
} from '../lib/streams';
import { TimeoutError, timeout } from '../lib/tasks/timeouts';
import { type LoopKind, useRealLoop, withUringIo } from './helpers';

const KINDS = withUringIo(availableSelectors().filter((kind) => kind === 'epoll' || kind === 'poll'));
const MiB = 1024 * 1024;

function portOf(server: Server): number {
  return (server.sockets[0].getsockname() as [string, number])[1];
}

async function closeServer(server: Server): Promise<void> {
  server.close();
  await server.waitClosed();
}

async function closeWriter(writer: StreamWriter): Promise<void> {
  writer.close();
  try {
    await writer.waitClosed();
  } catch {
    // the connection ended with an error the test already looked at
  }
}

async function echoLines(reader: StreamReader, writer: StreamWriter): Promise<void> {
  for await (const line of reader) {
    writer.write(line);
    await writer.drain();
  }
  await closeWriter(writer);
}

describe('streams: options.loop', () => {
  it('a value that is not a loop is refused with ERR_INVALID_ARG_TYPE, thrown (no Future could carry it)', () => {
    const calls = [
      (bad: never) => openConnection('127.0.0.1', 1, { loop: bad }),
      (bad: never) => openUnixConnection('/nonexistent', { loop: bad }),
      (bad: never) => startServer(() => undefined, '127.0.0.1', 0, { loop: bad }),
      (bad: never) => startUnixServer(() => undefined, '/nonexistent', { loop: bad }),
    ];
    for (const call of calls) {
      for (const bad of [{}, 5, 'loop', { createFuture: () => undefined }]) {
        expect(() => call(bad as never)).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: expect.stringContaining('"options.loop"') }));
      }
    }
  });
});

describe.each(KINDS)('%s backend: streams over loopback', (kind: LoopKind) => {
  const fixture = useRealLoop(kind);
  let loop: EventLoop;
  beforeEach(() => {
    loop = fixture.loop;
  });

  it('60 (async): echo with readline, then writer and server close and wait', async () => {
    await loop.runUntilComplete(async () => {
      const server = await startServer(echoLines, '127.0.0.1', 0);
      const [reader, writer] = await openConnection('127.0.0.1', portOf(server));
      writer.write('hi\n');
      await writer.drain();
      expect((await reader.readline()).toString()).toBe('hi\n');
      expect(writer.getExtraInfo('peername')).toEqual(['127.0.0.1', portOf(server)]);
      writer.close();
      await writer.waitClosed();
      await closeServer(server);
    });
  });

  it('60 (generator): the same with yield, over a Unix socket', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'muxloop-streams-'));
    const socketPath = path.join(dir, 'echo.sock');
    try {
      const result = await loop.runUntilComplete(function* (): Generator<Future<unknown>, string[], any> {
        const server: Server = yield startUnixServer(function* (reader: StreamReader, writer: StreamWriter) {
          for (let line: Buffer; (line = yield reader.readline()).length > 0; ) {
            writer.write(line);
            yield writer.drain();
          }
          writer.close();
        }, socketPath);
        const [reader, writer]: [StreamReader, StreamWriter] = yield openUnixConnection(socketPath);
        const got: string[] = [];
        for (const line of ['one\n', 'two\n']) {
          writer.write(line);
          yield writer.drain();
          got.push(((yield reader.readline()) as Buffer).toString());
        }
        writer.writeEof();
        got.push(String(((yield reader.read()) as Buffer).length));
        writer.close();
        yield writer.waitClosed();
        server.close();
        yield server.waitClosed();
        return got;
      });
      expect(result).toEqual(['one\n', 'two\n', '0']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('E13: read(-1, { maxBytes }) fails with LimitOverrunError, read(-1) gets everything', async () => {
    await loop.runUntilComplete(async () => {
      const payload = Buffer.alloc(3 * MiB, 'm');
      const server = await startServer(async (_reader, writer) => {
        writer.write(payload);
        await writer.drain();
        await closeWriter(writer);
      }, '127.0.0.1', 0);
      const [reader, writer] = await openConnection('127.0.0.1', portOf(server));
      const error = await reader.read(-1, { maxBytes: MiB }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(LimitOverrunError);
      expect((error as LimitOverrunError).consumed).toBeGreaterThan(MiB);
      expect((await reader.read()).length).toBe(payload.length);
      await closeWriter(writer);
      await closeServer(server);
    });
  });

  it('E8: 10 concurrent drainers resume when the peer reads; after the peer resets, drain fails with no spin', async () => {
    await loop.runUntilComplete(async () => {
      const startReading = new Event();
      const reset = new Event();
      let serverWriter: StreamWriter | undefined;
      const server = await startServer(async (reader, writer) => {
        serverWriter = writer;
        await startReading.wait();
        await reader.readexactly(32 * MiB); // everything the client sent before draining
        await reset.wait();
        writer.transport.abort(); // unread data in the receive buffer: the kernel sends RST
      }, '127.0.0.1', 0);
      const [, writer] = await openConnection('127.0.0.1', portOf(server));
      writer.write(Buffer.alloc(32 * MiB, 'd')); // more than the kernel's loopback buffers take
      const drains = Array.from({ length: 10 }, () => writer.drain());
      await sleep(0.05);
      expect(drains.filter((d) => d.done())).toHaveLength(0);
      startReading.set();
      await gather(...drains);
      expect(writer.transport.getWriteBufferSize()).toBeLessThanOrEqual(65536);

      // Now the peer resets while we are paused again. The kernel's loopback buffers may take a
      // few MiB, so a drainer may also resume normally first; then writing on finds the error.
      writer.write(Buffer.alloc(8 * MiB, 'e'));
      const paused = Array.from({ length: 10 }, () => writer.drain());
      reset.set();
      const outcomes = await gather(...paused, { returnExceptions: true });
      for (const outcome of outcomes) {
        if (outcome !== undefined) expect((outcome as { code?: string }).code).toMatch(/^(ECONNRESET|EPIPE)$/);
      }
      let failure: unknown;
      for (let i = 0; i < 1000 && failure === undefined; i++) {
        writer.write(Buffer.alloc(64 * 1024, 'f'));
        failure = await writer.drain().then(
          () => undefined,
          (e: unknown) => e,
        );
      }
      expect((failure as { code?: string }).code).toMatch(/^(ECONNRESET|EPIPE)$/);
      const before = loop.iterationCount;
      for (let i = 0; i < 5; i++) {
        const again = await writer.drain().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect((again as { code?: string }).code).toMatch(/^(ECONNRESET|EPIPE)$/);
      }
      await sleep(0.05);
      expect(loop.iterationCount - before).toBeLessThan(100); // no busy loop on a dead connection
      expect(serverWriter).toBeDefined();
      await closeWriter(writer);
      await closeServer(server);
    });
  });

  it('E11: a peer sending 64 MiB to an app that does not read is paused at ~2 x limit, then resumes', async () => {
    const limit = 64 * 1024;
    const total = 64 * MiB;
    await loop.runUntilComplete(async () => {
      const appReads = new Event();
      let serverReader: StreamReader | undefined;
      let serverWriter: StreamWriter | undefined;
      let received = 0;
      const server = await startServer(
        async (reader, writer) => {
          serverReader = reader;
          serverWriter = writer;
          await appReads.wait();
          for (let chunk: Buffer; (chunk = await reader.read(limit)).length > 0; ) received += chunk.length;
          await closeWriter(writer);
        },
        '127.0.0.1',
        0,
        { limit },
      );
      const [, writer] = await openConnection('127.0.0.1', portOf(server));
      let sent = 0;
      const block = Buffer.alloc(256 * 1024, 's');
      const sending = (async () => {
        while (sent < total) {
          writer.write(block);
          sent += block.length;
          await writer.drain();
        }
        writer.writeEof();
      })();
      const rssBefore = process.memoryUsage().rss;
      // Wait until the sender is stalled by flow control (bounded: 10 s at most).
      for (let last = -1, i = 0; i < 200 && sent !== last; i++) {
        last = sent;
        await sleep(0.05);
      }
      expect(sent).toBeLessThan(total); // flow control stopped the sender
      expect(serverWriter!.transport.isReading()).toBe(false); // the server transport paused reading
      expect(serverReader!.bufferSize).toBeGreaterThan(2 * limit);
      expect(serverReader!.bufferSize).toBeLessThanOrEqual(2 * limit + 256 * 1024); // + one socket read
      expect(process.memoryUsage().rss - rssBefore).toBeLessThan(32 * MiB);
      appReads.set();
      await sending;
      for (let i = 0; i < 200 && received < total; i++) await sleep(0.05);
      expect(received).toBe(total);
      await closeWriter(writer);
      await closeServer(server);
    });
  }, 60_000);

  it('F9: 64 MiB written to a slow reader with await drain() keeps the write buffer bounded', async () => {
    const total = 64 * MiB;
    await loop.runUntilComplete(async () => {
      let received = 0;
      const server = await startServer(async (reader, writer) => {
        for (let n = 0, chunk: Buffer; (chunk = await reader.read(65536)).length > 0; n++) {
          received += chunk.length;
          if (n % 32 === 0) await sleep(0.001); // a slow consumer
        }
        await closeWriter(writer);
      }, '127.0.0.1', 0);
      const [reader, writer] = await openConnection('127.0.0.1', portOf(server));
      const rssBefore = process.memoryUsage().rss;
      let maxBuffered = 0;
      let maxRss = 0;
      for (let sent = 0, i = 0; sent < total; i++) {
        writer.write(Buffer.alloc(64 * 1024, i & 0xff)); // a fresh buffer each time, as an app would
        sent += 64 * 1024;
        maxBuffered = Math.max(maxBuffered, writer.transport.getWriteBufferSize());
        await writer.drain();
        if (i % 64 === 0) maxRss = Math.max(maxRss, process.memoryUsage().rss);
      }
      writer.writeEof();
      expect((await reader.read()).length).toBe(0); // the server closes after reading everything
      expect(received).toBe(total);
      expect(maxBuffered).toBeLessThanOrEqual(65536 + 64 * 1024); // high-water mark + one write
      expect(maxRss - rssBefore).toBeLessThan(64 * MiB); // never the whole 64 MiB on our side
      await closeWriter(writer);
      await closeServer(server);
    });
  }, 60_000);

  it('E12: 300 slowloris clients stay bounded, a fresh client is served, timeout() closes them', async () => {
    const SLOW = 300;
    const limit = 1024;
    await loop.runUntilComplete(async () => {
      const readers: StreamReader[] = [];
      let timedOut = 0;
      const server = await startServer(
        async (reader, writer) => {
          readers.push(reader);
          try {
            const line = await timeout(1.0, () => reader.readline()); // idle deadline per request
            writer.write(line);
            await writer.drain();
          } catch (error) {
            if (!(error instanceof TimeoutError)) throw error;
            timedOut++;
          }
          await closeWriter(writer);
        },
        '127.0.0.1',
        0,
        { limit, backlog: 512 },
      );
      const port = portOf(server);
      const slow = (await gather(...Array.from({ length: SLOW }, () => () => openConnection('127.0.0.1', port)))) as Array<
        [StreamReader, StreamWriter]
      >;
      // A few rounds of one byte per client, no newline.
      for (let round = 0; round < 3; round++) {
        for (const [, writer] of slow) writer.write('x');
        await sleep(0.05);
      }
      // A fresh client is still served while all of them hang on.
      const [freshReader, freshWriter] = await openConnection('127.0.0.1', port);
      freshWriter.write('hello\n');
      expect((await freshReader.readline()).toString()).toBe('hello\n');
      await closeWriter(freshWriter);
      for (const reader of readers) expect(reader.bufferSize).toBeLessThanOrEqual(3);
      // The deadline closes every slow connection: each client reads EOF.
      const ends = await gather(...slow.map(([reader]) => () => reader.read()));
      expect(ends.every((end) => (end as Buffer).length === 0)).toBe(true);
      expect(timedOut).toBe(SLOW);
      await gather(...slow.map(([, writer]) => () => closeWriter(writer)));
      await closeServer(server);
    });
  }, 60_000);
});

// -------------------------------------------------------------------------------------------------
// Owning and hosted mode in a child process

const FIXTURES = path.join(__dirname, 'fixtures');

function runChild(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(FIXTURES, 'streams-echo.cjs'), ...args], { timeout: 20_000, cwd: FIXTURES }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stdout, stderr });
    });
  });
}

describe.each(KINDS)('%s backend, child process', (kind) => {
  it.each(['owning', 'hosted'])('streams echo of 2000 lines in %s mode', async (mode) => {
    const result = await runChild([mode, kind]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout.trim())).toEqual({ mode, lines: 2000, ok: true });
  });
});

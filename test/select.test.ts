// select.select(): ready lists of the very objects passed in; FD_SETSIZE checked before any FD_SET;
// timeouts in seconds that never end early.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { FD_SETSIZE, select } from '../lib/selectors/select';
import { MSG_OOB, Socket, createConnection, createServer, socketpair } from '../lib/socket';
import { FdScope, openFdCount, poke } from './helpers';

let baseline = 0;
const fds = new FdScope();
const sockets: Socket[] = [];
beforeEach(() => {
  baseline = openFdCount();
});
afterEach(() => {
  fds.closeAll();
  while (sockets.length) sockets.pop()!.close();
  expect(openFdCount()).toBe(baseline);
});

function pair(): [Socket, Socket] {
  const p = socketpair();
  sockets.push(...p);
  return p;
}

it('returns the objects passed in, in order, for fds and fileno() objects alike', () => {
  const [a, b] = pair();
  const [r, w] = fds.pipe();
  expect(select([a, r], [], [], 0)).toEqual([[], [], []]);
  b.send(Buffer.from('x'));
  poke(w);
  const [readable, writable, exceptional] = select([r, a, b], [a, w], [a], 0);
  expect(readable).toHaveLength(2);
  expect(readable[0]).toBe(r);
  expect(readable[1]).toBe(a);
  expect(writable[0]).toBe(a);
  expect(writable[1]).toBe(w);
  expect(exceptional).toEqual([]);
  // Iterables work too, and duplicates are reported as given.
  const [again] = select(new Set([a]), [], [], 0);
  expect(again[0]).toBe(a);
  expect(select([a, a], [], [], 0)[0]).toEqual([a, a]);
});

it('reports TCP urgent data in xlist', () => {
  const server = createServer(['127.0.0.1', 0]);
  sockets.push(server);
  const client = createConnection(server.getsockname() as [string, number], 5);
  sockets.push(client);
  const [conn] = server.accept();
  sockets.push(conn);
  client.send(Buffer.from('!'), MSG_OOB);
  const [, , exceptional] = select([], [], [conn], 5);
  expect(exceptional).toEqual([conn]);
});

it('a timeout never ends early, and 0 polls', () => {
  const [a] = pair();
  const start = performance.now();
  expect(select([a], [], [], 0.15)).toEqual([[], [], []]);
  expect(performance.now() - start).toBeGreaterThanOrEqual(149);
});

it('refuses fds >= FD_SETSIZE before touching an fd_set, and bad arguments', () => {
  expect(FD_SETSIZE).toBe(1024);
  for (const fd of [FD_SETSIZE, FD_SETSIZE + 1, 1500, 4000, 2 ** 31 - 1]) {
    expect(() => select([fd], [], [], 0)).toThrow(RangeError);
    expect(() => select([], [fd], [], 0)).toThrow(RangeError);
    expect(() => select([], [], [{ fileno: () => fd }], 0)).toThrow(RangeError);
  }
  expect(() => select([-1], [], [], 0)).toThrow(RangeError);
  expect(() => select([2 ** 32 + 1], [], [], 0)).toThrow(RangeError);
  expect(() => select(['3' as unknown as number], [], [], 0)).toThrow(TypeError);
  expect(() => select([], [], [], NaN)).toThrow(RangeError);
  expect(() => select([], [], [], -1)).toThrow(RangeError);
  const closed = new Socket();
  closed.close();
  expect(() => select([closed], [], [], 0)).toThrow(RangeError);
});

it('an fd that is not open is EBADF, as in Python', () => {
  // A number inside the fd table that was just freed (Linux ignores bits beyond the table's size).
  const [r, w] = fds.pipe();
  fds.close(r);
  fds.close(w);
  const unused = r;
  expect(() => select([unused], [], [], 0)).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'select' }));
});

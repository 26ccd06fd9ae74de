// reliability.md D3-D5 through Tasks, in both coroutine styles: cancelling a task that awaits a
// socket coroutine removes its reader or writer at once, loses no bytes and leaks no fd.
import { beforeEach, describe, expect, it } from 'vitest';
import { CancelledError, type Future } from '../lib/tasks/futures';
import { sleep } from '../lib/tasks/helpers';
import { EventLoop } from '../lib/loops';
import { availableSelectors, type SelectorKind } from '../lib/selectors';
import { AF_INET, SOCK_STREAM, Socket, socketpair } from '../lib/socket';
import type { Task } from '../lib/tasks/tasks';
import { useRealLoop } from './helpers';

describe.each(availableSelectors())('%s backend: cancelling tasks that await socket coroutines', (kind: SelectorKind) => {
  const fixture = useRealLoop(kind);
  const track = <T extends Socket>(sock: T): T => {
    sock.setblocking(false);
    return fixture.track(sock);
  };
  let loop: EventLoop;
  beforeEach(() => {
    loop = fixture.loop;
  });

  // The same receiver written in both coroutine styles.
  const receivers = {
    async: (sock: Socket) => async () => (await loop.sockRecv(sock, 100)).toString(),
    generator: (sock: Socket) =>
      function* (): Generator<Future<Buffer>, string, Buffer> {
        return (yield loop.sockRecv(sock, 100)).toString();
      },
  };

  it.each(Object.keys(receivers) as Array<keyof typeof receivers>)(
    'D3 (%s): the reader goes at once and the next sockRecv gets the bytes',
    async (style) => {
      const [a, b] = socketpair().map(track);
      const result = await loop.runUntilComplete(async () => {
        const body = receivers[style](a);
        const task: Task<string> = loop.createTask(style === 'async' ? body : (body as () => Generator)()) as Task<string>;
        await sleep(0.01); // the task is now waiting in sockRecv
        task.cancel('stop');
        await sleep(0);
        let outcome: unknown;
        try {
          await task;
        } catch (error) {
          outcome = error;
        }
        expect(outcome).toBeInstanceOf(CancelledError);
        expect(task.cancelled()).toBe(true);
        // Nobody watches `a` any more: bytes sent now wait in the kernel for the next receive.
        expect(loop.removeReader(a)).toBe(false);
        b.sendall(Buffer.from('kept'));
        await sleep(0.01);
        return (await loop.sockRecv(a, 100)).toString();
      });
      expect(result).toBe('kept');
    },
  );

  async function outcomeOf(task: Task<unknown>): Promise<unknown> {
    try {
      return await task;
    } catch (error) {
      return error;
    }
  }

  it('D4: cancelling a task in sockConnect leaves nothing registered and closes nothing', async () => {
    const server = track(new Socket(AF_INET, SOCK_STREAM));
    server.bind(['127.0.0.1', 0]);
    server.listen(1);
    const port = (server.getsockname() as [string, number])[1];
    const client = track(new Socket(AF_INET, SOCK_STREAM));
    await loop.runUntilComplete(async () => {
      // 'localhost' goes through getaddrinfo first, so the connect is still pending when cancelled.
      const task = loop.createTask(async () => {
        await loop.sockConnect(client, ['localhost', port]);
      });
      await sleep(0);
      task.cancel();
      expect(await outcomeOf(task)).toBeInstanceOf(CancelledError);
      expect(task.cancelled()).toBe(true);
      expect(loop.removeWriter(client)).toBe(false);
      expect(client.fileno()).toBeGreaterThanOrEqual(0); // still the caller's to close
      expect(() => client.getpeername()).toThrow(expect.objectContaining({ code: 'ENOTCONN' }));
    });
  });

  it('D5: cancelling a task in sockAccept unregisters the listener and leaks no fd', async () => {
    const server = track(new Socket(AF_INET, SOCK_STREAM));
    server.bind(['127.0.0.1', 0]);
    server.listen(1);
    await loop.runUntilComplete(async () => {
      const task = loop.createTask(function* (): Generator<Future<[Socket, unknown]>, [Socket, unknown], [Socket, unknown]> {
        return yield loop.sockAccept(server);
      });
      await sleep(0.01);
      task.cancel();
      expect(await outcomeOf(task)).toBeInstanceOf(CancelledError);
      expect(task.cancelled()).toBe(true);
      expect(loop.removeReader(server)).toBe(false);
    });
  });
});

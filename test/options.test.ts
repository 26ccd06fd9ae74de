// Every public option bag refuses a key it does not know (lib/core/options.ts): a misspelt option
// is an error (TypeError ERR_INVALID_ARG_VALUE naming it and the known keys), never a silent
// default. One row per function; nothing is left behind (fds, children).
import { describe, expect, it } from 'vitest';
import {
  ProcessPoolExecutor,
  StreamReader,
  ThreadPoolExecutor,
  Timeout,
  asCompleted,
  createServer,
  createSubprocessExec,
  createThreadsafeScheduler,
  gather,
  newEventLoop,
  openConnection,
  run,
  runSync,
  sleep,
  startServer,
  timeout,
  wait,
} from '../lib';
import { optionKeys } from '../lib/core/options';
import { openFdCount } from './helpers';

const refused = (key: string) =>
  expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining(`"${key}" is not known (known: `) });

async function rejection(make: () => PromiseLike<unknown>): Promise<unknown> {
  try {
    await make();
  } catch (error) {
    return error;
  }
  return 'resolved';
}

describe('option bags: an unknown key is refused', () => {
  it('optionKeys lists the known keys (the compiler holds it to the type)', () => {
    expect([...optionKeys<{ a?: number; b?: string }>()(['a', 'b'])]).toEqual(['a', 'b']);
  });

  it('synchronous refusals: loop, socket server, tasks, timeouts, executors, scheduler, runners', () => {
    const before = openFdCount();
    const loop = newEventLoop();
    try {
      const sync: Array<[string, () => unknown]> = [
        ['options.bogus', () => newEventLoop({ bogus: 1 } as never)],
        ['options.bogus', () => createServer(['127.0.0.1', 0], { bogus: 1 } as never)],
        ['options.nmae', () => loop.createTask(async () => undefined, { nmae: 'x' } as never)],
        ['options.bogus', () => new Timeout(null, { bogus: 1 } as never)],
        ['options.signl', () => new ThreadPoolExecutor({ signl: 1 } as never)],
        ['options.maxworkers', () => new ProcessPoolExecutor({ maxworkers: 2 } as never)],
        ['options.mechanizm', () => createThreadsafeScheduler(loop, { mechanizm: 'fd' } as never)],
        ['options.debgu', () => runSync(async () => 1, { debgu: true } as never)],
      ];
      for (const [key, call] of sync) expect(call, key).toThrow(refused(key));
    } finally {
      loop.close();
    }
    expect(openFdCount()).toBe(before);
  });

  it('refusals through Futures and promises: connections, servers, datagrams, TLS, subprocesses, resolver, helpers, streams', async () => {
    const before = openFdCount();
    const loop = newEventLoop();
    const path = `\0muxloop-options-${process.pid}`;
    const pool = new ThreadPoolExecutor({ filename: __filename, maxWorkers: 1 });
    const results = await loop.runUntilComplete(async () => {
      const factory = () => ({}) as never;
      const calls: Array<[string, () => PromiseLike<unknown>]> = [
        ['options.backlgo', () => loop.createServer(factory, '127.0.0.1', 0, { backlgo: 10 } as never)],
        ['options.reuseAdress', () => loop.createServer(factory, '127.0.0.1', 0, { reuseAdress: true } as never)],
        ['options.localaddr', () => loop.createConnection(factory, '127.0.0.1', 1, { localaddr: ['127.0.0.1', 0] } as never)],
        ['options.bogus', () => loop.createUnixServer(factory, path, { bogus: 1 } as never)],
        ['options.bogus', () => loop.createUnixConnection(factory, path, { bogus: 1 } as never)],
        ['options.remoteaddr', () => loop.createDatagramEndpoint(factory, { remoteaddr: ['127.0.0.1', 1] } as never)],
        ['ssl.secureOptions', () => loop.createConnection(factory, '127.0.0.1', 1, { ssl: { secureOptions: 0 } } as never)],
        ['options.servername', () => loop.startTls({} as never, {} as never, true, { servername: 'x' } as never)],
        ['options.cwdd', () => loop.subprocessExec(factory, 'true', [], { cwdd: '/' } as never)],
        ['options.famliy', () => loop.getaddrinfo('127.0.0.1', 80, { famliy: 2 } as never)],
        ['options.signl', () => sleep(0, undefined, { signl: 1 } as never)],
        ['options.returnException', () => gather(sleep(0), { returnException: true } as never)],
        ['options.timout', () => wait([sleep(0)], { timout: 1 } as never)],
        ['options.bogus', () => timeout(1, async () => undefined, { bogus: 1 } as never)],
        ['options.limt', () => openConnection('127.0.0.1', 1, { limt: 10 } as never)],
        ['options.backlgo', () => startServer(() => undefined, '127.0.0.1', 0, { backlgo: 10 } as never)],
        ['options.maxbytes', () => new StreamReader().read(1, { maxbytes: 1 } as never)],
        ['options.stdot', () => createSubprocessExec('true', [], { stdot: 1 } as never)],
        ['options.cancelfutures', () => pool.shutdown(true, { cancelfutures: true } as never)],
      ];
      const out: Array<[string, unknown]> = [];
      for (const [key, call] of calls) out.push([key, await rejection(call)]);
      // asCompleted refuses at the call (it returns an iterator, not a Future).
      let sync: unknown;
      try {
        asCompleted([sleep(0)], { timout: 1 } as never);
      } catch (error) {
        sync = error;
      }
      out.push(['options.timout', sync]);
      return out;
    });
    await pool.shutdown(); // the refused shutdown left it running
    for (const [key, error] of results) expect(error, key).toEqual(refused(key));
    expect(await rejection(() => run(async () => 1, { loopfactory: newEventLoop } as never))).toEqual(refused('options.loopfactory'));
    loop.close();
    expect(openFdCount()).toBe(before);
  });
});

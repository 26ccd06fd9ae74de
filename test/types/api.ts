// Type checks of the public API, compiled by tsc in `npm test` (pretest) under strict mode with
// node16 and with bundler resolution, importing the package by its own name (self-reference
// through "exports", so the published .d.ts files are what is checked). Nothing here runs.
// Each `// @ts-expect-error` line must NOT compile: tsc fails if it does.
import {
  type AddressOf,
  type DefaultSelector as DefaultSelectorType,
  type EventLoop,
  DefaultSelector,
  EVENT_READ,
  type Future,
  type IPv4Address,
  type IPv6Address,
  type SelectorKey,
  type SocketAddress,
  type Task,
  createTask,
  gather,
  getEventLoop,
  newEventLoop,
  sleep,
  asCompleted,
  wait,
  Socket,
  AF_INET,
  SOCK_STREAM,
} from 'muxloop';
import { DefaultSelector as FromSubpath } from 'muxloop/selectors';
import { createServer } from 'muxloop/socket';
import { select } from 'muxloop/select';

/** Compiles only when A and B are the same type. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T extends true>(_check?: T): void {}

async function tasks(): Promise<void> {
  const loop = newEventLoop();
  // gather(a, b) is a tuple, as Promise.all.
  const both = gather(sleep(0.1, 1), createTask(async () => 'x'));
  expectType<Equal<typeof both, Future<[number, string]>>>();
  const [n, s] = await both;
  expectType<Equal<typeof n, number>>();
  expectType<Equal<typeof s, string>>();
  const withErrors = gather(sleep(0.1, 1), sleep(0.1, 'x'), { returnExceptions: true });
  expectType<Equal<typeof withErrors, Future<[number | Error, string | Error]>>>();
  const listed = gather([sleep(0, 1), sleep(0, 2)]);
  expectType<Equal<typeof listed, Future<number[]>>>();

  // createTask infers the result and checks args against the function's parameters.
  const t = loop.createTask(async (a: number, b: string) => a + b.length, { args: [1, 'two'] });
  expectType<Equal<typeof t, Task<number>>>();
  const g = loop.createTask(function* () {
    yield sleep(0);
    return true as const;
  });
  expectType<Equal<typeof g, Task<true>>>();
  // @ts-expect-error args of the wrong types
  loop.createTask(async (a: number) => a, { args: ['one'] });

  // wait and asCompleted take tasks of mixed result types.
  const numberTask = loop.createTask(async () => 1);
  const stringTask = loop.createTask(async () => 'a');
  const [done] = await wait([numberTask, stringTask]);
  expectType<Equal<typeof done, Set<Task<number> | Task<string>>>>();
  for (const next of asCompleted([numberTask, stringTask])) {
    const value = await next;
    expectType<Equal<typeof value, number | string>>();
  }
  // @ts-expect-error wait takes an iterable, not a single Future
  void wait(numberTask);
  void getEventLoop();
}

function sockets(): void {
  const server = createServer(['127.0.0.1', 0]);
  const port: number = server.getsockname<'inet'>()[1];
  void port;
  const any: SocketAddress = server.getsockname();
  void any;
  // @ts-expect-error without the kind the address may be a Unix path, not a tuple
  const notNumber: number = server.getsockname()[1];
  void notNumber;
  const v4: IPv4Address = ['127.0.0.1', 80];
  const v6: IPv6Address = ['::1', 80, 0, 0];
  expectType<Equal<AddressOf<'inet6'>, IPv6Address>>();
  const [conn, from] = server.accept<'inet'>();
  expectType<Equal<typeof conn, Socket>>();
  expectType<Equal<typeof from, IPv4Address>>();
  void new Socket(AF_INET, SOCK_STREAM);
  void v4;
  void v6;
  void select;
}

function selectors(): void {
  type Handler = (mask: number) => void;
  // DefaultSelector is a class value and a type; the key carries the data type through register.
  const sel: DefaultSelectorType<Handler> = new DefaultSelector<Handler>();
  const key: SelectorKey<Handler> = sel.register(0, EVENT_READ, (mask) => void mask);
  key.data(EVENT_READ);
  for (const [ready, mask] of sel.select(0)) ready.data(mask);
  // @ts-expect-error the data must be a Handler
  sel.register(1, EVENT_READ, 'not a function');
  const same: typeof FromSubpath = DefaultSelector;
  void same;
}

function signals(loop: EventLoop): void {
  // The handler's arguments are checked against the callback's parameters.
  loop.addSignalHandler('SIGTERM', (why: string, code: number) => void [why, code], 'stop', 15);
  // @ts-expect-error the second argument must be a number
  loop.addSignalHandler('SIGTERM', (why: string, code: number) => void [why, code], 'stop', 'x');
  const removed: boolean = loop.removeSignalHandler(15);
  void removed;
}

void tasks;
void signals;
void sockets;
void selectors;

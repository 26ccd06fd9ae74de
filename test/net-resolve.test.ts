// Name resolution on the loop (getaddrinfo/getnameinfo with Python's shapes, over Node's
// dns.lookup in libuv's thread pool) and sockConnect with a host name. Loopback names only:
// 'localhost' and numeric addresses, nothing that would leave the machine.
import dns from 'node:dns';
import { beforeEach, describe, expect, it } from 'vitest';
import { EventLoop } from '../lib/loops';
import {
  AF_UNSPEC,
  AI_NUMERICHOST,
  AI_PASSIVE,
  NI_NUMERICHOST,
  NI_NUMERICSERV,
  NI_NAMEREQD,
} from '../lib/loop/resolver';
import { availableSelectors } from '../lib/selectors';
import { AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP, SOCK_DGRAM, SOCK_STREAM, Socket } from '../lib/socket';
import { useRealLoop } from './helpers';

describe.each(availableSelectors())('%s backend, hosted: getaddrinfo, getnameinfo', (kind) => {
  const fixture = useRealLoop(kind);
  let loop: EventLoop;
  beforeEach(() => {
    loop = fixture.loop;
  });

  it("getaddrinfo('localhost') gives Python's 5-tuples", async () => {
    const infos = await loop.runUntilComplete(loop.getaddrinfo('localhost', 8080, { family: AF_INET, type: SOCK_STREAM }));
    expect(infos).toContainEqual([AF_INET, SOCK_STREAM, IPPROTO_TCP, '', ['127.0.0.1', 8080]]);
    for (const info of infos) expect(info[0]).toBe(AF_INET);
  });

  it('type 0 expands every address to a stream and a datagram entry; IPv6 sockaddrs have 4 fields', async () => {
    const v4 = await loop.runUntilComplete(loop.getaddrinfo('127.0.0.1', '53'));
    expect(v4).toEqual([
      [AF_INET, SOCK_STREAM, IPPROTO_TCP, '', ['127.0.0.1', 53]],
      [AF_INET, SOCK_DGRAM, IPPROTO_UDP, '', ['127.0.0.1', 53]],
    ]);
    const v6 = await loop.runUntilComplete(loop.getaddrinfo('::1', 7, { type: SOCK_DGRAM }));
    expect(v6).toEqual([[AF_INET6, SOCK_DGRAM, IPPROTO_UDP, '', ['::1', 7, 0, 0]]]);
  });

  it('a null host is the wildcard with AI_PASSIVE and loopback without', async () => {
    const passive = await loop.runUntilComplete(loop.getaddrinfo(null, 0, { family: AF_UNSPEC, type: SOCK_STREAM, flags: AI_PASSIVE }));
    expect(passive.map((info) => info[4])).toEqual([['0.0.0.0', 0], ['::', 0, 0, 0]]);
    const active = await loop.runUntilComplete(loop.getaddrinfo(null, 1, { family: AF_INET, type: SOCK_STREAM }));
    expect(active.map((info) => info[4])).toEqual([['127.0.0.1', 1]]);
  });

  it('bad arguments and AI_NUMERICHOST with a name fail the Future', async () => {
    const numeric = await loop.runUntilComplete(loop.getaddrinfo('localhost', 1, { flags: AI_NUMERICHOST })).catch((e: unknown) => e);
    expect(numeric).toMatchObject({ code: 'ENOTFOUND' });
    expect(loop.getaddrinfo('localhost', 'http').exception()).toBeInstanceOf(TypeError);
    expect(loop.getaddrinfo('localhost', 70000).exception()).toBeInstanceOf(RangeError);
    expect(loop.getaddrinfo('localhost', 1, { family: 99 }).exception()).toBeInstanceOf(RangeError);
  });

  it('getnameinfo: numeric flags answer at once; otherwise a lookup off the thread', async () => {
    const numeric = loop.getnameinfo(['127.0.0.1', 80], NI_NUMERICHOST | NI_NUMERICSERV);
    expect(numeric.result()).toEqual(['127.0.0.1', '80']);
    const [host, service] = await loop.runUntilComplete(loop.getnameinfo(['127.0.0.1', 22], NI_NUMERICSERV));
    expect(typeof host).toBe('string');
    expect(host.length).toBeGreaterThan(0);
    expect(service).toBe('22');
    // Whether or not the address has a name here, NI_NAMEREQD never returns the number.
    const required = await loop.runUntilComplete(loop.getnameinfo(['127.0.0.1', 1], NI_NAMEREQD)).catch((e: unknown) => e);
    if (Array.isArray(required)) expect(required[0]).not.toBe('127.0.0.1');
    else expect(required).toMatchObject({ code: 'ENOTFOUND' });
  });

  it('sockConnect resolves a host name first', async () => {
    const server = new Socket(AF_INET, SOCK_STREAM);
    fixture.track(server);
    server.setblocking(false);
    server.bind(['127.0.0.1', 0]);
    server.listen(4);
    const port = (server.getsockname() as [string, number])[1];
    const client = new Socket(AF_INET, SOCK_STREAM);
    fixture.track(client);
    client.setblocking(false);
    await loop.runUntilComplete(
      (async () => {
        const accepting = loop.sockAccept(server);
        await loop.sockConnect(client, ['localhost', port]);
        const [conn] = await accepting;
        fixture.track(conn);
        expect(client.getpeername()).toEqual(['127.0.0.1', port]);
      })(),
    );
  });

  it('cancelling sockConnect while it resolves registers nothing and reports nothing', async () => {
    const client = new Socket(AF_INET, SOCK_STREAM);
    fixture.track(client);
    client.setblocking(false);
    const connecting = loop.sockConnect(client, ['localhost', 9]);
    expect(connecting.cancel()).toBe(true);
    // Another lookup through the same thread pool: by the time it is answered, so was ours.
    await loop.runUntilComplete(loop.getaddrinfo('localhost', 9));
    expect(loop.removeWriter(client)).toBe(false);
    expect(client.closed).toBe(false);
    expect(() => client.getpeername()).toThrow(/ENOTCONN/);
  });

  it('an answer arriving after the loop closed is ignored, without an error', async () => {
    const pending = loop.getaddrinfo('localhost', 1);
    loop.close();
    await dns.promises.lookup('localhost');
    await new Promise((resolve) => setImmediate(resolve));
    expect(pending.done()).toBe(false);
  });
});

// reliability.md group B: bad input and faults for the native socket layer, against the real
// kernel. B6/B7 (SIGPIPE at SIG_DFL) need a C harness, since Node ignores SIGPIPE; here we check
// that the errors arrive as EPIPE/ECONNRESET and the process lives.
import { spawnSync } from 'node:child_process';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { binding } from '../lib/core/native';
import { EpollSelector, EVENT_READ, PollSelector, SelectSelector, type BaseSelector } from '../lib/selectors';
import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  SOCK_DGRAM,
  SOCK_STREAM,
  SOL_SOCKET,
  SO_ERROR,
  SO_LINGER,
  SO_SNDBUF,
  SO_RCVBUF,
  Socket,
  close,
  createConnection,
  createServer,
  getBlocking,
  pipe,
  socketpair,
  write,
} from '../lib/socket';
import { select } from '../lib/selectors/select';
import { openFdCount, useFdLeakCheck } from './helpers';

const DIST = join(__dirname, '..', 'dist');
const E = osConstants.errno;
/** Closes these at the end of the test, even when it fails; the fd count is checked after. */
const track = useFdLeakCheck();
function tcpPair(): [Socket, Socket] {
  const [server] = track(createServer(['127.0.0.1', 0]));
  const [client] = track(createConnection(server.getsockname() as [string, number], 5));
  const [conn] = server.accept();
  track(conn);
  return [client, conn];
}
/** Runs a script with node (built dist/ available as DIST) and returns its parsed JSON output. */
function runNode(script: string, nodeArgs: string[] = [], shellPrefix = ''): { status: number | null; out: string; err: string } {
  const args = [...nodeArgs, '-e', script];
  const r = shellPrefix
    ? spawnSync('sh', ['-c', `${shellPrefix} exec "$0" "$@"`, process.execPath, ...args], {
        encoding: 'utf8',
        env: { ...process.env, DIST },
        timeout: 60_000,
      })
    : spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, DIST }, timeout: 60_000 });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

describe('B1-B4: buffers, offsets and sentinels', () => {
  it('B1: offsets and lengths outside the buffer are RangeErrors, with no overflow', () => {
    const [a, b] = socketpair();
    track(a, b);
    b.send(Buffer.from('data'));
    const buf = Buffer.alloc(16);
    const fd = a.fileno();
    const bad: Array<[unknown, unknown]> = [
      [0, 17],
      [16, 1],
      [17, undefined],
      [-1, 1],
      [0, -1],
      [NaN, 1],
      [0, NaN],
      [2 ** 53, 1],
      [0, 2 ** 53],
      [2 ** 32 - 1, 2],
      [2 ** 32, 0],
      [1, 2 ** 64],
      [1.5, 1],
      [Infinity, 1],
    ];
    for (const [off, len] of bad) {
      expect(() => binding.recv(fd, buf, off as number, len as number, 0, 0)).toThrow(RangeError);
      expect(() => binding.send(fd, buf, off as number, len as number, 0, 0)).toThrow(RangeError);
      expect(() => a.recvIntoRaw(buf, off as number, len as number)).toThrow(RangeError);
      expect(() => binding.read(fd, buf, off as number, len as number)).toThrow(RangeError);
    }
    expect(() => binding.recv(fd, buf, 0, 17, 0, 0)).toThrow(/out of bounds \(byteLength=16/);
    // The data is still there: nothing was consumed by the refused calls.
    expect(a.recv(16).toString()).toBe('data');
    // Typed arrays of wider elements are measured in bytes.
    const wide = new Float64Array(2);
    b.send(Buffer.from('0123456789abcdef!'));
    expect(binding.recv(fd, wide, 8, 8, 0, 0)).toBe(8);
    expect(() => binding.recv(fd, wide, 8, 9, 0, 0)).toThrow(RangeError);
  });

  it('B2: a detached buffer is a TypeError; valueOf is never called', () => {
    const [a, b] = socketpair();
    track(a, b);
    const ab = new ArrayBuffer(16);
    const view = new Uint8Array(ab);
    structuredClone(ab, { transfer: [ab] });
    expect(ab.byteLength).toBe(0);
    expect(() => a.recvIntoRaw(view)).toThrow(TypeError);
    expect(() => a.send(view)).toThrow(TypeError);
    expect(() => b.sendmsg([Buffer.from('x'), view])).toThrow(TypeError);
    let called = 0;
    const victim = new ArrayBuffer(16);
    const evil = {
      valueOf() {
        called++;
        structuredClone(victim, { transfer: [victim] });
        return 0;
      },
    };
    expect(() => binding.recv(a.fileno(), new Uint8Array(victim), evil as unknown as number, 4, 0, 0)).toThrow(TypeError);
    expect(() => binding.send(a.fileno(), new Uint8Array(victim), 0, evil as unknown as number, 0, 0)).toThrow(TypeError);
    expect(called).toBe(0);
    // A getter on the sendmsg array that detaches an earlier buffer: all elements are fetched first.
    const early = new ArrayBuffer(8);
    const list: ArrayBufferView[] = [new Uint8Array(early)];
    Object.defineProperty(list, 1, {
      get() {
        structuredClone(early, { transfer: [early] });
        return Buffer.from('x');
      },
      enumerable: true,
    });
    expect(() => b.sendmsg(list)).toThrow(/detached/);
  });

  it('B3: receiving into 0 bytes is a RangeError, never an EOF', () => {
    const [a, b] = socketpair();
    track(a, b);
    expect(() => a.recv(0)).toThrow(RangeError);
    expect(() => a.recvIntoRaw(Buffer.alloc(4), 0, 0)).toThrow(RangeError);
    expect(() => binding.read(a.fileno(), Buffer.alloc(0))).toThrow(RangeError);
  });

  it('B4: non-blocking recv with no data gives the sentinel -1, EOF gives 0, errors throw', () => {
    const [a, b] = socketpair();
    track(a);
    const buf = Buffer.alloc(8);
    expect(a.recvIntoRaw(buf)).toBe(-1);
    a.setblocking(false);
    expect(() => a.recv(8)).toThrow(expect.objectContaining({ code: 'EAGAIN' }));
    b.close();
    expect(a.recvIntoRaw(buf)).toBe(0);
    expect(a.recv(8).length).toBe(0);
    const [r, w] = pipe();
    track(() => close(r), () => close(w));
    binding.setNonBlocking(r, true);
    expect(binding.read(r, buf)).toBe(-1);
  });
});

describe('B5, B6, B8, B9: faults from the peer and the kernel', () => {
  it('B5: recv after the peer sent RST is ECONNRESET, errno ECONNRESET (104 on Linux), syscall recv', () => {
    const [client, conn] = tcpPair();
    client.setsockopt(SOL_SOCKET, SO_LINGER, [1, 0]);
    client.close();
    conn.settimeout(5);
    let error: unknown;
    try {
      conn.recv(10);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'ECONNRESET', errno: E.ECONNRESET, syscall: 'recv' });
  });

  it('B6: sending to a peer that has gone gives EPIPE/ECONNRESET and the process lives', () => {
    const [a, b] = socketpair();
    track(a);
    b.close();
    expect(() => a.send(Buffer.from('x'))).toThrow(expect.objectContaining({ code: 'EPIPE', syscall: 'send' }));
    const [client, conn] = tcpPair();
    conn.setsockopt(SOL_SOCKET, SO_LINGER, [1, 0]);
    conn.close();
    // The RST may take a send to arrive; then EPIPE or ECONNRESET.
    let error: { code?: string } | undefined;
    client.settimeout(5);
    for (let i = 0; i < 100 && !error; i++) {
      try {
        client.send(Buffer.alloc(1024));
      } catch (e) {
        error = e as { code?: string };
      }
    }
    expect(['EPIPE', 'ECONNRESET']).toContain(error?.code);
    // Plain pipes: write() has no MSG_NOSIGNAL; Node ignores SIGPIPE, so EPIPE arrives.
    const [r, w] = pipe();
    close(r);
    expect(() => write(w, Buffer.from('x'))).toThrow(expect.objectContaining({ code: 'EPIPE' }));
    close(w);
  });

  it('B8: a full send buffer gives partial counts then the sentinel; sendmsg splits above IOV_MAX', () => {
    const [a, b] = socketpair();
    track(a, b);
    a.setsockopt(SOL_SOCKET, SO_SNDBUF, 4096);
    b.setsockopt(SOL_SOCKET, SO_RCVBUF, 4096);
    const big = Buffer.alloc(1024 * 1024, 7);
    const first = a.sendRaw(big);
    expect(first).toBeGreaterThan(0);
    expect(first).toBeLessThan(big.length); // partial
    let sentinel = 0;
    for (let i = 0; i < 1000 && sentinel === 0; i++) {
      const n = a.sendRaw(big);
      if (n === -1) sentinel = n;
    }
    expect(sentinel).toBe(-1);
    // Drain b, then a 2000-buffer sendmsg on a stream socket is split in IOV_MAX batches.
    b.setblocking(false);
    const sink = Buffer.alloc(1 << 20);
    for (;;) {
      try {
        b.recvInto(sink);
      } catch {
        break;
      }
    }
    const [c, d] = socketpair();
    track(c, d);
    const chunks = Array.from({ length: 2000 }, (_, i) => Buffer.from([i & 0xff]));
    expect(c.sendmsg(chunks)).toBe(2000);
    const got = Buffer.alloc(2000);
    let n = 0;
    while (n < 2000) n += d.recvInto(got.subarray(n));
    expect(got.equals(Buffer.concat(chunks))).toBe(true);
    // A datagram cannot be split: EMSGSIZE, as the kernel says for too many buffers.
    const [e, f] = socketpair(AF_UNIX, SOCK_DGRAM);
    track(e, f);
    expect(() => e.sendmsg(chunks)).toThrow(expect.objectContaining({ code: 'EMSGSIZE' }));
    expect(e.sendmsg(chunks.slice(0, 10))).toBe(10);
  });

  it('B9: non-blocking connect to a closed port: EINPROGRESS, writable, SO_ERROR ECONNREFUSED', () => {
    // Find a closed port: bind, read the port, close.
    const probe = createServer(['127.0.0.1', 0]);
    const address = probe.getsockname() as [string, number];
    probe.close();
    const [s] = track(new Socket());
    s.setblocking(false);
    const r = s.connectEx(address);
    if (r !== E.ECONNREFUSED) {
      expect(r).toBe(E.EINPROGRESS);
      const [, writable] = select([], [s], [], 5);
      expect(writable).toEqual([s]);
      expect(s.getsockopt(SOL_SOCKET, SO_ERROR)).toBe(E.ECONNREFUSED);
    }
    // Blocking connect and createConnection throw it with the address.
    const [t] = track(new Socket());
    expect(() => t.connect(address)).toThrow(expect.objectContaining({ code: 'ECONNREFUSED', errno: E.ECONNREFUSED, syscall: 'connect' }));
    expect(() => createConnection(address, 5)).toThrow(expect.objectContaining({ code: 'ECONNREFUSED' }));
    const [u] = track(new Socket());
    u.settimeout(5);
    expect(u.connectEx(address)).toBe(E.ECONNREFUSED);
  });
});

describe('B10-B12: addresses', () => {
  it('B10: EADDRINUSE carries code and address, and createServer closes its socket', () => {
    const [server] = track(createServer(['127.0.0.1', 0]));
    const address = server.getsockname() as [string, number];
    const before = openFdCount();
    let error: Error | undefined;
    try {
      createServer(address);
    } catch (e) {
      error = e as Error;
    }
    expect(error).toMatchObject({ code: 'EADDRINUSE', errno: E.EADDRINUSE, syscall: 'bind' });
    expect(error!.message).toContain(`127.0.0.1:${address[1]}`);
    expect(openFdCount()).toBe(before);
    // The same on a plain Socket; the socket stays usable.
    const [s] = track(new Socket());
    expect(() => s.bind(address)).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }));
    s.bind(['127.0.0.1', 0]);
  });

  it.runIf(process.getuid?.() !== 0)('B10: EACCES on a privileged port (not as root)', () => {
    const [s] = track(new Socket());
    expect(() => s.bind(['127.0.0.1', 80])).toThrow(expect.objectContaining({ code: 'EACCES' }));
  });

  it('B11: Unix paths of 108+ bytes or with NUL are refused, never truncated', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mx-'));
    track(() => rmSync(dir, { recursive: true, force: true }));
    const [s] = track(new Socket(AF_UNIX));
    for (const path of ['/' + 'a'.repeat(107), '/' + 'a'.repeat(200), 'x'.repeat(4096)]) {
      expect(() => s.bind(path)).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ENAMETOOLONG' }));
      expect(() => s.connect(path)).toThrow(RangeError);
      expect(() => s.sendto(Buffer.from('x'), path)).toThrow(RangeError);
    }
    expect(() => s.bind(join(dir, 'a\0b'))).toThrow(RangeError);
    expect(() => s.bind(Buffer.from(join(dir, 'a\0b')))).toThrow(RangeError);
    // Multi-byte characters are counted in bytes.
    expect(() => s.bind('/' + 'é'.repeat(54))).toThrow(RangeError);
    // 107 bytes fit (the kernel then says what it thinks of the path).
    const fits = join(dir, 'p'.repeat(107 - dir.length - 1));
    expect(Buffer.byteLength(fits)).toBe(107);
    s.bind(fits);
    expect(s.getsockname()).toBe(fits);
    // Abstract names may use all 108 bytes, not more.
    const [t] = track(new Socket(AF_UNIX));
    expect(() => t.bind(Buffer.concat([Buffer.alloc(1), Buffer.alloc(108, 97)]))).toThrow(RangeError);
    const abstract = Buffer.concat([Buffer.alloc(1), Buffer.from(`mx${process.pid}`), Buffer.alloc(90, 98)]);
    t.bind(abstract);
    expect(t.getsockname()).toEqual(abstract);
    expect(() => t.bind(42 as unknown as string)).toThrow(TypeError);
  });

  it('B12: ports, hosts, flowinfo and scope ids are validated, never truncated', () => {
    const [s] = track(new Socket());
    for (const port of [65536, -1, NaN, 1.5, 2 ** 32 + 80, Infinity]) {
      expect(() => s.bind(['127.0.0.1', port])).toThrow(RangeError);
      expect(() => s.connect(['127.0.0.1', port])).toThrow(RangeError);
      expect(() => s.sendto(Buffer.from('x'), ['127.0.0.1', port])).toThrow(RangeError);
    }
    for (const port of ['80', null, undefined, {}, 80n]) {
      expect(() => s.bind(['127.0.0.1', port as unknown as number])).toThrow(TypeError);
    }
    for (const host of ['256.1.1.1', '1.2.3', '1.2.3.4.5', '0x7f.1', 'example.com', '::1', '127.0.0.1\0x', ' 127.0.0.1']) {
      expect(() => s.bind([host, 0])).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_IP_ADDRESS' }));
    }
    expect(() => s.bind([127 as unknown as string, 0])).toThrow(TypeError);
    expect(() => s.bind(['127.0.0.1'] as unknown as [string, number])).toThrow(TypeError);
    expect(() => s.bind(['127.0.0.1', 0, 0] as unknown as [string, number])).toThrow(TypeError);
    expect(() => s.bind('127.0.0.1:80')).toThrow(TypeError);
    const [s6] = track(new Socket(AF_INET6));
    for (const host of ['::g', '1:2:3:4:5:6:7:8:9', '127.0.0.1', 'fe80::1%', 'fe80::1%no-such-if0', '%1']) {
      expect(() => s6.bind([host, 0])).toThrow(TypeError);
    }
    expect(() => s6.bind(['::1', 0, 2 ** 20])).toThrow(RangeError); // flowinfo is 20 bits
    expect(() => s6.bind(['::1', 0, 0, -1])).toThrow(RangeError);
    expect(() => s6.bind(['::1', 0, 0, 2 ** 32])).toThrow(RangeError);
    expect(() => s6.bind(['::1', 0, 0, 0, 0] as unknown as [string, number])).toThrow(TypeError);
    // Port 0 means "any free port", and a valid scope by name is taken.
    s.bind(['127.0.0.1', 0]);
    expect((s.getsockname() as [string, number])[1]).toBeGreaterThan(0);
    const [l6] = track(new Socket(AF_INET6, SOCK_DGRAM));
    try {
      l6.bind(['::1%lo', 0]);
      expect((l6.getsockname() as unknown[])[0]).toBe('::1');
    } catch (e) {
      expect((e as { code?: string }).code).not.toMatch(/^ERR_/); // only the kernel may refuse it
    }
  });
});

describe('B13-B17: fd ownership', () => {
  it('B13: closing twice never closes a reused fd number', () => {
    const s = new Socket();
    const fd = s.fileno();
    s.close();
    const [r, w] = pipe(); // takes the lowest free number: the one just released
    track(() => close(r), () => close(w));
    expect([r, w]).toContain(fd);
    s.close();
    s[Symbol.dispose]();
    write(w, Buffer.from('still open'));
    expect(binding.getNonBlocking(fd)).toBe(false); // the reuser's fd is intact
    // The plain helper reports a second close of a number nobody holds as EBADF.
    const [r2, w2] = pipe();
    close(r2);
    close(w2);
    expect(() => close(r2)).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'close' }));
  });

  it.each([
    ['epoll', () => new EpollSelector()],
    ['poll', () => new PollSelector()],
    ['select', () => new SelectSelector()],
  ])('B14 (%s): unregister before close works; a socket closed while registered can still be unregistered', (_kind, make) => {
    const sel: BaseSelector = make();
    track(() => sel.close());
    const [a, b] = socketpair();
    track(b);
    sel.register(a, EVENT_READ);
    sel.unregister(a);
    a.close();
    // The policy is "unregister first"; if it is broken, the selector stays usable.
    const [c, d] = socketpair();
    track(d);
    sel.register(c, EVENT_READ);
    c.close();
    expect(() => sel.select(0)).not.toThrow();
    expect(sel.unregister(c).fileobj).toBe(c);
    expect(sel.getMap().size).toBe(0);
  });

  it('B15: every fd is close-on-exec and non-blocking; a child inherits none; the port is freed', () => {
    const [server] = track(createServer(['127.0.0.1', 0]));
    const [client] = track(createConnection(server.getsockname() as [string, number], 5));
    const [conn] = server.accept();
    track(conn);
    const [a, b] = track(...socketpair());
    const [u] = track(new Socket(AF_INET, SOCK_DGRAM));
    const [r, w] = pipe();
    track(() => close(r), () => close(w));
    const O_CLOEXEC = 0o2000000;
    const O_NONBLOCK = 0o4000;
    const flags = (fd: number) => parseInt(/flags:\s*(\d+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1], 8);
    const sockets = [server, client, conn, a, b, u];
    for (const s of sockets) {
      expect(flags(s.fileno()) & O_CLOEXEC).toBe(O_CLOEXEC);
      expect(flags(s.fileno()) & O_NONBLOCK).toBe(O_NONBLOCK); // blocking mode is emulated
    }
    for (const fd of [r, w]) expect(flags(fd) & O_CLOEXEC).toBe(O_CLOEXEC);
    expect(getBlocking(r)).toBe(true); // pipe() is blocking like os.pipe
    const child = spawnSync('ls', ['-1', '/proc/self/fd'], { encoding: 'utf8' });
    const inherited = new Set(child.stdout.trim().split('\n').map(Number));
    for (const fd of [...sockets.map((s) => s.fileno()), r, w]) expect(inherited.has(fd)).toBe(false);
    // Closing frees the port for an exclusive bind.
    const address = server.getsockname() as [string, number];
    server.close();
    client.close();
    conn.close();
    const again = new Socket();
    track(again);
    again.bind(address);
  });

  it('B16: accept on a socket that is not listening is EINVAL', () => {
    const [s] = track(new Socket());
    s.bind(['127.0.0.1', 0]);
    expect(() => s.accept()).toThrow(expect.objectContaining({ code: 'EINVAL', syscall: 'accept' }));
    const [d] = track(new Socket(AF_INET, SOCK_DGRAM));
    expect(() => d.accept()).toThrow(expect.objectContaining({ errno: E.EOPNOTSUPP, syscall: 'accept' }));
  });

  const strace = spawnSync('strace', ['-V']).status === 0;
  it.runIf(strace && process.platform === 'linux')('B16: ECONNABORTED from accept is skipped (strace fault injection)', () => {
    const script = `
      const s = require(process.env.DIST + '/socket/index.js');
      const srv = s.createServer(['127.0.0.1', 0]);
      const c = s.createConnection(srv.getsockname(), 5);
      srv.settimeout(5);
      const [conn] = srv.accept();
      c.sendall(Buffer.from('after-abort'));
      console.log(conn.recv(64).toString());
    `;
    const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=accept4', '-e', 'inject=accept4:error=ECONNABORTED:when=1', process.execPath, '-e', script], {
      encoding: 'utf8',
      env: { ...process.env, DIST },
      timeout: 60_000,
    });
    if (/ptrace|Operation not permitted/.test(r.stderr) && r.status !== 0) return; // no ptrace here
    expect(r.stderr).toMatch(/ECONNABORTED.*INJECTED/);
    expect(r.stdout.trim()).toBe('after-abort');
    expect(r.status).toBe(0);
  });

  it('B17: GC never closes a reused fd; an abandoned open socket is closed by the finalizer', () => {
    const script = `
      const s = require(process.env.DIST + '/socket/index.js');
      const fs = require('fs');
      const isOpen = (fd) => { try { fs.fstatSync(fd); return true; } catch { return false; } };
      const collect = async () => { for (let i = 0; i < 5; i++) { global.gc(); await new Promise(setImmediate); } };
      (async () => {
        let closed = new s.Socket();
        const reusedFd = closed.fileno();
        closed.close();
        const [r, w] = s.pipe();
        const reused = r === reusedFd || w === reusedFd;
        closed = null;
        let abandonedFd = (() => { const a = new s.Socket(); return a.fileno(); })();
        let detachedFd = (() => { const d = new s.Socket(); return d.detach(); })();
        await collect();
        const result = {
          reused,
          reuserAlive: isOpen(reusedFd) && s.write(w, Buffer.from('x')) === 1,
          abandonedClosed: !isOpen(abandonedFd),
          detachedOpen: isOpen(detachedFd),
        };
        console.log(JSON.stringify(result));
      })();
    `;
    const r = runNode(script, ['--expose-gc']);
    expect(r.err).toBe('');
    expect(JSON.parse(r.out)).toEqual({ reused: true, reuserAlive: true, abandonedClosed: true, detachedOpen: true });
  });
});

it('signals (EINTR) neither end a timed wait early nor surface as errors (PEP 475)', () => {
  const script = `
    const s = require(process.env.DIST + '/socket/index.js');
    const { select } = require(process.env.DIST + '/selectors/select.js');
    const { spawn } = require('child_process');
    let delivered = 0;
    process.on('SIGUSR2', () => delivered++);
    const killer = spawn('sh', ['-c', 'while kill -USR2 ' + process.pid + ' 2>/dev/null; do sleep 0.002; done'], { stdio: 'ignore' });
    setTimeout(() => {
      const [a, b] = s.socketpair();
      a.settimeout(0.3);
      let t = performance.now();
      let error;
      try { a.recv(1); } catch (e) { error = e; }
      const recvElapsed = performance.now() - t;
      t = performance.now();
      const ready = select([a], [], [], 0.3);
      const selectElapsed = performance.now() - t;
      killer.kill();
      a.close(); b.close();
      setTimeout(() => console.log(JSON.stringify({ code: error && error.code, recvElapsed, selectElapsed, ready: ready[0].length, delivered })), 50);
    }, 100);
  `;
  const r = runNode(script);
  expect(r.err).toBe('');
  const out = JSON.parse(r.out);
  expect(out.delivered).toBeGreaterThan(0);
  expect(out.code).toBe('ETIMEDOUT');
  expect(out.recvElapsed).toBeGreaterThanOrEqual(299);
  expect(out.selectElapsed).toBeGreaterThanOrEqual(299);
  expect(out.ready).toBe(0);
});

describe('EMFILE', () => {
  // Plain build only: out of fds, UBSan's own readability probe (a pipe) fails and it reports a
  // false 'invalid vptr' (scripts/asan.sh sets MUXLOOP_SANITIZED; reliability.md 3.1).
  it.skipIf(process.env.MUXLOOP_SANITIZED)('socket() and accept() report EMFILE as a coded error when out of fds', () => {
    const script = `
      const s = require(process.env.DIST + '/socket/index.js');
      const srv = s.createServer(['127.0.0.1', 0]);
      const c = s.createConnection(srv.getsockname(), 5);
      const held = [];
      let socketError;
      try { for (let i = 0; i < 10000; i++) held.push(new s.Socket()); } catch (e) { socketError = e; }
      let acceptError;
      try { srv.accept(); } catch (e) { acceptError = e; }
      held.forEach((x) => x.close());
      const [conn] = srv.accept(); // with fds free again, the pending connection is still there
      conn.close();
      console.log(JSON.stringify({ socket: [socketError.code, socketError.syscall], accept: [acceptError.code, acceptError.syscall], held: held.length }));
    `;
    const r = runNode(script, [], 'ulimit -n 64 &&');
    expect(r.err).toBe('');
    const out = JSON.parse(r.out);
    expect(out.socket).toEqual(['EMFILE', 'socket']);
    expect(out.accept).toEqual(['EMFILE', 'accept']);
    expect(out.held).toBeGreaterThan(0);
  });
});

it('UDP to a closed port: ECONNREFUSED arrives on a connected socket (ICMP), never a crash', () => {
  const probe = new Socket(AF_INET, SOCK_DGRAM);
  probe.bind(['127.0.0.1', 0]);
  const address = probe.getsockname() as [string, number];
  probe.close();
  const [u] = track(new Socket(AF_INET, SOCK_DGRAM));
  u.connect(address);
  u.send(Buffer.from('x'));
  u.settimeout(2);
  expect(() => u.recv(10)).toThrow(expect.objectContaining({ code: 'ECONNREFUSED' }));
  void AF_INET6;
  void SOCK_STREAM;
});

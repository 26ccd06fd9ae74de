// Fault injection against the real kernel (issue 17; reliability.md A9, F2, F3, F4, EINTR and short
// transfers on the send and the recv side, recv errors mid-stream). Each case runs in a child node with test/native/fault_shim.c
// preloaded, and the rules armed only around the calls under test and only for calls the addon
// makes, so that node's own syscalls are never disturbed (test/fault.ts).
import { describe, expect, it } from 'vitest';
import { availableSelectors } from '../lib/selectors';
import { faultShim, runFaulty, shimError } from './fault';

const haveShim = faultShim() !== null;
if (!haveShim) console.warn(`fault injection tests skipped: ${shimError}`);
const linux = process.platform === 'linux';

interface Err {
  name: string;
  code: string;
  errno: number;
  syscall: string;
  message: string;
}

describe.skipIf(!haveShim || !linux)('fault injection: selectors', () => {
  it('the shim only fires after arming, only for the addon, and reports it fired', () => {
    const r = runFaulty<{ before: boolean; after: boolean; err: Err; stillNode: boolean }>(`
      const before = fired();
      arm('pipe2:1:EMFILE');
      let err;
      try { binding.pipe(true); } catch (e) { err = errInfo(e); }
      const after = fired();
      // node's own pipe creation (a child_process stdio pipe is made by libuv) is not touched:
      arm('pipe2:1+:EMFILE');
      const stillNode = require('node:child_process').spawnSync(process.execPath, ['-e', '0']).status === 0;
      off();
      out({ before, after, err, stillNode });
    `);
    expect(r.result).toMatchObject({ before: false, after: true, stillNode: true, err: { code: 'EMFILE', syscall: 'pipe2' } });
  });

  it('A9: epoll_ctl failing in modify (ENOMEM): the previous registration is intact, map and kernel agree', () => {
    const r = runFaulty<{ err: Err; fired: boolean; key: number; tfd: string[]; reported: number[][] }>(`
      const sel = new m.EpollSelector();
      const [r, w] = binding.pipe(true);
      const [r2, w2] = binding.pipe(true);
      sel.register(r, m.EVENT_READ);
      sel.register(w2, m.EVENT_WRITE);
      arm('epoll_ctl_mod:1:ENOMEM');
      let err;
      try { sel.modify(r, m.EVENT_READ | m.EVENT_WRITE); } catch (e) { err = errInfo(e); }
      const wasFired = fired();
      off();
      const tfd = fs.readFileSync('/proc/self/fdinfo/' + sel.fileno(), 'utf8').split('\\n').filter((l) => l.startsWith('tfd:'));
      binding.write(w, Buffer.from('x'));
      const reported = sel.select(0).map(([k, ev]) => [k.fd, ev]).sort((a, b) => a[0] - b[0]);
      out({ err, fired: wasFired, key: sel.getKey(r).events, tfd: tfd.map((l) => l.replace(/\\s+/g, ' ')), reported, r, w2 });
    `);
    const res = r.result as unknown as { err: Err; fired: boolean; key: number; tfd: string[]; reported: number[][]; r: number; w2: number };
    expect(res.fired).toBe(true);
    expect(res.err).toMatchObject({ code: 'ENOMEM', syscall: 'epoll_ctl' });
    expect(res.key).toBe(1);
    // The kernel still has exactly the two registrations, r for EPOLLIN (1) only.
    expect(res.tfd).toHaveLength(2);
    expect(res.tfd.find((l) => l.startsWith(`tfd: ${res.r} `))).toMatch(/events: 19 /) // EPOLLIN|EPOLLERR|EPOLLHUP, no EPOLLOUT (4);
    expect(res.reported).toEqual([[res.r, 1], [res.w2, 2]]);
  });

  it('F4: ENOSPC on EPOLL_CTL_ADD (max_user_watches): coded error, no key, nothing in the kernel, selector usable', () => {
    const r = runFaulty<{ err: Err; has: boolean; tfd: number; again: number[][] }>(`
      const sel = new m.EpollSelector();
      const [r, w] = binding.pipe(true);
      arm('epoll_ctl_add:1:ENOSPC');
      let err;
      try { sel.register(r, m.EVENT_READ); } catch (e) { err = errInfo(e); }
      off();
      const has = sel.getMap().has(r);
      const tfd = fs.readFileSync('/proc/self/fdinfo/' + sel.fileno(), 'utf8').split('\\n').filter((l) => l.startsWith('tfd:')).length;
      sel.register(r, m.EVENT_READ);
      binding.write(w, Buffer.from('x'));
      out({ err, has, tfd, again: sel.select(0).map(([k, ev]) => [k.fd === r ? 1 : 0, ev]) });
    `);
    expect(r.result.err).toMatchObject({ name: 'Error', code: 'ENOSPC', syscall: 'epoll_ctl' });
    expect(r.result.err.message).toMatch(/ENOSPC/);
    expect(r.result).toMatchObject({ has: false, tfd: 0, again: [[1, 1]] });
  });

  it('F2: EMFILE from socket, socketpair, pipe2 and epoll_create1: coded errors, no half-built pair or selector, no fd left open', () => {
    const r = runFaulty<{ results: Array<[string, Err | null]>; gained: string[]; usable: boolean }>(`
      const before = fdList();
      const cases = {
        'socket': ['socket:1:EMFILE', () => new m.Socket(m.AF_INET, m.SOCK_STREAM)],
        'socketpair': ['socketpair:1:EMFILE', () => m.socketpair()],
        'pipe2': ['pipe2:1:EMFILE', () => m.pipe()],
        'epoll_create1': ['epoll_create1:1:EMFILE', () => new m.EpollSelector()],
        // A loop whose selector was made but whose next fd fails must close the selector again.
        'loop:epoll_create1': ['epoll_create1:1:EMFILE', () => m.newEventLoop()],
        'loop:pipe2': ['pipe2:1:EMFILE,socketpair:1:EMFILE', () => { const l = m.newEventLoop(); l.close(); throw Object.assign(new Error('made no fd'), { code: 'NONE' }); }],
        'server:socket': ['socket:1:EMFILE', () => m.createServer(['127.0.0.1', 0])],
      };
      const results = [];
      for (const [name, [spec, fn]] of Object.entries(cases)) {
        arm(spec);
        let err = null;
        try { const made = fn(); if (made && made.close) made.close(); } catch (e) { err = errInfo(e); }
        off();
        results.push([name, err]);
      }
      const gained = fdsGained(before);
      const s = m.socketpair(); s.forEach((x) => x.close());
      out({ results, gained, usable: true });
    `);
    const byName = Object.fromEntries(r.result.results);
    for (const [name, syscall] of [['socket', 'socket'], ['socketpair', 'socketpair'], ['pipe2', 'pipe2'], ['epoll_create1', 'epoll_create1'], ['loop:epoll_create1', 'epoll_create1'], ['server:socket', 'socket']]) {
      expect(byName[name], name).toMatchObject({ code: 'EMFILE', syscall });
      expect(byName[name]!.message, name).toMatch(/EMFILE|too many open files/i);
    }
    // Either the loop needs no other fd (NONE) or it failed cleanly with EMFILE.
    expect(['NONE', 'EMFILE']).toContain(byName['loop:pipe2']!.code);
    expect(r.result.gained).toEqual([]);
  });
});

describe.skipIf(!haveShim || !linux).each(availableSelectors())('%s backend: fault injection in transports', (kind) => {
  const prelude = `
    const loop = m.newEventLoop({ selector: new (m.selectorClass(${JSON.stringify(kind)}))() });
    const handled = [];
    loop.setExceptionHandler((_l, ctx) => handled.push(ctx.message + ': ' + (ctx.exception && ctx.exception.code)));
    class Rec extends m.Protocol {
      constructor() { super(); this.chunks = []; this.lost = loop.createFuture(); this.lostCount = 0; this.errors = []; }
      connectionMade(t) { this.t = t; }
      dataReceived(d) { this.chunks.push(d); }
      eofReceived() { return undefined; }
      datagramReceived(d) { this.chunks.push(d); }
      errorReceived(e) { this.errors.push(errInfo(e)); }
      connectionLost(e) { this.lostCount++; if (!this.lost.done()) this.lost.setResult(e ? errInfo(e) : null); }
    }
    const guard = setTimeout(() => { out({ failed: 'timed out' }); process.exit(3); }, 20000);
    const finish = (p) => loop.runUntilComplete(p).finally(() => clearTimeout(guard)).then((v) => { loop.close(); out(v); }, (e) => { loop.close(); out({ failed: String(e && e.stack || e) }); });
    const pattern = (n) => { const b = Buffer.alloc(n); for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >> 8)) & 0xff; return b; };
  `;

  it('F3: ENFILE, ENOBUFS and ENOMEM on accept4: the server pauses accepting and reports once per error, existing connections unaffected', () => {
    const r = runFaulty<{ reports: string[]; echoed: boolean[]; servedAfter: boolean }>(prelude + `
      let served = 0;
      class Echo extends m.Protocol { connectionMade(t) { this.t = t; served++; } dataReceived(d) { this.t.write(d); } }
      async function main() {
        const server = await loop.createServer(() => new Echo(), '127.0.0.1', 0);
        const addr = server.sockets[0].getsockname();
        const [, existing] = await loop.createConnection(() => new Rec(), addr[0], addr[1]);
        await loop.sleep ? null : null;
        const echoed = [];
        for (const code of ['ENFILE', 'ENOBUFS', 'ENOMEM']) {
          handled.length = handled.length; // reports accumulate
          arm('accept4:1-1000:' + code);
          const pending = loop.createConnection(() => new Rec(), addr[0], addr[1]);
          // While the fault lasts the listener is paused, not spinning; the old connection echoes.
          const [t] = [existing.t];
          const before = existing.chunks.length;
          t.write(Buffer.from(code));
          const until = Date.now() + 5000;
          while (existing.chunks.length === before && Date.now() < until) await new Promise((res) => loop.callLater(0.01, res));
          echoed.push(Buffer.concat(existing.chunks).toString().endsWith(code));
          await new Promise((res) => loop.callLater(0.2, res));
          off();
          const [ct] = await pending; // the kernel completed the handshake; the server accepts it
          const servedBefore = served; // once the 1 s pause is over
          const until2 = Date.now() + 5000;
          while (served === servedBefore && Date.now() < until2) await new Promise((res) => loop.callLater(0.02, res));
          ct.close();
        }
        existing.t.close();
        server.close();
        await server.waitClosed();
        return { reports: handled.slice(), echoed, servedAfter: true };
      }
      finish(main());
    `);
    expect(r.result).toMatchObject({ echoed: [true, true, true], servedAfter: true });
    // One report per fault episode: the listener was paused, not retried in a loop.
    expect(r.result.reports).toEqual([
      'socket.accept() out of system resource: ENFILE',
      'socket.accept() out of system resource: ENOBUFS',
      'socket.accept() out of system resource: ENOMEM',
    ]);
  });

  it('EINTR and short writes on every send path (socket send/sendmsg, transport write/writelines, pipe write): all data arrives, in order', () => {
    const r = runFaulty<{ results: Record<string, boolean>; fired: boolean[] }>(prelude + `
      async function readAll(sock, n) {
        const parts = []; let got = 0;
        while (got < n) { const d = await loop.sockRecv(sock, 65536); if (d.length === 0) break; parts.push(d); got += d.length; }
        return Buffer.concat(parts);
      }
      async function main() {
        const results = {}; const firedAll = [];
        for (const mode of ['EINTR', 'short']) {
          const spec = ['send', 'sendmsg'].map((s) => s + ':1-40:' + mode).join(',');
          // Raw socket send and sendmsg (the addon retries EINTR; a short count is returned).
          { const [a, b] = m.socketpair(); a.setblocking(false); b.setblocking(false);
            const data = pattern(300000);
            arm(spec);
            const sender = (async () => { await loop.sockSendall(a, data.subarray(0, 150000)); await loop.sockSendall(a, [data.subarray(150000, 200000), data.subarray(200000)].reduce((x, y) => Buffer.concat([x, y]))); a.shutdown(m.SHUT_WR); })();
            const got = await readAll(b, data.length); await sender;
            let sent = 0; const sm = []; for (let i = 0; i < 10; i++) sm.push(pattern(1000 + i));
            const total = sm.reduce((s, x) => s + x.length, 0);
            const [c, d] = m.socketpair();
            while (sent < total) { const n = c.sendmsg(sm.map((x) => x).reduce((acc, x) => acc, sm).length ? [Buffer.concat(sm).subarray(sent)] : []); sent += n; }
            off();
            const got2 = d.recv(total + 10, m.MSG_WAITALL);
            results[mode + ':socket send'] = got.equals(data);
            results[mode + ':socket sendmsg'] = Buffer.from(got2).equals(Buffer.concat(sm));
            [a, b, c, d].forEach((s) => s.close()); }
          // Transport write and writelines.
          { const [a, b] = m.socketpair(); b.setblocking(false);
            const [t] = await loop.connectAcceptedSocket(() => new Rec(), a);
            const data = pattern(400000);
            arm(spec);
            t.write(data.subarray(0, 100000));
            t.writelines([data.subarray(100000, 150000), data.subarray(150000, 250000), data.subarray(250000)]);
            const got = await readAll(b, data.length);
            firedAll.push(fired());
            off();
            results[mode + ':transport write/writelines'] = got.equals(data);
            t.close(); b.close(); }
          // Pipe write transport.
          { const [rfd, wfd] = binding.pipe(true);
            const [t] = await loop.connectWritePipe(() => new Rec(), wfd);
            const rec = new Rec();
            const [rt] = await loop.connectReadPipe(() => rec, rfd);
            const data = pattern(300000);
            arm('write:1-40:' + mode + ':' + wfd);
            t.write(data.subarray(0, 120000)); t.writelines([data.subarray(120000, 200000), data.subarray(200000)]);
            const until = Date.now() + 10000;
            while (rec.chunks.reduce((s, x) => s + x.length, 0) < data.length && Date.now() < until) await new Promise((res) => loop.callLater(0.005, res));
            firedAll.push(fired());
            off();
            results[mode + ':pipe write'] = Buffer.concat(rec.chunks).equals(data);
            t.close(); rt.close(); }
        }
        await new Promise((res) => loop.callLater(0.01, res));
        return { results, fired: firedAll };
      }
      finish(main());
    `);
    expect(r.result.results).toEqual({
      'EINTR:socket send': true, 'EINTR:socket sendmsg': true, 'EINTR:transport write/writelines': true, 'EINTR:pipe write': true,
      'short:socket send': true, 'short:socket sendmsg': true, 'short:transport write/writelines': true, 'short:pipe write': true,
    });
    expect(r.result.fired).toEqual([true, true, true, true]);
  });

  it('recv errors mid-stream in every transport: socket and read pipe lose the connection with the coded error, datagram reports errorReceived; fd closed once', () => {
    const r = runFaulty<Record<string, unknown>>(prelude + `
      async function main() {
        const res = {};
        // Thread-mode hosts (poll, select) make their self-pipe on first use: count after it.
        { const [x, y] = binding.pipe(true); loop.addReader(x, () => {}); await new Promise((r) => loop.callLater(0.02, r));
          loop.removeReader(x); binding.close(x); binding.close(y); }
        const base = fdList();
        // Socket transport: the 2nd recv fails with ECONNRESET.
        { const [a, b] = m.socketpair(); b.setblocking(false);
          const rec = new Rec();
          await loop.connectAcceptedSocket(() => rec, a);
          arm('recv:2:ECONNRESET:' + a.fileno());
          b.send(Buffer.from('first'));
          await new Promise((r) => loop.callLater(0.05, r));
          b.send(Buffer.from('second'));
          const lost = await rec.lost;
          res.socketFired = fired(); off();
          res.socket = { data: Buffer.concat(rec.chunks).toString(), lost, lostCount: rec.lostCount, closed: a.fileno() < 0 };
          b.close(); }
        // Read pipe transport: the 2nd read fails with EIO.
        { const [rfd, wfd] = binding.pipe(true);
          const rec = new Rec();
          await loop.connectReadPipe(() => rec, rfd);
          arm('read:2:EIO:' + rfd);
          binding.write(wfd, Buffer.from('first'));
          await new Promise((r) => loop.callLater(0.05, r));
          binding.write(wfd, Buffer.from('second'));
          const lost = await rec.lost;
          res.pipeFired = fired(); off();
          let rfdClosed; try { fs.fstatSync(rfd); rfdClosed = false; } catch (e) { rfdClosed = e.code === 'EBADF'; }
          res.pipe = { data: Buffer.concat(rec.chunks).toString(), lost, lostCount: rec.lostCount, rfdClosed };
          binding.close(wfd); }
        // Datagram transport: recvfrom fails with ECONNREFUSED (an ICMP error); the endpoint stays open.
        { const rec = new Rec();
          const [t] = await loop.createDatagramEndpoint(() => rec, { localAddr: ['127.0.0.1', 0] });
          const addr = t.getExtraInfo('sockname');
          const peer = new m.Socket(m.AF_INET, m.SOCK_DGRAM);
          arm('recvfrom:1:ECONNREFUSED');
          peer.sendto(Buffer.from('one'), addr);
          await new Promise((r) => loop.callLater(0.05, r));
          peer.sendto(Buffer.from('two'), addr);
          const until = Date.now() + 5000;
          while (rec.chunks.length < 2 && Date.now() < until) await new Promise((r) => loop.callLater(0.01, r));
          res.dgramFired = fired(); off();
          res.dgram = { errors: rec.errors.map((e) => [e.code, e.syscall]), data: rec.chunks.map(String), lostCount: rec.lostCount };
          t.close(); peer.close();
          await new Promise((r) => loop.callLater(0.01, r)); }
        res.fdsGained = fdsGained(base);
        return res;
      }
      finish(main());
    `);
    const res = r.result as Record<string, any>;
    expect(res.failed).toBeUndefined();
    expect([res.socketFired, res.pipeFired, res.dgramFired]).toEqual([true, true, true]);
    expect(res.socket).toMatchObject({ data: 'first', lostCount: 1, closed: true, lost: { code: 'ECONNRESET', syscall: 'recv' } });
    expect(res.pipe).toMatchObject({ data: 'first', lostCount: 1, rfdClosed: true, lost: { code: 'EIO', syscall: 'read' } });
    expect(res.dgram.errors).toEqual([['ECONNREFUSED', 'recvfrom']]);
    // The injected error did not make the call, so no datagram was lost.
    expect(res.dgram.data).toEqual(['one', 'two']);
    expect(res.fdsGained).toEqual([]);
  });

  it('EINTR and short reads on every recv path (socket, read pipe and datagram transports): all data arrives, in order, no connection lost', () => {
    const r = runFaulty<{ results: Record<string, unknown>; fired: boolean[]; handled: string[] }>(prelude + `
      const wait = async (cond) => { const until = Date.now() + 10000; while (!cond() && Date.now() < until) await new Promise((res) => loop.callLater(0.005, res)); };
      const bytes = (rec) => rec.chunks.reduce((s, x) => s + x.length, 0);
      async function main() {
        const results = {}; const firedAll = [];
        for (const mode of ['EINTR', 'short']) {
          // Socket transport: its recv (recv_into) interrupted or short 40 times.
          { const [a, b] = m.socketpair(); b.setblocking(false);
            const rec = new Rec();
            await loop.connectAcceptedSocket(() => rec, a);
            const data = pattern(300000);
            arm('recv:1-40:' + mode + ':' + a.fileno());
            await loop.sockSendall(b, data);
            await wait(() => bytes(rec) >= data.length);
            firedAll.push(fired()); off();
            results[mode + ':socket'] = Buffer.concat(rec.chunks).equals(data) && rec.lostCount === 0;
            rec.t.close(); b.close(); }
          // Read pipe transport: its read interrupted or short 40 times.
          { const [rfd, wfd] = binding.pipe(true);
            const rec = new Rec();
            const [rt] = await loop.connectReadPipe(() => rec, rfd);
            const [wt] = await loop.connectWritePipe(() => new Rec(), wfd);
            const data = pattern(200000);
            arm('read:1-40:' + mode + ':' + rfd);
            wt.write(data);
            await wait(() => bytes(rec) >= data.length);
            firedAll.push(fired()); off();
            results[mode + ':pipe'] = Buffer.concat(rec.chunks).equals(data) && rec.lostCount === 0;
            wt.close(); rt.close(); }
        }
        // Datagram transport: recvfrom interrupted (a short read of a datagram would truncate it,
        // which is what the kernel does too, so only EINTR here).
        { const rec = new Rec();
          const [t] = await loop.createDatagramEndpoint(() => rec, { localAddr: ['127.0.0.1', 0] });
          const addr = t.getExtraInfo('sockname');
          const peer = new m.Socket(m.AF_INET, m.SOCK_DGRAM);
          arm('recvfrom:1-20:EINTR:' + t.getExtraInfo('socket').fileno());
          for (let i = 0; i < 10; i++) peer.sendto(Buffer.from('datagram ' + i), addr);
          await wait(() => rec.chunks.length >= 10);
          firedAll.push(fired()); off();
          results['EINTR:datagram'] = rec.chunks.map(String).join(',') === Array.from({ length: 10 }, (_, i) => 'datagram ' + i).join(',') && rec.errors.length === 0;
          t.close(); peer.close(); }
        await new Promise((res) => loop.callLater(0.01, res));
        return { results, fired: firedAll, handled };
      }
      finish(main());
    `);
    expect(r.result.results).toEqual({
      'EINTR:socket': true, 'EINTR:pipe': true, 'short:socket': true, 'short:pipe': true, 'EINTR:datagram': true,
    });
    expect(r.result.fired).toEqual([true, true, true, true, true]);
    expect(r.result.handled).toEqual([]);
  });
});

// F10 needs the plain build: under ASan, its allocator replaces malloc and operator new.
describe.skipIf(!haveShim || !linux || process.env.MUXLOOP_SANITIZED)('F10: native allocation failure', () => {
  it('with --max-old-space-size=64, a failed allocation in selector.wait and in sendmsg is an ENOMEM error, never an abort; both work afterwards', () => {
    const r = runFaulty<{ wait: Err; waitFired: boolean; after: number; sendmsg: Err; sent: number }>(
      `
      const sel = new m.DefaultSelector();
      const pairs = [];
      for (let i = 0; i < 300; i++) { const p = binding.socketpair(m.AF_UNIX, m.SOCK_STREAM, true); pairs.push(p); sel.register(p[0], m.EVENT_WRITE); }
      let wait, sendmsg;
      arm('malloc:1:ENOMEM'); // the first allocation the addon makes: the event array grows
      try { sel.select(0); } catch (e) { wait = errInfo(e); }
      const waitFired = fired(); off();
      const after = sel.select(0).length;
      const [a, b] = m.socketpair();
      const views = Array.from({ length: 64 }, () => Buffer.from('z'));
      arm('malloc:1:ENOMEM');
      try { a.sendmsg(views); } catch (e) { sendmsg = errInfo(e); }
      off();
      const sent = a.sendmsg(views);
      for (const p of pairs) { sel.unregister(p[0]); binding.close(p[0]); binding.close(p[1]); }
      a.close(); b.close(); sel.close();
      out({ wait, waitFired, after, sendmsg, sent });
    `,
      { nodeArgs: ['--max-old-space-size=64'] },
    );
    expect(r.signal).toBeNull();
    expect(r.status).toBe(0);
    expect(r.result.waitFired).toBe(true);
    expect(r.result.wait).toMatchObject({ name: 'Error', code: 'ENOMEM', syscall: 'malloc' });
    expect(r.result.after).toBe(300);
    expect(r.result.sendmsg).toMatchObject({ code: 'ENOMEM', syscall: 'malloc' });
    expect(r.result.sent).toBe(64);
  });
});


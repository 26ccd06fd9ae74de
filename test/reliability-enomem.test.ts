// F10 sweep (issue 17, reliability.md F10): every native entry point, with its 1st, 2nd, 3rd, ...
// allocation failed in turn (test/native/fault_shim.c's "malloc" rule: only the addon's own
// allocations, directly or through operator new), until the call makes fewer allocations than N.
// For every N: no abort, the failure is Error{code 'ENOMEM', syscall 'malloc'} (binding_util.h
// OrEnomem) or the call succeeds; afterwards the same call works, the state it touches is as
// before (a selector's keys and kernel interest) and no fd is left behind.
// Allocations inside Node (V8, libuv, Node's OpenSSL) are not failed: the shim only counts calls
// whose first caller outside libc/libstdc++ is the addon. reliability-faults.test.ts covers
// selector.wait and sendmsg.
import { describe, expect, it } from 'vitest';
import { availableSelectors } from '../lib/selectors';
import { faultShim, runFaulty, shimError } from './fault';
import { type Certs, hasOpenssl, makeCerts } from './tls-certs';

const haveShim = faultShim() !== null;
if (!haveShim) console.warn(`F10 sweep skipped: ${shimError}`);
const linux = process.platform === 'linux';
const CAP = 64;
// The TLS entries after a handshake need a certificate (test/tls-certs.ts: the openssl binary).
const CERTS = haveShim && linux && hasOpenssl() ? makeCerts() : null;
if (haveShim && linux && CERTS === null) console.warn('F10 sweep: the TLS entries after a handshake skipped (no openssl binary)');

interface Step {
  n: number;
  hit: boolean;
  err?: { name: string; code?: string; syscall?: string; message: string };
  state: unknown;
}
interface Sweep {
  steps: Step[];
  allocations: number | null;
  state0: unknown;
  afterErr?: unknown;
  fdsBefore: number;
  fdsGained: string[];
}

/**
 * One entry point: `setup` runs once; per N, `prep` (unarmed), then `call` (armed; its value is
 * `v`), then `undo(v)` when it succeeded and `post`, both unarmed; `state` is compared with its
 * value before the sweep after every step; `teardown` closes what `setup` opened.
 */
interface Entry {
  name: string;
  setup?: string;
  prep?: string;
  call: string;
  undo?: string;
  post?: string;
  state?: string;
  teardown?: string;
}

// The child's side: the sweep loop, then one unarmed call, then the fds it left open.
function script(e: Entry): string {
  return `
    const { AF_INET, AF_INET6, AF_UNIX, SOCK_STREAM, SOCK_DGRAM } = binding.constants;
    ${e.setup ?? ''}
    const state = () => { ${e.state ?? 'return null;'} };
    const once = (armed) => {
      ${e.prep ?? ''}
      let v, err;
      if (armed) arm(armed);
      try { v = (() => { ${e.call} })(); } catch (x) { err = errInfo(x); }
      const hit = armed ? fired() : false;
      off();
      if (err === undefined) { ${e.undo ?? ''} }
      ${e.post ?? ''}
      return { hit, err };
    };
    const fds0 = fdList();
    const state0 = state();
    const steps = [];
    let allocations = null;
    for (let n = 1; n <= ${CAP}; n++) {
      const { hit, err } = once('malloc:' + n + ':ENOMEM');
      steps.push({ n, hit, err, state: state() });
      if (!hit) { allocations = n - 1; break; }
    }
    const afterErr = once(null).err;
    const gained = fdsGained(fds0);
    ${e.teardown ?? ''}
    out({ steps, allocations, state0, afterErr, fdsBefore: fds0.size, fdsGained: gained });
  `;
}

// A bound UDP socket (u, its port uport) and a read buffer, for recvfrom and sendto.
const UDP_SOCKET = `const u = binding.socket(AF_INET, SOCK_DGRAM); binding.bind(u, AF_INET, ['127.0.0.1', 0]);
  const uport = binding.getsockname(u, AF_INET)[1]; const buf = Buffer.alloc(16);`;
// A connected Unix stream pair (a, b) and a read buffer, for recv and send.
const UNIX_PAIR = 'const [a, b] = binding.socketpair(AF_UNIX, SOCK_STREAM, true); const buf = Buffer.alloc(16);';
// A listening TCP socket on 127.0.0.1 and its port, in the child.
const LISTENER = `
  const lfd = binding.socket(AF_INET, SOCK_STREAM);
  binding.setsockopt(lfd, binding.socketConstants.SOL_SOCKET, binding.socketConstants.SO_REUSEADDR, 1);
  binding.bind(lfd, AF_INET, ['127.0.0.1', 0]);
  binding.listen(lfd, 16);
  const port = binding.getsockname(lfd, AF_INET)[1];
`;

// Selector entry points on one backend: a socketpair registered for READ; the sweep registers the
// other end, modifies the registered one to READ|WRITE, or unregisters it. The state is the map
// (fd -> events) and what the kernel reports ready (select(0)): a failed call changes neither.
function selectorEntries(kind: string): Entry[] {
  const cls = { epoll: 'EpollSelector', poll: 'PollSelector', select: 'SelectSelector', io_uring: 'IoUringSelector' }[kind];
  const setup = `
    const sel = new m.${cls}();
    const [a, b] = binding.socketpair(AF_UNIX, SOCK_STREAM, true);
    sel.register(a, m.EVENT_READ);
    binding.write(b, Buffer.from('x'));
  `;
  const state = `
    const keys = [...sel.getMap().values()].map((k) => [k.fd, k.events]).sort();
    const ready = sel.select(0).map(([k, ev]) => [k.fd, ev]).sort();
    return { keys, ready };
  `;
  const teardown = 'sel.close(); binding.close(a); binding.close(b);';
  return [
    { name: `${kind} selector creation`, call: `return new m.${cls}();`, undo: 'v.close();' },
    { name: `${kind} register`, setup, state, teardown, call: 'return sel.register(b, m.EVENT_WRITE);', undo: 'sel.unregister(b);' },
    { name: `${kind} modify`, setup, state, teardown, call: 'return sel.modify(a, m.EVENT_READ | m.EVENT_WRITE);', undo: 'sel.modify(a, m.EVENT_READ);' },
    { name: `${kind} unregister`, setup, state, teardown, call: 'return sel.unregister(a);', undo: 'sel.register(a, m.EVENT_READ);' },
  ];
}

// An io_uring engine and a connected Unix stream pair (a, b). waitFor(...ops) reaps until a
// completion of each op came (the ring fd is readable while completions wait) and gives their
// [res, flags] by op (2 recv, 3 send, 4 shutdown, 5 cancel); `problems` collects what went wrong
// after a step (a missing or wrong completion, a retry that failed) and is part of the state.
const URING_PAIR = `
  const { ECANCELED, ENOENT } = require('node:os').constants.errno;
  const eng = new binding.UringEngine(4, 256);
  const [a, b] = binding.socketpair(AF_UNIX, SOCK_STREAM, true);
  const buf = Buffer.alloc(64);
  const problems = [];
  let id = 1;
  const waitFor = (...ops) => {
    const seen = new Map();
    for (let round = 0; round < 200 && ops.some((op) => !seen.has(op)); round++) {
      binding.select(Int32Array.of(eng.fileno), new Int32Array(0), new Int32Array(0), 0.05);
      const n = eng.reap(0);
      for (let i = 0; i < n; i++) {
        const op = eng.events[4 * i + 1];
        if (!seen.has(op)) seen.set(op, [eng.events[4 * i + 2], eng.events[4 * i + 3]]);
      }
    }
    for (const op of ops) if (!seen.has(op)) problems.push('no completion of op ' + op);
    return seen;
  };
  const resOf = (seen, op) => (seen.get(op) ?? [])[0];
  const drain = () => { while (binding.recv(b, buf, 0, 64, 0, 0) > 0); };
`;
// A failed call must leave nothing queued (flush(0) says whether something was) and no send copy.
const URING_STATE = 'return { problems, queued: eng.flush(0), sendsInFlight: eng.counters.sendsInFlight };';

function uringEntries(): Entry[] {
  const base = { setup: URING_PAIR, state: URING_STATE, teardown: 'eng.close(); binding.close(a); binding.close(b);' };
  const cancelled = `const r = resOf(waitFor(2, 5), 2); if (r !== -ECANCELED) problems.push('recv after the cancel: res ' + r);`;
  return [
    {
      ...base,
      name: 'io_uring engine send of one piece',
      call: "return eng.send(a, id++, Buffer.from('s'));",
      undo: "eng.flush(0); const r = resOf(waitFor(3), 3); if (r !== 1) problems.push('send res ' + r);",
      post: 'drain();',
    },
    {
      ...base,
      name: 'io_uring engine send of several pieces (sendmsg)',
      call: "return eng.send(a, id++, [Buffer.from('s'), Buffer.from('tu')]);",
      undo: "eng.flush(0); const r = resOf(waitFor(3), 3); if (r !== 3) problems.push('sendmsg res ' + r);",
      post: 'drain();',
    },
    {
      ...base,
      name: 'io_uring engine shutdown',
      prep: 'const [c, d] = binding.socketpair(AF_UNIX, SOCK_STREAM, true);',
      call: 'return eng.shutdown(c, id++, 1);',
      undo: `eng.flush(0); const r = resOf(waitFor(4), 4);
             if (r !== 0) problems.push('shutdown res ' + r);
             else if (binding.recv(d, buf, 0, 64, 0, 0) !== 0) problems.push('no EOF after shutdown');`,
      post: 'binding.close(c); binding.close(d);',
    },
    {
      ...base,
      name: 'io_uring engine cancel of an fd (cancelFd, submitted at once)',
      prep: 'eng.recv(a, id++); eng.flush(0);',
      call: 'return eng.cancelFd(a, id++);',
      post: `if (err !== undefined) eng.cancelFd(a, id++);
             ${cancelled}`,
    },
    {
      ...base,
      name: 'io_uring engine cancel of an operation (queued)',
      prep: 'const rid = id++; eng.recv(a, rid); eng.flush(0);',
      call: 'return eng.cancel(rid, 2);',
      post: `if (err !== undefined) eng.cancel(rid, 2);
             eng.flush(0); ${cancelled}`,
    },
    {
      ...base,
      // A cancel that matches nothing is queued first; it completes with -ENOENT.
      name: 'io_uring engine flush of a queued submission',
      prep: 'eng.cancel(0x7ffffff0, 2);',
      call: 'return eng.flush(0);',
      post: `if (err !== undefined) eng.flush(0);
             const r = resOf(waitFor(5), 5); if (r !== -ENOENT) problems.push('cancel of nothing: res ' + r);`,
    },
    {
      ...base,
      // A multishot recv stays armed on a; each step's byte comes back in one provided buffer.
      name: 'io_uring engine reap of a recv completion',
      setup: `${URING_PAIR} eng.recv(a, id++); eng.flush(0);`,
      prep: `binding.write(b, Buffer.from('r'));
             binding.select(Int32Array.of(eng.fileno), new Int32Array(0), new Int32Array(0), 5);`,
      call: 'return eng.reap(0);',
      post: `let n = err === undefined ? v : eng.reap(0);
             let got = 0;
             for (let round = 0; got === 0 && round < 100; round++) {
               for (let i = 0; i < n; i++) {
                 if (eng.events[4 * i + 1] !== 2) continue;
                 if (eng.events[4 * i + 2] === 1 && (eng.events[4 * i + 3] & 1)) {
                   got++;
                   eng.recycled[0] = eng.events[4 * i + 3] >>> 16;
                   eng.flush(1);
                 } else problems.push('recv completion ' + eng.events[4 * i + 2]);
               }
               if (got === 0) {
                 binding.select(Int32Array.of(eng.fileno), new Int32Array(0), new Int32Array(0), 0.05);
                 n = eng.reap(0);
               }
             }
             if (got !== 1) problems.push(got + ' recv completions for one byte');`,
    },
    {
      ...base,
      name: 'io_uring engine recycle of a provided buffer (flush(count))',
      setup: `${URING_PAIR} eng.recv(a, id++); eng.flush(0);`,
      prep: `binding.write(b, Buffer.from('r'));
             const [res, flags] = waitFor(2).get(2) ?? [];
             if (res !== 1 || (flags & 1) === 0) problems.push('recv completion ' + res);
             const bid = flags >>> 16;
             eng.recycled[0] = bid;`,
      call: 'return eng.flush(1);',
      // Recycled once, the buffer is the kernel's: a second recycle of it must be refused.
      post: `if (err !== undefined) eng.flush(1);
             eng.recycled[0] = bid;
             try { eng.flush(1); problems.push('buffer ' + bid + ' recycled twice'); }
             catch (x) { if (x.code !== 'ERR_OUT_OF_RANGE') problems.push(x.message); }`,
    },
    { ...base, name: 'io_uring engine counters (a JS object)', call: 'return eng.counters;' },
  ];
}

// Two TLS contexts (server: the test certificate; both offer ALPN h2) and a connected pair of
// engines (srv, cli); connect() makes another pair, the handshake and the session tickets
// exchanged in memory. `problems` is the state, as in URING_PAIR.
function tlsSetup(certs: Certs): string {
  return `
    const certs = ${JSON.stringify({ key: certs.key, cert: certs.cert })};
    const alpn = Buffer.from([2, 104, 50]);
    const sctx = new binding.TlsContext({ serverSide: true, key: certs.key, cert: certs.cert, alpn });
    const cctx = new binding.TlsContext({ ca: certs.cert, alpn });
    const problems = [];
    const msg = Buffer.from('hello');
    // 64 KiB: four records, more plaintext than a handshake left room for.
    const big = Buffer.alloc(65536, 'b');
    const pump = (s, c) => {
      for (let i = 0; i < 20; i++) {
        const x = c.takeOut(); if (x) s.receive(x);
        const y = s.takeOut(); if (y) c.receive(y);
        if (!x && !y) return;
      }
      throw new Error('the TLS pair did not settle');
    };
    const connect = () => {
      const s = new binding.TlsEngine(sctx);
      const c = new binding.TlsEngine(cctx, 'localhost');
      c.start();
      pump(s, c);
      return [s, c];
    };
    const [srv, cli] = connect();
    const plainOf = (e) => { const p = e.takePlain(); return p === undefined ? '' : p.toString(); };
    const want = (what, got, want) => { if (got !== want) problems.push(what + ': ' + JSON.stringify(got).slice(0, 80)); };
  `;
}

function tlsEntries(certs: Certs): Entry[] {
  const base = { setup: tlsSetup(certs), state: 'return problems;', teardown: 'srv.close(); cli.close(); sctx.close(); cctx.close();' };
  // A fresh pair per step, and 64 KiB from the server to decrypt (rec).
  const fresh = "const [s, c] = connect(); s.send(big); const rec = s.takeOut();";
  const closeFresh = 's.close(); c.close();';
  // A failed call must leave the engine as it was: the same bytes again give the plaintext once.
  const retry = (again: string, check: string) => `try { const r = err === undefined ? v : (${again}); ${check} } catch (x) { problems.push('after the step: ' + x.message); }`;
  return [
    {
      ...base,
      name: 'TLS engine receive of application data (decrypt, takePlain)',
      prep: fresh,
      call: 'return c.receive(rec);',
      post: `${retry('c.receive(rec)', "want('plaintext', plainOf(c), big.toString());")} ${closeFresh}`,
    },
    {
      ...base,
      name: 'TLS engine openInto, the batch fitting the pool',
      prep: `${fresh} const pool = Buffer.alloc(1 << 18);`,
      call: 'return c.openInto(rec, rec.length, pool, 0);',
      post: `${retry('c.openInto(rec, rec.length, pool, 0)', "want('bytes in the pool', r >>> 8, big.length); want('pool', pool.subarray(0, big.length).toString(), big.toString());")} ${closeFresh}`,
    },
    {
      ...base,
      name: 'TLS engine openInto, the batch too big for the pool (to takePlain)',
      prep: `${fresh} const pool = Buffer.alloc(16);`,
      call: 'return c.openInto(rec, rec.length, pool, 0);',
      post: `${retry('c.openInto(rec, rec.length, pool, 0)', "want('bytes in the pool', r >>> 8, 0); want('plaintext', plainOf(c), big.toString());")} ${closeFresh}`,
    },
    {
      ...base,
      name: 'TLS engine seal (encrypt to a Buffer)',
      call: 'return cli.seal(msg);',
      undo: "srv.receive(v); want('plaintext', plainOf(srv), 'hello');",
      post: "if (err !== undefined && cli.takeOut() !== undefined) problems.push('a failed seal left ciphertext');",
    },
    {
      ...base,
      name: 'TLS engine sealInto (encrypt into a view)',
      setup: `${tlsSetup(certs)} const sealed = Buffer.alloc(256);`,
      call: 'return cli.sealInto(msg, sealed);',
      undo: "srv.receive(sealed.subarray(0, v)); want('plaintext', plainOf(srv), 'hello');",
      post: "if (err !== undefined && cli.takeOut() !== undefined) problems.push('a failed sealInto left ciphertext');",
    },
    {
      ...base,
      name: 'TLS engine send, then takeOut',
      call: 'cli.send(msg); return cli.takeOut();',
      undo: "srv.receive(v); want('plaintext', plainOf(srv), 'hello');",
      post: 'const left = cli.takeOut(); if (left !== undefined) srv.receive(left); plainOf(srv);',
    },
    {
      ...base,
      name: 'TLS engine shutdown (close_notify)',
      prep: 'const [s, c] = connect();',
      call: 'return c.shutdown();',
      undo: "want('close_notify seen', (s.receive(c.takeOut()) & 2) !== 0, true);",
      post: closeFresh,
    },
    {
      ...base,
      name: 'TLS engine info (cipher, ALPN, peer certificate)',
      call: 'return [cli.info(), srv.info()];',
      undo: `want('client ALPN', v[0].alpn, 'h2'); want('server ALPN', v[1].alpn, 'h2');
             want('peer certificate', Buffer.isBuffer(v[0].peerCert), true); want('cipher', typeof v[0].cipher, 'string');`,
    },
    {
      ...base,
      // TLS 1.3 tickets come after the handshake; NewSessionCallback keeps each as DER. A ticket
      // the engine had no memory for is dropped (a full handshake next time), not an error.
      name: 'TLS client receive of session tickets, then takeSession',
      prep: `const s = new binding.TlsEngine(sctx);
             const c = new binding.TlsEngine(cctx, 'localhost');
             c.start(); s.receive(c.takeOut()); c.receive(s.takeOut()); s.receive(c.takeOut());
             const tickets = s.takeOut();`,
      call: 'const flags = c.receive(tickets); return [flags, c.takeSession()];',
      post: `${retry('[c.receive(tickets), c.takeSession()]', "if (!hit) want('a session', Buffer.isBuffer(r[1]), true);")} ${closeFresh}`,
    },
    {
      ...base,
      name: 'TLS client setSession (resumption offer)',
      setup: `${tlsSetup(certs)} const der = cli.takeSession(); if (der === undefined) throw new Error('no session to resume');`,
      prep: "const c = new binding.TlsEngine(cctx, 'localhost');",
      call: 'return c.setSession(der);',
      undo: "const s = new binding.TlsEngine(sctx); c.start(); pump(s, c); want('resumed', c.info().sessionReused, true); s.close();",
      post: 'c.close();',
    },
    {
      ...base,
      name: 'TLS server engine creation and its first handshake step (ClientHello in)',
      setup: `${tlsSetup(certs)} const hc = new binding.TlsEngine(cctx, 'localhost'); hc.start(); const hello = hc.takeOut(); hc.close();`,
      call: 'const s = new binding.TlsEngine(sctx); return [s, s.receive(hello)];',
      undo: "want('server flight', (v[1] & 8) !== 0, true); v[0].close();",
    },
    {
      ...base,
      name: 'TLS server resumeSni after a pause at SNI',
      prep: `const s = new binding.TlsEngine(sctx, undefined, true);
             const c = new binding.TlsEngine(cctx, 'localhost');
             c.start();
             if ((s.receive(c.takeOut()) & 16) === 0) problems.push('no pause at SNI');`,
      call: 'return s.resumeSni();',
      undo: "pump(s, c); s.receive(c.seal(msg)); want('plaintext after the handshake', plainOf(s), 'hello');",
      post: closeFresh,
    },
  ];
}

const ENTRIES: Entry[] = [
  ...availableSelectors().flatMap((kind) => selectorEntries(kind)),
  {
    // Those made before the failing one are closed by post, so a leak is the failing one's.
    name: 'native Selector creation (every kind)',
    setup: 'const made = [];',
    call: 'for (const k of binding.selectorKinds()) made.push(new binding.Selector(k));',
    post: 'for (const s of made.splice(0)) s.close();',
  },
  {
    name: 'loop host on a poll selector (threaded mode start)',
    setup: "const tsel = new binding.Selector('poll'); const tout = new Int32Array(128);",
    call: 'const h = new binding.LoopHost(tsel, () => {}, tout); h.arm(-1, false, true); return h;',
    undo: 'v.close();',
    teardown: 'tsel.close();',
  },
  { name: 'socket', call: 'return binding.socket(AF_INET, SOCK_STREAM);', undo: 'binding.close(v);' },
  { name: 'socketpair', call: 'return binding.socketpair(AF_UNIX, SOCK_STREAM, true);', undo: 'binding.close(v[0]); binding.close(v[1]);' },
  { name: 'pipe', call: 'return binding.pipe(true);', undo: 'binding.close(v[0]); binding.close(v[1]);' },
  {
    name: 'accept with a pending connection',
    setup: LISTENER,
    prep: `const c = binding.socket(AF_INET, SOCK_STREAM); binding.connect(c, AF_INET, ['127.0.0.1', port], 0);
           binding.select(Int32Array.of(lfd), new Int32Array(0), new Int32Array(0), 5);`,
    call: 'return binding.accept(lfd, AF_INET, 0);',
    // A failed accept may leave the connection queued: drain it unarmed so each step starts alike.
    undo: 'if (Array.isArray(v)) binding.close(v[0]);',
    post: `for (;;) { const r = binding.accept(lfd, AF_INET, 0); if (!Array.isArray(r)) break; binding.close(r[0]); }
           binding.close(c);`,
    teardown: 'binding.close(lfd);',
  },
  ...(
    [
      ['bind AF_INET', 'AF_INET', 'SOCK_STREAM', "['127.0.0.1', 0]"],
      ['bind AF_INET6', 'AF_INET6', 'SOCK_STREAM', "['::1', 0, 0, 0]"],
      ['bind AF_UNIX (path)', 'AF_UNIX', 'SOCK_STREAM', "require('node:path').join(dir, 'u' + Math.random())"],
      ['bind AF_UNIX (abstract)', 'AF_UNIX', 'SOCK_STREAM', "'\\0muxloop-enomem-' + process.pid + '-' + Math.random()"],
    ] as const
  ).map(([name, family, type, address]) => ({
    name,
    setup: "const dir = fs.mkdtempSync(require('node:path').join(require('node:os').tmpdir(), 'muxloop-enomem-'));",
    prep: `const s = binding.socket(${family}, ${type});`,
    call: `return binding.bind(s, ${family}, ${address});`,
    post: 'binding.close(s);',
    teardown: 'fs.rmSync(dir, { recursive: true, force: true });',
  })),
  {
    name: 'connect AF_INET (address parsed)',
    setup: LISTENER,
    prep: 'const s = binding.socket(AF_INET, SOCK_STREAM);',
    call: "return binding.connect(s, AF_INET, ['127.0.0.1', port], 0);",
    post: `binding.close(s);
           for (;;) { const r = binding.accept(lfd, AF_INET, 0); if (!Array.isArray(r)) break; binding.close(r[0]); }`,
    teardown: 'binding.close(lfd);',
  },
  {
    name: 'recv into a buffer',
    setup: UNIX_PAIR,
    prep: "binding.write(b, Buffer.from('y'));",
    call: 'return binding.recv(a, buf, 0, 16, 0, 0);',
    post: 'while (binding.recv(a, buf, 0, 16, 0, 0) > 0);',
    teardown: 'binding.close(a); binding.close(b);',
  },
  {
    name: 'recvfrom (UDP, sender address)',
    setup: UDP_SOCKET,
    prep: "binding.sendto(u, AF_INET, ['127.0.0.1', uport], Buffer.from('d'), 0, 1, 0, 0);",
    call: 'return binding.recvfrom(u, AF_INET, buf, 0, 16, 0, 0);',
    post: 'while (Array.isArray(binding.recvfrom(u, AF_INET, buf, 0, 16, 0, 0)));',
    teardown: 'binding.close(u);',
  },
  {
    name: 'send',
    setup: UNIX_PAIR,
    call: "return binding.send(a, Buffer.from('s'), 0, 1, 0, 0);",
    post: 'while (binding.recv(b, buf, 0, 16, 0, 0) > 0);',
    teardown: 'binding.close(a); binding.close(b);',
  },
  {
    name: 'sendto (UDP, address parsed)',
    setup: UDP_SOCKET,
    call: "return binding.sendto(u, AF_INET, ['127.0.0.1', uport], Buffer.from('d'), 0, 1, 0, 0);",
    post: 'while (Array.isArray(binding.recvfrom(u, AF_INET, buf, 0, 16, 0, 0)));',
    teardown: 'binding.close(u);',
  },
  {
    name: 'loop host (hosted mode start)',
    setup: "const hsel = new binding.Selector('epoll'); const hout = new Int32Array(128);",
    call: 'const h = new binding.LoopHost(hsel, () => {}, hout); h.arm(-1, false, true); return h;',
    undo: 'v.close();',
    teardown: 'hsel.close();',
  },
  {
    name: 'loop owner (owning mode start)',
    setup: "const osel = new binding.Selector('epoll');",
    call: 'return new binding.LoopOwner(osel);',
    undo: 'v.close();',
    teardown: 'osel.close();',
  },
  ...(haveUring()
    ? [
        { name: 'io_uring completion engine creation', call: 'return new binding.UringEngine(4, 256);', undo: 'v.close();' },
        {
          name: 'io_uring engine recv submission',
          setup: 'const eng = new binding.UringEngine(4, 256); const [a, b] = binding.socketpair(AF_UNIX, SOCK_STREAM, true); let id = 1;',
          call: 'eng.recv(a, id++); return eng.flush(0);',
          undo: 'eng.cancelFd(a, id++); eng.flush(0);',
          teardown: 'eng.close(); binding.close(a); binding.close(b);',
        },
        {
          // reap owns each accepted fd: a failure there must not lose the completions taken from
          // the ring (nor the fds they carry). Events are (id, op, res, flags); op 1 is accept.
          name: 'io_uring engine reap of an accept completion',
          setup: `${LISTENER} const eng = new binding.UringEngine(4, 256); let id = 1; let reaped = 0;`,
          prep: `eng.accept(lfd, id++); eng.flush(0);
                 const c = binding.socket(AF_INET, SOCK_STREAM); binding.connect(c, AF_INET, ['127.0.0.1', port], 0);
                 binding.select(Int32Array.of(eng.fileno), new Int32Array(0), new Int32Array(0), 5);`,
          call: 'return eng.reap(0);',
          undo: `for (let i = 0; i < v; i++) if (eng.events[4 * i + 1] === 1 && eng.events[4 * i + 2] >= 0) { binding.close(eng.events[4 * i + 2]); reaped++; }`,
          post: 'binding.close(c);',
          state: 'return null;',
          teardown: 'eng.close(); binding.close(lfd); if (reaped === 0) throw new Error("no accept completion reaped");',
        },
        // The engine's other methods, on one engine with a socketpair (a, b). Each step's
        // completions are reaped before the next (URING_PAIR's waitFor); `problems` collects
        // what went wrong after a step (a wrong completion, a retry that failed) and is the
        // state, as is a submission left queued by a failed call (flush(0) reports one).
        ...uringEntries(),
      ]
    : []),
  {
    name: 'subprocess spawn',
    call: "return binding.spawn('true', ['true'], undefined, undefined, [-2, -2, -2], true);",
    undo: `while (binding.reap(v[0], v[1]) === null) binding.select(new Int32Array(0), new Int32Array(0), new Int32Array(0), 0.01); if (v[1] >= 0) binding.close(v[1]);`,
  },
  { name: 'TLS context creation', call: 'return new binding.TlsContext({ serverSide: false });', undo: 'v.close();' },
  {
    name: 'TLS engine creation and first handshake step',
    setup: 'const tctx = new binding.TlsContext({ serverSide: false });',
    call: "const e = new binding.TlsEngine(tctx, 'example.test', false); e.start(); const hello = e.takeOut(); return [e, hello];",
    undo: 'v[0].close();',
    teardown: 'tctx.close();',
  },
  ...(CERTS !== null ? tlsEntries(CERTS) : []),
];

function haveUring(): boolean {
  return linux && availableSelectors().includes('io_uring');
}

describe.skipIf(!haveShim || !linux || process.env.MUXLOOP_SANITIZED)('F10 sweep: an allocation failure in any native entry point', () => {
  it.each(ENTRIES.map((e) => [e.name, e] as const))('%s: ENOMEM or success for every allocation, no abort, state and fds unchanged', (_name, entry) => {
    const r = runFaulty<Sweep>(script(entry), { timeoutMs: 60_000 });
    const where = `${entry.name}\n${r.stderr}`;
    expect(r.signal, where).toBeNull();
    expect(r.status, where).toBe(0);
    const { steps, allocations } = r.result;
    // The figures for the report: allocations made, and what each failed one turned into.
    const outcomes = steps.filter((s) => s.hit).map((s) => (s.err === undefined ? 'ok' : `${s.err.code ?? s.err.message}`));
    console.log(
      `F10 sweep ${entry.name}: ${allocations === null ? `>= ${CAP} (cap)` : allocations} native allocations; ` +
        `failed one -> [${outcomes.join(', ')}]; ${r.result.fdsBefore} fds before, left open after: [${r.result.fdsGained.join(', ')}]`,
    );
    for (const s of steps) {
      if (s.err !== undefined) {
        expect(s.hit, `${entry.name} N=${s.n}: failed without the fault: ${s.err.message}`).toBe(true);
        expect(s.err, `${entry.name} N=${s.n}`).toMatchObject({ name: 'Error', code: 'ENOMEM', syscall: 'malloc' });
      }
      expect(s.state, `${entry.name} N=${s.n}: state`).toEqual(r.result.state0);
    }
    expect(r.result.afterErr, `${entry.name}: the unarmed call after the sweep`).toBeUndefined();
    expect(r.result.fdsGained, `${entry.name}: fds left open`).toEqual([]);
  });
});

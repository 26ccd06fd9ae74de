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

const haveShim = faultShim() !== null;
if (!haveShim) console.warn(`F10 sweep skipped: ${shimError}`);
const linux = process.platform === 'linux';
const CAP = 64;

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

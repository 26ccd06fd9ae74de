// TLS engines side by side (issue 14): a 1 KiB echo server and handshakes per second for
//   node     Node's tls.createServer
//   native   muxloop's native engine (lib/net/tls: OpenSSL memory BIOs driven from the addon)
//   duplex   Node's tls.TLSSocket over a JS Duplex bridged to a muxloop transport (engine (b))
//   asyncio  Python asyncio's create_server(ssl=...), when python3 is present
// The server under test runs in its own process and reports its CPU time; the load is the same
// for all: C Node tls clients in this process doing 1 KiB ping-pong for D seconds, then
// `openssl s_time -new` (a neutral handshake generator) when the binary is present.
// Usage: node bench/tls.cjs [seconds=3] [connections=20] [rounds=3]   (after `npx tsc -p tsconfig.json`)
'use strict';
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const tls = require('node:tls');

const SECONDS = Number(process.argv[2] ?? 3);
const CONNS = Number(process.argv[3] ?? 20);
const ROUNDS = Number(process.argv[4] ?? 3);
const MSG = Buffer.alloc(1024, 7);

function certs() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'muxloop-tlsbench-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'k.pem', '-out', 'c.pem', '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], { cwd: dir, stdio: 'ignore' });
  // The files stay until the end: Python's ssl loads the chain from files.
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return { key: fs.readFileSync(path.join(dir, 'k.pem'), 'utf8'), cert: fs.readFileSync(path.join(dir, 'c.pem'), 'utf8'), keyFile: path.join(dir, 'k.pem'), certFile: path.join(dir, 'c.pem') };
}

function server(kind, pem) {
  const root = path.join(__dirname, '..', 'dist');
  const code = `
    const tls = require('node:tls');
    const { key, cert } = JSON.parse(process.env.PEM);
    const kind = ${JSON.stringify(kind)};
    const report = () => { const u = process.cpuUsage(); process.stdout.write(JSON.stringify({ cpu: (u.user + u.system) / 1e6 }) + '\\n'); process.exit(0); };
    process.stdin.on('end', report); process.stdin.resume();
    if (kind === 'node') {
      const s = tls.createServer({ key, cert }, (c) => c.on('data', (d) => c.write(d)));
      s.listen(0, '127.0.0.1', () => process.stdout.write(s.address().port + '\\n'));
    } else {
      const { newEventLoop } = require(${JSON.stringify(path.join(root, 'index.js'))});
      const { SSLProtocol, TlsContext } = require(${JSON.stringify(path.join(root, 'net', 'tls', 'index.js'))});
      const { Duplex } = require('node:stream');
      const loop = newEventLoop();
      const ctx = new TlsContext({ key, cert }, true);
      const nodeCtx = tls.createSecureContext({ key, cert });
      const listen = () => loop.createServer(() => {
          if (kind === 'native') {
            const app = { connectionMade(t) { this.t = t; }, dataReceived(d) { this.t.write(d); }, eofReceived() {}, connectionLost() {} };
            return new SSLProtocol(loop, app, ctx, { serverSide: true });
          }
          // engine (b): TLSSocket over a Duplex whose other side is the muxloop transport.
          let transport;
          const duplex = new Duplex({ read() {}, write(chunk, _e, cb) { transport.write(chunk); cb(); }, final(cb) { transport.close(); cb(); } });
          const sock = new tls.TLSSocket(duplex, { isServer: true, secureContext: nodeCtx });
          sock.on('data', (d) => sock.write(d));
          sock.on('error', () => {});
          return { connectionMade(t) { transport = t; }, dataReceived(d) { duplex.push(d); }, eofReceived() { duplex.push(null); }, connectionLost() { duplex.destroy(); } };
        }, '127.0.0.1', 0);
      // Owning mode (the loop blocks in its selector, libuv polled through it), as the project's
      // TCP echo bench runs its fastest muxloop servers; stdin's end still reaches Node's side.
      const srv = loop.runUntilCompleteSync(listen());
      process.stdout.write(srv.sockets[0].getsockname()[1] + '\\n');
      loop.runForeverSync();
    }`;
  // Python asyncio with ssl (its sslproto over the same OpenSSL 3.0 line), when python3 is here.
  const py = `
import asyncio, os, ssl, sys, time
class Echo(asyncio.Protocol):
    def connection_made(self, t): self.t = t
    def data_received(self, d): self.t.write(d)
async def main():
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(os.environ['CERT'], os.environ['KEY'])
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(Echo, '127.0.0.1', 0, ssl=ctx, backlog=1024)
    print(srv.sockets[0].getsockname()[1], flush=True)
    gone = loop.create_future()
    loop.add_reader(0, lambda: os.read(0, 4096) or gone.done() or gone.set_result(None))
    await gone
    print('{"cpu": %f}' % time.process_time(), flush=True)
asyncio.run(main())
`;
  const child = kind === 'asyncio'
    ? spawn('python3', ['-c', py], { env: { ...process.env, CERT: pem.certFile, KEY: pem.keyFile }, stdio: ['pipe', 'pipe', 'inherit'] })
    : spawn(process.execPath, ['-e', code], { env: { ...process.env, PEM: JSON.stringify(pem) }, stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve) => {
    let buf = '';
    child.stdout.on('data', function first(d) {
      buf += d;
      if (buf.includes('\n')) {
        child.stdout.off('data', first);
        resolve({ port: Number(buf.trim()), stop: () => new Promise((r) => { let o = ''; child.stdout.on('data', (x) => (o += x)); child.on('close', () => r(JSON.parse(o))); child.stdin.end(); }) });
      }
    });
  });
}

async function echo(port, pem) {
  let count = 0;
  const deadline = Date.now() + SECONDS * 1000;
  const socks = await Promise.all(Array.from({ length: CONNS }, () => new Promise((resolve) => {
    const c = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: pem.cert }, () => resolve(c));
  })));
  await Promise.all(socks.map((c) => new Promise((resolve) => {
    let got = 0;
    c.on('data', (d) => {
      got += d.length;
      while (got >= MSG.length) {
        got -= MSG.length;
        count++;
        if (Date.now() < deadline) c.write(MSG); else { c.destroy(); resolve(); return; }
      }
    });
    c.write(MSG);
  })));
  return count / SECONDS;
}

function handshakes(port) {
  try {
    const out = execFileSync('openssl', ['s_time', '-connect', `127.0.0.1:${port}`, '-new', '-time', String(SECONDS)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const m = /(\d+) connections in ([\d.]+) real seconds/.exec(out);
    return m ? Number(m[1]) / Number(m[2]) : NaN;
  } catch {
    return NaN;
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

(async () => {
  const pem = certs();
  // Rounds interleave the kinds and the medians are reported: the machine is shared, and one
  // run's msgs/s moves by +-30% with the neighbours' load.
  const samples = { node: [], native: [], duplex: [] };
  const hasPython = (() => {
    try {
      execFileSync('python3', ['-c', 'import ssl, asyncio'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();
  if (hasPython) samples.asyncio = [];
  else console.log('python3 with ssl not found: the asyncio column is skipped');
  for (let round = 0; round < ROUNDS; round++) {
    for (const kind of Object.keys(samples)) {
      const s1 = await server(kind, pem);
      const c0 = process.cpuUsage();
      const msgs = await echo(s1.port, pem);
      const c1 = process.cpuUsage(c0);
      const { cpu } = await s1.stop();
      const s2 = await server(kind, pem);
      const hs = handshakes(s2.port);
      const { cpu: hsCpu } = await s2.stop();
      samples[kind].push({ msgs, cpuPerMsg: cpu / (msgs * SECONDS), genPerMsg: (c1.user + c1.system) / 1e6 / (msgs * SECONDS), hs, hsCpu: hsCpu / (hs * SECONDS) });
    }
  }
  const rows = Object.entries(samples).map(([kind, xs]) => ({
    kind,
    msgsPerSec: Math.round(median(xs.map((x) => x.msgs))),
    serverCpuSecPer100kMsgs: +(median(xs.map((x) => x.cpuPerMsg)) * 1e5).toFixed(2),
    loadgenCpuSecPer100kMsgs: +(median(xs.map((x) => x.genPerMsg)) * 1e5).toFixed(2),
    handshakesPerSec: Math.round(median(xs.map((x) => x.hs))),
    serverCpuMsPerHandshake: +(median(xs.map((x) => x.hsCpu)) * 1e3).toFixed(2),
  }));
  console.log(`TLS echo 1 KiB x ${CONNS} connections, ${SECONDS} s per run, median of ${ROUNDS} rounds; handshakes: openssl s_time -new`);
  console.table(rows);
  const node = rows[0];
  for (const r of rows.slice(1)) {
    console.log(`${r.kind}: ${(r.msgsPerSec / node.msgsPerSec).toFixed(2)}x Node tls msgs/s, ${(node.serverCpuSecPer100kMsgs / r.serverCpuSecPer100kMsgs).toFixed(2)}x less server CPU per message, ${(r.handshakesPerSec / node.handshakesPerSec).toFixed(2)}x handshakes/s`);
  }
})();

// The bench harness works end to end on a tiny scale: a callbacks worker per scheduler, the C load
// generator against the C echo server for 0.3 s, and the report rendering. No timing thresholds:
// the figures only have to exist. Skipped where there is no C compiler.
import { execFileSync, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const requireCjs = createRequire(__filename);
const BENCH = path.join(__dirname, '..', 'bench');
const hasCc = spawnSync('sh', ['-c', 'command -v cc'], { stdio: 'ignore' }).status === 0;

describe('bench harness', () => {
  it.each(['callSoon-hosted', 'callSoon-owning', 'setImmediate'])('callbacks worker runs %s', (peer) => {
    const out = execFileSync(process.execPath, [path.join(BENCH, 'workers', 'callbacks.cjs'), `--peer=${peer}`, '--variant=chained', '--n=1000'], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    const result = JSON.parse(out.trim().split('\n').pop() as string);
    expect(result.count).toBe(1000);
    expect(result.opsPerSec).toBeGreaterThan(0);
  });

  it.each(['muxloop-spawn', 'node-spawn', 'muxloop-communicate', 'node-pipe'])('subprocess worker runs %s', (peer) => {
    const out = execFileSync(process.execPath, [path.join(BENCH, 'workers', 'subprocess.cjs'), `--peer=${peer}`, '--n=5', '--mib=1'], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    const result = JSON.parse(out.trim().split('\n').pop() as string);
    expect(result.ms).toBeGreaterThan(0);
    if (peer.endsWith('spawn')) expect(result.failures).toBe(0);
    else expect(result).toMatchObject({ bytes: 1 << 20, code: 0 });
  });

  it.skipIf(!hasCc)('load generator against the C echo server', async () => {
    const { startServer, load, stop } = requireCjs(path.join(BENCH, 'lib', 'echo.cjs'));
    const server = await startServer('c-epoll');
    try {
      const r = await load(server, { conns: 10, size: 64, depth: 2, warmup: 0.05, duration: 0.3 });
      expect(r.connsOk).toBe(10);
      expect(r.msgs).toBeGreaterThan(0);
      expect(r.p99Us).toBeGreaterThan(0);
      expect(r.serverCpuSeconds).toBeGreaterThanOrEqual(0);
      expect(r.errors).toBe(0);
    } finally {
      await stop(server.child);
    }
  });

  it.skipIf(!hasCc)('TLS load generator against the muxloop and Node TLS servers (echo and handshakes)', async () => {
    const { buildC, runJson, stop } = requireCjs(path.join(BENCH, 'lib', 'common.cjs'));
    const { makeCert, startServer } = requireCjs(path.join(BENCH, 'cases', 'tls.cjs'));
    const bin = buildC('tls_loadgen.c', ['-lssl', '-lcrypto']);
    if (bin.skipped) {
      console.warn(`bench-smoke: TLS load generator not built (${bin.skipped}): needs libssl-dev`);
      return;
    }
    const pem = makeCert();
    for (const peer of ['muxloop-tls-owning', 'node-tls']) {
      const server = await startServer(peer, pem);
      try {
        const echo = await runJson([bin.path, `--port=${server.port}`, `--server-pid=${server.child.pid}`, '--conns=4', '--size=1024', '--warmup=0.05', '--duration=0.3'], { timeoutMs: 20_000 });
        expect(echo).toMatchObject({ mode: 'echo', connsOk: 4, errors: 0 });
        expect(echo.count).toBeGreaterThan(0);
        const hs = await runJson([bin.path, `--port=${server.port}`, '--conns=2', '--handshakes=1', '--warmup=0.05', '--duration=0.3'], { timeoutMs: 20_000 });
        expect(hs).toMatchObject({ mode: 'handshakes', errors: 0 });
        expect(hs.count).toBeGreaterThan(0);
      } finally {
        await stop(server.child);
      }
    }
    requireCjs('node:fs').rmSync(pem.dir, { recursive: true, force: true });
  });

  // The pipelined key-value case: every reply byte is checked by the generator, so errors 0 means
  // the shared parser answered 16 pipelined GET/SET per connection correctly on each server.
  it.skipIf(!hasCc).each(['muxloop-protocol-hosted', 'muxloop-streams', 'node-net'])('kv load generator against the %s KV server', async (peer) => {
    const { startServer, load, stop, KV_SERVERS } = requireCjs(path.join(BENCH, 'lib', 'echo.cjs'));
    const server = await startServer(peer, { servers: KV_SERVERS });
    try {
      const r = await load(server, { proto: 'kv', conns: 4, depth: 16, warmup: 0.05, duration: 0.2 });
      expect(r.proto).toBe('kv');
      expect(r.connsOk).toBe(4);
      expect(r.msgs).toBeGreaterThan(0);
      expect(r.errors).toBe(0);
    } finally {
      await stop(server.child);
    }
  });

  it('renders a run as a table, Markdown and SVG', () => {
    const { terminal, markdown, svg } = requireCjs(path.join(BENCH, 'report.cjs'));
    const row = (peer: string, median: number) => ({ peer, samples: [median], median, min: median, max: median, extra: {} });
    const run = {
      mode: 'quick',
      command: 'test',
      roundsNote: '1 round',
      durationSeconds: 1,
      machine: { cpuModel: 'cpu', cores: 2, memoryGiB: 1, kernel: 'k', arch: 'x64', node: 'v20', loadAverage: [0, 0, 0], taskset: false, fdHardLimit: '1024', date: new Date().toISOString() },
      cases: [
        {
          id: 'callbacks',
          title: 'Callbacks',
          unit: 'callbacks/s',
          higherIsBetter: true,
          groups: [{ id: 'g', label: 'group', reference: 'setImmediate', rows: [row('callSoon-hosted', 2), row('setImmediate', 1), { peer: 'nextTick', skipped: 'why' }] }],
          targets: [{ label: 'callSoon >= 2x', ratio: 2, op: '>=', bound: 2, pass: true, detail: '' }],
          notes: [],
        },
      ],
    };
    expect(terminal(run)).toMatch(/PASS {2}callSoon >= 2x/);
    expect(markdown(run, 'x.svg')).toContain('| group | callSoon (hosted) | 2.00 | 2.00-2.00 | 2.00 |');
    const chart: string = svg(run);
    expect(chart.startsWith('<svg')).toBe(true);
    expect(chart).toContain('callSoon (hosted), group: 2.00 callbacks/s');
  });
});

'use strict';
// Case 9: subprocesses. (1) Spawn-and-wait of `true`, n times in a row: createSubprocessExec +
// wait() on a hosted loop vs child_process.spawn + 'exit' (stdio on /dev/null for both). (2) `cat`
// of 256 MiB: Process.communicate(input) vs a Node child_process stream pipe (stdin.end(input),
// stdout collected, Buffer.concat). Figures are medians of wall times in milliseconds.
const path = require('node:path');
const { collect, node, runJson, ratioOf, target } = require('../lib/common.cjs');

const WORKER = path.join(__dirname, '..', 'workers', 'subprocess.cjs');
const SPAWN = ['muxloop-spawn', 'node-spawn'];
const CAT = ['muxloop-communicate', 'node-pipe'];

module.exports = {
  id: 'subprocess',
  title: 'Subprocesses',
  async run({ quick }) {
    const n = 1000;
    const mib = 256;
    const rounds = quick ? 2 : 5;
    const groups = [
      { id: 'spawn', label: `spawn and wait of true x ${n.toLocaleString('en')}`, reference: 'node-spawn', peers: SPAWN },
      { id: 'cat', label: `cat of ${mib} MiB (write, read back, exit)`, reference: 'node-pipe', peers: CAT },
    ];
    const results = await collect({
      caseId: 'subprocess',
      groups,
      peers: [...SPAWN, ...CAT],
      rounds,
      unit: 'ms',
      runOne: async (group, peer) => {
        const r = await runJson([node, WORKER, `--peer=${peer}`, `--n=${n}`, `--mib=${mib}`], { timeoutMs: 180_000 });
        if (r.skipped) return r;
        if (group.id === 'spawn' && r.failures !== 0) return { failed: `${r.failures} children did not exit 0` };
        if (group.id === 'cat' && (r.bytes !== mib << 20 || r.code !== 0)) return { failed: `cat gave ${r.bytes} bytes, code ${r.code}` };
        return { value: r.ms };
      },
    });
    // Node's time over muxloop's: >= 1 means muxloop is at least as fast.
    const speedup = (group, ours, theirs) => ratioOf(results, group, theirs, ours);
    const targets = [
      target('spawn-and-wait of true >= 1x child_process.spawn', speedup('spawn', 'muxloop-spawn', 'node-spawn'), '>=', 1),
      target('cat 256 MiB via communicate >= 1x a Node stream pipe', speedup('cat', 'muxloop-communicate', 'node-pipe'), '>=', 1),
    ];
    return {
      id: 'subprocess',
      title: 'Subprocesses',
      unit: 'ms',
      higherIsBetter: false,
      description: `Medians of wall times (milliseconds; lower is better), one child process per run, ${rounds} rounds. Target ratios are Node's time over muxloop's.`,
      groups: results,
      targets,
      notes: [],
    };
  },
};

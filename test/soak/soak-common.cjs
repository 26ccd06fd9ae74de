'use strict';
// Shared by the soak scripts: arguments, fd and memory figures, and the ulimit -n re-exec.
const fs = require('node:fs');
const { spawnSync } = require('node:child_process');

/** `--name value` arguments over defaults (numbers stay numbers). */
function parseArgs(defaults) {
  const out = { ...defaults };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '');
    if (!(key in out)) throw new Error(`unknown option --${key} (known: ${Object.keys(out).join(', ')})`);
    const value = argv[++i];
    out[key] = typeof defaults[key] === 'number' ? Number(value) : value;
  }
  return out;
}

const openFds = () => fs.readdirSync('/proc/self/fd').length - 1;
const rssMb = () => process.memoryUsage().rss / 1048576;
const heapMb = () => process.memoryUsage().heapUsed / 1048576;

/** Several full GCs with loop turns between them, so finalizers run (needs --expose-gc). */
async function settleGc(turn) {
  for (let i = 0; i < 4; i++) {
    global.gc();
    await turn();
  }
}

function limits() {
  const r = spawnSync('sh', ['-c', 'ulimit -Sn; ulimit -Hn'], { encoding: 'utf8' });
  const [soft, hard] = r.stdout.trim().split('\n').map((x) => (x === 'unlimited' ? Infinity : Number(x)));
  return { soft, hard };
}

/**
 * Node has no setrlimit: when this process's soft fd limit is below `needed`, re-run the script
 * under `sh -c 'ulimit -n N'`, with N = min(needed, hard limit) (raising the soft limit up to the
 * hard one needs no privilege). Returns true in the parent, which should then exit with the child's
 * status; false when the limit is already enough (or already raised).
 */
function ensureFdLimit(needed, nodeFlags) {
  const { soft, hard } = limits();
  if (soft >= needed || process.env.MUXLOOP_SOAK_RAISED) return false;
  const target = Math.min(needed, hard);
  console.log(`ulimit -n: soft ${soft}, hard ${hard}; ${needed} needed, raising the soft limit to ${target}`);
  const r = spawnSync('sh', ['-c', `ulimit -Sn ${target} && exec "$@"`, 'sh', process.execPath, ...nodeFlags, process.argv[1], ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, MUXLOOP_SOAK_RAISED: '1' },
  });
  process.exitCode = r.status ?? 1;
  return true;
}

module.exports = { parseArgs, openFds, rssMb, heapMb, settleGc, limits, ensureFdLimit };

'use strict';
// Starts redis-server (when installed) on a free loopback port, in the foreground with no
// persistence, and prints "PORT <n>" once it accepts connections; "SKIP <reason>" without it.
// It execs nothing itself: the bench measures the pid it prints ("PID <n>"), redis-server's.
const { spawn, spawnSync } = require('node:child_process');
const net = require('node:net');
const stdinIsPipe = require('./stdin.cjs');

const bin = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).stdout.trim();
if (!bin) {
  console.log('SKIP redis-server is not installed (apt-get install redis-server)');
  process.exit(0);
}
const probe = net.createServer().listen(0, '127.0.0.1', () => {
  const port = probe.address().port;
  probe.close(() => {
    const child = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--protected-mode', 'no'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      if (text === undefined) return;
      text += chunk;
      if (/Ready to accept connections/.test(text)) {
        text = undefined;
        console.log(`PID ${child.pid}`);
        console.log(`PORT ${port}`);
      }
    });
    child.on('exit', (code) => process.exit(code ?? 1));
    const end = () => child.kill('SIGKILL');
    process.on('SIGTERM', () => {
      end();
      process.exit(0);
    });
    process.on('exit', end);
    if (stdinIsPipe()) process.stdin.on('end', () => process.exit(0)).resume();
  });
});

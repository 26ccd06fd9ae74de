'use strict';
// The echo servers, by peer name: how to start each, and why it is skipped when it cannot run.
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { buildC, node, which } = require('../lib/common.cjs');

const dir = __dirname;

let pythonCache;
/** The python3 to use: one with uvloop if any candidate has it (so both Python peers share it). */
function python() {
  if (pythonCache !== undefined) return pythonCache;
  const candidates = [...new Set([which('python3'), '/usr/bin/python3'].filter(Boolean))];
  const works = (py, mod) => spawnSync(py, ['-c', `import ${mod}`], { stdio: 'ignore' }).status === 0;
  const withAsyncio = candidates.filter((py) => works(py, 'asyncio'));
  const withUvloop = withAsyncio.find((py) => works(py, 'uvloop'));
  pythonCache = { asyncio: withUvloop ?? withAsyncio[0], uvloop: withUvloop };
  return pythonCache;
}

/** Peer name -> () => argv | { skipped }. */
const SERVERS = {
  'c-epoll': () => {
    const bin = buildC('servers/echo_epoll.c');
    return bin.skipped ? bin : [bin.path];
  },
  'c-uring': () => {
    const bin = buildC('servers/echo_uring.c');
    return bin.skipped ? bin : [bin.path];
  },
  'muxloop-uring-owning': () => [node, path.join(dir, 'muxloop-protocol.cjs'), '--mode=owning', '--io=uring'],
  'muxloop-uring-hosted': () => [node, path.join(dir, 'muxloop-protocol.cjs'), '--mode=hosted', '--io=uring'],
  'muxloop-protocol-owning': () => [node, path.join(dir, 'muxloop-protocol.cjs'), '--mode=owning'],
  'muxloop-protocol-hosted': () => [node, path.join(dir, 'muxloop-protocol.cjs'), '--mode=hosted'],
  'muxloop-buffered': () => [node, path.join(dir, 'muxloop-protocol.cjs'), '--mode=owning', '--buffered'],
  'muxloop-streams': () => [node, path.join(dir, 'muxloop-streams.cjs'), '--mode=owning'],
  'muxloop-selectors': () => [node, path.join(dir, 'selectors.cjs')],
  'node-net': () => [node, path.join(dir, 'node-net.cjs')],
  asyncio: () => {
    const py = python().asyncio;
    return py ? [py, path.join(dir, 'asyncio_echo.py')] : { skipped: 'python3 with asyncio not found' };
  },
  uvloop: () => {
    const py = python().uvloop;
    return py
      ? [py, path.join(dir, 'asyncio_echo.py'), '--uvloop']
      : { skipped: 'uvloop is not installed (apt-get install python3-uvloop, or pip install uvloop)' };
  },
};

/** TLS echo servers (bench/cases/tls.cjs): peer name -> (pem files) => argv | { skipped }. */
const TLS_SERVERS = {
  'node-tls': ({ key, cert }) => [node, path.join(dir, 'tls-node.cjs'), `--key=${key}`, `--cert=${cert}`],
  'muxloop-tls-owning': ({ key, cert }) => [node, path.join(dir, 'tls-muxloop.cjs'), '--mode=owning', `--key=${key}`, `--cert=${cert}`],
  'muxloop-tls-hosted': ({ key, cert }) => [node, path.join(dir, 'tls-muxloop.cjs'), '--mode=hosted', `--key=${key}`, `--cert=${cert}`],
  'asyncio-ssl': ({ key, cert }) => {
    const py = python().asyncio;
    return py ? [py, path.join(dir, 'tls_asyncio.py'), `--key=${key}`, `--cert=${cert}`] : { skipped: 'python3 with asyncio not found' };
  },
};

/** The pipelined key-value servers (bench/cases/pipelined.cjs), by peer name, the same way. */
const KV_SERVERS = {
  redis: () => [node, path.join(dir, 'kv-redis.cjs')],
  'muxloop-protocol-owning': () => [node, path.join(dir, 'kv-muxloop.cjs'), '--api=protocol', '--mode=owning'],
  'muxloop-protocol-hosted': () => [node, path.join(dir, 'kv-muxloop.cjs'), '--api=protocol', '--mode=hosted'],
  'muxloop-streams': () => [node, path.join(dir, 'kv-muxloop.cjs'), '--api=streams', '--mode=owning'],
  'node-net': () => [node, path.join(dir, 'kv-node-net.cjs')],
};

module.exports = { SERVERS, TLS_SERVERS, KV_SERVERS, python };

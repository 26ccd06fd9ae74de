#!/usr/bin/env node
// Fetches an https:// page with muxloop streams from a local Node https server, with the server's
// certificate verified (the `ca` is the test certificate, and the host name is checked as Node's
// tls.checkServerIdentity does). The certificate is made on the spot with `openssl req`.
//
//   node examples/https-fetch.js
//
// Prints the status line and the body, last one JSON line for the test that runs this example.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const https = require('node:https');
const os = require('node:os');
const path = require('node:path');
const { run, openConnection } = require('muxloop');

function selfSigned() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'muxloop-https-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'],
      { cwd: dir, stdio: 'ignore' });
    return { key: fs.readFileSync(path.join(dir, 'key.pem')), cert: fs.readFileSync(path.join(dir, 'cert.pem')) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function fetchPage(port, ca) {
  // ssl: the options tls.createSecureContext takes; verification is on by default.
  const [reader, writer] = await openConnection('127.0.0.1', port, { ssl: { ca }, serverHostname: 'localhost' });
  writer.write('GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
  const status = (await reader.readline()).toString().trim();
  const response = (await reader.read(-1)).toString();
  const body = response.slice(response.indexOf('\r\n\r\n') + 4);
  const cipher = writer.getExtraInfo('cipher').name;
  const protocol = writer.getExtraInfo('tlsVersion');
  writer.close();
  await writer.waitClosed();
  return { status, body, cipher, protocol };
}

const { key, cert } = selfSigned();
const server = https.createServer({ key, cert }, (req, res) => res.end(`hello over TLS, you asked ${req.url}\n`));
server.listen(0, '127.0.0.1', () => {
  run(() => fetchPage(server.address().port, cert))
    .then((result) => {
      console.log(result.status);
      console.log(result.body.trim());
      console.log(JSON.stringify(result));
    })
    .finally(() => server.close());
});

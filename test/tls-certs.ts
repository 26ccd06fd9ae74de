// Certificates for the TLS tests, made at run time with Debian's `openssl` in a temporary
// directory: a self-signed one for localhost/127.0.0.1 and an expired one (`openssl ca` with
// -startdate/-enddate in 2020, since `openssl req -days` cannot go negative). Without the binary
// the TLS suites skip with a message.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

export interface Certs {
  key: string;
  cert: string;
  expiredKey: string;
  expiredCert: string;
}

export function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function makeCerts(): Certs {
  const dir = mkdtempSync(path.join(tmpdir(), 'muxloop-tls-'));
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    run('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'k.pem', '-out', 'c.pem',
      '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1');
    writeFileSync(path.join(dir, 'ca.cnf'), [
      '[ca]', 'default_ca = d', '[d]', 'database = index.txt', 'new_certs_dir = .', 'serial = serial', 'default_md = sha256',
      'policy = p', 'copy_extensions = copy', 'unique_subject = no', '[p]', 'commonName = supplied', '',
    ].join('\n'));
    writeFileSync(path.join(dir, 'index.txt'), '');
    writeFileSync(path.join(dir, 'serial'), '01\n');
    run('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ok.pem', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost', '-out', 'o.csr');
    run('ca', '-batch', '-config', 'ca.cnf', '-selfsign', '-keyfile', 'ok.pem', '-in', 'o.csr', '-startdate', '20200101000000Z',
      '-enddate', '20200201000000Z', '-out', 'oc.pem');
    const read = (name: string) => readFileSync(path.join(dir, name), 'utf8');
    return { key: read('k.pem'), cert: read('c.pem'), expiredKey: read('ok.pem'), expiredCert: read('oc.pem') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A self-signed certificate for `name` (DNS SAN), for the SNI tests. */
export function makeNamedCert(name: string): { key: string; cert: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'muxloop-tls-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'k.pem',
      '-out', 'c.pem', '-days', '2', '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name}`], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    return { key: readFileSync(path.join(dir, 'k.pem'), 'utf8'), cert: readFileSync(path.join(dir, 'c.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

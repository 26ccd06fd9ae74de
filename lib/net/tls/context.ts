/**
 * TLS contexts for muxloop's native engine (native/tls/engine.h): the options of Node's
 * `tls.createSecureContext` (plus `requestCert`, `rejectUnauthorized`, `ALPNProtocols`,
 * `checkServerIdentity`), turned into one native SSL_CTX that many connections share.
 *
 * A Node `tls.SecureContext` instance is refused (`ERR_TLS_SECURE_CONTEXT_UNSUPPORTED`): Node 20
 * has no public way for an addon to reach its SSL_CTX. The only route is the undocumented
 * `secureContext.context._external` (a bare pointer an addon cannot validate, so a forged one
 * would crash the process); Node's `crypto::GetSSLCtx` C++ API (nodejs/node#62254) is the
 * future public one. Pass the options object you would give `tls.createSecureContext` instead.
 *
 * Client defaults, as Node's and Python's: the peer is verified against Node's root store
 * (`tls.rootCertificates`) and the host name (`tls.checkServerIdentity`).
 * @packageDocumentation
 */
import * as tls from 'node:tls';
import { codedError, invalidArgType } from '../../core/errors';
import { checkOptionKeys, optionKeys } from '../../core/options';
import { binding, type NativeTlsContext } from '../../core/native';

/** PEM text or bytes, or a list of them (as `tls.createSecureContext` takes). */
export type PemInput = string | Buffer | ArrayBufferView | ReadonlyArray<string | Buffer | ArrayBufferView>;

/** What `ssl` takes: the options of `tls.createSecureContext` plus the connection-level ones. */
export interface TlsOptions {
  /** Private key (PEM). Required on a server. */
  key?: PemInput;
  /** Certificate chain (PEM), leaf first. Required on a server. */
  cert?: PemInput;
  /** Passphrase of an encrypted `key`. */
  passphrase?: string;
  /** Trust anchors (PEM); default Node's `tls.rootCertificates`. */
  ca?: PemInput;
  /** OpenSSL cipher list; `TLS_*` names go to the TLS 1.3 suites, as Node splits them. */
  ciphers?: string;
  /** `'TLSv1'` .. `'TLSv1.3'`; default `'TLSv1.2'` (Node's). */
  minVersion?: tls.SecureVersion;
  /** Default `'TLSv1.3'`. */
  maxVersion?: tls.SecureVersion;
  /** ALPN protocols, most preferred first (strings, or Node's wire-format Buffer). */
  ALPNProtocols?: readonly string[] | Buffer | Uint8Array;
  /** Server: ask the client for a certificate. Default false. */
  requestCert?: boolean;
  /**
   * Fail the handshake when the peer's certificate does not verify (client: the server's, always
   * asked; server: the client's, with `requestCert`). Default true, as Node's.
   */
  rejectUnauthorized?: boolean;
  /** Client: host name check, Node's `tls.checkServerIdentity` by default. */
  checkServerIdentity?: (hostname: string, cert: tls.PeerCertificate) => Error | undefined;
  /**
   * Server: picks the certificate per SNI name, Node's `SNICallback` shape. Called during the
   * handshake of a client that sent a name; answer `callback(null, context)` with a server
   * `TlsContext` (prepare them once: an options object here builds a new SSL_CTX per handshake),
   * or `callback(null)` to keep this context's certificate, or `callback(error)` to refuse the
   * connection. The chosen context lends its certificate, key and chain; verification, ALPN and
   * tickets stay this context's (as Node's). Not called for a client that sends no name. A throw
   * or a bad answer (not an open server `TlsContext`, options or null) fails that handshake only
   * and reaches the loop's exception handler; no answer lets `sslHandshakeTimeout` end it.
   */
  SNICallback?: SNICallback;
}

/** `TlsOptions.SNICallback`: Node's `(servername, cb)` shape. */
export type SNICallback = (servername: string, callback: (error: Error | null, context?: TlsContext | TlsOptions | null) => void) => void;

// A Node option this engine does not implement (secureOptions, ecdhCurve, ...) is refused, not
// ignored: ignoring a security setting would weaken the connection without a word.
const TLS_KEYS = optionKeys<TlsOptions>()(['key', 'cert', 'passphrase', 'ca', 'ciphers', 'minVersion', 'maxVersion', 'ALPNProtocols', 'requestCert', 'rejectUnauthorized', 'checkServerIdentity', 'SNICallback']);

/** A prepared context: share one across connections (handshakes reuse its parsed keys and roots). */
export class TlsContext {
  /** @internal */ readonly native: NativeTlsContext;
  /** True for a server context. */
  readonly serverSide: boolean;
  /** @internal */ readonly rejectUnauthorized: boolean;
  /** @internal */ readonly requestCert: boolean;
  /** @internal */ readonly checkServerIdentity: (hostname: string, cert: tls.PeerCertificate) => Error | undefined;
  /** @internal */ readonly sniCallback: SNICallback | undefined;
  #closed = false;

  /**
   * Builds a context from `tls.createSecureContext`-style options. Errors: `TypeError` for a
   * malformed option, an `Error` with Node's `ERR_SSL_*` code for what OpenSSL refuses (a key
   * that does not match the certificate, an unknown cipher, ...).
   */
  constructor(options: TlsOptions = {}, serverSide = false) {
    if (options === null || typeof options !== 'object') throw invalidArgType('ssl', 'an object of TLS options', options);
    if (isNodeSecureContext(options)) {
      throw codedError(
        'ERR_TLS_SECURE_CONTEXT_UNSUPPORTED',
        'a Node tls.SecureContext cannot be used by the native TLS engine (Node exposes no SSL_CTX to addons): ' +
          'pass the options you would give tls.createSecureContext ({ key, cert, ca, ... }) instead',
        TypeError,
      );
    }
    checkOptionKeys(options, TLS_KEYS, 'ssl');
    const o = options;
    const ciphers = o.ciphers === undefined ? undefined : String(o.ciphers).split(':');
    const native: Record<string, unknown> = {
      serverSide,
      cert: pem(o.cert, 'cert'),
      key: pem(o.key, 'key'),
      ca: o.ca === undefined ? (serverSide && !o.requestCert ? undefined : defaultRoots()) : pem(o.ca, 'ca'),
      passphrase: o.passphrase,
      ciphers: ciphers?.filter((c) => !c.startsWith('TLS_')).join(':') || undefined,
      ciphersuites: ciphers?.filter((c) => c.startsWith('TLS_')).join(':') || undefined,
      minVersion: version(o.minVersion, 'minVersion', 0x0303),
      maxVersion: version(o.maxVersion, 'maxVersion', 0x0304),
      alpn: alpnWire(o.ALPNProtocols),
      requestCert: serverSide && o.requestCert === true,
      requireCert: serverSide && o.requestCert === true && o.rejectUnauthorized !== false,
    };
    if (o.passphrase !== undefined && typeof o.passphrase !== 'string') throw invalidArgType('ssl.passphrase', 'of type string', o.passphrase);
    if (o.checkServerIdentity !== undefined && typeof o.checkServerIdentity !== 'function') {
      throw invalidArgType('ssl.checkServerIdentity', 'a function', o.checkServerIdentity);
    }
    if (o.SNICallback !== undefined && typeof o.SNICallback !== 'function') throw invalidArgType('ssl.SNICallback', 'a function', o.SNICallback);
    if (o.SNICallback !== undefined && !serverSide) {
      throw codedError('ERR_INVALID_ARG_VALUE', 'ssl.SNICallback is for a server context', TypeError);
    }
    this.native = new binding.TlsContext(native);
    this.serverSide = serverSide;
    this.rejectUnauthorized = o.rejectUnauthorized !== false;
    this.requestCert = serverSide ? o.requestCert === true : true;
    this.checkServerIdentity = o.checkServerIdentity ?? tls.checkServerIdentity;
    this.sniCallback = o.SNICallback;
  }

  /** @internal `close()` ran (an SNICallback answer must not be a closed context). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Frees this context's SSL_CTX reference (live connections keep theirs). Idempotent. */
  close(): void {
    this.#closed = true;
    this.native.close();
  }
}

let defaultRootsPem: string | undefined;
function defaultRoots(): string {
  return (defaultRootsPem ??= tls.rootCertificates.join('\n'));
}

let defaultClient: TlsContext | undefined;

/**
 * The context for an `ssl` argument: a `TlsContext` as is, `true` the shared default client
 * context (verification on), an options object a new context.
 */
export function toTlsContext(ssl: unknown, serverSide: boolean): TlsContext {
  if (ssl instanceof TlsContext) {
    if (ssl.serverSide !== serverSide) {
      throw codedError('ERR_INVALID_ARG_VALUE', `ssl is a ${ssl.serverSide ? 'server' : 'client'} context, a ${serverSide ? 'server' : 'client'} one is needed`, TypeError);
    }
    return ssl;
  }
  if (ssl === true && !serverSide) return (defaultClient ??= new TlsContext({}, false));
  return new TlsContext(ssl as TlsOptions, serverSide);
}

function isNodeSecureContext(value: object): boolean {
  const ctor = (value as { constructor?: { name?: string } }).constructor;
  return ctor?.name === 'SecureContext' && typeof (value as { context?: unknown }).context === 'object';
}

function pem(value: PemInput | undefined, name: string): string | undefined {
  if (value === undefined) return undefined;
  const one = (v: unknown): string => {
    if (typeof v === 'string') return v;
    if (ArrayBuffer.isView(v)) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('latin1');
    throw invalidArgType(`ssl.${name}`, 'a string, a Buffer or an array of them', v);
  };
  return Array.isArray(value) ? value.map(one).join('\n') : one(value);
}

const VERSIONS: Record<string, number> = { TLSv1: 0x0301, 'TLSv1.1': 0x0302, 'TLSv1.2': 0x0303, 'TLSv1.3': 0x0304 };
function version(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const v = VERSIONS[value as string];
  if (v === undefined) throw codedError('ERR_TLS_INVALID_PROTOCOL_VERSION', `${String(value)} is not a valid ssl.${name} (TLSv1 .. TLSv1.3)`, TypeError);
  return v;
}

function alpnWire(value: unknown): Buffer | undefined {
  if (value === undefined) return undefined;
  if (ArrayBuffer.isView(value)) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (!Array.isArray(value)) throw invalidArgType('ssl.ALPNProtocols', 'an array of strings or a Buffer', value);
  const parts: Buffer[] = [];
  for (const name of value) {
    if (typeof name !== 'string') throw invalidArgType('ssl.ALPNProtocols', 'an array of strings', name);
    const bytes = Buffer.from(name, 'utf8');
    if (bytes.length === 0 || bytes.length > 255) throw codedError('ERR_OUT_OF_RANGE', `ALPN protocol "${name}" must be 1 to 255 bytes`, RangeError);
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  return parts.length === 0 ? undefined : Buffer.concat(parts);
}

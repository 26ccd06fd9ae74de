/**
 * TLS for muxloop transports: `wrapTls` upgrades a connected stream transport (a new connection
 * or STARTTLS), `TlsContext` prepares keys and roots once for many connections.
 *
 * Engine choice (issue 14), measured with `node bench/tls.cjs 2 20 3` on a shared 2-core machine
 * (Node 20.20.2, its OpenSSL 3.0.19; 1 KiB echo x 20 connections, medians of 3 rounds; server CPU
 * per 100k messages / per handshake, handshakes by `openssl s_time -new`):
 *   Node tls server       1.38 CPU-s/100k msgs   1.21 ms/handshake
 *   native (this engine)  1.16 CPU-s/100k msgs   1.07 ms/handshake
 *   TLSSocket over Duplex 2.58 CPU-s/100k msgs   1.60 ms/handshake
 * The Duplex bridge costs twice the CPU per message (Node's JSStreamSocket in the path), so the
 * native engine it is. msgs/s and handshakes/s themselves swung by +-30% between runs with the
 * neighbours' load (native 0.61x to 1.42x Node's msgs/s), so the 1.2x target is not shown
 * by these figures. A quieter run (load average 1.5, with Python asyncio's ssl server too):
 *   node 88.2k msgs/s 1.04 CPU-s/100k 770 hs/s; native 85.7k 1.11 800 hs/s (0.97x, 1.04x);
 *   duplex 53.7k 1.99 665 hs/s; asyncio 70.1k 1.38 743 hs/s.
 * So: the native engine is on par with Node's tls (msgs/s within noise, handshakes >= 1x), far
 * ahead of the Duplex bridge and of asyncio. Those load generators were Node tls clients, about as
 * costly per message as the servers; `npm run bench`'s TLS case drives the servers with a C
 * OpenSSL client (bench/tls_loadgen.c) instead. With the pooled plaintext and the scratch
 * ciphertext (sslproto.ts: no Buffer per message), `node bench/run.cjs --only=tls` measured
 * 9.0-9.3 server CPU-us per 1 KiB message against Node tls's 12.9 (1.4x less), 378 vs 455 CPU-us
 * per handshake; msgs/s medians 0.98x (owning) and 1.78x (hosted) Node's, the servers getting
 * 49-81% of a core on the shared machine, so CPU per message is the figure to trust.
 * @packageDocumentation
 */
import { codedError, invalidArgType } from '../../core/errors';
import { checkOptionKeys, optionKeys } from '../../core/options';
import type { NativeTlsEngine } from '../../core/native';
import type { BaseProtocol, Transport } from '../protocols';
import type { SelectorEventLoop } from '../selector_loop';
import { TlsContext, toTlsContext, type SNICallback, type TlsOptions } from './context';
import { clientEngineWithSession, SSLProtocol, SSL_HANDSHAKE_TIMEOUT, SSL_SHUTDOWN_TIMEOUT, SSLTransport } from './sslproto';

export { TlsContext, SSLProtocol, SSLTransport, SSL_HANDSHAKE_TIMEOUT, SSL_SHUTDOWN_TIMEOUT };
export type { TlsOptions, SNICallback };

/** Options of `wrapTls`. */
export interface WrapTlsOptions {
  /** True on the accepting side. Default false. */
  serverSide?: boolean;
  /** Client: name for SNI and the certificate check; required unless verification is off. */
  serverHostname?: string;
  /** Seconds; default 60 (asyncio's). */
  sslHandshakeTimeout?: number;
  /** Seconds; default 30 (asyncio's). */
  sslShutdownTimeout?: number;
  /**
   * Client: a session from an earlier connection (`getExtraInfo('sslSession')`) to resume. Bytes
   * that are no session are refused (`ERR_INVALID_ARG_VALUE`) with `raw` left as it was.
   */
  sslSession?: Buffer | Uint8Array;
  /** Call `protocol.connectionMade(tlsTransport)` after the handshake (default true; `loop.startTls` passes false, as asyncio). */
  callConnectionMade?: boolean;
}

function checkSession(value: unknown, serverSide: boolean): Buffer | Uint8Array | undefined {
  if (value === undefined || value === null) return undefined;
  if (!(value instanceof Uint8Array)) throw invalidArgType('sslSession', 'a Buffer or Uint8Array', value);
  if (serverSide) throw codedError('ERR_INVALID_ARG_VALUE', 'sslSession is for the client side', TypeError);
  return value;
}

/**
 * Decodes `session` once with a throwaway client engine of `context`: a Buffer that is no session
 * is refused (`ERR_INVALID_ARG_VALUE`) before a socket exists or a caller's transport changes
 * hands, instead of failing the handshake after the connection was made.
 */
/** A client engine with the session set when there is one (bad bytes are refused now). */
function sessionEngine(context: TlsContext, serverHostname: string | undefined, session: Buffer | Uint8Array | undefined): NativeTlsEngine | undefined {
  return session === undefined ? undefined : clientEngineWithSession(context, serverHostname, session);
}

function checkDelay(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!(value > 0) || !Number.isFinite(value)) throw codedError('ERR_OUT_OF_RANGE', `${name} must be a positive number of seconds`, RangeError);
  return value;
}

/**
 * Runs TLS over `raw`, a connected muxloop stream transport, for `protocol`: the raw transport's
 * protocol becomes an `SSLProtocol`; once the handshake and the peer's verification succeeded,
 * `protocol.connectionMade(tlsTransport)` runs and the promise resolves with that transport.
 *
 * @param ssl a `TlsContext`, `true` (default client context: Node's roots, host name check), or
 *   the options of `tls.createSecureContext` (plus `ALPNProtocols`, `requestCert`,
 *   `rejectUnauthorized`). A Node `tls.SecureContext` is refused with
 *   `ERR_TLS_SECURE_CONTEXT_UNSUPPORTED`.
 * @returns the app-side transport. Rejects with a coded error (`CERT_HAS_EXPIRED`,
 *   `DEPTH_ZERO_SELF_SIGNED_CERT`, `ERR_TLS_CERT_ALTNAME_INVALID`, `ERR_SSL_*`,
 *   `ERR_TLS_HANDSHAKE_TIMEOUT`, `ECONNRESET`); the raw transport is then closed. An argument
 *   error (a bad `ssl` value or options, a context that cannot be built, a bad `sslSession`)
 *   rejects before the handshake starts and leaves the raw transport as it was.
 */
export async function wrapTls(
  loop: SelectorEventLoop,
  raw: Transport,
  protocol: BaseProtocol,
  ssl: TlsContext | TlsOptions | true,
  options: WrapTlsOptions = {},
): Promise<SSLTransport> {
  if (options === null || typeof options !== 'object') throw invalidArgType('options', 'an object', options);
  checkOptionKeys(options, WRAP_KEYS);
  const serverSide = options.serverSide === true;
  const sslHandshakeTimeout = checkDelay(options.sslHandshakeTimeout, 'sslHandshakeTimeout');
  const sslShutdownTimeout = checkDelay(options.sslShutdownTimeout, 'sslShutdownTimeout');
  const sslSession = checkSession(options.sslSession, serverSide);
  if (options.serverHostname !== undefined && typeof options.serverHostname !== 'string') {
    throw invalidArgType('serverHostname', 'of type string', options.serverHostname);
  }
  // An argument error (the ssl value, the context it builds, the session): the plain transport
  // stays as it was, the caller's to use or close, as asyncio's start_tls raises before touching it.
  const context = toTlsContext(ssl, serverSide);
  const engine = sessionEngine(context, options.serverHostname, sslSession);
  const waiter = loop.createFuture<void>();
  const proto = new SSLProtocol(loop, protocol, context, { serverSide, serverHostname: options.serverHostname, sslHandshakeTimeout, sslShutdownTimeout, sslSession, engine, callConnectionMade: options.callConnectionMade }, waiter);
  raw.setProtocol(proto);
  proto.connectionMade(raw);
  raw.resumeReading();
  await waiter;
  return proto.appTransport;
}

const WRAP_KEYS = optionKeys<WrapTlsOptions>()(['serverSide', 'serverHostname', 'sslHandshakeTimeout', 'sslShutdownTimeout', 'sslSession', 'callConnectionMade']);

/** The TLS options of `createConnection`, `createServer`, `connectAcceptedSocket` (asyncio's names). */
export interface SslOptions {
  /** TLS: a `TlsContext`, `true` (client default), or `tls.createSecureContext`-style options. */
  ssl?: TlsContext | TlsOptions | boolean | null;
  /** Client: the name checked and sent in SNI; default the `host` argument. */
  serverHostname?: string | null;
  /** Seconds; default 60. */
  sslHandshakeTimeout?: number;
  /** Seconds; default 30. */
  sslShutdownTimeout?: number;
  /**
   * Client: a session from an earlier connection (`getExtraInfo('sslSession')`) to resume. Bytes
   * that are no session are refused (`ERR_INVALID_ARG_VALUE`) before a socket is made; servers
   * refuse the option.
   */
  sslSession?: Buffer | Uint8Array | null;
}

/** @internal `ssl` given (not undefined/null/false), and the timeouts only with it (asyncio's ValueError). */
export function wantsTls(options: SslOptions): boolean {
  const on = options.ssl !== undefined && options.ssl !== null && options.ssl !== false;
  if (!on) {
    for (const name of ['serverHostname', 'sslHandshakeTimeout', 'sslShutdownTimeout', 'sslSession'] as const) {
      if (options[name] !== undefined && options[name] !== null) {
        throw codedError('ERR_INVALID_ARG_VALUE', `${name} is only meaningful with ssl`, TypeError);
      }
    }
  }
  return on;
}

/**
 * @internal The protocol factory a TLS server uses: each accepted connection gets an
 * `SSLProtocol` over the user's protocol. The context is built once, here.
 */
export function tlsServerFactory(loop: SelectorEventLoop, factory: () => BaseProtocol, options: SslOptions): () => SSLProtocol {
  const context = toTlsContext(options.ssl, true);
  const sslHandshakeTimeout = checkDelay(options.sslHandshakeTimeout, 'sslHandshakeTimeout');
  const sslShutdownTimeout = checkDelay(options.sslShutdownTimeout, 'sslShutdownTimeout');
  checkSession(options.sslSession, true); // refused: a session is for clients (as wrapTls and connectAcceptedSocket)
  return () => new SSLProtocol(loop, factory(), context, { serverSide: true, sslHandshakeTimeout, sslShutdownTimeout });
}

/**
 * @internal TLS for `createConnection(..., { ssl })` and its kin. Checks the options and builds
 * the context at once (before any socket exists, so a bad option leaks nothing); the returned
 * function runs the handshake over the connected socket: `makeRaw(protocol)` makes the raw
 * transport for the SSLProtocol, and it resolves with the TLS transport and the user's protocol
 * once the handshake and verification succeeded (the raw transport is closed otherwise).
 */
export function prepareTls<P extends BaseProtocol>(
  loop: SelectorEventLoop,
  factory: () => P,
  options: SslOptions,
  host: string | null | undefined,
  serverSide = false,
): (makeRaw: (protocol: SSLProtocol) => Promise<unknown>) => Promise<[Transport, P]> {
  const context = toTlsContext(options.ssl, serverSide);
  const serverHostname = options.serverHostname ?? (serverSide ? undefined : host ?? undefined);
  if (!serverSide && (serverHostname === undefined || serverHostname === '') && context.rejectUnauthorized) {
    throw codedError('ERR_INVALID_ARG_VALUE', 'You must set serverHostname when using ssl without a host', TypeError);
  }
  const sslHandshakeTimeout = checkDelay(options.sslHandshakeTimeout, 'sslHandshakeTimeout');
  const sslShutdownTimeout = checkDelay(options.sslShutdownTimeout, 'sslShutdownTimeout');
  const sslSession = checkSession(options.sslSession, serverSide);
  // Made now so that bad session bytes are refused before any socket; a connection that never
  // happens (getaddrinfo or connect failed) leaves it to the garbage collector (memory only, no fd).
  let engine = sessionEngine(context, serverHostname ?? undefined, sslSession);
  return async (makeRaw) => {
    const app = factory();
    const waiter = loop.createFuture<void>();
    const proto = new SSLProtocol(loop, app, context, { serverSide, serverHostname: serverHostname ?? undefined, sslHandshakeTimeout, sslShutdownTimeout, sslSession, engine }, waiter);
    engine = undefined; // one connection's: another would set the session on an engine of its own
    await makeRaw(proto);
    try {
      await waiter;
    } catch (error) {
      proto.raw?.abort();
      throw error;
    }
    return [proto.appTransport, app];
  };
}

/**
 * TLS over any muxloop stream transport, asyncio's `sslproto` (`SSLProtocol` and
 * `_SSLProtocolTransport`): `SSLProtocol` is the raw transport's protocol and runs the native
 * engine (native/tls/engine.h); `SSLTransport` is what the user's protocol sees, with the plain
 * transport's contract (write/writelines, flow control, writeEof, close, abort, pause/resume
 * reading, getExtraInfo).
 *
 * Batching: each raw read (up to 256 KiB of ciphertext) is decrypted in one native call and
 * reaches the protocol as one `dataReceived`; each `write` is one `SSL_write` and one raw write;
 * `writelines` encrypts the whole list and sends it with one raw write.
 *
 * Choices where asyncio and Node differ, and why:
 * - `writeEof` sends close_notify then shuts the TCP write side (Node's `end()`); asyncio's
 *   SSL transport cannot write EOF at all. TLS 1.3 (RFC 8446 6.1) allows reading after it.
 * - Verification runs after the handshake, as Node's: the verify result and
 *   `checkServerIdentity` give Node's codes (`CERT_HAS_EXPIRED`, `ERR_TLS_CERT_ALTNAME_INVALID`).
 * - A failed handshake rejects the waiter (`wrapTls`'s promise) and closes the raw transport;
 *   the app protocol's `connectionMade` never ran, so its `connectionLost` is not called (asyncio).
 * @packageDocumentation
 */
import { X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { codedError, describe } from '../../core/errors';
import { binding, type NativeTlsEngine, type NativeTlsInfo } from '../../core/native';
import type { Future } from '../../tasks/futures';
import type { BaseProtocol, BufferedProtocol, BytesLike, Protocol, Transport } from '../protocols';
import { toBytes, writeBufferLimits } from '../transports/base';
import { SocketTransport } from '../transports/socket';
import type { SelectorEventLoop } from '../selector_loop';
import { TlsContext as TlsContextClass, toTlsContext, type TlsContext, type TlsOptions } from './context';

const HANDSHAKE_DONE = 1;
const CLOSE_NOTIFY = 2;
const HAVE_PLAIN = 4;
const HAVE_OUT = 8;
const WANT_SNI = 16;
const NEW_SESSION = 32;

/** asyncio's constants.SSL_HANDSHAKE_TIMEOUT and SSL_SHUTDOWN_TIMEOUT, in seconds. */
export const SSL_HANDSHAKE_TIMEOUT = 60;
/** Seconds a TLS shutdown (close_notify exchange) may take before the socket is closed (asyncio's SSL_SHUTDOWN_TIMEOUT). */
export const SSL_SHUTDOWN_TIMEOUT = 30;

/** Options of an `SSLProtocol`. */
export interface SSLProtocolOptions {
  /** Whether this end is the server. */
  serverSide: boolean;
  /** Client: the name sent in SNI and checked against the certificate. */
  serverHostname?: string;
  /** Seconds; default 60. */
  sslHandshakeTimeout?: number;
  /** Seconds; default 30. */
  sslShutdownTimeout?: number;
  /**
   * Client: a session from an earlier connection (`getExtraInfo('sslSession')`) to resume: the
   * handshake is then abbreviated when the server still accepts it (`isSessionReused()`).
   */
  sslSession?: Buffer | Uint8Array;
  /**
   * @internal Client: the engine, made before the connection by `clientEngineWithSession` (the
   * session bytes were checked and set on it then, so they are decoded once).
   */
  engine?: NativeTlsEngine;
  /**
   * Call the app protocol's `connectionMade` after the handshake (default true). `loop.startTls`
   * passes false, as asyncio's start_tls: the protocol was already connected.
   */
  callConnectionMade?: boolean;
}

type Phase = 'unwrapped' | 'handshake' | 'wrapped' | 'closing' | 'closed';

/**
 * The raw transport's protocol: feeds ciphertext to the engine, sends what the engine produces,
 * and drives the app protocol through an `SSLTransport`.
 */
export class SSLProtocol implements Protocol, BufferedProtocol {
  /** @internal */ readonly loop: SelectorEventLoop;
  /** @internal */ app: BaseProtocol;
  /** @internal */ raw: Transport | undefined;
  /** @internal */ engine: NativeTlsEngine | undefined;
  /** @internal */ readonly context: TlsContext;
  /** @internal */ readonly options: SSLProtocolOptions;
  /** @internal */ readonly appTransport: SSLTransport;
  /** @internal */ phase: Phase = 'unwrapped';
  /** @internal */ info: NativeTlsInfo | undefined;
  /** @internal The newest resumable session the server gave (client), DER. */
  session: Buffer | undefined;
  #waiter: Future<void> | undefined;
  #timer: { cancel(): void } | undefined;
  #error: Error | undefined;
  #appMade = false;
  #eofSeen = false;
  #readPaused = false;
  #pending: Buffer[] = [];
  /** The engine exists and is not closed (a field: `engine.closed` is a native call per batch). */
  #engineLive = false;
  /** @internal The raw transport copies what it keeps of a write: ciphertext may go from a scratch. */
  rawCopies = false;

  /** `waiter` resolves once the handshake and verification succeeded, rejects otherwise. */
  constructor(loop: SelectorEventLoop, app: BaseProtocol, context: TlsContext, options: SSLProtocolOptions, waiter?: Future<void>) {
    this.loop = loop;
    this.app = app;
    this.context = context;
    this.options = options;
    this.#waiter = waiter;
    this.appTransport = new SSLTransport(this);
  }

  /** The raw connection is up: start the handshake (the client sends its hello now). */
  connectionMade(transport: Transport): void {
    this.raw = transport;
    this.phase = 'handshake';
    const timeout = this.options.sslHandshakeTimeout ?? SSL_HANDSHAKE_TIMEOUT;
    this.#timer = this.loop.callLater(timeout, () => {
      this.#timer = undefined;
      if (this.phase === 'handshake') {
        this.fatal(codedError('ERR_TLS_HANDSHAKE_TIMEOUT', `TLS handshake is taking longer than ${timeout} seconds: aborting the connection`));
      }
    });
    try {
      const given = this.options.engine;
      this.engine = given ?? newEngine(this.context, this.options.serverHostname);
      this.#engineLive = true;
      this.rawCopies = transport instanceof SocketTransport;
      if (!this.options.serverSide) {
        if (given === undefined && this.options.sslSession !== undefined) this.engine.setSession(this.options.sslSession);
        this.handle(this.engine.start());
      }
    } catch (error) {
      this.fatal(error as Error);
    }
  }

  /**
   * The raw transport reads straight into this thread's scratch (the BufferedProtocol path): no
   * Buffer per read; `bufferUpdated` hands the bytes to the engine at once.
   */
  getBuffer(_sizeHint: number): Buffer {
    return (readScratch ??= Buffer.allocUnsafe(READ_SCRATCH));
  }

  /** `nbytes` of ciphertext in the scratch: one native call decrypts the whole batch. */
  bufferUpdated(nbytes: number): void {
    this.receive(readScratch!, nbytes);
  }

  /** Ciphertext from the peer (the Protocol path, for callers that feed Buffers). */
  dataReceived(data: Buffer): void {
    this.receive(data, data.length);
  }

  /**
   * @internal One batch of ciphertext. The plaintext is decrypted straight into a pool slab
   * (Node's Buffer pool idea: slices of one 32 KiB allocation, never reused, so a protocol may
   * keep what it got), not into a new Buffer per batch; batches too big for the slab's free end
   * come as their own Buffer (takePlain).
   */
  receive(data: Buffer, length: number): void {
    const engine = this.engine;
    if (engine === undefined || !this.#engineLive || this.phase === 'closed') return;
    if (plainPool.length - plainPoolOffset < PLAIN_POOL_MIN) {
      plainPool = Buffer.allocUnsafeSlow(PLAIN_POOL);
      plainPoolOffset = 0;
    }
    const pool = plainPool;
    const offset = plainPoolOffset;
    let result: number;
    try {
      result = engine.openInto(data, length, pool, offset);
    } catch (error) {
      this.fatal(error as Error);
      return;
    }
    const used = Math.floor(result / 256);
    const flags = result & 255;
    if (used === 0) {
      if (flags !== 0) this.handle(flags);
      return;
    }
    // 8-byte aligned slices, as Node's pool (alignPool).
    plainPoolOffset = (offset + used + 7) & ~7;
    const plain = pool.subarray(offset, offset + used);
    if (flags === 0) this.deliver(plain);
    else this.handle(flags, plain);
  }

  /** The raw peer shut down its write side (with or without close_notify). */
  eofReceived(): boolean {
    if (this.phase === 'handshake') {
      this.fatal(codedError('ECONNRESET', 'Client network socket disconnected before secure TLS connection was established'));
      return true;
    }
    this.appEof();
    return true;
  }

  /** The raw transport is gone: tell the app (once), free the engine. */
  connectionLost(exc: Error | undefined): void {
    const error = this.#error ?? exc;
    const phase = this.phase;
    this.phase = 'closed';
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#engineLive = false;
    this.engine?.close();
    if (phase === 'handshake' || phase === 'unwrapped') {
      this.settle(error ?? codedError('ECONNRESET', 'Connection lost during the TLS handshake'));
    }
    if (this.#appMade) {
      this.#appMade = false;
      this.loop.callSoon(() => this.app.connectionLost?.(error));
    }
  }

  /** The raw buffer went above high: the app must stop writing. */
  pauseWriting(): void {
    if (this.#appMade) this.app.pauseWriting?.();
  }

  /** The raw buffer drained: the app may write again. */
  resumeWriting(): void {
    if (this.#appMade) this.app.resumeWriting?.();
  }

  /** @internal Acts on the engine's flags: send, finish the handshake, deliver (`pooled` first), see EOF. */
  handle(flags: number, pooled?: Buffer): void {
    if (flags & HAVE_OUT) this.flush();
    if (flags & NEW_SESSION) this.session = this.engine!.takeSession();
    if (flags & WANT_SNI) {
      this.askSni();
      return;
    }
    if (flags & HANDSHAKE_DONE) {
      if (!this.handshakeDone()) return;
    }
    if (pooled !== undefined) this.deliver(pooled);
    if (flags & HAVE_PLAIN && this.#engineLive) {
      const plain = this.engine!.takePlain();
      if (plain !== undefined) this.deliver(plain);
    }
    if (flags & CLOSE_NOTIFY) this.appEof();
  }

  /** @internal Sends whatever ciphertext the engine has. */
  flush(): void {
    const out = this.#engineLive ? this.engine!.takeOut() : undefined;
    if (out !== undefined && this.raw !== undefined && !this.raw.isClosing()) this.raw.write(out);
  }

  /**
   * @internal The handshake stopped at the certificate step: the context's SNICallback chooses
   * the certificate for the name the client sent, then the handshake goes on (Node's order).
   */
  askSni(): void {
    const engine = this.engine!;
    const name = engine.info().servername ?? '';
    let answered = false;
    const callback = (error: Error | null, chosen?: TlsContext | TlsOptions | null): void => {
      if (answered) return;
      answered = true;
      // The connection may have ended (reset, handshake timeout) while the callback ran.
      if (this.phase !== 'handshake' || engine.closed) return;
      if (error) {
        this.fatal(error);
        return;
      }
      let made: TlsContext | undefined;
      let ctx: TlsContext | undefined;
      try {
        ctx = chosen instanceof TlsContextClass ? checkSniContext(chosen) : (made = sniOptions(chosen));
      } catch (exception) {
        // A bad answer is the callback's bug (as a throw from it is): reported, and only this
        // handshake fails.
        made?.close();
        this.loop.callExceptionHandler({ message: 'ssl.SNICallback() answered a bad context', exception, transport: this.appTransport });
        this.fatal(exception as Error);
        return;
      }
      try {
        this.handle(engine.resumeSni(ctx?.native));
      } catch (exception) {
        this.fatal(exception as Error);
      } finally {
        // The engine holds its own references to the certificate and key.
        made?.close();
      }
    };
    try {
      this.context.sniCallback!(name, callback);
    } catch (exception) {
      this.loop.callExceptionHandler({ message: 'ssl.SNICallback() failed', exception, transport: this.appTransport });
      answered = true;
      this.fatal(exception as Error);
    }
  }

  /** @internal Whether the handshake has completed. */
  handshakeDone(): boolean {
    this.#timer?.cancel();
    this.#timer = undefined;
    const info = (this.info = this.engine!.info());
    const error = this.verify(info);
    if (error !== undefined) {
      this.fatal(error);
      return false;
    }
    this.phase = 'wrapped';
    this.#appMade = true;
    try {
      if (this.options.callConnectionMade !== false) this.app.connectionMade?.(this.appTransport);
    } catch (exception) {
      this.loop.callExceptionHandler({ message: 'protocol.connectionMade() failed', exception, transport: this.appTransport });
      this.fatal(exception as Error);
      return false;
    }
    this.settle(undefined);
    return true;
  }

  /** @internal Checks the peer after the handshake (certificate chain and host name); the error, if any. */
  verify(info: NativeTlsInfo): Error | undefined {
    const ctx = this.context;
    if (!ctx.rejectUnauthorized || !ctx.requestCert) return undefined;
    if (info.peerCert === undefined) {
      return ctx.serverSide ? undefined : codedError('UNABLE_TO_GET_ISSUER_CERT', 'the peer sent no certificate');
    }
    if (info.verifyError !== undefined) return codedError(info.verifyError, info.verifyMessage ?? info.verifyError);
    const host = this.options.serverHostname;
    if (!ctx.serverSide && host !== undefined && host !== '') {
      const cert = this.appTransport.peerCertificate();
      if (cert !== undefined) {
        const failure = ctx.checkServerIdentity(host.replace(/^\[|\]$/g, ''), cert);
        if (failure !== undefined) return failure;
      }
    }
    return undefined;
  }

  /** @internal Hands decrypted bytes to the app protocol. */
  deliver(plain: Buffer): void {
    if (this.#readPaused) {
      this.#pending.push(plain);
      return;
    }
    try {
      const app = this.app as Partial<BufferedProtocol> & Partial<Protocol>;
      if (typeof app.getBuffer === 'function') {
        let offset = 0;
        while (offset < plain.length) {
          const view = app.getBuffer(plain.length - offset);
          const into = toBytes(view, 'getBuffer()');
          if (into.byteLength === 0) throw codedError('ERR_INVALID_STATE', 'getBuffer() returned an empty buffer');
          const n = Math.min(into.byteLength, plain.length - offset);
          into.set(plain.subarray(offset, offset + n));
          offset += n;
          app.bufferUpdated!(n);
        }
      } else {
        app.dataReceived?.(plain);
      }
    } catch (exception) {
      this.loop.callExceptionHandler({ message: 'Fatal error: protocol.dataReceived() call failed.', exception, transport: this.appTransport });
      this.fatal(exception as Error);
    }
  }

  /** @internal The peer sent close_notify: EOF for the app protocol. */
  appEof(): void {
    if (this.#eofSeen || !this.#appMade || this.phase === 'closed') return;
    this.#eofSeen = true;
    if (this.#readPaused) {
      this.#pending.push(EOF_MARK);
      return;
    }
    let keepOpen: unknown;
    try {
      keepOpen = (this.app as Partial<Protocol>).eofReceived?.();
    } catch (exception) {
      this.loop.callExceptionHandler({ message: 'protocol.eofReceived() failed', exception, transport: this.appTransport });
      this.fatal(exception as Error);
      return;
    }
    if (keepOpen !== true) this.appTransport.close();
  }

  /** @internal pauseReading / resumeReading of the app transport. */
  setReadPaused(paused: boolean): void {
    if (this.#readPaused === paused) return;
    this.#readPaused = paused;
    if (paused) {
      this.raw?.pauseReading();
      return;
    }
    const pending = this.#pending;
    this.#pending = [];
    for (const chunk of pending) {
      if (chunk === EOF_MARK) {
        this.#eofSeen = false;
        this.appEof();
      } else {
        this.deliver(chunk);
      }
      if (this.#readPaused) {
        this.#pending.push(...pending.slice(pending.indexOf(chunk) + 1));
        return;
      }
    }
    if (this.phase !== 'closed') this.raw?.resumeReading();
  }

  /** @internal Whether the app paused reading. */
  isReadPaused(): boolean {
    return this.#readPaused;
  }

  /** @internal Ends the connection with `error`: waiter rejected, raw transport aborted. */
  fatal(error: Error): void {
    if (this.phase === 'closed') return;
    this.#error ??= error;
    if (this.phase === 'handshake') this.settle(error);
    // The alert OpenSSL queued for the peer (bad certificate, certificate required, ...) goes out
    // first: the raw write tries the socket at once, so the peer learns why.
    try {
      this.flush();
    } catch {
      // Nothing more to tell the peer.
    }
    this.raw?.abort();
  }

  /** @internal Ends the handshake waiter, with `error` if it failed. */
  settle(error: Error | undefined): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    if (waiter === undefined || waiter.done()) return;
    if (error === undefined) waiter.setResult(undefined);
    else waiter.setException(error);
  }

  /** @internal Sends close_notify and closes the raw transport once flushed. */
  shutdown(): void {
    if (this.phase !== 'wrapped') {
      this.raw?.close();
      return;
    }
    this.phase = 'closing';
    try {
      this.engine!.shutdown();
      this.flush();
    } catch {
      // A failed close_notify only loses the courtesy alert; the close goes on.
    }
    const raw = this.raw!;
    raw.close();
    // asyncio's ssl_shutdown_timeout: a peer that never reads cannot hold the socket forever.
    const timeout = this.options.sslShutdownTimeout ?? SSL_SHUTDOWN_TIMEOUT;
    this.#timer = this.loop.callLater(timeout, () => {
      this.#timer = undefined;
      if (this.phase !== 'closed') this.fatal(codedError('ERR_TLS_SHUTDOWN_TIMEOUT', `TLS shutdown is taking longer than ${timeout} seconds: aborting the connection`));
    });
  }
}

const EOF_MARK = Buffer.alloc(0);
/**
 * The plaintext pool: slabs of 32 KiB, a new one when less than 4 KiB is left. A protocol that
 * keeps one small chunk keeps its slab alive (as with Node's 8 KiB Buffer pool): the slab is
 * small for that reason; batches that do not fit (bulk transfers) get a Buffer of their own.
 */
const PLAIN_POOL = 32 * 1024;
const PLAIN_POOL_MIN = 4 * 1024;
let plainPool = Buffer.alloc(0);
let plainPoolOffset = 0;
/** Ciphertext of one write, before the raw transport sends it (and copies what it cannot). */
const SEAL_SCRATCH = 128 * 1024;
let sealScratch: Buffer | undefined;
/** Ciphertext read size: asyncio's max read, 256 KiB (transports/base.ts MAX_READ_SIZE). */
const READ_SCRATCH = 256 * 1024;
let readScratch: Buffer | undefined;

/** What `SNICallback` may answer with a prepared context: an open server one. */
function checkSniContext(ctx: TlsContext): TlsContext {
  if (!ctx.serverSide) throw codedError('ERR_INVALID_ARG_VALUE', 'ssl.SNICallback answered a client context, a server one is needed', TypeError);
  if (ctx.closed) throw codedError('ERR_TLS_CONTEXT_CLOSED', 'ssl.SNICallback answered a closed TlsContext');
  return ctx;
}

/** `SNICallback`'s answer other than a `TlsContext`: null/undefined (keep this one) or TLS options. */
function sniOptions(chosen: unknown): TlsContext | undefined {
  if (chosen === undefined || chosen === null) return undefined;
  if (typeof chosen !== 'object') {
    throw codedError('ERR_INVALID_ARG_TYPE', `ssl.SNICallback must answer a server TlsContext, TLS options or null. Received ${describe(chosen)}`, TypeError);
  }
  return toTlsContext(chosen, true);
}

function newEngine(context: TlsContext, serverHostname: string | undefined): NativeTlsEngine {
  return new binding.TlsEngine(context.native, sniName(serverHostname), context.sniCallback !== undefined);
}

/**
 * @internal A client engine with `session` set, made before any connection: bytes that are no
 * TLS session are refused here (ERR_INVALID_ARG_VALUE), and the engine is then the connection's
 * (`SSLProtocolOptions.engine`), so the session is decoded once (the decode is ~130 us: a second,
 * checking-only decode made a resumed connect 7% slower).
 */
export function clientEngineWithSession(context: TlsContext, serverHostname: string | undefined, session: Buffer | Uint8Array): NativeTlsEngine {
  const engine = newEngine(context, serverHostname);
  try {
    engine.setSession(session);
  } catch (error) {
    engine.close();
    throw error;
  }
  return engine;
}

function sniName(host: string | undefined): string | undefined {
  // RFC 6066 3: literal IP addresses are not permitted in SNI.
  if (host === undefined || host === '' || /^[\d.]+$/.test(host) || host.includes(':')) return undefined;
  return host;
}

/** The app side of a TLS connection: the plain `Transport` contract over the engine. */
export class SSLTransport implements Transport {
  readonly #proto: SSLProtocol;
  #closing = false;
  #eofWritten = false;
  #peerCert: PeerCertificate | undefined | null = null;

  /** @internal */
  constructor(proto: SSLProtocol) {
    this.#proto = proto;
  }

  /**
   * Extra information: `'peercert'` (Node's `getPeerCertificate()` object), `'cipher'`
   * (`{ name, standardName, version }`), `'alpnProtocol'` (string or false), `'sslObject'`
   * (protocol, cipher, servername, peer certificate, `isSessionReused()`, `session`),
   * `'sslSession'` (client: the newest resumable session the server gave, a Buffer to pass as
   * `sslSession` to a later connection), `'servername'`, `'tlsVersion'`, and what
   * the raw transport knows (`'socket'`, `'peername'`, `'sockname'`).
   */
  getExtraInfo(name: string, defaultValue?: unknown): unknown {
    const info = this.#proto.info;
    switch (name) {
      case 'peercert':
        return this.peerCertificate() ?? defaultValue;
      case 'peercertDer':
        return info?.peerCert ?? defaultValue;
      case 'cipher':
        return info?.cipher === undefined ? defaultValue : { name: info.cipher, standardName: info.cipherStandard, version: info.cipherVersion };
      case 'alpnProtocol':
        return info === undefined ? defaultValue : (info.alpn ?? false);
      case 'servername':
        return info?.servername ?? this.#proto.options.serverHostname ?? defaultValue;
      case 'tlsVersion':
        return info?.protocol ?? defaultValue;
      case 'sslSession':
        return this.#proto.session ?? defaultValue;
      case 'sslObject': {
        if (info === undefined) return defaultValue;
        const proto = this.#proto;
        return {
          getProtocol: () => info.protocol,
          getCipher: () => this.getExtraInfo('cipher'),
          getPeerCertificate: () => this.peerCertificate(),
          alpnProtocol: info.alpn ?? false,
          servername: info.servername,
          isSessionReused: () => info.sessionReused,
          // asyncio's SSLObject.session: TLS 1.3 tickets come after the handshake, so this is
          // the newest one at the time of reading (undefined before the first).
          get session() {
            return proto.session;
          },
        };
      }
      default:
        return this.#proto.raw?.getExtraInfo(name, defaultValue) ?? defaultValue;
    }
  }

  /** @internal Node's legacy certificate object for the peer's certificate. */
  peerCertificate(): PeerCertificate | undefined {
    if (this.#peerCert !== null) return this.#peerCert;
    const der = this.#proto.info?.peerCert;
    this.#peerCert = der === undefined ? undefined : (new X509Certificate(der).toLegacyObject() as unknown as PeerCertificate);
    return this.#peerCert;
  }

  /** True once closing or closed. */
  isClosing(): boolean {
    return this.#closing || this.#proto.phase === 'closed';
  }

  /** Flushes what is buffered, sends close_notify, then closes; `connectionLost(undefined)` follows. */
  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#proto.shutdown();
  }

  /** Replaces the protocol. */
  setProtocol(protocol: BaseProtocol): void {
    this.#proto.app = protocol;
  }

  /** The current protocol. */
  getProtocol(): BaseProtocol {
    return this.#proto.app;
  }

  /** True unless reading is paused or the transport is closing. */
  isReading(): boolean {
    return !this.isClosing() && !this.#proto.isReadPaused();
  }

  /** Stops `dataReceived` until `resumeReading`; idempotent. */
  pauseReading(): void {
    if (!this.isClosing()) this.#proto.setReadPaused(true);
  }

  /** Undoes `pauseReading`; idempotent. */
  resumeReading(): void {
    if (!this.isClosing()) this.#proto.setReadPaused(false);
  }

  /** Water marks, applied to the ciphertext buffered on the raw transport. */
  setWriteBufferLimits(high?: number, low?: number): void {
    const [h, l] = writeBufferLimits(high, low);
    this.#proto.raw?.setWriteBufferLimits(h, l);
  }

  /** `[low, high]`. */
  getWriteBufferLimits(): [low: number, high: number] {
    return this.#proto.raw?.getWriteBufferLimits() ?? [16384, 65536];
  }

  /** Ciphertext bytes buffered on the raw transport. */
  getWriteBufferSize(): number {
    return this.#proto.raw?.getWriteBufferSize() ?? 0;
  }

  /** Encrypts `data` (one record per 16 KiB) and sends it; dropped once closed. */
  write(data: BytesLike): void {
    const bytes = toBytes(data);
    if (this.#eofWritten) throw codedError('ERR_STREAM_WRITE_AFTER_END', 'write after writeEof()');
    if (bytes.byteLength === 0 || this.isClosing() || this.#proto.phase !== 'wrapped') return;
    const proto = this.#proto;
    try {
      if (proto.rawCopies) {
        // No Buffer per write: the raw socket transport sends from the scratch at once and copies
        // only what the kernel did not take.
        const scratch = (sealScratch ??= Buffer.allocUnsafeSlow(SEAL_SCRATCH));
        const n = proto.engine!.sealInto(bytes, scratch);
        if (n > 0) proto.raw!.write(scratch.subarray(0, n));
        else if (n < 0) proto.flush();
      } else {
        const out = proto.engine!.seal(bytes);
        if (out !== undefined) proto.raw!.write(out);
      }
    } catch (error) {
      this.#proto.fatal(error as Error);
    }
  }

  /** Encrypts every item and sends them with one raw write. */
  writelines(list: Iterable<BytesLike>): void {
    if (this.#eofWritten) throw codedError('ERR_STREAM_WRITE_AFTER_END', 'write after writeEof()');
    const items = Array.from(list, (item) => toBytes(item));
    if (this.isClosing() || this.#proto.phase !== 'wrapped') return;
    try {
      let flags = 0;
      for (const item of items) if (item.byteLength > 0) flags |= this.#proto.engine!.send(item);
      if (flags & HAVE_OUT) this.#proto.flush();
    } catch (error) {
      this.#proto.fatal(error as Error);
    }
  }

  /** Sends close_notify and shuts the TCP write side; reading goes on (half-close). */
  writeEof(): void {
    if (this.#eofWritten || this.isClosing()) return;
    this.#eofWritten = true;
    try {
      this.#proto.engine!.shutdown();
      this.#proto.flush();
    } catch (error) {
      this.#proto.fatal(error as Error);
      return;
    }
    this.#proto.raw?.writeEof();
  }

  /** True: close_notify then a TCP half-close. */
  canWriteEof(): boolean {
    return true;
  }

  /** Closes at once, dropping buffered data; `connectionLost(undefined)` follows. */
  abort(): void {
    this.#closing = true;
    this.#proto.raw?.abort();
  }
}

/**
 * The datagram transport (UDP, Unix datagram), asyncio's `_SelectorDatagramTransport`; rules in
 * `base.ts`.
 * @packageDocumentation
 */
import { codedError } from '../../core/errors';
import type { Future } from '../../tasks/futures';
import type { SelectorEventLoop } from '../selector_loop';
import type { BaseProtocol, BytesLike, DatagramProtocol, DatagramTransport } from '../protocols';
import type { Address, Socket, SocketAddress } from '../../socket';
import { MAX_READ_SIZE, scratch, isOsError, toBytes, type Extra, BaseSelectorTransport, socketExtra } from './base';

function sameAddress(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) {
    // ['::1', 5000] equals ['::1', 5000, 0, 0]: flowinfo and scope only count when both have them.
    const n = Math.min(a.length, b.length);
    if (n < 2) return false;
    for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  if (typeof a === 'string' && b instanceof Uint8Array) return Buffer.from(a).equals(b);
  if (a instanceof Uint8Array && typeof b === 'string') return Buffer.from(b).equals(a);
  if (a instanceof Uint8Array && b instanceof Uint8Array) return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
  return false;
}

function isWouldBlock(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'EAGAIN' || code === 'EWOULDBLOCK' || code === 'EINTR';
}

/**
 * A datagram transport over a non-blocking datagram socket (UDP, Unix datagram).
 * @internal Made by `createDatagramEndpoint`; typed as `DatagramTransport` publicly.
 */
export class DatagramSocketTransport extends BaseSelectorTransport implements DatagramTransport {
  readonly #sock: Socket;
  /** The remote address of a connected endpoint (undefined otherwise). */
  readonly #address: Address | undefined;
  /** Connected with connect(2) (sends need no address); false for a broadcast endpoint. */
  readonly #connected: boolean;
  #buffer: Array<[Uint8Array, Address | undefined]> = [];

  /** @internal */
  constructor(loop: SelectorEventLoop, sock: Socket, protocol: BaseProtocol, address?: Address, waiter?: Future<void>, extra: Extra = {}) {
    super(loop, sock.fileno(), protocol, socketExtra(sock, extra));
    this.#sock = sock;
    this.#address = address;
    this.#connected = this.extra.peername !== undefined && this.extra.peername !== null;
    this.startUp(this.#addReader, waiter);
  }

  readonly #addReader = (): void => {
    if (this.closing) return;
    this.watchReadable(this.#onReadable, 'Fatal error: cannot watch the socket for reading');
  };

  readonly #onReadable = (): void => {
    if (this.connLost) return;
    const buf = scratch();
    let r: [number, SocketAddress | null] | null;
    try {
      r = this.#sock.recvfromIntoRaw(buf, 0, MAX_READ_SIZE);
    } catch (error) {
      if (isOsError(error)) this.#errorReceived(error as Error);
      else this.fatalError(error, 'Fatal read error on datagram transport');
      return;
    }
    if (r === null) return;
    const data = Buffer.allocUnsafe(r[0]);
    buf.copy(data, 0, 0, r[0]);
    try {
      // A datagram socket always names the sender ('' for an unbound Unix one); null is for streams.
      (this.protocol as DatagramProtocol).datagramReceived(data, r[1] as SocketAddress);
    } catch (error) {
      // asyncio lets this reach the loop's handler and keeps the endpoint open.
      this.report('Exception in protocol.datagramReceived()', error);
    }
  };

  #errorReceived(error: Error): void {
    try {
      (this.protocol as DatagramProtocol).errorReceived?.(error);
    } catch (exception) {
      this.report('Exception in protocol.errorReceived()', exception);
    }
  }

  /**
   * Sends one datagram (an empty one is allowed). On a connected endpoint `addr` must be omitted
   * or equal the remote address (else a TypeError, code `ERR_INVALID_ARG_VALUE`). EAGAIN queues
   * it; other OS errors go to `protocol.errorReceived` and the transport stays open.
   */
  sendto(data: BytesLike, addr?: Address): void {
    const bytes = toBytes(data);
    if (addr === null) addr = undefined;
    if (this.#address !== undefined) {
      if (addr !== undefined && !sameAddress(addr, this.#address)) {
        throw codedError(
          'ERR_INVALID_ARG_VALUE',
          `Invalid address: must be undefined or ${JSON.stringify(this.#address)} (the endpoint is connected)`,
          TypeError,
        );
      }
      addr = this.#connected ? undefined : this.#address;
    } else if (addr === undefined) {
      throw codedError('ERR_INVALID_ARG_VALUE', 'sendto() needs an address: the endpoint is not connected', TypeError);
    }
    if (this.connLost) {
      this.dropWrite();
      return;
    }
    if (this.#buffer.length === 0) {
      try {
        if (this.#send(bytes, addr)) return;
      } catch (error) {
        if (isOsError(error)) this.#errorReceived(error as Error);
        else throw error; // an argument error (a bad address): nothing changed
        return;
      }
      if (!this.#startWriting()) return;
    }
    this.#buffer.push([Buffer.from(bytes), addr]);
    this.bufferSize += bytes.byteLength + 8;
    this.maybePauseProtocol();
  }

  /** One send; false if it would block. */
  #send(bytes: Uint8Array, addr: Address | undefined): boolean {
    if (addr === undefined) return this.#sock.sendRaw(bytes, 0, bytes.byteLength) >= 0;
    try {
      this.#sock.sendto(bytes, addr);
      return true;
    } catch (error) {
      if (isWouldBlock(error)) return false;
      throw error;
    }
  }

  #startWriting(): boolean {
    return this.watchWritable(this.#onWritable, 'Fatal error: cannot watch the socket for writing');
  }

  readonly #onWritable = (): void => {
    if (this.connLost) return;
    const buffer = this.#buffer;
    while (buffer.length > 0) {
      const [bytes, addr] = buffer[0];
      try {
        if (!this.#send(bytes, addr)) break;
      } catch (error) {
        buffer.shift();
        this.bufferSize -= bytes.byteLength + 8;
        if (isOsError(error)) {
          this.#errorReceived(error as Error);
          continue;
        }
        this.fatalError(error, 'Fatal write error on datagram transport');
        return;
      }
      buffer.shift();
      this.bufferSize -= bytes.byteLength + 8;
    }
    this.maybeResumeProtocol();
    if (buffer.length > 0) return;
    this.loop.removeWriter(this.fd);
    if (this.closing) this.scheduleConnectionLost(undefined);
  };

  /** Stops receiving now, sends what is queued, then `connectionLost(undefined)`. Idempotent. */
  close(): void {
    if (this.closing) return;
    this.closing = true;
    this.loop.removeReader(this.fd);
    if (this.#buffer.length === 0) this.scheduleConnectionLost(undefined);
  }

  /** @internal */ protected hasBuffered(): boolean {
    return this.#buffer.length > 0;
  }

  /** @internal */ protected clearBuffer(): void {
    this.#buffer = [];
    this.bufferSize = 0;
  }

  /** @internal */ protected closeResource(): void {
    this.#sock.close();
  }
}

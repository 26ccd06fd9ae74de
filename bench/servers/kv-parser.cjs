'use strict';
// The one key-value request parser every JS peer of the pipelined case uses (muxloop Protocol,
// muxloop streams, Node net): RESP arrays of bulk strings, the Redis protocol's request form
// (https://redis.io/docs/latest/develop/reference/protocol-spec/), with GET and SET only.
// `feed(chunk)` parses what it can, keeps an incomplete request's bytes for the next chunk, and
// returns the replies of the complete requests as one Buffer (or undefined when there are none),
// so a read carrying 16 pipelined requests costs one write. A malformed request throws.
const OK = Buffer.from('+OK\r\n');
const NIL = Buffer.from('$-1\r\n');

class KvParser {
  constructor(store) {
    this.store = store; // Map<string, Buffer>, shared by the server's connections
    this.rest = undefined; // bytes of an incomplete request
    this.out = Buffer.allocUnsafe(4096);
  }

  /** Parses `chunk`; returns the replies to write, or undefined. */
  feed(chunk) {
    let buf = chunk;
    if (this.rest !== undefined) {
      buf = Buffer.concat([this.rest, chunk]);
      this.rest = undefined;
    }
    let out = 0;
    let pos = 0;
    const n = buf.length;
    while (pos < n) {
      const start = pos;
      if (buf[pos] !== 0x2a /* '*' */) throw new Error(`bad request byte ${buf[pos]} at ${pos}`);
      let argc = 0;
      pos++;
      while (pos < n && buf[pos] !== 0x0d) argc = argc * 10 + (buf[pos++] - 0x30);
      if (pos + 1 >= n) {
        this.rest = Buffer.from(buf.subarray(start));
        break;
      }
      pos += 2;
      const args = [];
      for (let i = 0; i < argc; i++) {
        if (pos >= n) break;
        if (buf[pos] !== 0x24 /* '$' */) throw new Error(`bad bulk byte ${buf[pos]} at ${pos}`);
        let len = 0;
        pos++;
        while (pos < n && buf[pos] !== 0x0d) len = len * 10 + (buf[pos++] - 0x30);
        if (pos + 1 >= n || pos + 2 + len + 2 > n) {
          pos = n + 1;
          break;
        }
        pos += 2;
        args.push(buf.subarray(pos, pos + len));
        pos += len + 2;
      }
      if (args.length < argc || pos > n) {
        // incomplete: keep it (copied, so the read buffer is not pinned)
        this.rest = Buffer.from(buf.subarray(start));
        break;
      }
      out = this.#reply(args, out);
    }
    return out === 0 ? undefined : this.out.subarray(0, out);
  }

  #reply(args, out) {
    const cmd = args[0];
    if (cmd.length === 3 && (cmd[0] | 0x20) === 0x73 /* set */ && args.length === 3) {
      this.store.set(args[1].latin1Slice(0, args[1].length), Buffer.from(args[2]));
      return this.#put(OK, out);
    }
    if (cmd.length === 3 && (cmd[0] | 0x20) === 0x67 /* get */ && args.length === 2) {
      const value = this.store.get(args[1].latin1Slice(0, args[1].length));
      if (value === undefined) return this.#put(NIL, out);
      out = this.#reserve(out, value.length + 24);
      out += this.out.latin1Write(`$${value.length}\r\n`, out);
      out += value.copy(this.out, out);
      this.out[out++] = 0x0d;
      this.out[out++] = 0x0a;
      return out;
    }
    throw new Error(`unsupported command ${cmd.toString('latin1')}`);
  }

  #put(bytes, out) {
    out = this.#reserve(out, bytes.length);
    return out + bytes.copy(this.out, out);
  }

  #reserve(out, need) {
    if (out + need > this.out.length) {
      const bigger = Buffer.allocUnsafe(Math.max(2 * this.out.length, out + need));
      this.out.copy(bigger, 0, 0, out);
      this.out = bigger;
    }
    return out;
  }
}

module.exports = { KvParser };

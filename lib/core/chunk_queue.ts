/**
 * @internal The byte buffer behind `StreamReader`: a FIFO of Buffers, consumed from the front.
 *
 * Why not one growing Buffer (CPython's `bytearray`): appending copies every byte once more and
 * growing copies it again. Here a received chunk is kept as it is, a read that fits in the first
 * chunk is a `subarray` (no copy), and only a read spanning chunks copies, once, into its result.
 * The separator search runs `Buffer.indexOf` on each chunk and compares bytes in JS only across a
 * chunk boundary (at most `separator.length - 1` positions per boundary).
 * @packageDocumentation
 */

const EMPTY = Buffer.alloc(0);

/** @internal A FIFO of byte chunks with a total size. */
export class ChunkQueue {
  /** Chunks from index `#first` on; earlier slots are spent (set to EMPTY, dropped in batches). */
  #chunks: Buffer[] = [];
  #first = 0;
  #size = 0;

  /** Bytes queued. */
  get size(): number {
    return this.#size;
  }

  /** Appends `chunk` (kept, not copied). */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#size += chunk.length;
  }

  /** Puts `chunk` back at the front (a read result nobody will see, see StreamReader). */
  unshift(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (this.#first > 0) this.#chunks[--this.#first] = chunk;
    else this.#chunks.unshift(chunk);
    this.#size += chunk.length;
  }

  /** Removes and returns the first `n` bytes (`n <= size`): a view when they sit in one chunk. */
  take(n: number): Buffer {
    if (n <= 0) return EMPTY;
    const chunks = this.#chunks;
    let head = chunks[this.#first];
    this.#size -= n;
    if (head.length > n) {
      chunks[this.#first] = head.subarray(n);
      return head.subarray(0, n);
    }
    if (head.length === n) {
      this.#shift();
      return head;
    }
    const out = Buffer.allocUnsafe(n);
    let copied = 0;
    while (copied < n) {
      head = chunks[this.#first];
      const want = n - copied;
      if (head.length <= want) {
        head.copy(out, copied);
        copied += head.length;
        this.#shift();
      } else {
        head.copy(out, copied, 0, want);
        chunks[this.#first] = head.subarray(want);
        copied = n;
      }
    }
    return out;
  }

  /** Removes and returns everything. */
  takeAll(): Buffer {
    return this.take(this.#size);
  }

  /** Drops everything. */
  clear(): void {
    this.#chunks = [];
    this.#first = 0;
    this.#size = 0;
  }

  /**
   * The position of the first occurrence of `needle` at or after `from`, or -1. `from` is usually
   * near the end (the part before it was searched already), so the starting chunk is found by
   * walking back from the last one: searching stays linear even with thousands of 1-byte chunks.
   */
  indexOf(needle: Buffer, from: number): number {
    const chunks = this.#chunks;
    if (this.#size - from < needle.length) return -1;
    let i = chunks.length - 1;
    let start = this.#size - chunks[i].length;
    while (start > from) {
      i--;
      start -= chunks[i].length;
    }
    for (; i < chunks.length; i++) {
      const chunk = chunks[i];
      const local = from > start ? from - start : 0;
      const found = chunk.indexOf(needle, local);
      if (found >= 0) return start + found;
      // Occurrences that start in this chunk and end in a later one.
      for (let p = Math.max(local, chunk.length - needle.length + 1); p < chunk.length; p++) {
        if (this.#matchesAt(i, p, needle)) return start + p;
      }
      start += chunk.length;
    }
    return -1;
  }

  /** Whether the queued bytes at position `pos` start with `needle`. */
  startsWith(needle: Buffer, pos: number): boolean {
    if (pos + needle.length > this.#size) return false;
    let i = this.#first;
    while (pos >= this.#chunks[i].length) pos -= this.#chunks[i++].length;
    return this.#matchesAt(i, pos, needle);
  }

  /** Whether `needle` starts at offset `pos` of chunk `index`, possibly running into later chunks. */
  #matchesAt(index: number, pos: number, needle: Buffer): boolean {
    const chunks = this.#chunks;
    let chunk = chunks[index];
    for (let k = 0; k < needle.length; k++, pos++) {
      while (pos >= chunk.length) {
        if (++index >= chunks.length) return false;
        chunk = chunks[index];
        pos = 0;
      }
      if (chunk[pos] !== needle[k]) return false;
    }
    return true;
  }

  #shift(): void {
    this.#chunks[this.#first++] = EMPTY;
    if (this.#first === this.#chunks.length) {
      this.#chunks.length = 0;
      this.#first = 0;
    } else if (this.#first >= 1024 && this.#first * 2 >= this.#chunks.length) {
      this.#chunks.splice(0, this.#first); // amortised O(1) per chunk
      this.#first = 0;
    }
  }
}

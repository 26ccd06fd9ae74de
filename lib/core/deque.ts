/**
 * @internal A double-ended queue on a ring buffer (a power-of-two array and a head index): push,
 * pop, shift and unshift in O(1). `Array.prototype.shift` moves every element, so draining a
 * queue of n items through it is O(n^2) (100,000 items took over a second); this is what the
 * queues and the lock waiters use instead. Same idea as `ChunkQueue`, without the byte counting.
 * @packageDocumentation
 */

/** @internal A FIFO/LIFO of values with O(1) operations at both ends. */
export class Deque<T> implements Iterable<T> {
  #buffer: Array<T | undefined> = new Array(8);
  #mask = 7;
  #head = 0;
  #size = 0;

  /** How many values it holds. */
  get length(): number {
    return this.#size;
  }

  /** Appends `value` at the back. */
  push(value: T): void {
    if (this.#size > this.#mask) this.#grow();
    this.#buffer[(this.#head + this.#size) & this.#mask] = value;
    this.#size++;
  }

  /** Prepends `value` at the front. */
  unshift(value: T): void {
    if (this.#size > this.#mask) this.#grow();
    this.#head = (this.#head - 1) & this.#mask;
    this.#buffer[this.#head] = value;
    this.#size++;
  }

  /** Removes and returns the front value (`undefined` when empty). */
  shift(): T | undefined {
    if (this.#size === 0) return undefined;
    const value = this.#buffer[this.#head];
    this.#buffer[this.#head] = undefined; // no reference kept for the collector to trip on
    this.#head = (this.#head + 1) & this.#mask;
    this.#size--;
    return value;
  }

  /** Removes and returns the back value (`undefined` when empty). */
  pop(): T | undefined {
    if (this.#size === 0) return undefined;
    const index = (this.#head + this.#size - 1) & this.#mask;
    const value = this.#buffer[index];
    this.#buffer[index] = undefined;
    this.#size--;
    return value;
  }

  /** The value at position `i` from the front (0 <= i < length). */
  get(i: number): T {
    return this.#buffer[(this.#head + i) & this.#mask] as T;
  }

  /** Replaces the value at position `i` from the front (0 <= i < length). */
  set(i: number, value: T): void {
    this.#buffer[(this.#head + i) & this.#mask] = value;
  }

  /** The position of the last occurrence of `value`, or -1. */
  lastIndexOf(value: T): number {
    for (let i = this.#size - 1; i >= 0; i--) if (this.get(i) === value) return i;
    return -1;
  }

  /** Removes the value at position `i`, closing the gap (O(n)). */
  removeAt(i: number): void {
    for (let j = i; j < this.#size - 1; j++) this.set(j, this.get(j + 1));
    this.pop();
  }

  /** Removes the first occurrence of `value`; `true` if there was one (O(n)). */
  remove(value: T): boolean {
    for (let i = 0; i < this.#size; i++) {
      if (this.get(i) === value) {
        this.removeAt(i);
        return true;
      }
    }
    return false;
  }

  /** Removes every value. */
  clear(): void {
    this.#buffer = new Array(8);
    this.#mask = 7;
    this.#head = 0;
    this.#size = 0;
  }

  /** Front to back. */
  *[Symbol.iterator](): Iterator<T> {
    for (let i = 0; i < this.#size; i++) yield this.get(i);
  }

  #grow(): void {
    const capacity = (this.#mask + 1) * 2;
    const buffer = new Array<T | undefined>(capacity);
    for (let i = 0; i < this.#size; i++) buffer[i] = this.get(i);
    this.#buffer = buffer;
    this.#mask = capacity - 1;
    this.#head = 0;
  }
}

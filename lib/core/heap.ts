/**
 * A binary min-heap of timers ordered by (deadline, sequence): the earliest deadline first, and
 * among equal deadlines the one scheduled first (FIFO), like libuv's `timer_order`. CPython's heap
 * compares deadlines only, so equal deadlines come out in no defined order; DESIGN.md section 5
 * tightens that.
 * @packageDocumentation
 */

/** What the heap orders: an absolute deadline and a scheduling sequence number. */
export interface HeapEntry {
  /** Deadline, in loop-clock seconds. */
  readonly deadline: number;
  /** Tie-break: smaller was scheduled earlier. */
  readonly sequence: number;
}

function before(a: HeapEntry, b: HeapEntry): boolean {
  return a.deadline < b.deadline || (a.deadline === b.deadline && a.sequence < b.sequence);
}

/** Min-heap by (deadline, sequence). */
export class TimerHeap<T extends HeapEntry> {
  #items: T[] = [];

  /** Number of entries, cancelled ones included until they are removed. */
  get size(): number {
    return this.#items.length;
  }

  /** The earliest entry, or undefined when empty. */
  peek(): T | undefined {
    return this.#items[0];
  }

  /** Adds an entry. O(log n). */
  push(item: T): void {
    const items = this.#items;
    items.push(item);
    this.#siftUp(items.length - 1);
  }

  /** Removes and returns the earliest entry. O(log n). */
  pop(): T | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last !== undefined) {
      items[0] = last;
      this.#siftDown(0);
    }
    return top;
  }

  /** Keeps only the entries `keep` accepts and restores the heap order. O(n). */
  retain(keep: (item: T) => boolean): void {
    this.#items = this.#items.filter(keep);
    for (let i = (this.#items.length >> 1) - 1; i >= 0; i--) this.#siftDown(i);
  }

  /** Removes every entry. */
  clear(): void {
    this.#items = [];
  }

  /** The entries in heap (not sorted) order. */
  values(): readonly T[] {
    return this.#items;
  }

  #siftUp(index: number): void {
    const items = this.#items;
    const item = items[index];
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!before(item, items[parent])) break;
      items[index] = items[parent];
      index = parent;
    }
    items[index] = item;
  }

  #siftDown(index: number): void {
    const items = this.#items;
    const n = items.length;
    const item = items[index];
    for (;;) {
      let child = 2 * index + 1;
      if (child >= n) break;
      if (child + 1 < n && before(items[child + 1], items[child])) child++;
      if (!before(items[child], item)) break;
      items[index] = items[child];
      index = child;
    }
    items[index] = item;
  }
}

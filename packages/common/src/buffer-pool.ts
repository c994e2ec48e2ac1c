import { invalidOption } from './options.ts';

/**
 * Buffers of one size, handed out and taken back, so that a stage producing a large buffer per frame (6 MB for
 * 1080p RGB) reuses a few instead of allocating one each time: allocating costs page faults and a copy into fresh
 * memory, and so much short-lived memory makes V8 collect garbage over and over. Whoever ends a buffer's life gives
 * it back, once nothing reads it any more; a buffer that is never given back is simply collected.
 *
 * @example
 * const pool = new BufferPool(8);
 * const data = pool.take(width * height * 3);
 * // ... fill it, hand it on; the last reader calls:
 * pool.give(data);
 */
export class BufferPool {
  /** The most free buffers the pool keeps; more given back are left to the garbage collector. */
  readonly capacity: number;
  #size = 0;
  #free: Buffer[] = [];
  #allocated = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw invalidOption('capacity', 'a positive integer', capacity);
    this.capacity = capacity;
  }

  /** A buffer of `size` bytes with unspecified contents: a free one if the pool has one of that size. */
  take(size: number): Buffer {
    if (size !== this.#size) {
      // A new frame size (a stream that changes resolution): the old buffers fit no more.
      this.#free = [];
      this.#size = size;
    }
    let buffer = this.#free.pop();
    if (!buffer) {
      buffer = Buffer.allocUnsafeSlow(size);
      this.#allocated++;
    }
    return buffer;
  }

  /** Takes back a buffer nothing reads any more. Giving one twice, or one of another size, is harmless. */
  give(buffer: Buffer): void {
    if (buffer.byteLength !== this.#size || this.#free.length >= this.capacity || this.#free.includes(buffer)) return;
    this.#free.push(buffer);
  }

  /** Buffers allocated so far because none was free: a pool that serves a run well stops allocating after the first few. */
  get allocated(): number {
    return this.#allocated;
  }

  /** Free buffers held now. */
  get available(): number {
    return this.#free.length;
  }
}

/** Checks an optional `pool` option. */
export function checkPool(value: unknown): BufferPool | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof BufferPool)) throw invalidOption('pool', 'a BufferPool', value);
  return value;
}

import { checkBoolean, invalidOption } from './options.ts';

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
  /** Whether buffers come back by themselves once unreachable (see {@link BufferPoolOptions.reclaim}). */
  readonly reclaim: boolean;
  #size = 0;
  #free: Buffer[] = [];
  #allocated = 0;
  #reclaimed = 0;
  #registry: FinalizationRegistry<ArrayBuffer> | undefined;

  constructor(capacity: number, options: BufferPoolOptions = {}) {
    if (!Number.isInteger(capacity) || capacity < 1) throw invalidOption('capacity', 'a positive integer', capacity);
    this.capacity = capacity;
    this.reclaim = checkBoolean('reclaim', options.reclaim, false);
    if (this.reclaim) this.#registry = new FinalizationRegistry((memory) => this.#reclaimMemory(memory));
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
    // The memory, not the view, is what comes back: the registry holds it, and only the view is watched.
    this.#registry?.register(buffer, buffer.buffer as ArrayBuffer, buffer);
    return buffer;
  }

  /** Takes back a buffer nothing reads any more. Giving one twice, or one of another size, is harmless. */
  give(buffer: Buffer): void {
    this.#registry?.unregister(buffer);
    this.#keep(buffer);
  }

  /** Buffers allocated so far because none was free: a pool that serves a run well stops allocating after the first few. */
  get allocated(): number {
    return this.#allocated;
  }

  /** Buffers that came back by themselves, once their frames were unreachable (with `reclaim`). */
  get reclaimed(): number {
    return this.#reclaimed;
  }

  #keep(buffer: Buffer): void {
    if (buffer.byteLength !== this.#size || this.#free.length >= this.capacity || this.#free.includes(buffer)) return;
    this.#free.push(buffer);
  }

  /**
   * The memory of a taken buffer whose view the garbage collector found unreachable. Moved into a new ArrayBuffer
   * (`transfer`, no copy): any other view of it still alive (a `subarray` kept without the buffer) is detached, and
   * reads as empty instead of showing the pixels of a later frame. Memory already detached (sent to a worker) stays
   * where it went.
   */
  #reclaimMemory(memory: ArrayBuffer): void {
    if (memory.detached || memory.byteLength !== this.#size || this.#free.length >= this.capacity) return;
    this.#reclaimed++;
    this.#keep(Buffer.from(memory.transfer()));
  }

  /** Free buffers held now. */
  get available(): number {
    return this.#free.length;
  }
}

/** Options of {@link BufferPool}. */
export interface BufferPoolOptions {
  /**
   * Also take back, by itself, each buffer that was never given back once the garbage collector finds it
   * unreachable: for buffers handed to code that may keep them (the frames of `streamVideoFrames`), which then cost
   * no fresh allocation when that code drops them. A buffer comes back only when the `Buffer` that `take` returned
   * is unreachable; any other view of its memory (`subarray`, `buffer`) is then detached: it reads as empty, never
   * as another frame. Native code that reads the memory must hold that `Buffer` until it is done (sharp does).
   * @default false
   */
  reclaim?: boolean | undefined;
}

/** Checks an optional `pool` option. */
export function checkPool(value: unknown): BufferPool | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof BufferPool)) throw invalidOption('pool', 'a BufferPool', value);
  return value;
}

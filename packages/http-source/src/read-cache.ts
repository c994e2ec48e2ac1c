import { AbortError, assertKnownKeys, assertOptionsObject, checkInteger, invalidOption, throwIfAborted } from '@framepipe/common';
import { isByteSource, type ByteSource } from './byte-source.ts';
import { ReadAhead, type PlanOptions, type PlannedRange } from './read-ahead.ts';
import { DEFAULT_CACHE_DISK, DEFAULT_CACHE_MEMORY, RangeStore } from './range-store.ts';

/**
 * Options of {@link ReadCache}.
 *
 * @example
 * const cached = new ReadCache(myS3Source, { cacheMemory: 32 * 1024 * 1024, readAhead: 1024 * 1024 });
 */
export interface ReadCacheOptions {
  /**
   * Bytes kept in memory; beyond, the least recently used ranges move to a temporary file.
   * @default 67108864 (64 MiB)
   */
  cacheMemory?: number;
  /**
   * Bytes the temporary file may hold (in `os.tmpdir()`, removed by {@link ReadCache.close}); once it is full,
   * ranges that leave memory are forgotten. 0 keeps nothing on disk.
   * @default 536870912 (512 MiB)
   */
  cacheDisk?: number;
  /**
   * Bytes asked of the source past what a read needs, after a seek; doubled while reads run on sequentially, up to
   * `maxReadAhead`. 0 asks only for what each read needs (for a source that reads ahead by itself).
   * @default 0
   */
  readAhead?: number;
  /**
   * The largest read-ahead block.
   * @default 8388608 (8 MiB), or `readAhead` if that is larger
   */
  maxReadAhead?: number;
}

const KNOWN_KEYS = ['cacheMemory', 'cacheDisk', 'readAhead', 'maxReadAhead'] as const;

/**
 * A {@link ByteSource} that keeps every byte read from another one, so that its readers (the demuxers of a run, the
 * index readers) ask the other source for each byte once: reads are served from what is held, and only the gaps
 * are read from the source. Memory is bounded by `cacheMemory`; beyond, ranges move to a temporary file, and once
 * that holds `cacheDisk` bytes they are forgotten. `HttpSource` has one built in; wrap a source of your own (an S3 client, say) in
 * this one before handing it to the stages.
 *
 * Its `close` closes the cache and the source. Reads run one at a time.
 *
 * @example
 * const source = new ReadCache(new MyS3Source(bucket, key), { readAhead: 1024 * 1024 });
 * try {
 *   await streamVideoFramesToDir(source, '/tmp/frames', { start: 100, end: 109 });
 * } finally {
 *   await source.close(); // closes the S3 source and removes the cache's temporary file
 * }
 */
export class ReadCache implements ByteSource {
  /** The source the bytes come from. */
  readonly source: ByteSource;
  readonly #store: RangeStore;
  readonly #ahead: ReadAhead;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(source: ByteSource, options?: ReadCacheOptions) {
    if (!isByteSource(source)) throw invalidOption('source', 'a ByteSource', source);
    const opts = assertOptionsObject(options, 'ReadCache');
    assertKnownKeys(opts, KNOWN_KEYS, 'ReadCache');
    const readAhead = checkInteger('readAhead', opts.readAhead, 0, true) ?? 0;
    const maxReadAhead = checkInteger('maxReadAhead', opts.maxReadAhead, readAhead, true) ?? Math.max(readAhead, 8 * 1024 * 1024);
    this.source = source;
    this.#store = new RangeStore({
      memory: checkInteger('cacheMemory', opts.cacheMemory, 0, true) ?? DEFAULT_CACHE_MEMORY,
      disk: checkInteger('cacheDisk', opts.cacheDisk, 0, true) ?? DEFAULT_CACHE_DISK,
    });
    this.#ahead = new ReadAhead(readAhead, readAhead === 0 ? 0 : maxReadAhead);
  }

  get description(): string {
    return this.source.description;
  }

  get size(): number {
    return this.source.size;
  }

  /** The source's own count: the bytes that crossed from it. */
  get bytesRead(): number {
    return this.source.bytesRead;
  }

  get retriesMade(): number {
    return this.source.retriesMade ?? 0;
  }

  /** Bytes held: in memory, and in the temporary file. */
  get cached(): { memory: number; disk: number } {
    return { memory: this.#store.memoryBytes, disk: this.#store.diskBytes };
  }

  open(signal?: AbortSignal): Promise<void> {
    return this.source.open(signal);
  }

  /**
   * As `HttpSource.planReads`: read-ahead stays within the ranges the reader will need, and (unless
   * `options.forwardOnly` is false) what leaves memory behind the last read is forgotten rather than written to the
   * temporary file, until the plan is lifted (an empty list).
   */
  planReads(ranges: readonly PlannedRange[], options?: PlanOptions): void {
    this.#ahead.plan(ranges);
    this.#store.forwardOnly = ranges.length > 0 && options?.forwardOnly !== false;
  }

  async read(offset: number, length: number, signal?: AbortSignal): Promise<Buffer> {
    checkInteger('offset', offset, 0);
    checkInteger('length', length, 0);
    await this.source.open(signal);
    const end = Math.min(offset + length, this.source.size);
    if (offset >= end) return Buffer.alloc(0);
    const task = this.#queue.then(async () => {
      if (this.#closed) throw new AbortError(new Error(`ReadCache closed (${this.description})`));
      throwIfAborted(signal);
      try {
        return await this.#store.read(offset, end, this.source.size, (from, needed, limit) =>
          this.source.read(from, this.#ahead.fetchEnd(from, needed, limit, offset) - from, signal),
        );
      } finally {
        this.#ahead.readEnded(end);
      }
    });
    this.#queue = task.catch(() => {});
    return task;
  }

  /** Closes the source, then forgets the cache and removes its temporary file. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.source.close();
    await this.#queue;
    await this.#store.close();
  }
}

/**
 * A random-access source of bytes: what the demuxer reads a container through. An MP4 whose index (`moov`)
 * sits at the end must be read from the end first, so a plain byte stream is not enough.
 *
 * Implement this to feed framepipe from anything else (S3 SDK, a cache, memory).
 */
export interface ByteSource {
  /** A name for messages: the URL (credentials removed) or the path. */
  readonly description: string;
  /** Total size in bytes. Valid after {@link ByteSource.open} has resolved. */
  readonly size: number;
  /** Bytes delivered to the caller by {@link ByteSource.read} plus read-ahead, i.e. bytes pulled from the origin. */
  readonly bytesRead: number;
  /** Requests retried after a failure that may pass, if the source retries (HTTP sources do). */
  readonly retriesMade?: number;
  /**
   * Told by a reader which byte ranges it will need from now on, a source that reads ahead keeps its read-ahead
   * within them, and a source that caches keeps no more on disk behind the reader, unless `options.forwardOnly` is
   * false (`HttpSource` and `ReadCache` do). An empty list lifts the plan. Optional.
   */
  planReads?(ranges: ReadonlyArray<{ readonly start: number; readonly end: number }>, options?: { readonly forwardOnly?: boolean }): void;
  /** Learns the size and checks that the source is reachable. Idempotent. */
  open(signal?: AbortSignal): Promise<void>;
  /**
   * Reads `length` bytes at `offset`. Returns fewer only at the end of the source, and an empty buffer at or past
   * the end.
   */
  read(offset: number, length: number, signal?: AbortSignal): Promise<Buffer>;
  /** Releases connections and file handles. Idempotent; pending reads reject. */
  close(): Promise<void>;
}

/** True if `value` looks like a {@link ByteSource} (duck-typed, so any object with the members will do). */
export function isByteSource(value: unknown): value is ByteSource {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as ByteSource).read === 'function' &&
    typeof (value as ByteSource).open === 'function' &&
    typeof (value as ByteSource).close === 'function' &&
    'size' in value
  );
}

/**
 * A view of `source` whose reads go through `read` (to serve some bytes from memory, count them, …); its size,
 * description, `bytesRead`, `open` and `close` are the source's own.
 */
export function withRead(source: ByteSource, read: ByteSource['read']): ByteSource {
  return {
    get description() {
      return source.description;
    },
    get size() {
      return source.size;
    },
    get bytesRead() {
      return source.bytesRead;
    },
    open: (signal) => source.open(signal),
    close: () => source.close(),
    read,
  };
}

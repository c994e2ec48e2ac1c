import { Readable } from 'streamx';
import { assertKnownKeys, assertOptionsObject, checkBoolean, checkInteger, invalidOption } from '@framepipe/common';
import { isByteSource, type ByteSource } from './byte-source.ts';

/**
 * Options of {@link ByteStream}.
 *
 * @example
 * const stream = new ByteStream(source, { start: 1024, end: 2047, chunkSize: 512 });
 */
export interface ByteStreamOptions {
  /**
   * Offset of the first byte to emit.
   * @default 0
   */
  start?: number;
  /**
   * Offset of the last byte to emit, inclusive (as in `fs.createReadStream`); clamped to the end of the source.
   * @default the last byte of the source
   */
  end?: number;
  /**
   * Bytes asked of the source per read, i.e. the size of the emitted buffers (the last may be shorter).
   * @default 65536 (64 KiB)
   */
  chunkSize?: number;
  /**
   * Bytes the stream buffers ahead of its consumer before it stops reading the source.
   * @default chunkSize
   */
  highWaterMark?: number;
  /**
   * Close the source when the stream is destroyed (ended, failed or destroyed). Off by default because a
   * source is usually shared (the demuxer reads the same one).
   * @default false
   */
  autoClose?: boolean;
}

const KNOWN_KEYS = ['start', 'end', 'chunkSize', 'highWaterMark', 'autoClose'] as const;
const DEFAULT_CHUNK_SIZE = 64 * 1024;

/**
 * The plain byte-stream view of a {@link ByteSource}: a streamx Readable that emits its bytes in order, from
 * `start` to `end`. It opens the source when the stream opens, reads only while the consumer keeps up, and a
 * destroy aborts the read in flight.
 *
 * @example
 * import { pipelinePromise } from 'streamx';
 * import fs from 'node:fs';
 *
 * const source = new HttpSource('https://cdn.example.com/video.mp4');
 * await pipelinePromise(new ByteStream(source, { autoClose: true }), fs.createWriteStream('video.mp4'));
 */
export class ByteStream extends Readable {
  /** The source the bytes come from. */
  readonly source: ByteSource;
  readonly #endOption: number | undefined;
  readonly #chunkSize: number;
  readonly #autoClose: boolean;
  readonly #controller = new AbortController();
  #position: number;
  #end = 0;

  constructor(source: ByteSource, options?: ByteStreamOptions) {
    if (!isByteSource(source)) throw invalidOption('source', 'a ByteSource', source);
    const opts = assertOptionsObject(options, 'ByteStream');
    assertKnownKeys(opts, KNOWN_KEYS, 'ByteStream');
    const start = checkInteger('start', opts.start ?? 0, 0);
    const end = checkInteger('end', opts.end, start, true);
    const chunkSize = checkInteger('chunkSize', opts.chunkSize ?? DEFAULT_CHUNK_SIZE, 1);
    const highWaterMark = checkInteger('highWaterMark', opts.highWaterMark ?? chunkSize, 1);
    const autoClose = checkBoolean('autoClose', opts.autoClose, false);
    super({ highWaterMark, byteLength: (data) => (data as Buffer).byteLength });
    this.source = source;
    this.#position = start;
    this.#endOption = end;
    this.#chunkSize = chunkSize;
    this.#autoClose = autoClose;
  }

  override _open(cb: (error: Error | null) => void): void {
    this.source.open(this.#controller.signal).then(() => {
      this.#end = this.#endOption === undefined ? this.source.size : Math.min(this.#endOption + 1, this.source.size);
      cb(null);
    }, cb);
  }

  // streamx calls _read again only while its buffer is under highWaterMark, so a slow consumer stops the reads.
  override _read(cb: (error: Error | null) => void): void {
    if (this.#position >= this.#end) {
      this.push(null);
      cb(null);
      return;
    }
    const length = Math.min(this.#chunkSize, this.#end - this.#position);
    this.source.read(this.#position, length, this.#controller.signal).then((chunk) => {
      // Empty before `end` means the source shrank after open: end where its bytes end.
      if (chunk.length === 0) {
        this.push(null);
      } else {
        this.#position += chunk.length;
        this.push(chunk);
      }
      cb(null);
    }, cb);
  }

  override _predestroy(): void {
    this.#controller.abort();
  }

  override _destroy(cb: (error: Error | null) => void): void {
    if (!this.#autoClose) return cb(null);
    this.source.close().then(() => cb(null), cb);
  }
}

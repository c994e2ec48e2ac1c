import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { Writable } from 'streamx';
import { AbortError, ErrorCode, FramepipeError, StageBuffers } from '@framepipe/common';
import type { BufferPool, FrameBudget } from '@framepipe/common';
import { FrameEncoder, NameTemplate, WritePool } from '@framepipe/sink';
import type { ImageExtension, SinkFrame } from '@framepipe/sink';
import { storageFailed } from './s3-location.ts';
import type { S3Location } from './s3-location.ts';

/** The Content-Type of each image format the encoder writes. */
const CONTENT_TYPES: Readonly<Record<ImageExtension, string>> = { png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', webp: 'image/webp' };

/**
 * How long uploads under way may go on once the sink is stopped before they are cut. A stopped sink starts no upload
 * and lets those under way end, so that each object is whole even on a server that stores a body as it arrives
 * (AWS S3 refuses a body cut short; some S3-compatible servers keep what they got); only a server that hangs longer
 * gets its uploads cut.
 */
export const UPLOAD_GRACE_MS = 10_000;

/** Options of {@link S3FrameSink}. */
export interface S3FrameSinkOptions {
  readonly ext: ImageExtension;
  /** Objects uploaded at the same time. */
  readonly maxWriteWorkers: number;
  /** Frames that may wait for a free uploader. */
  readonly highWaterMark: number;
  /** The budget the frames were counted against; each uploaded or discarded frame gives its unit back. */
  readonly budget: FrameBudget;
  /** Where the frames' `data` came from: the encoder gives each buffer back once it has encoded the frame. */
  readonly pool: BufferPool;
  /** Called with `1` once each frame's object exists. */
  readonly progress?: ((count: number) => void) | undefined;
  /**
   * How the objects are named under the prefix (see `NameTemplate`).
   * @default 'frame_{index:06}.{ext}'
   */
  readonly nameTemplate?: string | undefined;
}

/**
 * Uploads RGB frames as objects `<prefix>frame_<index:06d>.<ext>` (or as `nameTemplate` says) of a bucket, each encoded as `FrameDirSink` encodes
 * files (so the objects are byte for byte the files a directory run writes) and put with one `PutObject`: an object
 * exists whole or not at all, and up to `maxWriteWorkers` uploads run at once. A failed upload destroys the sink with
 * `ERR_FRAMEPIPE_STORAGE_FAILED`; destroying it starts no more uploads and waits for those under way before it closes
 * (see {@link UPLOAD_GRACE_MS}).
 */
export class S3FrameSink extends Writable {
  readonly location: S3Location;
  /** Objects uploaded so far. */
  framesWritten = 0;
  #client: S3Client;
  #encoder: FrameEncoder;
  #contentType: string;
  #writers: WritePool;
  #budget: FrameBudget;
  #progress: ((count: number) => void) | undefined;
  readonly #buffered: StageBuffers<SinkFrame>;
  /** Cuts the uploads under way: {@link UPLOAD_GRACE_MS} after the sink is stopped. */
  readonly #cut = new AbortController();
  readonly #names: NameTemplate;
  #graceTimer: NodeJS.Timeout | undefined;

  /** Uploads to `location`, a prefix that ends in `/` (or is empty), of the bucket it names, through `client`. */
  constructor(client: S3Client, location: S3Location, options: S3FrameSinkOptions) {
    const buffered = new StageBuffers<SinkFrame>();
    super(buffered.options(options.highWaterMark));
    // A frame left in the queue holds only its budget unit.
    this.#buffered = buffered.attach(this, { input: () => this.#budget.release() });
    this.location = location;
    this.#client = client;
    this.#encoder = new FrameEncoder({ ext: options.ext, pool: options.pool });
    this.#names = options.nameTemplate === undefined ? NameTemplate.DEFAULT : NameTemplate.from(options.nameTemplate);
    this.#contentType = CONTENT_TYPES[options.ext];
    this.#budget = options.budget;
    this.#progress = options.progress;
    this.#writers = new WritePool(options.maxWriteWorkers, (error) => this.destroy(error));
  }

  override write(frame: SinkFrame): boolean {
    return this.#buffered.admit(frame) && super.write(frame);
  }

  override _write(frame: SinkFrame, cb: (err: Error | null) => void): void {
    this.#buffered.take(frame);
    // The next frame comes once an uploader is free: at once, or when an upload under way ends.
    this.#writers.run(() => this.#upload(frame), cb);
  }

  override _final(cb: (err: Error | null) => void): void {
    this.#writers.settled().then(() => cb(this.#writers.failure));
  }

  override _predestroy(): void {
    this.#writers.abort(new AbortError('S3FrameSink destroyed'));
    this.#graceTimer = setTimeout(() => this.#cut.abort(this.#writers.signal.reason), UPLOAD_GRACE_MS);
  }

  override _destroy(cb: (err: Error | null) => void): void {
    this.#buffered.release();
    this.#writers.settled().then(() => {
      clearTimeout(this.#graceTimer);
      cb(null);
    });
  }

  async #upload(frame: SinkFrame): Promise<void> {
    const key = this.location.key(this.#names.format(frame.index, this.#encoder.ext));
    try {
      let body: Buffer;
      try {
        body = await this.#encoder.encode(frame);
      } catch (cause) {
        throw new FramepipeError(ErrorCode.WRITE_FAILED, `Cannot encode frame ${frame.index} for ${this.location.url(key)}: ${(cause as Error).message}`, { cause });
      }
      // Stopped while it encoded: no upload starts after the stop.
      if (this.#writers.signal.aborted) throw this.#writers.signal.reason;
      await this.#client.send(
        new PutObjectCommand({ Bucket: this.location.bucket, Key: key, Body: body, ContentLength: body.length, ContentType: this.#contentType }),
        { abortSignal: this.#cut.signal },
      );
    } catch (cause) {
      if (this.#writers.signal.aborted) throw this.#writers.signal.reason;
      if (cause instanceof FramepipeError) throw cause;
      throw storageFailed(`Cannot upload frame ${frame.index} to ${this.location.url(key)}`, cause);
    } finally {
      this.#budget.release();
    }
    // Counted also when it ended after the stop: the object exists.
    this.framesWritten++;
    this.#progress?.(1);
  }
}

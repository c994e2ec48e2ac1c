import { mkdir, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Writable } from 'streamx';
import sharp from 'sharp';
import type { Sharp } from 'sharp';
import {
  ErrorCode,
  FrameBudget,
  checkBudget,
  FramepipeError,
  assertKnownKeys,
  assertOptionsObject,
  checkFunction,
  checkInteger,
  checkOneOf,
  invalidOption,
  objectStreamOptions,
  releaseBuffered,
} from '@framepipe/common';

/** The image formats the built-in encoder writes. */
export const IMAGE_EXTENSIONS = ['png', 'jpg', 'jpeg', 'webp'] as const;
export type ImageExtension = (typeof IMAGE_EXTENSIONS)[number];

/** The frame the sink writes: packed RGB24 with its number (what `RgbConverter` emits). */
export interface SinkFrame {
  readonly index: number;
  readonly width: number;
  readonly height: number;
  readonly data: Buffer;
}

/**
 * Writes one frame to `path`, replacing the built-in encoder. `path` is a temporary name in the output directory
 * that ends in the same extension as the final name; the sink renames it once the promise resolves.
 */
export type ImageWriter = (path: string, frame: SinkFrame) => Promise<void> | void;

/** Options of {@link FrameDirSink}. */
export interface FrameDirSinkOptions {
  /**
   * Image format, from the file extension.
   * @default 'png'
   */
  ext?: ImageExtension;
  /**
   * Files written at the same time.
   * @default 4
   */
  maxWriteWorkers?: number;
  /** Called with `1` each time a file has reached its final name. */
  progress?: ((count: number) => void) | undefined;
  /** Replaces the built-in sharp encoder. */
  imageWriter?: ImageWriter | undefined;
  /** The budget the frames were counted against; each written or discarded frame gives its unit back. */
  budget?: FrameBudget | undefined;
  /**
   * Frames that may wait for a free worker.
   * @default 32
   */
  highWaterMark?: number;
}

const KNOWN_OPTIONS = ['ext', 'maxWriteWorkers', 'progress', 'imageWriter', 'budget', 'highWaterMark'] as const;

/** `frame_<index:06d>.<ext>`, Supervisely's file name. */
export function frameFileName(index: number, ext: string): string {
  return `frame_${String(index).padStart(6, '0')}.${ext}`;
}

/**
 * Writes RGB frames as image files named `frame_<index:06d>.<ext>` into a directory (created if missing), up to
 * `maxWriteWorkers` at once. Each file is written under a hidden temporary name and renamed when complete, so
 * a file under its final name is always whole; a failed or interrupted write leaves no temporary file.
 *
 * Encoding: PNG at zlib level 1 without adaptive filtering, JPEG at quality 95 with 4:2:0 chroma (OpenCV's
 * defaults, which Supervisely's writer uses), WebP at quality 90.
 *
 * @example
 * const sink = new FrameDirSink('/tmp/frames', { ext: 'jpg', maxWriteWorkers: 4, progress: (n) => bar.tick(n) });
 * await pipelinePromise(demuxer, decoder, selector, converter, sink);
 * console.log(sink.paths);
 */
export class FrameDirSink extends Writable {
  /** Absolute path of the output directory. */
  readonly directory: string;
  readonly ext: ImageExtension;
  readonly maxWriteWorkers: number;
  #progress: ((count: number) => void) | undefined;
  #imageWriter: ImageWriter | undefined;
  #budget: FrameBudget | undefined;
  #written = new Map<number, string>();
  #active = new Set<Promise<void>>();
  #parked: ((err: Error | null) => void) | null = null;
  #failure: Error | null = null;
  #sequence = 0;

  constructor(directory: string, options: FrameDirSinkOptions = {}) {
    if (typeof directory !== 'string' || directory.length === 0) throw invalidOption('outputDir', 'a non-empty path', directory);
    const opts = assertOptionsObject(options, 'FrameDirSink');
    assertKnownKeys(opts, KNOWN_OPTIONS, 'FrameDirSink');
    super(objectStreamOptions(checkInteger('highWaterMark', opts.highWaterMark ?? 32, 1)));
    this.directory = resolve(directory);
    this.ext = checkOneOf('ext', opts.ext ?? 'png', IMAGE_EXTENSIONS);
    this.maxWriteWorkers = checkInteger('maxWriteWorkers', opts.maxWriteWorkers ?? 4, 1);
    this.#progress = checkFunction('progress', opts.progress);
    this.#imageWriter = checkFunction('imageWriter', opts.imageWriter);
    this.#budget = checkBudget(opts.budget);
  }

  /** Absolute paths of the files written so far, in frame order. */
  get paths(): string[] {
    return [...this.#written].sort(([a], [b]) => a - b).map(([, path]) => path);
  }

  /** Files written so far. */
  get framesWritten(): number {
    return this.#written.size;
  }

  override _open(cb: (err: Error | null) => void): void {
    mkdir(this.directory, { recursive: true }).then(
      () => cb(null),
      (cause: unknown) => cb(this.#writeError(this.directory, `Cannot create the output directory ${this.directory}`, cause)),
    );
  }

  override _write(frame: SinkFrame, cb: (err: Error | null) => void): void {
    const job = this.#writeFrame(frame).then(
      () => {
        this.#active.delete(job);
        this.#resumeParked();
      },
      (error: Error) => {
        this.#active.delete(job);
        this.#failure ??= error;
        this.destroy(error);
      },
    );
    this.#active.add(job);
    // Accept the next frame at once while a worker is free; otherwise hold the callback until one frees up.
    if (this.#active.size < this.maxWriteWorkers) cb(null);
    else this.#parked = cb;
  }

  override _final(cb: (err: Error | null) => void): void {
    Promise.allSettled([...this.#active]).then(() => cb(this.#failure));
  }

  override _predestroy(): void {
    const parked = this.#parked;
    this.#parked = null;
    parked?.(this.#failure ?? new Error('FrameDirSink destroyed'));
    releaseBuffered<SinkFrame>(this, () => this.#budget?.release());
  }

  override _destroy(cb: (err: Error | null) => void): void {
    // Writes under way finish (or remove their temporary file) before the sink reports closed.
    Promise.allSettled([...this.#active]).then(() => cb(null));
  }

  #resumeParked(): void {
    const parked = this.#parked;
    if (parked && this.#active.size < this.maxWriteWorkers) {
      this.#parked = null;
      parked(null);
    }
  }

  async #writeFrame(frame: SinkFrame): Promise<void> {
    const name = frameFileName(frame.index, this.ext);
    const finalPath = join(this.directory, name);
    const tempPath = join(this.directory, `.${name}.${process.pid}-${++this.#sequence}.partial.${this.ext}`);
    try {
      if (this.#imageWriter) await this.#imageWriter(tempPath, frame);
      else await this.#encode(frame).toFile(tempPath);
      await rename(tempPath, finalPath);
    } catch (cause) {
      await rm(tempPath, { force: true }).catch(() => {});
      throw this.#writeError(finalPath, `Cannot write frame ${frame.index} to ${finalPath}`, cause);
    } finally {
      this.#budget?.release();
    }
    this.#written.set(frame.index, finalPath);
    if (!this.destroying) this.#progress?.(1);
  }

  #encode(frame: SinkFrame): Sharp {
    const image = sharp(frame.data, { raw: { width: frame.width, height: frame.height, channels: 3 } });
    switch (this.ext) {
      case 'png':
        return image.png({ compressionLevel: 1, adaptiveFiltering: false });
      case 'jpg':
      case 'jpeg':
        return image.jpeg({ quality: 95, chromaSubsampling: '4:2:0', optimiseCoding: false });
      case 'webp':
        return image.webp({ quality: 90 });
    }
  }

  #writeError(path: string, message: string, cause: unknown): FramepipeError {
    const reason = cause instanceof Error ? `: ${cause.message}` : '';
    return new FramepipeError(ErrorCode.WRITE_FAILED, `${message}${reason}`, { path, cause });
  }
}

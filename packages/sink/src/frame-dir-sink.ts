import { availableParallelism } from 'node:os';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Writable } from 'streamx';
import {
  AbortError,
  FrameBudget,
  InvalidOptionError,
  checkBudget,
  checkPool,
  BufferPool,
  assertKnownKeys,
  assertOptionsObject,
  checkFunction,
  checkBoolean,
  checkInteger,
  invalidOption,
  StageBuffers,
  defaultWriteWorkers,
} from '@framepipe/common';
import type { ManifestOptions } from './manifest.ts';
import { writeFailed } from './output-dir.ts';
import { NameTemplate } from './name-template.ts';
import { FrameEncoder, checkImageExtension } from './frame-encoder.ts';
import { imageShapeOf } from './image-header.ts';
import type { ImageExtension } from './frame-encoder.ts';
import { KeptFrames, checkManifest } from './kept-frames.ts';
import type { AdoptedFrame } from './kept-frames.ts';
import type { SinkFrame } from './sink-frame.ts';
import { WriterPool } from './writer-pool.ts';

/** What an {@link ImageWriter} gets besides the path and the frame. */
export interface ImageWriterOptions {
  /**
   * Aborted when the sink is destroyed (the run was aborted, or failed elsewhere). The sink waits for every write
   * under way before it reports closed, so a slow writer (an upload, say) should stop when it fires: a writer that
   * rejects leaves no file, one that resolves has its file kept.
   */
  readonly signal: AbortSignal;
}

/**
 * Writes one frame to `path`, replacing the built-in encoder. `path` is a temporary name in the output directory
 * that ends in the same extension as the final name; the sink renames it once the promise resolves.
 */
export type ImageWriter = (path: string, frame: SinkFrame, options: ImageWriterOptions) => Promise<void> | void;

/** Options of {@link FrameDirSink}. */
export interface FrameDirSinkOptions {
  /**
   * Image format, from the file extension.
   * @default 'png'
   */
  ext?: ImageExtension;
  /**
   * Files encoded and written at the same time: one per core by default, and at least 4.
   * @default max(4, os.availableParallelism())
   */
  maxWriteWorkers?: number;
  /** Called with `1` each time a file has reached its final name. */
  progress?: ((count: number) => void) | undefined;
  /** Replaces the built-in encoder ({@link FrameEncoder}). */
  imageWriter?: ImageWriter | undefined;
  /** The budget the frames were counted against; each written or discarded frame gives its unit back. */
  budget?: FrameBudget | undefined;
  /**
   * Where the frames' `data` came from (the `pool` of the `RgbConverter` upstream): the built-in encoder gives each
   * buffer back once it has encoded the frame. Frames for an `imageWriter` are not given back, since the writer may
   * keep their data.
   */
  pool?: BufferPool | undefined;
  /**
   * Frames that may wait for a free worker.
   * @default 32
   */
  highWaterMark?: number;
  /**
   * Also write `frames.jsonl` into the directory: one JSON line per frame file in the directory, in frame order:
   * the files this sink wrote or adopted, and those that were there before it (whose lines the earlier manifest had,
   * or, when it has none, with the size from the image's header and null `pts`, `time` and `keyframe`). Written once
   * every write has settled: when the input ends, always; when the sink is destroyed, only if at least one file was
   * kept. `true`, or `{ fields }` to add fields to the lines of this sink's files. Without it, a `frames.jsonl` the
   * directory already has is still brought up to date, so that it never describes replaced files wrongly.
   * @default false
   */
  manifest?: boolean | ManifestOptions | undefined;
  /**
   * Remove the directory's frame files (`frame_<index:06d>.<ext>`, in every format the sink writes), its
   * `frames.jsonl` and the temporary files of writers no longer running before the first write, so that it holds
   * only this sink's files. Other files are never touched. Without it, a file of the same name is replaced and the
   * others stay.
   * @default false
   */
  overwrite?: boolean | undefined;
  /**
   * How the files are named: one `{index}` or `{index:NN}` (the frame number, zero-padded to NN digits) and one
   * `{ext}`; see {@link NameTemplate}. Everything that finds the sink's files by name follows it: `overwrite` (which
   * also removes files of the default name), the files found and adopted, the manifest's `file`.
   * @default 'frame_{index:06}.{ext}'
   */
  nameTemplate?: string | NameTemplate | undefined;
}

const KNOWN_OPTIONS = ['ext', 'maxWriteWorkers', 'progress', 'imageWriter', 'budget', 'pool', 'highWaterMark', 'manifest', 'overwrite', 'nameTemplate'] as const;

/**
 * Writes RGB frames as image files named `frame_<index:06d>.<ext>` (or by `nameTemplate`) into a directory (created if missing), up to
 * `maxWriteWorkers` at once. Each file is written under a hidden temporary name and renamed when complete, so
 * a file under its final name is always whole; a failed or interrupted write leaves no temporary file. With
 * `manifest`, it also writes `frames.jsonl`, one JSON line per frame file in the directory in frame order, the same
 * way. Files already in the directory are replaced when the sink writes the same name, and stay otherwise (unless
 * `overwrite`); {@link FrameDirSink.filesFound} and {@link FrameDirSink.filesReplaced} count them.
 *
 * Encoding is {@link FrameEncoder}'s: PNG with an adaptive row filter and a fast deflate (smaller than OpenCV's default
 * PNGs of the same footage), JPEG at quality 96 with 4:2:0 chroma (as close to the frame as OpenCV's quality 95, which
 * Supervisely's writer uses), WebP at quality 90.
 *
 * A write that fails (disk full, permission denied, read-only file system, an `imageWriter` that throws) destroys
 * the sink with `ERR_FRAMEPIPE_WRITE_FAILED`: `error.path` is the file, `error.cause` the error underneath (the
 * system error, with its `code`, for the built-in encoder). Writes under way finish or remove their temporary file.
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
  readonly overwrite: boolean;
  /** How the files are named. */
  readonly names: NameTemplate;
  #progress: ((count: number) => void) | undefined;
  /** The user's `imageWriter`, or one that writes what the built-in encoder makes. */
  #writeImage: ImageWriter;
  /** Whether the files are the built-in encoder's, whose headers tell what frames they were written from. */
  #encoded: boolean;
  #writers: WriterPool;
  /** One object for every `#writeImage` call of the sink, not one per frame. */
  #writerOptions: ImageWriterOptions;
  #budget: FrameBudget | undefined;
  #kept: KeptFrames;
  readonly #buffered: StageBuffers<SinkFrame>;

  constructor(directory: string, options: FrameDirSinkOptions = {}) {
    if (typeof directory !== 'string' || directory.length === 0) throw invalidOption('outputDir', 'a non-empty path', directory);
    const opts = assertOptionsObject(options, 'FrameDirSink');
    assertKnownKeys(opts, KNOWN_OPTIONS, 'FrameDirSink');
    const buffered = new StageBuffers<SinkFrame>();
    super(buffered.options(checkInteger('highWaterMark', opts.highWaterMark ?? 32, 1)));
    // A SinkFrame holds no native memory: one left in the write queue only gives its budget unit back.
    this.#buffered = buffered.attach(this, { input: () => this.#budget?.release() });
    this.directory = resolve(directory);
    this.ext = checkImageExtension(opts.ext);
    this.maxWriteWorkers = checkInteger('maxWriteWorkers', opts.maxWriteWorkers ?? defaultWriteWorkers(availableParallelism()), 1);
    this.overwrite = checkBoolean('overwrite', opts.overwrite, false);
    this.names = opts.nameTemplate === undefined ? NameTemplate.DEFAULT : NameTemplate.from(opts.nameTemplate);
    this.#progress = checkFunction('progress', opts.progress);
    const imageWriter = checkFunction<ImageWriter>('imageWriter', opts.imageWriter);
    this.#budget = checkBudget(opts.budget);
    const pool = checkPool(opts.pool);
    const manifest = checkManifest(opts.manifest);
    this.#writeImage = imageWriter ?? encodedFileWriter(new FrameEncoder({ ext: this.ext, pool }));
    this.#encoded = imageWriter === undefined;
    this.#writers = new WriterPool(this.directory, this.maxWriteWorkers, (error) => this.destroy(error));
    this.#writerOptions = { signal: this.#writers.signal };
    this.#kept = new KeptFrames(this.directory, this.ext, manifest, (name, write) => this.#writers.commit(name, write), this.names);
  }

  /** Absolute paths of the files written so far and of the adopted ones, in frame order. */
  get paths(): string[] {
    return this.#kept.paths;
  }

  /** Files written so far (adopted files not included). */
  get framesWritten(): number {
    return this.#kept.framesWritten;
  }

  /** Files adopted from an earlier run. */
  get framesAdopted(): number {
    return this.#kept.framesAdopted;
  }

  /**
   * Frame files (`frame_<index:06d>.<ext>`, in any format the sink writes) that the directory held when the sink
   * opened, after `overwrite` cleared it: an earlier run's, adopted ones included. 0 before the sink has opened.
   */
  get filesFound(): number {
    return this.#kept.filesFound;
  }

  /** Of {@link FrameDirSink.filesFound}, those in another format than `ext`: they stay beside the sink's files. */
  get filesInOtherFormats(): number {
    return this.#kept.filesInOtherFormats;
  }

  /** Of {@link FrameDirSink.filesFound}, those the sink has written over (the same frame in the same format). */
  get filesReplaced(): number {
    return this.#kept.filesReplaced;
  }

  /** Frame files that `overwrite` removed when the sink opened. */
  get filesCleared(): number {
    return this.#kept.filesCleared;
  }

  /**
   * Counts complete files that an earlier run left in the directory as this sink's own, before any frame is
   * written (a resumed run): they join {@link FrameDirSink.paths}, and the manifest lists them too. Each keeps the
   * line the directory's `frames.jsonl` has for it; a file that it does not list (the earlier run was killed before
   * writing it) gets a line from `frame`, with the size read from the image's header.
   *
   * With `output`, the size and pixel format of the frames this sink will write (`FrameStages.output`), it first
   * reads the header of those files (a few bytes each, no pixels), of at most 66 of them (the first, the last and 64
   * spread evenly between), and rejects with `ERR_FRAMEPIPE_RESUME_MISMATCH`, adopting none, when one holds another
   * colour layout or bit depth than the built-in encoder makes of such a frame, when none holds its width and height
   * (one that does is enough: a video whose picture changes size mid-stream leaves files of each size), or when one
   * holds no image (the advice is to remove it and run again): a file of an earlier run with other options would
   * otherwise stay among this run's. A sink with an `imageWriter` does not check (what the writer makes is its own).
   *
   * @example
   * await sink.adopt([{ index: 0 }, { index: 1 }], { width: 640, height: 360, format: 'rgb24' });
   * await pipelinePromise(Readable.from(missingFrames), sink);
   * sink.paths; // frame_000000.png, frame_000001.png, then the files written
   */
  async adopt(frames: Iterable<AdoptedFrame>, output?: Pick<SinkFrame, 'width' | 'height' | 'format'> | null): Promise<void> {
    const adopted = [...frames];
    if (this.overwrite && adopted.length > 0) {
      throw new InvalidOptionError('overwrite', 'FrameDirSink.adopt() keeps files that overwrite removes: use one or the other');
    }
    if (output && this.#encoded && adopted.length > 0) await this.#kept.checkKept(adopted, imageShapeOf(this.ext, output));
    this.#kept.adopt(adopted);
  }

  override _open(cb: (err: Error | null) => void): void {
    mkdir(this.directory, { recursive: true })
      .catch((cause: unknown) => {
        throw writeFailed(this.directory, `Cannot create the output directory ${this.directory}`, cause);
      })
      .then(() => this.#kept.open(this.overwrite))
      .then(() => cb(null), cb);
  }

  override write(frame: SinkFrame): boolean {
    return this.#buffered.admit(frame) && super.write(frame);
  }

  override _write(frame: SinkFrame, cb: (err: Error | null) => void): void {
    this.#buffered.take(frame);
    // The next frame comes once a worker is free: at once, or when a write under way ends.
    this.#writers.run(() => this.#writeFrame(frame), cb);
  }

  override _final(cb: (err: Error | null) => void): void {
    this.#writers
      .settled()
      .then(() => {
        if (this.#writers.failure) throw this.#writers.failure;
        return this.#kept.finish();
      })
      .then(() => cb(null), cb);
  }

  override _predestroy(): void {
    this.#writers.abort(new AbortError('FrameDirSink destroyed'));
  }

  override _destroy(cb: (err: Error | null) => void): void {
    this.#buffered.release();
    // Writes under way finish (or remove their temporary file) before the sink reports closed, so that the
    // manifest lists what is kept.
    this.#writers
      .settled()
      .then(() => this.#kept.finishDestroyed())
      .then(() => cb(null));
  }

  async #writeFrame(frame: SinkFrame): Promise<void> {
    const file = this.names.format(frame.index, this.ext);
    const finalPath = join(this.directory, file);
    try {
      await this.#writers.commit(file, async (tempPath) => this.#writeImage(tempPath, frame, this.#writerOptions));
    } catch (cause) {
      throw writeFailed(finalPath, `Cannot write frame ${frame.index} to ${finalPath}`, cause);
    } finally {
      this.#budget?.release();
    }
    this.#kept.addWritten(frame, file, finalPath);
    if (!this.destroying) this.#progress?.(1);
  }
}

/**
 * The built-in way of writing a frame: encoded in memory, then written by fs rather than by sharp, so that a failed
 * write rejects with the system error and its code (ENOSPC, EACCES, EROFS).
 */
function encodedFileWriter(encoder: FrameEncoder): ImageWriter {
  return async (path, frame) => writeFile(path, await encoder.encode(frame));
}

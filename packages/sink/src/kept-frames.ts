import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ResumeMismatchError, assertKnownKeys, checkBoolean, checkFunction, invalidOption, naming } from '@framepipe/common';
import type { OptionText } from '@framepipe/common';
import type { ImageExtension } from './frame-encoder.ts';
import { describeImageShape, judgeKept, readImageHeader } from './image-header.ts';
import type { ImageHeader, ImageShape } from './image-header.ts';
import { MANIFEST_FILE_NAME, formatManifest, keptLine, parseManifest } from './manifest.ts';
import type { KeptManifestLine, ManifestEntry, ManifestOptions, ManifestValue } from './manifest.ts';
import { clearFrameFiles, listFrameFiles, writeFailed } from './output-dir.ts';
import { NameTemplate } from './name-template.ts';
import type { FrameFile } from './name-template.ts';
import type { SinkFrame } from './sink-frame.ts';
import type { WriterPool } from './writer-pool.ts';

/**
 * A complete frame file that an earlier run left in the directory, for {@link FrameDirSink.adopt}. `pts`, `time`,
 * `keyframe` and `fields` only serve the manifest, when the earlier manifest has no line for the file.
 */
export interface AdoptedFrame {
  readonly index: number;
  readonly pts?: bigint | null | undefined;
  readonly time?: number | null | undefined;
  readonly keyframe?: boolean | null | undefined;
  /** Fields of its manifest line besides the frame's own, instead of those of the `manifest` option. */
  readonly fields?: Readonly<Record<string, ManifestValue>> | undefined;
}

/**
 * The `manifest` option. Off, it still keeps a `frames.jsonl` that the directory already has true to it
 * (`ifPresent`).
 */
export function checkManifest(value: unknown): ManifestOptions {
  if (value === undefined || value === false) return { ifPresent: true };
  if (value === true) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidOption('manifest', 'a boolean or an object { fields, ifPresent }', value);
  }
  assertKnownKeys(value, ['fields', 'ifPresent'], 'manifest');
  const { fields, ifPresent } = value as ManifestOptions;
  return { fields: checkFunction('manifest.fields', fields), ifPresent: checkBoolean('manifest.ifPresent', ifPresent, false) };
}

/** Headers read at once by {@link KeptFrames.checkKept}. */
const HEADER_READERS = 16;

/** What a resumed run that finds a file of other options can do (see `ResumeMismatchError.advice`). */
export const RESUME_ADVICE = naming`${'resume'} keeps only the files this run would write; give the options of the run that wrote them, pass ${'overwrite'} to write every file again, or write into another directory`;

/** What to do about a kept file that holds no image (a write cut short, as by a power loss): no option helps. */
export function unreadableAdvice(path: string, again: string | OptionText = naming`run again with ${'resume'}`): OptionText {
  const rest = typeof again === 'string' ? { words: [again], options: [] } : again;
  return { words: [`remove ${path} (it holds no image) and ${rest.words[0]}`, ...rest.words.slice(1)], options: [...rest.options] };
}

/** Kept files whose header a resumed run reads at most: the first, the last and 64 spread evenly between them. */
export const RESUME_CHECK_SAMPLE = 66;

/** The places, among `count` kept files, of those whose header is read: all of them up to {@link RESUME_CHECK_SAMPLE}. */
export function keptSample(count: number): number[] {
  if (count <= RESUME_CHECK_SAMPLE) return Array.from({ length: count }, (_, i) => i);
  return Array.from({ length: RESUME_CHECK_SAMPLE }, (_, i) => Math.round((i * (count - 1)) / (RESUME_CHECK_SAMPLE - 1)));
}

/**
 * The frame files a sink keeps, the ones it wrote and the ones it adopted from an earlier run; what the directory
 * held before (and what `overwrite` cleared); and the manifest, which it writes when the sink is done: a line for
 * every frame file in the directory, its own files' from the frames, the others' from the earlier manifest or, when
 * it has none, from the image's header. It holds names and manifest fields, never pixels.
 */
export class KeptFrames {
  readonly directory: string;
  readonly ext: ImageExtension;
  /** How the sink names its files. */
  readonly names: NameTemplate;
  #manifest: ManifestOptions;
  #commit: WriterPool['commit'];
  #manifestDone = false;
  #written = new Map<number, string>();
  #adopted = new Map<number, string>();
  /** The lines of the files written, by file name. */
  #lines = new Map<string, ManifestEntry>();
  /** The adopted frames, by file name, for their lines. */
  #adoptedFrames = new Map<string, AdoptedFrame>();
  /** The frame files the directory held once opened (after `overwrite` cleared it), by name. */
  #found = new Map<string, FrameFile>();
  #replaced = 0;
  #cleared = 0;
  #earlier: Promise<Map<string, KeptManifestLine> | null> | null = null;

  /** `commit` writes a file of `directory` whole or not at all; `names` names the frame files. */
  constructor(directory: string, ext: ImageExtension, manifest: ManifestOptions, commit: WriterPool['commit'], names = NameTemplate.DEFAULT) {
    this.directory = directory;
    this.ext = ext;
    this.names = names;
    this.#manifest = manifest;
    this.#commit = commit;
  }

  /** Absolute paths of the written and adopted files, in frame order. */
  get paths(): string[] {
    return [...new Map([...this.#adopted, ...this.#written])].sort(([a], [b]) => a - b).map(([, path]) => path);
  }

  get framesWritten(): number {
    return this.#written.size;
  }

  get framesAdopted(): number {
    return this.#adopted.size;
  }

  /** Frame files, of any format, that the directory held before the first write (after `overwrite`). */
  get filesFound(): number {
    return this.#found.size;
  }

  /** Of {@link KeptFrames.filesFound}, those in another format than `ext`. */
  get filesInOtherFormats(): number {
    let count = 0;
    for (const file of this.#found.values()) if (file.ext !== this.ext) count++;
    return count;
  }

  /** Of {@link KeptFrames.filesFound}, those written over so far. */
  get filesReplaced(): number {
    return this.#replaced;
  }

  /** Frame files that `overwrite` removed. */
  get filesCleared(): number {
    return this.#cleared;
  }

  /**
   * Before the first write: with `overwrite`, removes the frame files, the manifest and stale temporary files;
   * then notes the frame files the directory holds.
   */
  async open(overwrite: boolean): Promise<void> {
    if (overwrite) {
      this.#cleared = (await clearFrameFiles(this.directory, this.names)).length;
      this.#earlier = null;
    }
    this.#found = new Map((await listFrameFiles(this.directory, this.names)).map((file) => [file.name, file]));
  }

  /**
   * Takes files an earlier run left as kept. Each keeps the line the directory's `frames.jsonl` has for it; a file
   * it does not list (the earlier run was killed before writing it) gets a line from `frame`, with the size read
   * from the image's header.
   */
  adopt(frames: Iterable<AdoptedFrame>): void {
    for (const frame of frames) {
      const file = this.names.format(frame.index, this.ext);
      this.#adopted.set(frame.index, join(this.directory, file));
      this.#adoptedFrames.set(file, frame);
    }
  }

  /**
   * Checks, from their headers, that the files of `frames` hold `expected` (what the sink would write of this run's
   * frames); rejects with `ERR_FRAMEPIPE_RESUME_MISMATCH` naming a file that does not, before any is adopted. It
   * reads a sample ({@link keptSample}: up to {@link RESUME_CHECK_SAMPLE} files, the first and the last among them)
   * and judges it by {@link judgeKept}: channels and bit depth must match, the size only when no file of the sample
   * has this run's (a video whose picture changes size mid-stream leaves files of each size).
   */
  async checkKept(frames: readonly AdoptedFrame[], expected: ImageShape): Promise<void> {
    const files = keptSample(frames.length).map((at) => this.names.format(frames[at]!.index, this.ext));
    const found: Array<ImageHeader | null> = new Array(files.length);
    let next = 0;
    // A few at a time: each costs an open, one small read and a close, which the thread pool does in parallel.
    const reader = async () => {
      for (let i = next++; i < files.length; i = next++) found[i] = await this.#header(files[i]!);
    };
    await Promise.all(Array.from({ length: Math.min(HEADER_READERS, files.length) }, reader));
    const mismatch = judgeKept(found, this.ext, expected);
    if (mismatch === null) return;
    const path = join(this.directory, files[mismatch.at]!);
    throw new ResumeMismatchError(path, {
      found: mismatch.found,
      options: mismatch.options,
      expected: describeImageShape(expected),
      differing: mismatch.differing,
      kept: frames.length,
      checked: files.length,
      advice: mismatch.options.length > 0 ? RESUME_ADVICE : unreadableAdvice(path),
    });
  }

  /** The header of a file of the directory; null when it is no image this sink writes. */
  async #header(file: string): Promise<ImageHeader | null> {
    const path = join(this.directory, file);
    try {
      return await readImageHeader(path);
    } catch (cause) {
      throw writeFailed(path, `Cannot read the header of ${path}`, cause);
    }
  }

  /** Records `frame` as written to `path`, whose name in the directory is `file`. */
  addWritten(frame: SinkFrame, file: string, path: string): void {
    if (this.#found.has(file) && !this.#lines.has(file)) this.#replaced++;
    this.#written.set(frame.index, path);
    const { index, width, height, pts = null, time = null, keyframe = null } = frame;
    this.#lines.set(file, { index, pts, time, keyframe, file, width, height });
  }

  /** The input has ended: writes the manifest (empty when nothing was kept); rejects when it cannot. */
  finish(): Promise<void> {
    return this.#writeManifest();
  }

  /**
   * The sink was destroyed: writes the manifest only if a file was kept, so that it lists what the directory holds.
   * Never rejects: the failure that destroyed the sink is the one to report, not a manifest that could not be
   * written on top of it.
   */
  async finishDestroyed(): Promise<void> {
    if (this.#written.size + this.#adopted.size > 0) await this.#writeManifest().catch(() => {});
  }

  /** Writes `frames.jsonl`, a line for every frame file of the directory, at most once. */
  async #writeManifest(): Promise<void> {
    if (this.#manifestDone) return;
    this.#manifestDone = true;
    const path = join(this.directory, MANIFEST_FILE_NAME);
    const earlier = await this.#readManifest();
    if (this.#manifest.ifPresent && earlier === null) return;
    const { fields } = this.#manifest;
    // The files written, then the adopted ones, then what else the directory holds.
    const entries = new Map<string, ManifestEntry | KeptManifestLine>(this.#lines);
    const adopted = [...this.#adoptedFrames.keys()].map((name) => ({ name, index: this.#adoptedFrames.get(name)!.index, ext: this.ext }));
    for (const file of [...adopted, ...(await listFrameFiles(this.directory, this.names))]) {
      if (!entries.has(file.name)) entries.set(file.name, await this.#lineOf(file, earlier ?? new Map()));
    }
    try {
      await this.#commit(MANIFEST_FILE_NAME, (tempPath) => writeFile(tempPath, formatManifest(entries.values(), fields?.())));
    } catch (cause) {
      throw writeFailed(path, `Cannot write the manifest ${path}`, cause);
    }
  }

  /**
   * The line of a frame file the sink did not write: the earlier manifest's, else one made from what is known of it
   * (an adopted frame's pts, time and fields) and the image's header.
   */
  async #lineOf(file: FrameFile, earlier: Map<string, KeptManifestLine>): Promise<ManifestEntry | KeptManifestLine> {
    const kept = earlier.get(file.name);
    if (kept?.index === file.index) return kept;
    const path = join(this.directory, file.name);
    const size = await this.#header(file.name);
    if (size === null) throw writeFailed(path, `Cannot read the size of ${path} for the manifest`, new Error('no PNG, JPEG or WebP header'));
    const adopted = this.#adoptedFrames.get(file.name);
    const { pts = null, time = null, keyframe = null, fields } = adopted ?? {};
    const entry: ManifestEntry & Record<string, unknown> = { index: file.index, pts, time, keyframe, file: file.name, width: size.width, height: size.height };
    // An adopted frame without fields of its own gets the run's, as a written one does.
    if (adopted && !fields) return entry;
    // The frame's own fields win, as on a written frame's line.
    for (const [key, value] of Object.entries(fields ?? {})) if (!Object.hasOwn(entry, key)) entry[key] = value;
    return keptLine(entry);
  }

  /** The lines of the directory's `frames.jsonl` by file name (read once); null when there is none. */
  #readManifest(): Promise<Map<string, KeptManifestLine> | null> {
    const path = join(this.directory, MANIFEST_FILE_NAME);
    this.#earlier ??= readFile(path, 'utf8').then(parseManifest, (cause: unknown) => {
      // A directory in its place is no manifest either (writing one there fails, and says so).
      const code = (cause as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EISDIR') return null;
      throw writeFailed(path, `Cannot read the manifest ${path}`, cause);
    });
    return this.#earlier;
  }
}

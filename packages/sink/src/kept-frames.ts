import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { assertKnownKeys, checkFunction, invalidOption } from '@framepipe/common';
import { MANIFEST_FILE_NAME, formatManifest, parseManifest } from './manifest.ts';
import type { KeptManifestLine, ManifestEntry, ManifestOptions, ManifestValue } from './manifest.ts';
import { frameFileName, writeFailed } from './output-dir.ts';
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

/** The `manifest` option: null when off. */
export function checkManifest(value: unknown): ManifestOptions | null {
  if (value === undefined || value === false) return null;
  if (value === true) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidOption('manifest', 'a boolean or an object { fields }', value);
  }
  assertKnownKeys(value, ['fields'], 'manifest');
  return { fields: checkFunction('manifest.fields', (value as ManifestOptions).fields) };
}

/**
 * The frame files a sink keeps, the ones it wrote and the ones it adopted from an earlier run, and with a manifest
 * the line each gets in `frames.jsonl`, which it writes when the sink is done. It holds names and manifest fields,
 * never pixels.
 */
export class KeptFrames {
  readonly directory: string;
  readonly ext: string;
  #manifest: ManifestOptions | null;
  #commit: WriterPool['commit'];
  #manifestDone = false;
  #written = new Map<number, string>();
  #adopted = new Map<number, string>();
  #entries = new Map<number, ManifestEntry | KeptManifestLine>();

  /** `manifest` null: no manifest. `commit` writes a file of `directory` whole or not at all. */
  constructor(directory: string, ext: string, manifest: ManifestOptions | null, commit: WriterPool['commit']) {
    this.directory = directory;
    this.ext = ext;
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

  /**
   * Takes files an earlier run left as kept. Each keeps the line the directory's `frames.jsonl` has for it; a file
   * it does not list (the earlier run was killed before writing it) gets a line from `frame`, with the size read
   * from the image's header.
   */
  async adopt(frames: Iterable<AdoptedFrame>): Promise<void> {
    const adopted = [...frames];
    // Nothing to adopt (every run that does not resume): the earlier manifest need not be read.
    if (adopted.length === 0) return;
    const earlier = this.#manifest ? await this.#readManifest() : new Map<string, KeptManifestLine>();
    for (const frame of adopted) {
      const file = frameFileName(frame.index, this.ext);
      const path = join(this.directory, file);
      this.#adopted.set(frame.index, path);
      if (!this.#manifest) continue;
      const kept = earlier.get(file);
      if (kept?.index === frame.index) {
        this.#entries.set(frame.index, kept);
        continue;
      }
      let size: { width?: number | undefined; height?: number | undefined };
      try {
        size = await sharp(path).metadata();
      } catch (cause) {
        throw writeFailed(path, `Cannot read the size of ${path} for the manifest`, cause);
      }
      const { index, pts = null, time = null, keyframe = null, fields = {} } = frame;
      const entry: ManifestEntry & Record<string, unknown> = { index, pts, time, keyframe, file, width: size.width ?? 0, height: size.height ?? 0 };
      // The frame's own fields win, as on a written frame's line.
      for (const [key, value] of Object.entries(fields)) if (!Object.hasOwn(entry, key)) entry[key] = value;
      this.#entries.set(index, entry);
    }
  }

  /** Records `frame` as written to `path`, whose name in the directory is `file`. */
  addWritten(frame: SinkFrame, file: string, path: string): void {
    this.#written.set(frame.index, path);
    if (this.#manifest) {
      const { index, width, height, pts = null, time = null, keyframe = null } = frame;
      this.#entries.set(index, { index, pts, time, keyframe, file, width, height });
    }
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

  /** Writes `frames.jsonl` for the files kept so far, at most once. */
  async #writeManifest(): Promise<void> {
    if (!this.#manifest || this.#manifestDone) return;
    this.#manifestDone = true;
    const { fields } = this.#manifest;
    try {
      await this.#commit(MANIFEST_FILE_NAME, (tempPath) => writeFile(tempPath, formatManifest(this.#entries.values(), fields?.())));
    } catch (cause) {
      const path = join(this.directory, MANIFEST_FILE_NAME);
      throw writeFailed(path, `Cannot write the manifest ${path}`, cause);
    }
  }

  /** The lines of the directory's `frames.jsonl` by file name; none when there is no such file. */
  async #readManifest(): Promise<Map<string, KeptManifestLine>> {
    const path = join(this.directory, MANIFEST_FILE_NAME);
    try {
      return parseManifest(await readFile(path, 'utf8'));
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
      throw writeFailed(path, `Cannot read the manifest ${path}`, cause);
    }
  }
}

import { availableParallelism } from 'node:os';
import { BufferPool, FrameBudget, checkInteger, checkOptions, conflictingOptions, defaultWriteWorkers, invalidOption, naming, rules } from '@framepipe/common';
import type { OptionRule, RuleTable, SettingsOf } from '@framepipe/common';
import { DEFAULT_CACHE_DISK, DEFAULT_CACHE_MEMORY, DEFAULT_RETRIES, DEFAULT_TIMEOUT } from '@framepipe/http-source';
import type { HttpSourceOptions } from '@framepipe/http-source';
import { SELECTION_KEYS, Selection, checkPartialIndex } from '@framepipe/pts-indexer';
import { FITS, PIXEL_FORMATS, SCALE_FILTERS, checkCrop, checkSize, checkSizeOrMaxSide } from '@framepipe/rgb';
import type { FrameGeometryOptions, OutputSize, Rect, RgbConverterOptions } from '@framepipe/rgb';
import type { PartialIndex, SelectionOptions } from '@framepipe/pts-indexer';
import { DEFAULT_NAME_TEMPLATE, IMAGE_EXTENSIONS, NameTemplate, checkFormatForExtension } from '@framepipe/sink';
import type { ImageExtension, ImageWriter } from '@framepipe/sink';
import { RAW_VIDEO_FORMATS } from '@framepipe/rgb';
import type { RawVideoFormat, RawVideoInfo } from '@framepipe/rgb';
import { RunStats } from './run-stats.ts';

// Every option of the API is declared here once: its type and documentation in an interface, its check and
// default in the rule table next to it. The settings types and the lists of known keys come from the tables.

/** How to reach a video behind a URL, and when to give up. */
export interface SourceOptions {
  /** Stops the run: every stage ends, native memory is freed, no temporary file is left. */
  signal?: AbortSignal | undefined;
  /** Extra HTTP request headers (e.g. authorization) when the source is a URL. */
  headers?: Record<string, string> | undefined;
  /**
   * Milliseconds without a byte from the server before a request fails.
   * @default 30000
   */
  timeout?: number | undefined;
  /**
   * Retries in a row that bring no new byte, of one HTTP request after a connection error, a timeout, a body cut
   * short or a 408/429/5xx answer. Each retry resumes at the byte where the body stopped; a try that brought bytes
   * starts the count again, up to 100 tries per request in all. Each retry waits (0.5 s, doubling with each try in
   * a row without a new byte up to 30 s, or the server's `Retry-After`). When they run out, the run fails with the
   * last failure's code and `error.attempts` lists each try.
   * @default 5
   */
  retries?: number | undefined;
  /**
   * Bytes of the video kept in memory once fetched, so that no reader of the run (the demuxer that opens it, a
   * scan, the decode, the index readers) fetches a byte twice; beyond, the least recently used ranges move to a
   * temporary file (see `cacheDisk`). See `HttpSourceOptions.cacheMemory`.
   * @default 67108864 (64 MiB)
   */
  cacheMemory?: number | undefined;
  /**
   * Bytes of the video the cache's temporary file may hold (in the system's temp directory, removed when the run
   * ends); once it is full, ranges that leave memory are forgotten and fetched again if read again. 0: nothing on disk.
   * @default 536870912 (512 MiB)
   */
  cacheDisk?: number | undefined;
}

const SOURCE_RULES = {
  signal: rules.signal(),
  headers: rules.headers(),
  // The byte source's own defaults, so that the help of the command line shows the values a run uses.
  timeout: { ...rules.positiveNumber(), fallback: () => DEFAULT_TIMEOUT },
  retries: rules.integer(0, DEFAULT_RETRIES),
  cacheMemory: rules.integer(0, DEFAULT_CACHE_MEMORY),
  cacheDisk: rules.integer(0, DEFAULT_CACHE_DISK),
} satisfies RuleTable<SourceOptions>;

// --- Size, crop and pixel format (one table, for every call that converts frames) ---

/**
 * The size, crop, scaling filter and pixel format of the frames a call gives: `size`, `fit`, `maxSide`, `crop`,
 * `scaleFilter`, `pixelFormat` (see `FrameGeometryOptions`), done in the one swscale pass that converts the colours.
 * @example
 * for await (const frame of streamVideoFrames(url, { size: { width: 224, height: 224 }, fit: 'cover', pixelFormat: 'bgr24' })) {
 *   model.push(frame.data); // 224 × 224 × 3 bytes, B, G, R
 * }
 */
export interface FrameFormatOptions extends FrameGeometryOptions {}

const FORMAT_RULES = {
  size: { check: (value: unknown, name: string): OutputSize => checkSize(value, name) },
  fit: rules.oneOf(FITS, 'fill'),
  maxSide: rules.integer(1),
  crop: { check: (value: unknown, name: string): Rect => checkCrop(value, name) },
  scaleFilter: rules.oneOf(SCALE_FILTERS, 'auto'),
  pixelFormat: rules.oneOf(PIXEL_FORMATS, 'rgb24'),
} satisfies RuleTable<FrameFormatOptions>;

export type FrameFormatSettings = SettingsOf<typeof FORMAT_RULES>;

/** The keys of {@link FrameFormatOptions}. */
export const FRAME_FORMAT_KEYS = Object.keys(FORMAT_RULES) as Array<keyof FrameFormatOptions>;

/**
 * Checks what the format rules cannot see one option at a time: `size` and `maxSide` exclude each other, and `fit`
 * `contain` or `cover` needs a `size` with both sides, the only case where it changes anything.
 */
function checkFormatTogether(settings: FrameFormatSettings): void {
  checkSizeOrMaxSide(settings.size, settings.maxSide);
  const { fit } = settings;
  if (fit !== 'fill' && (settings.size?.width === undefined || settings.size.height === undefined)) {
    // Silently ignoring it would leave a user who asked for a centre crop with a stretched or full picture.
    const expected = naming`fill unless ${'size'} has both sides (with one side, or ${'maxSide'}, the aspect ratio is kept: nothing to pad or cut)`;
    throw invalidOption('fit', expected, fit);
  }
}

/** Checks {@link FrameFormatOptions} alone (for a call of its own, such as a reader); throws an InvalidOptionError. */
export function checkFrameFormat(options: FrameFormatOptions | undefined, where: string): FrameFormatSettings {
  const settings = checkOptions(FORMAT_RULES, options, where);
  checkFormatTogether(settings);
  return settings;
}

/** The `RgbConverter` options that follow from checked format settings (the converter checks them again). */
export function converterOptionsOf(settings: FrameFormatSettings): Pick<RgbConverterOptions, keyof FrameFormatOptions> {
  const options: Record<string, unknown> = {};
  for (const key of FRAME_FORMAT_KEYS) if (settings[key] !== undefined) options[key] = settings[key];
  return options as Pick<RgbConverterOptions, keyof FrameFormatOptions>;
}

// --- end of size, crop and pixel format ---

/** How the frames are decoded and converted, and what the run reports. */
export interface DecodeOptions extends SourceOptions, FrameFormatOptions {
  /**
   * Draw progress lines on stderr for the scan phase and for a decode from the start (they count packets).
   * @default false
   */
  showDecodingProgress?: boolean | undefined;
  /**
   * Turn each picture upright as a player does, by the stream's rotation metadata (multiples of 90°; other angles
   * are left as stored). Off by default, as in Supervisely: frames are saved as stored, and annotation coordinates
   * refer to the stored picture.
   * @default false
   */
  autorotate?: boolean | undefined;
  /**
   * Fail with `ERR_FRAMEPIPE_CORRUPT_DATA`, naming the frame or packet, at the first packet the decoder rejects as
   * invalid data or frame it flags corrupt while the run decodes. Without it, such frames are skipped (they get no
   * file, as in Supervisely) and counted in `RunStats.rejectedPackets` and `RunStats.corruptFrames`. Also fail with
   * `ERR_FRAMEPIPE_FRAMES_MISSING` when selected frames cannot be delivered for another reason (past the end of the
   * video, before its first keyframe, hidden by its edit list; see `RunStats.framesMissing`): past the end before
   * anything is decoded, the others once decoding has shown them missing.
   * @default false
   * @example
   * await streamVideoFramesToDir(url, '/tmp/frames', { strict: true }); // rejects on damaged data
   */
  strict?: boolean | undefined;
  /** Receives live figures of the run (bytes read, frames decoded, ...). */
  stats?: RunStats | undefined;
  /**
   * Which video stream to read when the file has several, counted from 0 among its video streams (cover pictures
   * not counted). A number past the last fails with `ERR_FRAMEPIPE_INVALID_OPTION`, saying how many there are.
   * @default 0: the first video stream, as Supervisely reads it
   * @example
   * await streamVideoFramesToDir('two-cameras.mkv', '/tmp/second', { stream: 1 });
   */
  stream?: number | undefined;
  /**
   * The frame numbers of a range of whole GOPs and the keyframe it starts at, as `planShards` found them when it read
   * the whole file (`Shard.partialIndex`): a run whose selection lies within the range seeks to that keyframe (to its
   * byte, in an MPEG-TS file) and numbers frames from it, without scanning the file up to the range first. For files
   * without sample tables (Matroska, MPEG-TS, …), where that scan reads every byte before the range. A selection
   * outside the range fails with `ERR_FRAMEPIPE_INVALID_OPTION`; `openVideo` does not take it.
   * @example
   * for (const shard of plan.shards) {
   *   await streamVideoFramesToDir(url, dir, { ...shard.selection, partialIndex: shard.partialIndex, resume: true });
   * }
   */
  partialIndex?: PartialIndex | undefined;
}

const DECODE_RULES = {
  ...SOURCE_RULES,
  ...FORMAT_RULES,
  showDecodingProgress: rules.boolean(false),
  autorotate: rules.boolean(false),
  strict: rules.boolean(false),
  stats: { ...rules.instance(RunStats, 'a RunStats'), fallback: () => new RunStats() },
  stream: rules.integer(0, 0),
  partialIndex: { check: (value: unknown, name: string): PartialIndex => checkPartialIndex(value, name) },
} satisfies RuleTable<DecodeOptions>;

/** The frame options are checked together, by `Selection.from`: one rule, wherever a selection is given. */
const selectionKey = <V>(): OptionRule<V> => ({ check: (value) => value as V });
const SELECTION_RULES = {
  start: selectionKey<number>(),
  end: selectionKey<number>(),
  step: selectionKey<number>(),
  frames: selectionKey<readonly number[]>(),
  timestamps: selectionKey<readonly number[]>(),
  // Sampling by time and keyframes (issue 16).
  startTime: selectionKey<number>(),
  endTime: selectionKey<number>(),
  fps: selectionKey<number>(),
  keyframesOnly: selectionKey<boolean>(),
} satisfies RuleTable<SelectionOptions>;

/**
 * Options shared by {@link streamVideoFrames} and {@link streamVideoFramesToDir}: which frames (`start`, `end`,
 * `step`, `frames`, `timestamps`, `startTime`, `endTime`, `fps`, `keyframesOnly`; see `SelectionOptions`), how to
 * read and decode them, and how many may wait.
 */
export interface StreamOptions extends SelectionOptions, DecodeOptions {
  /**
   * Decoded frames that may wait between decoding and their consumer. Peak frame memory is about
   * `(queueMaxSize + 1) × width × height × 3` bytes for the iterator, plus `maxWriteWorkers` frames for files.
   * @default 32
   */
  queueMaxSize?: number | undefined;
}

const STREAM_RULES = {
  ...SELECTION_RULES,
  ...DECODE_RULES,
  queueMaxSize: rules.integer(1, 32),
} satisfies RuleTable<StreamOptions>;

/** Options of {@link streamVideoFrames}: the shared ones, and how frame buffers are handed out. */
export interface IterateOptions extends StreamOptions {
  /**
   * Lease frame buffers: each frame's `data` is valid only until the loop asks for the next frame, after which it
   * is overwritten with a later frame. Copy what you keep (`Buffer.from(frame.data)`). The fastest way to iterate:
   * a buffer comes back at once, with no garbage collection (see BENCHMARKS.md).
   *
   * Off by default: every frame then has a buffer of its own, which a caller may keep or hand to code that reads it
   * later (a write not awaited), at the cost of a fresh allocation per frame.
   * @default false
   */
  reuseBuffers?: boolean | undefined;
}

const ITERATE_RULES = { ...STREAM_RULES, reuseBuffers: rules.boolean(false) } satisfies RuleTable<IterateOptions>;

/** Options of {@link streamVideoFramesToDir}. */
export interface StreamToDirOptions extends StreamOptions {
  /**
   * Image format, by extension: `png`, `jpg`, `jpeg` or `webp`, in lower or upper case (`PNG` is `png`); files are
   * always named with the lower-case extension.
   * @default 'png'
   */
  ext?: ImageExtension | Uppercase<ImageExtension> | undefined;
  /** Called with `1` after each file reaches its final name. */
  progress?: ((count: number) => void) | undefined;
  /**
   * Writes one frame instead of the built-in encoder. It gets a temporary path in the output directory with the
   * final extension, and the frame (`index`, `width`, `height`, `format`, packed `data` in that pixel format); the file is renamed when the
   * returned promise resolves. Its third argument's `signal` is aborted when the run stops (an abort, a failure):
   * a slow writer that stops on it lets the call settle at once and leaves no file.
   */
  imageWriter?: ImageWriter | undefined;
  /**
   * Files encoded and written at the same time: one per core by default, since each encodes on a thread of its own,
   * and at least 4, so that encoders do not wait on file writes.
   * @default max(4, os.availableParallelism())
   */
  maxWriteWorkers?: number | undefined;
  /**
   * Also write `frames.jsonl` in the output directory: one JSON object per line per frame file in the directory, in
   * frame order, with `index`, `pts` (an integer in the stream's time base), `time` (seconds), `keyframe`, `file`
   * (its name in the directory), `width`, `height`, and the run's `strategy` and `decodePath`. Files of earlier runs
   * keep the earlier manifest's lines (one it did not describe gets its size from the image, and null timing). It
   * appears complete or not at all: always when the run completes; when the run fails or is aborted, only if frame
   * files were kept. Without it, a `frames.jsonl` the directory already has is still brought up to date.
   * @default false
   * @example
   * await streamVideoFramesToDir(url, '/tmp/frames', { start: 100, end: 199, manifest: true });
   * // /tmp/frames/frames.jsonl: {"index":100,"pts":51200,"time":4,"keyframe":true,"file":"frame_000100.png",...}
   */
  manifest?: boolean | undefined;
  /**
   * Continue an earlier run into the same directory: frames of the selection whose final file
   * (`frame_<index:06d>.<ext>`) is already there are neither decoded nor written again, and the result still lists
   * every path of the selection, in frame order. A final name only ever appears by renaming a complete file, so
   * these files are whole; temporary files are never counted, and those left by a process that is no longer
   * running (killed mid-write) are removed.
   *
   * When such files exist, frame numbers come from the container's index (or a scan) even for a range from frame
   * 0, and the GOPs that hold no missing frame are not decoded at all; when every file is there, nothing is
   * decoded. With `manifest`, `frames.jsonl` lists the whole selection (and every other frame file there): the
   * earlier manifest's lines for the files kept, and a line for each new file (a kept file that the earlier manifest
   * does not list gets a line from the container's index and the image's header). Only files of the run's `ext` are
   * reused: files of other formats stay beside the new ones (`RunStats.filesInOtherFormats`).
   * `RunStats.framesReused` counts the files kept. Not with `overwrite`.
   * @default false
   * @example
   * // Interrupted at frame 6000? Run the same call again: it starts where the files stop.
   * await streamVideoFramesToDir(url, '/tmp/frames', { resume: true });
   */
  resume?: boolean | undefined;
  /**
   * Start from a clean directory: remove its frame files (`frame_<index:06d>.<ext>`, in every format), its
   * `frames.jsonl` and the temporary files of killed writers before the first file is written; nothing else in it is
   * touched. Without it (and without `resume`), a file of the same name is replaced and the other frame files stay,
   * listed in `frames.jsonl` beside the new ones; `RunStats.filesFound` and `RunStats.filesReplaced` say how many.
   * The directory is cleared only once the video has been opened, so a run that cannot read it leaves it as it was.
   * Not with `resume`, which keeps what this removes.
   * @default false
   * @example
   * await streamVideoFramesToDir(url, '/tmp/frames', { ext: 'jpg', overwrite: true }); // no PNG of an earlier run stays
   */
  overwrite?: boolean | undefined;
  // -- nameTemplate (issue 16, stdout-naming) --
  /**
   * How the frame files are named: exactly one `{index}` (the frame number) or `{index:NN}` (zero-padded to NN
   * digits; a wider number is written whole), and one `{ext}`; no path separator, no `..`, no leading dot, no other
   * `{…}`. A bad template fails with `ERR_FRAMEPIPE_INVALID_OPTION` before any I/O. `resume` (which files exist),
   * `overwrite` (which files to remove: those this template or the default names, nothing else), the manifest's `file`
   * and the result paths all follow it.
   * @default 'frame_{index:06}.{ext}'
   * @example
   * await streamVideoFramesToDir(url, '/tmp/frames', { ext: 'jpg', nameTemplate: 'img_{index:05}.{ext}' }); // img_00000.jpg, ...
   */
  nameTemplate?: string | undefined;
}

const DIR_RULES = {
  ...STREAM_RULES,
  ext: rules.oneOf(IMAGE_EXTENSIONS, 'png', true),
  progress: rules.function<(count: number) => void>(),
  imageWriter: rules.function<ImageWriter>(),
  maxWriteWorkers: { ...rules.integer(1), fallback: () => defaultWriteWorkers(availableParallelism()) },
  resume: rules.boolean(false),
  overwrite: rules.boolean(false),
  manifest: rules.boolean(false),
  nameTemplate: { check: (value: unknown, name: string) => NameTemplate.from(value, name).template, fallback: () => DEFAULT_NAME_TEMPLATE },
} satisfies RuleTable<StreamToDirOptions>;

// -- pipeVideoFrames (issue 16, stdout-naming) --
/** Options of {@link pipeVideoFrames}: the shared ones, the byte format, and what the caller is told. */
export interface PipeOptions extends StreamOptions {
  /**
   * `raw`: each frame's pixels in its `pixelFormat` (rows without padding) one frame after another, for
   * `ffmpeg -f rawvideo -pix_fmt rgb24 -s WxH -r R -i -` (`onStart` gives the options); `y4m`: a YUV4MPEG2 stream
   * (full-range BT.601 4:4:4, `XCOLORRANGE=FULL`; gray frames `Cmono`) for `ffmpeg -f yuv4mpegpipe -i -`, whose
   * header carries the size and rate. See `RawVideoSink`.
   * @default 'raw'
   */
  format?: RawVideoFormat | undefined;
  /** Called once before the first frame's bytes, with the size, pixel format, rate and the ffmpeg options that read them. */
  onStart?: ((info: RawVideoInfo) => void) | undefined;
  /** Called with `1` after each frame's bytes are handed to the output. */
  progress?: ((count: number) => void) | undefined;
}

const PIPE_RULES = {
  ...STREAM_RULES,
  format: rules.oneOf(RAW_VIDEO_FORMATS, 'raw'),
  onStart: rules.function<(info: RawVideoInfo) => void>(),
  progress: rules.function<(count: number) => void>(),
} satisfies RuleTable<PipeOptions>;

export type PipeSettings = Checked<typeof PIPE_RULES>;

/** Checks the options of {@link pipeVideoFrames}; throws an InvalidOptionError before any I/O. */
export function checkPipeOptions(output: unknown, options: PipeOptions | undefined): PipeSettings {
  const writable = output as { write?: unknown; on?: unknown } | null;
  if (writable === null || typeof writable !== 'object' || typeof writable.write !== 'function' || typeof writable.on !== 'function') {
    throw invalidOption('output', 'a Node Writable (process.stdout, say)', output);
  }
  return withSelection(PIPE_RULES, options, 'pipeVideoFrames');
}
// -- end pipeVideoFrames --

/** Options of {@link openFrameStages}: how to read and decode, and what bounds the frames alive at once. */
export interface FrameStagesOptions extends DecodeOptions {
  /**
   * How many decoded frames may be alive at once, from the decoder to your consumer: a number, or a `FrameBudget`
   * you share with stages of your own. The decoder takes a unit for each frame; whoever ends a frame's life gives
   * it back with `budget.release()`: the stages for the frames they drop, your consumer for every frame it
   * receives. Peak frame memory is about `budget × width × height × 3` bytes (of the output size and pixel format).
   * @default 8
   */
  budget?: FrameBudget | number | undefined;
  /**
   * Milliseconds the decoder may wait for a unit of the budget while none is given back before the run fails with
   * `ERR_FRAMEPIPE_STALLED`: a consumer that never calls `budget.release()` fails loudly instead of hanging. 0
   * waits for ever. Only with a budget given as a number: a `FrameBudget` carries its own (its `stallTimeout`).
   * @default 60000
   */
  stallTimeout?: number | undefined;
  /**
   * Converted frames that may wait in the last stage's output for your consumer.
   * @default 1
   */
  highWaterMark?: number | undefined;
  /**
   * Where the converter takes the frames' buffers from; give each `frame.data` back with `pool.give()` once done
   * with it, and buffers are reused instead of allocated per frame. Without it, every frame has a buffer of its own.
   */
  pool?: BufferPool | undefined;
  /**
   * Frame numbers to leave out of the selection (their files exist, say). With any of them in the selection, the
   * frames are numbered from an index even for a range from frame 0, so that GOPs without a wanted frame are not
   * decoded; `FrameStages.skipped` lists those left out.
   */
  skip?: Iterable<number> | undefined;
}

const STAGE_RULES = {
  ...DECODE_RULES,
  budget: {
    check: (value: unknown, name: string) => (value instanceof FrameBudget ? value : checkInteger(name, value, 1)),
    fallback: () => 8 as FrameBudget | number,
  },
  stallTimeout: rules.integer(0, 60_000),
  highWaterMark: rules.integer(1, 1),
  pool: rules.instance(BufferPool, 'a BufferPool'),
  skip: {
    check: (value: unknown, name: string): ReadonlySet<number> => {
      if (value === null || typeof (value as Iterable<number>)[Symbol.iterator] !== 'function') throw invalidOption(name, 'an iterable of frame numbers', value);
      const numbers = new Set<number>();
      for (const n of value as Iterable<number>) numbers.add(checkInteger(name, n, 0));
      return numbers;
    },
  },
} satisfies RuleTable<FrameStagesOptions>;

/** Options of {@link openVideo}: how to read and decode the video, and how many decoded frames the reader may keep. */
export interface VideoReaderOptions extends Omit<DecodeOptions, 'partialIndex'> {
  /**
   * Decoded frames (native pictures, before their conversion to RGB) that the reader keeps at once: the one being
   * converted, and those the decoder has made ahead of the last frame asked for, ready for a request that goes on
   * forward. Peak frame memory is about `maxDecodedFrames × width × height × 1.5` bytes for 8-bit 4:2:0 video, plus
   * the decoder's own reference pictures, whatever the number of frames a `getFrames` call asks for (those are held
   * only as RGB, the result). 1 decodes nothing ahead, and the decoder then waits while a frame is converted.
   * @default 2
   * @example
   * await using reader = await openVideo(url, { maxDecodedFrames: 1 });
   */
  maxDecodedFrames?: number | undefined;
}

// A reader may be asked for any frame: a range's index cannot serve it.
const { partialIndex: _partialIndex, ...READER_DECODE_RULES } = DECODE_RULES;
const READER_RULES = {
  ...READER_DECODE_RULES,
  maxDecodedFrames: rules.integer(1, 2),
} satisfies RuleTable<VideoReaderOptions>;

/** The keys of each call's options, for the checks and for callers that pass options through (the CLI, Supervisely). */
export const OPTION_KEYS = {
  source: Object.keys(SOURCE_RULES) as Array<keyof SourceOptions>,
  stream: Object.keys(STREAM_RULES) as Array<keyof StreamOptions>,
  iterate: Object.keys(ITERATE_RULES) as Array<keyof IterateOptions>,
  dir: Object.keys(DIR_RULES) as Array<keyof StreamToDirOptions>,
  pipe: Object.keys(PIPE_RULES) as Array<keyof PipeOptions>,
  stages: Object.keys(STAGE_RULES) as Array<keyof FrameStagesOptions>,
  reader: Object.keys(READER_RULES) as Array<keyof VideoReaderOptions>,
} as const;

/** The defaults of the options that have one, as the rules give them (for help texts). */
export function optionDefault(name: keyof StreamToDirOptions | keyof IterateOptions | keyof FrameStagesOptions): unknown {
  const table: Record<string, OptionRule<unknown>> = { ...DIR_RULES, ...ITERATE_RULES, ...STAGE_RULES };
  return name === 'stats' ? undefined : table[name]?.fallback?.();
}

/** Options after checking, defaults applied: the source's, and the selection as one value. */
type Checked<T> = Omit<SettingsOf<T>, keyof SelectionOptions> & { selection: Selection };

export type SourceSettings = SettingsOf<typeof SOURCE_RULES>;
export type DecodeSettings = SettingsOf<typeof DECODE_RULES>;
export type IterateSettings = Checked<typeof ITERATE_RULES>;
export type DirSettings = Checked<typeof DIR_RULES>;
export type StageSettings = SettingsOf<typeof STAGE_RULES>;
export type VideoReaderSettings = SettingsOf<typeof READER_RULES>;

/** Checks and applies a table, then the selection it holds as one value. */
function withSelection<T extends Record<string, OptionRule<unknown>>>(table: T, options: unknown, where: string): Checked<T> {
  const settings = checkOptions(table, options, where) as Record<string, unknown>;
  checkFormatTogether(settings as FrameFormatSettings);
  const selection = Selection.from(Object.fromEntries(SELECTION_KEYS.map((key) => [key, settings[key]])));
  for (const key of SELECTION_KEYS) delete settings[key];
  return { ...settings, selection } as Checked<T>;
}

/** Checks the options of {@link streamVideoFrames}; throws an InvalidOptionError before any I/O. */
export function checkStreamOptions(options: IterateOptions | undefined): IterateSettings {
  return withSelection(ITERATE_RULES, options, 'streamVideoFrames');
}

/** Checks the options of {@link streamVideoFramesToDir}; throws an InvalidOptionError before any I/O. */
export function checkDirOptions(outputDir: unknown, options: StreamToDirOptions | undefined): DirSettings {
  if (typeof outputDir !== 'string' || outputDir.length === 0) throw invalidOption('outputDir', 'a non-empty path', outputDir);
  const settings = withSelection(DIR_RULES, options, 'streamVideoFramesToDir');
  if (settings.overwrite && settings.resume) {
    throw conflictingOptions('overwrite', 'resume', naming`${'resume'} keeps the files that ${'overwrite'} removes; give one or the other`);
  }
  // A writer of one's own decides what its files hold.
  if (!settings.imageWriter) checkFormatForExtension(settings.pixelFormat, settings.ext);
  return settings;
}

/** Checks the options of {@link openFrameStages}. */
export function checkStageOptions(options: FrameStagesOptions | undefined): StageSettings {
  const settings = checkOptions(STAGE_RULES, options, 'openFrameStages');
  checkFormatTogether(settings);
  if (settings.budget instanceof FrameBudget && options?.stallTimeout !== undefined) {
    // A budget comes with its own; silently running with another would mislead.
    throw invalidOption('stallTimeout', 'no stallTimeout with a FrameBudget (give it to the budget: new FrameBudget(n, { stallTimeout }))', options.stallTimeout);
  }
  return settings;
}

/** Checks the options of {@link openVideo}; throws an InvalidOptionError before any I/O. */
export function checkReaderOptions(options: VideoReaderOptions | undefined): VideoReaderSettings {
  const settings = checkOptions(READER_RULES, options, 'openVideo');
  checkFormatTogether(settings);
  return settings;
}

/** Checks `signal`, `headers`, `timeout`, `retries` and the cache limits among other options, whose keys the caller checks. */
export function checkSourceOptions(options: SourceOptions): SourceSettings {
  const { signal, headers, timeout, retries, cacheMemory, cacheDisk } = options;
  return checkOptions(SOURCE_RULES, { signal, headers, timeout, retries, cacheMemory, cacheDisk }, 'source');
}

/** The decode options among checked settings, to pass on to {@link openFrameStages}. */
export function decodeOptionsOf(settings: DecodeSettings): DecodeOptions {
  // By the table's keys, so that an option added to the table passes through without a word here.
  const decode: Record<string, unknown> = {};
  for (const key of Object.keys(DECODE_RULES)) decode[key] = settings[key as keyof DecodeSettings];
  return decode as DecodeOptions;
}

/** The HttpSource options that follow from the settings. */
export function httpOptionsOf(settings: SourceSettings): HttpSourceOptions {
  const { timeout, retries, cacheMemory, cacheDisk } = settings;
  return { ...(settings.headers ? { headers: settings.headers } : {}), timeout, retries, cacheMemory, cacheDisk };
}

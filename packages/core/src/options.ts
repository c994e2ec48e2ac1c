import {
  assertKnownKeys,
  assertOptionsObject,
  checkBoolean,
  checkFunction,
  checkInteger,
  checkOneOf,
  checkPositiveNumber,
  checkSignal,
  invalidOption,
} from '@framepipe/common';
import { IMAGE_EXTENSIONS } from '@framepipe/sink';
import type { ImageExtension, ImageWriter } from '@framepipe/sink';
import { RunStats } from './run-stats.ts';

/** Options shared by {@link streamVideoFrames} and {@link streamVideoFramesToDir}. */
export interface StreamOptions {
  /**
   * First frame number (inclusive, 0-based).
   * @default 0
   */
  start?: number | undefined;
  /** Last frame number (inclusive, 0-based); past the last frame means "to the end". Omit for the last frame. */
  end?: number | undefined;
  /**
   * Keep every `step`-th frame of the range: `start`, `start + step`, `start + 2 × step`, ... up to `end`.
   * @default 1
   */
  step?: number | undefined;
  /**
   * Exactly these frame numbers, in any order; duplicates and numbers past the last frame are ignored, and the
   * output comes in frame order. Not with `start`, `end`, `step` or `timestamps`.
   */
  frames?: readonly number[] | undefined;
  /**
   * Times in seconds from the first frame; each selects the frame shown at that time: the last frame whose
   * presentation time is at or before it (nothing for a time past the stream's duration). Two times on one frame
   * select it once. Not with `start`, `end`, `step` or `frames`.
   */
  timestamps?: readonly number[] | undefined;
  /**
   * Decoded frames that may wait between decoding and their consumer. Peak frame memory is about
   * `(queueMaxSize + 1) × width × height × 3` bytes for the iterator, plus `maxWriteWorkers` frames for files.
   * @default 32
   */
  queueMaxSize?: number | undefined;
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
   * Retries of one HTTP request after a connection error, a timeout, a short body or a 408/429/5xx answer. Each
   * retry waits (0.5 s doubling up to 30 s, or the server's `Retry-After`) and resumes at the byte where the body
   * stopped. When they run out, the run fails with the last failure's code and `error.attempts` lists each try.
   * @default 5
   */
  retries?: number | undefined;
  /** Receives live figures of the run (bytes read, frames decoded, ...). */
  stats?: RunStats | undefined;
  /**
   * Fail with `ERR_FRAMEPIPE_CORRUPT_DATA`, naming the frame or packet, at the first packet the decoder rejects as
   * invalid data or frame it flags corrupt while the run decodes. Without it, such frames are skipped (they get no
   * file, as in Supervisely) and counted in `RunStats.rejectedPackets` and `RunStats.corruptFrames`.
   * @default false
   * @example
   * await streamVideoFramesToDir(url, '/tmp/frames', { strict: true }); // rejects on damaged data
   */
  strict?: boolean | undefined;
}

/** Options of {@link streamVideoFrames}: the shared ones, and how frame buffers are handed out. */
export interface IterateOptions extends StreamOptions {
  /**
   * Reuse frame buffers: each frame's `data` is valid only until the loop asks for the next frame, after which it
   * is overwritten with a later frame. Copy what you keep (`Buffer.from(frame.data)`). It saves a fresh 6 MB
   * allocation per 1080p frame, and the garbage collection that comes with it (see BENCHMARKS.md). Off by
   * default: every frame then has a buffer of its own, which a caller may keep.
   * @default false
   */
  reuseBuffers?: boolean | undefined;
}

/** Options of {@link streamVideoFramesToDir}. */
export interface StreamToDirOptions extends StreamOptions {
  /**
   * Image format, by extension: `png`, `jpg`, `jpeg` or `webp`.
   * @default 'png'
   */
  ext?: ImageExtension | undefined;
  /** Called with `1` after each file reaches its final name. */
  progress?: ((count: number) => void) | undefined;
  /**
   * Writes one frame instead of the built-in encoder. It gets a temporary path in the output directory with the
   * final extension, and the frame (`index`, `width`, `height`, packed RGB `data`); the file is renamed when the
   * returned promise resolves. Its third argument's `signal` is aborted when the run stops (an abort, a failure):
   * a slow writer that stops on it lets the call settle at once and leaves no file.
   */
  imageWriter?: ImageWriter | undefined;
  /**
   * Files written at the same time.
   * @default 4
   */
  maxWriteWorkers?: number | undefined;
  /**
   * Also write `frames.jsonl` in the output directory: one JSON object per line per saved frame, in frame order,
   * with `index`, `pts` (an integer in the stream's time base), `time` (seconds), `keyframe`, `file` (its name in
   * the directory), `width`, `height`, and the run's `strategy` and `decodePath`. It appears complete or not at
   * all: always when the run completes (empty if no frame was selected); when the run fails or is aborted, only
   * if frame files were kept, and then it lists exactly those.
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
   * decoded. With `manifest`, `frames.jsonl` lists the whole selection: the earlier manifest's lines for the files
   * kept, then a line for each new file (a kept file that the earlier manifest does not list gets a line from the
   * container's index and the image's header). `RunStats.framesReused` counts the files kept.
   * @default false
   * @example
   * // Interrupted at frame 6000? Run the same call again: it starts where the files stop.
   * await streamVideoFramesToDir(url, '/tmp/frames', { resume: true });
   */
  resume?: boolean | undefined;
}

/** Options after checking, defaults applied. */
export interface RunSettings extends SourceSettings {
  start: number;
  end: number | undefined;
  step: number;
  /** Sorted, without duplicates; undefined for a range. */
  frames: readonly number[] | undefined;
  /** As given (seconds); undefined unless the caller chose frames by time. */
  timestamps: readonly number[] | undefined;
  queueMaxSize: number;
  showDecodingProgress: boolean;
  autorotate: boolean;
  strict: boolean;
  stats: RunStats;
}

export interface DirSettings extends RunSettings {
  ext: ImageExtension;
  progress: ((count: number) => void) | undefined;
  imageWriter: ImageWriter | undefined;
  maxWriteWorkers: number;
  manifest: boolean;
  resume: boolean;
}

const COMMON_KEYS = ['start', 'end', 'step', 'frames', 'timestamps', 'queueMaxSize', 'showDecodingProgress', 'autorotate', 'signal', 'headers', 'timeout', 'retries', 'stats', 'strict'];
const DIR_KEYS = [...COMMON_KEYS, 'ext', 'progress', 'imageWriter', 'maxWriteWorkers', 'resume', 'manifest'];

/** Settings of {@link streamVideoFrames}. */
export interface IterateSettings extends RunSettings {
  reuseBuffers: boolean;
}

/** Checks the options of {@link streamVideoFrames}; throws an InvalidOptionError before any I/O. */
export function checkStreamOptions(options: IterateOptions | undefined): IterateSettings {
  const opts = assertOptionsObject(options, 'streamVideoFrames');
  assertKnownKeys(opts, [...COMMON_KEYS, 'reuseBuffers'], 'streamVideoFrames');
  return { ...checkCommon(opts), reuseBuffers: checkBoolean('reuseBuffers', opts.reuseBuffers, false) };
}

/** Checks the options of {@link streamVideoFramesToDir}; throws an InvalidOptionError before any I/O. */
export function checkDirOptions(outputDir: unknown, options: StreamToDirOptions | undefined): DirSettings {
  if (typeof outputDir !== 'string' || outputDir.length === 0) throw invalidOption('outputDir', 'a non-empty path', outputDir);
  const opts = assertOptionsObject(options, 'streamVideoFramesToDir');
  assertKnownKeys(opts, DIR_KEYS, 'streamVideoFramesToDir');
  return {
    ...checkCommon(opts),
    ext: checkOneOf('ext', opts.ext ?? 'png', IMAGE_EXTENSIONS),
    progress: checkFunction('progress', opts.progress),
    imageWriter: checkFunction('imageWriter', opts.imageWriter),
    maxWriteWorkers: checkInteger('maxWriteWorkers', opts.maxWriteWorkers ?? 4, 1),
    manifest: checkBoolean('manifest', opts.manifest, false),
    resume: checkBoolean('resume', opts.resume, false),
  };
}

function checkCommon(opts: Partial<StreamOptions>): RunSettings {
  const start = checkInteger('start', opts.start ?? 0, 0);
  const end = checkInteger('end', opts.end, 0, true);
  if (end !== undefined && end < start) throw invalidOption('end', `an integer >= start (${start})`, end);
  if (opts.stats !== undefined && !(opts.stats instanceof RunStats)) throw invalidOption('stats', 'a RunStats', opts.stats);
  const step = checkInteger('step', opts.step ?? 1, 1);
  const frames = opts.frames === undefined ? undefined : checkFrameList(opts.frames);
  const timestamps = opts.timestamps === undefined ? undefined : checkTimestamps(opts.timestamps);
  const chosen = (['frames', 'timestamps'] as const).filter((key) => opts[key] !== undefined);
  const ranged = (['start', 'end', 'step'] as const).filter((key) => opts[key] !== undefined);
  if (chosen.length > 1 || (chosen.length === 1 && ranged.length > 0)) {
    const [first, second] = [...chosen, ...ranged] as [string, string];
    throw invalidOption(second, `no ${second} together with ${first} (choose a range, a list of frames, or timestamps)`, opts[second as 'start']);
  }
  return {
    start: frames?.[0] ?? start,
    end: frames === undefined ? end : frames[frames.length - 1],
    step,
    frames,
    timestamps,
    queueMaxSize: checkInteger('queueMaxSize', opts.queueMaxSize ?? 32, 1),
    showDecodingProgress: checkBoolean('showDecodingProgress', opts.showDecodingProgress, false),
    autorotate: checkBoolean('autorotate', opts.autorotate, false),
    strict: checkBoolean('strict', opts.strict, false),
    ...checkSourceOptions(opts),
    stats: opts.stats ?? new RunStats(),
  };
}

/** A list of frame numbers, sorted and without duplicates. */
function checkFrameList(value: unknown): number[] {
  if (!Array.isArray(value)) throw invalidOption('frames', 'an array of frame numbers', value);
  for (const n of value) checkInteger('frames', n, 0);
  return [...new Set(value as number[])].sort((a, b) => a - b);
}

function checkTimestamps(value: unknown): number[] {
  if (!Array.isArray(value)) throw invalidOption('timestamps', 'an array of times in seconds', value);
  for (const t of value) {
    if (typeof t !== 'number' || !Number.isFinite(t) || t < 0) throw invalidOption('timestamps', 'an array of times >= 0 in seconds', t);
  }
  return [...value] as number[];
}

/** The options of any call that reads a video: how to reach it and when to give up. */
export interface SourceSettings {
  signal: AbortSignal | undefined;
  headers: Record<string, string> | undefined;
  timeout: number | undefined;
  retries: number | undefined;
}

/** The HttpSource options that follow from the settings (none that were not given). */
export function httpOptionsOf(settings: SourceSettings): { headers?: Record<string, string>; timeout?: number; retries?: number } {
  return {
    ...(settings.headers ? { headers: settings.headers } : {}),
    ...(settings.timeout !== undefined ? { timeout: settings.timeout } : {}),
    ...(settings.retries !== undefined ? { retries: settings.retries } : {}),
  };
}

/** Checks `signal`, `headers`, `timeout` and `retries`. */
export function checkSourceOptions(opts: { signal?: unknown; headers?: unknown; timeout?: unknown; retries?: unknown }): SourceSettings {
  const headers = opts.headers;
  if (
    headers !== undefined &&
    (typeof headers !== 'object' || headers === null || Object.values(headers).some((v) => typeof v !== 'string'))
  ) {
    throw invalidOption('headers', 'an object of string values', headers);
  }
  return {
    signal: checkSignal('signal', opts.signal),
    headers: headers as Record<string, string> | undefined,
    timeout: checkPositiveNumber('timeout', opts.timeout, true),
    retries: checkInteger('retries', opts.retries, 0, true),
  };
}

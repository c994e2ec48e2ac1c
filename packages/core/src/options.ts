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
  /** Stops the run: every stage ends, native memory is freed, no temporary file is left. */
  signal?: AbortSignal | undefined;
  /** Extra HTTP request headers (e.g. authorization) when the source is a URL. */
  headers?: Record<string, string> | undefined;
  /**
   * Milliseconds without a byte from the server before a request fails.
   * @default 30000
   */
  timeout?: number | undefined;
  /** Receives live figures of the run (bytes read, frames decoded, ...). */
  stats?: RunStats | undefined;
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
   * returned promise resolves.
   */
  imageWriter?: ImageWriter | undefined;
  /**
   * Files written at the same time.
   * @default 4
   */
  maxWriteWorkers?: number | undefined;
}

/** Options after checking, defaults applied. */
export interface RunSettings extends SourceSettings {
  start: number;
  end: number | undefined;
  queueMaxSize: number;
  showDecodingProgress: boolean;
  stats: RunStats;
}

export interface DirSettings extends RunSettings {
  ext: ImageExtension;
  progress: ((count: number) => void) | undefined;
  imageWriter: ImageWriter | undefined;
  maxWriteWorkers: number;
}

const COMMON_KEYS = ['start', 'end', 'queueMaxSize', 'showDecodingProgress', 'signal', 'headers', 'timeout', 'stats'];
const DIR_KEYS = [...COMMON_KEYS, 'ext', 'progress', 'imageWriter', 'maxWriteWorkers'];

/** Checks the options of {@link streamVideoFrames}; throws an InvalidOptionError before any I/O. */
export function checkStreamOptions(options: StreamOptions | undefined): RunSettings {
  const opts = assertOptionsObject(options, 'streamVideoFrames');
  assertKnownKeys(opts, COMMON_KEYS, 'streamVideoFrames');
  return checkCommon(opts);
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
  };
}

function checkCommon(opts: Partial<StreamOptions>): RunSettings {
  const start = checkInteger('start', opts.start ?? 0, 0);
  const end = checkInteger('end', opts.end, 0, true);
  if (end !== undefined && end < start) throw invalidOption('end', `an integer >= start (${start})`, end);
  if (opts.stats !== undefined && !(opts.stats instanceof RunStats)) throw invalidOption('stats', 'a RunStats', opts.stats);
  return {
    start,
    end,
    queueMaxSize: checkInteger('queueMaxSize', opts.queueMaxSize ?? 32, 1),
    showDecodingProgress: checkBoolean('showDecodingProgress', opts.showDecodingProgress, false),
    ...checkSourceOptions(opts),
    stats: opts.stats ?? new RunStats(),
  };
}

/** The options of any call that reads a video: how to reach it and when to give up. */
export interface SourceSettings {
  signal: AbortSignal | undefined;
  headers: Record<string, string> | undefined;
  timeout: number | undefined;
}

/** The HttpSource options that follow from the settings (none that were not given). */
export function httpOptionsOf(settings: SourceSettings): { headers?: Record<string, string>; timeout?: number } {
  return {
    ...(settings.headers ? { headers: settings.headers } : {}),
    ...(settings.timeout !== undefined ? { timeout: settings.timeout } : {}),
  };
}

/** Checks `signal`, `headers` and `timeout`. */
export function checkSourceOptions(opts: { signal?: unknown; headers?: unknown; timeout?: unknown }): SourceSettings {
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
  };
}

import type { Options } from 'yargs';
import { InvalidOptionError, optionDefault } from '@framepipe/core';
import type { PixelFormat, SourceOptions, StreamToDirOptions } from '@framepipe/core';
import type { BatchOptions } from '@framepipe/batch';
import type { EnqueueOptions, WorkerOptions } from '@framepipe/queue';

/**
 * A flag that sets an option of the library: its name on the command line, how yargs reads it, and how its value
 * becomes the option's (when the units or the shape differ). The option's check and default stay the library's:
 * the flag gives no default of its own, and its help shows the library's.
 */
export interface OptionFlag<O> {
  readonly option: keyof O & string;
  readonly flag: string;
  readonly yargs: Options & { describe: string; group: string };
  /** The option's value from the flag's, when they differ. */
  readonly toOption?: (value: never) => unknown;
  /** How the help text shows the default, when it is not the library's value as it is (other units, or Selection's). */
  readonly shownDefault?: string;
}

const MiB = 1024 * 1024;

export const SOURCE_GROUP = 'Video (a <source>, or a Supervisely --video-id):';

/** Flags of how the video is reached, for every command; a Supervisely source takes them too. */
export const SOURCE_FLAGS: ReadonlyArray<OptionFlag<SourceOptions>> = [
  {
    option: 'headers',
    flag: 'header',
    yargs: { type: 'string', array: true, requiresArg: true, describe: 'HTTP request header "Name: value" (repeatable)', group: SOURCE_GROUP },
    toOption: (lines: string[]) => parseHeaders(lines),
  },
  {
    option: 'timeout',
    flag: 'timeout',
    yargs: { type: 'number', requiresArg: true, describe: 'Seconds a request may wait for a byte', group: SOURCE_GROUP },
    toOption: (seconds: number) => seconds * 1000,
    shownDefault: String((optionDefault('timeout') as number) / 1000),
  },
  {
    option: 'retries',
    flag: 'retries',
    yargs: { type: 'number', requiresArg: true, describe: 'Retries of a failed HTTP request, resuming at the byte where it stopped', group: SOURCE_GROUP },
  },
  {
    option: 'cacheMemory',
    flag: 'cache-memory',
    yargs: { type: 'number', requiresArg: true, describe: 'MiB of the video kept in memory once fetched, so no byte is fetched twice', group: SOURCE_GROUP },
    toOption: (mib: number) => mebibytes(mib),
    shownDefault: String((optionDefault('cacheMemory') as number) / MiB),
  },
  {
    option: 'cacheDisk',
    flag: 'cache-disk',
    yargs: { type: 'number', requiresArg: true, describe: 'MiB of the video the cache may keep in a temporary file beyond that (0: none)', group: SOURCE_GROUP },
    toOption: (mib: number) => mebibytes(mib),
    shownDefault: String((optionDefault('cacheDisk') as number) / MiB),
  },
];

/** Bytes from a number of MiB on the command line (fractions allowed, rounded to a byte); anything else stays as given, for the option's check to refuse. */
function mebibytes(mib: number): unknown {
  return typeof mib === 'number' && Number.isFinite(mib) && mib >= 0 ? Math.round(mib * MiB) : mib;
}

const FRAMES_GROUP = 'Frames:';

/** `--stream N`, for every command that reads a video stream. */
export const STREAM_FLAG: OptionFlag<StreamToDirOptions> = {
  option: 'stream',
  flag: 'stream',
  yargs: { type: 'number', requiresArg: true, describe: 'Which video stream to read when the file has several, from 0 (probe says how many)', group: SOURCE_GROUP },
};

// --- Size, crop and pixel format ---

const FORMAT_GROUP = 'Size and format:';

/** `--size`, `--fit`, `--max-side`, `--crop`, `--scale-filter`, `--pixel-format`: the options of `FrameFormatOptions`. */
export const FORMAT_FLAGS: ReadonlyArray<OptionFlag<StreamToDirOptions>> = [
  {
    option: 'size',
    flag: 'size',
    yargs: { type: 'string', requiresArg: true, describe: 'Output size WxH; 640x or x360 keeps the aspect ratio [default: the picture\'s]', group: FORMAT_GROUP },
    toOption: (text: string) => parseSize(text),
  },
  { option: 'fit', flag: 'fit', yargs: { type: 'string', requiresArg: true, describe: 'With both sides of --size: fill (stretch), contain (pad with black) or cover (crop the centre)', group: FORMAT_GROUP } },
  { option: 'maxSide', flag: 'max-side', yargs: { type: 'number', requiresArg: true, describe: 'Scale down so the longer side is at most N pixels (not with --size)', group: FORMAT_GROUP } },
  {
    option: 'crop',
    flag: 'crop',
    yargs: { type: 'string', requiresArg: true, describe: 'Keep the rectangle WxH+X+Y of the picture as shown (upright with --autorotate), before the scale', group: FORMAT_GROUP },
    toOption: (text: string) => parseCrop(text),
  },
  {
    option: 'scaleFilter',
    flag: 'scale-filter',
    yargs: { type: 'string', requiresArg: true, describe: 'Resize filter: area, bicubic, bilinear, lanczos or neighbor; auto is area to shrink, bicubic to enlarge', group: FORMAT_GROUP },
  },
  {
    option: 'pixelFormat',
    flag: 'pixel-format',
    yargs: { type: 'string', requiresArg: true, describe: "rgb24, bgr24, rgba, gray8 or rgb48 (16-bit PNG, for 10/12-bit video); ffmpeg's gray and rgb48le too", group: FORMAT_GROUP },
    toOption: (text: string) => (Object.hasOwn(FFMPEG_PIXEL_FORMATS, text) ? FFMPEG_PIXEL_FORMATS[text] : text),
  },
];

/**
 * ffmpeg's names (`ffmpeg -pix_fmts`) of the pixel formats it spells otherwise than the library, which knows one name
 * for each. Only names that mean one format: ffmpeg has no `rgb` or `bgr` (8 or 16 bits? alpha?), and `rgb48be` has
 * the other byte order.
 */
const FFMPEG_PIXEL_FORMATS: Readonly<Record<string, PixelFormat>> = { gray: 'gray8', rgb48le: 'rgb48' };

/** `640x360`, `640x` or `x360` into a size, for the library to check; anything else is a usage error naming --size. */
function parseSize(text: string): { width?: number; height?: number } {
  const match = /^(\d*)x(\d*)$/i.exec(text.trim());
  if (!match || (match[1] === '' && match[2] === '')) {
    const expected = 'WxH, Wx or xH in pixels, e.g. 640x360, 640x or x360';
    throw new InvalidOptionError('size', `Expected ${expected} for --size but received ${JSON.stringify(text)}`, { expected });
  }
  return { ...(match[1] ? { width: Number(match[1]) } : {}), ...(match[2] ? { height: Number(match[2]) } : {}) };
}

/** `WxH+X+Y` into a crop rectangle, for the library to check; anything else is a usage error naming --crop. */
function parseCrop(text: string): { x: number; y: number; width: number; height: number } {
  const match = /^(\d+)x(\d+)\+(\d+)\+(\d+)$/i.exec(text.trim());
  if (!match) {
    const expected = 'WxH+X+Y in pixels, e.g. 640x360+100+50';
    throw new InvalidOptionError('crop', `Expected ${expected} for --crop but received ${JSON.stringify(text)}`, { expected });
  }
  const [width, height, x, y] = match.slice(1).map(Number) as [number, number, number, number];
  return { x, y, width, height };
}

// --- end of size, crop and pixel format ---

/** Flags of `framepipe frames` that set an option of `streamVideoFramesToDir`. */
export const FRAME_FLAGS: ReadonlyArray<OptionFlag<StreamToDirOptions>> = [
  // The selection's defaults are Selection's own, not in the option table.
  { option: 'start', flag: 'start', yargs: { type: 'number', requiresArg: true, describe: 'First frame number, inclusive, 0-based', group: FRAMES_GROUP }, shownDefault: '0' },
  { option: 'end', flag: 'end', yargs: { type: 'number', requiresArg: true, describe: 'Last frame number, inclusive [default: the last frame]', group: FRAMES_GROUP } },
  { option: 'step', flag: 'step', yargs: { type: 'number', requiresArg: true, describe: 'Keep every n-th frame of the range', group: FRAMES_GROUP }, shownDefault: '1' },
  {
    option: 'frames',
    flag: 'frames',
    yargs: { type: 'string', array: true, requiresArg: true, describe: 'Exactly these frame numbers, e.g. --frames 0,250,500 (instead of a range)', group: FRAMES_GROUP },
    toOption: (values: string[]) => numberList(values, 'frames'),
  },
  {
    option: 'timestamps',
    flag: 'timestamps',
    yargs: {
      type: 'string',
      array: true,
      requiresArg: true,
      describe: 'The frames shown at these times, in seconds or [HH:]MM:SS[.m], e.g. --timestamps 1.5,60,2:05 (instead of a range)',
      group: FRAMES_GROUP,
    },
    toOption: (values: string[]) => timeList(values),
  },
  // Sampling by time and keyframes (issue 16).
  {
    option: 'startTime',
    flag: 'start-time',
    yargs: { type: 'string', requiresArg: true, describe: 'Start at the frame shown at this time, in seconds (90, 1.5, 250ms) or [HH:]MM:SS[.m] as ffmpeg -ss takes it (instead of --start)', group: FRAMES_GROUP },
    toOption: (text: string) => timeOf(text, 'startTime'),
    shownDefault: '0',
  },
  {
    option: 'endTime',
    flag: 'end-time',
    yargs: { type: 'string', requiresArg: true, describe: 'End with the last frame shown at or before this time, written as for --start-time [default: the last frame]', group: FRAMES_GROUP },
    toOption: (text: string) => timeOf(text, 'endTime'),
  },
  {
    option: 'fps',
    flag: 'fps',
    yargs: { type: 'number', requiresArg: true, describe: 'One frame per 1/fps seconds: the frame shown at each tick, each frame once (as ffmpeg -vf fps=...:round=up)', group: FRAMES_GROUP },
  },
  {
    option: 'keyframesOnly',
    flag: 'keyframes-only',
    yargs: { type: 'boolean', describe: 'Only the keyframes of the range or time window; nothing else is decoded (or, for an MP4, fetched)', group: FRAMES_GROUP },
  },
  STREAM_FLAG,
  { option: 'ext', flag: 'ext', yargs: { type: 'string', requiresArg: true, describe: 'Image format: png, jpg, jpeg or webp', group: FRAMES_GROUP } },
  {
    option: 'manifest',
    flag: 'manifest',
    yargs: { type: 'boolean', describe: 'Also write frames.jsonl beside the frame files (in DIR; in DIR/<name>/ for each video of a batch): one JSON line per frame file there (index, pts, time, keyframe, file, width, height, strategy, decodePath)', group: FRAMES_GROUP },
  },
  {
    option: 'resume',
    flag: 'resume',
    yargs: { type: 'boolean', describe: 'Keep the frame files already in DIR (an earlier run stopped) and decode only the missing ones', group: FRAMES_GROUP },
  },
  {
    option: 'overwrite',
    flag: 'overwrite',
    yargs: { type: 'boolean', describe: 'First remove the frame files (any format) and frames.jsonl that DIR holds; other files stay', group: FRAMES_GROUP },
  },
  // -- --name-template (issue 16, stdout-naming) --
  {
    option: 'nameTemplate',
    flag: 'name-template',
    yargs: { type: 'string', requiresArg: true, describe: 'File names: one {index} or {index:NN} (frame number, zero-padded to NN digits) and one {ext}', group: FRAMES_GROUP },
  },
  { option: 'strict', flag: 'strict', yargs: { type: 'boolean', describe: 'Fail on a corrupt frame, a packet the decoder rejects, or a selected frame the video cannot give, instead of skipping it', group: FRAMES_GROUP } },
  { option: 'autorotate', flag: 'autorotate', yargs: { type: 'boolean', describe: 'Turn pictures upright by the rotation metadata, as a player does', group: FRAMES_GROUP } },
  ...FORMAT_FLAGS,
  { option: 'maxWriteWorkers', flag: 'max-write-workers', yargs: { type: 'number', requiresArg: true, describe: 'Files encoded and written at the same time', group: 'Tuning:' }, shownDefault: 'one per CPU core, at least 4' },
  {
    option: 'queueMaxSize',
    flag: 'queue-maxsize',
    yargs: {
      type: 'number',
      requiresArg: true,
      describe: 'Decoded frames that may wait for a writer; memory is about (queue + workers + 1) x width x height x 3 bytes',
      group: 'Tuning:',
    },
  },
  {
    option: 'showDecodingProgress',
    flag: 'show-decoding-progress',
    yargs: { type: 'boolean', describe: 'Also draw bars for the packet scan and for a decode from the start', group: 'Display:' },
  },
];

const QUEUE_GROUP = 'Queue:';

/** `--redis URL`, for every command of the work queue. */
export const REDIS_FLAG: OptionFlag<EnqueueOptions & WorkerOptions> = {
  option: 'redis',
  flag: 'redis',
  yargs: { type: 'string', demandOption: true, requiresArg: true, describe: 'Redis of the work queue: redis://[user:password@]host[:port][/db], or rediss:// for TLS', group: QUEUE_GROUP },
};

const seconds = (value: number) => (typeof value === 'number' && Number.isFinite(value) ? Math.round(value * 1000) : value);

/** Flags of `framepipe enqueue` that set an option of `enqueue` besides the frame options. */
export const ENQUEUE_FLAGS: ReadonlyArray<OptionFlag<EnqueueOptions>> = [
  REDIS_FLAG,
  {
    option: 'shardFrames',
    flag: 'shard-frames',
    yargs: { type: 'number', requiresArg: true, describe: 'About how many frames one shard of a video holds (a longer video is shared by workers)', group: QUEUE_GROUP },
    shownDefault: '1000',
  },
  {
    option: 'attempts',
    flag: 'attempts',
    yargs: { type: 'number', requiresArg: true, describe: 'Tries of a job that failed in a way that may pass (a 404 or a file without video is not retried)', group: QUEUE_GROUP },
    shownDefault: '5',
  },
  {
    option: 'backoff',
    flag: 'backoff',
    yargs: { type: 'number', requiresArg: true, describe: 'Seconds before the first retry of a job, doubling with each one', group: QUEUE_GROUP },
    toOption: seconds,
    shownDefault: '5',
  },
];

/** The frame and source flags of a queued batch: those of `keys` (the options that travel in a job record, no --header). */
export function queuedFrameFlags(keys: readonly string[]): ReadonlyArray<OptionFlag<EnqueueOptions>> {
  return [...FRAME_FLAGS, ...SOURCE_FLAGS]
  .filter(({ option }) => keys.includes(option))
  // No Supervisely video here: the group says only how the videos are read.
  .map((flag) => (flag.yargs.group === SOURCE_GROUP ? { ...flag, yargs: { ...flag.yargs, group: 'Videos:' } } : flag)) as ReadonlyArray<OptionFlag<EnqueueOptions>>;
}

/** Flags of `framepipe worker` besides --redis. */
export const WORKER_FLAGS: ReadonlyArray<OptionFlag<WorkerOptions>> = [
  { option: 'concurrency', flag: 'concurrency', yargs: { type: 'number', requiresArg: true, describe: 'Shards this worker runs at the same time', group: QUEUE_GROUP }, shownDefault: '1' },
  { option: 'exitWhenIdle', flag: 'exit-when-idle', yargs: { type: 'boolean', describe: 'Stop once the queue has nothing left to run', group: QUEUE_GROUP } },
  {
    option: 'headers',
    flag: 'header',
    yargs: { ...SOURCE_FLAGS[0]!.yargs, describe: 'HTTP request header "Name: value" for every URL this worker reads (repeatable); never stored in Redis', group: QUEUE_GROUP },
    toOption: SOURCE_FLAGS[0]!.toOption!,
  },
  {
    option: 'lockDuration',
    flag: 'lock-duration',
    yargs: { type: 'number', requiresArg: true, describe: "Seconds a running job's lock lasts: a worker that dies has its shard given to another after that", group: QUEUE_GROUP },
    toOption: seconds,
    shownDefault: '30',
  },
  {
    option: 'stalledInterval',
    flag: 'stalled-interval',
    yargs: { type: 'number', requiresArg: true, describe: 'Seconds between checks for shards whose worker died', group: QUEUE_GROUP },
    toOption: seconds,
    shownDefault: '30',
  },
];

/**
 * The flags of `framepipe frames` that make sense for each video of `framepipe batch`: all but `--resume` (a batch
 * always resumes), `--overwrite` (which it cannot take) and `--show-decoding-progress` (a bar per video, among many).
 */
export const BATCH_FRAME_FLAGS: ReadonlyArray<OptionFlag<StreamToDirOptions>> = FRAME_FLAGS.filter(
  ({ option }) => option !== 'resume' && option !== 'overwrite' && option !== 'showDecodingProgress',
);

/** Flags of `framepipe batch` that set an option of `runBatch` itself. */
export const BATCH_FLAGS: ReadonlyArray<OptionFlag<BatchOptions>> = [
  {
    option: 'concurrency',
    flag: 'concurrency',
    yargs: { type: 'number', requiresArg: true, describe: 'Videos read at the same time', group: 'Tuning:' },
    shownDefault: 'one per CPU core',
  },
];

/** The group of the flags that say how a command reports. */
export const DISPLAY_GROUP = 'Display:';

/** `--progress-interval`, `--quiet` and `--verbose`, for the commands that run long (`--json` says its own fields). */
export const DISPLAY_OPTIONS: Readonly<Record<string, Options>> = {
  'progress-interval': numberAsText({ type: 'number', requiresArg: true, describe: 'Seconds between progress lines when stderr is not a terminal [default: 2]', group: DISPLAY_GROUP }),
  quiet: { alias: 'q', type: 'boolean', default: false, describe: 'Print nothing but errors', group: DISPLAY_GROUP },
  verbose: { type: 'boolean', default: false, describe: "Let FFmpeg's own warnings through", group: DISPLAY_GROUP },
};

/** `--server-address` and `--api-token`: the Supervisely instance, where `group` shows them. */
export function credentialOptions(group: string): Record<string, Options> {
  return {
    'server-address': {
      type: 'string',
      requiresArg: true,
      describe: 'Supervisely address [default: SERVER_ADDRESS from the environment, ./local.env or ~/supervisely.env]',
      group,
    },
    'api-token': { type: 'string', requiresArg: true, describe: 'Supervisely API token [default: API_TOKEN, found as above]', group },
  };
}

/**
 * The yargs definitions of a table of flags, each help text ending with the library's default; `group` shows them
 * elsewhere than their table says.
 */
export function yargsOptions<O>(flags: ReadonlyArray<OptionFlag<O>>, group?: string): Record<string, Options> {
  return Object.fromEntries(
    flags.map(({ flag, option, yargs, shownDefault }) => {
      const value = shownDefault ?? optionDefault(option as keyof StreamToDirOptions);
      // A switch is off unless given: saying so adds nothing.
      const shown = value === undefined || value === false || yargs.describe.includes('[default:') ? '' : ` [default: ${String(value)}]`;
      return [flag, numberAsText({ ...yargs, describe: `${yargs.describe}${shown}`, ...(group === undefined ? {} : { group }) })];
    }),
  );
}

/**
 * A number flag that yargs keeps as the text typed (yargs would turn `abc` into NaN, and the message could only say
 * "NaN"). Declared string and number at once: yargs then leaves the text alone, and its help still says [number].
 * {@link numbersFromText} turns the text into a number after parsing; a text that is no number stays text, for the
 * option's own check to reject as the user typed it.
 */
export function numberAsText(options: Options): Options {
  if (options.type !== 'number') return options;
  const { type: _number, ...rest } = options;
  return { ...rest, string: true, number: true };
}

/** The flags that {@link numberAsText} declared, among `options`. */
export function numberFlags(options: Record<string, Options>): string[] {
  return Object.entries(options)
    .filter(([, option]) => option.string === true && option.number === true)
    .map(([flag]) => flag);
}

/**
 * The numbers of number flags (see {@link numberAsText}) in `args`, in place, under the flag's name and its camelCase
 * alias: a text that reads as a number becomes that number, any other stays as typed.
 */
export function numbersFromText(args: Record<string, unknown>, flags: readonly string[]): void {
  const toNumber = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(toNumber);
    if (typeof value !== 'string' || value.trim() === '') return value;
    const number = Number(value);
    return Number.isNaN(number) ? value : number;
  };
  for (const flag of flags) {
    for (const key of [flag, flag.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase())]) {
      if (args[key] !== undefined) args[key] = toNumber(args[key]);
    }
  }
}

/** The library options that the given flags set: the flags left out stay out, so the library's defaults apply. */
export function optionsFromFlags<O>(flags: ReadonlyArray<OptionFlag<O>>, args: Readonly<Record<string, unknown>>): Partial<O> {
  const options: Record<string, unknown> = {};
  for (const { flag, option, yargs, toOption } of flags) {
    const value = args[flag];
    // A number flag whose text is no number goes to the option's check as it is, not through a unit conversion.
    const unconverted = yargs.type === 'number' && typeof value !== 'number';
    if (value !== undefined) options[option] = toOption && !unconverted ? toOption(value as never) : value;
  }
  return options as Partial<O>;
}

/** The flag that sets each library option, for error messages that name an option. */
export const FLAG_OF_OPTION: Readonly<Record<string, string>> = Object.fromEntries(
  [...SOURCE_FLAGS, ...FRAME_FLAGS, ...BATCH_FLAGS, ...ENQUEUE_FLAGS, ...WORKER_FLAGS].map(({ option, flag }) => [option, `--${flag}`]),
);

/** How a time may be written on the command line, for help and errors. */
const TIME_SYNTAX = 'seconds (90, 1.5, 250ms) or [HH:]MM:SS[.m] (1:30, 00:01:30.5)';

/**
 * Seconds from a time as ffmpeg reads a duration (ffmpeg-utils(1), "Time duration"): `[-][HH:]MM:SS[.m...]` or
 * `[-]S+[.m...][s|ms|us]`; and any number (`1.5`, `1e3`). Undefined for anything else.
 */
export function parseTime(text: string): number | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  const number = Number(trimmed);
  if (!Number.isNaN(number)) return number;
  // As ffmpeg: minutes and seconds are one or two digits below 60, hours any number.
  const clock = /^(-?)(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)$/.exec(trimmed);
  if (clock) {
    const [, sign, hours = '0', minutes, secs] = clock as unknown as [string, string, string | undefined, string, string];
    if (Number(minutes) > 59 || Math.floor(Number(secs)) > 59) return undefined;
    const total = Number(hours) * 3600 + Number(minutes) * 60 + Number(secs);
    return sign ? -total : total;
  }
  const suffixed = /^(-?\d+(?:\.\d+)?)(s|ms|us)$/.exec(trimmed);
  if (suffixed) return Number(suffixed[1]) / { s: 1, ms: 1000, us: 1e6 }[suffixed[2] as 's' | 'ms' | 'us'];
  return undefined;
}

/** A time flag's text into seconds, for the library to check; text that is no time is a usage error naming the flag. */
function timeOf(text: string, option: 'startTime' | 'endTime'): number {
  const time = parseTime(text);
  if (time !== undefined) return time;
  throw new InvalidOptionError(option, `Expected ${TIME_SYNTAX} for ${FLAG_OF_OPTION[option]} but received ${JSON.stringify(text)}`, { expected: TIME_SYNTAX });
}

/** `1.5,1:30` (also given as several flags) into seconds, for the library to check. */
function timeList(values: string[]): number[] {
  return listOf(values, 'timestamps', parseTime, `a comma-separated list of times, each ${TIME_SYNTAX}`);
}

/** `1,5,9` (also given as several flags) into numbers, for the library to check. */
function numberList(values: string[], option: 'frames'): number[] {
  const parse = (item: string) => (item.trim() === '' || Number.isNaN(Number(item)) ? undefined : Number(item));
  return listOf(values, option, parse, 'a comma-separated list of numbers');
}

/** The items of a list flag, each read by `parse`; an item it cannot read is a usage error naming the flag. */
function listOf(values: string[], option: string, parse: (item: string) => number | undefined, expected: string): number[] {
  const items = values.flatMap((value) => value.split(',')).map(parse);
  if (items.includes(undefined)) throw new InvalidOptionError(option, `Expected ${expected} for --${option} but received ${JSON.stringify(values.join(','))}`, { expected });
  return items as number[];
}

/** `Name: value` pairs into an object; a malformed one is a usage error. */
function parseHeaders(lines: string[]): Record<string, string> | undefined {
  if (lines.length === 0) return undefined;
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon).trim() : '';
    const expected = '"Name: value"';
    if (!name) throw new InvalidOptionError('header', `Expected ${expected} for --header but received ${JSON.stringify(line)}`, { expected });
    headers[name] = line.slice(colon + 1).trim();
  }
  return headers;
}

/**
 * Every error framepipe raises on purpose is a {@link FramepipeError} with a stable `code`; programs branch on
 * the code, people read the message. Errors from libraries underneath (got, node-av, sharp, fs) are wrapped at
 * the stage that saw them and kept as `cause`.
 */

/** The stable codes, one per kind of failure. */
export const ErrorCode = {
  /** An option has a wrong type or value. Raised before any I/O. */
  INVALID_OPTION: 'ERR_FRAMEPIPE_INVALID_OPTION',
  /** The server answered with an HTTP status that is not a success. */
  HTTP_STATUS: 'ERR_FRAMEPIPE_HTTP_STATUS',
  /** The server could not be reached (DNS, refused, reset, TLS). */
  UNREACHABLE: 'ERR_FRAMEPIPE_UNREACHABLE',
  /** A connection stalled longer than the timeout. */
  TIMEOUT: 'ERR_FRAMEPIPE_TIMEOUT',
  /** The server does not honour byte ranges, or answered a range request with the wrong range. */
  RANGE_NOT_SUPPORTED: 'ERR_FRAMEPIPE_RANGE_NOT_SUPPORTED',
  /** A local file does not exist or cannot be opened. */
  FILE_NOT_FOUND: 'ERR_FRAMEPIPE_FILE_NOT_FOUND',
  /**
   * The input names a way of reaching a file that framepipe does not speak (e.g. `ftp:`, `s3:`): only `http:`,
   * `https:`, `file:` URLs and local paths are read. Raised before any I/O.
   */
  UNSUPPORTED_SCHEME: 'ERR_FRAMEPIPE_UNSUPPORTED_SCHEME',
  /** The bytes are not a container FFmpeg can read (garbage, unknown format). */
  INVALID_DATA: 'ERR_FRAMEPIPE_INVALID_DATA',
  /** The container is readable but holds no video stream. */
  NO_VIDEO_STREAM: 'ERR_FRAMEPIPE_NO_VIDEO_STREAM',
  /** The container refers to data past the end of the file. */
  TRUNCATED: 'ERR_FRAMEPIPE_TRUNCATED',
  /** No decoder for the codec, or the decoder failed to open. */
  UNSUPPORTED_CODEC: 'ERR_FRAMEPIPE_UNSUPPORTED_CODEC',
  /** Decoding or pixel conversion failed in a way that is not a skippable corrupt frame. */
  DECODE_FAILED: 'ERR_FRAMEPIPE_DECODE_FAILED',
  /** An image file could not be encoded or written. */
  WRITE_FAILED: 'ERR_FRAMEPIPE_WRITE_FAILED',
  /** The run was stopped by an AbortSignal or by destroying a stage. */
  ABORTED: 'ERR_FRAMEPIPE_ABORTED',
  /** A server needs credentials and none were found (e.g. `SERVER_ADDRESS`/`API_TOKEN` for Supervisely). */
  MISSING_CREDENTIALS: 'ERR_FRAMEPIPE_MISSING_CREDENTIALS',
  /** A server rejected the credentials (HTTP 401/403): a wrong or expired token. */
  AUTH_FAILED: 'ERR_FRAMEPIPE_AUTH_FAILED',
  /** A video id that the server does not know, or that the token may not see. */
  VIDEO_NOT_FOUND: 'ERR_FRAMEPIPE_VIDEO_NOT_FOUND',
  /** The server knows the video but has no stored file for it yet (still uploading or processing). */
  VIDEO_NOT_READY: 'ERR_FRAMEPIPE_VIDEO_NOT_READY',
  /**
   * The object behind the URL changed during the run (another ETag, Last-Modified or size): bytes of two versions
   * must never be mixed, so the run stops.
   */
  SOURCE_CHANGED: 'ERR_FRAMEPIPE_SOURCE_CHANGED',
  /** A corrupt packet or frame in `strict` mode (by default such frames are skipped and counted). */
  CORRUPT_DATA: 'ERR_FRAMEPIPE_CORRUPT_DATA',
  /**
   * In `strict` mode, selected frames the video cannot give: past its last frame, before its first keyframe, or
   * hidden by its edit list (by default they are counted in `RunStats.framesMissing` and the run goes on).
   */
  FRAMES_MISSING: 'ERR_FRAMEPIPE_FRAMES_MISSING',
  /**
   * The decoder waited for a unit of the frame budget longer than its `stallTimeout` while no frame was given back:
   * a consumer of composed stages that does not call `budget.release()` for the frames it is done with.
   */
  STALLED: 'ERR_FRAMEPIPE_STALLED',
  /**
   * A batch source whose output name would be empty once made safe (a URL that ends in `/`, a name of dots only):
   * it has no directory of its own under the batch's `out`. Raised before any video is read.
   */
  INVALID_NAME: 'ERR_FRAMEPIPE_INVALID_NAME',
  /** Two sources of one batch would write into the same directory (the same name, or names that differ only in case). Raised before any video is read. */
  DUPLICATE_NAME: 'ERR_FRAMEPIPE_DUPLICATE_NAME',
  /**
   * Object storage (S3, MinIO, R2) refused or failed a request of a batch that writes there: no such bucket, access
   * denied, credentials missing or wrong, the endpoint unreachable after the client's retries. The message names the
   * `s3://` URL and the storage's own error name; `error.status` is the HTTP status when there was an answer.
   */
  STORAGE_FAILED: 'ERR_FRAMEPIPE_STORAGE_FAILED',
  /**
   * A job record read from the work queue (Redis) is not one a worker can act on: a field missing or of the wrong
   * kind, a name that is not the safe name of its source, an option a queued run does not take. That job fails,
   * once; the worker goes on with the next.
   */
  INVALID_JOB: 'ERR_FRAMEPIPE_INVALID_JOB',
  /**
   * A queued job whose worker died under it (SIGKILL, the OOM killer, a lost machine) more often than the worker's
   * `maxStalledCount` allows: BullMQ fails it without running it again.
   */
  WORKER_DIED: 'ERR_FRAMEPIPE_WORKER_DIED',
  /**
   * A resumed run found a file it would keep that holds another size, colour layout or bit depth than this run makes
   * (an earlier run with another `size` or `pixelFormat`, say). Raised before any frame is decoded or written.
   */
  RESUME_MISMATCH: 'ERR_FRAMEPIPE_RESUME_MISMATCH',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** What a {@link FramepipeError} may carry besides its message. */
export interface FramepipeErrorDetails {
  /** The error underneath, from a library or the system. */
  cause?: unknown;
  /** The URL or path of the video the run was reading. */
  source?: string;
  /** The output file involved. */
  path?: string;
  /** The option at fault. */
  option?: string;
  /** The HTTP status received. */
  status?: number;
  /** Every failed attempt of a request that was retried until its budget ran out, in order. */
  attempts?: readonly string[];
  /** What FFmpeg said, when the error comes from an FFmpeg call. */
  ffmpeg?: FfmpegStatus;
}

/**
 * An FFmpeg return code and its text (`av_strerror`), kept on an error for bug reports. Messages say what went
 * wrong in words; the number is here.
 */
export interface FfmpegStatus {
  /** The negative `AVERROR` code an FFmpeg call returned, e.g. -1094995529 (`AVERROR_INVALIDDATA`). */
  readonly code: number;
  /** FFmpeg's text for it, e.g. `Invalid data found when processing input`. */
  readonly text: string;
}

/** The base of every error framepipe raises on purpose. */
export class FramepipeError extends Error {
  /** A stable identifier of the kind of failure, see {@link ErrorCode}. */
  readonly code: ErrorCode;
  readonly source: string | undefined;
  readonly path: string | undefined;
  readonly option: string | undefined;
  readonly status: number | undefined;
  /** The failed attempts, oldest first, when the error ends a series of retries. */
  readonly attempts: readonly string[] | undefined;
  /** FFmpeg's code and text, when an FFmpeg call failed. */
  readonly ffmpeg: FfmpegStatus | undefined;

  constructor(code: ErrorCode, message: string, details: FramepipeErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'FramepipeError';
    this.code = code;
    this.source = details.source;
    this.path = details.path;
    this.option = details.option;
    this.status = details.status;
    this.attempts = details.attempts;
    this.ffmpeg = details.ffmpeg;
  }
}

/**
 * Words that name options, made with the {@link naming} tag: the text around the names, and the names. A caller that
 * spells options its own way (the CLI, as flags) swaps the names and leaves every other word as it is, even one
 * that happens to be an option's name (`the output size`).
 */
export interface OptionText {
  /** The text before, between and after the names: one more than `options`. */
  readonly words: readonly string[];
  /** The options named, in order. */
  readonly options: readonly string[];
}

/**
 * Text that names options, each as a `${'name'}` placeholder (a string); a number placeholder is a value, shown as it
 * is. The other words are never taken for names.
 *
 * @example
 * const error = new InvalidOptionError('maxSide', 'maxSide cannot be used together with size', {
 *   conflictsWith: 'size',
 *   advice: naming`${'size'} sets the output size itself; give ${'maxSide'} alone`,
 * });
 * error.advice; // 'size sets the output size itself; give maxSide alone'
 * error.spelled((option) => `<${option}>`).advice; // '<size> sets the output size itself; give <maxSide> alone'
 * naming`an integer >= ${'start'} (${5})`; // names start; 5 is a value
 */
export function naming(strings: TemplateStringsArray, ...parts: Array<string | number>): OptionText {
  const words = [strings[0]!];
  const options: string[] = [];
  parts.forEach((part, i) => {
    if (typeof part === 'number') words[words.length - 1] += `${part}${strings[i + 1]!}`;
    else {
      options.push(part);
      words.push(strings[i + 1]!);
    }
  });
  return { words, options };
}

/** `text` with each option it names spelled by `spell` (by default as the API spells it); a plain string names none. */
export function spellOptions(text: string | OptionText, spell: (option: string) => string = (option) => option): string {
  if (typeof text === 'string') return text;
  return text.words.reduce((all, word, i) => all + (i === 0 ? '' : spell(text.options[i - 1]!)) + word, '');
}

/** What an {@link InvalidOptionError} may say besides its message, for callers that word it their own way. */
export interface InvalidOptionDetails {
  /** What the option takes, in words: `a non-negative integer`; options it names, made with {@link naming}. */
  expected?: string | OptionText | undefined;
  /** The other option that may not be given together with this one. */
  conflictsWith?: string;
  /** With `conflictsWith`: what to give instead; the options it names, made with {@link naming}. */
  advice?: string | OptionText | undefined;
}

/**
 * A bad option; raised before any request is made. `option` names it; `expected` (what it takes) or
 * `conflictsWith` (the option it clashes with) and its `advice` let a caller such as the CLI say the same in its own terms
 * (`--start` for `start`): see {@link InvalidOptionError.spelled}.
 */
export class InvalidOptionError extends FramepipeError {
  /** What the option takes, in words, when the value was wrong (options it names, by their API names). */
  readonly expected: string | undefined;
  /** The other option given that this one cannot go with. */
  readonly conflictsWith: string | undefined;
  /**
   * With `conflictsWith`: what to give instead (`fps samples by time and step by count: give one of them`), naming
   * options by their API names.
   */
  readonly advice: string | undefined;
  readonly #expected: string | OptionText | undefined;
  readonly #advice: string | OptionText | undefined;

  constructor(option: string, message: string, details: InvalidOptionDetails = {}) {
    super(ErrorCode.INVALID_OPTION, message, { option });
    this.name = 'InvalidOptionError';
    this.#expected = details.expected;
    this.#advice = details.advice;
    this.conflictsWith = details.conflictsWith;
    ({ expected: this.expected, advice: this.advice } = this.spelled());
  }

  /**
   * `expected` and `advice` with each option they name spelled by `spell`, and every other word as it is: the CLI
   * shows `maxSide` as `--max-side` this way.
   *
   * @example
   * error.spelled((option) => `--${option}`).advice; // '--fps samples by time and --step by count: give one of them'
   */
  spelled(spell?: (option: string) => string): { expected: string | undefined; advice: string | undefined } {
    const text = (value: string | OptionText | undefined) => (value === undefined ? undefined : spellOptions(value, spell));
    return { expected: text(this.#expected), advice: text(this.#advice) };
  }
}

/** What a {@link ResumeMismatchError} says besides the file. */
export interface ResumeMismatchDetails {
  /** What the file holds, in words: `320×180 RGB 8-bit`. */
  readonly found: string;
  /** What the run makes: `640×360 RGB 8-bit`. */
  readonly expected: string;
  /** Files of those the run would keep that differ from what it makes (the one named among them). */
  readonly differing: number;
  /** Files the run would keep. */
  readonly kept: number;
  /** Of those, the files whose header was read; all of them when left out. */
  readonly checked?: number | undefined;
  /** The options that decide what differs, by their API names (`size`, ..., `pixelFormat`); none when no option would help. */
  readonly options: readonly string[];
  /** What to do about it; the options it names, made with {@link naming}. */
  readonly advice: string | OptionText;
}

/**
 * `ERR_FRAMEPIPE_RESUME_MISMATCH`: a resumed run would keep a file (`path`) that holds another size or pixel layout
 * than the files it writes, as an earlier run with another `size` or `pixelFormat` left them. The message:
 * `<path> holds 320×180 RGB 8-bit, but this run makes 640×360 RGB 8-bit (300 of the 300 files to keep differ; size,
 * maxSide, crop, fit and autorotate decide the width and height): <advice>`.
 */
export class ResumeMismatchError extends FramepipeError {
  /** The options that decide the width and height of a frame. */
  static readonly SIZE_OPTIONS: readonly string[] = ['size', 'maxSide', 'crop', 'fit', 'autorotate'];
  /** What the file holds, in words: `320×180 RGB 8-bit`. */
  readonly found: string;
  /** What the run makes, in the same words: `640×360 RGB 8-bit`. */
  readonly expected: string;
  /** Files of those the run would keep that differ from what it makes. */
  readonly differing: number;
  /** Files the run would keep. */
  readonly kept: number;
  /** Of those, the files whose header was read: up to 66 spread over them, one for object storage (see `S3Destination`). */
  readonly checked: number;
  /** The options that decide what differs, by their API names. */
  readonly options: readonly string[];
  /** What to do about it, naming options by their API names (see {@link ResumeMismatchError.describe}). */
  readonly advice: string;
  readonly #advice: string | OptionText;

  constructor(path: string, details: ResumeMismatchDetails) {
    super(ErrorCode.RESUME_MISMATCH, '', { path });
    this.name = 'ResumeMismatchError';
    this.found = details.found;
    this.expected = details.expected;
    this.differing = details.differing;
    this.kept = details.kept;
    this.checked = details.checked ?? details.kept;
    this.options = details.options;
    this.#advice = details.advice;
    this.advice = spellOptions(details.advice);
    this.message = this.describe((option) => option);
  }

  /**
   * The message with each option named by `rename` (the CLI's flags), in the options that decide and in the advice
   * (the options it marks, and only those); the path and the shapes stay as they are.
   */
  describe(rename: (option: string) => string): string {
    const size = this.options.filter((option) => ResumeMismatchError.SIZE_OPTIONS.includes(option));
    const decide = [
      ...(size.length > 0 ? [`${listed(size.map(rename))} decide the width and height`] : []),
      ...(this.options.includes('pixelFormat') ? [`${rename('pixelFormat')} decides the channels and bit depth`] : []),
    ];
    const differ = this.differing === 1 ? 'differs' : 'differ';
    const checked = this.checked < this.kept ? `${this.checked} of the ${this.kept} files to keep checked, ${this.differing} ${differ}` : `${this.differing} of the ${this.kept} files to keep ${differ}`;
    const counted = [checked, ...decide].join('; ');
    return `${this.path} holds ${this.found}, but this run makes ${this.expected} (${counted}): ${spellOptions(this.#advice, rename)}`;
  }

  /** The same mismatch with other advice (a caller that offers other remedies, such as a batch). */
  withAdvice(advice: string | OptionText): ResumeMismatchError {
    const { found, expected, differing, kept, checked, options } = this;
    return new ResumeMismatchError(this.path!, { found, expected, differing, kept, checked, options, advice });
  }
}

/** `a, b and c`. */
function listed(words: readonly string[]): string {
  return words.length < 2 ? words.join('') : `${words.slice(0, -1).join(', ')} and ${words.at(-1)}`;
}

/** The run was stopped on purpose. */
export class AbortError extends FramepipeError {
  constructor(reason?: unknown) {
    super(ErrorCode.ABORTED, 'The operation was aborted', reason === undefined ? {} : { cause: reason });
    this.name = 'AbortError';
  }
}

/** True for errors that mean "stopped on purpose", ours or the platform's. */
export function isAbortError(error: unknown): boolean {
  if (error instanceof FramepipeError) return error.code === ErrorCode.ABORTED;
  return error instanceof Error && error.name === 'AbortError';
}

/** Throws an {@link AbortError} carrying the signal's reason if the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError(signal.reason);
}

import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { ErrorCode, FramepipeError, InvalidOptionError, RETRY_CHANNEL, ResumeMismatchError, describeFramesMissing } from '@framepipe/core';
import type { FramesMissing, RetryEvent } from '@framepipe/core';
import { FLAG_OF_OPTION } from './flags.ts';
import { EXIT, interruptedExit } from './exit.ts';

/** Where the CLI writes; tests pass their own. */
export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Aborts the run (the bin wires SIGINT/SIGTERM to it). */
  signal?: AbortSignal | undefined;
  /** What `--from-file -` reads. @default process.stdin */
  stdin?: NodeJS.ReadableStream | undefined;
}

export { EXIT, Interrupted, interruptedExit } from './exit.ts';

// The library names options as the API spells them; a CLI user knows the flags.
const FLAGS: Record<string, string> = {
  ...FLAG_OF_OPTION,
  videoId: '--video-id',
  datasetId: '--dataset-id',
  serverAddress: '--server-address',
  token: '--api-token',
  'progress-interval': '--progress-interval',
};

/** The flag of a library option (`maxSide` as `--max-side`), or the option's own name when it has none. */
function flagOf(option: string): string {
  return Object.hasOwn(FLAGS, option) ? FLAGS[option]! : option;
}

/** The flag of the option an error names, and the part of it that is wrong (`size.width`: `--size`, `width`). */
function flagOfError(error: FramepipeError): { flag: string | undefined; part: string | undefined } {
  const [option, part] = error.option === undefined ? [] : error.option.split(/\.(.*)/s);
  return { flag: option === undefined ? undefined : FLAGS[option], part: part || undefined };
}

/**
 * A bad option in the user's terms: its flag, the value as typed (`args`, the parsed command line), and the options
 * the library's words name, as flags. Undefined when the option has no flag, or the error does not say what the
 * option takes.
 */
function optionProblem(error: InvalidOptionError, args: Readonly<Record<string, unknown>>): string | undefined {
  const { flag, part } = flagOfError(error);
  if (!flag) return undefined;
  const { expected, advice } = error.spelled(flagOf);
  const other = error.conflictsWith === undefined ? undefined : FLAGS[error.conflictsWith];
  if (other) return `${flag} cannot be used together with ${other}: ${advice ?? 'give one or the other'}`;
  const typed = args[flag.slice(2)];
  if (expected === undefined || typed === undefined) return undefined;
  // A part of what one flag gives (the width of --size) is named as such: the user typed the whole.
  return `Expected ${expected} for ${part === undefined ? flag : `the ${part} of ${flag}`} but received ${shownArgument(typed)}`;
}

/** A flag's value as the user typed it: a number as it is, text quoted, each value of a repeated flag. */
function shownArgument(value: unknown): string {
  if (Array.isArray(value) && value.length === 1) return shownArgument(value[0]);
  if (Array.isArray(value)) return `${value.map(shownArgument).join(', ')} (the flag was given ${value.length} times)`;
  return typeof value === 'number' ? String(value) : JSON.stringify(value);
}

/**
 * An error's code (`ERR_FRAMEPIPE_UNEXPECTED` for one that is not framepipe's) and its message on one line, with the
 * options a resume mismatch names shown as flags.
 */
export function errorLine(error: unknown): { code: string; message: string } {
  const code = error instanceof FramepipeError ? error.code : 'ERR_FRAMEPIPE_UNEXPECTED';
  const message = error instanceof ResumeMismatchError ? error.describe(flagOf) : error instanceof Error ? error.message : String(error);
  return { code, message: message.replace(/\s*\n\s*/g, ' ') };
}

/**
 * Prints one line for a failure (code, then message) and returns the exit code it deserves. `args` (the parsed
 * command line) lets a bad option be reported with its flag and the value as typed. With `json`, stdout gets
 * `{ error: { code, message } }`, after the fields of `summary` when given (what an interrupted run kept, say).
 */
export function reportFailure(
  error: unknown,
  io: CliIo,
  json: boolean,
  args: Readonly<Record<string, unknown>> = {},
  summary?: Readonly<Record<string, unknown>>,
): number {
  const { code, message: text } = errorLine(error);
  let message = text;
  // An abort says why: the signal's reason (e.g. "Interrupted by SIGINT"), else its cause, unless the message has it.
  if (code === ErrorCode.ABORTED && error instanceof Error) {
    const why = io.signal?.aborted && io.signal.reason instanceof Error ? io.signal.reason : error.cause;
    if (why instanceof Error && !message.includes(why.message)) message += `: ${why.message}`;
  }
  const problem = error instanceof InvalidOptionError ? optionProblem(error, args) : undefined;
  const flag = error instanceof FramepipeError ? flagOfError(error).flag : undefined;
  if (problem) message = problem;
  else if (flag) message += ` (${flag})`;
  if (code === ErrorCode.MISSING_CREDENTIALS) message += '; or pass --server-address and --api-token';
  io.stderr.write(`${code} ${message}\n`);
  if (json) io.stdout.write(`${JSON.stringify({ ...summary, error: { code, message } })}\n`);
  if (io.signal?.aborted || code === ErrorCode.ABORTED) return interruptedExit(io.signal?.reason);
  // Found before anything is read or written: a mistake in the command, as a bad option is.
  // A resume that would keep files of other options is refused before any frame is decoded or written.
  const beforeRun: string[] = [ErrorCode.MISSING_CREDENTIALS, ErrorCode.UNSUPPORTED_SCHEME, ErrorCode.DUPLICATE_NAME, ErrorCode.INVALID_NAME, ErrorCode.RESUME_MISMATCH];
  if (error instanceof InvalidOptionError || beforeRun.includes(code)) return EXIT.usage;
  return EXIT.failed;
}

/**
 * Prints a line on stderr each time an HTTP request is retried (what failed, attempt n of m, the wait), so a run
 * that waits on a flaky or absent server says why. Returns what stops it.
 */
export function announceRetries(io: CliIo): () => void {
  const listener = (message: unknown): void => {
    const { error, attempt, attempts, received, wait } = message as RetryEvent;
    // On a terminal a progress bar may be drawn on the current line: clear it; the bar redraws below.
    const clear = io.stderr.isTTY ? '\r\x1b[2K' : '';
    const next = `in ${(wait / 1000).toFixed(1)} s`;
    // A try cut short after some bytes is not one of the "n of m": those count the tries in a row without a byte.
    const line = received > 0 ? `${error.message}; asking for the rest ${next}` : `Attempt ${attempt} of ${attempts} failed: ${error.message}; trying again ${next}`;
    io.stderr.write(`${clear}${line}\n`);
  };
  subscribe(RETRY_CHANNEL, listener);
  return () => unsubscribe(RETRY_CHANNEL, listener);
}

/** Seconds rounded to milliseconds, for summaries. */
/** `n word` or `n words`. */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function round(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}

/** For `--json`: the selected frames not saved, by reason (only the reasons that occurred); empty when none. */
export function missingSummary(missing: FramesMissing): { missing?: Partial<FramesMissing> } {
  const occurred = Object.entries(missing).filter(([, count]) => count > 0);
  return occurred.length === 0 ? {} : { missing: Object.fromEntries(occurred) };
}

/** The note that names the selected frames not saved and why, or null when every one was saved. */
export function missingNote(missing: FramesMissing): string | null {
  const words = describeFramesMissing(missing);
  const count = Object.values(missing).reduce((sum, n) => sum + n, 0);
  if (!words) return null;
  return `Note: ${count} of the selected frames ${count === 1 ? 'was' : 'were'} not saved: ${words}; --strict makes this an error.`;
}

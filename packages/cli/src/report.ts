import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { ErrorCode, FramepipeError, InvalidOptionError, RETRY_CHANNEL } from '@framepipe/core';
import type { RetryEvent } from '@framepipe/core';
import { FLAG_OF_OPTION } from './flags.ts';

/** Where the CLI writes; tests pass their own. */
export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Aborts the run (the bin wires SIGINT/SIGTERM to it). */
  signal?: AbortSignal | undefined;
}

/** Exit codes: 0 success, 1 a failed run, 2 bad usage, 130 interrupted (as shells report Ctrl-C). */
export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

// The library names options as the API spells them; a CLI user knows the flags.
const FLAGS: Record<string, string> = {
  ...FLAG_OF_OPTION,
  videoId: '--video-id',
  serverAddress: '--server-address',
  token: '--api-token',
  'progress-interval': '--progress-interval',
};

/**
 * A bad option in the user's terms: its flag, and the value as typed (`args`, the parsed command line). Undefined
 * when the option has no flag, or the error does not say what the option takes.
 */
function optionProblem(error: InvalidOptionError, args: Readonly<Record<string, unknown>>): string | undefined {
  const flag = error.option === undefined ? undefined : FLAGS[error.option];
  if (!flag) return undefined;
  const other = error.conflictsWith === undefined ? undefined : FLAGS[error.conflictsWith];
  if (other) return `${flag} cannot be used together with ${other}: give one or the other`;
  const typed = args[flag.slice(2)];
  if (error.expected === undefined || typed === undefined) return undefined;
  return `Expected ${error.expected} for ${flag} but received ${shownArgument(typed)}`;
}

/** A flag's value as the user typed it: a number as it is, text quoted, each value of a repeated flag. */
function shownArgument(value: unknown): string {
  if (Array.isArray(value)) return `${value.map(shownArgument).join(', ')} (the flag was given ${value.length} times)`;
  return typeof value === 'number' ? String(value) : JSON.stringify(value);
}

/**
 * Prints one line for a failure (code, then message) and returns the exit code it deserves. `args` (the parsed
 * command line) lets a bad option be reported with its flag and the value as typed.
 */
export function reportFailure(error: unknown, io: CliIo, json: boolean, args: Readonly<Record<string, unknown>> = {}): number {
  const code = error instanceof FramepipeError ? error.code : 'ERR_FRAMEPIPE_UNEXPECTED';
  let message = (error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, ' ');
  // An abort says why in its cause (e.g. "Interrupted by SIGINT").
  if (code === ErrorCode.ABORTED && error instanceof Error && error.cause instanceof Error) message += `: ${error.cause.message}`;
  const problem = error instanceof InvalidOptionError ? optionProblem(error, args) : undefined;
  const flag = error instanceof FramepipeError && error.option ? FLAGS[error.option] : undefined;
  if (problem) message = problem;
  else if (flag) message += ` (${flag})`;
  if (code === ErrorCode.MISSING_CREDENTIALS) message += '; or pass --server-address and --api-token';
  io.stderr.write(`${code} ${message}\n`);
  if (json) io.stdout.write(`${JSON.stringify({ error: { code, message } })}\n`);
  if (io.signal?.aborted || code === ErrorCode.ABORTED) return EXIT.interrupted;
  if (error instanceof InvalidOptionError || code === ErrorCode.MISSING_CREDENTIALS || code === ErrorCode.UNSUPPORTED_SCHEME) return EXIT.usage;
  return EXIT.failed;
}

/**
 * Prints a line on stderr each time an HTTP request is retried (what failed, attempt n of m, the wait), so a run
 * that waits on a flaky or absent server says why. Returns what stops it.
 */
export function announceRetries(io: CliIo): () => void {
  const listener = (message: unknown): void => {
    const { error, attempt, attempts, wait } = message as RetryEvent;
    // On a terminal a progress bar may be drawn on the current line: clear it; the bar redraws below.
    const clear = io.stderr.isTTY ? '\r\x1b[2K' : '';
    io.stderr.write(`${clear}Attempt ${attempt} of ${attempts} failed: ${error.message}; trying again in ${(wait / 1000).toFixed(1)} s\n`);
  };
  subscribe(RETRY_CHANNEL, listener);
  return () => unsubscribe(RETRY_CHANNEL, listener);
}

/** Seconds rounded to milliseconds, for summaries. */
export function round(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}

import { ErrorCode, FramepipeError, InvalidOptionError } from '@framepipe/core';
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
const FLAGS: Record<string, string> = { ...FLAG_OF_OPTION, videoId: '--video-id', serverAddress: '--server-address', token: '--api-token' };

/** Prints one line for a failure (code, then message) and returns the exit code it deserves. */
export function reportFailure(error: unknown, io: CliIo, json: boolean): number {
  const code = error instanceof FramepipeError ? error.code : 'ERR_FRAMEPIPE_UNEXPECTED';
  let message = (error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, ' ');
  // An abort says why in its cause (e.g. "Interrupted by SIGINT").
  if (code === ErrorCode.ABORTED && error instanceof Error && error.cause instanceof Error) message += `: ${error.cause.message}`;
  const flag = error instanceof FramepipeError && error.option ? FLAGS[error.option] : undefined;
  if (flag) message += ` (${flag})`;
  if (code === ErrorCode.MISSING_CREDENTIALS) message += '; or pass --server-address and --api-token';
  io.stderr.write(`${code} ${message}\n`);
  if (json) io.stdout.write(`${JSON.stringify({ error: { code, message } })}\n`);
  if (io.signal?.aborted || code === ErrorCode.ABORTED) return EXIT.interrupted;
  if (error instanceof InvalidOptionError || code === ErrorCode.MISSING_CREDENTIALS) return EXIT.usage;
  return EXIT.failed;
}

/** Seconds rounded to milliseconds, for summaries. */
export function round(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}

/** The retry policy shared by every HTTP request framepipe makes: which failures pass, and how long to wait. */
import { setTimeout as delay } from 'node:timers/promises';
import { AbortError, FramepipeError } from '@framepipe/common';

/** A failure of one try that another try may not meet: what to report if none succeeds, and the server's wish. */
export class PassingFailure extends Error {
  /** What the caller sees if no retry succeeds. */
  readonly error: FramepipeError;
  /** The server's `Retry-After` header, if it sent one. */
  readonly retryAfter: string | undefined;

  constructor(error: FramepipeError, retryAfter?: string) {
    super(error.message);
    this.error = error;
    this.retryAfter = retryAfter;
  }
}

/** The retries of one request when the caller does not say. */
export const DEFAULT_RETRIES = 5;
/** Milliseconds before the first retry when the caller does not say. */
export const DEFAULT_RETRY_DELAY = 500;
/** The longest backoff between two tries. */
const MAX_BACKOFF = 30_000;
/** The longest wait a `Retry-After` header gets. */
const MAX_RETRY_AFTER = 60_000;

/** System and stream error codes of a connection that broke or could not be made for now. */
const PASSING_NETWORK_ERRORS = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTDOWN',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** True for an HTTP status worth another try: 408, 429 and every 5xx. */
export function isPassingStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * True for a got or system error worth another try: a timeout, a connection that broke or could not be made, a
 * body that broke off (got's `ReadError`).
 */
export function isPassingNetworkError(error: unknown): boolean {
  const { name, code } = (error ?? {}) as { name?: string; code?: string };
  return name === 'TimeoutError' || name === 'ReadError' || code === 'ETIMEDOUT' || (code !== undefined && PASSING_NETWORK_ERRORS.has(code));
}

/**
 * Milliseconds to wait before retry number `attempt` (1 for the first): what the server's `Retry-After` asks (at
 * most 60 s), or `baseDelay` doubled per attempt (at most 30 s) with ±20% jitter, so that many clients cut off at
 * once do not come back at once.
 */
export function retryWait(attempt: number, baseDelay: number, retryAfter?: string | undefined): number {
  const asked = parseRetryAfter(retryAfter);
  if (asked !== undefined) return asked;
  return Math.min(baseDelay * 2 ** (attempt - 1), MAX_BACKOFF) * (0.8 + 0.4 * Math.random());
}

/** Waits before retry number `attempt` (see {@link retryWait}); rejects with an AbortError once `signal` fires. */
export function pauseBeforeRetry(failure: PassingFailure, attempt: number, baseDelay: number, signal?: AbortSignal): Promise<void> {
  return delay(retryWait(attempt, baseDelay, failure.retryAfter), undefined, signal ? { signal } : {}).catch(() => {
    throw new AbortError(signal?.reason);
  });
}

/**
 * The one error that ends a request whose retries have run out: the last failure's code, status and source, and
 * every try's message in `attempts`.
 */
export function retriesSpent(failures: readonly FramepipeError[], message: string, cause: unknown): FramepipeError {
  const last = failures[failures.length - 1]!;
  return new FramepipeError(last.code, message, {
    ...(last.source !== undefined ? { source: last.source } : {}),
    ...(last.status !== undefined ? { status: last.status } : {}),
    cause,
    attempts: failures.map((failure) => failure.message),
  });
}

/** `Retry-After` in ms (delay-seconds or an HTTP date), at most 60 s; undefined if absent or unreadable. */
function parseRetryAfter(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const text = header.trim();
  const ms = /^\d+$/.test(text) ? Number(text) * 1000 : Date.parse(text) - Date.now();
  if (Number.isNaN(ms)) return undefined;
  return Math.min(Math.max(ms, 0), MAX_RETRY_AFTER);
}

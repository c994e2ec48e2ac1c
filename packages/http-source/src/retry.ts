/** The retry policy shared by every HTTP request framepipe makes: which failures pass, and how long to wait. */
import { channel } from 'node:diagnostics_channel';
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

/**
 * The `node:diagnostics_channel` name on which every retry of an HTTP request is announced, before its wait, with
 * a {@link RetryEvent}: a program (the CLI does) subscribes to tell its user why a run is waiting.
 *
 * @example
 * import { subscribe } from 'node:diagnostics_channel';
 * subscribe(RETRY_CHANNEL, (event) => {
 *   const { error, attempt, attempts, wait } = event as RetryEvent;
 *   console.error(`attempt ${attempt} of ${attempts} failed: ${error.message}; next try in ${wait} ms`);
 * });
 */
export const RETRY_CHANNEL = 'framepipe:retry';

/** What {@link RETRY_CHANNEL} publishes when a failed try is about to be tried again. */
export interface RetryEvent {
  /** The failure of this try: its code, its message, the URL in `source` (credentials hidden). */
  readonly error: FramepipeError;
  /** The try that failed, 1 for the first. */
  readonly attempt: number;
  /** How many tries the request may make in all: the retries + 1. */
  readonly attempts: number;
  /** Milliseconds until the next try. */
  readonly wait: number;
}

const retries = channel(RETRY_CHANNEL);

/**
 * Waits before retry number `attempt` (see {@link retryWait}), after announcing it on {@link RETRY_CHANNEL}
 * (`maxRetries` is the request's budget, for the "attempt n of m" there); rejects with an AbortError once `signal`
 * fires.
 */
export function pauseBeforeRetry(failure: PassingFailure, attempt: number, baseDelay: number, signal?: AbortSignal, maxRetries?: number): Promise<void> {
  const wait = retryWait(attempt, baseDelay, failure.retryAfter);
  if (retries.hasSubscribers) {
    const event: RetryEvent = { error: failure.error, attempt, attempts: (maxRetries ?? attempt) + 1, wait };
    retries.publish(event);
  }
  return delay(wait, undefined, signal ? { signal } : {}).catch(() => {
    throw new AbortError(signal?.reason);
  });
}

/**
 * The one error that ends a request whose retries have run out: the last failure, said once, with how many tries it
 * took; its code, status and source; every try's message in `attempts`. A single try is its own failure as it is.
 */
export function retriesSpent(failures: readonly FramepipeError[]): FramepipeError {
  const last = failures[failures.length - 1]!;
  if (failures.length === 1) return last;
  return new FramepipeError(last.code, `${last.message} (gave up after ${failures.length} attempts)`, {
    ...(last.source !== undefined ? { source: last.source } : {}),
    ...(last.status !== undefined ? { status: last.status } : {}),
    cause: last.cause ?? last,
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

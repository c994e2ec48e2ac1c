/** The retry policy shared by every HTTP request framepipe makes: which failures pass, and how long to wait. */
import { channel } from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';
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

/** The retries in a row without a new byte that one request may make when the caller does not say. */
export const DEFAULT_RETRIES = 5;
/**
 * The tries one request may make in all, bytes or not: a server that cuts every answer after a few bytes still
 * delivers, but so slowly that giving up is kinder than going on.
 */
export const MAX_ATTEMPTS = 100;
/**
 * The least time, in milliseconds, that one request may go on retrying when the caller does not say: 10 minutes, or
 * 20 timeouts if that is longer (see {@link retryTimeLimitFor}).
 */
export const DEFAULT_RETRY_TIME_LIMIT = 600_000;
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
 *   const { error, attempt, attempts, received, wait } = event as RetryEvent;
 *   if (received > 0) console.error(`${error.message}; asking for the rest in ${wait} ms`);
 *   else console.error(`attempt ${attempt} of ${attempts} failed: ${error.message}; next try in ${wait} ms`);
 * });
 */
export const RETRY_CHANNEL = 'framepipe:retry';

/** What {@link RETRY_CHANNEL} publishes when a failed try is about to be tried again. */
export interface RetryEvent {
  /** The failure of this try: its code, its message, the URL in `source` (credentials hidden). */
  readonly error: FramepipeError;
  /**
   * Tries in a row that brought no new byte, this one included, 1 for the first; 0 when this try brought bytes
   * (a body cut short), which starts the count again.
   */
  readonly attempt: number;
  /** How many tries in a row without a new byte the request may make: the retries + 1. */
  readonly attempts: number;
  /** New bytes this try delivered before it failed (0 for a status, a refused connection, a stall before the body). */
  readonly received: number;
  /** Milliseconds until the next try. */
  readonly wait: number;
}

const retries = channel(RETRY_CHANNEL);

/**
 * Waits before retry number `attempt` (see {@link retryWait}), after announcing it on {@link RETRY_CHANNEL}
 * (`maxRetries` is the request's budget, for the "attempt n of m" there; `received` the new bytes the try brought,
 * after which the count starts again and the wait is the first one); rejects with an AbortError once `signal` fires.
 */
export function pauseBeforeRetry(
  failure: PassingFailure,
  attempt: number,
  baseDelay: number,
  signal?: AbortSignal,
  maxRetries?: number,
  received = 0,
): Promise<void> {
  const wait = retryWait(Math.max(attempt, 1), baseDelay, failure.retryAfter);
  if (retries.hasSubscribers) {
    const event: RetryEvent = { error: failure.error, attempt, attempts: (maxRetries ?? attempt) + 1, received, wait };
    retries.publish(event);
  }
  return delay(wait, undefined, signal ? { signal } : {}).catch(() => {
    throw new AbortError(signal?.reason);
  });
}

/**
 * The one error that ends a request whose retries have run out: the last failure, said once, with how many tries it
 * took (and `why`, when given); its code, status and source; every try's message in `attempts`. A single try is its
 * own failure as it is.
 */
export function retriesSpent(failures: readonly FramepipeError[], why?: string): FramepipeError {
  const last = failures[failures.length - 1]!;
  if (failures.length === 1) return last;
  return new FramepipeError(last.code, `${last.message} (gave up after ${failures.length} attempts${why ? `, ${why}` : ''})`, {
    ...(last.source !== undefined ? { source: last.source } : {}),
    ...(last.status !== undefined ? { status: last.status } : {}),
    cause: last.cause ?? last,
    attempts: failures.map((failure) => failure.message),
  });
}

/**
 * How long one request may go on retrying when the caller does not say, for a given `timeout` (ms):
 * {@link DEFAULT_RETRY_TIME_LIMIT}, or 20 timeouts if that is longer.
 *
 * Why that much: the limit is there for a server that sends a few bytes and then stalls, on every try. Each such try
 * brings a new byte, so the count of tries without one never runs out, and each costs a whole timeout: at the
 * defaults, 100 tries of 30 s kept one request going for 50 minutes. The limit must not cut short what `retries`
 * allows, though: at the defaults, six tries in a row without a byte take at most 6 × 30 s of timeouts and 15.5 s of
 * backoff (0.5 + 1 + 2 + 4 + 8), or 5 × 60 s of waits when the server asks for them with `Retry-After`: 8 minutes.
 * 10 minutes is more, and 20 timeouts keep it so for a longer timeout. A server that stalls after every few bytes is
 * then given up on after about 20 tries, where a dead one is after 6.
 */
export function retryTimeLimitFor(timeout: number): number {
  return Math.max(DEFAULT_RETRY_TIME_LIMIT, 20 * timeout);
}

/** The limits of a {@link RetryBudget} besides its retries. */
export interface RetryLimits {
  /**
   * Milliseconds from the request's first failure (or from the last failure of a try that delivered
   * {@link STEADY_PROGRESS} bytes or more) after which a failed try ends the request. A try under way is not
   * stopped: the limit is checked when a try fails.
   * @default DEFAULT_RETRY_TIME_LIMIT
   */
  readonly timeLimit?: number;
  /**
   * Tries in all, with bytes or not.
   * @default MAX_ATTEMPTS
   */
  readonly maxAttempts?: number;
  /** The clock, in milliseconds (for tests). @default performance.now */
  readonly now?: () => number;
}

/**
 * The retry budget of one request that may deliver its bytes over several tries: `retries` tries in a row that
 * bring no new byte (a try that brings some starts the count again), {@link MAX_ATTEMPTS} tries in all, and at
 * most `timeLimit` ms of retrying from the first failure, so that a dead server, one that cuts every answer after a
 * few bytes and one that stalls after a few bytes (each try then lasts a timeout) all end.
 *
 * @example
 * const budget = new RetryBudget(5, { timeLimit: retryTimeLimitFor(30_000) });
 * // after a failed try that delivered `received` new bytes:
 * const spent = budget.spend(failure, received);
 * if (spent) throw spent;
 */
export class RetryBudget {
  readonly #retries: number;
  readonly #timeLimit: number;
  readonly #maxAttempts: number;
  readonly #now: () => number;
  readonly #failures: FramepipeError[] = [];
  #withoutProgress = 0;
  #firstFailure: number | undefined;

  constructor(retries: number, { timeLimit = DEFAULT_RETRY_TIME_LIMIT, maxAttempts = MAX_ATTEMPTS, now = () => performance.now() }: RetryLimits = {}) {
    this.#retries = retries;
    this.#timeLimit = timeLimit;
    this.#maxAttempts = maxAttempts;
    this.#now = now;
  }

  /** Tries in a row, the last failed one included, that brought no new byte (0 after one that did). */
  get withoutProgress(): number {
    return this.#withoutProgress;
  }

  /**
   * Counts a failed try that brought `received` new bytes: returns the error that ends the request when the
   * budget is spent, undefined when another try is due.
   */
  spend(failure: PassingFailure, received: number): FramepipeError | undefined {
    const now = this.#now();
    // A try that delivered much before it broke is a link that works: the time limit counts from its failure on.
    if (received >= STEADY_PROGRESS) this.#firstFailure = now;
    this.#firstFailure ??= now;
    this.#failures.push(failure.error);
    this.#withoutProgress = received > 0 ? 0 : this.#withoutProgress + 1;
    const tries = this.#failures.length;
    if (this.#withoutProgress > this.#retries) {
      return retriesSpent(this.#failures, this.#withoutProgress < tries ? `the last ${this.#withoutProgress} without a new byte` : undefined);
    }
    if (tries >= this.#maxAttempts) return retriesSpent(this.#failures, 'the most one request may make');
    const retrying = now - this.#firstFailure;
    if (retrying >= this.#timeLimit) {
      return retriesSpent(this.#failures, `${seconds(retrying)} s of retrying, past the ${seconds(this.#timeLimit)} s one request may spend`);
    }
    return undefined;
  }
}

/**
 * Bytes that a failed try must have delivered for the time limit of its request to count again from that failure:
 * a link that breaks now and then but delivers megabytes in between keeps going, while a server that sends a few
 * bytes and stalls, try after try, is still given up on.
 */
export const STEADY_PROGRESS = 1024 * 1024;

/** Milliseconds as seconds for a message: `600`, `1.5`. */
function seconds(ms: number): string {
  return String(Math.round(ms / 100) / 10);
}

/** `Retry-After` in ms (delay-seconds or an HTTP date), at most 60 s; undefined if absent or unreadable. */
function parseRetryAfter(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const text = header.trim();
  const ms = /^\d+$/.test(text) ? Number(text) * 1000 : Date.parse(text) - Date.now();
  if (Number.isNaN(ms)) return undefined;
  return Math.min(Math.max(ms, 0), MAX_RETRY_AFTER);
}

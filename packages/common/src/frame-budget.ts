import { AbortError, ErrorCode, FramepipeError } from './errors.ts';
import { checkInteger, invalidOption } from './options.ts';

/** Options of {@link FrameBudget}. */
export interface FrameBudgetOptions {
  /**
   * Milliseconds an `acquire` may wait while no unit is given back at all before it fails with
   * `ERR_FRAMEPIPE_STALLED`: a consumer that never releases the frames it is done with would otherwise hang the
   * run without a word. 0 waits for ever (a consumer that may legitimately hold every frame that long).
   * @default 0
   */
  stallTimeout?: number | undefined;
}

/**
 * A count of decoded frames allowed to exist at once between the decoder and their last consumer.
 *
 * Stream high-water marks bound each buffer on its own, so a chain of four stages holds up to the sum of four
 * buffers plus what each stage holds in hand. A budget bounds the whole chain with one number: the decoder takes
 * one unit before it receives a frame, and whoever ends that frame's life (a writer that finished its file, a
 * filter that dropped it, an iterator whose consumer moved on) gives the unit back. Peak frame memory is then
 * `capacity × frame bytes`, whatever the buffering of the stages in between.
 *
 * @example
 * const budget = new FrameBudget(4 + 2 + 1);
 * const decoder = new Decoder(info.codecParameters, { budget });
 * const sink = new FrameDirSink(dir, { budget });
 */
export class FrameBudget {
  /** How many frames may be alive at once. */
  readonly capacity: number;
  #inUse = 0;
  #waiters: Array<{ resolve: () => void; reject: (error: unknown) => void }> = [];
  #closedWith: unknown = undefined;
  #closed = false;
  readonly #stallTimeout: number;
  /** When a unit was last given back, or taken without waiting: what tells a slow consumer from a stuck one. */
  #lastMove = 0;
  #stallTimer: NodeJS.Timeout | null = null;

  constructor(capacity: number, options: FrameBudgetOptions = {}) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
    this.#stallTimeout = checkInteger('stallTimeout', options.stallTimeout ?? 0, 0);
  }

  /** Units taken and not yet given back. */
  get inUse(): number {
    return this.#inUse;
  }

  /** Takes one unit, waiting while all are in use. Rejects once the budget is closed or the signal fires. */
  acquire(signal?: AbortSignal): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closedWith ?? new AbortError());
    if (signal?.aborted) return Promise.reject(new AbortError(signal.reason));
    if (this.#inUse < this.capacity) {
      this.#inUse++;
      this.#lastMove = performance.now();
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (error: unknown) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      const onAbort = () => {
        const at = this.#waiters.indexOf(waiter);
        if (at !== -1) this.#waiters.splice(at, 1);
        // The stall watch keeps the process alive: with nobody waiting any more, it has nothing to watch.
        if (this.#waiters.length === 0) this.#stopWatching();
        reject(new AbortError(signal?.reason));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
      this.#watchForStall();
    });
  }

  /**
   * While someone waits, checks every `stallTimeout` ms that units still come back. The timer keeps the process
   * alive on purpose: a run whose consumer forgot to release would otherwise end the process with nothing said.
   */
  #watchForStall(): void {
    if (this.#stallTimeout === 0 || this.#stallTimer) return;
    const check = () => {
      this.#stallTimer = null;
      if (this.#waiters.length === 0 || this.#closed) return;
      const idle = performance.now() - this.#lastMove;
      if (idle < this.#stallTimeout) {
        this.#stallTimer = setTimeout(check, this.#stallTimeout - idle);
        return;
      }
      const error = new FramepipeError(
        ErrorCode.STALLED,
        `No decoded frame was given back in ${Math.round(idle)} ms while all ${this.capacity} of the frame budget are in use: ` +
          'whatever consumes the frames must call budget.release() once for each frame it is done with',
      );
      for (const waiter of this.#waiters.splice(0)) waiter.reject(error);
    };
    this.#stallTimer = setTimeout(check, this.#stallTimeout);
  }

  /** Gives one unit back, handing it straight to the oldest waiter if there is one. */
  release(): void {
    if (this.#inUse === 0) throw new Error('FrameBudget.release() called more often than acquire()');
    this.#lastMove = performance.now();
    const next = this.#waiters.shift();
    if (next) next.resolve();
    else this.#inUse--;
    if (this.#waiters.length === 0) this.#stopWatching();
  }

  #stopWatching(): void {
    if (this.#stallTimer) clearTimeout(this.#stallTimer);
    this.#stallTimer = null;
  }

  /** Fails every waiting and future `acquire`; used when the pipeline is torn down. */
  close(error?: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closedWith = error;
    this.#stopWatching();
    for (const waiter of this.#waiters.splice(0)) waiter.reject(error ?? new AbortError());
  }
}

/** A {@link FrameBudget} or undefined, for the `budget` option of the stages. */
export function checkBudget(value: unknown): FrameBudget | undefined {
  if (value !== undefined && !(value instanceof FrameBudget)) throw invalidOption('budget', 'a FrameBudget', value);
  return value;
}

/**
 * The default number of files encoded and written at once: one per core, and at least 4. Fewer than 4 left the
 * encoders waiting on file writes on a 2-core machine: with 2 writers, 1080p JPEG ran at 91–97 fps for 16.8–17.7 CPU
 * ms per frame, with 4 at 121–124 fps for 14.1–14.3 (BENCHMARKS.md, issue 17).
 */
export function defaultWriteWorkers(cores: number): number {
  return Math.max(4, cores);
}

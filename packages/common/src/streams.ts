/**
 * streamx counts a non-buffer item as 1024 bytes against a 16 KiB high-water mark by default, so "16 KiB" would
 * silently mean "16 packets" or "16 frames". Object stages use these options so that a high-water mark is a count
 * of items and means what the option that set it says.
 */
export function objectStreamOptions(highWaterMark: number): { highWaterMark: number; byteLength: () => number } {
  return { highWaterMark, byteLength: () => 1 };
}

interface Fifo<T> {
  shift(): T | undefined;
  isEmpty(): boolean;
}
interface StreamxInternals<T> {
  _readableState?: { queue: Fifo<T> };
  _writableState?: { queue: Fifo<T> };
  _transformState?: { data: T | null };
}

/**
 * Hands every item still held in a streamx stream's buffers (readable queue, writable queue, a transform's parked
 * item) to `release`. Native objects (node-av packets and frames) in those buffers would otherwise wait for the
 * garbage collector, which does not see their native size. Call it from `_predestroy`: streamx no longer
 * takes items from the buffers once destroy has begun, and a Transform's own `destroy()` drops its parked item
 * right after `_predestroy` returns, without freeing it.
 */
export function releaseBuffered<T>(stream: object, release: (item: T) => void): void {
  const internals = stream as StreamxInternals<T>;
  for (const queue of [internals._readableState?.queue, internals._writableState?.queue]) {
    if (!queue) continue;
    while (!queue.isEmpty()) {
      const item = queue.shift();
      if (item !== undefined && item !== null) release(item);
    }
  }
  // Left in place: Transform.destroy() checks this slot to complete the parked write's callback.
  const parked = internals._transformState?.data;
  if (parked !== undefined && parked !== null) release(parked);
}

/**
 * The native calls a stage has started and that are still running. FFmpeg works on its own threads while a promise
 * is pending; a stage's `_destroy` must not free a context such a call still uses, so it waits for {@link
 * InFlight.settled} first.
 */
export class InFlight {
  #last: Promise<void> = Promise.resolve();

  /** Records a started call and returns it unchanged. */
  track<T>(call: Promise<T>): Promise<T> {
    const previous = this.#last;
    // Settled only when this call and every earlier one have settled, whatever their outcome. Only the fact is kept,
    // not the results: a chain of allSettled arrays would hold every result ever tracked (every frame of a run).
    this.#last = Promise.allSettled([previous, call]).then(() => undefined);
    return call;
  }

  /** Resolves once every recorded call has settled. Never rejects. */
  settled(): Promise<void> {
    return this.#last.then(() => undefined);
  }
}

/**
 * An operation that should succeed once, like opening a source: concurrent callers share the attempt in flight;
 * a success is kept for every later call; a failure is forgotten, so the next call tries again.
 *
 * @example
 * readonly #open = new SharedAttempt();
 * open(signal?: AbortSignal): Promise<void> {
 *   return this.#open.run(() => this.#connect(signal));
 * }
 */
export class SharedAttempt {
  #attempt: Promise<void> | undefined;

  run(attempt: () => Promise<void>): Promise<void> {
    this.#attempt ??= attempt().catch((error: unknown) => {
      this.#attempt = undefined;
      throw error;
    });
    return this.#attempt;
  }
}

/**
 * Flows between stages in place of a packet where the packets stop being consecutive: the demuxer jumped ahead to
 * another keyframe (see `Demuxer.jump`). A decoder drains its pending frames and starts afresh there; a stage that
 * does not care passes it on.
 */
export const DISCONTINUITY: Readonly<{ discontinuity: true }> = Object.freeze({ discontinuity: true });

/** True for the {@link DISCONTINUITY} marker. */
export function isDiscontinuity(item: unknown): item is typeof DISCONTINUITY {
  return item === DISCONTINUITY;
}

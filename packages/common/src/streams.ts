/**
 * streamx counts a non-buffer item as 1024 bytes against a 16 KiB high-water mark by default, so "16 KiB" would
 * silently mean "16 packets" or "16 frames". Object stages use these options so that a high-water mark is a count
 * of items and means what the option that set it says.
 */
export function objectStreamOptions(highWaterMark: number): { highWaterMark: number; byteLength: () => number } {
  return { highWaterMark, byteLength: () => 1 };
}

/**
 * How a {@link StageBuffers} frees what its stage still holds when the stage is destroyed.
 *
 * @example
 * // A decoder's: packets in, frames out, each frame holding a unit of the budget.
 * const release: BufferedRelease<Packet, Frame> = {
 *   input: (packet) => packet.free(),
 *   output: (frame) => { frame.free(); budget.release(); },
 * };
 */
export interface BufferedRelease<In, Out> {
  /** Frees an item written to the stage that its `_transform` (or `_write`) never took. */
  input?: ((item: In) => void) | undefined;
  /** Frees an item the stage pushed that no reader took. */
  output?: ((item: Out) => void) | undefined;
}

/**
 * Knows which items a streamx stage holds in its own buffers, so that it can free them when the stage is destroyed:
 * streamx drops buffered items without a word, and node-av packets and frames would then wait for the garbage
 * collector, which does not see their native size.
 *
 * An input is held from `write()` until the stage's `_transform` (or `_write`) takes it: queued, or parked by a
 * Transform whose output is full. An output is held from `push()` until a reader takes it out of the readable
 * buffer (`read()`, a pipe, a `'data'` listener, an async iterator). Only public parts of streamx mark those
 * moments: the `byteLengthWritable`/`byteLengthReadable` constructor options, which streamx calls as an item
 * enters a buffer and as it leaves one, and the stage's own `_transform`/`_write`. The common package's
 * `streams.test.ts` pins that behaviour of streamx, so an upgrade that changes it fails a test instead of leaking.
 *
 * Each item must be its own object while it is buffered (as every packet and frame is). A shared marker such as
 * {@link DISCONTINUITY} may be buffered twice at once; it can then be missed or handed to `release` when it is no
 * longer buffered, so a release callback must ignore it.
 *
 * @example
 * // A stage that passes node-av packets on, counting them, and frees those it still holds when destroyed.
 * class PacketCounter extends Transform {
 *   count = 0;
 *   readonly #buffered: StageBuffers<Packet, Packet>;
 *   constructor() {
 *     const buffered = new StageBuffers<Packet, Packet>();
 *     super(buffered.options(4));
 *     this.#buffered = buffered.attach(this, { input: (p) => p.free(), output: (p) => p.free() });
 *   }
 *   override write(packet: Packet): boolean {
 *     return this.#buffered.admit(packet) && super.write(packet);
 *   }
 *   override _transform(packet: Packet, cb: (err: Error | null, data?: unknown) => void): void {
 *     this.#buffered.take(packet);
 *     this.count++;
 *     cb(null, packet);
 *   }
 *   override _destroy(cb: (err: Error | null) => void): void {
 *     this.#buffered.release();
 *     cb(null);
 *   }
 * }
 */
export class StageBuffers<In, Out = never> {
  readonly #inputs = new Set<In>();
  readonly #outputs = new Set<Out>();
  #stream: { readonly destroying: boolean } | null = null;
  #release: BufferedRelease<In, Out> = {};
  /** Set by {@link StageBuffers.release}: what is pushed afterwards can never be read. */
  #released = false;

  // streamx measures an input as it is written and again as it leaves the queue for _write. Both only add: the
  // item is still the stage's after the queue, since a Transform may park it before _transform sees it.
  readonly #measureInput = (item: In): number => {
    this.#inputs.add(item);
    return 1;
  };

  // streamx measures an output once as it is pushed and once as a reader takes it out: every second measure of the
  // same item is its departure.
  readonly #measureOutput = (item: Out): number => {
    // streamx may call _destroy while an asynchronous _transform is still running (a reader asking for more after
    // destroy() starts the teardown from the readable side): what that transform pushes later lands in a queue
    // nobody reads, so it is released as it arrives.
    if (this.#released) this.#release.output?.(item);
    else if (!this.#outputs.delete(item)) this.#outputs.add(item);
    return 1;
  };

  /**
   * Options for the stage's streamx constructor: {@link objectStreamOptions}, with item counts that also record what
   * enters and leaves the buffers. One `StageBuffers` serves one stream.
   */
  options(highWaterMark: number): {
    highWaterMark: number;
    byteLength: () => number;
    byteLengthWritable: (item: In) => number;
    byteLengthReadable: (item: Out) => number;
  } {
    return { ...objectStreamOptions(highWaterMark), byteLengthWritable: this.#measureInput, byteLengthReadable: this.#measureOutput };
  }

  /** Names the stage (once constructed) and how to free what it leaves behind; returns this. */
  attach(stream: { readonly destroying: boolean }, release: BufferedRelease<In, Out>): this {
    this.#stream = stream;
    this.#release = release;
    return this;
  }

  /**
   * For the stage's `write()`: true when the item may go on to streamx; false, with the item already released, when
   * the stage is being destroyed. streamx drops what reaches a stream being destroyed, and the stage upstream goes
   * on writing until this one has closed.
   */
  admit(item: In): boolean {
    if (this.#stream?.destroying !== true) return true;
    this.#release.input?.(item);
    return false;
  }

  /** For the start of the stage's `_transform` (or `_write`): the item is the stage's own work from now on. */
  take(item: In): void {
    this.#inputs.delete(item);
  }

  /**
   * Hands every item still buffered to its release callback, once, and every item pushed from then on as it is
   * pushed. Call it from `_destroy`: by then streamx takes nothing more from the buffers. A `_transform` may still
   * be running (streamx can begin the teardown from the readable side while it is); what it pushes is released
   * as it arrives, and what it was given it owns, as always.
   */
  release(): void {
    this.#released = true;
    const { input, output } = this.#release;
    // Deleted before each callback: an item is released once even if a callback throws and release runs again.
    for (const item of this.#outputs) {
      this.#outputs.delete(item);
      output?.(item);
    }
    for (const item of this.#inputs) {
      this.#inputs.delete(item);
      input?.(item);
    }
  }
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

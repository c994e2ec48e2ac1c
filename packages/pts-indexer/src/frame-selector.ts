import { Transform } from 'streamx';
import type { Frame } from 'node-av/lib';
import { AV_NOPTS_VALUE } from 'node-av/constants';
import {
  FrameBudget,
  checkBudget,
  assertKnownKeys,
  assertOptionsObject,
  checkFunction,
  checkInteger,
  invalidOption,
  StageBuffers,
} from '@framepipe/common';
import type { PtsIndex } from './pts-index.ts';
import { Selection } from './selection.ts';
import type { SelectionOptions } from './selection.ts';

/** A decoded frame with its frame number. The consumer owns `frame` and must `free()` it. */
export interface NumberedFrame {
  readonly frame: Frame;
  readonly index: number;
}

/**
 * Options of {@link FrameSelector}: the frames to keep, as a {@link Selection} or its options (`start`, `end`,
 * `step`, `frames`; times must first be turned into frames with {@link Selection.atTimes}), and the budget.
 */
export interface FrameSelectorOptions extends Pick<SelectionOptions, 'start' | 'end' | 'step' | 'frames'> {
  /** The frames to keep, instead of `start`, `end`, `step` and `frames`. */
  selection?: Selection | undefined;
  /** The budget the decoder took a unit from for each frame; a dropped frame gives its unit back. */
  budget?: FrameBudget | undefined;
  /**
   * Frames that may wait in the output buffer.
   * @default 1
   */
  highWaterMark?: number;
  /**
   * Called once the input has ended, with the frames of the selection (up to the last frame of the index) that
   * never came, in order; an error it returns fails the stage (a strict run, say). Not called when the stage is
   * destroyed before its input ends.
   * @example
   * new FrameSelector(index, { start: 10, end: 19, missed: (frames) => frames.length ? new Error(`no ${frames}`) : null });
   */
  missed?: ((frames: readonly number[]) => Error | null | undefined) | undefined;
}

/**
 * Gives decoded frames their numbers from a {@link PtsIndex} and keeps those in `[start, end]` (every `step`-th,
 * or only the listed `frames`), each once. Frames without a pts, with a pts the index does not know, not wanted
 * or already emitted are freed and dropped, as Supervisely's reader skips them.
 *
 * Emits `'kept'` with the frame number of each frame it lets through (a listener can steer the demuxer, e.g. jump
 * over a gap once a part of the selection is complete), and `'done'` once every wanted frame has passed, or a frame past the range shows none can follow; the
 * composer then stops the demuxer so that nothing more is read or decoded. Frames still arriving are dropped.
 *
 * @example
 * const selector = new FrameSelector(index, { start: 10, end: 19 });
 * selector.once('done', () => demuxer.stop());
 */
export class FrameSelector extends Transform {
  /** The frames kept. */
  readonly selection: Selection;
  /** How many frames complete the selection; undefined when it runs to the last frame. */
  #count: number | undefined;
  #index: PtsIndex;
  #budget: FrameBudget | undefined;
  #emitted = new Set<number>();
  #done = false;
  #dropped = 0;
  #unnumbered = 0;
  #missed: FrameSelectorOptions['missed'];
  readonly #buffered: StageBuffers<Frame, NumberedFrame>;

  constructor(index: PtsIndex, options: FrameSelectorOptions = {}) {
    const opts = assertOptionsObject(options, 'FrameSelector');
    assertKnownKeys(opts, ['start', 'end', 'step', 'frames', 'selection', 'budget', 'highWaterMark', 'missed'], 'FrameSelector');
    const buffered = new StageBuffers<Frame, NumberedFrame>();
    super(buffered.options(checkInteger('highWaterMark', opts.highWaterMark ?? 1, 1)));
    this.#buffered = buffered.attach(this, { input: (frame) => this.#drop(frame), output: ({ frame }) => this.#drop(frame) });
    if (opts.selection !== undefined && !(opts.selection instanceof Selection)) throw invalidOption('selection', 'a Selection', opts.selection);
    const { selection: given, budget, highWaterMark, missed, ...keys } = opts;
    const named = Object.entries(keys).find(([, value]) => value !== undefined);
    if (given && named) throw invalidOption(named[0], 'no selection options together with selection', named[1]);
    const selection = given ?? Selection.from(keys);
    if (selection.byTime) throw invalidOption('selection', 'frame numbers (turn times into frames with Selection.atTimes)', selection.timestamps);
    this.selection = selection;
    this.#count = selection.count;
    this.#index = index;
    this.#budget = checkBudget(budget);
    this.#missed = checkFunction('missed', missed);
  }

  /** Frames dropped so far (outside the range, unnumbered, duplicate, or after the range was complete). */
  get framesDropped(): number {
    return this.#dropped;
  }

  /** Frames dropped because they have no number: no pts, or a pts the index does not know (among {@link framesDropped}). */
  get framesUnnumbered(): number {
    return this.#unnumbered;
  }

  /** True once the wanted range is complete. */
  get done(): boolean {
    return this.#done;
  }

  override _transform(frame: Frame, cb: (err: Error | null, data?: unknown) => void): void {
    this.#buffered.take(frame);
    const { end } = this.selection;
    const index = this.#done || frame.pts === AV_NOPTS_VALUE ? undefined : this.#index.indexOf(frame.pts);
    if (index === undefined || !this.selection.keeps(index) || this.#emitted.has(index)) {
      if (index === undefined && !this.#done) this.#unnumbered++;
      this.#drop(frame);
      if (index !== undefined && end !== undefined && index > end) this.#passedEnd();
      // A list with no frame in the range: nothing will ever be kept, so the selection is complete already.
      if (this.#count === 0) this.#finish();
      return cb(null);
    }
    this.#emitted.add(index);
    this.emit('kept', index);
    if (this.#emitted.size === this.#count) this.#finish();
    cb(null, { frame, index } satisfies NumberedFrame);
  }

  /**
   * Whether a frame with this pts would be kept: its number is in the index and in the selection. Before
   * decoding, it tells which packets' frames will only be dropped (the `unwanted` option of the Decoder).
   */
  wouldKeep(pts: bigint): boolean {
    const index = this.#index.indexOf(pts);
    return index !== undefined && this.selection.keeps(index);
  }

  /**
   * streamx drops, without freeing, what is written to a stream being destroyed, and the decoder goes on writing
   * until this stage has closed: free such frames and give their units back.
   */
  override write(frame: Frame): boolean {
    return this.#buffered.admit(frame) && super.write(frame);
  }

  override _flush(cb: (err: Error | null) => void): void {
    if (!this.#missed) return cb(null);
    const never = [...this.selection.upTo(this.#index.size - 1)].filter((n) => !this.#emitted.has(n));
    cb(this.#missed(never) ?? null);
  }

  override _destroy(cb: (err: Error | null) => void): void {
    this.#buffered.release();
    cb(null);
  }

  #drop(frame: Frame): void {
    frame.free();
    this.#budget?.release();
    this.#dropped++;
  }

  /**
   * Frames come out of the decoder in pts order, so a frame past `end` means no wanted frame can follow -- except in
   * a stream decoded from the start for lack of composition offsets, where Supervisely waits for every wanted frame.
   */
  #passedEnd(): void {
    if (!this.#index.decodeFromStart) this.#finish();
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.emit('done');
  }
}

import { assertKnownKeys, assertOptionsObject, checkBoolean, checkInteger, checkPositiveNumber, conflictingOptions, invalidOption, naming } from '@framepipe/common';
import type { OptionText } from '@framepipe/common';
import type { PtsIndex } from './pts-index.ts';

/**
 * Which frames a run delivers, as a caller writes it: a range (`start`, `end`, `step`), a list of frame numbers
 * (`frames`), times in seconds (`timestamps`), or a time window (`startTime`, `endTime`) sampled at `fps` or every
 * `step`-th frame; `keyframesOnly` keeps only the keyframes of a range or a window. All omitted is every frame.
 */
export interface SelectionOptions {
  /**
   * First frame number (inclusive, 0-based).
   * @default 0
   */
  start?: number | undefined;
  /** Last frame number (inclusive, 0-based); past the last frame means "to the end". Omit for the last frame. */
  end?: number | undefined;
  /**
   * Keep every `step`-th frame of the range: `start`, `start + step`, `start + 2 × step`, ... up to `end`.
   * @default 1
   */
  step?: number | undefined;
  /**
   * Exactly these frame numbers, in any order; duplicates and numbers past the last frame are ignored, and the
   * output comes in frame order. Not with `start`, `end`, `step` or `timestamps`.
   */
  frames?: readonly number[] | undefined;
  /**
   * Times in seconds from the first frame; each selects the frame shown at that time: the last frame whose
   * presentation time is at or before it (nothing for a time past the stream's duration). Two times on one frame
   * select it once. Not with `start`, `end`, `step` or `frames`.
   */
  timestamps?: readonly number[] | undefined;
  // Sampling by time and keyframes (issue 16).
  /**
   * Start of a time window, in seconds from the first frame (as `timestamps` counts them): the window starts at the
   * frame shown at that time, the last frame whose presentation time is at or before it. A time past the stream's
   * duration selects nothing. Not with `start`, `end`, `frames` or `timestamps`.
   * @default 0
   * @example
   * await streamVideoFramesToDir(url, '/tmp/frames', { startTime: 10, endTime: 20 }); // every frame shown in 10-20 s
   */
  startTime?: number | undefined;
  /**
   * End of a time window, in seconds from the first frame, inclusive: the window ends with the last frame whose
   * presentation time is at or before it (a frame that starts exactly at `endTime` is in). Past the end of the
   * stream means "to the last frame". Not with `start`, `end`, `frames` or `timestamps`.
   * @default the last frame
   */
  endTime?: number | undefined;
  /**
   * One frame per `1 / fps` seconds: ticks at `startTime` (or 0), `startTime + 1/fps`, ... up to `endTime` inclusive
   * and before the stream's duration, and at each tick the frame shown then (the last frame whose presentation time is
   * at or before it), as ffmpeg's `fps` filter picks it with `round=up`.
   * Frames keep their own numbers; a frame shown at two ticks (a video slower than `fps`) is delivered once. Not with
   * `start`, `end`, `step`, `frames`, `timestamps` or `keyframesOnly`.
   * @example
   * await streamVideoFramesToDir(url, '/tmp/frames', { fps: 1 }); // the frame shown at 0 s, 1 s, 2 s, ...
   */
  fps?: number | undefined;
  /**
   * Only the keyframes (the frames the container marks as sync samples) of the range (`start`, `end`) or the time
   * window (`startTime`, `endTime`); every other packet is left out before the decoder, and over HTTP, for an MP4,
   * only the keyframes' bytes are fetched. Frames keep their own numbers. Not with `step`, `fps`, `frames` or
   * `timestamps`.
   * @default false
   * @example
   * await streamVideoFramesToDir(url, '/tmp/keyframes', { keyframesOnly: true });
   */
  keyframesOnly?: boolean | undefined;
}

/** A time window as {@link SelectionOptions} gives it: `startTime`, `endTime` and `fps`, checked. */
export interface TimeWindow {
  readonly startTime: number;
  readonly endTime: number | undefined;
  readonly fps: number | undefined;
}

/** What the timestamps of a stream mean in seconds, for {@link Selection.atTimes}. */
export interface StreamTiming {
  /** A pts of `n` is `n * num / den` seconds. */
  readonly timeBase: { readonly num: number; readonly den: number };
  /** The stream's duration in seconds, when known: a time past it selects nothing. */
  readonly duration: number | null;
}

/** The option names a selection is made of. */
export const SELECTION_KEYS = ['start', 'end', 'step', 'frames', 'timestamps', 'startTime', 'endTime', 'fps', 'keyframesOnly'] as const;

/**
 * Options that exclude each other, in the order they are looked for: `[option, other, advice]`, reported as
 * "`option` cannot be used together with `other`: `advice`".
 */
const CONFLICTS: ReadonlyArray<readonly [keyof SelectionOptions, keyof SelectionOptions, OptionText]> = (() => {
  const kinds = naming`choose a range (${'start'}, ${'end'}, ${'step'}), a list of ${'frames'}, ${'timestamps'}, or a time window (${'startTime'}, ${'endTime'}, ${'fps'})`;
  const lists = ['frames', 'timestamps'] as const;
  const others = ['start', 'end', 'step', 'startTime', 'endTime', 'fps', 'keyframesOnly'] as const;
  const ticks = naming`${'fps'} ticks are counted in seconds: give the window as ${'startTime'} and ${'endTime'}`;
  return [
    ['timestamps', 'frames', kinds],
    ...lists.flatMap((list) => others.map((other) => [other, list, kinds] as const)),
    ...(['startTime', 'endTime'] as const).flatMap((time) =>
      (['start', 'end'] as const).map(
        (frame) => [time, frame, naming`give the window in frame numbers (${'start'}, ${'end'}) or in seconds (${'startTime'}, ${'endTime'}), not both`] as const,
      ),
    ),
    ['fps', 'step', naming`${'fps'} samples by time and ${'step'} by count: give one of them`],
    ['fps', 'start', ticks],
    ['fps', 'end', ticks],
    ['keyframesOnly', 'fps', naming`${'fps'} takes the frame shown at each tick, ${'keyframesOnly'} only keyframes: give one of them`],
    ['keyframesOnly', 'step', naming`${'keyframesOnly'} keeps every keyframe of the range; to thin them, use ${'fps'} without ${'keyframesOnly'} or a ${'step'} without it`],
  ];
})();

/**
 * The frames a run delivers: the one place that says which frame numbers a range, a step, a list or a set of times
 * selects. It checks the options, tells whether frame `n` is kept, counts and lists the selection once its end is
 * known, and turns times into frame numbers with the video's index. A Selection never changes; each method that
 * narrows it returns a new one.
 *
 * @example
 * const selection = Selection.from({ start: 100, end: 199, step: 10 });
 * selection.keeps(110); // true
 * selection.count; // 10
 * [...selection]; // [100, 110, ..., 190]
 */
export class Selection {
  /** First frame number, inclusive; for a list, its smallest number. */
  readonly start: number;
  /** Last frame number, inclusive; for a list, its largest number; undefined while it runs to the last frame. */
  readonly end: number | undefined;
  /** Every `step`-th frame of `[start, end]`; 1 for a list. */
  readonly step: number;
  /** The listed frame numbers, sorted and without duplicates; undefined for a range. */
  readonly frames: readonly number[] | undefined;
  /** The times as given (seconds); undefined unless the frames are chosen by time and not yet resolved. */
  readonly timestamps: readonly number[] | undefined;
  /** The time window (`startTime`, `endTime`, `fps`); undefined unless the frames are chosen by one and not yet resolved. */
  readonly window: TimeWindow | undefined;
  /**
   * Only keyframes: before {@link Selection.atTimes}, those of the range or window; after it, the list it gives,
   * which is made of keyframes only, so that a decode may leave every other packet out.
   */
  readonly keyframesOnly: boolean;
  #listed: ReadonlySet<number> | undefined;

  private constructor(
    start: number,
    end: number | undefined,
    step: number,
    frames?: readonly number[],
    timestamps?: readonly number[],
    window?: TimeWindow,
    keyframesOnly = false,
  ) {
    this.start = start;
    this.end = end;
    this.step = step;
    this.frames = frames;
    this.timestamps = timestamps;
    this.window = window;
    this.keyframesOnly = keyframesOnly;
    this.#listed = frames && new Set(frames);
  }

  /**
   * Checks a selection as a caller wrote it and returns it as a Selection (a Selection is returned as it is).
   * Throws an `InvalidOptionError` naming the option: a key that is not a selection option, a negative or
   * fractional frame number, an `end` before `start`, a `step` below 1, a time that is not a finite number >= 0,
   * an `endTime` before `startTime`, an `fps` that is not a positive number, or options that do not go together
   * (`ERR_FRAMEPIPE_INVALID_OPTION` with `conflictsWith` naming the other).
   */
  static from(given: SelectionOptions | Selection | undefined = {}): Selection {
    if (given instanceof Selection) return given;
    const options = assertOptionsObject(given, 'selection');
    assertKnownKeys(options, SELECTION_KEYS, 'selection');
    const start = checkInteger('start', options.start ?? 0, 0);
    const end = checkInteger('end', options.end, 0, true);
    if (end !== undefined && end < start) throw invalidOption('end', naming`an integer >= ${'start'} (${start})`, end);
    const step = checkInteger('step', options.step ?? 1, 1);
    const frames = options.frames === undefined ? undefined : checkFrameList(options.frames);
    const timestamps = options.timestamps === undefined ? undefined : checkTimestamps(options.timestamps);
    const startTime = checkSeconds('startTime', options.startTime ?? 0);
    const endTime = options.endTime === undefined ? undefined : checkSeconds('endTime', options.endTime);
    if (endTime !== undefined && endTime < startTime) throw invalidOption('endTime', naming`a time >= ${'startTime'} (${startTime})`, endTime);
    const fps = options.fps === undefined ? undefined : checkPositiveNumber('fps', options.fps);
    const keyframesOnly = checkBoolean('keyframesOnly', options.keyframesOnly, false);
    // keyframesOnly: false is the default said out loud: it goes with anything.
    const isGiven = (key: keyof SelectionOptions) => options[key] !== undefined && !(key === 'keyframesOnly' && !keyframesOnly);
    const conflict = CONFLICTS.find(([option, other]) => isGiven(option) && isGiven(other));
    if (conflict) throw conflictingOptions(...conflict);
    if (frames) return Selection.#list(frames);
    if (timestamps) return new Selection(0, undefined, 1, undefined, timestamps);
    const window = isGiven('startTime') || isGiven('endTime') || isGiven('fps') ? { startTime, endTime, fps } : undefined;
    return new Selection(start, end, step, undefined, undefined, window, keyframesOnly);
  }

  static #list(sorted: readonly number[], keyframesOnly = false): Selection {
    return new Selection(sorted[0] ?? 0, sorted.length === 0 ? 0 : sorted[sorted.length - 1], 1, sorted, undefined, undefined, keyframesOnly);
  }

  /**
   * True when the frames are chosen by time (`timestamps`, a time window) or by keyframe, and {@link Selection.atTimes}
   * has not turned them into numbers with the video's index yet.
   */
  get byTime(): boolean {
    return this.timestamps !== undefined || this.window !== undefined || (this.keyframesOnly && !this.frames);
  }

  /** True for a range that starts at frame 0: its frames can be numbered in one pass, as packets arrive. */
  get fromFirstFrame(): boolean {
    return this.start === 0 && this.frames === undefined && !this.byTime;
  }

  /** True when nothing can be selected: an empty list of frames or of times. */
  get empty(): boolean {
    return (this.frames ?? this.timestamps)?.length === 0;
  }

  /** How many frames are selected; undefined while the end is open or the frames are chosen by time. */
  get count(): number | undefined {
    if (this.frames) return this.frames.length;
    if (this.end === undefined || this.byTime) return undefined;
    return Math.floor((this.end - this.start) / this.step) + 1;
  }

  /** Whether frame `n` is selected. Times select frames only through {@link Selection.atTimes}. */
  keeps(n: number): boolean {
    if (this.byTime) throw new Error('Selection.keeps: resolve the times or keyframes into frames first (Selection.atTimes)');
    if (n < this.start || (this.end !== undefined && n > this.end)) return false;
    return this.#listed ? this.#listed.has(n) : (n - this.start) % this.step === 0;
  }

  /** Whether one of `numbers` may be selected, whatever the video holds (a time may select any frame). */
  mayInclude(numbers: Iterable<number>): boolean {
    if (this.byTime) return true;
    for (const n of numbers) if (this.keeps(n)) return true;
    return false;
  }

  /** The selected frame numbers in order. Needs a known end (see {@link Selection.upTo}). */
  *[Symbol.iterator](): IterableIterator<number> {
    if (this.frames) return yield* this.frames;
    if (this.end === undefined || this.byTime) throw new Error('Selection: the end must be known to list the frames (Selection.upTo)');
    for (let n = this.start; n <= this.end; n += this.step) yield n;
  }

  /**
   * The same selection within a video whose last frame is `last` (-1 for a video without frames): `end` is capped
   * there, as Supervisely caps it, and listed numbers past it are dropped.
   */
  upTo(last: number): Selection {
    if (this.byTime) throw new Error('Selection.upTo: resolve the times or keyframes into frames first (Selection.atTimes)');
    if (this.frames) return this.frames.every((n) => n <= last) ? this : Selection.#list(this.frames.filter((n) => n <= last), this.keyframesOnly);
    if (this.start > last) return Selection.#list([]);
    const end = Math.min(this.end ?? last, last);
    return end === this.end ? this : new Selection(this.start, end, this.step);
  }

  /** This selection without the frames in `numbers` (already saved, say), as a list. Needs a known end. */
  without(numbers: ReadonlySet<number>): Selection {
    return Selection.#list([...this].filter((n) => !numbers.has(n)), this.keyframesOnly);
  }

  /**
   * The selection in frame numbers, with the video's index. Times count from the first frame, as a player's clock
   * does (an MPEG-TS stream's timestamps start anywhere); the frame shown at a time is the last frame whose
   * presentation time is at or before it, and a time past `timing.duration` shows none.
   * - `timestamps`: the frame shown at each time, as a list.
   * - a time window: from the frame shown at `startTime` to the last frame shown at or before `endTime` (the last
   *   frame without one), as a range with the selection's step; with `fps`, the frame shown at each tick
   *   `startTime + k / fps` up to `endTime` (or the duration; without one, the last frame's time), as a list.
   * - `keyframesOnly`: the keyframes of the range or window, as a list.
   * A selection of frame numbers is returned as it is. The index must reach past the last time or frame (see
   * {@link Selection.coveredBy}).
   */
  atTimes(index: PtsIndex, timing: StreamTiming): Selection {
    if (this.timestamps) {
      const chosen = new Set<number>();
      for (const t of this.timestamps) {
        if (index.size === 0 || (timing.duration !== null && t > timing.duration)) continue;
        chosen.add(Math.max(0, framesUpTo(index, timing, t) - 1));
      }
      return Selection.#list([...chosen].sort((a, b) => a - b));
    }
    if (!this.byTime) return this;
    const window = this.window;
    if (window && (index.size === 0 || (timing.duration !== null && window.startTime > timing.duration))) return Selection.#list([]);
    const first = window ? Math.max(0, framesUpTo(index, timing, window.startTime) - 1) : this.start;
    const last = window ? (window.endTime === undefined ? index.size - 1 : framesUpTo(index, timing, window.endTime) - 1) : this.end;
    if (window?.fps !== undefined) return Selection.#list(ticks(index, timing, window as TimeWindow & { fps: number }));
    if (!this.keyframesOnly) return new Selection(first, last, this.step);
    return Selection.#list(index.keyframeNumbers().filter((n) => n >= first && (last === undefined || n <= last)), true);
  }

  /**
   * How many frames of this selection lie past the last frame of the video that `index` numbers (which must be
   * complete): listed numbers past it, the part of a range past it, or, for times, those past `timing.duration`
   * (all of them in a video without numbered frames). Each is dropped from what {@link Selection.upTo} and
   * {@link Selection.atTimes} give; a run says how many.
   */
  pastEnd(index: PtsIndex, timing: StreamTiming): number {
    const last = index.size - 1;
    // A window or the keyframes of a range end where the video does: nothing in them lies past it.
    if (this.window || this.keyframesOnly) return 0;
    if (this.timestamps) {
      const past = this.timestamps.filter((t) => index.size === 0 || (timing.duration !== null && t > timing.duration));
      return new Set(past).size;
    }
    if (this.frames) return this.frames.filter((n) => n > last).length;
    if (this.end === undefined || this.end <= last) return 0;
    const first = Math.max(this.start, last + 1);
    // The range's frames from `first` on: those on its step's grid.
    const from = this.start + Math.ceil((first - this.start) / this.step) * this.step;
    return from > this.end ? 0 : Math.floor((this.end - from) / this.step) + 1;
  }

  /**
   * Whether `index` knows every frame this selection may need: the whole stream, or, for an index that stops
   * early, at least as many frames as a scan up to the last selected frame reads (`last + margin`: the frames up to
   * it and the window after it in which a decoder may still reorder frames).
   */
  coveredBy(index: PtsIndex, timing: StreamTiming, margin: number): boolean {
    if (index.complete) return true;
    // A range's own index numbers its frames exactly, and no others.
    const range = index.partialRange;
    if (range) return this.liesWithin(range.first, range.last);
    const lastTime = this.#lastTime();
    const last = this.timestamps || this.window ? (lastTime === undefined ? undefined : framesUpTo(index, timing, lastTime) - 1) : this.end;
    return last !== undefined && index.size >= last + margin;
  }

  /**
   * True when every frame the selection may select is one of frames `first..last`, known by number before the video
   * is read (no times, no keyframes of a range): what a run with a `PartialIndex` of that range can number.
   */
  liesWithin(first: number, last: number): boolean {
    if (this.frames) return this.frames.every((n) => n >= first && n <= last);
    return !this.byTime && this.start >= first && this.end !== undefined && this.end <= last;
  }

  /** The latest time the selection names, undefined when it runs to the end (or names no time). */
  #lastTime(): number | undefined {
    if (this.timestamps) return this.timestamps.length === 0 ? 0 : Math.max(...this.timestamps);
    return this.window?.endTime;
  }

  /**
   * The highest frame number that may be selected, when it can be told before the video is indexed: `end`, the
   * last listed frame, or, for times, a frame past the last time by the stated frame rate (with 10% to spare).
   * Undefined when the selection runs to the last frame, or times come without a frame rate.
   */
  lastNeeded(frameRate: { readonly num: number; readonly den: number } | null): number | undefined {
    if (!this.timestamps && !this.window) return this.end;
    if (this.timestamps?.length === 0) return 0;
    const lastTime = this.#lastTime();
    if (lastTime === undefined || !frameRate || frameRate.num <= 0) return undefined;
    return Math.ceil(((lastTime * frameRate.num) / frameRate.den) * 1.1) + 1;
  }
}

/** A list of frame numbers, sorted and without duplicates. */
function checkFrameList(value: unknown): number[] {
  if (!Array.isArray(value)) throw invalidOption('frames', 'an array of frame numbers', value);
  for (const n of value) checkInteger('frames', n, 0);
  return [...new Set(value as number[])].sort((a, b) => a - b);
}

function checkTimestamps(value: unknown): number[] {
  if (!Array.isArray(value)) throw invalidOption('timestamps', 'an array of times in seconds', value);
  for (const t of value) {
    if (typeof t !== 'number' || !Number.isFinite(t) || t < 0) throw invalidOption('timestamps', 'an array of times >= 0 in seconds', t);
  }
  return [...value] as number[];
}

/** A time in seconds for `option`: a finite number >= 0. */
function checkSeconds(option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw invalidOption(option, 'a time >= 0 in seconds', value);
  return value;
}

/**
 * The frames shown at the ticks of a window sampled at `fps`, ascending, each once: ticks at `startTime + k / fps`
 * (computed from k, so that no rounding adds up) up to `endTime` inclusive, and before the stream's duration (at
 * the duration the video has ended, as ffmpeg's fps filter has it), or without one, up to the last frame's time.
 */
function ticks(index: PtsIndex, timing: StreamTiming, { startTime, endTime, fps }: TimeWindow & { fps: number }): number[] {
  const lastFrameTime = secondsOf(index, timing, index.size - 1);
  const past = (tick: number) =>
    (endTime !== undefined && tick > endTime + 1e-9) || (timing.duration === null ? tick > lastFrameTime + 1e-9 : tick >= timing.duration - 1e-9);
  const chosen: number[] = [];
  let position = 0;
  for (let k = 0; ; k++) {
    const tick = startTime + k / fps;
    if (past(tick)) break;
    // Ticks only go forward: look for the frame shown at this one from the frame shown at the last.
    while (position < index.size && secondsOf(index, timing, position) <= tick + 1e-9) position++;
    const shown = Math.max(0, position - 1);
    if (chosen.at(-1) !== shown) chosen.push(shown);
  }
  return chosen;
}

/** Seconds from the first frame to frame `n`. */
function secondsOf(index: PtsIndex, { timeBase: { num, den } }: StreamTiming, n: number): number {
  return (Number(index.ptsAt(n)! - (index.ptsAt(0) ?? 0n)) * num) / den;
}

/** How many frames are shown at or before `seconds` after the first frame (the rank after the last such frame). */
function framesUpTo(index: PtsIndex, { timeBase: { num, den } }: StreamTiming, seconds: number): number {
  const origin = index.ptsAt(0) ?? 0n;
  let low = 0;
  let high = index.size;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((Number(index.ptsAt(middle)! - origin) * num) / den <= seconds + 1e-9) low = middle + 1;
    else high = middle;
  }
  return low;
}

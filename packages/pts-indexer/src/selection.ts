import { assertKnownKeys, assertOptionsObject, checkInteger, conflictingOptions, invalidOption } from '@framepipe/common';
import type { PtsIndex } from './pts-index.ts';

/**
 * Which frames a run delivers, as a caller writes it: a range (`start`, `end`, `step`), a list of frame numbers
 * (`frames`), or times in seconds (`timestamps`). One of the three; all omitted is every frame.
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
}

/** What the timestamps of a stream mean in seconds, for {@link Selection.atTimes}. */
export interface StreamTiming {
  /** A pts of `n` is `n * num / den` seconds. */
  readonly timeBase: { readonly num: number; readonly den: number };
  /** The stream's duration in seconds, when known: a time past it selects nothing. */
  readonly duration: number | null;
}

/** The option names a selection is made of. */
export const SELECTION_KEYS = ['start', 'end', 'step', 'frames', 'timestamps'] as const;

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
  #listed: ReadonlySet<number> | undefined;

  private constructor(start: number, end: number | undefined, step: number, frames?: readonly number[], timestamps?: readonly number[]) {
    this.start = start;
    this.end = end;
    this.step = step;
    this.frames = frames;
    this.timestamps = timestamps;
    this.#listed = frames && new Set(frames);
  }

  /**
   * Checks a selection as a caller wrote it and returns it as a Selection (a Selection is returned as it is).
   * Throws an `InvalidOptionError` naming the option: a key that is not a selection option, a negative or
   * fractional frame number, an `end` before `start`, a `step` below 1, a time that is not a finite number >= 0,
   * or two kinds of selection at once.
   */
  static from(given: SelectionOptions | Selection | undefined = {}): Selection {
    if (given instanceof Selection) return given;
    const options = assertOptionsObject(given, 'selection');
    assertKnownKeys(options, SELECTION_KEYS, 'selection');
    const start = checkInteger('start', options.start ?? 0, 0);
    const end = checkInteger('end', options.end, 0, true);
    if (end !== undefined && end < start) throw invalidOption('end', `an integer >= start (${start})`, end);
    const step = checkInteger('step', options.step ?? 1, 1);
    const frames = options.frames === undefined ? undefined : checkFrameList(options.frames);
    const timestamps = options.timestamps === undefined ? undefined : checkTimestamps(options.timestamps);
    const chosen = (['frames', 'timestamps'] as const).filter((key) => options[key] !== undefined);
    const ranged = (['start', 'end', 'step'] as const).filter((key) => options[key] !== undefined);
    if (chosen.length > 1 || (chosen.length === 1 && ranged.length > 0)) {
      const [first, second] = [...chosen, ...ranged] as [string, string];
      throw conflictingOptions(second, first, 'choose a range (start, end, step), a list of frames, or timestamps');
    }
    if (frames) return Selection.#list(frames);
    if (timestamps) return new Selection(0, undefined, 1, undefined, timestamps);
    return new Selection(start, end, step);
  }

  static #list(sorted: readonly number[]): Selection {
    return new Selection(sorted[0] ?? 0, sorted.length === 0 ? 0 : sorted[sorted.length - 1], 1, sorted);
  }

  /** True when the frames are chosen by time and {@link Selection.atTimes} has not turned them into numbers yet. */
  get byTime(): boolean {
    return this.timestamps !== undefined;
  }

  /** True for a range that starts at frame 0: its frames can be numbered in one pass, as packets arrive. */
  get fromFirstFrame(): boolean {
    return this.start === 0 && this.frames === undefined && this.timestamps === undefined;
  }

  /** True when nothing can be selected: an empty list of frames or of times. */
  get empty(): boolean {
    return (this.frames ?? this.timestamps)?.length === 0;
  }

  /** How many frames are selected; undefined while the end is open or the frames are chosen by time. */
  get count(): number | undefined {
    if (this.frames) return this.frames.length;
    if (this.end === undefined || this.timestamps) return undefined;
    return Math.floor((this.end - this.start) / this.step) + 1;
  }

  /** Whether frame `n` is selected. Times select frames only through {@link Selection.atTimes}. */
  keeps(n: number): boolean {
    if (this.timestamps) throw new Error('Selection.keeps: resolve the timestamps into frames first (Selection.atTimes)');
    if (n < this.start || (this.end !== undefined && n > this.end)) return false;
    return this.#listed ? this.#listed.has(n) : (n - this.start) % this.step === 0;
  }

  /** Whether one of `numbers` may be selected, whatever the video holds (a time may select any frame). */
  mayInclude(numbers: Iterable<number>): boolean {
    if (this.timestamps) return true;
    for (const n of numbers) if (this.keeps(n)) return true;
    return false;
  }

  /** The selected frame numbers in order. Needs a known end (see {@link Selection.upTo}). */
  *[Symbol.iterator](): IterableIterator<number> {
    if (this.frames) return yield* this.frames;
    if (this.end === undefined || this.timestamps) throw new Error('Selection: the end must be known to list the frames (Selection.upTo)');
    for (let n = this.start; n <= this.end; n += this.step) yield n;
  }

  /**
   * The same selection within a video whose last frame is `last` (-1 for a video without frames): `end` is capped
   * there, as Supervisely caps it, and listed numbers past it are dropped.
   */
  upTo(last: number): Selection {
    if (this.timestamps) throw new Error('Selection.upTo: resolve the timestamps into frames first (Selection.atTimes)');
    if (this.frames) return this.frames.every((n) => n <= last) ? this : Selection.#list(this.frames.filter((n) => n <= last));
    if (this.start > last) return Selection.#list([]);
    const end = Math.min(this.end ?? last, last);
    return end === this.end ? this : new Selection(this.start, end, this.step);
  }

  /** This selection without the frames in `numbers` (already saved, say), as a list. Needs a known end. */
  without(numbers: ReadonlySet<number>): Selection {
    return Selection.#list([...this].filter((n) => !numbers.has(n)));
  }

  /**
   * The frames shown at the selection's times, as a list: for each time, the last frame whose presentation time
   * is at or before it; nothing for a time past `timing.duration`. Times count from the first frame, as a player's
   * clock does (an MPEG-TS stream's timestamps start anywhere). A selection of frame numbers is returned as it is.
   * The index must reach past the last time (see {@link Selection.coveredBy}).
   */
  atTimes(index: PtsIndex, timing: StreamTiming): Selection {
    if (!this.timestamps) return this;
    const chosen = new Set<number>();
    for (const t of this.timestamps) {
      if (index.size === 0 || (timing.duration !== null && t > timing.duration)) continue;
      chosen.add(Math.max(0, framesUpTo(index, timing, t) - 1));
    }
    return Selection.#list([...chosen].sort((a, b) => a - b));
  }

  /**
   * How many frames of this selection lie past the last frame of the video that `index` numbers (which must be
   * complete): listed numbers past it, the part of a range past it, or, for times, those past `timing.duration`
   * (all of them in a video without numbered frames). Each is dropped from what {@link Selection.upTo} and
   * {@link Selection.atTimes} give; a run says how many.
   */
  pastEnd(index: PtsIndex, timing: StreamTiming): number {
    const last = index.size - 1;
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
    const last = this.timestamps ? framesUpTo(index, timing, Math.max(...this.timestamps)) - 1 : this.end;
    return last !== undefined && index.size >= last + margin;
  }

  /**
   * The highest frame number that may be selected, when it can be told before the video is indexed: `end`, the
   * last listed frame, or, for times, a frame past the last time by the stated frame rate (with 10% to spare).
   * Undefined when the selection runs to the last frame, or times come without a frame rate.
   */
  lastNeeded(frameRate: { readonly num: number; readonly den: number } | null): number | undefined {
    if (!this.timestamps) return this.end;
    if (this.timestamps.length === 0) return 0;
    if (!frameRate || frameRate.num <= 0) return undefined;
    return Math.ceil(((Math.max(...this.timestamps) * frameRate.num) / frameRate.den) * 1.1) + 1;
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

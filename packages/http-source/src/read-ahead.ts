/** A byte range `[start, end)` a reader says it will need (see `HttpSource.planReads`). */
export interface PlannedRange {
  readonly start: number;
  readonly end: number;
}

/** How a reader that plans its reads goes through them (see `HttpSource.planReads`). */
export interface PlanOptions {
  /**
   * The reader goes forward only: bytes behind its last read that leave memory are forgotten rather than written to
   * the temporary file. false for a reader that may come back to them (a `VideoReader`, asked for frames in any order).
   * @default true
   */
  readonly forwardOnly?: boolean;
}

/**
 * How much to fetch past what a read asks for: a block that doubles while reads run on sequentially (up to `max`),
 * back to `first` after a seek, and that stays within the planned range the fetch starts in (none past the plan).
 */
export class ReadAhead {
  readonly #first: number;
  readonly #max: number;
  #block: number;
  /** Where the last read ended. */
  #lastEnd = -1;
  /** Where the last fetch ended: a fetch from there continues a sequential read. */
  #fetchedTo = -1;
  /** Sorted `[start, end)` pairs; empty when no plan was given. */
  #planned: Array<readonly [number, number]> = [];

  constructor(first: number, max: number) {
    this.#first = first;
    this.#max = max;
    this.#block = first;
  }

  /** The ranges the reader will need from now on; an empty list lifts the plan. */
  plan(ranges: readonly PlannedRange[]): void {
    this.#planned = ranges
      .filter((range) => range.end > range.start)
      .map((range) => [range.start, range.end] as const)
      .sort((a, b) => a[0] - b[0]);
  }

  /**
   * Where a fetch from `from` should end: at least `needed`, at most `limit` (where bytes already held, or the end,
   * begin). `readStart` is where the read being served began.
   */
  fetchEnd(from: number, needed: number, limit: number, readStart: number): number {
    const sequential = from === this.#fetchedTo || readStart === this.#lastEnd;
    this.#block = sequential ? Math.min(this.#block * 2, this.#max) : this.#first;
    const to = Math.max(needed, Math.min(limit, from + this.#block, this.#bound(from)));
    this.#fetchedTo = to;
    return to;
  }

  /** A read ended at `end` (exclusive). */
  readEnded(end: number): void {
    this.#lastEnd = end;
  }

  /** A fetch outside {@link ReadAhead.fetchEnd} (an open's first block) ended at `end`. */
  fetchedTo(end: number): void {
    this.#fetchedTo = end;
  }

  /** How far read-ahead from `from` may go by the plan: the end of the planned range it is in, else `from` itself. */
  #bound(from: number): number {
    if (this.#planned.length === 0) return Infinity;
    for (const [start, end] of this.#planned) if (from >= start && from < end) return end;
    return from;
  }
}

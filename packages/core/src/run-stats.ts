import type { PtsIndexStrategy } from '@framepipe/pts-indexer';

/**
 * The frames of a selection that a run did not deliver, by reason; every frame selected and not delivered (nor
 * kept from an earlier run with `resume`) is counted under one reason. All 0 for a run that delivered everything.
 */
export interface FramesMissing {
  /** Shown before the stream's first keyframe (a stream that starts inside a GOP): no decoder can make them. */
  beforeKeyframe: number;
  /** Hidden by the container's edit list: FFmpeg drops them, as a player does not show them. */
  editList: number;
  /** Flagged corrupt by the decoder, or lost with a packet it rejected as damaged (`strict` fails on these). */
  corrupt: number;
  /** Past the last frame of the video: a listed frame, the part of a range after it, a time past the duration. */
  pastEnd: number;
  /** The decoder gave no picture for them, and reported no reason. */
  other: number;
}

/** A {@link FramesMissing} with every count 0. */
export function noFramesMissing(): FramesMissing {
  return { beforeKeyframe: 0, editList: 0, corrupt: 0, pastEnd: 0, other: 0 };
}

/** The sum of the counts of a {@link FramesMissing}. */
export function countMissing(missing: FramesMissing): number {
  return missing.beforeKeyframe + missing.editList + missing.corrupt + missing.pastEnd + missing.other;
}

const MISSING_WORDS: Record<keyof FramesMissing, string> = {
  beforeKeyframe: "before the stream's first keyframe, which no decoder can make",
  editList: 'hidden by the edit list',
  corrupt: 'corrupt',
  pastEnd: 'past the end of the video',
  other: 'for which the decoder gave no picture and no reason',
};

/**
 * The frames missing, in words, e.g. `2 frames past the end of the video, 1 hidden by the edit list`; null when none
 * is.
 */
export function describeFramesMissing(missing: FramesMissing): string | null {
  const parts = (Object.keys(MISSING_WORDS) as Array<keyof FramesMissing>)
    .filter((reason) => missing[reason] > 0)
    .map((reason, i) => `${missing[reason]}${i === 0 ? (missing[reason] === 1 ? ' frame' : ' frames') : ''} ${MISSING_WORDS[reason]}`);
  return parts.length === 0 ? null : parts.join(', ');
}

/** What a run reports about itself; all figures are live while the run goes and final once it has ended. */
export interface RunStatsSnapshot {
  /**
   * How frame numbers were found: `stream` (one pass from frame 0), `container` (an MP4/MOV's sample tables),
   * `scan` (a demux pass first) or `partial` (a range's own, given as the `partialIndex` option).
   */
  strategy: PtsIndexStrategy | null;
  /** How frames were decoded: from a seek to the keyframe before `start`, or from the start of the stream. */
  decodePath: 'seek' | 'from-start' | null;
  /**
   * Seeks made by the decoding pass: the first one, one per gap jumped in a sparse selection, and those of
   * {@link RunStatsSnapshot.seeksMissed}.
   */
  seeks: number;
  /**
   * Seeks that landed where decoding cannot start (a keyframe table that marks a frame needing earlier ones, as
   * some MP4 `stss` boxes do), each followed by a seek to an earlier keyframe or a decode from the start.
   */
  seeksMissed: number;
  /**
   * Keyframes decoded by themselves where a seek landed, to check that decoding can start there (see
   * {@link RunStatsSnapshot.seeksMissed}): once per keyframe, however often the decode comes back to it (a
   * `VideoReader`'s requests in one GOP). Not counted in {@link RunStatsSnapshot.framesDecoded}.
   */
  startsChecked: number;
  /** Video packets read by the decoding pass. */
  packetsRead: number;
  /** Packets read by the scan pass (0 for the stream strategy). */
  packetsScanned: number;
  /** Frames the decoder produced. */
  framesDecoded: number;
  /** Packets the decoding pass gave the decoder: with `keyframesOnly`, the keyframes read and nothing else. */
  packetsDecoded: number;
  /**
   * Packets the decoding pass read and left out before the decoder: those that are not keyframes, with
   * `keyframesOnly`, and those read past the last packet a part of the selection needs (read ahead before the
   * demuxer stopped or jumped on).
   */
  packetsLeftOut: number;
  /** Decoded frames not delivered: outside the range, without a number, or duplicates. */
  framesDropped: number;
  /** Decoded frames dropped for having no number: no pts, or one not among the packets' (e.g. raw H.264, AVI). */
  framesUnnumbered: number;
  /** The frames of the selection not delivered, by reason; final once the run has ended. */
  framesMissing: FramesMissing;
  /** Frames the decoder flagged corrupt (skipped, as Supervisely skips them; with `strict`, the run fails instead). */
  corruptFrames: number;
  /** Packets the decoder rejected as invalid data (skipped; with `strict`, the run fails instead). */
  rejectedPackets: number;
  /** Frames delivered: files written, or frames yielded by the iterator. */
  framesDelivered: number;
  /**
   * Frame buffers (`data`) allocated because no used one was free: a handful for a whole run when the frames'
   * buffers come back (files, `reuseBuffers`, or an iterator loop that does not keep its frames), one per frame
   * kept by the caller.
   */
  frameBuffersAllocated: number;
  /** With `resume`: frames of the selection whose file an earlier run had saved, kept as they are (not decoded). */
  framesReused: number;
  /**
   * Frame files (`frame_<index:06d>.<ext>`, any image format) that the output directory already held when writing
   * started, after `overwrite` cleared it: an earlier run's, those `resume` reused included.
   */
  filesFound: number;
  /** Of `filesFound`, those in another format than `ext`: `resume` does not reuse them, and they stay. */
  filesInOtherFormats: number;
  /** Of `filesFound`, those the run wrote over (the same frame in the same format). */
  filesReplaced: number;
  /** Frame files that `overwrite` removed before the run wrote any. */
  filesCleared: number;
  /**
   * Frames the run expects to deliver (with `resume`, those still missing), for a progress bar: exact once the
   * container or scan strategy has built its index; with the stream strategy, taken from the container's frame
   * count (or from `end` when the container does not say). Null until known; with `resume`, until the files kept
   * have passed their check.
   */
  framesTotal: number | null;
  /** Bytes pulled from the source (network or disk), read-ahead included. */
  bytesRead: number;
  /**
   * Why the file looks cut short (an MP4 whose sample tables list data past its last byte, as an interrupted
   * download leaves it), when the run found out before decoding and its frames lay before the cut; null otherwise.
   * A run that needs frames past the cut fails with `ERR_FRAMEPIPE_TRUNCATED` instead.
   */
  truncated: string | null;
  /** HTTP requests retried after a dropped or stalled connection, a short body or a 408/429/5xx answer. */
  retries: number;
  /** Wall-clock seconds since the run started. */
  seconds: number;
}

type Probe = () => Partial<RunStatsSnapshot>;
// The pipeline's handle on a RunStats; the symbol is not exported from the package, so users only read.
const internals = Symbol('RunStats internals');

/**
 * Live figures of one run. Pass an instance as the `stats` option and read it during or after the run.
 *
 * @example
 * const stats = new RunStats();
 * await streamVideoFramesToDir(url, dir, { stats });
 * console.log(stats.framesDelivered, stats.bytesRead, stats.seconds);
 */
export class RunStats implements RunStatsSnapshot {
  /** @internal The pipeline's probes and the frozen figures; not part of the API. */
  readonly [internals] = {
    started: performance.now(),
    ended: null as number | null,
    fixed: {} as Partial<RunStatsSnapshot>,
    probes: [] as Probe[],
  };

  get strategy() { return this.#read('strategy', null); }
  get decodePath() { return this.#read('decodePath', null); }
  get seeks() { return this.#read('seeks', 0); }
  get seeksMissed() { return this.#read('seeksMissed', 0); }
  get startsChecked() { return this.#read('startsChecked', 0); }
  get packetsRead() { return this.#read('packetsRead', 0); }
  get packetsScanned() { return this.#read('packetsScanned', 0); }
  get framesDecoded() { return this.#read('framesDecoded', 0); }
  get packetsDecoded() { return this.#read('packetsDecoded', 0); }
  get packetsLeftOut() { return this.#read('packetsLeftOut', 0); }
  get framesDropped() { return this.#read('framesDropped', 0); }
  get framesUnnumbered() { return this.#read('framesUnnumbered', 0); }
  get framesMissing() { return { ...this.#read('framesMissing', noFramesMissing()) }; }
  get corruptFrames() { return this.#read('corruptFrames', 0); }
  get rejectedPackets() { return this.#read('rejectedPackets', 0); }
  get framesDelivered() { return this.#read('framesDelivered', 0); }
  get frameBuffersAllocated() { return this.#read('frameBuffersAllocated', 0); }
  get framesReused() { return this.#read('framesReused', 0); }
  get filesFound() { return this.#read('filesFound', 0); }
  get filesInOtherFormats() { return this.#read('filesInOtherFormats', 0); }
  get filesReplaced() { return this.#read('filesReplaced', 0); }
  get filesCleared() { return this.#read('filesCleared', 0); }
  get framesTotal() { return this.#read('framesTotal', null); }
  get bytesRead() { return this.#read('bytesRead', 0); }
  get truncated() { return this.#read('truncated', null); }
  get retries() { return this.#read('retries', 0); }
  get seconds(): number {
    const { started, ended } = this[internals];
    return ((ended ?? performance.now()) - started) / 1000;
  }

  /** A plain object with every figure, e.g. for JSON. */
  toJSON(): RunStatsSnapshot {
    return {
      strategy: this.strategy,
      decodePath: this.decodePath,
      seeks: this.seeks,
      seeksMissed: this.seeksMissed,
      startsChecked: this.startsChecked,
      packetsRead: this.packetsRead,
      packetsScanned: this.packetsScanned,
      framesDecoded: this.framesDecoded,
      packetsDecoded: this.packetsDecoded,
      packetsLeftOut: this.packetsLeftOut,
      framesDropped: this.framesDropped,
      framesUnnumbered: this.framesUnnumbered,
      framesMissing: this.framesMissing,
      corruptFrames: this.corruptFrames,
      rejectedPackets: this.rejectedPackets,
      framesDelivered: this.framesDelivered,
      frameBuffersAllocated: this.frameBuffersAllocated,
      framesReused: this.framesReused,
      filesFound: this.filesFound,
      filesInOtherFormats: this.filesInOtherFormats,
      filesReplaced: this.filesReplaced,
      filesCleared: this.filesCleared,
      framesTotal: this.framesTotal,
      bytesRead: this.bytesRead,
      truncated: this.truncated,
      retries: this.retries,
      seconds: this.seconds,
    };
  }

  #read<K extends keyof RunStatsSnapshot>(key: K, fallback: RunStatsSnapshot[K]): RunStatsSnapshot[K] {
    const { fixed, probes } = this[internals];
    // Later probes (the decoding pass) win over earlier ones (the scan pass) for the same figure.
    let value = fixed[key];
    for (const probe of probes) {
      const v = probe()[key];
      if (v !== undefined) value = v;
    }
    return (value ?? fallback) as RunStatsSnapshot[K];
  }
}

/** Lets the pipeline report figures from a stage (internal to core). */
export function attachProbe(stats: RunStats, probe: Probe): void {
  stats[internals].probes.push(probe);
}

/** Freezes the figures at the end of a run and lets go of the stages the probes point to (internal to core). */
export function finishStats(stats: RunStats): void {
  const state = stats[internals];
  state.fixed = stats.toJSON();
  state.ended = performance.now();
  state.probes = [];
}

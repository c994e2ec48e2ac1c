import type { Packet } from 'node-av/lib';
import { AV_NOPTS_VALUE } from 'node-av/constants';
import type { Demuxer, DemuxerInfo } from '@framepipe/demuxer';
import type { ByteSource } from './mp4-boxes.ts';
import { SAMPLE_KEYFRAME, readMp4SampleTable } from './mp4-sample-table.ts';
import type { Mp4SampleTable } from './mp4-sample-table.ts';
import { PARTIAL_INDEX_MAX_FRAMES, PARTIAL_INDEX_MAX_RUNS } from './partial-index.ts';
import type { PartialIndex } from './partial-index.ts';

/**
 * How a {@link PtsIndex} was built. Every strategy yields the same numbers. `partial`: the frames of a range of GOPs,
 * from a {@link PartialIndex} that a complete index made (see {@link PtsIndex.fromPartial}).
 */
export type PtsIndexStrategy = 'scan' | 'stream' | 'container' | 'partial';

/**
 * What {@link PtsIndex.fromContainer} needs to know of the stream the demuxer picked: its {@link DemuxerInfo}, or
 * just these fields. `formatName`, when given, lets a non-MP4 container be turned down without reading a byte.
 */
export type ContainerStreamInfo = Pick<DemuxerInfo, 'timeBase' | 'hasBFrames' | 'streamIndex'> & {
  readonly formatName?: string | undefined;
};

/** Options of {@link PtsIndex.fromContainer}. */
export interface PtsContainerOptions {
  /** Aborts the reads. */
  signal?: AbortSignal | undefined;
  /**
   * A file whose index lists samples past its last byte: `throw` `ERR_FRAMEPIPE_TRUNCATED`, or `keep` the whole map
   * (the error is then in `sampleTable.cut`), for a run of the frames before the cut.
   * @default 'throw'
   */
  pastEnd?: 'throw' | 'keep' | undefined;
}

/**
 * How many packets past `end` a scan reads before it stops. Decoders reorder B-frames over a short window
 * (typically under 16 frames); reading further makes sure every pts that ranks at or below `end` is in the list.
 * The number is Supervisely's, so that a partial scan ranks exactly as theirs does.
 */
export const SCAN_MARGIN = 64;

/** Options of {@link PtsIndex.scan}. */
export interface PtsScanOptions {
  /** Last frame index the caller needs; the scan stops after `end + 64` usable packets. Omit to scan everything. */
  end?: number | undefined;
  /** Called after each packet with the number of packets read so far (for progress bars). */
  onPacket?: ((packetsRead: number) => void) | undefined;
}

/**
 * The map from presentation timestamps to frame numbers, by Supervisely's rule: every packet of the video stream
 * whose pts is set and >= 0 is counted; sorted ascending, a pts's frame number is its rank in that list (0-based).
 * A pts that occurs twice gets the rank of its last occurrence, as a dict built from the sorted list would give.
 *
 * @example
 * const index = await PtsIndex.scan(demuxer, { end: 99 });
 * index.indexOf(frame.pts); // frame number, or undefined if the pts is not in the map
 */
export class PtsIndex {
  readonly strategy: PtsIndexStrategy;
  /** True when the codec reorders frames (from the demuxer's stream info). */
  readonly hasBFrames: boolean;
  #sorted: bigint[] = [];
  /** The frame number of the first pts in the map: 0, but for a {@link PtsIndex.fromPartial} map of a range. */
  #base = 0;
  /** What a {@link PtsIndex.fromPartial} map was made from. */
  #partial: PartialIndex | undefined;
  /** Keyframe packets in decode order: where decoding can start. */
  #keyframes: Array<{ pts: bigint; dts: bigint }> = [];
  /** The pts of {@link PtsIndex.#keyframes}, to tell a keyframe by its number. */
  #keyframePts = new Set<bigint>();
  /**
   * For each of {@link #keyframes}: where its packet starts in the file (-1 unknown), and whether a packet shown
   * before it follows it in decode order (an open GOP's leading pictures).
   */
  #keyframeBytes: Array<{ pos: number; followedByEarlier: boolean }> = [];
  /** True while the keyframes' pts, in decode order, never go down: then {@link PtsIndex.keyframeFor} can bisect. */
  #keyframesInOrder = true;
  #sawPtsNotDts = false;
  #complete = false;
  #sampleTable: Mp4SampleTable | undefined;

  constructor(strategy: PtsIndexStrategy, hasBFrames: boolean) {
    this.strategy = strategy;
    this.hasBFrames = hasBFrames;
  }

  /**
   * Reads packets from a freshly opened demuxer (no decoding) and builds the map. Stops after `end + 64` usable
   * packets when `end` is given, then destroys the demuxer; the packets are freed.
   */
  static async scan(demuxer: Demuxer, options: PtsScanOptions = {}): Promise<PtsIndex> {
    const info = await demuxer.open();
    const index = new PtsIndex('scan', info.hasBFrames);
    const stopAfter = options.end === undefined ? Infinity : options.end + SCAN_MARGIN;
    let packets = 0;
    let reachedEnd = true;
    try {
      for await (const packet of demuxer) {
        index.addPacket(packet);
        packet.free();
        options.onPacket?.(++packets);
        if (index.size >= stopAfter) {
          reachedEnd = false;
          break;
        }
      }
    } finally {
      demuxer.destroy();
    }
    if (reachedEnd) index.markComplete();
    return index;
  }

  /**
   * The *container* strategy: reads the pts of every sample of the video stream from the MP4/MOV sample tables
   * (box headers and the `moov` box, and the `moof` boxes of a fragmented file, never the media data) and returns the complete map, the same as a full
   * {@link PtsIndex.scan} would give. The per-sample byte ranges stay available as {@link PtsIndex.sampleTable}.
   *
   * Resolves to null, so that the caller can scan instead, when the tables cannot stand in for demuxing: not
   * MP4/MOV, fragmented with samples in `moov` too or a `sidx`, the track of `info.streamIndex` is not a video track, its time base is not `info.timeBase`,
   * damaged tables, or keyframes that FFmpeg finds by parsing packets (see `readMp4SampleTable`).
   *
   * @throws FramepipeError `ERR_FRAMEPIPE_TRUNCATED` when the file ends inside `moov`, or before a sample's data
   *   (unless `pastEnd: 'keep'`).
   * @example
   * const info = await demuxer.open();
   * const index = (await PtsIndex.fromContainer(source, info)) ?? (await PtsIndex.scan(new Demuxer(source)));
   */
  static async fromContainer(
    source: ByteSource,
    info: ContainerStreamInfo,
    options: PtsContainerOptions = {},
  ): Promise<PtsIndex | null> {
    if (info.formatName !== undefined && !info.formatName.startsWith('mov,')) return null;
    const table = await readMp4SampleTable(source, { streamIndex: info.streamIndex, signal: options.signal, pastEnd: options.pastEnd });
    if (!table || info.timeBase.num !== 1 || info.timeBase.den !== table.timescale) return null;
    return PtsIndex.fromSampleTable(table, info.hasBFrames);
  }

  /** The complete map of an MP4/MOV sample table (see {@link PtsIndex.fromContainer}). */
  static fromSampleTable(table: Mp4SampleTable, hasBFrames: boolean): PtsIndex {
    const index = new PtsIndex('container', hasBFrames);
    for (let i = 0; i < table.count; i++) {
      index.#record(table.pts[i]!, table.dts[i]!, (table.flags[i]! & SAMPLE_KEYFRAME) !== 0, table.offsets[i]!);
    }
    index.#sampleTable = table;
    index.markComplete();
    return index;
  }

  /**
   * The map of a range of frames that {@link PtsIndex.partial} described: it numbers the frames of the range (and
   * no others) as the complete map does, and knows one keyframe, the range's first frame, where decoding starts.
   * For a run of frames within the range that starts at that keyframe without reading the file before it.
   * @example
   * const index = PtsIndex.fromPartial(shard.partialIndex, info.hasBFrames);
   * index.keyframeFor(index.partialRange!.first); // the keyframe to seek to, with its byte position in keyframePosition()
   */
  static fromPartial(partial: PartialIndex, hasBFrames: boolean): PtsIndex {
    const index = new PtsIndex('partial', hasBFrames);
    index.#base = partial.first;
    index.#partial = partial;
    for (const [from, step, count] of partial.pts) {
      for (let i = 0; i < count; i++) index.#sorted.push(BigInt(from + step * i));
    }
    const { pts, dts, pos } = partial.keyframe;
    index.#keyframes.push({ pts: BigInt(pts), dts: dts === null ? AV_NOPTS_VALUE : BigInt(dts) });
    index.#keyframeBytes.push({ pos, followedByEarlier: false });
    index.#keyframePts.add(BigInt(pts));
    // A range is planned only where seeking is trusted: decoding never has to start at the first packet.
    index.#sawPtsNotDts = true;
    return index;
  }

  /**
   * Describes frames `first..last` of a complete map for {@link PtsIndex.fromPartial}: their pts and the keyframe
   * frame `first` is, with its byte position. Null when that description would not number them as this map does,
   * or cannot start there: `first` is not a keyframe whose position the demuxer gave, a pts is shared across an end
   * of the range (it numbers as its last repeat), keyframes that go back in time, a timestamp past 2^53, or more
   * runs of timestamps or frames than a small record holds (see `PARTIAL_INDEX_MAX_RUNS`).
   * @example
   * const partial = index.partial(shard.first, shard.last); // JSON for a job record
   */
  partial(first: number, last: number): PartialIndex | null {
    if (!this.#complete || this.#base !== 0 || !this.#keyframesInOrder || this.decodeFromStart || first > last || last >= this.size) return null;
    const sorted = this.#sorted;
    const keyframe = this.keyframeFor(first);
    const pos = keyframe && this.keyframePosition(keyframe);
    if (!keyframe || keyframe.pts !== sorted[first] || pos === undefined) return null;
    if ((first > 0 && sorted[first - 1] === sorted[first]) || sorted[last + 1] === sorted[last]) return null;
    const safe = (n: bigint) => n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER);
    if (!safe(sorted[last]!) || !(keyframe.dts === AV_NOPTS_VALUE || safe(keyframe.dts))) return null;
    if (last - first + 1 > PARTIAL_INDEX_MAX_FRAMES) return null;
    const runs: Array<[number, number, number]> = [];
    for (let n = first; n <= last; n++) {
      const pts = Number(sorted[n]!);
      const run = runs.at(-1);
      if (run && run[2] === 1) {
        run[1] = pts - run[0];
        run[2] = 2;
      } else if (run && pts === run[0] + run[1] * run[2]) {
        run[2]++;
      } else if (runs.length === PARTIAL_INDEX_MAX_RUNS) {
        // Too irregular to describe in a small record (a 29.97 fps Matroska clock over a long range).
        return null;
      } else {
        runs.push([pts, 0, 1]);
      }
    }
    const dts = keyframe.dts === AV_NOPTS_VALUE ? null : Number(keyframe.dts);
    const nextAt = last + 1 < this.size ? this.#keyframes.findIndex((k) => k.pts === sorted[last + 1]) : -1;
    const next = this.#keyframeBytes[nextAt];
    const end = next && next.pos > pos ? next.pos : null;
    // Only frames shown after the next range's keyframe follow it in the file: the range's packets end there.
    const cut = end !== null && !next!.followedByEarlier;
    return { first, pts: runs, keyframe: { pts: Number(keyframe.pts), dts, pos }, end, cut };
  }

  /**
   * Of a {@link PtsIndex.fromPartial} map: the frames it numbers, first and last, and the bytes its range starts and
   * ends at (null: the end of the file); undefined for a map from the first frame.
   */
  get partialRange(): { readonly first: number; readonly last: number; readonly start: number; readonly end: number | null; readonly cut: boolean } | undefined {
    const partial = this.#partial;
    return partial && { first: this.#base, last: this.size - 1, start: partial.keyframe.pos, end: partial.end, cut: partial.cut };
  }

  /** Where the packet of a keyframe that {@link PtsIndex.keyframeFor} gave starts in the file; undefined when unknown. */
  keyframePosition(keyframe: { pts: bigint; dts: bigint }): number | undefined {
    const at = this.#keyframes.findIndex((k) => k.pts === keyframe.pts && k.dts === keyframe.dts);
    const pos = this.#keyframeBytes[at]?.pos;
    return pos === undefined || pos < 0 ? undefined : pos;
  }

  /** For a map built from the container: every sample's pts, dts, flags and byte range, in decode order. */
  get sampleTable(): Mp4SampleTable | undefined {
    return this.#sampleTable;
  }

  /** Number of timestamps in the map (= frames the map can number). */
  get size(): number {
    return this.#base + this.#sorted.length;
  }

  /** True once every packet of the stream has been seen, so {@link PtsIndex.size} is the frame count. */
  get complete(): boolean {
    return this.#complete;
  }

  /**
   * Supervisely's decode strategy: a stream with B-frames whose packets never carried a pts different from their
   * dts has no composition offsets to trust for seeking, so it is decoded from the start.
   */
  get decodeFromStart(): boolean {
    return this.hasBFrames && !this.#sawPtsNotDts;
  }

  /** Records one packet's timestamps. */
  addPacket(packet: Packet): void {
    this.#record(packet.pts, packet.dts, packet.isKeyframe, Number(packet.pos));
  }

  #record(pts: bigint, dts: bigint, keyframe: boolean, pos: number): void {
    if (pts !== AV_NOPTS_VALUE && dts !== AV_NOPTS_VALUE && pts !== dts) this.#sawPtsNotDts = true;
    if (pts !== AV_NOPTS_VALUE && pts >= 0n) this.#insert(pts);
    if (pts !== AV_NOPTS_VALUE) {
      // A packet shown before keyframes already read (an open GOP's leading pictures): those are not where the
      // packets of the frames before them end. Keyframes come in pts order, so they are the last few.
      for (let i = this.#keyframes.length - 1; i >= 0 && this.#keyframes[i]!.pts > pts; i--) this.#keyframeBytes[i]!.followedByEarlier = true;
    }
    if (keyframe && pts !== AV_NOPTS_VALUE) {
      const last = this.#keyframes.at(-1);
      if (last && pts < last.pts) this.#keyframesInOrder = false;
      this.#keyframes.push({ pts, dts });
      this.#keyframePts.add(pts);
      this.#keyframeBytes.push({ pos, followedByEarlier: false });
    }
  }

  /** Marks the map as holding every packet of the stream. */
  markComplete(): void {
    this.#complete = true;
  }

  /** The frame number of `pts`, or undefined if no packet had that pts. */
  indexOf(pts: bigint): number | undefined {
    const after = this.#upperBound(pts);
    return after > 0 && this.#sorted[after - 1] === pts ? this.#base + after - 1 : undefined;
  }

  /**
   * The keyframe to start decoding from so that frame `index` can be decoded: the last keyframe, in decode order,
   * displayed at or before that frame (its pts and dts, for {@link Demuxer.seekKeyframe}). Undefined when the
   * scan saw no such keyframe: decode from the start.
   */
  keyframeFor(index: number): { pts: bigint; dts: bigint } | undefined {
    const pts = this.#sorted[index - this.#base];
    if (pts === undefined) return undefined;
    const keyframes = this.#keyframes;
    if (!this.#keyframesInOrder) {
      // The last one, in decode order, shown at or before the frame.
      let chosen: { pts: bigint; dts: bigint } | undefined;
      for (const keyframe of keyframes) if (keyframe.pts <= pts) chosen = keyframe;
      return chosen;
    }
    // In order, the same keyframe is the last whose pts is at or before the frame's: bisect for it.
    let low = 0;
    let high = keyframes.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (keyframes[middle]!.pts <= pts) low = middle + 1;
      else high = middle;
    }
    return keyframes[low - 1];
  }

  /**
   * The frame numbers of the keyframes (the packets the container marks as sync samples, or flagged key while
   * scanning), ascending. A keyframe with no number (a negative pts, hidden by an edit list) is not listed. What
   * `keyframesOnly` decodes, where decoding can start, and what `VideoReader.keyframes()` gives. Every keyframe counts,
   * wherever its pts falls: after a clock that goes back (MPEG-TS files joined end to end) a keyframe may be shown
   * after one that comes later in decode order, which {@link PtsIndex.keyframeFor} would choose instead.
   * @example
   * index?.keyframeNumbers(); // [0, 12, 24, 36, 48] for a GOP of 12 frames
   */
  keyframeNumbers(): number[] {
    const numbers = new Set<number>();
    for (const { pts } of this.#keyframes) {
      const n = this.indexOf(pts);
      if (n !== undefined) numbers.add(n);
    }
    return [...numbers].sort((a, b) => a - b);
  }

  /** Whether frame `index` is a keyframe: one of {@link PtsIndex.keyframeNumbers}. */
  isKeyframe(index: number): boolean {
    const pts = this.#sorted[index - this.#base];
    return pts !== undefined && this.#keyframePts.has(pts);
  }

  /**
   * The first keyframe in decode order, or undefined when none was seen. Frames shown before it come from packets
   * that precede every keyframe (a stream cut inside a GOP): a decoder cannot make them.
   */
  get firstKeyframe(): { pts: bigint; dts: bigint } | undefined {
    return this.#keyframes[0];
  }

  /**
   * The keyframe to try when decoding cannot start at `start` (a keyframe table that marks a frame which needs
   * earlier ones): the last keyframe before it in decode order. Undefined when there is none: decode from the start.
   */
  keyframeBefore(start: { pts: bigint; dts: bigint }): { pts: bigint; dts: bigint } | undefined {
    const byDts = start.dts !== AV_NOPTS_VALUE;
    let chosen: { pts: bigint; dts: bigint } | undefined;
    for (const keyframe of this.#keyframes) {
      const earlier = byDts && keyframe.dts !== AV_NOPTS_VALUE ? keyframe.dts < start.dts : keyframe.pts < start.pts;
      if (!earlier) break;
      chosen = keyframe;
    }
    return chosen;
  }

  /** The pts of frame `index`, or undefined past the end of the map. */
  ptsAt(index: number): bigint | undefined {
    return this.#sorted[index - this.#base];
  }

  /** Packets arrive in decode order, which is nearly sorted: insert from the end. */
  #insert(pts: bigint): void {
    const list = this.#sorted;
    const last = list[list.length - 1];
    if (last === undefined || pts >= last) {
      list.push(pts);
      return;
    }
    list.splice(this.#upperBound(pts), 0, pts);
  }

  /** First position whose value is greater than `pts`. */
  #upperBound(pts: bigint): number {
    const list = this.#sorted;
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (list[mid]! <= pts) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

import type { Packet } from 'node-av';
import { AV_NOPTS_VALUE } from 'node-av/constants';
import type { Demuxer } from '@framepipe/demuxer';

/** How a {@link PtsIndex} was built. Every strategy yields the same numbers. */
export type PtsIndexStrategy = 'scan' | 'stream';

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
  /** Keyframe packets in decode order: where decoding can start. */
  #keyframes: Array<{ pts: bigint; dts: bigint }> = [];
  #sawPtsNotDts = false;
  #complete = false;

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

  /** Number of timestamps in the map (= frames the map can number). */
  get size(): number {
    return this.#sorted.length;
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
    const { pts, dts } = packet;
    if (pts !== AV_NOPTS_VALUE && dts !== AV_NOPTS_VALUE && pts !== dts) this.#sawPtsNotDts = true;
    if (pts !== AV_NOPTS_VALUE && pts >= 0n) this.#insert(pts);
    if (packet.isKeyframe && pts !== AV_NOPTS_VALUE) this.#keyframes.push({ pts, dts });
  }

  /** Marks the map as holding every packet of the stream. */
  markComplete(): void {
    this.#complete = true;
  }

  /** The frame number of `pts`, or undefined if no packet had that pts. */
  indexOf(pts: bigint): number | undefined {
    const after = this.#upperBound(pts);
    return after > 0 && this.#sorted[after - 1] === pts ? after - 1 : undefined;
  }

  /**
   * The keyframe to start decoding from so that frame `index` can be decoded: the last keyframe, in decode order,
   * displayed at or before that frame (its pts and dts, for {@link Demuxer.seekKeyframe}). Undefined when the
   * scan saw no such keyframe: decode from the start.
   */
  keyframeFor(index: number): { pts: bigint; dts: bigint } | undefined {
    const pts = this.#sorted[index];
    if (pts === undefined) return undefined;
    let chosen: { pts: bigint; dts: bigint } | undefined;
    for (const keyframe of this.#keyframes) if (keyframe.pts <= pts) chosen = keyframe;
    return chosen;
  }

  /** The pts of frame `index`, or undefined past the end of the map. */
  ptsAt(index: number): bigint | undefined {
    return this.#sorted[index];
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

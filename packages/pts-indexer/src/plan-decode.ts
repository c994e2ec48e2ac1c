import type { DemuxerInfo } from '@framepipe/demuxer';
import { InvalidOptionError } from '@framepipe/common';
import { SCAN_MARGIN } from './pts-index.ts';
import type { PtsIndex } from './pts-index.ts';
import type { Mp4SampleTable } from './mp4-sample-table.ts';
import { Selection } from './selection.ts';

/** A keyframe to start decoding from: its pts, and its dts for containers that seek by decode time. */
export interface KeyframePosition {
  readonly pts: bigint;
  readonly dts: bigint;
}

/** A run of wanted frames decoded from one keyframe; `first` and `last` are its lowest and highest frame numbers. */
export interface DecodePart {
  readonly keyframe: KeyframePosition;
  readonly first: number;
  readonly last: number;
}

/**
 * How to decode a selection, worked out from the index before any packet is read. {@link planDecode} makes it;
 * `openFrameStages` follows it.
 */
export interface DecodePlan {
  /** The selection within this video: times turned into frame numbers, `end` capped at the last frame. */
  readonly selection: Selection;
  /** How many frames the run delivers; null when the index cannot tell yet (numbered as packets pass, with no frame count). */
  readonly total: number | null;
  /** The keyframe to seek to before decoding; null to decode from the first packet. */
  readonly seek: KeyframePosition | null;
  /**
   * The parts of a sparse selection (a list, or a step longer than a GOP), each decoded from its keyframe: once the
   * last frame of a part is out, the demuxer jumps to the next part's keyframe over the GOPs in between, which hold
   * no wanted frame. Empty when the decode runs straight through.
   */
  readonly parts: readonly DecodePart[];
  /**
   * For the decoder (`Decoder`'s `unwanted` option): true for a packet whose frame will not be kept, so that a
   * picture no other refers to need not be decoded at all. Undefined when the index is still being built as
   * packets pass, since a frame's number is then not final before it is decoded.
   */
  readonly unwanted: ((pts: bigint) => boolean) | undefined;
  /**
   * Only keyframes are selected (`keyframesOnly`): every other packet is left out before the decoder (the Decoder's
   * `keyframesOnly`), and with an MP4's sample tables each keyframe is a part of its own, whose bytes are its sample's.
   */
  readonly keyframesOnly: boolean;
}

/** What {@link planDecode} needs to know of the stream: its demuxer info, or just these fields. */
export type PlanStreamInfo = Pick<DemuxerInfo, 'timeBase' | 'duration' | 'frameCount'>;

/**
 * Plans the decode of `selection` over a video whose frames `index` numbers: where to seek, which parts to decode
 * and jump between, which packets the decoder may skip, and how many frames come out. Pure: no I/O.
 *
 * - With a final index (read from the container, or scanned far enough), the selection is resolved against it (times become
 *   frame numbers, `end` is capped at the last frame), decoding starts at the keyframe shown at or before the
 *   first wanted frame (or at the first packet, for a stream that Supervisely's rule decodes from the start), and
 *   every packet's pts tells whether its frame is wanted.
 * - With an index that grows as packets pass (`strategy: 'stream'`, a range from frame 0), decoding starts at the
 *   first packet, nothing is skipped, and the total is the container's frame count, when it states one.
 *
 * A scanned index shorter than a scan up to the last frame the selection may want (that frame plus the scan's margin
 * of {@link SCAN_MARGIN} packets) is refused with `ERR_FRAMEPIPE_INVALID_OPTION`: the frames after it are unknown.
 *
 * @example
 * const index = await PtsIndex.fromContainer(source, info);
 * const plan = planDecode(index, info, Selection.from({ frames: [10, 400, 410] }));
 * plan.seek; // the keyframe at or before frame 10
 * plan.parts.length; // 2 when frames 400 and 410 lie GOPs away from frame 10
 */
export function planDecode(index: PtsIndex, info: PlanStreamInfo, selection: Selection | Parameters<typeof Selection.from>[0]): DecodePlan {
  const wanted = Selection.from(selection);
  if (index.strategy === 'stream') {
    if (wanted.byTime || !wanted.fromFirstFrame) throw new Error('planDecode: an index built as packets pass serves only a range from frame 0');
    const total = info.frameCount === null ? (wanted.count ?? null) : wanted.upTo(info.frameCount - 1).count!;
    return { selection: wanted, total, seek: null, parts: [], unwanted: undefined, keyframesOnly: false };
  }
  if (!wanted.coveredBy(index, info, SCAN_MARGIN)) {
    // A scan that stopped early knows the ranks of the frames well before where it stopped, and nothing after.
    throw new InvalidOptionError(
      'index',
      `planDecode needs an index as long as a scan up to the last frame the selection may select (that frame + ${SCAN_MARGIN}): this one stops at frame ${index.size - 1}` +
        ' (scan with PtsIndex.scan(demuxer, { end }) up to the last frame wanted, or without end for every frame)',
    );
  }
  const resolved = wanted.atTimes(index, info).upTo(index.size - 1);
  const { keyframesOnly } = resolved;
  if (resolved.empty) return { selection: resolved, total: 0, seek: null, parts: [], unwanted: undefined, keyframesOnly };
  const seek = index.decodeFromStart ? null : (index.keyframeFor(resolved.start) ?? null);
  return {
    selection: resolved,
    total: resolved.count!,
    seek,
    parts: seek ? planParts(index, resolved) : [],
    unwanted: (pts) => {
      const n = index.indexOf(pts);
      return n === undefined || !resolved.keeps(n);
    },
    keyframesOnly,
  };
}

/**
 * Splits a sparse selection (a list of frames, or a step) into parts that each start at a keyframe, merging parts
 * whose GOPs follow each other: jumping to the next GOP saves nothing. Empty for a plain range.
 */
function planParts(index: PtsIndex, selection: Selection): DecodePart[] {
  if (!selection.frames && selection.step === 1) return [];
  if (selection.keyframesOnly) {
    // Nothing between two keyframes is decoded: only where the sample tables say where each one's bytes are is there a
    // jump worth making (over the GOP's other samples); elsewhere the demuxer reads on and the decoder sees keyframes only.
    if (!index.sampleTable) return [];
    const parts: DecodePart[] = [];
    for (const n of selection) {
      const keyframe = index.keyframeFor(n);
      if (!keyframe) return [];
      parts.push({ keyframe, first: n, last: n });
    }
    return parts;
  }
  const parts: Array<{ keyframe: KeyframePosition; first: number; last: number }> = [];
  for (const n of selection) {
    const keyframe = index.keyframeFor(n);
    if (!keyframe) return [];
    const current = parts[parts.length - 1];
    // The same GOP as the part's last frame (once merged, a part spans several GOPs), or the one after it.
    if (current && (index.keyframeFor(current.last)?.pts === keyframe.pts || followsPart(index, current, keyframe.pts))) {
      current.last = n;
    } else {
      parts.push({ keyframe, first: n, last: n });
    }
  }
  return parts;
}

/** True when the GOP just before the one starting at `keyframePts` is the GOP holding the part's last frame. */
function followsPart(index: PtsIndex, part: DecodePart, keyframePts: bigint): boolean {
  const keyframeIndex = index.indexOf(keyframePts);
  if (keyframeIndex === undefined || keyframeIndex === 0) return false;
  return index.keyframeFor(keyframeIndex - 1)?.pts === index.keyframeFor(part.last)?.pts;
}

/**
 * More samples in a row than any decoder reorders (H.264 and HEVC allow 16) shown after a part's last frame: past
 * them, no sample shown at or before it can follow.
 */
const REORDER_WINDOW = 24;

/** The bytes of an MP4's media data that decoding a plan reads (see {@link planByteRanges}). */
export interface PlannedBytes {
  /**
   * Per part of the plan (one when it has no parts, none when it selects nothing), `[start, end)`: the samples from
   * its keyframe to the last one it needs, and those of other tracks between them.
   */
  readonly ranges: ReadonlyArray<{ readonly start: number; readonly end: number }>;
  /**
   * The end of the last sample the plan needs: the decode may see the file end there (`Demuxer.endAt`, or per part
   * `Demuxer.route`), so that the decoder drains the last frames instead of waiting for packets that are not needed.
   */
  readonly end: number;
}

/**
 * The byte ranges of an MP4's media data that decoding `plan` reads, from its sample table (`index.sampleTable`):
 * for each part, from the keyframe it starts at to the last sample (in decode order) shown at or before the part's
 * last frame. Interleaved samples of other tracks in between count, since the demuxer reads through them. A decoder
 * that reorders pictures gives the last frames out only when its input ends or jumps, which `Demuxer.endAt` and
 * `Demuxer.route` make happen right there. Null when the index has no sample table, or the selection
 * has no last frame (a whole run reads every byte anyway). For `HttpSource.planReads`, so read-ahead stops where the
 * decode does, and `Demuxer.endAt`.
 *
 * @example
 * const bytes = planByteRanges(index, planDecode(index, info, { start: 100, end: 109 }));
 * if (bytes) source.planReads?.(bytes.ranges);
 */
export function planByteRanges(index: PtsIndex, plan: DecodePlan): PlannedBytes | null {
  const table = index.sampleTable;
  const end = plan.selection.end;
  if (!table || end === undefined) return null;
  if (plan.total === 0) return { ranges: [], end: 0 };
  const parts = plan.parts.length > 0 ? plan.parts : [{ keyframe: plan.seek, last: end }];
  const ranges: Array<{ start: number; end: number }> = [];
  let needed = 0;
  for (const part of parts) {
    const span = decodeBytes(index, part.keyframe, part.last, { keyframeOnly: plan.keyframesOnly });
    if (!span) return null;
    needed = Math.max(needed, span.end);
    ranges.push(span);
  }
  return { ranges, end: needed };
}

/**
 * The bytes of an MP4's media data that a decode from `keyframe` (null: from the first sample) to frame `last` reads,
 * from its sample table: from the keyframe's sample to the last sample (in decode order) shown at or before frame
 * `last`, samples of other tracks in between included; with `keyframeOnly`, the keyframe's own sample; with `after`,
 * that many samples more (in decode order), for a reader that reads on past the frame. Null when the index has no
 * sample table, or the keyframe or the frame is not in it. One part of {@link planByteRanges}; a `VideoReader` asks
 * it for each frame it decodes.
 *
 * @example
 * const span = decodeBytes(index, index.keyframeFor(1205) ?? null, 1205);
 * if (span) source.planReads?.([span], { forwardOnly: false });
 */
export function decodeBytes(
  index: PtsIndex,
  keyframe: KeyframePosition | null,
  last: number,
  options: { readonly keyframeOnly?: boolean; readonly after?: number } = {},
): { start: number; end: number } | null {
  const { keyframeOnly = false, after = 0 } = options;
  const table = index.sampleTable;
  const lastPts = index.ptsAt(last);
  if (!table || lastPts === undefined) return null;
  let first = 0;
  if (keyframe) {
    const dts = keyframe.dts;
    while (first < table.count && table.dts[first]! !== dts) first++;
    if (first === table.count) return null;
  }
  // The last sample shown at or before the last frame: past it, a run of samples shown later ends the search.
  // Keyframes only: the keyframe's own sample, since the decoder is given nothing else.
  let end = first;
  for (let i = first, later = 0; i < table.count && later <= REORDER_WINDOW && !(keyframeOnly && keyframe); i++) {
    if (table.pts[i]! <= lastPts) {
      end = i;
      later = 0;
    } else {
      later++;
    }
  }
  return spanOf(table, first, Math.min(end + after, table.count - 1));
}

/** The bytes from the lowest offset to the highest end among samples `first..last` of `table`. */
function spanOf(table: Mp4SampleTable, first: number, last: number): { start: number; end: number } {
  let start = Infinity;
  let end = 0;
  for (let i = first; i <= last; i++) {
    start = Math.min(start, table.offsets[i]!);
    end = Math.max(end, table.offsets[i]! + table.sizes[i]!);
  }
  return { start, end };
}

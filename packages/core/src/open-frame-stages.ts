import { Readable } from 'streamx';
import type { Duplex } from 'streamx';
import { ErrorCode, FrameBudget, FramepipeError } from '@framepipe/common';
import { Decoder } from '@framepipe/decoder';
import { readsAtPacketPositions } from '@framepipe/demuxer';
import type { Demuxer, DemuxerInfo } from '@framepipe/demuxer';
import { FrameSelector, Selection, planDecode } from '@framepipe/pts-indexer';
import type { DecodePart, DecodePlan, PtsIndex, SelectionOptions } from '@framepipe/pts-indexer';
import { RgbConverter, checkGeometry, planGeometry } from '@framepipe/rgb';
import type { PixelFormat } from '@framepipe/rgb';
import type { ByteSource, ByteSourceInput } from '@framepipe/http-source';
import type { AdoptedFrame } from '@framepipe/sink';
import { FrameRun } from './frame-pipeline.ts';
import type { IndexedVideo } from './frame-pipeline.ts';
import { checkStageOptions, converterOptionsOf } from './options.ts';
import type { FrameStagesOptions, StageSettings } from './options.ts';
import { attachProbe, countMissing, describeFramesMissing, noFramesMissing } from './run-stats.ts';
import type { FramesMissing } from './run-stats.ts';

/**
 * The stages of one run, opened, planned and wired, ready to pipe into a Writable of your own. `streams` ends
 * with the `RgbConverter`, which emits `RgbFrame`s; each frame holds a unit of `budget` until your consumer gives
 * it back with `budget.release()`. Call `close()` once the pipeline has settled (or `await using` the stages).
 */
export interface FrameStages extends AsyncDisposable {
  /**
   * Every stage in order, first to last, for `pipeline(...stages.streams, yourWritable)`: the demuxer, the
   * indexer when frames are numbered as packets pass, the decoder, the frame selector and the RGB converter. When
   * the selection holds no frame of the video, a single empty Readable.
   */
  readonly streams: readonly [Readable, ...Duplex[]];
  /** The frames alive at once; your consumer releases one unit per frame it is done with. */
  readonly budget: FrameBudget;
  /** The plan the stages follow: the resolved selection, the seek, the parts, what the decoder skips, the total. */
  readonly plan: DecodePlan;
  /**
   * The video stream, as the demuxer that decodes opened it (its `codecParameters` are valid until the stages
   * close); null when the selection was empty and nothing was opened.
   */
  readonly info: DemuxerInfo | null;
  /** The frame-number index (`index.strategy` says how it was built); null when nothing was opened. */
  readonly index: PtsIndex | null;
  /**
   * The width, height and pixel format of the frames the stages make (the picture's size after `autorotate`, `crop`,
   * `size`, `fit` and `maxSide`), known once the video is open and before any frame is decoded, also when there is
   * nothing to decode; null when the selection was empty and nothing was opened.
   */
  readonly output: FrameOutput | null;
  /** Frames of the selection left out by the `skip` option, with their pts, time and keyframe flag, in frame order. */
  readonly skipped: readonly AdoptedFrame[];
  /** The byte source the stages read, with its `bytesRead`. */
  readonly source: ByteSource;
  /** Stops every stage at once (an abort, say); native memory is freed as each closes. */
  destroy(error?: Error): void;
  /**
   * Waits until every stage has closed (destroying those still running), then closes what `openFrameStages` made:
   * the byte source of a URL or a path, and the budget of a number. A `ByteSource` or a `FrameBudget` you passed
   * stays yours, open, so that it can serve other runs.
   */
  close(): Promise<void>;
}

/** The size and pixel format of the frames a run makes (see {@link FrameStages.output}). */
export interface FrameOutput {
  readonly width: number;
  readonly height: number;
  readonly format: PixelFormat;
}

/**
 * Opens a video, numbers its frames by the fitting strategy (as packets pass for a range from frame 0, from an
 * MP4's sample tables, or from a scan of packet timestamps), plans the decode of `selection` with `planDecode`
 * (the seek, the GOPs to jump, the frames the decoder may skip), and wires the stages: what the one-call API does
 * before its last stage, for a pipeline of your own. The selection is a `Selection` or its options (`start`,
 * `end`, `step`, `frames`, `timestamps`, `startTime`, `endTime`, `fps`, `keyframesOnly`), checked like those of the
 * one-call API.
 *
 * Each frame your consumer receives holds one unit of the budget until it calls `stages.budget.release()`. A
 * consumer that forgets makes the decoder wait; after `stallTimeout` ms (60 s by default) without a unit given
 * back, the pipeline fails with `ERR_FRAMEPIPE_STALLED` instead of hanging.
 *
 * @example
 * const stages = await openFrameStages('https://example.com/clip.mp4', { start: 100, end: 109 });
 * try {
 *   await pipelinePromise(...stages.streams, new Writable({
 *     write(frame: RgbFrame, cb: (error: Error | null) => void) {
 *       console.log(frame.index);
 *       stages.budget.release();
 *       cb(null);
 *     },
 *   }));
 * } finally {
 *   await stages.close();
 * }
 */
export async function openFrameStages(
  input: ByteSourceInput,
  selection?: Selection | SelectionOptions,
  options?: FrameStagesOptions,
): Promise<FrameStages> {
  const settings = checkStageOptions(options);
  const wanted = Selection.from(selection);
  const { budget: given, stallTimeout, stats } = settings;
  const owned = !(given instanceof FrameBudget);
  const budget = given instanceof FrameBudget ? given : new FrameBudget(given, { stallTimeout });
  const run = new FrameRun(input, settings, budget, owned);
  try {
    const skip = settings.skip ?? new Set<number>();
    const leaveOut = skip.size > 0 && wanted.mayInclude(skip);
    const video = await run.open(wanted, leaveOut);
    if (!video) return frameStages(run, [emptyStream()], emptyPlan(wanted), null, null, null, []);
    const { index, info } = video;
    // A crop is checked against the picture as soon as its size is known, before the first frame is decoded.
    const output = outputOf(settings, info);
    let plan = planDecode(index, info, wanted);
    const missing = noFramesMissing();
    attachProbe(stats, () => ({ framesMissing: missing }));
    // A stream index grows as packets pass: what lies past its end is known once the decode has ended.
    if (index.strategy !== 'stream') {
      missing.pastEnd = wanted.pastEnd(index, info);
      if (settings.strict && missing.pastEnd > 0) throw framesMissingError(missing);
    }
    let skipped: AdoptedFrame[] = [];
    if (leaveOut) {
      // What is saved stays; the rest becomes a list, which the plan decodes GOP by GOP.
      const fields = { strategy: index.strategy, decodePath: index.decodeFromStart ? 'from-start' : 'seek' };
      skipped = [...plan.selection].filter((n) => skip.has(n)).map((n) => describeFrame(index, info, n, fields));
      plan = planDecode(index, info, plan.selection.without(skip));
    }
    const { total } = plan;
    // A file cut short gives the frames before the cut; a selection that starts past it has nothing to decode.
    const firstPts = total === 0 ? undefined : index.ptsAt(plan.parts[0]?.first ?? plan.selection.start);
    if (video.cut && firstPts !== undefined && firstPts >= video.cut.fromPts) throw video.cut.error;
    attachProbe(stats, () => ({ framesTotal: total }));
    if (total === 0 && index.strategy !== 'stream') return frameStages(run, [emptyStream()], plan, info, index, output, skipped);
    const wired = await wire(run, video, plan, missing);
    return frameStages(run, wired.streams, plan, wired.info, index, output, skipped);
  } catch (error) {
    run.destroy(error instanceof Error ? error : undefined);
    await run.close();
    throw error;
  }
}

function frameStages(
  run: FrameRun,
  streams: readonly [Readable, ...Duplex[]],
  plan: DecodePlan,
  info: DemuxerInfo | null,
  index: PtsIndex | null,
  output: FrameOutput | null,
  skipped: readonly AdoptedFrame[],
): FrameStages {
  const close = () => run.close();
  return {
    streams,
    budget: run.budget,
    plan,
    info,
    index,
    output,
    skipped,
    source: run.source,
    destroy: (error) => run.destroy(error),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * Seeks where the plan starts, and builds the decoder, the frame selector and the converter around the demuxer
 * (and the indexer, for frames numbered as packets pass). The selector ends the demuxer's input once the
 * selection is complete, and, for a sparse selection, makes it jump over the GOPs between parts.
 */
async function wire(
  run: FrameRun,
  video: IndexedVideo,
  plan: DecodePlan,
  missing: FramesMissing,
): Promise<{ streams: [Readable, ...Duplex[]]; info: DemuxerInfo }> {
  const { settings, budget } = run;
  const { stats } = settings;
  const { index, before } = video;
  const { demuxer, info } = await run.decodingDemuxer(video);
  // Where the bytes each part needs end (from an MP4's sample tables): the demuxer sees the file end there, and goes
  // on to the next part by itself.
  const bytes = run.planReads(video, plan);
  const routed = bytes !== null && plan.parts.length > 1;
  if (routed) demuxer.route(plan.parts.map((part, i) => ({ keyframe: part.keyframe, ...bytes.ranges[i]! })));
  else if (bytes) demuxer.endAt(bytes.end);
  const fromStart = plan.seek === null;
  // A range's own index comes from a plan that read the whole file, and knows where its keyframe's packet starts,
  // and where the range's packets end: in a container whose packets carry their positions, the stream ends at the
  // next range's keyframe packet, so that the decoder gives the last frames without decoding the next range's. Not
  // the bytes: an MPEG-TS packet may start with the tail of the picture before it, which a byte cut would lose.
  const range = index.partialRange;
  const pos = plan.seek && range ? index.keyframePosition(plan.seek) : undefined;
  if (plan.seek) await demuxer.seekKeyframe(plan.seek.pts, plan.seek.dts, pos);
  if (range?.cut && readsAtPacketPositions(info.formatName)) demuxer.endPacketsAt(range.end!);
  run.throwIfStopped();
  let jumps = 0;
  const seeking = new SeekCheck(index, demuxer, plan);
  if (!fromStart) seeking.sought();
  if (index.strategy === 'stream') {
    // About one packet per frame up to `end`; the container's count is the best guess before the stream is read.
    const last = info.frameCount === null ? plan.selection.end : Math.min(plan.selection.end ?? Infinity, info.frameCount - 1);
    run.startPacketProgress(demuxer, last === undefined ? null : last + 1);
  } else {
    attachProbe(stats, () => ({
      decodePath: fromStart ? 'from-start' : 'seek',
      seeks: fromStart ? 0 : 1 + jumps + seeking.missed,
      seeksMissed: seeking.missed,
    }));
    if (fromStart) run.startPacketProgress(demuxer, Math.min(plan.selection.end! + 1, info.frameCount ?? Infinity));
  }
  const { timeBase } = info;
  // A stream index grows as packets pass: a packet's rank is only final once every smaller pts has been seen.
  const frameNumber = index.strategy === 'stream' ? undefined : (pts: bigint) => index.indexOf(pts);
  const checkStart = fromStart ? undefined : seeking.check;
  // The part being decoded: the last frame it wants tells where its packets stop being needed.
  let current = 0;
  const decoder = run.own(
    new Decoder(info.codecParameters, {
      timeBase,
      budget,
      strict: settings.strict,
      frameNumber,
      unwanted: plan.unwanted,
      checkStart,
      keyframesOnly: plan.keyframesOnly,
      beyondWanted: beyondWanted(index, plan, () => current),
    }),
  );
  const missed = (frames: readonly number[]): Error | null => {
    for (const n of frames) missing[whyMissing(index, decoder, n)]++;
    if (index.strategy === 'stream') missing.pastEnd = plan.selection.pastEnd(index, info);
    return settings.strict && countMissing(missing) > 0 ? framesMissingError(missing) : null;
  };
  const selector = run.own(new FrameSelector(index, { selection: plan.selection, budget, missed }));
  const rotate = settings.autorotate ? rightAngle(info.rotation) : 0;
  const { pool, highWaterMark } = settings;
  const converter = run.own(
    new RgbConverter({ timeBase, budget, rotate, highWaterMark, ...(pool ? { pool } : {}), ...converterOptionsOf(settings) }),
  );
  // Nothing after the selection is wanted: end the input there, the decoder flushes, and the run completes.
  selector.once('done', () => demuxer.stop());
  // Jumps on to part `n`, once: the decoder may ask for it as soon as the part before has sent its last packet, and
  // the selector once that part's last frame is out.
  const jumpTo = (n: number) => {
    if (n <= current || n >= plan.parts.length) return;
    current = n;
    jumps++;
    const part = plan.parts[n]!;
    seeking.aimAt(part);
    demuxer.jump(part.keyframe.pts, part.keyframe.dts);
  };
  // The packets the decoder has after the last part's last wanted frame are not needed: the demuxer need not read
  // (nor the decoder decode) what it read ahead of them.
  decoder.on('beyond', () => demuxer.stop());
  if (routed) {
    demuxer.on('part', (n: unknown) => {
      jumps++;
      current = n as number;
      seeking.aimAt(plan.parts[current]!);
    });
  } else if (plan.parts.length > 1) {
    jumpBetween(plan.parts, selector, jumpTo);
  }
  attachProbe(stats, () => ({
    packetsRead: demuxer.packetsRead,
    framesDecoded: decoder.framesDecoded,
    packetsDecoded: decoder.packetsSent,
    startsChecked: decoder.startsChecked,
    packetsLeftOut: decoder.packetsLeftOut,
    framesDropped: selector.framesDropped,
    frameBuffersAllocated: converter.buffersAllocated,
    framesUnnumbered: selector.framesUnnumbered,
    corruptFrames: decoder.corruptFrames,
    rejectedPackets: decoder.rejectedPackets,
  }));
  return { streams: [demuxer, ...before, decoder, selector, converter], info };
}

/**
 * The Decoder's `beyondWanted` for a plan: a packet is past what the current part needs once the last frame the part
 * wants has a pts below the packet's dts. Packets come in decode order, and a packet's pts is never below its dts, so
 * no packet from there on is that frame, a frame before it, or a picture one of those refers to (each was sent
 * before the frames that refer to it). The same holds for an index still growing as packets pass (the stream
 * strategy): the first ranks are final once a later dts is above them. Undefined when the selection has no last
 * frame (every frame to the end).
 */
function beyondWanted(index: PtsIndex, plan: DecodePlan, current: () => number): ((packet: { pts: bigint; dts: bigint }) => boolean) | undefined {
  const last = plan.parts.length > 0 ? undefined : lastSelected(plan.selection);
  if (plan.parts.length === 0 && last === undefined) return undefined;
  // A packet without a dts (FFmpeg's AV_NOPTS_VALUE, the lowest 64-bit integer) is never past anything.
  return ({ dts }) => {
    // Only in the last part: before another, the packets are dropped only if the jump to it is sure to be followed,
    // and a demuxer that has already read to the end of the input follows none (frames of a later part were lost).
    if (current() < plan.parts.length - 1) return false;
    const wanted = index.ptsAt(plan.parts[current()]?.last ?? last!);
    return wanted !== undefined && wanted < dts;
  };
}

/** The last frame a selection keeps; undefined when it runs to the end of the video or keeps nothing. */
function lastSelected(selection: Selection): number | undefined {
  if (selection.empty || selection.byTime) return undefined;
  if (selection.frames) return selection.frames.at(-1);
  if (selection.end === undefined) return undefined;
  return selection.end - ((selection.end - selection.start) % selection.step);
}

/**
 * A sparse selection lies in parts separated by whole GOPs that hold no wanted frame: once the last frame of a
 * part is out, the demuxer jumps to the keyframe of the next part instead of reading and decoding the gap.
 */
function jumpBetween(parts: readonly DecodePart[], selector: FrameSelector, jumpTo: (part: number) => void): void {
  let reached = 0;
  selector.on('kept', (kept: unknown) => {
    const index = kept as number;
    let part = reached;
    while (part < parts.length - 1 && index > parts[part]!.last) part++;
    reached = Math.max(reached, part);
    // Jump only if the decode has not already run into the next part by itself.
    if (index === parts[part]!.last && part === reached && part + 1 < parts.length) jumpTo(part + 1);
  });
}

/**
 * Checks every seek of a run: the picture where decoding starts must be at or before the first frame the seek is
 * for. A keyframe table can lie (an MP4 `stss` that marks the frame after each real keyframe): FFmpeg then gives
 * nothing until the next real keyframe, past the frames wanted. On such a miss the demuxer goes back to the
 * keyframe before (and, when there is none, to the start of the stream), until a start holds.
 */
export class SeekCheck {
  /** Seeks that missed, each followed by one more seek. */
  missed = 0;
  #index: PtsIndex;
  #demuxer: Demuxer;
  /** The pts of the first frame the current seek is for. */
  #target: bigint | undefined;
  /** The demuxer went back to the first packet: there is nowhere earlier to go. */
  #rewound = false;
  /**
   * The keyframe the last retreat went to. The next goes before it, whatever packet the demuxer landed on (a
   * damaged file may land it on the same one again), so that retreats always end.
   */
  #retreat: { pts: bigint; dts: bigint } | undefined;

  /** Settles the demuxer's held end once the start of the current seek has been checked. */
  #checked: () => void = () => {};

  constructor(index: PtsIndex, demuxer: Demuxer, plan: DecodePlan) {
    this.#index = index;
    this.#demuxer = demuxer;
    this.#target = plan.total === 0 ? undefined : index.ptsAt(plan.parts[0]?.first ?? plan.selection.start);
  }

  /**
   * The demuxer has just sought: it must not end before the packet it landed on is checked, since a start among
   * the last packets of the file may still have to go further back.
   */
  sought(): void {
    this.#checked();
    this.#demuxer.holdEnd(new Promise<void>((resolve) => (this.#checked = resolve)));
  }

  /** The demuxer jumps to the keyframe of `part`. */
  aimAt(part: DecodePart): void {
    this.#target = this.#index.ptsAt(part.first);
    this.#rewound = false;
    this.#retreat = undefined;
    this.sought();
  }

  /** The Decoder's `checkStart`: false, after sending the demuxer further back, when the start misses. */
  check = (start: { pts: bigint; dts: bigint }, picture: bigint | undefined): boolean => {
    const target = this.#target;
    if (this.#rewound || target === undefined || (picture !== undefined && picture <= target)) {
      this.#checked();
      return true;
    }
    this.missed++;
    this.sought();
    const from = this.#retreat && !(start.dts < this.#retreat.dts) ? this.#retreat : start;
    const earlier = this.#index.keyframeBefore(from);
    this.#retreat = earlier;
    if (earlier) {
      this.#demuxer.jump(earlier.pts, earlier.dts);
    } else {
      this.#rewound = true;
      this.#demuxer.rewind();
    }
    return false;
  };
}

/** Why frame `n` of the selection never came, from what the index and the decoder know. */
export function whyMissing(index: PtsIndex, decoder: Decoder, n: number): keyof FramesMissing {
  const pts = index.ptsAt(n)!;
  const loss = decoder.lossOf(pts);
  if (loss === 'discarded') return 'editList';
  const first = index.firstKeyframe;
  if (!first || pts < first.pts) return 'beforeKeyframe';
  if (loss === 'corrupt' || decoder.corruptFrames + decoder.rejectedPackets > 0) return 'corrupt';
  return 'other';
}

/** The `strict` failure for frames the video cannot give. */
export function framesMissingError(missing: FramesMissing): FramepipeError {
  const count = countMissing(missing);
  return new FramepipeError(
    ErrorCode.FRAMES_MISSING,
    `${count} of the selected frames cannot be delivered: ${describeFramesMissing(missing)}; without strict, the run delivers the others`,
  );
}

/** What the converter of a run makes of the video's pictures; throws the `ERR_FRAMEPIPE_INVALID_OPTION` of a crop outside them. */
function outputOf(settings: StageSettings, info: DemuxerInfo): FrameOutput {
  const rotate = settings.autorotate ? rightAngle(info.rotation) : 0;
  const turned = rotate === 90 || rotate === 270;
  const geometry = checkGeometry(converterOptionsOf(settings));
  const { output } = planGeometry(geometry, turned ? info.height : info.width, turned ? info.width : info.height);
  return { width: output.width, height: output.height, format: geometry.pixelFormat };
}

/** The stream of a run with nothing to decode: it ends at once. */
function emptyStream(): Readable {
  return Readable.from([]);
}

/** The plan of a selection that selects nothing. */
function emptyPlan(selection: Selection): DecodePlan {
  return { selection, total: 0, seek: null, parts: [], unwanted: undefined, keyframesOnly: selection.keyframesOnly };
}

/** The rotation as a multiple of 90° (within a degree), or 0 for any other angle, which is left as stored. */
export function rightAngle(degrees: number): 0 | 90 | 180 | 270 {
  const normalized = ((degrees % 360) + 360) % 360;
  const quarters = Math.round(normalized / 90);
  if (Math.abs(normalized - quarters * 90) > 1) return 0;
  return ((quarters % 4) * 90) as 0 | 90 | 180 | 270;
}

/** What the manifest line of frame `n` says, from the index: as the decoder would give it, without decoding. */
function describeFrame(index: PtsIndex, info: DemuxerInfo, n: number, fields: AdoptedFrame['fields']): AdoptedFrame {
  const pts = index.ptsAt(n)!;
  const time = (Number(pts) * info.timeBase.num) / info.timeBase.den;
  return { index: n, pts, time, keyframe: index.isKeyframe(n), fields };
}

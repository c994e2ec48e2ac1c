import { AbortError, BufferPool, ErrorCode, FrameBudget, FramepipeError, throwIfAborted } from '@framepipe/common';
import { Demuxer } from '@framepipe/demuxer';
import type { DemuxerInfo } from '@framepipe/demuxer';
import { Decoder } from '@framepipe/decoder';
import { FrameSelector, PtsIndex, PtsIndexer, SCAN_MARGIN } from '@framepipe/pts-indexer';
import { RgbConverter } from '@framepipe/rgb';
import { isByteSource, openByteSource } from '@framepipe/http-source';
import type { ByteSource, ByteSourceInput } from '@framepipe/http-source';
import type { AdoptedFrame } from '@framepipe/sink';
import type { Duplex, Readable } from 'streamx';
import { ProgressBar } from './progress-bar.ts';
import { httpOptionsOf } from './options.ts';
import type { RunSettings } from './options.ts';
import { attachProbe } from './run-stats.ts';

/** The stages of one run, wired but not yet piped, from the demuxer to the RGB converter. */
export interface FrameStages {
  readonly demuxer: Demuxer;
  /** The stages between the demuxer and the converter, in order. */
  readonly transforms: readonly Duplex[];
  /** The last stage; it emits `RgbFrame`s. */
  readonly converter: RgbConverter;
}

/**
 * One run's byte source, what it owns, and the teardown that every exit path goes through. Building the stages
 * may read (open the container, scan it), so it is separate from the constructor, which does no I/O.
 */
export class FrameRun {
  readonly settings: RunSettings;
  readonly source: ByteSource;
  readonly budget: FrameBudget;
  #ownsSource: boolean;
  /** Where the converter takes frame buffers from, when the consumer gives them back (the file path). */
  #pool: BufferPool | undefined;
  #streams: Array<Readable | Duplex> = [];
  #progress: ProgressBar | null = null;
  #progressTimer: NodeJS.Timeout | null = null;
  #onAbort: (() => void) | null = null;
  #packetsScanned = 0;
  #jumps = 0;
  #reused: AdoptedFrame[] = [];
  /** Why the run was stopped, once it has been: no stage may start after that. */
  #stopped: Error | null = null;

  /** `budgetFrames`: how many decoded frames may be alive at once (queue, workers and the one in hand). */
  constructor(input: ByteSourceInput, settings: RunSettings, budgetFrames: number, pool?: BufferPool) {
    this.settings = settings;
    this.#pool = pool;
    this.#ownsSource = !isByteSource(input);
    this.source = openByteSource(input, httpOptionsOf(settings));
    this.budget = new FrameBudget(budgetFrames);
    attachProbe(settings.stats, () => ({ bytesRead: this.source.bytesRead, retries: this.source.retriesMade ?? 0 }));
  }

  /**
   * Frames of the selection that `openStages` left out because their file exists, with what their manifest line
   * needs (pts, time, keyframe, and how this run numbers them); in frame order.
   */
  get reused(): readonly AdoptedFrame[] {
    return this.#reused;
  }

  /**
   * Opens the container, builds the frame-number index by the fitting strategy, and wires the stages. Returns
   * null when the range holds no frame (an empty video, or `start` past the last frame), or when every frame of
   * it is in `existing`.
   *
   * A `step` from frame 0 takes the container index when there is one, so that it knows what it will drop before
   * decoding (see the Decoder's `unwanted`).
   *
   * `existing`: frame numbers to leave out because their file is already saved (resume). When one of them may be
   * in the selection, the run numbers frames from an index (container or scan) even for a range from frame 0, so
   * that it knows the selection up front: it decodes only what the missing frames need, jumping over the GOPs that
   * hold none, and lists the others in {@link FrameRun.reused}.
   */
  async openStages(converterQueue: number, existing: ReadonlySet<number> = new Set()): Promise<FrameStages | null> {
    const { start, step, frames, timestamps, signal, stats } = this.settings;
    if ((frames ?? timestamps)?.length === 0) return null;
    const resuming = existing.size > 0 && this.#mayBeSelected(existing);
    throwIfAborted(signal);
    const first = this.#own(new Demuxer(this.source));
    if (signal) {
      this.#onAbort = () => this.destroy(new AbortError(signal.reason));
      signal.addEventListener('abort', this.#onAbort, { once: true });
    }
    const info = await first.open();
    this.#throwIfStopped();

    const wanted = this.settings.end;
    const fromFirstFrame = start === 0 && timestamps === undefined && frames === undefined && !resuming;
    // With a step, most frames are decoded only to be dropped. An index known before decoding (an MP4's sample
    // tables, which cost no media bytes) tells which, so that the non-reference ones need not be decoded at all, and
    // GOPs without a wanted frame are jumped over. It is only a shortcut: a file whose tables point past its end
    // still gives, in one pass, the frames it holds.
    let index = fromFirstFrame && step > 1 ? await this.#containerIndexIfWhole(info) : null;
    this.#throwIfStopped();
    if (fromFirstFrame && !index) {
      // Stream strategy: number frames as packets pass, in one pass with no pre-scan.
      const indexer = this.#own(new PtsIndexer(info));
      // The container's count is the best guess before the stream has been read.
      const last = info.frameCount === null ? wanted : Math.min(wanted ?? Infinity, info.frameCount - 1);
      const total = last === undefined ? null : countSelected({ start, end: last, step, frames });
      attachProbe(stats, () => ({ strategy: 'stream', decodePath: 'from-start', framesTotal: total }));
      this.#startPacketProgress(first, last === undefined ? null : last + 1);
      return this.#wire(first, [indexer], indexer.index, { start, end: wanted, step, frames }, converterQueue);
    }

    // Container strategy: an MP4/MOV's sample tables give every pts without reading media data; the demuxer that
    // read the header then decodes. Otherwise scan: read packet timestamps up to end + margin, decode with another.
    index ??= await this.#containerIndex(info);
    this.#throwIfStopped();
    let demuxer: Demuxer;
    if (index) {
      attachProbe(stats, () => ({ strategy: 'container' }));
      demuxer = first;
    } else {
      attachProbe(stats, () => ({ strategy: 'scan', packetsScanned: this.#packetsScanned }));
      index = await this.#scan(first, timestamps ? lastFrameAtTime(info, Math.max(...timestamps)) : wanted);
      if (timestamps && !coversTime(index, info, Math.max(...timestamps))) {
        // The estimate from the frame rate fell short (variable frame rate): read every timestamp.
        index = await this.#scan(this.#own(new Demuxer(this.source)), undefined);
      }
      demuxer = this.#own(new Demuxer(this.source));
    }
    throwIfAborted(signal);
    this.#throwIfStopped();
    const chosen = timestamps ? framesAtTimes(index, info, timestamps) : frames;
    const from = chosen ? chosen[0] : start;
    if (index.size === 0 || from === undefined || from > index.size - 1) return null;
    // As Supervisely: the last frame caps `end`.
    const end = Math.min(chosen ? chosen[chosen.length - 1]! : (wanted ?? index.size - 1), index.size - 1);
    let selection: Selection & { end: number } = { start: from, end, step, frames: chosen };
    if (resuming) {
      // What is saved stays; the rest becomes an explicit list, which the parts below decode GOP by GOP.
      const listed = selectedFrames(selection);
      const missing = listed.filter((n) => !existing.has(n));
      // Their manifest lines, should they be written from the index, say how this run numbers and decodes frames.
      const fields = { strategy: index.strategy, decodePath: index.decodeFromStart ? 'from-start' : 'seek' };
      this.#reused = listed.filter((n) => existing.has(n)).map((n) => describeFrame(index, info, n, fields));
      if (missing.length === 0) {
        attachProbe(stats, () => ({ framesTotal: 0 }));
        return null;
      }
      selection = { start: missing[0]!, end: missing[missing.length - 1]!, step: 1, frames: missing };
    }
    const total = countSelected(selection);
    attachProbe(stats, () => ({ framesTotal: total }));

    await demuxer.open();
    this.#throwIfStopped();
    const keyframe = index.decodeFromStart ? undefined : index.keyframeFor(selection.start);
    const fromStart = keyframe === undefined;
    if (keyframe) await demuxer.seekKeyframe(keyframe.pts, keyframe.dts);
    this.#throwIfStopped();
    const parts = fromStart ? [] : planParts(index, selection);
    attachProbe(stats, () => ({ decodePath: fromStart ? 'from-start' : 'seek', seeks: fromStart ? 0 : 1 + this.#jumps }));
    // About one packet per frame up to `end` (B-frames reorder over a few more).
    if (fromStart) this.#startPacketProgress(demuxer, Math.min(selection.end + 1, info.frameCount ?? Infinity));
    const stages = this.#wire(demuxer, [], index, selection, converterQueue);
    if (parts.length > 1) this.#jumpBetween(parts, demuxer, stages.transforms.at(-1) as FrameSelector);
    return stages;
  }

  /**
   * A sparse selection lies in parts separated by whole GOPs that hold no wanted frame: once the last frame of a
   * part is out, the demuxer jumps to the keyframe of the next part instead of reading and decoding the gap.
   */
  #jumpBetween(parts: Part[], demuxer: Demuxer, selector: FrameSelector): void {
    let reached = 0;
    selector.on('kept', (kept: unknown) => {
      const index = kept as number;
      let part = reached;
      while (part < parts.length - 1 && index > parts[part]!.last) part++;
      reached = Math.max(reached, part);
      // Jump only if the decode has not already run into the next part by itself.
      if (index === parts[part]!.last && part === reached && part + 1 < parts.length) {
        const next = parts[part + 1]!.keyframe;
        this.#jumps++;
        demuxer.jump(next.pts, next.dts);
      }
    });
  }

  /** The MP4/MOV sample-table index, or null when the container has none. */
  #containerIndex(info: DemuxerInfo): Promise<PtsIndex | null> {
    const { signal } = this.settings;
    return PtsIndex.fromContainer(this.source, info, signal ? { signal } : {});
  }

  /** {@link #containerIndex}, or null too when the file is cut short of what the tables list. */
  async #containerIndexIfWhole(info: DemuxerInfo): Promise<PtsIndex | null> {
    try {
      return await this.#containerIndex(info);
    } catch (error) {
      if (error instanceof FramepipeError && error.code === ErrorCode.TRUNCATED) return null;
      throw error;
    }
  }

  /** True when one of `numbers` may be in the selection, whatever the video holds (timestamps may select any). */
  #mayBeSelected(numbers: ReadonlySet<number>): boolean {
    const { start, end, step, frames, timestamps } = this.settings;
    if (timestamps) return true;
    if (frames) return frames.some((n) => numbers.has(n));
    for (const n of numbers) if (n >= start && (end === undefined || n <= end) && (n - start) % step === 0) return true;
    return false;
  }

  /** Reads packet timestamps (no decoding) up to `end` + margin, or all of them, with the scan's progress bar. */
  async #scan(demuxer: Demuxer, end: number | undefined): Promise<PtsIndex> {
    const { frameCount } = await demuxer.open();
    const total = end !== undefined ? Math.min(end + SCAN_MARGIN, frameCount ?? Infinity) : frameCount;
    const bar = this.settings.showDecodingProgress ? new ProgressBar({ label: 'Scanning packets', total, unit: 'packets' }) : null;
    let scanned = 0;
    try {
      const index = await PtsIndex.scan(demuxer, {
        end,
        onPacket: (n) => {
          scanned = n;
          this.#packetsScanned++;
          bar?.update(n);
        },
      });
      // The total was a guess (end + margin, or the container's count); a scan that reached the end knows.
      if (bar && index.complete) bar.total = scanned;
      return index;
    } finally {
      bar?.finish();
    }
  }

  /** Stops every stage; native memory is freed as each stage closes. Stages not built yet never start. */
  destroy(error?: Error): void {
    this.#stopped ??= error ?? new AbortError();
    for (const stream of this.#streams) stream.destroy(error);
  }

  /**
   * Building the stages awaits I/O, during which an abort may destroy the demuxer and free what it owns (the codec
   * parameters a decoder would open from): once stopped, building goes no further.
   */
  #throwIfStopped(): void {
    if (this.#stopped) throw this.#stopped;
  }

  /** Tears everything down and waits until each stage has closed, then closes the source if this run opened it. */
  async close(): Promise<void> {
    if (this.#onAbort) this.settings.signal?.removeEventListener('abort', this.#onAbort);
    if (this.#progressTimer) clearInterval(this.#progressTimer);
    this.#progress?.finish();
    this.budget.close();
    await Promise.all(this.#streams.map((stream) => closed(stream)));
    if (this.#ownsSource) await this.source.close();
  }

  #wire(demuxer: Demuxer, before: Duplex[], index: PtsIndex, selection: Selection, converterQueue: number): FrameStages {
    const { stats } = this.settings;
    const timeBase = demuxer.info.timeBase;
    // A stream index grows as packets pass: a packet's rank is only final once every smaller pts has been seen.
    const frameNumber = index.strategy === 'stream' ? undefined : (pts: bigint) => index.indexOf(pts);
    const { start, end, step, frames } = selection;
    const selector = new FrameSelector(index, { start, end, step, ...(frames ? { frames } : {}), budget: this.budget });
    // Once the index is final, a packet's pts tells whether its frame will be kept; a non-reference picture that
    // will not be need not be decoded at all.
    const unwanted = frameNumber ? (pts: bigint) => !selector.wouldKeep(pts) : undefined;
    const decoder = this.#own(
      new Decoder(demuxer.info.codecParameters, { timeBase, budget: this.budget, strict: this.settings.strict, frameNumber, unwanted }),
    );
    this.#own(selector);
    const rotate = this.settings.autorotate ? rightAngle(demuxer.info.rotation) : 0;
    const pool = this.#pool;
    const converter = this.#own(new RgbConverter({ timeBase, budget: this.budget, rotate, highWaterMark: converterQueue, ...(pool ? { pool } : {}) }));
    // Nothing after the range is wanted: end the input there, the decoder flushes, and the run completes.
    selector.once('done', () => demuxer.stop());
    attachProbe(stats, () => ({
      packetsRead: demuxer.packetsRead,
      framesDecoded: decoder.framesDecoded,
      framesDropped: selector.framesDropped,
      corruptFrames: decoder.corruptFrames,
      rejectedPackets: decoder.rejectedPackets,
    }));
    return { demuxer, transforms: [...before, decoder, selector], converter };
  }

  #startPacketProgress(demuxer: Demuxer, total: number | null): void {
    if (!this.settings.showDecodingProgress) return;
    const bar = new ProgressBar({ label: 'Decoding from start', total, unit: 'packets' });
    this.#progress = bar;
    this.#progressTimer = setInterval(() => bar.update(demuxer.packetsRead), 100);
    this.#progressTimer.unref();
    demuxer.once('end', () => {
      // The input ends when the range is complete: what was read is what the decode needed.
      bar.total = demuxer.packetsRead;
      bar.update(demuxer.packetsRead);
      bar.finish();
    });
  }

  #own<S extends Readable | Duplex>(stream: S): S {
    if (this.#stopped) {
      stream.destroy();
      throw this.#stopped;
    }
    // Errors reach the caller through the pipeline or the call that failed. A stage destroyed by an abort before
    // it is piped has no other listener, and an unheard 'error' would throw inside its teardown: it would never close.
    stream.on('error', () => {});
    this.#streams.push(stream);
    return stream;
  }
}

/** The rotation as a multiple of 90° (within a degree), or 0 for any other angle, which is left as stored. */
function rightAngle(degrees: number): 0 | 90 | 180 | 270 {
  const normalized = ((degrees % 360) + 360) % 360;
  const quarters = Math.round(normalized / 90);
  if (Math.abs(normalized - quarters * 90) > 1) return 0;
  return ((quarters % 4) * 90) as 0 | 90 | 180 | 270;
}

/** Which frames a run delivers: every `step`-th of `[start, end]`, or only `frames`. */
interface Selection {
  start: number;
  end: number | undefined;
  step: number;
  frames: readonly number[] | undefined;
}

/** A run of wanted frames decoded from one keyframe; `last` is its highest frame number. */
interface Part {
  keyframe: { pts: bigint; dts: bigint };
  last: number;
}

/**
 * Splits a sparse selection (a list of frames, or a step over a known range) into parts that each start at a
 * keyframe, merging parts whose GOPs follow each other: jumping to the next GOP saves nothing.
 */
function planParts(index: PtsIndex, selection: Selection & { end: number }): Part[] {
  if (!selection.frames && selection.step === 1) return [];
  const parts: Part[] = [];
  for (const n of selectedFrames(selection)) {
    if (n >= index.size) break;
    const keyframe = index.keyframeFor(n);
    if (!keyframe) return [];
    const current = parts[parts.length - 1];
    // The same GOP as the part's last frame (once merged, a part spans several GOPs), or the one after it.
    if (current && (index.keyframeFor(current.last)?.pts === keyframe.pts || followsPart(index, current, keyframe.pts))) {
      current.last = n;
    } else {
      parts.push({ keyframe, last: n });
    }
  }
  return parts;
}

/** True when the GOP just before the one starting at `keyframePts` is the GOP holding the part's last frame. */
function followsPart(index: PtsIndex, part: Part, keyframePts: bigint): boolean {
  const keyframeIndex = index.indexOf(keyframePts);
  if (keyframeIndex === undefined || keyframeIndex === 0) return false;
  return index.keyframeFor(keyframeIndex - 1)?.pts === index.keyframeFor(part.last)?.pts;
}

/** The frame numbers of a selection with a known end, in order. */
function selectedFrames({ start, end, step, frames }: Selection & { end: number }): number[] {
  if (frames) return frames.filter((n) => n >= start && n <= end);
  return end < start ? [] : Array.from({ length: Math.floor((end - start) / step) + 1 }, (_, i) => start + i * step);
}

/** What the manifest line of frame `n` says, from the index: as the decoder would give it, without decoding. */
function describeFrame(index: PtsIndex, info: DemuxerInfo, n: number, fields: AdoptedFrame['fields']): AdoptedFrame {
  const pts = index.ptsAt(n)!;
  const time = (Number(pts) * info.timeBase.num) / info.timeBase.den;
  return { index: n, pts, time, keyframe: index.keyframeFor(n)?.pts === pts, fields };
}

/** How many frames a selection with a known end delivers. */
function countSelected({ start, end, step, frames }: Selection & { end: number }): number {
  if (end < start) return 0;
  return frames ? frames.filter((n) => n >= start && n <= end).length : Math.floor((end - start) / step) + 1;
}

/**
 * How many frames are shown at or before `seconds` after the first frame (the rank after the last such frame).
 * Times count from the first frame, as a player's clock does: an MPEG-TS stream's timestamps start anywhere.
 */
function framesUpTo(index: PtsIndex, info: DemuxerInfo, seconds: number): number {
  const origin = index.ptsAt(0) ?? 0n;
  const { num, den } = info.timeBase;
  let low = 0;
  let high = index.size;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((Number(index.ptsAt(middle)! - origin) * num) / den <= seconds + 1e-9) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** A frame number past the frame shown at `seconds`, from the frame rate; undefined (scan all) without one. */
function lastFrameAtTime(info: DemuxerInfo, seconds: number): number | undefined {
  if (!info.frameRate || info.frameRate.num <= 0) return undefined;
  return Math.ceil(((seconds * info.frameRate.num) / info.frameRate.den) * 1.1) + 1;
}

/** True when every frame up to `seconds` is in the index, with the scan's margin of later packets read too. */
function coversTime(index: PtsIndex, info: DemuxerInfo, seconds: number): boolean {
  return index.complete || index.size - framesUpTo(index, info, seconds) >= SCAN_MARGIN;
}

/**
 * The frame shown at each time: the last one whose presentation time is at or before it, none for a time past the
 * stream's duration. Sorted, without duplicates.
 */
function framesAtTimes(index: PtsIndex, info: DemuxerInfo, times: readonly number[]): number[] {
  const chosen = new Set<number>();
  for (const t of times) {
    if (index.size === 0 || (info.duration !== null && t > info.duration)) continue;
    chosen.add(Math.max(0, framesUpTo(index, info, t) - 1));
  }
  return [...chosen].sort((a, b) => a - b);
}

/** Resolves once a stream has closed (at once if it already has, or never opened anything). */
export function closed(stream: Readable | Duplex): Promise<void> {
  // streamx sets `destroyed` once _destroy has completed, which is when it emits 'close'.
  if (stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    stream.once('close', () => resolve());
    if (!stream.destroying) stream.destroy();
  });
}

import { AbortError, ErrorCode, FrameBudget, FramepipeError, InvalidOptionError, throwIfAborted } from '@framepipe/common';
import { Demuxer } from '@framepipe/demuxer';
import type { DemuxerInfo } from '@framepipe/demuxer';
import { PtsIndex, PtsIndexer, SCAN_MARGIN, planByteRanges } from '@framepipe/pts-indexer';
import type { DecodePlan, PlannedBytes, Selection } from '@framepipe/pts-indexer';
import { isByteSource, openByteSource } from '@framepipe/http-source';
import type { ByteSource, ByteSourceInput, PlanOptions, PlannedRange } from '@framepipe/http-source';
import type { Duplex, Readable } from 'streamx';
import { ProgressBar } from './progress-bar.ts';
import { httpOptionsOf } from './options.ts';
import type { StageSettings } from './options.ts';
import { attachProbe } from './run-stats.ts';

/** A video opened and indexed: the index, the demuxer that read the header if it can decode, the stages before it. */
export interface IndexedVideo {
  /** The stream as the first demuxer opened it. After a scan, its `codecParameters` are gone with that demuxer. */
  readonly info: DemuxerInfo;
  readonly index: PtsIndex;
  /**
   * The demuxer the decode reads from, opened; null after a scan, which read the first one to its end: the decode
   * then opens a fresh one ({@link FrameRun.decodingDemuxer}), only if there is something to decode.
   */
  readonly demuxer: Demuxer | null;
  /** Stages between the demuxer and the decoder: the indexer that numbers frames as packets pass, or none. */
  readonly before: readonly Duplex[];
  /** An MP4 whose sample tables list data past the end of the file: why, and from which frame on (its pts) nothing can be decoded. */
  readonly cut: ContainerTables['cut'];
  /** The index from an MP4's sample tables, even when frames are numbered as packets pass: where each sample's bytes are. */
  readonly tables: PtsIndex | null;
}

/**
 * What one run owns besides its stages' wiring: the byte source, the choice of index strategy, the progress bars
 * and the figures of `RunStats`, and the teardown that every exit path goes through. Opening and indexing may read
 * (the container's header, its sample tables, a scan), so it is separate from the constructor, which does no I/O.
 */
export class FrameRun {
  readonly settings: StageSettings;
  readonly source: ByteSource;
  readonly budget: FrameBudget;
  #ownsSource: boolean;
  /** A budget the caller gave may serve other runs too: only one made for this run is closed with it. */
  #ownsBudget: boolean;
  #streams: Array<Readable | Duplex> = [];
  #progress: ProgressBar | null = null;
  #progressTimer: NodeJS.Timeout | null = null;
  #onAbort: (() => void) | null = null;
  #packetsScanned = 0;
  /** Set once the source was told which bytes the decode reads. */
  #planned = false;
  /** Why the file looks cut short, as the sample tables show it before decoding; null when they do not. */
  #truncated: string | null = null;
  /** Why the run was stopped, once it has been: no stage may start after that. */
  #stopped: Error | null = null;

  constructor(input: ByteSourceInput, settings: StageSettings, budget: FrameBudget, ownsBudget: boolean) {
    this.settings = settings;
    this.#ownsSource = !isByteSource(input);
    this.source = openByteSource(input, httpOptionsOf(settings));
    this.budget = budget;
    this.#ownsBudget = ownsBudget;
    attachProbe(settings.stats, () => ({ bytesRead: this.source.bytesRead, retries: this.source.retriesMade ?? 0, truncated: this.#truncated }));
  }

  /**
   * Opens the container and builds the frame-number index by the strategy that fits `selection`:
   * - *stream*, for a range from frame 0: frames are numbered as packets pass, in one pass with no pre-scan (a
   *   `step` takes the container's index when there is one, so that it knows before decoding what it will drop);
   * - *container*, for an MP4/MOV: every pts from the sample tables, without reading media data;
   * - *scan*, otherwise: packet timestamps read up to the last frame needed plus a margin, then a fresh demuxer.
   * `indexFirst` asks for an index known before decoding even for a range from frame 0 (to leave frames out).
   * Null when the selection is empty, with nothing opened.
   */
  async open(selection: Selection, indexFirst: boolean): Promise<IndexedVideo | null> {
    const { signal, stats } = this.settings;
    if (selection.empty) return null;
    throwIfAborted(signal);
    const { partialIndex } = this.settings;
    // Reading ahead while the container is opened would fetch the start of the file for nothing: the range lies further on.
    // (The last range ends with the file, whose size is known once it is open.)
    if (partialIndex) this.planRanges([{ start: partialIndex.keyframe.pos, end: partialIndex.end ?? Number.MAX_SAFE_INTEGER }]);
    const first = this.own(this.#demuxer());
    if (signal) {
      this.#onAbort = () => this.destroy(new AbortError(signal.reason));
      signal.addEventListener('abort', this.#onAbort, { once: true });
    }
    const info = await first.open();
    this.throwIfStopped();

    if (partialIndex) {
      // A range's own index, from the plan that read the whole file: nothing to read before its keyframe.
      const index = PtsIndex.fromPartial(partialIndex, info.hasBFrames);
      const range = index.partialRange!;
      if (!selection.liesWithin(range.first, range.last)) {
        const asked = selection.frames ? `frames ${selection.frames.join(', ')}` : selection.byTime || selection.end === undefined ? 'frames not known by number' : `frames ${selection.start}..${selection.end}`;
        throw new InvalidOptionError(
          'partialIndex',
          `partialIndex numbers frames ${range.first}..${range.last}, and the selection asks for ${asked.length > 80 ? `${asked.slice(0, 77)}...` : asked}: run each shard with its own selection`,
        );
      }
      attachProbe(stats, () => ({ strategy: 'partial' }));
      return { info, index, demuxer: first, before: [], cut: null, tables: null };
    }

    const fromFirstFrame = selection.fromFirstFrame && !indexFirst;
    // An MP4's sample tables, read through the bytes the demuxer already holds: its moov, and for a fragmented file
    // the moof boxes FFmpeg parsed while opening it (it walks them all), so the index costs no request. A file whose
    // tables list samples past its end (cut short) still gives the frames before the cut; the run says it is cut short.
    const header = await readContainerIndex(first.headerSource, info, signal);
    this.#truncated = header.truncated?.message ?? null;
    this.throwIfStopped();
    // For a range from frame 0 they may make a better index than one built as packets pass. With a step, most frames
    // are decoded only to be dropped: an index known before decoding tells which, so that the non-reference ones need
    // not be decoded at all, and GOPs without a wanted frame are jumped over (a shortcut that a file cut short does
    // without: one pass gives the frames it holds). An edit list that hides samples before frame 0 (every
    // `ffmpeg -ss … -c copy` cut) leaves the container's count too high: the index knows how many frames there are
    // before decoding.
    let index = header.index;
    if (fromFirstFrame && !(index && ((selection.step > 1 && !header.truncated) || header.hidden > 0))) {
      const indexer = this.own(new PtsIndexer(info));
      attachProbe(stats, () => ({ strategy: 'stream', decodePath: 'from-start' }));
      return { info, index: indexer.index, demuxer: first, before: [indexer], cut: header.cut, tables: index };
    }
    if (index) {
      attachProbe(stats, () => ({ strategy: 'container' }));
      return { info, index, demuxer: first, before: [], cut: header.cut, tables: index };
    }
    attachProbe(stats, () => ({ strategy: 'scan', packetsScanned: this.#packetsScanned }));
    index = await this.#scan(first, selection.lastNeeded(info.frameRate));
    if (selection.byTime && !selection.coveredBy(index, info, SCAN_MARGIN)) {
      // The estimate from the frame rate fell short (variable frame rate): read every timestamp.
      index = await this.#scan(this.own(this.#demuxer()), undefined);
    }
    this.throwIfStopped();
    return { info, index, demuxer: null, before: [], cut: header.cut, tables: null };
  }

  /**
   * The demuxer to decode from, opened, and the stream info to decode with: the one that read the header, or a
   * fresh one after a scan (whose demuxer took the codec parameters with it when it closed).
   */
  async decodingDemuxer(video: IndexedVideo): Promise<{ demuxer: Demuxer; info: DemuxerInfo }> {
    throwIfAborted(this.settings.signal);
    const demuxer = video.demuxer ?? this.own(this.#demuxer());
    const info = await demuxer.open();
    this.throwIfStopped();
    return { demuxer, info };
  }

  /** A demuxer of the run's source, for the video stream the settings choose. */
  #demuxer(): Demuxer {
    return new Demuxer(this.source, { stream: this.settings.stream });
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
      bar?.finish();
      return index;
    } finally {
      bar?.finish('stopped');
    }
  }

  /**
   * Tells the source which bytes the decode of `plan` reads, when the sample tables say (see `planByteRanges`), so
   * that its read-ahead stops where the decode does; returns them, for `Demuxer.endAt` and `Demuxer.route`. The
   * plan is lifted when the run closes: a source the caller gave may serve other runs.
   */
  planReads(video: IndexedVideo, plan: DecodePlan): PlannedBytes | null {
    const bytes = video.tables ? planByteRanges(video.tables, plan) : null;
    // Frames numbered as packets pass, with no sample tables to say where the decode stops: the file is read once,
    // forward, by the demuxer that opened it. The whole file is its plan, which keeps the source's cache from writing
    // it to disk for nothing. A range's own index says where its packets lie, about: reading ahead stops there (the
    // few packets past it are read as the demuxer asks for them).
    const range = video.index.partialRange;
    const ranges =
      bytes?.ranges ??
      (video.index.strategy === 'stream' ? [{ start: 0, end: this.source.size }] : range ? [{ start: range.start, end: range.end ?? this.source.size }] : null);
    if (ranges) this.planRanges(ranges);
    return bytes;
  }

  /**
   * Tells the source which byte ranges the decode reads from now on (`ByteSource.planReads`, when the source takes a
   * plan); the plan is lifted when the run closes.
   */
  planRanges(ranges: readonly PlannedRange[], options?: PlanOptions): void {
    if (!this.source.planReads) return;
    this.source.planReads(ranges, options);
    this.#planned = true;
  }

  /** With `showDecodingProgress`, a bar of the packets read by a decode from the start. */
  startPacketProgress(demuxer: Demuxer, total: number | null): void {
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

  /** Stops every stage; native memory is freed as each stage closes. Stages not built yet never start. */
  destroy(error?: Error): void {
    this.#stopped ??= error ?? new AbortError();
    for (const stream of this.#streams) stream.destroy(error);
  }

  /**
   * Building the stages awaits I/O, during which an abort may destroy the demuxer and free what it owns (the codec
   * parameters a decoder would open from): once stopped, building goes no further.
   */
  throwIfStopped(): void {
    if (this.#stopped) throw this.#stopped;
  }

  /**
   * Tears everything down and waits until each stage has closed, then closes the source and the budget if this run
   * made them.
   * Stages still running are destroyed: call it once the pipeline has settled, or to abandon it.
   */
  async close(): Promise<void> {
    if (this.#onAbort) this.settings.signal?.removeEventListener('abort', this.#onAbort);
    if (this.#progressTimer) clearInterval(this.#progressTimer);
    this.#progress?.finish(this.#stopped ? 'stopped' : 'done');
    if (this.#ownsBudget) this.budget.close();
    await Promise.all(this.#streams.map((stream) => closed(stream)));
    if (this.#ownsSource) await this.source.close();
    else if (this.#planned) this.source.planReads?.([]);
  }

  /** Registers a stage for teardown; a run already stopped destroys it and throws why. */
  own<S extends Readable | Duplex>(stream: S): S {
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

/** What an MP4's sample tables tell before any packet is read. */
export interface ContainerTables {
  /** The frame-number index from the tables; null for other containers, or tables that cannot stand in for demuxing. */
  readonly index: PtsIndex | null;
  /** Samples an edit list hides before frame 0: they are in the file, decoded for the frames after them, but have no number. */
  readonly hidden: number;
  /** `ERR_FRAMEPIPE_TRUNCATED` when a sample lies past the last byte of the file (the index holds every sample still). */
  readonly truncated: FramepipeError | null;
  /**
   * With {@link ContainerTables.truncated} and the index: the lowest pts of the samples from the first one past the end
   * of the file on. No frame shown from there on can be decoded; every frame shown before it can.
   */
  readonly cut: { readonly error: FramepipeError; readonly fromPts: bigint } | null;
}

/**
 * Reads the sample tables of an MP4 from `source`; given an opened demuxer's {@link Demuxer.headerSource}, which
 * holds the `moov` box FFmpeg parsed, it fetches no byte again. The end of the last sample, compared with the file's
 * size, tells a file cut short without reading it.
 */
export async function readContainerIndex(source: ByteSource, info: DemuxerInfo, signal: AbortSignal | undefined): Promise<ContainerTables> {
  try {
    const index = await PtsIndex.fromContainer(source, info, { pastEnd: 'keep', ...(signal ? { signal } : {}) });
    const pts = index?.sampleTable?.pts ?? [];
    let hidden = 0;
    for (const t of pts) if (t < 0n) hidden++;
    const table = index?.sampleTable;
    const truncated = table?.cut ?? null;
    let cut: ContainerTables['cut'] = null;
    if (table && truncated) {
      const size = source.size;
      let fromPts: bigint | null = null;
      let past = false;
      for (let i = 0; i < table.count; i++) {
        past ||= table.offsets[i]! + table.sizes[i]! > size;
        if (past && (fromPts === null || table.pts[i]! < fromPts)) fromPts = table.pts[i]!;
      }
      if (fromPts !== null) cut = { error: truncated, fromPts };
    }
    return { index, hidden, truncated, cut };
  } catch (error) {
    if (error instanceof FramepipeError && error.code === ErrorCode.TRUNCATED) return { index: null, hidden: 0, truncated: error, cut: null };
    throw error;
  }
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

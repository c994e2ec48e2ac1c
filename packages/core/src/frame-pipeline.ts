import { AbortError, FrameBudget, throwIfAborted } from '@framepipe/common';
import { Demuxer } from '@framepipe/demuxer';
import { Decoder } from '@framepipe/decoder';
import { FrameSelector, PtsIndex, PtsIndexer, SCAN_MARGIN } from '@framepipe/pts-indexer';
import { RgbConverter } from '@framepipe/rgb';
import { isByteSource, openByteSource } from '@framepipe/http-source';
import type { ByteSource, ByteSourceInput } from '@framepipe/http-source';
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
  #streams: Array<Readable | Duplex> = [];
  #progress: ProgressBar | null = null;
  #progressTimer: NodeJS.Timeout | null = null;
  #onAbort: (() => void) | null = null;

  /** `budgetFrames`: how many decoded frames may be alive at once (queue, workers and the one in hand). */
  constructor(input: ByteSourceInput, settings: RunSettings, budgetFrames: number) {
    this.settings = settings;
    this.#ownsSource = !isByteSource(input);
    this.source = openByteSource(input, httpOptionsOf(settings));
    this.budget = new FrameBudget(budgetFrames);
    attachProbe(settings.stats, () => ({ bytesRead: this.source.bytesRead }));
  }

  /**
   * Opens the container, builds the frame-number index by the fitting strategy, and wires the stages. Returns
   * null when the range holds no frame (an empty video, or `start` past the last frame).
   */
  async openStages(converterQueue: number): Promise<FrameStages | null> {
    const { start, signal, stats } = this.settings;
    throwIfAborted(signal);
    const first = this.#own(new Demuxer(this.source));
    if (signal) {
      this.#onAbort = () => this.destroy(new AbortError(signal.reason));
      signal.addEventListener('abort', this.#onAbort, { once: true });
    }
    const info = await first.open();

    const wanted = this.settings.end;
    if (start === 0) {
      // Stream strategy: number frames as packets pass, in one pass with no pre-scan.
      const indexer = this.#own(new PtsIndexer(info));
      // The container's count is the best guess before the stream has been read.
      const total = info.frameCount === null ? (wanted === undefined ? null : wanted + 1) : Math.min(wanted ?? Infinity, info.frameCount - 1) + 1;
      attachProbe(stats, () => ({ strategy: 'stream', decodePath: 'from-start', framesTotal: total }));
      this.#startPacketProgress(first, total);
      return this.#wire(first, [indexer], indexer.index, wanted, converterQueue);
    }

    // Scan strategy: read packet timestamps up to end + margin, then decode from a seek (or from the start).
    const scanTotal = wanted !== undefined ? Math.min(wanted + SCAN_MARGIN, info.frameCount ?? Infinity) : info.frameCount;
    const bar = this.settings.showDecodingProgress ? new ProgressBar({ label: 'Scanning packets', total: scanTotal, unit: 'packets' }) : null;
    let scanned = 0;
    attachProbe(stats, () => ({ strategy: 'scan', packetsScanned: scanned }));
    const index = await PtsIndex.scan(first, {
      end: wanted,
      onPacket: (n) => {
        scanned = n;
        bar?.update(n);
      },
    });
    // The total was a guess (end + margin, or the container's count); a scan that reached the end knows.
    if (bar && index.complete) bar.total = scanned;
    bar?.finish();
    throwIfAborted(signal);
    if (index.size === 0 || start > index.size - 1) return null;
    // As Supervisely: the last frame caps `end`.
    const end = Math.min(wanted ?? index.size - 1, index.size - 1);
    attachProbe(stats, () => ({ framesTotal: end - start + 1 }));

    const demuxer = this.#own(new Demuxer(this.source));
    await demuxer.open();
    const keyframe = index.decodeFromStart ? undefined : index.keyframeFor(start);
    const fromStart = keyframe === undefined;
    if (keyframe) await demuxer.seekKeyframe(keyframe.pts, keyframe.dts);
    attachProbe(stats, () => ({ decodePath: fromStart ? 'from-start' : 'seek' }));
    // About one packet per frame up to `end` (B-frames reorder over a few more).
    if (fromStart) this.#startPacketProgress(demuxer, Math.min(end + 1, info.frameCount ?? Infinity));
    return this.#wire(demuxer, [], index, end, converterQueue);
  }

  /** Stops every stage; native memory is freed as each stage closes. */
  destroy(error?: Error): void {
    for (const stream of this.#streams) stream.destroy(error);
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

  #wire(demuxer: Demuxer, before: Duplex[], index: PtsIndex, end: number | undefined, converterQueue: number): FrameStages {
    const { start, stats } = this.settings;
    const timeBase = demuxer.info.timeBase;
    const decoder = this.#own(new Decoder(demuxer.info.codecParameters, { timeBase, budget: this.budget }));
    const selector = this.#own(new FrameSelector(index, { start, end, budget: this.budget }));
    const converter = this.#own(new RgbConverter({ timeBase, budget: this.budget, highWaterMark: converterQueue }));
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
    this.#streams.push(stream);
    return stream;
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

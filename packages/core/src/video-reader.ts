import { pipeline } from 'streamx';
import { AbortError, ErrorCode, FrameBudget, FramepipeError, invalidOption } from '@framepipe/common';
import { Decoder } from '@framepipe/decoder';
import type { Demuxer, DemuxerInfo } from '@framepipe/demuxer';
import { Selection, decodeBytes, planDecode } from '@framepipe/pts-indexer';
import type { PtsIndex } from '@framepipe/pts-indexer';
import { RgbConverter } from '@framepipe/rgb';
import type { NumberedFrameInput, RgbConverterOptions, RgbFrame } from '@framepipe/rgb';
import type { ByteSourceInput } from '@framepipe/http-source';
import { FrameRun } from './frame-pipeline.ts';
import type { IndexedVideo } from './frame-pipeline.ts';
import { SeekCheck, rightAngle, whyMissing } from './open-frame-stages.ts';
import { checkReaderOptions, checkStageOptions, converterOptionsOf, decodeOptionsOf } from './options.ts';
import type { VideoReaderOptions, VideoReaderSettings } from './options.ts';
import { attachProbe, describeFramesMissing, finishStats, noFramesMissing } from './run-stats.ts';
import type { RunStats } from './run-stats.ts';
import { describeStream } from './probe-video.ts';
import type { VideoProbe } from './probe-video.ts';

type DecodedFrame = NumberedFrameInput['frame'];

/** What a {@link VideoReader} knows of its video once open: the probe's figures, and the exact frame count. */
export interface VideoReaderInfo extends Pick<VideoProbe, 'format' | 'codec' | 'pixelFormat' | 'width' | 'height' | 'fps' | 'duration' | 'hasBFrames' | 'rotation'> {
  /** Frames the video has, by the frame-number rule (counted from the index: exact). */
  readonly frameCount: number;
  /**
   * The `time` of frame 0 in seconds: where the stream's clock starts (0 for most MP4 files; an MPEG-TS stream's clock
   * starts anywhere, e.g. 1.4). `getFrameAt` and `getFramesAt`, like the `timestamps`, `startTime`, `endTime` and
   * `fps` options, count seconds from the first frame; a frame's `time` is its presentation time on the stream's
   * clock, so `frame.time - info.startTime` is its time from the first frame, the one those calls take.
   */
  readonly startTime: number;
}

/**
 * A video kept open for frame requests in any order: what {@link openVideo} resolves to. It holds the byte source
 * (its connection and read cache), the frame-number index, one demuxer, one decoder and one RGB converter between
 * calls. A request at or shortly after the last frame decoded (before the next keyframe) decodes on from there; one
 * that goes back, or past the next keyframe, seeks to the keyframe at or before its frame. Frame numbers are those of
 * `streamVideoFrames` (Supervisely's rule), and so are the frames' pixels, `pts`, `time` and `keyframe`.
 *
 * Calls are served one at a time, in the order they were made (there is one decoder): calls made while one runs wait
 * for it. A frame the video cannot give (corrupt, hidden by the edit list, before the first keyframe) fails the call
 * with `ERR_FRAMEPIPE_FRAMES_MISSING`; a frame number outside `0 … frameCount - 1`, or not an integer, with
 * `ERR_FRAMEPIPE_INVALID_OPTION`; a call after `close()` with `ERR_FRAMEPIPE_ABORTED`. A failure of the source (HTTP,
 * timeout, damaged data) fails the call with its own code and closes the reader.
 *
 * @example
 * await using reader = await openVideo('https://example.com/clip.mp4');
 * const frame = await reader.getFrame(1200);
 * const next = await reader.getFrame(1205); // decodes on from frame 1200: no seek, no byte fetched again
 * const batch = await reader.getFrames([40, 10, 40]); // in the order asked, duplicates included
 */
export interface VideoReader extends AsyncDisposable {
  /** Codec, size (as stored, before any rotation), frame rate, duration, frame count and rotation. */
  readonly info: VideoReaderInfo;
  /** Frames the video has; frame numbers run from 0 to `frameCount - 1`. */
  readonly frameCount: number;
  /**
   * Live figures: `seeks` (each jump of the demuxer to a keyframe, or back to the start), `packetsRead`,
   * `framesDecoded`, `framesDelivered`, `bytesRead` (bytes fetched from the source), and the index's `strategy`.
   */
  readonly stats: RunStats;
  /** Frame `index` as RGB. */
  getFrame(index: number): Promise<RgbFrame>;
  /**
   * The frames of `indices`, in that order (duplicates allowed: the same frame object comes back at each place). The
   * frames are decoded in frame order, one forward pass per GOP, each converted to RGB as soon as it is decoded.
   */
  getFrames(indices: readonly number[]): Promise<RgbFrame[]>;
  /**
   * The frame shown at `seconds` from the first frame: the last frame whose presentation time is at or before it,
   * as the `timestamps` option selects it. A time past the video's duration fails with `ERR_FRAMEPIPE_INVALID_OPTION`.
   */
  getFrameAt(seconds: number): Promise<RgbFrame>;
  /** The frames shown at each of `times` (seconds), in that order; see {@link VideoReader.getFrameAt}. */
  getFramesAt(times: readonly number[]): Promise<RgbFrame[]>;
  /** The frame numbers of the keyframes, ascending: where a decode can start, the frames `keyframesOnly` gives. */
  keyframes(): number[];
  /** Frees the decoder and the demuxer, closes the source (unless it was a `ByteSource` you gave) and fails calls still waiting. */
  close(): Promise<void>;
}

/**
 * Opens a video for random access and resolves to a {@link VideoReader} once its frame-number index is built: from
 * an MP4/MOV's sample tables (no media data read), or by reading every packet's timestamps (no decoding) for a
 * container without such an index (MKV, WebM, MPEG-TS: the whole file is read once, into the read cache).
 *
 * `source` is an http(s) URL, a local path, `{ url, headers }`, or a `ByteSource`. Options are those of decoding
 * (`headers`, `timeout`, `retries`, `cacheMemory`, `cacheDisk`, `stream`, `autorotate`, `strict`, `signal`, `stats`)
 * and `maxDecodedFrames`. Aborting `signal` fails the call under way and closes the reader.
 *
 * @example
 * await using reader = await openVideo('https://example.com/clip.mp4', { autorotate: true });
 * console.log(reader.frameCount, reader.keyframes().slice(0, 3));
 * const frames = await reader.getFramesAt([0, 1.5, 3]);
 */
export async function openVideo(source: ByteSourceInput, options?: VideoReaderOptions): Promise<VideoReader> {
  const settings = checkReaderOptions(options);
  const budget = new FrameBudget(settings.maxDecodedFrames);
  const run = new FrameRun(source, checkStageOptions({ ...decodeOptionsOf({ ...settings, partialIndex: undefined }), budget }), budget, true);
  try {
    // Every frame, so that the index is complete: the container's, or a scan of every packet.
    const video = await run.open(Selection.from({}), true);
    if (!video) throw new Error('openVideo: an empty selection opened nothing');
    const { demuxer, info } = await run.decodingDemuxer(video);
    return new OpenVideo(run, video, demuxer, info, settings);
  } catch (error) {
    run.destroy(error instanceof Error ? error : undefined);
    await run.close();
    throw error;
  }
}

/** What a decode from one demuxer holds: the demuxer and the decoder piped together, and how far their frames came. */
interface DecodePass {
  readonly demuxer: Demuxer;
  readonly decoder: Decoder;
  /** The decoder's frames, once the pass is piped. */
  frames: AsyncIterator<DecodedFrame>;
  readonly seekCheck: SeekCheck;
  /** Frames taken from the decoder so far. */
  received: number;
  /**
   * Frames up to this count (of {@link DecodePass.received}) come from before the last seek and are dropped; Infinity
   * from a seek until the decoder checks where it landed (see the Decoder's `checkStart`).
   */
  staleUntil: number;
  /** The decoder's output has ended (the end of the file): a seek needs a new pass. */
  ended: boolean;
}

/**
 * How far ahead of the decode the next keyframe may be for a request in its GOP to decode on rather than seek. A seek
 * decodes nothing from before the jump (see the Decoder's `dropUntilJump`), only the keyframe once more to check where
 * decoding starts; decoding on decodes the reference pictures before that keyframe, one frame in two or so here. On
 * the bench's 100 random requests, 16 decoded 3% more frames than 4, and 4 as many as 0 (0.2% more, 3 seeks fewer).
 */
const NEAR_FRAMES = 4;

/**
 * Samples the stages read past the last one a request needs before its frame comes out, besides one per frame thread
 * of the decoder (each holds a packet it is decoding): the demuxer's 4 buffered packets and the decoder's reorder
 * delay of up to 3 (see `#planBytes`, which adds the threads and the pictures `maxDecodedFrames` lets it decode ahead).
 */
const READ_PAST_SAMPLES = 4 + 3;

/**
 * For tests, not part of the API: the decoder threads of the readers opened from now on (0, the default, lets FFmpeg
 * pick one per core and one more), so that a test can stand for a machine with more cores than its own.
 * @internal
 */
export const readerTesting = { decoderThreads: 0 };

/** The frames of a pass not piped yet (it is, by the seek that starts it). */
const NOT_PIPED: AsyncIterator<DecodedFrame> = {
  next: () => Promise.reject(new Error('VideoReader: a decode pass was read before its seek')),
};

class OpenVideo implements VideoReader {
  readonly info: VideoReaderInfo;
  readonly frameCount: number;
  readonly stats: RunStats;
  #run: FrameRun;
  #video: IndexedVideo;
  #index: PtsIndex;
  #stream: DemuxerInfo;
  #settings: VideoReaderSettings;
  /** The demuxer that opened the video, for the first pass; later passes open their own. */
  #spare: Demuxer | null;
  #converter: RgbConverter;
  #converted: AsyncIterator<RgbFrame>;
  #pass: DecodePass | null = null;
  /** Every pass made, for the figures. */
  #passes: DecodePass[] = [];
  /** A frame decoded and not asked for yet: the next one the decode gives. */
  #ahead: { frame: DecodedFrame; index: number } | null = null;
  /** The highest number of the frames the decoder gave since the last seek, -1 before any. */
  #last = -1;
  /**
   * The frames of the call under way, and the highest of them (-1 between calls): the decoder may skip unreferenced
   * pictures below it that the call does not want.
   */
  #wanted: ReadonlyMap<number, unknown> = new Map();
  #aim = -1;
  /** A call failed on the way: where the decode stands is not known well enough to decode on. */
  #lost = false;
  #seeks = 0;
  #delivered = 0;
  #keyframes: number[] | null = null;
  #queue: Promise<unknown> = Promise.resolve();
  #closed: FramepipeError | null = null;
  #closing: Promise<void> | null = null;
  #onAbort: (() => void) | null = null;

  constructor(run: FrameRun, video: IndexedVideo, demuxer: Demuxer, info: DemuxerInfo, settings: VideoReaderSettings) {
    this.#run = run;
    this.#video = video;
    this.#index = video.index;
    this.#stream = info;
    this.#settings = settings;
    this.#spare = demuxer;
    this.stats = settings.stats;
    this.frameCount = video.index.size;
    const origin = video.index.ptsAt(0);
    const startTime = origin === undefined ? 0 : (Number(origin) * info.timeBase.num) / info.timeBase.den;
    this.info = { ...describeStream(info), frameCount: this.frameCount, startTime };
    this.#converter = run.own(new RgbConverter(converterOptions(settings, info, run.budget)));
    // A crop is checked against the picture here, when the reader opens, rather than at the first request.
    this.#converter.outputSize(info.width, info.height);
    this.#converted = (this.#converter as unknown as AsyncIterable<RgbFrame>)[Symbol.asyncIterator]();
    const { signal } = settings;
    if (signal) {
      this.#onAbort = () => void this.close();
      signal.addEventListener('abort', this.#onAbort, { once: true });
    }
    attachProbe(this.stats, () => ({
      decodePath: 'seek',
      framesTotal: this.frameCount,
      seeks: this.#seeks + this.#passes.reduce((sum, pass) => sum + pass.seekCheck.missed, 0),
      seeksMissed: this.#passes.reduce((sum, pass) => sum + pass.seekCheck.missed, 0),
      packetsRead: this.#passes.reduce((sum, pass) => sum + pass.demuxer.packetsRead, 0),
      framesDecoded: this.#passes.reduce((sum, pass) => sum + pass.decoder.framesDecoded, 0),
      packetsDecoded: this.#passes.reduce((sum, pass) => sum + pass.decoder.packetsSent, 0),
      startsChecked: this.#passes.reduce((sum, pass) => sum + pass.decoder.startsChecked, 0),
      corruptFrames: this.#passes.reduce((sum, pass) => sum + pass.decoder.corruptFrames, 0),
      rejectedPackets: this.#passes.reduce((sum, pass) => sum + pass.decoder.rejectedPackets, 0),
      framesDelivered: this.#delivered,
      frameBuffersAllocated: this.#converter.buffersAllocated,
    }));
  }

  getFrame(index: number): Promise<RgbFrame> {
    return this.#frames([index], 'index').then((frames) => frames[0]!);
  }

  getFrames(indices: readonly number[]): Promise<RgbFrame[]> {
    if (!Array.isArray(indices)) return Promise.reject(invalidOption('indices', 'an array of frame numbers', indices));
    return this.#frames(indices, 'indices');
  }

  getFrameAt(seconds: number): Promise<RgbFrame> {
    return this.#atTimes([seconds], 'seconds').then((frames) => frames[0]!);
  }

  getFramesAt(times: readonly number[]): Promise<RgbFrame[]> {
    if (!Array.isArray(times)) return Promise.reject(invalidOption('times', 'an array of times in seconds', times));
    return this.#atTimes(times, 'times');
  }

  keyframes(): number[] {
    this.#keyframes ??= this.#index.keyframeNumbers();
    return [...this.#keyframes];
  }

  close(): Promise<void> {
    this.#closed ??= new FramepipeError(ErrorCode.ABORTED, `The VideoReader of ${this.#run.source.description} is closed: open the video again with openVideo()`);
    this.#closing ??= (async () => {
      if (this.#onAbort) this.#settings.signal?.removeEventListener('abort', this.#onAbort);
      const { signal } = this.#settings;
      this.#run.destroy(signal?.aborted ? new AbortError(signal.reason) : this.#closed!);
      // The call under way fails as its stages go; those still waiting fail at their turn.
      await this.#queue.catch(() => {});
      this.#dropAhead();
      await this.#run.close();
      finishStats(this.stats);
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Checks the frame numbers at the call, then serves them in the call's turn. */
  #frames(indices: readonly number[], name: string): Promise<RgbFrame[]> {
    const last = this.frameCount - 1;
    for (const n of indices) {
      if (!Number.isInteger(n) || n < 0 || n > last) {
        const expected = last < 0 ? 'a frame number, but the video has no frames' : `a frame number from 0 to ${last} (the video has ${this.frameCount} frames)`;
        return Promise.reject(invalidOption(name, expected, n));
      }
    }
    return this.#serve(indices);
  }

  /** Turns times into the frames shown then, as the `timestamps` option does, and serves those. */
  #atTimes(times: readonly number[], name: string): Promise<RgbFrame[]> {
    const indices: number[] = [];
    for (const t of times) {
      if (typeof t !== 'number' || !Number.isFinite(t) || t < 0) return Promise.reject(invalidOption(name, 'a time in seconds >= 0', t));
      const shown = Selection.from({ timestamps: [t] }).atTimes(this.#index, this.#stream).frames?.[0];
      if (shown === undefined) {
        const duration = this.#stream.duration;
        return Promise.reject(invalidOption(name, `a time within the video (${duration ?? 'unknown'} s, ${this.frameCount} frames)`, t));
      }
      indices.push(shown);
    }
    return this.#serve(indices);
  }

  /** Runs after every call made before it (one decoder serves them in turn), unless the reader is closed by then. */
  #serve(indices: readonly number[]): Promise<RgbFrame[]> {
    const served = this.#queue.then(() => {
      if (this.#closed) throw this.#closed;
      return this.#decode(indices);
    });
    this.#queue = served.catch(() => {});
    return served;
  }

  /**
   * Decodes the wanted frames in frame order: first those from where the decode stands on (no seek for the first of
   * them when it is near), then, from a seek back, those before it. Each frame is converted as it comes, so only
   * RGB results are held, never the batch's decoded pictures.
   */
  async #decode(indices: readonly number[]): Promise<RgbFrame[]> {
    const wanted = [...new Set(indices)].sort((a, b) => a - b);
    const next = this.#position();
    const phases = [wanted.filter((n) => n >= next), wanted.filter((n) => n < next)];
    // null: not decoded yet.
    const got = new Map<number, RgbFrame | null>(wanted.map((n) => [n, null]));
    this.#wanted = got;
    try {
      for (const phase of phases) {
        // Up to the last frame of this pass only: the pictures after it may be asked for by the next call.
        this.#aim = phase.at(-1) ?? -1;
        for (const n of phase) if (!got.get(n)) got.set(n, await this.#frame(n, got));
      }
    } catch (error) {
      // Pictures before the frame that failed may have been skipped: the next request seeks.
      this.#lost = true;
      // A failure of the source or the decoder leaves the stages destroyed: the reader is of no further use.
      if (!(error instanceof FramepipeError && (error.code === ErrorCode.FRAMES_MISSING || error.code === ErrorCode.TRUNCATED))) void this.close();
      throw error;
    } finally {
      this.#aim = -1;
      this.#wanted = new Map();
    }
    return indices.map((n) => got.get(n)!);
  }

  /** The number of the next frame the decode gives without a seek. */
  #position(): number {
    if (this.#ahead) return this.#ahead.index;
    if (!this.#pass || this.#pass.ended) return Infinity;
    return this.#last + 1;
  }

  /**
   * Frame `n`, decoded on from where the decode stands if it is near, else after a seek. Another frame of the call
   * that comes out first (a stream decoded from the start gives them in the decoder's order) is kept in `got`.
   */
  async #frame(n: number, got: Map<number, RgbFrame | null>): Promise<RgbFrame> {
    const index = this.#index;
    const pts = index.ptsAt(n)!;
    const { cut } = this.#video;
    if (cut && pts >= cut.fromPts) throw cut.error;
    if (this.#ahead?.index === n) {
      const { frame } = this.#ahead;
      this.#ahead = null;
      return this.#convert(frame, n);
    }
    // Where the decode of frame n starts: on from the next frame of the decode, or at frame n's keyframe.
    const near = this.#near(n);
    const from = near ? this.#position() : n;
    if (near) this.#dropAhead();
    else await this.#seek(n);
    this.#planBytes(from, n);
    let retried = false;
    for (;;) {
      const pass = this.#pass!;
      const { value: frame, done } = await pass.frames.next();
      if (done) {
        pass.ended = true;
        // The file ended before the seek asked for took effect: a new pass makes it.
        if (pass.staleUntil === Infinity && !retried) {
          retried = true;
          // The jump asked of the ended pass never happened: the new pass's counts as the one seek.
          this.#seeks--;
          await this.#seek(n);
          continue;
        }
        throw this.#missing(n, pass);
      }
      pass.received++;
      const number = pass.received <= pass.staleUntil ? undefined : index.indexOf(frame.pts);
      if (number === undefined) {
        this.#drop(frame);
        continue;
      }
      this.#last = Math.max(this.#last, number);
      if (number === n) return this.#convert(frame, n);
      if (got.get(number) === null) {
        got.set(number, await this.#convert(frame, number));
        continue;
      }
      // Frames come in pts order, so a later one means frame n will not come; except from a stream decoded from
      // the start for lack of composition offsets, whose order is the decoder's.
      if (number < n || index.decodeFromStart) {
        this.#drop(frame);
        continue;
      }
      this.#ahead = { frame, index: number };
      throw this.#missing(n, pass);
    }
  }

  /**
   * Whether frame `n` is near enough to decode on to: at or after the next frame of the decode, and before the next
   * keyframe after it, or in the GOP of that keyframe when it is at most {@link NEAR_FRAMES} frames ahead (for a
   * stream decoded from the start, anywhere after it: there is no seek).
   */
  #near(n: number): boolean {
    const next = this.#position();
    if (next === Infinity || n < next || this.#lost) return false;
    const index = this.#index;
    if (index.decodeFromStart) return true;
    const here = index.keyframeFor(Math.min(next, this.frameCount - 1));
    const there = index.keyframeFor(n);
    if (there?.pts === here?.pts) return true;
    const at = there && index.indexOf(there.pts);
    return at !== undefined && at > 0 && at - next <= NEAR_FRAMES && index.keyframeFor(at - 1)?.pts === here?.pts;
  }

  /**
   * Sends the decode to the keyframe at or before frame `n` (or to the start), in a new pass once the last has ended:
   * a new demuxer (its bytes come from the read cache) and decoder.
   */
  async #seek(n: number): Promise<void> {
    this.#dropAhead();
    const fresh = !this.#pass || this.#pass.ended;
    if (fresh) this.#pass = await this.#newPass();
    const pass = this.#pass!;
    // Every frame from before the jump is dropped: the decoder need not decode what was read ahead, nor drain the
    // pictures it holds at the jump.
    if (!fresh) pass.decoder.dropUntilJump();
    const index = this.#index;
    const keyframe = index.decodeFromStart ? undefined : index.keyframeFor(n);
    pass.seekCheck.aimAt({ keyframe: keyframe ?? { pts: 0n, dts: 0n }, first: n, last: n });
    if (keyframe) pass.demuxer.jump(keyframe.pts, keyframe.dts);
    else pass.demuxer.rewind();
    pass.staleUntil = Infinity;
    this.#last = -1;
    this.#lost = false;
    this.#seeks++;
    // Piped only now, so that the first packet read is the one the seek lands on.
    if (fresh) pass.frames = (pipeline(pass.demuxer, pass.decoder) as unknown as AsyncIterable<DecodedFrame>)[Symbol.asyncIterator]();
  }

  /**
   * Tells the source which bytes the decode of frames `from` … `n` reads, as an MP4's sample tables say: from the
   * sample of the keyframe it starts from to the last sample shown at or before frame `n`, and the samples after it
   * that the stages read before frame `n` comes out: one per frame thread of the decoder, {@link READ_PAST_SAMPLES},
   * and `maxDecodedFrames`. In one request rather than one per 64 KiB read of FFmpeg's (there is no read-ahead past
   * the plan): on the 1080p footage fixture, 13 frames asked for in random order take 17 requests after the open
   * with 3 threads and 16 with 17 threads, where a margin of 8 samples took 20 and 49. The source's read-ahead, made
   * for streaming, would otherwise double block after block while the demuxer reads a GOP, and end far past the
   * frame. Every byte fetched stays cached: a later request may come back to it.
   */
  #planBytes(from: number, n: number): void {
    const { tables } = this.#video;
    if (!tables) return;
    const index = this.#index;
    const keyframe = index.decodeFromStart ? null : (index.keyframeFor(from) ?? null);
    const after = this.#pass!.decoder.threadCount + READ_PAST_SAMPLES + this.#run.budget.capacity;
    const span = decodeBytes(tables, keyframe, n, { after });
    if (span) this.#run.planRanges([span], { forwardOnly: false });
  }

  /** A demuxer and a decoder to pipe together, with the checks of a run's seeks. */
  async #newPass(): Promise<DecodePass> {
    const run = this.#run;
    const { demuxer, info } = this.#spare ? { demuxer: this.#spare, info: this.#stream } : await run.decodingDemuxer({ ...this.#video, demuxer: null });
    this.#spare = null;
    const index = this.#index;
    const seekCheck = new SeekCheck(index, demuxer, planDecode(index, info, { frames: [] }));
    const decoder: Decoder = run.own(
      new Decoder(info.codecParameters, {
        timeBase: info.timeBase,
        threads: readerTesting.decoderThreads,
        budget: run.budget,
        strict: this.#settings.strict,
        frameNumber: (pts) => index.indexOf(pts),
        // Pictures the call does not want before the last one it does (those after it may be asked for next), and
        // every picture read before a seek takes effect, which is dropped anyway.
        unwanted: (pts) => {
          if (pass.staleUntil === Infinity) return true;
          const n = index.indexOf(pts);
          return n !== undefined && n < this.#aim && !this.#wanted.has(n);
        },
        checkStart: (start, picture) => {
          const good = seekCheck.check(start, picture);
          // Every frame the decoder gave before this start came from before the seek.
          pass.staleUntil = decoder.framesDecoded;
          return good;
        },
      }),
    );
    const pass: DecodePass = { demuxer, decoder, frames: NOT_PIPED, seekCheck, received: 0, staleUntil: Infinity, ended: false };
    this.#passes.push(pass);
    return pass;
  }

  async #convert(frame: DecodedFrame, index: number): Promise<RgbFrame> {
    this.#converter.write({ frame, index });
    const { value, done } = await this.#converted.next();
    if (done) throw this.#closed ?? new AbortError();
    this.#run.budget.release();
    this.#delivered++;
    return value;
  }

  /** Why frame `n` did not come, as an `ERR_FRAMEPIPE_FRAMES_MISSING` error. */
  #missing(n: number, pass: DecodePass): FramepipeError {
    const missing = noFramesMissing();
    missing[whyMissing(this.#index, pass.decoder, n)]++;
    return new FramepipeError(ErrorCode.FRAMES_MISSING, `Frame ${n} of ${this.#run.source.description} cannot be delivered: ${describeFramesMissing(missing)}`);
  }

  #drop(frame: DecodedFrame): void {
    frame.free();
    this.#run.budget.release();
  }

  #dropAhead(): void {
    if (!this.#ahead) return;
    this.#drop(this.#ahead.frame);
    this.#ahead = null;
  }
}

/**
 * The one place the reader's converter is configured: every conversion option is taken from the reader's settings
 * here (an option added to the decode options for the converter reaches the reader by a line here).
 */
function converterOptions(settings: VideoReaderSettings, info: DemuxerInfo, budget: FrameBudget): RgbConverterOptions {
  return { timeBase: info.timeBase, budget, rotate: settings.autorotate ? rightAngle(info.rotation) : 0, ...converterOptionsOf(settings) };
}

import { Transform } from 'streamx';
import { Codec, CodecContext, FFmpegError, Frame } from 'node-av';
import type { CodecParameters, Packet } from 'node-av';
import {
  AVERROR_EAGAIN,
  AVERROR_EOF,
  AVERROR_INVALIDDATA,
  AV_FRAME_FLAG_CORRUPT,
  FF_THREAD_FRAME,
  FF_THREAD_SLICE,
} from 'node-av/constants';
import {
  ErrorCode,
  FrameBudget,
  checkBudget,
  FramepipeError,
  InFlight,
  DISCONTINUITY,
  isDiscontinuity,
  assertKnownKeys,
  assertOptionsObject,
  checkInteger,
  objectStreamOptions,
  releaseBuffered,
} from '@framepipe/common';

/** Options of {@link Decoder}. */
export interface DecoderOptions {
  /** Time base of the packets' timestamps (the demuxer's `info.timeBase`); frames keep timestamps in it. */
  timeBase?: { num: number; den: number } | undefined;
  /**
   * Decoder threads; 0 lets FFmpeg pick one per core.
   * @default 0
   */
  threads?: number;
  /**
   * Bounds how many decoded frames exist downstream at once: a unit is taken before each frame is received, and
   * the stage that ends the frame's life gives it back. Without one, only stream buffering bounds memory.
   */
  budget?: FrameBudget | undefined;
  /**
   * Frames that may wait in the output buffer.
   * @default 1
   */
  highWaterMark?: number;
}

const KNOWN_OPTIONS = ['timeBase', 'threads', 'budget', 'highWaterMark'] as const;

/**
 * Decodes video packets (node-av `Packet`, freed here) into frames (node-av `Frame`, owned by the consumer, who
 * must `free()` them). Threads are chosen by FFmpeg; the decoder is flushed at the end of input so that the
 * frames it holds back for reordering come out too. Frames flagged corrupt are freed and counted, not emitted;
 * a packet the decoder rejects as invalid data is skipped and counted.
 *
 * @example
 * const decoder = new Decoder(info.codecParameters, { timeBase: info.timeBase });
 * pipeline(demuxer, decoder, new Writable({ write(frame, cb) { console.log(frame.pts); frame.free(); cb(null); } }));
 */
export class Decoder extends Transform {
  #parameters: CodecParameters;
  #timeBase: { num: number; den: number } | undefined;
  #threads: number;
  #budget: FrameBudget | undefined;
  #context: CodecContext | null = null;
  #inFlight = new InFlight();
  #framesDecoded = 0;
  #corruptFrames = 0;
  #rejectedPackets = 0;
  #abort = new AbortController();

  constructor(codecParameters: CodecParameters, options: DecoderOptions = {}) {
    const opts = assertOptionsObject(options, 'Decoder');
    assertKnownKeys(opts, KNOWN_OPTIONS, 'Decoder');
    super(objectStreamOptions(checkInteger('highWaterMark', opts.highWaterMark ?? 1, 1)));
    this.#parameters = codecParameters;
    this.#timeBase = opts.timeBase;
    this.#threads = checkInteger('threads', opts.threads ?? 0, 0);
    this.#budget = checkBudget(opts.budget);
  }

  /** Frames emitted so far. */
  get framesDecoded(): number {
    return this.#framesDecoded;
  }

  /** Frames the decoder flagged corrupt and that were dropped. */
  get corruptFrames(): number {
    return this.#corruptFrames;
  }

  /** Packets the decoder rejected as invalid data and that were skipped. */
  get rejectedPackets(): number {
    return this.#rejectedPackets;
  }

  override _open(cb: (err: Error | null) => void): void {
    this.#inFlight.track(this.#openCodec()).then(() => cb(null), cb);
  }

  override _transform(packet: Packet | typeof DISCONTINUITY, cb: (err: Error | null, data?: unknown) => void): void {
    const work = isDiscontinuity(packet) ? this.#restart() : this.#decode(packet);
    this.#inFlight.track(work).then(() => cb(null), (error: Error) => cb(error));
  }

  /** The packets jump elsewhere: output the frames still pending, then forget the references before the jump. */
  async #restart(): Promise<void> {
    await this.#decode(null);
    this.#context!.flushBuffers();
  }

  override _flush(cb: (err: Error | null) => void): void {
    this.#inFlight.track(this.#decode(null)).then(() => cb(null), cb);
  }

  override _predestroy(): void {
    this.#abort.abort();
    releaseBuffered<Packet | Frame | typeof DISCONTINUITY>(this, (item) => {
      if (isDiscontinuity(item)) return;
      item.free();
      if (item instanceof Frame) this.#budget?.release();
    });
  }

  override _destroy(cb: (err: Error | null) => void): void {
    this.#inFlight
      .settled()
      .then(() => {
        this.#context?.freeContext();
        this.#context = null;
      })
      .then(() => cb(null), cb);
  }

  async #openCodec(): Promise<void> {
    const codecId = this.#parameters.codecId;
    const codec = Codec.findDecoder(codecId);
    if (!codec) throw new FramepipeError(ErrorCode.UNSUPPORTED_CODEC, `No decoder for codec id ${codecId} in this FFmpeg build`);
    const context = new CodecContext();
    context.allocContext3(codec);
    this.#context = context;
    const ret = context.parametersToContext(this.#parameters);
    if (ret < 0) throw this.#error(ret, 'Cannot configure the decoder');
    if (this.#timeBase) context.pktTimebase = this.#timeBase as never;
    context.threadCount = this.#threads;
    context.threadType = (FF_THREAD_FRAME | FF_THREAD_SLICE) as never;
    const opened = await context.open2(codec, null);
    if (opened < 0) throw new FramepipeError(ErrorCode.UNSUPPORTED_CODEC, `Cannot open the ${codec.name} decoder: ${FFmpegError.strerror(opened)}`);
  }

  /** Sends one packet (null: end of input) and emits every frame that became ready. */
  async #decode(packet: Packet | null): Promise<void> {
    const context = this.#context!;
    try {
      for (;;) {
        const ret = await context.sendPacket(packet);
        if (ret === AVERROR_EAGAIN) {
          // The decoder's output is full: take frames out, then send the same packet again.
          await this.#receiveFrames();
          continue;
        }
        if (ret === AVERROR_INVALIDDATA) this.#rejectedPackets++;
        else if (ret < 0 && ret !== AVERROR_EOF) throw this.#error(ret, 'Cannot decode a packet');
        break;
      }
    } finally {
      packet?.free();
    }
    await this.#receiveFrames();
  }

  async #receiveFrames(): Promise<void> {
    const context = this.#context!;
    for (;;) {
      await this.#budget?.acquire(this.#abort.signal);
      const frame = new Frame();
      frame.alloc();
      const ret = await context.receiveFrame(frame);
      if (ret < 0 || frame.hasFlags(AV_FRAME_FLAG_CORRUPT)) {
        frame.free();
        this.#budget?.release();
        if (ret === AVERROR_EAGAIN || ret === AVERROR_EOF) return;
        if (ret === AVERROR_INVALIDDATA) {
          this.#rejectedPackets++;
          continue;
        }
        if (ret < 0) throw this.#error(ret, 'Cannot decode a frame');
        this.#corruptFrames++;
        continue;
      }
      if (this.destroying) {
        // Nobody downstream will free a frame pushed now.
        frame.free();
        this.#budget?.release();
        return;
      }
      this.#framesDecoded++;
      this.push(frame);
    }
  }

  #error(ret: number, what: string): FramepipeError {
    return new FramepipeError(ErrorCode.DECODE_FAILED, `${what}: ${FFmpegError.strerror(ret)} (${ret})`);
  }
}

import { availableParallelism } from 'node:os';
import { Transform } from 'streamx';
import { Codec, CodecContext, FFmpegError, Frame } from 'node-av/lib';
import type { CodecParameters, Packet } from 'node-av/lib';
import {
  AVERROR_EAGAIN,
  AVERROR_EOF,
  AVERROR_EINVAL,
  AVERROR_ENOMEM,
  AVERROR_INVALIDDATA,
  AV_FRAME_FLAG_CORRUPT,
  AV_PKT_FLAG_DISCARD,
  AV_CODEC_ID_H264,
  AV_CODEC_ID_HEVC,
  AV_CODEC_ID_MPEG1VIDEO,
  AV_CODEC_ID_MPEG2VIDEO,
  AV_CODEC_ID_MPEG4,
  AV_NOPTS_VALUE,
  AV_OPT_TYPE_INT,
  AVDISCARD_DEFAULT,
  AVDISCARD_NONREF,
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
  checkBoolean,
  checkFunction,
  checkInteger,
  StageBuffers,
} from '@framepipe/common';
import type { FfmpegStatus } from '@framepipe/common';

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
  /**
   * Fail with `ERR_FRAMEPIPE_CORRUPT_DATA` at the first packet the decoder rejects as damaged (invalid data, or another complaint about the data) or frame it
   * flags corrupt, instead of skipping and counting it.
   * @default false
   * @example
   * const decoder = new Decoder(info.codecParameters, { timeBase: info.timeBase, strict: true });
   */
  strict?: boolean | undefined;
  /** Names the frame of a pts in a `strict` error (e.g. `PtsIndex.indexOf`); without it, the error gives the pts. */
  frameNumber?: ((pts: bigint) => number | undefined) | undefined;
  /**
   * Says, from a packet's pts, that its frame will be thrown away downstream (e.g. a frame before the range, decoded
   * only because later frames refer to it). The decoder then skips such a packet when no other frame refers to it
   * (a non-reference picture: FFmpeg's `skip_frame` set to `AVDISCARD_NONREF` for that packet), which saves its
   * decoding and leaves every other frame as it was. Packets without a pts are always decoded. It applies only to
   * codecs whose non-reference pictures no other picture can use: H.264, MPEG-1/2, MPEG-4 Part 2, and HEVC with
   * a single temporal layer; others decode every packet. A damaged packet that is skipped is not decoded, so it is
   * neither counted nor, with `strict`, an error.
   * @example
   * new Decoder(info.codecParameters, { timeBase: info.timeBase, unwanted: (pts) => !selector.wouldKeep(pts) });
   */
  unwanted?: ((pts: bigint) => boolean) | undefined;
  /**
   * Says, from a packet's timestamps before it is sent, that no packet from it on (up to the next {@link
   * DISCONTINUITY}, or the end of input) is needed: every frame wanted there has been sent already, with the pictures
   * it refers to (e.g. the pts of the last frame wanted is below this packet's dts, which no later packet's pts can
   * be). The decoder then frees those packets without decoding them, counts them in {@link Decoder.packetsLeftOut},
   * and emits `'beyond'` once: a caller ends the input there (the demuxer's `stop()`) or jumps on. At the marker or
   * the end, the codec is drained as usual, so the wanted pictures it holds for reordering still come out.
   * @example
   * new Decoder(info.codecParameters, { timeBase: info.timeBase, beyondWanted: ({ dts }) => lastWantedPts < dts });
   */
  beyondWanted?: ((packet: { readonly pts: bigint; readonly dts: bigint }) => boolean) | undefined;
  /**
   * Checks where decoding starts after a seek: the first packet, and the first after each {@link DISCONTINUITY},
   * is decoded once by itself before the run goes on from it. A keyframe table can lie (an MP4 whose `stss` marks
   * a frame that needs earlier ones): such a start gives no picture, and FFmpeg would show nothing until the next
   * real keyframe, past the frames wanted. `checkStart` gets the packet's timestamps and the pts of the picture it
   * gave (undefined: none) and returns true to decode on from there, or false to have every packet dropped up to
   * the next DISCONTINUITY: the caller then makes one, jumping the demuxer to an earlier keyframe (or rewinding it).
   * Costs one more decode of each starting picture, the first time it is a start (see {@link Decoder.startsChecked}).
   * Without it, no start is checked.
   * @example
   * new Decoder(info.codecParameters, { checkStart: (start, picture) => picture !== undefined && picture <= wantedPts });
   */
  checkStart?: ((start: { readonly pts: bigint; readonly dts: bigint }, picture: bigint | undefined) => boolean) | undefined;
  /**
   * Decode keyframes only: a packet the demuxer does not flag as a keyframe is freed without reaching the codec (as
   * `ffmpeg -skip_frame nokey` would, one step earlier), and counted in {@link Decoder.packetsLeftOut}.
   * @default false
   * @example
   * new Decoder(info.codecParameters, { timeBase: info.timeBase, keyframesOnly: true });
   */
  keyframesOnly?: boolean | undefined;
}

/** Why the decoder gave no frame for a packet, as far as it can tell: see {@link Decoder.lossOf}. */
export type DecoderLoss = 'discarded' | 'corrupt';

const KNOWN_OPTIONS = ['timeBase', 'threads', 'budget', 'highWaterMark', 'strict', 'frameNumber', 'unwanted', 'beyondWanted', 'checkStart', 'keyframesOnly'] as const;

/**
 * Decodes video packets (node-av `Packet`, freed here) into frames (node-av `Frame`, owned by the consumer, who
 * must `free()` them). Threads are chosen by FFmpeg; the decoder is flushed at the end of input so that the
 * frames it holds back for reordering come out too. Frames flagged corrupt are freed and counted, not emitted;
 * a packet the decoder rejects as damaged (invalid data, or another complaint about the data) is skipped and
 * counted; only a failure of the decoder itself (out of memory, a call it refuses) ends the stream. With `strict`,
 * a corrupt frame or damaged packet ends it with `ERR_FRAMEPIPE_CORRUPT_DATA` naming the packet or frame.
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
  #packetsSent = 0;
  #packetsLeftOut = 0;
  #keyframesOnly: boolean;
  #strict: boolean;
  #frameNumber: ((pts: bigint) => number | undefined) | undefined;
  #unwanted: ((pts: bigint) => boolean) | undefined;
  /** Whether the codec is told to skip non-reference pictures now. */
  #skipping = false;
  /** The setting the last packet the codec took was sent with. */
  #sentSkipping = false;
  #checkStart: DecoderOptions['checkStart'];
  /** The next packet is where decoding starts (the first, or the first after a jump): it is checked first. */
  #atStart = true;
  /**
   * What each start checked so far gave when decoded by itself (the picture's pts, undefined for none), by its
   * timestamps: a jump back to the same keyframe (a `VideoReader`'s requests, GOP after GOP) is not decoded twice
   * more, since the same packet alone gives the same picture.
   */
  #startPictures = new Map<string, bigint | undefined>();
  #startsChecked = 0;
  /** A start failed its check, or {@link Decoder.dropUntilJump} was called: packets are dropped until the next jump. */
  #dropping = false;
  #beyondWanted: DecoderOptions['beyondWanted'];
  /** Past the last packet needed before the next jump (see `beyondWanted`): packets are freed, the codec still drained. */
  #beyond = false;
  /** The pts of packets that an edit list hides (flagged discard), whose frames FFmpeg drops. */
  #discarded = new Set<bigint>();
  /** The pts of frames flagged corrupt and of packets rejected when sent. */
  #damaged = new Set<bigint>();
  /** Timestamps of the last packet sent: a rejection reported when receiving a frame came from it or before it. */
  #lastSent: { pts: bigint; dts: bigint } | null = null;
  #abort = new AbortController();
  readonly #buffered: StageBuffers<Packet | typeof DISCONTINUITY, Frame>;

  constructor(codecParameters: CodecParameters, options: DecoderOptions = {}) {
    const opts = assertOptionsObject(options, 'Decoder');
    assertKnownKeys(opts, KNOWN_OPTIONS, 'Decoder');
    const buffered = new StageBuffers<Packet | typeof DISCONTINUITY, Frame>();
    super(buffered.options(checkInteger('highWaterMark', opts.highWaterMark ?? 1, 1)));
    this.#buffered = buffered.attach(this, {
      input: (packet) => isDiscontinuity(packet) || packet.free(),
      output: (frame) => {
        frame.free();
        this.#budget?.release();
      },
    });
    this.#parameters = codecParameters;
    this.#timeBase = opts.timeBase;
    this.#threads = checkInteger('threads', opts.threads ?? 0, 0);
    this.#budget = checkBudget(opts.budget);
    this.#strict = checkBoolean('strict', opts.strict, false);
    this.#frameNumber = checkFunction('frameNumber', opts.frameNumber);
    const unwanted = checkFunction<(pts: bigint) => boolean>('unwanted', opts.unwanted);
    this.#unwanted = unwanted && skipsOnlyUnreferenced(codecParameters) ? unwanted : undefined;
    this.#checkStart = checkFunction('checkStart', opts.checkStart);
    this.#beyondWanted = checkFunction('beyondWanted', opts.beyondWanted);
    this.#keyframesOnly = checkBoolean('keyframesOnly', opts.keyframesOnly, false);
  }

  /**
   * Why no frame came out for the packet with this pts, as far as the decoder knows: `discarded` when the
   * container's edit list hides it (FFmpeg drops such frames), `corrupt` when the frame was flagged corrupt or the
   * packet rejected as damaged; undefined when the decoder saw no such thing.
   */
  lossOf(pts: bigint): DecoderLoss | undefined {
    if (this.#discarded.has(pts)) return 'discarded';
    if (this.#damaged.has(pts)) return 'corrupt';
    return undefined;
  }

  /** Frames emitted so far. */
  get framesDecoded(): number {
    return this.#framesDecoded;
  }

  /** Frames the decoder flagged corrupt and that were dropped. */
  get corruptFrames(): number {
    return this.#corruptFrames;
  }

  /** Packets the decoder rejected as damaged and that were skipped. */
  get rejectedPackets(): number {
    return this.#rejectedPackets;
  }

  /** Packets given to the codec (each once, however many tries it took; the check of a start not counted). */
  get packetsSent(): number {
    return this.#packetsSent;
  }

  /**
   * The threads the codec decodes on: the count FFmpeg took when it opened the codec, and before that the one it will
   * take: `threads`, or for 0 one per core and one more (at most 16; 1 on a single core). With frame threads, each
   * holds a packet it is decoding, so a picture comes out that many packets after its own.
   */
  get threadCount(): number {
    // 0 until the codec has opened, when asked to pick.
    const taken = this.#context?.threadCount ?? 0;
    if (taken > 0) return taken;
    if (this.#threads > 0) return this.#threads;
    const cores = availableParallelism();
    return cores > 1 ? Math.min(cores + 1, 16) : 1;
  }

  /**
   * Starts decoded by themselves for `checkStart`: one per start, except a start checked before (the same packet
   * again, after a jump back to its keyframe), whose picture is remembered.
   */
  get startsChecked(): number {
    return this.#startsChecked;
  }

  /**
   * Packets freed without reaching the codec: not keyframes (with `keyframesOnly`), or past the last one needed
   * (see `beyondWanted`).
   */
  get packetsLeftOut(): number {
    return this.#packetsLeftOut;
  }

  override _open(cb: (err: Error | null) => void): void {
    this.#inFlight.track(this.#openCodec()).then(() => cb(null), cb);
  }

  override _transform(packet: Packet | typeof DISCONTINUITY, cb: (err: Error | null, data?: unknown) => void): void {
    this.#buffered.take(packet);
    const work = isDiscontinuity(packet) ? this.#restart() : this.#decode(packet);
    this.#inFlight.track(work).then(() => cb(null), (error: Error) => cb(error));
  }

  /**
   * From now until the next {@link DISCONTINUITY}, nothing from before it is wanted: the packets still to come before
   * the marker are freed without being decoded, and at the marker the pictures the codec holds for reordering (or is
   * still decoding on its threads) are forgotten instead of given out. For a consumer that has just sent the demuxer
   * elsewhere (the demuxer's `jump()` or `rewind()`) and drops every frame from before the jump: without this,
   * the decoder decodes what was read ahead and drains the codec at the marker, only for those frames to be dropped.
   * Frames already given out still come; so do frames of a packet being decoded now. At the end of input instead of a
   * marker, the codec is not drained either.
   * @example
   * demuxer.jump(keyframe.pts, keyframe.dts);
   * decoder.dropUntilJump();
   */
  dropUntilJump(): void {
    this.#dropping = true;
  }

  /** The packets jump elsewhere: output the frames still pending (unless dropping), then forget the references before the jump. */
  async #restart(): Promise<void> {
    // While packets are dropped nothing from before the marker is wanted (and after a failed start the codec holds nothing).
    if (!this.#dropping) await this.#decode(null);
    this.#context!.flushBuffers();
    this.#atStart = true;
    this.#dropping = false;
    this.#beyond = false;
  }

  override _flush(cb: (err: Error | null) => void): void {
    this.#inFlight.track(this.#dropping ? Promise.resolve() : this.#decode(null)).then(() => cb(null), cb);
  }

  /**
   * streamx drops, without freeing, what is written to a stream being destroyed, and the stage upstream goes on
   * writing until this one has closed (a failed open, a consumer that left): free such packets here.
   */
  override write(packet: Packet | typeof DISCONTINUITY): boolean {
    return this.#buffered.admit(packet) && super.write(packet);
  }

  override _predestroy(): void {
    this.#abort.abort();
  }

  override _destroy(cb: (err: Error | null) => void): void {
    this.#buffered.release();
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
    if (opened < 0) {
      const ffmpeg = ffmpegStatus(opened);
      throw new FramepipeError(ErrorCode.UNSUPPORTED_CODEC, `Cannot open the ${codec.name} decoder for this video (FFmpeg: ${ffmpeg.text})`, { ffmpeg });
    }
  }

  /** What the packet where decoding starts gives decoded by itself: {@link Decoder.#probe}, once per packet. */
  async #startPicture(packet: Packet): Promise<bigint | undefined> {
    const key = `${packet.pts}/${packet.dts}`;
    if (this.#startPictures.has(key)) return this.#startPictures.get(key);
    const picture = await this.#probe(packet);
    this.#startsChecked++;
    this.#startPictures.set(key, picture);
    return picture;
  }

  /**
   * Decodes the packet where decoding starts once by itself, then forgets it: whether it gives a picture, and which.
   * The edit list's discard flag is left out, so that a keyframe shown before an edit still proves itself.
   */
  async #probe(packet: Packet): Promise<bigint | undefined> {
    const context = this.#context!;
    const copy = packet.clone();
    if (!copy) throw new FramepipeError(ErrorCode.DECODE_FAILED, 'Cannot copy a packet to check where decoding starts');
    let picture: bigint | undefined;
    const frame = new Frame();
    frame.alloc();
    try {
      copy.clearFlags(AV_PKT_FLAG_DISCARD);
      if (this.#unwanted) this.#setSkipping(context, false);
      const sent = await context.sendPacket(copy);
      if (sent < 0 && !isDamagedData(sent)) throw this.#error(sent, 'Cannot decode a packet');
      await context.sendPacket(null);
      for (;;) {
        const ret = await context.receiveFrame(frame);
        if (ret === AVERROR_EOF || ret === AVERROR_EAGAIN) break;
        if (ret < 0 && !isDamagedData(ret)) throw this.#error(ret, 'Cannot decode a frame');
        if (ret >= 0 && !frame.hasFlags(AV_FRAME_FLAG_CORRUPT)) picture ??= frame.pts;
        frame.unref();
      }
    } finally {
      frame.free();
      copy.free();
      context.flushBuffers();
    }
    return picture;
  }

  /** Whether `packet` is past the last one needed before the next jump; the first such packet emits `'beyond'`. */
  #isBeyondWanted(packet: Packet): boolean {
    if (this.#beyond) return true;
    if (!this.#beyondWanted?.({ pts: packet.pts, dts: packet.dts })) return false;
    this.#beyond = true;
    this.emit('beyond');
    return true;
  }

  /** Sends one packet (null: end of input) and emits every frame that became ready. */
  async #decode(packet: Packet | null): Promise<void> {
    const context = this.#context!;
    if (packet && this.#dropping) {
      packet.free();
      return;
    }
    if (packet && ((this.#keyframesOnly && !packet.isKeyframe) || this.#isBeyondWanted(packet))) {
      this.#packetsLeftOut++;
      packet.free();
      return;
    }
    if (packet && this.#atStart && this.#checkStart) {
      this.#atStart = false;
      const start = { pts: packet.pts, dts: packet.dts };
      let good: boolean;
      try {
        good = this.#checkStart(start, await this.#startPicture(packet));
      } catch (error) {
        packet.free();
        throw error;
      }
      if (!good) {
        this.#dropping = true;
        packet.free();
        return;
      }
    }
    if (packet?.hasFlags(AV_PKT_FLAG_DISCARD) && packet.pts !== AV_NOPTS_VALUE) this.#discarded.add(packet.pts);
    const unwanted = this.#unwanted;
    const skip = unwanted !== undefined && packet !== null && packet.pts !== AV_NOPTS_VALUE && unwanted(packet.pts);
    try {
      for (;;) {
        if (unwanted) this.#setSkipping(context, skip);
        const ret = await context.sendPacket(packet);
        if (ret === AVERROR_EAGAIN) {
          // The decoder's output is full: take frames out, then send the same packet again. The codec may still hold
          // the previous packet, which it then decodes: under that packet's own setting.
          if (unwanted) this.#setSkipping(context, this.#sentSkipping);
          await this.#receiveFrames();
          continue;
        }
        this.#sentSkipping = skip;
        if (packet) this.#packetsSent++;
        // Only a strict error names the packet; reading its timestamps for every packet would be wasted otherwise.
        if (packet && this.#strict) this.#lastSent = { pts: packet.pts, dts: packet.dts };
        if (ret === AVERROR_EOF || ret >= 0) break;
        if (!isDamagedData(ret)) throw this.#error(ret, 'Cannot decode a packet');
        // As the ffmpeg CLI does: a packet the codec cannot use is left out, and decoding goes on with the next one.
        if (packet && packet.pts !== AV_NOPTS_VALUE) this.#damaged.add(packet.pts);
        this.#rejectPacket(packet !== null, ret);
        break;
      }
    } finally {
      packet?.free();
    }
    await this.#receiveFrames();
  }

  /**
   * Sets the codec's `skip_frame`, only when it changes. The codec reads it when it takes a packet (frame threads
   * copy it with each packet), so it must be right for the packet being sent.
   */
  #setSkipping(context: CodecContext, skip: boolean): void {
    if (skip === this.#skipping) return;
    const ret = context.setOption('skip_frame', skip ? AVDISCARD_NONREF : AVDISCARD_DEFAULT, AV_OPT_TYPE_INT);
    if (ret < 0) throw this.#error(ret, 'Cannot set the decoder to skip frames');
    this.#skipping = skip;
  }

  async #receiveFrames(): Promise<void> {
    const context = this.#context!;
    for (;;) {
      await this.#budget?.acquire(this.#abort.signal);
      const frame = new Frame();
      frame.alloc();
      const ret = await context.receiveFrame(frame);
      if (ret < 0 || frame.hasFlags(AV_FRAME_FLAG_CORRUPT)) {
        const pts = ret < 0 ? AV_NOPTS_VALUE : frame.pts;
        frame.free();
        this.#budget?.release();
        if (ret === AVERROR_EAGAIN || ret === AVERROR_EOF) return;
        if (ret === AVERROR_INVALIDDATA) {
          this.#rejectPacket(false, ret);
          continue;
        }
        if (ret < 0 && !isDamagedData(ret)) throw this.#error(ret, 'Cannot decode a frame');
        if (ret < 0) {
          // Another complaint about the data (e.g. "patches welcome" from a damaged header): counted like invalid
          // data, and the next packet is sent rather than asking again, which could return the same error forever.
          this.#rejectPacket(false, ret);
          return;
        }
        if (this.#strict) throw this.#corrupt(`Corrupt frame ${this.#describe(pts)}: the decoder flagged it corrupt`);
        if (pts !== AV_NOPTS_VALUE) this.#damaged.add(pts);
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

  /**
   * A packet the decoder rejected: counted, or the end of a strict run. `atSend` when sending the packet failed (with
   * one thread, that names it exactly), false when receiving a frame reported it.
   */
  #rejectPacket(atSend: boolean, ret: number): void {
    if (!this.#strict) {
      this.#rejectedPackets++;
      return;
    }
    const ffmpeg = ffmpegStatus(ret);
    // With frame threads, a packet's failure surfaces when a later packet is sent (or a frame received).
    const last = this.#lastSent;
    const exact = atSend && last !== null && (this.#context?.threadCount ?? 0) === 1;
    if (exact) throw this.#corrupt(`Corrupt packet ${this.#describe(last.pts, last.dts)}: the decoder rejected it: ${ffmpeg.text}`, ffmpeg);
    const where = last ? ` at or shortly before (in decode order) the packet ${this.#describe(last.pts, last.dts)}` : '';
    throw this.#corrupt(`Corrupt packet${where}: the decoder rejected it: ${ffmpeg.text}`, ffmpeg);
  }

  /** `of frame 8 (pts 4096, dts 3584, 0.16 s)`: what a strict error can say about a packet or frame. */
  #describe(pts: bigint, dts?: bigint): string {
    const frame = pts === AV_NOPTS_VALUE ? undefined : this.#frameNumber?.(pts);
    const parts = [pts === AV_NOPTS_VALUE ? 'no pts' : `pts ${pts}`];
    if (dts !== undefined && dts !== AV_NOPTS_VALUE) parts.push(`dts ${dts}`);
    if (this.#timeBase && pts !== AV_NOPTS_VALUE) parts.push(`${(Number(pts) * this.#timeBase.num) / this.#timeBase.den} s`);
    return `${frame === undefined ? '' : `of frame ${frame} `}(${parts.join(', ')})`;
  }

  #corrupt(message: string, ffmpeg?: FfmpegStatus): FramepipeError {
    return new FramepipeError(ErrorCode.CORRUPT_DATA, message, ffmpeg ? { ffmpeg } : {});
  }

  /** A failed FFmpeg call: what it was, in words, and FFmpeg's text; the number is kept in `ffmpeg`. */
  #error(ret: number, what: string): FramepipeError {
    const ffmpeg = ffmpegStatus(ret);
    return new FramepipeError(ErrorCode.DECODE_FAILED, `${what} (FFmpeg: ${ffmpeg.text})`, { ffmpeg });
  }
}

/**
 * True for a codec error that says the data is damaged or unusual, as opposed to a failure of the decoder itself
 * (out of memory, or a call it refuses): the first kind spoils a packet or two, the second every packet after it.
 */
function isDamagedData(ret: number): boolean {
  return ret < 0 && ret !== AVERROR_ENOMEM && ret !== AVERROR_EINVAL;
}

/**
 * True when FFmpeg's "non-reference" skip drops only pictures that no picture refers to. H.264's nal_ref_idc 0 and
 * the B-frames of MPEG-1/2/4 are never references. HEVC's non-reference types are only so within their temporal
 * layer, so HEVC qualifies only with one layer: from the `hvcC` record, or else from the SPS in Annex B extradata.
 */
function skipsOnlyUnreferenced(parameters: CodecParameters): boolean {
  const codec = parameters.codecId;
  if (codec === AV_CODEC_ID_H264 || codec === AV_CODEC_ID_MPEG1VIDEO || codec === AV_CODEC_ID_MPEG2VIDEO || codec === AV_CODEC_ID_MPEG4) {
    return true;
  }
  return codec === AV_CODEC_ID_HEVC && hevcTemporalLayers(parameters.extradata) === 1;
}

/** HEVC temporal layers as the extradata states them; undefined when it does not say. */
export function hevcTemporalLayers(extradata: Buffer | null): number | undefined {
  if (!extradata || extradata.length < 23) return undefined;
  if (extradata[0] === 1) {
    // hvcC: byte 21 holds constantFrameRate (2 bits), numTemporalLayers (3), temporalIdNested (1), lengthSize (2).
    const layers = (extradata[21]! >> 3) & 7;
    return layers === 0 ? undefined : layers;
  }
  // Annex B: the first SPS (NAL type 33); after its 2-byte header come sps_video_parameter_set_id (4 bits) and
  // sps_max_sub_layers_minus1 (3 bits).
  for (let i = 0; i + 5 < extradata.length; i++) {
    if (extradata[i] === 0 && extradata[i + 1] === 0 && extradata[i + 2] === 1 && ((extradata[i + 3]! >> 1) & 0x3f) === 33) {
      return ((extradata[i + 5]! >> 1) & 7) + 1;
    }
  }
  return undefined;
}

/** An FFmpeg return code with its text, for an error's `ffmpeg`. */
function ffmpegStatus(ret: number): FfmpegStatus {
  return { code: ret, text: FFmpegError.strerror(ret) };
}

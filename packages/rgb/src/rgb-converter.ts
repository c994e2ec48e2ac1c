import { Transform } from 'streamx';
import { FFmpegError, Frame, SoftwareScaleContext } from 'node-av';
import {
  AVCHROMA_LOC_LEFT,
  AVCHROMA_LOC_UNSPECIFIED,
  AVCOL_RANGE_JPEG,
  AVCOL_SPC_RGB,
  AV_FRAME_DATA_MASTERING_DISPLAY_METADATA,
  AV_FRAME_FLAG_INTERLACED,
  AV_FRAME_FLAG_KEY,
  AV_FRAME_FLAG_TOP_FIELD_FIRST,
  AV_PIX_FMT_ABGR,
  AV_PIX_FMT_ARGB,
  AV_PIX_FMT_BGR0,
  AV_PIX_FMT_BGR24,
  AV_PIX_FMT_BGRA,
  AV_PIX_FMT_GBRAP,
  AV_PIX_FMT_GBRP,
  AV_PIX_FMT_GRAY8,
  AV_PIX_FMT_NV12,
  AV_PIX_FMT_NV16,
  AV_PIX_FMT_NV21,
  AV_PIX_FMT_NV24,
  AV_PIX_FMT_NV42,
  AV_PIX_FMT_PAL8,
  AV_PIX_FMT_RGB0,
  AV_PIX_FMT_RGB24,
  AV_PIX_FMT_RGBA,
  AV_PIX_FMT_UYVY422,
  AV_PIX_FMT_YUV410P,
  AV_PIX_FMT_YUV411P,
  AV_PIX_FMT_YUV420P,
  AV_PIX_FMT_YUV422P,
  AV_PIX_FMT_YUV440P,
  AV_PIX_FMT_YUV444P,
  AV_PIX_FMT_YUVA420P,
  AV_PIX_FMT_YUVA422P,
  AV_PIX_FMT_YUVA444P,
  AV_PIX_FMT_YUYV422,
  AV_PIX_FMT_YUVJ411P,
  AV_PIX_FMT_YUVJ420P,
  AV_PIX_FMT_YUVJ422P,
  AV_PIX_FMT_YUVJ440P,
  AV_PIX_FMT_YUVJ444P,
} from 'node-av/constants';
import type { AVPixelFormat } from 'node-av/constants';
import {
  ErrorCode,
  FrameBudget,
  checkBudget,
  checkPool,
  BufferPool,
  FramepipeError,
  InFlight,
  assertKnownKeys,
  assertOptionsObject,
  checkInteger,
  invalidOption,
  StageBuffers,
} from '@framepipe/common';

/** A decoded frame as packed RGB: `data` holds `height` rows of `width` pixels of 3 bytes (R, G, B). */
export interface RgbFrame {
  /** The frame number (Supervisely's rule). */
  readonly index: number;
  /** Presentation timestamp in the stream's time base. */
  readonly pts: bigint;
  /** Presentation time in seconds. */
  readonly time: number;
  /** Whether the decoder marked the frame as a keyframe (`AV_FRAME_FLAG_KEY`), e.g. an IDR picture. */
  readonly keyframe: boolean;
  readonly width: number;
  readonly height: number;
  /** `width × height × 3` bytes, row-major, no padding. */
  readonly data: Buffer;
}

/** What the converter takes in: a decoded frame and its number. The converter frees the frame. */
export interface NumberedFrameInput {
  readonly frame: Frame;
  readonly index: number;
}

/** Options of {@link RgbConverter}. */
export interface RgbConverterOptions {
  /** Time base of the frames' pts (the demuxer's `info.timeBase`), to compute `time`. */
  timeBase: { num: number; den: number };
  /** Gives a unit back for each input frame that fails to convert (the output frame keeps the unit otherwise). */
  budget?: FrameBudget | undefined;
  /**
   * Turns every picture this many degrees counter-clockwise, e.g. by the demuxer's `info.rotation` to show it
   * upright as a player does (`width` and `height` swap for 90 and 270).
   * @default 0
   */
  rotate?: 0 | 90 | 180 | 270 | undefined;
  /**
   * Takes each frame's `data` from this pool instead of allocating it. Give a pool only when the consumer gives
   * every buffer back (`pool.give(frame.data)`) once it no longer reads it, as `FrameDirSink` does with the same pool.
   */
  pool?: BufferPool | undefined;
  /**
   * Converted frames that may wait in the output buffer.
   * @default 1
   */
  highWaterMark?: number;
}

// The deprecated "J" formats mean "full range"; swscale warns on them, so they are rewritten to the plain format
// with the range stated on the frame, which is what they mean.
const FULL_RANGE_ALIASES = new Map<AVPixelFormat, AVPixelFormat>([
  [AV_PIX_FMT_YUVJ420P, AV_PIX_FMT_YUV420P],
  [AV_PIX_FMT_YUVJ422P, AV_PIX_FMT_YUV422P],
  [AV_PIX_FMT_YUVJ444P, AV_PIX_FMT_YUV444P],
  [AV_PIX_FMT_YUVJ440P, AV_PIX_FMT_YUV440P],
  [AV_PIX_FMT_YUVJ411P, AV_PIX_FMT_YUV411P],
]);

/**
 * 8-bit formats, which keep swscale's default path: fast, and the same bytes as ffmpeg's `-pix_fmt rgb24` (which
 * repeats each chroma sample over the pixels it covers).
 */
const EIGHT_BIT = new Set<AVPixelFormat>([
  AV_PIX_FMT_YUV420P, AV_PIX_FMT_YUV422P, AV_PIX_FMT_YUV444P, AV_PIX_FMT_YUV440P, AV_PIX_FMT_YUV411P, AV_PIX_FMT_YUV410P,
  AV_PIX_FMT_YUVA420P, AV_PIX_FMT_YUVA422P, AV_PIX_FMT_YUVA444P, AV_PIX_FMT_NV12, AV_PIX_FMT_NV21, AV_PIX_FMT_NV16,
  AV_PIX_FMT_NV24, AV_PIX_FMT_NV42, AV_PIX_FMT_YUYV422, AV_PIX_FMT_UYVY422, AV_PIX_FMT_GRAY8, AV_PIX_FMT_PAL8,
  AV_PIX_FMT_RGB24, AV_PIX_FMT_BGR24, AV_PIX_FMT_RGBA, AV_PIX_FMT_BGRA, AV_PIX_FMT_ARGB, AV_PIX_FMT_ABGR, AV_PIX_FMT_RGB0,
  AV_PIX_FMT_BGR0, AV_PIX_FMT_GBRP, AV_PIX_FMT_GBRAP,
]);

/**
 * swscale's flags for every other format (10, 12 bits and more): its default path for them repeats each chroma sample
 * over two pixels across and rounds down (10-bit white, Y 940, came out 253); these interpolate chroma linearly at every
 * pixel, from where the frame sites it, and round to nearest, as a float conversion does, at about the same speed.
 */
const DEEP_FLAGS = 'bilinear+accurate_rnd+full_chroma_int';
/** swscale's own default, which an allocated context starts with. */
const DEFAULT_FLAGS = 'bicubic';

/**
 * Converts numbered decoded frames to {@link RgbFrame}s (packed RGB24) with swscale. The conversion follows each
 * frame's own colour tags: limited or full range (including the `yuvj` formats), the BT.601/BT.709/BT.2020 matrix,
 * 8, 10 or 12 bits. A frame with no matrix tag is read as BT.601, as FFmpeg and PyAV do. The conversion is by the matrix
 * only, as ffmpeg's `-pix_fmt rgb24`: an HDR frame (PQ or HLG, BT.2020) gives its signal's RGB, neither tone- nor
 * gamut-mapped. The input frame is freed.
 *
 * One instance converts one frame at a time (swscale contexts are not safe to share across concurrent calls).
 *
 * @example
 * const converter = new RgbConverter({ timeBase: info.timeBase });
 * converter.write({ frame, index: 0 });
 * converter.on('data', (rgb) => console.log(rgb.index, rgb.width, rgb.height, rgb.data.length));
 */
export class RgbConverter extends Transform {
  #timeBase: { num: number; den: number };
  #budget: FrameBudget | undefined;
  #rotate: 0 | 90 | 180 | 270;
  #pool: BufferPool | undefined;
  #scaler: SoftwareScaleContext | null = null;
  /** The `sws_flags` set on the scaler: {@link DEEP_FLAGS} or {@link DEFAULT_FLAGS}. */
  #flags = DEFAULT_FLAGS;
  #target: Frame | null = null;
  /**
   * The target's RGB plane, read once per target: node-av wraps native memory in a new external Buffer at every
   * `frame.data` read, and V8 counts each as a fresh allocation of its size (6 MB at 1080p), which set off a full
   * garbage collection every few frames. swscale writes into the buffers the target already has, so the plane stays.
   */
  #plane: { data: Buffer; stride: number } | null = null;
  #inFlight = new InFlight();
  #framesConverted = 0;
  readonly #buffered: StageBuffers<NumberedFrameInput, RgbFrame>;

  constructor(options: RgbConverterOptions) {
    const opts = assertOptionsObject(options, 'RgbConverter');
    assertKnownKeys(opts, ['timeBase', 'budget', 'rotate', 'pool', 'highWaterMark'], 'RgbConverter');
    const buffered = new StageBuffers<NumberedFrameInput, RgbFrame>();
    super(buffered.options(checkInteger('highWaterMark', opts.highWaterMark ?? 1, 1)));
    // An RgbFrame is plain memory: only its unit needs giving back.
    this.#buffered = buffered.attach(this, {
      input: ({ frame }) => {
        frame.free();
        this.#budget?.release();
      },
      output: () => this.#budget?.release(),
    });
    const tb = opts.timeBase;
    if (typeof tb !== 'object' || tb === null || !(tb.num > 0) || !(tb.den > 0)) {
      throw invalidOption('timeBase', 'an object { num, den } of positive numbers', tb);
    }
    this.#timeBase = { num: tb.num, den: tb.den };
    this.#budget = checkBudget(opts.budget);
    const rotate = opts.rotate ?? 0;
    if (rotate !== 0 && rotate !== 90 && rotate !== 180 && rotate !== 270) throw invalidOption('rotate', 'one of 0, 90, 180, 270', rotate);
    this.#rotate = rotate;
    this.#pool = checkPool(opts.pool);
  }

  /** Frames converted so far. */
  get framesConverted(): number {
    return this.#framesConverted;
  }

  override _transform(input: NumberedFrameInput, cb: (err: Error | null, data?: unknown) => void): void {
    this.#buffered.take(input);
    const converting = this.#convert(input).finally(() => input.frame.free());
    this.#inFlight.track(converting);
    converting.then(
      (rgb) => {
        if (this.destroying) {
          // Nobody will read a frame pushed now. Giving it back here returns its pooled buffer too, which the
          // release of what is left buffered (only units) would not.
          this.#budget?.release();
          this.#pool?.give(rgb.data);
          cb(null);
          return;
        }
        this.#framesConverted++;
        cb(null, rgb);
      },
      (error: Error) => {
        this.#budget?.release();
        cb(error);
      },
    );
  }

  /**
   * streamx drops, without freeing, what is written to a stream being destroyed, and the stage upstream goes on
   * writing until this one has closed (e.g. the iterator's caller left): free such frames and give their units back.
   */
  override write(input: NumberedFrameInput): boolean {
    return this.#buffered.admit(input) && super.write(input);
  }

  override _destroy(cb: (err: Error | null) => void): void {
    this.#buffered.release();
    this.#inFlight
      .settled()
      .then(() => {
        this.#target?.free();
        this.#target = null;
        this.#plane = null;
        this.#scaler?.freeContext();
        this.#scaler = null;
      })
      .then(() => cb(null), cb);
  }

  async #convert({ frame, index }: NumberedFrameInput): Promise<RgbFrame> {
    const { width, height } = frame;
    // A field-coded picture (interlaced video, or a stream whose damaged header says so) is converted as one picture,
    // as PyAV's reformat and OpenCV do; sws_scale_frame would refuse it, since the RGB target is progressive.
    frame.clearFlags(AV_FRAME_FLAG_INTERLACED, AV_FRAME_FLAG_TOP_FIELD_FIRST);
    const alias = FULL_RANGE_ALIASES.get(frame.format as AVPixelFormat);
    if (alias !== undefined) {
      frame.format = alias;
      frame.colorRange = AVCOL_RANGE_JPEG;
    }
    const target = this.#targetFor(width, height);
    describeLikeSource(target, frame);
    if (!this.#scaler) {
      // Left unconfigured on purpose: sws_scale_frame then sets itself up from the frames' colour properties
      // (range, matrix) and redoes that only when they, or the flags, change.
      this.#scaler = new SoftwareScaleContext();
      this.#scaler.allocContext();
    }
    const flags = EIGHT_BIT.has(frame.format as AVPixelFormat) ? DEFAULT_FLAGS : DEEP_FLAGS;
    // Unsited chroma is co-sited with the even luma columns, as H.264, HEVC and MPEG-2 define 4:2:0 by default and
    // every standard defines 4:2:2 (ProRes, DNxHD, HEVC 4:2:2); swscale would take it as centred between them.
    if (flags === DEEP_FLAGS && frame.chromaLocation === AVCHROMA_LOC_UNSPECIFIED) frame.chromaLocation = AVCHROMA_LOC_LEFT;
    if (flags !== this.#flags) {
      const set = this.#scaler.setOption('sws_flags', flags);
      if (set < 0) throw swscaleFailed(`Cannot set swscale flags ${flags}`, set);
      this.#flags = flags;
    }
    const ret = await this.#scaler.scaleFrame(target, frame);
    if (ret < 0) throw swscaleFailed(`Cannot convert frame ${index} to RGB`, ret);
    const size = width * height * 3;
    const data = packedCopy(this.#plane!, width, height, this.#rotate, this.#pool?.take(size) ?? Buffer.allocUnsafe(size));
    const pts = frame.pts;
    const time = (Number(pts) * this.#timeBase.num) / this.#timeBase.den;
    const turned = this.#rotate === 90 || this.#rotate === 270;
    // The flag, not the deprecated `key_frame` field (AVFrame.keyFrame), which FFmpeg has been phasing out.
    const keyframe = frame.hasFlags(AV_FRAME_FLAG_KEY);
    return { index, pts, time, keyframe, width: turned ? height : width, height: turned ? width : height, data };
  }

  /** One RGB frame is reused as the conversion target; it is rebuilt only when the size changes. */
  #targetFor(width: number, height: number): Frame {
    const current = this.#target;
    if (current && current.width === width && current.height === height) return current;
    current?.free();
    this.#target = null;
    this.#plane = null;
    const target = new Frame();
    target.alloc();
    target.format = AV_PIX_FMT_RGB24;
    target.width = width;
    target.height = height;
    target.colorRange = AVCOL_RANGE_JPEG;
    target.colorSpace = AVCOL_SPC_RGB;
    // Rows padded to a multiple of 32 bytes: swscale's SIMD yuv420p→RGB path writes whole blocks of 8 pixels and,
    // when a row has no room for the last block, skips the last `width % 8` pixels, leaving them unconverted.
    const ret = target.getBuffer(32);
    const plane = ret < 0 ? undefined : target.data?.[0];
    if (!plane) {
      target.free();
      const what = `Cannot allocate a ${width}x${height} RGB frame`;
      throw ret < 0 ? swscaleFailed(what, ret) : new FramepipeError(ErrorCode.DECODE_FAILED, `${what}: FFmpeg gave no plane`);
    }
    this.#target = target;
    this.#plane = { data: plane, stride: target.linesize[0] ?? 0 };
    return target;
  }
}

/**
 * Gives the RGB target the source's primaries, transfer and mastering display, so that it is the same colour space in
 * RGB and swscale converts by the matrix only. Left unspecified, FFmpeg 8's sws_scale_frame takes the target for
 * BT.709 SDR, and gamut- and tone-maps BT.2020 PQ or HLG to it (desaturated, warmer and darker than ffmpeg's
 * `-pix_fmt rgb24`, and several times slower); the same for a PQ source's mastering display, which otherwise makes
 * swscale map 1000-nit content into PQ's 10000 nits.
 */
function describeLikeSource(target: Frame, source: Frame): void {
  target.colorPrimaries = source.colorPrimaries;
  target.colorTrc = source.colorTrc;
  const mastering = source.getSideData(AV_FRAME_DATA_MASTERING_DISPLAY_METADATA);
  const current = target.getSideData(AV_FRAME_DATA_MASTERING_DISPLAY_METADATA);
  if (mastering === null ? current === null : current !== null && mastering.equals(current)) return;
  target.removeSideData(AV_FRAME_DATA_MASTERING_DISPLAY_METADATA);
  if (mastering) mastering.copy(target.newSideData(AV_FRAME_DATA_MASTERING_DISPLAY_METADATA, mastering.length));
}

/** A failed FFmpeg call of the conversion: what it was and FFmpeg's text; the number is kept in `error.ffmpeg`. */
function swscaleFailed(what: string, ret: number): FramepipeError {
  const ffmpeg = { code: ret, text: FFmpegError.strerror(ret) };
  return new FramepipeError(ErrorCode.DECODE_FAILED, `${what} (FFmpeg: ${ffmpeg.text})`, { ffmpeg });
}

/**
 * Copies the native RGB plane into `out` (JS memory, `width × height × 3` bytes) without row padding (the native
 * frame is reused for the next one), turned `rotate` degrees counter-clockwise.
 */
function packedCopy(
  { data: plane, stride }: { data: Buffer; stride: number },
  width: number,
  height: number,
  rotate: 0 | 90 | 180 | 270,
  out: Buffer,
): Buffer {
  const row = width * 3;
  if (rotate === 0 && stride === row) {
    plane.copy(out, 0, 0, row * height);
    return out;
  }
  if (rotate === 0) {
    for (let y = 0; y < height; y++) plane.copy(out, y * row, y * stride, y * stride + row);
    return out;
  }
  // Output pixel offsets move by a fixed step per source pixel, so each row needs one start and one step, not a
  // computation per pixel: (x, y) lands at (height-1-y, width-1-x) for 180, (y, width-1-x) turned for 90, and
  // (height-1-y, x) turned for 270.
  const [first, perPixel, perRow] =
    rotate === 180 ? [width * height - 1, -1, -width] : rotate === 90 ? [(width - 1) * height, -height, 1] : [height - 1, height, -1];
  for (let y = 0; y < height; y++) {
    let from = y * stride;
    let to = (first + y * perRow) * 3;
    for (let x = 0; x < width; x++, from += 3, to += perPixel * 3) {
      out[to] = plane[from]!;
      out[to + 1] = plane[from + 1]!;
      out[to + 2] = plane[from + 2]!;
    }
  }
  return out;
}

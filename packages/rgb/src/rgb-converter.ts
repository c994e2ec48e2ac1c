import { Transform } from 'streamx';
import { FFmpegError, Filter, FilterGraph, Frame, SoftwareScaleContext, avImageAllocArrays, avImageCopy2 } from 'node-av/lib';
import type { FilterContext } from 'node-av/lib';
import {
  AVCHROMA_LOC_LEFT,
  AVCHROMA_LOC_UNSPECIFIED,
  AVCOL_RANGE_JPEG,
  AVCOL_SPC_RGB,
  AV_BUFFERSRC_FLAG_KEEP_REF,
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
  AV_PIX_FMT_GBRP16LE,
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
  PIXEL_LAYOUT,
} from '@framepipe/common';
import { checkGeometry, planGeometry, storedRect } from './frame-geometry.ts';
import type { FrameGeometryOptions, FrameGeometrySettings, GeometryPlan, Rect } from './frame-geometry.ts';
import type { PixelFormat } from '@framepipe/common';

/**
 * A converted frame: `data` holds `height` rows of `width` pixels in `format` (3 bytes R, G, B for the default
 * `rgb24`), packed: each row `stride` bytes, no padding.
 */
export interface RgbFrame {
  /** The frame number (Supervisely's rule). */
  readonly index: number;
  /** Presentation timestamp in the stream's time base. */
  readonly pts: bigint;
  /**
   * Presentation time in seconds on the stream's clock (`pts` × time base). Most MP4 clocks start at 0; an MPEG-TS
   * clock starts anywhere, so there `time` is not the time from the first frame that the selections by time
   * (`timestamps`, `startTime`, `fps`) and `VideoReader.getFrameAt` count: subtract the first frame's `time`
   * (`VideoReader.info.startTime`).
   */
  readonly time: number;
  /** Whether the decoder marked the frame as a keyframe (`AV_FRAME_FLAG_KEY`), e.g. an IDR picture. */
  readonly keyframe: boolean;
  readonly width: number;
  readonly height: number;
  /** The layout of each pixel (see `PixelFormat`). */
  readonly format: PixelFormat;
  /** Channels per pixel: 3 for `rgb24`, `bgr24` and `rgb48`, 4 for `rgba`, 1 for `gray8`. */
  readonly channels: number;
  /** Bytes per row: `width × channels`, twice that for `rgb48`. */
  readonly stride: number;
  /**
   * `height × stride` bytes, row-major, no padding. The frame's own, unless it came from a pool that its consumer
   * gives buffers back to (`reuseBuffers`, `FrameDirSink`): then its memory serves a later frame once given back.
   */
  readonly data: Buffer;
}

/** What the converter takes in: a decoded frame and its number. The converter frees the frame. */
export interface NumberedFrameInput {
  readonly frame: Frame;
  readonly index: number;
}

/** Options of {@link RgbConverter}: the size, crop and pixel format of its frames, and how it runs. */
export interface RgbConverterOptions extends FrameGeometryOptions {
  /** Time base of the frames' pts (the demuxer's `info.timeBase`), to compute `time`. */
  timeBase: { num: number; den: number };
  /** Gives a unit back for each input frame that fails to convert (the output frame keeps the unit otherwise). */
  budget?: FrameBudget | undefined;
  /**
   * Turns every picture this many degrees counter-clockwise, e.g. by the demuxer's `info.rotation` to show it
   * upright as a player does (`width` and `height` swap for 90 and 270). `crop` and `size` apply to the turned picture.
   * @default 0
   */
  rotate?: 0 | 90 | 180 | 270 | undefined;
  /**
   * Takes each frame's `data` from this pool instead of allocating it. Give a pool only when the consumer gives
   * every buffer back (`pool.give(frame.data)`) once it no longer reads it, as `FrameDirSink` does with the same pool.
   * @default none: each frame gets a buffer of its own, which the consumer may keep
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
 * The FFmpeg format each output format is converted to. `rgb48` goes through planar 16-bit GBR, interleaved after:
 * FFmpeg 8's path into packed rgb48 does not clip with full chroma interpolation (a saturated colour whose R, G or B
 * falls outside the range wraps around: on the 10-bit colour fixture a green of 0 came out 65535), and without it
 * repeats each chroma sample over two pixels (on 10-bit colour grain, 1.9 levels from a floating-point conversion
 * against 0.26 through GBR); its path into planar GBR clips.
 */
const TARGET_FORMATS: Readonly<Record<PixelFormat, AVPixelFormat>> = {
  rgb24: AV_PIX_FMT_RGB24,
  bgr24: AV_PIX_FMT_BGR24,
  rgba: AV_PIX_FMT_RGBA,
  gray8: AV_PIX_FMT_GRAY8,
  rgb48: AV_PIX_FMT_GBRP16LE,
};

/** What the converter does to frames of one stored size: the plan, and the same in the stored picture's terms. */
interface SizedPlan {
  readonly width: number;
  readonly height: number;
  readonly plan: GeometryPlan;
  /** The plan's source rectangle in the stored picture. */
  readonly crop: Rect;
  /** The size swscale scales to: the plan's `scaled`, sides swapped for a quarter turn. */
  readonly scaled: { readonly width: number; readonly height: number };
}

/**
 * Converts numbered decoded frames to {@link RgbFrame}s (packed RGB24 by default, or another `pixelFormat`) with
 * swscale, cropped and resized in the same pass when asked (`crop`, `size`, `fit`, `maxSide`, `scaleFilter`). The
 * conversion follows each frame's own colour tags: limited or full range (including the `yuvj` formats), the
 * BT.601/BT.709/BT.2020 matrix, 8, 10 or 12 bits. A frame with no matrix tag is read as BT.601, as FFmpeg and PyAV do.
 * The conversion is by the matrix only, as ffmpeg's `-pix_fmt rgb24`: an HDR frame (PQ or HLG, BT.2020) gives its
 * signal's RGB, neither tone- nor gamut-mapped. The input frame is freed.
 *
 * One instance converts one frame at a time (swscale contexts are not safe to share across concurrent calls).
 *
 * @example
 * const converter = new RgbConverter({ timeBase: info.timeBase, size: { width: 224 }, pixelFormat: 'bgr24' });
 * converter.write({ frame, index: 0 });
 * converter.on('data', (rgb) => console.log(rgb.index, rgb.width, rgb.height, rgb.format, rgb.data.length));
 */
export class RgbConverter extends Transform {
  #timeBase: { num: number; den: number };
  #budget: FrameBudget | undefined;
  #rotate: 0 | 90 | 180 | 270;
  #pool: BufferPool;
  #geometry: FrameGeometrySettings;
  #sized: SizedPlan | null = null;
  #scaler: SoftwareScaleContext | null = null;
  /** The `sws_flags` set on the scaler: {@link DEEP_FLAGS} or {@link DEFAULT_FLAGS}, or a filter's when resizing. */
  #flags = DEFAULT_FLAGS;
  #target: Frame | null = null;
  /**
   * The target's plane, read once per target: node-av wraps native memory in a new external Buffer at every
   * `frame.data` read, and V8 counts each as a fresh allocation of its size (6 MB at 1080p), which set off a full
   * garbage collection every few frames. swscale writes into the buffers the target already has, so the plane stays.
   */
  #plane: { data: Buffer; stride: number } | null = null;
  /** For `rgb48`: the target's G, B and R planes as 16-bit views, and their rows in samples, interleaved into {@link plane}. */
  #planar: { planes: Uint16Array[]; rows: number[] } | null = null;
  /** FFmpeg's filters for a crop whose corner is not the picture's, and for a quarter turn (see {@link cropOf}). */
  #cropper: PlaneGraph | null = null;
  /** The cropped part of a frame, copied, for a format FFmpeg's `crop` filter does not take (see {@link cropOf}). */
  #cropped: { frame: Frame; planes: Buffer[] } | null = null;
  #inFlight = new InFlight();
  #framesConverted = 0;
  readonly #buffered: StageBuffers<NumberedFrameInput, RgbFrame>;

  constructor(options: RgbConverterOptions) {
    const opts = assertOptionsObject(options, 'RgbConverter');
    assertKnownKeys(
      opts,
      ['timeBase', 'budget', 'rotate', 'pool', 'highWaterMark', 'size', 'fit', 'maxSide', 'crop', 'scaleFilter', 'pixelFormat'],
      'RgbConverter',
    );
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
    this.#pool = checkPool(opts.pool) ?? new BufferPool(1);
    this.#geometry = checkGeometry(opts);
  }

  /** Frames converted so far. */
  get framesConverted(): number {
    return this.#framesConverted;
  }

  /** Buffers its pool allocated because none was free (with a pool shared with a sink, the pool's whole count). */
  get buffersAllocated(): number {
    return this.#pool.allocated;
  }

  /**
   * The size of the frames this converter makes from stored pictures of `width × height`; throws the
   * `ERR_FRAMEPIPE_INVALID_OPTION` of a crop that does not fit them. Lets a caller check the options once the video's
   * size is known, before the first frame.
   */
  outputSize(width: number, height: number): { width: number; height: number } {
    const { output } = this.#planFor(width, height).plan;
    return { width: output.width, height: output.height };
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
          this.#pool.give(rgb.data);
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
        this.#planar = null;
        this.#cropped?.frame.free();
        this.#cropped = null;
        this.#cropper?.free();
        this.#cropper = null;
        this.#scaler?.freeContext();
        this.#scaler = null;
      })
      .then(() => cb(null), cb);
  }

  async #convert({ frame, index }: NumberedFrameInput): Promise<RgbFrame> {
    // A field-coded picture (interlaced video, or a stream whose damaged header says so) is converted as one picture,
    // as PyAV's reformat and OpenCV do; sws_scale_frame would refuse it, since the RGB target is progressive.
    frame.clearFlags(AV_FRAME_FLAG_INTERLACED, AV_FRAME_FLAG_TOP_FIELD_FIRST);
    const alias = FULL_RANGE_ALIASES.get(frame.format as AVPixelFormat);
    if (alias !== undefined) {
      frame.format = alias;
      frame.colorRange = AVCOL_RANGE_JPEG;
    }
    const { plan, crop, scaled: stored } = this.#planFor(frame.width, frame.height);
    const eightBit = EIGHT_BIT.has(frame.format as AVPixelFormat);
    // Unsited chroma is co-sited with the even luma columns, as H.264, HEVC and MPEG-2 define 4:2:0 by default and
    // every standard defines 4:2:2 (ProRes, DNxHD, HEVC 4:2:2); swscale would take it as centred between them.
    if (!eightBit && frame.chromaLocation === AVCHROMA_LOC_UNSPECIFIED) frame.chromaLocation = AVCHROMA_LOC_LEFT;
    const { picture: source, turned } = this.#cropOf(frame, crop, eightBit);
    // Turned already (a quarter turn of the planes), the picture is scaled to the upright size and copied as it is.
    const scaled = turned ? plan.scaled : stored;
    const rotate = turned ? 0 : this.#rotate;
    const target = this.#targetFor(scaled.width, scaled.height);
    describeLikeSource(target, source);
    if (!this.#scaler) {
      // Left unconfigured on purpose: sws_scale_frame then sets itself up from the frames' colour properties
      // (range, matrix) and redoes that only when they, or the flags, change.
      this.#scaler = new SoftwareScaleContext();
      this.#scaler.allocContext();
    }
    const resized = scaled.width !== source.width || scaled.height !== source.height;
    const flags = swsFlags(this.#geometry, resized ? { from: source, to: scaled } : null, eightBit);
    if (eightBit) {
      // 8-bit chroma is resized as centred between the luma columns whatever the stream says, as swscale's own API
      // (ffmpeg 5.1's scale filter, PyAV, OpenCV) does; FFmpeg 8's sws_scale_frame would follow the tag, and H.264's
      // and HEVC's default (co-sited with the even columns) then moves every chroma sample a quarter pixel: on grain,
      // where chroma changes from pixel to pixel, a mean of 1 level and 1% of bytes 16 or more from ffmpeg's. A
      // frame that keeps its size repeats each chroma sample over the pixels it covers, wherever it is sited.
      source.chromaLocation = AVCHROMA_LOC_UNSPECIFIED;
    }
    if (flags !== this.#flags) {
      const set = this.#scaler.setOption('sws_flags', flags);
      if (set < 0) throw swscaleFailed(`Cannot set swscale flags ${flags}`, set);
      this.#flags = flags;
    }
    const ret = await this.#scaler.scaleFrame(target, source).finally(() => {
      // The filter's frame holds a reference to the decoded frame's buffers: let them go with the frame.
      if (source !== frame && source === this.#cropper?.output) source.unref();
    });
    if (ret < 0) throw swscaleFailed(`Cannot convert frame ${index} to ${this.#geometry.pixelFormat}`, ret);
    const format = this.#geometry.pixelFormat;
    const { channels, bytesPerPixel } = PIXEL_LAYOUT[format];
    const { output, offset } = plan;
    const stride = output.width * bytesPerPixel;
    const size = stride * output.height;
    const out = this.#pool.take(size);
    if (output.width !== plan.scaled.width || output.height !== plan.scaled.height) padBlack(out, format);
    if (this.#planar) interleave(this.#planar, this.#plane!.data, scaled.width, scaled.height);
    const data = packedCopy(this.#plane!, scaled.width, scaled.height, rotate, bytesPerPixel, out, stride, offset);
    const pts = frame.pts;
    const time = (Number(pts) * this.#timeBase.num) / this.#timeBase.den;
    // The flag, not the deprecated `key_frame` field (AVFrame.keyFrame), which FFmpeg has been phasing out.
    const keyframe = frame.hasFlags(AV_FRAME_FLAG_KEY);
    return { index, pts, time, keyframe, width: output.width, height: output.height, format, channels, stride, data };
  }

  /** The plan for stored pictures of `width × height`, made once per size. */
  #planFor(width: number, height: number): SizedPlan {
    const current = this.#sized;
    if (current && current.width === width && current.height === height) return current;
    const turned = this.#rotate === 90 || this.#rotate === 270;
    const plan = planGeometry(this.#geometry, turned ? height : width, turned ? width : height);
    const crop = storedRect(plan.source, this.#rotate, width, height);
    const scaled = turned ? { width: plan.scaled.height, height: plan.scaled.width } : plan.scaled;
    this.#sized = { width, height, plan, crop, scaled };
    return this.#sized;
  }

  /**
   * The part of `frame` that `crop` keeps, and whether it is `turned` upright already. A crop from the top left corner
   * only narrows the frame (its planes stay where they are). Another goes through FFmpeg's `crop` filter, which moves
   * the planes' pointers in a new reference to the same buffers: no copy, and no plane read into JS (node-av wraps each
   * plane in a new external Buffer at every `frame.data` read, which V8 counts as that much fresh memory: the copy this
   * replaced, `av_image_copy2` from such views, cost 4 ms more than a plain conversion for a 1080p frame, and a full
   * garbage collection every few frames). A format the filter does not take (packed 4:2:2) is still copied. The corner
   * moves to even coordinates where the chroma is subsampled, as ffmpeg's `crop` filter does it.
   *
   * An 8-bit picture turned a quarter turn (`rotate` 90 or 270) is turned here, by FFmpeg's `transpose` filter on its
   * Y, U and V planes, as ffmpeg's autorotation does, so that swscale scales it upright: swscale repeats chroma across
   * a row of RGB and interpolates it down a column, so a picture scaled as stored and turned as RGB after has its
   * chroma repeated down the columns instead (on grain, a mean of 3 levels from ffmpeg's bytes). A picture that keeps
   * its size comes out the same either way. Deep formats interpolate chroma both ways (`full_chroma_int`), so the order
   * does not matter there (tried on 10-bit grain: the same figures against ffmpeg to the third decimal), and they, and
   * formats `transpose` does not take (4:2:2, whose chroma would be subsampled down the columns once turned), are
   * turned as RGB.
   */
  #cropOf(frame: Frame, crop: Rect, eightBit: boolean): { picture: Frame; turned: boolean } {
    const format = frame.format as AVPixelFormat;
    const turn = eightBit && !TRANSPOSE_REFUSES.has(format) ? QUARTER_TURNS[this.#rotate] : undefined;
    const whole = crop.width === frame.width && crop.height === frame.height;
    if (whole && !turn) return { picture: frame, turned: false };
    let at: Rect | null = null;
    if (!whole) {
      const layout = planeLayout(format);
      // The corner moves left and up in the picture as shown, as ffmpeg's crop does on the turned picture: a side of the
      // stored picture that the turn reverses (its x for 90, y for 270, both for 180) moves the other way, where there is room.
      const x = alignedCorner(crop.x, crop.width, frame.width, layout.alignX, this.#rotate === 90 || this.#rotate === 180);
      const y = alignedCorner(crop.y, crop.height, frame.height, layout.alignY, this.#rotate === 270 || this.#rotate === 180);
      if (x === 0 && y === 0) narrowed(frame, crop);
      else at = { x, y, width: crop.width, height: crop.height };
    }
    if (turn) {
      const turned = this.#filtered(frame, [...(at ? [cropFilter(at)] : []), ['transpose', `dir=${turn}`]]);
      if (turned) return { picture: turned, turned: true };
      // Remembered, so that frames of that format are not each sent to build and free a graph that will not turn.
      TRANSPOSE_REFUSES.add(format);
    }
    if (!at) return { picture: frame, turned: false };
    const cropped = CROP_FILTER_REFUSES.has(format) ? null : this.#filtered(frame, [cropFilter(at)]);
    if (!cropped) CROP_FILTER_REFUSES.add(format);
    return { picture: cropped ?? this.#copiedCrop(frame, at, planeLayout(format)), turned: false };
  }

  /** `frame` through FFmpeg's `filters` (a graph kept while the frames and filters stay the same), or null when they do not take its format. */
  #filtered(frame: Frame, filters: readonly PlaneFilter[]): Frame | null {
    if (this.#cropper && !this.#cropper.fits(frame, filters)) {
      this.#cropper.free();
      this.#cropper = null;
    }
    this.#cropper ??= PlaneGraph.open(frame, filters);
    return this.#cropper?.filter(frame) ?? null;
  }

  /** The `at` part of `frame` copied into a frame of its own (reused): `av_image_copy2` from views into the planes. */
  #copiedCrop(frame: Frame, at: Rect, layout: PlaneLayout): Frame {
    const format = frame.format as AVPixelFormat;
    const planes = frame.data ?? [];
    const target = this.#croppedFrame(format, at.width, at.height);
    const copied = target.frame.copyProps(frame);
    if (copied < 0) throw swscaleFailed('Cannot copy the properties of a frame to crop', copied);
    const linesizes = frame.linesize.slice(0, planes.length);
    const from = planes.map((plane, p) => plane.subarray((at.y >> layout.rowShift[p]!) * linesizes[p]! + at.x * layout.bytesPerColumn[p]!));
    avImageCopy2(target.planes, target.frame.linesize.slice(0, planes.length), from, linesizes, format, at.width, at.height);
    return target.frame;
  }

  #croppedFrame(format: AVPixelFormat, width: number, height: number): { frame: Frame; planes: Buffer[] } {
    const current = this.#cropped;
    if (current && current.frame.format === format && current.frame.width === width && current.frame.height === height) return current;
    current?.frame.free();
    this.#cropped = null;
    const frame = allocFrame(format, width, height, 'crop');
    this.#cropped = { frame, planes: frame.data ?? [] };
    return this.#cropped;
  }

  /** One target frame is reused for the conversion; it is rebuilt only when the size changes. */
  #targetFor(width: number, height: number): Frame {
    const current = this.#target;
    if (current && current.width === width && current.height === height) return current;
    current?.free();
    this.#target = null;
    this.#plane = null;
    this.#planar = null;
    const format = this.#geometry.pixelFormat;
    const target = allocFrame(TARGET_FORMATS[format], width, height, format);
    target.colorRange = AVCOL_RANGE_JPEG;
    if (format !== 'gray8') target.colorSpace = AVCOL_SPC_RGB;
    this.#target = target;
    if (format === 'rgb48') {
      // Planar G, B, R, in this order; rows padded to 32 bytes, so each plane starts on an even byte.
      const [g, b, r] = target.data!.map((plane) => new Uint16Array(plane.buffer, plane.byteOffset, plane.length >> 1));
      this.#planar = { planes: [r!, g!, b!], rows: [2, 0, 1].map((p) => target.linesize[p]! >> 1) };
      this.#plane = { data: Buffer.alloc(width * height * 6), stride: width * 6 };
    } else {
      this.#plane = { data: target.data![0]!, stride: target.linesize[0] ?? 0 };
    }
    return target;
  }
}

/**
 * A crop's corner `at` on a chroma grid of `step` pixels: down to the grid line before it, or, when `reversed` (the
 * stored side runs the other way in the picture as shown), up to the one after it if the crop still fits in `size`.
 */
function alignedCorner(at: number, length: number, size: number, step: number, reversed: boolean): number {
  const down = at - (at % step);
  const up = down === at ? at : down + step;
  return reversed && up + length <= size ? up : down;
}

/** `frame` cut to the top left `width × height` of its picture: its planes stay where they are. */
function narrowed(frame: Frame, { width, height }: Rect): Frame {
  frame.width = width;
  frame.height = height;
  return frame;
}

/**
 * A frame with buffers. Rows are padded to a multiple of 32 bytes: swscale's SIMD yuv420p→RGB path writes whole blocks
 * of 8 pixels and, when a row has no room for the last block, skips the last `width % 8` pixels, leaving them
 * unconverted.
 */
function allocFrame(format: AVPixelFormat, width: number, height: number, what: string): Frame {
  const frame = new Frame();
  frame.alloc();
  frame.format = format;
  frame.width = width;
  frame.height = height;
  const ret = frame.getBuffer(32);
  const plane = ret < 0 ? undefined : frame.data?.[0];
  if (!plane) {
    frame.free();
    const failed = `Cannot allocate a ${width}x${height} ${what} frame`;
    throw ret < 0 ? swscaleFailed(failed, ret) : new FramepipeError(ErrorCode.DECODE_FAILED, `${failed}: FFmpeg gave no plane`);
  }
  return frame;
}

/**
 * The swscale flags of a conversion: {@link DEFAULT_FLAGS} or {@link DEEP_FLAGS} at the same size; for a resize, the
 * filter asked for (`auto`: area to make smaller, bicubic to make larger), with the accurate rounding and full chroma
 * interpolation of {@link DEEP_FLAGS} for deep formats. (swscale interpolates chroma at every pixel into planar GBR,
 * the way to `rgb48`, whatever the flags.)
 */
function swsFlags(
  { scaleFilter }: FrameGeometrySettings,
  resize: { from: { width: number; height: number }; to: { width: number; height: number } } | null,
  eightBit: boolean,
): string {
  if (!resize) return eightBit ? DEFAULT_FLAGS : DEEP_FLAGS;
  const { from, to } = resize;
  const name = scaleFilter !== 'auto' ? scaleFilter : to.width <= from.width && to.height <= from.height ? 'area' : 'bicubic';
  return eightBit ? name : `${name}+accurate_rnd+full_chroma_int`;
}

/** Interleaves the R, G and B planes of `planar` (`width × height` samples) into `packed`, 3 samples a pixel, 16-bit LE. */
function interleave({ planes, rows }: { planes: Uint16Array[]; rows: number[] }, packed: Buffer, width: number, height: number): void {
  const out = new Uint16Array(packed.buffer, packed.byteOffset, packed.length >> 1);
  const [r, g, b] = planes as [Uint16Array, Uint16Array, Uint16Array];
  const [rr, gr, br] = rows as [number, number, number];
  let o = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0, ri = y * rr, gi = y * gr, bi = y * br; x < width; x++) {
      out[o++] = r[ri++]!;
      out[o++] = g[gi++]!;
      out[o++] = b[bi++]!;
    }
  }
}

/**
 * Where a crop may start in each plane of a format: bytes per column of the picture, the rows of the picture per row of
 * each plane (as a shift), and the steps of the corner.
 */
interface PlaneLayout {
  readonly bytesPerColumn: readonly number[];
  readonly rowShift: readonly number[];
  readonly alignX: number;
  readonly alignY: number;
}

/** Packed 4:2:2 formats: one plane, but two pixels share their chroma, so a crop starts at an even column. */
const PACKED_422 = new Set<AVPixelFormat>([AV_PIX_FMT_YUYV422, AV_PIX_FMT_UYVY422]);
const PLANE_LAYOUTS = new Map<AVPixelFormat, PlaneLayout>();

/**
 * The layout of a format's planes, from the line sizes FFmpeg gives pictures 1 and 64 pixels wide and the planes of a
 * 64×64 frame: a plane's bytes per column, and its subsampling (64 columns of a plane subsampled by 2 take 32 times the
 * bytes of one; its plane of a 64-row picture has 32 rows).
 */
function planeLayout(format: AVPixelFormat): PlaneLayout {
  const known = PLANE_LAYOUTS.get(format);
  if (known) return known;
  const one = avImageAllocArrays(1, 1, format, 1).linesizes;
  const wide = avImageAllocArrays(64, 64, format, 1).linesizes;
  const planes = wide.filter((size) => size > 0).length;
  const linesizes = wide.slice(0, planes);
  const bytesPerColumn = linesizes.map((size) => size / 64);
  const shift = Math.max(0, ...linesizes.map((size, p) => Math.round(Math.log2(64 / (size / one[p]!)))));
  // The arrays come as one buffer: the rows of each plane are read from a frame's, once for the format.
  const frame = allocFrame(format, 64, 64, 'layout');
  const rowShift = (frame.data ?? []).map((plane, p) => Math.round(Math.log2(64 / Math.max(1, plane.length / (frame.linesize[p] ?? 1)))));
  frame.free();
  const layout = {
    bytesPerColumn,
    rowShift,
    alignX: PACKED_422.has(format) ? Math.max(2, 1 << shift) : 1 << shift,
    alignY: 1 << Math.max(0, ...rowShift),
  };
  PLANE_LAYOUTS.set(format, layout);
  return layout;
}

/** Formats FFmpeg's `crop` filter does not take (packed 4:2:2): their crops are copied. Found once per process. */
const CROP_FILTER_REFUSES = new Set<AVPixelFormat>();
/** Formats FFmpeg's `transpose` filter does not take (4:2:2 and others not subsampled alike both ways): turned as RGB. */
const TRANSPOSE_REFUSES = new Set<AVPixelFormat>();

/** `transpose`'s direction for a turn of the picture counter-clockwise, as ffmpeg's autorotation inserts it. */
const QUARTER_TURNS: Readonly<Record<0 | 90 | 180 | 270, 'cclock' | 'clock' | undefined>> = { 0: undefined, 90: 'cclock', 180: undefined, 270: 'clock' };

/** One of FFmpeg's filters on a picture's planes: its name and arguments. */
type PlaneFilter = readonly [name: string, args: string];

/** `exact`: the corner is aligned already, by the rule of the picture as shown. */
function cropFilter(at: Rect): PlaneFilter {
  return ['crop', `w=${at.width}:h=${at.height}:x=${at.x}:y=${at.y}:exact=1`];
}

/**
 * FFmpeg's filters on the planes (`crop`, `transpose`) between a buffer source and a sink, for frames of one format,
 * size and colour tags, in their format: `crop` alone gives each frame as a new reference to the same buffers with the
 * planes' pointers moved to the crop's corner, and the size of the crop; `transpose` writes the turned planes into
 * buffers of the graph's pool. One per converter, rebuilt when the frames or the filters change.
 */
class PlaneGraph {
  readonly output: Frame;
  readonly #graph: FilterGraph;
  readonly #source: FilterContext;
  readonly #sink: FilterContext;
  readonly #key: string;

  private constructor(graph: FilterGraph, source: FilterContext, sink: FilterContext, key: string) {
    this.#graph = graph;
    this.#source = source;
    this.#sink = sink;
    this.#key = key;
    this.output = new Frame();
    this.output.alloc();
  }

  /** The graph for frames like `frame`, or null when a filter does not take their format. */
  static open(frame: Frame, filters: readonly PlaneFilter[]): PlaneGraph | null {
    const graph = new FilterGraph();
    graph.alloc();
    // One frame at a time, on the converter's own thread: a pool would only cost threads.
    graph.nbThreads = 1;
    const filter = (name: string, args: string | null) => {
      const context = graph.createFilter(Filter.getByName(name)!, name, args);
      if (!context) throw new FramepipeError(ErrorCode.DECODE_FAILED, `Cannot create FFmpeg's ${name} filter (${args})`);
      return context;
    };
    try {
      const source = filter('buffer', sourceArgs(frame));
      const chain = [source, ...filters.map(([name, args]) => filter(name, args)), filter('buffersink', null)];
      const links = chain.slice(1).map((next, i) => chain[i]!.link(0, next, 0));
      for (const ret of [...links, graph.configSync()]) {
        if (ret < 0) throw swscaleFailed(`Cannot set up FFmpeg's ${filters.map(([name]) => name).join(', ')} filter`, ret);
      }
      const sink = chain.at(-1)!;
      // A format a filter does not take would have a conversion put before it: not a crop or a turn of the planes any more.
      if (sink.buffersinkGetFormat() !== frame.format) {
        graph.free();
        return null;
      }
      return new PlaneGraph(graph, source, sink, graphKey(frame, filters));
    } catch (error) {
      graph.free();
      throw error;
    }
  }

  /** Whether the graph runs `filters` on frames like `frame`. */
  fits(frame: Frame, filters: readonly PlaneFilter[]): boolean {
    return this.#key === graphKey(frame, filters);
  }

  /** `frame` through the filters: {@link output}, to `unref` once read. */
  filter(frame: Frame): Frame {
    // A frame left from a conversion that failed before its unref.
    this.output.unref();
    const added = this.#source.buffersrcAddFrameSync(frame, AV_BUFFERSRC_FLAG_KEEP_REF);
    if (added < 0) throw swscaleFailed("Cannot pass a frame to FFmpeg's filters", added);
    const got = this.#sink.buffersinkGetFrameSync(this.output);
    if (got < 0) throw swscaleFailed("Cannot take a frame from FFmpeg's filters", got);
    return this.output;
  }

  free(): void {
    this.output.free();
    this.#graph.free();
  }
}

/** The buffer source's arguments for frames like `frame`: with their colour tags, which it warns about otherwise. */
function sourceArgs(frame: Frame): string {
  return `video_size=${frame.width}x${frame.height}:pix_fmt=${frame.format}:time_base=1/1:pixel_aspect=1/1:colorspace=${frame.colorSpace}:range=${frame.colorRange}`;
}

function graphKey(frame: Frame, filters: readonly PlaneFilter[]): string {
  return `${sourceArgs(frame)} ${filters.map(([name, args]) => `${name}=${args}`).join(',')}`;
}

const OPAQUE_BLACK = Buffer.from([0, 0, 0, 255]);

/** Fills an output frame with black: zeros, and an opaque alpha for `rgba`. */
function padBlack(out: Buffer, format: PixelFormat): void {
  if (format === 'rgba') out.fill(OPAQUE_BLACK);
  else out.fill(0);
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
 * Copies the native plane (`width × height` pixels of `bpp` bytes) into `out` (JS memory, rows of `stride` bytes)
 * without row padding (the native frame is reused for the next one), turned `rotate` degrees counter-clockwise, with
 * its top left corner at `offset` of the turned picture (the rest of `out` is padding, filled before).
 */
function packedCopy(
  { data: plane, stride: from }: { data: Buffer; stride: number },
  width: number,
  height: number,
  rotate: 0 | 90 | 180 | 270,
  bpp: number,
  out: Buffer,
  stride: number,
  offset: { readonly x: number; readonly y: number },
): Buffer {
  const row = width * bpp;
  const start = offset.y * stride + offset.x * bpp;
  if (rotate === 0 && from === row && stride === row) {
    plane.copy(out, start, 0, row * height);
    return out;
  }
  if (rotate === 0) {
    for (let y = 0; y < height; y++) plane.copy(out, start + y * stride, y * from, y * from + row);
    return out;
  }
  // Output pixel offsets move by a fixed step per source pixel, so each row needs one start and one step, not a
  // computation per pixel: (x, y) lands at (height-1-y, width-1-x) for 180, (y, width-1-x) turned for 90, and
  // (height-1-y, x) turned for 270 (in pixels of the turned picture, whose rows are `stride` bytes).
  const [first, perPixel, perRow] =
    rotate === 180
      ? [(height - 1) * stride + (width - 1) * bpp, -bpp, -stride]
      : rotate === 90
        ? [(width - 1) * stride, -stride, bpp]
        : [(height - 1) * bpp, stride, -bpp];
  for (let y = 0; y < height; y++) {
    let source = y * from;
    let to = start + first + y * perRow;
    for (let x = 0; x < width; x++, source += bpp, to += perPixel) {
      for (let b = 0; b < bpp; b++) out[to + b] = plane[source + b]!;
    }
  }
  return out;
}

import type { PngOptions, Sharp, WebpOptions } from 'sharp';
import { BufferPool, PIXEL_LAYOUT, assertKnownKeys, assertOptionsObject, checkOneOf, checkPool, conflictingOptions } from '@framepipe/common';
import type { PixelFormat } from '@framepipe/common';
import type { SinkFrame } from './sink-frame.ts';

/** The image formats the built-in encoder writes. */
export const IMAGE_EXTENSIONS = ['png', 'jpg', 'jpeg', 'webp'] as const;
export type ImageExtension = (typeof IMAGE_EXTENSIONS)[number];

/** What {@link FrameEncoder.encode} reads of a frame. */
type RawFrame = Pick<SinkFrame, 'width' | 'height' | 'data' | 'format'>;

/**
 * JPEG quality of libjpeg-turbo's TurboJPEG API, which @julusian/jpeg-turbo calls with its fast integer DCT: at 95,
 * OpenCV's default, its frames come out 0.01–0.02 dB below OpenCV's (accurate DCT) on the bench clips; at 96 they are
 * above it on both (testsrc2 and a grainy clip), for 8–17% more bytes, and still cost less CPU than sharp at 95.
 */
const JPEG_QUALITY = 96;
const WEBP: WebpOptions = { quality: 90 };
/**
 * PNG as OpenCV's level 1 without row filters (sharp's adaptive filtering costs five times the CPU). @napi-rs/image
 * (adaptive filters, fdeflate) wrote files a third smaller, under OpenCV's, and cost less CPU on grainy footage, but
 * it keeps each frame's decoded copy in native memory until V8 collects its Transformer: 852 MiB peak RSS against
 * 345 on the 1080p bench clip, and twice sharp's CPU on flat frames (BENCHMARKS.md, issue 17).
 */
const PNG: PngOptions = { compressionLevel: 1, adaptiveFiltering: false };

// The codecs are loaded with the first frame of their format: a run that writes JPEG never loads libvips, and a
// command that writes no image (probe, raw frames to stdout) loads none of them.
type Turbo = typeof import('@julusian/jpeg-turbo');
type SharpModule = typeof import('sharp').default;
let turboModule: Promise<Turbo> | undefined;
let sharpModule: Promise<SharpModule> | undefined;
/** The default export of a CommonJS module, or the module itself when it has none. */
const commonJs = <T>(loaded: { default?: T }): T => loaded.default ?? (loaded as T);
const loadTurbo = () => (turboModule ??= import('@julusian/jpeg-turbo').then(commonJs<Turbo>));
const loadSharp = () => (sharpModule ??= import('sharp').then((loaded) => loaded.default));

/** TurboJPEG's pixel format and chroma subsampling of each pixel format a JPEG can hold (not `rgb48`). */
function turboLayout(turbo: Turbo, format: Exclude<PixelFormat, 'rgb48'>): { format: number; subsampling: number } {
  switch (format) {
    case 'bgr24':
      return { format: turbo.FORMAT_BGR, subsampling: turbo.SAMP_420 };
    case 'rgba':
      return { format: turbo.FORMAT_RGBA, subsampling: turbo.SAMP_420 };
    case 'gray8':
      return { format: turbo.FORMAT_GRAY, subsampling: turbo.SAMP_GRAY };
    default:
      return { format: turbo.FORMAT_RGB, subsampling: turbo.SAMP_420 };
  }
}

/** Turns B, G, R pixels into R, G, B. */
const BGR_TO_RGB: [[number, number, number], [number, number, number], [number, number, number]] = [
  [0, 0, 1],
  [0, 1, 0],
  [1, 0, 0],
];

/**
 * Throws the `ERR_FRAMEPIPE_INVALID_OPTION` of a pixel format that files of `ext` cannot hold: only PNG has 16 bits per
 * channel, for `rgb48`. (`rgba` in a JPEG loses its alpha, which the converter always makes opaque.)
 */
export function checkFormatForExtension(format: PixelFormat, ext: ImageExtension): void {
  if (format === 'rgb48' && ext !== 'png') {
    throw conflictingOptions('pixelFormat', 'ext', `${ext} files hold 8 bits per channel; write rgb48 as png (16-bit)`);
  }
}

/**
 * The sharp image of a frame's raw pixels, in its `format`: 16-bit for `rgb48` (from a view of the bytes as
 * little-endian 16-bit numbers, which sharp reads as `ushort`), one grey channel for `gray8`, turned to R, G, B for
 * `bgr24`.
 */
function rawImage(sharp: SharpModule, frame: RawFrame): Sharp {
  const format = frame.format ?? 'rgb24';
  const raw = { width: frame.width, height: frame.height, channels: PIXEL_LAYOUT[format].channels as 1 | 3 | 4 };
  const { data } = frame;
  switch (format) {
    case 'rgb48': {
      const bytes = data.byteOffset % 2 === 0 ? data : Buffer.from(data);
      return sharp(new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2), { raw }).toColourspace('rgb16');
    }
    case 'gray8':
      return sharp(data, { raw }).toColourspace('b-w');
    case 'bgr24':
      return sharp(data, { raw }).recomb(BGR_TO_RGB);
    default:
      return sharp(data, { raw });
  }
}

/** Checks an `ext` option, in any case (`PNG` is `png`); absent means PNG. */
export function checkImageExtension(value: unknown): ImageExtension {
  return checkOneOf('ext', value ?? 'png', IMAGE_EXTENSIONS, true);
}

/** Options of {@link FrameEncoder}. */
export interface FrameEncoderOptions {
  /**
   * Image format, by file extension.
   * @default 'png'
   */
  ext?: ImageExtension | undefined;
  /**
   * Where the frames' `data` came from (the `pool` of the `RgbConverter` upstream): each buffer is given back once
   * its frame is encoded, whether encoding succeeded or not, so the caller must not read it after {@link
   * FrameEncoder.encode} settles.
   * @default none: the buffers are left to the garbage collector
   */
  pool?: BufferPool | undefined;
}

// Staging buffers (a JPEG's worst-case output) are reused: one per encode in flight at once, which the caller bounds
// (FrameDirSink's maxWriteWorkers), so that no frame costs a fresh allocation of their size.
const STAGING_CAPACITY = 256;

/**
 * Encodes frames (packed RGB24, or the other pixel formats of `RgbFrame`) into image file bytes, with the settings
 * `FrameDirSink` writes: PNG at zlib level 1 without row filters (sharp), lossless; JPEG at quality 96 with 4:2:0
 * chroma (libjpeg-turbo through @julusian/jpeg-turbo), as close to the frame as OpenCV's quality 95, which
 * Supervisely's writer uses; WebP at quality 90 (sharp). A sink of your own (an upload, a database, an archive) uses
 * it to produce the same bytes as the built-in one. Encoding runs on libuv's thread pool, so several frames may be
 * encoded at once; the encoder keeps one staging buffer per encode it had in flight at once, and reuses it.

 *
 * @example
 * const encoder = new FrameEncoder({ ext: 'jpg' });
 * for await (const frame of streamVideoFrames('clip.mp4', { end: 9 })) {
 *   await upload(frameFileName(frame.index, encoder.ext), await encoder.encode(frame));
 * }
 */
export class FrameEncoder {
  /** The format, as resolved from the options. */
  readonly ext: ImageExtension;
  #pool: BufferPool | undefined;
  #staging = new BufferPool(STAGING_CAPACITY);

  constructor(options: FrameEncoderOptions = {}) {
    const opts = assertOptionsObject(options, 'FrameEncoder');
    assertKnownKeys(opts, ['ext', 'pool'], 'FrameEncoder');
    this.ext = checkImageExtension(opts.ext);
    this.#pool = checkPool(opts.pool);
  }

  /**
   * The bytes of the image file for `frame` (`data` is `width × height` packed pixels of its `format`, `rgb24` when
   * it has none): grey for `gray8`, with alpha for `rgba` (PNG, WebP; a JPEG drops it), 16-bit PNG for `rgb48` (which
   * JPEG and WebP cannot hold: `ERR_FRAMEPIPE_INVALID_OPTION`). Rejects with a `RangeError` when the data is shorter
   * than the size needs, or with the codec's error. With `pool`, `data` has gone back to it once this settles.
   */
  async encode(frame: RawFrame): Promise<Buffer> {
    try {
      const format = frame.format ?? 'rgb24';
      checkFormatForExtension(format, this.ext);
      checkFrameLength(frame, format);
      if (this.ext === 'webp') return await rawImage(await loadSharp(), frame).webp(WEBP).toBuffer();
      if (this.ext === 'png') return await rawImage(await loadSharp(), frame).png(PNG).toBuffer();
      return await this.#jpeg(frame, format as Exclude<PixelFormat, 'rgb48'>);
    } finally {
      this.#pool?.give(frame.data);
    }
  }

  async #jpeg(frame: RawFrame, format: Exclude<PixelFormat, 'rgb48'>): Promise<Buffer> {
    const turbo = await loadTurbo();
    const { width, height } = frame;
    const options = { ...turboLayout(turbo, format), width, height, quality: JPEG_QUALITY };
    const output = this.#staging.take(turbo.bufferSize(options));
    try {
      // A copy of just the file's bytes, which the caller keeps: the staging buffer is several times its size.
      return Buffer.from(await turbo.compress(frame.data, output, options));
    } finally {
      this.#staging.give(output);
    }
  }
}


/** Bytes of a frame's pixels. */
function frameLength(frame: RawFrame, format: PixelFormat): number {
  return frame.width * frame.height * PIXEL_LAYOUT[format].bytesPerPixel;
}

function checkFrameLength(frame: RawFrame, format: PixelFormat): void {
  const length = frameLength(frame, format);
  if (frame.data.length < length) {
    throw new RangeError(`Frame data of ${frame.data.length} bytes is too short for ${frame.width}×${frame.height} ${format} (${length} bytes)`);
  }
}

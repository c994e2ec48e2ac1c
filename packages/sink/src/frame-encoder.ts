import sharp from 'sharp';
import type { JpegOptions, PngOptions, Sharp, WebpOptions } from 'sharp';
import { PIXEL_LAYOUT, assertKnownKeys, assertOptionsObject, checkOneOf, checkPool, conflictingOptions } from '@framepipe/common';
import type { BufferPool, PixelFormat } from '@framepipe/common';
import type { SinkFrame } from './sink-frame.ts';

/** The image formats the built-in encoder writes. */
export const IMAGE_EXTENSIONS = ['png', 'jpg', 'jpeg', 'webp'] as const;
export type ImageExtension = (typeof IMAGE_EXTENSIONS)[number];

// PNG and JPEG with OpenCV's default settings, which Supervisely's writer uses. Built once: every frame shares them.
const PNG: PngOptions = { compressionLevel: 1, adaptiveFiltering: false };
const JPEG: JpegOptions = { quality: 95, chromaSubsampling: '4:2:0', optimiseCoding: false };
const WEBP: WebpOptions = { quality: 90 };
const FORMATS: Readonly<Record<ImageExtension, (image: Sharp) => Sharp>> = {
  png: (image) => image.png(PNG),
  jpg: (image) => image.jpeg(JPEG),
  jpeg: (image) => image.jpeg(JPEG),
  webp: (image) => image.webp(WEBP),
};

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
function rawImage(frame: Pick<SinkFrame, 'width' | 'height' | 'data' | 'format'>): Sharp {
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

/**
 * Encodes frames (packed RGB24, or the other pixel formats of `RgbFrame`) into image file bytes with sharp, with the settings `FrameDirSink` writes: PNG at zlib
 * level 1 without adaptive filtering, JPEG at quality 95 with 4:2:0 chroma (OpenCV's defaults, which Supervisely's
 * writer uses), WebP at quality 90. A sink of your own (an upload, a database, an archive) uses it to produce the
 * same bytes as the built-in one. Encoding runs on libuv's thread pool, so several frames may be encoded at once.
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
  #format: (image: Sharp) => Sharp;
  #pool: BufferPool | undefined;

  constructor(options: FrameEncoderOptions = {}) {
    const opts = assertOptionsObject(options, 'FrameEncoder');
    assertKnownKeys(opts, ['ext', 'pool'], 'FrameEncoder');
    this.ext = checkImageExtension(opts.ext);
    this.#pool = checkPool(opts.pool);
    this.#format = FORMATS[this.ext];
  }

  /**
   * The bytes of the image file for `frame` (`data` is `width × height` packed pixels of its `format`, `rgb24` when
   * it has none): grey for `gray8`, with alpha for `rgba` (PNG, WebP; a JPEG drops it), 16-bit PNG for `rgb48` (which
   * JPEG and WebP cannot hold: `ERR_FRAMEPIPE_INVALID_OPTION`). Rejects with sharp's error when the data does not fit
   * the size. With `pool`, `data` has gone back to it once this settles.
   */
  async encode(frame: Pick<SinkFrame, 'width' | 'height' | 'data' | 'format'>): Promise<Buffer> {
    try {
      checkFormatForExtension(frame.format ?? 'rgb24', this.ext);
      return await this.#format(rawImage(frame)).toBuffer();
    } finally {
      this.#pool?.give(frame.data);
    }
  }
}

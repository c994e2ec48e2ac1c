import sharp from 'sharp';
import type { JpegOptions, PngOptions, Sharp, WebpOptions } from 'sharp';
import { assertKnownKeys, assertOptionsObject, checkOneOf, checkPool } from '@framepipe/common';
import type { BufferPool } from '@framepipe/common';
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
 * Encodes packed RGB24 frames into image file bytes with sharp, with the settings `FrameDirSink` writes: PNG at zlib
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
   * The bytes of the image file for `frame` (`data` is `width × height × 3` bytes of packed RGB). Rejects with
   * sharp's error when the data does not fit the size. With `pool`, `data` has gone back to it once this settles.
   */
  async encode(frame: Pick<SinkFrame, 'width' | 'height' | 'data'>): Promise<Buffer> {
    try {
      return await this.#format(sharp(frame.data, { raw: { width: frame.width, height: frame.height, channels: 3 } })).toBuffer();
    } finally {
      this.#pool?.give(frame.data);
    }
  }
}

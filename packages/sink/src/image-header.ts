import { open } from 'node:fs/promises';
import { PIXEL_LAYOUT, ResumeMismatchError } from '@framepipe/common';
import type { PixelFormat } from '@framepipe/common';
import type { ImageExtension } from './frame-encoder.ts';

/** How an image file stores its pixels, as its header says. */
export type ImageColour = 'grey' | 'grey+alpha' | 'RGB' | 'RGBA' | 'palette' | 'CMYK';

/**
 * What the header of a PNG (`IHDR`), JPEG (`SOF`) or WebP (`VP8 `, `VP8L`, `VP8X`) file says of its pixels: the size,
 * how the colours are stored and the bits per channel. A JPEG of three components is `RGB` (it holds colour), one is
 * `grey`. A WebP has no grey and no 16 bits: it is `RGB`, or `RGBA` when its header says it has alpha.
 */
export interface ImageHeader {
  readonly format: 'png' | 'jpeg' | 'webp';
  readonly width: number;
  readonly height: number;
  readonly colour: ImageColour;
  readonly bitDepth: number;
}

/** What a file of the sink holds of a frame: the part of an {@link ImageHeader} that says what its pixels are. */
export type ImageShape = Omit<ImageHeader, 'format'>;

/** The bytes read first: every header the sink writes, and a JPEG's SOF behind the usual APP and DQT segments. */
const FIRST_READ = 4096;
/** A JPEG whose SOF lies further than this (a huge EXIF or ICC block) is taken as unreadable rather than read on. */
const JPEG_SEARCH_LIMIT = 1 << 20;

/**
 * The header of the image file at `path`, read from its first bytes (4 KiB, more only for a JPEG whose frame header
 * lies behind large metadata); null for a file that is none of the formats the sink writes, or whose header is cut.
 * Rejects with the system error when the file cannot be read.
 *
 * @example
 * await readImageHeader('/tmp/frames/frame_000000.png'); // { format: 'png', width: 320, height: 180, colour: 'RGB', bitDepth: 8 }
 */
export async function readImageHeader(path: string): Promise<ImageHeader | null> {
  const file = await open(path, 'r');
  try {
    let length = FIRST_READ;
    for (;;) {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await file.read(buffer, 0, length, 0);
      const header = parseImageHeader(buffer.subarray(0, bytesRead));
      if (typeof header !== 'number') return header;
      if (bytesRead < length || header > JPEG_SEARCH_LIMIT) return null;
      length = Math.max(header, length * 2);
    }
  } finally {
    await file.close();
  }
}

/**
 * The header of an image from its first bytes (see {@link readImageHeader}); null when they are no PNG, JPEG or
 * WebP header; a number when the header lies further: how many bytes from the start would hold it.
 *
 * @example
 * parseImageHeader(firstBytes); // { format: 'jpeg', width: 640, height: 360, colour: 'grey', bitDepth: 8 }
 */
export function parseImageHeader(bytes: Buffer): ImageHeader | number | null {
  if (bytes.length >= 2 && bytes[0] === 0xff && bytes[1] === 0xd8) return jpegHeader(bytes);
  if (bytes.length >= 8 && bytes.readUInt32BE(0) === 0x89504e47 && bytes.readUInt32BE(4) === 0x0d0a1a0a) return pngHeader(bytes);
  if (bytes.length >= 12 && bytes.toString('latin1', 0, 4) === 'RIFF' && bytes.toString('latin1', 8, 12) === 'WEBP') return webpHeader(bytes);
  return null;
}

/** The PNG colour types (IHDR byte 25). */
const PNG_COLOURS: Readonly<Record<number, ImageColour>> = { 0: 'grey', 2: 'RGB', 3: 'palette', 4: 'grey+alpha', 6: 'RGBA' };

function pngHeader(bytes: Buffer): ImageHeader | null {
  // The signature, then IHDR first of all chunks: length, type, width, height, bit depth, colour type.
  if (bytes.length < 26 || bytes.toString('latin1', 12, 16) !== 'IHDR') return null;
  const colour = PNG_COLOURS[bytes[25]!];
  if (!colour) return null;
  return { format: 'png', width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20), colour, bitDepth: bytes[24]! };
}

/** The JPEG markers that start a frame: SOF0–SOF15 but DHT (C4), JPG (C8) and DAC (CC). */
const isFrameMarker = (marker: number) => marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;

function jpegHeader(bytes: Buffer): ImageHeader | number | null {
  let at = 2;
  for (;;) {
    if (at + 4 > bytes.length) return at + 4;
    if (bytes[at] !== 0xff) return null;
    const marker = bytes[at + 1]!;
    // Fill bytes before a marker, and markers that stand alone (TEM, RST0–7).
    if (marker === 0xff) {
      at++;
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      at += 2;
      continue;
    }
    // Start of scan or end of image before any frame header: not a JPEG a header can be read from.
    if (marker === 0xda || marker === 0xd9) return null;
    const length = bytes.readUInt16BE(at + 2);
    if (length < 2) return null;
    if (isFrameMarker(marker)) {
      // Precision, height, width, components.
      if (at + 10 > bytes.length) return at + 10;
      const components = bytes[at + 9]!;
      const colour: ImageColour | undefined = components === 1 ? 'grey' : components === 3 ? 'RGB' : components === 4 ? 'CMYK' : undefined;
      if (!colour) return null;
      return { format: 'jpeg', width: bytes.readUInt16BE(at + 7), height: bytes.readUInt16BE(at + 5), colour, bitDepth: bytes[at + 4]! };
    }
    at += 2 + length;
  }
}

function webpHeader(bytes: Buffer): ImageHeader | null {
  if (bytes.length < 30) return null;
  const chunk = bytes.toString('latin1', 12, 16);
  const webp = (width: number, height: number, alpha: boolean): ImageHeader => ({ format: 'webp', width, height, colour: alpha ? 'RGBA' : 'RGB', bitDepth: 8 });
  switch (chunk) {
    case 'VP8 ':
      // The frame tag (3 bytes), the start code 9d 01 2a, then 14-bit width and height (2 bits of scale above each).
      if (bytes[23] !== 0x9d || bytes[24] !== 0x01 || bytes[25] !== 0x2a) return null;
      return webp(bytes.readUInt16LE(26) & 0x3fff, bytes.readUInt16LE(28) & 0x3fff, false);
    case 'VP8L': {
      // The signature 0x2f, then width − 1 and height − 1 in 14 bits each, and whether alpha is used.
      if (bytes[20] !== 0x2f) return null;
      const bits = bytes.readUInt32LE(21);
      return webp((bits & 0x3fff) + 1, ((bits >>> 14) & 0x3fff) + 1, ((bits >>> 28) & 1) === 1);
    }
    case 'VP8X':
      // Flags (alpha is 0x10), 3 reserved bytes, then canvas width − 1 and height − 1 in 24 bits each.
      return webp(bytes.readUIntLE(24, 3) + 1, bytes.readUIntLE(27, 3) + 1, (bytes[20]! & 0x10) !== 0);
    default:
      return null;
  }
}

/**
 * What the built-in encoder's file of a frame of `width × height` pixels in `format` holds (see `FrameEncoder`):
 * a PNG keeps the channels and bit depth (`gray8` grey, `rgba` RGBA, `rgb48` RGB 16-bit), a JPEG is grey for `gray8`
 * and RGB otherwise, a WebP is RGB (its encoder leaves out the alpha of an opaque picture, and it has no grey).
 */
export function imageShapeOf(ext: ImageExtension, frame: { readonly width: number; readonly height: number; readonly format?: PixelFormat | undefined }): ImageShape {
  const format = frame.format ?? 'rgb24';
  const { width, height } = frame;
  const channels = PIXEL_LAYOUT[format].channels;
  const png = ext === 'png';
  const colour: ImageColour = format === 'gray8' && ext !== 'webp' ? 'grey' : channels === 4 && png ? 'RGBA' : 'RGB';
  return { width, height, colour, bitDepth: format === 'rgb48' && png ? 16 : 8 };
}

/** A shape in words: `320×180 RGB 8-bit`. */
export function describeImageShape({ width, height, colour, bitDepth }: ImageShape): string {
  return `${width}×${height} ${colour} ${bitDepth}-bit`;
}

/** The file format of an extension, as a header names it. */
const formatName = (ext: ImageExtension) => (ext === 'jpg' || ext === 'jpeg' ? 'JPEG' : ext === 'png' ? 'PNG' : 'WebP');

/**
 * Null when `header` is that of a file of `ext` that holds `expected`; else what the file holds, in words, and the
 * options that decide what differs (none for a file that is no image of that format: no option of a run makes it).
 * With `sizeDiffers` false, a file of another width and height than `expected` passes when its channels and bit depth
 * match (see {@link judgeKept}).
 *
 * @example
 * imageMismatch(await readImageHeader(path), 'png', imageShapeOf('png', { width: 640, height: 360 }));
 * // { found: '320×180 RGB 8-bit', options: ['size', 'maxSide', 'crop', 'fit', 'autorotate'] }
 */
export function imageMismatch(header: ImageHeader | null, ext: ImageExtension, expected: ImageShape, sizeDiffers = true): { found: string; options: string[] } | null {
  if (!isImageOf(header, ext)) return { found: `no ${formatName(ext)} image the sink can read`, options: [] };
  const options: string[] = [];
  if (sizeDiffers && !sameSize(header, expected)) options.push(...ResumeMismatchError.SIZE_OPTIONS);
  if (header.colour !== expected.colour || header.bitDepth !== expected.bitDepth) options.push('pixelFormat');
  return options.length > 0 ? { found: describeImageShape(header), options } : null;
}

const isImageOf = (header: ImageHeader | null, ext: ImageExtension): header is ImageHeader => header !== null && header.format === (ext === 'jpg' ? 'jpeg' : ext);
const sameSize = (header: ImageHeader, expected: ImageShape) => header.width === expected.width && header.height === expected.height;

/** What {@link judgeKept} refuses: the file it names (by its place in the headers), and the mismatch. */
export interface KeptMismatch {
  readonly at: number;
  readonly found: string;
  /** The options that decide what differs; none when the file holds no image of the format. */
  readonly options: string[];
  /** The files refused, the one named among them. */
  readonly differing: number;
}

/**
 * Whether files of `ext` with these headers (those a resumed run would keep) are what a run that makes `expected`
 * writes. Channels and bit depth must match in every file. The size refuses only when no file has `expected`'s: a run
 * with another `size` makes every file differ, but a video whose picture changes size mid-stream (an MPEG-TS
 * recording, files joined end to end) leaves files of each size, and the run expects the first. A file that is no
 * image (cut short, empty) is refused too, but named only when no file differs by the options.
 *
 * @example
 * judgeKept([header320x240, header640x360], 'png', imageShapeOf('png', { width: 320, height: 240 })); // null
 */
export function judgeKept(headers: ReadonlyArray<ImageHeader | null>, ext: ImageExtension, expected: ImageShape): KeptMismatch | null {
  const sizeDiffers = !headers.some((header) => isImageOf(header, ext) && sameSize(header, expected));
  const found = headers.map((header) => imageMismatch(header, ext, expected, sizeDiffers));
  const at = [found.findIndex((mismatch) => mismatch !== null && mismatch.options.length > 0), found.findIndex((mismatch) => mismatch !== null)].find((i) => i !== -1);
  if (at === undefined) return null;
  return { at, ...found[at]!, differing: found.filter((mismatch) => mismatch !== null).length };
}

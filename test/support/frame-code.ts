/**
 * A visual code by which every video frame shows its own number.
 *
 * Layout (a pure function of the frame size, so a reader needs nothing but the image):
 * - the top 3/4 of the frame is a 4×4 grid of black/white blocks, read row by row from the top-left:
 *   block `k` holds bit `k` of a 16-bit word; bits 0–11 are the frame number, bits 12–15 (the bottom
 *   row) are check bits (`n ^ n>>4 ^ n>>8 ^ 0b1010`, low 4 bits), so any single wrong block, and an
 *   all-black or all-white image, is detected;
 * - the bottom 1/4 shows the number in decimal (white digits on black), for people — it is never read.
 *
 * Only luma carries information; chroma is neutral, so chroma subsampling cannot hurt it. Block edges
 * fall on multiples of 16 (macroblocks) when blocks are at least 64 pixels in that direction; a reader
 * averages the middle half of each block, located proportionally, so a resized image reads as well.
 */
import sharp from 'sharp';
import type { Frame } from 'node-av';
import {
  AVCOL_RANGE_JPEG,
  AV_PIX_FMT_GRAY8,
  AV_PIX_FMT_NV12,
  AV_PIX_FMT_YUV420P,
  AV_PIX_FMT_YUV420P10LE,
  AV_PIX_FMT_YUV420P12LE,
  AV_PIX_FMT_YUV422P,
  AV_PIX_FMT_YUV422P10LE,
  AV_PIX_FMT_YUV444P,
  AV_PIX_FMT_YUV444P10LE,
  AV_PIX_FMT_YUVJ420P,
  AV_PIX_FMT_YUVJ422P,
  AV_PIX_FMT_YUVJ444P,
} from 'node-av/constants';

/** The largest number a frame code can hold (12 bits). */
export const FRAME_CODE_MAX = 0xfff;

const GRID = 4;
const GRID_HEIGHT = 0.75;
const MIN_SIZE = 64;

/** Check bits of a 12-bit number: XOR of its three nibbles and a constant (so 0 and 0xfff are not self-checking). */
function checkBits(n: number): number {
  return (n ^ (n >> 4) ^ (n >> 8) ^ 0b1010) & 0xf;
}

/** Edges of `GRID` cells spanning `length` pixels; on multiples of 16 when a cell is at least 64 pixels. */
function edges(length: number): number[] {
  const cell = length / GRID;
  const step = cell >= 64 ? 16 : 2;
  return Array.from({ length: GRID + 1 }, (_, i) => (i === GRID ? length : Math.round((i * cell) / step) * step));
}

// 3×5 digit glyphs, rows top to bottom.
const DIGITS = [
  '111101101101111', '010110010010111', '111001111100111', '111001111001111', '101101111001001',
  '111100111001111', '111100111101111', '111001001001001', '111101111101111', '111101111001111',
];

/**
 * Renders the code of `n` as a bitmap, one byte per pixel (1 = white, 0 = black), row-major.
 *
 * @throws RangeError if `n` is not an integer in 0..{@link FRAME_CODE_MAX} or the size is below 64×64.
 */
export function renderFrameCode(n: number, width: number, height: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > FRAME_CODE_MAX) {
    throw new RangeError(`frame code: number must be an integer in 0..${FRAME_CODE_MAX}, got ${n}`);
  }
  if (width < MIN_SIZE || height < MIN_SIZE) {
    throw new RangeError(`frame code: frame must be at least ${MIN_SIZE}×${MIN_SIZE}, got ${width}×${height}`);
  }
  const bitmap = new Uint8Array(width * height);
  const word = n | (checkBits(n) << 12);
  const xs = edges(width);
  const ys = edges(Math.round(height * GRID_HEIGHT));
  for (let k = 0; k < GRID * GRID; k++) {
    if (((word >> k) & 1) === 0) continue;
    const r = k >> 2;
    const c = k & 3;
    for (let y = ys[r]!; y < ys[r + 1]!; y++) bitmap.fill(1, y * width + xs[c]!, y * width + xs[c + 1]!);
  }
  // Decimal digits, centred in the band below the grid.
  const bandTop = ys[GRID]!;
  const text = String(n).padStart(4, '0');
  const cols = text.length * 4 - 1;
  const scale = Math.floor(Math.min((width * 0.8) / cols, ((height - bandTop) * 0.7) / 5));
  if (scale >= 1) {
    const x0 = Math.floor((width - cols * scale) / 2);
    const y0 = bandTop + Math.floor((height - bandTop - 5 * scale) / 2);
    for (let i = 0; i < text.length; i++) {
      const glyph = DIGITS[text.charCodeAt(i) - 48]!;
      for (let p = 0; p < 15; p++) {
        if (glyph[p] !== '1') continue;
        const gx = x0 + (i * 4 + (p % 3)) * scale;
        const gy = y0 + Math.floor(p / 3) * scale;
        for (let y = gy; y < gy + scale; y++) bitmap.fill(1, y * width + gx, y * width + gx + scale);
      }
    }
  }
  return bitmap;
}

interface PlaneLayout {
  readonly bytes: 1 | 2;
  readonly full: boolean;
  /** Bits per sample when `bytes` is 2 (default 10). */
  readonly bits?: 10 | 12;
}

const FORMATS = new Map<number, PlaneLayout>([
  [AV_PIX_FMT_YUV420P, { bytes: 1, full: false }],
  [AV_PIX_FMT_YUV422P, { bytes: 1, full: false }],
  [AV_PIX_FMT_YUV444P, { bytes: 1, full: false }],
  [AV_PIX_FMT_NV12, { bytes: 1, full: false }],
  [AV_PIX_FMT_GRAY8, { bytes: 1, full: false }],
  [AV_PIX_FMT_YUVJ420P, { bytes: 1, full: true }],
  [AV_PIX_FMT_YUVJ422P, { bytes: 1, full: true }],
  [AV_PIX_FMT_YUVJ444P, { bytes: 1, full: true }],
  [AV_PIX_FMT_YUV420P10LE, { bytes: 2, full: false }],
  [AV_PIX_FMT_YUV422P10LE, { bytes: 2, full: false }],
  [AV_PIX_FMT_YUV444P10LE, { bytes: 2, full: false }],
  [AV_PIX_FMT_YUV420P12LE, { bytes: 2, full: false, bits: 12 }],
]);

/**
 * Paints the code of frame number `n` into an allocated, writable video frame.
 *
 * Supported pixel formats: yuv420p, yuv422p, yuv444p, nv12, gray (8-bit), their yuvj (full range) forms,
 * yuv420p10le / yuv422p10le / yuv444p10le and yuv420p12le. Luma is black/white at the range the frame declares
 * (full range for yuvj formats or `colorRange` = JPEG, else limited: 16/235, 64/940 at 10 bits, 256/3760 at 12);
 * chroma planes are set to neutral grey. The frame's other properties (pts, colour tags) are untouched.
 *
 * @throws RangeError for a number or size out of range; Error for an unsupported or unallocated frame.
 */
export function drawFrameCode(frame: Frame, n: number): void {
  const layout = FORMATS.get(frame.format);
  if (!layout) throw new Error(`drawFrameCode: unsupported pixel format ${frame.format}`);
  const { width, height, data, linesize } = frame;
  if (!data || data.length === 0) throw new Error('drawFrameCode: frame has no buffers (call allocBuffer first)');
  const bitmap = renderFrameCode(n, width, height);
  const full = layout.full || frame.colorRange === AVCOL_RANGE_JPEG;
  const shift = layout.bytes === 2 ? (layout.bits ?? 10) - 8 : 0;
  const black = (full ? 0 : 16) << shift;
  const white = full ? (256 << shift) - 1 : 235 << shift;
  const neutral = 128 << shift;
  const luma = data[0]!;
  const stride = linesize[0]!;
  const rowBytes = width * layout.bytes;
  for (let y = 0; y < height; y++) {
    const row = bitmap.subarray(y * width, (y + 1) * width);
    if (y > 0 && Buffer.compare(row, bitmap.subarray((y - 1) * width, y * width)) === 0) {
      luma.copyWithin(y * stride, (y - 1) * stride, (y - 1) * stride + rowBytes); // most rows repeat the one above
      continue;
    }
    for (let x = 0; x < width; x++) {
      const v = bitmap[y * width + x] ? white : black;
      if (layout.bytes === 1) luma[y * stride + x] = v;
      else luma.writeUInt16LE(v, y * stride + 2 * x);
    }
  }
  for (const chroma of data.slice(1)) {
    if (layout.bytes === 1) chroma.fill(neutral);
    else for (let i = 0; i + 1 < chroma.length; i += 2) chroma.writeUInt16LE(neutral, i);
  }
}

/**
 * Reads the frame number from a packed image (`height` rows of `width` pixels of `channels` bytes:
 * 1 = grey, 2 = grey+alpha, 3 = RGB, 4 = RGBA; alpha is ignored). Each block's value is the mean over the middle half
 * of the block; it must be clearly dark (< 64) or clearly light (> 191).
 *
 * @returns the frame number, 0..{@link FRAME_CODE_MAX}.
 * @throws Error if a block is neither dark nor light, or if the check bits do not match.
 */
export function readFrameCode(rgb: Uint8Array, width: number, height: number, channels = 3): number {
  if (rgb.length < width * height * channels) {
    throw new Error(`readFrameCode: buffer of ${rgb.length} bytes is too small for ${width}×${height}×${channels}`);
  }
  const colour = channels >= 3 ? 3 : 1;
  const cellW = width / GRID;
  const cellH = (height * GRID_HEIGHT) / GRID;
  let word = 0;
  const means: number[] = [];
  for (let k = 0; k < GRID * GRID; k++) {
    const x0 = Math.round(((k & 3) + 0.25) * cellW);
    const x1 = Math.max(x0 + 1, Math.round(((k & 3) + 0.75) * cellW));
    const y0 = Math.round(((k >> 2) + 0.25) * cellH);
    const y1 = Math.max(y0 + 1, Math.round(((k >> 2) + 0.75) * cellH));
    let sum = 0;
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) {
        const p = (y * width + x) * channels;
        for (let c = 0; c < colour; c++) sum += rgb[p + c]!;
      }
    }
    const mean = sum / ((x1 - x0) * (y1 - y0) * colour);
    means.push(Math.round(mean));
    if (mean > 191) word |= 1 << k;
    else if (mean >= 64) throw new Error(`readFrameCode: block ${k} is neither black nor white (mean ${mean.toFixed(1)})`);
  }
  const n = word & 0xfff;
  if (word >>> 12 !== checkBits(n)) {
    throw new Error(`readFrameCode: check bits do not match (word 0x${word.toString(16)}, block means ${means.join(',')})`);
  }
  return n;
}

/** Decodes an image file (PNG, JPEG, WebP, anything sharp reads) and reads its frame number. */
export async function readFrameCodeFromFile(path: string): Promise<number> {
  const { data, info } = await sharp(path).raw().toBuffer({ resolveWithObject: true });
  return readFrameCode(data, info.width, info.height, info.channels);
}

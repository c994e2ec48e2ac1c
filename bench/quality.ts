/**
 * Picture quality of the written files against the exact RGB frames: the frames `streamVideoFrames` yields, which
 * are what the encoders were given. Each file is decoded with sharp to packed RGB and compared byte for byte.
 */
import { join } from 'node:path';
import { streamVideoFrames } from '../packages/core/src/index.ts';
import { sharp } from './deps.ts';

/** The exact RGB frames of the sampled frame numbers. */
export interface Reference {
  readonly width: number;
  readonly height: number;
  readonly frames: ReadonlyMap<number, Buffer>;
}

/** How far a set of files is from the reference frames. */
export interface Quality {
  /** PSNR in dB over all sampled frames (of their pooled mean squared error); Infinity when identical. */
  readonly psnr: number;
  /** Every sampled frame decoded to exactly the reference bytes. */
  readonly identical: boolean;
  readonly frames: number;
}

/** `count` frame numbers spread evenly over `0..total-1`, first and last included. */
export function sampleFrames(total: number, count: number): number[] {
  if (total <= count) return Array.from({ length: total }, (_, i) => i);
  return Array.from({ length: count }, (_, i) => Math.round((i * (total - 1)) / (count - 1)));
}

export async function referenceFrames(clip: string, indices: readonly number[]): Promise<Reference> {
  const frames = new Map<number, Buffer>();
  let width = 0;
  let height = 0;
  for await (const frame of streamVideoFrames(clip, { frames: indices })) {
    frames.set(frame.index, frame.data);
    width = frame.width;
    height = frame.height;
  }
  if (frames.size !== indices.length) throw new Error(`bench: got ${frames.size} of the ${indices.length} sampled frames of ${clip}`);
  return { width, height, frames };
}

/** Sum of squared differences of two equally long byte arrays. */
function squaredError(a: Uint8Array, b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    sum += d * d;
  }
  return sum;
}

function pooledQuality(errors: readonly number[], bytesPerFrame: number): Quality {
  const total = errors.reduce((a, b) => a + b, 0);
  const mse = total / (bytesPerFrame * errors.length);
  return { psnr: mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse), identical: total === 0, frames: errors.length };
}

async function decodeRgb(input: string | Buffer, reference: Reference, what: string): Promise<Buffer> {
  const { data, info } = await sharp(input).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.width !== reference.width || info.height !== reference.height || info.channels !== 3) {
    throw new Error(`bench: ${what} decodes to ${info.width}×${info.height}×${info.channels}, expected ${reference.width}×${reference.height}×3`);
  }
  return data;
}

/** Quality of the files `frame_<index:06d>.<ext>` in `dir` for the sampled frames. */
export async function fileQuality(dir: string, ext: string, reference: Reference): Promise<Quality> {
  const errors: number[] = [];
  for (const [index, expected] of reference.frames) {
    const path = join(dir, `frame_${String(index).padStart(6, '0')}.${ext}`);
    errors.push(squaredError(await decodeRgb(path, reference, path), expected));
  }
  return pooledQuality(errors, reference.width * reference.height * 3);
}

/**
 * Quality of OpenCV's `cv2.imwrite(path, img, [IMWRITE_JPEG_QUALITY, 95])`, which Supervisely's writer uses: libjpeg
 * at quality 95 with OpenCV's defaults, 4:2:0 chroma, baseline, standard Huffman tables (no optimisation, no
 * trellis). Made here with sharp's libjpeg at those settings from the same RGB frames, as the bar that framepipe's
 * default JPEG must reach. Also returns the mean size of those JPEGs.
 */
export async function opencvJpegQuality(reference: Reference): Promise<Quality & { bytesPerFrame: number }> {
  const errors: number[] = [];
  let bytes = 0;
  for (const expected of reference.frames.values()) {
    const raw = { raw: { width: reference.width, height: reference.height, channels: 3 as const } };
    const jpeg = await sharp(expected, raw).jpeg({ quality: 95, chromaSubsampling: '4:2:0', optimiseCoding: false }).toBuffer();
    bytes += jpeg.length;
    errors.push(squaredError(await decodeRgb(jpeg, reference, 'the reference JPEG'), expected));
  }
  return { ...pooledQuality(errors, reference.width * reference.height * 3), bytesPerFrame: bytes / errors.length };
}

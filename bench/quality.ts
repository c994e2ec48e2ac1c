/**
 * Picture quality of the written files against the exact RGB frames: the frames `streamVideoFrames` yields, which
 * are what the encoders were given. Each file is decoded with sharp to packed RGB and compared byte for byte.
 */
import { execFile } from 'node:child_process';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { streamVideoFrames } from '../packages/core/src/index.ts';
import { sharp } from './deps.ts';

const run = promisify(execFile);

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
  /** Mean size of the sampled files. */
  readonly bytesPerFrame: number;
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

function pooledQuality(errors: readonly number[], pixelBytes: number, fileBytes: number): Quality {
  const total = errors.reduce((a, b) => a + b, 0);
  const mse = total / (pixelBytes * errors.length);
  return {
    psnr: mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse),
    identical: total === 0,
    frames: errors.length,
    bytesPerFrame: fileBytes / errors.length,
  };
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
  let bytes = 0;
  for (const [index, expected] of reference.frames) {
    const path = join(dir, `frame_${String(index).padStart(6, '0')}.${ext}`);
    errors.push(squaredError(await decodeRgb(path, reference, path), expected));
    bytes += (await stat(path)).size;
  }
  return pooledQuality(errors, reference.width * reference.height * 3, bytes);
}

/** What OpenCV makes of the sampled frames: its JPEGs' quality and its PNGs' size. */
export interface OpenCvFiles {
  readonly jpeg: Quality;
  readonly png: Quality;
}

/**
 * OpenCV's own files for the sampled frames, `cv2.imwrite` with its defaults as Supervisely's writer calls it (JPEG
 * quality 95: libjpeg, 4:2:0, baseline, standard Huffman tables; PNG level 1 with OpenCV's filter and strategy),
 * made by Debian's python3-opencv (bench/opencv_encode.py) from the same RGB frames: the bars for framepipe's JPEG
 * quality and PNG size. Null, with the reason on stderr, when /usr/bin/python3 has no OpenCV.
 */
export async function opencvFiles(reference: Reference, dir: string): Promise<OpenCvFiles | null> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  try {
    for (const [index, frame] of reference.frames) await writeFile(join(dir, `frame_${String(index).padStart(6, '0')}.rgb`), frame);
    try {
      await run('/usr/bin/python3', [join(import.meta.dirname, 'opencv_encode.py'), String(reference.width), String(reference.height), dir]);
    } catch (error) {
      process.stderr.write(`note: no OpenCV reference (/usr/bin/python3 with python3-opencv): ${(error as Error).message}\n`);
      return null;
    }
    return { jpeg: await fileQuality(dir, 'jpg', reference), png: await fileQuality(dir, 'png', reference) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

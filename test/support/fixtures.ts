/**
 * Test videos made on demand with node-av, in which frame `n` (display order, 0-based) shows
 * `drawFrameCode(n)`. Files are cached by a hash of their spec, so repeated runs reuse them.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Encoder, FFmpegError, FormatContext, Frame, Muxer, Packet, Rational } from 'node-av';
import type { CodecContext, EncoderOptions } from 'node-av';
import {
  AVCOL_RANGE_JPEG,
  AVCOL_RANGE_MPEG,
  AV_CODEC_FLAG_QSCALE,
  AV_PIX_FMT_YUV420P,
  AV_PIX_FMT_YUVJ420P,
  FF_ENCODER_LIBSVTAV1,
  FF_ENCODER_LIBVPX_VP9,
  FF_ENCODER_LIBX264,
  FF_ENCODER_LIBX265,
  FF_ENCODER_MJPEG,
  FF_QP2LAMBDA,
} from 'node-av/constants';
import { drawFrameCode } from './frame-code.ts';

/** What a fixture video is made of. */
export interface FixtureSpec {
  readonly codec: 'h264' | 'hevc' | 'vp9' | 'av1' | 'mjpeg';
  /** `h264` is a raw Annex-B H.264 elementary stream (no container timestamps at all). */
  readonly container: 'mp4' | 'mov' | 'webm' | 'mkv' | 'ts' | 'avi' | 'h264';
  readonly frames: number;
  readonly width: number;
  readonly height: number;
  /** Frames per second (an integer). */
  readonly fps: number;
  /** Consecutive B-frames (h264 and hevc only; placed in a fixed pattern). Default 0. */
  readonly bFrames?: number;
  /** Keyframe interval in frames (a fixed, closed GOP for h264/hevc). Default 12. */
  readonly gop?: number;
  /** mp4/mov: put `moov` before the media data. Default false: `moov` at the end, FFmpeg's default. */
  readonly faststart?: boolean;
  /**
   * Give every packet pts = dts = its decode position, as a muxer that drops composition offsets
   * (an MP4 without `ctts`) would. With B-frames, decoded frames then carry decode-order pts. Default false.
   */
  readonly stripCts?: boolean;
}

/** Options of {@link makeFixture}. */
export interface MakeFixtureOptions {
  /** The cache directory; default `<repo>/.fixtures` (git-ignored). */
  readonly dir?: string;
}

/** Default cache directory: `.fixtures` at the repository root. */
export const FIXTURE_DIR = resolve(import.meta.dirname, '../../.fixtures');

// Bump when the generator's output changes, so cached files are remade.
const GENERATOR_VERSION = 1;

const QVGA = { width: 320, height: 240, fps: 25 } as const;

/** H.264 in MP4 with 3 B-frames, GOP 12, 60 frames (2.4 s) at 320×240, `moov` at the end. */
export const H264_MP4_MOOV_END: FixtureSpec = { codec: 'h264', container: 'mp4', frames: 60, ...QVGA, bFrames: 3, gop: 12 };

/** As {@link H264_MP4_MOOV_END} with `moov` first (`movflags=faststart`). */
export const H264_MP4_FASTSTART: FixtureSpec = { ...H264_MP4_MOOV_END, faststart: true };

/** VP9 in WebM, GOP 12, 60 frames at 320×240. */
export const VP9_WEBM: FixtureSpec = { codec: 'vp9', container: 'webm', frames: 60, ...QVGA, gop: 12 };

/** H.264 in MPEG-TS with 3 B-frames, GOP 12, 60 frames at 320×240. */
export const H264_TS: FixtureSpec = { codec: 'h264', container: 'ts', frames: 60, ...QVGA, bFrames: 3, gop: 12 };

/**
 * H.264 with 3 B-frames in MP4 (`moov` at the end) without composition offsets: every packet has
 * pts = dts = its decode position (no `ctts` box), while the stream still has B-frames (`videoDelay` 2
 * after findStreamInfo). Decoded frames come out in display order but carry decode-order pts, so the
 * pts-rank frame number of display frame `n` is its decode position, not `n`. 60 frames at 320×240.
 */
export const H264_BFRAMES_NO_CTTS: FixtureSpec = { ...H264_MP4_MOOV_END, stripCts: true };

/** 1920×1080 H.264 in MP4, 25 fps, 250 frames (10 s), 3 B-frames, GOP 50, `moov` at the end. For benchmarks. */
export const H264_1080P: FixtureSpec = {
  codec: 'h264', container: 'mp4', frames: 250, width: 1920, height: 1080, fps: 25, bFrames: 3, gop: 50,
};

/** The committed demo video `examples/assets/sample.mp4`: H.264 in MP4, 75 frames (3 s), 3 B-frames, GOP 25, `moov` at the end. */
export const SAMPLE_MP4: FixtureSpec = { ...H264_MP4_MOOV_END, frames: 75, gop: 25 };

/** The presets a normal test run covers (all but {@link H264_1080P}), by name. */
export const TEST_PRESETS: Readonly<Record<string, FixtureSpec>> = {
  H264_MP4_MOOV_END, H264_MP4_FASTSTART, VP9_WEBM, H264_TS, H264_BFRAMES_NO_CTTS,
};

const FORMATS: Record<FixtureSpec['container'], string> = {
  mp4: 'mp4', mov: 'mov', webm: 'webm', mkv: 'matroska', ts: 'mpegts', avi: 'avi', h264: 'h264',
};

const pending = new Map<string, Promise<string>>();

/**
 * Returns the path of a video file made to `spec`, making it first unless the cache holds it.
 * The file is written under a temporary name and renamed, so a reader never sees a partial file.
 *
 * @throws RangeError for an invalid spec (e.g. fewer than 1 frame, a size below 64×64, more than 4096 frames).
 */
export function makeFixture(spec: FixtureSpec, options: MakeFixtureOptions = {}): Promise<string> {
  checkSpec(spec);
  const dir = options.dir ?? FIXTURE_DIR;
  const canonical = { ...spec, bFrames: spec.bFrames ?? 0, gop: spec.gop ?? 12, faststart: spec.faststart ?? false,
    stripCts: spec.stripCts ?? false };
  const json = JSON.stringify(Object.entries(canonical).sort(([a], [b]) => a.localeCompare(b)));
  const hash = createHash('sha256').update(`${GENERATOR_VERSION}:${json}`).digest('hex').slice(0, 12);
  const { codec, container, width, height, fps, frames } = spec;
  const path = join(dir, `${codec}-${width}x${height}-${fps}fps-${frames}f-${hash}.${container}`);
  let made = pending.get(path);
  if (!made) {
    made = existsSync(path) ? Promise.resolve(path) : write(path, canonical);
    pending.set(path, made);
    made.catch(() => pending.delete(path));
  }
  return made;
}

function checkSpec(spec: FixtureSpec): void {
  const { frames, width, height, fps, bFrames = 0, gop = 12 } = spec;
  const ok = (v: number, min: number, max = Number.MAX_SAFE_INTEGER) => Number.isInteger(v) && v >= min && v <= max;
  if (!ok(frames, 1, 4096)) throw new RangeError(`fixture: frames must be an integer in 1..4096, got ${frames}`);
  if (!ok(width, 64) || !ok(height, 64) || width % 2 || height % 2) {
    throw new RangeError(`fixture: size must be even and at least 64×64, got ${width}×${height}`);
  }
  if (!ok(fps, 1, 1000)) throw new RangeError(`fixture: fps must be an integer in 1..1000, got ${fps}`);
  if (!ok(bFrames, 0, 16)) throw new RangeError(`fixture: bFrames must be an integer in 0..16, got ${bFrames}`);
  if (bFrames > 0 && spec.codec !== 'h264' && spec.codec !== 'hevc') {
    throw new RangeError(`fixture: bFrames is only for h264 and hevc, got ${bFrames} for ${spec.codec}`);
  }
  if (!ok(gop, 1)) throw new RangeError(`fixture: gop must be a positive integer, got ${gop}`);
}

async function write(path: string, spec: Required<FixtureSpec>): Promise<string> {
  await mkdir(resolve(path, '..'), { recursive: true });
  const tmp = `${path}.${process.pid}-${Math.random().toString(36).slice(2)}.tmp`;
  const encoder = await createEncoder(spec);
  let muxer: Muxer | undefined;
  try {
    muxer = await Muxer.open(tmp, {
      format: FORMATS[spec.container],
      ...(spec.faststart ? { options: { movflags: 'faststart' } } : {}),
    });
    const index = muxer.addStream(encoder);
    let decodeIndex = 0n;
    const writeAll = async (packets: Packet[]) => {
      try {
        for (const packet of packets) {
          if (spec.stripCts) packet.pts = packet.dts = decodeIndex++;
          await muxer!.writePacket(packet, index);
        }
      } finally {
        for (const packet of packets) packet.free();
      }
    };
    for (let n = 0; n < spec.frames; n++) {
      const frame = codeFrame(spec, n);
      try {
        await writeAll(await encoder.encodeAll(frame));
      } finally {
        frame.free();
      }
    }
    await writeAll(await encoder.encodeAll(null));
    await muxer.writePacket(null, index);
    await muxer.close(); // writes the trailer, but swallows its errors: hence the check below
    await checkPacketCount(tmp, spec.frames);
    await rename(tmp, path);
    return path;
  } catch (error) {
    await muxer?.close().catch(() => {});
    await rm(tmp, { force: true });
    throw error;
  } finally {
    encoder.close();
  }
}

/** Demuxes `path` and throws unless its first stream has exactly `frames` packets. */
async function checkPacketCount(path: string, frames: number): Promise<void> {
  const input = new FormatContext();
  const packet = new Packet();
  packet.alloc();
  try {
    FFmpegError.throwIfError(await input.openInput(path, null, null), `fixture: cannot open ${path}`);
    FFmpegError.throwIfError(await input.findStreamInfo(null), `fixture: cannot probe ${path}`);
    let count = 0;
    while ((await input.readFrame(packet)) >= 0) {
      if (packet.streamIndex === 0) count++;
      packet.unref();
    }
    if (count !== frames) throw new Error(`fixture: ${path} has ${count} packets, expected ${frames}`);
  } finally {
    packet.free();
    await input.closeInput();
  }
}

function codeFrame(spec: FixtureSpec, n: number): Frame {
  const frame = new Frame();
  frame.alloc();
  frame.format = spec.codec === 'mjpeg' ? AV_PIX_FMT_YUVJ420P : AV_PIX_FMT_YUV420P;
  frame.colorRange = spec.codec === 'mjpeg' ? AVCOL_RANGE_JPEG : AVCOL_RANGE_MPEG;
  frame.width = spec.width;
  frame.height = spec.height;
  frame.timeBase = new Rational(1, spec.fps);
  frame.pts = BigInt(n);
  frame.duration = 1n;
  frame.allocBuffer();
  drawFrameCode(frame, n);
  return frame;
}

function createEncoder(spec: Required<FixtureSpec>): Promise<Encoder> {
  const { gop, bFrames } = spec;
  const context = { gopSize: gop, maxBFrames: bFrames, framerate: new Rational(spec.fps, 1) };
  switch (spec.codec) {
    case 'h264':
      return Encoder.create(FF_ENCODER_LIBX264, {
        context,
        options: {
          preset: 'veryfast',
          crf: 23,
          'x264-params': `keyint=${gop}:min-keyint=${gop}:scenecut=0:bframes=${bFrames}:b-adapt=0:open-gop=0:log=-1`,
        },
      });
    case 'hevc':
      return Encoder.create(FF_ENCODER_LIBX265, {
        context,
        options: {
          preset: 'veryfast',
          crf: 28,
          'x265-params': `keyint=${gop}:min-keyint=${gop}:scenecut=0:bframes=${bFrames}:b-adapt=0:open-gop=0:log-level=error`,
        },
      });
    case 'vp9':
      return Encoder.create(FF_ENCODER_LIBVPX_VP9, {
        context: { ...context, bitRate: 0 },
        options: { crf: 32, deadline: 'good', 'cpu-used': 5 },
      });
    case 'av1':
      return Encoder.create(FF_ENCODER_LIBSVTAV1, { context: { ...context, bitRate: 0 }, options: { preset: 10, crf: 35 } });
    case 'mjpeg': {
      const configure: EncoderOptions['configure'] = (ctx: CodecContext) => {
        ctx.setFlags(AV_CODEC_FLAG_QSCALE);
        ctx.globalQuality = 5 * FF_QP2LAMBDA;
      };
      return Encoder.create(FF_ENCODER_MJPEG, { context, configure });
    }
  }
}

/**
 * Test videos made on demand with node-av, in which frame `n` (display order, 0-based) shows
 * `drawFrameCode(n)`. Files are cached by a hash of their spec, so repeated runs reuse them.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Encoder, FFmpegError, FormatContext, Frame, Muxer, Packet, Rational } from 'node-av';
import type { CodecContext, EncoderOptions, MuxerOptions } from 'node-av';
import {
  AVCOL_PRI_BT2020,
  AVCOL_RANGE_JPEG,
  AVCOL_RANGE_MPEG,
  AVCOL_SPC_BT2020_NCL,
  AVCOL_TRC_ARIB_STD_B67,
  AVCOL_TRC_SMPTE2084,
  AVMEDIA_TYPE_VIDEO,
  AV_CHANNEL_ORDER_NATIVE,
  AV_CH_LAYOUT_MONO,
  AV_CODEC_FLAG_QSCALE,
  AV_PIX_FMT_YUV420P,
  AV_PIX_FMT_YUV420P10LE,
  AV_PIX_FMT_YUV420P12LE,
  AV_PIX_FMT_YUV422P10LE,
  AV_PIX_FMT_YUV444P,
  AV_PIX_FMT_YUVJ420P,
  AV_PKT_DATA_DISPLAYMATRIX,
  AV_SAMPLE_FMT_FLTP,
  FF_ENCODER_AAC,
  FF_ENCODER_LIBSVTAV1,
  FF_ENCODER_LIBVPX_VP9,
  FF_ENCODER_LIBX264,
  FF_ENCODER_LIBX265,
  FF_ENCODER_MJPEG,
  FF_QP2LAMBDA,
} from 'node-av/constants';
import { drawFrameCode, renderFrameCode } from './frame-code.ts';

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
   * mp4/mov: write a fragmented file, an empty `moov` and then a `moof` + `mdat` pair per fragment
   * (`movflags=frag_keyframe+empty_moov`, a fragment per keyframe), as live and DASH muxers do. `default-base-moof`
   * adds `default_base_moof` (sample offsets counted from each `moof`). Default none: an unfragmented file.
   */
  readonly fragmented?: 'keyframe' | 'default-base-moof';
  /** With `fragmented`: cut a fragment every this many frames' duration instead (`frag_duration`), so a fragment may span GOPs. */
  readonly fragmentFrames?: number;
  /**
   * Give every packet pts = dts = its decode position, as a muxer that drops composition offsets
   * (an MP4 without `ctts`) would. With B-frames, decoded frames then carry decode-order pts. Default false.
   */
  readonly stripCts?: boolean;
  /**
   * Pixel format of the coded pictures. Default `yuv420p`, and `yuvj420p` (full range), the only one allowed, for
   * mjpeg. `yuv420p10le`, `yuv422p10le` (Main 4:2:2 10) and `yuv420p12le` (Main 12) are for hevc; `yuv444p` (H.264
   * High 4:4:4, HEVC Main 4:4:4) is for h264 and hevc, and is the only format that allows an odd width or height.
   */
  readonly pixelFormat?: 'yuv420p' | 'yuv420p10le' | 'yuv422p10le' | 'yuv420p12le' | 'yuv444p' | 'yuvj420p';
  /**
   * Variable frame rate: the duration of each frame in units of `1/fps`, taken in turn (`[1, 3]`: 1/fps, 3/fps,
   * 1/fps, ...). Frame `n`'s pts is the sum of the durations before it. Default: every frame lasts 1/fps.
   */
  readonly frameDurations?: readonly number[];
  /**
   * A display matrix on the video stream that tells players to rotate the stored picture by this many degrees
   * counter-clockwise (the angle ffprobe reports as the side data's `rotation`). The pictures are stored unrotated.
   */
  readonly rotation?: 90 | 180 | 270;
  /**
   * Mux an audio stream too: a 48 kHz mono sine tone coded as AAC (mp4, mov, mkv, ts), as the stream after the video
   * (`'after-video'`: the video is stream 0) or before it (`'before-video'`: the video is stream 1). Default none.
   */
  readonly audio?: 'after-video' | 'before-video';
  /**
   * Paint the flat grey patches of {@link greyPatches} into the band below the code (beside the digits), so a test
   * can check the colour conversion, range included: pure black and white cannot show a full-range stream read
   * as limited range, since the stretch clips them back to 0 and 255. Needs at least 320×240. Default false.
   */
  readonly greyPatches?: boolean;
  /**
   * Tag the stream as HDR, as phones and HDR10 masters do: BT.2020 primaries and matrix (non-constant luminance),
   * limited range, and the PQ (`smpte2084`, with HDR10 mastering-display and light-level metadata) or HLG
   * (`arib-std-b67`) transfer, in the coded stream (HEVC VUI and SEI) and the container. Only the tags change: the
   * samples are coded as painted. hevc with a 10- or 12-bit `pixelFormat` only. Default none (untagged).
   */
  readonly hdr?: 'pq' | 'hlg';
  /**
   * Paint {@link colourBand} below the grid: behind the white digits, saturated colours with sharp edges in both
   * directions and a hue gradient, and a flat white patch; so that the chroma planes carry detail and a test can
   * check chroma interpolation and the matrix, not only flat grey. Painted in the stream's matrix (BT.2020 with
   * `hdr`, else BT.601, which an untagged stream is read as). Needs at least 320×240. Default false.
   */
  readonly colourBand?: boolean;
  /**
   * Mux a second video stream right after the first: the same codec and timing at half the size, in which frame `n`
   * shows `n + 1000`, so a test can tell which stream a frame came from. Default false.
   */
  readonly secondVideo?: boolean;
  /**
   * Cover the picture with grain, as a camera's sensor does: seeded noise of ±{@link GRAIN} in luma, new in every
   * frame, over a code whose black and white are pulled in by as much (so the blocks still read as black and
   * white). Noise cannot be predicted from the frames before it, so the encoder spends the whole `bitRate` on
   * it and the file has the size of real footage, where flat frame codes compress to almost nothing. `'colour'` adds
   * noise of ±{@link CHROMA_GRAIN} to both chroma planes too, as ffmpeg's `noise=alls=…` does (the bench's grain
   * clip): chroma then changes from pixel to pixel, as on a real sensor, which is where chroma siting, interpolation
   * and the order of turning and scaling show. yuv420p (with `bitRate`) or, for `'colour'`, yuv420p10le too (constant
   * quality then); at least 320×240. Default false.
   */
  readonly grain?: boolean | 'colour';
  /**
   * Code at this average bit rate (bits per second; x264 ABR with a VBV buffer of two seconds) instead of a constant
   * quality: with {@link FixtureSpec.grain}, the file's size. h264 only. Default none (constant quality).
   */
  readonly bitRate?: number;
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
// Per codec, bumped when only that codec's output changes, so the other codecs' files keep their names. av1 2: screen
// content tools off (`scm=0`); with them SVT-AV1 copied wrong blocks into a few frames, and their codes did not read.
const CODEC_REVISION: Partial<Record<FixtureSpec['codec'], number>> = { av1: 2 };

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

/**
 * 1920×1080 H.264 at the bit rate of real footage: {@link H264_1080P} with grain coded at 5 Mbit/s, 300 frames (12 s),
 * 7.7 MB. For runs whose requests must be as many and as large as a real file's (read-ahead, retries).
 */
export const H264_1080P_FOOTAGE: FixtureSpec = { ...H264_1080P, frames: 300, grain: true, bitRate: 5_000_000 };

/** The committed demo video `examples/assets/sample.mp4`: H.264 in MP4, 150 frames (6 s), 3 B-frames, GOP 25, `moov` at the end. */
export const SAMPLE_MP4: FixtureSpec = { ...H264_MP4_MOOV_END, frames: 150, gop: 25 };

/** HEVC 8-bit (Main) in MP4 with 3 B-frames, GOP 12, 60 frames at 320×240. */
export const HEVC_MP4: FixtureSpec = { codec: 'hevc', container: 'mp4', frames: 60, ...QVGA, bFrames: 3, gop: 12 };

/** HEVC 10-bit (Main 10, yuv420p10le) in MP4 with 3 B-frames and grey patches, 60 frames at 320×240. */
export const HEVC10_MP4: FixtureSpec = { ...HEVC_MP4, pixelFormat: 'yuv420p10le', greyPatches: true };

/** AV1 (SVT-AV1) in MP4, GOP 12, 60 frames at 320×240. */
export const AV1_MP4: FixtureSpec = { codec: 'av1', container: 'mp4', frames: 60, ...QVGA, gop: 12 };

/** AV1 (SVT-AV1) in Matroska, GOP 12, 60 frames at 320×240. */
export const AV1_MKV: FixtureSpec = { ...AV1_MP4, container: 'mkv' };

/** H.264 in Matroska with 3 B-frames, GOP 12, 60 frames at 320×240. */
export const H264_MKV: FixtureSpec = { ...H264_TS, container: 'mkv' };

/** Motion JPEG in AVI, full range (yuvj420p), with grey patches, 60 frames at 320×240. Every frame is a keyframe. */
export const MJPEG_AVI: FixtureSpec = { codec: 'mjpeg', container: 'avi', frames: 60, ...QVGA, greyPatches: true };

/**
 * Variable frame rate: H.264 with 3 B-frames in MP4 whose frames last 1/25 s and 3/25 s in turn, so they start at
 * 0, 1, 4, 5, 8, 9, ... × 1/25 s; 60 frames (4.8 s). Frame numbers are pts ranks, not time × 25.
 */
export const H264_VFR_MP4: FixtureSpec = { ...H264_MP4_MOOV_END, frameDurations: [1, 3] };

/** As {@link H264_VFR_MP4} in Matroska. */
export const H264_VFR_MKV: FixtureSpec = { ...H264_VFR_MP4, container: 'mkv' };

/** H.264 with 3 B-frames in MP4 whose display matrix says "rotate 90° counter-clockwise"; pictures stored 320×240. */
export const H264_ROTATED_MP4: FixtureSpec = { ...H264_MP4_MOOV_END, rotation: 90 };

/**
 * H.264 with 3 B-frames in MP4 with two video streams: 320×240 showing `n`, then 160×120 showing `n + 1000`.
 */
export const H264_TWO_VIDEOS_MP4: FixtureSpec = { ...H264_MP4_MOOV_END, secondVideo: true };

/** The same two video streams in Matroska, which has no sample tables: frame numbers come from a scan. */
export const H264_TWO_VIDEOS_MKV: FixtureSpec = { ...H264_TWO_VIDEOS_MP4, container: 'mkv' };

/** H.264 with 3 B-frames in MP4 plus an AAC audio stream after it (video is stream 0, audio stream 1). */
export const H264_AUDIO_MP4: FixtureSpec = { ...H264_MP4_MOOV_END, audio: 'after-video' };

/** H.264 with 3 B-frames in Matroska with an AAC audio stream before it (audio is stream 0, video stream 1). */
export const H264_AUDIO_MKV: FixtureSpec = { ...H264_MKV, audio: 'before-video' };

/** H.264 High 4:4:4 (yuv444p) with 3 B-frames in MP4 at an odd size, 321×241, with grey patches; 60 frames. */
export const H264_444_ODD_MP4: FixtureSpec = {
  ...H264_MP4_MOOV_END, width: 321, height: 241, pixelFormat: 'yuv444p', greyPatches: true,
};

/**
 * A raw Annex-B H.264 stream with 3 B-frames: no container, so no timestamps but what FFmpeg's parser guesses;
 * with B-frames it cannot guess a pts. 60 frames at 320×240.
 */
export const H264_RAW_BFRAMES: FixtureSpec = { ...H264_TS, container: 'h264' };

/** H.264 with 3 B-frames in AVI, which stores no presentation timestamps (only one tick per packet). */
export const H264_AVI_BFRAMES: FixtureSpec = { ...H264_TS, container: 'avi' };

const COLOUR = { container: 'mp4', frames: 24, width: 640, height: 360, fps: 25, bFrames: 3, gop: 12, colourBand: true } as const;

/** HDR10: HEVC Main 10 tagged BT.2020 PQ (`smpte2084`) with mastering metadata, colour band, 24 frames at 640×360 in MP4. */
export const HEVC_PQ_MP4: FixtureSpec = { ...COLOUR, codec: 'hevc', pixelFormat: 'yuv420p10le', hdr: 'pq' };

/** As a phone records by default: HEVC Main 10 tagged BT.2020 HLG (`arib-std-b67`), colour band, in MOV. */
export const HEVC_HLG_MOV: FixtureSpec = { ...COLOUR, codec: 'hevc', container: 'mov', pixelFormat: 'yuv420p10le', hdr: 'hlg' };

/** SDR HEVC Main 10 (yuv420p10le, untagged), colour band. */
export const HEVC10_COLOUR_MP4: FixtureSpec = { ...COLOUR, codec: 'hevc', pixelFormat: 'yuv420p10le' };

/** SDR HEVC Main 4:2:2 10 (yuv422p10le, untagged), colour band. */
export const HEVC10_422_MP4: FixtureSpec = { ...COLOUR, codec: 'hevc', pixelFormat: 'yuv422p10le' };

/** SDR HEVC Main 12 (yuv420p12le, untagged), colour band. */
export const HEVC12_MP4: FixtureSpec = { ...COLOUR, codec: 'hevc', pixelFormat: 'yuv420p12le' };

/** 8-bit H.264 (yuv420p, untagged) with the colour band: the everyday case, which must stay as it is. */
export const H264_COLOUR_MP4: FixtureSpec = { ...COLOUR, codec: 'h264' };

/**
 * Footage with colour grain, as the bench's grain clip (testsrc2 under `noise=alls=20:allf=t+u`): 1280×720 H.264 with
 * noise in luma and both chroma planes, new in every frame, over the frame code and the colour band; 8 frames, 2
 * B-frames. Where chroma changes from pixel to pixel, how a conversion sites, interpolates or turns chroma shows.
 */
export const H264_GRAIN_720P: FixtureSpec = {
  codec: 'h264', container: 'mp4', frames: 8, width: 1280, height: 720, fps: 25, bFrames: 2, gop: 8, grain: 'colour', colourBand: true,
};

/** As {@link H264_GRAIN_720P} in HEVC Main 10 (yuv420p10le, untagged). */
export const HEVC10_GRAIN_720P: FixtureSpec = { ...H264_GRAIN_720P, codec: 'hevc', pixelFormat: 'yuv420p10le' };

/** The colour presets (test/colour.test.ts), by name. */
export const COLOUR_PRESETS: Readonly<Record<string, FixtureSpec>> = {
  H264_COLOUR_MP4, HEVC10_COLOUR_MP4, HEVC10_422_MP4, HEVC12_MP4, HEVC_PQ_MP4, HEVC_HLG_MOV,
};

/** The odd-input presets (test/odd-inputs.test.ts), by name. */
export const ODD_PRESETS: Readonly<Record<string, FixtureSpec>> = {
  HEVC_MP4, HEVC10_MP4, AV1_MP4, AV1_MKV, H264_MKV, MJPEG_AVI, H264_VFR_MP4, H264_VFR_MKV, H264_ROTATED_MP4,
  H264_AUDIO_MP4, H264_AUDIO_MKV, H264_444_ODD_MP4, H264_RAW_BFRAMES, H264_AVI_BFRAMES,
};

/**
 * Where {@link FixtureSpec.greyPatches} paints its patches in a `width`×`height` frame, and the RGB grey level each
 * one must read back as (R = G = B; chroma is neutral). Each patch is a square of `size` pixels at (`x`, `y`);
 * read its middle to stay clear of coding artefacts at its edges.
 */
export function greyPatches(width: number, height: number): Array<{ x: number; y: number; size: number; level: number }> {
  if (width < 320 || height < 240) throw new RangeError(`fixture: grey patches need at least 320×240, got ${width}×${height}`);
  // Below the 4×4 grid (the top 3/4) and left of the centred digits (which start past x = 100 at 320 wide).
  const y = Math.floor((height * 0.8) / 16) * 16;
  return [
    { x: 16, y, size: 32, level: 48 },
    { x: 64, y, size: 32, level: 208 },
  ];
}

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
  // The options added after the first presets are left out while unset, so the older presets keep their hashes.
  const canonical: Resolved = { ...withoutDefaults(spec), bFrames: spec.bFrames ?? 0, gop: spec.gop ?? 12,
    faststart: spec.faststart ?? false, stripCts: spec.stripCts ?? false };
  const json = JSON.stringify(Object.entries(canonical).sort(([a], [b]) => a.localeCompare(b)));
  const revision = CODEC_REVISION[spec.codec];
  const version = revision === undefined ? `${GENERATOR_VERSION}` : `${GENERATOR_VERSION}.${revision}`;
  const hash = createHash('sha256').update(`${version}:${json}`).digest('hex').slice(0, 12);
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

/** The mov muxer options of a fragmented fixture. */
function fragmentOptions(spec: FixtureSpec): Record<string, string> {
  const flags = ['empty_moov', spec.fragmentFrames ? '' : 'frag_keyframe', spec.fragmented === 'default-base-moof' ? 'default_base_moof' : ''];
  const movflags = flags.filter(Boolean).join('+');
  if (!spec.fragmentFrames) return { movflags };
  return { movflags, frag_duration: String(Math.round((spec.fragmentFrames * 1e6) / spec.fps)) };
}

/** A spec with the defaults of the original options filled in. */
type Resolved = FixtureSpec & Required<Pick<FixtureSpec, 'bFrames' | 'gop' | 'faststart' | 'stripCts'>>;

/** `spec` without the later options that are unset or at their default, so that they do not change the hash. */
function withoutDefaults(spec: FixtureSpec): FixtureSpec {
  const copy: Record<string, unknown> = { ...spec };
  const defaultFormat = spec.codec === 'mjpeg' ? 'yuvj420p' : 'yuv420p';
  if (copy.pixelFormat === undefined || copy.pixelFormat === defaultFormat) delete copy.pixelFormat;
  if (copy.frameDurations === undefined || spec.frameDurations?.every((d) => d === 1)) delete copy.frameDurations;
  for (const key of ['rotation', 'audio', 'greyPatches', 'hdr', 'colourBand', 'secondVideo', 'fragmented', 'fragmentFrames', 'grain', 'bitRate']) if (!copy[key]) delete copy[key];
  return copy as unknown as FixtureSpec;
}

function checkSpec(spec: FixtureSpec): void {
  const { frames, width, height, fps, bFrames = 0, gop = 12 } = spec;
  const ok = (v: number, min: number, max = Number.MAX_SAFE_INTEGER) => Number.isInteger(v) && v >= min && v <= max;
  if (!ok(frames, 1, 4096)) throw new RangeError(`fixture: frames must be an integer in 1..4096, got ${frames}`);
  const format = spec.pixelFormat ?? (spec.codec === 'mjpeg' ? 'yuvj420p' : 'yuv420p');
  const odd = format === 'yuv444p';
  if (!ok(width, 64) || !ok(height, 64) || (!odd && (width % 2 || height % 2))) {
    throw new RangeError(`fixture: size must be even (or any with yuv444p) and at least 64×64, got ${width}×${height}`);
  }
  const formats: Record<FixtureSpec['codec'], readonly string[]> = {
    h264: ['yuv420p', 'yuv444p'], hevc: ['yuv420p', 'yuv420p10le', 'yuv422p10le', 'yuv420p12le', 'yuv444p'], vp9: ['yuv420p'], av1: ['yuv420p'],
    mjpeg: ['yuvj420p'],
  };
  if (!formats[spec.codec].includes(format)) {
    throw new RangeError(`fixture: pixelFormat ${format} is not available for ${spec.codec}: use one of ${formats[spec.codec].join(', ')}`);
  }
  const durations = spec.frameDurations ?? [1];
  if (durations.length === 0 || !durations.every((d) => ok(d, 1, 1000))) {
    throw new RangeError(`fixture: frameDurations must be a non-empty list of integers in 1..1000, got [${durations.join(', ')}]`);
  }
  if (spec.rotation !== undefined && ![90, 180, 270].includes(spec.rotation)) {
    throw new RangeError(`fixture: rotation must be 90, 180 or 270, got ${spec.rotation}`);
  }
  if (spec.audio && !['mp4', 'mov', 'mkv', 'ts'].includes(spec.container)) {
    throw new RangeError(`fixture: audio is only for mp4, mov, mkv and ts, got ${spec.container}`);
  }
  if (spec.fragmented && (spec.faststart || !['mp4', 'mov'].includes(spec.container))) {
    throw new RangeError('fixture: fragmented is for mp4 and mov, without faststart');
  }
  if (spec.fragmentFrames !== undefined && (!spec.fragmented || !ok(spec.fragmentFrames, 1))) {
    throw new RangeError(`fixture: fragmentFrames must be a positive integer, with fragmented, got ${spec.fragmentFrames}`);
  }
  if (spec.greyPatches) greyPatches(width, height);
  if (spec.colourBand) colourBand(width, height);
  if (spec.colourBand && spec.codec === 'mjpeg') throw new RangeError('fixture: colourBand is painted in limited range, and mjpeg is full range');
  if (spec.colourBand && spec.greyPatches) throw new RangeError('fixture: colourBand and greyPatches paint the same band: pick one');
  const grainFormats = spec.grain === 'colour' ? ['yuv420p', 'yuv420p10le'] : ['yuv420p'];
  if (spec.grain && (!grainFormats.includes(format) || width < 320 || height < 240 || (spec.grain === true && spec.bitRate === undefined))) {
    throw new RangeError(`fixture: grain is for ${grainFormats.join(' or ')} at 320×240 or more (with a bitRate for luma grain), got ${format} ${width}×${height}`);
  }
  if (spec.bitRate !== undefined && (spec.codec !== 'h264' || !ok(spec.bitRate, 100_000, 100_000_000))) {
    throw new RangeError(`fixture: bitRate is for h264, an integer in 100000..100000000, got ${spec.bitRate} for ${spec.codec}`);
  }
  if (spec.hdr !== undefined && (spec.codec !== 'hevc' || !/p1[02]le$/.test(format))) {
    throw new RangeError(`fixture: hdr is for hevc at 10 or 12 bits, got ${spec.codec} ${format}`);
  }
  if (!ok(fps, 1, 1000)) throw new RangeError(`fixture: fps must be an integer in 1..1000, got ${fps}`);
  if (!ok(bFrames, 0, 16)) throw new RangeError(`fixture: bFrames must be an integer in 0..16, got ${bFrames}`);
  if (bFrames > 0 && spec.codec !== 'h264' && spec.codec !== 'hevc') {
    throw new RangeError(`fixture: bFrames is only for h264 and hevc, got ${bFrames} for ${spec.codec}`);
  }
  if (!ok(gop, 1)) throw new RangeError(`fixture: gop must be a positive integer, got ${gop}`);
}

async function write(path: string, spec: Resolved): Promise<string> {
  await mkdir(resolve(path, '..'), { recursive: true });
  const tmp = `${path}.${process.pid}-${Math.random().toString(36).slice(2)}.tmp`;
  const encoder = await createEncoder(spec);
  const second = spec.secondVideo ? { ...spec, width: evenHalf(spec.width), height: evenHalf(spec.height) } : undefined;
  const secondEncoder = second ? await createEncoder(second) : undefined;
  let audio: Encoder | undefined;
  let muxer: Muxer | undefined;
  try {
    if (spec.audio) audio = await Encoder.create(FF_ENCODER_AAC, { context: { bitRate: 64000 } });
    const rotation = spec.rotation;
    const muxerOptions: MuxerOptions = {
      format: FORMATS[spec.container],
      ...(spec.faststart ? { options: { movflags: 'faststart' } } : {}),
      ...(spec.fragmented ? { options: fragmentOptions(spec) } : {}),
      // Called before the header is written, once the streams have their parameters.
      ...(rotation ? { configure: (context: FormatContext) => {
        context.streams[index]!.codecpar.addCodedSideData(AV_PKT_DATA_DISPLAYMATRIX, displayMatrix(rotation));
      } } : {}),
    };
    muxer = await Muxer.open(tmp, muxerOptions);
    const audioBefore = audio && spec.audio === 'before-video' ? muxer.addStream(audio) : undefined;
    const index = muxer.addStream(encoder);
    const secondIndex = secondEncoder ? muxer.addStream(secondEncoder) : -1;
    const tone = audio ? new Tone(audio, muxer, audioBefore ?? muxer.addStream(audio)) : undefined;
    let decodeIndex = 0n;
    const writeAll = async (packets: Packet[], stream = index) => {
      try {
        for (const packet of packets) {
          if (spec.stripCts) packet.pts = packet.dts = decodeIndex++;
          await muxer!.writePacket(packet, stream);
        }
      } finally {
        for (const packet of packets) packet.free();
      }
    };
    const timing = frameTiming(spec);
    for (let n = 0; n < spec.frames; n++) {
      const frame = codeFrame(spec, n, timing);
      try {
        await writeAll(await encoder.encodeAll(frame));
      } finally {
        frame.free();
      }
      if (second && secondEncoder) {
        const other = codeFrame(second, n, timing, n + 1000);
        try {
          await writeAll(await secondEncoder.encodeAll(other), secondIndex);
        } finally {
          other.free();
        }
      }
      // The tone keeps up with the video: up to the end of this frame.
      await tone?.until(Number(timing.pts(n + 1)) / spec.fps);
    }
    await writeAll(await encoder.encodeAll(null));
    if (secondEncoder) {
      await writeAll(await secondEncoder.encodeAll(null), secondIndex);
      await muxer.writePacket(null, secondIndex);
    }
    await tone?.finish();
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
    secondEncoder?.close();
    audio?.close();
  }
}

/** Demuxes `path` and throws unless its (first) video stream has exactly `frames` packets. */
async function checkPacketCount(path: string, frames: number): Promise<void> {
  const input = new FormatContext();
  const packet = new Packet();
  packet.alloc();
  try {
    FFmpegError.throwIfError(await input.openInput(path, null, null), `fixture: cannot open ${path}`);
    FFmpegError.throwIfError(await input.findStreamInfo(null), `fixture: cannot probe ${path}`);
    const video = input.streams.find((stream) => stream.codecpar.codecType === AVMEDIA_TYPE_VIDEO)?.index ?? 0;
    let count = 0;
    while ((await input.readFrame(packet)) >= 0) {
      if (packet.streamIndex === video) count++;
      packet.unref();
    }
    if (count !== frames) throw new Error(`fixture: ${path} has ${count} packets, expected ${frames}`);
  } finally {
    packet.free();
    await input.closeInput();
  }
}

/** Frame `n`'s pts and duration in units of 1/fps (`pts(frames)` is the end of the video). */
interface FrameTiming {
  pts(n: number): bigint;
  duration(n: number): bigint;
}

function frameTiming(spec: FixtureSpec): FrameTiming {
  const durations = spec.frameDurations ?? [1];
  const cycle = durations.reduce((a, b) => a + b, 0);
  const duration = (n: number) => BigInt(durations[n % durations.length]!);
  const pts = (n: number) => {
    const whole = Math.floor(n / durations.length);
    let t = whole * cycle;
    for (let i = 0; i < n % durations.length; i++) t += durations[i]!;
    return BigInt(t);
  };
  return { pts, duration };
}

const PIXEL_FORMATS = {
  yuv420p: AV_PIX_FMT_YUV420P, yuv420p10le: AV_PIX_FMT_YUV420P10LE, yuv422p10le: AV_PIX_FMT_YUV422P10LE,
  yuv420p12le: AV_PIX_FMT_YUV420P12LE, yuv444p: AV_PIX_FMT_YUV444P, yuvj420p: AV_PIX_FMT_YUVJ420P,
} as const;

/** Half of `size`, rounded down to an even number (4:2:0 needs one). */
function evenHalf(size: number): number {
  return Math.floor(size / 4) * 2;
}

/** Frame `n` of `spec`, showing `code`. */
function codeFrame(spec: FixtureSpec, n: number, timing: FrameTiming, code = n): Frame {
  const mjpeg = spec.codec === 'mjpeg';
  const frame = new Frame();
  frame.alloc();
  frame.format = PIXEL_FORMATS[spec.pixelFormat ?? (mjpeg ? 'yuvj420p' : 'yuv420p')];
  frame.colorRange = mjpeg ? AVCOL_RANGE_JPEG : AVCOL_RANGE_MPEG;
  if (spec.hdr) {
    // The encoder takes its VUI (and the muxer its `colr` box) from the first frame's tags.
    frame.colorPrimaries = AVCOL_PRI_BT2020;
    frame.colorSpace = AVCOL_SPC_BT2020_NCL;
    frame.colorTrc = spec.hdr === 'pq' ? AVCOL_TRC_SMPTE2084 : AVCOL_TRC_ARIB_STD_B67;
  }
  frame.width = spec.width;
  frame.height = spec.height;
  frame.timeBase = new Rational(1, spec.fps);
  frame.pts = timing.pts(n);
  frame.duration = timing.duration(n);
  frame.allocBuffer();
  drawFrameCode(frame, code);
  if (spec.greyPatches) paintGreyPatches(frame, mjpeg);
  if (spec.colourBand) paintColourBand(frame, n, spec.hdr ? BT2020_LUMA : BT601_LUMA);
  if (spec.grain) paintGrain(frame, n, spec.grain === 'colour');
  return frame;
}

/** The amplitude of {@link FixtureSpec.grain} in 8-bit luma steps, and how far black and white are pulled in. */
const GRAIN = 24;
/** The amplitude of {@link FixtureSpec.grain} `'colour'` in 8-bit chroma steps. */
export const CHROMA_GRAIN = 10;

/**
 * Adds {@link FixtureSpec.grain} to frame `n` (limited range, 8 or 10 bits): luma black and white are moved `GRAIN`
 * steps towards grey, then each luma sample gets a seeded value in -GRAIN..GRAIN, and with `chroma` each chroma sample
 * one in -CHROMA_GRAIN..CHROMA_GRAIN; the same for the same `n`.
 */
function paintGrain(frame: Frame, n: number, chroma: boolean): void {
  const deep = frame.format === AV_PIX_FMT_YUV420P10LE;
  // xorshift32, one draw for four samples; seeded by the frame number (never 0).
  let state = (Math.imul(n + 1, 0x9e3779b1) ^ 0x5bd1e995) >>> 0 || 1;
  const plane = (p: number, width: number, height: number, shift: (v: number, noise: number) => number, amplitude: number) => {
    const data = frame.data![p]!;
    const stride = frame.linesize[p]!;
    const scale = deep ? 4 : 1;
    const read = deep ? (at: number) => data.readUInt16LE(at * 2) / scale : (at: number) => data[at]!;
    const write = deep ? (at: number, v: number) => data.writeUInt16LE(Math.round(v * scale), at * 2) : (at: number, v: number) => (data[at] = v);
    const row = stride / (deep ? 2 : 1);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x += 4) {
        state ^= state << 13;
        state ^= state >>> 17;
        state ^= state << 5;
        for (let i = 0; i < 4 && x + i < width; i++) {
          const noise = ((((state >>> (8 * i)) & 0xff) * (2 * amplitude + 1)) >> 8) - amplitude;
          const at = y * row + x + i;
          write(at, shift(read(at), noise));
        }
      }
    }
  };
  plane(0, frame.width, frame.height, (v, noise) => (v > 128 ? v - GRAIN : v + GRAIN) + noise, GRAIN);
  if (!chroma) return;
  const limited = (v: number) => Math.min(240, Math.max(16, v));
  for (const p of [1, 2]) plane(p, frame.width >> 1, frame.height >> 1, (v, noise) => limited(v + noise), CHROMA_GRAIN);
}

/** Luma weights (Kr, Kb) of the matrices the colour band is painted in. */
const BT601_LUMA = { kr: 0.299, kb: 0.114 } as const;
const BT2020_LUMA = { kr: 0.2627, kb: 0.0593 } as const;

/**
 * Where {@link FixtureSpec.colourBand} paints, in a `width`×`height` frame: the band of rows `top`..`height` below
 * the grid, and in it the flat white patch, a square of `size` pixels at (`x`, `y`) (read its middle). `colourAt`
 * is the band's colour (R', G', B' in 0..1, as coded, before any transfer) at a pixel outside the digits and the
 * patch: a hue gradient in the upper half, two rows of colour bars shifted against each other in the lower half.
 */
export function colourBand(width: number, height: number): {
  top: number;
  white: { x: number; y: number; size: number };
  colourAt: (x: number, y: number) => [number, number, number];
} {
  if (width < 320 || height < 240) throw new RangeError(`fixture: the colour band needs at least 320×240, got ${width}×${height}`);
  const top = Math.round(height * 0.75); // where the frame code's grid ends
  const size = 32;
  const white = { x: width - 8 - size, y: top + 2 * Math.floor((height - top - size) / 4), size };
  const bars: Array<[number, number, number]> = [
    [0.75, 0, 0], [0, 0.75, 0], [0, 0, 0.75], [0, 0.75, 0.75], [0.75, 0, 0.75], [0.75, 0.75, 0], [1, 0.5, 0.1], [0.2, 0.1, 0.6],
  ];
  // Bar edges at odd positions too, so that chroma samples straddle them.
  const barWidth = width / 9.5;
  const middle = top + Math.floor((height - top) / 2);
  const lower = middle + Math.floor((height - middle) / 2);
  const colourAt = (x: number, y: number): [number, number, number] => {
    if (y < middle) return hsv((x / width) * 360, 1, 0.8);
    const shift = y < lower ? 0 : barWidth / 2;
    return bars[Math.floor((x + shift) / barWidth) % bars.length]!;
  };
  return { top, white, colourAt };
}

function hsv(hue: number, saturation: number, value: number): [number, number, number] {
  const f = (k: number) => {
    const h = (k + hue / 60) % 6;
    return value - value * saturation * Math.max(0, Math.min(h, 4 - h, 1));
  };
  return [f(5), f(3), f(1)];
}

/**
 * Paints {@link colourBand} over the band of the frame code (whose digits stay white) at the frame's bit depth,
 * limited range, with the matrix of `luma`; each chroma sample takes the colour of the luma pixel at its top left.
 */
function paintColourBand(frame: Frame, n: number, { kr, kb }: { kr: number; kb: number }): void {
  const { width, height } = frame;
  const bits = frame.format === AV_PIX_FMT_YUV420P12LE ? 12 : frame.format === AV_PIX_FMT_YUV420P10LE || frame.format === AV_PIX_FMT_YUV422P10LE ? 10 : 8;
  const scale = 1 << (bits - 8);
  const subX = frame.format === AV_PIX_FMT_YUV444P ? 0 : 1;
  const subY = subX === 1 && frame.format !== AV_PIX_FMT_YUV422P10LE ? 1 : 0;
  const { top, white, colourAt } = colourBand(width, height);
  const digits = renderFrameCode(n, width, height);
  const isWhite = (x: number, y: number) =>
    digits[y * width + x] === 1 || (x >= white.x && x < white.x + white.size && y >= white.y && y < white.y + white.size);
  const ycbcr = (x: number, y: number): [number, number, number] => {
    const [r, g, b] = isWhite(x, y) ? [1, 1, 1] : colourAt(x, y);
    const ey = kr * r + (1 - kr - kb) * g + kb * b;
    return [(16 + 219 * ey) * scale, (128 + (224 * (b - ey)) / (2 * (1 - kb))) * scale, (128 + (224 * (r - ey)) / (2 * (1 - kr))) * scale];
  };
  const put = (plane: number, x: number, y: number, value: number) => {
    const data = frame.data![plane]!;
    const offset = y * frame.linesize[plane]!;
    if (bits === 8) data[offset + x] = Math.round(value);
    else data.writeUInt16LE(Math.round(value), offset + 2 * x);
  };
  for (let y = top; y < height; y++) for (let x = 0; x < width; x++) put(0, x, y, ycbcr(x, y)[0]);
  for (let cy = top >> subY; cy < height >> subY; cy++) {
    for (let cx = 0; cx < width >> subX; cx++) {
      const [, cb, cr] = ycbcr(cx << subX, cy << subY);
      put(1, cx, cy, cb);
      put(2, cx, cy, cr);
    }
  }
}

/** Paints {@link greyPatches} into the luma plane, at the range and bit depth of the frame. */
function paintGreyPatches(frame: Frame, fullRange: boolean): void {
  const tenBit = frame.format === AV_PIX_FMT_YUV420P10LE;
  const luma = frame.data![0]!;
  const stride = frame.linesize[0]!;
  for (const { x, y, size, level } of greyPatches(frame.width, frame.height)) {
    const eightBit = fullRange ? level : 16 + (level * 219) / 255;
    const value = Math.round(tenBit ? eightBit * 4 : eightBit);
    for (let row = y; row < y + size; row++) {
      for (let col = x; col < x + size; col++) {
        if (tenBit) luma.writeUInt16LE(value, row * stride + 2 * col);
        else luma[row * stride + col] = value;
      }
    }
  }
}

/**
 * A display matrix (nine 32-bit integers, 16.16 fixed point but the last column, 2.30) that rotates the picture by
 * `degrees` counter-clockwise, as FFmpeg's av_display_rotation_set builds it.
 */
function displayMatrix(degrees: number): Buffer {
  const radians = (degrees * Math.PI) / 180;
  const fixed = (v: number) => Math.round(v * 65536);
  const cos = fixed(Math.cos(radians));
  const sin = fixed(Math.sin(radians));
  const matrix = Buffer.alloc(36);
  [cos, -sin, 0, sin, cos, 0, 0, 0, 1 << 30].forEach((v, i) => matrix.writeInt32LE(v, i * 4));
  return matrix;
}

/** A 440 Hz sine coded by an audio encoder into its own stream of the muxer, in frames of 1024 samples. */
class Tone {
  static readonly RATE = 48000;
  static readonly FRAME = 1024;
  #encoder: Encoder;
  #muxer: Muxer;
  #index: number;
  #samples = 0;

  constructor(encoder: Encoder, muxer: Muxer, index: number) {
    this.#encoder = encoder;
    this.#muxer = muxer;
    this.#index = index;
  }

  /** Codes whole frames until the tone reaches `seconds`. */
  async until(seconds: number): Promise<void> {
    while (this.#samples < seconds * Tone.RATE) {
      const frame = this.#frame();
      try {
        await this.#write(await this.#encoder.encodeAll(frame));
      } finally {
        frame.free();
      }
    }
  }

  async finish(): Promise<void> {
    await this.#write(await this.#encoder.encodeAll(null));
    await this.#muxer.writePacket(null, this.#index);
  }

  #frame(): Frame {
    const frame = new Frame();
    frame.alloc();
    frame.format = AV_SAMPLE_FMT_FLTP;
    frame.sampleRate = Tone.RATE;
    frame.channelLayout = { nbChannels: 1, order: AV_CHANNEL_ORDER_NATIVE, mask: AV_CH_LAYOUT_MONO };
    frame.nbSamples = Tone.FRAME;
    frame.timeBase = new Rational(1, Tone.RATE);
    frame.pts = BigInt(this.#samples);
    frame.allocBuffer();
    const plane = frame.data![0]!;
    for (let i = 0; i < Tone.FRAME; i++) {
      plane.writeFloatLE(0.2 * Math.sin((2 * Math.PI * 440 * (this.#samples + i)) / Tone.RATE), i * 4);
    }
    this.#samples += Tone.FRAME;
    return frame;
  }

  async #write(packets: Packet[]): Promise<void> {
    try {
      for (const packet of packets) await this.#muxer.writePacket(packet, this.#index);
    } finally {
      for (const packet of packets) packet.free();
    }
  }
}

/** x264's VBV parameters for an average `bitRate`: a peak of twice it, over a buffer of two seconds. */
function vbv(bitRate: number | undefined): string {
  if (bitRate === undefined) return '';
  const kbits = Math.round(bitRate / 1000);
  return `:vbv-maxrate=${2 * kbits}:vbv-bufsize=${2 * kbits}`;
}

function createEncoder(spec: Resolved): Promise<Encoder> {
  const { gop, bFrames } = spec;
  // The colour band is for checking colours: coded finely enough that its white patch decodes as white.
  const fine = spec.colourBand === true;
  const context = { gopSize: gop, maxBFrames: bFrames, framerate: new Rational(spec.fps, 1) };
  switch (spec.codec) {
    case 'h264':
      return Encoder.create(FF_ENCODER_LIBX264, {
        context: spec.bitRate === undefined ? context : { ...context, bitRate: spec.bitRate },
        options: {
          preset: 'veryfast',
          ...(spec.bitRate === undefined ? { crf: fine ? 12 : 23 } : {}),
          'x264-params': `keyint=${gop}:min-keyint=${gop}:scenecut=0:bframes=${bFrames}:b-adapt=0:open-gop=0:log=-1${vbv(spec.bitRate)}`,
        },
      });
    case 'hevc': {
      // HDR10's static metadata (a P3 D65 mastering display of 1000 nits, MaxCLL 1000, MaxFALL 400), as such files carry.
      const hdr10 = spec.hdr === 'pq'
        ? ':hdr10=1:master-display=G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1):max-cll=1000,400'
        : '';
      return Encoder.create(FF_ENCODER_LIBX265, {
        context,
        options: {
          preset: 'veryfast',
          crf: fine ? 12 : 28,
          'x265-params': `keyint=${gop}:min-keyint=${gop}:scenecut=0:bframes=${bFrames}:b-adapt=0:open-gop=0:log-level=error${hdr10}`,
        },
      });
    }
    case 'vp9':
      return Encoder.create(FF_ENCODER_LIBVPX_VP9, {
        context: { ...context, bitRate: 0 },
        options: { crf: 32, deadline: 'good', 'cpu-used': 5 },
      });
    case 'av1':
      // SVT-AV1 logs its whole configuration to stderr by itself (not through FFmpeg's log); 1 = errors only.
      process.env.SVT_LOG ??= '1';
      return Encoder.create(FF_ENCODER_LIBSVTAV1, { context: { ...context, bitRate: 0 }, options: { preset: 10, crf: 35, 'svtav1-params': 'scm=0' } });
    case 'mjpeg': {
      const configure: EncoderOptions['configure'] = (ctx: CodecContext) => {
        ctx.setFlags(AV_CODEC_FLAG_QSCALE);
        ctx.globalQuality = 5 * FF_QP2LAMBDA;
      };
      return Encoder.create(FF_ENCODER_MJPEG, { context, configure });
    }
  }
}

/**
 * The bench's own videos, made once with Debian's ffmpeg and kept in `.bench/` (git-ignored). `testsrc2` is a
 * detailed, moving picture, so the bitrate, and the work of the image encoders, is closer to real footage than the
 * test fixtures' frame code, which compresses to almost nothing. Its flat areas still compress far better than
 * footage does, so `grain` is the same picture under film grain (ffmpeg's `noise` filter, new noise every frame):
 * texture everywhere, as a camera's sensor gives, which is what makes PNG expensive.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The pictures a clip can show. */
export const PICTURES = {
  testsrc2: { name: 'testsrc2', filter: 'testsrc2' },
  // Grain of strength 20 (of 100), temporal (a new pattern each frame) and uniform, on luma and chroma.
  grain: { name: 'testsrc2 with film grain', filter: 'testsrc2', after: 'noise=alls=20:allf=t+u' },
} as const satisfies Record<string, { name: string; filter: string; after?: string }>;
export type Picture = keyof typeof PICTURES;

/** What a bench clip is. Every clip is H.264 (High, yuv420p) with B-frames in MP4. */
export interface ClipSpec {
  readonly picture: Picture;
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  readonly seconds: number;
}

/**
 * The clips of a full run: 1080p for 10 s, plain and with grain; 4K for 4 s (the memory case); and 1080p for 12 s
 * (300 frames, plain and with grain), the files of the whole-process comparison from the command line.
 */
export const FULL_CLIPS = {
  hd: { picture: 'testsrc2', width: 1920, height: 1080, fps: 25, seconds: 10 },
  grain: { picture: 'grain', width: 1920, height: 1080, fps: 25, seconds: 10 },
  uhd: { picture: 'testsrc2', width: 3840, height: 2160, fps: 25, seconds: 4 },
  cli: { picture: 'testsrc2', width: 1920, height: 1080, fps: 25, seconds: 12 },
  'cli-grain': { picture: 'grain', width: 1920, height: 1080, fps: 25, seconds: 12 },
} as const satisfies Record<string, ClipSpec>;
export type ClipId = keyof typeof FULL_CLIPS;

/** The clips of `--quick`: the same pictures, shorter. */
export const QUICK_CLIPS = {
  hd: { ...FULL_CLIPS.hd, seconds: 2 },
  grain: { ...FULL_CLIPS.grain, seconds: 2 },
  uhd: { ...FULL_CLIPS.uhd, seconds: 1 },
  cli: { ...FULL_CLIPS.cli, seconds: 2 },
  'cli-grain': { ...FULL_CLIPS['cli-grain'], seconds: 2 },
} as const satisfies Record<ClipId, ClipSpec>;

// Bump when the ffmpeg arguments change, so cached clips are remade.
const VERSION = 1;

/** `1920x1080, 25 fps, 10 s (250 frames)`. */
export function describeClip(spec: ClipSpec): string {
  return `${PICTURES[spec.picture].name}, ${spec.width}×${spec.height}, ${spec.fps} fps, ${spec.seconds} s (${spec.fps * spec.seconds} frames)`;
}

/**
 * Returns the path of a clip made to `spec` in `dir`, making it first unless it is there. It is written under a
 * temporary name and renamed, and checked first: exactly `fps × seconds` frames, with B-frames.
 */
export async function makeClip(spec: ClipSpec, dir: string): Promise<string> {
  const { picture, width, height, fps, seconds } = spec;
  const path = join(dir, `${picture}-${width}x${height}-${fps}fps-${seconds}s-h264-v${VERSION}.mp4`);
  if (existsSync(path)) return path;
  await mkdir(dir, { recursive: true });
  process.stderr.write(`making ${path} (${describeClip(spec)})...\n`);
  const tmp = `${path}.${process.pid}.tmp.mp4`;
  try {
    const { filter, after } = PICTURES[picture] as { filter: string; after?: string };
    const source = ['-f', 'lavfi', '-i', `${filter}=size=${width}x${height}:rate=${fps}`, '-t', String(seconds)];
    if (after) source.push('-vf', after);
    // A GOP of 2 s and 3 B-frames, as a camera or a web encoder would make; veryfast keeps the making short.
    const coding = ['-c:v', 'libx264', '-preset', 'veryfast', '-crf', '23', '-g', String(2 * fps), '-bf', '3', '-pix_fmt', 'yuv420p'];
    await run('ffmpeg', ['-v', 'error', '-nostdin', '-y', ...source, ...coding, tmp], { maxBuffer: 1 << 24 });
    const { stdout } = await run('ffprobe', [
      '-v', 'error', '-select_streams', 'v:0', '-count_packets',
      '-show_entries', 'stream=nb_read_packets,has_b_frames', '-of', 'json', tmp,
    ]);
    const stream = (JSON.parse(stdout) as { streams: Array<{ nb_read_packets?: string; has_b_frames?: number }> }).streams[0];
    const frames = Number(stream?.nb_read_packets);
    if (frames !== fps * seconds || !(Number(stream?.has_b_frames) > 0)) {
      throw new Error(`bench: ${tmp} has ${frames} frames and has_b_frames ${stream?.has_b_frames}; expected ${fps * seconds} frames with B-frames`);
    }
    await rename(tmp, path);
    return path;
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

/**
 * The frame numbering a video should get, computed with Debian's ffmpeg/ffprobe and nothing of framepipe's or
 * node-av's: the seed's rule applied to the packet timestamps ffprobe reports, and the picture of each decoded frame
 * read back from its frame code. Also derives fixtures from others with the ffmpeg command line (cached).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { promisify } from 'node:util';
import { FIXTURE_DIR } from './fixtures.ts';
import { readFrameCode } from './frame-code.ts';

const execFileAsync = promisify(execFile);

/** Runs ffmpeg or ffprobe (quiet but for errors) and returns its stdout; fails with an install hint when missing. */
export async function runTool(tool: 'ffmpeg' | 'ffprobe', args: string[]): Promise<Buffer> {
  try {
    const { stdout } = await execFileAsync(tool, ['-v', 'error', ...args], { encoding: 'buffer', maxBuffer: 1 << 30 });
    return stdout;
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') throw new Error(`${tool} is not installed; the reference needs it: apt-get install -y ffmpeg`);
    throw new Error(`${tool} ${args.join(' ')} failed: ${e.stderr?.toString() ?? e.message}`);
  }
}

/** One frame as ffmpeg decodes it, in output (display) order. */
export interface ReferenceFrame {
  /** The frame's pts as ffprobe reports it, in the stream's time base; null when it has none. */
  readonly pts: bigint | null;
  /** The number its frame code shows (the fixture's display position when it was made). */
  readonly picture: number;
}

/** What ffmpeg makes of the first video stream of a file. */
export interface Reference {
  /** Size of the stored pictures (before any rotation a player applies). */
  readonly width: number;
  readonly height: number;
  /** The pts of every packet, in file order; null when unset. */
  readonly packetPts: ReadonlyArray<bigint | null>;
  /** Every frame the decoder outputs, in order: what a player shows, one after the other. */
  readonly frames: readonly ReferenceFrame[];
  /**
   * The seed's rule: packet pts that are set and >= 0, sorted; a pts's frame number is its rank (the last one when it
   * repeats); a decoded frame gets the number of its pts, and none without a pts or with a pts not in the list. Maps
   * frame number → the picture that frame shows.
   */
  readonly pictureOf: ReadonlyMap<number, number>;
}

/**
 * Computes the {@link Reference} of `path` with ffprobe (packet and frame timestamps) and ffmpeg (the pictures,
 * decoded as stored: `-noautorotate`, every frame passed through). The two tools decode the same frames in the same
 * order; the counts are checked to agree.
 */
export async function ffmpegReference(path: string): Promise<Reference> {
  const probe = async (entries: string) => (await probeJson(path, entries)) as { packets?: Array<{ pts?: number | string }>; frames?: Array<{ pts?: number | string }> };
  const { width, height } = await storedSize(path);
  const ptsOf = (entry: { pts?: number | string }) => (entry.pts === undefined || entry.pts === 'N/A' ? null : BigInt(entry.pts));
  const packetPts = ((await probe('packet=pts')).packets ?? []).map(ptsOf);
  const framePts = ((await probe('frame=pts')).frames ?? []).map(ptsOf);

  const pictures = await ffmpegPictures(path);
  if (pictures.length !== framePts.length) {
    throw new Error(`ffmpeg decoded ${pictures.length} frames of ${path} but ffprobe ${framePts.length}: cannot pair them`);
  }
  const frames = framePts.map((pts, i) => ({ pts, picture: pictures[i]! }));
  return { width, height, packetPts, frames, pictureOf: seedNumbering(packetPts, frames) };
}

/** The seed's rule (see {@link Reference.pictureOf}), written out plainly. */
export function seedNumbering(packetPts: ReadonlyArray<bigint | null>, frames: readonly ReferenceFrame[]): Map<number, number> {
  const sorted = packetPts.filter((pts): pts is bigint => pts !== null && pts >= 0n).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const pictureOf = new Map<number, number>();
  for (const { pts, picture } of frames) {
    if (pts === null || pts < 0n) continue;
    const index = sorted.lastIndexOf(pts);
    // A number is given once: a second frame with the same pts is skipped, as framepipe skips a duplicate.
    if (index >= 0 && !pictureOf.has(index)) pictureOf.set(index, picture);
  }
  return new Map([...pictureOf].sort(([a], [b]) => a - b));
}

/** What ffprobe says of the first video stream of `path` (`-show_entries entries`), as JSON. */
async function probeJson(path: string, entries: string): Promise<unknown> {
  return JSON.parse((await runTool('ffprobe', ['-select_streams', 'v:0', '-show_entries', entries, '-of', 'json', path])).toString());
}

/** The size of the stored pictures of the first video stream of `path`. */
async function storedSize(path: string): Promise<{ width: number; height: number }> {
  const stream = ((await probeJson(path, 'stream=width,height')) as { streams?: Array<{ width?: number; height?: number }> }).streams?.[0];
  if (!stream?.width || !stream.height) throw new Error(`ffprobe finds no video stream with a size in ${path}`);
  return { width: stream.width, height: stream.height };
}

/**
 * The frame codes of the pictures ffmpeg gives for the first video stream of `path`, in output order, decoded as stored
 * (`-noautorotate`, every frame the filters give passed through). `filter` is a `-vf` graph (e.g. `fps=fps=2:round=up`),
 * `inputArgs` go before `-i` (e.g. `['-skip_frame', 'nokey']`).
 */
export async function ffmpegPictures(path: string, options: { filter?: string; inputArgs?: string[] } = {}): Promise<number[]> {
  const { width, height } = await storedSize(path);
  const filter = options.filter === undefined ? [] : ['-vf', options.filter];
  const raw = await runTool('ffmpeg', [
    ...(options.inputArgs ?? []), '-noautorotate', '-i', path, '-map', '0:v:0', ...filter, '-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-',
  ]);
  const size = width * height * 3;
  if (raw.length % size !== 0) throw new Error(`ffmpeg output of ${path} is not a whole number of ${width}×${height} frames`);
  const pictures: number[] = [];
  for (let o = 0; o < raw.length; o += size) pictures.push(readFrameCode(raw.subarray(o, o + size), width, height));
  return pictures;
}

/**
 * A file made from `source` by `ffmpeg -i source <args> out.<ext>` (e.g. a stream-copy cut), kept in the fixture
 * cache under a name derived from the source, the arguments and the ffmpeg version, so it is made once. `inputArgs`
 * go before `-i` (e.g. `['-ss', '0.6']`, or `['-f', 'lavfi']` for a source that is a filter graph). `name` replaces
 * the source's name at the start of the file's name.
 */
export async function deriveWithFfmpeg(
  source: string,
  options: { inputArgs?: string[]; args: string[]; ext: string; dir?: string; name?: string },
): Promise<string> {
  const version = (await runTool('ffmpeg', ['-version'])).toString().split('\n')[0] ?? '';
  const key = JSON.stringify([basename(source), options.inputArgs ?? [], options.args, version]);
  const hash = createHash('sha256').update(key).digest('hex').slice(0, 12);
  const dir = options.dir ?? FIXTURE_DIR;
  const path = join(dir, `${options.name ?? `${basename(source, extname(source))}-derived`}-${hash}.${options.ext}`);
  if (existsSync(path)) return path;
  await mkdir(dir, { recursive: true });
  const tmp = `${path}.${process.pid}-${Math.random().toString(36).slice(2)}.tmp.${options.ext}`;
  try {
    await runTool('ffmpeg', ['-y', ...(options.inputArgs ?? []), '-i', source, ...options.args, tmp]);
    await rename(tmp, path);
  } finally {
    await rm(tmp, { force: true });
  }
  return path;
}

/**
 * Frames `first` to `last` (counted in display order, as ffmpeg's `n`) as ffmpeg 5.1 gives them through `filters`
 * (after its own autorotation, unless `-noautorotate` is among `inputArgs`), as raw `pixFmt`: one buffer per frame.
 */
export async function ffmpegFrames(
  path: string,
  options: { first: number; last: number; filters?: string[]; pixFmt: string; frameBytes: number; inputArgs?: string[]; args?: string[] },
): Promise<Buffer[]> {
  const { first, last, filters = [], pixFmt, frameBytes } = options;
  const vf = [`select='between(n\\,${first}\\,${last})'`, ...filters].join(',');
  const raw = await runTool('ffmpeg', [
    ...(options.inputArgs ?? []), '-i', path, '-vf', vf, '-vsync', '0', ...(options.args ?? []), '-f', 'rawvideo', '-pix_fmt', pixFmt, '-',
  ]);
  const count = last - first + 1;
  if (raw.length !== frameBytes * count) throw new Error(`ffmpeg gave ${raw.length} bytes for ${count} frames of ${frameBytes} bytes (${vf})`);
  return Array.from({ length: count }, (_, i) => raw.subarray(i * frameBytes, (i + 1) * frameBytes));
}

/**
 * The mean and the largest absolute difference between the samples of two pictures (bytes, or 16-bit little-endian
 * numbers), and the share of samples that differ by more than `far`.
 */
export function sampleDifference(a: Buffer, b: Buffer, bytesPerSample: 1 | 2 = 1, far = 16): { mean: number; max: number; farShare: number } {
  if (a.length !== b.length) throw new Error(`pictures of ${a.length} and ${b.length} bytes cannot be compared`);
  let sum = 0;
  let max = 0;
  let farCount = 0;
  const samples = a.length / bytesPerSample;
  for (let i = 0; i < samples; i++) {
    const d = bytesPerSample === 1 ? Math.abs(a[i]! - b[i]!) : Math.abs(a.readUInt16LE(i * 2) - b.readUInt16LE(i * 2));
    sum += d;
    if (d > max) max = d;
    if (d > far) farCount++;
  }
  return { mean: sum / samples, max, farShare: farCount / samples };
}

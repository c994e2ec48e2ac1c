import { BufferPool, FrameBudget } from '@framepipe/common';
import { isByteSource, openByteSource } from '@framepipe/http-source';
import type { ByteSourceInput } from '@framepipe/http-source';
import { RawVideoSink } from '@framepipe/rgb';
import type { RawVideoInfo } from '@framepipe/rgb';
import { checkPipeOptions, decodeOptionsOf, httpOptionsOf } from './options.ts';
import type { PipeOptions } from './options.ts';
import { attachProbe, finishStats } from './run-stats.ts';
import type { FrameStages } from './open-frame-stages.ts';
import type { Selection } from '@framepipe/pts-indexer';
import { openFrameStages } from './open-frame-stages.ts';
import { runFrameSink } from './stream-video-frames.ts';

/** How a {@link pipeVideoFrames} run ended. */
export interface PipeResult {
  /** Frames whose bytes went to the output. */
  readonly frames: number;
  /** Bytes handed to the output, headers included. */
  readonly bytes: number;
  /** What the stream holds (size, pixel format, rate); null when no frame was written. */
  readonly info: RawVideoInfo | null;
  /**
   * True when the output's reader went away before the last frame (EPIPE: `| head -c N`): the run stopped there,
   * freed everything, and resolved, since a reader that has what it wants is no failure.
   */
  readonly readerClosed: boolean;
}

/**
 * Decodes the frames of a video and writes them, in frame order, as one byte stream into `output` (`process.stdout`,
 * a child process's stdin): `raw` (packed RGB24 frames one after another) or `y4m` (YUV4MPEG2), for another program
 * to read (ffmpeg, a trainer written in another language). No file is written, temporary or not. The run waits
 * whenever `output` is full, so a slow reader holds back decoding and memory stays bounded (`queueMaxSize` frames).
 * `onStart` says, before the first frame, what a reader must know: size, pixel format, rate and the ffmpeg options
 * that read the bytes. A reader that goes away ends the run quietly (`readerClosed`); `output` is left open.
 *
 * @example
 * // node script.ts | ffmpeg -f yuv4mpegpipe -i - -c:v libx264 out.mp4
 * await pipeVideoFrames('clip.mp4', process.stdout, { format: 'y4m', start: 100, end: 199 });
 */
export async function pipeVideoFrames(source: ByteSourceInput, output: NodeJS.WritableStream, options?: PipeOptions): Promise<PipeResult> {
  const settings = checkPipeOptions(output, options);
  const { queueMaxSize, stats, signal } = settings;
  const ownsSource = !isByteSource(source);
  const byteSource = openByteSource(source, httpOptionsOf(settings));
  // Frames alive at once: the queue, the one being written, and the one being converted.
  const budget = new FrameBudget(queueMaxSize + 2);
  const pool = new BufferPool(budget.capacity);
  const sink = new RawVideoSink(output, { format: settings.format, onStart: settings.onStart, progress: settings.progress, budget, pool, highWaterMark: queueMaxSize });
  attachProbe(stats, () => ({ framesDelivered: sink.framesWritten }));
  try {
    await runFrameSink(sink, signal, {
      open: () => openFrameStages(byteSource, settings.selection, { ...decodeOptionsOf(settings), budget, pool, highWaterMark: 1 }),
      opened: (stages) => {
        sink.frameRate = deliveredRate(stages, settings.selection);
        sink.evenlySpaced = evenlySpaced(settings.selection);
      },
    });
  } catch (error) {
    if (!sink.readerClosed || signal?.aborted) throw error;
  } finally {
    budget.close();
    if (ownsSource) await byteSource.close();
    finishStats(stats);
  }
  return { frames: sink.framesWritten, bytes: sink.bytesWritten, info: sink.info, readerClosed: sink.readerClosed };
}

/**
 * The rate the frames come at: `fps` when the selection samples by it (as the nearest fraction with a denominator up
 * to {@link MAX_RATE_DENOMINATOR}: 2.5 is 5/2, 30000/1001 stays exact), else the video's average rate, exact as the
 * demuxer gives it, divided by the step of a range (25 when the video has none).
 */
function deliveredRate(stages: FrameStages, selection: Selection): { num: number; den: number } {
  const fps = selection.window?.fps;
  if (fps !== undefined) return nearestFraction(fps, MAX_RATE_DENOMINATOR);
  const rate = stages.info?.frameRate ?? { num: 25, den: 1 };
  const den = rate.den * selection.step;
  const divisor = gcd(rate.num, den);
  return { num: rate.num / divisor, den: den / divisor };
}

/**
 * False when the frames are picked one by one (a list of frame numbers or times, or keyframes only): no rate spaces
 * them, so the stamped one is a label.
 */
function evenlySpaced(selection: Selection): boolean {
  return selection.frames === undefined && selection.timestamps === undefined && !selection.keyframesOnly;
}

/** A y4m rate is two 32-bit integers; a denominator of a million gives any rate typed with six decimals exactly. */
const MAX_RATE_DENOMINATOR = 1_000_000;

/**
 * The fraction nearest to `x > 0` whose denominator is at most `maxDen`, by continued fractions (the last convergent
 * within the bound, or the semiconvergent after it when that is nearer); never 0, the smallest being `1/maxDen`.
 */
function nearestFraction(x: number, maxDen: number): { num: number; den: number } {
  // Convergents p/q: p(k) = a(k) p(k-1) + p(k-2), likewise q.
  let [p0, q0, p1, q1] = [0, 1, 1, 0];
  let rest = x;
  for (;;) {
    const a = Math.floor(rest);
    const q2 = q0 + a * q1;
    if (q2 > maxDen) break;
    [p0, q0, p1, q1] = [p1, q1, p0 + a * p1, q2];
    if (p1 / q1 === x || rest === a) break;
    rest = 1 / (rest - a);
  }
  // The largest semiconvergent within the bound, kept when nearer than the last convergent.
  const k = Math.floor((maxDen - q0) / q1);
  const [ps, qs] = [p0 + k * p1, q0 + k * q1];
  const [num, den] = q1 > 0 && Math.abs(ps / qs - x) >= Math.abs(p1 / q1 - x) ? [p1, q1] : [ps, qs];
  if (num === 0 || den === 0) return { num: 1, den: maxDen };
  const divisor = gcd(num, den);
  return { num: num / divisor, den: den / divisor };
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

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
 * The rate the frames come at: `fps` when the selection samples by it, else the video's average rate divided by the
 * step of a range (25 when the video has none).
 */
function deliveredRate(stages: FrameStages, selection: Selection): { num: number; den: number } {
  const fps = selection.window?.fps;
  // A rate in thousandths covers 29.97 and 0.5 alike.
  const rate = fps !== undefined ? { num: Math.round(fps * 1000), den: 1000 } : (stages.info?.frameRate ?? { num: 25, den: 1 });
  const den = rate.den * (fps !== undefined ? 1 : selection.step);
  const divisor = gcd(rate.num, den);
  return { num: rate.num / divisor, den: den / divisor };
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

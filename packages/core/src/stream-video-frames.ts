import { mkdir } from 'node:fs/promises';
import { pipelinePromise, pipeline } from 'streamx';
import type { Readable } from 'streamx';
import { FrameDirSink } from '@framepipe/sink';
import type { ByteSourceInput } from '@framepipe/http-source';
import type { RgbFrame } from '@framepipe/rgb';
import { checkDirOptions, checkStreamOptions } from './options.ts';
import type { StreamOptions, StreamToDirOptions } from './options.ts';
import { FrameRun } from './frame-pipeline.ts';
import { attachProbe, finishStats } from './run-stats.ts';

/**
 * Decodes the frames `start`..`end` of a video and writes each as `frame_<index:06d>.<ext>` into `outputDir`
 * (created if missing). Resolves with the absolute paths in frame order. Frame numbers follow Supervisely's rule,
 * so they match annotations made there.
 *
 * `source` is an http(s) URL, a local path, `{ url, headers }`, or a `ByteSource`.
 *
 * @example
 * const paths = await streamVideoFramesToDir('https://example.com/clip.mp4', '/tmp/frames', { start: 0, end: 9 });
 * console.log(`Saved ${paths.length} frames`);
 */
export async function streamVideoFramesToDir(
  source: ByteSourceInput,
  outputDir: string,
  options?: StreamToDirOptions,
): Promise<string[]> {
  const settings = checkDirOptions(outputDir, options);
  const { queueMaxSize, maxWriteWorkers } = settings;
  // Frames alive at once: the queue, one per writer, and the one being converted.
  const run = new FrameRun(source, settings, queueMaxSize + maxWriteWorkers + 1);
  const sink = new FrameDirSink(outputDir, {
    ext: settings.ext,
    maxWriteWorkers,
    progress: settings.progress,
    imageWriter: settings.imageWriter,
    budget: run.budget,
    highWaterMark: queueMaxSize,
  });
  attachProbe(settings.stats, () => ({ framesDelivered: sink.framesWritten }));
  try {
    const stages = await run.openStages(1);
    if (!stages) {
      await mkdir(sink.directory, { recursive: true });
      return [];
    }
    await pipelinePromise(stages.demuxer, ...stages.transforms, stages.converter, sink);
    return sink.paths;
  } catch (error) {
    sink.destroy();
    throw error;
  } finally {
    await run.close();
    await closedSink(sink);
    finishStats(settings.stats);
  }
}

/**
 * Streams the frames `start`..`end` of a video as {@link RgbFrame}s (packed RGB24, `height × width × 3`) in the
 * order the decoder outputs them: frame order, except for a B-frame stream without composition offsets, whose
 * numbers follow decode order (Supervisely's rule). Leaving the loop early or aborting `signal` stops every stage
 * and frees native memory.
 *
 * Options are checked at the call, before any request; the video is opened on the first iteration.
 *
 * @example
 * for await (const frame of streamVideoFrames('clip.mp4', { start: 0, end: 9 })) {
 *   console.log(frame.index, frame.width, frame.height);
 * }
 */
export function streamVideoFrames(source: ByteSourceInput, options?: StreamOptions): AsyncIterable<RgbFrame> {
  const settings = checkStreamOptions(options);
  return {
    [Symbol.asyncIterator]: () => iterateFrames(source, settings)[Symbol.asyncIterator](),
  };
}

async function* iterateFrames(source: ByteSourceInput, settings: ReturnType<typeof checkStreamOptions>): AsyncGenerator<RgbFrame> {
  // Frames alive at once: the queue and the one the caller holds.
  const run = new FrameRun(source, settings, settings.queueMaxSize + 1);
  let delivered = 0;
  attachProbe(settings.stats, () => ({ framesDelivered: delivered }));
  try {
    const stages = await run.openStages(settings.queueMaxSize);
    if (!stages) return;
    const output = pipeline(stages.demuxer, ...stages.transforms, stages.converter) as unknown as Readable & AsyncIterable<RgbFrame>;
    for await (const frame of output) {
      delivered++;
      yield frame;
      // The caller asked for the next frame, so it is done with this one.
      run.budget.release();
    }
  } finally {
    run.destroy();
    await run.close();
    finishStats(settings.stats);
  }
}

function closedSink(sink: FrameDirSink): Promise<void> {
  if (sink.destroyed || !sink.destroying) return Promise.resolve();
  return new Promise((resolve) => sink.once('close', () => resolve()));
}

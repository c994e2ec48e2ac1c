import { pipelinePromise, pipeline } from 'streamx';
import type { Readable, Writable } from 'streamx';
import { AbortError, BufferPool, FrameBudget } from '@framepipe/common';
import { FrameDirSink, findFrameFiles, removeStaleTemporaries } from '@framepipe/sink';
import type { ManifestLine as SinkManifestLine } from '@framepipe/sink';
import { isByteSource, openByteSource } from '@framepipe/http-source';
import type { ByteSourceInput } from '@framepipe/http-source';
import type { RgbFrame } from '@framepipe/rgb';
import { checkDirOptions, checkStreamOptions, decodeOptionsOf, httpOptionsOf } from './options.ts';
import type { IterateOptions, IterateSettings, StreamToDirOptions } from './options.ts';
import { openFrameStages } from './open-frame-stages.ts';
import type { FrameStages } from './open-frame-stages.ts';
import { attachProbe, finishStats } from './run-stats.ts';
import type { RunStatsSnapshot } from './run-stats.ts';

/**
 * One line of the `frames.jsonl` that {@link streamVideoFramesToDir} writes with `manifest: true`, as `JSON.parse`
 * reads it back. `pts` is written as a JSON integer, digit for digit (exact at any size; a double holds it exactly
 * below 2^53). `strategy` and `decodePath` are the run's (the same on every line), so each line stands alone; a line
 * kept from an earlier manifest (a file the run did not write) has the earlier run's. A frame file that no manifest
 * described gets only `index`, `file`, `width` and `height`, with `pts`, `time` and `keyframe` null.
 *
 * @example
 * const lines = (await readFile('/tmp/frames/frames.jsonl', 'utf8')).split('\n').filter(Boolean);
 * const first = JSON.parse(lines[0]!) as ManifestLine;
 */
export interface ManifestLine extends SinkManifestLine {
  readonly pts: number;
  readonly time: number;
  readonly keyframe: boolean;
  readonly strategy: NonNullable<RunStatsSnapshot['strategy']>;
  readonly decodePath: NonNullable<RunStatsSnapshot['decodePath']>;
}

/**
 * Decodes the frames `start`..`end` of a video and writes each as `frame_<index:06d>.<ext>` (or as `nameTemplate`
 * says) into `outputDir` (created if missing). Resolves with the absolute paths in frame order. Frame numbers follow
 * Supervisely's rule, so they match annotations made there.
 *
 * `source` is an http(s) URL, a local path, `{ url, headers }`, or a `ByteSource`. With `manifest: true`, the
 * directory also gets `frames.jsonl`, one {@link ManifestLine} per frame file in it. A file of the same name is
 * replaced, other frame files stay (`overwrite: true` removes them first). With `resume: true`, frames whose file
 * (in the format of `ext`) is already in `outputDir` are kept as they are, and the rest is decoded and written.
 *
 * A run that fails or is aborted leaves only complete files (and, with `manifest`, the `frames.jsonl` that lists
 * them). A write that fails (disk full, permission denied, read-only file system, an `imageWriter` that throws)
 * stops decoding at once and rejects with `ERR_FRAMEPIPE_WRITE_FAILED`, `error.path` the file, `error.cause` the
 * error underneath.
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
  const { queueMaxSize, maxWriteWorkers, stats, signal } = settings;
  // Made here, before a resumed run looks at the directory, so that a bad source fails before any I/O.
  const ownsSource = !isByteSource(source);
  const byteSource = openByteSource(source, httpOptionsOf(settings));
  // Frames alive at once: the queue (the frame being converted among them) and one per writer. The converter's own
  // picture holds the frame it converts until it is copied out: counting that frame as one more would let one more
  // RGB buffer be taken (25 MB at 4K).
  const budget = new FrameBudget(queueMaxSize + maxWriteWorkers);
  // The built-in encoder gives each frame's buffer back once encoded, so a few buffers serve the whole run; an
  // imageWriter may keep a frame's data, so nothing gives its buffers back and each frame gets one of its own.
  const pool = new BufferPool(budget.capacity);
  const sink = new FrameDirSink(outputDir, {
    ...(settings.imageWriter ? {} : { pool }),
    ext: settings.ext,
    maxWriteWorkers,
    progress: settings.progress,
    imageWriter: settings.imageWriter,
    budget,
    highWaterMark: queueMaxSize,
    // Read when the manifest is written: by then the run has chosen both. Without the option, a manifest already
    // in the directory is kept up to date.
    manifest: { fields: () => ({ strategy: stats.strategy, decodePath: stats.decodePath }), ifPresent: !settings.manifest },
    overwrite: settings.overwrite,
    nameTemplate: settings.nameTemplate,
  });
  attachProbe(stats, () => ({
    framesDelivered: sink.framesWritten,
    framesReused: sink.framesAdopted,
    filesFound: sink.filesFound,
    filesInOtherFormats: sink.filesInOtherFormats,
    filesReplaced: sink.filesReplaced,
    filesCleared: sink.filesCleared,
  }));
  let adopted = false;
  try {
    await runFrameSink(sink, signal, {
      open: async () => {
        const skip = settings.resume ? await savedFrames(sink) : undefined;
        // The sink's queue holds the frames waiting for a writer; the converter hands them over one at a time.
        const stages = await openFrameStages(byteSource, settings.selection, { ...decodeOptionsOf(settings), budget, pool, skip, highWaterMark: 1 });
        // What is left to do is not known until the kept files pass their check: a progress bar waits for it.
        attachProbe(stats, () => (adopted ? {} : { framesTotal: null }));
        return stages;
      },
      // Nothing to write still creates the directory (and writes the manifest, if asked: empty, or the lines of the
      // files kept). A kept file of other options (another size or pixel format) fails the run before any decode.
      opened: async (stages) => {
        await sink.adopt(stages.skipped, stages.output);
        adopted = true;
      },
    });
    return sink.paths;
  } finally {
    budget.close();
    if (ownsSource) await byteSource.close();
    finishStats(stats);
  }
}

/** How {@link runFrameSink} opens the stages, and what it does with them before the frames flow. */
export interface FrameSinkRun {
  /** Opens the stages (with `openFrameStages`), whose last one hands frames to the sink. */
  open: () => Promise<FrameStages>;
  /** Called with the stages once open, before the first frame reaches the sink (to take `skipped` frames as kept, say). */
  opened?: ((stages: FrameStages) => Promise<void> | void) | undefined;
}

/**
 * Runs frame stages into a sink of frames the way {@link streamVideoFramesToDir} runs its `FrameDirSink`, for a
 * sink of your own (object storage, a database): opens the stages, pipes them into `sink`, and resolves with the
 * stages once the sink has finished. An abort of `signal` destroys the sink as well as the stages (else an abort
 * after the last frame was decoded would let the run succeed: the writes under way finish, none starts, and the call
 * rejects); a failure anywhere destroys every stage and the sink. Whatever the outcome, the call settles only once
 * every stage and the sink have closed. The budget and the source the stages were opened with stay the caller's.
 *
 * @example
 * const budget = new FrameBudget(8);
 * const sink = new MyUploadSink({ budget }); // a Writable that calls budget.release() for each frame it is done with
 * const stages = await runFrameSink(sink, signal, { open: () => openFrameStages(url, { end: 99 }, { budget, signal }) });
 * console.log(stages.plan.total);
 * budget.close();
 */
export async function runFrameSink(sink: Writable, signal: AbortSignal | undefined, run: FrameSinkRun): Promise<FrameStages> {
  const onAbort = () => sink.destroy(new AbortError(signal?.reason));
  signal?.addEventListener('abort', onAbort, { once: true });
  // Its failures reach the caller through the pipeline; destroyed before it is piped, it has no other listener.
  sink.on('error', () => {});
  let stages: FrameStages | undefined;
  try {
    stages = await run.open();
    await run.opened?.(stages);
    await pipelinePromise(...stages.streams, sink);
    return stages;
  } catch (error) {
    sink.destroy();
    throw error;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await stages?.close();
    await closedSink(sink);
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
export function streamVideoFrames(source: ByteSourceInput, options?: IterateOptions): AsyncIterable<RgbFrame> {
  const settings = checkStreamOptions(options);
  return {
    [Symbol.asyncIterator]: () => iterateFrames(source, settings)[Symbol.asyncIterator](),
  };
}

async function* iterateFrames(source: ByteSourceInput, settings: IterateSettings): AsyncGenerator<RgbFrame> {
  const { queueMaxSize, stats } = settings;
  const pool = iteratorPool(settings);
  let delivered = 0;
  attachProbe(stats, () => ({ framesDelivered: delivered }));
  let stages: FrameStages | undefined;
  try {
    // The caller may hold a frame as long as it likes: a budget that waits for ever (the queue and the frame in hand).
    stages = await openFrameStages(source, settings.selection, {
      ...decodeOptionsOf(settings),
      budget: queueMaxSize + 1,
      stallTimeout: 0,
      pool,
      highWaterMark: queueMaxSize,
    });
    const [first, ...rest] = stages.streams;
    const last = rest.pop();
    if (!last) return;
    const output = pipeline(first, ...rest, last) as unknown as Readable & AsyncIterable<RgbFrame>;
    for await (const frame of output) {
      delivered++;
      yield frame;
      // The caller asked for the next frame, so it is done with this one: with reuseBuffers, with its buffer too.
      stages.budget.release();
      if (settings.reuseBuffers) pool.give(frame.data);
    }
  } finally {
    stages?.destroy();
    await stages?.close();
    finishStats(stats);
  }
}

/**
 * Where the iterator's frames get their buffers. With `reuseBuffers`, a lease: the queue and the frame in hand, each
 * buffer given back when the caller asks for the next frame. By default nothing gives a buffer back, so each frame has
 * one of its own that the caller may keep, pass to code that reads it later, or drop (the pool only counts them).
 * Buffers reclaimed by the garbage collector were tried and dropped: Node's own `fs.promises.writeFile(path, data)`
 * writes through views of its own, so a buffer could come back while a write still read it (BENCHMARKS.md).
 */
export function iteratorPool({ reuseBuffers, queueMaxSize }: { reuseBuffers: boolean; queueMaxSize: number }): BufferPool {
  return new BufferPool(reuseBuffers ? queueMaxSize + 1 : 1);
}

/**
 * The frames whose final file is in the sink's directory, once the temporary files of writers killed mid-write are
 * removed (those of a process still running are left to it).
 */
async function savedFrames(sink: FrameDirSink): Promise<Set<number>> {
  await removeStaleTemporaries(sink.directory);
  return new Set(await findFrameFiles(sink.directory, sink.ext, sink.names));
}

function closedSink(sink: Writable): Promise<void> {
  if (sink.destroyed || !sink.destroying) return Promise.resolve();
  return new Promise((resolve) => sink.once('close', () => resolve()));
}

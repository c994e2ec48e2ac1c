import { invalidOption } from '@framepipe/common';
import { streamVideoFrames as streamSourceFrames, streamVideoFramesToDir as streamSourceFramesToDir } from '@framepipe/core';
import type { RgbFrame, StreamOptions, StreamToDirOptions } from '@framepipe/core';
import { SuperviselyApi } from './supervisely-api.ts';
import { checkVideoId, type SuperviselyVideoSource, type SuperviselyVideoSourceOptions } from './supervisely-video-source.ts';

/**
 * Which video: a connection and an id. The rest of the options are those of `@framepipe/core`.
 *
 * @example
 * const video = { api: SuperviselyApi.fromEnv(), videoId: 12345 };
 */
export interface SuperviselyVideoRef {
  /** The connection, e.g. `SuperviselyApi.fromEnv()`. */
  api: SuperviselyApi;
  /** The video id on that instance (a positive integer). */
  videoId: number;
}

/** How the video's file is reached; replaces the URL-oriented wording of core's options of the same names. */
interface SuperviselyTransportOptions {
  /**
   * Milliseconds a connection may stay silent (the `videos.info` call and the reads of the file) before the run
   * fails with `ERR_FRAMEPIPE_TIMEOUT`.
   * @default the API's timeout (30000 unless set)
   */
  timeout?: number | undefined;
  /**
   * Retries of each request after a failure that may pass, resuming where a body stopped.
   * @default 5
   */
  retries?: number | undefined;
  /**
   * Extra headers for the reads of the file; `x-api-key` is sent in any case and may not be given.
   * @default {}
   */
  headers?: Record<string, string> | undefined;
}

/**
 * Options of {@link streamVideoFrames}: the video, and core's `StreamOptions` (`start`, `end`, `step`, `frames`,
 * `timestamps`, `startTime`, `endTime`, `fps`, `keyframesOnly`, `queueMaxSize`, `showDecodingProgress`, `signal`, `stats`, `timeout`, `headers`).
 *
 * @example
 * const options: SuperviselyStreamOptions = { api, videoId: 12345, start: 0, end: 9, queueMaxSize: 8 };
 */
export interface SuperviselyStreamOptions extends SuperviselyVideoRef, SuperviselyTransportOptions, Omit<StreamOptions, 'timeout' | 'headers' | 'retries'> {}

/**
 * Options of {@link streamVideoFramesToDir}: the video, the output directory, and core's `StreamToDirOptions`
 * (`start`, `end`, `step`, `frames`, `timestamps`, `startTime`, `endTime`, `fps`, `keyframesOnly`, `ext`, `progress`, `imageWriter`, `maxWriteWorkers`,
 * `queueMaxSize`, `showDecodingProgress`, `signal`, `stats`, `timeout`, `headers`, `manifest`, `nameTemplate`).
 *
 * @example
 * const options: SuperviselyStreamToDirOptions = { api, videoId: 12345, outputDir: '/tmp/frames', ext: 'jpg' };
 */
export interface SuperviselyStreamToDirOptions
  extends SuperviselyVideoRef,
    SuperviselyTransportOptions,
    Omit<StreamToDirOptions, 'timeout' | 'headers' | 'retries'> {
  /** Where the `frame_<index:06d>.<ext>` files (or those `nameTemplate` names) go; created if missing. */
  outputDir: string;
}

/**
 * The SDK's `stream_video_frames_to_dir(api, video_id, output_dir, ...)`: decodes the frames `start`..`end` of a
 * Supervisely video and writes each as `frame_<index:06d>.<ext>` (or as `nameTemplate` says) into `outputDir`.
 * Resolves with the absolute paths in frame order.
 *
 * Every option is checked before any request; the video is resolved with `videos.info`, its file read with range
 * requests, and the connection closed at the end whatever happens.
 *
 * @example
 * const api = SuperviselyApi.fromEnv();
 * const paths = await streamVideoFramesToDir({ api, videoId: 12345, outputDir: '/tmp/frames', start: 0, end: 9 });
 * console.log(`Saved ${paths.length} frames`);
 */
export async function streamVideoFramesToDir(options: SuperviselyStreamToDirOptions): Promise<string[]> {
  const { api, videoId, rest } = splitVideo(options, 'streamVideoFramesToDir');
  const { outputDir, ...dirOptions } = rest;
  const source = api.videoSource(videoId, transportOf(dirOptions));
  try {
    // Core checks outputDir and its options before it opens the source, so a bad one makes no request.
    return await streamSourceFramesToDir(source, outputDir, dirOptions);
  } finally {
    await source.close();
  }
}

/**
 * The SDK's `async_stream_video_frames(api, video_id, ...)`: the frames `start`..`end` of a Supervisely video as
 * `RgbFrame`s (packed RGB24, `height × width × 3`, with their `index`). Options are checked at the call; the video
 * is resolved on the first iteration, and its connection closed when the iteration ends (completed, left with
 * `break`, or failed). Each iteration is a new run.
 *
 * @example
 * for await (const frame of streamVideoFrames({ api, videoId: 12345, start: 0, end: 9 })) {
 *   console.log(frame.index, frame.width, frame.height);
 * }
 */
export function streamVideoFrames(options: SuperviselyStreamOptions): AsyncIterable<RgbFrame> {
  const { api, videoId, rest } = splitVideo(options, 'streamVideoFrames');
  const prepare = (): { source: SuperviselyVideoSource; frames: AsyncIterable<RgbFrame> } => {
    const source = api.videoSource(videoId, transportOf(rest));
    return { source, frames: streamSourceFrames(source, rest) };
  };
  // Prepared now so that every option is checked at the call; neither step does I/O.
  let prepared: ReturnType<typeof prepare> | undefined = prepare();
  return {
    [Symbol.asyncIterator]: () => {
      const run = prepared ?? prepare();
      prepared = undefined;
      return closingAfter(run.source, run.frames)[Symbol.asyncIterator]();
    },
  };
}

async function* closingAfter(source: SuperviselyVideoSource, frames: AsyncIterable<RgbFrame>): AsyncGenerator<RgbFrame> {
  try {
    yield* frames;
  } finally {
    await source.close();
  }
}

/** Checks `api` and `videoId` and returns the other options as they are, for core to check. */
function splitVideo<T extends SuperviselyVideoRef>(options: T, where: string): { api: SuperviselyApi; videoId: number; rest: Omit<T, 'api' | 'videoId'> } {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw invalidOption(`${where} options`, 'an object { api, videoId, ... }', options);
  }
  const { api, videoId, ...rest } = options;
  if (!(api instanceof SuperviselyApi)) throw invalidOption('api', 'a SuperviselyApi (e.g. SuperviselyApi.fromEnv())', api);
  return { api, videoId: checkVideoId(videoId), rest };
}

function transportOf(options: SuperviselyTransportOptions): SuperviselyVideoSourceOptions {
  return {
    ...(options.timeout !== undefined ? { timeout: options.timeout } : {}),
    ...(options.retries !== undefined ? { retries: options.retries } : {}),
    ...(options.headers !== undefined ? { headers: options.headers } : {}),
  };
}

import { streamVideoFrames as streamSourceFrames, streamVideoFramesToDir as streamSourceFramesToDir } from '@framepipe/core';
import type { IterateOptions, RgbFrame, StreamToDirOptions } from '@framepipe/core';
import { isByteSource } from '@framepipe/http-source';
import type { ByteSourceInput } from '@framepipe/http-source';
import { streamVideoFrames as streamSuperviselyFrames, streamVideoFramesToDir as streamSuperviselyFramesToDir } from '@framepipe/supervisely';
import type { SuperviselyStreamOptions, SuperviselyStreamToDirOptions } from '@framepipe/supervisely';

/**
 * Writes frames of a video as `frame_<index:06d>.<ext>` files into a directory and resolves with their absolute
 * paths in frame order. Two call shapes, one name:
 * - `(source, outputDir, options?)`: a URL, a path, `{ url, headers }` or a `ByteSource` (see `@framepipe/core`);
 * - `({ api, videoId, outputDir, ...options })`: a Supervisely video by id, as the Python SDK's
 *   `stream_video_frames_to_dir` (see `@framepipe/supervisely`).
 *
 * @example
 * await streamVideoFramesToDir('https://example.com/clip.mp4', '/tmp/frames', { start: 0, end: 9 });
 * await streamVideoFramesToDir({ api: SuperviselyApi.fromEnv(), videoId: 12345, outputDir: '/tmp/frames', end: 9 });
 */
export function streamVideoFramesToDir(options: SuperviselyStreamToDirOptions): Promise<string[]>;
export function streamVideoFramesToDir(source: ByteSourceInput, outputDir: string, options?: StreamToDirOptions): Promise<string[]>;
export function streamVideoFramesToDir(
  first: ByteSourceInput | SuperviselyStreamToDirOptions,
  outputDir?: string,
  options?: StreamToDirOptions,
): Promise<string[]> {
  if (outputDir === undefined && isVideoRef(first)) return streamSuperviselyFramesToDir(first as SuperviselyStreamToDirOptions);
  return streamSourceFramesToDir(first as ByteSourceInput, outputDir as string, options);
}

/**
 * Iterates over frames of a video as `RgbFrame`s. Two call shapes, one name:
 * - `(source, options?)`: a URL, a path, `{ url, headers }` or a `ByteSource` (see `@framepipe/core`);
 * - `({ api, videoId, ...options })`: a Supervisely video by id, as the SDK's `async_stream_video_frames`.
 *
 * @example
 * for await (const frame of streamVideoFrames('clip.mp4', { start: 0, end: 9 })) console.log(frame.index);
 */
export function streamVideoFrames(options: SuperviselyStreamOptions): AsyncIterable<RgbFrame>;
export function streamVideoFrames(source: ByteSourceInput, options?: IterateOptions): AsyncIterable<RgbFrame>;
export function streamVideoFrames(first: ByteSourceInput | SuperviselyStreamOptions, options?: IterateOptions): AsyncIterable<RgbFrame> {
  if (options === undefined && isVideoRef(first)) return streamSuperviselyFrames(first as SuperviselyStreamOptions);
  return streamSourceFrames(first as ByteSourceInput, options);
}

/**
 * True for the Supervisely call shape: an object that names a video by `api` and `videoId`. A ByteSource is a
 * source, even one that has both (a `SuperviselyVideoSource` carries its own headers and timeouts).
 */
function isVideoRef(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !isByteSource(value) && ('videoId' in value || 'api' in value);
}

export { streamVideoFrames, streamVideoFramesToDir } from './stream-video-frames.ts';
export type { StreamOptions, StreamToDirOptions } from './options.ts';
export { RunStats } from './run-stats.ts';
export type { RunStatsSnapshot } from './run-stats.ts';
export { ErrorCode, FramepipeError, InvalidOptionError, AbortError } from '@framepipe/common';
export type { RgbFrame } from '@framepipe/rgb';
export type { ByteSource, ByteSourceInput } from '@framepipe/http-source';
export type { ImageExtension, ImageWriter } from '@framepipe/sink';

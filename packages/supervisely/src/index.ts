export { SuperviselyApi } from './supervisely-api.ts';
export type { DatasetVideosOptions, SuperviselyApiOptions, SuperviselyFromEnvOptions, VideoInfoOptions } from './supervisely-api.ts';
export { SuperviselyVideoSource } from './supervisely-video-source.ts';
export type { SuperviselyVideoSourceOptions } from './supervisely-video-source.ts';
export type { SuperviselyFileMeta, SuperviselyVideoInfo } from './video-info.ts';
export { streamVideoFrames, streamVideoFramesToDir } from './stream-video-frames.ts';
export type { SuperviselyStreamOptions, SuperviselyStreamToDirOptions, SuperviselyVideoRef } from './stream-video-frames.ts';
export { ErrorCode, FramepipeError, InvalidOptionError } from '@framepipe/common';
export type { RgbFrame } from '@framepipe/core';

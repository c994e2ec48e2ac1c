export { BATCH_FILE_NAME, runBatch } from './run-batch.ts';
export type { BatchOptions, BatchProgress, BatchReportLine, BatchSummary, BatchVideoResult } from './run-batch.ts';
export { NAME_MAX_BYTES, shownSource, sourceName } from './source-name.ts';
export type { BatchSource, VideoIdSource } from './source-name.ts';
export { DirDestination } from './destination.ts';
export type { DestinationCheckOptions, FrameDestination, VideoWriteOptions } from './destination.ts';
export { S3Destination } from './s3-destination.ts';
export type { S3DestinationOptions } from './s3-destination.ts';
export { openDestination } from './open-destination.ts';

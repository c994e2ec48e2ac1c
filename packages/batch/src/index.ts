export { BATCH_FILE_NAME, runBatch } from './run-batch.ts';
export type { BatchOptions, BatchProgress, BatchReportLine, BatchSummary, BatchVideoResult } from './run-batch.ts';
export { NAME_MAX_BYTES, shownSource, sourceName } from './source-name.ts';
export type { BatchSource, VideoIdSource } from './source-name.ts';
export { DirDestination } from './destination.ts';
export type { FrameDestination, VideoWriteOptions } from './destination.ts';

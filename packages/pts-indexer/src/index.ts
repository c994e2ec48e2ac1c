export { PtsIndex, SCAN_MARGIN } from './pts-index.ts';
export type { ContainerStreamInfo, PtsContainerOptions, PtsIndexStrategy, PtsScanOptions } from './pts-index.ts';
export { Mp4SampleTable, SAMPLE_DISCARD, SAMPLE_KEYFRAME, readMp4SampleTable } from './mp4-sample-table.ts';
export type { Mp4Sample, ReadMp4SampleTableOptions } from './mp4-sample-table.ts';
export { PtsIndexer } from './pts-indexer.ts';
export type { PtsIndexerOptions } from './pts-indexer.ts';
export { FrameSelector } from './frame-selector.ts';
export type { FrameSelectorOptions, NumberedFrame } from './frame-selector.ts';

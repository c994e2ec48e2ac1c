export { PtsIndex, SCAN_MARGIN } from './pts-index.ts';
export type { PtsIndexStrategy, PtsScanOptions } from './pts-index.ts';
export { PtsIndexer } from './pts-indexer.ts';
export type { PtsIndexerOptions } from './pts-indexer.ts';
export { FrameSelector } from './frame-selector.ts';
export type { FrameSelectorOptions, NumberedFrame } from './frame-selector.ts';

export { Demuxer, readsAtPacketPositions } from './demuxer.ts';
export type { DemuxerInfo, DemuxerOptions } from './demuxer.ts';
export { boxSizeAt, childBoxes, fourcc, readSafeU64, truncatedIndex, walkTopLevel } from './mp4-boxes.ts';
// For readers of a demuxer's source (the pts-indexer's sample-table reader), which need no HTTP code of their own.
export { withRead } from '@framepipe/http-source';
export type { BoxHeader, TopLevel } from './mp4-boxes.ts';

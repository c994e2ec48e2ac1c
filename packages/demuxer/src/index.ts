export { Demuxer } from './demuxer.ts';
export type { DemuxerInfo, DemuxerOptions } from './demuxer.ts';
export { boxSizeAt, childBoxes, fourcc, readSafeU64, truncatedIndex, walkTopLevel } from './mp4-boxes.ts';
export type { BoxHeader, TopLevel } from './mp4-boxes.ts';

export { Demuxer } from './demuxer.ts';
export type { DemuxerInfo, DemuxerOptions } from './demuxer.ts';

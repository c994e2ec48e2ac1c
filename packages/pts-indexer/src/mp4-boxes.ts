/**
 * The ISO BMFF box plumbing lives in the demuxer, which needs the top-level walk to tell an MP4 cut short from one
 * that is not a video; the sample-table reader uses the same.
 */
import type { Demuxer } from '@framepipe/demuxer';

export { boxSizeAt, childBoxes, fourcc, readSafeU64, truncatedIndex, walkTopLevel, withRead } from '@framepipe/demuxer';
export type { BoxHeader, TopLevel } from '@framepipe/demuxer';

/** The random-access byte source a {@link Demuxer} reads (the `ByteSource` of `@framepipe/http-source`). */
export type ByteSource = Demuxer['source'];

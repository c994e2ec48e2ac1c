/**
 * The samples of a video track of a fragmented MP4 (`moov` with `mvex`, then `moof` + `mdat` pairs), read from the
 * fragment headers alone: the top-level boxes are walked by their headers, every `moof` is read whole together with
 * the header of the box after it (usually its `mdat`), and every `mdat` is skipped by its size, never read.
 *
 * The timestamps follow FFmpeg's mov demuxer for fragments (libavformat/mov.c: mov_read_tfhd, mov_read_tfdt,
 * mov_read_trun, FFmpeg 8): a run starts at the fragment's `tfdt` decode time (else where the previous run ended),
 * moved by the first edit of the track's edit list (FFmpeg keeps no samples in `moov`, so it does not rewrite its
 * index along the edits); the pts is the decode time plus the sample's composition offset, plus the largest negative
 * offset met so far (FFmpeg's dts shift, grown fragment by fragment); a sample is a keyframe
 * unless its flags say "not a sync sample" or "depends on others". Values missing from a `trun` come from `tfhd`,
 * then from the track's `trex`.
 */
import type { BoxHeader, ByteSource } from './mp4-boxes.ts';
import { boxSizeAt, childBoxes, fourcc, readSafeU64 } from './mp4-boxes.ts';
import type { TrackTables } from './mp4-track.ts';

/** The largest `moof` read into memory; a larger one is a damaged size, left to FFmpeg. */
const MAX_MOOF_BYTES = 64 * 2 ** 20;

/** `trex`: the defaults of a track's fragments. */
export interface TrackDefaults {
  readonly duration: number;
  readonly size: number;
  readonly flags: number;
}

/** The `trex` boxes of an `mvex`, by track ID. */
export function readTrex(buffer: Buffer, mvex: BoxHeader): Map<number, TrackDefaults> {
  const defaults = new Map<number, TrackDefaults>();
  for (const box of childBoxes(buffer, mvex.payload, mvex.end)) {
    if (box.type !== 'trex' || box.end - box.payload < 24) continue;
    const at = box.payload + 4;
    defaults.set(buffer.readUInt32BE(at), {
      duration: buffer.readUInt32BE(at + 8),
      size: buffer.readUInt32BE(at + 12),
      flags: buffer.readUInt32BE(at + 16),
    });
  }
  return defaults;
}

/** The samples of one track, in decode order, as the demuxer emits them. */
export interface FragmentSamples {
  pts: number[];
  dts: number[];
  offsets: number[];
  sizes: number[];
  keyframes: boolean[];
}

/**
 * Walks the top-level boxes from `from`, parses every `moof` for the samples of track `track`, and skips the rest.
 * Returns null when a `moof` cannot be read whole (cut short, or a size too large to be real): FFmpeg then has the
 * last word.
 */
export async function readFragments(
  source: ByteSource,
  from: number,
  track: TrackTables,
  trex: TrackDefaults | undefined,
  timeOffset: number,
  signal: AbortSignal | undefined,
): Promise<FragmentSamples | null> {
  const samples: FragmentSamples = { pts: [], dts: [], offsets: [], sizes: [], keyframes: [] };
  const state = { trackEnd: 0, dtsShift: 0 };
  const size = source.size;
  let offset = from;
  // The header at `offset` when the read of the moof before it brought it along.
  let known: Buffer | undefined;
  while (offset + 8 <= size) {
    const head = known ?? (await source.read(offset, 8, signal));
    known = undefined;
    if (head.length < 8) break;
    const type = fourcc(head, 4);
    const sized = await boxSizeAt(source, offset, head, size, signal);
    if (!sized) break;
    const { boxSize, headerSize } = sized;
    // FFmpeg takes the timestamps of a file with a segment index from it: not reproduced here.
    if (type === 'sidx') return null;
    if (type === 'moof') {
      if (offset + boxSize > size || boxSize > MAX_MOOF_BYTES) return null;
      // The moof and the header of the box after it (its mdat), in one read.
      const read = await source.read(offset, Math.min(boxSize + 8, size - offset), signal);
      if (read.length < boxSize) return null;
      const moof = read.subarray(0, boxSize);
      if (read.length === boxSize + 8) known = read.subarray(boxSize);
      const first = samples.pts.length;
      readMoof(moof, offset, headerSize, track.trackId, trex, timeOffset, state, samples);
      // Negative composition offsets: FFmpeg adds back the largest seen so far, once it has read the fragment.
      for (let i = first; i < samples.pts.length; i++) state.dtsShift = Math.max(state.dtsShift, samples.dts[i]! - samples.pts[i]!);
      if (state.dtsShift > 0) for (let i = first; i < samples.pts.length; i++) samples.pts[i]! += state.dtsShift;
    }
    offset += boxSize;
  }
  return samples;
}

// tfhd flags
const BASE_DATA_OFFSET = 0x1;
const SAMPLE_DESCRIPTION = 0x2;
const DEFAULT_DURATION = 0x8;
const DEFAULT_SIZE = 0x10;
const DEFAULT_FLAGS = 0x20;
const DEFAULT_BASE_IS_MOOF = 0x20000;
// trun flags
const DATA_OFFSET = 0x1;
const FIRST_SAMPLE_FLAGS = 0x4;
const SAMPLE_DURATION = 0x100;
const SAMPLE_SIZE = 0x200;
const SAMPLE_FLAGS = 0x400;
const SAMPLE_CTS = 0x800;
// sample flags that make a sample a non-keyframe
const IS_NON_SYNC = 0x10000;
const DEPENDS_YES = 0x1000000;

/** One `moof` (in `buffer`, which starts at file offset `moofStart`): appends the samples of `trackId`. */
function readMoof(
  buffer: Buffer,
  moofStart: number,
  headerSize: number,
  trackId: number,
  trex: TrackDefaults | undefined,
  timeOffset: number,
  state: { trackEnd: number },
  out: FragmentSamples,
): void {
  // Where data without an explicit offset starts: the moof, then the end of the previous run's data.
  let implicit = moofStart;
  for (const traf of childBoxes(buffer, headerSize, buffer.length)) {
    if (traf.type !== 'traf') continue;
    let id = -1;
    let base = implicit;
    let duration = trex?.duration ?? 0;
    let sampleSize = trex?.size ?? 0;
    let sampleFlags = trex?.flags ?? 0;
    let tfdt: number | undefined;
    for (const box of childBoxes(buffer, traf.payload, traf.end)) {
      if (box.type === 'tfhd' && box.end - box.payload >= 8) {
        const flags = buffer.readUInt32BE(box.payload) & 0xffffff;
        id = buffer.readUInt32BE(box.payload + 4);
        let at = box.payload + 8;
        if (flags & BASE_DATA_OFFSET) {
          base = readSafeU64(buffer, at) ?? base;
          at += 8;
        } else if (flags & DEFAULT_BASE_IS_MOOF) {
          base = moofStart;
        }
        if (flags & SAMPLE_DESCRIPTION) at += 4;
        if (flags & DEFAULT_DURATION) (duration = buffer.readUInt32BE(at)), (at += 4);
        if (flags & DEFAULT_SIZE) (sampleSize = buffer.readUInt32BE(at)), (at += 4);
        if (flags & DEFAULT_FLAGS) sampleFlags = buffer.readUInt32BE(at);
      } else if (box.type === 'tfdt' && box.end - box.payload >= 8) {
        const version = buffer[box.payload]!;
        tfdt = version === 1 ? (readSafeU64(buffer, box.payload + 4) ?? undefined) : buffer.readUInt32BE(box.payload + 4);
      } else if (box.type === 'trun') {
        const mine = id === trackId;
        const version = buffer[box.payload]!;
        const flags = buffer.readUInt32BE(box.payload) & 0xffffff;
        const count = buffer.readUInt32BE(box.payload + 4);
        let at = box.payload + 8;
        let pos = base;
        if (flags & DATA_OFFSET) (pos = base + buffer.readInt32BE(at)), (at += 4);
        else pos = implicit;
        let firstFlags: number | undefined;
        if (flags & FIRST_SAMPLE_FLAGS) (firstFlags = buffer.readUInt32BE(at)), (at += 4);
        let dts = (tfdt ?? state.trackEnd) - timeOffset;
        tfdt = undefined;
        for (let i = 0; i < count && at <= box.end; i++) {
          let d = duration;
          let s = sampleSize;
          let f = i === 0 && firstFlags !== undefined ? firstFlags : sampleFlags;
          let cts = 0;
          if (flags & SAMPLE_DURATION) (d = buffer.readUInt32BE(at)), (at += 4);
          if (flags & SAMPLE_SIZE) (s = buffer.readUInt32BE(at)), (at += 4);
          if (flags & SAMPLE_FLAGS) (f = buffer.readUInt32BE(at)), (at += 4);
          if (flags & SAMPLE_CTS) (cts = version === 0 ? buffer.readUInt32BE(at) : buffer.readInt32BE(at)), (at += 4);
          if (mine) {
            out.dts.push(dts);
            out.pts.push(dts + cts);
            out.offsets.push(pos);
            out.sizes.push(s);
            out.keyframes.push((f & (IS_NON_SYNC | DEPENDS_YES)) === 0);
          }
          pos += s;
          dts += d;
        }
        implicit = pos;
        if (mine) state.trackEnd = dts + timeOffset;
      }
    }
  }
}

import { invalidOption } from '@framepipe/common';

/**
 * What a run of a range of whole GOPs needs to know of its frames to start at the range's first keyframe without
 * scanning the file: made from a complete index by {@link PtsIndex.partial} (`planShards` puts it in each shard of a
 * file without sample tables), read back by {@link PtsIndex.fromPartial}. Plain JSON, small for a constant frame
 * rate (one run of timestamps): a job record in a queue can carry it.
 */
export interface PartialIndex {
  /** The frame number of the range's first frame, which is its keyframe's. */
  readonly first: number;
  /**
   * The pts of the range's frames in frame order (ascending), as runs `[pts, step, count]`: `count` frames whose pts
   * are `pts`, `pts + step`, … (a step of 0 repeats a pts, which then numbers as the last of its repeats).
   */
  readonly pts: ReadonlyArray<readonly [number, number, number]>;
  /** Where decoding starts: the keyframe's pts and dts (null when the container gave none) and the byte where its packet starts. */
  readonly keyframe: { readonly pts: number; readonly dts: number | null; readonly pos: number };
  /**
   * The byte where the next range's keyframe starts, null for the last range: about where the range's packets end (a
   * few of its frames follow in decode order), so that reading ahead stops there.
   */
  readonly end: number | null;
  /**
   * True when no packet of the range lies at or past {@link PartialIndex.end}: a run may see the file end there, so
   * that the decoder gives its last frames at once instead of reading the next range's first pictures. False for an
   * open GOP next, whose leading pictures, shown before its keyframe, are frames of this range.
   */
  readonly cut: boolean;
}

/** The frame numbers a {@link PartialIndex} numbers, first and last. */
export function framesOfPartialIndex(partial: PartialIndex): { readonly first: number; readonly last: number } {
  let last = partial.first - 1;
  for (const run of partial.pts) last += run[2];
  return { first: partial.first, last };
}

/**
 * The most runs a {@link PartialIndex} holds, so that a job record stays small (about 1.5 KB at most): a constant
 * frame rate needs one, and Matroska's millisecond clock at 29.97 fps one for every two or three frames. A range that
 * needs more is not described, and its run scans the file as a run without one does.
 */
export const PARTIAL_INDEX_MAX_RUNS = 64;

/**
 * The most frames a {@link PartialIndex} numbers. Its frames are listed in memory when a run reads it, so a record
 * that claims more (only a hostile or damaged one: 4 million frames is 37 hours at 30 fps) is refused before that.
 */
export const PARTIAL_INDEX_MAX_FRAMES = 4_000_000;

/** Checks a {@link PartialIndex} as an option (it may come from a job record anyone with queue access wrote). */
export function checkPartialIndex(value: unknown, name: string): PartialIndex {
  const expected = 'a partial index ({ first, pts: [[pts, step, count], …], keyframe: { pts, dts, pos }, end, cut }, from planShards)';
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidOption(name, expected, value);
  const { first, pts, keyframe, end, cut, ...rest } = value as Record<string, unknown>;
  const whole = (n: unknown, min: number): boolean => typeof n === 'number' && Number.isSafeInteger(n) && n >= min;
  if (Object.keys(rest).length > 0 || !whole(first, 0) || !Array.isArray(pts) || pts.length === 0 || pts.length > PARTIAL_INDEX_MAX_RUNS) {
    throw invalidOption(name, expected, value);
  }
  let previous = -1;
  let frames = 0;
  for (const run of pts as unknown[]) {
    if (!Array.isArray(run) || run.length !== 3 || !whole(run[0], 0) || !whole(run[1], 0) || !whole(run[2], 1)) throw invalidOption(name, expected, value);
    const [from, step, count] = run as [number, number, number];
    const last = from + step * (count - 1);
    if (from < previous || !Number.isSafeInteger(last)) throw invalidOption(`${name}.pts`, 'runs of ascending pts', pts);
    previous = last;
    frames += count;
  }
  if (frames > PARTIAL_INDEX_MAX_FRAMES) throw invalidOption(`${name}.pts`, `runs of at most ${PARTIAL_INDEX_MAX_FRAMES} frames in all`, `${frames} frames`);
  if (typeof keyframe !== 'object' || keyframe === null || Array.isArray(keyframe)) throw invalidOption(name, expected, value);
  const { pts: keyPts, dts, pos, ...other } = keyframe as Record<string, unknown>;
  if (Object.keys(other).length > 0 || !whole(keyPts, 0) || !whole(pos, 0) || !(dts === null || (typeof dts === 'number' && Number.isSafeInteger(dts)))) {
    throw invalidOption(`${name}.keyframe`, '{ pts, dts, pos } (integers; dts may be null)', keyframe);
  }
  if (typeof cut !== 'boolean' || (cut && end === null)) throw invalidOption(`${name}.cut`, 'a boolean, false when end is null', cut);
  if (!(end === null || (whole(end, 0) && (end as number) > (pos as number)))) throw invalidOption(`${name}.end`, `null or a byte past the keyframe's (${pos as number})`, end);
  if (keyPts !== (pts as number[][])[0]![0]) throw invalidOption(`${name}.keyframe.pts`, `the first frame's pts (${(pts as number[][])[0]![0]})`, keyPts);
  return value as PartialIndex;
}

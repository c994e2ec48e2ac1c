import { AbortError, assertKnownKeys, assertOptionsObject, checkInteger, throwIfAborted } from '@framepipe/common';
import type { SourceOptions } from '@framepipe/core';
import { Demuxer } from '@framepipe/demuxer';
import { isByteSource, openByteSource } from '@framepipe/http-source';
import type { ByteSourceInput } from '@framepipe/http-source';
import { PtsIndex, SELECTION_KEYS, Selection, planDecode } from '@framepipe/pts-indexer';
import type { PartialIndex, SelectionOptions } from '@framepipe/pts-indexer';

/** Options of {@link planShards}: the run's selection and how to reach the video, and how big a shard may grow. */
export interface ShardOptions extends SelectionOptions, Omit<SourceOptions, 'cacheMemory' | 'cacheDisk'> {
  /**
   * About how many selected frames one shard holds. A shard ends at the first GOP boundary once it holds this many,
   * so it may hold a GOP's worth more; a selection of at most this many frames is one shard.
   * @default 1000
   */
  shardFrames?: number | undefined;
  /**
   * Which video stream, counted from 0 among the file's video streams, as the `stream` option of a run.
   * @default 0
   */
  stream?: number | undefined;
}

/** One shard of a video: a run of whole GOPs, and the frames of the selection in it. */
export interface Shard {
  /** Its place among the video's shards, from 0. */
  readonly index: number;
  /** The first frame number of its range: a GOP's first frame (0 for the first shard). */
  readonly first: number;
  /** The last frame number of its range, the frame before the next shard's first. */
  readonly last: number;
  /** How many frames of the selection lie in the range. */
  readonly frames: number;
  /**
   * The selection to run the shard with (`streamVideoFramesToDir(source, dir, { ...options, ...selection, resume:
   * true })`): the video's selection within `[first, last]`, in frame numbers resolved when the plan is made: a range
   * (`start`, `end`, `step`) for a range or a time window, the same range with `keyframesOnly` for keyframes, and a
   * list of frames for a list, times or a window sampled at `fps`. A lone shard keeps the selection as given, so that
   * it runs exactly as a run of the whole video would.
   */
  readonly selection: SelectionOptions;
  /**
   * For a file without sample tables (Matroska, MPEG-TS, …), whose frames only a scan of every packet can number:
   * the numbers of the range's frames and where its first keyframe is, from the plan's scan, to run the shard with as
   * the `partialIndex` option. The shard then reads from its keyframe on, not the whole file before it. Absent for
   * an MP4 (its sample tables cost little to read), a lone shard, a selection of keyframes, and a range whose start
   * the scan cannot describe exactly (see `PtsIndex.partial`): such a shard scans as any run does.
   */
  readonly partialIndex?: PartialIndex;
}

/** What {@link planShards} resolves with. */
export interface ShardPlan {
  /** The video's frames, as the frame-number rule counts them. */
  readonly frameCount: number;
  /** The frames of the selection within the video. */
  readonly selected: number;
  /** The shards, in frame order; together they select exactly the selection, and no two share a GOP. */
  readonly shards: readonly Shard[];
}

const SHARD_KEYS = ['shardFrames', 'stream', 'signal', 'headers', 'timeout', 'retries', ...SELECTION_KEYS] as const;

/** The default of {@link ShardOptions.shardFrames}. */
export const DEFAULT_SHARD_FRAMES = 1000;

/**
 * Splits the selection of a video (a URL, a path, `{ url, headers }`, or a `ByteSource`, which it leaves open) into
 * shards that many workers can run at once: ranges of whole GOPs holding about `shardFrames` selected frames each, so
 * that no two shards decode the same GOP. It reads the video's index (an MP4's sample tables, or every packet's
 * timestamps for other containers; no decoding). Each shard is one resumable run, `streamVideoFramesToDir` with its
 * {@link Shard.selection}, its {@link Shard.partialIndex} when it has one, and `resume: true`, into the video's
 * directory; the shards together write exactly the files one run of the whole selection writes.
 *
 * A selection of at most `shardFrames` frames, an empty one, and a stream decoded from its start (B-frames without
 * composition offsets: every run decodes from frame 0, so shards would only repeat work) are one shard that keeps the
 * selection as given.
 *
 * @example
 * const plan = await planShards('https://example.com/long.mp4', { shardFrames: 500, step: 2 });
 * for (const shard of plan.shards) {
 *   await streamVideoFramesToDir('https://example.com/long.mp4', '/tmp/frames/long', {
 *     step: 2, ...shard.selection, partialIndex: shard.partialIndex, resume: true,
 *   });
 * }
 */
export async function planShards(source: ByteSourceInput, options: ShardOptions = {}): Promise<ShardPlan> {
  const given = assertOptionsObject(options, 'planShards');
  assertKnownKeys(given, SHARD_KEYS, 'planShards');
  const shardFrames = checkInteger('shardFrames', given.shardFrames ?? DEFAULT_SHARD_FRAMES, 1);
  const stream = checkInteger('stream', given.stream ?? 0, 0);
  const asGiven = Object.fromEntries(SELECTION_KEYS.filter((key) => given[key] !== undefined).map((key) => [key, given[key]])) as SelectionOptions;
  const selection = Selection.from(asGiven);
  const { signal, headers, timeout, retries } = given;
  throwIfAborted(signal);
  const bytes = openByteSource(source, {
    ...(headers ? { headers } : {}),
    ...(timeout === undefined ? {} : { timeout }),
    ...(retries === undefined ? {} : { retries }),
  });
  const demuxer = new Demuxer(bytes, { stream });
  // A stop ends a scan under way, not only the next step; the failure comes back through open() or the scan.
  const onAbort = () => demuxer.destroy(new AbortError(signal?.reason));
  demuxer.on('error', () => {});
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const info = await demuxer.open();
    const index =
      (await PtsIndex.fromContainer(demuxer.headerSource, info, { pastEnd: 'keep', ...(signal ? { signal } : {}) })) ?? (await PtsIndex.scan(demuxer));
    throwIfAborted(signal);
    const resolved = planDecode(index, info, selection).selection;
    const frames = [...resolved];
    const lone = (): ShardPlan => ({
      frameCount: index.size,
      selected: frames.length,
      shards: [{ index: 0, first: frames[0] ?? 0, last: frames.at(-1) ?? 0, frames: frames.length, selection: asGiven }],
    });
    if (frames.length <= shardFrames || index.decodeFromStart) return lone();
    return { frameCount: index.size, selected: frames.length, shards: splitAtGops(index, resolved, frames, shardFrames) };
  } catch (error) {
    if (signal?.aborted && !(error instanceof AbortError)) throw new AbortError(signal.reason);
    throw error;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await new Promise<void>((resolve) => {
      if (demuxer.destroyed) return resolve();
      demuxer.once('close', () => resolve());
      demuxer.destroy();
    });
    // A source given open (a Supervisely video's, say) is its owner's to close.
    if (!isByteSource(source)) await bytes.close();
  }
}

/** Cuts the selected `frames` (in order) into runs of whole GOPs of at least `shardFrames` frames each. */
function splitAtGops(index: PtsIndex, resolved: Selection, frames: readonly number[], shardFrames: number): Shard[] {
  const starts = gopStarts(index);
  const shards: Shard[] = [];
  let gop = 0;
  let taken: number[] = [];
  let first = 0;
  // Frame numbers from sample tables cost a shard little to read again; a scan's cost the whole file before the shard.
  const describe = index.strategy === 'scan' && !resolved.keyframesOnly;
  const close = (last: number) => {
    const partialIndex = describe ? index.partial(first, last) : null;
    shards.push({ index: shards.length, first, last, frames: taken.length, selection: within(resolved, taken), ...(partialIndex ? { partialIndex } : {}) });
    taken = [];
    first = last + 1;
  };
  for (const n of frames) {
    // Past the start of the next GOP: the shard may end before it, once it is big enough.
    while (gop + 1 < starts.length && n >= starts[gop + 1]!) {
      gop++;
      if (taken.length >= shardFrames) close(starts[gop]! - 1);
    }
    taken.push(n);
  }
  close(index.size - 1);
  return shards;
}

/** The frame number each GOP starts at, ascending: where the keyframe a frame is decoded from changes. */
function gopStarts(index: PtsIndex): number[] {
  const starts = [0];
  let current = index.keyframeFor(0)?.pts;
  for (let n = 1; n < index.size; n++) {
    const keyframe = index.keyframeFor(n)?.pts;
    if (keyframe !== current) starts.push(n);
    current = keyframe;
  }
  return starts;
}

/** The selection's frames `taken` (in order, at least one) as a range with the selection's step, or as a list. */
function within(resolved: Selection, taken: readonly number[]): SelectionOptions {
  const start = taken[0]!;
  const end = taken.at(-1)!;
  // A shard holds whole GOPs: the keyframes of its range are exactly those taken.
  if (resolved.keyframesOnly) return { start, end, keyframesOnly: true };
  if (resolved.frames) return { frames: taken };
  return resolved.step === 1 ? { start, end } : { start, end, step: resolved.step };
}

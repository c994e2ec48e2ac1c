/**
 * The samples of a video track of an MP4/MOV file, read from its `moov` box alone, with the timestamps,
 * keyframe flags and byte ranges that FFmpeg's mov demuxer gives the packets it reads from them.
 *
 * FFmpeg does not hand out the sample tables as written. It builds an index (one entry per sample, decode times
 * from stts, shifted back by the largest negative composition offset), then rewrites it along the edit list: for
 * each edit it goes back to the keyframe needed to decode the edit's first frame, keeps the samples from there,
 * flags those shown outside the edit as discarded, and gives them decode times just before the edit starts. What
 * the edit hides at the start therefore comes out with negative timestamps. Both steps are reproduced here
 * (libavformat/mov.c: mov_build_index and mov_fix_index, FFmpeg 8), so that every sample gets exactly the pts and
 * dts the demuxer reports.
 */
import type { FramepipeError } from '@framepipe/common';
import { childBoxes, truncatedIndex, walkTopLevel, withRead } from './mp4-boxes.ts';
import type { BoxHeader, ByteSource } from './mp4-boxes.ts';
import { readFragments, readTrex } from './mp4-fragments.ts';
import { readTrack, trackSanity } from './mp4-track.ts';
import type { TrackTables } from './mp4-track.ts';

/** Flag bit of {@link Mp4SampleTable.flags}: the packet is a keyframe. */
export const SAMPLE_KEYFRAME = 1;
/** Flag bit of {@link Mp4SampleTable.flags}: an edit list hides the frame (FFmpeg's `AV_PKT_FLAG_DISCARD`). */
export const SAMPLE_DISCARD = 2;

/** One sample, as the demuxer emits it as a packet. */
export interface Mp4Sample {
  /** Presentation timestamp in the stream time base (1 / {@link Mp4SampleTable.timescale}). */
  readonly pts: bigint;
  /** Decode timestamp in the stream time base. */
  readonly dts: bigint;
  readonly keyframe: boolean;
  /** Shown outside the edit list: decoded (others may depend on it) but not displayed. */
  readonly discard: boolean;
  /** Byte offset of the sample in the file. */
  readonly offset: number;
  /** Size of the sample in bytes. */
  readonly size: number;
}

/** Options of {@link readMp4SampleTable}. */
export interface ReadMp4SampleTableOptions {
  /**
   * The index of the video stream the demuxer picked (`DemuxerInfo.streamIndex`): the tables read are that track's
   * (null when that track is not a video track). Without it, the first video track's.
   */
  streamIndex?: number | undefined;
  /** Aborts the reads. */
  signal?: AbortSignal | undefined;
  /**
   * What to do when a sample lies past the end of the file (a file cut short, its index whole): `throw` the
   * `ERR_FRAMEPIPE_TRUNCATED` error, or `keep` the table and put the error in {@link Mp4SampleTable.cut}, for a
   * reader of the samples before the cut.
   * @default 'throw'
   */
  pastEnd?: 'throw' | 'keep' | undefined;
}

/**
 * Every sample of one track in decode order (the order the demuxer emits them), as parallel arrays so that a
 * track of a million samples stays compact.
 */
export class Mp4SampleTable {
  /** Index of the track among the file's tracks, which is FFmpeg's stream index. */
  readonly streamIndex: number;
  readonly trackId: number;
  /** The track's time scale: the stream time base is 1/timescale. */
  readonly timescale: number;
  /** The sample entry format, e.g. `avc1`, `hvc1`. */
  readonly codecTag: string;
  readonly pts: BigInt64Array;
  readonly dts: BigInt64Array;
  /** Byte offsets of the samples. */
  readonly offsets: Float64Array;
  readonly sizes: Uint32Array;
  /** {@link SAMPLE_KEYFRAME} and {@link SAMPLE_DISCARD} bits. */
  readonly flags: Uint8Array;
  /** Bytes read from the source to build this table (box headers and the `moov` box). */
  readonly indexBytes: number;
  /**
   * With `pastEnd: 'keep'`, the `ERR_FRAMEPIPE_TRUNCATED` error of a file that ends before the data of a sample
   * (naming the first such sample), else null.
   */
  readonly cut: FramepipeError | null;

  constructor(init: {
    streamIndex: number; trackId: number; timescale: number; codecTag: string; pts: BigInt64Array; dts: BigInt64Array;
    offsets: Float64Array; sizes: Uint32Array; flags: Uint8Array; indexBytes: number; cut?: FramepipeError | null;
  }) {
    this.streamIndex = init.streamIndex;
    this.trackId = init.trackId;
    this.timescale = init.timescale;
    this.codecTag = init.codecTag;
    this.pts = init.pts;
    this.dts = init.dts;
    this.offsets = init.offsets;
    this.sizes = init.sizes;
    this.flags = init.flags;
    this.indexBytes = init.indexBytes;
    this.cut = init.cut ?? null;
  }

  /** Number of samples (= packets the demuxer emits for the track). */
  get count(): number {
    return this.pts.length;
  }

  /** Sample `i` in decode order, or undefined past the end. */
  sample(i: number): Mp4Sample | undefined {
    if (!Number.isInteger(i) || i < 0 || i >= this.count) return undefined;
    const flags = this.flags[i]!;
    return {
      pts: this.pts[i]!,
      dts: this.dts[i]!,
      keyframe: (flags & SAMPLE_KEYFRAME) !== 0,
      discard: (flags & SAMPLE_DISCARD) !== 0,
      offset: this.offsets[i]!,
      size: this.sizes[i]!,
    };
  }

  /** The byte range `[offset, offset + size)` of sample `i`, or undefined past the end. */
  byteRange(i: number): { offset: number; size: number } | undefined {
    if (!Number.isInteger(i) || i < 0 || i >= this.count) return undefined;
    return { offset: this.offsets[i]!, size: this.sizes[i]! };
  }
}

/** A view of `source` that counts the bytes it delivers, so the reader can say what the index cost. */
function counting(source: ByteSource): { source: ByteSource; bytes: () => number } {
  let bytes = 0;
  const view = withRead(source, async (offset, length, signal) => {
    const data = await source.read(offset, length, signal);
    bytes += data.length;
    return data;
  });
  return { source: view, bytes: () => bytes };
}

/**
 * Reads the sample table of a video track of an MP4/MOV file (the first, or the one of `streamIndex`): a few box headers to find `moov` (the media
 * data is skipped by its size, never read), then `moov` in one read. For a fragmented file (`mvex` in `moov`), the
 * samples come from every `moof` box, each read with the header after it; the media data is still skipped.
 *
 * Returns null, without throwing, when the tables cannot stand in for demuxing: the source is not MP4/MOV, it is
 * fragmented with samples in `moov` too or with a segment index (`sidx`, whose times FFmpeg takes), it has no
 * `moov` before the first `moof`, the track of the stream the demuxer picked is
 * not a video track, a table is damaged in a way FFmpeg would repair by reading past the box, or FFmpeg would find the
 * keyframes by parsing the packets (an empty `stss`, or none for a format it parses, such as H.264).
 *
 * @throws FramepipeError `ERR_FRAMEPIPE_TRUNCATED` when the file ends inside `moov`, or a sample of the track lies
 *   past the end of the file (the demuxer would fail the same way when it got there).
 * @example
 * const table = await readMp4SampleTable(new FileSource('clip.mp4'));
 * if (table) console.log(table.count, table.sample(0));
 */
export async function readMp4SampleTable(
  input: ByteSource,
  options: ReadMp4SampleTableOptions = {},
): Promise<Mp4SampleTable | null> {
  const { signal, streamIndex } = options;
  await input.open(signal);
  const counted = counting(input);
  const { source, bytes } = counted;
  const top = await walkTopLevel(source, signal);
  if (!top || !top.moov) return null;
  const moov = top.moov;
  if (top.cut === moov) throw truncatedIndex(input, `its index ('moov' box) ends past the end of the file`);
  // A size field damaged into a huge one would have us hold most of the file in memory: leave such a file to FFmpeg.
  if (moov.end - moov.payload > MAX_MOOV_BYTES) return null;
  const buffer = await source.read(moov.payload, moov.end - moov.payload, signal);
  if (buffer.length < moov.end - moov.payload) throw truncatedIndex(input, `its index ('moov' box) could not be read whole`);

  // Offsets below are relative to `buffer`, which starts at the moov payload.
  const root = { type: 'moov', start: -8, payload: 0, end: buffer.length };
  let movieTimescale = 0;
  // FFmpeg applies edit lists by rewriting its index unless a track without samples came first: from then on it
  // only shifts the timestamps by the first edit (its non-"advanced" mode, meant for fragmented files).
  let advancedEditList = true;
  let trackIndex = 0;
  const mvex = [...childBoxes(buffer, root.payload, root.end)].find((box) => box.type === 'mvex');
  if (top.fragmented || mvex) {
    if (!mvex) return null;
    return readFragmentedTable(input, counted, { buffer, root, mvex, moovEnd: moov.end }, options);
  }
  for (const box of childBoxes(buffer, root.payload, root.end)) {
    if (box.type === 'cmov') return null;
    if (box.type === 'mvhd') {
      movieTimescale = readMovieTimescale(buffer, box.payload, box.end) ?? movieTimescale;
      continue;
    }
    if (box.type !== 'trak') continue;
    const index = trackIndex++;
    const track = readTrack(buffer, box);
    const sanity = trackSanity(track);
    if (sanity === 'broken') return null;
    if (sanity === 'ok' && track.stts.length === 0) advancedEditList = false;
    // FFmpeg makes one stream per track, in order: the track of the stream picked is the one with its index.
    if (streamIndex === undefined ? track.mediaType !== 'video' : streamIndex !== index) continue;
    if (track.mediaType !== 'video') return null;
    if (track.unusable !== undefined || sanity !== 'ok') return null;
    if (!keyframesFromTables(track)) return null;
    const timescale = track.timescale || movieTimescale || 1;
    const built = buildSamples(track, { timescale, movieTimescale, advancedEditList, fileSize: input.size });
    if (!built) return null;
    return finishTable(input, index, track, timescale, built, bytes(), options);
  }
  return null;
}

/**
 * The table of the track at `index` from its samples, with a sample past the end of `input` said in `cut`; thrown
 * unless `pastEnd` is `keep`. Shared by the sample-table and the fragment paths.
 */
function finishTable(
  input: ByteSource,
  index: number,
  track: { trackId: number; formats: readonly string[] },
  timescale: number,
  built: Built,
  indexBytes: number,
  options: ReadMp4SampleTableOptions,
): Mp4SampleTable {
  const table = new Mp4SampleTable({
    streamIndex: index,
    trackId: track.trackId,
    timescale,
    codecTag: track.formats[0] ?? '',
    ...built,
    indexBytes,
    cut: cutSample(input, built),
  });
  if (table.cut && options.pastEnd !== 'keep') throw table.cut;
  return table;
}

/**
 * The table of a fragmented file: the track chosen as in an unfragmented one, its samples from the `moof` boxes
 * (see mp4-fragments.ts). Null where the tables of an unfragmented file would be (not video, keyframes FFmpeg finds
 * by parsing packets), and when a fragment cannot be read whole.
 */
async function readFragmentedTable(
  input: ByteSource,
  counted: { source: ByteSource; bytes: () => number },
  moov: { buffer: Buffer; root: BoxHeader; mvex: BoxHeader; moovEnd: number },
  options: ReadMp4SampleTableOptions,
): Promise<Mp4SampleTable | null> {
  const { buffer, root } = moov;
  const { streamIndex, signal } = options;
  let movieTimescale = 0;
  let trackIndex = 0;
  for (const box of childBoxes(buffer, root.payload, root.end)) {
    if (box.type === 'mvhd') movieTimescale = readMovieTimescale(buffer, box.payload, box.end) ?? movieTimescale;
    if (box.type !== 'trak') continue;
    const index = trackIndex++;
    const track = readTrack(buffer, box);
    if (streamIndex === undefined ? track.mediaType !== 'video' : streamIndex !== index) continue;
    if (track.mediaType !== 'video' || track.unusable !== undefined) return null;
    // Samples in moov as well as in fragments (a first fragment written inside moov): not reproduced here.
    if (track.sampleCount > 0 || track.chunkOffsets.length > 0) return null;
    // No sync table in moov: FFmpeg's parser flags the keyframes of the formats it parses, not the fragment flags.
    if (!UNPARSED_FORMATS.has(track.formats[0] ?? '') && !PARSED_AS_FLAGGED.has(track.formats[0] ?? '')) return null;
    const timescale = track.timescale || movieTimescale || 1;
    const trex = readTrex(buffer, moov.mvex).get(track.trackId);
    const timeOffset = fragmentTimeOffset(track, timescale, movieTimescale);
    // The walk restarts at the file start, so that fragments before moov count too.
    const samples = await readFragments(counted.source, 0, track, trex, timeOffset, signal);
    if (!samples || samples.pts.length === 0) return null;
    const n = samples.pts.length;
    const built: Built = {
      pts: BigInt64Array.from(samples.pts, BigInt),
      dts: BigInt64Array.from(samples.dts, BigInt),
      offsets: Float64Array.from(samples.offsets),
      sizes: Uint32Array.from(samples.sizes),
      flags: Uint8Array.from({ length: n }, (_, i) => (samples.keyframes[i] ? SAMPLE_KEYFRAME : 0)),
    };
    return finishTable(input, index, track, timescale, built, counted.bytes(), options);
  }
  return null;
}

/**
 * The start an edit list gives a track, as FFmpeg reads it without rewriting the index: the duration of a leading
 * empty edit (in the movie's timescale) and the media time of the first edit after it.
 */
function firstEdit(edits: TrackTables['edits']): { emptyDuration: number; startTime: number } {
  let emptyDuration = 0;
  let startTime = 0;
  let editStart = 0;
  edits.forEach((e, i) => {
    if (i === 0 && e.mediaTime === -1) {
      emptyDuration = e.duration;
      editStart = 1;
    } else if (i === editStart && e.mediaTime >= 0) {
      startTime = e.mediaTime;
    }
  });
  return { emptyDuration, startTime };
}

/**
 * What FFmpeg subtracts from the decode times of a fragmented track: the media time of its first edit less a leading
 * empty edit (its `time_offset`; with no samples in moov it does not rewrite the index along the edits).
 */
function fragmentTimeOffset(track: TrackTables, timescale: number, movieTimescale: number): number {
  const { emptyDuration, startTime } = firstEdit(track.edits);
  if (!(emptyDuration || startTime) || movieTimescale <= 0) return 0;
  return startTime - (emptyDuration ? rescale(emptyDuration, timescale, movieTimescale) : 0);
}

/**
 * Formats FFmpeg parses whose parser flags the same keyframes as the fragments' sample flags for the files the
 * muxers write (an IDR access unit is flagged a sync sample).
 */
const PARSED_AS_FLAGGED = new Set(['avc1', 'avc3']);

/**
 * Sample entry formats whose packets FFmpeg does not run through a parser, so that their keyframe flags come from
 * the sync sample table alone (HEVC, VVC, ProRes, MJPEG, MPEG-4 part 2, DNxHD, raw). For other formats (H.264, AV1,
 * VP8/9, ...) FFmpeg's parser flags keyframes by looking inside each packet; those flags match the sync table when
 * there is one, but a missing table ("every sample is a keyframe") is not taken at its word.
 */
const UNPARSED_FORMATS = new Set([
  'hvc1', 'hev1', 'dvh1', 'dvhe', 'vvc1', 'vvi1', 'apch', 'apcn', 'apcs', 'apco', 'ap4h', 'ap4x', 'jpeg', 'mjpa',
  'mjpb', 'mp4v', 'AVdn', 'AVdh', 'raw ',
]);

/** Whether the tables alone say which packets FFmpeg flags as keyframes. */
function keyframesFromTables(track: TrackTables): boolean {
  // An empty stss makes FFmpeg parse every video packet for its keyframe flag.
  if (track.syncAbsent) return false;
  return track.syncSamples !== undefined || UNPARSED_FORMATS.has(track.formats[0] ?? '');
}

function readMovieTimescale(buffer: Buffer, payload: number, end: number): number | undefined {
  if (end - payload < 4) return undefined;
  const at = payload + 4 + (buffer[payload] === 1 ? 16 : 8);
  if (at + 4 > end) return undefined;
  const scale = buffer.readInt32BE(at);
  return scale <= 0 ? 1 : scale;
}

/** The error for the first sample whose data runs past the end of the file; null when every sample fits. */
function cutSample(source: ByteSource, samples: { offsets: Float64Array; sizes: Uint32Array }): FramepipeError | null {
  for (let i = 0; i < samples.offsets.length; i++) {
    if (samples.offsets[i]! + samples.sizes[i]! > source.size) {
      return truncatedIndex(source, `its index refers to data past its last byte (sample ${i} of the video track)`);
    }
  }
  return null;
}

interface BuildContext {
  readonly timescale: number;
  readonly movieTimescale: number;
  readonly advancedEditList: boolean;
  /** Size of the file, which bounds how many samples of a constant size it can hold. */
  readonly fileSize: number;
}

interface Built {
  pts: BigInt64Array;
  dts: BigInt64Array;
  offsets: Float64Array;
  sizes: Uint32Array;
  flags: Uint8Array;
}

/** An index entry as FFmpeg keeps it: decode time, position, size, flags. */
interface Entry {
  ts: number;
  readonly pos: number;
  readonly size: number;
  flags: number;
}

/** `a * b / c` rounded to nearest, halves away from zero (FFmpeg's av_rescale). */
function rescale(a: number, b: number, c: number): number {
  if (a < 0) return -rescale(-a, b, c);
  const big = BigInt(a) * BigInt(b) + BigInt(c) / 2n;
  return Number(big / BigInt(c));
}

const INT64_MAX = (1n << 63n) - 1n;
/**
 * The most samples FFmpeg indexes in a track: its index takes 24 bytes a sample (AVIndexEntry) in one allocation, and
 * av_malloc refuses more than INT_MAX bytes. A track that claims more gets no index, hence no packets.
 */
const MAX_INDEXED_SAMPLES = Math.floor(0x7fffffff / 24);
/**
 * The largest `moov` read into memory. An index this large would describe days of video; a size field damaged into a
 * huge one is far likelier, and FFmpeg, which parses `moov` as a stream, is left to make sense of it.
 */
const MAX_MOOV_BYTES = 256 * 2 ** 20;

/** The demuxer's packets for the track: FFmpeg's index, then its edit-list rewrite, then the packet timestamps. */
function buildSamples(t: TrackTables, ctx: BuildContext): Built | null {
  const count = t.sampleCount;
  if (!count || count > MAX_INDEXED_SAMPLES) return null;
  // A sample count is only bounded by its box when the sizes are listed. With one size for all, a damaged count or
  // size may claim more media data than the file holds; the tables then cannot stand in for demuxing, and building
  // them could take gigabytes.
  const visited = samplesVisited(t);
  if (t.constantSize > 0 && visited * t.constantSize > ctx.fileSize) return null;

  // FFmpeg expands stts and ctts to one entry per sample; the list is as long as the longer of the two (capped at
  // the sample count), a missing duration or offset reading as 0. Entries past the samples that the chunk walk
  // visits are never read (a damaged stts count may claim billions), so the arrays stop there.
  let sttsCovered = 0;
  for (const e of t.stts) sttsCovered += e.count;
  let cttsCovered = 0;
  for (const e of t.ctts) cttsCovered += e.count;
  const ttsCount = Math.min(Math.max(Math.min(sttsCovered, count), Math.min(cttsCovered, count)), visited);
  const durations = new Float64Array(ttsCount);
  const compositionOffsets = new Float64Array(ttsCount);
  fillRuns(durations, t.stts.map((e) => ({ count: e.count, value: e.duration })));
  fillRuns(compositionOffsets, t.ctts.map((e) => ({ count: e.count, value: e.offset })));
  const hasCtts = t.ctts.length > 0;

  const entries = buildIndex(t, ctx, durations);
  let ptsOffsets: ArrayLike<number> = compositionOffsets;
  let ptsOffsetCount = ttsCount;
  if (entries.complete && ctx.advancedEditList && t.edits.length && entries.list.length) {
    const fixed = applyEditList(t, ctx, entries.list, compositionOffsets, hasCtts);
    if (!fixed) return null;
    entries.list = fixed.list;
    ptsOffsets = fixed.offsets;
    ptsOffsetCount = fixed.offsets.length;
  }

  // A packet takes the composition offset of its position in the (rewritten) list; FFmpeg adds the dts shift back
  // only where it has an offset.
  const list = entries.list;
  const n = list.length;
  const built: Built = {
    pts: new BigInt64Array(n),
    dts: new BigInt64Array(n),
    offsets: new Float64Array(n),
    sizes: new Uint32Array(n),
    flags: new Uint8Array(n),
  };
  for (let k = 0; k < n; k++) {
    const e = list[k]!;
    const pts = hasCtts && k < ptsOffsetCount ? e.ts + t.dtsShift + ptsOffsets[k]! : e.ts;
    if (!Number.isSafeInteger(pts) || !Number.isSafeInteger(e.ts)) return null;
    built.pts[k] = BigInt(pts);
    built.dts[k] = BigInt(e.ts);
    built.offsets[k] = e.pos;
    built.sizes[k] = e.size;
    built.flags[k] = e.flags;
  }
  return built;
}

/** How many samples the chunk walk of {@link buildIndex} visits: the stsc counts over the chunks, up to the sample count. */
function samplesVisited(t: TrackTables): number {
  const stsc = t.sampleToChunk;
  let total = 0;
  let stscAt = 0;
  for (let chunk = 0; chunk < t.chunkOffsets.length && total < t.sampleCount; chunk++) {
    while (stscAt < stsc.length - 1 && chunk + 1 === stsc[stscAt + 1]!.first) stscAt++;
    total += stsc[stscAt]?.count ?? 0;
  }
  return Math.min(total, t.sampleCount);
}

function fillRuns(target: Float64Array, runs: ReadonlyArray<{ count: number; value: number }>): void {
  let at = 0;
  for (const run of runs) {
    for (let i = 0; i < run.count && at < target.length; i++) target[at++] = run.value;
    if (at >= target.length) return;
  }
}

/**
 * FFmpeg's first pass (mov_build_index): walk the chunks, give every sample a position, a size, a keyframe flag and
 * a decode time. `complete` is false when the tables disagree on the sample count and FFmpeg stops early (it then
 * also skips the edit list).
 */
function buildIndex(t: TrackTables, ctx: BuildContext, durations: Float64Array): { list: Entry[]; complete: boolean } {
  const list: Entry[] = [];
  let dts = 0;
  if (t.edits.length) {
    // Without the index rewrite, FFmpeg only moves the start by the first edit (after a leading empty one).
    const { emptyDuration, startTime } = firstEdit(t.edits);
    if ((emptyDuration || startTime) && ctx.movieTimescale > 0) {
      const empty = emptyDuration ? rescale(emptyDuration, ctx.timescale, ctx.movieTimescale) : 0;
      if (!ctx.advancedEditList) dts = -(startTime - empty);
    }
  }
  dts -= t.dtsShift;

  const sync = t.syncSamples ?? [];
  const partial = t.partialSyncSamples;
  const rap = t.rapGroups;
  // Sync sample numbers are 1-based, but some muxers write them 0-based; FFmpeg follows the first entry.
  const keyOffset = (sync.length && sync[0]! > 0) || (partial.length && partial[0]! > 0) ? 1 : 0;
  let syncAt = 0;
  let partialAt = 0;
  let rapAt = 0;
  let rapSample = 0;
  const durationOf = (sample: number) => (durations.length ? durations[Math.min(sample, durations.length - 1)]! : 0);

  let sample = 0;
  let stscAt = 0;
  const stsc = t.sampleToChunk;
  for (let chunk = 0; chunk < t.chunkOffsets.length; chunk++) {
    let pos = t.chunkOffsets[chunk]!;
    while (stscAt < stsc.length - 1 && chunk + 1 === stsc[stscAt + 1]!.first) stscAt++;
    const run = stsc[stscAt]!;
    for (let j = 0; j < run.count; j++) {
      if (sample >= t.sampleCount) return { list, complete: false };
      let key = false;
      if (!t.syncAbsent && (!sync.length || sample + keyOffset === sync[syncAt])) {
        key = true;
        if (syncAt + 1 < sync.length) syncAt++;
      } else if (partial.length && sample + keyOffset === partial[partialAt]) {
        key = true;
        if (partialAt + 1 < partial.length) partialAt++;
      }
      if (rap.length && rapAt < rap.length) {
        if (rap[rapAt]!.index > 0) key = true;
        if (++rapSample === rap[rapAt]!.count) {
          rapSample = 0;
          rapAt++;
        }
      }
      if (t.syncAbsent && !partial.length && !rap.length && chunk === 0 && j === 0) key = true;
      const size = t.constantSize > 0 ? t.constantSize : (t.sampleSizes?.[sample] ?? 0);
      if (t.pseudoStreamId === -1 || run.id - 1 === t.pseudoStreamId) {
        if (size > 0x3fffffff) return { list, complete: false };
        list.push({ ts: dts, pos, size, flags: key ? SAMPLE_KEYFRAME : 0 });
      }
      pos += size;
      dts += durationOf(sample);
      sample++;
    }
  }
  return { list, complete: true };
}

/**
 * FFmpeg's last index entry at or before `wanted` (decode time), walking back to a keyframe unless `any`
 * (av_index_search_timestamp with AVSEEK_FLAG_BACKWARD); -1 if there is none.
 */
function searchBackward(list: readonly Entry[], wanted: number, any: boolean): number {
  let a = -1;
  let b = list.length;
  if (b && list[b - 1]!.ts < wanted) a = b - 1;
  while (b - a > 1) {
    const m = (a + b) >> 1;
    const ts = list[m]!.ts;
    if (ts >= wanted) b = m;
    if (ts <= wanted) a = m;
  }
  let m = a;
  if (!any) while (m >= 0 && !(list[m]!.flags & SAMPLE_KEYFRAME)) m--;
  return m;
}

/**
 * FFmpeg's second pass (mov_fix_index) for a video track: the index rewritten edit by edit. Returns the new entries
 * and the composition offsets that go with them, in packet order.
 */
function applyEditList(
  t: TrackTables,
  ctx: BuildContext,
  old: readonly Entry[],
  oldOffsets: Float64Array,
  hasCtts: boolean,
): { list: Entry[]; offsets: number[] } | null {
  const list: Entry[] = [];
  const offsets: number[] = [];
  const shift = t.dtsShift;
  const ttsCount = oldOffsets.length;
  let entryEnd = shift > 0 ? -shift : 0;
  let minCorrectedPts = -1;
  let emptySum = 0;
  let foundNonEmpty = false;
  // Where the walk stands in the per-sample offsets; like FFmpeg, only the keyframe search with composition offsets
  // moves it back, so it carries over from one edit to the next otherwise.
  let ttsAt = 0;
  let leadingDurations: number[] | undefined;

  // The keyframe to start an edit from, and where the offsets walk restarts (find_prev_closest_index).
  const findStart = (mediaTime: number, any: boolean): number => {
    const wanted = shift > 0 ? mediaTime - shift : mediaTime;
    let index = searchBackward(old, wanted, any);
    if (index >= 0) {
      for (let i = index; i > 0 && old[i]!.ts === old[i - 1]!.ts; i--) {
        if (any || old[i - 1]!.flags & SAMPLE_KEYFRAME) index = i - 1;
      }
    }
    if (hasCtts && index >= 0) {
      // Go back until a keyframe that is shown no later than the edit start (B-frames of an earlier GOP may be).
      let tts = Math.min(index, ttsCount);
      while (index >= 0 && tts >= 0 && tts < ttsCount) {
        if (old[index]!.ts + oldOffsets[tts]! <= wanted && old[index]!.flags & SAMPLE_KEYFRAME) break;
        index--;
        tts--;
      }
      ttsAt = tts;
    }
    return index;
  };

  if (ctx.movieTimescale <= 0) return null;
  for (const edit of t.edits) {
    const mediaTime = edit.mediaTime;
    let duration = rescale(edit.duration, ctx.timescale, ctx.movieTimescale);
    if (BigInt.asUintN(64, BigInt(duration) + BigInt.asUintN(64, BigInt(mediaTime))) > INT64_MAX) duration = 0;
    let counter = entryEnd;
    entryEnd += duration;
    let discardedAtStart = 0;
    if (!foundNonEmpty && mediaTime === -1) {
      emptySum += duration;
      continue;
    }
    foundNonEmpty = true;

    let index = findStart(mediaTime, false);
    if (index < 0) index = findStart(mediaTime, true);
    if (index < 0) {
      index = 0;
      ttsAt = 0;
    }

    let started = false;
    let keyframeAfterEdit = false;
    const editEnd = duration + mediaTime;
    for (let cur = index; cur < old.length; cur++) {
      const entry = old[cur]!;
      const frameDuration = cur + 1 < old.length ? old[cur + 1]!.ts - entry.ts : duration;
      let flags = entry.flags;
      let cts = entry.ts + shift;
      let ctts = 0;
      if (ttsAt < ttsCount) {
        ctts = oldOffsets[ttsAt]!;
        cts += ctts;
        offsets.push(ctts);
        ttsAt++;
      }
      if (cts < mediaTime || cts >= editEnd) {
        flags |= SAMPLE_DISCARD;
        if (!started) {
          discardedAtStart++;
          leadingDurations ??= [];
          leadingDurations[discardedAtStart - 1] = frameDuration;
        }
      } else {
        const corrected = counter + ctts + shift;
        minCorrectedPts = minCorrectedPts < 0 ? corrected : Math.min(minCorrectedPts, corrected);
        if (!started) {
          started = true;
          // The frames discarded before the edit start get decode times counting back from it, one duration each.
          if (leadingDurations) {
            let ts = counter;
            for (let i = 0; i < discardedAtStart; i++) {
              ts -= leadingDurations[discardedAtStart - 1 - i]!;
              list[list.length - 1 - i]!.ts = ts;
            }
            leadingDurations = undefined;
          }
        }
      }
      list.push({ ts: counter, pos: entry.pos, size: entry.size, flags });
      if (started) counter += frameDuration;
      // Stop at the first keyframe past the edit; with composition offsets at the second, since B-frames decoded
      // after that keyframe may still be shown inside the edit.
      if (cts + frameDuration >= editEnd && flags & SAMPLE_KEYFRAME) {
        if (hasCtts && !keyframeAfterEdit) {
          keyframeAfterEdit = true;
          continue;
        }
        break;
      }
    }
  }
  // Shift so that the first frame shown starts at 0 (or at the end of a leading empty edit).
  minCorrectedPts -= emptySum;
  if (minCorrectedPts > 0) for (const e of list) e.ts -= minCorrectedPts;
  return { list, offsets };
}

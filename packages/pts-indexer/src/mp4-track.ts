/**
 * The sample tables of one `trak`, read the way FFmpeg's mov demuxer (libavformat/mov.c) reads them, including its
 * repairs of damaged tables (stts deltas that are really negative corrections, out-of-order stsc entries, stco
 * counts larger than their box) and the values it derives on the way (the dts shift of negative composition
 * offsets). Tables that FFmpeg would read past their box to fill are not guessed at: the track is marked
 * unusable and the caller falls back to demuxing.
 */
import { childBoxes, fourcc, readSafeU64 } from './mp4-boxes.ts';
import type { BoxHeader } from './mp4-boxes.ts';

/** One edit of an edit list, as stored (duration in the movie time scale, media time in the track's). */
export interface Edit {
  readonly duration: number;
  readonly mediaTime: number;
}

/** Why a track cannot be indexed from its tables (the caller then demuxes instead). */
export type Unusable = string;

/** What one `trak` holds, after FFmpeg's reading rules. Durations, offsets and times are exact integers. */
export interface TrackTables {
  readonly trackId: number;
  /** The media type FFmpeg derives from the handler boxes it visits: 'video', 'audio', 'subtitle' or 'data'. */
  readonly mediaType: 'video' | 'audio' | 'subtitle' | 'data';
  /** mdhd time scale after FFmpeg's fix-ups (<= 0 becomes 1); 0 when the track has no mdhd. */
  readonly timescale: number;
  /** Sample entry formats of stsd, e.g. `avc1`. */
  readonly formats: readonly string[];
  /** Which sample description's samples FFmpeg indexes: -1 for all, else a 0-based stsd entry. */
  readonly pseudoStreamId: number;
  /** Per stts entry: sample count and (repaired) duration. */
  readonly stts: ReadonlyArray<{ readonly count: number; readonly duration: number }>;
  /** Composition offsets per run, entries with a count < 1 dropped; empty when absent or rejected. */
  readonly ctts: ReadonlyArray<{ readonly count: number; readonly offset: number }>;
  /** What FFmpeg adds back to every pts when some composition offsets are negative. */
  readonly dtsShift: number;
  /** 1-based (or 0-based, as written) sync sample numbers; undefined when there is no stss box. */
  readonly syncSamples: readonly number[] | undefined;
  /** An stss box with no entries: only the first sample is a keyframe. */
  readonly syncAbsent: boolean;
  readonly partialSyncSamples: readonly number[];
  /** `sbgp` runs of the 'rap ' grouping: sample count and group description index. */
  readonly rapGroups: ReadonlyArray<{ readonly count: number; readonly index: number }>;
  /** stsz constant size (0 when sizes are listed). */
  readonly constantSize: number;
  readonly sampleSizes: Uint32Array | undefined;
  readonly sampleCount: number;
  readonly sampleToChunk: ReadonlyArray<{ readonly first: number; readonly count: number; readonly id: number }>;
  readonly chunkOffsets: readonly number[];
  readonly edits: readonly Edit[];
  /** The reason the tables cannot be used, or undefined. */
  readonly unusable: Unusable | undefined;
}

// FFmpeg treats stts deltas above this as invalid (its `max_stts_delta` default, UINT_MAX - 48000 * 10).
const MAX_STTS_DELTA = 0xffffffff - 480000;
const INT_MAX = 0x7fffffff;

class TrackReader {
  trackId = 0;
  mediaType: TrackTables['mediaType'] = 'data';
  timescale = 0;
  mdhdSeen = false;
  formats: string[] = [];
  pseudoStreamId = -1;
  stts: Array<{ count: number; duration: number }> = [];
  sttsSeen = false;
  ctts: Array<{ count: number; offset: number }> = [];
  dtsShift = 0;
  syncSamples: number[] | undefined;
  syncAbsent = false;
  partialSyncSamples: number[] = [];
  rapGroups: Array<{ count: number; index: number }> = [];
  constantSize = 0;
  sampleSizes: Uint32Array | undefined;
  sampleCount = 0;
  sampleToChunk: Array<{ first: number; count: number; id: number }> | undefined;
  chunkOffsets: number[] | undefined;
  edits: Edit[] = [];
  unusable: Unusable | undefined;

  readonly buffer: Buffer;

  constructor(buffer: Buffer) {
    this.buffer = buffer;
  }

  fail(why: string): void {
    this.unusable ??= why;
  }

  /** Walks a container box the way FFmpeg's default parser does, dispatching the boxes it knows. */
  walk(parent: BoxHeader): void {
    for (const box of childBoxes(this.buffer, parent.payload, parent.end)) {
      switch (box.type) {
        case 'mdia':
        case 'minf':
        case 'stbl':
        case 'edts':
          this.walk(box);
          break;
        case 'tkhd': this.tkhd(box); break;
        case 'mdhd': this.mdhd(box); break;
        case 'hdlr': this.hdlr(box); break;
        case 'stsd': this.stsd(box); break;
        case 'stts': this.sttsBox(box); break;
        case 'ctts': this.cttsBox(box); break;
        case 'stss': this.stss(box); break;
        case 'stps': this.stps(box); break;
        case 'stsz':
        case 'stz2': this.stsz(box); break;
        case 'stsc': this.stsc(box); break;
        case 'stco':
        case 'co64': this.stco(box); break;
        case 'elst': this.elst(box); break;
        case 'sbgp': this.sbgp(box); break;
        default: break;
      }
    }
  }

  /** Payload bytes of `box`, or fails the track if fewer than `need`. */
  #has(box: BoxHeader, need: number): boolean {
    if (box.end - box.payload >= need) return true;
    this.fail(`'${box.type}' box too short`);
    return false;
  }

  tkhd(box: BoxHeader): void {
    if (!this.#has(box, 4)) return;
    const version = this.buffer[box.payload]!;
    const at = box.payload + 4 + (version === 1 ? 16 : 8);
    if (!this.#has(box, at - box.payload + 4)) return;
    this.trackId = this.buffer.readUInt32BE(at);
  }

  mdhd(box: BoxHeader): void {
    if (this.mdhdSeen) return this.fail("two 'mdhd' boxes (FFmpeg rejects the file)");
    this.mdhdSeen = true;
    if (!this.#has(box, 4)) return;
    const version = this.buffer[box.payload]!;
    if (version > 1) return this.fail(`'mdhd' version ${version}`);
    const at = box.payload + 4 + (version === 1 ? 16 : 8);
    if (!this.#has(box, at - box.payload + 4)) return;
    const scale = this.buffer.readInt32BE(at);
    this.timescale = scale <= 0 ? 1 : scale;
  }

  hdlr(box: BoxHeader): void {
    if (!this.#has(box, 12)) return;
    switch (fourcc(this.buffer, box.payload + 8)) {
      case 'vide': this.mediaType = 'video'; break;
      case 'soun': this.mediaType = 'audio'; break;
      case 'subp':
      case 'clcp': this.mediaType = 'subtitle'; break;
      default: break;
    }
  }

  stsd(box: BoxHeader): void {
    if (!this.#has(box, 8)) return;
    const b = this.buffer;
    const entries = b.readInt32BE(box.payload + 4);
    const size = box.end - box.payload;
    if (entries <= 0 || entries > size / 8 || entries > 1024) return this.fail('invalid stsd entry count');
    if (this.formats.length) return this.fail("two 'stsd' boxes (FFmpeg rejects the file)");
    // FFmpeg keeps the samples of one description unless a later one has the same format (then all of them).
    let offset = box.payload + 8;
    let tag = '';
    for (let i = 0; i < entries; i++) {
      if (offset + 8 > box.end) return this.fail('stsd entries past the box');
      const entrySize = b.readUInt32BE(offset);
      const format = fourcc(b, offset + 4);
      if (entrySize <= 7) return this.fail('invalid stsd entry size');
      this.formats.push(format);
      if (!tag || !skipsSampleEntry(tag, format)) {
        this.pseudoStreamId = tag ? -1 : i;
        tag = format;
      }
      offset += entrySize;
    }
  }

  sttsBox(box: BoxHeader): void {
    if (!this.#has(box, 8)) return;
    const b = this.buffer;
    const entries = b.readUInt32BE(box.payload + 4);
    if (8 + entries * 8 > box.end - box.payload) return this.fail('stts entries past the box');
    this.sttsSeen = true;
    this.stts = [];
    // Durations are unsigned 32-bit, yet some muxers store negative corrections in them; FFmpeg clips those to 1
    // and takes the difference off the following entries so that the total stays right.
    let current = 0n;
    let corrected = 0n;
    for (let i = 0; i < entries; i++) {
      const count = b.readUInt32BE(box.payload + 8 + i * 8);
      let duration = b.readUInt32BE(box.payload + 12 + i * 8);
      const n = BigInt(count);
      if (duration > MAX_STTS_DELTA) {
        const asSigned = duration | 0;
        duration = 1;
        corrected += (asSigned < 0 ? BigInt(asSigned) : 1n) * n;
      } else {
        corrected += BigInt(duration) * n;
      }
      current += BigInt(duration) * n;
      if (current > corrected) {
        const drift = (current - corrected) / (count > 0 ? n : 1n);
        const correction = BigInt.asUintN(32, BigInt(duration) > drift ? drift : BigInt(duration) - 1n);
        current -= correction * n;
        duration = Number(BigInt.asUintN(32, BigInt(duration) - correction));
      }
      this.stts.push({ count, duration });
    }
  }

  cttsBox(box: BoxHeader): void {
    if (!this.#has(box, 8)) return;
    const b = this.buffer;
    const entries = b.readUInt32BE(box.payload + 4);
    if (entries === 0) return;
    if (8 + entries * 8 > box.end - box.payload) return this.fail('ctts entries past the box');
    this.ctts = [];
    for (let i = 0; i < entries; i++) {
      const count = b.readInt32BE(box.payload + 8 + i * 8);
      const offset = b.readInt32BE(box.payload + 12 + i * 8);
      if (count <= 0) continue;
      this.ctts.push({ count, offset });
      // FFmpeg ignores the last two entries for both checks below (they are often bogus).
      const checked = i + 2 < entries;
      if (checked && Math.abs(offset) > 1 << 28) {
        this.ctts = [];
        return;
      }
      if (checked && offset < 0) this.dtsShift = Math.max(this.dtsShift, offset === -0x80000000 ? INT_MAX : -offset);
    }
  }

  stss(box: BoxHeader): void {
    if (!this.#has(box, 8)) return;
    const entries = this.buffer.readUInt32BE(box.payload + 4);
    if (entries === 0) {
      this.syncAbsent = true;
      return;
    }
    if (8 + entries * 4 > box.end - box.payload) return this.fail('stss entries past the box');
    this.syncSamples = [];
    for (let i = 0; i < entries; i++) this.syncSamples.push(this.buffer.readInt32BE(box.payload + 8 + i * 4));
  }

  stps(box: BoxHeader): void {
    if (!this.#has(box, 8)) return;
    const entries = this.buffer.readUInt32BE(box.payload + 4);
    if (8 + entries * 4 > box.end - box.payload) return this.fail('stps entries past the box');
    this.partialSyncSamples = [];
    for (let i = 0; i < entries; i++) this.partialSyncSamples.push(this.buffer.readUInt32BE(box.payload + 8 + i * 4));
  }

  stsz(box: BoxHeader): void {
    if (!this.#has(box, 12)) return;
    const b = this.buffer;
    let fieldSize = 32;
    let constant = 0;
    if (box.type === 'stsz') {
      constant = b.readUInt32BE(box.payload + 4);
    } else {
      fieldSize = b[box.payload + 7]!;
    }
    const entries = b.readUInt32BE(box.payload + 8);
    this.constantSize = constant;
    this.sampleCount = entries;
    this.sampleSizes = undefined;
    if (constant) return;
    if (fieldSize !== 4 && fieldSize !== 8 && fieldSize !== 16 && fieldSize !== 32) return this.fail('invalid stz2 field size');
    if (!entries) return;
    const bytes = (entries * fieldSize + 4) >> 3;
    if (12 + bytes > box.end - box.payload) return this.fail('stsz entries past the box');
    const sizes = new Uint32Array(entries);
    const at = box.payload + 12;
    for (let i = 0; i < entries; i++) {
      if (fieldSize === 32) sizes[i] = b.readUInt32BE(at + i * 4);
      else if (fieldSize === 16) sizes[i] = b.readUInt16BE(at + i * 2);
      else if (fieldSize === 8) sizes[i] = b[at + i]!;
      else sizes[i] = (b[at + (i >> 1)]! >> (i & 1 ? 0 : 4)) & 0x0f;
    }
    this.sampleSizes = sizes;
  }

  stsc(box: BoxHeader): void {
    if (!this.#has(box, 8)) return;
    const b = this.buffer;
    const entries = b.readUInt32BE(box.payload + 4);
    const size = box.end - box.payload;
    if (entries * 12 + 4 > size) return this.fail('stsc entries past the box (FFmpeg rejects the file)');
    if (8 + entries * 12 > size) return this.fail('stsc entries past the box');
    if (!entries || this.sampleToChunk) return;
    const list: Array<{ first: number; count: number; id: number }> = [];
    for (let i = 0; i < entries; i++) {
      const at = box.payload + 8 + i * 12;
      list.push({ first: b.readInt32BE(at), count: b.readInt32BE(at + 4), id: b.readInt32BE(at + 8) });
    }
    // FFmpeg's repair, from the last entry back: an entry out of order or with a count or id below 1 is replaced
    // by a copy of the next one starting a chunk earlier; a bad last entry is clamped instead (or dropped).
    let length = list.length;
    for (let i = length - 1; i >= 0; i--) {
      const e = list[i]!;
      const next = i + 1 < length ? list[i + 1] : undefined;
      const prev = i > 0 ? list[i - 1] : undefined;
      const bad = (next !== undefined && e.first >= next.first) || (prev !== undefined && e.first <= prev.first) ||
        e.first < i + 1 || e.count < 1 || e.id < 1;
      if (!bad) continue;
      if (!next) {
        if (e.count === 0 && i > 0) {
          length--;
          continue;
        }
        e.first = Math.max(e.first, i + 1);
        if (prev && e.first <= prev.first) e.first = Math.min(prev.first + 1, INT_MAX);
        e.count = Math.max(e.count, 1);
        e.id = Math.max(e.id, 1);
        continue;
      }
      e.first = next.first - 1;
      e.count = next.count;
      e.id = next.id;
    }
    list.length = length;
    this.sampleToChunk = list;
  }

  stco(box: BoxHeader): void {
    if (!this.#has(box, 8)) return;
    const b = this.buffer;
    const wide = box.type === 'co64';
    const size = box.end - box.payload;
    // FFmpeg trusts the box size over the entry count.
    const entries = Math.min(b.readUInt32BE(box.payload + 4), Math.max(0, Math.floor((size - 8) / (wide ? 8 : 4))));
    if (!entries || this.chunkOffsets) return;
    const offsets: number[] = [];
    for (let i = 0; i < entries; i++) {
      const at = box.payload + 8 + i * (wide ? 8 : 4);
      if (!wide) {
        offsets.push(b.readUInt32BE(at));
        continue;
      }
      const signed = b.readBigInt64BE(at);
      const value = signed < 0n ? 0 : readSafeU64(b, at);
      if (value === null) return this.fail('chunk offset beyond 2^53');
      offsets.push(value);
    }
    this.chunkOffsets = offsets;
  }

  elst(box: BoxHeader): void {
    if (!this.#has(box, 8)) return;
    const b = this.buffer;
    const version = b[box.payload]!;
    let count = b.readUInt32BE(box.payload + 4);
    let left = box.end - box.payload - 8;
    const entrySize = version === 1 ? 20 : 12;
    // FFmpeg trusts the box size when it disagrees with the count.
    if (left !== count * entrySize) count = Math.floor(left / entrySize);
    if (!count) return;
    const edits: Edit[] = [];
    let at = box.payload + 8;
    for (let i = 0; i < count && left > 0; i++) {
      if (version === 1) {
        const duration = b.readBigInt64BE(at);
        const time = b.readBigInt64BE(at + 8);
        if (duration > BigInt(Number.MAX_SAFE_INTEGER) || duration < 0n || time > BigInt(Number.MAX_SAFE_INTEGER) || time < -1n) {
          return this.fail('edit list values beyond 2^53');
        }
        edits.push({ duration: Number(duration), mediaTime: Number(time) });
        at += 20;
        left -= 20;
      } else {
        edits.push({ duration: b.readUInt32BE(at), mediaTime: b.readInt32BE(at + 4) });
        at += 12;
        left -= 12;
      }
    }
    this.edits = edits;
  }

  sbgp(box: BoxHeader): void {
    if (!this.#has(box, 12)) return;
    const b = this.buffer;
    const version = b[box.payload]!;
    if (fourcc(b, box.payload + 4) !== 'rap ') return;
    let at = box.payload + 8 + (version === 1 ? 4 : 0);
    if (at + 4 > box.end) return this.fail('sbgp too short');
    const entries = b.readUInt32BE(at);
    at += 4;
    if (!entries) return;
    if (at + entries * 8 > box.end) return this.fail('sbgp entries past the box');
    this.rapGroups = [];
    for (let i = 0; i < entries; i++) this.rapGroups.push({ count: b.readUInt32BE(at + i * 8), index: b.readUInt32BE(at + i * 8 + 4) });
  }
}

/**
 * FFmpeg keeps only one sample description per track; a later description is skipped unless it has the same
 * format as the kept one, or is one of the pairs it knows to be the same codec.
 */
function skipsSampleEntry(tag: string, format: string): boolean {
  if (tag === format) return false;
  if (tag === 'AV1x' && format === 'AVup') return false;
  return !['apcn', 'apch', 'dvpp', 'dvcp', 'jpeg'].includes(tag);
}

/** Reads the tables of the `trak` box `trak` inside `buffer`. */
export function readTrack(buffer: Buffer, trak: BoxHeader): TrackTables {
  const reader = new TrackReader(buffer);
  reader.walk(trak);
  if (reader.edits.some((e) => e.mediaTime < -1)) reader.fail('edit with a negative media time other than -1');
  return {
    trackId: reader.trackId,
    mediaType: reader.mediaType,
    timescale: reader.timescale,
    formats: reader.formats,
    pseudoStreamId: reader.formats.length ? reader.pseudoStreamId : -1,
    stts: reader.stts,
    ctts: reader.ctts,
    dtsShift: reader.dtsShift,
    syncSamples: reader.syncSamples,
    syncAbsent: reader.syncAbsent,
    partialSyncSamples: reader.partialSyncSamples,
    rapGroups: reader.rapGroups,
    constantSize: reader.constantSize,
    sampleSizes: reader.sampleSizes,
    sampleCount: reader.sampleCount,
    sampleToChunk: reader.sampleToChunk ?? [],
    chunkOffsets: reader.chunkOffsets ?? [],
    edits: reader.edits,
    unusable: reader.unusable,
  };
}

/**
 * FFmpeg's check of the mandatory tables: 'missing' when the track keeps no samples (FFmpeg indexes nothing but
 * opens the file), 'broken' when FFmpeg refuses the file, 'ok' otherwise.
 */
export function trackSanity(t: TrackTables): 'ok' | 'missing' | 'broken' {
  const chunks = t.chunkOffsets.length;
  // An stsc that points at chunks no stco lists is forgiven when the track has no samples at all.
  const stscCount = !chunks && !t.stts.length ? 0 : t.sampleToChunk.length;
  if ((chunks && (!t.stts.length || !stscCount || (!t.constantSize && !t.sampleCount))) || (!chunks && t.sampleCount)) {
    return 'missing';
  }
  const last = t.sampleToChunk[stscCount - 1];
  if (stscCount && last && last.first > chunks) return 'broken';
  return 'ok';
}

/**
 * The mutations of the fuzz pass (test/fuzz.test.ts): where a container keeps its header and where its media data,
 * and seeded damage to either. A mutation is a list of concrete edits (byte offsets and values), so that a failing
 * case can be rebuilt from its report alone with {@link applyEdits}.
 */
import { seededRandom } from './range-server.ts';

/** One edit of a file's bytes, applied in order. */
export type Edit =
  /** Keep the first `at` bytes. */
  | { readonly op: 'truncate'; readonly at: number }
  /** Overwrite bytes from `at` with `hex`. */
  | { readonly op: 'write'; readonly at: number; readonly hex: string }
  /** Flip the bits of `mask` in the byte at `at`. */
  | { readonly op: 'xor'; readonly at: number; readonly mask: number }
  /** Overwrite `length` bytes from `at` with `value`. */
  | { readonly op: 'fill'; readonly at: number; readonly length: number; readonly value: number }
  /** Remove `remove` bytes at `at`, then insert there a copy of the `length` bytes that start at `from`. */
  | { readonly op: 'splice'; readonly at: number; readonly remove: number; readonly from: number; readonly length: number };

/** A seeded mutation: what it damages, in words, and the edits that do it. */
export interface Mutation {
  readonly what: string;
  readonly edits: readonly Edit[];
}

/** A byte range `[start, end)` with a name to report it by (a box path, an element, a packet). */
interface Region {
  readonly name: string;
  readonly start: number;
  readonly end: number;
}

/** Where a file keeps its structure and where its media data. */
export interface Layout {
  /** Container structure: boxes, EBML elements, TS and PES headers, RIFF chunks. */
  readonly header: readonly Region[];
  /** Coded pictures. */
  readonly payload: readonly Region[];
  /** Fields that count entries or give a size or scale (MP4 box sizes, sample-table fields), as 4-byte words. */
  readonly counts: readonly Region[];
}

/** A PRNG with the helpers the mutations use. */
export class FuzzRandom {
  readonly #next: () => number;

  constructor(seed: number) {
    this.#next = seededRandom(seed);
  }

  /** A float in [0, 1). */
  next(): number {
    return this.#next();
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.#next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.#next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.#next() * items.length)]!;
  }

  /** An item drawn with the given weights. */
  weighted<T>(items: ReadonlyArray<readonly [T, number]>): T {
    let left = this.#next() * items.reduce((sum, [, w]) => sum + w, 0);
    for (const [item, weight] of items) {
      left -= weight;
      if (left < 0) return item;
    }
    return items[items.length - 1]![0];
  }

  bytes(length: number): Buffer {
    const out = Buffer.alloc(length);
    for (let i = 0; i < length; i++) out[i] = this.int(0, 255);
    return out;
  }
}

/** The seed of case `index` of a pass seeded with `seed`, so that one case can be drawn again on its own. */
export function caseSeed(seed: number, index: number): number {
  let h = (seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** Applies `edits` to a copy of `original`. */
export function applyEdits(original: Buffer, edits: readonly Edit[]): Buffer {
  let bytes = Buffer.from(original);
  for (const edit of edits) {
    switch (edit.op) {
      case 'truncate':
        bytes = bytes.subarray(0, edit.at);
        break;
      case 'write':
        Buffer.from(edit.hex, 'hex').copy(bytes, edit.at);
        break;
      case 'xor':
        if (edit.at < bytes.length) bytes[edit.at] = bytes[edit.at]! ^ edit.mask;
        break;
      case 'fill':
        bytes.fill(edit.value, edit.at, Math.min(edit.at + edit.length, bytes.length));
        break;
      case 'splice': {
        const copy = Buffer.from(bytes.subarray(edit.from, edit.from + edit.length));
        bytes = Buffer.concat([bytes.subarray(0, edit.at), copy, bytes.subarray(edit.at + edit.remove)]);
        break;
      }
    }
  }
  return bytes;
}

// ---------------------------------------------------------------------------------------------------------------
// Layouts

/** The layout of a fixture, by its container (the file name's extension). */
export function layoutOf(bytes: Buffer, container: string): Layout {
  switch (container) {
    case 'mp4':
    case 'mov':
      return mp4Layout(bytes);
    case 'webm':
    case 'mkv':
      return matroskaLayout(bytes);
    case 'ts':
      return tsLayout(bytes);
    case 'avi':
      return aviLayout(bytes);
    default:
      return { header: [{ name: 'start', start: 0, end: Math.min(bytes.length, 512) }], payload: [{ name: 'rest', start: 0, end: bytes.length }], counts: [] };
  }
}

const MP4_CONTAINERS = new Set(['moov', 'trak', 'mdia', 'minf', 'stbl', 'edts', 'dinf', 'udta']);
/**
 * Fields of the boxes framepipe reads itself, from the payload start (after the 8-byte header): entry counts, the
 * first run of a run-length table, the constant sample size, time scales. Version 0 layouts, as the fixtures have.
 */
const MP4_FIELDS: Record<string, ReadonlyArray<readonly [offset: number, name: string]>> = {
  mvhd: [[12, 'time scale']],
  mdhd: [[12, 'time scale']],
  stsd: [[4, 'entry count']],
  stts: [[4, 'entry count'], [8, 'first run length'], [12, 'first delta']],
  ctts: [[4, 'entry count'], [8, 'first run length'], [12, 'first offset']],
  stss: [[4, 'entry count'], [8, 'first sync sample']],
  stps: [[4, 'entry count']],
  stsc: [[4, 'entry count'], [8, 'first chunk'], [12, 'samples per chunk']],
  stsz: [[4, 'constant sample size'], [8, 'sample count']],
  stz2: [[8, 'sample count']],
  stco: [[4, 'entry count'], [8, 'first chunk offset']],
  co64: [[4, 'entry count']],
  elst: [[4, 'entry count'], [8, 'first edit duration'], [12, 'first edit media time']],
  sbgp: [[8, 'entry count']],
};

function mp4Layout(bytes: Buffer): Layout {
  const header: Region[] = [];
  const payload: Region[] = [];
  const counts: Region[] = [];
  const walk = (start: number, end: number, path: string) => {
    let at = start;
    while (at + 8 <= end) {
      const size = bytes.readUInt32BE(at);
      const type = bytes.toString('latin1', at + 4, at + 8);
      if (size < 8 || at + size > end) return;
      const name = path ? `${path}/${type}` : type;
      counts.push({ name: `${name} size`, start: at, end: at + 4 });
      if (type === 'mdat') {
        header.push({ name: 'mdat header', start: at, end: at + 8 });
        payload.push({ name: 'mdat', start: at + 8, end: at + size });
      } else {
        header.push({ name, start: at, end: at + size });
        if (MP4_CONTAINERS.has(type)) {
          // The container itself gives way to its children below, but for its own size and type.
          header.push({ name: `${name} header`, start: at, end: at + 8 });
          walk(at + 8, at + size, name);
        }
        for (const [offset, field] of MP4_FIELDS[type] ?? []) {
          if (offset + 4 <= size - 8) counts.push({ name: `${name} ${field}`, start: at + 8 + offset, end: at + 12 + offset });
        }
      }
      at += size;
    }
  };
  walk(0, bytes.length, '');
  return { header: leaves(header), payload, counts };
}

/** Keeps the innermost regions only, so that a pick lands in a named leaf as often as its size says. */
function leaves(regions: Region[]): Region[] {
  return regions.filter((r) => !regions.some((o) => o !== r && o.start >= r.start && o.end <= r.end && o.name.startsWith(`${r.name}/`)));
}

const CLUSTER_ID = Buffer.from([0x1f, 0x43, 0xb6, 0x75]);

function matroskaLayout(bytes: Buffer): Layout {
  const clusters: number[] = [];
  for (let at = bytes.indexOf(CLUSTER_ID); at >= 0; at = bytes.indexOf(CLUSTER_ID, at + 4)) clusters.push(at);
  const first = clusters[0] ?? Math.min(bytes.length, 4096);
  const header: Region[] = [{ name: 'EBML header and Segment head', start: 0, end: first }];
  const payload: Region[] = [];
  clusters.forEach((at, i) => {
    const next = clusters[i + 1] ?? bytes.length;
    // The Cluster ID, its size and its Timestamp element, then the first block's header.
    header.push({ name: `Cluster ${i} head`, start: at, end: Math.min(at + 24, next) });
    if (at + 24 < next) payload.push({ name: `Cluster ${i} blocks`, start: at + 24, end: next });
  });
  // The Cues and any tags after the last cluster are not media data; the last cluster's blocks run to the end here.
  return { header, payload, counts: [] };
}

function tsLayout(bytes: Buffer): Layout {
  const header: Region[] = [];
  const payload: Region[] = [];
  for (let at = 0; at + 188 <= bytes.length; at += 188) {
    const pid = ((bytes[at + 1]! & 0x1f) << 8) | bytes[at + 2]!;
    const unitStart = (bytes[at + 1]! & 0x40) !== 0;
    const adaptation = (bytes[at + 3]! >> 4) & 0x3;
    const packet = at / 188;
    if (pid === 0 || (pid >= 0x1000 && pid < 0x1100) || pid === 0x11) {
      header.push({ name: `TS packet ${packet} (PSI, pid ${pid})`, start: at, end: at + 188 });
      continue;
    }
    let body = at + 4;
    if (adaptation & 0x2) body += 1 + bytes[at + 4]!;
    // The TS header, any adaptation field (PCR), and for a unit start the PES header with its timestamps.
    const headerEnd = Math.min(at + 188, unitStart ? body + 19 : body);
    header.push({ name: `TS packet ${packet} header (pid ${pid})`, start: at, end: headerEnd });
    if (headerEnd < at + 188) payload.push({ name: `TS packet ${packet} payload`, start: headerEnd, end: at + 188 });
  }
  return { header, payload, counts: [] };
}

function aviLayout(bytes: Buffer): Layout {
  const movi = bytes.indexOf('movi', 0, 'latin1');
  const idx1 = bytes.lastIndexOf('idx1', undefined, 'latin1');
  const header: Region[] = [{ name: 'RIFF header (hdrl)', start: 0, end: movi > 0 ? movi + 4 : Math.min(bytes.length, 2048) }];
  if (idx1 > movi) header.push({ name: 'idx1 index', start: idx1, end: bytes.length });
  const payload: Region[] = [{ name: 'movi', start: movi > 0 ? movi + 4 : 0, end: idx1 > movi ? idx1 : bytes.length }];
  const counts: Region[] = [];
  // RIFF chunk sizes are little-endian; the mutation writes big-endian words, which garbles them just as well.
  for (let at = bytes.indexOf('LIST', 0, 'latin1'); at >= 0 && at < (movi > 0 ? movi : 2048); at = bytes.indexOf('LIST', at + 4, 'latin1')) {
    counts.push({ name: 'LIST size', start: at + 4, end: at + 8 });
  }
  return { header, payload, counts };
}

// ---------------------------------------------------------------------------------------------------------------
// Mutations

function offsetIn(random: FuzzRandom, regions: readonly Region[]): { at: number; region: Region } | undefined {
  const total = regions.reduce((sum, r) => sum + (r.end - r.start), 0);
  if (total <= 0) return undefined;
  let left = random.int(0, total - 1);
  for (const region of regions) {
    const length = region.end - region.start;
    if (left < length) return { at: region.start + left, region };
    left -= length;
  }
  return undefined;
}

type Kind = 'truncate-header' | 'truncate' | 'flip-header' | 'bytes-header' | 'count' | 'flip-payload' | 'zero' | 'duplicate' | 'remove';

const KINDS: ReadonlyArray<readonly [Kind, number]> = [
  ['truncate-header', 2],
  ['truncate', 2],
  ['flip-header', 4],
  ['bytes-header', 3],
  ['count', 2],
  ['flip-payload', 3],
  ['zero', 2],
  ['duplicate', 1.5],
  ['remove', 1.5],
];

/** Values a damaged count or size field takes: the edges that size arithmetic gets wrong, and a random word. */
function countValue(random: FuzzRandom): number {
  return random.pick([0, 1, 2, 7, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffff0, 0x10000000, 0x00ffffff, random.int(0, 0xffffffff)]);
}

/** One mutation of a file of `size` bytes laid out as `layout`, drawn from `random`; some do two or three things. */
export function drawMutation(random: FuzzRandom, size: number, layout: Layout): Mutation {
  const parts: Mutation[] = [];
  const count = random.weighted([[1, 6], [2, 3], [3, 1]] as const);
  for (let i = 0; i < count && size > 0; i++) {
    const part = drawOne(random, size, layout);
    parts.push(part);
    // Later edits stay within the file as earlier ones left it. The layout is the original's: after a splice, a
    // second mutation damages "about there", which serves as well.
    size = sizeAfter(size, part.edits);
  }
  return { what: parts.map((p) => p.what).join('; then '), edits: parts.flatMap((p) => p.edits) };
}

function sizeAfter(size: number, edits: readonly Edit[]): number {
  for (const edit of edits) {
    if (edit.op === 'truncate') size = Math.min(size, edit.at);
    else if (edit.op === 'splice') size = size - Math.min(edit.remove, Math.max(0, size - edit.at)) + edit.length;
  }
  return size;
}

function drawOne(random: FuzzRandom, size: number, layout: Layout): Mutation {
  const inFile = (regions: readonly Region[]) =>
    regions.map((r) => ({ ...r, end: Math.min(r.end, size) })).filter((r) => r.end > r.start);
  const header = inFile(layout.header);
  const payload = inFile(layout.payload);
  const counts = inFile(layout.counts).filter((r) => r.end - r.start === 4);
  let kind = random.weighted(KINDS);
  if (kind === 'count' && counts.length === 0) kind = 'bytes-header';
  if (kind === 'flip-payload' && payload.length === 0) kind = 'zero';
  switch (kind) {
    case 'truncate-header': {
      const hit = offsetIn(random, header);
      if (hit) return { what: `truncated at ${hit.at}, inside ${hit.region.name}`, edits: [{ op: 'truncate', at: hit.at }] };
      return drawOne(random, size, { ...layout, header: [] });
    }
    case 'truncate': {
      const at = random.int(0, size - 1);
      return { what: `truncated at ${at} of ${size}`, edits: [{ op: 'truncate', at }] };
    }
    case 'flip-header':
    case 'flip-payload': {
      const regions = kind === 'flip-header' ? header : payload;
      const flips = random.int(1, 8);
      const edits: Edit[] = [];
      const where = new Set<string>();
      for (let i = 0; i < flips; i++) {
        const hit = offsetIn(random, regions);
        if (!hit) break;
        // One bit, or the whole byte.
        const mask = random.chance(0.5) ? 1 << random.int(0, 7) : 0xff;
        edits.push({ op: 'xor', at: hit.at, mask });
        where.add(hit.region.name);
      }
      return { what: `${edits.length} byte(s) flipped in ${[...where].join(', ')}`, edits };
    }
    case 'bytes-header': {
      const hit = offsetIn(random, header)!;
      const length = Math.min(random.int(1, 16), size - hit.at);
      return { what: `${length} random byte(s) at ${hit.at}, in ${hit.region.name}`, edits: [{ op: 'write', at: hit.at, hex: random.bytes(length).toString('hex') }] };
    }
    case 'count': {
      // Sizes and counts are checked against each other, so damage up to three at once.
      const edits: Edit[] = [];
      const what: string[] = [];
      for (let i = random.int(1, 3); i > 0; i--) {
        const field = random.pick(counts);
        const value = countValue(random) >>> 0;
        const hex = Buffer.alloc(4);
        hex.writeUInt32BE(value);
        edits.push({ op: 'write', at: field.start, hex: hex.toString('hex') });
        what.push(`${field.name} set to ${value} at ${field.start}`);
      }
      return { what: what.join(', '), edits };
    }
    case 'zero': {
      const hit = random.chance(0.5) ? offsetIn(random, header) : undefined;
      const at = hit?.at ?? random.int(0, size - 1);
      const length = random.int(4, 4096);
      return { what: `${length} bytes zeroed at ${at}${hit ? `, from ${hit.region.name}` : ''}`, edits: [{ op: 'fill', at, length, value: 0 }] };
    }
    case 'duplicate': {
      const from = random.int(0, size - 1);
      const length = Math.min(random.int(1, 8192), size - from);
      const at = random.int(0, size);
      return { what: `${length} bytes from ${from} copied in at ${at}`, edits: [{ op: 'splice', at, remove: 0, from, length }] };
    }
    case 'remove': {
      const at = random.int(0, size - 1);
      const remove = random.int(1, 8192);
      return { what: `${Math.min(remove, size - at)} bytes removed at ${at}`, edits: [{ op: 'splice', at, remove, from: 0, length: 0 }] };
    }
  }
}

/**
 * The bytes a perfect reader of a video would fetch for a selection of frames: the container's index (what it must
 * read to know where the frames are) plus the byte span of the GOPs that decoding the selection needs. Computed from
 * Debian's ffprobe packet list and a walk of the container's top-level structure, with nothing of framepipe's, so
 * `pnpm bytes` can hold a run's traffic against it.
 */
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { runTool } from './ffmpeg-reference.ts';

/** How a container lays out its index and its packets. */
export type Layout = 'mp4' | 'matroska' | 'mpegts' | 'avi';

/** One packet of the first video stream, in the order ffprobe demuxes them (decode order). */
export interface Packet {
  /** The presentation timestamp, in the stream's time base; null when the container gives none. */
  readonly pts: number | null;
  /** Byte offset of the packet in the file, as ffprobe reports it. */
  readonly pos: number;
  /** Payload bytes. */
  readonly size: number;
  readonly keyframe: boolean;
}

/** A video's packets and the frame numbers the project's rule gives them. */
export interface PacketList {
  readonly packets: readonly Packet[];
  /** Frame number → pts: the packet pts that are set and >= 0, sorted ascending (DESIGN.md, "Frame numbers"). */
  readonly framePts: readonly number[];
}

/** The packets of the first video stream of `path`, read with ffprobe, and their frame numbers. */
export async function readPackets(path: string): Promise<PacketList> {
  const out = await runTool('ffprobe', ['-select_streams', 'v:0', '-show_entries', 'packet=pts,pos,size,flags', '-of', 'json', path]);
  const entries = (JSON.parse(out.toString()) as { packets?: Array<Record<string, string | number | undefined>> }).packets ?? [];
  const packets = entries.map((entry, i): Packet => {
    const number = (key: string) => (entry[key] === undefined || entry[key] === 'N/A' ? null : Number(entry[key]));
    const pos = number('pos');
    const size = number('size');
    if (pos === null || size === null) throw new Error(`ffprobe gives packet ${i} of ${path} no position or size`);
    return { pts: number('pts'), pos, size, keyframe: String(entry.flags).startsWith('K') };
  });
  const framePts = packets.flatMap(({ pts }) => (pts !== null && pts >= 0 ? [pts] : [])).sort((a, b) => a - b);
  // Two packets with one pts would share a number; none of the bytes videos has any, and a count built on them would mislead.
  if (framePts.some((pts, i) => pts === framePts[i - 1])) throw new Error(`${path} has packets with the same pts`);
  return { packets, framePts };
}

/** What a perfect reader needs, in bytes. */
export interface PerfectBytes {
  /** The container's index (see {@link indexBytes}). */
  readonly index: number;
  /** The union of the byte spans of the GOP parts decoded. */
  readonly gops: number;
}

/**
 * The bytes a perfect reader needs to decode `frames` (frame numbers): the index, plus, for each frame, the span from
 * the packet of the keyframe the decode starts from (the last keyframe in decode order whose pts is at or before the
 * frame's) to the end of the last packet, in decode order and within that GOP, whose pts is at or before the frame's.
 * With B-frames that takes in every packet decoded before the frame comes out of the decoder, some of which a
 * decoder could skip: a perfect reader still fetches one contiguous span per GOP. Spans of frames in the same GOP
 * overlap and are counted once.
 */
export function perfectBytes(list: PacketList, layout: Layout, index: number, fileSize: number, frames: Iterable<number>): PerfectBytes {
  const { packets, framePts } = list;
  const end = packetEnds(packets, layout, fileSize);
  const spans: Array<[number, number]> = [];
  for (const frame of frames) {
    const pts = framePts[frame];
    if (pts === undefined) throw new Error(`frame ${frame} is past the last frame (${framePts.length - 1})`);
    const key = packets.findLastIndex((p) => p.keyframe && p.pts !== null && p.pts <= pts);
    if (key < 0) throw new Error(`frame ${frame} (pts ${pts}) has no keyframe at or before it`);
    const nextKey = packets.findIndex((p, i) => i > key && p.keyframe);
    const gop = packets.slice(key, nextKey < 0 ? packets.length : nextKey);
    const needed = gop.slice(0, gop.findLastIndex((p) => p.pts !== null && p.pts <= pts) + 1);
    spans.push([Math.min(...needed.map((p) => p.pos)), Math.max(...needed.map((p, i) => end[key + i]!))]);
  }
  return { index, gops: unionLength(spans) };
}

/**
 * Where each packet's bytes end. A packet is stored in one piece (pos + size) in MP4, Matroska and AVI, give or take
 * the few bytes of its block or chunk header; MPEG-TS cuts it into 188-byte TS packets with headers of their own, so
 * there it ends where the next video packet starts (the file has no other stream).
 */
function packetEnds(packets: readonly Packet[], layout: Layout, fileSize: number): number[] {
  if (layout !== 'mpegts') return packets.map((p) => p.pos + p.size);
  const starts = packets.map((p) => p.pos).sort((a, b) => a - b);
  return packets.map((p) => starts.find((s) => s > p.pos) ?? fileSize);
}

function unionLength(spans: Array<[number, number]>): number {
  let total = 0;
  let reached = 0;
  for (const [start, end] of spans.sort((a, b) => a[0] - b[0])) {
    const from = Math.max(start, reached);
    if (end > from) total += end - from;
    reached = Math.max(reached, end);
  }
  return total;
}

/**
 * The bytes a reader must read to learn the video's tracks and where its frames are, before reading any of them:
 * - MP4 (plain or fragmented): every top-level box but the media, whole (ftyp, moov; in a fragmented file also every
 *   moof, which a reader walks for the samples' timestamps and offsets, and the mfra ffmpeg writes at the end), plus
 *   the header of each mdat, free or skip box, read to step over it;
 * - Matroska/WebM: the EBML header, the Segment's header and its SeekHead, Info, Tracks and Cues (Cues give each
 *   keyframe's cluster and time); Tags, Void and the Clusters are not counted, not even the few bytes of a cluster's
 *   header that give its blocks' base time;
 * - MPEG-TS: the TS packets before the first video packet (PAT, PMT, SDT): the format has no index;
 * - AVI: the RIFF header, the `hdrl` list (stream headers, with the space ffmpeg reserves in it for an OpenDML
 *   index), the `movi` list's header and `idx1` (every chunk's offset and keyframe flag); JUNK and INFO are not
 *   counted.
 */
export async function indexBytes(path: string, layout: Layout, list: PacketList): Promise<number> {
  if (layout === 'mpegts') return Math.min(...list.packets.map((p) => p.pos));
  const file = await open(path);
  try {
    const { size } = await file.stat();
    if (layout === 'mp4') return await mp4Index(file, size);
    if (layout === 'matroska') return await matroskaIndex(file, size);
    return await aviIndex(file, size);
  } finally {
    await file.close();
  }
}

async function readAt(file: FileHandle, offset: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await file.read(buffer, 0, length, offset);
  return buffer.subarray(0, bytesRead);
}

async function mp4Index(file: FileHandle, fileSize: number): Promise<number> {
  let total = 0;
  for (let offset = 0; offset + 8 <= fileSize; ) {
    const head = await readAt(file, offset, 16);
    const type = head.toString('latin1', 4, 8);
    let size = head.readUInt32BE(0);
    let header = 8;
    if (size === 1) {
      size = Number(head.readBigUInt64BE(8));
      header = 16;
    } else if (size === 0) {
      size = fileSize - offset;
    }
    if (size < header) throw new Error(`box ${type} at ${offset} has size ${size}`);
    total += ['mdat', 'free', 'skip'].includes(type) ? header : size;
    offset += size;
  }
  return total;
}

const EBML_HEADER = 0x1a45dfa3;
const SEGMENT = 0x18538067;
/** The Segment children a reader needs: SeekHead, Info, Tracks, Cues (and Chapters, Attachments if there are any). */
const MATROSKA_INDEX = new Set([0x114d9b74, 0x1549a966, 0x1654ae6b, 0x1c53bb6b, 0x1043a770, 0x1941a469]);

/** An EBML element's ID and size, read at `offset`; `size` is null when the element says its size is unknown. */
async function ebmlElement(file: FileHandle, offset: number): Promise<{ id: number; size: number | null; header: number }> {
  const head = await readAt(file, offset, 12);
  const width = (first: number | undefined) => {
    if (first === undefined || first === 0) throw new Error(`no EBML element at ${offset}`);
    return Math.clz32(first) - 23;
  };
  const idWidth = width(head[0]);
  const id = head.readUIntBE(0, idWidth);
  const sizeWidth = width(head[idWidth]);
  let size = head[idWidth]! & (0xff >> sizeWidth);
  let unknown = size === 0xff >> sizeWidth;
  for (let i = 1; i < sizeWidth; i++) {
    size = size * 256 + head[idWidth + i]!;
    unknown &&= head[idWidth + i] === 0xff;
  }
  return { id, size: unknown ? null : size, header: idWidth + sizeWidth };
}

async function matroskaIndex(file: FileHandle, fileSize: number): Promise<number> {
  let total = 0;
  for (let offset = 0; offset < fileSize; ) {
    const element = await ebmlElement(file, offset);
    const end = element.size === null ? fileSize : offset + element.header + element.size;
    if (element.id === EBML_HEADER) total += end - offset;
    if (element.id === SEGMENT) {
      total += element.header;
      for (let child = offset + element.header; child < end; ) {
        const inner = await ebmlElement(file, child);
        if (inner.size === null) throw new Error(`an element of unknown size at ${child}: the walk cannot step over it`);
        const length = inner.header + inner.size;
        if (MATROSKA_INDEX.has(inner.id)) total += length;
        child += length;
      }
    }
    offset = end;
  }
  return total;
}

async function aviIndex(file: FileHandle, fileSize: number): Promise<number> {
  let total = 0;
  for (let riff = 0; riff + 12 <= fileSize; ) {
    const head = await readAt(file, riff, 12);
    if (head.toString('latin1', 0, 4) !== 'RIFF') throw new Error(`no RIFF chunk at ${riff}`);
    const riffEnd = riff + 8 + head.readUInt32LE(4);
    total += 12;
    for (let offset = riff + 12; offset + 8 <= riffEnd; ) {
      const chunk = await readAt(file, offset, 12);
      const id = chunk.toString('latin1', 0, 4);
      const size = chunk.readUInt32LE(4);
      const list = id === 'LIST' ? chunk.toString('latin1', 8, 12) : null;
      if (list === 'movi') total += 12;
      else if (list === 'hdrl' || id === 'idx1') total += 8 + size;
      offset += 8 + size + (size % 2);
    }
    riff = riffEnd + ((riffEnd - riff) % 2);
  }
  return total;
}

/**
 * ISO BMFF / QuickTime box plumbing: the top-level walk over a byte source (headers only) and the children of a
 * box already in memory. The rules for odd sizes follow FFmpeg's mov demuxer, so that both see the same boxes:
 * a size of 0 runs to the end of the parent, a size of 1 is followed by a 64-bit size, and a size below the header
 * ends the walk.
 */
import { ErrorCode, FramepipeError } from '@framepipe/common';
import type { ByteSource } from '@framepipe/http-source';

/** A box header: where the box starts, how long its header is, and where its payload ends. */
export interface BoxHeader {
  readonly type: string;
  /** Offset of the first header byte. */
  readonly start: number;
  /** Offset of the first payload byte. */
  readonly payload: number;
  /** Offset just past the box (the payload end), clipped to the parent. */
  readonly end: number;
}

/** Top-level boxes that only ever occur in MP4/MOV files; the first box of a file must be a plausible box. */
const TOP_LEVEL = new Set(['ftyp', 'moov', 'mdat', 'free', 'skip', 'wide', 'pnot', 'udta', 'uuid', 'junk', 'pict', 'moof', 'mfra', 'sidx', 'styp', 'meta', 'prfl', 'PICT', 'pdin']);

/** A four-character code as text; bytes outside printable ASCII keep their code point (e.g. `©` = 0xA9). */
export function fourcc(buffer: Buffer, offset: number): string {
  return String.fromCharCode(buffer[offset]!, buffer[offset + 1]!, buffer[offset + 2]!, buffer[offset + 3]!);
}

function isPrintableType(type: string): boolean {
  for (let i = 0; i < 4; i++) {
    const c = type.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

/** Reads a 64-bit unsigned big-endian integer as a number; null if it does not fit in 2^53. */
export function readSafeU64(buffer: Buffer, offset: number): number | null {
  const value = buffer.readBigUInt64BE(offset);
  return value > BigInt(Number.MAX_SAFE_INTEGER) ? null : Number(value);
}

/**
 * The size of the box whose first 8 bytes are `head`, at `offset` of `source` (`size` bytes): reads the 64-bit size
 * after a size of 1, runs a size of 0 to the end. Null when the size cannot be read or is smaller than the header,
 * which ends a walk.
 */
export async function boxSizeAt(
  source: ByteSource,
  offset: number,
  head: Buffer,
  size: number,
  signal?: AbortSignal,
): Promise<{ boxSize: number; headerSize: number } | null> {
  let boxSize = head.readUInt32BE(0);
  let headerSize = 8;
  if (boxSize === 1) {
    const large = await source.read(offset + 8, 8, signal);
    if (large.length < 8) return null;
    const value = readSafeU64(large, 0);
    if (value === null) return null;
    boxSize = value;
    headerSize = 16;
  } else if (boxSize === 0) {
    boxSize = size - offset;
  }
  return boxSize < headerSize ? null : { boxSize, headerSize };
}

/** What the top-level walk found. */
export interface TopLevel {
  /** The first `moov` box (FFmpeg skips any later one). */
  readonly moov: BoxHeader | undefined;
  /** The media data boxes, for callers that check nothing is read inside them. */
  readonly mdat: readonly BoxHeader[];
  /** True if a movie fragment (`moof`) follows: samples live outside `moov` too. */
  readonly fragmented: boolean;
  /** The box that runs past the end of the source, if the walk met one (it stops there). */
  readonly cut: BoxHeader | undefined;
}

/**
 * Walks the top-level boxes of `source` reading only their headers (8 bytes, 16 for a 64-bit size), never their
 * payload. Returns null if the first bytes are not an MP4/MOV box.
 */
export async function walkTopLevel(source: ByteSource, signal?: AbortSignal): Promise<TopLevel | null> {
  const size = source.size;
  let offset = 0;
  let moov: BoxHeader | undefined;
  const mdat: BoxHeader[] = [];
  let fragmented = false;
  let cut: BoxHeader | undefined;
  let first = true;
  while (offset + 8 <= size) {
    const head = await source.read(offset, 8, signal);
    if (head.length < 8) break;
    const type = fourcc(head, 4);
    if (first && !TOP_LEVEL.has(type)) return null;
    first = false;
    if (!isPrintableType(type)) break;
    const sized = await boxSizeAt(source, offset, head, size, signal);
    if (!sized) break;
    const { boxSize, headerSize } = sized;
    const declaredEnd = offset + boxSize;
    const box: BoxHeader = { type, start: offset, payload: offset + headerSize, end: Math.min(declaredEnd, size) };
    if (declaredEnd > size) cut = box;
    if (type === 'moov' && !moov) moov = box;
    else if (type === 'mdat') mdat.push(box);
    else if (type === 'moof') fragmented = true;
    if (cut || fragmented) break;
    offset = declaredEnd;
  }
  if (!moov && first) return null;
  return { moov, mdat, fragmented, cut };
}

/**
 * The children of the box whose payload is `buffer[start, end)`, as FFmpeg walks them: a child's size is clipped to
 * what its parent has left; a size of 0 runs to the parent's end; a size too small for its header stops the walk.
 */
export function* childBoxes(buffer: Buffer, start: number, end: number): Generator<BoxHeader> {
  let offset = start;
  while (offset + 8 <= end) {
    let boxSize = buffer.readUInt32BE(offset);
    const type = fourcc(buffer, offset + 4);
    let headerSize = 8;
    if (boxSize === 1 && offset + 16 <= end) {
      const value = readSafeU64(buffer, offset + 8);
      if (value === null) return;
      boxSize = value;
      headerSize = 16;
    } else if (boxSize === 0) {
      boxSize = end - offset;
    }
    if (boxSize < headerSize) return;
    const boxEnd = Math.min(offset + boxSize, end);
    yield { type, start: offset, payload: offset + headerSize, end: boxEnd };
    offset = boxEnd;
  }
}

/**
 * The one error for a file that ends before its container does: `what` says how that shows (e.g. `its index ('moov'
 * box) ends past the end of the file`), and the message what to do about it.
 */
export function truncatedIndex(source: ByteSource, what: string): FramepipeError {
  return new FramepipeError(
    ErrorCode.TRUNCATED,
    `${source.description} is truncated: ${what} (the file has ${source.size} bytes). It looks like an incomplete download or copy: get the whole file again`,
    { source: source.description },
  );
}

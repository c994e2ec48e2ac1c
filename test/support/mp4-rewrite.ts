/**
 * Test helper: rewrites the `moov` box of an MP4 whose `moov` is the last top-level box (FFmpeg's default), so that
 * boxes can be replaced or resized without moving the media data the chunk offsets point at.
 */
import { readFile, writeFile } from 'node:fs/promises';

export interface Box {
  type: string;
  /** Leaf payload (everything after the 8-byte header). */
  payload?: Buffer;
  children?: Box[];
}

const CONTAINERS = new Set(['moov', 'trak', 'mdia', 'minf', 'stbl', 'edts']);

function parse(buffer: Buffer, start: number, end: number): Box[] {
  const boxes: Box[] = [];
  let at = start;
  while (at + 8 <= end) {
    const size = buffer.readUInt32BE(at);
    const type = buffer.toString('latin1', at + 4, at + 8);
    if (size < 8 || at + size > end) throw new Error(`mp4-rewrite: unexpected box ${type} of size ${size}`);
    boxes.push(CONTAINERS.has(type)
      ? { type, children: parse(buffer, at + 8, at + size) }
      : { type, payload: Buffer.from(buffer.subarray(at + 8, at + size)) });
    at += size;
  }
  return boxes;
}

function serialize(box: Box): Buffer {
  const body = box.children ? Buffer.concat(box.children.map(serialize)) : (box.payload ?? Buffer.alloc(0));
  const head = Buffer.alloc(8);
  head.writeUInt32BE(body.length + 8, 0);
  head.write(box.type, 4, 'latin1');
  return Buffer.concat([head, body]);
}

/** The first descendant at `path` (types joined by '/'), or undefined. */
export function find(box: Box, path: string): Box | undefined {
  let current: Box | undefined = box;
  for (const type of path.split('/')) {
    current = current?.children?.find((child) => child.type === type);
    if (!current) return undefined;
  }
  return current;
}

/** The `trak` boxes of `moov`, in order. */
export function tracks(moov: Box): Box[] {
  return (moov.children ?? []).filter((box) => box.type === 'trak');
}

/** The handler type of a `trak` ('vide', 'soun', ...). */
export function handler(trak: Box): string {
  return find(trak, 'mdia/hdlr')?.payload?.toString('latin1', 8, 12) ?? '';
}

/** The first `trak` whose handler is 'vide'. */
export function videoTrack(moov: Box): Box {
  const trak = tracks(moov).find((t) => handler(t) === 'vide');
  if (!trak) throw new Error('mp4-rewrite: no video track');
  return trak;
}

/** A full-box payload: version, 24-bit flags, then 32-bit big-endian words (negative numbers as two's complement). */
export function fullBox(version: number, words: number[]): Buffer {
  const buffer = Buffer.alloc(4 + words.length * 4);
  buffer[0] = version;
  words.forEach((word, i) => buffer.writeUInt32BE(word >>> 0, 4 + i * 4));
  return buffer;
}

/** The 32-bit words after the version and flags of a full box. */
export function words(box: Box): number[] {
  const payload = box.payload!;
  const out: number[] = [];
  for (let at = 4; at + 4 <= payload.length; at += 4) out.push(payload.readUInt32BE(at));
  return out;
}

/** Removes the child `type` from `parent`. */
export function remove(parent: Box, type: string): void {
  parent.children = (parent.children ?? []).filter((child) => child.type !== type);
}

/** Sets (or adds) the edit list of `trak`: `edits` as [duration in movie time scale, media time]. */
export function setEdits(trak: Box, edits: Array<[number, number]>): void {
  remove(trak, 'edts');
  const elst: Box = { type: 'elst', payload: fullBox(0, [edits.length, ...edits.flatMap(([d, t]) => [d, t, 0x10000])]) };
  // edts goes right after tkhd, as muxers write it.
  const children = trak.children!;
  const at = children.findIndex((child) => child.type === 'tkhd') + 1;
  children.splice(at, 0, { type: 'edts', children: [elst] });
}

/** Copies `input` to `output` with its trailing `moov` passed through `edit`. */
export async function rewriteMoov(input: string, output: string, edit: (moov: Box) => void): Promise<void> {
  const file = await readFile(input);
  let at = 0;
  let moovStart = -1;
  while (at + 8 <= file.length) {
    const size = file.readUInt32BE(at);
    if (file.toString('latin1', at + 4, at + 8) === 'moov') moovStart = at;
    if (size < 8) throw new Error('mp4-rewrite: unsupported top-level box size');
    at += size;
  }
  if (moovStart < 0 || moovStart + file.readUInt32BE(moovStart) !== file.length) {
    throw new Error(`mp4-rewrite: ${input} does not end with its moov box`);
  }
  const moov: Box = { type: 'moov', children: parse(file, moovStart + 8, file.length) };
  edit(moov);
  await writeFile(output, Buffer.concat([file.subarray(0, moovStart), serialize(moov)]));
}

/** The sync samples (1-based sample numbers, as `stss` lists them) of `trak`; undefined when it has no `stss`. */
export function syncSamples(trak: Box): number[] | undefined {
  const stss = find(trak, 'mdia/minf/stbl/stss');
  return stss && words(stss).slice(1);
}

/**
 * Copies the MP4 `input` to `output` with the sync-sample table (`stss`) of its video track replaced by what `edit`
 * returns, given the table as stored and the number of samples: a keyframe table that lies, for the demuxer's seeks.
 */
export async function rewriteSyncSamples(
  input: string,
  output: string,
  edit: (sync: number[], samples: number) => number[],
): Promise<void> {
  await rewriteMoov(input, output, (moov) => {
    const trak = videoTrack(moov);
    const stbl = find(trak, 'mdia/minf/stbl')!;
    const stss = find(trak, 'mdia/minf/stbl/stss');
    if (!stss) throw new Error(`mp4-rewrite: ${input} has no stss box`);
    const samples = words(find(stbl, 'stsz')!)[1]!;
    const sync = edit(syncSamples(trak)!, samples);
    stss.payload = fullBox(0, [sync.length, ...sync]);
  });
}

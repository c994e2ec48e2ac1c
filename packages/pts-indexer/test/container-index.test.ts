import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AV_PKT_FLAG_DISCARD } from 'node-av/constants';
import { ErrorCode } from '@framepipe/common';
import { Demuxer } from '@framepipe/demuxer';
import type { DemuxerInfo } from '@framepipe/demuxer';
import type { ByteSource } from '@framepipe/http-source';
import { Mp4SampleTable, PtsIndex, SAMPLE_DISCARD, SAMPLE_KEYFRAME, readMp4SampleTable } from '../src/index.ts';
import {
  H264_1080P,
  H264_BFRAMES_NO_CTTS,
  H264_MP4_FASTSTART,
  H264_MP4_MOOV_END,
  H264_TWO_VIDEOS_MP4,
  H264_TS,
  SAMPLE_MP4,
  VP9_WEBM,
  makeFixture,
  type FixtureSpec,
} from '../../../test/support/fixtures.ts';
import { rejectsWith, withFile, withRead } from '../../../test/support/sources.ts';
import { find, fullBox, remove, rewriteMoov, setEdits, tracks, videoTrack, words, type Box } from '../../../test/support/mp4-rewrite.ts';

const QVGA = { width: 320, height: 240, fps: 25 } as const;

/** Fixtures made with node-av, by name. */
const SPECS: Record<string, FixtureSpec> = {
  H264_MP4_MOOV_END,
  H264_MP4_FASTSTART,
  H264_BFRAMES_NO_CTTS,
  SAMPLE_MP4,
  H264_1080P,
  'h264 150 frames, moov at the end': { ...H264_MP4_MOOV_END, frames: 150 },
  'h264 without B-frames': { codec: 'h264', container: 'mp4', frames: 60, ...QVGA, gop: 12 },
  'h264 long GOP (100)': { codec: 'h264', container: 'mp4', frames: 150, ...QVGA, bFrames: 2, gop: 100 },
  'h264 in mov': { codec: 'h264', container: 'mov', frames: 60, ...QVGA, bFrames: 3, gop: 12 },
  'h264 in mov, faststart': { codec: 'h264', container: 'mov', frames: 60, ...QVGA, bFrames: 1, gop: 10, faststart: true },
  'hevc with B-frames': { codec: 'hevc', container: 'mp4', frames: 60, ...QVGA, bFrames: 3, gop: 12 },
  'hevc without B-frames': { codec: 'hevc', container: 'mp4', frames: 40, ...QVGA, gop: 8 },
  'hevc in mov': { codec: 'hevc', container: 'mov', frames: 40, ...QVGA, bFrames: 2, gop: 10 },
  'av1 in mp4': { codec: 'av1', container: 'mp4', frames: 40, ...QVGA, gop: 10 },
  'mjpeg in mov (no stss: every sample a keyframe)': { codec: 'mjpeg', container: 'mov', frames: 20, ...QVGA },
  'fragmented h264, a fragment per GOP, B-frames': { codec: 'h264', container: 'mp4', frames: 60, ...QVGA, bFrames: 2, gop: 12, fragmented: 'keyframe' },
  'fragmented h264, default_base_moof, no B-frames': { codec: 'h264', container: 'mp4', frames: 60, ...QVGA, gop: 12, fragmented: 'default-base-moof' },
  'fragmented h264, default_base_moof, B-frames': { codec: 'h264', container: 'mp4', frames: 60, ...QVGA, bFrames: 3, gop: 10, fragmented: 'default-base-moof' },
  'fragmented h264, fragments of 30 frames (several GOPs)': { codec: 'h264', container: 'mp4', frames: 90, ...QVGA, bFrames: 2, gop: 12, fragmented: 'keyframe', fragmentFrames: 30 },
  'fragmented hevc, B-frames': { codec: 'hevc', container: 'mp4', frames: 40, ...QVGA, bFrames: 2, gop: 10, fragmented: 'keyframe' },
  'fragmented h264 in mov': { codec: 'h264', container: 'mov', frames: 40, ...QVGA, bFrames: 1, gop: 10, fragmented: 'keyframe' },
};

interface Row {
  pts: bigint;
  dts: bigint;
  keyframe: boolean;
  discard: boolean;
  offset: number;
  size: number;
}

/** Every packet the demuxer emits, as a row, and the stream info. */
async function demux(file: string, stream = 0): Promise<{ info: DemuxerInfo; rows: Row[] }> {
  return withFile(file, async (source) => {
    const demuxer = new Demuxer(source, { stream });
    const info = await demuxer.open();
    const rows: Row[] = [];
    for await (const p of demuxer) {
      rows.push({
        pts: p.pts,
        dts: p.dts,
        keyframe: p.isKeyframe,
        discard: p.hasFlags(AV_PKT_FLAG_DISCARD),
        offset: Number(p.pos),
        size: p.size,
      });
      p.free();
    }
    return { info, rows };
  });
}

function tableRows(table: Mp4SampleTable): Row[] {
  const rows: Row[] = [];
  for (let i = 0; i < table.count; i++) {
    const s = table.sample(i)!;
    rows.push({ pts: s.pts, dts: s.dts, keyframe: s.keyframe, discard: s.discard, offset: s.offset, size: s.size });
  }
  return rows;
}

/** The container map and the scan map of `file`, and the demuxer's packets. */
async function bothMaps(file: string, stream = 0): Promise<{ container: PtsIndex | null; scanned: PtsIndex; info: DemuxerInfo; rows: Row[] }> {
  const { info, rows } = await demux(file, stream);
  const container = await withFile(file, (source) => PtsIndex.fromContainer(source, info));
  const scanned = await withFile(file, (source) => PtsIndex.scan(new Demuxer(source, { stream })));
  return { container, scanned, info, rows };
}

/** Asserts the container and scan strategies give the same map, and the table the same packets as the demuxer. */
async function assertSameAsDemuxer(file: string, stream = 0): Promise<PtsIndex> {
  const { container, scanned, info, rows } = await bothMaps(file, stream);
  assert.ok(container, `${path.basename(file)}: the container strategy applies`);
  assert.equal(container.strategy, 'container');
  assert.equal(container.complete, true);
  assert.equal(scanned.complete, true);
  assert.equal(container.hasBFrames, info.hasBFrames);
  // Packet by packet: pts, dts, keyframe and discard flags, byte offset and size.
  const table = container.sampleTable!;
  assert.equal(table.streamIndex, info.streamIndex);
  assert.deepEqual({ num: 1, den: table.timescale }, info.timeBase);
  const mine = tableRows(table);
  assert.equal(mine.length, rows.length, 'as many samples as packets');
  for (let i = 0; i < rows.length; i++) assert.deepEqual(mine[i], rows[i], `packet ${i} of ${path.basename(file)}`);
  // The map: every frame number, every keyframe to seek to, the decode path.
  assert.equal(container.size, scanned.size);
  for (let i = 0; i <= scanned.size; i++) {
    const pts = scanned.ptsAt(i);
    assert.equal(container.ptsAt(i), pts, `ptsAt(${i})`);
    if (pts !== undefined) assert.equal(container.indexOf(pts), scanned.indexOf(pts), `indexOf(${pts})`);
    assert.deepEqual(container.keyframeFor(i), scanned.keyframeFor(i), `keyframeFor(${i})`);
  }
  assert.equal(container.decodeFromStart, scanned.decodeFromStart);
  return container;
}

const run = (command: string, args: string[]) =>
  new Promise<string>((resolve, reject) =>
    execFile(command, args, (error, out, err) => (error ? reject(new Error(`${command} ${args.join(' ')}: ${err}`)) : resolve(out))));

// ---------------------------------------------------------------- fixtures made with node-av

for (const [name, spec] of Object.entries(SPECS)) {
  test(`${name}: container and scan give the same map; the table lists the demuxer's packets`, async () => {
    const index = await assertSameAsDemuxer(await makeFixture(spec));
    assert.equal(index.size, spec.frames);
  });
}

test('the second of two video tracks: its own table, the same map as a scan of that stream', async () => {
  const file = await makeFixture(H264_TWO_VIDEOS_MP4);
  const second = await assertSameAsDemuxer(file, 1);
  assert.equal(second.sampleTable!.streamIndex, 1);
  assert.equal(second.size, 60);
  assert.notDeepEqual(tableRows(second.sampleTable!), tableRows((await assertSameAsDemuxer(file)).sampleTable!), 'not the first track\'s');
});

// ---------------------------------------------------------------- files cut and remuxed by ffmpeg, and hand-made boxes

describe('edit lists, composition offsets and odd tables', () => {
  let dir: string;
  const files = new Map<string, string>();
  const stbl = (moov: Box) => find(videoTrack(moov), 'mdia/minf/stbl')!;

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'framepipe-container-'));
    const long = await makeFixture({ ...H264_MP4_MOOV_END, frames: 150 });
    const hevc = await makeFixture(SPECS['hevc with B-frames']!);
    const ffmpeg = async (name: string, args: string[]) => {
      const file = path.join(dir, name);
      await run('ffmpeg', ['-v', 'error', '-y', ...args, file]);
      files.set(name, file);
    };
    // A stream copy cut starts at the keyframe before the cut; its edit list hides the frames up to the cut, which
    // come out with negative pts (and the discard flag).
    for (const ss of ['0.1', '0.3', '0.55', '0.7', '1.3', '2.1']) await ffmpeg(`cut-${ss}.mp4`, ['-ss', ss, '-i', long, '-c', 'copy']);
    await ffmpeg('hevc-cut-0.9.mp4', ['-ss', '0.9', '-i', hevc, '-c', 'copy']);
    await ffmpeg('cut-with-duration.mp4', ['-ss', '0.5', '-t', '1.2', '-i', long, '-c', 'copy']);
    await ffmpeg('cut-faststart.mp4', ['-ss', '0.7', '-i', long, '-c', 'copy', '-movflags', 'faststart']);
    await ffmpeg('cut.mov', ['-ss', '0.7', '-i', long, '-c', 'copy']);
    await ffmpeg('cut-90k.mp4', ['-ss', '0.45', '-i', long, '-c', 'copy', '-video_track_timescale', '90000']);
    await ffmpeg('timescale-1000.mp4', ['-i', long, '-c', 'copy', '-video_track_timescale', '1000']);
    await ffmpeg('empty-edit.mp4', ['-itsoffset', '0.4', '-i', long, '-c', 'copy']);
    await ffmpeg('negative-cts.mp4', ['-ss', '0.5', '-i', long, '-c', 'copy', '-movflags', 'negative_cts_offsets']);
    await ffmpeg('no-edit-list.mp4', ['-ss', '0.5', '-i', long, '-c', 'copy', '-use_editlist', '0']);
    await ffmpeg('audio-first.mp4', ['-f', 'lavfi', '-i', 'sine=d=6', '-ss', '0.5', '-i', long, '-map', '0:a', '-map', '1:v',
      '-c:v', 'copy', '-c:a', 'aac', '-shortest']);
    await ffmpeg('fragmented.mp4', ['-i', long, '-c', 'copy', '-movflags', 'frag_keyframe+empty_moov']);
    // Fragmented files with an edit list, negative composition offsets, audio in the same fragments, a first
    // fragment inside moov, and fragment indexes (sidx, mfra).
    const frag = ['-movflags', 'frag_keyframe+empty_moov'];
    await ffmpeg('fragmented-cut-0.7.mp4', ['-ss', '0.7', '-i', long, '-c', 'copy', ...frag]);
    await ffmpeg('fragmented-cut-0.7-edit-list.mp4', ['-ss', '0.7', '-i', long, '-c', 'copy', '-use_editlist', '1', ...frag]);
    await ffmpeg('fragmented-negative-cts.mp4', ['-ss', '0.5', '-i', long, '-c', 'copy', '-movflags', 'frag_keyframe+empty_moov+negative_cts_offsets']);
    await ffmpeg('fragmented-audio-first.mp4', ['-f', 'lavfi', '-i', 'sine=d=6', '-i', long, '-map', '0:a', '-map', '1:v',
      '-c:v', 'copy', '-c:a', 'aac', '-shortest', ...frag]);
    await ffmpeg('fragmented-first-in-moov.mp4', ['-i', long, '-c', 'copy', '-movflags', 'frag_keyframe']);
    await ffmpeg('fragmented-sidx.mp4', ['-i', long, '-c', 'copy', '-movflags', 'frag_keyframe+empty_moov+global_sidx']);
    await ffmpeg('fragmented-frag-duration.mp4', ['-i', long, '-c', 'copy', '-movflags', 'empty_moov+default_base_moof', '-frag_duration', '1500000']);

    const craft = async (name: string, input: string, edit: (moov: Box) => void) => {
      const file = path.join(dir, name);
      await rewriteMoov(input, file, edit);
      files.set(name, file);
    };
    // Edit lists in the movie time scale (1000) over media times in the track's (12800); 512 ticks per frame.
    await craft('two-edits.mp4', long, (m) => setEdits(videoTrack(m), [[400, 0], [800, 15360]]));
    await craft('overlapping-edits.mp4', long, (m) => setEdits(videoTrack(m), [[1000, 1024], [500, 3000]]));
    await craft('zero-length-edit.mp4', long, (m) => setEdits(videoTrack(m), [[0, 1024]]));
    await craft('empty-then-two-edits.mp4', long, (m) => setEdits(videoTrack(m), [[300, -1], [1000, 2048], [700, 9000]]));
    await craft('empty-edit-in-the-middle.mp4', long, (m) => setEdits(videoTrack(m), [[1000, 1024], [300, -1], [700, 9000]]));
    await craft('edit-past-the-end.mp4', long, (m) => setEdits(videoTrack(m), [[9000, 50000]]));
    await craft('hevc-two-edits.mp4', hevc, (m) => setEdits(videoTrack(m), [[700, 3000], [900, 15000]]));
    await craft('ctts-version-0-negative.mp4', files.get('negative-cts.mp4')!, (m) => {
      find(stbl(m), 'ctts')!.payload![0] = 0;
    });
    await craft('co64.mp4', long, (m) => {
      const box = find(stbl(m), 'stco')!;
      const [count = 0, ...offsets] = words(box);
      const payload = Buffer.alloc(8 + count * 8);
      payload.writeUInt32BE(count, 4);
      offsets.forEach((offset, i) => payload.writeBigUInt64BE(BigInt(offset), 8 + i * 8));
      Object.assign(box, { type: 'co64', payload });
    });
    await craft('stz2.mp4', long, (m) => {
      const box = find(stbl(m), 'stsz')!;
      const [, count = 0, ...sizes] = words(box);
      const payload = Buffer.alloc(12 + count * 2);
      payload[7] = 16;
      payload.writeUInt32BE(count, 8);
      sizes.forEach((size, i) => payload.writeUInt16BE(size, 12 + i * 2));
      Object.assign(box, { type: 'stz2', payload });
    });
    await craft('hevc-no-stss.mp4', hevc, (m) => remove(stbl(m), 'stss'));
    await craft('hevc-stss-0-based.mp4', hevc, (m) => {
      const box = find(stbl(m), 'stss')!;
      const [count = 0, ...samples] = words(box);
      box.payload = fullBox(0, [count, ...samples.map((s) => s - 1)]);
    });
    // An stts delta that is really a negative correction (-512), which FFmpeg clips to 1 and makes up for.
    await craft('stts-negative-delta.mp4', long, (m) => {
      find(stbl(m), 'stts')!.payload = fullBox(0, [3, 40, 512, 1, 0xfffffe00, 109, 512]);
    });
    await craft('stts-variable-frame-rate.mp4', long, (m) => {
      find(stbl(m), 'stts')!.payload = fullBox(0, [3, 50, 512, 50, 1024, 50, 256]);
    });
    await craft('stts-shorter-than-stsz.mp4', long, (m) => {
      find(stbl(m), 'stts')!.payload = fullBox(0, [1, 100, 512]);
    });
    // One chunk per sample, the middle third described by a sample entry the file does not have: FFmpeg drops them.
    await craft('stsc-other-sample-entry.mp4', long, (m) => {
      const s = stbl(m);
      const [, , ...sizes] = words(find(s, 'stsz')!);
      let at = words(find(s, 'stco')!)[1]!;
      const offsets = sizes.map((size) => (at += size) - size);
      find(s, 'stco')!.payload = fullBox(0, [offsets.length, ...offsets]);
      find(s, 'stsc')!.payload = fullBox(0, [3, 1, 1, 1, 50, 1, 2, 100, 1, 1]);
    });
    // A first track without samples makes FFmpeg apply later edit lists by a plain shift (no index rewrite).
    await craft('empty-first-track.mp4', files.get('audio-first.mp4')!, (m) => {
      const s = find(tracks(m)[0]!, 'mdia/minf/stbl')!;
      for (const type of ['stts', 'stsc', 'stco', 'stsz']) find(s, type)!.payload!.writeUInt32BE(0, type === 'stsz' ? 8 : 4);
    });
    await craft('h264-no-stss.mp4', long, (m) => remove(stbl(m), 'stss'));
    await craft('hevc-empty-stss.mp4', hevc, (m) => {
      find(stbl(m), 'stss')!.payload = fullBox(0, [0]);
    });
  });

  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  const same = [
    'cut-0.1.mp4', 'cut-0.3.mp4', 'cut-0.55.mp4', 'cut-0.7.mp4', 'cut-1.3.mp4', 'cut-2.1.mp4', 'hevc-cut-0.9.mp4',
    'cut-with-duration.mp4', 'cut-faststart.mp4', 'cut.mov', 'cut-90k.mp4', 'timescale-1000.mp4', 'empty-edit.mp4',
    'negative-cts.mp4', 'no-edit-list.mp4', 'audio-first.mp4', 'two-edits.mp4', 'overlapping-edits.mp4',
    'zero-length-edit.mp4', 'empty-then-two-edits.mp4', 'empty-edit-in-the-middle.mp4', 'edit-past-the-end.mp4',
    'hevc-two-edits.mp4', 'ctts-version-0-negative.mp4', 'co64.mp4', 'stz2.mp4', 'hevc-no-stss.mp4',
    'hevc-stss-0-based.mp4', 'stts-negative-delta.mp4', 'stts-variable-frame-rate.mp4', 'stts-shorter-than-stsz.mp4',
    'stsc-other-sample-entry.mp4', 'empty-first-track.mp4', 'fragmented.mp4', 'fragmented-cut-0.7.mp4',
    'fragmented-cut-0.7-edit-list.mp4', 'fragmented-negative-cts.mp4', 'fragmented-audio-first.mp4',
    'fragmented-frag-duration.mp4',
  ];
  for (const name of same) {
    test(`${name}: container and scan give the same map; the table lists the demuxer's packets`, async () => {
      await assertSameAsDemuxer(files.get(name)!);
    });
  }

  test('a stream copy cut: the hidden leading frames have negative pts, the discard flag and no number', async () => {
    const index = await assertSameAsDemuxer(files.get('cut-1.3.mp4')!);
    const table = index.sampleTable!;
    const hidden = tableRows(table).filter((row) => row.pts < 0n);
    assert.ok(hidden.length >= 5, `${hidden.length} hidden frames`);
    for (const row of hidden) {
      assert.equal(row.discard, true);
      assert.equal(index.indexOf(row.pts), undefined);
    }
    assert.equal(index.size, table.count - hidden.length);
    assert.equal(index.ptsAt(0), 0n);
    // Decoding frame 0 starts at the keyframe before the cut, which is itself hidden.
    const key = index.keyframeFor(0)!;
    assert.ok(key.pts < 0n, `keyframe pts ${key.pts}`);
  });

  test('overlapping edits repeat samples: the map ranks the repeated pts like the scan does', async () => {
    const index = await assertSameAsDemuxer(files.get('overlapping-edits.mp4')!);
    const table = index.sampleTable!;
    const offsets = new Set<number>();
    let repeated = 0;
    for (let i = 0; i < table.count; i++) {
      if (offsets.has(table.offsets[i]!)) repeated++;
      offsets.add(table.offsets[i]!);
    }
    assert.ok(repeated > 0, 'some samples are played twice');
  });

  test('null, not a guess: a fragmented file with samples in moov too or a sidx, and keyframes FFmpeg finds by parsing packets', async () => {
    for (const name of ['fragmented-first-in-moov.mp4', 'fragmented-sidx.mp4', 'h264-no-stss.mp4', 'hevc-empty-stss.mp4']) {
      const { info } = await demux(files.get(name)!);
      const index = await withFile(files.get(name)!, (source) => PtsIndex.fromContainer(source, info));
      assert.equal(index, null, name);
    }
  });
});

// ---------------------------------------------------------------- what the reader reads

/** A source that records every read. */
function recording(inner: ByteSource): { source: ByteSource; reads: Array<{ offset: number; length: number }> } {
  const reads: Array<{ offset: number; length: number }> = [];
  const source = withRead(inner, inner.description, async (offset, length, signal) => {
    const data = await inner.read(offset, length, signal);
    reads.push({ offset, length: data.length });
    return data;
  });
  return { source, reads };
}

/** The payload ranges of the top-level mdat boxes, found independently of the reader. */
async function mdatPayloads(file: string): Promise<Array<[number, number]>> {
  const data = await fs.readFile(file);
  const ranges: Array<[number, number]> = [];
  for (let at = 0; at + 8 <= data.length;) {
    let size = data.readUInt32BE(at);
    let header = 8;
    if (size === 1) {
      size = Number(data.readBigUInt64BE(at + 8));
      header = 16;
    } else if (size === 0) size = data.length - at;
    if (data.toString('latin1', at + 4, at + 8) === 'mdat') ranges.push([at + header, at + size]);
    at += size;
  }
  return ranges;
}

for (const [name, spec] of [['moov at the end', H264_1080P], ['faststart', { ...H264_1080P, faststart: true }]] as const) {
  test(`the reader reads box headers and moov only, never media data (1080p, ${name})`, async () => {
    const file = await makeFixture(spec);
    const { size } = await fs.stat(file);
    const mdat = await mdatPayloads(file);
    assert.ok(mdat.length > 0);
    await withFile(file, async (inner) => {
      const { source, reads } = recording(inner);
      const table = await readMp4SampleTable(source);
      assert.ok(table);
      const total = reads.reduce((sum, r) => sum + r.length, 0);
      assert.equal(table.indexBytes, total);
      assert.ok(total < size * 0.05, `read ${total} of ${size} bytes`);
      assert.ok(reads.length <= 8, `${reads.length} reads`);
      for (const { offset, length } of reads) {
        for (const [start, end] of mdat) {
          assert.ok(offset + length <= start || offset >= end, `read [${offset}, ${offset + length}) is inside mdat [${start}, ${end})`);
        }
      }
      // The byte ranges cover the media data exactly, sample by sample.
      for (let i = 0; i < table.count; i++) {
        const range = table.byteRange(i)!;
        assert.ok(mdat.some(([start, end]) => range.offset >= start && range.offset + range.size <= end), `sample ${i}`);
      }
      assert.equal(table.byteRange(table.count), undefined);
      assert.equal(table.sample(-1), undefined);
    });
  });
}

for (const fragmented of ['keyframe', 'default-base-moof'] as const) {
  test(`fragmented (${fragmented}): the reader reads moov and the moof boxes, two reads a fragment, never media data`, async () => {
    const file = await makeFixture({ ...H264_1080P, fragmented });
    const { size } = await fs.stat(file);
    const mdat = await mdatPayloads(file);
    assert.ok(mdat.length >= 3, `${mdat.length} fragments`);
    await withFile(file, async (inner) => {
      const { source, reads } = recording(inner);
      const table = await readMp4SampleTable(source);
      assert.ok(table);
      assert.equal(table.count, H264_1080P.frames);
      const total = reads.reduce((sum, r) => sum + r.length, 0);
      assert.equal(table.indexBytes, total);
      assert.ok(total < size * 0.05, `read ${total} of ${size} bytes`);
      assert.ok(reads.length <= 8 + 2 * mdat.length, `${reads.length} reads for ${mdat.length} fragments`);
      for (const { offset, length } of reads) {
        for (const [start, end] of mdat) {
          assert.ok(offset + length <= start || offset >= end, `read [${offset}, ${offset + length}) is inside mdat [${start}, ${end})`);
        }
      }
      for (let i = 0; i < table.count; i++) {
        const range = table.byteRange(i)!;
        assert.ok(mdat.some(([start, end]) => range.offset >= start && range.offset + range.size <= end), `sample ${i}`);
      }
    });
  });
}

// ---------------------------------------------------------------- other containers, mismatches, damaged files

test('WebM and MPEG-TS: null, with or without the format name, reading at most one header', async () => {
  for (const spec of [VP9_WEBM, H264_TS]) {
    const file = await makeFixture(spec);
    const { info } = await demux(file);
    await withFile(file, async (inner) => {
      const { source, reads } = recording(inner);
      assert.equal(await PtsIndex.fromContainer(source, info), null);
      assert.equal(reads.length, 0, 'the format name says it is not MP4');
      assert.equal(await PtsIndex.fromContainer(source, { ...info, formatName: undefined }), null);
      assert.equal(await readMp4SampleTable(source), null);
      assert.ok(reads.every((r) => r.offset === 0 && r.length <= 8), JSON.stringify(reads));
    });
  }
});

test('null when the first video track is not the demuxer\'s stream, or the time base differs', async () => {
  const file = await makeFixture(H264_MP4_MOOV_END);
  const { info } = await demux(file);
  await withFile(file, async (source) => {
    assert.ok(await PtsIndex.fromContainer(source, info));
    assert.equal(await PtsIndex.fromContainer(source, { ...info, streamIndex: 1 }), null);
    assert.equal(await PtsIndex.fromContainer(source, { ...info, timeBase: { num: 1, den: 90000 } }), null);
    // Only the fields it needs.
    const { timeBase, hasBFrames, streamIndex } = info;
    assert.equal((await PtsIndex.fromContainer(source, { timeBase, hasBFrames, streamIndex }))?.size, 60);
  });
});

describe('truncated files', () => {
  let dir: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'framepipe-truncated-'));
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });
  const cut = async (spec: FixtureSpec, keep: (size: number) => number, name: string) => {
    const data = await fs.readFile(await makeFixture(spec));
    const file = path.join(dir, name);
    await fs.writeFile(file, data.subarray(0, keep(data.length)));
    return file;
  };

  test('moov cut short: ERR_FRAMEPIPE_TRUNCATED, as the demuxer says', async () => {
    const file = await cut(H264_MP4_MOOV_END, (size) => size - 300, 'moov-cut.mp4');
    await withFile(file, async (source) => {
      const error = await rejectsWith(readMp4SampleTable(source), ErrorCode.TRUNCATED);
      assert.match(error.message, /is truncated: its index \('moov' box\) ends past the end of the file/);
      await rejectsWith(new Demuxer(source).open(), ErrorCode.TRUNCATED);
    });
  });

  test('media data cut short after a complete moov: ERR_FRAMEPIPE_TRUNCATED up front', async () => {
    const file = await cut(H264_MP4_FASTSTART, (size) => Math.floor(size * 0.6), 'mdat-cut.mp4');
    await withFile(file, async (source) => {
      const error = await rejectsWith(PtsIndex.fromContainer(source, { timeBase: { num: 1, den: 12800 }, hasBFrames: true, streamIndex: 0 }), ErrorCode.TRUNCATED);
      assert.match(error.message, /refers to data past its last byte/);
    });
  });

  test('no moov at all (cut inside mdat): null, and the scan reports the truncation', async () => {
    const file = await cut(H264_MP4_MOOV_END, () => 2000, 'no-moov.mp4');
    await withFile(file, async (source) => {
      assert.equal(await readMp4SampleTable(source), null);
      await rejectsWith(PtsIndex.scan(new Demuxer(source)), ErrorCode.TRUNCATED);
    });
  });
});

describe('damaged counts and sizes (found by test/fuzz.test.ts): no allocation in proportion to a claimed count', () => {
  let dir: string;
  const stbl = (moov: Box) => find(videoTrack(moov), 'mdia/minf/stbl')!;
  const craft = async (name: string, edit: (moov: Box) => void) => {
    const file = path.join(dir, name);
    await rewriteMoov(await makeFixture(H264_MP4_MOOV_END), file, edit);
    return file;
  };
  /** Peak RSS growth while `fn` runs, MiB (the process's high-water mark: a regression shows as gigabytes). */
  const peakGrowth = async (fn: () => Promise<void>) => {
    const before = process.resourceUsage().maxRSS;
    await fn();
    return (process.resourceUsage().maxRSS - before) / 1024;
  };
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'framepipe-counts-'));
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  test('a constant sample size, a count past what FFmpeg indexes, a huge stsc run: null, as FFmpeg has no index', async () => {
    // Was: one JS object per claimed sample, until the heap ran out and the process died.
    const file = await craft('count-past-ffmpeg.mp4', (m) => {
      find(stbl(m), 'stsz')!.payload = fullBox(0, [1, 0x7ffffff0]);
      find(stbl(m), 'stsc')!.payload = fullBox(0, [1, 1, 0x7fffffff, 1]);
    });
    const growth = await peakGrowth(async () => {
      assert.equal(await withFile(file, (source) => readMp4SampleTable(source)), null);
    });
    assert.ok(growth < 256, `peak RSS grew by ${growth.toFixed(0)} MiB`);
    const scanned = await withFile(file, (source) => PtsIndex.scan(new Demuxer(source)));
    assert.equal(scanned.size, 0, 'FFmpeg emits no packet for the track');
  });

  test('more samples of a constant size than the file holds: null, and the scan has the last word', async () => {
    const file = await craft('more-than-the-file.mp4', (m) => {
      find(stbl(m), 'stsz')!.payload = fullBox(0, [1, 10_000_000]);
      find(stbl(m), 'stsc')!.payload = fullBox(0, [1, 1, 0x7fffffff, 1]);
    });
    const growth = await peakGrowth(async () => {
      assert.equal(await withFile(file, (source) => readMp4SampleTable(source)), null);
    });
    assert.ok(growth < 256, `peak RSS grew by ${growth.toFixed(0)} MiB`);
  });

  test('an stts run of 2^32 - 1 samples over a large constant-size count: arrays as long as the samples walked', async () => {
    // Was: two arrays of 80 million durations and offsets for a track whose chunks hold 60 samples.
    const file = await craft('stts-run-huge.mp4', (m) => {
      find(stbl(m), 'stsz')!.payload = fullBox(0, [1, 80_000_000]);
      find(stbl(m), 'stts')!.payload = fullBox(0, [1, 0xffffffff, 512]);
    });
    let table: Mp4SampleTable | null = null;
    const growth = await peakGrowth(async () => {
      table = await withFile(file, (source) => readMp4SampleTable(source));
    });
    assert.ok(growth < 256, `peak RSS grew by ${growth.toFixed(0)} MiB`);
    // The timestamps are those of the undamaged file (the demuxer's keyframe flags are not comparable here: FFmpeg's
    // parser looks inside the 1-byte samples).
    const original = await withFile(await makeFixture(H264_MP4_MOOV_END), (source) => readMp4SampleTable(source));
    assert.equal(table!.count, 60);
    assert.deepEqual(table!.pts, original!.pts);
    assert.deepEqual(table!.dts, original!.dts);
  });

  test('a moov size damaged into a huge one is not read into memory', async () => {
    // A 1 GiB source whose moov claims 600 MiB: the reader gives the file to FFmpeg instead of holding it.
    const head = Buffer.alloc(32);
    head.writeUInt32BE(16, 0);
    head.write('ftypisom', 4, 'latin1');
    head.writeUInt32BE(600 * 2 ** 20, 16);
    head.write('moov', 20, 'latin1');
    const reads: number[] = [];
    const source: ByteSource = {
      description: 'huge-moov.mp4',
      size: 2 ** 30,
      bytesRead: 0,
      open: async () => {},
      close: async () => {},
      read: async (offset, length) => {
        reads.push(length);
        return offset < head.length ? head.subarray(offset, Math.min(head.length, offset + length)) : Buffer.alloc(Math.min(length, 64));
      },
    };
    assert.equal(await readMp4SampleTable(source), null);
    assert.ok(Math.max(...reads) <= 16, `reads of ${reads.join(', ')} bytes`);
  });
});

test('PtsIndex.fromSampleTable: flags and the complete map from a table', async () => {
  const file = await makeFixture(H264_MP4_MOOV_END);
  const table = await withFile(file, (source) => readMp4SampleTable(source));
  assert.ok(table);
  assert.equal(table.codecTag, 'avc1');
  assert.equal(table.flags[0]! & SAMPLE_KEYFRAME, SAMPLE_KEYFRAME);
  assert.ok(Array.from(table.flags).every((f) => (f & SAMPLE_DISCARD) === 0));
  const index = PtsIndex.fromSampleTable(table, true);
  assert.equal(index.strategy, 'container');
  assert.equal(index.complete, true);
  assert.equal(index.sampleTable, table);
  assert.equal(index.size, 60);
  assert.equal(new PtsIndex('scan', false).sampleTable, undefined);
});

/**
 * No byte crosses the wire twice in a run, and a run fetches little more than a perfect reader would. Over the
 * loopback byte-counting server, on 1080p footage coded at a real bit rate (grain, 5 Mbit/s, B-frames): the request
 * log of each run must hold no two requests for one byte, though two demuxers read the file's start; for MP4, no
 * request may reach past the last byte the selection needs (worked out from Debian ffprobe's packet list, not from
 * framepipe), and the bytes sent must stay near what a perfect reader fetches (index + GOP spans).
 */
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { before, describe, test } from 'node:test';
import { streamVideoFrames } from '@framepipe/core';
import { Demuxer } from '@framepipe/demuxer';
import type { IterateOptions } from '@framepipe/core';
import { HttpSource, withRead } from '@framepipe/http-source';
import type { HttpSourceOptions } from '@framepipe/http-source';
import { deriveWithFfmpeg } from './support/ffmpeg-reference.ts';
import { H264_1080P_FOOTAGE, makeFixture } from './support/fixtures.ts';
import { readFrameCode } from './support/frame-code.ts';
import { indexBytes, perfectBytes, readPackets } from './support/perfect-reader.ts';
import { startRangeServer, type RangeServer } from './support/range-server.ts';

const KiB = 1024;
const files: Record<string, string> = {};

before(async () => {
  const mp4 = await makeFixture(H264_1080P_FOOTAGE);
  files['moov-end.mp4'] = mp4;
  files['faststart.mp4'] = await deriveWithFfmpeg(mp4, { args: ['-c', 'copy', '-movflags', '+faststart'], ext: 'mp4', name: 'footage-faststart' });
  files['footage.ts'] = await deriveWithFfmpeg(mp4, { args: ['-c', 'copy'], ext: 'ts', name: 'footage' });
  files['footage.mkv'] = await deriveWithFfmpeg(mp4, { args: ['-c', 'copy'], ext: 'mkv', name: 'footage' });
}, { timeout: 600_000 });

interface Run {
  server: RangeServer;
  size: number;
  /** The requests, as `[first, last]` byte pairs (inclusive), in order. */
  ranges: Array<[number, number]>;
  /** The reads the stages made of the source at offset 0: one per demuxer that opened it. */
  readsAtStart: number;
  frames: number[];
}

/** Runs `selection` over HTTP and checks every frame shows its number; `log` wraps the source to count the stages' reads. */
async function run(name: string, selection: IterateOptions, sourceOptions: HttpSourceOptions = {}, log = false): Promise<Run> {
  const server = await startRangeServer({ files: { [`/${name}`]: files[name]! } });
  const { size } = await stat(files[name]!);
  const source = new HttpSource(server.url(`/${name}`), { readAhead: 16 * KiB, ...sourceOptions });
  let readsAtStart = 0;
  // A view that counts reads loses `planReads`: only for containers without sample tables, which plan nothing.
  const input = log
    ? withRead(source, (offset, length, signal) => {
        if (offset === 0) readsAtStart++;
        return source.read(offset, length, signal);
      })
    : source;
  const frames: number[] = [];
  try {
    for await (const frame of streamVideoFrames(input, { ...selection, reuseBuffers: true })) {
      assert.equal(readFrameCode(frame.data, frame.width, frame.height), frame.index, `${name}: frame ${frame.index} shows its number`);
      frames.push(frame.index);
    }
  } finally {
    await source.close();
    await server.close();
  }
  const ranges = server.requests.map((r) => /^bytes=(\d+)-(\d+)$/.exec(r.range ?? '')!.slice(1).map(Number) as [number, number]);
  return { server, size, ranges, readsAtStart, frames };
}

/** The first pair of requests that asked for one byte twice, or null. */
function overlap(ranges: ReadonlyArray<[number, number]>): string | null {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]![0] <= sorted[i - 1]![1]) return `bytes=${sorted[i - 1]!.join('-')} and bytes=${sorted[i]!.join('-')}`;
  }
  return null;
}

describe('two demuxers of one run share what either fetched', () => {
  const cases: Array<[string, IterateOptions, number[]]> = [
    ['footage.ts', { start: 150, end: 159 }, [150, 151, 152, 153, 154, 155, 156, 157, 158, 159]],
    ['footage.mkv', { frames: [5, 150, 298] }, [5, 150, 298]],
    ['footage.ts', { frames: [5, 150, 298] }, [5, 150, 298]],
  ];
  for (const [name, selection, expected] of cases) {
    test(`${name} ${JSON.stringify(selection)}: the scan and the decode both read the start, which is fetched once`, async (t) => {
      const { ranges, readsAtStart, frames, size, server } = await run(name, selection, {}, true);
      t.diagnostic(`${ranges.length} requests, ${server.bytesSent} of ${size} bytes, ${readsAtStart} reads at offset 0`);
      assert.deepEqual(frames, expected);
      assert.ok(readsAtStart >= 2, `two demuxers read the file's start (${readsAtStart} reads at 0)`);
      assert.equal(ranges.filter(([first]) => first === 0).length, 1, 'byte 0 is fetched once');
      assert.equal(overlap(ranges), null, 'no byte is fetched twice');
      assert.ok(server.bytesSent <= size);
    });
  }

  test('without the cache (cacheMemory and cacheDisk 0) the same run fetches the start again: what the test above rules out', async () => {
    const { ranges, frames } = await run('footage.ts', { start: 150, end: 159 }, { cacheMemory: 0, cacheDisk: 0 });
    assert.equal(frames.length, 10);
    assert.ok(ranges.filter(([first]) => first === 0).length >= 2);
    assert.notEqual(overlap(ranges), null);
  });
});

/** The bytes FFmpeg reads to open `name` (the header, and the first packets it probes the stream with), over HTTP. */
async function openingBytes(name: string, sourceOptions: HttpSourceOptions): Promise<number> {
  const server = await startRangeServer({ files: { [`/${name}`]: files[name]! } });
  const source = new HttpSource(server.url(`/${name}`), sourceOptions);
  try {
    const demuxer = new Demuxer(source);
    await demuxer.open();
    demuxer.destroy();
    return server.bytesSent;
  } finally {
    await source.close();
    await server.close();
  }
}

describe('MP4: requests stop where the decode does', () => {
  // Within 1.25× of a perfect reader. A range that starts mid-file pays, besides, what opening the file costs: FFmpeg
  // reads the first packets while it opens it (avformat_find_stream_info: about 300 KB of this 1080p footage's first
  // GOP, which a list from frame 5 or a range from frame 0 needs anyway). That is measured, not guessed: the footage
  // is encoded anew on each machine, and its GOPs' sizes vary by a few percent from one encoding to the next.
  const cases: Array<[string, IterateOptions, number[], 'opening' | 'none']> = [
    ['faststart.mp4', { start: 150, end: 159 }, [150, 151, 152, 153, 154, 155, 156, 157, 158, 159], 'opening'],
    ['faststart.mp4', { frames: [5, 150, 298] }, [5, 150, 298], 'none'],
    ['faststart.mp4', { end: 9 }, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'none'],
    ['moov-end.mp4', { start: 150, end: 159 }, [150, 151, 152, 153, 154, 155, 156, 157, 158, 159], 'opening'],
  ];
  for (const [name, selection, expected, besides] of cases) {
    const what = besides === 'opening' ? ', besides what opening the file costs' : '';
    test(`${name} ${JSON.stringify(selection)}: within 1.25× of a perfect reader${what}, nothing past the last byte needed`, async (t) => {
      const list = await readPackets(files[name]!);
      const sourceOptions = { readAhead: 64 * KiB };
      const { ranges, frames, size, server } = await run(name, selection, sourceOptions);
      assert.deepEqual(frames, expected);
      const index = await indexBytes(files[name]!, 'mp4', list);
      const perfect = perfectBytes(list, 'mp4', index, size, expected);
      const opening = besides === 'opening' ? await openingBytes(name, sourceOptions) : 0;
      const ratio = (server.bytesSent - opening) / (perfect.index + perfect.gops);
      t.diagnostic(`${ranges.length} requests, ${server.bytesSent} bytes sent, ${opening} of them to open the file; perfect reader ${perfect.index} + ${perfect.gops}: ${ratio.toFixed(2)}×`);
      assert.equal(overlap(ranges), null, 'no byte is fetched twice');
      assert.ok(ratio <= 1.25, `${ratio.toFixed(2)}× the perfect reader's bytes (${opening} bytes to open the file left out)`);
      // The last byte of the last packet the selection needs, by ffprobe: the packets up to the last shown at or before the last frame wanted.
      const lastPts = list.framePts[expected.at(-1)!]!;
      const key = list.packets.findLastIndex((p) => p.keyframe && p.pts !== null && p.pts <= lastPts);
      const nextKey = list.packets.findIndex((p, i) => i > key && p.keyframe);
      const gop = list.packets.slice(key, nextKey < 0 ? undefined : nextKey);
      const needed = gop.slice(0, gop.findLastIndex((p) => p.pts !== null && p.pts <= lastPts) + 1);
      const lastNeeded = Math.max(...needed.map((p) => p.pos + p.size)) - 1;
      // A moov at the end is read where it is; every other request stays at or before the last byte needed.
      const moovAt = name === 'moov-end.mp4' ? size - index : size;
      const past = ranges.filter(([first, last]) => first < moovAt && last > lastNeeded);
      assert.deepEqual(past, [], `requests reach past byte ${lastNeeded}, the end of the last packet needed`);
    });
  }
});

describe('the cache limits are options of a run', () => {
  test('streamVideoFrames with a URL: by default byte 0 is fetched once; with cacheMemory and cacheDisk 0, again by each demuxer', async () => {
    const server = await startRangeServer({ files: { '/footage.ts': files['footage.ts']! } });
    try {
      const startRequests = async (options: IterateOptions): Promise<number> => {
        const before = server.requests.length;
        let frames = 0;
        for await (const _ of streamVideoFrames(server.url('/footage.ts'), { ...options, start: 150, end: 151, reuseBuffers: true })) frames++;
        assert.equal(frames, 2);
        return server.requests.slice(before).filter((r) => r.range?.startsWith('bytes=0-')).length;
      };
      assert.equal(await startRequests({}), 1);
      assert.ok((await startRequests({ cacheMemory: 0, cacheDisk: 0 })) >= 2);
    } finally {
      await server.close();
    }
  });
});

describe('a sparse selection over small GOPs close together loses no part', () => {
  // 320×240 at 300 kbit/s, a GOP of 12: the next part's keyframe lies a few KB past where a part ends, so FFmpeg
  // reaches it by reading on rather than seeking; a read that had met the part's end used to end the next part too.
  const SMALL_GOPS = { codec: 'h264', container: 'mp4', frames: 150, width: 320, height: 240, fps: 25, bFrames: 3, gop: 12, grain: true, bitRate: 300_000 } as const;
  const cases: Array<[IterateOptions, number[]]> = [
    [{ frames: [5, 29, 53, 77, 101, 125] }, [5, 29, 53, 77, 101, 125]],
    [{ start: 5, end: 149, step: 24 }, [5, 29, 53, 77, 101, 125, 149]],
    [{ frames: [0, 13, 40, 41, 100, 148] }, [0, 13, 40, 41, 100, 148]],
  ];
  for (const [selection, expected] of cases) {
    test(`${JSON.stringify(selection)}: every frame, each showing its number`, async () => {
      const path = await makeFixture(SMALL_GOPS);
      const server = await startRangeServer({ files: { '/small.mp4': path } });
      try {
        const frames: number[] = [];
        for await (const frame of streamVideoFrames(server.url('/small.mp4'), { ...selection, strict: true, reuseBuffers: true })) {
          assert.equal(readFrameCode(frame.data, frame.width, frame.height), frame.index);
          frames.push(frame.index);
        }
        assert.deepEqual(frames, expected);
      } finally {
        await server.close();
      }
    });
  }
});

describe('the cache writes to disk only what a run may read again', () => {
  async function runOn(name: string, selection: IterateOptions): Promise<{ disk: number; sent: number; size: number }> {
    const server = await startRangeServer({ files: { [`/${name}`]: files[name]! } });
    const source = new HttpSource(server.url(`/${name}`), { cacheMemory: 1024 * KiB });
    try {
      for await (const _ of streamVideoFrames(source, { ...selection, reuseBuffers: true })) void _;
      return { disk: source.cached.disk, sent: server.bytesSent, size: (await stat(files[name]!)).size };
    } finally {
      await source.close();
      await server.close();
    }
  }

  test('a full run (frames numbered as packets pass) writes to disk at most what opening the file read past memory', async () => {
    const { disk, sent, size } = await runOn('footage.ts', {});
    // Opening an MPEG-TS file reads about 1.2 MB to find its streams, before the run knows it reads forward only.
    assert.ok(disk <= 512 * KiB, `${disk} of ${size} bytes written to disk`);
    assert.equal(sent, size);
  });

  test('a frame list over MPEG-TS keeps what the scan read beyond memory on disk, and fetches no byte twice', async () => {
    const { disk, sent, size } = await runOn('footage.ts', { frames: [5, 150, 298] });
    assert.ok(disk > 0, 'the scan spilled');
    assert.ok(sent <= size, `${sent} of ${size} bytes`);
  });
});

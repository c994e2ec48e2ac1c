import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { describe, test } from 'node:test';
import type { ByteSource } from '../src/byte-source.ts';
import { HttpSource } from '../src/http-source.ts';
import { CACHE_PREFIX } from '../src/range-store.ts';
import { ReadCache } from '../src/read-cache.ts';
import { seededBytes, seededRandom, startRangeServer } from '../../../test/support/range-server.ts';

const KiB = 1024;
const SIZE = 1024 * KiB;
const bytes = seededBytes(SIZE, 7);

/** A source over `bytes` in memory that counts how often each byte was asked of it, and logs each read. */
function countingSource(): ByteSource & { times: Uint8Array; reads: Array<[number, number]> } {
  const times = new Uint8Array(SIZE);
  const reads: Array<[number, number]> = [];
  let bytesRead = 0;
  return {
    description: 'memory',
    size: SIZE,
    get bytesRead() {
      return bytesRead;
    },
    times,
    reads,
    open: async () => {},
    close: async () => {},
    read: async (offset, length) => {
      const end = Math.min(SIZE, offset + length);
      reads.push([offset, end]);
      for (let i = offset; i < end; i++) times[i]!++;
      bytesRead += end - offset;
      return Buffer.from(bytes.subarray(offset, end));
    },
  };
}

/** The temporary directories of read caches that exist now. */
async function cacheDirs(): Promise<string[]> {
  return (await readdir(tmpdir())).filter((name) => name.startsWith(CACHE_PREFIX));
}

describe('ReadCache', () => {
  test('random reads over a small memory limit: right bytes, each byte asked of the source once, the spill file removed at close', async () => {
    const origin = countingSource();
    const before = await cacheDirs();
    const cache = new ReadCache(origin, { cacheMemory: 64 * KiB });
    const random = seededRandom(3);
    let spilled = 0;
    for (let i = 0; i < 400; i++) {
      const offset = Math.floor(random() * SIZE);
      const length = 1 + Math.floor(random() * 48 * KiB);
      const got = await cache.read(offset, length);
      assert.ok(got.equals(bytes.subarray(offset, offset + length)), `read ${i} at ${offset}+${length}`);
      assert.ok(cache.cached.memory <= 64 * KiB, `memory ${cache.cached.memory} within the limit`);
      spilled = Math.max(spilled, cache.cached.disk);
    }
    assert.ok(origin.times.every((n) => n <= 1), 'no byte asked of the source twice');
    assert.ok(spilled > 64 * KiB, `ranges moved to the temporary file (${spilled} bytes)`);
    // The file is unlinked as soon as it is made: a process killed outright leaves nothing in the temp directory.
    assert.deepEqual(await cacheDirs(), before, 'no temporary directory, even while the file is in use');
    assert.ok((await cache.read(0, SIZE)).equals(bytes), 'what went to the file reads back');
    await cache.close();
    assert.deepEqual(await cacheDirs(), before);
  });

  test('once the temporary file is full, ranges that leave memory are forgotten, and read again when asked for', async () => {
    const origin = countingSource();
    const cache = new ReadCache(origin, { cacheMemory: 64 * KiB, cacheDisk: 128 * KiB });
    try {
      for (let offset = 0; offset < SIZE; offset += 32 * KiB) await cache.read(offset, 32 * KiB);
      assert.ok(cache.cached.disk <= 128 * KiB);
      // The first 128 KiB went to the file, the last 64 KiB are in memory, the rest was forgotten.
      const held = origin.reads.length;
      assert.ok((await cache.read(SIZE - 64 * KiB, 64 * KiB)).equals(bytes.subarray(SIZE - 64 * KiB)));
      assert.ok((await cache.read(0, 128 * KiB)).equals(bytes.subarray(0, 128 * KiB)));
      assert.equal(origin.reads.length, held, 'the first 128 KiB come from the file, the last 64 KiB from memory');
      assert.ok((await cache.read(500 * KiB, 1000)).equals(bytes.subarray(500 * KiB, 500 * KiB + 1000)));
      assert.deepEqual(origin.reads.at(-1), [500 * KiB, 500 * KiB + 1000], 'bytes in between are read again, only as many as asked');
    } finally {
      await cache.close();
    }
  });

  test('read-ahead doubles on sequential reads, and stops at the end of a planned range', async () => {
    const origin = countingSource();
    const cache = new ReadCache(origin, { readAhead: 4 * KiB, maxReadAhead: 16 * KiB });
    try {
      for (let offset = 0; offset < 64 * KiB; offset += KiB) await cache.read(offset, KiB);
      assert.deepEqual(
        origin.reads.slice(0, 4).map(([a, b]) => b - a),
        [4 * KiB, 8 * KiB, 16 * KiB, 16 * KiB],
      );
      cache.planReads([{ start: 200 * KiB, end: 210 * KiB }]);
      await cache.read(200 * KiB, KiB);
      await cache.read(204 * KiB, KiB);
      await cache.read(210 * KiB, 5 * KiB);
      const planned = origin.reads.slice(-3);
      assert.deepEqual(
        planned,
        [
          [200 * KiB, 204 * KiB],
          [204 * KiB, 210 * KiB],
          [210 * KiB, 215 * KiB],
        ],
        'a seek starts small, the next block doubles but ends with the range; past it, only what the read asks',
      );
    } finally {
      await cache.close();
    }
  });
});

describe('HttpSource cache', () => {
  test('two readers of one source: every byte crosses the wire once, whatever order they read in', async () => {
    const server = await startRangeServer({ files: { '/video.mp4': bytes } });
    const source = new HttpSource(server.url('/video.mp4'), { readAhead: 16 * KiB, maxReadAhead: 64 * KiB, cacheMemory: 128 * KiB });
    try {
      // A reader that goes from the start to the middle, another that reads the end then the start again.
      for (let offset = 0; offset < SIZE / 2; offset += 8 * KiB) await source.read(offset, 8 * KiB);
      await source.read(SIZE - 4 * KiB, 4 * KiB);
      for (let offset = 0; offset < SIZE; offset += 24 * KiB) {
        assert.ok((await source.read(offset, 24 * KiB)).equals(bytes.subarray(offset, offset + 24 * KiB)));
      }
      const ranges = server.requests.map((r) => /^bytes=(\d+)-(\d+)$/.exec(r.range!)!.slice(1).map(Number) as [number, number]);
      ranges.sort((a, b) => a[0] - b[0]);
      for (let i = 1; i < ranges.length; i++) assert.ok(ranges[i]![0] > ranges[i - 1]![1], `requests ${ranges[i - 1]} and ${ranges[i]} overlap`);
      assert.equal(server.bytesSent, SIZE);
      assert.ok(source.cached.disk > 0, 'beyond 128 KiB, ranges went to the temporary file');
    } finally {
      await source.close();
      await server.close();
    }
  });

  test('cacheMemory and cacheDisk 0: only the block the last read used is kept, so a reader going back fetches again', async () => {
    const server = await startRangeServer({ files: { '/video.mp4': bytes } });
    const source = new HttpSource(server.url('/video.mp4'), { readAhead: 16 * KiB, cacheMemory: 0, cacheDisk: 0 });
    try {
      await source.read(0, 8 * KiB);
      await source.read(SIZE - 8 * KiB, 8 * KiB);
      assert.equal(source.cached.memory, 8 * KiB, 'the last block only');
      await source.read(0, 8 * KiB);
      assert.equal(server.requests.length, 3, "the open's first block (which the first read used), the end, the start again");
      assert.equal(source.cached.disk, 0);
    } finally {
      await source.close();
      await server.close();
    }
  });

  test('a memory limit below the read-ahead block still fetches each byte of a sequential read once', async () => {
    const server = await startRangeServer({ files: { '/video.mp4': bytes } });
    const source = new HttpSource(server.url('/video.mp4'), { readAhead: 16 * KiB, maxReadAhead: 256 * KiB, cacheMemory: 0, cacheDisk: 0 });
    try {
      for (let offset = 0; offset < SIZE; offset += 4 * KiB) {
        assert.ok((await source.read(offset, 4 * KiB)).equals(bytes.subarray(offset, offset + 4 * KiB)));
      }
      assert.equal(server.bytesSent, SIZE);
      assert.ok(source.cached.memory <= 256 * KiB, `${source.cached.memory} bytes held: the last block`);
    } finally {
      await source.close();
      await server.close();
    }
  });
});

describe('spilling to disk', () => {
  test('a planned reader reads forward: what leaves memory behind it is not written to disk; lifting the plan writes again', async () => {
    const origin = countingSource();
    const cache = new ReadCache(origin, { cacheMemory: 64 * KiB });
    try {
      cache.planReads([{ start: 0, end: SIZE }]);
      for (let offset = 0; offset < SIZE / 2; offset += 32 * KiB) await cache.read(offset, 32 * KiB);
      assert.equal(cache.cached.disk, 0);
      cache.planReads([]);
      for (let offset = SIZE / 2; offset < SIZE; offset += 32 * KiB) await cache.read(offset, 32 * KiB);
      assert.ok(cache.cached.disk > 0);
    } finally {
      await cache.close();
    }
  });

  test('a plan with forwardOnly false (a reader that comes back) still writes what leaves memory to disk', async () => {
    const origin = countingSource();
    const cache = new ReadCache(origin, { cacheMemory: 64 * KiB, readAhead: 4 * KiB });
    try {
      cache.planReads([{ start: 0, end: SIZE }], { forwardOnly: false });
      for (let offset = 0; offset < SIZE / 2; offset += 32 * KiB) await cache.read(offset, 32 * KiB);
      assert.ok(cache.cached.disk > 0, 'ranges behind the reader went to the temporary file');
      const reads = origin.reads.length;
      assert.ok((await cache.read(0, 32 * KiB)).equals(bytes.subarray(0, 32 * KiB)));
      assert.equal(origin.reads.length, reads, 'coming back to the first bytes asks the source for nothing');
    } finally {
      await cache.close();
    }
  });
});

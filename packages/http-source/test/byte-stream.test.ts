import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { ErrorCode } from '@framepipe/common';
import { ByteStream } from '../src/byte-stream.ts';
import type { ByteSource } from '../src/byte-source.ts';
import { FileSource } from '../src/file-source.ts';
import { HttpSource } from '../src/http-source.ts';
import { seededBytes, startRangeServer, type RangeServer } from '../../../test/support/range-server.ts';

const SIZE = 3 * 1024 * 1024 + 123;
const KiB = 1024;
const video = seededBytes(SIZE, 4);

async function collect(stream: ByteStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** An in-memory source that records how far it has been asked to read. */
class MemorySource implements ByteSource {
  readonly description = 'memory';
  bytesRead = 0;
  opened = false;
  closed = false;
  readonly bytes: Buffer;
  constructor(bytes: Buffer) {
    this.bytes = bytes;
  }
  get size(): number {
    return this.bytes.length;
  }
  async open(): Promise<void> {
    this.opened = true;
  }
  async read(offset: number, length: number): Promise<Buffer> {
    const chunk = this.bytes.subarray(offset, offset + length);
    this.bytesRead += chunk.length;
    return chunk;
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

/** Resolves when `check()` holds, polling; fails after `ms`. */
async function eventually(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`not within ${ms} ms: ${what}`);
    await sleep(10);
  }
}

describe('ByteStream', () => {
  let server: RangeServer;
  let dir: string;
  let file: string;
  before(async () => {
    server = await startRangeServer({ files: { '/video.mp4': video } });
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'framepipe-byte-stream-'));
    file = path.join(dir, 'video.mp4');
    await fs.writeFile(file, video);
  });
  after(async () => {
    await server.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  test('the whole file over HTTP, in order, then the source is still usable', async () => {
    const source = new HttpSource(server.url('/video.mp4'));
    try {
      assert.ok((await collect(source.createReadStream())).equals(video));
      assert.ok((await source.read(10, 5)).equals(video.subarray(10, 15)));
    } finally {
      await source.close();
    }
  });

  test('a start/end slice (end inclusive, clamped) over HTTP and from a file', async () => {
    const http = new HttpSource(server.url('/video.mp4'));
    const local = new FileSource(file);
    try {
      const start = 1_000_001;
      const end = 2_345_678;
      assert.ok((await collect(http.createReadStream({ start, end, chunkSize: 10_000 }))).equals(video.subarray(start, end + 1)));
      assert.ok((await collect(local.createReadStream({ start, end }))).equals(video.subarray(start, end + 1)));
      assert.ok((await collect(local.createReadStream({ start: SIZE - 5, end: SIZE + 100 }))).equals(video.subarray(SIZE - 5)));
      assert.equal((await collect(local.createReadStream({ start: SIZE + 10 }))).length, 0);
    } finally {
      await http.close();
      await local.close();
    }
  });

  test('backpressure: a slow consumer keeps at most highWaterMark + one chunk read ahead', async () => {
    const source = new MemorySource(video);
    const chunkSize = 16 * KiB;
    const highWaterMark = 64 * KiB;
    const stream = new ByteStream(source, { chunkSize, highWaterMark });
    stream.on('data', () => {}); // flowing, but paused right away below
    stream.pause();
    await sleep(50);
    assert.ok(source.bytesRead > 0, 'reads before the consumer asks');
    assert.ok(source.bytesRead <= highWaterMark + chunkSize, `read ${source.bytesRead} bytes with nobody consuming`);
    stream.removeAllListeners('data');

    let consumed = 0;
    let count = 0;
    for await (const chunk of stream) {
      consumed += (chunk as Buffer).length;
      assert.ok(source.bytesRead - consumed <= highWaterMark + chunkSize, `${source.bytesRead - consumed} bytes ahead`);
      if (++count % 20 === 0) await sleep(5);
    }
    assert.equal(consumed, SIZE);
  });

  test('destroy mid-way aborts the request in flight and closes the stream promptly', { timeout: 5000 }, async () => {
    // Blocks of 1, 2, 4, 8 KiB: the 8 KiB answer stalls after 5 KiB, with a read of the stream waiting on it.
    const stalling = await startRangeServer({ files: { '/video.mp4': video }, stallAfterBytes: 5 * KiB });
    const source = new HttpSource(stalling.url('/video.mp4'), { readAhead: KiB });
    try {
      const stream = source.createReadStream({ chunkSize: 512 });
      let received = 0;
      stream.on('data', (chunk) => {
        received += (chunk as Buffer).length;
      });
      await eventually(() => stalling.requests.length === 4, 2000, 'the stalling request is sent');
      await sleep(50);
      assert.equal(received, 7 * KiB);
      const closed = new Promise<void>((resolve) => stream.once('close', () => resolve()));
      stream.destroy();
      await closed;
      // The source stays open (no autoClose): only the destroy can have aborted the request.
      await eventually(() => stalling.requests.at(-1)?.aborted === true, 1000, 'the server sees the request closed');
      assert.ok((await source.read(0, 10)).equals(video.subarray(0, 10)), 'the source is still usable');
    } finally {
      await source.close();
      await stalling.close();
    }
  });

  test('destroy with autoClose closes the source', { timeout: 5000 }, async () => {
    const source = new HttpSource(server.url('/video.mp4'));
    const stream = source.createReadStream({ autoClose: true });
    stream.resume();
    await new Promise<void>((resolve) => stream.once('data', () => resolve()));
    stream.destroy();
    await new Promise<void>((resolve) => stream.once('close', () => resolve()));
    await assert.rejects(source.read(0, 1), { code: ErrorCode.ABORTED });
  });

  test('autoClose closes the source at the end; without it the source stays open', async () => {
    const owned = new MemorySource(video);
    await collect(new ByteStream(owned, { autoClose: true }));
    assert.ok(owned.closed);
    const shared = new MemorySource(video);
    await collect(new ByteStream(shared));
    assert.ok(shared.opened && !shared.closed);
  });

  test('a failing source errors the stream', async () => {
    const source = new HttpSource(server.url('/missing.mp4'));
    await assert.rejects(collect(source.createReadStream({ autoClose: true })), { code: ErrorCode.HTTP_STATUS, status: 404 });
  });

  test('options are checked', () => {
    const source = new MemorySource(video);
    assert.throws(() => new ByteStream(source, { start: -1 }), {
      message: 'Expected a non-negative integer for start but received -1 of type number',
    });
    assert.throws(() => new ByteStream(source, { start: 10, end: 5 }), {
      message: 'Expected an integer >= 10 for end but received 5 of type number',
    });
    assert.throws(() => new ByteStream(source, { chunkSize: 0 }), {
      message: 'Expected a positive integer for chunkSize but received 0 of type number',
    });
    assert.throws(() => new ByteStream(source, { size: 1 } as never), {
      message: 'Unknown option size for ByteStream; known options: start, end, chunkSize, highWaterMark, autoClose',
    });
    assert.throws(() => new ByteStream({} as never), {
      code: ErrorCode.INVALID_OPTION,
      message: 'Expected a ByteSource for source but received [object] of type object',
    });
  });
});

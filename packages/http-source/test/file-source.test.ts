import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { ErrorCode } from '@framepipe/common';
import { FileSource } from '../src/file-source.ts';
import { seededBytes, seededRandom } from '../../../test/support/range-server.ts';

const SIZE = 3 * 1024 * 1024;
const video = seededBytes(SIZE, 2);

describe('FileSource', () => {
  let dir: string;
  let file: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'framepipe-file-source-'));
    file = path.join(dir, 'video.mp4');
    await fs.writeFile(file, video);
  });
  after(() => fs.rm(dir, { recursive: true, force: true }));

  test('size and the exact bytes at random offsets; bytesRead counts them', async () => {
    const source = new FileSource(file);
    try {
      await source.open();
      assert.equal(source.size, SIZE);
      const random = seededRandom(7);
      let delivered = 0;
      for (let i = 0; i < 300; i++) {
        const offset = Math.floor(random() * SIZE * 1.02);
        const length = Math.floor(random() * 300 * 1024);
        const bytes = await source.read(offset, length);
        const expected = video.subarray(Math.min(offset, SIZE), Math.min(offset + length, SIZE));
        assert.ok(bytes.equals(expected), `bytes differ at ${offset}+${length}`);
        delivered += bytes.length;
      }
      assert.equal(source.bytesRead, delivered);
    } finally {
      await source.close();
    }
  });

  test('end of file', async () => {
    const source = new FileSource(pathToFileURL(file));
    try {
      assert.equal(source.path, file);
      assert.ok((await source.read(SIZE - 10, 100)).equals(video.subarray(SIZE - 10)));
      assert.equal((await source.read(SIZE, 10)).length, 0);
      assert.equal((await source.read(SIZE + 1, 10)).length, 0);
    } finally {
      await source.close();
    }
  });

  test('a relative path is resolved against the working directory', () => {
    assert.equal(new FileSource('some/video.mp4').path, path.resolve('some/video.mp4'));
  });

  test('a missing file → FILE_NOT_FOUND naming the path', async () => {
    const missing = path.join(dir, 'missing.mp4');
    const source = new FileSource(missing);
    await assert.rejects(source.open(), { code: ErrorCode.FILE_NOT_FOUND, source: missing, message: `File not found: ${missing}` });
    await source.close();
  });

  test('a directory → FILE_NOT_FOUND saying so', async () => {
    const source = new FileSource(dir);
    await assert.rejects(source.open(), { code: ErrorCode.FILE_NOT_FOUND, message: `Expected a file but ${dir} is a directory` });
    await source.close();
  });

  test('reads after close() → ABORTED', async () => {
    const source = new FileSource(file);
    await source.open();
    await source.close();
    await assert.rejects(source.read(0, 10), { code: ErrorCode.ABORTED });
  });

  test('a bad path → INVALID_OPTION', () => {
    assert.throws(() => new FileSource(''), {
      code: ErrorCode.INVALID_OPTION,
      message: 'Expected a file path or a file: URL for path but received "" of type string',
    });
  });
});

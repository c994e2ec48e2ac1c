import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ErrorCode } from '@framepipe/common';
import { FileSource } from '../src/file-source.ts';
import { HttpSource } from '../src/http-source.ts';
import { openByteSource } from '../src/open-source.ts';
import type { ByteSource } from '../src/byte-source.ts';
import { seededBytes, startRangeServer, type RangeServer } from '../../../test/support/range-server.ts';

const video = seededBytes(64 * 1024, 3);
const EXPECTED = 'Expected a URL, a path, { url, headers } or a ByteSource for source but received';

describe('openByteSource', () => {
  let server: RangeServer;
  before(async () => {
    server = await startRangeServer({ files: { '/video.mp4': video }, requireHeaders: { 'x-a': '1', 'x-b': '2' } });
  });
  after(() => server.close());

  test('http and https strings → HttpSource, without any request', () => {
    const before = server.requests.length;
    const source = openByteSource(server.url('/video.mp4'));
    assert.ok(source instanceof HttpSource);
    assert.equal(source.description, server.url('/video.mp4'));
    assert.ok(openByteSource('HTTPS://example.com/a.mp4') instanceof HttpSource);
    assert.equal(server.requests.length, before);
  });

  test('URL objects: http(s) → HttpSource, file: → FileSource', () => {
    assert.ok(openByteSource(new URL('https://example.com/a.mp4')) instanceof HttpSource);
    const file = openByteSource(new URL('file:///tmp/a%20b.mp4'));
    assert.ok(file instanceof FileSource);
    assert.equal(file.description, '/tmp/a b.mp4');
  });

  test('other strings → FileSource with an absolute path', () => {
    const source = openByteSource('videos/clip.mp4');
    assert.ok(source instanceof FileSource);
    assert.equal(source.description, path.resolve('videos/clip.mp4'));
    assert.equal(openByteSource('file:///tmp/x.mp4').description, '/tmp/x.mp4');
  });

  test('a ByteSource is returned as it is', () => {
    const custom: ByteSource = {
      description: 'memory',
      size: 0,
      bytesRead: 0,
      open: async () => {},
      read: async () => Buffer.alloc(0),
      close: async () => {},
    };
    assert.equal(openByteSource(custom), custom);
  });

  test('{ url, headers } merged with the headers of options, both sent', async () => {
    const source = openByteSource({ url: server.url('/video.mp4'), headers: { 'X-A': '1' } }, { headers: { 'x-b': '2', 'x-a': 'overridden' } });
    try {
      assert.ok(source instanceof HttpSource);
      await source.open();
      assert.equal(source.size, video.length);
    } finally {
      await source.close();
    }
    const alone = openByteSource({ url: server.url('/video.mp4'), headers: { 'x-a': '1' } });
    try {
      await assert.rejects(alone.open(), { code: ErrorCode.HTTP_STATUS, status: 401 });
    } finally {
      await alone.close();
    }
  });

  test('options reach the HttpSource (timeout)', { timeout: 5000 }, async () => {
    const stalling = await startRangeServer({ files: { '/video.mp4': video }, stallAfterBytes: 0 });
    const source = openByteSource(stalling.url('/video.mp4'), { timeout: 200, retries: 0 });
    try {
      await assert.rejects(source.open(), { code: ErrorCode.TIMEOUT });
    } finally {
      await source.close();
      await stalling.close();
    }
  });

  const bad: Array<[unknown, string]> = [
    [42, '42 of type number'],
    [null, 'null of type null'],
    [undefined, 'undefined of type undefined'],
    ['', '"" of type string'],
    [{ headers: {} }, '[object] of type object'],
  ];
  for (const [input, received] of bad) {
    test(`a bad input (${received}) → INVALID_OPTION`, () => {
      assert.throws(() => openByteSource(input as never), {
        code: ErrorCode.INVALID_OPTION,
        option: 'source',
        message: `${EXPECTED} ${received}`,
      });
    });
  }

  test('a URL of a scheme no source reads → UNSUPPORTED_SCHEME, said as such (not "file not found"), secrets hidden', () => {
    const cases: Array<[string | URL, string]> = [
      ['ftp://127.0.0.1/clip.mp4', 'ftp://127.0.0.1/clip.mp4'],
      [new URL('ftp://example.com/a.mp4'), 'ftp://example.com/a.mp4'],
      ['s3://bucket/clip.mp4?X-Amz-Signature=abc123', 's3://bucket/clip.mp4?X-Amz-Signature=(hidden)'],
      ['RTSP://user:pw@cam.local/stream', 'rtsp://cam.local/stream'],
    ];
    for (const [input, shown] of cases) {
      const scheme = new URL(String(input)).protocol;
      assert.throws(() => openByteSource(input), {
        code: ErrorCode.UNSUPPORTED_SCHEME,
        source: shown,
        message: `Cannot read ${shown}: framepipe reads http:, https: and file: URLs and local paths, not ${scheme} URLs (download the file, or serve it over HTTP, and give that instead)`,
      });
    }
    // A path with a colon in it is still a path.
    assert.ok(openByteSource('clips/take:1.mp4') instanceof FileSource);
  });

  test('bad options and keys → INVALID_OPTION', () => {
    assert.throws(() => openByteSource('a.mp4', { retry: 3 } as never), {
      message: 'Unknown option retry for openByteSource; known options: headers, timeout, retries, retryTimeLimit, retryDelay, readAhead, maxReadAhead, agent, cacheMemory, cacheDisk',
    });
    assert.throws(() => openByteSource({ url: 'https://example.com/a.mp4', header: {} } as never), {
      message: 'Unknown option header for source; known options: url, headers, timeout, retries, retryTimeLimit, retryDelay, readAhead, maxReadAhead, agent, cacheMemory, cacheDisk',
    });
    assert.throws(() => openByteSource({ url: 'file:///tmp/a.mp4' }), {
      message: 'Expected an http: or https: URL for url but received "file:///tmp/a.mp4" of type string',
    });
    assert.throws(() => openByteSource('https://example.com/a.mp4', { timeout: 0 }), {
      message: 'Expected a positive number for timeout but received 0 of type number',
    });
  });
});

import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { ErrorCode } from '@framepipe/common';
import { HttpSource } from '../src/http-source.ts';
import { parseRange, seededBytes, seededRandom, startRangeServer, type RangeServer, closedPort } from '../../../test/support/range-server.ts';
import { rejectsWith } from '../../../test/support/sources.ts';

const SIZE = 3 * 1024 * 1024;
const KiB = 1024;
const video = seededBytes(SIZE, 1);

function rangeOf(header: string | undefined): [number, number] {
  const match = /^bytes=(\d+)-(\d+)$/.exec(header ?? '');
  assert.ok(match, `not a closed range: ${header}`);
  return [Number(match[1]), Number(match[2])];
}


describe('HttpSource reads', () => {
  let server: RangeServer;
  before(async () => {
    server = await startRangeServer({ files: { '/video.mp4': video, '/small.bin': video.subarray(0, 1000), '/empty.bin': Buffer.alloc(0) } });
  });
  after(() => server.close());

  test('size and the exact bytes at random offsets, with closed ranges only', async () => {
    const first = server.requests.length;
    const source = new HttpSource(server.url('/video.mp4'));
    try {
      await source.open();
      assert.equal(source.size, SIZE);
      const random = seededRandom(42);
      for (let i = 0; i < 300; i++) {
        const offset = Math.floor(random() * SIZE * 1.02);
        const length = Math.floor(random() * 300 * KiB);
        const bytes = await source.read(offset, length);
        const expected = video.subarray(Math.min(offset, SIZE), Math.min(offset + length, SIZE));
        assert.ok(bytes.equals(expected), `bytes differ at ${offset}+${length}`);
      }
      const made = server.requests.slice(first);
      assert.ok(made.length > 10);
      for (const request of made) {
        const [a, b] = rangeOf(request.range);
        assert.ok(a <= b && b < SIZE, `range ${request.range} out of the file`);
      }
      assert.equal(source.bytesRead, server.bytesSent);
    } finally {
      await source.close();
    }
  });

  test('end of file: short read at the end, empty at and past it', async () => {
    const source = new HttpSource(server.url('/video.mp4'));
    try {
      assert.ok((await source.read(SIZE - 10, 100)).equals(video.subarray(SIZE - 10)));
      assert.equal((await source.read(SIZE, 10)).length, 0);
      assert.equal((await source.read(SIZE + 5, 1)).length, 0);
      assert.equal((await source.read(5, 0)).length, 0);
    } finally {
      await source.close();
    }
  });

  test('a file smaller than the first block, and an empty file', async () => {
    const small = new HttpSource(server.url('/small.bin'));
    const empty = new HttpSource(server.url('/empty.bin'));
    try {
      await small.open();
      assert.equal(small.size, 1000);
      assert.ok((await small.read(990, 100)).equals(video.subarray(990, 1000)));
      await empty.open();
      assert.equal(empty.size, 0);
      assert.equal((await empty.read(0, 10)).length, 0);
    } finally {
      await small.close();
      await empty.close();
    }
  });

  test('sequential reads double the block up to maxReadAhead; a seek resets it; one keep-alive connection', async () => {
    const local = await startRangeServer({ files: { '/video.mp4': video } });
    const source = new HttpSource(local.url('/video.mp4'), { readAhead: 64 * KiB, maxReadAhead: 512 * KiB });
    const half = SIZE / 2;
    try {
      await source.open();
      for (let offset = 0; offset < half; offset += 32 * KiB) {
        assert.ok((await source.read(offset, 32 * KiB)).equals(video.subarray(offset, offset + 32 * KiB)));
      }
      const lengths = local.requests.map((request) => {
        const [a, b] = rangeOf(request.range);
        return b - a + 1;
      });
      // 64 + 128 + 256 + 512 + 512 + 512 KiB: the last block reads ahead past the half.
      assert.deepEqual(lengths, [64 * KiB, 128 * KiB, 256 * KiB, 512 * KiB, 512 * KiB, 512 * KiB]);
      const fetched = 1984 * KiB;

      // A seek: the block starts small again, then doubles while the reads go on from there.
      const far = fetched + 64 * KiB;
      assert.ok((await source.read(far, 10)).equals(video.subarray(far, far + 10)));
      assert.deepEqual(rangeOf(local.requests.at(-1)?.range), [far, far + 64 * KiB - 1]);
      await source.read(far + 64 * KiB - 100, 200);
      const [a, b] = rangeOf(local.requests.at(-1)?.range);
      assert.equal(a, far + 64 * KiB);
      assert.equal(b - a + 1, 128 * KiB);

      // Back to bytes fetched before, on either side of the gap left between: only the gap is fetched.
      const before = local.requests.length;
      assert.ok((await source.read(1000, 10)).equals(video.subarray(1000, 1010)));
      assert.equal(local.requests.length, before, 'bytes fetched once are served from the cache');
      assert.ok((await source.read(fetched - 100, 64 * KiB + 200)).equals(video.subarray(fetched - 100, far + 100)));
      assert.deepEqual(rangeOf(local.requests.at(-1)?.range), [fetched, far - 1], 'only the gap is asked for');

      assert.equal(local.connections, 1);
      assert.equal(source.bytesRead, local.bytesSent);
      assert.equal(source.bytesRead, far + 192 * KiB, 'every byte fetched once');
    } finally {
      await source.close();
      await local.close();
    }
  });

  test('concurrent reads are served one request at a time', async () => {
    const local = await startRangeServer({ files: { '/video.mp4': video } });
    const source = new HttpSource(local.url('/video.mp4'), { readAhead: 16 * KiB });
    try {
      const offsets = Array.from({ length: 12 }, (_, i) => i * 250 * KiB);
      const results = await Promise.all(offsets.map((offset) => source.read(offset, 20 * KiB)));
      results.forEach((bytes, i) => assert.ok(bytes.equals(video.subarray(offsets[i], (offsets[i] ?? 0) + 20 * KiB))));
      // Parallel requests would have made the agent open more sockets.
      assert.equal(local.connections, 1);
    } finally {
      await source.close();
      await local.close();
    }
  });

  test('read() before open() opens the source', async () => {
    const source = new HttpSource(server.url('/video.mp4'));
    try {
      assert.ok((await source.read(100, 10)).equals(video.subarray(100, 110)));
      assert.equal(source.size, SIZE);
    } finally {
      await source.close();
    }
  });
});

describe('HttpSource headers', () => {
  let server: RangeServer;
  before(async () => {
    server = await startRangeServer({ files: { '/video.mp4': video }, requireHeaders: { authorization: 'Bearer x' } });
  });
  after(() => server.close());

  test('headers go with every request', async () => {
    const first = server.requests.length;
    const source = new HttpSource(server.url('/video.mp4'), { headers: { Authorization: 'Bearer x' }, readAhead: 1024 });
    try {
      await source.open();
      assert.ok((await source.read(SIZE - 5000, 5000)).equals(video.subarray(SIZE - 5000)));
      const made = server.requests.slice(first);
      assert.equal(made.length, 2);
      for (const request of made) {
        assert.equal(request.headers.authorization, 'Bearer x');
        assert.equal(request.headers['accept-encoding'], 'identity');
      }
    } finally {
      await source.close();
    }
  });

  test('without them the server answers 401', async () => {
    const source = new HttpSource(server.url('/video.mp4'));
    try {
      const error = await rejectsWith(source.open(), ErrorCode.HTTP_STATUS);
      assert.equal(error.status, 401);
      assert.match(error.message, /401/);
    } finally {
      await source.close();
    }
  });
});

describe('HttpSource errors', () => {
  let server: RangeServer;
  before(async () => {
    server = await startRangeServer({
      files: { '/video.mp4': video, '/broken.mp4': video },
      status: { '/broken.mp4': 500 },
    });
  });
  after(() => server.close());

  test('404 → HTTP_STATUS with the status and the URL, credentials removed', async () => {
    const url = server.url('/missing.mp4');
    const withCredentials = url.replace('http://', 'http://user:secret@');
    const source = new HttpSource(withCredentials);
    try {
      assert.equal(source.description, url);
      const error = await rejectsWith(source.open(), ErrorCode.HTTP_STATUS);
      assert.equal(error.status, 404);
      assert.equal(error.source, url);
      assert.ok(error.message.includes(url), error.message);
      assert.ok(error.message.includes('404'), error.message);
      assert.ok(!error.message.includes('secret'));
    } finally {
      await source.close();
    }
  });

  test('500 → HTTP_STATUS 500 once the retries are spent, each attempt listed', async () => {
    const before = server.requests.length;
    const source = new HttpSource(server.url('/broken.mp4'), { readAhead: 256 * KiB, retries: 2, retryDelay: 1 });
    try {
      const error = await rejectsWith(source.open(), ErrorCode.HTTP_STATUS);
      assert.equal(error.status, 500);
      assert.equal(error.attempts?.length, 3);
      assert.match(error.attempts![0]!, /^HTTP 500 /);
      // The last failure, said once: the tries are in error.attempts, not repeated in the message.
      assert.equal(error.message, `HTTP 500 Internal Server Error from ${server.url('/broken.mp4')} (Range: bytes=0-262143) (gave up after 3 attempts)`);
      assert.equal(server.requests.length - before, 3);
    } finally {
      await source.close();
    }
  });

  test('404 is not retried', async () => {
    const before = server.requests.length;
    const source = new HttpSource(server.url('/missing.mp4'), { retryDelay: 1 });
    try {
      const error = await rejectsWith(source.open(), ErrorCode.HTTP_STATUS);
      assert.equal(error.attempts, undefined);
      assert.equal(server.requests.length - before, 1);
    } finally {
      await source.close();
    }
  });

  test('connection refused → UNREACHABLE, after the retries', async () => {
    const url = `http://127.0.0.1:${await closedPort()}/video.mp4`;
    const source = new HttpSource(url, { retries: 1, retryDelay: 1 });
    try {
      const error = await rejectsWith(source.open(), ErrorCode.UNREACHABLE);
      assert.equal(error.attempts?.length, 2);
      assert.match(error.attempts![0]!, /connection refused/);
      assert.equal(
        error.message,
        `Could not reach ${url}: connection refused: no server listens at that address and port (gave up after 2 attempts)`,
      );
      assert.match(String((error.cause as Error).message), /ECONNREFUSED/, "the system's own words stay in the cause");
      assert.equal(error.source, url);
      assert.ok(error.cause);
    } finally {
      await source.close();
    }
  });

  // A stall after some bytes would be retried even with retries: 0 (the try brought bytes): see the resilience tests.
  test('a body stalled before its first byte → TIMEOUT after the timeout (no retries left)', { timeout: 5000 }, async () => {
    const stalling = await startRangeServer({ files: { '/video.mp4': video }, stallAfterBytes: 0 });
    const source = new HttpSource(stalling.url('/video.mp4'), { timeout: 300, retries: 0 });
    try {
      const started = Date.now();
      const error = await rejectsWith(source.open(), ErrorCode.TIMEOUT);
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 250 && elapsed < 2000, `timed out after ${elapsed} ms`);
      assert.ok(error.message.includes(stalling.url('/video.mp4')), error.message);
      assert.match(error.message, /300 ms/);
    } finally {
      await source.close();
      await stalling.close();
    }
  });


  test('a 206 with another range than asked → RANGE_NOT_SUPPORTED', async () => {
    const liar = http.createServer((_req, res) => {
      res.writeHead(206, { 'content-range': `bytes 10-19/${SIZE}`, 'content-length': 10 });
      res.end(video.subarray(10, 20));
    });
    await new Promise<void>((resolve) => liar.listen(0, '127.0.0.1', resolve));
    const source = new HttpSource(`http://127.0.0.1:${(liar.address() as AddressInfo).port}/video.mp4`);
    try {
      const error = await rejectsWith(source.open(), ErrorCode.RANGE_NOT_SUPPORTED);
      assert.match(error.message, /bytes 10-19/);
    } finally {
      await source.close();
      liar.closeAllConnections();
      await new Promise((resolve) => liar.close(resolve));
    }
  });

  test('an abort signal stops a pending request → ABORTED', { timeout: 5000 }, async () => {
    const stalling = await startRangeServer({ files: { '/video.mp4': video }, stallAfterBytes: 1000 });
    const source = new HttpSource(stalling.url('/video.mp4'), { timeout: 60_000 });
    try {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 100);
      const started = Date.now();
      await rejectsWith(source.open(controller.signal), ErrorCode.ABORTED);
      assert.ok(Date.now() - started < 1000);
      await rejectsWith(source.read(0, 10, AbortSignal.abort()), ErrorCode.ABORTED);
    } finally {
      await source.close();
      await stalling.close();
    }
  });

  test('close() rejects the read in flight and later reads', { timeout: 5000 }, async () => {
    const stalling = await startRangeServer({ files: { '/video.mp4': video }, stallAfterBytes: 1000 });
    const source = new HttpSource(stalling.url('/video.mp4'));
    try {
      const pending = source.open();
      const queued = source.read(0, 10);
      setTimeout(() => void source.close(), 100);
      await rejectsWith(pending, ErrorCode.ABORTED);
      await rejectsWith(queued, ErrorCode.ABORTED);
      await rejectsWith(source.read(0, 10), ErrorCode.ABORTED);
    } finally {
      await source.close();
      await stalling.close();
    }
  });
});

describe('HttpSource options', () => {
  const url = 'http://127.0.0.1:1/video.mp4';
  const cases: Array<[string, unknown, string]> = [
    ['timeout', { timeout: -1 }, 'Expected a positive number for timeout but received -1 of type number'],
    ['timeout', { timeout: '5s' }, 'Expected a positive number for timeout but received "5s" of type string'],
    ['readAhead', { readAhead: 0 }, 'Expected a positive integer for readAhead but received 0 of type number'],
    ['readAhead', { readAhead: 1.5 }, 'Expected a positive integer for readAhead but received 1.5 of type number'],
    ['maxReadAhead', { readAhead: 1024, maxReadAhead: 512 }, 'Expected an integer >= 1024 for maxReadAhead but received 512 of type number'],
    ['headers', { headers: 'x' }, 'Expected an object of header names to strings for headers but received "x" of type string'],
    ['headers.x-n', { headers: { 'x-n': 1 } }, 'Expected a string for headers.x-n but received 1 of type number'],
    [
      'headers.Range',
      { headers: { Range: 'bytes=0-' } },
      'Expected no Range header (the source sets it on every request) for headers.Range but received "bytes=0-" of type string',
    ],
    ['agent.http', { agent: { http: {} } }, 'Expected an http.Agent for agent.http but received [object] of type object'],
    ['retries', { retries: -1 }, 'Expected a non-negative integer for retries but received -1 of type number'],
    ['retryDelay', { retryDelay: 0.5 }, 'Expected a non-negative integer for retryDelay but received 0.5 of type number'],
    ['retryTimeLimit', { retryTimeLimit: 0 }, 'Expected a positive number for retryTimeLimit but received 0 of type number'],
    [
      'timout',
      { timout: 5 },
      'Unknown option timout for HttpSource; known options: headers, timeout, retries, retryTimeLimit, retryDelay, readAhead, maxReadAhead, agent, cacheMemory, cacheDisk',
    ],
    ['HttpSource options', 5, 'Expected an object for HttpSource options but received 5 of type number'],
  ];
  for (const [option, options, message] of cases) {
    test(`${option}: ${JSON.stringify(options)}`, () => {
      assert.throws(() => new HttpSource(url, options as never), { code: ErrorCode.INVALID_OPTION, option, message });
    });
  }

  test('url', () => {
    assert.throws(() => new HttpSource('ftp://example.com/a.mp4'), {
      code: ErrorCode.INVALID_OPTION,
      message: 'Expected an http: or https: URL for url but received "ftp://example.com/a.mp4" of type string',
    });
    assert.throws(() => new HttpSource('not a url'), { code: ErrorCode.INVALID_OPTION });
  });

  test('size before open() is a programming error', () => {
    assert.throws(() => new HttpSource(url).size, /only after open\(\)/);
  });
});

describe('HttpSource credentials', () => {
  let storage: RangeServer;
  let front: http.Server;
  let frontUrl: string;
  const atThere: http.IncomingHttpHeaders[] = [];
  before(async () => {
    storage = await startRangeServer({ files: { '/video.mp4': video } });
    // Redirects /here to /there on the same origin (which serves the video), anything else to the storage server.
    front = http.createServer((request, response) => {
      if (request.url === '/here') return void response.writeHead(302, { location: '/there' }).end();
      if (request.url === '/there') {
        atThere.push(request.headers);
        const range = parseRange(request.headers.range, video.length);
        if (!Array.isArray(range)) return void response.writeHead(416).end();
        const [first, last] = range;
        response.writeHead(206, { 'content-range': `bytes ${first}-${last}/${video.length}`, 'content-length': last - first + 1 });
        return void response.end(video.subarray(first, last + 1));
      }
      response.writeHead(302, { location: storage.url('/video.mp4') }).end();
    });
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    frontUrl = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;
  });
  after(async () => {
    await storage.close();
    front.closeAllConnections();
    await new Promise((resolve) => front.close(resolve));
  });

  test('headers given to the source are not sent to another origin after a redirect', async () => {
    const first = storage.requests.length;
    const source = new HttpSource(`${frontUrl}/away`, { headers: { 'x-api-key': 'k3y', Authorization: 'Bearer t0ken', 'x-trace': '1' } });
    try {
      await source.open();
      assert.deepEqual(await source.read(0, 16), video.subarray(0, 16));
    } finally {
      await source.close();
    }
    const followed = storage.requests.slice(first);
    assert.ok(followed.length > 0, 'the redirect was followed');
    for (const request of followed) {
      assert.equal(request.headers['x-api-key'], undefined);
      assert.equal(request.headers.authorization, undefined);
      assert.equal(request.headers['x-trace'], undefined);
      assert.match(request.range ?? '', /^bytes=\d+-\d+$/, 'the range still goes');
    }
  });

  test('headers given to the source do follow a redirect on its own origin', async () => {
    const source = new HttpSource(`${frontUrl}/here`, { headers: { 'x-api-key': 'k3y', 'x-trace': '1' } });
    try {
      await source.open();
      assert.deepEqual(await source.read(1000, 16), video.subarray(1000, 1016));
    } finally {
      await source.close();
    }
    assert.ok(atThere.length > 0, 'the redirect was followed');
    for (const headers of atThere) {
      assert.equal(headers['x-api-key'], 'k3y');
      assert.equal(headers['x-trace'], '1');
    }
  });

  test('credentials in the query string (presigned URLs, tokens) never show in a description or an error', async () => {
    const query = '?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20261205&X-Amz-Signature=0123abcd&X-Amz-Security-Token=zz9&token=t0k&id=7';
    const shown = '?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=(hidden)&X-Amz-Signature=(hidden)&X-Amz-Security-Token=(hidden)&token=(hidden)&id=7';
    const url = `http://127.0.0.1:${await closedPort()}/video.mp4`;
    const source = new HttpSource(`${url}${query}`, { retries: 1, retryDelay: 1 });
    try {
      assert.equal(source.description, `${url}${shown}`);
      const error = await rejectsWith(source.open(), ErrorCode.UNREACHABLE);
      assert.equal(error.source, `${url}${shown}`);
      for (const text of [error.message, ...error.attempts!]) {
        assert.ok(text.includes(`${url}${shown}`), text);
        assert.doesNotMatch(text, /0123abcd|AKIA|zz9|t0k/);
      }
    } finally {
      await source.close();
    }
  });

  test('each retry is announced on the retry channel before its wait: the failure, attempt n of m, the wait', async () => {
    const { subscribe, unsubscribe } = await import('node:diagnostics_channel');
    const { RETRY_CHANNEL } = await import('../src/retry.ts');
    const url = `http://127.0.0.1:${await closedPort()}/video.mp4`;
    const events: Array<{ error: { code: string; message: string }; attempt: number; attempts: number; wait: number }> = [];
    const listener = (event: unknown) => void events.push(event as (typeof events)[number]);
    subscribe(RETRY_CHANNEL, listener);
    const source = new HttpSource(url, { retries: 2, retryDelay: 20 });
    try {
      const error = await rejectsWith(source.open(), ErrorCode.UNREACHABLE);
      assert.deepEqual(events.map(({ attempt, attempts }) => [attempt, attempts]), [[1, 3], [2, 3]], 'two retries of three tries; the last failure is not retried');
      for (const event of events) {
        assert.equal(event.error.code, ErrorCode.UNREACHABLE);
        assert.match(event.error.message, /^Could not reach .*: connection refused/);
      }
      // 20 ms, then 40 ms, each ±20%.
      assert.ok(events[0]!.wait >= 16 && events[0]!.wait <= 24, `${events[0]!.wait}`);
      assert.ok(events[1]!.wait >= 32 && events[1]!.wait <= 48, `${events[1]!.wait}`);
      assert.deepEqual(error.attempts, [...events.map((event) => event.error.message), error.attempts!.at(-1)]);
    } finally {
      unsubscribe(RETRY_CHANNEL, listener);
      await source.close();
    }
  });

  test('errors keep got as their cause, without the request headers showing', async () => {
    const port = await closedPort();
    const source = new HttpSource(`http://127.0.0.1:${port}/video.mp4`, { headers: { 'x-api-key': 's3cret-key' }, retries: 1, retryDelay: 1 });
    try {
      const error = await rejectsWith(source.open(), ErrorCode.UNREACHABLE);
      assert.ok(error.cause, 'the cause is kept');
      const { inspect } = await import('node:util');
      assert.doesNotMatch(inspect(error, { depth: 10 }), /s3cret-key/);
    } finally {
      await source.close();
    }
  });
});

describe('HttpSource resilience', () => {
  /** A server whose every answer is decided by `answer`, with each request's headers recorded. */
  async function scriptedServer(answer: (req: http.IncomingMessage, res: http.ServerResponse, n: number) => void) {
    const seen: http.IncomingHttpHeaders[] = [];
    const times: number[] = [];
    const server = http.createServer((req, res) => {
      seen.push(req.headers);
      times.push(Date.now());
      answer(req, res, seen.length - 1);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/video.mp4`,
      seen,
      times,
      close: async () => {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      },
    };
  }

  /** A 206 for the asked range of `body`; `cutAfter` sends only that many bytes, then drops the connection. */
  function partial(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer, headers: http.OutgoingHttpHeaders = {}, cutAfter?: number) {
    const range = parseRange(req.headers.range, body.length);
    assert.ok(Array.isArray(range), `a satisfiable range: ${req.headers.range}`);
    const [first, end] = range;
    res.writeHead(206, { 'content-range': `bytes ${first}-${end}/${body.length}`, 'content-length': end - first + 1, ...headers });
    if (cutAfter === undefined) return res.end(body.subarray(first, end + 1));
    // end() the socket rather than destroy it, so every byte written reaches the client before it is cut.
    res.write(body.subarray(first, first + cutAfter), () => res.socket?.end());
  }

  test('a body cut after k bytes is resumed at exactly that byte', async () => {
    const server = await scriptedServer((req, res, n) => partial(req, res, video, {}, n === 1 ? 70_000 : undefined));
    const source = new HttpSource(server.url, { readAhead: 256 * KiB, retryDelay: 1 });
    try {
      await source.open();
      const bytes = await source.read(300_000, 200_000);
      assert.deepEqual(bytes, video.subarray(300_000, 500_000));
      const ranges = server.seen.map((h) => h.range);
      assert.equal(ranges[1], `bytes=300000-${300_000 + 256 * KiB - 1}`);
      assert.equal(ranges[2], `bytes=${300_000 + 70_000}-${300_000 + 256 * KiB - 1}`);
    } finally {
      await source.close();
      await server.close();
    }
  });

  test('a try that brings bytes starts the retry count again: with retries: 1, cut, 503, cut, 503, cut, 503 still succeeds', async () => {
    const { subscribe, unsubscribe } = await import('node:diagnostics_channel');
    const { RETRY_CHANNEL } = await import('../src/retry.ts');
    // Odd answers are a 503, even ones are cut after 10,000 bytes, from the seventh on the answers are whole.
    const server = await scriptedServer((req, res, n) => {
      if (n >= 6) return partial(req, res, video);
      if (n % 2 === 1) return void res.writeHead(503).end();
      partial(req, res, video, {}, 10_000);
    });
    const events: Array<{ error: { code: string; message: string }; attempt: number; attempts: number; received: number; wait: number }> = [];
    const listener = (event: unknown) => void events.push(event as (typeof events)[number]);
    subscribe(RETRY_CHANNEL, listener);
    const source = new HttpSource(server.url, { readAhead: 256 * KiB, retries: 1, retryDelay: 20 });
    try {
      await source.open();
      assert.deepEqual(await source.read(0, 256 * KiB), video.subarray(0, 256 * KiB));
      assert.deepEqual(
        server.seen.map((h) => h.range),
        [0, 10_000, 10_000, 20_000, 20_000, 30_000, 30_000].map((from) => `bytes=${from}-${256 * KiB - 1}`),
        'each try asks from the first byte not received',
      );
      assert.equal(source.retriesMade, 6);
      // A cut: no count of tries without bytes, and what it brought; a 503 after it: the first of such tries.
      assert.deepEqual(events.map(({ attempt, attempts, received }) => [attempt, attempts, received]), [
        [0, 2, 10_000],
        [1, 2, 0],
        [0, 2, 10_000],
        [1, 2, 0],
        [0, 2, 10_000],
        [1, 2, 0],
      ]);
      assert.equal(events[0]!.error.message, `The body of bytes=0-${256 * KiB - 1} from ${server.url} was cut after 10000 of ${256 * KiB} bytes`);
      assert.equal(events[2]!.error.message, `The body of bytes=10000-${256 * KiB - 1} from ${server.url} was cut after 10000 of ${256 * KiB - 10_000} bytes`);
      assert.match(events[1]!.error.message, /^HTTP 503 /);
      // The waits never double: each try without bytes is the first in a row (20 ms ±20%).
      for (const event of events) assert.ok(event.wait >= 16 && event.wait <= 24, `${event.wait}`);
    } finally {
      unsubscribe(RETRY_CHANNEL, listener);
      await source.close();
      await server.close();
    }
  });

  test('tries without bytes after one with bytes still end the read: cut, 503, 503 with retries: 1', async () => {
    const server = await scriptedServer((req, res, n) => {
      if (n >= 1) return void res.writeHead(503).end();
      partial(req, res, video, {}, 10_000);
    });
    const source = new HttpSource(server.url, { readAhead: 256 * KiB, retries: 1, retryDelay: 1 });
    try {
      const error = await rejectsWith(source.open(), ErrorCode.HTTP_STATUS);
      assert.equal(server.seen.length, 3);
      assert.equal(error.message, `HTTP 503 Service Unavailable from ${server.url} (Range: bytes=10000-${256 * KiB - 1}) (gave up after 3 attempts, the last 2 without a new byte)`);
      assert.deepEqual(error.attempts?.[0], `The body of bytes=0-${256 * KiB - 1} from ${server.url} was cut after 10000 of ${256 * KiB} bytes`);
    } finally {
      await source.close();
      await server.close();
    }
  });

  test('a body that ends early without an error is a fault to retry, not data', async () => {
    const server = await scriptedServer((req, res, n) => {
      if (n !== 0) return partial(req, res, video);
      // Connection: close and no length: the body "ends" wherever the server stops.
      res.writeHead(206, { 'content-range': `bytes 0-${256 * KiB - 1}/${SIZE}`, connection: 'close' });
      res.end(video.subarray(0, 1000));
    });
    const source = new HttpSource(server.url, { readAhead: 256 * KiB, retryDelay: 1 });
    try {
      await source.open();
      assert.deepEqual(await source.read(0, 256 * KiB), video.subarray(0, 256 * KiB));
      assert.equal(server.seen[1]?.range, `bytes=1000-${256 * KiB - 1}`);
    } finally {
      await source.close();
      await server.close();
    }
  });

  test("429 with Retry-After: the retry waits as long as the server asks", async () => {
    const server = await scriptedServer((req, res, n) => {
      if (n === 0) {
        res.writeHead(429, { 'retry-after': '1' });
        return res.end();
      }
      partial(req, res, video);
    });
    const source = new HttpSource(server.url, { retryDelay: 1 });
    try {
      await source.open();
      const gap = server.times[1]! - server.times[0]!;
      assert.ok(gap >= 950, `retried after ${gap} ms`);
    } finally {
      await source.close();
      await server.close();
    }
  });

  test('another ETag on a later answer → SOURCE_CHANGED; If-Range carries the first one', async () => {
    const server = await scriptedServer((req, res, n) => partial(req, res, video, { etag: n < 2 ? '"v1"' : '"v2"' }));
    const source = new HttpSource(server.url, { retryDelay: 1 });
    try {
      await source.open();
      await source.read(SIZE - 1000, 1000);
      const error = await rejectsWith(source.read(1_000_000, 10), ErrorCode.SOURCE_CHANGED);
      assert.match(error.message, /"v1" to "v2"/);
      assert.equal(server.seen[0]?.['if-range'], undefined);
      assert.equal(server.seen[1]?.['if-range'], '"v1"');
    } finally {
      await source.close();
      await server.close();
    }
  });

  test('a 200 to If-Range with a new version → SOURCE_CHANGED, never mixed bytes', async () => {
    const changed = seededBytes(SIZE, 2);
    const server = await scriptedServer((req, res, n) => {
      if (n === 0) return partial(req, res, video, { 'last-modified': 'Mon, 02 Nov 2026 10:00:00 GMT' });
      res.writeHead(200, { 'content-length': changed.length, 'last-modified': 'Tue, 24 Nov 2026 10:00:00 GMT' });
      res.end(changed);
    });
    const source = new HttpSource(server.url, { retryDelay: 1 });
    try {
      await source.open();
      await rejectsWith(source.read(2_000_000, 10), ErrorCode.SOURCE_CHANGED);
      assert.equal(server.seen[1]?.['if-range'], 'Mon, 02 Nov 2026 10:00:00 GMT');
    } finally {
      await source.close();
      await server.close();
    }
  });

  test('a new size → SOURCE_CHANGED', async () => {
    const longer = Buffer.concat([video, Buffer.alloc(10)]);
    const server = await scriptedServer((req, res, n) => partial(req, res, n === 0 ? video : longer));
    const source = new HttpSource(server.url, { retryDelay: 1 });
    try {
      await source.open();
      const error = await rejectsWith(source.read(2_000_000, 10), ErrorCode.SOURCE_CHANGED);
      assert.match(error.message, new RegExp(`${SIZE} to ${SIZE + 10} bytes`));
    } finally {
      await source.close();
      await server.close();
    }
  });

  test('a server that ignores Range: reads come from a spooled download, which close() removes', async () => {
    const ignoring = await startRangeServer({ files: { '/video.mp4': video }, ignoreRange: true });
    const source = new HttpSource(ignoring.url('/video.mp4'), { retryDelay: 1 });
    try {
      await source.open();
      assert.equal(source.size, SIZE);
      const random = seededRandom(5);
      for (let i = 0; i < 30; i++) {
        const offset = Math.floor(random() * SIZE);
        const length = Math.floor(random() * 300_000);
        assert.deepEqual(await source.read(offset, length), video.subarray(offset, offset + length));
      }
      assert.deepEqual(await source.read(SIZE - 10, 100), video.subarray(SIZE - 10));
      // One dropped answer at open, then one whole download.
      assert.equal(ignoring.requests.length, 2);
    } finally {
      await source.close();
      await ignoring.close();
    }
    assert.deepEqual(await spoolDirs(), []);
  });

  test('a spooled download that is cut resumes where it stopped', async () => {
    let downloads = 0;
    const server = await scriptedServer((req, res) => {
      res.writeHead(200, { 'content-length': SIZE, etag: '"same"' });
      // The second request is the download: cut it at 1 MiB; the third skips the bytes the spool already has.
      if (req.headers.range === undefined && ++downloads === 1) return res.write(video.subarray(0, 1024 * KiB), () => res.socket?.end());
      res.end(video);
    });
    const { subscribe, unsubscribe } = await import('node:diagnostics_channel');
    const { RETRY_CHANNEL } = await import('../src/retry.ts');
    const events: Array<{ error: { message: string }; received: number }> = [];
    const listener = (event: unknown) => void events.push(event as (typeof events)[number]);
    subscribe(RETRY_CHANNEL, listener);
    const source = new HttpSource(server.url, { retryDelay: 1 });
    try {
      await source.open();
      assert.deepEqual(await source.read(SIZE - 5000, 5000), video.subarray(SIZE - 5000));
      assert.deepEqual(await source.read(0, 5000), video.subarray(0, 5000));
      // Where the spool stopped: bytes still buffered in the paused response when it broke off are asked again.
      const resumedAt = Number(/^bytes=(\d+)-$/.exec(server.seen[2]?.range ?? '')?.[1]);
      assert.ok(resumedAt > 0 && resumedAt <= 1024 * KiB, `resumed at ${server.seen[2]?.range}`);
      assert.equal(server.seen[2]?.['if-range'], '"same"');
      assert.deepEqual(
        events.map(({ error, received }) => [error.message, received]),
        [[`The body of the whole file from ${server.url} was cut after ${resumedAt} of ${SIZE} bytes`, resumedAt]],
      );
    } finally {
      unsubscribe(RETRY_CHANNEL, listener);
      await source.close();
      await server.close();
    }
  });

  async function spoolDirs(): Promise<string[]> {
    const { readdir } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { SPOOL_PREFIX } = await import('../src/spool.ts');
    return (await readdir(tmpdir())).filter((name) => name.startsWith(SPOOL_PREFIX) && !preexisting.has(name));
  }
  const preexisting = new Set<string>();
  before(async () => {
    for (const name of await spoolDirs()) preexisting.add(name);
  });
});

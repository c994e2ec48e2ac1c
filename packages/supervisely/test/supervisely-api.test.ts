import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { inspect } from 'node:util';
import { ErrorCode, FramepipeError } from '@framepipe/common';
import { isByteSource } from '@framepipe/http-source';
import { H264_MP4_MOOV_END, makeFixture } from '../../../test/support/fixtures.ts';
import { rejectsWith } from '../../../test/support/sources.ts';
import { SuperviselyApi, SuperviselyVideoSource } from '../src/index.ts';
import { STAND_IN_STORAGE_HOST, startStandInServer, type StandInServer } from '../src/stand-in-server.ts';
import { closedPort } from '../../../test/support/range-server.ts';

/** A loopback server answering every request with `handler`; `null` never answers. */
async function startServer(handler: ((req: http.IncomingMessage, res: http.ServerResponse) => void) | null): Promise<{ address: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => handler?.(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    address: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}


/** Runs `fn` against a server answering `status` with `body` and `headers`; returns the error `videoInfo` gave. */
async function infoErrorFrom(status: number, body: string, headers: Record<string, string>, code: string): Promise<FramepipeError> {
  const server = await startServer((_req, res) => {
    res.writeHead(status, headers);
    res.end(body);
  });
  try {
    const api = new SuperviselyApi({ serverAddress: server.address, token: 'tok' });
    const error = await rejectsWith(api.videoInfo(42, { retries: 0 }), code);
    assert.equal(error.source, `${server.address}/public/api/v3/videos.info`);
    assert.ok(error.cause instanceof Error, 'the answer is kept as cause');
    return error;
  } finally {
    await server.close();
  }
}

let standIn: StandInServer;
let file: Buffer;
let api: SuperviselyApi;

before(async () => {
  const path = await makeFixture(H264_MP4_MOOV_END);
  file = await readFile(path);
  standIn = await startStandInServer({ videos: { 42: { path, name: 'clip one.mp4' }, 43: { path, ready: false } } });
  api = new SuperviselyApi({ serverAddress: standIn.address, token: standIn.token });
});
after(() => standIn.close());

describe('videoInfo', () => {
  test('POSTs to /public/api/v3/videos.info with the key and returns the answer, unknown fields included', async () => {
    const first = standIn.requests.length;
    const info = await api.videoInfo(42);
    assert.equal(info.id, 42);
    assert.equal(info.name, 'clip one.mp4');
    assert.equal(info.fileMeta?.size, String(file.length));
    assert.equal(info.fileMeta?.mime, 'video/mp4');
    assert.equal(new URL(info.fullStorageUrl!).host, STAND_IN_STORAGE_HOST);
    assert.equal(info['processingPath'], '1/42', 'unknown fields stay reachable');
    assert.deepEqual(
      standIn.requests.slice(first).map(({ method, path, apiKey, status }) => ({ method, path, apiKey, status })),
      [{ method: 'POST', path: '/public/api/v3/videos.info', apiKey: standIn.token, status: 200 }],
    );
  });

  test('a video not ready has no fullStorageUrl', async () => {
    const info = await api.videoInfo(43);
    assert.equal(info.fullStorageUrl, undefined);
  });

  test('wrong token: AUTH_FAILED with status 401, never showing the token', async () => {
    const wrong = 'W'.repeat(128);
    const error = await rejectsWith(new SuperviselyApi({ serverAddress: standIn.address, token: wrong }).videoInfo(42), ErrorCode.AUTH_FAILED);
    assert.equal(error.status, 401);
    assert.equal(error.source, `${standIn.address}/public/api/v3/videos.info`);
    assert.match(error.message, /rejected the API token \(HTTP 401: Unauthorized - Invalid or missing x-api-key\): the token is wrong or expired\./);
    assert.match(error.message, /Account settings > API token .* API_TOKEN in ~\/supervisely\.env/);
    for (const shown of [error.message, inspect(error, { depth: Infinity }), JSON.stringify(error)]) assert.ok(!shown.includes(wrong));
  });

  test('403: AUTH_FAILED with status 403', async () => {
    const error = await infoErrorFrom(403, JSON.stringify({ error: 'Forbidden' }), { 'content-type': 'application/json' }, ErrorCode.AUTH_FAILED);
    assert.equal(error.status, 403);
    assert.match(error.message, /\(HTTP 403: Forbidden\): the token is wrong or expired, or it may not access video 42\./);
  });

  test('unknown id: VIDEO_NOT_FOUND with status 404', async () => {
    const error = await rejectsWith(api.videoInfo(7), ErrorCode.VIDEO_NOT_FOUND);
    assert.equal(error.status, 404);
    assert.equal(
      error.message,
      `No video with id 7 is visible to this API token on ${standIn.address} (HTTP 404: Not found - Video 7 not found): ` +
        `check the video id, and that the token belongs to a member of the video's team`,
    );
  });

  test('a 404 web page is not taken for a missing video', async () => {
    const error = await infoErrorFrom(404, '<html>nginx</html>', { 'content-type': 'text/html' }, ErrorCode.HTTP_STATUS);
    assert.equal(error.status, 404);
    assert.match(error.message, /the answer is a web page: is SERVER_ADDRESS the address of a Supervisely instance\?$/);
  });

  test('other statuses: HTTP_STATUS with the status and what the server said', async () => {
    const body = JSON.stringify({ error: 'Internal error', details: { message: 'database down' } });
    const error = await infoErrorFrom(500, body, { 'content-type': 'application/json' }, ErrorCode.HTTP_STATUS);
    assert.equal(error.status, 500);
    assert.match(error.message, /answered HTTP 500 Internal Server Error to videos.info for video 42: Internal error - database down$/);
  });

  test('a redirect is not followed (the key stays on this host) and says what to set', async () => {
    const error = await infoErrorFrom(301, '', { location: 'https://app.example/public/api/v3/videos.info' }, ErrorCode.HTTP_STATUS);
    assert.equal(error.status, 301);
    assert.match(error.message, /redirects API calls \(HTTP 301 to https:\/\/app\.example\/public\/api\/v3\/videos\.info\): set SERVER_ADDRESS/);
  });

  test('an answer that is not JSON: INVALID_DATA', async () => {
    const error = await infoErrorFrom(200, '<html>hello</html>', { 'content-type': 'text/html' }, ErrorCode.INVALID_DATA);
    assert.ok(error.cause instanceof SyntaxError);
    assert.match(error.message, /with something that is not JSON \(text\/html, 18 characters: "<html>hello<\/html>"\): is SERVER_ADDRESS the address/);
  });

  test('server down: UNREACHABLE naming the address and SERVER_ADDRESS', async () => {
    const address = `http://127.0.0.1:${await closedPort()}`;
    const secret = 'S'.repeat(128);
    const api = new SuperviselyApi({ serverAddress: address, token: secret });
    const error = await rejectsWith(api.videoInfo(42, { retries: 0 }), ErrorCode.UNREACHABLE);
    assert.equal(error.message, `Could not reach Supervisely at ${address} (ECONNREFUSED): check SERVER_ADDRESS and your network`);
    const retried = await rejectsWith(api.videoInfo(42, { retries: 2, retryDelay: 1 }), ErrorCode.UNREACHABLE);
    assert.match(retried.message, /ECONNREFUSED.*\(gave up after 3 attempts\)$/);
    assert.equal(retried.attempts?.length, 3);
    assert.equal(error.source, `${address}/public/api/v3/videos.info`);
    assert.ok(error.cause instanceof Error);
    assert.ok(!inspect(error, { depth: Infinity }).includes(secret), 'the request options of the cause are not printed');
  });

  test('no answer within timeout: TIMEOUT', async () => {
    const silent = await startServer(null);
    try {
      const slow = new SuperviselyApi({ serverAddress: silent.address, token: 'tok', timeout: 150 });
      const started = Date.now();
      const error = await rejectsWith(slow.videoInfo(42, { retries: 1, retryDelay: 1 }), ErrorCode.TIMEOUT);
      assert.ok(Date.now() - started < 5000);
      assert.match(error.message, /^No answer from http:\/\/127\.0\.0\.1:\d+ for 150 ms \(videos\.info\)/);
      assert.equal(error.attempts?.length, 2, 'a timeout is retried');
      const perCall = await rejectsWith(slow.videoInfo(42, { timeout: 100, retries: 0 }), ErrorCode.TIMEOUT);
      assert.match(perCall.message, / for 100 ms /, 'a per-call timeout wins');
    } finally {
      await silent.close();
    }
  });

  test('an aborted signal: ABORTED', async () => {
    const silent = await startServer(null);
    try {
      const controller = new AbortController();
      const pending = new SuperviselyApi({ serverAddress: silent.address, token: 'tok' }).videoInfo(42, { signal: controller.signal });
      setTimeout(() => controller.abort(), 50);
      await rejectsWith(pending, ErrorCode.ABORTED);
    } finally {
      await silent.close();
    }
  });

  test('a bad id rejects before any request', async () => {
    const first = standIn.requests.length;
    for (const id of [0, -1, 1.5, '42', Number.NaN]) {
      const error = await rejectsWith(api.videoInfo(id as number), ErrorCode.INVALID_OPTION);
      assert.equal(error.option, 'videoId');
    }
    assert.equal(standIn.requests.length, first);
  });

  test('SUPERVISELY_API_SERVER_ADDRESS: API calls go to <address>/v3/..., the file is read from the server address', async () => {
    // The internal API service answers /v3/<method> at its root; here it forwards to the stand-in's public API.
    const internalSeen: string[] = [];
    const internal = await startServer((req, res) => {
      internalSeen.push(`${req.method} ${req.url}`);
      const forward = http.request(`${standIn.address}/public/api${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      req.pipe(forward);
    });
    try {
      const viaInternal = new SuperviselyApi({ serverAddress: standIn.address, token: standIn.token, apiServerAddress: `${internal.address}/` });
      assert.equal(viaInternal.apiServerAddress, internal.address);
      const source = viaInternal.videoSource(42);
      const first = standIn.requests.length;
      try {
        await source.open();
        assert.ok((await source.read(0, 1000)).equals(file.subarray(0, 1000)));
      } finally {
        await source.close();
      }
      assert.deepEqual(internalSeen, ['POST /v3/videos.info']);
      assert.ok(standIn.requests.slice(first).some((r) => r.method === 'GET' && r.path.startsWith('/stand-in-storage/')));
    } finally {
      await internal.close();
    }
  });
});

describe('videoSource', () => {
  test('a ByteSource that does no I/O until opened', async () => {
    const first = standIn.requests.length;
    const source = api.videoSource(42);
    assert.ok(isByteSource(source));
    assert.ok(source instanceof SuperviselyVideoSource);
    assert.equal(source.description, `supervisely video 42 on ${standIn.address}`);
    assert.equal(source.info, undefined);
    assert.equal(source.url, undefined);
    assert.equal(source.bytesRead, 0);
    assert.throws(() => source.size, /known only after open/);
    await source.close();
    assert.equal(standIn.requests.length, first, 'creating and closing an unopened source makes no request');
  });

  test('open resolves the video once, on the server address, and reads the file with the key', async () => {
    const source = api.videoSource(42);
    const first = standIn.requests.length;
    try {
      await Promise.all([source.open(), source.open(), source.open()]);
      await source.open();
      assert.equal(source.size, file.length);
      assert.equal(source.info?.name, 'clip one.mp4');
      assert.equal(source.url, `${standIn.address}/stand-in-storage/videos/42/clip%20one.mp4`, 'scheme and host replaced, path kept');
      assert.equal(source.description, `supervisely video 42 at ${source.url}`);
      const middle = await source.read(5000, 3000);
      assert.ok(middle.equals(file.subarray(5000, 8000)));
      assert.ok((await source.read(file.length - 10, 100)).equals(file.subarray(file.length - 10)));
      assert.equal((await source.read(file.length, 10)).length, 0);
      assert.ok(source.bytesRead >= 3000);
    } finally {
      await source.close();
    }
    const made = standIn.requests.slice(first);
    assert.equal(made.filter((r) => r.path === '/public/api/v3/videos.info').length, 1, 'concurrent opens share one videos.info');
    assert.ok(made.every((r) => r.apiKey === standIn.token), 'every request carries the key');
    assert.ok(made.filter((r) => r.method === 'GET').every((r) => r.status === 206 && /^bytes=\d+-\d+$/.test(r.range ?? '')));
    await rejectsWith(source.open(), ErrorCode.ABORTED);
  });

  test('extra headers go with the reads; Range and x-api-key may not be given', async () => {
    const seen: Array<string | undefined> = [];
    const spy = await startServer((req, res) => {
      seen.push(req.headers['x-trace'] as string | undefined);
      const forward = http.request(`${standIn.address}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      req.pipe(forward);
    });
    try {
      const source = new SuperviselyApi({ serverAddress: spy.address, token: standIn.token }).videoSource(42, { headers: { 'X-Trace': 'run-7' } });
      await source.open();
      await source.close();
      assert.deepEqual(seen, [undefined, 'run-7'], 'not on the API call, on the file reads');
    } finally {
      await spy.close();
    }
    assert.throws(() => api.videoSource(42, { headers: { Range: 'bytes=0-1' } }), /no Range header .* for headers\.Range/);
    assert.throws(() => api.videoSource(42, { headers: { 'X-Api-Key': 'other' } }), /no x-api-key header/);
    assert.throws(() => api.videoSource(42, { headers: { a: 1 } as never }), /^InvalidOptionError: Expected a string for headers\.a but received 1/);
  });

  test('bad id or options throw synchronously', () => {
    for (const id of [0, 2.5, '42', undefined]) {
      assert.throws(
        () => api.videoSource(id as number),
        (error: unknown) => error instanceof FramepipeError && error.code === ErrorCode.INVALID_OPTION && error.option === 'videoId',
      );
    }
    assert.throws(() => api.videoSource(-3), { message: 'Expected a positive integer for videoId but received -3 of type number' });
    assert.throws(() => api.videoSource(42, { timeout: -1 }), { message: 'Expected a positive number for timeout but received -1 of type number' });
    assert.throws(() => api.videoSource(42, { retry: 3 } as never), /^InvalidOptionError: Unknown option retry for videoSource/);
    assert.throws(() => api.videoSource(42, { retries: -1 }), { message: 'Expected a non-negative integer for retries but received -1 of type number' });
    assert.throws(() => new SuperviselyVideoSource({} as SuperviselyApi, 42), { message: 'Expected a SuperviselyApi for api but received [object] of type object' });
  });

  test('a video not ready: VIDEO_NOT_READY on open, and a retry asks again', async () => {
    const source = api.videoSource(43);
    const first = standIn.requests.length;
    const error = await rejectsWith(source.open(), ErrorCode.VIDEO_NOT_READY);
    assert.match(error.message, /^Video 43 \("h264-.*\.mp4"\) on http:\/\/127\.0\.0\.1:\d+ has no stored file yet .* still being uploaded or processed/);
    assert.equal(error.source, `${standIn.address}/public/api/v3/videos.info`);
    await rejectsWith(source.read(0, 10), ErrorCode.VIDEO_NOT_READY);
    assert.equal(standIn.requests.length - first, 2);
    await source.close();
  });

  test('a storage failure after open keeps the token out of the printed error', async () => {
    const shortLived = await startStandInServer({ videos: { 1: { bytes: randomBytes(1 << 20) } } });
    const source = new SuperviselyApi({ serverAddress: shortLived.address, token: shortLived.token }).videoSource(1, { timeout: 2000, retries: 0 });
    try {
      await source.open();
      await shortLived.close();
      // The first block (64 KiB) is cached; a read past it needs the (now closed) server.
      const error = await rejectsWith(source.read(900_000, 100), ErrorCode.UNREACHABLE);
      assert.ok(!inspect(error, { depth: Infinity }).includes(shortLived.token));
    } finally {
      await source.close();
    }
  });
});

test('videos.info: a 503 is retried after the Retry-After the server asks; a 500 at every try lists them all', async () => {
  let calls = 0;
  const times: number[] = [];
  const server = await startServer((_req, res) => {
    times.push(Date.now());
    if (++calls === 1) {
      res.writeHead(503, { 'retry-after': '1' });
      return res.end();
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id: 42, name: 'a.mp4' }));
  });
  try {
    const api = new SuperviselyApi({ serverAddress: server.address, token: 'tok' });
    assert.equal((await api.videoInfo(42, { retryDelay: 1 })).name, 'a.mp4');
    assert.equal(calls, 2);
    assert.ok(times[1]! - times[0]! >= 950, `retried after ${times[1]! - times[0]!} ms`);
  } finally {
    await server.close();
  }
  const failing = await startServer((_req, res) => {
    res.writeHead(500);
    res.end();
  });
  try {
    const api = new SuperviselyApi({ serverAddress: failing.address, token: 'tok' });
    const error = await rejectsWith(api.videoInfo(42, { retries: 2, retryDelay: 1 }), ErrorCode.HTTP_STATUS);
    assert.equal(error.status, 500);
    assert.equal(error.attempts?.length, 3);
  } finally {
    await failing.close();
  }
});

describe('SuperviselyApi.listDatasetVideos', () => {
  test('lists every video of the dataset page after page, as the SDK asks: the first page at the server size, then its perPage', async () => {
    const videos = Object.fromEntries([5, 3, 9, 1, 7, 4, 8].map((id) => [id, { bytes: Buffer.from(`v${id}`), datasetId: id === 8 ? 2 : 6 }]));
    const server = await startStandInServer({ videos, perPage: 2 });
    try {
      const listing = new SuperviselyApi({ serverAddress: server.address, token: server.token });
      const listed = await listing.listDatasetVideos(6);
      assert.deepEqual(listed.map((video) => video.id), [1, 3, 4, 5, 7, 9], 'every video of dataset 6, by id, none of dataset 2');
      assert.deepEqual(listed.map((video) => [video.name, video.datasetId]), [1, 3, 4, 5, 7, 9].map((id) => [`video_${id}.mp4`, 6]));
      const calls = server.requests.filter((request) => request.path === '/public/api/v3/videos.list');
      const common = { datasetId: 6, filter: [], sort: 'id', sort_order: 'asc', forceMetadataForLinks: false };
      assert.deepEqual(calls.map((call) => call.body), [
        { ...common, page: 1 },
        { ...common, page: 2, per_page: 2 },
        { ...common, page: 3, per_page: 2 },
      ]);
      assert.ok(calls.every((call) => call.method === 'POST' && call.apiKey === server.token));
      // Asked for a page size, the first request says it too.
      const sized = await listing.listDatasetVideos(6, { perPage: 4 });
      assert.deepEqual(sized.map((video) => video.id), [1, 3, 4, 5, 7, 9]);
      assert.equal(server.requests.at(-2)?.body?.['per_page'], 2, 'the server capped it at 2, and the next pages ask for 2');

      const unknown = await rejectsWith(listing.listDatasetVideos(77, { retries: 0 }), ErrorCode.HTTP_STATUS);
      assert.equal(unknown.status, 404);
      assert.equal(
        unknown.message,
        `No dataset with id 77 is visible to this API token on ${server.address} (HTTP 404: Not found - Dataset 77 not found): check the dataset id, and that the token belongs to a member of the dataset's team`,
      );
      const wrong = new SuperviselyApi({ serverAddress: server.address, token: 'not-the-token' });
      const denied = await rejectsWith(wrong.listDatasetVideos(6), ErrorCode.AUTH_FAILED);
      assert.ok(!denied.message.includes(server.token) && !inspect(denied).includes(server.token));
      const requests = server.requests.length;
      await rejectsWith(listing.listDatasetVideos(0), ErrorCode.INVALID_OPTION);
      await rejectsWith(listing.listDatasetVideos(6, { perPage: 0 }), ErrorCode.INVALID_OPTION);
      await rejectsWith(listing.listDatasetVideos(6, { page: 2 } as never), ErrorCode.INVALID_OPTION);
      assert.equal(server.requests.length, requests, 'a bad id or option makes no request');
    } finally {
      await server.close();
    }
  });

  test('pages that do not add up to the total, or an answer that is not a page of videos: INVALID_DATA', async () => {
    const answers: unknown[] = [];
    const server = await startServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answers.shift()));
    });
    try {
      const listing = new SuperviselyApi({ serverAddress: server.address, token: 'tok' });
      answers.push({ total: 3, perPage: 2, pagesCount: 2, entities: [{ id: 1 }, { id: 2 }] }, { total: 3, perPage: 2, pagesCount: 2, entities: [] });
      const short = await rejectsWith(listing.listDatasetVideos(6, { retries: 0 }), ErrorCode.INVALID_DATA);
      assert.equal(short.message, `${server.address} listed 2 videos of dataset 6, which it said holds 3: were videos added or removed while it was listed? List it again`);
      answers.push({ total: 1, perPage: 2, pagesCount: 1, entities: [{ name: 'no id' }] });
      const bad = await rejectsWith(listing.listDatasetVideos(6, { retries: 0 }), ErrorCode.INVALID_DATA);
      assert.match(bad.message, /answered videos\.list for dataset 6 with JSON that is not a page of videos/);
    } finally {
      await server.close();
    }
  });
});

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { removeDir, tempDir } from '../../../test/support/pipeline-helpers.ts';
import { STAND_IN_STORAGE_HOST, startStandInServer, type StandInServer } from '../src/stand-in-server.ts';

const bytes = randomBytes(5000);
let server: StandInServer;
let dir: string;

async function call(path: string, init: { method?: string; key?: string | null; range?: string; body?: unknown } = {}): Promise<Response> {
  const headers: Record<string, string> = {};
  if (init.key !== null) headers['x-api-key'] = init.key ?? server.token;
  if (init.range) headers.range = init.range;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  return fetch(`${server.address}${path}`, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers,
    ...(init.body !== undefined ? { body: typeof init.body === 'string' ? init.body : JSON.stringify(init.body) } : {}),
  });
}

async function info(id: unknown): Promise<Record<string, unknown>> {
  const answer = await call('/public/api/v3/videos.info', { body: { id } });
  assert.equal(answer.status, 200);
  return (await answer.json()) as Record<string, unknown>;
}

before(async () => {
  dir = await tempDir('framepipe-standin-');
  const file = join(dir, 'on disk.webm');
  await writeFile(file, bytes);
  server = await startStandInServer({ videos: { 1: { bytes }, 2: { path: file }, 3: { bytes, name: 'late.mp4', ready: false }, 4: { path: join(dir, 'not yet.mp4'), ready: false } } });
});
after(async () => {
  await server.close();
  await removeDir(dir);
});

describe('startStandInServer', () => {
  test('an address on 127.0.0.1 and a 128-character token', async () => {
    assert.match(server.address, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(server.token, /^[A-Za-z0-9]{128}$/);
    const other = await startStandInServer({ videos: {} });
    assert.notEqual(other.token, server.token);
    await other.close();
  });

  test('videos.info answers like the real server', async () => {
    const one = await info(1);
    assert.equal(one['id'], 1);
    assert.equal(one['name'], 'video_1.mp4');
    assert.equal(one['hash'], createHash('sha256').update(bytes).digest('base64'));
    assert.deepEqual(one['fileMeta'], { mime: 'video/mp4', size: '5000' });
    assert.equal(one['fullStorageUrl'], `https://${STAND_IN_STORAGE_HOST}/stand-in-storage/videos/1/video_1.mp4`);
    const two = await info(2);
    assert.equal(two['name'], 'on disk.webm');
    assert.equal(two['hash'], one['hash'], 'the same bytes from a file');
    assert.equal(two['fullStorageUrl'], `https://${STAND_IN_STORAGE_HOST}/stand-in-storage/videos/2/on%20disk.webm`);
    const late = await info(3);
    assert.equal(late['name'], 'late.mp4');
    assert.ok(!('fullStorageUrl' in late), 'not ready: no fullStorageUrl');
    assert.deepEqual(late['fileMeta'], {});
    assert.equal((await info(4))['name'], 'not yet.mp4', 'the file of a video not ready need not exist');
  });

  test('errors as JSON: 401 without the key, 404 for an unknown id, 400 for a bad body', async () => {
    for (const key of [null, 'wrong']) {
      const answer = await call('/public/api/v3/videos.info', { body: { id: 1 }, key });
      assert.equal(answer.status, 401);
      assert.deepEqual(await answer.json(), { error: 'Unauthorized', details: { message: 'Invalid or missing x-api-key' } });
    }
    const unknown = await call('/public/api/v3/videos.info', { body: { id: 9 } });
    assert.equal(unknown.status, 404);
    assert.deepEqual(await unknown.json(), { error: 'Not found', details: { message: 'Video 9 not found' } });
    assert.equal((await call('/public/api/v3/videos.info', { body: 'not json' })).status, 400);
    assert.equal((await call('/public/api/v3/videos.info', { body: { id: 'one' } })).status, 400);
    assert.equal((await call('/public/api/v3/videos.info')).status, 405);
    assert.equal((await call('/elsewhere')).status, 404);
    const last = server.requests.at(-1)!;
    assert.deepEqual(last, { method: 'GET', path: '/elsewhere', apiKey: server.token, range: undefined, status: 404 });
  });

  test('the storage path: ranges, 416, HEAD, whole file, and the key required', async () => {
    for (const path of ['/stand-in-storage/videos/1/video_1.mp4', '/stand-in-storage/videos/2/on%20disk.webm']) {
      const part = await call(path, { range: 'bytes=100-199' });
      assert.equal(part.status, 206);
      assert.equal(part.headers.get('content-range'), 'bytes 100-199/5000');
      assert.ok(Buffer.from(await part.arrayBuffer()).equals(bytes.subarray(100, 200)));

      const clamped = await call(path, { range: 'bytes=4990-9999' });
      assert.equal(clamped.headers.get('content-range'), 'bytes 4990-4999/5000');
      assert.equal((await clamped.arrayBuffer()).byteLength, 10);

      const suffix = await call(path, { range: 'bytes=-10' });
      assert.ok(Buffer.from(await suffix.arrayBuffer()).equals(bytes.subarray(4990)));

      const past = await call(path, { range: 'bytes=5000-5100' });
      assert.equal(past.status, 416);
      assert.equal(past.headers.get('content-range'), 'bytes */5000');

      const head = await call(path, { method: 'HEAD', range: 'bytes=0-9' });
      assert.equal(head.status, 206);
      assert.equal(head.headers.get('content-length'), '10');

      const whole = await call(path);
      assert.equal(whole.status, 200);
      assert.equal(whole.headers.get('accept-ranges'), 'bytes');
      assert.ok(Buffer.from(await whole.arrayBuffer()).equals(bytes));

      assert.equal((await call(path, { key: null, range: 'bytes=0-9' })).status, 401);
    }
    assert.equal((await call('/stand-in-storage/videos/3/late.mp4')).status, 404, 'a video not ready has no file');
  });

  test('bad options are rejected', async () => {
    await assert.rejects(startStandInServer({ videos: { 1: {} } }), { message: /^Expected exactly one of path and bytes for videos\.1/ });
    await assert.rejects(startStandInServer({ videos: { 0: { bytes } } }), { message: /^Expected a positive integer id for videos key "0"/ });
    await assert.rejects(startStandInServer({ videos: { 1: { bytes, ready: 'yes' } } } as never), { message: /^Expected a boolean for videos\.1\.ready/ });
    await assert.rejects(startStandInServer({ videos: {}, token: 'with space' }), { message: /^Expected a non-empty string of printable ASCII characters for token/ });
  });
});

/**
 * runBatch into S3-compatible object storage: s3rver on loopback, reached by the official AWS SDK client with the
 * endpoint and credentials of the standard AWS environment variables. The objects are byte for byte the files a
 * directory run writes; a second run puts no frame; an aborted run leaves only whole objects and a run again
 * completes; a bucket that does not exist, or wrong credentials, fail with a code and never show a secret.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { inspect } from 'node:util';
import { once } from 'node:events';
import { createServer, request as httpRequest } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { BATCH_FILE_NAME, DirDestination, S3Destination, openDestination, runBatch } from '@framepipe/batch';
import type { BatchOptions, BatchProgress } from '@framepipe/batch';
import { ErrorCode, FramepipeError } from '@framepipe/common';
import { H264_MP4_MOOV_END, VP9_WEBM } from './support/fixtures.ts';
import { indexInName, readCodes, removeDir, serveFixtures, tempDir } from './support/pipeline-helpers.ts';
import type { RangeServer } from './support/range-server.ts';
import { S3_CREDENTIALS, S3_REGION, startS3Server } from './support/s3-server.ts';
import type { S3TestServer } from './support/s3-server.ts';
import { rejectsWith } from './support/sources.ts';

const BUCKET = 'frames';
const ENV = {
  AWS_ENDPOINT_URL: '',
  AWS_REGION: S3_REGION,
  AWS_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey,
  // s3rver predates the SDK's default CRC checksums: send and check them only where S3 requires them.
  AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
  AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
};
const saved = new Map<string, string | undefined>();

let s3: S3TestServer;
let server: RangeServer;
let work: string;
let sources: string[];
/** The size of the two videos together. */
let videoBytes = 0;

before(async () => {
  s3 = await startS3Server([BUCKET, 'bare']);
  let paths: Record<string, string>;
  ({ server, paths } = await serveFixtures({ 'videos/walk.mp4': H264_MP4_MOOV_END, 'videos/run.webm': VP9_WEBM }));
  for (const path of Object.values(paths)) videoBytes += (await stat(path)).size;
  sources = [server.url('/videos/walk.mp4'), server.url('/videos/run.webm')];
  work = await tempDir('framepipe-s3-');
  for (const [name, value] of Object.entries({ ...ENV, AWS_ENDPOINT_URL: s3.endpoint })) {
    saved.set(name, process.env[name]);
    process.env[name] = value;
  }
  // Only the variables above: no profile or endpoint of the machine's own.
  for (const name of ['AWS_PROFILE', 'AWS_ENDPOINT_URL_S3', 'AWS_SESSION_TOKEN']) {
    saved.set(name, process.env[name]);
    delete process.env[name];
  }
});
after(async () => {
  for (const [name, value] of saved) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  await s3.close();
  await server.close();
  await removeDir(work);
});

/** Every file under `dir`, relative to it, sorted (`walk/frame_000005.jpg`, `batch.jsonl`). */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => relative(dir, join(entry.parentPath, entry.name))).sort();
}

/** Sends a request on to s3rver and its answer back. */
function forward(req: IncomingMessage, res: ServerResponse): void {
  const upstream = httpRequest(`${s3.endpoint}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
    res.writeHead(answer.statusCode!, answer.headers);
    answer.pipe(res);
  });
  req.pipe(upstream);
}

/**
 * An HTTP proxy on loopback in front of s3rver: `answer` may answer a request itself (and returns true), else the
 * request goes on to s3rver.
 */
async function startProxy(answer: (req: IncomingMessage, res: ServerResponse) => boolean): Promise<{ endpoint: string; close(): void }> {
  const proxy = createServer((req, res) => {
    if (!answer(req, res)) forward(req, res);
  });
  proxy.listen(0, '127.0.0.1');
  await once(proxy, 'listening');
  return {
    endpoint: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    close: () => {
      proxy.closeAllConnections();
      proxy.close();
    },
  };
}

/** Downloads the frame objects under `prefix` into a directory, for the decoders of the tests. */
async function download(prefix: string): Promise<string[]> {
  const dir = join(work, 'downloads', prefix);
  await mkdir(dir, { recursive: true });
  const paths: string[] = [];
  for (const key of await s3.keys(BUCKET, prefix)) {
    const path = join(dir, key.slice(prefix.length));
    await writeFile(path, (await s3.get(BUCKET, key)).body);
    paths.push(path);
  }
  return paths;
}

/** The frame numbers shown by the pictures of the objects under `prefix`, checked against their names. */
async function framesShown(prefix: string): Promise<number[]> {
  const paths = await download(prefix);
  const shown = await readCodes(paths);
  assert.deepEqual(shown, paths.map(indexInName), `each object under ${prefix} shows the frame its name says`);
  return shown;
}

describe('runBatch into object storage', () => {
  const cases: Array<[string, Partial<BatchOptions>]> = [
    ['JPEG, a range with a step', { ext: 'jpg', start: 5, end: 40, step: 3 }],
    ['PNG, a list of frames', { frames: [0, 7, 31, 59] }],
  ];
  for (const [i, [what, options]] of cases.entries()) {
    test(`${what}: the objects are byte for byte the files of a directory run, under the same names`, async () => {
      const dir = join(work, `same-${i}`);
      const prefix = `same/${i}`;
      let sent = server.bytesSent;
      await runBatch(sources, { out: dir, concurrency: 2, ...options });
      const dirBytes = server.bytesSent - sent;
      sent = server.bytesSent;
      const summary = await runBatch(sources, { out: `s3://${BUCKET}/${prefix}/`, concurrency: 2, ...options });
      // The video is read as for a directory, no byte of it twice.
      assert.equal(server.bytesSent - sent, dirBytes, 'bytes of the videos read');
      assert.ok(dirBytes <= videoBytes, `${dirBytes} bytes read of ${videoBytes}`);

      const files = await filesUnder(dir);
      assert.ok(files.length > 4, `${files.length} files`);
      assert.deepEqual(await s3.keys(BUCKET, `${prefix}/`), files.map((file) => `${prefix}/${file}`));
      for (const file of files) {
        const object = await s3.get(BUCKET, `${prefix}/${file}`);
        assert.ok(object.body.equals(await readFile(join(dir, file))), `${file} differs`);
        const type = file === BATCH_FILE_NAME ? 'application/x-ndjson' : options.ext === 'jpg' ? 'image/jpeg' : 'image/png';
        assert.equal(object.contentType, type, file);
      }
      assert.equal(summary.report, `s3://${BUCKET}/${prefix}/${BATCH_FILE_NAME}`);
      assert.deepEqual(summary.videos.map((video) => video.dir), [`s3://${BUCKET}/${prefix}/walk`, `s3://${BUCKET}/${prefix}/run`]);
      assert.deepEqual(await framesShown(`${prefix}/walk/`), files.filter((file) => file.startsWith('walk/')).map(indexInName));
    });
  }

  test('a second run puts no frame (the listing read page by page, past 1,000 other objects)', async () => {
    const prefix = 'again';
    // Objects that sort before the frames fill the listing's first page: frames found only on the second page
    // would otherwise all be put again.
    const filler = Array.from({ length: 1000 }, (_, n) => `${prefix}/walk/.note-${String(n).padStart(4, '0')}`);
    for (let n = 0; n < filler.length; n += 50) {
      await Promise.all(filler.slice(n, n + 50).map((key) => s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: 'x' }))));
    }
    const out = `s3://${BUCKET}/${prefix}`;
    const options = { out, start: 10, end: 49, concurrency: 2 };
    let puts = (await s3.puts()).length;
    const first = await runBatch(sources, options);
    assert.deepEqual([first.done, first.framesWritten, first.framesReused], [2, 80, 0]);
    assert.equal((await s3.puts()).length - puts, 80 + 1, 'a PUT per frame and one for batch.jsonl');

    puts = (await s3.puts()).length;
    const again = await runBatch(sources, options);
    assert.deepEqual((await s3.puts()).slice(puts), [`${prefix}/${BATCH_FILE_NAME}`], 'only the report is put again');
    assert.deepEqual(again.videos.map((v) => [v.name, v.status, v.frames, v.framesWritten, v.framesReused]), [
      ['walk', 'done', 40, 0, 40],
      ['run', 'done', 40, 0, 40],
    ]);
    const report = (await s3.get(BUCKET, `${prefix}/${BATCH_FILE_NAME}`)).body.toString();
    assert.deepEqual(report.trimEnd().split('\n').map((line) => JSON.parse(line)), [
      { source: sources[0], name: 'walk', frames: 40, status: 'done' },
      { source: sources[1], name: 'run', frames: 40, status: 'done' },
    ]);
    assert.deepEqual(await framesShown(`${prefix}/run/`), Array.from({ length: 40 }, (_, n) => 10 + n));
  });

  test('a video run again with another size fails with ERR_FRAMEPIPE_RESUME_MISMATCH from the header of one kept object; nothing is put', async () => {
    const out = `s3://${BUCKET}/mismatch`;
    const first = await runBatch([sources[0]!], { out, end: 5, size: { width: 160 } });
    assert.equal(first.done, 1);
    const puts = (await s3.puts()).length;
    const again = await runBatch([sources[0]!], { out, end: 5, size: { width: 200 } });
    assert.deepEqual([again.failed, again.framesWritten, again.videos[0]!.code], [1, 0, ErrorCode.RESUME_MISMATCH]);
    assert.equal(
      (again.videos[0]!.error as Error).message,
      `${out}/walk/frame_000000.png holds 160×120 RGB 8-bit, but this run makes 200×150 RGB 8-bit (1 of the 6 files to keep checked, 1 differs; ` +
        "size, maxSide, crop, fit and autorotate decide the width and height): a batch keeps the files a video already has and writes only the missing ones; " +
        "give the options of the run that wrote them, or remove that video's files (or write the batch elsewhere) to write every file again",
    );
    // Only batch.jsonl was put again.
    assert.deepEqual((await s3.puts()).slice(puts), ['mismatch/batch.jsonl']);
    const same = await runBatch([sources[0]!], { out, end: 5, size: { width: 160 } });
    assert.deepEqual([same.done, same.framesWritten, same.framesReused], [1, 0, 6]);
  });

  test('credentials that may list and put but not get (a write-only role) resume without the check: objects kept, no failure', async () => {
    const prefix = 'write-only';
    let refused = 0;
    // A proxy that answers the GET of an object (not a listing, a GET of the bucket) as S3 does for a role without s3:GetObject.
    const proxy = await startProxy((req, res) => {
      if (req.method !== 'GET' || !new URL(req.url!, 'http://x').pathname.startsWith(`/${BUCKET}/${prefix}/`)) return false;
      refused++;
      res.writeHead(403, { 'content-type': 'application/xml' });
      res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>');
      return true;
    });
    const destination = new S3Destination(`s3://${BUCKET}/${prefix}`, { clientConfig: { endpoint: proxy.endpoint } });
    try {
      const first = await runBatch([sources[0]!], { out: destination, end: 5 });
      assert.deepEqual([first.done, first.framesWritten], [1, 6]);
      await s3.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: `${prefix}/walk/frame_000003.png` }));
      const again = await runBatch([sources[0]!], { out: destination, end: 5 });
      assert.deepEqual([again.done, again.failed, again.framesWritten, again.framesReused], [1, 0, 1, 5], inspect(again.videos[0]?.error));
      assert.equal(refused, 1, 'the check asked for one object and was refused');
      assert.deepEqual(await framesShown(`${prefix}/walk/`), [0, 1, 2, 3, 4, 5]);
    } finally {
      await destination.close();
      proxy.close();
    }
  });

  test('a kept object that holds no image: the video fails, saying to remove it and run the batch again', async () => {
    const out = `s3://${BUCKET}/empty-object`;
    assert.equal((await runBatch([sources[0]!], { out, end: 5 })).done, 1);
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'empty-object/walk/frame_000000.png', Body: 'cut' }));
    const again = await runBatch([sources[0]!], { out, end: 5 });
    assert.deepEqual([again.failed, again.videos[0]!.code], [1, ErrorCode.RESUME_MISMATCH]);
    const url = `${out}/walk/frame_000000.png`;
    assert.equal(
      (again.videos[0]!.error as Error).message,
      `${url} holds no PNG image the sink can read, but this run makes 320×240 RGB 8-bit (1 of the 6 files to keep checked, 1 differs): remove ${url} (it holds no image) and run the batch again`,
    );
  });

  test('an abort leaves only whole objects and no batch.jsonl; a run again puts only the missing frames', async () => {
    const prefix = 'abort';
    const out = `s3://${BUCKET}/${prefix}`;
    const controller = new AbortController();
    const onProgress = (p: BatchProgress) => {
      if (p.framesWritten === 12) controller.abort();
    };
    await rejectsWith(runBatch(sources, { out, signal: controller.signal, concurrency: 2, maxWriteWorkers: 3, onProgress }), ErrorCode.ABORTED);
    const keys = await s3.keys(BUCKET, `${prefix}/`);
    assert.ok(!keys.includes(`${prefix}/${BATCH_FILE_NAME}`), 'no report');
    // Every object decodes to the frame its name says: none is half-written.
    const kept = (await framesShown(`${prefix}/walk/`)).length + (await framesShown(`${prefix}/run/`)).length;
    assert.equal(keys.length, kept);
    assert.ok(kept >= 12 && kept < 120, `objects kept: ${kept}`);

    const puts = (await s3.puts()).length;
    const again = await runBatch(sources, { out, concurrency: 2 });
    assert.deepEqual([again.done, again.framesReused, again.framesWritten], [2, kept, 120 - kept]);
    assert.equal((await s3.puts()).length - puts, 120 - kept + 1, 'the missing frames and the report');
    assert.deepEqual(await framesShown(`${prefix}/walk/`), [...Array(60).keys()]);
    assert.deepEqual(await framesShown(`${prefix}/run/`), [...Array(60).keys()]);
  });

  test('a bucket that does not exist fails before any video is read, with ERR_FRAMEPIPE_STORAGE_FAILED', async () => {
    const requests = server.requests.length;
    const error = await rejectsWith(runBatch(sources, { out: 's3://no-such-bucket/x' }), ErrorCode.STORAGE_FAILED);
    assert.equal(
      error.message,
      'Cannot list s3://no-such-bucket/x: NoSuchBucket: The specified bucket does not exist (create the bucket, or check its name and AWS_ENDPOINT_URL)',
    );
    assert.equal((error as FramepipeError).status, 404);
    assert.equal(server.requests.length, requests, 'no video was read');
  });

  test('storage that refuses uploads fails that video with ERR_FRAMEPIPE_STORAGE_FAILED, the others go on', async () => {
    // A proxy in front of s3rver that answers the PUTs of one video as S3 does for a key the credentials may not write.
    const proxy = await startProxy((req, res) => {
      if (req.method !== 'PUT' || !req.url?.includes('/refused/walk/')) return false;
      req.resume();
      res.writeHead(403, { 'content-type': 'application/xml' });
      res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>');
      return true;
    });
    const destination = new S3Destination(`s3://${BUCKET}/refused`, { clientConfig: { endpoint: proxy.endpoint } });
    try {
      const summary = await runBatch(sources, { out: destination, end: 9, concurrency: 1 });
      assert.deepEqual(summary.videos.map((v) => [v.name, v.status, v.code, v.framesWritten]), [
        ['walk', 'failed', ErrorCode.STORAGE_FAILED, 0],
        ['run', 'done', undefined, 10],
      ]);
      const error = summary.videos[0]!.error as FramepipeError;
      assert.match(error.message, /^Cannot upload frame \d+ to s3:\/\/frames\/refused\/walk\/frame_\d{6}\.png: AccessDenied: Access Denied$/);
      assert.equal(error.status, 403);
      assert.deepEqual(await s3.keys(BUCKET, 'refused/'), ['refused/batch.jsonl', ...Array.from({ length: 10 }, (_, n) => `refused/run/frame_00000${n}.png`)]);
      const report = (await s3.get(BUCKET, `refused/${BATCH_FILE_NAME}`)).body.toString();
      assert.deepEqual(JSON.parse(report.split('\n')[0]!), { source: sources[0], name: 'walk', frames: 0, status: 'failed', code: ErrorCode.STORAGE_FAILED });
    } finally {
      await destination.close();
      proxy.close();
    }
  });

  test('maxWriteWorkers uploads at once, no more', async () => {
    let inFlight = 0;
    let most = 0;
    // Each PUT is held a little before it goes on, so that uploads overlap as much as the destination lets them.
    const proxy = await startProxy((req, res) => {
      if (req.method !== 'PUT') return false;
      inFlight++;
      most = Math.max(most, inFlight);
      res.once('close', () => inFlight--);
      setTimeout(() => forward(req, res), 30);
      return true;
    });
    const destination = new S3Destination(`s3://${BUCKET}/workers`, { clientConfig: { endpoint: proxy.endpoint } });
    try {
      const summary = await runBatch([sources[0]!], { out: destination, end: 29, maxWriteWorkers: 3 });
      assert.equal(summary.framesWritten, 30);
      assert.equal(most, 3);
    } finally {
      await destination.close();
      proxy.close();
    }
  });

  test('an endpoint that cannot be reached fails with ERR_FRAMEPIPE_STORAGE_FAILED, saying why', async () => {
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const { port } = closed.address() as AddressInfo;
    closed.close();
    const destination = new S3Destination(`s3://${BUCKET}/x`, { clientConfig: { endpoint: `http://127.0.0.1:${port}`, maxAttempts: 1 } });
    const error = await rejectsWith(runBatch(sources, { out: destination }), ErrorCode.STORAGE_FAILED);
    assert.equal(error.message, `Cannot list s3://frames/x: connect ECONNREFUSED 127.0.0.1:${port}`);
    await destination.close();
  });

  test('credentials come from the environment and are never shown: not in batch.jsonl, not in an error', async () => {
    const prefix = 'secret';
    const summary = await runBatch([sources[0]!], { out: `s3://${BUCKET}/${prefix}`, end: 2 });
    const report = (await s3.get(BUCKET, `${prefix}/${BATCH_FILE_NAME}`)).body.toString();
    const shown = `${report}${JSON.stringify(summary)}${inspect(summary, { depth: 8 })}`;
    for (const secret of Object.values(S3_CREDENTIALS)) assert.ok(!shown.includes(secret), `${secret} shown`);

    // s3rver knows the key ids it was given (it does not check SigV4 signatures): an unknown one is refused.
    process.env.AWS_ACCESS_KEY_ID = 'an-unknown-key-4711';
    try {
      const error = await rejectsWith(runBatch([sources[0]!], { out: `s3://${BUCKET}/${prefix}` }), ErrorCode.STORAGE_FAILED);
      assert.equal(error.message, 'Cannot list s3://frames/secret: InvalidAccessKeyId: The AWS Access Key Id you provided does not exist in our records.');
      assert.equal((error as FramepipeError).status, 403);
      const printed = inspect(error, { depth: 8 });
      assert.ok(!printed.includes(S3_CREDENTIALS.secretAccessKey), 'the secret printed');
    } finally {
      process.env.AWS_ACCESS_KEY_ID = S3_CREDENTIALS.accessKeyId;
    }
  });

  test('a bucket without a prefix: the videos at its root (endpoint from AWS_ENDPOINT_URL_S3, before AWS_ENDPOINT_URL)', async () => {
    process.env.AWS_ENDPOINT_URL_S3 = s3.endpoint;
    process.env.AWS_ENDPOINT_URL = 'http://127.0.0.1:9';
    try {
      const summary = await runBatch([sources[1]!], { out: 's3://bare', frames: [1] });
      assert.deepEqual([summary.report, summary.videos[0]!.dir], ['s3://bare/batch.jsonl', 's3://bare/run']);
      assert.deepEqual(await s3.keys('bare'), ['batch.jsonl', 'run/frame_000001.png']);
    } finally {
      delete process.env.AWS_ENDPOINT_URL_S3;
      process.env.AWS_ENDPOINT_URL = s3.endpoint;
    }
  });

  test('a client of your own: S3Destination as out, left open by the batch', async () => {
    const destination = new S3Destination(`s3://${BUCKET}/own`, { client: s3.client });
    const summary = await runBatch([sources[1]!], { out: destination, frames: [3, 4] });
    assert.equal(summary.report, `s3://${BUCKET}/own/${BATCH_FILE_NAME}`);
    assert.deepEqual(await s3.keys(BUCKET, 'own/'), ['own/batch.jsonl', 'own/run/frame_000003.png', 'own/run/frame_000004.png']);
    // Still open: the test's own client goes on working.
    assert.deepEqual(await s3.keys(BUCKET, 'own/run/'), ['own/run/frame_000003.png', 'own/run/frame_000004.png']);
  });

  test('options a bucket cannot honour, and outs that are no destination, fail before any request', async () => {
    const puts = (await s3.puts()).length;
    const manifest = await rejectsWith(runBatch(sources, { out: `s3://${BUCKET}/m`, manifest: true }), ErrorCode.INVALID_OPTION);
    assert.equal(
      manifest.message,
      "Expected no manifest for s3://frames/m (frames.jsonl would be rewritten by each shard of a video, losing the others' lines) for manifest but received true of type boolean",
    );
    const writer = await rejectsWith(runBatch(sources, { out: `s3://${BUCKET}/m`, imageWriter: () => {} }), ErrorCode.INVALID_OPTION);
    assert.match(writer.message, /^Expected no imageWriter for s3:\/\/frames\/m \(it writes files; frames go to object storage with the built-in encoder\) for imageWriter/);
    assert.equal((await s3.puts()).length, puts);
    assert.deepEqual(await s3.keys(BUCKET, 'm/'), []);

    await rejectsWith(runBatch(sources, { out: 's3://' }), ErrorCode.INVALID_OPTION);
    assert.throws(() => openDestination('s3://a/x'), { code: ErrorCode.INVALID_OPTION, message: 'Expected s3://bucket/prefix with a bucket name of 3 to 63 letters, digits, dots and hyphens for out but received "s3://a/x" of type string' });
    assert.throws(() => openDestination('https://example.com/frames'), { code: ErrorCode.INVALID_OPTION, message: 'Expected a directory or s3://bucket/prefix (no other storage is written) for out but received "https://example.com/frames" of type string' });
    assert.throws(() => new S3Destination(`s3://${BUCKET}/m`, { client: {} as S3Client }), { code: ErrorCode.INVALID_OPTION, option: 'client' });
    assert.throws(() => new S3Destination(`s3://${BUCKET}/m`, { client: s3.client, forcePathStyle: true }), { code: ErrorCode.INVALID_OPTION, option: 'client' });
    assert.ok(openDestination(join(work, 'plain')) instanceof DirDestination);
    assert.equal(openDestination(`S3://${BUCKET}//a//b/`).location, `s3://${BUCKET}/a/b`);
  });
});

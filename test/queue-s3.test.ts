/**
 * The work queue into object storage: `framepipe enqueue --out s3://…` and two workers, each with the endpoint and
 * credentials in its own AWS environment variables, against s3rver and redis-server on loopback. The objects are
 * byte for byte the files of a single run into a directory, and batch.jsonl is in the bucket.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { sourceName } from '@framepipe/batch';
import { streamVideoFramesToDir } from '@framepipe/core';
import { H264_TS, SAMPLE_MP4, makeFixture } from './support/fixtures.ts';
import { removeDir, tempDir } from './support/pipeline-helpers.ts';
import { startRedis } from './support/redis-server.ts';
import type { RedisServer } from './support/redis-server.ts';
import { BIN, runScript } from './support/run-script.ts';
import { startS3Server } from './support/s3-server.ts';
import type { S3TestServer } from './support/s3-server.ts';

let redis: RedisServer;
let s3: S3TestServer;
let work: string;
before(async () => {
  redis = await startRedis();
  s3 = await startS3Server(['frames']);
  work = await tempDir('framepipe-queue-s3-');
});
after(async () => {
  await s3?.close();
  await redis?.close();
  await removeDir(work);
});

test('enqueue into s3://bucket/prefix: two workers put the objects of a single directory run, and batch.jsonl', async () => {
  const { env } = s3;
  const sources = [await makeFixture(SAMPLE_MP4), await makeFixture(H264_TS)];
  const enqueued = await runScript(BIN, ['enqueue', '--redis', redis.url, '--out', 's3://frames/run1', '--shard-frames', '40', '--ext', 'jpg', ...sources], { env });
  assert.equal(enqueued.code, 0, enqueued.stderr);
  const workers = await Promise.all([0, 1].map(() => runScript(BIN, ['worker', '--redis', redis.url, '--exit-when-idle'], { env })));
  for (const worker of workers) assert.equal(worker.code, 0, worker.stderr);
  const status = await runScript(BIN, ['queue', 'status', '--redis', redis.url, '--batch', enqueued.stdout.trim(), '--json']);
  const json = JSON.parse(status.stdout) as { done: boolean; out: string; report: string; shards: { total: number; done: number } };
  assert.equal(json.done, true);
  assert.equal(json.out, 's3://frames/run1');
  assert.equal(json.report, 's3://frames/run1/batch.jsonl');
  assert.ok(json.shards.total > 2 && json.shards.done === json.shards.total, JSON.stringify(json.shards));

  const expected: string[] = [];
  for (const source of sources) {
    const dir = join(work, sourceName(source));
    await streamVideoFramesToDir(source, dir, { ext: 'jpg' });
    for (const name of (await readdir(dir)).sort()) {
      expected.push(`run1/${sourceName(source)}/${name}`);
      const object = await s3.get('frames', `run1/${sourceName(source)}/${name}`);
      assert.ok(object.body.equals(await readFile(join(dir, name))), name);
    }
  }
  assert.deepEqual(await s3.keys('frames', 'run1/'), ['run1/batch.jsonl', ...expected].sort());
  const report = (await s3.get('frames', 'run1/batch.jsonl')).body.toString().trimEnd().split('\n').map((line) => JSON.parse(line));
  assert.deepEqual(report.map(({ name, frames, status }) => ({ name, frames, status })), [
    { name: sourceName(sources[0]!), frames: 150, status: 'done' },
    { name: sourceName(sources[1]!), frames: 60, status: 'done' },
  ]);
});

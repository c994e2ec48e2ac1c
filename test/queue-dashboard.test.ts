/**
 * framepipe queue dashboard: Bull Board over the batch's queues, against a real redis-server. The page is served,
 * its API lists the three queues with the jobs a finished batch left (a failed video's plan among them, with its
 * code), actions are refused unless allowed, a taken port says so, and the CLI serves until Ctrl-C, which ends it
 * with 0.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { ErrorCode } from '@framepipe/common';
import { QUEUE_NAMES, enqueue, runWorker, serveDashboard } from '@framepipe/queue';
import { H264_MP4_MOOV_END, makeFixture } from './support/fixtures.ts';
import { removeDir, tempDir } from './support/pipeline-helpers.ts';
import { startRedis } from './support/redis-server.ts';
import type { RedisServer } from './support/redis-server.ts';
import { startRangeServer } from './support/range-server.ts';
import type { RangeServer } from './support/range-server.ts';
import { BIN, runScript } from './support/run-script.ts';
import { rejectsWith } from './support/sources.ts';

let redis: RedisServer;
let http: RangeServer;
let work: string;
let batch: string;

interface QueueView {
  name: string;
  counts: Record<string, number>;
  readOnlyMode: boolean;
  jobs: Array<{ id: string; failedReason?: string; data: { source?: string } }>;
}

async function queues(url: string, query = ''): Promise<QueueView[]> {
  const response = await fetch(new URL(`api/queues${query}`, url));
  assert.equal(response.status, 200);
  return ((await response.json()) as { queues: QueueView[] }).queues;
}

before(async () => {
  redis = await startRedis({ password: 'dash-secret' });
  work = await tempDir('framepipe-queue-dashboard-');
  const video = await makeFixture({ ...H264_MP4_MOOV_END, frames: 60, gop: 25 });
  http = await startRangeServer({ files: {} });
  // A signed URL that answers 404: its plan fails once, and its record holds the signature.
  const gone = `${http.url('/gone.mp4')}?X-Amz-Expires=600&X-Amz-Signature=sig-secret-7f3a`;
  batch = await enqueue([video, gone], { redis: redis.url, out: join(work, 'out'), shardFrames: 25 });
  await runWorker({ redis: redis.url, exitWhenIdle: true });
});
after(async () => {
  await redis?.close();
  await http?.close();
  await removeDir(work);
});

describe('queue dashboard', () => {
  test('serves the page and its API: the three queues, the shards done, the failed plan with its code; read only by default', async () => {
    const dashboard = await serveDashboard({ redis: redis.url, port: 0 });
    try {
      assert.match(dashboard.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
      const page = await fetch(dashboard.url);
      assert.equal(page.status, 200);
      const html = await page.text();
      assert.match(html, /<title>framepipe<\/title>/);
      // The page's script, served by the dashboard itself (nothing is fetched from elsewhere to run it).
      const script = /<script[^>]+src="([^"]+\.js)"/.exec(html)?.[1];
      assert.ok(script, 'the page loads a script');
      assert.equal((await fetch(new URL(script, dashboard.url))).status, 200);

      const listed = await queues(dashboard.url, '?activeQueue=framepipe-plans&status=failed');
      assert.deepEqual(listed.map((queue) => queue.name).sort(), Object.values(QUEUE_NAMES).sort());
      const byName = Object.fromEntries(listed.map((queue) => [queue.name, queue]));
      // 60 frames in GOPs of 25: three shards, all done; the missing file failed at its plan.
      assert.equal(byName[QUEUE_NAMES.shards]!.counts.completed, 3);
      assert.equal(byName[QUEUE_NAMES.plans]!.counts.failed, 1);
      const failed = byName[QUEUE_NAMES.plans]!.jobs;
      assert.equal(failed.length, 1);
      assert.equal(failed[0]!.id, `${batch}-v1-plan`);
      assert.match(failed[0]!.failedReason ?? '', /ERR_FRAMEPIPE_HTTP_STATUS/);
      // The record holds the signed URL; the page shows it as errors do, its signature hidden.
      assert.equal(failed[0]!.data.source, `${http.url('/gone.mp4')}?X-Amz-Expires=600&X-Amz-Signature=(hidden)`);
      for (const status of ['failed', 'completed', 'latest']) {
        for (const name of Object.values(QUEUE_NAMES)) {
          const text = await (await fetch(new URL(`api/queues?activeQueue=${name}&status=${status}`, dashboard.url))).text();
          assert.doesNotMatch(text, /sig-secret-7f3a|dash-secret/, `${name} ${status}`);
        }
      }
      assert.ok(listed.every((queue) => queue.readOnlyMode));

      const retry = await fetch(new URL(`api/queues/${QUEUE_NAMES.plans}/retry/failed`, dashboard.url), { method: 'PUT' });
      assert.ok(retry.status >= 400, `a retry from a read-only page is refused (${retry.status})`);
      assert.equal((await queues(dashboard.url))!.find((queue) => queue.name === QUEUE_NAMES.plans)!.counts.failed, 1);
    } finally {
      await dashboard.close();
    }
    await assert.rejects(fetch(dashboard.url), 'closed: nothing answers');
  });

  test('allowActions lets the page retry the failed plan; a taken port and a bad Redis password fail with their codes', async () => {
    const dashboard = await serveDashboard({ redis: redis.url, port: 0, allowActions: true });
    try {
      assert.ok((await queues(dashboard.url)).every((queue) => !queue.readOnlyMode));
      const taken = Number(new URL(dashboard.url).port);
      const busy = await rejectsWith(serveDashboard({ redis: redis.url, port: taken }), ErrorCode.INVALID_OPTION);
      assert.match(busy.message, new RegExp(`port ${taken} is taken`));
      // The same retry the read-only page refused: the failed plan goes back to wait for a worker.
      const retry = await fetch(new URL(`api/queues/${QUEUE_NAMES.plans}/retry/failed`, dashboard.url), { method: 'PUT' });
      assert.equal(retry.status, 200);
      const plans = (await queues(dashboard.url)).find((queue) => queue.name === QUEUE_NAMES.plans)!;
      assert.deepEqual([plans.counts.failed, plans.counts.waiting], [0, 1]);
    } finally {
      await dashboard.close();
    }
    const wrong = new URL(redis.url);
    wrong.password = 'not-it';
    const error = await rejectsWith(serveDashboard({ redis: wrong.href, port: 0 }), ErrorCode.AUTH_FAILED);
    assert.doesNotMatch((error as Error).message, /not-it|dash-secret/);
  });

  test('framepipe queue dashboard serves until Ctrl-C, then exits 0; the password is not printed', async () => {
    // A free port, as the system gives one.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));

    let child: ChildProcess | undefined;
    let announced: (line: string) => void;
    const ready = new Promise<string>((resolve) => (announced = resolve));
    const run = runScript(BIN, ['queue', 'dashboard', '--redis', redis.url, '--port', String(port)], {
      onSpawn: (spawned) => {
        child = spawned;
        let text = '';
        spawned.stdout!.on('data', (chunk: Buffer) => {
          text += chunk.toString();
          if (text.includes('\n')) announced(text);
        });
      },
    });
    const line = await ready;
    assert.match(line, new RegExp(`^Dashboard of redis://127\\.0\\.0\\.1:\\d+ at http://127\\.0\\.0\\.1:${port}/ \\(read only\\); Ctrl-C stops it\\n$`));
    assert.equal((await fetch(`http://127.0.0.1:${port}/api/queues`)).status, 200);
    child!.kill('SIGINT');
    const result = await run;
    assert.equal(result.code, 0, result.stderr);
    assert.doesNotMatch(result.stdout + result.stderr, /dash-secret/);
  });
});

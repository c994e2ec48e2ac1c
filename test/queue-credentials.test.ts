/**
 * A worker without Supervisely credentials is one machine's misconfiguration, not a property of the videos: the
 * videos it takes are tried again (by it or, better, by another worker), not failed for good at once.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ErrorCode } from '@framepipe/common';
import { enqueue, queueStatus } from '@framepipe/queue';
import { removeDir, tempDir } from './support/pipeline-helpers.ts';
import { startRedis } from './support/redis-server.ts';
import type { RedisServer } from './support/redis-server.ts';
import { ROOT, runScript } from './support/run-script.ts';

const WORKER = resolve(ROOT, 'test/support/queue-worker.ts');
let redis: RedisServer;
let work: string;

before(async () => {
  redis = await startRedis();
  work = await tempDir('framepipe-queue-credentials-');
});
after(async () => {
  await redis?.close();
  await removeDir(work);
});

test('a Supervisely video taken by a worker without credentials is retried, not failed for good on the first try', async () => {
  const home = join(work, 'home');
  await mkdir(home);
  const batch = await enqueue([{ videoId: 1234 }], { redis: redis.url, out: join(work, 'out'), attempts: 3, backoff: 10 });
  const worker = await runScript(WORKER, [redis.url], { home, cwd: home });
  assert.equal(worker.code, 0, worker.stderr);
  const [status] = await queueStatus({ redis: redis.url, batch });
  assert.equal(status!.done, true);
  assert.deepEqual(status!.failures.map(({ code, attempts }) => ({ code, attempts })), [{ code: ErrorCode.MISSING_CREDENTIALS, attempts: 3 }]);
});

/**
 * framepipe enqueue, worker and queue status as a user types them, against a real redis-server: a worker stopped
 * with SIGTERM hands its shard back at once (exit 143), another finishes the batch with the files of a single run,
 * and the status says so, as text and as JSON.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sourceName } from '@framepipe/batch';
import { streamVideoFramesToDir } from '@framepipe/core';
import { queueStatus } from '@framepipe/queue';
import { H264_MP4_MOOV_END, H264_TS, makeFixture } from './support/fixtures.ts';
import type { FixtureSpec } from './support/fixtures.ts';
import { removeDir, strayFiles, tempDir } from './support/pipeline-helpers.ts';
import { startRedis } from './support/redis-server.ts';
import type { RedisServer } from './support/redis-server.ts';
import { BIN, runScript } from './support/run-script.ts';

const LONG_MP4: FixtureSpec = { ...H264_MP4_MOOV_END, frames: 600, gop: 25 };

let redis: RedisServer;
let work: string;
const files = { long: '', ts: '' };
before(async () => {
  redis = await startRedis();
  work = await tempDir('framepipe-queue-cli-');
  files.long = await makeFixture(LONG_MP4);
  files.ts = await makeFixture(H264_TS);
});
after(async () => {
  await redis?.close();
  await removeDir(work);
});

describe('framepipe enqueue, worker, queue status', () => {
  test('a worker stopped with SIGTERM hands its shard back; another finishes the batch; status --json says done', async () => {
    const out = join(work, 'out');
    const enqueued = await runScript(BIN, ['enqueue', '--redis', redis.url, '--out', out, '--shard-frames', '100', '--step', '2', files.long, files.ts]);
    assert.equal(enqueued.code, 0, enqueued.stderr);
    const batch = enqueued.stdout.trim();
    assert.match(batch, /^[0-9a-f]{16}$/);

    const longDir = join(out, sourceName(files.long));
    let child: ChildProcess | undefined;
    const first = runScript(BIN, ['worker', '--redis', redis.url], { onSpawn: (spawned) => (child = spawned) });
    for (;;) {
      const count = (await readdir(longDir).catch(() => [])).filter((name) => name.startsWith('frame_')).length;
      if (count >= 10) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    child!.kill('SIGTERM');
    const stopped = await first;
    assert.equal(stopped.code, 143, stopped.stderr);
    assert.match(stopped.stderr, new RegExp(`^${batch}-v0-s0: handed back to the queue$`, 'm'));
    assert.deepEqual(await strayFiles(longDir), [], 'a stopped shard leaves no temporary file');
    // Back in the queue at once, not after its lock ran out (30 s by default).
    const [waiting] = await queueStatus({ redis: redis.url, batch });
    assert.equal(waiting!.shards.active, 0);
    assert.equal(waiting!.done, false);

    const second = await runScript(BIN, ['worker', '--redis', redis.url, '--exit-when-idle', '--concurrency', '2']);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /^\d shards? run, \d+ frames written, 0 failures$/m);
    // The handed-back shard, resumed: the frames written before SIGTERM were kept.
    assert.match(second.stderr, new RegExp(`^${batch} ${sourceName(files.long)} shard 0: 100 frames \\((\\d+) written now\\)$`, 'm'));
    assert.ok(Number(/shard 0: 100 frames \((\d+) written now\)/.exec(second.stderr.split('\n').find((line) => line.includes(sourceName(files.long)) && line.includes('shard 0:'))!)![1]) < 100);

    const status = await runScript(BIN, ['queue', 'status', '--redis', redis.url, '--batch', batch, '--json']);
    assert.equal(status.code, 0, status.stderr);
    const json = JSON.parse(status.stdout) as { done: boolean; frames: number; fps: number; videos: unknown; shards: unknown };
    assert.equal(json.done, true);
    assert.equal(json.frames, 330);
    // Every frame was written within the last minute, by one worker or the other, and the rate counts each once; but
    // for the files whose write ended as the stopped run was torn down (at most --max-write-workers, 4): they are
    // kept, and a sink reports no progress once destroyed.
    const counted = Math.round(json.fps * 60);
    assert.ok(counted >= 326 && counted <= 330, `frames counted in the rate: ${counted}`);
    assert.deepEqual(json.videos, { total: 2, waiting: 0, active: 0, done: 2, failed: 0 });
    // The long video's 300 frames in 3 shards of 100 (8 GOPs of 25 frames each), the other's 30 in one.
    assert.deepEqual(json.shards, { total: 4, waiting: 0, active: 0, done: 4, failed: 0 });

    // --watch on a batch that is done prints it once and ends.
    const watched = await runScript(BIN, ['queue', 'status', '--redis', redis.url, '--batch', batch, '--watch']);
    assert.equal(watched.code, 0, watched.stderr);
    assert.equal(watched.stdout.match(/^batch /gm)?.length, 1);

    const text = await runScript(BIN, ['queue', 'status', '--redis', redis.url]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`^batch ${batch} into ${out} \\(enqueued [^)]+\\)$`, 'm'));
    assert.match(text.stdout, /^ {2}videos {2}2: 0 waiting, 0 running, 2 done, 0 failed$/m);
    assert.match(text.stdout, /^ {2}shards {2}4: 0 waiting, 0 running, 4 done, 0 failed$/m);
    assert.match(text.stdout, new RegExp(`^  done    report in ${join(out, 'batch.jsonl')}$`, 'm'));

    for (const source of [files.long, files.ts]) {
      const reference = join(work, 'single', sourceName(source));
      await streamVideoFramesToDir(source, reference, { step: 2 });
      const names = (await readdir(join(out, sourceName(source)))).sort();
      assert.deepEqual(names, (await readdir(reference)).sort());
      for (const name of names) assert.ok((await readFile(join(out, sourceName(source), name))).equals(await readFile(join(reference, name))), name);
    }
  });

  test('rediss:// with a password: a batch runs over TLS; a certificate the client does not trust is refused', async () => {
    const secure = await startRedis({ tls: true, password: 'tls pass' });
    try {
      assert.match(secure.url, /^rediss:\/\/:tls%20pass@127\.0\.0\.1:\d+$/);
      const env = { NODE_EXTRA_CA_CERTS: secure.certificate! };
      const out = join(work, 'tls');
      const enqueued = await runScript(BIN, ['enqueue', '--redis', secure.url, '--out', out, files.ts], { env });
      assert.equal(enqueued.code, 0, enqueued.stderr);
      const worker = await runScript(BIN, ['worker', '--redis', secure.url, '--exit-when-idle', '--quiet'], { env });
      assert.equal(worker.code, 0, worker.stderr);
      const status = await runScript(BIN, ['queue', 'status', '--redis', secure.url, '--batch', enqueued.stdout.trim(), '--json'], { env });
      assert.equal(status.code, 0, status.stderr);
      assert.equal((JSON.parse(status.stdout) as { done: boolean; frames: number }).frames, 60);
      assert.equal((await readdir(join(out, sourceName(files.ts)))).length, 60);

      const untrusted = await runScript(BIN, ['queue', 'status', '--redis', secure.url]);
      assert.equal(untrusted.code, 1);
      assert.match(untrusted.stderr, /^ERR_FRAMEPIPE_UNREACHABLE Cannot reach Redis at rediss:\/\/127\.0\.0\.1:\d+\/?: self-signed certificate/m);
      assert.ok(!untrusted.stderr.includes('tls pass') && !untrusted.stderr.includes('tls%20pass'), untrusted.stderr);
      // redis:// to a TLS port: the server hangs up, and the message says what that may mean.
      const plain = await runScript(BIN, ['queue', 'status', '--redis', secure.url.replace(/^rediss:/, 'redis:')], { env });
      assert.equal(plain.code, 1);
      assert.match(plain.stderr, /^ERR_FRAMEPIPE_UNREACHABLE Cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+\/?: .*\(the server closed the connection: if it speaks TLS, use rediss:\/\/\)$/m);
    } finally {
      await secure.close();
    }
  });

  test('enqueue --from-file takes the videos as framepipe batch does; no videos at all is a usage mistake', async () => {
    const list = join(work, 'videos.txt');
    await writeFile(list, `# two videos\n${files.long}\n\n${files.ts}\n`);
    const enqueued = await runScript(BIN, ['enqueue', '--redis', redis.url, '--out', join(work, 'listed'), '--from-file', list]);
    assert.equal(enqueued.code, 0, enqueued.stderr);
    const [status] = await queueStatus({ redis: redis.url, batch: enqueued.stdout.trim() });
    assert.equal(status!.videos.total, 2);
    // No worker runs it: --watch looks until Ctrl-C, which exits 130, not 0 as if the batch were done.
    let watcher: ChildProcess | undefined;
    const watching = runScript(BIN, ['queue', 'status', '--redis', redis.url, '--batch', enqueued.stdout.trim(), '--watch'], { onSpawn: (child) => (watcher = child) });
    let shown = '';
    watcher!.stdout!.on('data', (chunk: Buffer) => {
      shown += chunk.toString();
      if (/^batch /m.test(shown)) watcher!.kill('SIGINT');
    });
    const watched = await watching;
    assert.equal(watched.code, 130, watched.stderr);
    const none = await runScript(BIN, ['enqueue', '--redis', redis.url, '--out', join(work, 'none')]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /^ERR_FRAMEPIPE_USAGE Give the videos: <source>\.\.\. \(URLs or paths\), --from-file LIST or --dataset-id N$/m);
  });

  test('usage mistakes and bad values are reported with their flag', async () => {
    const missing = await runScript(BIN, ['enqueue', '--out', join(work, 'x'), files.ts]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^ERR_FRAMEPIPE_USAGE Missing required argument: --redis$/m);
    const bad = await runScript(BIN, ['enqueue', '--redis', redis.url, '--out', join(work, 'x'), '--shard-frames', '0', files.ts]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^ERR_FRAMEPIPE_INVALID_OPTION Expected a positive integer for --shard-frames but received 0$/m);
    const scheme = await runScript(BIN, ['worker', '--redis', 'http://127.0.0.1:1']);
    assert.equal(scheme.code, 2);
    assert.match(scheme.stderr, /^ERR_FRAMEPIPE_INVALID_OPTION Expected a redis:\/\/ or rediss:\/\/ URL for --redis but received "http:\/\/127\.0\.0\.1:1"$/m);
    // --header belongs to the workers: enqueue says so, and where to give it, rather than only "Unknown argument".
    const header = await runScript(BIN, ['enqueue', '--redis', redis.url, '--out', join(work, 'x'), '--header', 'Authorization: Bearer t', files.ts]);
    assert.equal(header.code, 2);
    assert.match(header.stderr, /^ERR_FRAMEPIPE_USAGE Unknown argument: header\. --header is not taken by enqueue: the batch is stored in Redis, and request headers never go there; give them to each worker \(framepipe worker --header "Name: value"\)$/m);
    assert.doesNotMatch(header.stderr, /Bearer/);
  });
});

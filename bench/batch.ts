/**
 * `pnpm bench -- --only batch` (or `node bench/batch.ts`): what many videos cost on this machine, from one run.
 *
 * 1. Frames per second of `runBatch` over 4 copies of the 1080p bench clip (JPEG), 1, 2 and 4 videos at once.
 * 2. The work queue's cost per shard: the same 4 videos in shards (`--shard-frames`), run by one in-process worker
 *    on a redis-server started here, against the same shards run directly (planShards + one resumable
 *    streamVideoFramesToDir per shard) in this process; the difference per shard is what BullMQ and Redis add. Also
 *    the Redis commands per shard (INFO commandstats) and the memory a finished batch leaves (completed jobs kept).
 * 3. Redis memory per queued shard: a long, small video planned into many shards that no worker runs yet.
 *
 *   node bench/batch.ts [--quick]     --quick: 2 s clip, fewer shards in part 3
 *
 * A measurement, not a test: it prints a table (also to .bench/batch-results.md) and exits 0 unless something broke.
 */
import { execFile } from 'node:child_process';
import { link, mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { planShards, runBatch } from '../packages/batch/src/index.ts';
import { streamVideoFramesToDir } from '../packages/core/src/index.ts';
import { enqueue, runWorker } from '../packages/queue/src/index.ts';
import { startRedis } from '../test/support/redis-server.ts';
import type { RedisServer } from '../test/support/redis-server.ts';
import { FULL_CLIPS, QUICK_CLIPS, makeClip } from './clips.ts';
import { describeMachine, machineLines } from './machine.ts';

const ROOT = resolve(import.meta.dirname, '..');
const CACHE = join(ROOT, '.bench');
const WORK = join(CACHE, 'batch-work');
const RESULTS = join(CACHE, 'batch-results.md');
const VIDEOS = 4;
const EXT = 'jpg';
/** The bench clip has a GOP of 2 s (50 frames): shards of one GOP each, the most a queue would add. */
const SHARD_FRAMES = 50;
const run = promisify(execFile);

const { values } = parseArgs({ args: process.argv.slice(2).filter((arg) => arg !== '--'), options: { quick: { type: 'boolean', default: false } } });
const quick = values.quick;

interface Timed<T> {
  readonly value: T;
  readonly wallMs: number;
  readonly cpuMs: number;
}

async function timed<T>(work: () => Promise<T>): Promise<Timed<T>> {
  const cpu = process.cpuUsage();
  const start = performance.now();
  const value = await work();
  const wallMs = performance.now() - start;
  const used = process.cpuUsage(cpu);
  return { value, wallMs, cpuMs: (used.user + used.system) / 1000 };
}

/** A command run through Debian's redis-cli (installed with redis-server), its answer as text. */
async function redisCli(url: string, ...command: string[]): Promise<string> {
  return (await run('redis-cli', ['-u', url, ...command])).stdout;
}

/** Every command Redis has run so far, summed over INFO commandstats. */
async function commandsRun(redis: string): Promise<number> {
  const text = await redisCli(redis, 'info', 'commandstats');
  let calls = 0;
  for (const [, n] of text.matchAll(/^cmdstat_[^:]+:calls=(\d+)/gm)) calls += Number(n);
  return calls;
}

async function usedMemory(redis: string): Promise<number> {
  const text = await redisCli(redis, 'info', 'memory');
  return Number(/^used_memory:(\d+)/m.exec(text)![1]);
}

const f1 = (n: number) => n.toFixed(1);

async function main(): Promise<void> {
  const machine = describeMachine();
  const spec = quick ? QUICK_CLIPS.hd : FULL_CLIPS.hd;
  const clip = await makeClip(spec, CACHE);
  const framesPerVideo = spec.fps * spec.seconds;
  await rm(WORK, { recursive: true, force: true });
  await mkdir(join(WORK, 'in'), { recursive: true });
  // Four names for one file: each video of the batch is its own directory of frames.
  const sources: string[] = [];
  for (let i = 0; i < VIDEOS; i++) {
    const path = join(WORK, 'in', `clip${i}.mp4`);
    await link(clip, path);
    sources.push(path);
  }
  const lines: string[] = ['# Batch benchmark', '', ...machineLines(machine, machine.loadAtStart), ''];
  const say = (line = '') => {
    lines.push(line);
    process.stdout.write(`${line}\n`);
  };

  // 1. runBatch, 1, 2 and 4 videos at a time.
  say(`## runBatch: ${VIDEOS} videos of ${framesPerVideo} frames (1080p H.264 → JPEG), in one process`);
  say();
  say('| videos at once | wall s | frames/s | CPU s | × 1 at once |');
  say('|---|---|---|---|---|');
  let single = 0;
  for (const concurrency of [1, 2, 4]) {
    const out = join(WORK, `batch-${concurrency}`);
    const { value, wallMs, cpuMs } = await timed(() => runBatch(sources, { out, ext: EXT, concurrency }));
    if (value.failed > 0 || value.framesWritten !== VIDEOS * framesPerVideo) throw new Error(`bench: runBatch wrote ${value.framesWritten} frames, ${value.failed} failed`);
    const fps = (value.framesWritten * 1000) / wallMs;
    single ||= fps;
    say(`| ${concurrency} | ${f1(wallMs / 1000)} | ${f1(fps)} | ${f1(cpuMs / 1000)} | ${(fps / single).toFixed(2)} |`);
    await rm(out, { recursive: true, force: true });
  }
  say();

  // 2. The queue's cost per shard.
  const redisServer: RedisServer = await startRedis();
  const redis = redisServer.url;
  try {
    const direct = await timed(async () => {
      let shards = 0;
      for (const [i, source] of sources.entries()) {
        const plan = await planShards(source, { shardFrames: SHARD_FRAMES });
        for (const shard of plan.shards) {
          await streamVideoFramesToDir(source, join(WORK, 'direct', `clip${i}`), { ext: EXT, ...shard.selection, resume: true });
          shards++;
        }
      }
      return shards;
    });
    const shards = direct.value;
    const commandsBefore = await commandsRun(redis);
    const memoryBefore = await usedMemory(redis);
    const queued = await timed(async () => {
      const batch = await enqueue(sources, { redis: redisServer.url, out: join(WORK, 'queued'), shardFrames: SHARD_FRAMES, ext: EXT });
      const summary = await runWorker({ redis: redisServer.url, exitWhenIdle: true });
      return { batch, summary };
    });
    if (queued.value.summary.shards !== shards || queued.value.summary.failures > 0) {
      throw new Error(`bench: the worker ran ${queued.value.summary.shards} shards (${queued.value.summary.failures} failures); planned ${shards}`);
    }
    // Less the two INFO calls of this measurement.
    const commands = (await commandsRun(redis)) - commandsBefore - 2;
    const kept = (await usedMemory(redis)) - memoryBefore;
    const perShardMs = (queued.wallMs - direct.wallMs) / shards;
    say(`## The work queue: ${VIDEOS} videos in ${shards} shards of ${SHARD_FRAMES} frames, one worker (concurrency 1) on a local redis-server`);
    say();
    say('| run | wall s | CPU s (this process) |');
    say('|---|---|---|');
    say(`| the same shards run directly (planShards + one resumable run each) | ${f1(direct.wallMs / 1000)} | ${f1(direct.cpuMs / 1000)} |`);
    say(`| enqueue + runWorker | ${f1(queued.wallMs / 1000)} | ${f1(queued.cpuMs / 1000)} |`);
    say();
    say(`- Queue overhead per shard: ${f1(perShardMs)} ms of wall time (${f1(((queued.cpuMs - direct.cpuMs) / shards))} ms of CPU in the worker), against ${f1(direct.wallMs / shards)} ms of work per shard.`);
    say(`- Redis commands: ${commands} in all, ${f1(commands / shards)} per shard (plans, flows, locks, counters, batch.jsonl).`);
    say(`- Redis memory the finished batch leaves: ${Math.round(kept / 1024)} KiB in all (completed jobs, the queues' event streams, counters).`);
    say();

    // 3. Memory per queued shard: one long 240p video planned into many one-GOP shards, none run.
    const longFrames = quick ? 5_000 : 50_000;
    const gop = 10;
    const long = join(CACHE, `long-320x240-${longFrames}f-g${gop}.mp4`);
    await run('ffmpeg', ['-v', 'error', '-nostdin', '-n', '-f', 'lavfi', '-i', `testsrc=size=320x240:rate=25`, '-frames:v', String(longFrames), '-c:v', 'libx264', '-preset', 'ultrafast', '-g', String(gop), '-keyint_min', String(gop), long]).catch((error: { stderr?: string }) => {
      if (!/already exists/.test(error.stderr ?? '')) throw error;
    });
    await redisCli(redis, 'flushall');
    const emptyMemory = await usedMemory(redis);
    const controller = new AbortController();
    let planned = 0;
    await enqueue([long], { redis: redisServer.url, out: join(WORK, 'long'), shardFrames: gop, ext: EXT });
    const afterEnqueue = await usedMemory(redis);
    await runWorker({
      redis: redisServer.url,
      signal: controller.signal,
      onEvent: (event) => {
        if (event.type === 'planned') {
          planned = event.shards;
          controller.abort();
        }
      },
    });
    const waiting = Number(await redisCli(redis, 'llen', 'bull:framepipe-shards:wait'));
    const withShards = await usedMemory(redis);
    say(`## Redis memory per queued shard: one ${longFrames}-frame video planned into ${planned} shards (${waiting} waiting), none run`);
    say();
    say(`- Empty: ${Math.round(emptyMemory / 1024)} KiB; after enqueue (one plan job): +${Math.round((afterEnqueue - emptyMemory) / 1024)} KiB; after the plan: +${Math.round((withShards - afterEnqueue) / 1024)} KiB.`);
    say(`- Per queued shard: ${Math.round((withShards - afterEnqueue) / planned)} bytes.`);
    say();
  } finally {
    await redisServer.close();
    await rm(WORK, { recursive: true, force: true });
  }
  await writeFile(RESULTS, `${lines.join('\n')}\n`);
  process.stdout.write(`results in ${RESULTS}\n`);
}

await main();

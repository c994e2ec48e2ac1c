/**
 * Shards of a file without sample tables (Matroska, MPEG-TS) over HTTP: the plan reads the whole file once to number
 * the frames, and each shard then reads about its own share of the bytes, from its first keyframe on, with the plan's
 * partial index instead of a scan of every packet before it. The shards' files are byte-equal to those of one run of
 * the whole video, and a shard without a partial index (planned by an older version) scans and writes the same.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { planShards } from '@framepipe/batch';
import type { Shard } from '@framepipe/batch';
import { RunStats, streamVideoFramesToDir } from '@framepipe/core';
import { Demuxer } from '@framepipe/demuxer';
import { HttpSource } from '@framepipe/http-source';
import type { FixtureSpec } from './support/fixtures.ts';
import { servedFixtures } from './support/pipeline-helpers.ts';

/** 12 s of 720p grain at 3 Mbit/s, the size of real footage, in closed GOPs of 1 s with 3 B-frames. */
const GRAIN: FixtureSpec = {
  codec: 'h264', container: 'mkv', frames: 300, width: 1280, height: 720, fps: 25, bFrames: 3, gop: 25, grain: true, bitRate: 3_000_000,
};
const FILES = { 'grain.mkv': GRAIN, 'grain.ts': { ...GRAIN, container: 'ts' } } satisfies Record<string, FixtureSpec>;

const served = servedFixtures(FILES);

/** Small pictures: a file still differs if one decoded pixel does, and 300 of them are written quickly. */
const OUTPUT = { maxSide: 96, ext: 'png' } as const;

/** The body bytes the server sends while `run` runs. */
async function counted<T>(run: () => Promise<T>): Promise<{ result: T; bytes: number }> {
  const before = served.server.bytesSent;
  const result = await run();
  return { result, bytes: served.server.bytesSent - before };
}

/** Every file of `dir` has the bytes of the file of the same name in `single`, and the names are the same. */
async function assertSameFiles(dir: string, single: string): Promise<void> {
  const names = (await readdir(single)).sort();
  assert.deepEqual((await readdir(dir)).sort(), names);
  for (const file of names) assert.ok((await readFile(join(dir, file))).equals(await readFile(join(single, file))), `${file} is the same`);
}

for (const name of Object.keys(FILES)) {
  describe(`shards of ${name} over HTTP`, () => {
    for (const shardFrames of [150, 75]) {
      test(`${300 / shardFrames} shards: each reads its share of the file and what opening it costs, and the files are those of one run`, async (t) => {
        const url = served.server.url(`/${name}`);
        const size = (await stat(served.paths[name]!)).size;
        // What any run pays before its first frame: the container's header, and the packets FFmpeg reads to learn the
        // stream's parameters (and, in MPEG-TS, the end of the file for its duration); read as a shard reads them, with
        // no reading ahead outside the bytes planned (here none).
        const { bytes: opening } = await counted(async () => {
          const source = new HttpSource(url);
          source.planReads([{ start: size, end: size + 1 }]);
          const demuxer = new Demuxer(source);
          await demuxer.open();
          demuxer.destroy();
          await source.close();
        });
        const { result: plan, bytes: planBytes } = await counted(() => planShards(url, { shardFrames }));
        assert.equal(plan.shards.length, 300 / shardFrames);
        const out = join(served.dir, name, `${shardFrames}`);
        let total = 0;
        for (const shard of plan.shards) {
          assert.ok(shard.partialIndex, `shard ${shard.index} has a partial index`);
          const stats = new RunStats();
          const options = { ...OUTPUT, ...shard.selection, partialIndex: shard.partialIndex, resume: true, stats };
          const { bytes } = await counted(() => streamVideoFramesToDir(url, join(out, 'sharded'), options));
          total += bytes;
          // Its share of the frames, in bytes (grain makes frames of a size), 10% for GOPs of unequal size, the opening,
          // and a GOP past the range: a decoder that reorders gives its last frames once it has the next GOP's first
          // ones (MPEG-TS is cut where the next range starts; Matroska, whose blocks sit in clusters, is not).
          const share = (shard.last - shard.first + 1) / plan.frameCount;
          const bound = Math.round((share * 1.1 + GRAIN.gop! / GRAIN.frames) * size + opening);
          t.diagnostic(`shard ${shard.index} (frames ${shard.first}-${shard.last}): ${bytes} bytes = ${(bytes / size).toFixed(3)} of the file; bound ${bound}`);
          assert.equal(stats.strategy, 'partial');
          assert.equal(stats.packetsScanned, 0);
          assert.ok(bytes <= bound, `shard ${shard.index} read ${bytes} bytes; its share ${share} of ${size} bytes and a GOP, opening ${opening}: at most ${bound}`);
        }
        t.diagnostic(`opening ${opening} bytes; plan ${planBytes} (${(planBytes / size).toFixed(3)}), shards ${total} (${(total / size).toFixed(3)}) of ${size}`);
        assert.ok(planBytes <= size, `the plan reads the file once: ${planBytes} of ${size}`);
        await streamVideoFramesToDir(served.paths[name]!, join(out, 'single'), OUTPUT);
        assert.equal((await readdir(join(out, 'single'))).length, 300);
        await assertSameFiles(join(out, 'sharded'), join(out, 'single'));
      });
    }

    test('a shard without a partial index, as an older planner made it, scans the file and writes the same files', async () => {
      const url = served.server.url(`/${name}`);
      const plan = await planShards(url, { shardFrames: 75 });
      const { partialIndex, ...older }: Shard = plan.shards[2]!;
      assert.ok(partialIndex);
      const out = join(served.dir, name, 'older');
      const stats = new RunStats();
      await streamVideoFramesToDir(url, join(out, 'scanned'), { ...OUTPUT, ...older.selection, resume: true, stats });
      assert.equal(stats.strategy, 'scan');
      assert.ok(stats.packetsScanned > 225, `${stats.packetsScanned} packets scanned`);
      await streamVideoFramesToDir(url, join(out, 'partial'), { ...OUTPUT, ...older.selection, partialIndex, resume: true });
      await assertSameFiles(join(out, 'scanned'), join(out, 'partial'));
      assert.equal((await readdir(join(out, 'partial'))).length, 75);
      // Resumed after a crash that left three files missing (a list of frames, GOPs apart), it writes exactly those.
      const lost = ['frame_000151.png', 'frame_000190.png', 'frame_000224.png'];
      for (const file of lost) await rm(join(out, 'partial', file));
      const written: string[] = [];
      await streamVideoFramesToDir(url, join(out, 'partial'), { ...OUTPUT, ...older.selection, partialIndex, resume: true, progress: () => written.push('') });
      assert.equal(written.length, lost.length);
      await assertSameFiles(join(out, 'scanned'), join(out, 'partial'));
    });
  });
}

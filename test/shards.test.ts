/**
 * planShards over fixture videos with short GOPs: shard boundaries fall on the keyframes ffprobe reports, the shards
 * together select exactly the selection (ranges, steps, lists, times), and running the shards one after the other
 * into one directory writes the files one run of the whole selection writes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { planShards, runBatch } from '@framepipe/batch';
import type { ShardPlan } from '@framepipe/batch';
import { ErrorCode } from '@framepipe/common';
import { RunStats, Selection, openVideo, streamVideoFramesToDir } from '@framepipe/core';
import type { SelectionOptions } from '@framepipe/core';
import { H264_MKV, HEVC_MP4, SAMPLE_MP4, makeFixture } from './support/fixtures.ts';
import type { FixtureSpec } from './support/fixtures.ts';
import { runTool } from './support/ffmpeg-reference.ts';
import { readCodes, removeDir, tempDir } from './support/pipeline-helpers.ts';
import { rejectsWith } from './support/sources.ts';
import { movePesTails } from './support/ts-pes-tails.ts';

/** 150 frames in GOPs of 25, read by a scan (Matroska has no sample tables). */
const LONG_MKV: FixtureSpec = { ...H264_MKV, frames: 150, gop: 25 };

let work: string;
const files: { mp4: string; mkv: string } = { mp4: '', mkv: '' };
before(async () => {
  work = await tempDir('framepipe-shards-');
  files.mp4 = await makeFixture(SAMPLE_MP4);
  files.mkv = await makeFixture(LONG_MKV);
});
after(() => removeDir(work));

/** The frame numbers of the keyframes, by ffprobe: the ranks of the keyframe packets' pts among all packets' pts. */
async function keyframeNumbers(path: string): Promise<Set<number>> {
  const out = await runTool('ffprobe', ['-select_streams', 'v:0', '-show_entries', 'packet=pts,flags', '-of', 'json', path]);
  const packets = (JSON.parse(out.toString()) as { packets: Array<{ pts?: number; flags: string }> }).packets.filter((p) => p.pts !== undefined && p.pts >= 0);
  const sorted = packets.map((p) => p.pts!).sort((a, b) => a - b);
  return new Set(packets.filter((p) => p.flags.includes('K')).map((p) => sorted.indexOf(p.pts!)));
}

/** Every frame number each shard's selection picks, in shard order (a shard's range bounds its selection). */
function framesOf(plan: ShardPlan, frameCount: number): number[][] {
  return plan.shards.map((shard) => [...Selection.from(shard.selection).upTo(frameCount - 1)]);
}

/** Checks the shards of `plan`: adjacent whole ranges over the video, cut at keyframes, each of about `size` frames. */
async function assertAligned(plan: ShardPlan, path: string, size: number): Promise<void> {
  const keyframes = await keyframeNumbers(path);
  assert.ok(plan.shards.length > 1, 'more than one shard');
  assert.equal(plan.shards[0]!.first, 0);
  assert.equal(plan.shards.at(-1)!.last, plan.frameCount - 1);
  for (const [i, shard] of plan.shards.entries()) {
    assert.equal(shard.index, i);
    if (i > 0) {
      assert.equal(shard.first, plan.shards[i - 1]!.last + 1, 'ranges follow each other');
      assert.ok(keyframes.has(shard.first), `shard ${i} starts at frame ${shard.first}, a keyframe (${[...keyframes].sort((a, b) => a - b).join(' ')})`);
    }
    const picked = [...Selection.from(shard.selection).upTo(plan.frameCount - 1)];
    assert.equal(shard.frames, picked.length);
    assert.ok(picked.every((n) => n >= shard.first && n <= shard.last), `shard ${i}'s frames lie in its range`);
    if (i < plan.shards.length - 1) assert.ok(shard.frames >= size, `shard ${i} holds ${shard.frames} >= ${size} frames`);
  }
}

describe('planShards', () => {
  test('every frame of an MP4 (sample tables): shards of whole GOPs cut at keyframes, together every frame once', async () => {
    const plan = await planShards(files.mp4, { shardFrames: 40 });
    assert.equal(plan.frameCount, 150);
    assert.equal(plan.selected, 150);
    await assertAligned(plan, files.mp4, 40);
    assert.deepEqual(framesOf(plan, 150).flat(), Array.from({ length: 150 }, (_, i) => i));
    assert.deepEqual(plan.shards.map((s) => [s.first, s.last]), [[0, 49], [50, 99], [100, 149]]);
  });

  test('a step over a Matroska file (scanned): each shard a range with the step, on the grid of the whole', async () => {
    const plan = await planShards(files.mkv, { start: 7, step: 3, shardFrames: 10 });
    await assertAligned(plan, files.mkv, 10);
    const expected = Array.from({ length: Math.floor((149 - 7) / 3) + 1 }, (_, i) => 7 + 3 * i);
    assert.deepEqual(framesOf(plan, 150).flat(), expected);
    assert.equal(plan.selected, expected.length);
    for (const shard of plan.shards) assert.equal(shard.selection.step, 3);
  });

  test('a list of frames and a list of times: each shard lists its own frames', async () => {
    const frames = [149, 3, 3, 60, 61, 110, 24, 25, 26, 400];
    const byList = await planShards(files.mp4, { frames, shardFrames: 2 });
    await assertAligned(byList, files.mp4, 2);
    assert.deepEqual(framesOf(byList, 150).flat(), [3, 24, 25, 26, 60, 61, 110, 149]);
    // 25 fps: 1.0 s is frame 25, 4.42 s frame 110.
    const byTime = await planShards(files.mp4, { timestamps: [4.42, 1, 0.2, 5.9], shardFrames: 1 });
    await assertAligned(byTime, files.mp4, 1);
    assert.deepEqual(framesOf(byTime, 150).flat(), [5, 25, 110, 147]);
    for (const shard of [...byList.shards, ...byTime.shards]) assert.deepEqual(Object.keys(shard.selection), ['frames']);
  });

  test('a selection of at most shardFrames frames is one shard that keeps the selection as given', async () => {
    const given: SelectionOptions = { start: 10, end: 40, step: 2 };
    const plan = await planShards(files.mkv, { ...given, shardFrames: 16 });
    assert.deepEqual(plan.shards, [{ index: 0, first: 10, last: 40, frames: 16, selection: given }]);
    const whole = await planShards(files.mp4);
    assert.equal(whole.shards.length, 1);
    assert.deepEqual(whole.shards[0]!.selection, {});
  });

  for (const options of [{ start: 7, step: 3 }, { frames: [3, 24, 25, 26, 60, 61, 110, 149] }] satisfies SelectionOptions[]) {
    test(`the shards of ${JSON.stringify(options)}, run one after the other into one directory with their partial indexes, write the files of one run`, async () => {
      const plan = await planShards(files.mkv, { ...options, shardFrames: 2 });
      assert.ok(plan.shards.length > 2);
      const sharded = join(work, `sharded-${plan.selected}`);
      for (const shard of plan.shards) {
        // Matroska has no sample tables: each shard starts at its keyframe with the plan's numbers, scanning nothing.
        assert.ok(shard.partialIndex, `shard ${shard.index} has a partial index`);
        assert.equal(shard.partialIndex.first, shard.first);
        const stats = new RunStats();
        await streamVideoFramesToDir(files.mkv, sharded, { ...options, ...shard.selection, partialIndex: shard.partialIndex, resume: true, stats });
        assert.equal(stats.strategy, 'partial');
        assert.equal(stats.packetsScanned, 0);
      }
      const single = join(work, `single-${plan.selected}`);
      await streamVideoFramesToDir(files.mkv, single, options);
      const names = (await readdir(sharded)).sort();
      assert.deepEqual(names, (await readdir(single)).sort());
      assert.deepEqual(await readCodes(names.map((name) => join(sharded, name))), await readCodes(names.map((name) => join(single, name))));
    });
  }

  test('HEVC with B-frames in MPEG-TS: every shard, from its keyframe by byte with its partial index, writes the files of one run', async () => {
    const ts = await makeFixture({ ...HEVC_MP4, container: 'ts' });
    const plan = await planShards(ts, { shardFrames: 12 });
    assert.ok(plan.shards.length >= 4);
    const sharded = join(work, 'hevc-sharded');
    for (const shard of plan.shards) {
      assert.ok(shard.partialIndex);
      const stats = new RunStats();
      await streamVideoFramesToDir(ts, sharded, { ...shard.selection, partialIndex: shard.partialIndex, resume: true, stats });
      assert.equal(stats.strategy, 'partial');
      assert.equal(stats.seeksMissed, 0);
    }
    const single = join(work, 'hevc-single');
    await streamVideoFramesToDir(ts, single);
    const names = (await readdir(sharded)).sort();
    assert.deepEqual(names, (await readdir(single)).sort());
    assert.equal(names.length, plan.frameCount);
    assert.deepEqual(await readCodes(names.map((name) => join(sharded, name))), await readCodes(names.map((name) => join(single, name))));
  });

  test('MPEG-TS whose PES packets start with the tail of the picture before: each shard still ends with whole pictures', async () => {
    // The keyframe's packet, where the next shard starts, holds the end of this shard's last picture in decode order.
    const ts = join(work, 'tails.ts');
    await writeFile(ts, movePesTails(await readFile(await makeFixture({ ...LONG_MKV, container: 'ts', frames: 60, gop: 12, grain: true, bitRate: 2_000_000 })), 40));
    const plan = await planShards(ts, { shardFrames: 20 });
    assert.ok(plan.shards.length >= 3 && plan.shards.slice(0, -1).every((shard) => shard.partialIndex?.cut), 'shards that end at the next keyframe');
    const sharded = join(work, 'tails-sharded');
    for (const shard of plan.shards) {
      await streamVideoFramesToDir(ts, sharded, { ...shard.selection, partialIndex: shard.partialIndex, resume: true, strict: true });
    }
    const single = join(work, 'tails-single');
    await streamVideoFramesToDir(ts, single, { strict: true });
    const names = (await readdir(single)).sort();
    assert.equal(names.length, 60);
    assert.deepEqual((await readdir(sharded)).sort(), names);
    for (const name of names) assert.ok((await readFile(join(sharded, name))).equals(await readFile(join(single, name))), `${name} as in one run`);
  });

  test('an MP4 (sample tables), a lone shard and keyframes get no partial index; a selection outside one is refused', async () => {
    assert.ok((await planShards(files.mp4, { shardFrames: 40 })).shards.every((shard) => shard.partialIndex === undefined));
    assert.equal((await planShards(files.mkv)).shards[0]!.partialIndex, undefined);
    const keyframes = await planShards(files.mkv, { keyframesOnly: true, shardFrames: 2 });
    assert.ok(keyframes.shards.length > 1 && keyframes.shards.every((shard) => shard.partialIndex === undefined));
    const { partialIndex, last } = (await planShards(files.mkv, { shardFrames: 40 })).shards[1]!;
    await assert.rejects(streamVideoFramesToDir(files.mkv, join(work, 'outside'), { start: 10, end: last, partialIndex }), {
      code: ErrorCode.INVALID_OPTION,
      message: `partialIndex numbers frames 50..${last}, and the selection asks for frames 10..${last}: run each shard with its own selection`,
    });
    // A reader may be asked for any frame, and a batch runs whole videos: neither takes one range's index.
    await assert.rejects(openVideo(files.mkv, { partialIndex } as never), { code: ErrorCode.INVALID_OPTION, message: /partialIndex/ });
    await assert.rejects(runBatch([files.mkv], { out: join(work, 'batch'), partialIndex } as never), { code: ErrorCode.INVALID_OPTION, message: /partialIndex/ });
  });

  test('bad options fail before any I/O, naming the option', async () => {
    await assert.rejects(planShards(files.mp4, { shardFrames: 0 }), { code: ErrorCode.INVALID_OPTION, message: /shardFrames/ });
    await assert.rejects(planShards(files.mp4, { ext: 'png' } as never), { code: ErrorCode.INVALID_OPTION, message: /ext/ });
    await rejectsWith(planShards(join(work, 'missing.mp4')), ErrorCode.FILE_NOT_FOUND);
  });

  test('a signal stops planShards with ERR_FRAMEPIPE_ABORTED, given at the start or while it reads', async () => {
    const controller = new AbortController();
    const planned = planShards(files.mkv, { signal: controller.signal, shardFrames: 10 });
    controller.abort();
    await rejectsWith(planned, ErrorCode.ABORTED);
    await rejectsWith(planShards(files.mkv, { signal: AbortSignal.abort() }), ErrorCode.ABORTED);
  });
});

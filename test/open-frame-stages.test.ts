/**
 * `openFrameStages`, the public composition entry: any selection piped into a Writable of the caller's own gives
 * the frames of the one-call API, pixel for pixel; what it leaves out, how it fails when a consumer forgets the
 * budget, and what it closes.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { Writable, pipelinePromise } from 'streamx';
import { ErrorCode, FrameBudget, FramepipeError, RunStats, Selection, openFrameStages, streamVideoFramesToDir } from '@framepipe/core';
import type { RgbFrame, SelectionOptions } from '@framepipe/core';
import { FileSource } from '@framepipe/http-source';
import { readFrameCode } from './support/frame-code.ts';
import { H264_MP4_MOOV_END, H264_TS, VP9_WEBM } from './support/fixtures.ts';
import { countNativeObjects, indexInName, servedFixtures } from './support/pipeline-helpers.ts';

// 60 frames at 25 fps, GOP 12: an MP4 (numbered from its sample tables), a WebM and an MPEG-TS (scanned).
const CONTAINERS = { 'h264.mp4': H264_MP4_MOOV_END, 'vp9.webm': VP9_WEBM, 'h264.ts': H264_TS };

const served = servedFixtures(CONTAINERS);

/** A consumer of our own: keeps a copy of every frame and gives its budget unit back. */
class Collector extends Writable {
  readonly frames: RgbFrame[] = [];
  readonly #release: () => void;

  constructor(release: () => void) {
    super();
    this.#release = release;
  }

  override _write(frame: RgbFrame, cb: (error: Error | null) => void): void {
    this.frames.push({ ...frame, data: Buffer.from(frame.data) });
    this.#release();
    cb(null);
  }
}

const SELECTIONS: Array<[string, SelectionOptions]> = [
  ['a range past frame 0', { start: 20, end: 29 }],
  ['a step', { step: 7 }],
  ['a step inside a range', { start: 5, end: 50, step: 15 }],
  ['a frame list', { frames: [50, 3, 31, 3] }],
  ['timestamps', { timestamps: [2, 0.5, 1] }],
];

for (const name of Object.keys(CONTAINERS)) {
  describe(`openFrameStages into a Writable of our own: ${name}`, () => {
    for (const [label, selection] of SELECTIONS) {
      test(`${label}: the frames of streamVideoFramesToDir, pixel for pixel`, async () => {
        const stages = await openFrameStages(served.server.url(`/${name}`), selection, { budget: 3 });
        const collector = new Collector(() => stages.budget.release());
        try {
          await pipelinePromise(...stages.streams, collector);
        } finally {
          await stages.close();
        }
        const reference = await streamVideoFramesToDir(served.server.url(`/${name}`), join(served.dir, name, label), selection);
        assert.deepEqual(collector.frames.map((frame) => frame.index), reference.map(indexInName), 'the same frames, in frame order');
        // Frames numbered as packets pass (a step from 0) are counted only when the container states its count.
        const counted = stages.index?.strategy !== 'stream' || stages.info?.frameCount !== null;
        assert.equal(stages.plan.total, counted ? reference.length : null, 'the plan counted them');
        for (const [i, frame] of collector.frames.entries()) {
          assert.equal(readFrameCode(frame.data, frame.width, frame.height), frame.index, `frame ${frame.index} shows itself`);
          const png = await sharp(reference[i]!).raw().toBuffer();
          assert.ok(png.equals(frame.data), `frame ${frame.index}: the same pixels as ${reference[i]}`);
        }
      });
    }
  });
}

describe('openFrameStages', () => {
  test('the plan says how the stages decode: the index, the seek, the parts', async () => {
    await using stages = await openFrameStages(served.server.url('/h264.mp4'), Selection.from({ frames: [5, 40] }));
    assert.equal(stages.index?.strategy, 'container');
    assert.equal(stages.info?.width, 320);
    assert.equal(stages.plan.seek?.pts, stages.index?.keyframeFor(5)?.pts);
    assert.deepEqual(stages.plan.parts.map((part) => part.last), [5, 40], 'two parts, GOPs apart: a jump between them');
    const collector = new Collector(() => stages.budget.release());
    await pipelinePromise(...stages.streams, collector);
    assert.deepEqual(collector.frames.map((frame) => frame.index), [5, 40]);
  });

  test('a consumer that never releases its frames fails with ERR_FRAMEPIPE_STALLED instead of hanging', async () => {
    const native = countNativeObjects();
    try {
      const stages = await openFrameStages(served.server.url('/h264.mp4'), { start: 10, end: 29 }, { budget: 4, stallTimeout: 300 });
      let received = 0;
      const forgetful = new Writable({
        write(_frame: RgbFrame, cb: (error: Error | null) => void) {
          received++;
          cb(null);
        },
      });
      try {
        await assert.rejects(pipelinePromise(...stages.streams, forgetful), (error: unknown) => {
          assert.ok(error instanceof FramepipeError, String(error));
          assert.equal(error.code, ErrorCode.STALLED);
          assert.match(error.message, /budget\.release\(\)/);
          return true;
        });
      } finally {
        await stages.close();
      }
      assert.equal(received, 4, 'as many frames as the budget allows, then the wait that fails');
      assert.deepEqual(native.live(), { frames: 0, packets: 0 }, 'every packet and frame freed');
    } finally {
      native.restore();
    }
  });

  test('skip leaves frames out and lists them; what remains is decoded GOP by GOP', async () => {
    const stats = new RunStats();
    await using stages = await openFrameStages(served.server.url('/h264.mp4'), { end: 35 }, { skip: new Set([...Array(30).keys()]), stats });
    assert.equal(stages.index?.strategy, 'container', 'a range from 0 is indexed first when frames are left out');
    assert.deepEqual(stages.skipped.map((frame) => frame.index), [...Array(30).keys()]);
    assert.equal(stages.skipped[0]?.keyframe, true);
    assert.equal(stages.skipped[1]?.keyframe, false);
    assert.deepEqual(stages.plan.selection.frames, [30, 31, 32, 33, 34, 35]);
    const collector = new Collector(() => stages.budget.release());
    await pipelinePromise(...stages.streams, collector);
    assert.deepEqual(collector.frames.map((frame) => frame.index), [30, 31, 32, 33, 34, 35]);
    assert.ok(stats.framesDecoded < 20, `only the GOP of frames 24-35 and what it needs: ${stats.framesDecoded} decoded`);
  });

  test('an empty selection opens nothing and pipes as an empty stream', async () => {
    const before = served.server.requests.length;
    for (const selection of [{ frames: [] }, { timestamps: [] }]) {
      await using stages = await openFrameStages(served.server.url('/h264.mp4'), selection);
      assert.equal(stages.streams.length, 1);
      assert.equal(stages.plan.total, 0);
      assert.equal(stages.info, null);
      const collector = new Collector(() => stages.budget.release());
      await pipelinePromise(...stages.streams, collector);
      assert.equal(collector.frames.length, 0);
    }
    assert.equal(served.server.requests.length, before, 'no request');
    await using past = await openFrameStages(served.server.url('/h264.mp4'), { start: 60 });
    assert.deepEqual([past.streams.length, past.plan.total, past.info?.frameCount], [1, 0, 60], 'a start past the end: opened, nothing to decode');
    // A scanned container: the scan reads the file once, and no demuxer is opened again for a decode that will not be.
    const size = (await stat(served.paths['h264.ts']!)).size;
    await using scanned = await openFrameStages(served.server.url('/h264.ts'), { start: 60 });
    assert.deepEqual([scanned.index?.strategy, scanned.plan.total], ['scan', 0]);
    assert.ok(scanned.source.bytesRead <= size, `${scanned.source.bytesRead} bytes read of a ${size}-byte file`);
  });

  test('close() closes a source it opened, not one it was given', async () => {
    const given = new FileSource(served.paths['h264.mp4']!);
    const stages = await openFrameStages(given, { start: 0, end: 1 });
    await pipelinePromise(...stages.streams, new Collector(() => stages.budget.release()));
    await stages.close();
    // Still open: it reads on.
    assert.equal((await given.read(0, 8)).length, 8);
    await given.close();
  });

  test('options and selection are checked before any request', async () => {
    const before = served.server.requests.length;
    await assert.rejects(openFrameStages(served.server.url('/h264.mp4'), { start: 5, end: 2 }), /Expected an integer >= start \(5\) for end/);
    await assert.rejects(openFrameStages(served.server.url('/h264.mp4'), { strat: 5 } as never), /Unknown option strat for selection/);
    await assert.rejects(openFrameStages(served.server.url('/h264.mp4'), {}, { budget: 0 }), /Expected a positive integer for budget but received 0/);
    await assert.rejects(openFrameStages(served.server.url('/h264.mp4'), {}, { stallTimeout: -1 }), /for stallTimeout/);
    await assert.rejects(openFrameStages(served.server.url('/h264.mp4'), {}, { skip: [1.5] }), /for skip/);
    await assert.rejects(openFrameStages(served.server.url('/h264.mp4'), {}, { bufer: 3 } as never), /Unknown option bufer for openFrameStages/);
    assert.equal(served.server.requests.length, before);
  });
});

describe('what openFrameStages closes, and what it leaves to its caller', () => {
  test('a FrameBudget the caller gives stays open: it can serve run after run', async () => {
    const budget = new FrameBudget(3);
    for (const selection of [{ start: 10, end: 12 }, { frames: [40, 2] }]) {
      const stages = await openFrameStages(served.server.url('/h264.mp4'), selection, { budget });
      const collector = new Collector(() => budget.release());
      try {
        await pipelinePromise(...stages.streams, collector);
      } finally {
        await stages.close();
      }
      assert.deepEqual(collector.frames.map((frame) => frame.index), [...Selection.from(selection)].sort((a, b) => a - b));
    }
    assert.equal(budget.inUse, 0);
    await assert.rejects(openFrameStages(served.server.url('/h264.mp4'), {}, { budget, stallTimeout: 5 }), /no stallTimeout with a FrameBudget/);
  });

  test('resume with a bad source fails before it touches the directory', async () => {
    const out = join(served.dir, 'resume-bad-source');
    await mkdir(out, { recursive: true });
    // The temporary file of a writer that is no longer running: a resumed run would remove it.
    const stale = join(out, '.frame_000001.png.999999999-1.partial.png');
    await writeFile(stale, 'half a file');
    await assert.rejects(
      streamVideoFramesToDir({ url: served.server.url('/h264.mp4'), headrs: {} } as never, out, { resume: true }),
      (error: unknown) => error instanceof FramepipeError && error.code === ErrorCode.INVALID_OPTION && /Unknown option headrs/.test(error.message),
    );
    assert.equal(await readFile(stale, 'utf8'), 'half a file', 'the directory is as it was');
  });
});

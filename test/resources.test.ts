import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { ErrorCode, RunStats, streamVideoFrames, streamVideoFramesToDir } from '@framepipe/core';
import { H264_MP4_MOOV_END, H264_TS, makeFixture } from './support/fixtures.ts';
import { countNativeObjects, indexInName, readCodes, removeDir, serveFixtures, strayFiles, tempDir } from './support/pipeline-helpers.ts';
import type { RangeServer } from './support/range-server.ts';

let server: RangeServer;
let dir: string;

before(async () => {
  ({ server } = await serveFixtures({ 'moov-end.mp4': H264_MP4_MOOV_END, 'clip.ts': H264_TS }));
  dir = await tempDir();
});
after(async () => {
  await server.close();
  await removeDir(dir);
});

/** Lets the event loop turn a few times: a writer that is slow without measuring time. */
async function slowly(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await nextTurn();
}

for (const [name, start] of [['stream strategy', 0], ['scan strategy', 5]] as const) {
  test(`backpressure (${name}): frames alive between decoder and disk never exceed queue + workers + 1`, async () => {
    const queueMaxSize = 4;
    const maxWriteWorkers = 2;
    const stats = new RunStats();
    let peak = 0;
    let writing = 0;
    let peakWriting = 0;
    // Decoded and not yet dropped or finished on disk, counted from the stages' own tallies.
    const sample = () => {
      peak = Math.max(peak, stats.framesDecoded - stats.framesDropped - stats.framesDelivered);
    };
    const sampler = setInterval(sample, 1);
    const paths = await streamVideoFramesToDir(server.url('/moov-end.mp4'), join(dir, `bp-${start}`), {
      start,
      queueMaxSize,
      maxWriteWorkers,
      stats,
      progress: sample,
      imageWriter: async (path, frame) => {
        writing++;
        peakWriting = Math.max(peakWriting, writing);
        sample();
        await slowly();
        sample();
        await writeFile(path, frame.data);
        writing--;
      },
    });
    clearInterval(sampler);
    assert.equal(paths.length, 60 - start);
    assert.ok(peak <= queueMaxSize + maxWriteWorkers + 1, `peak frames alive: ${peak}`);
    // The bound must be reached for the test to mean anything: a slow writer lets the queue fill up.
    assert.ok(peak >= queueMaxSize + maxWriteWorkers, `the queue filled up (peak ${peak})`);
    assert.equal(peakWriting, maxWriteWorkers, 'writers run in parallel up to the limit');
  });
}

test('leaving the iterator early stops every stage and frees all native memory', async () => {
  const native = countNativeObjects();
  try {
    const stats = new RunStats();
    const seen: number[] = [];
    for await (const frame of streamVideoFrames(server.url('/clip.ts'), { start: 10, stats })) {
      seen.push(frame.index);
      if (seen.length === 3) break;
    }
    assert.deepEqual(seen, [10, 11, 12]);
    assert.deepEqual(native.live(), { frames: 0, packets: 0 }, 'every packet and frame freed');
    const decodedAtBreak = stats.framesDecoded;
    await slowly(50);
    assert.equal(stats.framesDecoded, decodedAtBreak, 'nothing decodes after the loop has ended');
    assert.ok(stats.framesDecoded < 60, `decoding stopped early (${stats.framesDecoded} frames decoded)`);
  } finally {
    native.restore();
  }
});

test('an aborted signal stops the run: coded error, complete files only, native memory freed', async () => {
  const native = countNativeObjects();
  const out = join(dir, 'aborted');
  try {
    const controller = new AbortController();
    let written = 0;
    const run = streamVideoFramesToDir(server.url('/moov-end.mp4'), out, {
      signal: controller.signal,
      maxWriteWorkers: 3,
      progress: () => {
        if (++written === 5) controller.abort();
      },
    });
    await assert.rejects(run, (error: Error & { code?: string }) => error.code === ErrorCode.ABORTED);
    assert.deepEqual(native.live(), { frames: 0, packets: 0 }, 'every packet and frame freed');
    assert.deepEqual(await strayFiles(out), [], 'no temporary files');
    const { readdir } = await import('node:fs/promises');
    const files = (await readdir(out)).map((name) => join(out, name)).sort();
    assert.ok(files.length >= 5 && files.length < 60, `stopped early with ${files.length} files`);
    assert.deepEqual(await readCodes(files), files.map(indexInName), 'every remaining file is complete and right');
  } finally {
    native.restore();
  }
});

test('an already aborted signal fails before any request', async () => {
  const before = server.requests.length;
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(
    streamVideoFramesToDir(server.url('/moov-end.mp4'), join(dir, 'pre-aborted'), { signal: controller.signal }),
    { code: ErrorCode.ABORTED },
  );
  assert.equal(server.requests.length, before);
});

test('a full run frees every native object it allocated', async () => {
  const native = countNativeObjects();
  try {
    await streamVideoFramesToDir(server.url('/clip.ts'), join(dir, 'full-free'), { start: 20, end: 40 });
    for await (const frame of streamVideoFrames(server.url('/moov-end.mp4'))) void frame;
    assert.deepEqual(native.live(), { frames: 0, packets: 0 });
  } finally {
    native.restore();
  }
});

test('an abort at any read of a run ends in ERR_FRAMEPIPE_ABORTED, never a hang or another error; all is freed', async () => {
  // Opening reads the header, the sample tables or a scan, then the packets. An abort between two reads must stop
  // every stage, built or not yet built: a stage destroyed before it was piped once never closed (the run hung),
  // and one built after the abort opened a decoder from the parameters the destroyed demuxer had freed.
  const { FileSource } = await import('@framepipe/http-source');
  const { withRead } = await import('./support/sources.ts');
  const native = countNativeObjects();
  try {
    for (const [spec, start] of [[H264_MP4_MOOV_END, 0], [H264_MP4_MOOV_END, 30], [H264_TS, 10]] as const) {
      const path = await makeFixture(spec);
      const name = `${spec.container} from frame ${start}`;
      /** Runs frames start..start+9, aborting at read `abortAt` (never if 0); resolves with the reads made. */
      const run = async (abortAt: number): Promise<{ reads: number; error: unknown }> => {
        const inner = new FileSource(path);
        const controller = new AbortController();
        let reads = 0;
        const source = withRead(inner, path, (offset, length, signal) => {
          if (++reads === abortAt) controller.abort(new Error(`abort at read ${abortAt}`));
          return inner.read(offset, length, signal);
        });
        const out = join(dir, `abort-read-${spec.container}-${start}-${abortAt}`);
        try {
          const error = await streamVideoFramesToDir(source, out, { start, end: start + 9, signal: controller.signal }).then(() => null, (e: unknown) => e);
          assert.deepEqual(await strayFiles(out), [], `${name}, abort at read ${abortAt}: no temporary file`);
          return { reads, error };
        } finally {
          await inner.close();
        }
      };
      const { reads, error } = await run(0);
      assert.equal(error, null);
      for (let abortAt = 1; abortAt <= reads; abortAt++) {
        const result = await run(abortAt);
        assert.ok(result.error instanceof Error && (result.error as { code?: string }).code === ErrorCode.ABORTED, `${name}, abort at read ${abortAt} of ${reads}: ${String(result.error)}`);
        assert.deepEqual(native.live(), { frames: 0, packets: 0 }, `${name}, abort at read ${abortAt}: all freed`);
      }
    }
  } finally {
    native.restore();
  }
});

test('an abort while the last files are written (decoding done) still rejects with ERR_FRAMEPIPE_ABORTED', async () => {
  const out = join(dir, 'abort-at-the-end');
  const controller = new AbortController();
  const stats = new RunStats();
  const run = streamVideoFramesToDir(server.url('/moov-end.mp4'), out, {
    signal: controller.signal,
    stats,
    maxWriteWorkers: 2,
    imageWriter: async (path, frame) => {
      // The last frame: every stage before the sink has finished by now.
      if (frame.index === 59) {
        controller.abort(new Error('stop'));
        await slowly();
      }
      await writeFile(path, frame.data);
    },
  });
  await assert.rejects(run, { code: ErrorCode.ABORTED });
  assert.equal(stats.framesDecoded, 60, 'decoding had ended');
  assert.deepEqual(await strayFiles(out), []);
});

test('an abort reaches a slow imageWriter through its signal: the run rejects at once and leaves no file', async () => {
  const out = join(dir, 'abort-a-slow-writer');
  const controller = new AbortController();
  const aborted: boolean[] = [];
  let abortedAt = 0;
  const run = streamVideoFramesToDir(server.url('/moov-end.mp4'), out, {
    signal: controller.signal,
    maxWriteWorkers: 2,
    imageWriter: async (path, frame, { signal }) => {
      await writeFile(path, frame.data);
      if (frame.index === 1) {
        abortedAt = performance.now();
        controller.abort(new Error('stop'));
      }
      // An upload that would take 3 s, unless it is stopped.
      await new Promise<void>((resolve, reject) => {
        if (signal.aborted) return reject(signal.reason);
        const timer = setTimeout(resolve, 3000);
        signal.addEventListener('abort', () => (clearTimeout(timer), reject(signal.reason)), { once: true });
      });
      aborted.push(signal.aborted);
    },
  });
  await assert.rejects(run, { code: ErrorCode.ABORTED });
  assert.ok(performance.now() - abortedAt < 1500, 'rejected without waiting for the writers');
  assert.deepEqual(aborted, [], 'no write ran to its end');
  assert.deepEqual(await strayFiles(out), []);
  assert.deepEqual(await readCodes((await readdir(out).catch(() => [] as string[])).map((name) => join(out, name))), []);
});

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, FramepipeError, InvalidOptionError, RunStats, streamVideoFrames, streamVideoFramesToDir } from '@framepipe/core';
import { H264_MP4_MOOV_END, makeFixture } from './support/fixtures.ts';
import { runTool } from './support/ffmpeg-reference.ts';
import { indexInName, readCodes, removeDir, strayFiles, tempDir } from './support/pipeline-helpers.ts';
import { startRangeServer } from './support/range-server.ts';
import type { RangeServer } from './support/range-server.ts';
import { BIN, runScript } from './support/run-script.ts';

// H264_MP4_MOOV_END: 60 frames, 3 B-frames, a keyframe every 12 frames.
const FRAMES = 60;
const GOP = 12;
// The frame whose packet is damaged: a B-frame of the third GOP that no other frame refers to. (Damage to a
// reference frame also spoils the frames decoded from it, which FFmpeg conceals without flagging them: only
// `strict` guards against that.)
const DAMAGED = 29;

let dir: string;
let damaged: string;
let server: RangeServer;

/**
 * A copy of the fixture whose packet of frame `frame` has every payload byte flipped (the 4-byte NAL length
 * prefix kept), so the decoder rejects it as invalid data. The packet's byte range comes from ffprobe.
 */
async function damageFrame(source: string, frame: number, target: string): Promise<void> {
  const out = await runTool('ffprobe', ['-select_streams', 'v:0', '-show_entries', 'packet=pts,pos,size', '-of', 'json', source]);
  const packets = (JSON.parse(out.toString()) as { packets: Array<{ pts: number; pos: string; size: string }> }).packets;
  // The frame number of a pts is its rank among the packets' pts.
  const ranked = [...packets].sort((a, b) => a.pts - b.pts);
  const packet = ranked[frame]!;
  const bytes = await readFile(source);
  const start = Number(packet.pos) + 4;
  const end = Number(packet.pos) + Number(packet.size);
  for (let i = start; i < end; i++) bytes[i] = bytes[i]! ^ 0xff;
  await writeFile(target, bytes);
}

before(async () => {
  dir = await tempDir('framepipe-strict-');
  damaged = join(dir, 'damaged.mp4');
  await damageFrame(await makeFixture(H264_MP4_MOOV_END), DAMAGED, damaged);
  server = await startRangeServer({ files: { '/damaged.mp4': damaged } });
});
after(async () => {
  await server.close();
  await removeDir(dir);
});

async function frameFiles(out: string): Promise<string[]> {
  return (await readdir(out)).filter((name) => name.startsWith('frame_')).sort().map((name) => join(out, name));
}

const everyFrame = Array.from({ length: FRAMES }, (_, i) => i);

describe('corrupt packets', () => {
  test('by default the damaged frame is skipped (no file) and counted; every other frame is saved', async () => {
    for (const [name, start] of [['stream strategy', 0], ['container strategy', 1]] as const) {
      const stats = new RunStats();
      const out = join(dir, `skip-${start}`);
      const paths = await streamVideoFramesToDir(server.url('/damaged.mp4'), out, { start, stats });
      const expected = everyFrame.filter((n) => n >= start && n !== DAMAGED);
      assert.deepEqual(paths.map(indexInName), expected, name);
      assert.deepEqual(await readCodes(paths), expected, `${name}: every file shows its own frame`);
      assert.equal(stats.rejectedPackets, 1, name);
      assert.equal(stats.corruptFrames, 0, name);
    }
  });

  test('strict: the run fails with ERR_FRAMEPIPE_CORRUPT_DATA naming the frame; the files kept are complete', async () => {
    const stats = new RunStats();
    const out = join(dir, 'strict');
    const error = await streamVideoFramesToDir(server.url('/damaged.mp4'), out, { start: 1, strict: true, stats, maxWriteWorkers: 1 }).then(
      () => assert.fail('expected a rejection'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof FramepipeError && error.code === ErrorCode.CORRUPT_DATA, String(error));
    // With frame threads the failure surfaces a packet or a few later (decode order); one thread names it exactly.
    const named = /^Corrupt packet (?:of|at or shortly before \(in decode order\) the packet of) frame (\d+) \(pts \d+, dts -?\d+, [\d.]+ s\): the decoder rejected it: Invalid data found when processing input/.exec(error.message);
    assert.ok(named, error.message);
    const frame = Number(named[1]);
    assert.ok(frame >= DAMAGED - 3 && frame < DAMAGED + GOP, `named frame ${frame} is where the damage is`);
    assert.equal(stats.rejectedPackets, 0, 'an error, not a skip');
    const files = await frameFiles(out);
    assert.ok(files.length < FRAMES - 1, `stopped early: ${files.length} files`);
    assert.deepEqual(await readCodes(files), files.map(indexInName), 'every file kept is complete and right');
    assert.deepEqual(await strayFiles(out), []);
  });

  test('strict: a selection that does not decode the damaged GOP succeeds', async () => {
    const stats = new RunStats();
    const paths = await streamVideoFramesToDir(server.url('/damaged.mp4'), join(dir, 'strict-elsewhere'), { start: 40, end: 50, strict: true, stats });
    assert.deepEqual(paths.map(indexInName), everyFrame.slice(40, 51));
    assert.equal(stats.rejectedPackets, 0);
  });

  test('strict with the iterator: the loop throws ERR_FRAMEPIPE_CORRUPT_DATA', async () => {
    const seen: number[] = [];
    await assert.rejects(
      (async () => {
        for await (const frame of streamVideoFrames(server.url('/damaged.mp4'), { strict: true })) seen.push(frame.index);
      })(),
      { code: ErrorCode.CORRUPT_DATA },
    );
    assert.ok(seen.length < DAMAGED + 1, `${seen.length} frames before the failure`);
    assert.deepEqual(seen, everyFrame.slice(0, seen.length));
    // Without strict, the iterator skips it.
    const stats = new RunStats();
    const all: number[] = [];
    for await (const frame of streamVideoFrames(server.url('/damaged.mp4'), { stats })) all.push(frame.index);
    assert.deepEqual(all, everyFrame.filter((n) => n !== DAMAGED));
    assert.equal(stats.rejectedPackets, 1);
  });

  test('a bad strict option is rejected with the usual message', () => {
    assert.throws(
      () => streamVideoFrames(server.url('/damaged.mp4'), { strict: 'yes' } as never),
      (error: unknown) => error instanceof InvalidOptionError && error.message === 'Expected a boolean for strict but received "yes" of type string',
    );
  });

  test('the CLI reports skipped data on stderr and in --json; --strict exits 1 with the code', async () => {
    const plain = await runScript(BIN, ['frames', server.url('/damaged.mp4'), '-o', join(dir, 'cli'), '--start', '20', '--end', '39']);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, /^Saved 19 frames to /);
    assert.match(plain.stderr, /^Note: skipped 1 packet the decoder rejected as invalid data; the frames they hold have no file \(--strict makes this an error\)\.$/m);
    const json = await runScript(BIN, ['frames', server.url('/damaged.mp4'), '-o', join(dir, 'cli-json'), '--start', '20', '--end', '39', '--json']);
    assert.equal(json.code, 0, json.stderr);
    const summary = JSON.parse(json.stdout) as Record<string, unknown>;
    assert.equal(summary.frames, 19);
    assert.equal(summary.rejectedPackets, 1);
    assert.equal(summary.corruptFrames, undefined, 'only figures that are not zero');
    const strict = await runScript(BIN, ['frames', server.url('/damaged.mp4'), '-o', join(dir, 'cli-strict'), '--start', '20', '--end', '39', '--strict']);
    assert.equal(strict.code, 1, strict.stderr);
    assert.match(strict.stderr, /^ERR_FRAMEPIPE_CORRUPT_DATA Corrupt packet .*frame \d+ \(pts \d+/m);
    assert.deepEqual(await strayFiles(join(dir, 'cli-strict')), []);
  });
});

describe('damage the codec reports in other words than "invalid data"', () => {
  // Found by the fuzz pass (seed 5, case 1047): 8 bytes flipped in the frames of an MJPEG AVI make the decoder answer
  // "patches welcome" for some of them. The ffmpeg CLI leaves such packets out and goes on; so does framepipe.
  const EDITS = [
    { op: 'xor', at: 21692, mask: 128 },
    { op: 'xor', at: 31490, mask: 255 },
    { op: 'xor', at: 140114, mask: 255 },
    { op: 'xor', at: 133641, mask: 255 },
    { op: 'xor', at: 116896, mask: 255 },
    { op: 'xor', at: 107157, mask: 2 },
    { op: 'xor', at: 25771, mask: 128 },
    { op: 'xor', at: 43682, mask: 32 },
  ] as const;
  let damaged: string;
  let workDir: string;
  before(async () => {
    const { applyEdits } = await import('./support/fuzz-mutations.ts');
    const { MJPEG_AVI } = await import('./support/fixtures.ts');
    workDir = await tempDir('framepipe-damaged-');
    damaged = join(workDir, 'damaged.avi');
    await writeFile(damaged, applyEdits(await readFile(await makeFixture(MJPEG_AVI)), EDITS));
  });
  after(() => removeDir(workDir));

  test('by default such a packet is skipped and counted; the other frames are saved', async () => {
    const stats = new RunStats();
    const out = join(workDir, 'default');
    const paths = await streamVideoFramesToDir(damaged, out, { stats });
    assert.ok(stats.rejectedPackets >= 1, `rejected ${stats.rejectedPackets}`);
    assert.equal(paths.length + stats.rejectedPackets + stats.corruptFrames, FRAMES);
    assert.deepEqual(await strayFiles(out), []);
  });

  test('with strict it is ERR_FRAMEPIPE_CORRUPT_DATA', async () => {
    await assert.rejects(streamVideoFramesToDir(damaged, join(workDir, 'strict'), { strict: true }), { code: ErrorCode.CORRUPT_DATA });
  });
});

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import sharp from 'sharp';
import { ErrorCode, InvalidOptionError, MANIFEST_FILE_NAME, RunStats, streamVideoFrames, streamVideoFramesToDir } from '@framepipe/core';
import type { ImageWriter, ManifestLine } from '@framepipe/core';
import { main } from '@framepipe/cli';
import { SuperviselyApi, streamVideoFramesToDir as streamSuperviselyFramesToDir } from '@framepipe/supervisely';
import { startStandInServer } from '@framepipe/supervisely/stand-in';
import { H264_1080P, H264_MP4_MOOV_END, VP9_WEBM } from './support/fixtures.ts';
import { runTool } from './support/ffmpeg-reference.ts';
import { indexInName, readCodes, removeDir, serveFixtures, strayFiles, tempDir } from './support/pipeline-helpers.ts';
import type { RangeServer } from './support/range-server.ts';
import { BIN, runScript } from './support/run-script.ts';

// Both fixtures: 60 frames at 25 fps, a keyframe every 12 frames.
const GOP = 12;
const LINE_KEYS = ['index', 'pts', 'time', 'keyframe', 'file', 'width', 'height', 'strategy', 'decodePath'];

let server: RangeServer;
let files: Record<string, string>;
let dir: string;

before(async () => {
  ({ server, paths: files } = await serveFixtures({ 'clip.mp4': H264_MP4_MOOV_END, 'clip.webm': VP9_WEBM, 'big.mp4': H264_1080P }));
  dir = await tempDir('framepipe-manifest-');
});
after(async () => {
  await server.close();
  await removeDir(dir);
});

/** What ffprobe says of frame number n (the seed's rule: the rank of its pts among the packets' pts). */
interface ProbedFrame {
  pts: bigint;
  /** ffprobe's `pts_time`, printed to the microsecond. */
  ptsTime: number;
  keyframe: boolean;
}

/** Every frame of the file's video stream by frame number, and the stream's time base, from ffprobe alone. */
async function probeFrames(path: string): Promise<{ frames: ProbedFrame[]; timeBase: { num: number; den: number } }> {
  const probe = async (entries: string) => {
    const out = await runTool('ffprobe', ['-select_streams', 'v:0', '-show_entries', entries, '-of', 'json', path]);
    return JSON.parse(out.toString()) as {
      streams?: Array<{ time_base: string }>;
      packets?: Array<{ pts?: number }>;
      frames?: Array<{ pts?: number; pts_time?: string; key_frame: number }>;
    };
  };
  const [num, den] = (await probe('stream=time_base')).streams![0]!.time_base.split('/').map(Number) as [number, number];
  const packetPts = ((await probe('packet=pts')).packets ?? []).flatMap((p) => (p.pts === undefined ? [] : [BigInt(p.pts)]));
  const ranked = packetPts.filter((pts) => pts >= 0n).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const decoded = new Map<bigint, { ptsTime: number; keyframe: boolean }>();
  for (const frame of (await probe('frame=pts,pts_time,key_frame')).frames ?? []) {
    if (frame.pts !== undefined) decoded.set(BigInt(frame.pts), { ptsTime: Number(frame.pts_time), keyframe: frame.key_frame === 1 });
  }
  const frames = ranked.map((pts) => {
    const frame = decoded.get(pts);
    assert.ok(frame, `ffprobe decodes no frame with pts ${pts}`);
    return { pts, ...frame };
  });
  return { frames, timeBase: { num, den } };
}

/** The manifest's lines, parsed, after checking the text is one JSON object per line with a newline after each. */
async function readManifest(out: string): Promise<ManifestLine[]> {
  const text = await readFile(join(out, MANIFEST_FILE_NAME), 'utf8');
  if (text === '') return [];
  assert.ok(text.endsWith('\n'), 'the last line ends with a newline');
  const lines = text.slice(0, -1).split('\n');
  // pts is written as a JSON integer, never a string.
  for (const line of lines) assert.match(line, /^\{"index":\d+,"pts":\d+,"time":[\d.e-]+,"keyframe":(true|false),"file":"frame_\d{6}\.\w+",/);
  return lines.map((line) => JSON.parse(line) as ManifestLine);
}

/** The frame files in a directory, sorted. */
async function frameFiles(out: string): Promise<string[]> {
  return (await readdir(out)).filter((name) => /^frame_\d{6}\.\w+$/.test(name)).sort();
}

/** Lets the event loop turn a few times: a writer that is slow without measuring time. */
async function slowly(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await nextTurn();
}

/** A custom imageWriter: the built-in encoder's job done by hand, after a few turns of the event loop. */
const slowPngWriter: ImageWriter = async (path, frame) => {
  await slowly();
  await sharp(frame.data, { raw: { width: frame.width, height: frame.height, channels: 3 } }).png().toFile(path);
};

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}

const CASES = [
  { name: 'an MP4 range in the middle', file: 'clip.mp4', start: 20, end: 40, strategy: 'container', decodePath: 'seek' },
  { name: 'a WebM range', file: 'clip.webm', start: 30, end: 50, strategy: 'scan', decodePath: 'seek' },
  { name: 'a range from frame 0', file: 'clip.mp4', start: 0, end: 14, strategy: 'stream', decodePath: 'from-start' },
] as const;

describe('manifest: frames.jsonl', () => {
  for (const c of CASES) {
    test(`${c.name} (${c.strategy} strategy): one line per file, in frame order, agreeing with ffprobe`, async () => {
      const out = join(dir, c.name.replaceAll(' ', '-'));
      const stats = new RunStats();
      const paths = await streamVideoFramesToDir(server.url(`/${c.file}`), out, { start: c.start, end: c.end, manifest: true, stats });
      assert.equal(stats.strategy, c.strategy);
      assert.equal(stats.decodePath, c.decodePath);
      const expected = range(c.start, c.end);
      assert.deepEqual(paths.map(indexInName), expected);
      assert.deepEqual(await strayFiles(out), [MANIFEST_FILE_NAME], 'the frame files and the manifest, nothing else');

      const lines = await readManifest(out);
      for (const line of lines) assert.deepEqual(Object.keys(line), LINE_KEYS);
      assert.deepEqual(lines.map((line) => line.index), expected, 'one line per frame, in frame order');
      assert.deepEqual(lines.map((line) => line.file), await frameFiles(out), 'exactly the files in the directory');
      assert.deepEqual(lines.map((line) => join(out, line.file)), paths);
      assert.deepEqual(await readCodes(paths), expected, 'each file shows the frame its line names');

      const { frames, timeBase } = await probeFrames(files[c.file]!);
      for (const line of lines) {
        const probed = frames[line.index]!;
        assert.equal(line.pts, Number(probed.pts), `pts of frame ${line.index}`);
        assert.equal(line.time, (Number(probed.pts) * timeBase.num) / timeBase.den, `time of frame ${line.index}`);
        assert.ok(Math.abs(line.time - probed.ptsTime) < 1e-6, `time of frame ${line.index}: ${line.time}, ffprobe ${probed.ptsTime}`);
        assert.equal(line.keyframe, probed.keyframe, `keyframe flag of frame ${line.index}`);
        assert.equal(line.width, 320);
        assert.equal(line.height, 240);
        assert.equal(line.strategy, stats.strategy);
        assert.equal(line.decodePath, stats.decodePath);
      }
      // Meaningful only if the range holds both kinds: GOP 12 puts a keyframe on every 12th frame.
      assert.deepEqual(lines.filter((line) => line.keyframe).map((line) => line.index), expected.filter((i) => i % GOP === 0));
    });
  }

  test('with `frames`, it lists exactly the selection; a custom imageWriter gets its lines too', async () => {
    const out = join(dir, 'sampled');
    const paths = await streamVideoFramesToDir(server.url('/clip.mp4'), out, {
      frames: [44, 3, 17, 3],
      manifest: true,
      maxWriteWorkers: 3,
      imageWriter: slowPngWriter,
    });
    const lines = await readManifest(out);
    assert.deepEqual(lines.map((line) => line.index), [3, 17, 44]);
    assert.deepEqual(lines.map((line) => join(out, line.file)), paths);
    assert.deepEqual(await strayFiles(out), [MANIFEST_FILE_NAME]);
    assert.deepEqual(await readCodes(paths), [3, 17, 44]);
    assert.deepEqual(lines.map((line) => line.strategy), ['container', 'container', 'container']);
  });

  test('an aborted run lists exactly the frame files it kept, each complete; no temporary file remains', async () => {
    const out = join(dir, 'aborted');
    const controller = new AbortController();
    let saved = 0;
    const run = streamVideoFramesToDir(server.url('/clip.mp4'), out, {
      start: 5,
      manifest: true,
      maxWriteWorkers: 2,
      signal: controller.signal,
      imageWriter: slowPngWriter,
      progress: () => {
        if (++saved === 3) controller.abort();
      },
    });
    await assert.rejects(run, { code: ErrorCode.ABORTED });
    assert.deepEqual(await strayFiles(out), [MANIFEST_FILE_NAME], 'no temporary file, of a frame or of the manifest');
    const kept = await frameFiles(out);
    assert.ok(kept.length >= 3 && kept.length < 55, `stopped early with ${kept.length} files`);
    const lines = await readManifest(out);
    assert.deepEqual(lines.map((line) => line.file), kept, 'the manifest lists exactly the files that exist');
    assert.deepEqual(await readCodes(kept.map((name) => join(out, name))), lines.map((line) => line.index), 'each one complete');
  });

  test('a run that fails before keeping a frame writes no manifest; one that completes with no frame writes an empty one', async () => {
    const failed = join(dir, 'failed');
    await assert.rejects(streamVideoFramesToDir(server.url('/missing.mp4'), failed, { manifest: true }), { code: ErrorCode.HTTP_STATUS });
    assert.equal(existsSync(join(failed, MANIFEST_FILE_NAME)), false);

    const empty = join(dir, 'empty');
    assert.deepEqual(await streamVideoFramesToDir(server.url('/clip.mp4'), empty, { start: 500, manifest: true }), []);
    assert.deepEqual(await readdir(empty), [MANIFEST_FILE_NAME]);
    assert.equal(await readFile(join(empty, MANIFEST_FILE_NAME), 'utf8'), '');
  });

  test('without the option, no manifest', async () => {
    const out = join(dir, 'off');
    await streamVideoFramesToDir(server.url('/clip.mp4'), out, { start: 0, end: 2 });
    assert.deepEqual(await strayFiles(out), []);
  });

  test('a bad manifest option is rejected with the usual message, before any request', async () => {
    const before = server.requests.length;
    const url = server.url('/clip.mp4');
    const out = join(dir, 'bad-option');
    const cases: Array<[object, string, string]> = [
      [{ manifest: 'yes' }, 'manifest', 'Expected a boolean for manifest but received "yes" of type string'],
      [{ manifest: 1 }, 'manifest', 'Expected a boolean for manifest but received 1 of type number'],
      [{ manifest: null }, 'manifest', 'Expected a boolean for manifest but received null of type null'],
    ];
    for (const [options, option, message] of cases) {
      await assert.rejects(
        streamVideoFramesToDir(url, out, options as never),
        (error: unknown) => error instanceof InvalidOptionError && error.option === option && error.message === message,
        message,
      );
    }
    await assert.rejects(streamVideoFramesToDir(url, out, { manifests: true } as never), /^InvalidOptionError: Unknown option manifests for streamVideoFramesToDir; known options: .*\bmanifest\b/);
    // The iterator writes no files, so it has no manifest either.
    assert.throws(() => streamVideoFrames(url, { manifest: true } as never), /^InvalidOptionError: Unknown option manifest for streamVideoFrames/);
    assert.equal(server.requests.length, before, 'no request');
    assert.equal(existsSync(out), false, 'no directory');
  });

  test('the CLI writes it with --manifest', async () => {
    const out = join(dir, 'cli');
    const { code, stderr } = await runScript(BIN, ['frames', server.url('/clip.mp4'), '-o', out, '--start', '3', '--end', '7', '--ext', 'jpg', '--manifest', '-q']);
    assert.equal(code, 0, stderr);
    const lines = await readManifest(out);
    assert.deepEqual(lines.map((line) => line.index), range(3, 7));
    assert.deepEqual(lines.map((line) => line.file), await frameFiles(out));
    assert.ok(lines.every((line) => line.file.endsWith('.jpg') && line.strategy === 'container' && line.decodePath === 'seek'));
    assert.deepEqual(await strayFiles(out), [MANIFEST_FILE_NAME]);
  });

  test('an interrupted CLI run says the manifest lists the files it kept', async () => {
    const out = join(dir, 'cli-interrupted');
    const controller = new AbortController();
    const chunks: string[] = [];
    const stderr = new Writable({ write: (chunk, _e, done) => (chunks.push(String(chunk)), done()) });
    const stdout = new Writable({ write: (_chunk, _e, done) => done() });
    let ended = false;
    const running = main(['frames', server.url('/big.mp4'), '-o', out, '--max-write-workers', '1', '--manifest'], { stdout, stderr, signal: controller.signal });
    void running.finally(() => (ended = true));
    // Interrupt once a few 1080p frames are on disk, in the middle of the run.
    while (!ended && (await frameFiles(out).catch(() => [])).length < 3) await sleep(10);
    controller.abort(new Error('Interrupted by SIGINT'));
    assert.equal(await running, 130);
    const kept = await frameFiles(out);
    assert.ok(kept.length >= 3 && kept.length < 250, `${kept.length} files`);
    const text = chunks.join('');
    assert.ok(text.includes(`Interrupted: ${kept.length} complete frame files kept in ${out}, listed in ${MANIFEST_FILE_NAME}\n`), text);
    assert.deepEqual((await readManifest(out)).map((line) => line.file), kept);
    assert.deepEqual(await strayFiles(out), [MANIFEST_FILE_NAME]);
  });

  test('the Supervisely call shape passes it through to core', async () => {
    const stand = await startStandInServer({ videos: { 42: { path: files['clip.mp4']! } } });
    try {
      const api = new SuperviselyApi({ serverAddress: stand.address, token: stand.token });
      const outputDir = join(dir, 'supervisely');
      const paths = await streamSuperviselyFramesToDir({ api, videoId: 42, outputDir, start: 10, end: 13, manifest: true });
      const lines = await readManifest(outputDir);
      assert.deepEqual(lines.map((line) => join(outputDir, line.file)), paths);
      assert.deepEqual(lines.map((line) => line.index), range(10, 13));
    } finally {
      await stand.close();
    }
  });
});

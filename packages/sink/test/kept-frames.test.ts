import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { ErrorCode, FramepipeError } from '@framepipe/common';
import { MANIFEST_FILE_NAME } from '../src/index.ts';
import type { ManifestOptions } from '../src/index.ts';
import { KeptFrames } from '../src/kept-frames.ts';
import { WriterPool } from '../src/writer-pool.ts';
import { codeFrame, emptyDirs } from './support.ts';

const emptyDir = emptyDirs('framepipe-kept-frames-');

/** Kept frames of `dir` (PNG), committing their manifest as the sink does. */
function keptIn(dir: string, manifest: ManifestOptions = {}): KeptFrames {
  const writers = new WriterPool(dir, 1, () => {});
  return new KeptFrames(dir, 'png', manifest, (name, write) => writers.commit(name, write));
}

/** Records `index` as written (nothing is written to disk: the manifest only needs the frame's fields). */
function addWritten(kept: KeptFrames, index: number, extra: { pts?: bigint; time?: number; keyframe?: boolean } = {}): void {
  const file = `frame_${String(index).padStart(6, '0')}.png`;
  kept.addWritten({ ...codeFrame(index, 64, 64), ...extra }, file, path.join(kept.directory, file));
}

async function manifestText(dir: string): Promise<string> {
  return fs.readFile(path.join(dir, MANIFEST_FILE_NAME), 'utf8');
}

test('written frames: paths in frame order; the manifest has their lines in frame order, pts exact, fields last', async () => {
  const dir = await emptyDir();
  let fieldsCalls = 0;
  const kept = keptIn(dir, { fields: () => (fieldsCalls++, { strategy: 'scan', width: -1 }) });
  const huge = 2n ** 60n + 1n;
  addWritten(kept, 9, { pts: 4608n, time: 0.36, keyframe: false });
  addWritten(kept, 2, { pts: huge, time: 1.5, keyframe: true });
  addWritten(kept, 5);
  assert.deepEqual(kept.paths, [2, 5, 9].map((i) => path.join(dir, `frame_00000${i}.png`)));
  assert.equal(kept.framesWritten, 3);
  assert.equal(fieldsCalls, 0, 'fields() is asked only when the manifest is written');
  await kept.finish();
  assert.equal(fieldsCalls, 1);
  assert.equal(
    await manifestText(dir),
    `{"index":2,"pts":${huge},"time":1.5,"keyframe":true,"file":"frame_000002.png","width":64,"height":64,"strategy":"scan"}\n` +
      '{"index":5,"pts":null,"time":null,"keyframe":null,"file":"frame_000005.png","width":64,"height":64,"strategy":"scan"}\n' +
      '{"index":9,"pts":4608,"time":0.36,"keyframe":false,"file":"frame_000009.png","width":64,"height":64,"strategy":"scan"}\n',
  );
  assert.deepEqual(readdirSync(dir), [MANIFEST_FILE_NAME], 'no temporary file');
});

test('the manifest is written at most once, and not at all without the option when the directory has none', async () => {
  const dir = await emptyDir();
  const kept = keptIn(dir);
  await kept.finish();
  assert.equal(await manifestText(dir), '', 'nothing kept: an empty manifest');
  addWritten(kept, 1);
  await kept.finish();
  await kept.finishDestroyed();
  assert.equal(await manifestText(dir), '', 'not written again');

  const off = await emptyDir();
  const none = keptIn(off, { ifPresent: true });
  addWritten(none, 1);
  await none.finish();
  assert.deepEqual(readdirSync(off), []);
});

test('destroyed: the manifest lists the files kept; none is written when nothing was kept', async () => {
  const empty = await emptyDir();
  await keptIn(empty).finishDestroyed();
  assert.equal(existsSync(path.join(empty, MANIFEST_FILE_NAME)), false);

  const dir = await emptyDir();
  const kept = keptIn(dir);
  addWritten(kept, 3);
  await kept.finishDestroyed();
  assert.deepEqual(JSON.parse(await manifestText(dir)).file, 'frame_000003.png');
});

test('a manifest that cannot be written: finish rejects with WRITE_FAILED; after a destroy, it is given up silently', async () => {
  const dir = await emptyDir();
  await fs.mkdir(path.join(dir, MANIFEST_FILE_NAME));
  const kept = keptIn(dir);
  addWritten(kept, 1);
  await assert.rejects(kept.finish(), (error: FramepipeError) => {
    assert.equal(error.code, ErrorCode.WRITE_FAILED);
    assert.equal(error.path, path.join(dir, MANIFEST_FILE_NAME));
    assert.match(error.message, /^Cannot write the manifest .*frames\.jsonl: /);
    assert.equal((error.cause as NodeJS.ErrnoException).syscall, 'rename');
    return true;
  });
  assert.deepEqual(readdirSync(dir), [MANIFEST_FILE_NAME], 'its temporary file is removed');

  const destroyed = keptIn(dir);
  addWritten(destroyed, 1);
  await destroyed.finishDestroyed();
  assert.deepEqual(readdirSync(dir), [MANIFEST_FILE_NAME]);
});

test('adopt: the earlier line is kept as written; a file it does not list gets one from the frame and its header', async () => {
  const dir = await emptyDir();
  for (const [index, height] of [[0, 64], [1, 80]] as const) {
    const { data, width } = codeFrame(index, 64, height);
    await sharp(data, { raw: { width, height, channels: 3 } }).png().toFile(path.join(dir, `frame_00000${index}.png`));
  }
  const earlier = '{"index":0,"pts":1152921504606846977,"time":0,"keyframe":true,"file":"frame_000000.png","width":64,"height":64,"strategy":"stream"}';
  await fs.writeFile(path.join(dir, MANIFEST_FILE_NAME), `${earlier}\n{"index":7,"file":"frame_000007.png"}\nnot json\n`);
  const kept = keptIn(dir, { fields: () => ({ strategy: 'container' }) });
  kept.adopt([{ index: 0 }, { index: 1, pts: 512n, time: 0.04, keyframe: false, fields: { strategy: 'index', index: 99 } }]);
  addWritten(kept, 3, { pts: 1536n, time: 0.12, keyframe: false });
  assert.equal(kept.framesAdopted, 2);
  assert.equal(kept.framesWritten, 1);
  assert.deepEqual(kept.paths.map((p) => path.basename(p)), ['frame_000000.png', 'frame_000001.png', 'frame_000003.png']);
  await kept.finish();
  assert.equal(
    await manifestText(dir),
    `${earlier}\n` +
      '{"index":1,"pts":512,"time":0.04,"keyframe":false,"file":"frame_000001.png","width":64,"height":80,"strategy":"index"}\n' +
      '{"index":3,"pts":1536,"time":0.12,"keyframe":false,"file":"frame_000003.png","width":64,"height":64,"strategy":"container"}\n',
  );
});

test('adopt: a frame written again takes the place of the adopted one, in paths and in the manifest', async () => {
  const dir = await emptyDir();
  await fs.writeFile(path.join(dir, MANIFEST_FILE_NAME), '{"index":4,"file":"frame_000004.png","old":true}\n');
  const kept = keptIn(dir);
  kept.adopt([{ index: 4 }]);
  addWritten(kept, 4, { pts: 8n });
  assert.deepEqual(kept.paths, [path.join(dir, 'frame_000004.png')]);
  await kept.finish();
  assert.equal(JSON.parse(await manifestText(dir)).pts, 8);
});

test('adopt: nothing to adopt reads nothing; a manifest or an image that cannot be read is a WRITE_FAILED naming it', async () => {
  const dir = await emptyDir();
  // A link to itself: there, but it cannot be read.
  await fs.symlink(MANIFEST_FILE_NAME, path.join(dir, MANIFEST_FILE_NAME));
  keptIn(dir).adopt([]);
  const adopting = keptIn(dir);
  adopting.adopt([{ index: 0 }]);
  await assert.rejects(adopting.finish(), (error: FramepipeError) => {
    assert.equal(error.code, ErrorCode.WRITE_FAILED);
    assert.equal(error.path, path.join(dir, MANIFEST_FILE_NAME));
    assert.match(error.message, /^Cannot read the manifest .*frames\.jsonl: /);
    return true;
  });

  const other = await emptyDir();
  await fs.writeFile(path.join(other, 'frame_000002.png'), 'not an image');
  const image = path.join(other, 'frame_000002.png');
  const withoutManifest = keptIn(other, { ifPresent: true });
  withoutManifest.adopt([{ index: 2 }]);
  await withoutManifest.finish();
  assert.equal(withoutManifest.framesAdopted, 1);
  assert.deepEqual(readdirSync(other), ['frame_000002.png'], 'without a manifest, neither the manifest nor the image is read');
  const kept = keptIn(other);
  kept.adopt([{ index: 2 }]);
  await assert.rejects(kept.finish(), (error: FramepipeError) => {
    assert.equal(error.code, ErrorCode.WRITE_FAILED);
    assert.equal(error.path, image);
    assert.ok(error.message.startsWith(`Cannot read the size of ${image} for the manifest: `), error.message);
    return true;
  });
});

/** Writes a 64×`height` PNG (or JPEG) frame file of `index` into `dir`. */
async function frameFile(dir: string, index: number, ext: 'png' | 'jpg' = 'png', height = 64): Promise<void> {
  const { data, width } = codeFrame(index, 64, height);
  await sharp(data, { raw: { width, height, channels: 3 } }).toFile(path.join(dir, `frame_${String(index).padStart(6, '0')}.${ext}`));
}

test('files already in the directory: counted, those written over counted as replaced, and every one is in the manifest', async () => {
  const dir = await emptyDir();
  for (const index of [0, 1, 2]) await frameFile(dir, index);
  await frameFile(dir, 1, 'jpg', 80);
  await fs.writeFile(path.join(dir, 'frame_notes.txt'), 'not a frame file');
  const earlier = '{"index":0,"pts":0,"time":0,"keyframe":true,"file":"frame_000000.png","width":64,"height":64,"strategy":"stream"}';
  await fs.writeFile(path.join(dir, MANIFEST_FILE_NAME), `${earlier}\n{"index":1,"pts":512,"file":"frame_000001.png","width":64,"height":64}\n`);
  const kept = keptIn(dir, { fields: () => ({ strategy: 'container' }) });
  await kept.open(false);
  assert.deepEqual([kept.filesFound, kept.filesInOtherFormats, kept.filesReplaced, kept.filesCleared], [4, 1, 0, 0]);
  addWritten(kept, 1, { pts: 1024n });
  addWritten(kept, 5, { pts: 2560n });
  assert.equal(kept.filesReplaced, 1, 'frame_000001.png was there');
  await kept.finish();
  assert.equal(
    await manifestText(dir),
    `${earlier}\n` +
      // Not this run's, and not in the earlier manifest: what its header says, and nothing about its timing.
      '{"index":1,"pts":null,"time":null,"keyframe":null,"file":"frame_000001.jpg","width":64,"height":80}\n' +
      '{"index":1,"pts":1024,"time":null,"keyframe":null,"file":"frame_000001.png","width":64,"height":64,"strategy":"container"}\n' +
      '{"index":2,"pts":null,"time":null,"keyframe":null,"file":"frame_000002.png","width":64,"height":64}\n' +
      '{"index":5,"pts":2560,"time":null,"keyframe":null,"file":"frame_000005.png","width":64,"height":64,"strategy":"container"}\n',
  );
});

test('overwrite: the frame files of every format, the manifest and stale temporaries go; other files stay', async () => {
  const dir = await emptyDir();
  for (const index of [0, 7]) await frameFile(dir, index);
  await frameFile(dir, 3, 'jpg');
  const others = ['notes.txt', 'frame_000001.gif', 'frame_0000012.png', '.frame_000009.png.12345-1.partial.png.kept'];
  for (const name of others) await fs.writeFile(path.join(dir, name), 'theirs');
  await fs.writeFile(path.join(dir, '.frame_000004.png.4194303-2.partial.png'), 'half a PNG of a killed writer');
  await fs.writeFile(path.join(dir, MANIFEST_FILE_NAME), '{"index":0,"file":"frame_000000.png"}\n');
  const kept = keptIn(dir, { ifPresent: true });
  await kept.open(true);
  assert.deepEqual([kept.filesCleared, kept.filesFound], [3, 0]);
  assert.deepEqual(readdirSync(dir).sort(), [...others].sort());
  addWritten(kept, 2);
  await kept.finish();
  assert.deepEqual(readdirSync(dir).sort(), [...others].sort(), 'no manifest: the one there was is gone with its files');
});

test('checkKept reads a bounded sample of the kept files: the first, the last and 64 spread between', async () => {
  const dir = await emptyDir();
  const count = 2000;
  const png = (channels: 3 | 4) => sharp({ create: { width: 8, height: 8, channels, background: '#808080' } }).png().toBuffer();
  const [rgb, rgba] = await Promise.all([png(3), png(4)]);
  const name = (index: number) => `frame_${String(index).padStart(6, '0')}.png`;
  for (let i = 0; i < count; i++) await fs.writeFile(path.join(dir, name(i)), rgb);
  const frames = Array.from({ length: count }, (_, index) => ({ index }));
  // Another size in every file: the sample is what the message counts.
  const sized = await keptIn(dir).checkKept(frames, { width: 16, height: 16, colour: 'RGB', bitDepth: 8 }).then(() => null, (error: unknown) => error);
  assert.ok(sized instanceof FramepipeError && sized.code === ErrorCode.RESUME_MISMATCH);
  assert.match(sized.message, /^\S+frame_000000\.png holds 8×8 RGB 8-bit, but this run makes 16×16 RGB 8-bit \(66 of the 2000 files to keep checked, 66 differ;/);
  // The last file is always among those read.
  await fs.writeFile(path.join(dir, name(count - 1)), rgba);
  const last = await keptIn(dir).checkKept(frames, { width: 8, height: 8, colour: 'RGB', bitDepth: 8 }).then(() => null, (error: unknown) => error);
  assert.ok(last instanceof FramepipeError && last.code === ErrorCode.RESUME_MISMATCH);
  assert.equal(last.path, path.join(dir, name(count - 1)));
  // Between the sampled places (every 2000/65 ≈ 31st file), a file is not read: the sample is the bound.
  await fs.writeFile(path.join(dir, name(count - 1)), rgb);
  await fs.writeFile(path.join(dir, name(15)), rgba);
  await keptIn(dir).checkKept(frames, { width: 8, height: 8, colour: 'RGB', bitDepth: 8 });
  // Up to 66 files, every one is read.
  await assert.rejects(keptIn(dir).checkKept(frames.slice(0, 66), { width: 8, height: 8, colour: 'RGB', bitDepth: 8 }), { path: path.join(dir, name(15)) });
});

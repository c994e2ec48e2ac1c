import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import sharp from 'sharp';
import { Readable, pipelinePromise } from 'streamx';
import { ErrorCode, FrameBudget, FramepipeError, InvalidOptionError } from '@framepipe/common';
import {
  FrameDirSink,
  IMAGE_EXTENSIONS,
  MANIFEST_FILE_NAME,
  findFrameFiles,
  frameFileName,
  removeStaleTemporaries,
  type SinkFrame,
} from '../src/index.ts';
import { FOREIGN_TEMPORARY_MS, WRITER_PLACE, temporaryName } from '../src/output-dir.ts';
import { readFrameCodeFromFile } from '../../../test/support/frame-code.ts';
import { GatedWrites, codeFrame, deferred, waitFor } from './support.ts';

const W = 320;
const H = 240;

/** Writes `frames` into `sink` through a pipeline. */
async function writeAll(sink: FrameDirSink, frames: SinkFrame[]): Promise<void> {
  await pipelinePromise(Readable.from(frames), sink);
}

/** Resolves when `stream` has closed (an 'error' on the way does not reject). */
function closed(stream: FrameDirSink): Promise<void> {
  return stream.destroyed ? Promise.resolve() : new Promise((resolve) => stream.once('close', () => resolve()));
}

let root: string;
let dirCount = 0;
before(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'framepipe-sink-'));
});
after(async () => {
  await fs.chmod(root, 0o755).catch(() => {});
  await fs.rm(root, { recursive: true, force: true });
});
/** A fresh, not yet existing output directory. */
function outDir(): string {
  return path.join(root, `out-${++dirCount}`);
}

// ---------------------------------------------------------------- normal flow

test('frameFileName pads the index to six digits', () => {
  assert.equal(frameFileName(0, 'png'), 'frame_000000.png');
  assert.equal(frameFileName(123, 'jpg'), 'frame_000123.jpg');
  assert.equal(frameFileName(1234567, 'webp'), 'frame_1234567.webp');
});

for (const ext of IMAGE_EXTENSIONS) {
  test(`writes ${ext} files named frame_<index>.${ext} that decode to the same size and code`, async () => {
    const dir = outDir();
    const indexes = [0, 7, 123, 4095];
    const sink = new FrameDirSink(dir, { ext });
    await writeAll(sink, indexes.map((i) => codeFrame(i)));
    const expected = indexes.map((i) => path.join(dir, `frame_${String(i).padStart(6, '0')}.${ext}`));
    assert.deepEqual(sink.paths, expected);
    assert.equal(sink.framesWritten, 4);
    assert.deepEqual(readdirSync(dir).sort(), expected.map((p) => path.basename(p)).sort());
    for (const [k, file] of expected.entries()) {
      const meta = await sharp(file).metadata();
      assert.equal(meta.width, W);
      assert.equal(meta.height, H);
      assert.equal(meta.format, ext === 'jpg' ? 'jpeg' : ext);
      assert.equal(await readFrameCodeFromFile(file), indexes[k]);
    }
  });
}

test('the directory is created, nested, and paths are absolute and sorted by index whatever the write order', async () => {
  const dir = path.join(outDir(), 'a', 'b');
  const relative = path.relative(process.cwd(), dir);
  const sink = new FrameDirSink(relative, { maxWriteWorkers: 3 });
  assert.equal(sink.directory, dir);
  await writeAll(sink, [5, 1, 3, 0, 2].map((i) => codeFrame(i, 64, 64)));
  assert.deepEqual(sink.paths, [0, 1, 2, 3, 5].map((i) => path.join(dir, frameFileName(i, 'png'))));
});

test('progress is called with 1, once per file, each time after the file exists', async () => {
  const dir = outDir();
  const calls: number[] = [];
  const sink = new FrameDirSink(dir, {
    maxWriteWorkers: 4,
    progress: (n) => {
      calls.push(n);
      const finals = readdirSync(dir).filter((name) => /^frame_\d{6}\.png$/.test(name));
      assert.ok(finals.length >= calls.length, `progress call ${calls.length} with ${finals.length} files`);
    },
  });
  await writeAll(sink, Array.from({ length: 12 }, (_, i) => codeFrame(i, 64, 64)));
  assert.deepEqual(calls, Array(12).fill(1));
});

test('imageWriter gets a temporary path in the same directory with the same extension; the file is then renamed', async () => {
  const dir = outDir();
  const seen: string[] = [];
  const sink = new FrameDirSink(dir, {
    ext: 'webp',
    imageWriter: async (temp, frame) => {
      seen.push(temp);
      assert.equal(path.dirname(temp), dir);
      assert.ok(temp.endsWith('.webp'), temp);
      assert.notEqual(path.basename(temp), frameFileName(frame.index, 'webp'));
      assert.equal(existsSync(path.join(dir, frameFileName(frame.index, 'webp'))), false, 'no final file before the write completes');
      await fs.writeFile(temp, `frame ${frame.index}`);
    },
  });
  await writeAll(sink, [codeFrame(3, 64, 64), codeFrame(4, 64, 64)]);
  assert.equal(seen.length, 2);
  assert.notEqual(seen[0], seen[1]);
  for (const temp of seen) assert.equal(existsSync(temp), false);
  assert.equal(await fs.readFile(path.join(dir, 'frame_000003.webp'), 'utf8'), 'frame 3');
  assert.deepEqual(readdirSync(dir).sort(), ['frame_000003.webp', 'frame_000004.webp']);
});

test('each written frame gives its budget unit back', async () => {
  const budget = new FrameBudget(8);
  const frames = Array.from({ length: 6 }, (_, i) => codeFrame(i, 64, 64));
  for (const _ of frames) await budget.acquire();
  await writeAll(new FrameDirSink(outDir(), { budget }), frames);
  assert.equal(budget.inUse, 0);
});

test('the built-in encoder gives each frame buffer back to the pool once encoded; an imageWriter keeps its frames', async () => {
  const { BufferPool } = await import('@framepipe/common');
  const pool = new BufferPool(8);
  const frames = Array.from({ length: 6 }, (_, i) => codeFrame(i, 64, 64));
  pool.take(64 * 64 * 3); // sets the pool's size to the frames'
  const dir = outDir();
  await writeAll(new FrameDirSink(dir, { pool }), frames);
  assert.equal(pool.available, 6);
  for (const frame of frames) assert.equal(await readFrameCodeFromFile(path.join(dir, `frame_${String(frame.index).padStart(6, '0')}.png`)), frame.index);
  const kept = new BufferPool(8);
  kept.take(64 * 64 * 3);
  await writeAll(new FrameDirSink(outDir(), { pool: kept, imageWriter: (temp) => fs.writeFile(temp, 'x') }), frames);
  assert.equal(kept.available, 0, 'frames given to an imageWriter are never reused');
});

// ---------------------------------------------------------------- parallelism and backpressure

test('maxWriteWorkers 3: three writes run at once and the fourth waits for one to finish', async () => {
  const writes = new GatedWrites();
  const sink = new FrameDirSink(outDir(), {
    maxWriteWorkers: 3,
    imageWriter: (temp, frame) => writes.write(frame.index, () => fs.writeFile(temp, 'x')),
  });
  const done = writeAll(sink, Array.from({ length: 6 }, (_, i) => codeFrame(i, 64, 64)));
  await writes.assertBound(3, 6);
  await done;
  assert.equal(writes.maxRunning, 3);
  assert.equal(sink.framesWritten, 6);
});

test('backpressure: write() asks to wait once the workers are busy and highWaterMark frames are queued', async () => {
  const gates: Array<ReturnType<typeof deferred>> = [];
  const sink = new FrameDirSink(outDir(), {
    maxWriteWorkers: 1,
    highWaterMark: 2,
    imageWriter: async (temp) => {
      const gate = deferred();
      gates.push(gate);
      await gate.promise;
      await fs.writeFile(temp, 'x');
    },
  });
  const answers = [0, 1, 2, 3].map((i) => sink.write(codeFrame(i, 64, 64)));
  assert.deepEqual(answers, [true, false, false, false]);
  await waitFor(() => gates.length === 1, 'the first write');
  for (let i = 0; i < 50; i++) await tick();
  assert.equal(gates.length, 1, 'one worker: one write at a time');
  sink.end(null);
  for (let i = 0; i < 4; i++) {
    await waitFor(() => gates.length > i, `write ${i}`);
    gates[i]!.resolve();
  }
  await new Promise<void>((resolve) => sink.once('finish', () => resolve()));
  assert.equal(sink.framesWritten, 4);
});

// ---------------------------------------------------------------- destroy

test('destroy mid-write leaves only complete frame files, no temporary ones', async () => {
  const dir = outDir();
  const budget = new FrameBudget(64);
  const frames = Array.from({ length: 40 }, (_, i) => codeFrame(i));
  for (const _ of frames) await budget.acquire();
  let progressed = 0;
  const sink = new FrameDirSink(dir, {
    budget,
    maxWriteWorkers: 4,
    highWaterMark: 8,
    progress: () => {
      if (++progressed === 5) sink.destroy();
    },
  });
  for (const frame of frames) sink.write(frame);
  await closed(sink);
  const names = readdirSync(dir);
  assert.ok(names.length >= 5 && names.length < 40, `${names.length} files`);
  for (const name of names) {
    assert.match(name, /^frame_\d{6}\.png$/);
    const index = Number(name.slice(6, 12));
    assert.equal(await readFrameCodeFromFile(path.join(dir, name)), index);
  }
  assert.deepEqual(sink.paths.map((p) => path.basename(p)), [...names].sort());
  assert.equal(budget.inUse, 0, 'queued frames gave their units back');
});

test('destroy while writers are halfway through their files: they finish and are renamed, nothing partial stays', async () => {
  const dir = outDir();
  const gates: Array<ReturnType<typeof deferred>> = [];
  const sink = new FrameDirSink(dir, {
    maxWriteWorkers: 2,
    imageWriter: async (temp, frame) => {
      await fs.writeFile(temp, 'first half ');
      const gate = deferred();
      gates.push(gate);
      await gate.promise;
      await fs.appendFile(temp, `second half ${frame.index}`);
    },
  });
  sink.on('error', () => {});
  for (let i = 0; i < 6; i++) sink.write(codeFrame(i, 64, 64));
  await waitFor(() => gates.length === 2, 'two writers halfway');
  assert.equal(readdirSync(dir).filter((n) => n.startsWith('.')).length, 2, 'two temporary files exist');
  sink.destroy();
  for (const gate of gates) gate.resolve();
  await closed(sink);
  assert.deepEqual(readdirSync(dir).sort(), ['frame_000000.png', 'frame_000001.png']);
  assert.equal(await fs.readFile(path.join(dir, 'frame_000001.png'), 'utf8'), 'first half second half 1');
});

test('destroy aborts the signal an imageWriter gets: writers that stop on it leave no file, and the sink closes', async () => {
  const dir = outDir();
  const signals: AbortSignal[] = [];
  const sink = new FrameDirSink(dir, {
    maxWriteWorkers: 2,
    imageWriter: async (temp, _frame, { signal }) => {
      signals.push(signal);
      await fs.writeFile(temp, 'half an upload');
      // A slow upload that stops when told to; without the abort it would finish after 2 s and keep its file.
      await new Promise<void>((resolve, reject) => {
        if (signal.aborted) return reject(signal.reason);
        const timer = setTimeout(resolve, 2000);
        signal.addEventListener('abort', () => (clearTimeout(timer), reject(signal.reason)), { once: true });
      });
    },
  });
  sink.on('error', () => {});
  for (let i = 0; i < 6; i++) sink.write(codeFrame(i, 64, 64));
  await waitFor(() => signals.length === 2, 'two writers under way');
  const started = performance.now();
  sink.destroy();
  await closed(sink);
  assert.ok(performance.now() - started < 1000, 'closed without waiting for the writers to finish on their own');
  assert.ok(signals.every((signal) => signal.aborted));
  assert.equal((signals[0]!.reason as FramepipeError).code, ErrorCode.ABORTED);
  assert.deepEqual(readdirSync(dir), [], 'no file, no temporary file');
  assert.deepEqual(sink.paths, []);
});

// ---------------------------------------------------------------- manifest

/** The lines of the manifest in `dir`, as text. */
async function manifestLines(dir: string): Promise<string[]> {
  const text = await fs.readFile(path.join(dir, MANIFEST_FILE_NAME), 'utf8');
  assert.ok(text === '' || text.endsWith('\n'), 'every line ends with a newline');
  return text.split('\n').slice(0, -1);
}

test('manifest: one line per file in frame order, whatever order the writes finish in; pts exact; extra fields last', async () => {
  const dir = outDir();
  const gates = new Map<number, ReturnType<typeof deferred>>();
  const sink = new FrameDirSink(dir, {
    maxWriteWorkers: 4,
    manifest: { fields: () => ({ strategy: 'scan', index: -1 }) },
    imageWriter: async (temp, frame) => {
      const gate = deferred();
      gates.set(frame.index, gate);
      await gate.promise;
      await fs.writeFile(temp, 'x');
    },
  });
  const huge = 2n ** 60n + 1n; // not a double: written digit for digit
  const frames: SinkFrame[] = [
    { ...codeFrame(9, 64, 64), pts: 4608n, time: 0.36, keyframe: false },
    { ...codeFrame(2, 64, 64), pts: huge, time: 1.5, keyframe: true },
    codeFrame(5, 64, 80), // no pts, time or keyframe: null in the manifest
  ];
  const done = writeAll(sink, frames);
  await waitFor(() => gates.size === 3, 'three writes');
  for (const index of [5, 9, 2]) {
    gates.get(index)!.resolve();
    await waitFor(() => sink.framesWritten === [5, 9, 2].indexOf(index) + 1, `write ${index}`);
  }
  await done;
  assert.deepEqual(await manifestLines(dir), [
    `{"index":2,"pts":${huge},"time":1.5,"keyframe":true,"file":"frame_000002.png","width":64,"height":64,"strategy":"scan"}`,
    '{"index":5,"pts":null,"time":null,"keyframe":null,"file":"frame_000005.png","width":64,"height":80,"strategy":"scan"}',
    '{"index":9,"pts":4608,"time":0.36,"keyframe":false,"file":"frame_000009.png","width":64,"height":64,"strategy":"scan"}',
  ]);
  assert.deepEqual(readdirSync(dir).sort(), ['frame_000002.png', 'frame_000005.png', 'frame_000009.png', MANIFEST_FILE_NAME]);
});

test('manifest: an input that ends with no frame gets an empty manifest; a sink destroyed before any file gets none', async () => {
  const empty = outDir();
  await writeAll(new FrameDirSink(empty, { manifest: true }), []);
  assert.deepEqual(readdirSync(empty), [MANIFEST_FILE_NAME]);
  assert.deepEqual(await manifestLines(empty), []);

  const destroyed = outDir();
  const sink = new FrameDirSink(destroyed, { manifest: true });
  sink.write(codeFrame(0, 64, 64));
  sink.destroy();
  await closed(sink);
  assert.equal(existsSync(path.join(destroyed, MANIFEST_FILE_NAME)), false);
});

test('manifest: destroyed mid-run, it lists exactly the files kept, writes finished after destroy() included', async () => {
  const dir = outDir();
  let progressed = 0;
  const sink = new FrameDirSink(dir, {
    maxWriteWorkers: 4,
    highWaterMark: 8,
    manifest: true,
    progress: () => {
      if (++progressed === 5) sink.destroy();
    },
  });
  for (let i = 0; i < 40; i++) sink.write(codeFrame(i, 64, 64));
  await closed(sink);
  const files = readdirSync(dir).filter((name) => name !== MANIFEST_FILE_NAME).sort();
  assert.ok(files.length >= 5 && files.length < 40, `${files.length} files`);
  assert.deepEqual(files, sink.paths.map((p) => path.basename(p)), 'only complete frame files, no temporary one');
  const lines = (await manifestLines(dir)).map((line) => JSON.parse(line) as { index: number; file: string });
  assert.deepEqual(lines.map((line) => line.file), files);
  assert.deepEqual(lines.map((line) => line.index), files.map((name) => Number(name.slice(6, 12))));
});

test('manifest: one that cannot be written fails the sink with WRITE_FAILED; its temporary file is removed', async () => {
  const dir = outDir();
  await fs.mkdir(path.join(dir, MANIFEST_FILE_NAME), { recursive: true });
  const error = await failsWith(writeAll(new FrameDirSink(dir, { manifest: true }), [codeFrame(1, 64, 64)]), path.join(dir, MANIFEST_FILE_NAME));
  assert.match(error.message, /^Cannot write the manifest .*frames\.jsonl: /);
  assert.deepEqual(readdirSync(dir).sort(), ['frame_000001.png', MANIFEST_FILE_NAME]);
});

// ---------------------------------------------------------------- resume

/** The id of a process that has exited: no process runs under it now. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await once(child, 'exit');
  return child.pid!;
}

test('findFrameFiles: the frame numbers of final files with the extension, sorted; never a temporary file', async () => {
  const dir = outDir();
  assert.deepEqual(await findFrameFiles(dir, 'png'), [], 'no directory yet: none');
  await fs.mkdir(path.join(dir, 'frame_000004.png'), { recursive: true }); // a directory, not a file
  for (const name of [
    'frame_000012.png',
    'frame_000003.png',
    'frame_1000000.png', // past six digits, the name grows
    'frame_0000007.png', // not a name the sink writes
    'frame_000005.jpg',
    '.frame_000006.png.123-1.partial.png',
    'frame_000008.png.tmp',
    MANIFEST_FILE_NAME,
  ]) {
    await fs.writeFile(path.join(dir, name), 'x');
  }
  assert.deepEqual(await findFrameFiles(dir, 'png'), [3, 12, 1_000_000]);
  assert.deepEqual(await findFrameFiles(dir, 'jpg'), [5]);
  assert.deepEqual(await findFrameFiles(dir, 'jpeg'), []);
});

test('removeStaleTemporaries: removes what a dead writer left, keeps a running writer\'s and every other file', async () => {
  const dir = outDir();
  await fs.mkdir(dir);
  const dead = await deadPid();
  const stale = [`.frame_000001.png.${dead}-7.partial.png`, `.${MANIFEST_FILE_NAME}.${dead}-9.partial.jsonl`];
  const kept = [`.frame_000002.png.${process.pid}-3.partial.png`, 'frame_000003.png', '.hidden', 'notes.partial.png'];
  for (const name of [...stale, ...kept]) await fs.writeFile(path.join(dir, name), 'x');
  assert.deepEqual((await removeStaleTemporaries(dir)).sort(), stale.sort());
  assert.deepEqual(readdirSync(dir).sort(), kept.sort());
  assert.deepEqual(await removeStaleTemporaries(outDir()), [], 'no directory: nothing to do');
});

test('removeStaleTemporaries on a directory shared with another machine or container: a live writer there keeps its file, a stale one goes', async (t) => {
  const dir = outDir();
  await fs.mkdir(dir);
  // This process writes, alive; another pid namespace (a container, or as well another machine) cleans up.
  const live = temporaryName('frame_000001.png', 1);
  await fs.writeFile(path.join(dir, live), 'half a PNG being written');
  const clean = `import { removeStaleTemporaries } from ${JSON.stringify(new URL('../src/output-dir.ts', import.meta.url).href)}; console.log(JSON.stringify(await removeStaleTemporaries(${JSON.stringify(dir)})));`;
  const other = spawn('unshare', ['--pid', '--fork', process.execPath, '--input-type=module', '-e', clean], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  other.stdout.on('data', (chunk) => (out += chunk));
  const [code] = (await once(other, 'close')) as [number | null];
  if (code !== 0) return t.skip('cannot make a pid namespace here (unshare needs root)');
  assert.deepEqual(JSON.parse(out), [], 'the other place removed nothing');
  assert.deepEqual(readdirSync(dir), [live], 'the live writer keeps its temporary file');
  // A writer of another place that left a file long enough ago was killed: the file goes.
  const foreign = live.replace(/@[0-9a-f]{8}\./, `@${WRITER_PLACE === '00000000' ? '00000001' : '00000000'}.`);
  await fs.writeFile(path.join(dir, foreign), 'x');
  assert.deepEqual(await removeStaleTemporaries(dir), [], 'too young to tell');
  const old = new Date(Date.now() - FOREIGN_TEMPORARY_MS - 1000);
  await fs.utimes(path.join(dir, foreign), old, old);
  assert.deepEqual(await removeStaleTemporaries(dir), [foreign]);
});

test('adopt: adopted files join paths; the manifest keeps their earlier lines as written, and makes one for a file it did not list', async () => {
  const dir = outDir();
  await writeAll(new FrameDirSink(dir), [codeFrame(0, 64, 64), codeFrame(1, 64, 80), codeFrame(2, 64, 64)]);
  const huge = 2n ** 60n + 1n;
  const earlier = [
    `{"index":0,"pts":${huge},"time":0,"keyframe":true,"file":"frame_000000.png","width":64,"height":64,"strategy":"stream"}`,
    // A file that is not adopted (not in this run's selection): it stays, and so does its line.
    '{"index":2,"pts":1024,"time":0.08,"keyframe":false,"file":"frame_000002.png","width":64,"height":64,"strategy":"stream"}',
    'not json',
  ];
  await fs.writeFile(path.join(dir, MANIFEST_FILE_NAME), `${earlier.join('\n')}\n`);
  const sink = new FrameDirSink(dir, { manifest: { fields: () => ({ strategy: 'container' }) } });
  await sink.adopt([{ index: 0 }, { index: 1, pts: 512n, time: 0.04, keyframe: false, fields: { strategy: 'index' } }]);
  assert.equal(sink.framesAdopted, 2);
  await writeAll(sink, [{ ...codeFrame(3, 64, 64), pts: 1536n, time: 0.12, keyframe: false }]);
  assert.equal(sink.framesWritten, 1);
  assert.deepEqual(sink.paths.map((p) => path.basename(p)), ['frame_000000.png', 'frame_000001.png', 'frame_000003.png']);
  assert.deepEqual(await manifestLines(dir), [
    earlier[0],
    '{"index":1,"pts":512,"time":0.04,"keyframe":false,"file":"frame_000001.png","width":64,"height":80,"strategy":"index"}',
    earlier[1],
    '{"index":3,"pts":1536,"time":0.12,"keyframe":false,"file":"frame_000003.png","width":64,"height":64,"strategy":"container"}',
  ]);
});

test('adopt: a sink destroyed before writing anything still writes the manifest, of every file in the directory', async () => {
  const dir = outDir();
  await writeAll(new FrameDirSink(dir, { manifest: true }), [codeFrame(0, 64, 64), codeFrame(1, 64, 64)]);
  const sink = new FrameDirSink(dir, { manifest: { fields: () => ({ run: 2 }) } });
  await sink.adopt([{ index: 1 }]);
  sink.destroy();
  await closed(sink);
  const lines = (await manifestLines(dir)).map((line) => JSON.parse(line) as { file: string; run?: number });
  assert.deepEqual(lines.map((line) => line.file), ['frame_000000.png', 'frame_000001.png']);
  assert.ok(lines.every((line) => line.run === undefined), 'both lines as the first run wrote them');
});

// ---------------------------------------------------------------- errors

/** Asserts the sink failed with WRITE_FAILED about `file`, and returns the error. */
async function failsWith(promise: Promise<unknown>, file: string): Promise<FramepipeError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof FramepipeError, `expected a FramepipeError, got ${String(error)}`);
    assert.equal(error.code, ErrorCode.WRITE_FAILED, error.message);
    assert.equal(error.path, file);
    assert.ok(error.message.includes(file), error.message);
    assert.ok(error.cause !== undefined);
    return error;
  }
  assert.fail('expected a write failure');
}

test('an imageWriter that throws → WRITE_FAILED naming the final path; its temporary file is removed', async () => {
  const dir = outDir();
  const cause = new Error('disk on fire');
  const budget = new FrameBudget(4);
  const frames = [codeFrame(0, 64, 64), codeFrame(1, 64, 64), codeFrame(2, 64, 64)];
  for (const _ of frames) await budget.acquire();
  const sink = new FrameDirSink(dir, {
    budget,
    maxWriteWorkers: 1,
    imageWriter: async (temp, frame) => {
      await fs.writeFile(temp, 'partial');
      if (frame.index === 1) throw cause;
    },
  });
  const error = await failsWith(writeAll(sink, frames), path.join(dir, 'frame_000001.png'));
  assert.equal(error.cause, cause);
  assert.match(error.message, /^Cannot write frame 1 to .*frame_000001\.png: disk on fire$/);
  await closed(sink);
  assert.deepEqual(readdirSync(dir), ['frame_000000.png']);
  assert.equal(budget.inUse, 0);
});

test('an encoder failure (data shorter than width × height × 3) → WRITE_FAILED, no file left', async () => {
  const dir = outDir();
  const bad = { ...codeFrame(9, 64, 64), data: Buffer.alloc(100) };
  await failsWith(writeAll(new FrameDirSink(dir, { ext: 'jpg' }), [bad]), path.join(dir, 'frame_000009.jpg'));
  assert.deepEqual(readdirSync(dir), []);
});

test('a final name that cannot be taken (a directory is in the way) → WRITE_FAILED, temporary file removed', async () => {
  const dir = outDir();
  await fs.mkdir(path.join(dir, 'frame_000002.png'), { recursive: true });
  await failsWith(writeAll(new FrameDirSink(dir), [codeFrame(2, 64, 64)]), path.join(dir, 'frame_000002.png'));
  assert.deepEqual(readdirSync(dir), ['frame_000002.png']);
  assert.ok((await fs.stat(path.join(dir, 'frame_000002.png'))).isDirectory());
});

test('a directory that cannot be written → WRITE_FAILED', async () => {
  const dir = outDir();
  await fs.mkdir(dir);
  await fs.chmod(dir, 0o555);
  // As root, permissions do not stop writes: use a directory whose parent is a regular file instead.
  let canWrite = false;
  try {
    await fs.writeFile(path.join(dir, 'probe'), '');
    canWrite = true;
    await fs.rm(path.join(dir, 'probe'));
  } catch {
    // the usual case: read-only
  }
  try {
    if (!canWrite) {
      await failsWith(writeAll(new FrameDirSink(dir), [codeFrame(0, 64, 64)]), path.join(dir, 'frame_000000.png'));
      assert.deepEqual(readdirSync(dir), []);
    }
    const file = path.join(root, `plain-file-${dirCount}`);
    await fs.writeFile(file, 'not a directory');
    const under = path.join(file, 'frames');
    const error = await failsWith(writeAll(new FrameDirSink(under), [codeFrame(0, 64, 64)]), under);
    assert.match(error.message, /^Cannot create the output directory /);
  } finally {
    await fs.chmod(dir, 0o755);
  }
});

test('options are checked with exact messages', () => {
  const cases: Array<[unknown, unknown, string, string]> = [
    ['', {}, 'outputDir', 'Expected a non-empty path for outputDir but received "" of type string'],
    [42, {}, 'outputDir', 'Expected a non-empty path for outputDir but received 42 of type number'],
    ['out', { ext: 'gif' }, 'ext', 'Expected one of "png", "jpg", "jpeg", "webp" for ext but received "gif" of type string'],
    ['out', { maxWriteWorkers: 0 }, 'maxWriteWorkers', 'Expected a positive integer for maxWriteWorkers but received 0 of type number'],
    ['out', { progress: true }, 'progress', 'Expected a function for progress but received true of type boolean'],
    ['out', { imageWriter: 'sharp' }, 'imageWriter', 'Expected a function for imageWriter but received "sharp" of type string'],
    ['out', { budget: 4 }, 'budget', 'Expected a FrameBudget for budget but received 4 of type number'],
    ['out', { highWaterMark: 0 }, 'highWaterMark', 'Expected a positive integer for highWaterMark but received 0 of type number'],
    ['out', { manifest: 'yes' }, 'manifest', 'Expected a boolean or an object { fields, ifPresent } for manifest but received "yes" of type string'],
    ['out', { manifest: { fields: 3 } }, 'manifest.fields', 'Expected a function for manifest.fields but received 3 of type number'],
    ['out', { manifest: { field: () => ({}) } }, 'field', 'Unknown option field for manifest; known options: fields, ifPresent'],
    ['out', { overwrite: 'yes' }, 'overwrite', 'Expected a boolean for overwrite but received "yes" of type string'],
    ['out', { workers: 2 }, 'workers', 'Unknown option workers for FrameDirSink; known options: ext, maxWriteWorkers, progress, imageWriter, budget, pool, highWaterMark, manifest, overwrite, nameTemplate'],
  ];
  for (const [dir, options, option, message] of cases) {
    assert.throws(
      () => new FrameDirSink(dir as never, options as never),
      (error: unknown) => error instanceof InvalidOptionError && error.option === option && error.message === message,
      message,
    );
  }
  const upper = new FrameDirSink('out', { ext: 'WebP' as never });
  assert.equal(upper.ext, 'webp', 'files are named in lower case, whatever case ext was given in');
  upper.destroy();
  const defaults = new FrameDirSink('out');
  assert.equal(defaults.ext, 'png');
  assert.equal(defaults.maxWriteWorkers, Math.max(4, os.availableParallelism()), 'a writer per core, at least 4');
  defaults.destroy();
});

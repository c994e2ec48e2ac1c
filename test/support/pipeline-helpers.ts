import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Frame, Log, Packet } from 'node-av';
import { AV_LOG_FATAL } from 'node-av/constants';
import { makeFixture } from './fixtures.ts';
import type { FixtureSpec } from './fixtures.ts';
import { readFrameCodeFromFile } from './frame-code.ts';
import { startRangeServer } from './range-server.ts';
import type { RangeServer } from './range-server.ts';

// Decoders complain on stderr right after a seek into a GOP; expected here, and noise in test output.
Log.setLevel(AV_LOG_FATAL);

/** Makes the fixtures and serves each at `/<name>` with Range support. */
export async function serveFixtures(specs: Record<string, FixtureSpec>): Promise<{ server: RangeServer; paths: Record<string, string> }> {
  const paths: Record<string, string> = {};
  for (const [name, spec] of Object.entries(specs)) paths[name] = await makeFixture(spec);
  const files = Object.fromEntries(Object.entries(paths).map(([name, path]) => [`/${name}`, path]));
  return { server: await startRangeServer({ files }), paths };
}

/** What {@link servedFixtures} holds for a test file's tests once its `before` hook has run. */
export interface ServedFixtures {
  readonly server: RangeServer;
  /** The fixture's file, by the name it is served at. */
  readonly paths: Record<string, string>;
  /** An empty directory of the test file's own, removed after its tests. */
  readonly dir: string;
}

/**
 * For a test file: serves `specs` (as {@link serveFixtures}) and makes a temporary directory before its tests, and
 * closes the server and removes the directory after them.
 */
export function servedFixtures(specs: Record<string, FixtureSpec>): ServedFixtures {
  const served = {} as { server: RangeServer; paths: Record<string, string>; dir: string };
  before(async () => {
    Object.assign(served, await serveFixtures(specs));
    served.dir = await tempDir();
  });
  after(async () => {
    await served.server?.close();
    if (served.dir) await removeDir(served.dir);
  });
  return served;
}

/** A fresh empty directory under the system temp dir; the returned path does not exist yet if `create` is false. */
export async function tempDir(prefix = 'framepipe-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** The frame number in a file's name. */
export function indexInName(path: string): number {
  const match = /^frame_(\d{6})\.\w+$/.exec(basename(path));
  if (!match) throw new Error(`not a frame file name: ${path}`);
  return Number(match[1]);
}

/** For each path, the number painted into the picture. */
export function readCodes(paths: string[]): Promise<number[]> {
  return Promise.all(paths.map((path) => readFrameCodeFromFile(path)));
}

/** Entries of a directory that are not complete frame files (temporary or stray files). */
export async function strayFiles(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.filter((name) => !/^frame_\d{6}\.(png|jpg|jpeg|webp)$/.test(name));
}

/** Asserts that `dir` holds exactly the frame files of `indices`, each showing its own number, and nothing else. */
export async function assertFrames(dir: string, indices: number[]): Promise<void> {
  const names = (await readdir(dir)).sort();
  assert.deepEqual(await strayFiles(dir), [], `${dir} holds only frame files`);
  assert.deepEqual(names.map(indexInName), indices, dir);
  assert.deepEqual(await readCodes(names.map((name) => join(dir, name))), indices, `the frame each file of ${dir} shows`);
}

/** The lines of `<out>/batch.jsonl`, parsed; the file ends with a newline. */
export async function batchReportLines(out: string): Promise<unknown[]> {
  const text = await readFile(join(out, 'batch.jsonl'), 'utf8');
  assert.ok(text.endsWith('\n'));
  return text.trimEnd().split('\n').map((line) => JSON.parse(line));
}

/**
 * Counts node-av packets and frames that were allocated and not yet freed, by wrapping `alloc` and `free` on
 * their prototypes. A run that frees everything ends with both counts back where they started.
 */
export function countNativeObjects(): { live(): { frames: number; packets: number }; peak(): { frames: number; packets: number }; restore(): void } {
  const live = { frames: 0, packets: 0 };
  // The most alive at once since counting started.
  const peak = { frames: 0, packets: 0 };
  const wrap = (proto: { alloc(): void; free(): void }, key: 'frames' | 'packets') => {
    const { alloc, free } = proto;
    const allocated = new WeakSet<object>();
    proto.alloc = function (this: object) {
      allocated.add(this);
      live[key]++;
      peak[key] = Math.max(peak[key], live[key]);
      return alloc.call(this);
    };
    proto.free = function (this: object) {
      if (allocated.delete(this)) live[key]--;
      return free.call(this);
    };
    return () => {
      proto.alloc = alloc;
      proto.free = free;
    };
  };
  const undo = [wrap(Frame.prototype, 'frames'), wrap(Packet.prototype, 'packets')];
  return { live: () => ({ ...live }), peak: () => ({ ...peak }), restore: () => undo.forEach((u) => u()) };
}

/** A minimal PCM WAV file: a container FFmpeg reads that holds audio and no video. */
export function silentWav(seconds = 1, rate = 8000): Buffer {
  const samples = seconds * rate;
  const data = Buffer.alloc(samples * 2);
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVE', 8);
  header.write('fmt ', 12);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]);
}

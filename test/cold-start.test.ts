import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { availableParallelism } from 'node:os';
import { optionDefault } from '@framepipe/core';
import { processEnvironment } from '../packages/cli/src/process-env.ts';
import { H264_MP4_MOOV_END, makeFixture } from './support/fixtures.ts';
import { indexInName, readCodes, removeDir, tempDir } from './support/pipeline-helpers.ts';
import { startRangeServer } from './support/range-server.ts';
import type { RangeServer } from './support/range-server.ts';
import { BIN, ROOT, runScript } from './support/run-script.ts';

/** What a CLI run loaded and started with, as test/support/module-trace.ts records it. */
interface Trace {
  modules: string[];
  atStart: { UV_THREADPOOL_SIZE: string | null };
  atExit: { UV_THREADPOOL_SIZE: string | null };
  threads: number;
}

const HOOK = resolve(ROOT, 'test/support/module-trace.ts');

let dir: string;
let video: string;
let server: RangeServer;
let runs = 0;

before(async () => {
  dir = await tempDir();
  video = await makeFixture(H264_MP4_MOOV_END);
  server = await startRangeServer({ files: { '/clip.mp4': await readFile(video) } });
});
after(async () => {
  await server.close();
  await removeDir(dir);
});

/** Runs the CLI with the module trace, and resolves with what it printed and loaded. */
async function traced(args: string[], env: Record<string, string> = {}) {
  const out = join(dir, `trace-${++runs}.json`);
  const result = await runScript(BIN, args, { env: { NODE_OPTIONS: `--import=${HOOK}`, FRAMEPIPE_TRACE_OUT: out, ...env } });
  assert.equal(result.code, 0, result.stderr);
  const trace = JSON.parse(await readFile(out, 'utf8')) as Trace;
  return { ...result, trace, packages: packagesOf(trace.modules) };
}

/** The npm packages (and this workspace's, as @framepipe/<dir>) the module URLs belong to. */
function packagesOf(urls: string[]): Set<string> {
  const names = new Set<string>();
  for (const url of urls) {
    const inNodeModules = /.*\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
    const inWorkspace = /\/packages\/([^/]+)\/(?:src|dist)\//.exec(url);
    if (inNodeModules) names.add(inNodeModules[1]!);
    else if (inWorkspace) names.add(inWorkspace[1] === 'framepipe' ? 'framepipe' : `@framepipe/${inWorkspace[1]}`);
  }
  return names;
}

function assertNotLoaded(loaded: Set<string>, names: string[], what: string): void {
  const found = names.filter((name) => loaded.has(name));
  assert.deepEqual(found, [], `${what} loaded ${found.join(', ')}`);
}

/** What only the work queue, the batch command or a Supervisely video needs. */
const QUEUE_AND_BATCH = ['bullmq', 'ioredis', '@aws-sdk/client-s3', '@framepipe/queue', '@framepipe/batch', '@framepipe/supervisely'];
const IMAGE_ENCODERS = ['sharp', '@julusian/jpeg-turbo'];

describe('a command loads what it needs (issue 17: cold start)', () => {
  test('--help loads yargs and the CLI, not the library, FFmpeg, an encoder, got or the queue', async () => {
    const { stdout, packages } = await traced(['--help']);
    assert.match(stdout, /^ {2}framepipe probe \[source\] +Describe a video/m);
    assertNotLoaded(packages, ['@framepipe/core', 'node-av', 'got', ...IMAGE_ENCODERS, ...QUEUE_AND_BATCH], '--help');
  });

  test('probe of a URL loads no work queue, batch or Supervisely code', async () => {
    const { stdout, packages } = await traced(['probe', server.url('/clip.mp4')]);
    assert.match(stdout, /^Frames +60, as the container states/m);
    assertNotLoaded(packages, QUEUE_AND_BATCH, 'probe URL');
  });

  test('probe loads no image encoder', async () => {
    const { packages } = await traced(['probe', video]);
    assertNotLoaded(packages, IMAGE_ENCODERS, 'probe');
  });

  test('frames to JPEG loads libjpeg-turbo, not sharp', async () => {
    const out = join(dir, 'jpeg-frames');
    const { packages } = await traced(['frames', video, '-o', out, '--end', '1', '--ext', 'jpg', '-q']);
    assert.ok(packages.has('@julusian/jpeg-turbo'), 'jpeg-turbo loaded');
    assertNotLoaded(packages, ['sharp'], 'frames --ext jpg');
  });

  test('frames of a file loads no HTTP client, queue, batch or Supervisely code', async () => {
    const out = join(dir, 'file-frames');
    const { packages } = await traced(['frames', video, '-o', out, '--end', '2', '-q']);
    assertNotLoaded(packages, ['got', ...QUEUE_AND_BATCH], 'frames FILE');
    assert.deepEqual(await readCodes([0, 1, 2].map((index) => join(out, `frame_00000${index}.png`))), [0, 1, 2]);
  });
});

describe('the process the CLI runs in (issue 17: cores, allocator)', () => {
  test('libuv gets a thread per writer and two for the pipeline, from the start', async () => {
    const out = join(dir, 'pool');
    const { trace } = await traced(['frames', server.url('/clip.mp4'), '-o', out, '--end', '5', '--max-write-workers', '6', '-q']);
    assert.equal(trace.atExit.UV_THREADPOOL_SIZE, '8');
    assert.equal(trace.threads, 8, 'libuv started the pool with that size');
    assert.deepEqual((await readdir(out)).filter((name) => name.startsWith('frame_')).map(indexInName), [0, 1, 2, 3, 4, 5]);
  });

  test('what the user set stays as set', async () => {
    const own = await traced(['frames', video, '-o', join(dir, 'own'), '--end', '0', '-q'], { UV_THREADPOOL_SIZE: '3' });
    assert.equal(own.trace.atStart.UV_THREADPOOL_SIZE, '3');
    assert.equal(own.trace.atExit.UV_THREADPOOL_SIZE, '3');
  });

  test('files are written by one writer per core, at least 4, unless maxWriteWorkers says otherwise', () => {
    assert.equal(optionDefault('maxWriteWorkers'), Math.max(4, availableParallelism()));
  });

  test('the pool size follows the writers, the videos or shards run at once, and the cores', () => {
    const sizes = (argv: string[], cores: number) => processEnvironment(argv, {}, { cores }).set.UV_THREADPOOL_SIZE;
    assert.equal(sizes(['frames', 'a.mp4', '-o', 'x'], 16), '18', 'a writer per core by default, plus the pipeline');
    assert.equal(sizes(['frames', 'a.mp4', '-o', 'x'], 2), '6', 'at least 4 writers by default, plus the pipeline');
    assert.equal(sizes(['frames', 'a.mp4', '--max-write-workers', '1'], 2), '4', "never less than libuv's default");
    assert.equal(sizes(['frames', 'a.mp4', '--max-write-workers', '10'], 2), '12');
    assert.equal(sizes(['frames', 'a.mp4', '--max-write-workers=3'], 16), '5');
    assert.equal(sizes(['frames', 'a.mp4', '--maxWriteWorkers', '3'], 16), '5');
    assert.equal(sizes(['frames', 'a.mp4', '--max-write-workers', 'many'], 16), '18', 'a malformed value is the parser to report');
    assert.equal(sizes(['batch', 'a.mp4', 'b.mp4', '-o', 'x', '--concurrency', '2'], 16), '36', 'each video at once has its writers');
    assert.equal(sizes(['worker', '--redis', 'redis://r', '--concurrency', '3', '--max-write-workers', '4'], 16), '18');
    assert.equal(sizes(['worker', '--redis', 'redis://r'], 16), '18', 'one shard at a time by default');
    assert.equal(sizes(['frames', '--max-write-workers', '5000'], 2), '1024', "libuv's limit");
    assert.deepEqual(processEnvironment(['frames', 'a.mp4'], { UV_THREADPOOL_SIZE: '2' }, { cores: 16 }).set, {});
  });
});

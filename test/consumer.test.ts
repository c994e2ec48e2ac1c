/**
 * framepipe as its users get it: every package built and packed as it would be published, installed with plain npm
 * into a fresh project outside the workspace (no pnpm links; what loads is built JavaScript and declarations, the
 * TypeScript sources ship only for the source maps), and used there on the oldest Node it claims and on the newest
 * through the `framepipe` command, an ESM script and a TypeScript consumer with a stock strict `nodenext` tsconfig.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { H264_MP4_MOOV_END, makeFixture } from './support/fixtures.ts';
import { indexInName, readCodes, removeDir, strayFiles, tempDir } from './support/pipeline-helpers.ts';
import { startRangeServer } from './support/range-server.ts';
import type { RangeServer } from './support/range-server.ts';
import { ROOT } from './support/run-script.ts';

const run = promisify(execFile);

// Commands run with a chosen Node first on PATH, so that npm, npx and the installed bin run on it as they would on a
// consumer's machine: by default the Node that runs the tests (24); the machine's own Node may be older.
function envWith(nodeDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${nodeDir}${delimiter}${process.env.PATH ?? ''}`, npm_config_fund: 'false', npm_config_audit: 'false' };
  // What the workspace's own scripts set for their children must not leak into the consumer's commands.
  for (const name of Object.keys(env)) if (name.startsWith('npm_') && !name.startsWith('npm_config_')) delete env[name];
  return env;
}
const env = envWith(dirname(process.execPath));

async function sh(command: string, args: string[], cwd: string, nodeDir?: string): Promise<{ stdout: string; stderr: string }> {
  try {
    return await run(command, args, { cwd, env: nodeDir ? envWith(nodeDir) : env, maxBuffer: 64 * 1024 * 1024 });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.join(' ')} failed in ${cwd}:\n${stderr ?? ''}\n${stdout ?? ''}`, { cause: error });
  }
}

const packageDirs = (await readdir(join(ROOT, 'packages'))).sort();
const manifests = await Promise.all(
  packageDirs.map(async (dir) => JSON.parse(await readFile(join(ROOT, 'packages', dir, 'package.json'), 'utf8')) as Record<string, unknown>),
);
const version = manifests.find((m) => m.name === 'framepipe')?.version as string;
const repoDevDependencies = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')).devDependencies as Record<string, string>;
const streamxRange = (manifests.find((m) => m.name === '@framepipe/core')?.dependencies as Record<string, string>).streamx;
// The oldest Node the packages claim to run on, from their engines field (">=22.12.0"): the runtime checks run on it
// too, with a Node binary from the npm registry (the node-<platform>-<arch> packages hold the official builds).
const engines = new Set(manifests.map((m) => (m.engines as { node: string }).node));
const oldestNode = /^>=(\d+\.\d+\.\d+)$/.exec([...engines][0] ?? '')?.[1];

describe('framepipe installed from its packed tarballs with plain npm', { timeout: 15 * 60_000 }, () => {
  let work: string;
  let tarballs: string;
  let project: string;
  let server: RangeServer;
  let videoUrl: string;
  const nodes: Record<string, string> = { [`Node ${process.versions.node}`]: dirname(process.execPath) };

  before(
    async () => {
      work = await tempDir('framepipe-consumer-');
      tarballs = join(work, 'tarballs');
      project = join(work, 'project');
      await sh(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-b', 'tsconfig.build.json'], ROOT);
      // pnpm packs as it publishes: `workspace:^` becomes a semver range, publishConfig's exports and bin apply.
      await sh('pnpm', ['-r', '--filter', './packages/*', 'pack', '--pack-destination', tarballs], ROOT);
      await sh('mkdir', ['-p', project], work);
      await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }, null, 2));
      const packed = (await readdir(tarballs)).filter((name) => name.endsWith('.tgz')).map((name) => join(tarballs, name));
      // streamx too: a user who pipes the stages into a Writable of their own installs it, as our examples do.
      const extras = [`typescript@${repoDevDependencies.typescript}`, `@types/node@${repoDevDependencies['@types/node']}`, `streamx@${streamxRange}`];
      await sh('npm', ['install', '--no-save', ...packed, ...extras], project);
      const oldest = join(work, 'oldest-node');
      await sh('npm', ['install', '--no-save', '--prefix', oldest, `node-${process.platform}-${process.arch}@${oldestNode}`], work);
      nodes[`Node ${oldestNode}`] = join(oldest, `node_modules/node-${process.platform}-${process.arch}/bin`);
      server = await startRangeServer({ files: { '/clip.mp4': await makeFixture(H264_MP4_MOOV_END) } });
      videoUrl = server.url('/clip.mp4');
    },
    { timeout: 10 * 60_000 },
  );

  after(async () => {
    await server?.close();
    if (work) await removeDir(work);
  });

  test('the installed packages are the packed ones: entry points in dist/, semver ranges, nothing from the workspace', async () => {
    const { stdout } = await sh('npm', ['ls', '--all', '--parseable'], project);
    assert.ok(!stdout.includes(ROOT), 'nothing resolves into the workspace');
    const umbrella = JSON.parse(await readFile(join(project, 'node_modules/framepipe/package.json'), 'utf8'));
    assert.equal(umbrella.bin.framepipe, './dist/bin.js');
    // Every entry point of every package is built JavaScript and declarations that the tarball holds.
    for (const name of manifests.map((m) => m.name as string)) {
      const dir = join(project, 'node_modules', name);
      const installed = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { exports: Record<string, { types: string; default: string }> };
      for (const [entry, target] of Object.entries(installed.exports)) {
        assert.match(target.default, /^\.\/dist\/.*\.js$/, `${name} ${entry}`);
        assert.match(target.types, /^\.\/dist\/.*\.d\.ts$/, `${name} ${entry}`);
        await readFile(join(dir, target.default));
        await readFile(join(dir, target.types));
      }
    }
    for (const [name, range] of Object.entries(umbrella.dependencies as Record<string, string>)) {
      assert.equal(range, `^${version}`, `${name} is a semver range once packed`);
    }
  });

  test('every package claims the same oldest Node, 22.12 or later (yargs 18 needs ^22.12)', () => {
    assert.equal(engines.size, 1, `one engines.node for all: ${[...engines].join(', ')}`);
    assert.ok(oldestNode && Number(oldestNode.split('.')[0]) === 22 && Number(oldestNode.split('.')[1]) >= 12, `${[...engines][0]}`);
  });

  // The same checks on the Node that runs the tests and on the oldest the packages claim; the second is known only
  // once `before` has installed it, so each test looks its Node up by label.
  for (const label of [`Node ${process.versions.node}`, `Node ${oldestNode}`]) {
    test(`${label}: npx framepipe --version prints the version`, async () => {
      const { stdout } = await sh('npx', ['--no-install', 'framepipe', '--version'], project, nodes[label]);
      assert.equal((await sh('node', ['--version'], project, nodes[label])).stdout.trim(), `v${label.slice(5)}`);
      assert.equal(stdout.trim(), version);
    });

    // PNG and JPEG each load an encoder's own prebuilt binary (sharp's libvips, @julusian/jpeg-turbo).
    test(`${label}: npx framepipe frames over loopback HTTP writes the right frame into each file, as PNG and as JPEG`, async () => {
      for (const ext of ['png', 'jpg']) {
        const out = join(project, `cli-frames-${label}-${ext}`);
        const { stdout } = await sh('npx', ['--no-install', 'framepipe', 'frames', videoUrl, '-o', out, '--start', '20', '--end', '29', '--ext', ext, '--json'], project, nodes[label]);
        const summary = JSON.parse(stdout) as { frames: number; bytesRead: number };
        assert.equal(summary.frames, 10);
        assert.deepEqual(await strayFiles(out), []);
        const paths = (await readdir(out)).sort().map((name) => join(out, name));
        assert.deepEqual(paths.map(indexInName), [20, 21, 22, 23, 24, 25, 26, 27, 28, 29]);
        assert.ok(paths.every((path) => path.endsWith(`.${ext}`)), ext);
        assert.deepEqual(await readCodes(paths), [20, 21, 22, 23, 24, 25, 26, 27, 28, 29], `the frame each ${ext} file shows`);
      }
    });

    test(`${label}: an ESM script imports the one-call API and openFrameStages from 'framepipe'`, async () => {
      const script = join(project, 'one-call.mjs');
      await writeFile(
        script,
        [
          "import { streamVideoFramesToDir, streamVideoFrames, probeVideo, openFrameStages, runBatch, ErrorCode } from 'framepipe';",
          "import { Writable, pipelinePromise } from 'streamx';",
          "import { readFileSync } from 'node:fs';",
          'const [url, out] = process.argv.slice(2);',
          'const paths = await streamVideoFramesToDir(url, out, { frames: [3, 31, 50] });',
          'const iterated = [];',
          'for await (const frame of streamVideoFrames(url, { start: 40, end: 42 })) iterated.push([frame.index, frame.width, frame.data.length]);',
          'const composed = [];',
          'const stages = await openFrameStages(url, { frames: [50, 3, 31] }, { budget: 2 });',
          'try {',
          '  const consumer = new Writable({ write(frame, cb) { composed.push([frame.index, frame.data.toString("base64")]); stages.budget.release(); cb(null); } });',
          '  await pipelinePromise(...stages.streams, consumer);',
          '} finally {',
          '  await stages.close();',
          '}',
          'const probe = await probeVideo(url);',
          'const batch = await runBatch([url], { out: `${out}-batch`, frames: [3, 31], concurrency: 1 });',
          "const report = readFileSync(batch.report, 'utf8');",
          'console.log(JSON.stringify({ paths, iterated, composed, frameCount: probe.frameCount, aborted: ErrorCode.ABORTED, report }));',
        ].join('\n'),
      );
      const out = join(project, `one-call-${label}`);
      const { stdout } = await sh('node', [script, videoUrl, out], project, nodes[label]);
      const result = JSON.parse(stdout) as { paths: string[]; iterated: number[][]; composed: Array<[number, string]>; frameCount: number; aborted: string; report: string };
      assert.deepEqual(result.paths.map(indexInName), [3, 31, 50]);
      assert.deepEqual(await readCodes(result.paths), [3, 31, 50]);
      assert.deepEqual(result.iterated, [40, 41, 42].map((n) => [n, 320, 320 * 240 * 3]));
      // The composed stages give the one-call API's frames, pixel for pixel (its PNGs are lossless).
      assert.deepEqual(result.composed.map(([index]) => index), [3, 31, 50]);
      for (const [i, [, data]] of result.composed.entries()) {
        assert.ok(Buffer.from(data, 'base64').equals(await sharp(result.paths[i]!).raw().toBuffer()), `frame ${result.composed[i]![0]}`);
      }
      assert.equal(result.frameCount, 60);
      assert.equal(result.aborted, 'ERR_FRAMEPIPE_ABORTED');
      // A batch of one: its frames under <out>/<name>/, its report.
      assert.equal(result.report, `${JSON.stringify({ source: videoUrl, name: 'clip', frames: 2, status: 'done' })}\n`);
      assert.deepEqual(await readCodes(['frame_000003.png', 'frame_000031.png'].map((name) => join(`${out}-batch`, 'clip', name))), [3, 31]);
    });
  }

  test('a TypeScript consumer with a stock strict nodenext tsconfig type-checks', async () => {
    const dir = join(project, 'ts');
    await sh('mkdir', ['-p', dir], project);
    // The tsconfig `tsc --init` writes, with Node's types as its own comments advise for a Node program.
    await sh(process.execPath, [join(project, 'node_modules/typescript/bin/tsc'), '--init'], dir);
    const tsconfig = await readFile(join(dir, 'tsconfig.json'), 'utf8');
    assert.match(tsconfig, /"module": "nodenext"/);
    assert.match(tsconfig, /"strict": true/);
    await writeFile(join(dir, 'tsconfig.json'), tsconfig.replace('"types": []', '"types": ["node"]'));
    await writeFile(
      join(dir, 'consumer.ts'),
      [
        "import { streamVideoFramesToDir, streamVideoFrames, probeVideo, openFrameStages, FramepipeError, ErrorCode, Demuxer, HttpSource } from 'framepipe';",
        "import { runBatch, sourceName } from 'framepipe';",
        "import type { RgbFrame, StreamToDirOptions, DemuxerInfo, VideoProbe, FrameStages, DecodePlan, BatchOptions, BatchSummary } from 'framepipe';",
        "import { Writable, pipelinePromise } from 'streamx';",
        '',
        "const options: StreamToDirOptions = { start: 3, end: 5, ext: 'jpg', manifest: true };",
        "const paths: string[] = await streamVideoFramesToDir('clip.mp4', '/tmp/out', options);",
        "for await (const frame of streamVideoFrames('clip.mp4', { end: 2, reuseBuffers: true })) {",
        '  const rgb: RgbFrame = frame;',
        '  const bytes: number = rgb.data.length;',
        '  console.log(rgb.index, bytes);',
        '}',
        "const probe: VideoProbe = await probeVideo('clip.mp4');",
        "const stages: FrameStages = await openFrameStages('clip.mp4', { frames: [3, 40] }, { budget: 4 });",
        'const plan: DecodePlan = stages.plan;',
        'const sink = new Writable({ write(frame: RgbFrame, cb: (error: Error | null) => void) { stages.budget.release(); cb(null); } });',
        'await pipelinePromise(...stages.streams, sink);',
        'await stages.close();',
        'console.log(plan.total, plan.seek?.pts);',
        "const demuxer = new Demuxer(new HttpSource('http://127.0.0.1/clip.mp4'));",
        'const info: DemuxerInfo = await demuxer.open();',
        'console.log(paths.length, probe.frameCount, info.width, ErrorCode.ABORTED);',
        'try {',
        "  await streamVideoFramesToDir('clip.mp4', '/tmp/out', { start: -1 });",
        '} catch (error) {',
        '  if (error instanceof FramepipeError) console.log(error.code);',
        '}',
        "const batchOptions: BatchOptions = { out: '/tmp/batch', step: 10, ext: 'jpg', concurrency: 2, onProgress: (p) => console.log(p.framesWritten) };",
        "const summary: BatchSummary = await runBatch(['clip.mp4', { url: 'http://127.0.0.1/b.mp4', headers: { authorization: 'x' } }], batchOptions);",
        "console.log(summary.videos[0]?.code, sourceName('http://127.0.0.1/b.mp4'));",
        '// @ts-expect-error: a batch always resumes; resume is not an option of it',
        "await runBatch(['clip.mp4'], { out: '/tmp/batch', resume: true });",
        '// @ts-expect-error: an unknown option is a type error, not only a runtime one',
        "await streamVideoFramesToDir('clip.mp4', '/tmp/out', { strat: 3 });",
      ].join('\n'),
    );
    await writeFile(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    const tsc = join(project, 'node_modules/typescript/bin/tsc');
    await sh(process.execPath, [tsc, '--noEmit', '-p', '.'], dir);
    // The stock tsconfig skips checking declaration files; checked too, ours must be clean (dependencies' own
    // declarations are theirs to mend).
    const strict = await run(process.execPath, [tsc, '--noEmit', '-p', '.', '--skipLibCheck', 'false'], { cwd: dir, env }).then(
      () => '',
      (error: { stdout?: string }) => error.stdout ?? '',
    );
    const ours = strict.split('\n').filter((line) => /node_modules\/(framepipe|@framepipe)\//.test(line) || line.startsWith('consumer.ts'));
    assert.deepEqual(ours, [], 'no type error in framepipe declarations');
  });

  test('npm publish --dry-run is clean for every package', async () => {
    for (const name of (await readdir(tarballs)).filter((file) => file.endsWith('.tgz'))) {
      const { stderr } = await sh('npm', ['publish', '--dry-run', join(tarballs, name)], project);
      // Being logged in to the registry is the publisher's business, not the package's.
      const warnings = stderr.split('\n').filter((line) => line.startsWith('npm warn') && !/requires you to be logged in/.test(line));
      assert.deepEqual(warnings, [], `${name}: npm publish --dry-run warns`);
      const files = stderr.split('\n').filter((line) => /^npm notice [\d.]+k?B /.test(line)).map((line) => line.split(/\s+/).at(-1));
      for (const required of ['LICENSE', 'README.md', 'package.json', 'dist/index.js', 'dist/index.d.ts']) {
        assert.ok(files.includes(required), `${name} holds ${required}`);
      }
      const manifest = JSON.parse(await readFile(join(project, 'node_modules', name.startsWith('framepipe-0') ? 'framepipe' : `@framepipe/${name.replace(/^framepipe-|-\d.*$/g, '')}`, 'package.json'), 'utf8'));
      for (const field of ['license', 'repository', 'engines', 'description']) assert.ok(manifest[field], `${name} has ${field}`);
    }
  });
});

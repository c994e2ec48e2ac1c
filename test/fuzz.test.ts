/**
 * The fuzz pass of issue 5: fixture files damaged at random (truncated, inside the header too; header and payload
 * bytes flipped or overwritten; sample-table counts and box sizes set to edge values; ranges zeroed; chunks
 * duplicated or removed), each given to the public API from a file. Every case must end in frames or in a coded
 * error: no crash, no hang, no bare Error from inside, no temporary or incomplete file, no native object left, no
 * allocation out of proportion with the file. Cases run in child processes, so that a crash fails this test with
 * the case that caused it instead of killing the runner.
 *
 * Seeded and deterministic: `FRAMEPIPE_FUZZ_SEED` (decimal or 0x hex) draws another set of cases,
 * `FRAMEPIPE_FUZZ_CASES` sets how many, and `FRAMEPIPE_FUZZ_ONLY=17,42` runs only those cases of the seed (to
 * reproduce one from a report).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { extname } from 'node:path';
import {
  AV1_MKV,
  H264_AUDIO_MP4,
  H264_MKV,
  H264_MP4_FASTSTART,
  H264_MP4_MOOV_END,
  H264_TS,
  HEVC_MP4,
  MJPEG_AVI,
  VP9_WEBM,
  makeFixture,
} from './support/fixtures.ts';
import type { FixtureSpec } from './support/fixtures.ts';
import { FuzzRandom, caseSeed, drawMutation, layoutOf } from './support/fuzz-mutations.ts';
import type { Layout } from './support/fuzz-mutations.ts';
import type { FuzzCall, FuzzCase } from './support/fuzz-case.ts';
import { runInChildren } from './support/fuzz-runner.ts';
import type { CaseReport } from './support/fuzz-runner.ts';
import { removeDir, tempDir } from './support/pipeline-helpers.ts';

const DEFAULT_SEED = 0x5eed0005;
const DEFAULT_CASES = 1000;

/** The fixtures damaged, with how often each is drawn: MP4 most, since framepipe reads its sample tables itself. */
const FIXTURES: ReadonlyArray<readonly [name: string, spec: FixtureSpec, weight: number]> = [
  ['moov-end.mp4', H264_MP4_MOOV_END, 22],
  ['faststart.mp4', H264_MP4_FASTSTART, 18],
  ['audio.mp4', H264_AUDIO_MP4, 5],
  ['hevc.mp4', HEVC_MP4, 8],
  ['vp9.webm', VP9_WEBM, 12],
  ['h264.ts', H264_TS, 14],
  ['h264.mkv', H264_MKV, 10],
  ['av1.mkv', AV1_MKV, 5],
  ['mjpeg.avi', MJPEG_AVI, 6],
];

function envNumber(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer, got ${text}`);
  return value;
}

/** The call a case makes: a full run, a range deeper in (container or scan strategy, then a seek), a sparse list, an iteration, a probe. */
function drawCall(random: FuzzRandom, frames: number): FuzzCall {
  const kind = random.weighted([['full', 30], ['range', 22], ['frames', 10], ['iterate', 23], ['probe', 15]] as const);
  const ext = random.chance(0.2) ? 'jpg' : 'png';
  switch (kind) {
    case 'full':
      return { api: 'streamVideoFramesToDir', options: { ext, ...(random.chance(0.3) ? { end: random.int(0, frames - 1) } : {}) } };
    case 'range': {
      const start = random.int(1, frames - 5);
      const options = random.chance(0.7) ? { start, end: random.int(start, frames + 5) } : { start };
      return { api: 'streamVideoFramesToDir', options: { ext, ...options, ...(random.chance(0.2) ? { step: random.int(2, 7) } : {}) } };
    }
    case 'frames': {
      const list = Array.from({ length: random.int(1, 4) }, () => random.int(0, frames + 10));
      return { api: 'streamVideoFramesToDir', options: { ext, frames: list } };
    }
    case 'iterate': {
      const start = random.chance(0.5) ? 0 : random.int(1, frames - 5);
      return { api: 'streamVideoFrames', options: { start }, ...(random.chance(0.3) ? { stopAfter: random.int(1, 10) } : {}) };
    }
    case 'probe':
      return { api: 'probeVideo', options: { countFrames: random.chance(0.5) } };
  }
}

function describeCall(call: FuzzCall): string {
  const extra = call.api === 'streamVideoFrames' && call.stopAfter ? `, break after ${call.stopAfter}` : '';
  return `${call.api}(${call.api === 'selfTest' ? call.fault : JSON.stringify(call.options)}${extra})`;
}

function describeFailure(seed: number, fuzzCase: FuzzCase, report: CaseReport): string {
  const lines = [
    `case ${fuzzCase.id} (case seed ${fuzzCase.seed}, ${fuzzCase.fixture}, ${describeCall(fuzzCase.call)}): ${report.outcome}`,
    `  damage: ${fuzzCase.mutation.what}`,
    `  edits: ${JSON.stringify(fuzzCase.mutation.edits)}`,
    ...report.problems.map((p) => `  problem: ${p}`),
  ];
  if (report.died === undefined) {
    if (report.message) lines.push(`  error: ${report.message}`);
    if (report.input) lines.push(`  input kept at ${report.input}`);
  } else if (report.stderr) {
    lines.push(`  stderr: ${report.stderr.trim().split('\n').slice(-12).join('\n    ')}`);
  }
  lines.push(`  again: FRAMEPIPE_FUZZ_SEED=${seed} FRAMEPIPE_FUZZ_ONLY=${fuzzCase.id} pnpm exec node --test test/fuzz.test.ts`);
  return lines.join('\n');
}

test('fuzz: damaged files end in frames or a coded error, never a crash, hang or partial file', { timeout: 600_000 }, async (t) => {
  const seed = envNumber('FRAMEPIPE_FUZZ_SEED', DEFAULT_SEED) >>> 0;
  const count = envNumber('FRAMEPIPE_FUZZ_CASES', DEFAULT_CASES);
  const only = process.env.FRAMEPIPE_FUZZ_ONLY?.split(',').filter(Boolean).map(Number);
  t.diagnostic(`seed ${seed} (FRAMEPIPE_FUZZ_SEED), ${count} cases (FRAMEPIPE_FUZZ_CASES)${only ? `, only ${only.join(',')}` : ''}`);

  const fixtures = new Map<string, { path: string; layout: Layout; size: number; frames: number }>();
  for (const [name, spec] of FIXTURES) {
    const path = await makeFixture(spec);
    const bytes = await readFile(path);
    fixtures.set(name, { path, layout: layoutOf(bytes, spec.container), size: bytes.length, frames: spec.frames });
  }

  const cases: FuzzCase[] = [];
  for (const id of only ?? Array.from({ length: count }, (_, i) => i)) {
    const random = new FuzzRandom(caseSeed(seed, id));
    const fixture = random.weighted(FIXTURES.map(([name, , weight]) => [name, weight] as const));
    const { path, layout, size, frames } = fixtures.get(fixture)!;
    const mutation = drawMutation(random, size, layout);
    const call = drawCall(random, frames);
    cases.push({ id, seed: caseSeed(seed, id), fixture, fixturePath: path, ext: extname(path).slice(1), mutation, call });
  }

  const workDir = await tempDir('framepipe-fuzz-');
  const started = performance.now();
  const reports = await runInChildren(cases, {
    workDir,
    children: Math.max(1, Math.min(2, availableParallelism())),
    batchSize: 40,
    timeoutMs: 20_000,
    // FFmpeg itself zeroes up to 2 GiB (av_malloc's limit) for a chunk size it reads from a damaged RIFF INFO list
    // (libavformat/riffdec.c), so the limit sits above that; allocations of ours show up well beyond it, and JS
    // objects meet the heap limit first.
    rssLimit: 2.5 * 2 ** 30,
    maxOldSpaceMiB: 512,
  });
  const seconds = (performance.now() - started) / 1000;

  // The summary: outcomes, codes, frames, per fixture, memory and time.
  const outcomes = new Map<string, number>();
  const perFixture = new Map<string, { cases: number; frames: number; coded: number }>();
  let savedFrames = 0;
  let peakRss = { bytes: 0, id: -1 };
  let slowest = { ms: 0, id: -1 };
  const large: string[] = [];
  const example = new Map<string, string>();
  const failures: string[] = [];
  for (const fuzzCase of cases) {
    const report = reports.get(fuzzCase.id);
    assert.ok(report, `case ${fuzzCase.id} has a report`);
    const key = report.died === undefined && report.outcome === 'coded' ? report.code! : report.outcome;
    outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
    if (report.died === undefined && report.message && !example.has(key)) example.set(key, `case ${report.id}: ${report.message.split('\n')[0]}`);
    const row = perFixture.get(fuzzCase.fixture) ?? { cases: 0, frames: 0, coded: 0 };
    row.cases++;
    if (report.died === undefined) {
      savedFrames += report.frames;
      if (report.peakRss > peakRss.bytes) peakRss = { bytes: report.peakRss, id: report.id };
      if (report.peakRss > 2 ** 30) large.push(`case ${report.id} (${fuzzCase.fixture}: ${fuzzCase.mutation.what}) ${(report.peakRss / 2 ** 20).toFixed(0)} MiB`);
      if (report.ms > slowest.ms) slowest = { ms: report.ms, id: report.id };
      if (report.outcome === 'frames') row.frames++;
      if (report.outcome === 'coded') row.coded++;
    }
    perFixture.set(fuzzCase.fixture, row);
    const failed = report.died !== undefined || report.outcome === 'uncoded' || report.outcome === 'hang' || report.problems.length > 0;
    if (failed) failures.push(describeFailure(seed, fuzzCase, report));
  }
  const sorted = [...outcomes].sort(([a], [b]) => a.localeCompare(b));
  t.diagnostic(`${cases.length} cases in ${seconds.toFixed(1)} s: ${sorted.map(([k, n]) => `${k} ${n}`).join(', ')}`);
  t.diagnostic(`frames saved or delivered: ${savedFrames}; highest peak RSS ${(peakRss.bytes / 2 ** 20).toFixed(0)} MiB (case ${peakRss.id}); slowest case ${slowest.id} (${slowest.ms} ms)`);
  for (const [code, line] of [...example].sort()) t.diagnostic(`  ${code}, e.g. ${line}`);
  for (const line of large) t.diagnostic(`peak RSS above 1 GiB: ${line}`);
  for (const [name, row] of perFixture) t.diagnostic(`  ${name}: ${row.cases} cases, ${row.frames} resolved, ${row.coded} coded errors`);

  if (failures.length === 0) await removeDir(workDir);
  if (failures.length) assert.fail(`${failures.length} case(s) went wrong:\n\n${failures.join('\n\n')}`);
  if (!only && count >= 100) {
    // A pass where nearly everything fails at open, or nothing is damaged enough to fail, tests little.
    const resolved = outcomes.get('frames') ?? 0;
    assert.ok(resolved >= count * 0.15 && resolved <= count * 0.9, `resolved ${resolved} of ${count}`);
  }
});

test('fuzz runner: a case that crashes, hangs or throws outside the call is reported, and the cases after it run', async () => {
  const path = await makeFixture(H264_TS);
  const faults = ['none', 'segfault', 'none', 'hang', 'uncaught', 'none'] as const;
  const cases: FuzzCase[] = faults.map((fault, id) => ({
    id, seed: 0, fixture: 'h264.ts', fixturePath: path, ext: 'ts', mutation: { what: 'none', edits: [] }, call: { api: 'selfTest', fault },
  }));
  const workDir = await tempDir('framepipe-fuzz-self-');
  try {
    const reports = await runInChildren(cases, { workDir, children: 1, batchSize: 10, timeoutMs: 1000, rssLimit: 2 ** 40, maxOldSpaceMiB: 512 });
    const outcome = (id: number) => {
      const report = reports.get(id)!;
      return report.died === undefined ? report.outcome : `${report.outcome}: ${report.died}`;
    };
    assert.deepEqual(faults.map((_, id) => outcome(id)), [
      'frames',
      'crash: killed by SIGSEGV',
      'frames',
      'hang',
      'uncoded',
      'frames',
    ]);
    const uncaught = reports.get(4)!;
    assert.match(uncaught.died === undefined ? (uncaught.message ?? '') : '', /uncaught exception: TypeError: thrown outside any promise/);
  } finally {
    await removeDir(workDir);
  }
});

/**
 * Runs over a server that misbehaves on purpose (test/support/fault-server.ts): cut bodies, 500/503 with and
 * without Retry-After, stalls past the timeout, short bodies, Range ignored, a file that changes mid-run. Every run
 * that can succeed must give the same files, byte for byte, as a clean run; the others must fail with their code
 * and leave only complete files. Each case names its seed: the same seed replays the same faults.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir } from 'node:fs/promises';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, describe, test, type TestContext } from 'node:test';
import { ErrorCode, RunStats, streamVideoFrames, streamVideoFramesToDir } from '@framepipe/core';
import { MAX_ATTEMPTS } from '@framepipe/http-source';
import type { StreamToDirOptions } from '@framepipe/core';
import { H264_1080P, H264_1080P_FOOTAGE, H264_MP4_FASTSTART, H264_MP4_MOOV_END, H264_TS, VP9_WEBM, makeFixture } from './support/fixtures.ts';
import type { FixtureSpec } from './support/fixtures.ts';
import { FAILURE_KINDS, FAULT_KINDS, addFaults, askedRange, startFaultServer } from './support/fault-server.ts';
import type { FaultKind, FaultPlan, FaultRecord, FaultServer, FaultServerOptions } from './support/fault-server.ts';
import { readFrameCode } from './support/frame-code.ts';
import { removeDir, strayFiles, tempDir } from './support/pipeline-helpers.ts';
import { rejectsWith } from './support/sources.ts';

// Small enough that stalls and backoff cost little, large enough that a loaded CI machine does not time out by itself.
const TIMEOUT = 400;
const RETRY_DELAY = 10;
const RETRIES = 5;
// The server fails at most this many answers in a row, below RETRIES: every faulty run below can succeed.
const IN_A_ROW = 3;
const STALL_MS = 3000;
// A small first block, so that even the 10 KB fixtures take several requests.
const READ_AHEAD = 1024;

const FIXTURES = {
  'moov-end.mp4': H264_MP4_MOOV_END,
  'faststart.mp4': H264_MP4_FASTSTART,
  'h264.ts': H264_TS,
  'vp9.webm': VP9_WEBM,
  '1080p.mp4': H264_1080P,
} satisfies Record<string, FixtureSpec>;
type FixtureName = keyof typeof FIXTURES;

/** What each run selects: the whole video (stream strategy), a range from a seek, and a sparse list. */
const SELECTIONS: Record<FixtureName, Record<string, StreamToDirOptions>> = {
  'moov-end.mp4': { full: {}, range: { start: 20, end: 29 }, sparse: { frames: [3, 17, 40, 58] } },
  'faststart.mp4': { full: {}, range: { start: 20, end: 29 }, sparse: { frames: [3, 17, 40, 58] } },
  'h264.ts': { full: {}, range: { start: 20, end: 29 }, sparse: { frames: [3, 17, 40, 58] } },
  'vp9.webm': { full: {}, range: { start: 20, end: 29 }, sparse: { frames: [3, 17, 40, 58] } },
  // All 250 frames at 1080p take seconds to encode; a range and a sparse list still read most of the file.
  '1080p.mp4': { range: { start: 180, end: 209 }, sparse: { frames: [10, 120, 249] } },
};

interface Reference {
  /** Frame file name → bytes. */
  readonly files: Map<string, Buffer>;
  /** The requests of the clean run. */
  readonly requests: readonly FaultRecord[];
  readonly etag: string | undefined;
}

let root: string;
/** os.tmpdir() during this file: where the spool of a server that ignores Range goes, and must not stay. */
let spoolDir: string;
let savedTmpDir: string | undefined;
const videos = {} as Record<FixtureName, string>;
const references = new Map<string, Reference>();
const injected = Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 0])) as Record<FaultKind, number>;
let outputs = 0;

before(async () => {
  root = await tempDir('framepipe-faults-');
  spoolDir = join(root, 'tmp');
  await mkdir(spoolDir);
  savedTmpDir = process.env.TMPDIR;
  process.env.TMPDIR = spoolDir;
  for (const [name, spec] of Object.entries(FIXTURES)) videos[name as FixtureName] = await makeFixture(spec);
  // The clean runs, over the same server without a plan.
  for (const [name, selections] of Object.entries(SELECTIONS)) {
    for (const [selection, options] of Object.entries(selections)) {
      const fixture = name as FixtureName;
      const server = await startFaultServer({ files: { [`/${fixture}`]: videos[fixture] } });
      try {
        const dir = join(root, 'clean', fixture, selection);
        await streamVideoFramesToDir(sourceOf(server, fixture), dir, options);
        references.set(`${fixture}/${selection}`, {
          files: await frameFiles(dir),
          requests: [...server.requests],
          etag: server.validators(`/${fixture}`).etag,
        });
      } finally {
        await server.close();
      }
    }
  }
});

after(async () => {
  if (savedTmpDir === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmpDir;
  await removeDir(root);
});

function spools(): string[] {
  return readdirSync(spoolDir).filter((name) => name.startsWith('framepipe-spool-'));
}

/** The source of a run: the URL with short timeouts and backoff, so that faults cost milliseconds. */
function sourceOf(server: FaultServer, fixture: string, own: { retries?: number; retryTimeLimit?: number } = {}) {
  return {
    url: server.url(`/${fixture}`),
    timeout: TIMEOUT,
    retryDelay: RETRY_DELAY,
    retries: own.retries ?? RETRIES,
    readAhead: READ_AHEAD,
    ...(own.retryTimeLimit === undefined ? {} : { retryTimeLimit: own.retryTimeLimit }),
  };
}

function referenceOf(fixture: FixtureName, selection: string): Reference {
  const reference = references.get(`${fixture}/${selection}`);
  assert.ok(reference, `no clean run of ${fixture}/${selection}`);
  return reference;
}

/** The files of `dir` (none when it does not exist). */
async function frameFiles(dir: string): Promise<Map<string, Buffer>> {
  const names = (await readdir(dir).catch(() => [] as string[])).sort();
  return new Map(await Promise.all(names.map(async (name) => [name, await readFile(join(dir, name))] as const)));
}

/** Same names, same bytes. */
async function assertSameFiles(dir: string, reference: Reference, label: string): Promise<void> {
  const actual = await frameFiles(dir);
  assert.deepEqual([...actual.keys()], [...reference.files.keys()], `${label}: file names`);
  for (const [name, bytes] of actual) {
    assert.ok(bytes.equals(reference.files.get(name) as Buffer), `${label}: ${name} differs from the clean run`);
  }
}

/** Every file left is complete: a frame file identical to the clean run's file of that name. */
async function assertOnlyCompleteFiles(dir: string, reference: Reference, label: string): Promise<number> {
  assert.deepEqual(await strayFiles(dir), [], `${label}: no temporary or partial file`);
  const actual = await frameFiles(dir);
  for (const [name, bytes] of actual) {
    const expected = reference.files.get(name);
    assert.ok(expected, `${label}: ${name} is not a file of the clean run`);
    assert.ok(bytes.equals(expected), `${label}: ${name} differs from the clean run`);
  }
  return actual.size;
}

/** One line per request, for messages: `#3 bytes=1024-11048 206 cut@5120`. */
function describeLog(requests: readonly FaultRecord[]): string {
  return requests
    .map((r) => {
      const fault = r.faults.length > 0 ? ` ${r.faults.join('+')}${r.faults.some((f) => f !== 'status' && f !== 'change') ? `@${r.sent}` : ''}` : '';
      const retryAfter = r.retryAfter === undefined ? '' : ` retry-after=${r.retryAfter}`;
      return `#${r.seq} +${Math.round(r.at)}ms ${r.range ?? '(no range)'} ${r.status}${fault}${retryAfter}`;
    })
    .join('\n');
}

/**
 * After an answer that failed, the next request resumes it: a 206 for `a-b` whose body stopped after `k` bytes is
 * followed by `bytes=(a+k)-b` (the same range after a status or a stall before any byte). Once a whole-body answer
 * has switched the source to spooling, the download runs beside the reads, so the run may end before a failed part
 * of it was retried.
 */
function assertResumes(requests: readonly FaultRecord[], label: string, { runFailed = false } = {}): number {
  let checked = 0;
  for (const [i, record] of requests.entries()) {
    if (!record.faults.some((f) => (FAILURE_KINDS as readonly FaultKind[]).includes(f))) continue;
    const next = requests[i + 1];
    const spooling = requests.slice(0, i).some((r) => r.status === 200);
    if (!next && (runFailed || spooling)) continue;
    assert.ok(next, `${label}: request #${record.seq} failed and was not retried\n${describeLog(requests)}`);
    // A whole body (200) is resumed as the client sees fit: from its offset, or again from the start.
    if (record.status !== 206 && !record.faults.includes('status')) continue;
    const asked = askedRange(record);
    if (!asked) continue;
    // A closed range past the end is answered clamped to the file, and resumed so; an open one stays open.
    const [a, b] = record.status === 206 && Number.isFinite(asked[1]) ? [record.first ?? asked[0], record.last ?? asked[1]] : asked;
    const resumedAt = record.faults.includes('status') ? a : a + record.sent;
    const expected = `bytes=${resumedAt}-${Number.isFinite(b) ? b : ''}`;
    assert.equal(next.range, expected, `${label}: the retry of #${record.seq} resumes at ${resumedAt}\n${describeLog(requests)}`);
    checked++;
  }
  return checked;
}

interface FaultyRunOptions {
  /** Options of the server besides its files and plan. */
  server?: Omit<FaultServerOptions, 'files' | 'plan'>;
  /** More options of the run. */
  options?: StreamToDirOptions;
  /** Give the URL as a string and `timeout`/`retries` as options of the run (retryDelay keeps its default). */
  plainUrl?: boolean;
}

/**
 * Runs `fixture`/`selection` over a fault server with `plan` and checks the result against the clean run: the
 * same files, every failed answer resumed at its offset, no spool left. Adds the server's faults to the file's
 * tally and returns the (closed) server for more checks on its log.
 */
async function faultyRun(
  t: TestContext,
  fixture: FixtureName,
  selection: string,
  plan: FaultPlan,
  { server = {}, options = {}, plainUrl = false }: FaultyRunOptions = {},
): Promise<FaultServer> {
  const reference = referenceOf(fixture, selection);
  const label = `${fixture}/${selection} seed ${plan.seed}`;
  const faulty = await startFaultServer({
    files: { [`/${fixture}`]: videos[fixture] },
    plan: { maxConsecutive: IN_A_ROW, stallMs: STALL_MS, ...plan },
    ...server,
  });
  const dir = join(root, `run-${++outputs}`);
  const started = performance.now();
  try {
    try {
      const selected = { ...SELECTIONS[fixture][selection], ...options };
      if (plainUrl) await streamVideoFramesToDir(faulty.url(`/${fixture}`), dir, { ...selected, timeout: TIMEOUT, retries: RETRIES });
      else await streamVideoFramesToDir(sourceOf(faulty, fixture), dir, selected);
    } catch (error) {
      const { code, message } = error as { code?: string; message?: string };
      assert.fail(`${label}: the run failed with ${code}: ${message}\n${describeLog(faulty.requests)}`);
    }
    const ms = performance.now() - started;
    assert.ok(faulty.totalFaults > 0, `${label}: the plan injected no fault; pick another seed\n${describeLog(faulty.requests)}`);
    await assertSameFiles(dir, reference, label);
    assert.deepEqual(spools(), [], `${label}: no spool file left in os.tmpdir()`);
    const resumed = assertResumes(faulty.requests, label);
    t.diagnostic(
      `${label}: ${faulty.totalFaults} faults (${formatCounts(faulty.faults)}), ${faulty.requests.length} requests ` +
        `(clean: ${reference.requests.length}), ${resumed} resumes checked, ${Math.round(ms)} ms`,
    );
    return faulty;
  } finally {
    addFaults(injected, faulty.faults);
    await faulty.close();
  }
}

function formatCounts(counts: Readonly<Record<FaultKind, number>>): string {
  return FAULT_KINDS.filter((kind) => counts[kind] > 0)
    .map((kind) => `${kind} ${counts[kind]}`)
    .join(', ');
}

describe('clean runs over the fault server', () => {
  test('every request after the first carries If-Range with the first answer’s ETag', () => {
    for (const [key, reference] of references) {
      const [first, ...later] = reference.requests;
      assert.ok(first && later.length > 0, `${key}: several requests`);
      for (const record of later) assert.equal(record.ifRange, reference.etag, `${key}: If-Range of #${record.seq}`);
      assert.ok(reference.files.size > 0, `${key}: frames written`);
    }
  });
});

describe('cut bodies', () => {
  // `inARow`: no limit on cut answers in a row, so that more than RETRIES in a row happen; a run goes on because each
  // cut still brought bytes (the budget counts tries in a row without any).
  const cases: Array<[FixtureName, string, number, { inARow?: 'unlimited' }?]> = [
    ['moov-end.mp4', 'full', 111],
    ['moov-end.mp4', 'range', 122],
    ['moov-end.mp4', 'sparse', 113],
    ['h264.ts', 'range', 204],
    ['1080p.mp4', 'range', 105],
    ['1080p.mp4', 'range', 184, { inARow: 'unlimited' }],
    ['1080p.mp4', 'range', 192, { inARow: 'unlimited' }],
    ['1080p.mp4', 'sparse', 151, { inARow: 'unlimited' }],
    ['moov-end.mp4', 'full', 151, { inARow: 'unlimited' }],
  ];
  for (const [fixture, selection, seed, { inARow } = {}] of cases) {
    test(`${fixture} ${selection}, seed ${seed}${inARow ? ', however many cuts in a row' : ''}`, async (t) => {
      const unlimited = inARow ? { maxConsecutive: Number.POSITIVE_INFINITY } : {};
      const server = await faultyRun(t, fixture, selection, { seed, failures: { cut: 0.5 }, ...unlimited });
      assert.ok(server.faults.cut > 0);
      if (!inARow) return;
      const streak = longestCutStreak(server.requests);
      t.diagnostic(`longest run of cut answers: ${streak}`);
      assert.ok(streak > RETRIES, `more than ${RETRIES} answers in a row were cut (${streak}): a budget of tries would have given up`);
    });
  }
});

/** The most answers in a row that were cut. */
function longestCutStreak(requests: readonly FaultRecord[]): number {
  let longest = 0;
  let current = 0;
  for (const record of requests) {
    current = record.faults.includes('cut') ? current + 1 : 0;
    longest = Math.max(longest, current);
  }
  return longest;
}

test('retries and timeout given to streamVideoFramesToDir itself, with a plain URL, seed 121; RunStats counts the retries', async (t) => {
  const stats = new RunStats();
  const server = await faultyRun(t, 'moov-end.mp4', 'range', { seed: 121, failures: { cut: 1 }, maxFaults: 2 }, { plainUrl: true, options: { stats } });
  assert.equal(server.faults.cut, 2);
  assert.equal(stats.retries, 2);
});

describe('short bodies (Connection: close, no Content-Length)', () => {
  const cases: Array<[FixtureName, string, number]> = [
    ['faststart.mp4', 'full', 201],
    ['faststart.mp4', 'range', 212],
    ['faststart.mp4', 'sparse', 203],
    ['vp9.webm', 'sparse', 204],
    ['1080p.mp4', 'sparse', 205],
  ];
  for (const [fixture, selection, seed] of cases) {
    test(`${fixture} ${selection}, seed ${seed}`, async (t) => {
      const server = await faultyRun(t, fixture, selection, { seed, failures: { short: 0.5 } });
      assert.ok(server.faults.short > 0);
    });
  }
});

describe('stalls past the timeout', () => {
  const cases: Array<[FixtureName, string, number]> = [
    ['moov-end.mp4', 'full', 301],
    ['moov-end.mp4', 'range', 302],
    ['h264.ts', 'sparse', 303],
  ];
  for (const [fixture, selection, seed] of cases) {
    test(`${fixture} ${selection}, seed ${seed}`, async (t) => {
      const server = await faultyRun(t, fixture, selection, { seed, failures: { stall: 0.4 } });
      assert.ok(server.faults.stall > 0);
      // The client gives up after its own timeout, long before the server would drop the connection.
      const requests = server.requests;
      for (const [i, record] of requests.entries()) {
        if (!record.faults.includes('stall')) continue;
        const gap = (requests[i + 1]?.at ?? Number.POSITIVE_INFINITY) - record.at;
        assert.ok(gap >= TIMEOUT - 50 && gap < STALL_MS - 500, `retry of stalled #${record.seq} after ${Math.round(gap)} ms\n${describeLog(requests)}`);
      }
    });
  }
});

describe('error statuses: 500, 503 (and 408, 429, 502)', () => {
  const cases: Array<[FixtureName, string, number]> = [
    ['faststart.mp4', 'range', 401],
    ['vp9.webm', 'full', 402],
    ['h264.ts', 'full', 403],
    ['1080p.mp4', 'sparse', 404],
  ];
  for (const [fixture, selection, seed] of cases) {
    test(`${fixture} ${selection}, seed ${seed}`, async (t) => {
      const server = await faultyRun(t, fixture, selection, { seed, failures: { status: 0.5 }, retryAfter: [null, 0] });
      assert.ok(server.faults.status > 0);
    });
  }

  test('408, 429 and 502 are retried too, seed 422', async (t) => {
    const server = await faultyRun(t, 'moov-end.mp4', 'sparse', { seed: 422, failures: { status: 0.6 }, statuses: [408, 429, 502], retryAfter: [null, 0] });
    t.diagnostic(`statuses: ${server.requests.map((r) => r.status).join(' ')}`);
    const seen = new Set(server.requests.map((r) => r.status));
    for (const status of [408, 429, 502]) assert.ok(seen.has(status), `a ${status} was answered (and retried past)`);
  });

  test('503 with Retry-After: 1 is waited for, seed 410', async (t) => {
    const server = await faultyRun(t, 'moov-end.mp4', 'range', {
      seed: 410,
      failures: { status: 1 },
      statuses: [503],
      retryAfter: [1],
      maxConsecutive: 1,
      maxFaults: 2,
    });
    assertWaited(t, server.requests, 1000);
  });

  test('500 with Retry-After as an HTTP date 2 s ahead is waited for, seed 411', async (t) => {
    const server = await faultyRun(t, 'moov-end.mp4', 'sparse', {
      seed: 411,
      failures: { status: 1 },
      statuses: [500],
      retryAfter: [{ dateIn: 2 }],
      maxConsecutive: 1,
      maxFaults: 1,
    });
    // The date has a resolution of one second: the wait it asks is between 1 and 2 s.
    assertWaited(t, server.requests, 1000);
  });
});

/** Asserts that each request after a status fault with a Retry-After came at least `ms` later (less 50 ms of slack). */
function assertWaited(t: TestContext, requests: readonly FaultRecord[], ms: number): void {
  let checked = 0;
  for (const [i, record] of requests.entries()) {
    if (record.retryAfter === undefined) continue;
    const next = requests[i + 1];
    assert.ok(next, `#${record.seq} was retried`);
    const gap = next.at - record.at;
    assert.ok(gap >= ms - 50, `retry of #${record.seq} (${record.status}, Retry-After: ${record.retryAfter}) after ${Math.round(gap)} ms\n${describeLog(requests)}`);
    assert.ok(gap < 5000, `retry of #${record.seq} after ${Math.round(gap)} ms`);
    t.diagnostic(`#${record.seq} ${record.status} Retry-After: ${record.retryAfter} → next request after ${Math.round(gap)} ms`);
    checked++;
  }
  assert.ok(checked > 0, 'a Retry-After was sent');
}

describe('a server that ignores Range', () => {
  const cases: Array<[FixtureName, string, FaultPlan]> = [
    ['moov-end.mp4', 'full', { seed: 501, ignoreRange: 1 }],
    ['moov-end.mp4', 'range', { seed: 502, ignoreRange: 1 }],
    ['1080p.mp4', 'range', { seed: 503, ignoreRange: 0.5 }],
    // The whole-body download is cut too, and retried: the answer at open is dropped, the download (#1) is cut, and
    // the retry (#2) gets the whole body again and skips what the spool has.
    ['1080p.mp4', 'sparse', { seed: 504, script: [['ignore-range'], ['ignore-range', 'cut'], ['ignore-range']] }],
    ['h264.ts', 'range', { seed: 505, ignoreRange: 1, failures: { cut: 0.3, short: 0.2 } }],
    // Range honoured at first, then a whole body with its length, then a download without Content-Length that ends
    // early: the length of the first whole body says bytes are missing.
    ['moov-end.mp4', 'full', { seed: 506, script: [[], ['ignore-range'], ['short']] }],
    // The same, but no whole body ever tells its length: only the size learnt from the first 206 does.
    ['moov-end.mp4', 'full', { seed: 507, script: [[], ['ignore-range', 'short'], ['short']] }],
  ];
  for (const [fixture, selection, plan] of cases) {
    test(`${fixture} ${selection}, seed ${plan.seed}`, async (t) => {
      assert.equal(tmpdir(), spoolDir);
      assert.deepEqual(spools(), [], 'no spool before the run');
      // Looked for while frames are written, when the source is still open; faultyRun checks it is gone after.
      let spooled = 0;
      const progress = (): void => void (spooled = Math.max(spooled, spools().length));
      const server = await faultyRun(t, fixture, selection, plan, { options: { progress } });
      assert.ok(server.faults['ignore-range'] > 0);
      assert.ok(spooled > 0, 'a framepipe-spool-* file existed in os.tmpdir() while frames were written');
      const whole = server.requests.filter((r) => r.status === 200);
      if (plan.script?.some((faults) => faults.includes('cut'))) {
        assert.ok(whole.some((r) => r.faults.includes('cut')), 'a whole-body download was cut');
        assert.ok(whole.length >= 3, 'and asked for again');
      }
      t.diagnostic(`whole-body answers: ${whole.map((r) => `#${r.seq} (${r.range ?? 'no range'}) sent ${r.sent}${r.faults.includes('cut') ? ' cut' : ''}`).join(', ')}`);
    });
  }
});

describe('mixed faults', () => {
  const plan = { failures: { cut: 0.15, status: 0.1, stall: 0.05, short: 0.1 }, ignoreRange: 0.05 } as const;
  // Every fixture and selection once, and more seeds on one. A seed that injects nothing is replaced.
  const cases: Array<[FixtureName, string, number]> = [
    ['moov-end.mp4', 'full', 601],
    ['moov-end.mp4', 'range', 632],
    ['moov-end.mp4', 'sparse', 633],
    ['faststart.mp4', 'full', 604],
    ['faststart.mp4', 'range', 645],
    ['faststart.mp4', 'sparse', 636],
    ['h264.ts', 'full', 607],
    ['h264.ts', 'range', 204],
    ['h264.ts', 'sparse', 609],
    ['vp9.webm', 'full', 620],
    ['vp9.webm', 'range', 611],
    ['vp9.webm', 'sparse', 612],
    ['1080p.mp4', 'range', 613],
    ['1080p.mp4', 'sparse', 614],
    ['moov-end.mp4', 'sparse', 651],
    ['moov-end.mp4', 'sparse', 652],
    ['moov-end.mp4', 'sparse', 653],
  ];
  for (const [fixture, selection, seed] of cases) {
    test(`${fixture} ${selection}, seed ${seed}`, async (t) => {
      await faultyRun(t, fixture, selection, { seed, ...plan });
    });
  }
});

describe('20 seeded full runs of 1080p footage, half the answers cut or failed', () => {
  // The issue's target: a 1080p, 300-frame file at the bit rate of real footage (7.7 MB), read with the default
  // read-ahead and retries, through a server that cuts a quarter of its answers at random offsets and answers another
  // quarter with 500 or 503, with no limit on faults in a row. Every run must give the clean run's frames.
  const SEEDS = Array.from({ length: 20 }, (_, i) => 1001 + i);
  // The first answer of each run fails (a cut on even seeds, a status on odd ones), whatever requests the client
  // makes: a run of few requests could otherwise draw no fault at all and pass without having been tested.
  const planOf = (seed: number): FaultPlan => ({
    seed,
    failures: { cut: 0.25, status: 0.25 },
    statuses: [500, 503],
    script: [[seed % 2 === 0 ? 'cut' : 'status']],
  });
  // No stall in the plan, so a timeout could only be a loaded machine's; backoff from 10 ms instead of 500.
  const source = (server: FaultServer) => ({ url: server.url('/footage.mp4'), retryDelay: RETRY_DELAY, timeout: 10_000 });
  let footage: string;
  let clean: string[];
  const tally = {
    runs: 0,
    answers: 0,
    failed: 0,
    ms: 0,
    statuses: new Set<number>(),
    /** Where the cuts fell: body bytes sent before each. */
    cutAt: [] as number[],
    faults: Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 0])) as Record<FaultKind, number>,
  };

  /**
   * One sha1 per frame, in the order the frames come, as `index:hash`; `check` sees each frame first. Hashing the RGB
   * of the iterator costs less than writing image files (4.4 s a run here, 7.9 s with JPEG files), and equal pixels
   * make equal files.
   */
  async function frameHashes(server: FaultServer, check?: (frame: { index: number; width: number; height: number; data: Buffer }) => void): Promise<string[]> {
    const hashes: string[] = [];
    // Buffers reused: a fresh 6 MB buffer per frame costs more than the decoding.
    for await (const frame of streamVideoFrames(source(server), { reuseBuffers: true })) {
      check?.(frame);
      hashes.push(`${frame.index}:${createHash('sha1').update(frame.data).digest('hex')}`);
    }
    return hashes;
  }

  // Making the fixture (once; it is cached) takes a minute and a half on two busy cores: more than a test's timeout.
  before(async () => {
    footage = await makeFixture(H264_1080P_FOOTAGE);
    const server = await startFaultServer({ files: { '/footage.mp4': footage } });
    try {
      // The clean run is the reference: every frame, in order, each showing its own number through the grain.
      clean = await frameHashes(server, (frame) => {
        assert.equal(readFrameCode(frame.data, frame.width, frame.height), frame.index, `frame ${frame.index} shows its number`);
      });
      assert.deepEqual(clean.map((hash) => Number(hash.split(':')[0])), Array.from({ length: 300 }, (_, i) => i));
    } finally {
      await server.close();
    }
   }, { timeout: 600_000 });

  for (const seed of SEEDS) {
    test(`seed ${seed}`, async (t) => {
      const server = await startFaultServer({ files: { '/footage.mp4': footage }, plan: planOf(seed) });
      const started = performance.now();
      try {
        let hashes: string[];
        try {
          hashes = await frameHashes(server);
        } catch (error) {
          const { code, message } = error as { code?: string; message?: string };
          assert.fail(`seed ${seed}: the run failed with ${code}: ${message}\n${describeLog(server.requests)}`);
        }
        const ms = performance.now() - started;
        const failed = server.faults.cut + server.faults.status;
        assert.ok(failed >= 1, `seed ${seed}: no fault injected\n${describeLog(server.requests)}`);
        assert.equal(hashes.length, clean.length, `seed ${seed}: frames`);
        hashes.forEach((hash, i) => assert.equal(hash, clean[i], `seed ${seed}: frame ${i} differs from the clean run`));
        const resumed = assertResumes(server.requests, `seed ${seed}`);
        tally.runs++;
        tally.answers += server.requests.length;
        tally.failed += failed;
        tally.ms += ms;
        addFaults(tally.faults, server.faults);
        for (const record of server.requests) {
          if (record.faults.includes('status')) tally.statuses.add(record.status);
          if (record.faults.includes('cut')) tally.cutAt.push(record.sent);
        }
        t.diagnostic(`${failed} of ${server.requests.length} answers failed (${formatCounts(server.faults)}), ${resumed} resumes checked, ${Math.round(ms)} ms`);
      } finally {
        addFaults(injected, server.faults);
        await server.close();
      }
    });
  }

  test('across the 20 runs, about half the answers failed: cuts at random offsets, 500s and 503s', (t) => {
    assert.equal(tally.runs, SEEDS.length, 'every run passed');
    const share = tally.failed / tally.answers;
    t.diagnostic(`${tally.failed} of ${tally.answers} answers failed (${(100 * share).toFixed(1)}%: ${formatCounts(tally.faults)}); the 20 runs took ${(tally.ms / 1000).toFixed(1)} s`);
    assert.ok(share > 0.4 && share < 0.6, `${(100 * share).toFixed(1)}% of the answers failed`);
    assert.ok(tally.faults.cut >= 20 && tally.faults.status >= 20, formatCounts(tally.faults));
    assert.deepEqual([...tally.statuses].sort(), [500, 503]);
    assert.ok(new Set(tally.cutAt).size >= 0.9 * tally.cutAt.length, `cuts after ${tally.cutAt.join(', ')} bytes`);
  });
});

describe('the file changes between requests', () => {
  /** The file with a few bytes changed past `from`: same size, other content. */
  async function altered(path: string, from: number): Promise<Buffer> {
    const bytes = Buffer.from(await readFile(path));
    for (let i = from; i < bytes.length; i += 997) bytes[i] = (bytes[i] ?? 0) ^ 0x5a;
    return bytes;
  }

  interface ChangeCase {
    name: string;
    fixture: FixtureName;
    selection: string;
    seed: number;
    /** The second version of the file. */
    second: () => Promise<Buffer | string>;
    server: Omit<FaultServerOptions, 'files' | 'plan'>;
    /** The plan; by default the change comes with the clean run's last request, when frames may already be written. */
    plan?: Omit<FaultPlan, 'seed'>;
  }
  const cases: ChangeCase[] = [
    {
      name: 'If-Range honoured: 200 with the new body',
      fixture: '1080p.mp4',
      selection: 'sparse',
      seed: 701,
      second: () => altered(videos['1080p.mp4'], 70_000),
      server: {},
    },
    {
      name: 'If-Range not implemented: 206 of the new version, another ETag',
      fixture: '1080p.mp4',
      selection: 'range',
      seed: 702,
      second: () => altered(videos['1080p.mp4'], 70_000),
      server: { honourIfRange: false },
    },
    {
      name: 'no ETag, Last-Modified only: If-Range by date, 200 with the new body',
      fixture: 'moov-end.mp4',
      selection: 'range',
      seed: 703,
      // Another encoding of the same size: only the validators can tell.
      second: async () => videos['faststart.mp4'],
      server: { etag: false },
    },
    {
      name: 'If-Range not implemented, no ETag: 206 with another Last-Modified',
      fixture: 'moov-end.mp4',
      selection: 'full',
      seed: 704,
      second: async () => videos['faststart.mp4'],
      server: { etag: false, honourIfRange: false },
    },
    {
      name: 'Range ignored: the new version arrives as the whole-file download',
      fixture: '1080p.mp4',
      selection: 'range',
      seed: 705,
      second: () => altered(videos['1080p.mp4'], 70_000),
      server: {},
      plan: { ignoreRange: 1, changeAt: 1 },
    },
    {
      name: 'Range ignored: the whole-file download is cut, and its resume meets the new version',
      fixture: '1080p.mp4',
      selection: 'sparse',
      seed: 706,
      second: () => altered(videos['1080p.mp4'], 70_000),
      server: {},
      // #0 is answered whole (and cut), #1 is the download, cut at 60000, #2 its resume from 60000, after the change.
      plan: { ignoreRange: 1, failures: { cut: 1 }, cutAfter: 60_000, maxConsecutive: 2, changeAt: 2 },
    },
  ];
  for (const c of cases) {
    test(`${c.name}: ${c.fixture} ${c.selection}, seed ${c.seed}`, async (t) => {
      const reference = referenceOf(c.fixture, c.selection);
      const server = await startFaultServer({
        files: { [`/${c.fixture}`]: [videos[c.fixture], await c.second()] },
        plan: { seed: c.seed, ...(c.plan ?? { changeAt: reference.requests.length - 1 }) },
        ...c.server,
      });
      const dir = join(root, `run-${++outputs}`);
      try {
        const error = await rejectsWith(
          streamVideoFramesToDir(sourceOf(server, c.fixture), dir, SELECTIONS[c.fixture][c.selection]),
          ErrorCode.SOURCE_CHANGED,
        ).catch((failure: unknown) => {
          throw new Error(`${String(failure)}\n${describeLog(server.requests)}`);
        });
        assert.equal(server.faults.change, 1);
        const { etag, lastModified } = server.validators(`/${c.fixture}`);
        for (const record of server.requests.slice(1)) {
          if (record.range === undefined) continue;
          assert.equal(record.ifRange, etag ?? lastModified, `If-Range of #${record.seq}\n${describeLog(server.requests)}`);
        }
        // Nothing was read after the change was seen: no request may follow the answer that showed it.
        const changed = server.requests.findIndex((r) => r.version > 0);
        assert.equal(changed, server.requests.length - 1, `no request after the change was seen\n${describeLog(server.requests)}`);
        const kept = await assertOnlyCompleteFiles(dir, reference, c.name);
        assert.deepEqual(spools(), [], 'no spool file left in os.tmpdir()');
        t.diagnostic(`${error.message} — ${kept} of ${reference.files.size} files kept, each identical to the clean run`);
      } finally {
        addFaults(injected, server.faults);
        await server.close();
      }
    });
  }
});

describe('an outage longer than the retries, then the server is back', () => {
  // Half-way through the clean run's requests the server answers 503 three times in a row: with retries 1, that read
  // gives up. The server then answers again; a demuxer that let FFmpeg read on would take the gap for damaged data
  // and go on (an MP4 with garbled frames, a Matroska file with every later frame under the wrong number).
  const cases: Array<[FixtureName, string, number]> = [
    ['1080p.mp4', 'range', 901],
    ['vp9.webm', 'full', 902],
    ['h264.ts', 'full', 903],
  ];
  for (const [fixture, selection, seed] of cases) {
    test(`${fixture} ${selection}: the run fails with the read's error, and every file it left is the clean run's, seed ${seed}`, async () => {
      const reference = referenceOf(fixture, selection);
      const half = Math.max(1, Math.floor(reference.requests.length / 2));
      const script = [...Array.from({ length: half }, () => []), ['status'], ['status'], ['status']] as FaultKind[][];
      const server = await startFaultServer({ files: { [`/${fixture}`]: videos[fixture] }, plan: { seed, script, statuses: [503] } });
      const dir = join(root, `run-${++outputs}`);
      try {
        await rejectsWith(streamVideoFramesToDir(sourceOf(server, fixture, { retries: 1 }), dir, SELECTIONS[fixture][selection]), ErrorCode.HTTP_STATUS).catch(
          (failure: unknown) => {
            throw new Error(`${String(failure)}\n${describeLog(server.requests)}`);
          },
        );
        assert.equal(server.faults.status, 2, `the read gave up after two 503s\n${describeLog(server.requests)}`);
        assert.ok(server.requests.length <= half + 2, `no request after the read gave up\n${describeLog(server.requests)}`);
        await assertOnlyCompleteFiles(dir, reference, `${fixture} ${selection}`);
      } finally {
        addFaults(injected, server.faults);
        await server.close();
      }
    });
  }
});

describe('retries run out', () => {
  // `retries` counts tries in a row that bring no new byte. A server that never sends a byte ends after retries + 1
  // tries; one that sends some before failing ends once the tries stop bringing any (a random cut cannot withhold
  // the last byte of a range but by sending none), at the cap on tries of one request, or once it has been retrying
  // for longer than retryTimeLimit (a stall after a few bytes brings a byte on every try, and costs a timeout).
  const TIME_LIMIT = 1500;
  const cases: Array<{
    name: string;
    seed: number;
    plan: Omit<FaultPlan, 'seed'>;
    retries: number;
    code: string;
    ends: 'no bytes' | 'cap' | 'time';
  }> = [
    { name: 'always 503', seed: 801, plan: { failures: { status: 1 }, statuses: [503] }, retries: 3, code: ErrorCode.HTTP_STATUS, ends: 'no bytes' },
    { name: 'always cut, at random offsets', seed: 802, plan: { failures: { cut: 1 } }, retries: 3, code: ErrorCode.UNREACHABLE, ends: 'no bytes' },
    { name: 'always cut before the body', seed: 803, plan: { failures: { cut: 1 }, cutAfter: 0 }, retries: 2, code: ErrorCode.UNREACHABLE, ends: 'no bytes' },
    { name: 'always cut after 5 bytes', seed: 805, plan: { failures: { cut: 1 }, cutAfter: 5 }, retries: 2, code: ErrorCode.UNREACHABLE, ends: 'cap' },
    { name: 'always stalled', seed: 804, plan: { failures: { stall: 1 }, stallMs: STALL_MS }, retries: 1, code: ErrorCode.TIMEOUT, ends: 'no bytes' },
    { name: 'always stalled after 5 bytes', seed: 806, plan: { failures: { stall: 1 }, stallAfter: 5, stallMs: STALL_MS }, retries: 2, code: ErrorCode.TIMEOUT, ends: 'time' },
  ];
  const endsWhen = (c: (typeof cases)[number]): string =>
    c.ends === 'cap'
      ? `${MAX_ATTEMPTS} tries were made`
      : c.ends === 'time'
        ? `it has retried for ${TIME_LIMIT} ms`
        : `${c.retries + 1} tries in a row brought no byte`;
  for (const c of cases) {
    test(`${c.name}: ${c.code} once ${endsWhen(c)}, seed ${c.seed}`, async (t) => {
      const server = await startFaultServer({ files: { '/moov-end.mp4': videos['moov-end.mp4'] }, plan: { seed: c.seed, ...c.plan } });
      const dir = join(root, `run-${++outputs}`);
      try {
        const limits = { retries: c.retries, ...(c.ends === 'time' ? { retryTimeLimit: TIME_LIMIT } : {}) };
        const error = await rejectsWith(streamVideoFramesToDir(sourceOf(server, 'moov-end.mp4', limits), dir), c.code);
        const log = describeLog(server.requests);
        const tries = server.requests.length;
        assert.ok(Array.isArray(error.attempts), `error.attempts is a list\n${log}`);
        assert.equal(error.attempts.length, tries, `one attempt per try: ${JSON.stringify(error.attempts)}\n${log}`);
        // The tries that brought no byte, at the end of the log.
        const idle = tries - server.requests.findLastIndex((r) => r.sent > 0) - 1;
        let why = '';
        if (c.ends === 'cap') {
          assert.equal(tries, MAX_ATTEMPTS, `requests made\n${log}`);
          why = ', the most one request may make';
        } else if (c.ends === 'time') {
          // Every try brought its 5 bytes and waited out the timeout: the limit, not the count, ended the request.
          assert.ok(server.requests.every((r) => r.sent === 5), `every try sent 5 bytes\n${log}`);
          const first = server.requests[0] as FaultRecord;
          const last = server.requests.at(-1) as FaultRecord;
          // Each try failed a timeout after it began, so the last began about the limit or more after the first.
          assert.ok(last.at - first.at >= TIME_LIMIT - 50, `the last try began ${Math.round(last.at - first.at)} ms after the first\n${log}`);
          assert.ok(tries <= Math.ceil(TIME_LIMIT / TIMEOUT) + 2, `${tries} tries, about one per timeout over ${TIME_LIMIT} ms\n${log}`);
          // The message says how long it retried (from the first failure), which only the clock knows.
          const head = `${error.attempts.at(-1)} (gave up after ${tries} attempts, `;
          assert.ok(error.message.startsWith(head), error.message);
          const spent = /^(\d+(?:\.\d)?) s of retrying, past the 1\.5 s one request may spend\)$/.exec(error.message.slice(head.length));
          assert.ok(spent && Number(spent[1]) >= TIME_LIMIT / 1000, error.message);
          why = `, ${spent[0].slice(0, -1)}`;
        } else {
          assert.equal(idle, c.retries + 1, `the last ${c.retries + 1} tries brought no byte\n${log}`);
          if (idle < tries) why = `, the last ${idle} without a new byte`;
        }
        // The message is the last failure, said once, and how many tries it took; every try is in error.attempts.
        assert.equal(error.message, `${error.attempts.at(-1)} (gave up after ${tries} attempts${why})`);
        assertResumes(server.requests, c.name, { runFailed: true });
        if (c.plan.failures?.status) {
          // Without Retry-After, the waits double from retryDelay (±20%).
          const gaps = server.requests.slice(1).map((r, i) => r.at - (server.requests[i] as FaultRecord).at);
          gaps.forEach((gap, i) => assert.ok(gap >= 0.8 * RETRY_DELAY * 2 ** i - 1, `wait ${i + 1}: ${gap.toFixed(1)} ms\n${log}`));
          t.diagnostic(`waits: ${gaps.map((gap) => `${gap.toFixed(1)} ms`).join(', ')}`);
        }
        if (c.plan.failures?.cut) {
          const last = server.requests.at(-1) as FaultRecord;
          const [first, end] = [last.first as number, last.last as number];
          const asked = end - first + 1;
          assert.match(error.message, new RegExp(`^The body of bytes=${first}-${end} from \\S+ was cut after ${last.sent} of ${asked} bytes `));
        }
        assert.deepEqual(await strayFiles(dir), [], 'no file at all');
        assert.deepEqual(spools(), [], 'no spool file left in os.tmpdir()');
        t.diagnostic(`${error.code}: ${error.message.replaceAll('\n', ' | ')} (${tries} requests)`);
      } finally {
        addFaults(injected, server.faults);
        await server.close();
      }
    });
  }

  test('a 404 is not retried', async () => {
    const server = await startFaultServer({ files: {} });
    try {
      const error = await rejectsWith(streamVideoFramesToDir(sourceOf(server, 'missing.mp4'), join(root, `run-${++outputs}`)), ErrorCode.HTTP_STATUS);
      assert.equal(error.status, 404);
      assert.equal(server.requests.length, 1, describeLog(server.requests));
    } finally {
      await server.close();
    }
  });
});

test('at least 50 faults were injected across this file', (t) => {
  const total = FAULT_KINDS.reduce((sum, kind) => sum + injected[kind], 0);
  for (const kind of FAULT_KINDS) t.diagnostic(`${kind}: ${injected[kind]}`);
  t.diagnostic(`total: ${total}`);
  assert.ok(total >= 50, `${total} faults injected`);
});

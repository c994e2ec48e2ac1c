/**
 * The child process of the fuzz pass (test/fuzz.test.ts): runs a batch of cases, each a mutated fixture file given
 * to the public API, and reports each on stdout as one line `FUZZ <json>`: a `start` line before the case and a
 * `done` line after it. A native crash or a hang kills this process, not the test runner; the runner then knows
 * which case was running from the last `start` line.
 *
 * Usage: node test/support/fuzz-case.ts <batch.json>, where the file holds a {@link FuzzBatch}.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { FramepipeError, probeVideo, streamVideoFrames, streamVideoFramesToDir } from '@framepipe/core';
import { applyEdits } from './fuzz-mutations.ts';
import type { Mutation } from './fuzz-mutations.ts';
import { countNativeObjects } from './pipeline-helpers.ts';
import { EXIT_AFTER_FATAL, EXIT_AFTER_HANG } from './fuzz-runner.ts';

/** Which call a case makes on the mutated file, with which options. */
export type FuzzCall =
  | { readonly api: 'streamVideoFramesToDir'; readonly options: { start?: number; end?: number; step?: number; frames?: number[]; ext?: 'png' | 'jpg' } }
  | { readonly api: 'streamVideoFrames'; readonly options: { start?: number; end?: number }; readonly stopAfter?: number }
  | { readonly api: 'probeVideo'; readonly options: { countFrames?: boolean } }
  /** Not a call: a fault of the kind the runner must survive, to check that it does. */
  | { readonly api: 'selfTest'; readonly fault: 'segfault' | 'hang' | 'uncaught' | 'none' };

/** One case: a fixture, the damage done to it, and the call. */
export interface FuzzCase {
  readonly id: number;
  readonly seed: number;
  readonly fixture: string;
  readonly fixturePath: string;
  /** The fixture's extension, kept on the mutated copy. */
  readonly ext: string;
  readonly mutation: Mutation;
  readonly call: FuzzCall;
}

/** What the runner hands a child. */
export interface FuzzBatch {
  /** Where the mutated files and the output directories go; a case's files are removed unless it went wrong. */
  readonly workDir: string;
  /** A case still running after this long is a hang. */
  readonly timeoutMs: number;
  /** A case whose peak RSS goes beyond this is an allocation out of proportion with a small file. */
  readonly rssLimit: number;
  readonly cases: readonly FuzzCase[];
}

/** How one case ended, as the child saw it. */
export interface FuzzResult {
  readonly id: number;
  /** `frames`: the call resolved; `coded`: it rejected with a FramepipeError; `hang`: it did not end in time. */
  readonly outcome: 'frames' | 'coded' | 'uncoded' | 'hang';
  /** The FramepipeError's code, for `coded`. */
  readonly code?: string;
  /** The error's name and message, for `coded` and `uncoded`. */
  readonly message?: string;
  /** Frames saved or delivered. */
  readonly frames: number;
  /** Anything wrong besides the outcome: a stray or incomplete file, a frame of the wrong size, a leak, memory. */
  readonly problems: readonly string[];
  readonly ms: number;
  /** Peak resident memory during the case (since the previous case), bytes. */
  readonly peakRss: number;
  /** The mutated input, kept when something went wrong. */
  readonly input?: string;
}

const FRAME_FILE = /^frame_\d{6}\.(png|jpg)$/;

function report(event: 'start' | 'done', data: object): void {
  process.stdout.write(`FUZZ ${JSON.stringify({ event, ...data })}\n`);
}

/** Resets the kernel's peak-RSS mark, so that the next reading is this case's peak. False where not allowed. */
function resetPeakRss(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

function peakRss(): number {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (match) return Number(match[1]) * 1024;
  } catch {
    // Not Linux: the current RSS is the best there is.
  }
  return process.memoryUsage().rss;
}

/** Every file the call left in `dir` must be a whole image under its final name. */
async function checkOutputDir(dir: string, problems: string[], expected?: readonly string[]): Promise<number> {
  const names = await readdir(dir).catch(() => [] as string[]);
  let images = 0;
  for (const name of names) {
    if (!FRAME_FILE.test(name)) {
      problems.push(`stray file left in the output directory: ${name}`);
      continue;
    }
    try {
      const { info } = await sharp(join(dir, name), { failOn: 'truncated' }).raw().toBuffer({ resolveWithObject: true });
      if (info.width <= 0 || info.height <= 0) problems.push(`${name} has size ${info.width}x${info.height}`);
      images++;
    } catch (error) {
      problems.push(`${name} is not a complete image: ${(error as Error).message}`);
    }
  }
  if (expected) {
    const listed = new Set(expected.map((path) => path.slice(dir.length + 1)));
    const present = new Set(names.filter((name) => FRAME_FILE.test(name)));
    for (const name of listed) if (!present.has(name)) problems.push(`resolved with ${name}, which is not in the directory`);
    for (const name of present) if (!listed.has(name)) problems.push(`${name} is in the directory but not in the result`);
  }
  return images;
}

/** Whether frame `index` belongs to what the options select, whatever the damage did to the numbering. */
function selects(options: { start?: number; end?: number; step?: number; frames?: number[] }, index: number): boolean {
  if (options.frames) return options.frames.includes(index);
  const { start = 0, end = Infinity, step = 1 } = options;
  return index >= start && index <= end && (index - start) % step === 0;
}

async function makeCall({ call }: FuzzCase, input: string, out: string, problems: string[]): Promise<number> {
  switch (call.api) {
    case 'streamVideoFramesToDir': {
      const paths = await streamVideoFramesToDir(input, out, call.options);
      const indices = paths.map((path) => Number(/frame_(\d{6})\.\w+$/.exec(path)?.[1] ?? NaN));
      if (indices.some((n, i) => !(n > (indices[i - 1] ?? -1)))) problems.push(`paths not in increasing frame order: ${indices.join(',')}`);
      const outside = indices.filter((n) => !selects(call.options, n));
      if (outside.length) problems.push(`frames outside the selection: ${outside.join(',')}`);
      return checkOutputDir(out, problems, paths);
    }
    case 'streamVideoFrames': {
      let frames = 0;
      const seen = new Set<number>();
      for await (const frame of streamVideoFrames(input, call.options)) {
        const { index, width, height, data } = frame;
        if (!Number.isSafeInteger(index) || !selects(call.options, index) || seen.has(index)) problems.push(`frame number ${index}`);
        seen.add(index);
        if (!(width > 0 && height > 0) || data.length !== width * height * 3) {
          problems.push(`frame ${index}: ${data.length} bytes for ${width}x${height}`);
        }
        if (++frames === call.stopAfter) break;
      }
      return frames;
    }
    case 'selfTest':
      if (call.fault === 'segfault') process.kill(process.pid, 'SIGSEGV');
      if (call.fault === 'hang') await new Promise(() => {});
      if (call.fault === 'uncaught') setImmediate(() => {
        throw new TypeError('thrown outside any promise');
      });
      await new Promise((resolve) => setTimeout(resolve, 50));
      return 0;
    case 'probeVideo': {
      const probe = await probeVideo(input, call.options);
      if (!Number.isInteger(probe.width) || !Number.isInteger(probe.height)) problems.push(`probe size ${probe.width}x${probe.height}`);
      if (probe.frameCount !== null && !(probe.frameCount >= 0)) problems.push(`probe frame count ${probe.frameCount}`);
      return 0;
    }
  }
}

async function runCase(test: FuzzCase, batch: FuzzBatch, original: Buffer): Promise<FuzzResult> {
  const input = join(batch.workDir, `case-${test.id}.${test.ext}`);
  const out = join(batch.workDir, `out-${test.id}`);
  await writeFile(input, applyEdits(original, test.mutation.edits));
  const problems: string[] = [];
  const native = countNativeObjects();
  const canReset = resetPeakRss();
  const started = performance.now();
  let result: Omit<FuzzResult, 'ms' | 'peakRss' | 'problems'>;
  try {
    const frames = await makeCall(test, input, out, problems);
    result = { id: test.id, outcome: 'frames', frames };
  } catch (error) {
    const images = await checkOutputDir(out, problems);
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    if (error instanceof FramepipeError && error.code.startsWith('ERR_FRAMEPIPE_')) {
      result = { id: test.id, outcome: 'coded', code: error.code, message, frames: images };
    } else {
      result = { id: test.id, outcome: 'uncoded', message: `${message}\n${(error as Error)?.stack ?? ''}`, frames: images };
    }
  } finally {
    native.restore();
  }
  const ms = Math.round(performance.now() - started);
  const live = native.live();
  if (live.frames !== 0 || live.packets !== 0) problems.push(`native objects not freed: ${live.frames} frame(s), ${live.packets} packet(s)`);
  const peak = canReset ? peakRss() : process.memoryUsage().rss;
  if (peak > batch.rssLimit) problems.push(`peak RSS ${(peak / 2 ** 20).toFixed(0)} MiB`);
  const bad = result.outcome === 'uncoded' || problems.length > 0;
  await rm(out, { recursive: true, force: true });
  if (!bad) await rm(input, { force: true });
  return { ...result, problems, ms, peakRss: peak, ...(bad ? { input } : {}) };
}

async function main(): Promise<void> {
  const batch = JSON.parse(await readFile(process.argv[2]!, 'utf8')) as FuzzBatch;
  await mkdir(batch.workDir, { recursive: true });
  const originals = new Map<string, Buffer>();
  let current: FuzzCase | undefined;
  const fatal = (what: string) => (error: unknown) => {
    if (current) {
      report('done', {
        id: current.id,
        outcome: 'uncoded',
        message: `${what}: ${(error as Error)?.stack ?? String(error)}`,
        frames: 0,
        problems: [`${what} while the case ran`],
        ms: 0,
        peakRss: process.memoryUsage().rss,
      } satisfies FuzzResult);
    }
    process.exit(EXIT_AFTER_FATAL);
  };
  process.on('uncaughtException', fatal('uncaught exception'));
  process.on('unhandledRejection', fatal('unhandled rejection'));

  for (const test of batch.cases) {
    current = test;
    let original = originals.get(test.fixturePath);
    if (!original) originals.set(test.fixturePath, (original = await readFile(test.fixturePath)));
    report('start', { id: test.id });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'hang'>((resolve) => (timer = setTimeout(() => resolve('hang'), batch.timeoutMs)));
    const result = await Promise.race([runCase(test, batch, original), timeout]);
    clearTimeout(timer);
    if (result === 'hang') {
      // The stages of the case may still be running: this process cannot go on cleanly.
      report('done', {
        id: test.id,
        outcome: 'hang',
        frames: 0,
        problems: [`still running after ${batch.timeoutMs} ms`],
        ms: batch.timeoutMs,
        peakRss: process.memoryUsage().rss,
        input: join(batch.workDir, `case-${test.id}.${test.ext}`),
      } satisfies FuzzResult);
      process.exit(EXIT_AFTER_HANG);
    }
    report('done', result);
  }
  current = undefined;
}

await main();

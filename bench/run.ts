/**
 * `pnpm bench`: how fast framepipe turns a 1080p H.264 clip into files or RGB frames, against decoding alone (the
 * ceiling) and against Debian's ffmpeg CLI, all measured in one run on this machine; and the targets of issue 6.
 * A measurement, not a test: a missed target is reported, not an error; a crash exits non-zero.
 *
 *   pnpm bench                          the full run (3 rounds, and a perf profile when perf is available)
 *   pnpm bench -- --quick               a smoke run on 2 s / 1 s clips, 1 round, no profile
 *   pnpm bench -- --only jpeg,png       only these cases (decode-only always runs: it is the ratios' base)
 *   pnpm bench -- --frames 100          only the first 100 frames of each clip
 *   pnpm bench -- --rounds 5            rounds of timed runs; each case reports its median run
 *   pnpm bench -- --no-profile          skip the profile
 *   pnpm bench -- --clip video.mp4      your video instead of the 1080p clip
 *   pnpm bench -- --update-doc          also put the results into BENCHMARKS.md (full runs only)
 *   pnpm bench -- --only batch [--quick] many videos: runBatch, the work queue, Redis (bench/batch.ts)
 *   pnpm bench -- --only reader [--quick] random access: openVideo's VideoReader against streamVideoFrames calls
 *
 * Every run of a case is a fresh process (bench/case.ts), so its peak RSS is its own; rounds are interleaved, so
 * that a burst of load from elsewhere spreads over the cases instead of hitting one. The clips are made once into
 * .bench/ (git-ignored); the latest results go to .bench/results.md.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { probeVideo } from '../packages/core/src/index.ts';
import type { CaseKind, CaseResult, CaseSpec } from './case.ts';
import { FULL_CLIPS, QUICK_CLIPS, makeClip } from './clips.ts';
import type { ClipSpec } from './clips.ts';
import { describeMachine, loadNow, machineLines } from './machine.ts';
import { CATEGORIES, perfUnavailable, profileCase } from './profile.ts';
import type { Category, Profile } from './profile.ts';
import { fileQuality, opencvJpegQuality, referenceFrames, sampleFrames } from './quality.ts';
import type { Quality } from './quality.ts';

const ROOT = resolve(import.meta.dirname, '..');
const CACHE = join(ROOT, '.bench');
const RESULTS = join(CACHE, 'results.md');
const DOC = join(ROOT, 'BENCHMARKS.md');
const DOC_START = '<!-- bench:results:start -->';
const DOC_END = '<!-- bench:results:end -->';
const CASE_SCRIPT = join(import.meta.dirname, 'case.ts');
const MiB = 2 ** 20;

/** One line of the table. */
interface BenchCase {
  readonly id: string;
  readonly kind: CaseKind;
  readonly label: string;
  readonly clip: 'hd' | 'uhd';
  /** The files' extension, for the quality check; none for cases that write no files. */
  readonly ext?: 'jpg' | 'png' | 'webp';
  /** False for files of another size than the clip's, which the full-size reference cannot judge. */
  readonly quality?: false;
  readonly queueMaxSize?: number;
  readonly maxWriteWorkers?: number;
}

const CASES: readonly BenchCase[] = [
  { id: 'decode', kind: 'decode', clip: 'hd', label: 'decode only (node-av: Demuxer + Decoder stages, frames freed)' },
  { id: 'rgb', kind: 'rgb', clip: 'hd', label: 'framepipe RGB iteration (`streamVideoFrames`)' },
  { id: 'rgb-reuse', kind: 'rgb-reuse', clip: 'hd', label: 'framepipe RGB iteration, `reuseBuffers: true`' },
  { id: 'jpeg', kind: 'jpeg', clip: 'hd', ext: 'jpg', label: 'framepipe → JPEG (`streamVideoFramesToDir`)' },
  { id: 'png', kind: 'png', clip: 'hd', ext: 'png', label: 'framepipe → PNG' },
  { id: 'webp', kind: 'webp', clip: 'hd', ext: 'webp', label: 'framepipe → WebP' },
  { id: 'ffmpeg-jpeg', kind: 'ffmpeg-jpeg', clip: 'hd', ext: 'jpg', label: 'ffmpeg CLI → JPEG (`-q:v 2`)' },
  { id: 'ffmpeg-png', kind: 'ffmpeg-png', clip: 'hd', ext: 'png', label: 'ffmpeg CLI → PNG' },
  // Model input: 1080p to 224×224 (centre square) in the conversion pass.
  { id: 'rgb-224', kind: 'rgb-224', clip: 'hd', label: 'framepipe RGB iteration at 224×224 (`size`, `fit: \'cover\'`)' },
  { id: 'jpeg-224', kind: 'jpeg-224', clip: 'hd', ext: 'jpg', quality: false, label: 'framepipe → JPEG at 224×224 (`size`, `fit: \'cover\'`)' },
  { id: 'decode-4k', kind: 'decode', clip: 'uhd', label: 'decode only, 4K (what the decoder alone holds in memory)' },
  {
    id: '4k', kind: 'png', clip: 'uhd', ext: 'png', queueMaxSize: 4, maxWriteWorkers: 2,
    label: 'framepipe → PNG, 4K, `queueMaxSize: 4, maxWriteWorkers: 2`',
  },
];
const SELECTABLE = CASES.filter((c) => c.kind !== 'decode').map((c) => c.id);
/** The cases profiled: the ceiling, the conversion alone, and the two formats with targets. */
const PROFILED = ['decode', 'rgb', 'jpeg', 'png'];
/** Frames whose quality is checked, spread over the clip. */
const QUALITY_SAMPLES = 10;

interface Options {
  readonly only: ReadonlySet<string>;
  readonly frames: number | undefined;
  readonly quick: boolean;
  readonly rounds: number;
  readonly profile: boolean;
  readonly updateDoc: boolean;
  readonly clip: string | undefined;
}

function usage(problem: string): never {
  process.stderr.write(`${problem}\nusage: pnpm bench [-- [--quick] [--only ${SELECTABLE.join(',')}] [--frames N] [--rounds N] [--no-profile] [--clip FILE] [--update-doc]]\n`);
  process.exit(2);
}

function positiveInteger(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) usage(`--${name} takes a positive integer, not ${value}`);
  return n;
}

function parseOptions(argv: string[]): Options {
  // pnpm passes the `--` that separates its own arguments from the script's.
  const args = argv[0] === '--' ? argv.slice(1) : argv;
  let values;
  try {
    ({ values } = parseArgs({
      args,
      allowNegative: true,
      options: {
        only: { type: 'string' },
        frames: { type: 'string' },
        quick: { type: 'boolean', default: false },
        rounds: { type: 'string' },
        profile: { type: 'boolean' },
        'update-doc': { type: 'boolean', default: false },
        clip: { type: 'string' },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (error) {
    usage((error as Error).message);
  }
  if (values.help) usage('Measures framepipe against decoding alone and against the ffmpeg CLI; see BENCHMARKS.md.');
  const only = new Set(values.only === undefined ? SELECTABLE : values.only.split(',').map((s) => s.trim()).filter(Boolean));
  for (const id of only) if (!SELECTABLE.includes(id)) usage(`--only: unknown case ${id}; the cases are ${SELECTABLE.join(', ')}`);
  const quick = values.quick;
  if (values['update-doc'] && (quick || values.frames !== undefined || values.clip !== undefined || values.only !== undefined)) {
    usage('--update-doc is for a full run on the bench clips: without --quick, --frames, --clip or --only');
  }
  if (values.clip !== undefined && !existsSync(values.clip)) usage(`--clip: no file ${values.clip}`);
  return {
    only,
    frames: positiveInteger('frames', values.frames),
    quick,
    rounds: positiveInteger('rounds', values.rounds) ?? (quick ? 1 : 3),
    profile: values.profile ?? !quick,
    updateDoc: values['update-doc'],
    clip: values.clip === undefined ? undefined : resolve(values.clip),
  };
}

/** Runs one case in a fresh process; its stderr goes to ours. */
async function runCase(spec: CaseSpec): Promise<CaseResult> {
  const child = spawn(process.execPath, [CASE_SCRIPT, JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (code !== 0 || !line) throw new Error(`bench: case ${spec.kind} on ${spec.clip} failed (exit code ${code})`);
  return JSON.parse(line.slice('RESULT '.length)) as CaseResult;
}

const fps = (r: CaseResult): number => (r.frames * 1000) / r.wallMs;

/** The run with the median fps (the lower middle one of an even count). */
function median(runs: readonly CaseResult[]): CaseResult {
  const sorted = [...runs].sort((a, b) => fps(a) - fps(b));
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

interface Row {
  readonly bench: BenchCase;
  readonly runs: readonly CaseResult[];
  readonly quality: Quality | undefined;
}

interface Clip {
  readonly path: string;
  readonly description: string;
  readonly frames: number;
  readonly width: number;
  readonly height: number;
}

/** `6.3 M`, `51.2 k`: a size or rate with a decimal prefix. */
function decimal(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)} M` : `${(n / 1e3).toFixed(1)} k`;
}

async function describeFile(path: string, what: string): Promise<Clip> {
  const probe = await probeVideo(path, { countFrames: true });
  const { size } = await stat(path);
  const frames = probe.frameCount ?? 0;
  const seconds = probe.duration ?? (probe.fps ? frames / probe.fps : 0);
  const rate = seconds > 0 ? `, ${decimal((size * 8) / seconds)}bit/s` : '';
  const description = `${what}: ${probe.codec} ${probe.width}×${probe.height}, ${probe.fps?.toFixed(2) ?? '?'} fps, ${frames} frames, B-frames: ${probe.hasBFrames ? 'yes' : 'no'}, ${decimal(size)}B${rate}`;
  return { path, description, frames, width: probe.width, height: probe.height };
}

const f1 = (n: number): string => n.toFixed(1);
const mib = (bytes: number): string => `${Math.round(bytes / MiB)} MiB`;

function psnrText(quality: Quality | undefined): string {
  if (!quality) return '—';
  return quality.identical ? 'lossless' : `${quality.psnr.toFixed(2)} dB`;
}

function resultsTable(rows: readonly Row[], decodeFps: number): string[] {
  const lines = [
    '| case | fps (range) | × decode | CPU ms/frame | peak RSS | bytes/frame | PSNR vs exact RGB |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const { bench, runs, quality } of rows) {
    const m = median(runs);
    const all = runs.map(fps);
    const range = runs.length > 1 ? ` (${f1(Math.min(...all))}–${f1(Math.max(...all))})` : '';
    const ratio = bench.clip === 'hd' ? `${(fps(m) / decodeFps).toFixed(2)}` : '—';
    const bytes = bench.ext ? `${Math.round(m.outputBytes / m.outputFiles / 1024)} KiB` : '—';
    lines.push(`| ${bench.label} | ${f1(fps(m))}${range} | ${ratio} | ${f1(m.cpuMs / m.frames)} | ${mib(m.peakRss)} | ${bytes} | ${psnrText(quality)} |`);
  }
  return lines;
}

interface Target {
  readonly what: string;
  readonly goal: string;
  readonly measured: string;
  /** null: not measured in this run. */
  readonly pass: boolean | null;
}

function targets(rows: readonly Row[], decodeFps: number, opencv: Quality | undefined, uhd: Pick<ClipSpec, 'width' | 'height'>): Target[] {
  const row = (id: string) => rows.find((r) => r.bench.id === id);
  const ratioTarget = (id: string, what: string, goal: number): Target => {
    const r = row(id);
    if (!r) return { what, goal: `≥ ${goal.toFixed(2)} × decode-only fps`, measured: 'not run', pass: null };
    const ratio = fps(median(r.runs)) / decodeFps;
    return { what, goal: `≥ ${goal.toFixed(2)} × decode-only fps`, measured: `${ratio.toFixed(2)} ×`, pass: ratio >= goal };
  };
  const png = row('png');
  const jpeg = row('jpeg');
  const uhdRow = row('4k');
  const frameBytes = uhd.width * uhd.height * 3;
  const rssLimit = 7 * frameBytes + 200 * MiB;
  const uhdRun = uhdRow ? median(uhdRow.runs) : undefined;
  const decoderAlone = row('decode-4k');
  const uhdContext = uhdRun && decoderAlone
    ? ` (decoding alone: ${mib(median(decoderAlone.runs).peakRss)}; the process after its imports: ${mib(uhdRun.startRss)})`
    : '';
  return [
    ratioTarget('jpeg', 'JPEG end-to-end', 0.65),
    ratioTarget('png', 'PNG end-to-end', 0.45),
    ratioTarget('rgb', 'RGB iteration', 0.8),
    {
      what: 'PNG stays lossless',
      goal: 'sampled files decode to the exact RGB frames',
      measured: png?.quality ? (png.quality.identical ? `identical (${png.quality.frames} frames)` : `${png.quality.psnr.toFixed(2)} dB`) : 'not run',
      pass: png?.quality ? png.quality.identical : null,
    },
    {
      what: 'JPEG quality',
      goal: `PSNR ≥ OpenCV's quality 95 (${opencv ? `${opencv.psnr.toFixed(2)} dB` : '?'} on the same frames)`,
      measured: jpeg?.quality && opencv ? `${jpeg.quality.psnr.toFixed(2)} dB` : 'not run',
      // A hundredth of a dB: rounding noise, not a difference anyone could see.
      pass: jpeg?.quality && opencv ? jpeg.quality.psnr >= opencv.psnr - 0.01 : null,
    },
    {
      what: '4K peak RSS',
      goal: `≤ 7 RGB frames + 200 MiB = ${mib(rssLimit)} (7 × ${uhd.width}×${uhd.height}×3 B + 200 MiB)`,
      measured: uhdRun === undefined ? 'not run' : `${mib(uhdRun.peakRss)}${uhdContext}`,
      pass: uhdRun === undefined ? null : uhdRun.peakRss <= rssLimit,
    },
  ];
}

function targetTable(list: readonly Target[]): string[] {
  const status = (pass: boolean | null) => (pass === null ? '—' : pass ? '**PASS**' : '**FAIL**');
  return [
    '| target | goal | measured | status |',
    '|---|---|---|---|',
    ...list.map((t) => `| ${t.what} | ${t.goal} | ${t.measured} | ${status(t.pass)} |`),
  ];
}

function profileTable(profiles: readonly Profile[]): string[] {
  const categories = (Object.keys(CATEGORIES) as Category[]).filter((c) => profiles.some((p) => p.byCategory.has(c)));
  const perFrame = (p: Profile, count: number) => (count / p.samples) * (p.result.cpuMs / p.result.frames);
  const lines = [
    `| CPU ms per frame | ${profiles.map((p) => p.kind).join(' | ')} |`,
    `|---|${profiles.map(() => '---:').join('|')}|`,
  ];
  for (const c of categories) {
    const cells = profiles.map((p) => {
      const n = p.byCategory.get(c) ?? 0;
      return n === 0 ? '—' : `${perFrame(p, n).toFixed(1)} (${Math.round((n / p.samples) * 100)}%)`;
    });
    lines.push(`| ${CATEGORIES[c]} | ${cells.join(' | ')} |`);
  }
  lines.push(`| **total** (fps of the profiled run) | ${profiles.map((p) => `**${f1(p.result.cpuMs / p.result.frames)}** (${f1(fps(p.result))} fps)`).join(' | ')} |`);
  lines.push('', 'Functions the samples were in (leaf frames), top 6 per case; `?` is code without symbols (node-av\'s binding is stripped):', '');
  for (const p of profiles) {
    const top = p.leaves.slice(0, 6).map(([name, n]) => `${name.replace(/\|/g, '\\|')} ${Math.round((n / p.samples) * 100)}%`);
    lines.push(`- ${p.kind} (${p.samples} samples): ${top.join('; ')}`);
  }
  return lines;
}

/**
 * The benches that are scripts of their own, by their `--only` name, each run with the other arguments: `batch`, many
 * videos (bench/batch.ts); `reader`, random access with `openVideo` (bench/video-reader.ts).
 */
const SCRIPT_BENCHES: Readonly<Record<string, string>> = { batch: 'batch.ts', reader: 'video-reader.ts' };

async function runScriptBench(name: string, args: string[]): Promise<void> {
  const rest = args.filter((arg, i) => arg !== '--' && arg !== '--only' && !(arg === name && args[i - 1] === '--only'));
  const child = spawn(process.execPath, [join(import.meta.dirname, SCRIPT_BENCHES[name]!), ...rest], { stdio: 'inherit' });
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  process.exitCode = code ?? 1;
}

async function main(): Promise<void> {
  const started = performance.now();
  const args = process.argv.slice(2);
  const only = args.indexOf('--only');
  const script = only >= 0 ? args[only + 1] : undefined;
  if (script !== undefined && script in SCRIPT_BENCHES) return runScriptBench(script, args);
  const options = parseOptions(args);
  const machine = describeMachine();
  const clipSpecs = options.quick ? QUICK_CLIPS : FULL_CLIPS;
  // Decode-only always runs: it is the ratios' base; and on the 4K clip too when the 4K case runs.
  const selected = CASES.filter((c) => c.id === 'decode' || options.only.has(c.id === 'decode-4k' ? '4k' : c.id));

  const hd = options.clip
    ? await describeFile(options.clip, 'Your clip')
    : await describeFile(await makeClip(clipSpecs.hd, CACHE), '1080p clip (testsrc2)');
  const uhd = selected.some((c) => c.clip === 'uhd')
    ? await describeFile(await makeClip(clipSpecs.uhd, CACHE), '4K clip (testsrc2)')
    : undefined;
  const clipSeconds = (performance.now() - started) / 1000;

  // The exact RGB frames the files are compared with, and OpenCV's quality 95 on them.
  const framesUsed = Math.min(hd.frames, options.frames ?? Infinity);
  const reference = selected.some((c) => c.ext && c.clip === 'hd')
    ? await referenceFrames(hd.path, sampleFrames(framesUsed, QUALITY_SAMPLES))
    : undefined;
  const opencv = reference && options.only.has('jpeg') ? await opencvJpegQuality(reference) : undefined;
  if (machine.loadAtStart > machine.cores / 2) {
    process.stderr.write(`note: the machine is busy (load average ${machine.loadAtStart} on ${machine.cores} cores): expect noisy figures\n`);
  }

  const runs = new Map<string, CaseResult[]>(selected.map((c) => [c.id, []]));
  const quality = new Map<string, Quality>();
  const warnings = new Set<string>();
  for (let round = 1; round <= options.rounds; round++) {
    for (const bench of selected) {
      const clip = bench.clip === 'hd' ? hd : uhd!;
      const out = bench.ext ? join(CACHE, 'out', bench.id) : undefined;
      const spec: CaseSpec = {
        kind: bench.kind, clip: clip.path, out, frames: options.frames,
        queueMaxSize: bench.queueMaxSize, maxWriteWorkers: bench.maxWriteWorkers,
      };
      const result = await runCase(spec);
      runs.get(bench.id)!.push(result);
      // A run that output the wrong number of frames would make its fps meaningless: say so in the results.
      const expected = Math.min(clip.frames, options.frames ?? Infinity);
      if (bench.kind === 'decode' ? result.frames < expected : result.frames !== expected) {
        warnings.add(`${bench.label} output ${result.frames} frames where the clip has ${expected}.`);
      }
      process.stderr.write(`[round ${round}/${options.rounds}] ${bench.id}: ${result.frames} frames, ${f1(fps(result))} fps, ${f1(result.cpuMs / result.frames)} CPU ms/frame, peak RSS ${mib(result.peakRss)}\n`);
      if (out && reference && bench.clip === 'hd' && bench.quality !== false && !quality.has(bench.id)) quality.set(bench.id, await fileQuality(out, bench.ext!, reference));
      if (out) await rm(out, { recursive: true, force: true });
    }
  }

  const rows: Row[] = selected.map((bench) => ({ bench, runs: runs.get(bench.id)!, quality: quality.get(bench.id) }));
  const decodeFps = fps(median(runs.get('decode')!));

  const profiles: Profile[] = [];
  const profileNote = options.profile ? perfUnavailable() : null;
  if (options.profile && !profileNote) {
    for (const id of PROFILED) {
      const bench = selected.find((c) => c.id === id);
      if (!bench) continue;
      process.stderr.write(`profiling ${id}...\n`);
      const out = bench.ext ? join(CACHE, 'out', `profile-${id}`) : undefined;
      profiles.push(await profileCase({ kind: bench.kind, clip: hd.path, out, frames: options.frames }, join(CACHE, 'profile')));
      if (out) await rm(out, { recursive: true, force: true });
    }
  }

  const lines = [
    `### ${options.quick ? 'Quick run (a smoke test: short clips, 1 round; not for comparison)' : 'Latest full run'}`,
    '',
    ...machineLines(machine, loadNow()),
    `- ${hd.description}`,
    ...(uhd ? [`- ${uhd.description}`] : []),
    `- ${options.rounds} round${options.rounds > 1 ? 's' : ''}, each case in a fresh process; the median run by fps is shown, with the range of all rounds${options.frames ? `; first ${options.frames} frames only` : ''}`,
    '',
    ...resultsTable(rows, decodeFps),
    '',
    ...[...warnings].flatMap((w) => [`**Warning:** ${w}`, '']),
    reference
      ? `PSNR is over ${reference.frames.size} frames spread over the clip, against the RGB frames \`streamVideoFrames\` yields. ` +
        (opencv ? `OpenCV's \`imwrite\` at quality 95 (libjpeg q95, 4:2:0, baseline) on the same frames: ${opencv.psnr.toFixed(2)} dB, ${Math.round(opencv.bytesPerFrame / 1024)} KiB/frame.` : '')
      : 'No file output of the 1080p clip in this run: no PSNR.',
    '',
    '#### Targets',
    '',
    ...targetTable(targets(rows, decodeFps, opencv, uhd ?? clipSpecs.uhd)),
    '',
  ];
  if (options.profile) {
    lines.push('#### Profile (perf, one more run of each case)', '');
    if (profileNote) lines.push(`No profile: ${profileNote}.`, '');
    else lines.push(...profileTable(profiles), '');
  }
  const seconds = (performance.now() - started) / 1000;
  lines.push(`Bench wall time: ${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s, of which ${f1(clipSeconds)} s to make or find the clips and check them.`);
  const markdown = `${lines.join('\n')}\n`;
  process.stdout.write(`\n${markdown}`);
  await writeFile(RESULTS, markdown);
  process.stderr.write(`results written to ${RESULTS}\n`);
  if (options.updateDoc) {
    const doc = await readFile(DOC, 'utf8');
    const start = doc.indexOf(DOC_START);
    const end = doc.indexOf(DOC_END);
    if (start < 0 || end < start) throw new Error(`bench: ${DOC} has no ${DOC_START} … ${DOC_END} section to update`);
    await writeFile(DOC, `${doc.slice(0, start + DOC_START.length)}\n${markdown}${doc.slice(end)}`);
    process.stderr.write(`results put into ${DOC}\n`);
  }
}

try {
  await main();
} catch (error) {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
}

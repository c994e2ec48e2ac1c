/**
 * `pnpm bench`: how fast framepipe turns 1080p H.264 clips (testsrc2, and testsrc2 under film grain) into files or
 * RGB frames, against decoding alone (the ceiling) and Debian's ffmpeg CLI; how the `framepipe` command compares
 * with Supervisely's implementation (PyAV + OpenCV) as whole processes over HTTP; how it scales from 1 to 2 cores;
 * all measured in one run on this machine, optionally against a baseline checkout; and the targets of issue 17.
 * A measurement, not a test: a missed target is reported, not an error; a crash exits non-zero.
 *
 *   pnpm bench                          the full run (3 rounds, and a perf profile when perf is available)
 *   pnpm bench -- --quick               a smoke run on 2 s / 1 s clips, 1 round, no profile
 *   pnpm bench -- --only jpeg,png       only these cases (decode-only always runs: it is the ratios' base)
 *   pnpm bench -- --only whole          only the whole-process comparison (framepipe CLI against Supervisely's)
 *   pnpm bench -- --only cores          only 1 core against 2 (`taskset`) for decode-only, RGB, JPEG and PNG
 *   pnpm bench -- --baseline DIR        also the code of the checkout DIR (e.g. /work/wt-before): before and after
 *   pnpm bench -- --frames 100          only the first 100 frames of each clip (the in-process cases)
 *   pnpm bench -- --rounds 5            rounds of timed runs; each case reports its median run
 *   pnpm bench -- --no-profile          skip the profile
 *   pnpm bench -- --clip video.mp4      your video instead of the 1080p clips
 *   pnpm bench -- --update-doc          also put the results into BENCHMARKS.md (full runs only)
 *   pnpm bench -- --only batch [--quick] many videos: runBatch, the work queue, Redis (bench/batch.ts)
 *   pnpm bench -- --only reader [--quick] random access: openVideo's VideoReader against streamVideoFrames calls
 *
 * Every run of a case is a fresh process (bench/case.ts), so its peak RSS is its own; rounds are interleaved, so
 * that a burst of load from elsewhere spreads over the cases instead of hitting one. The clips are made once into
 * .bench/ (git-ignored); the latest results go to .bench/results.md.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { probeVideo } from '../packages/core/src/index.ts';
import { ROOT } from './case.ts';
import type { CaseKind, CaseResult, CaseSpec } from './case.ts';
import { FULL_CLIPS, PICTURES, QUICK_CLIPS, makeClip } from './clips.ts';
import type { ClipId, ClipSpec } from './clips.ts';
import { installBaseline, installCurrent } from './installed-cli.ts';
import type { InstalledCli } from './installed-cli.ts';
import { describeMachine, loadNow, machineLines } from './machine.ts';
import { THREAD_KINDS } from './measure.ts';
import type { ThreadCpu } from './measure.ts';
import { CATEGORIES, perfUnavailable, profileCase } from './profile.ts';
import type { Category, Profile } from './profile.ts';
import { fileQuality, opencvFiles, referenceFrames, sampleFrames } from './quality.ts';
import type { OpenCvFiles, Quality, Reference } from './quality.ts';
import { framepipeCommand, medianWhole, runWholeProcess, superviselyCommand } from './whole-process.ts';
import type { WholeClip, WholeCommand, WholeRow } from './whole-process.ts';

const CACHE = join(ROOT, '.bench');
const RESULTS = join(CACHE, 'results.md');
const DOC = join(ROOT, 'BENCHMARKS.md');
const DOC_START = '<!-- bench:results:start -->';
const DOC_END = '<!-- bench:results:end -->';
const CASE_SCRIPT = join(import.meta.dirname, 'case.ts');
const MiB = 2 ** 20;
const run = promisify(execFile);

/** The in-process clips: `hd` and `grain` are the two 1080p pictures, `uhd` the 4K memory case. */
type CaseClip = Extract<ClipId, 'hd' | 'grain' | 'uhd'>;
const CLIP_NAMES: Record<CaseClip, string> = { hd: 'testsrc2', grain: 'grain', uhd: '4K' };

/** One kind of line of the table, run on each of its clips. */
interface BenchCase {
  readonly id: string;
  readonly kind: CaseKind;
  readonly label: string;
  readonly clips: readonly CaseClip[];
  /** The files' extension, for the quality check; none for cases that write no files. */
  readonly ext?: 'jpg' | 'png' | 'webp';
  /** False for files of another size than the clip's, which the full-size reference cannot judge. */
  readonly quality?: false;
  readonly queueMaxSize?: number;
  readonly maxWriteWorkers?: number;
  /** Runs only on this checkout's code, not on a baseline's (Debian's ffmpeg). */
  readonly external?: true;
}

const BOTH: readonly CaseClip[] = ['hd', 'grain'];
const CASES: readonly BenchCase[] = [
  { id: 'decode', kind: 'decode', clips: BOTH, label: 'decode only (node-av: Demuxer + Decoder stages, frames freed)' },
  { id: 'rgb', kind: 'rgb', clips: BOTH, label: 'framepipe RGB iteration (`streamVideoFrames`)' },
  { id: 'rgb-reuse', kind: 'rgb-reuse', clips: ['hd'], label: 'framepipe RGB iteration, `reuseBuffers: true`' },
  { id: 'jpeg', kind: 'jpeg', clips: BOTH, ext: 'jpg', label: 'framepipe → JPEG (`streamVideoFramesToDir`)' },
  { id: 'png', kind: 'png', clips: BOTH, ext: 'png', label: 'framepipe → PNG' },
  { id: 'webp', kind: 'webp', clips: ['hd'], ext: 'webp', label: 'framepipe → WebP' },
  { id: 'ffmpeg-jpeg', kind: 'ffmpeg-jpeg', clips: ['hd'], ext: 'jpg', external: true, label: 'ffmpeg CLI → JPEG (`-q:v 2`)' },
  { id: 'ffmpeg-png', kind: 'ffmpeg-png', clips: ['hd'], ext: 'png', external: true, label: 'ffmpeg CLI → PNG' },
  // Model input: 1080p to 224×224 (centre square) in the conversion pass.
  { id: 'rgb-224', kind: 'rgb-224', clips: ['hd'], label: 'framepipe RGB iteration at 224×224 (`size`, `fit: \'cover\'`)' },
  { id: 'jpeg-224', kind: 'jpeg-224', clips: ['hd'], ext: 'jpg', quality: false, label: 'framepipe → JPEG at 224×224 (`size`, `fit: \'cover\'`)' },
  { id: 'decode-4k', kind: 'decode', clips: ['uhd'], label: 'decode only, 4K (what the decoder alone holds in memory)' },
  {
    id: '4k', kind: 'png', clips: ['uhd'], ext: 'png', queueMaxSize: 4, maxWriteWorkers: 2,
    label: 'framepipe → PNG, 4K, `queueMaxSize: 4, maxWriteWorkers: 2`',
  },
];
/** The cases run on 1 core and on 2 (`taskset -c 0` and `-c 0,1`), on the testsrc2 clip. */
const CORE_CASES = ['decode', 'rgb', 'jpeg', 'png'];
const CPU_SETS = ['0', '0,1'] as const;
/** The sections of a run that are not single cases: the whole-process comparison and the cores. */
const SECTIONS = ['whole', 'cores'];
const SELECTABLE = [...CASES.filter((c) => c.kind !== 'decode').map((c) => c.id), ...SECTIONS];
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
  readonly baseline: string | undefined;
}

function usage(problem: string): never {
  process.stderr.write(`${problem}\nusage: pnpm bench [-- [--quick] [--only ${SELECTABLE.join(',')}] [--baseline DIR] [--frames N] [--rounds N] [--no-profile] [--clip FILE] [--update-doc]]\n`);
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
        baseline: { type: 'string' },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (error) {
    usage((error as Error).message);
  }
  if (values.help) usage('Measures framepipe against decoding alone, the ffmpeg CLI and Supervisely\'s implementation; see BENCHMARKS.md.');
  const only = new Set(values.only === undefined ? SELECTABLE : values.only.split(',').map((s) => s.trim()).filter(Boolean));
  for (const id of only) if (!SELECTABLE.includes(id)) usage(`--only: unknown case ${id}; the cases are ${SELECTABLE.join(', ')}`);
  const quick = values.quick;
  if (values['update-doc'] && (quick || values.frames !== undefined || values.clip !== undefined || values.only !== undefined)) {
    usage('--update-doc is for a full run on the bench clips: without --quick, --frames, --clip or --only');
  }
  if (values.clip !== undefined && !existsSync(values.clip)) usage(`--clip: no file ${values.clip}`);
  if (values.baseline !== undefined && !existsSync(join(values.baseline, 'packages/core/src/index.ts'))) {
    usage(`--baseline: ${values.baseline} is not a framepipe checkout (no packages/core/src/index.ts)`);
  }
  return {
    only,
    frames: positiveInteger('frames', values.frames),
    quick,
    rounds: positiveInteger('rounds', values.rounds) ?? (quick ? 1 : 3),
    profile: values.profile ?? !quick,
    updateDoc: values['update-doc'],
    clip: values.clip === undefined ? undefined : resolve(values.clip),
    baseline: values.baseline === undefined ? undefined : resolve(values.baseline),
  };
}

/** Runs one case in a fresh process, on the CPUs `cpus` when given (`taskset -c`); its stderr goes to ours. */
async function runCase(spec: CaseSpec, cpus?: string): Promise<CaseResult> {
  const argv = [process.execPath, CASE_SCRIPT, JSON.stringify(spec)];
  const [command, ...args] = cpus === undefined ? argv : ['taskset', '-c', cpus, ...argv];
  const child = spawn(command!, args, { stdio: ['ignore', 'pipe', 'inherit'] });
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

/** `after` is this checkout's code, `before` the baseline's. */
type Variant = 'after' | 'before';

/** One line of the table: a case on one clip, on one checkout's code, and on some CPUs. */
interface Row {
  readonly bench: BenchCase;
  readonly clip: CaseClip;
  readonly variant: Variant;
  /** `taskset -c` CPUs, for the cores section; all CPUs otherwise. */
  readonly cpus?: string;
  readonly runs: CaseResult[];
  quality?: Quality;
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
const f2 = (n: number): string => n.toFixed(2);
const mib = (bytes: number): string => `${Math.round(bytes / MiB)} MiB`;
const kib = (bytes: number): string => `${Math.round(bytes / 1024)} KiB`;

function psnrText(quality: Quality | undefined): string {
  if (!quality) return '—';
  return quality.identical ? 'lossless' : `${quality.psnr.toFixed(2)} dB`;
}

/** The code a row ran: `c5fe620 (before)`; empty without a baseline. */
function variantText(row: Pick<Row, 'variant'>, commits: Readonly<Record<Variant, string>> | undefined): string {
  return commits ? ` — ${row.variant} (${commits[row.variant]})` : '';
}

/** Median fps of decode-only on a clip with a checkout's code: the base of that clip's ratios. */
function decodeFps(rows: readonly Row[], clip: CaseClip, variant: Variant): number | undefined {
  const decode = rows.find((r) => r.bench.kind === 'decode' && r.clip === clip && r.variant === variant && r.cpus === undefined);
  return decode && decode.runs.length > 0 ? fps(median(decode.runs)) : undefined;
}

function ratioToDecode(rows: readonly Row[], row: Row): number | undefined {
  if (row.clip === 'uhd') return undefined;
  const base = decodeFps(rows, row.clip, row.bench.external ? 'after' : row.variant);
  return base === undefined ? undefined : fps(median(row.runs)) / base;
}

function resultsTable(rows: readonly Row[], commits: Readonly<Record<Variant, string>> | undefined): string[] {
  const lines = [
    '| clip | case | fps (range) | × decode | CPU ms/frame | peak RSS | bytes/frame | PSNR vs exact RGB |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const row of rows) {
    const { bench, runs, quality } = row;
    const m = median(runs);
    const all = runs.map(fps);
    const range = runs.length > 1 ? ` (${f1(Math.min(...all))}–${f1(Math.max(...all))})` : '';
    const ratio = ratioToDecode(rows, row);
    const bytes = bench.ext ? kib(m.outputBytes / m.outputFiles) : '—';
    lines.push(`| ${CLIP_NAMES[row.clip]} | ${bench.label}${variantText(row, commits)} | ${f1(fps(m))}${range} | ${ratio === undefined ? '—' : f2(ratio)} | ${f1(m.cpuMs / m.frames)} | ${mib(m.peakRss)} | ${bytes} | ${psnrText(quality)} |`);
  }
  return lines;
}

/** CPU ms per frame by kind of thread, of the median runs: which work runs where. */
function threadTable(rows: readonly Row[], commits: Readonly<Record<Variant, string>> | undefined): string[] {
  const measured = rows.filter((r) => median(r.runs).threads !== undefined && r.clip !== 'uhd');
  const names: Record<keyof ThreadCpu, string> = {
    main: 'main (JS)', decoder: 'decoder threads', pool: 'libuv pool', vips: 'libvips threads', gc: 'V8 GC threads', other: 'other',
  };
  const lines = [
    `| clip | case | ${THREAD_KINDS.map((k) => names[k]).join(' | ')} | all threads |`,
    `|---|---|${THREAD_KINDS.map(() => '---:').join('|')}|---:|`,
  ];
  for (const row of measured) {
    const m = median(row.runs);
    const threads = m.threads!;
    lines.push(`| ${CLIP_NAMES[row.clip]}${row.cpus ? `, CPUs ${row.cpus}` : ''} | ${row.bench.label}${variantText(row, commits)} | ${THREAD_KINDS.map((k) => f1(threads[k] / m.frames)).join(' | ')} | ${f1(m.cpuMs / m.frames)} |`);
  }
  return lines;
}

function coresTable(rows: readonly Row[]): string[] {
  const lines = [
    '| case (testsrc2) | 1 core: fps | CPU ms/frame | 2 cores: fps | CPU ms/frame | 2 cores ÷ 1 core |',
    '|---|---:|---:|---:|---:|---:|',
  ];
  for (const id of CORE_CASES) {
    const [one, two] = CPU_SETS.map((cpus) => rows.find((r) => r.bench.id === id && r.cpus === cpus));
    if (!one || !two) continue;
    const [a, b] = [median(one.runs), median(two.runs)];
    lines.push(`| ${one.bench.label} | ${f1(fps(a))} | ${f1(a.cpuMs / a.frames)} | ${f1(fps(b))} | ${f1(b.cpuMs / b.frames)} | ${f2(fps(b) / fps(a))} × |`);
  }
  return lines;
}

/** The thread counts the projection is made for. */
const PROJECTED_CORES = [2, 8, 16];
/** libuv's default pool size, and framepipe's default writer count before issue 17. */
const DEFAULT_POOL = 4;

/**
 * fps on more cores, on paper, from the 2-core runs' CPU ms per frame by thread. The main thread's work is serial
 * (one JS thread); the rest (decoder threads, libuv pool, libvips, GC) runs in parallel. Amdahl, which lets no work
 * overlap the serial part: fps(N) = 1000 / (main + rest / N). The pipeline bound, where the main thread works while
 * the others do: fps(N) ≤ min(1000 / main, 1000 × N / all). And the pool's cap: each frame being encoded holds a
 * libuv pool thread (and a writer slot) for its pool + libvips time, so fps ≤ pool threads × 1000 / (pool + libvips)
 * with 4 threads (libuv's default) or N.
 */
function projectionTable(rows: readonly Row[]): string[] {
  const lines = [
    `| case (clip, the run measured) | serial (main thread) ms | all threads ms | serial share | ${PROJECTED_CORES.map((n) => `${n} cores: Amdahl / pipeline bound / pool cap at ${DEFAULT_POOL} / at ${Math.max(n, DEFAULT_POOL)}`).join(' | ')} |`,
    `|---|---:|---:|---:|${PROJECTED_CORES.map(() => '---:').join('|')}|`,
  ];
  for (const row of rows) {
    if (row.variant !== 'after' || (row.cpus !== undefined && row.cpus !== '0,1') || row.clip === 'uhd') continue;
    if (!['decode', 'rgb', 'jpeg', 'png'].includes(row.bench.id)) continue;
    const m = median(row.runs);
    if (!m.threads) continue;
    const perFrame = (ms: number) => ms / m.frames;
    const serial = perFrame(m.threads.main);
    const all = perFrame(m.cpuMs);
    const encode = perFrame(m.threads.pool + m.threads.vips);
    const cells = PROJECTED_CORES.map((n) => {
      const amdahl = 1000 / (serial + (all - serial) / n);
      const pipeline = Math.min(1000 / serial, (1000 * n) / all);
      const cap = (threads: number) => (row.bench.ext ? `${Math.round((threads * 1000) / encode)}` : '—');
      return `${Math.round(amdahl)} / ${Math.round(pipeline)} / ${cap(DEFAULT_POOL)} / ${cap(Math.max(n, DEFAULT_POOL))}`;
    });
    lines.push(`| ${row.bench.label} (${CLIP_NAMES[row.clip]}${row.cpus ? `, CPUs ${row.cpus}` : ''}) | ${f1(serial)} | ${f1(all)} | ${Math.round((serial / all) * 100)}% | ${cells.join(' | ')} |`);
  }
  return lines;
}

function wholeTable(rows: readonly WholeRow[]): string[] {
  const lines = [
    '| clip | format | command | wall s (range) | CPU s | peak RSS | fetched | requests | on disk | PSNR vs exact RGB | speed vs Supervisely | CPU vs Supervisely |',
    '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const row of rows) {
    const m = medianWhole(row.runs);
    const walls = row.runs.map((r) => r.wallMs / 1000);
    const range = row.runs.length > 1 ? ` (${f2(Math.min(...walls))}–${f2(Math.max(...walls))})` : '';
    const reference = rows.find((r) => r.clip === row.clip && r.ext === row.ext && r.command.id === 'supervisely');
    const base = reference ? medianWhole(reference.runs) : undefined;
    const speed = base ? `${f2(base.wallMs / m.wallMs)} ×` : '—';
    const cpu = base ? `${f2(base.cpuMs / m.cpuMs)} ×` : '—';
    lines.push(`| ${row.clip} | ${row.ext} | ${row.command.label} | ${f2(m.wallMs / 1000)}${range} | ${f2(m.cpuMs / 1000)} | ${mib(m.peakRss)} | ${f1(m.bytesFetched / 1e6)} MB | ${m.requests} | ${f1(m.bytes / 1e6)} MB | ${psnrText(row.quality)} | ${speed} | ${cpu} |`);
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

const NOT_RUN = { measured: 'not run', pass: null } as const;

function targets(
  rows: readonly Row[],
  opencv: ReadonlyMap<CaseClip, OpenCvFiles>,
  whole: readonly WholeRow[],
  uhd: Pick<ClipSpec, 'width' | 'height'>,
  clips: readonly CaseClip[],
): Target[] {
  const row = (id: string, clip: CaseClip) => rows.find((r) => r.bench.id === id && r.clip === clip && r.variant === 'after' && r.cpus === undefined);
  const list: Target[] = [];
  for (const [id, what, goal] of [['jpeg', 'JPEG end-to-end', 0.6], ['png', 'PNG end-to-end', 0.45], ['rgb', 'RGB iteration, default options', 0.75]] as const) {
    for (const clip of clips) {
      const r = row(id, clip);
      const ratio = r ? ratioToDecode(rows, r) : undefined;
      const target = { what: `${what} (${CLIP_NAMES[clip]})`, goal: `≥ ${goal.toFixed(2)} × decode-only fps` };
      list.push(ratio === undefined ? { ...target, ...NOT_RUN } : { ...target, measured: `${f2(ratio)} ×`, pass: ratio >= goal });
    }
  }
  for (const clip of clips) {
    const png = row('png', clip)?.quality;
    const cv = opencv.get(clip);
    list.push({
      what: `PNG stays lossless (${CLIP_NAMES[clip]})`,
      goal: 'sampled files decode to the exact RGB frames',
      ...(png ? { measured: png.identical ? `identical (${png.frames} frames)` : `${png.psnr.toFixed(2)} dB`, pass: png.identical } : NOT_RUN),
    });
    const jpeg = row('jpeg', clip)?.quality;
    list.push({
      what: `JPEG quality (${CLIP_NAMES[clip]})`,
      goal: `PSNR ≥ OpenCV's \`imwrite\` (quality 95)${cv ? `: ${cv.jpeg.psnr.toFixed(2)} dB on the same frames` : ''}`,
      // A hundredth of a dB: rounding noise, not a difference anyone could see.
      ...(jpeg && cv ? { measured: `${jpeg.psnr.toFixed(2)} dB, ${kib(jpeg.bytesPerFrame)}/frame (OpenCV ${kib(cv.jpeg.bytesPerFrame)})`, pass: jpeg.psnr >= cv.jpeg.psnr - 0.01 } : NOT_RUN),
    });
    list.push({
      what: `PNG size (${CLIP_NAMES[clip]})`,
      goal: `≤ OpenCV's \`imwrite\` PNG${cv ? `: ${kib(cv.png.bytesPerFrame)}/frame on the same frames` : ''}`,
      ...(png && cv ? { measured: `${kib(png.bytesPerFrame)}/frame (${f2(png.bytesPerFrame / cv.png.bytesPerFrame)} × OpenCV's)`, pass: png.bytesPerFrame <= cv.png.bytesPerFrame } : NOT_RUN),
    });
  }
  const frameBytes = uhd.width * uhd.height * 3;
  const uhdRow = row('4k', 'uhd');
  const decoderAlone = row('decode-4k', 'uhd');
  if (uhdRow && decoderAlone) {
    const decodeRss = median(decoderAlone.runs).peakRss;
    const limit = decodeRss + 7 * frameBytes + 64 * MiB;
    const peak = median(uhdRow.runs).peakRss;
    list.push({
      what: '4K peak RSS',
      goal: `≤ decode-only + 7 RGB frames + 64 MiB = ${mib(decodeRss)} + ${mib(7 * frameBytes)} + 64 MiB = ${mib(limit)}`,
      measured: `${mib(peak)} (decode-only + ${mib(peak - decodeRss)})`,
      pass: peak <= limit,
    });
  } else {
    list.push({ what: '4K peak RSS', goal: '≤ decode-only + 7 RGB frames + 64 MiB', ...NOT_RUN });
  }
  for (const [ext, goal] of [['png', 3], ['jpg', 2]] as const) {
    for (const clip of ['cli', 'cli-grain']) {
      const find = (id: string) => whole.find((r) => r.clip === clip && r.ext === ext && r.command.id === id);
      const [sly, fp] = [find('supervisely'), find('framepipe-after')];
      const target = { what: `whole process, ${ext.toUpperCase()} (${clip === 'cli' ? 'testsrc2' : 'grain'} clip \`${clip}\`, over HTTP)`, goal: `≥ ${goal} × Supervisely's speed (wall time)` };
      if (!sly || !fp) {
        if (clip === 'cli') list.push({ ...target, ...NOT_RUN });
        continue;
      }
      const [a, b] = [medianWhole(sly.runs), medianWhole(fp.runs)];
      const speed = a.wallMs / b.wallMs;
      list.push({ ...target, measured: `${f2(speed)} × (${f2(a.wallMs / 1000)} s against ${f2(b.wallMs / 1000)} s)`, pass: speed >= goal });
    }
  }
  {
    const find = (id: string) => whole.find((r) => r.clip === 'cli' && r.ext === 'png' && r.command.id === id);
    const [sly, fp] = [find('supervisely'), find('framepipe-after')];
    const target = { what: 'whole process, PNG bytes on disk (testsrc2 clip `cli`)', goal: '≤ Supervisely\'s (OpenCV\'s PNG)' };
    if (sly && fp) {
      const [a, b] = [medianWhole(sly.runs).bytes, medianWhole(fp.runs).bytes];
      list.push({ ...target, measured: `${f1(b / 1e6)} MB against ${f1(a / 1e6)} MB (${f2(b / a)} ×)`, pass: b <= a });
    } else list.push({ ...target, ...NOT_RUN });
  }
  return list;
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
  // With --clip, the user's video stands in for the testsrc2 clip, and the grain clip is left out.
  const clipIds: CaseClip[] = options.clip ? ['hd', 'uhd'] : ['hd', 'grain', 'uhd'];
  // Decode-only always runs on a clip that a selected case runs on: it is the base of that clip's ratios.
  const selected = CASES.filter((c) => options.only.has(c.id === 'decode-4k' ? '4k' : c.id) || c.id === 'decode');
  const variants: Variant[] = options.baseline ? ['after', 'before'] : ['after'];
  const wanted = (clip: CaseClip) => clipIds.includes(clip) && selected.some((c) => c.id !== 'decode' && c.clips.includes(clip));
  const usedClips = clipIds.filter((clip) => wanted(clip) || (clip === 'hd' && options.only.has('cores')));

  const clips = new Map<CaseClip, Clip>();
  for (const id of usedClips) {
    const what = id === 'uhd' ? '4K clip (testsrc2)' : `1080p clip (${PICTURES[clipSpecs[id].picture].name})`;
    clips.set(id, options.clip && id === 'hd' ? await describeFile(options.clip, 'Your clip') : await describeFile(await makeClip(clipSpecs[id], CACHE), what));
  }
  // A quick run compares on the testsrc2 clip only: the grain clip's runs are the slow ones.
  const wholeClipIds = !options.only.has('whole') || options.clip ? [] : options.quick ? (['cli'] as const) : (['cli', 'cli-grain'] as const);
  const wholeClips = new Map<string, Clip>();
  for (const id of wholeClipIds) {
    wholeClips.set(id, await describeFile(await makeClip(clipSpecs[id], CACHE), `whole-process clip \`${id}\` (${PICTURES[clipSpecs[id].picture].name})`));
  }
  const clipSeconds = (performance.now() - started) / 1000;

  // The commands of the whole-process comparison, installed as users install them.
  // Without Python's PyAV and OpenCV, or when a checkout cannot be built, packed or installed, the comparison is
  // left out with the reason, like the profile without perf.
  let wholeNote: string | undefined;
  let installed: InstalledCli[] = [];
  if (wholeClips.size > 0) {
    try {
      await run('/usr/bin/python3', ['-c', 'import av, cv2']);
      installed = [await installCurrent(ROOT, CACHE), ...(options.baseline ? [await installBaseline(options.baseline, CACHE)] : [])];
    } catch (error) {
      wholeNote = (error as Error).message.split('\n').slice(0, 4).join(' ');
      process.stderr.write(`note: no whole-process comparison: ${wholeNote}\n`);
      wholeClips.clear();
    }
  }
  const commits: Record<Variant, string> | undefined = options.baseline
    ? { after: installed[0]?.commit ?? 'this checkout', before: installed[1]?.commit ?? options.baseline }
    : undefined;

  // The exact RGB frames the files are compared with, and OpenCV's own files of them.
  const references = new Map<string, Reference>();
  const opencv = new Map<CaseClip, OpenCvFiles>();
  for (const [id, clip] of [...clips, ...wholeClips]) {
    const isCase = id === 'hd' || id === 'grain';
    if (isCase && !selected.some((c) => c.ext && c.clips.includes(id))) continue;
    if (id === 'uhd') continue;
    const framesUsed = isCase ? Math.min(clip.frames, options.frames ?? Infinity) : clip.frames;
    const reference = await referenceFrames(clip.path, sampleFrames(framesUsed, QUALITY_SAMPLES));
    references.set(id, reference);
    if (isCase) {
      const files = await opencvFiles(reference, join(CACHE, 'out', `opencv-${id}`));
      if (files) opencv.set(id, files);
    }
  }
  if (machine.loadAtStart > machine.cores / 2) {
    process.stderr.write(`note: the machine is busy (load average ${machine.loadAtStart} on ${machine.cores} cores): expect noisy figures\n`);
  }

  const rows: Row[] = [];
  for (const bench of selected) {
    for (const clip of bench.clips) {
      if (!usedClips.includes(clip) || (bench.kind === 'decode' && !wanted(clip))) continue;
      for (const variant of variants) if (variant === 'after' || !bench.external) rows.push({ bench, clip, variant, runs: [] });
    }
  }
  if (options.only.has('cores')) {
    for (const id of CORE_CASES) for (const cpus of CPU_SETS) rows.push({ bench: CASES.find((c) => c.id === id)!, clip: 'hd', variant: 'after', cpus, runs: [] });
  }
  const warnings = new Set<string>();
  for (let round = 1; round <= options.rounds; round++) {
    for (const row of rows) {
      const { bench } = row;
      const clip = clips.get(row.clip)!;
      const out = bench.ext ? join(CACHE, 'out', bench.id) : undefined;
      const spec: CaseSpec = {
        kind: bench.kind, clip: clip.path, out, frames: options.frames,
        queueMaxSize: bench.queueMaxSize, maxWriteWorkers: bench.maxWriteWorkers,
        root: row.variant === 'before' ? options.baseline : undefined,
      };
      const result = await runCase(spec, row.cpus);
      row.runs.push(result);
      // A run that output the wrong number of frames would make its fps meaningless: say so in the results.
      const expected = Math.min(clip.frames, options.frames ?? Infinity);
      if (bench.kind === 'decode' ? result.frames < expected : result.frames !== expected) {
        warnings.add(`${bench.label} output ${result.frames} frames where the clip has ${expected}.`);
      }
      const where = `${bench.id} ${CLIP_NAMES[row.clip]}${options.baseline ? ` ${row.variant}` : ''}${row.cpus ? ` CPUs ${row.cpus}` : ''}`;
      process.stderr.write(`[round ${round}/${options.rounds}] ${where}: ${result.frames} frames, ${f1(fps(result))} fps, ${f1(result.cpuMs / result.frames)} CPU ms/frame, peak RSS ${mib(result.peakRss)}\n`);
      const reference = references.get(row.clip);
      if (out && reference && bench.quality !== false && !row.quality && !row.cpus) row.quality = await fileQuality(out, bench.ext!, reference);
      if (out) await rm(out, { recursive: true, force: true });
    }
  }

  let whole: WholeRow[] = [];
  if (wholeClips.size > 0) {
    const commands: WholeCommand[] = [superviselyCommand(), ...installed.map(framepipeCommand)];
    // The grain clip's runs take a minute or more each (Supervisely's PNG): one round of them.
    const list: WholeClip[] = [...wholeClips].map(([id, clip]) => ({
      id, path: clip.path, frames: clip.frames, reference: references.get(id), ...(id === 'cli-grain' ? { maxRounds: 1 } : {}),
    }));
    whole = await runWholeProcess(list, commands, options.rounds, join(CACHE, 'out', 'whole'), (line) => process.stderr.write(`${line}\n`));
  }

  const profiles: Profile[] = [];
  const profileNote = options.profile ? perfUnavailable() : null;
  const hd = clips.get('hd');
  if (options.profile && !profileNote && hd) {
    for (const id of PROFILED) {
      const bench = selected.find((c) => c.id === id);
      if (!bench) continue;
      process.stderr.write(`profiling ${id}...\n`);
      const out = bench.ext ? join(CACHE, 'out', `profile-${id}`) : undefined;
      profiles.push(await profileCase({ kind: bench.kind, clip: hd.path, out, frames: options.frames }, join(CACHE, 'profile')));
      if (out) await rm(out, { recursive: true, force: true });
    }
  }

  const mainRows = rows.filter((r) => r.cpus === undefined);
  const lines = [
    `### ${options.quick ? 'Quick run (a smoke test: short clips, 1 round; not for comparison)' : 'Latest full run'}`,
    '',
    ...machineLines(machine, loadNow()),
    ...[...clips.values(), ...wholeClips.values()].map((clip) => `- ${clip.description}`),
    ...(commits ? [`- after: this checkout (${commits.after}); before: the baseline ${options.baseline} (${commits.before})`] : []),
    `- ${options.rounds} round${options.rounds > 1 ? 's' : ''}, each case in a fresh process; the median run by fps is shown, with the range of all rounds${options.frames ? `; first ${options.frames} frames only` : ''}`,
    '',
    ...resultsTable(mainRows, commits),
    '',
    ...[...warnings].flatMap((w) => [`**Warning:** ${w}`, '']),
    references.size > 0
      ? `PSNR is over ${QUALITY_SAMPLES} frames spread over each clip, against the RGB frames \`streamVideoFrames\` yields. ` +
        [...opencv].map(([clip, cv]) => `OpenCV's \`cv2.imwrite\` (Debian's python3-opencv, its defaults: JPEG quality 95, PNG level 1) on the same ${CLIP_NAMES[clip]} frames: JPEG ${cv.jpeg.psnr.toFixed(2)} dB, ${kib(cv.jpeg.bytesPerFrame)}/frame; PNG ${psnrText(cv.png)}, ${kib(cv.png.bytesPerFrame)}/frame.`).join(' ')
      : 'No file output of the 1080p clips in this run: no PSNR.',
    '',
  ];
  if (wholeNote) lines.push('#### Whole process from the command line, over loopback HTTP', '', `Not run: ${wholeNote}`, '');
  if (whole.length > 0) {
    lines.push(
      '#### Whole process from the command line, over loopback HTTP',
      '',
      'Each command as a user runs it, start-up included, fetching the clip (\`cli\`: testsrc2, \`cli-grain\`: with grain; 300 frames in a full run) from a byte-counting range server on loopback, which runs in the bench\'s process; timed by `/usr/bin/time` (wall, user + system CPU, peak RSS). framepipe is each checkout built, packed and installed with npm (`node_modules/.bin/framepipe frames URL -o DIR --ext png|jpg`); Supervisely is bench/supervisely_reference.py (PyAV 10 + OpenCV 4.6, Debian). Speed is Supervisely\'s median wall time ÷ the command\'s; CPU, Supervisely\'s CPU time ÷ the command\'s (of the same median runs), the steadier figure on a busy machine.',
      '',
      ...wholeTable(whole),
      '',
    );
  }
  if (rows.some((r) => r.cpus !== undefined)) {
    lines.push('#### 1 core against 2 (`taskset -c 0` and `taskset -c 0,1`)', '', ...coresTable(rows), '');
  }
  if (rows.some((r) => median(r.runs).threads)) {
    lines.push('#### CPU ms per frame by thread (median runs; from /proc/self/task, 10 ms ticks)', '', ...threadTable(rows, commits), '');
    lines.push(
      '#### fps on more cores, on paper (from the CPU ms per thread above; see BENCHMARKS.md, Cores)',
      '',
      'Amdahl: 1000 ÷ (serial + rest ÷ N). Pipeline bound: min(1000 ÷ serial, 1000 × N ÷ all). Pool cap: pool threads × 1000 ÷ (libuv pool + libvips ms), for 4 threads (libuv\'s default, and the default writer count before issue 17) and for N.',
      '',
      ...projectionTable(rows),
      '',
    );
  }
  lines.push('#### Targets (issue 17)', '', ...targetTable(targets(mainRows, opencv, whole, clips.get('uhd') ?? clipSpecs.uhd, clipIds.filter((c) => c !== 'uhd'))), '');
  if (options.profile) {
    lines.push('#### Profile (perf, one more run of each case, testsrc2)', '');
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

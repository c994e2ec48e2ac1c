/**
 * One measured run, in a process of its own so that its peak RSS is its own: `bench/run.ts` starts this file once
 * per case and round with a {@link CaseSpec} as JSON in argv[2]; it prints one line, `RESULT <json>` (a
 * {@link CaseResult}), and exits 0, or fails with a non-zero exit code.
 *
 * The clock and the CPU counter start just before the work and stop when it resolves: Node's start-up and the
 * module imports are not counted; opening and probing the video are (as they are in an ffmpeg run).
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { streamxOf } from './deps.ts';
import { RssSampler, ThreadCpuSampler, dirFiles, procStatusBytes } from './measure.ts';
import type { ThreadCpu } from './measure.ts';

/** The checkout whose code a case measures unless its spec names another (`--baseline`): this one. */
export const ROOT = resolve(import.meta.dirname, '..');

/**
 * framepipe's packages from the checkout at `root`, by path: the bench measures this checkout's code by default, and
 * another checkout's (the baseline) with the same measuring code. The types are this checkout's.
 */
async function packagesOf(root: string) {
  const load = (name: string) => import(pathToFileURL(join(root, 'packages', name, 'src/index.ts')).href);
  return {
    core: (await load('core')) as typeof import('../packages/core/src/index.ts'),
    decoder: (await load('decoder')) as typeof import('../packages/decoder/src/index.ts'),
    demuxer: (await load('demuxer')) as typeof import('../packages/demuxer/src/index.ts'),
    source: (await load('http-source')) as typeof import('../packages/http-source/src/index.ts'),
    streamx: streamxOf(root),
  };
}
type Packages = Awaited<ReturnType<typeof packagesOf>>;

/** The kinds of run: framepipe in this process, or Debian's ffmpeg as a child of it. */
export const CASE_KINDS = ['decode', 'rgb', 'rgb-reuse', 'jpeg', 'png', 'webp', 'ffmpeg-jpeg', 'ffmpeg-png', 'rgb-224', 'jpeg-224'] as const;

/** The model-input geometry of the `-224` kinds: the centre square of the picture, 224×224, in the conversion pass. */
export const MODEL_INPUT = { size: { width: 224, height: 224 }, fit: 'cover' } as const;
export type CaseKind = (typeof CASE_KINDS)[number];

/** What to run. */
export interface CaseSpec {
  readonly kind: CaseKind;
  readonly clip: string;
  /** Output directory for the file-writing kinds; emptied first. */
  readonly out?: string | undefined;
  /** Only the first `frames` frames (decode-only decodes the few more already in flight, and counts them). */
  readonly frames?: number | undefined;
  /** Extra options of `streamVideoFramesToDir` (the 4K case). */
  readonly queueMaxSize?: number | undefined;
  readonly maxWriteWorkers?: number | undefined;
  /** The checkout whose packages run (default: this one). */
  readonly root?: string | undefined;
}

/** What one run measured. */
export interface CaseResult {
  readonly frames: number;
  readonly wallMs: number;
  /** User + system CPU time of the whole process (all its threads), or of the ffmpeg child. */
  readonly cpuMs: number;
  /** Peak RSS: the kernel's VmHWM of this process, or the last one read from the ffmpeg child's. */
  readonly peakRss: number;
  /** RSS sampled every 20 ms (this process only), as a cross-check of `peakRss`. */
  readonly sampledPeakRss: number | null;
  /** RSS just before the work started (this process after its imports; 0 for ffmpeg). */
  readonly startRss: number;
  readonly outputFiles: number;
  readonly outputBytes: number;
  /** The process that ran the case (for the profiler's clean-up). */
  readonly pid: number;
  /** CPU ms of the timed window by kind of thread (in-process cases only). */
  readonly threads?: ThreadCpu | undefined;
}

/** Under `bench/profile.ts`: perf's control FIFO, to record only the measured window. */
const perfControl = process.env.BENCH_PERF_CONTROL;

type Measured = Omit<CaseResult, 'outputFiles' | 'outputBytes' | 'pid'>;

/** Runs `work` (which returns a frame count) and measures it in this process. */
async function measureInProcess(work: () => Promise<number>): Promise<Measured> {
  const startRss = process.memoryUsage.rss();
  const sampler = new RssSampler(20);
  const threadCpu = new ThreadCpuSampler(50);
  if (perfControl) writeFileSync(perfControl, 'enable\n');
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  const frames = await work();
  const wallMs = performance.now() - t0;
  const used = process.cpuUsage(cpu);
  if (perfControl) writeFileSync(perfControl, 'disable\n');
  const sampledPeakRss = sampler.stop();
  return {
    threads: threadCpu.stop(),
    frames,
    wallMs,
    cpuMs: (used.user + used.system) / 1000,
    peakRss: procStatusBytes('self', 'VmHWM') ?? sampledPeakRss,
    sampledPeakRss,
    startRss,
  };
}

/** Demuxer and Decoder stages only, every frame freed as it comes out: the ceiling for everything else. */
async function decodeOnly({ source: { FileSource }, demuxer: { Demuxer }, decoder: { Decoder }, streamx }: Packages, clip: string, limit: number | undefined): Promise<number> {
  const source = new FileSource(clip);
  try {
    const demuxer = new Demuxer(source);
    const info = await demuxer.open();
    const decoder = new Decoder(info.codecParameters, { timeBase: info.timeBase });
    let frames = 0;
    const sink = new streamx.Writable<{ free(): void }>({
      write(frame: { free(): void }, cb: (error: Error | null) => void) {
        frame.free();
        if (++frames === limit) demuxer.stop();
        cb(null);
      },
    });
    await streamx.pipelinePromise(demuxer, decoder, sink);
    return frames;
  } finally {
    await source.close();
  }
}

async function rgbIteration({ core }: Packages, clip: string, limit: number | undefined, reuseBuffers = false, geometry = {}): Promise<number> {
  let frames = 0;
  for await (const frame of core.streamVideoFrames(clip, { reuseBuffers, ...geometry, ...(limit === undefined ? {} : { end: limit - 1 }) })) {
    if (frame.data.length === 0) throw new Error(`frame ${frame.index} has no pixels`);
    frames++;
  }
  return frames;
}

async function toDir({ core }: Packages, spec: CaseSpec, ext: 'jpg' | 'png' | 'webp', out: string, geometry = {}): Promise<number> {
  const paths = await core.streamVideoFramesToDir(spec.clip, out, {
    ext,
    ...geometry,
    ...(spec.frames === undefined ? {} : { end: spec.frames - 1 }),
    ...(spec.queueMaxSize === undefined ? {} : { queueMaxSize: spec.queueMaxSize }),
    ...(spec.maxWriteWorkers === undefined ? {} : { maxWriteWorkers: spec.maxWriteWorkers }),
  });
  return paths.length;
}

/**
 * Debian's ffmpeg with its defaults, frame for frame (`-fps_mode passthrough`), files numbered from 0 like
 * framepipe's. Its own `-benchmark` figures are used: real and CPU time of the transcode, which, like the in-process
 * cases, leave out starting the program and loading its libraries, and the process's peak RSS (maxrss).
 */
async function ffmpegRun(spec: CaseSpec, ext: 'jpg' | 'png', out: string): Promise<Measured> {
  const args = ['-v', 'info', '-hide_banner', '-nostats', '-benchmark', '-nostdin', '-y', '-i', spec.clip];
  if (spec.frames !== undefined) args.push('-frames:v', String(spec.frames));
  args.push('-fps_mode', 'passthrough');
  if (ext === 'jpg') args.push('-q:v', '2');
  args.push('-start_number', '0', join(out, `frame_%06d.${ext}`));
  const child = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => (log += text));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (exitCode) => resolve(exitCode));
  });
  if (code !== 0) throw new Error(`ffmpeg ${args.join(' ')} exited with code ${code}:\n${log}`);
  // bench: utime=1.234s stime=0.056s rtime=0.789s / bench: maxrss=123456kB
  const times = /bench: utime=([\d.]+)s stime=([\d.]+)s rtime=([\d.]+)s/.exec(log);
  const rss = /bench: maxrss=(\d+)kB/i.exec(log);
  if (!times || !rss) throw new Error(`ffmpeg printed no -benchmark figures:\n${log}`);
  const [utime, stime, rtime] = times.slice(1).map(Number) as [number, number, number];
  const { files } = await dirFiles(out);
  return { frames: files, wallMs: rtime * 1000, cpuMs: (utime + stime) * 1000, peakRss: Number(rss[1]) * 1024, sampledPeakRss: null, startRss: 0 };
}

async function runCase(spec: CaseSpec): Promise<CaseResult> {
  const out = spec.out;
  const needOut = (): string => {
    if (!out) throw new Error(`case ${spec.kind} needs an output directory`);
    return out;
  };
  if (out) {
    await rm(out, { recursive: true, force: true });
    await mkdir(out, { recursive: true });
  }
  const code = await packagesOf(spec.root ?? ROOT);
  let measured: Measured;
  switch (spec.kind) {
    case 'decode':
      measured = await measureInProcess(() => decodeOnly(code, spec.clip, spec.frames));
      break;
    case 'rgb':
      measured = await measureInProcess(() => rgbIteration(code, spec.clip, spec.frames));
      break;
    case 'rgb-reuse':
      measured = await measureInProcess(() => rgbIteration(code, spec.clip, spec.frames, true));
      break;
    case 'jpeg':
    case 'png':
    case 'webp': {
      const dir = needOut();
      measured = await measureInProcess(() => toDir(code, spec, spec.kind === 'jpeg' ? 'jpg' : (spec.kind as 'png' | 'webp'), dir));
      break;
    }
    case 'ffmpeg-jpeg':
    case 'ffmpeg-png':
      measured = await ffmpegRun(spec, spec.kind === 'ffmpeg-jpeg' ? 'jpg' : 'png', needOut());
      break;
    case 'rgb-224':
      measured = await measureInProcess(() => rgbIteration(code, spec.clip, spec.frames, false, MODEL_INPUT));
      break;
    case 'jpeg-224': {
      const dir = needOut();
      measured = await measureInProcess(() => toDir(code, spec, 'jpg', dir, MODEL_INPUT));
      break;
    }
  }
  const output = out ? await dirFiles(out) : { files: 0, bytes: 0 };
  return { ...measured, outputFiles: output.files, outputBytes: output.bytes, pid: process.pid };
}

if (import.meta.main) {
  const arg = process.argv[2];
  if (!arg) throw new Error('usage: node bench/case.ts <case spec as JSON>');
  const result = await runCase(JSON.parse(arg) as CaseSpec);
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

/**
 * Where the CPU time of a run goes, by `perf` (Linux): every thread of the process is sampled, native ones included.
 * V8's own profiler (`node --cpu-prof`) would only see the JS main thread, while decoding runs in FFmpeg's threads
 * and colour conversion and image encoding in the libuv pool and libvips' threads; and node-av's binding is
 * stripped, so the thread a sample comes from is what tells decoding from conversion.
 *
 * The case runs as in the timed rounds, with perf recording only between the start and the end of its measured
 * window (perf's control FIFO, which `bench/case.ts` writes to), and with `--perf-basic-prof` and
 * `--interpreted-frames-native-stack` so that JS frames, interpreted ones too, have names.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import type { CaseResult, CaseSpec } from './case.ts';

const run = promisify(execFile);

/** The categories CPU time is split into, in the order a sample is tested against them. */
export const CATEGORIES = {
  decode: 'H.264 decoding (FFmpeg decoder threads)',
  files: 'file system (write, rename) in the kernel',
  encode: 'image encoding (sharp/libvips: libjpeg, libpng + zlib, libwebp; or another native encoder addon)',
  convert: 'YUV→RGB conversion (sws_scale), and the other node-av calls on the libuv pool',
  gc: 'V8 garbage collection',
  copy: 'a new JS Buffer for each RGB frame, filled by a copy (packedCopy: page faults, zeroing, memcpy)',
  js: 'JS and Node on the main thread (streams, promises, node-av bindings)',
  other: 'other',
} as const;
export type Category = keyof typeof CATEGORIES;

/** One profiled run. */
export interface Profile {
  readonly kind: CaseSpec['kind'];
  readonly result: CaseResult;
  readonly samples: number;
  readonly byCategory: ReadonlyMap<Category, number>;
  /** The functions samples were in (leaf frames) with their sample counts, most first. */
  readonly leaves: ReadonlyArray<readonly [string, number]>;
}

/** Why perf cannot profile here, or null when it can. */
export function perfUnavailable(): string | null {
  try {
    execFileSync('perf', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'perf is not installed (Debian: apt-get install linux-perf)';
  }
  try {
    const paranoid = Number(readFileSync('/proc/sys/kernel/perf_event_paranoid', 'utf8').trim());
    if (paranoid > 2) return `kernel.perf_event_paranoid is ${paranoid}; perf needs 2 or less (sysctl kernel.perf_event_paranoid=2)`;
  } catch {
    return 'no /proc/sys/kernel/perf_event_paranoid: not Linux?';
  }
  return null;
}

const FILE_SYSTEM = /^(ksys_write|vfs_write|__x64_sys_write|__x64_sys_pwrite64|do_sys_openat2|do_renameat2|do_unlinkat|__x64_sys_close|ext4_|filemap_)/;
const GARBAGE_COLLECTION = /v8::internal::(Heap::|MarkCompact|Scavenge|Sweeper|ConcurrentMarking|IncrementalMarking|MinorMarkSweep|MarkingVisitor|MarkingBarrier|MemoryAllocator|Evacuat)/;

interface StackFrame {
  readonly sym: string;
  readonly dso: string;
}

function categorise(comm: string, stack: readonly StackFrame[]): Category {
  if (comm.startsWith('av:')) return 'decode';
  if (stack.some((f) => FILE_SYSTEM.test(f.sym))) return 'files';
  // sharp's libvips, or any other native addon than node-av's: the image encoders (a libjpeg-turbo or PNG binding).
  if (comm.includes('vips') || stack.some((f) => f.dso.includes('libvips') || (f.dso.endsWith('.node') && !f.dso.endsWith('node-av.node')))) return 'encode';
  if (comm === 'libuv-worker' && stack.some((f) => f.dso.endsWith('node-av.node'))) return 'convert';
  if (comm === 'V8Worker' || stack.some((f) => GARBAGE_COLLECTION.test(f.sym))) return 'gc';
  // FastBuffer: the Buffer constructor, whose frames have no caller's name when the caller is still interpreted.
  if (stack.some((f) => f.sym.includes('packedCopy') || f.sym.includes('FastBuffer'))) return 'copy';
  if (comm === 'MainThread') return 'js';
  return 'other';
}

/** A C++ symbol without its template arguments: `MarkingVisitorBase<…>::ProcessStrongHeapObject<…>` reads better. */
function shortName(sym: string): string {
  let name = sym;
  for (let previous = ''; previous !== name; ) {
    previous = name;
    name = name.replace(/<[^<>]*>/g, '');
  }
  return name.replace(/^v8::internal::/, '');
}

/** Reads `perf script` output: samples separated by blank lines, a `comm tid` line, then one line per frame. */
function summarise(script: string): Pick<Profile, 'samples' | 'byCategory' | 'leaves'> {
  const byCategory = new Map<Category, number>();
  const leaves = new Map<string, number>();
  let samples = 0;
  for (const block of script.split(/\n\s*\n/)) {
    const lines = block.split('\n').filter((line) => line.trim() !== '');
    const header = /^(.*?)\s+\d+\s*$/.exec(lines[0] ?? '');
    if (!header) continue;
    const stack: StackFrame[] = [];
    for (const line of lines.slice(1)) {
      const frame = /^\s+[0-9a-f]+\s+(.*)\s+\((.*)\)$/.exec(line);
      if (frame) stack.push({ sym: frame[1]!, dso: frame[2]! });
    }
    samples++;
    const category = categorise(header[1]!.trim(), stack);
    byCategory.set(category, (byCategory.get(category) ?? 0) + 1);
    const leaf = stack[0];
    const name = leaf ? `${leaf.sym === '[unknown]' ? '?' : shortName(leaf.sym)} (${basename(leaf.dso)})` : '?';
    leaves.set(name, (leaves.get(name) ?? 0) + 1);
  }
  return { samples, byCategory, leaves: [...leaves].sort((a, b) => b[1] - a[1]) };
}

/** Runs `spec` once under perf and splits its CPU time by category. */
export async function profileCase(spec: CaseSpec, workDir: string): Promise<Profile> {
  await mkdir(workDir, { recursive: true });
  const control = join(workDir, `${spec.kind}.ctl`);
  const data = join(workDir, `${spec.kind}.perf.data`);
  await rm(control, { force: true });
  execFileSync('mkfifo', [control]);
  const caseScript = new URL('./case.ts', import.meta.url).pathname;
  const args = [
    'record', '-q', '-D', '-1', `--control=fifo:${control}`, '-F', '499', '-g', '-o', data, '--',
    process.execPath, '--perf-basic-prof', '--interpreted-frames-native-stack', caseScript, JSON.stringify(spec),
  ];
  const child = spawn('perf', args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BENCH_PERF_CONTROL: control } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (code !== 0 || !line) throw new Error(`bench: profiling ${spec.kind} failed (exit code ${code}):\n${stderr}`);
  const result = JSON.parse(line.slice('RESULT '.length)) as CaseResult;
  try {
    const { stdout: script } = await run('perf', ['script', '-i', data, '-F', 'comm,tid,ip,sym,dso'], { maxBuffer: 1 << 30 });
    return { kind: spec.kind, result, ...summarise(script) };
  } finally {
    // --perf-basic-prof leaves the JIT symbol map in /tmp.
    await Promise.all([rm(`/tmp/perf-${result.pid}.map`, { force: true }), rm(control, { force: true }), rm(data, { force: true })]);
  }
}

/** What the bench reads from the kernel: peak resident memory, CPU time of reaped children, output sizes. */
import { readFileSync, readdirSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A `kB` field of `/proc/<pid>/status` in bytes, e.g. `VmHWM` (the peak resident set size the kernel has
 * recorded for the process) or `VmRSS`; null once the process is gone or has no memory left (a zombie).
 */
export function procStatusBytes(pid: number | 'self', field: 'VmHWM' | 'VmRSS'): number | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  return match ? Number(match[1]) * 1024 : null;
}

/**
 * Samples this process's resident set size every `intervalMs`, to cross-check the kernel's `VmHWM`: both should
 * agree within a sampling interval's worth of growth.
 */
export class RssSampler {
  #timer: NodeJS.Timeout;
  peak = process.memoryUsage.rss();

  constructor(intervalMs = 20) {
    this.#timer = setInterval(() => {
      this.peak = Math.max(this.peak, process.memoryUsage.rss());
    }, intervalMs);
    this.#timer.unref();
  }

  stop(): number {
    clearInterval(this.#timer);
    this.peak = Math.max(this.peak, process.memoryUsage.rss());
    return this.peak;
  }
}

/** The number and total size of the files directly inside `dir`. */
export async function dirFiles(dir: string): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (!entry.isFile()) continue;
    files++;
    bytes += (await stat(join(dir, entry.name))).size;
  }
  return { files, bytes };
}

/**
 * The kinds of thread a run's CPU time is spent on, told apart by their names (`/proc/self/task/<tid>/comm`):
 * `main`, Node's JS thread (streams, promises, every synchronous node-av and sharp call); `decoder`, FFmpeg's
 * decoder threads (`av:h264:df0`, …); `pool`, libuv's thread pool (`libuv-worker`: node-av's asynchronous calls,
 * swscale, sharp's calls and the encoders that run on the pool); `vips`, libvips' own worker threads (sharp's
 * encoding); `gc`, V8's helper threads; `other`, the rest.
 */
export const THREAD_KINDS = ['main', 'decoder', 'pool', 'vips', 'gc', 'other'] as const;
export type ThreadKind = (typeof THREAD_KINDS)[number];
export type ThreadCpu = Record<ThreadKind, number>;

function threadKind(comm: string): ThreadKind {
  if (comm === 'MainThread') return 'main';
  if (comm.startsWith('av:')) return 'decoder';
  if (comm === 'libuv-worker') return 'pool';
  if (comm.startsWith('libvips')) return 'vips';
  if (comm === 'V8Worker') return 'gc';
  return 'other';
}

const TICK_MS = 10; // USER_HZ is 100 on Linux

/**
 * CPU time of this process by kind of thread over a window: each thread's user + system time is read from
 * `/proc/self/task/<tid>/stat` every `intervalMs`, and a thread's last reading counts, so a thread that ends in the
 * window loses at most one interval. Per-thread figures are in clock ticks (10 ms); over a whole run that is close
 * enough to split the CPU time between the stages.
 */
export class ThreadCpuSampler {
  #timer: NodeJS.Timeout;
  readonly #start = new Map<string, number>();
  readonly #last = new Map<string, { kind: ThreadKind; ticks: number }>();

  constructor(intervalMs = 50) {
    for (const [tid, { ticks }] of ThreadCpuSampler.#read()) this.#start.set(tid, ticks);
    this.#timer = setInterval(() => this.#sample(), intervalMs);
    this.#timer.unref();
  }

  static #read(): Map<string, { kind: ThreadKind; ticks: number }> {
    const threads = new Map<string, { kind: ThreadKind; ticks: number }>();
    let tids: string[];
    try {
      tids = readdirSync('/proc/self/task');
    } catch {
      return threads;
    }
    for (const tid of tids) {
      try {
        const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
        // The name is in parentheses and may hold spaces: the fields after it are counted from its closing one.
        const close = stat.lastIndexOf(')');
        const comm = stat.slice(stat.indexOf('(') + 1, close);
        const fields = stat.slice(close + 2).split(' ');
        threads.set(tid, { kind: threadKind(comm), ticks: Number(fields[11]) + Number(fields[12]) });
      } catch {
        // The thread ended between the listing and the read.
      }
    }
    return threads;
  }

  #sample(): void {
    for (const [tid, thread] of ThreadCpuSampler.#read()) this.#last.set(tid, thread);
  }

  stop(): ThreadCpu {
    clearInterval(this.#timer);
    this.#sample();
    const cpu = Object.fromEntries(THREAD_KINDS.map((kind) => [kind, 0])) as ThreadCpu;
    for (const [tid, { kind, ticks }] of this.#last) cpu[kind] += (ticks - (this.#start.get(tid) ?? 0)) * TICK_MS;
    return cpu;
  }
}

/** What the bench reads from the kernel: peak resident memory, CPU time of reaped children, output sizes. */
import { readFileSync } from 'node:fs';
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

/** The machine and the software a bench run was measured on, for the results file. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg, release, totalmem } from 'node:os';
import { libraryVersions } from './deps.ts';

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly ramGiB: number;
  readonly kernel: string;
  readonly node: string;
  readonly nodeAv: string;
  readonly sharp: string;
  readonly ffmpeg: string;
  /** The 1-minute load average when the run started: how busy the machine was with other work. */
  readonly loadAtStart: number;
  readonly date: string;
}

export function describeMachine(): Machine {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const cpu = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown';
  const libraries = libraryVersions();
  let ffmpeg = 'not found';
  try {
    ffmpeg = execFileSync('ffmpeg', ['-version'], { encoding: 'utf8' }).split('\n')[0]?.replace(/ Copyright.*$/, '') ?? ffmpeg;
  } catch {
    // Reported as not found; the ffmpeg cases then fail with their own error.
  }
  return {
    cpu,
    cores: availableParallelism(),
    ramGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
    nodeAv: `${libraries.nodeAv} (FFmpeg ${libraries.nodeAvFfmpeg})`,
    sharp: `${libraries.sharp} (libvips ${libraries.libvips})`,
    ffmpeg,
    loadAtStart: loadNow(),
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  };
}

/** The 1-minute load average now. */
export function loadNow(): number {
  return Math.round((loadavg()[0] ?? 0) * 100) / 100;
}

/** `loadAtEnd`: the load average when the run ended, to show whether other work competed with it. */
export function machineLines(machine: Machine, loadAtEnd: number): string[] {
  return [
    `- CPU: ${machine.cpu}, ${machine.cores} cores; RAM ${machine.ramGiB} GiB; Linux ${machine.kernel}`,
    `- Node ${machine.node}; node-av ${machine.nodeAv}; sharp ${machine.sharp}; ${machine.ffmpeg} (Debian, the CLI reference)`,
    `- ${machine.date}; load average (1 min): ${machine.loadAtStart} at the start, ${loadAtEnd} at the end (${machine.cores} would be a fully busy machine)`,
  ];
}

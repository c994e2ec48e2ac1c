/**
 * The whole-process comparison: a command run from the command line as a user runs it, start-up included, reading
 * the video over loopback HTTP from a byte-counting range server in the bench's process, and writing PNG or JPEG
 * files. The commands: Supervisely's implementation (bench/supervisely_reference.py: PyAV + OpenCV, 4 writer
 * threads) and `framepipe frames URL -o DIR --ext png|jpg` of this checkout and of a baseline, both installed from
 * their packed packages (bench/installed-cli.ts).
 *
 * Each run is timed by `/usr/bin/time`: wall time, user + system CPU time, and the peak RSS of the command's
 * process (the largest of its process tree's, which is the one process for both commands).
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { startRangeServer } from '../test/support/range-server.ts';
import type { RangeServer } from '../test/support/range-server.ts';
import { cliEnv } from './installed-cli.ts';
import type { InstalledCli } from './installed-cli.ts';
import { dirFiles } from './measure.ts';
import { fileQuality } from './quality.ts';
import type { Quality, Reference } from './quality.ts';

export const WHOLE_EXTS = ['png', 'jpg'] as const;
export type WholeExt = (typeof WHOLE_EXTS)[number];

/** One command line to compare. */
export interface WholeCommand {
  readonly id: string;
  readonly label: string;
  readonly argv: (url: string, out: string, ext: WholeExt) => string[];
  readonly env: NodeJS.ProcessEnv;
}

/** What one run of a command measured. */
export interface WholeRun {
  readonly wallMs: number;
  readonly cpuMs: number;
  readonly peakRss: number;
  readonly bytesFetched: number;
  readonly requests: number;
  readonly files: number;
  readonly bytes: number;
}

/** Supervisely's implementation, on Debian's Python with PyAV and OpenCV. */
export function superviselyCommand(): WholeCommand {
  const script = join(import.meta.dirname, 'supervisely_reference.py');
  return {
    id: 'supervisely',
    label: 'Supervisely (PyAV + OpenCV, 4 writer threads)',
    argv: (url, out, ext) => ['/usr/bin/python3', script, url, out, '--ext', ext],
    env: process.env,
  };
}

/** `framepipe frames` of an installed checkout. */
export function framepipeCommand(cli: InstalledCli): WholeCommand {
  return {
    id: `framepipe-${cli.label}`,
    label: `framepipe ${cli.label} (${cli.commit})`,
    argv: (url, out, ext) => [cli.bin, 'frames', url, '-o', out, '--ext', ext],
    env: cliEnv(),
  };
}

/** Runs `argv` under `/usr/bin/time` with `server` counting the bytes it fetches; its output goes to `out`. */
export async function timeCommand(command: WholeCommand, server: RangeServer, url: string, out: string, ext: WholeExt): Promise<WholeRun> {
  await rm(out, { recursive: true, force: true });
  const timing = `${out}.time`;
  const bytesBefore = server.bytesSent;
  const requestsBefore = server.requests.length;
  const argv = ['-f', '%e %U %S %M', '-o', timing, ...command.argv(url, out, ext)];
  const child = spawn('/usr/bin/time', argv, { stdio: ['ignore', 'ignore', 'pipe'], env: command.env });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  if (code !== 0) throw new Error(`bench: ${command.argv(url, out, ext).join(' ')} exited with code ${code}:\n${stderr}`);
  const [wall, user, system, maxKb] = (await readFile(timing, 'utf8')).trim().split('\n').at(-1)!.split(' ').map(Number) as [number, number, number, number];
  await rm(timing, { force: true });
  const { files, bytes } = await dirFiles(out);
  return {
    wallMs: wall * 1000,
    cpuMs: (user + system) * 1000,
    peakRss: maxKb * 1024,
    bytesFetched: server.bytesSent - bytesBefore,
    requests: server.requests.length - requestsBefore,
    files,
    bytes,
  };
}

/** The runs of one command on one clip in one format, and its files' quality. */
export interface WholeRow {
  readonly command: WholeCommand;
  readonly clip: string;
  readonly ext: WholeExt;
  readonly runs: WholeRun[];
  quality?: Quality;
}

/** A clip of the comparison, with the exact RGB frames of its sampled frame numbers. */
export interface WholeClip {
  readonly id: string;
  readonly path: string;
  readonly frames: number;
  readonly reference: Reference | undefined;
  /** Runs in the first rounds only (a slow clip): at most this many rounds. */
  readonly maxRounds?: number;
}

/**
 * Runs every command on every clip in both formats, `rounds` times, interleaved (all commands, then all again), so
 * that load from elsewhere spreads over them; checks each command's files once against the reference.
 */
export async function runWholeProcess(
  clips: readonly WholeClip[],
  commands: readonly WholeCommand[],
  rounds: number,
  outDir: string,
  log: (line: string) => void,
): Promise<WholeRow[]> {
  const rows: WholeRow[] = [];
  const server = await startRangeServer({ files: Object.fromEntries(clips.map((clip) => [`/${clip.id}.mp4`, clip.path])) });
  try {
    await mkdir(outDir, { recursive: true });
    for (const clip of clips) for (const ext of WHOLE_EXTS) for (const command of commands) rows.push({ command, clip: clip.id, ext, runs: [] });
    for (let round = 1; round <= rounds; round++) {
      for (const row of rows) {
        const clip = clips.find((c) => c.id === row.clip)!;
        if (round > (clip.maxRounds ?? Infinity)) continue;
        const out = join(outDir, `${row.command.id}-${row.clip}-${row.ext}`);
        const run = await timeCommand(row.command, server, server.url(`/${clip.id}.mp4`), out, row.ext);
        if (run.files !== clip.frames) throw new Error(`bench: ${row.command.label} wrote ${run.files} files of the ${clip.frames} frames of ${clip.path}`);
        row.runs.push(run);
        log(`[round ${round}/${rounds}] whole process, ${clip.id} ${row.ext}, ${row.command.label}: ${(run.wallMs / 1000).toFixed(2)} s, CPU ${(run.cpuMs / 1000).toFixed(2)} s, peak RSS ${Math.round(run.peakRss / 2 ** 20)} MiB, fetched ${(run.bytesFetched / 1e6).toFixed(1)} MB`);
        if (!row.quality && clip.reference) row.quality = await fileQuality(out, row.ext, clip.reference);
        await rm(out, { recursive: true, force: true });
      }
    }
  } finally {
    await server.close();
  }
  return rows;
}

/** The run with the median wall time (the lower middle one of an even count). */
export function medianWhole(runs: readonly WholeRun[]): WholeRun {
  const sorted = [...runs].sort((a, b) => a.wallMs - b.wallMs);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

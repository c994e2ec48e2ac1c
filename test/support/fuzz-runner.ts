/**
 * Runs fuzz cases in child processes (test/support/fuzz-case.ts), a batch per child, so that a native crash or a
 * hang ends one child and is reported with the case that caused it, while the test runner and the other cases go on.
 */
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { FuzzBatch, FuzzCase, FuzzResult } from './fuzz-case.ts';

const CHILD = resolve(import.meta.dirname, 'fuzz-case.ts');
/** The child's exit codes after it has reported a hang or a fatal error of the case it ran. */
export const EXIT_AFTER_HANG = 3;
export const EXIT_AFTER_FATAL = 4;

/** How a case ended, seen from outside the child: its own report, or how the child died running it. */
export type CaseReport =
  | (FuzzResult & { readonly died?: undefined })
  | { readonly id: number; readonly outcome: 'crash' | 'hang'; readonly died: string; readonly stderr: string; readonly problems: readonly string[] };

export interface RunOptions {
  readonly workDir: string;
  /** Children running at once. */
  readonly children: number;
  /** Cases per child before a fresh one starts (bounds what one child accumulates). */
  readonly batchSize: number;
  readonly timeoutMs: number;
  readonly rssLimit: number;
  /** The JS heap of a child, MiB: a runaway allocation of JS objects ends in a crash that names its case. */
  readonly maxOldSpaceMiB: number;
}

/** Runs every case and resolves with a report for each, by case id. Never rejects because a case went wrong. */
export async function runInChildren(cases: readonly FuzzCase[], options: RunOptions): Promise<Map<number, CaseReport>> {
  await mkdir(options.workDir, { recursive: true });
  const queue = [...cases];
  const reports = new Map<number, CaseReport>();
  let batches = 0;
  const worker = async () => {
    while (queue.length) {
      const batch = queue.splice(0, options.batchSize);
      const left = await runChild(batch, options, ++batches, (report) => reports.set(report.id, report));
      if (left.length === batch.length) {
        // Not one case started: the child cannot run at all, and a new one would fail the same way.
        throw new Error(`the fuzz child did not start a case:\n${left.map((c) => c.id).join(', ')}`);
      }
      queue.unshift(...left);
    }
  };
  await Promise.all(Array.from({ length: options.children }, worker));
  return reports;
}

/**
 * Runs one child on `batch`; resolves with the cases it did not get to (after a crash, a hang or a fatal error in
 * a case, which it reports).
 */
function runChild(batch: readonly FuzzCase[], options: RunOptions, n: number, onReport: (report: CaseReport) => void): Promise<FuzzCase[]> {
  return new Promise((done, fail) => {
    const file = join(options.workDir, `batch-${n}.json`);
    const spec: FuzzBatch = { workDir: options.workDir, timeoutMs: options.timeoutMs, rssLimit: options.rssLimit, cases: batch };
    writeFile(file, JSON.stringify(spec)).then(() => {
      const child = spawn(process.execPath, [`--max-old-space-size=${options.maxOldSpaceMiB}`, CHILD, file], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const finished = new Set<number>();
      let running: number | undefined;
      let last: number | undefined;
      let stderr = '';
      let buffered = '';
      let killedForHang = false;
      // A case that blocks the child's event loop cannot report its own timeout: stop it from here.
      let watchdog: NodeJS.Timeout | undefined;
      const arm = () => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => {
          killedForHang = true;
          child.kill('SIGKILL');
        }, options.timeoutMs + 15_000);
      };
      arm();
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4000)));
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        buffered += chunk;
        let newline: number;
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, newline);
          buffered = buffered.slice(newline + 1);
          if (!line.startsWith('FUZZ ')) continue;
          arm();
          const message = JSON.parse(line.slice(5)) as { event: 'start' | 'done' } & FuzzResult;
          if (message.event === 'start') {
            running = message.id;
            continue;
          }
          const { event: _, ...result } = message;
          finished.add(result.id);
          running = undefined;
          last = result.id;
          onReport(result);
        }
      });
      child.on('error', fail);
      child.on('close', (code, signal) => {
        clearTimeout(watchdog);
        if (running !== undefined) {
          const died = killedForHang ? `no report for ${options.timeoutMs + 15_000} ms (event loop blocked?), killed` : signal ? `killed by ${signal}` : `exited with code ${code}`;
          onReport({ id: running, outcome: killedForHang ? 'hang' : 'crash', died, stderr, problems: [died] });
          finished.add(running);
        } else if (last === undefined && code !== 0) {
          fail(new Error(`the fuzz child failed before its first case (${signal ?? code}):\n${stderr}`));
          return;
        } else if (last !== undefined && code !== 0 && code !== EXIT_AFTER_HANG && code !== EXIT_AFTER_FATAL) {
          // Died between cases (a finalizer, a late callback): the case just done left it behind.
          const died = `${signal ? `killed by ${signal}` : `exited with code ${code}`} after the case had reported`;
          onReport({ id: last, outcome: 'crash', died, stderr, problems: [died] });
        }
        done(batch.filter((c) => !finished.has(c.id)));
      });
    }, fail);
  });
}

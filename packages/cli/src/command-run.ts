import { FRAME_FLAGS, SOURCE_FLAGS, numberFlags, numbersFromText, yargsOptions } from './flags.ts';
import { checkSourceArgs } from './video-source.ts';
import type { CliIo } from './report.ts';

/**
 * What a command's module gets from `main` to run: where to write, and the parser's verdict so far. A command's
 * module (and what it imports: the library, node-av, sharp, BullMQ...) is loaded only when that command runs.
 */
export interface CommandRun {
  readonly io: CliIo;
  /** Whether yargs has already reported a usage mistake (with exitProcess(false), it still calls the handler). */
  usageFailed(): boolean;
  /** Reports a usage mistake: exit code 2. */
  usage(message: string): void;
  /** Sets the exit code. */
  exit(code: number): void;
}

/** The flags that take a number, read as text (see numberAsText) and turned into numbers before a command runs. */
const NUMBER_FLAGS = ['video-id', 'progress-interval', 'dataset-id', 'concurrency', ...numberFlags(yargsOptions(SOURCE_FLAGS)), ...numberFlags(yargsOptions(FRAME_FLAGS))];

/** Runs a command that reads video once its arguments make sense (`check` says what is wrong, if anything). */
export async function runVideoCommand<A extends Record<string, unknown>>(
  run: CommandRun,
  verbose: boolean,
  args: A,
  command: () => Promise<number>,
  check: (args: A) => true | string = checkSourceArgs as (args: A) => true | string,
): Promise<void> {
  // With exitProcess(false), yargs reports a strict-mode failure (an unknown flag) and still calls the handler.
  if (run.usageFailed()) return;
  numbersFromText(args, NUMBER_FLAGS);
  const problem = check(args);
  if (problem !== true) return run.usage(problem);
  // FFmpeg reports recoverable decoder complaints (e.g. right after a seek) on stderr; they are not errors here.
  const [{ Log }, { AV_LOG_FATAL, AV_LOG_WARNING }] = await Promise.all([import('node-av/lib'), import('node-av/constants')]);
  Log.setLevel(verbose ? AV_LOG_WARNING : AV_LOG_FATAL);
  run.exit(await command());
}

/** The number flags every command of the work queue may take (each adds those of its own flag tables). */
export const QUEUE_NUMBER_FLAGS = ['dataset-id'];

/** Runs a command of the work queue, which reads no video itself, once its arguments make sense. */
export async function runQueueCommand<A extends Record<string, unknown>>(
  run: CommandRun,
  numbers: readonly string[],
  args: A,
  command: () => Promise<number>,
  check?: (args: A) => true | string,
): Promise<void> {
  if (run.usageFailed()) return;
  numbersFromText(args, numbers);
  const problem = check?.(args) ?? true;
  if (problem !== true) return run.usage(problem);
  run.exit(await command());
}

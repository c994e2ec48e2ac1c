import { runWorker } from '@framepipe/queue';
import type { WorkerEvent, WorkerOptions } from '@framepipe/queue';
import type { CommandModule } from 'yargs';
import { REDIS_FLAG, WORKER_FLAGS, numberFlags, optionsFromFlags, yargsOptions } from './flags.ts';
import { QUEUE_NUMBER_FLAGS, runQueueCommand } from './command-run.ts';
import type { CommandRun } from './command-run.ts';
import { EXIT, interruptedExit, plural, reportFailure } from './report.ts';
import type { CliIo } from './report.ts';

export interface WorkerArgs {
  quiet: boolean;
  [flag: string]: unknown;
}

/** `framepipe worker`: runs shards of the work queue until stopped (SIGTERM hands the running ones back). */
export async function runWorkerCommand(args: WorkerArgs, io: CliIo): Promise<number> {
  try {
    const options = { ...optionsFromFlags([REDIS_FLAG], args), ...optionsFromFlags(WORKER_FLAGS, args) } as WorkerOptions;
    const summary = await runWorker({
      ...options,
      signal: io.signal,
      ...(args.quiet ? {} : { onEvent: (event: WorkerEvent) => io.stderr.write(`${describe(event)}\n`) }),
    });
    if (!args.quiet) io.stderr.write(`${plural(summary.shards, 'shard')} run, ${plural(summary.framesWritten, 'frame')} written, ${plural(summary.failures, 'failure')}\n`);
    return io.signal?.aborted ? interruptedExit(io.signal.reason) : EXIT.ok;
  } catch (error) {
    return reportFailure(error, io, false, args);
  }
}

/** One log line per event; sources and names only as a status shows them (no credentials). */
function describe(event: WorkerEvent): string {
  switch (event.type) {
    case 'planned':
      return `${event.batch} ${event.name}: ${plural(event.frames, 'frame')} in ${plural(event.shards, 'shard')}`;
    case 'shard-done':
      return `${event.batch} ${event.name} shard ${event.shard}: ${plural(event.frames, 'frame')} (${event.written} written now)`;
    case 'video-done':
      return `${event.batch} ${event.name}: ${event.status}, ${plural(event.frames, 'frame')}`;
    case 'failed':
      return `${event.job}: ${event.code} ${event.message}${event.final ? '' : ' (will retry)'}`;
    case 'handed-back':
      return `${event.job}: handed back to the queue`;
  }
}

/** The options and handler of `framepipe worker`. */
export function workerCommand(run: CommandRun): Pick<CommandModule<object, WorkerArgs>, 'builder' | 'handler'> {
  return {
    builder: (y) =>
      y
        .usage('Usage:\n  $0 worker --redis URL [options]\n\nRun the shards of every batch in the work queue. Start any number on any number of machines; SIGTERM hands the running shards back, and the shards of a worker that died are run again by another, keeping the frames it wrote.')
        .options(yargsOptions([REDIS_FLAG]))
        .options(yargsOptions(WORKER_FLAGS))
        .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'Print nothing but errors', group: 'Display:' }) as never,
    handler: (args) => runQueueCommand(run, [...QUEUE_NUMBER_FLAGS, ...numberFlags(yargsOptions(WORKER_FLAGS))], args, () => runWorkerCommand(args, run.io)),
  };
}

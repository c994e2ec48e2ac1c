import { QUEUE_FRAME_KEYS, enqueue } from '@framepipe/queue';
import type { EnqueueOptions } from '@framepipe/queue';
import type { CommandModule } from 'yargs';
import { VIDEO_LIST_OPTIONS, batchSources, checkBatchArgs } from './batch-command.ts';
import type { BatchArgs } from './batch-command.ts';
import { ENQUEUE_FLAGS, numberFlags, optionsFromFlags, queuedFrameFlags, yargsOptions } from './flags.ts';
import { QUEUE_NUMBER_FLAGS, runQueueCommand } from './command-run.ts';
import type { CommandRun } from './command-run.ts';
import { EXIT, reportFailure } from './report.ts';
import type { CliIo } from './report.ts';

/** The frame and source flags a queued batch takes: those whose options travel in a job record (no --header). */
const QUEUED_FRAME_FLAGS = queuedFrameFlags(QUEUE_FRAME_KEYS);

/** The flags of `framepipe enqueue`: the videos as `framepipe batch` takes them, and the queue's. */
export type EnqueueArgs = BatchArgs;

/** `framepipe enqueue`: adds a batch to the work queue and prints its id. */
export async function runEnqueue(args: EnqueueArgs, io: CliIo): Promise<number> {
  try {
    const options = { ...optionsFromFlags(QUEUED_FRAME_FLAGS, args), ...optionsFromFlags(ENQUEUE_FLAGS, args), out: args.out } as EnqueueOptions;
    // Listing a dataset needs Supervisely credentials here; the workers read the videos with their own.
    const { sources } = await batchSources(args, io, options);
    const batch = await enqueue(sources, options);
    io.stdout.write(`${batch}\n`);
    return EXIT.ok;
  } catch (error) {
    return reportFailure(error, io, false, args);
  }
}

/** The options and handler of `framepipe enqueue`. */
export function enqueueCommand(run: CommandRun): Pick<CommandModule<object, EnqueueArgs>, 'builder' | 'handler'> {
  return {
    builder: (y) =>
      y
        .usage('Usage:\n  $0 enqueue --redis URL --out DIR [options] <url|path>...\n  $0 enqueue --redis URL --out DIR --from-file LIST [options]\n  $0 enqueue --redis URL --out DIR --dataset-id N [options]\n\nAdd the videos to the work queue (BullMQ on Redis) and print the batch id. Workers (framepipe worker) split each video into shards of whole GOPs and write its frames into DIR/<name>/, every frame once.')
        .positional('sources', { type: 'string', array: true, describe: 'http(s) URLs or paths of the videos' })
        .option('out', { alias: 'o', type: 'string', demandOption: true, requiresArg: true, describe: 'Output directory as every worker sees it (a shared mount for other machines), or s3://bucket/prefix', group: 'Queue:' })
        .options(VIDEO_LIST_OPTIONS)
        .options(yargsOptions(ENQUEUE_FLAGS))
        .options(yargsOptions(QUEUED_FRAME_FLAGS))
        .epilog(
          [
            'Examples:',
            '  framepipe enqueue --redis redis://queue.local:6379 --out /mnt/frames --step 10 a.mp4 b.mp4',
            '  framepipe enqueue --redis redis://queue.local:6379 --out s3://datasets/v1 --dataset-id 55846',
            '                    workers read the videos with the Supervisely credentials of their own environment',
          ].join('\n'),
        ) as never,
    handler: (args) => runQueueCommand(run, [...QUEUE_NUMBER_FLAGS, ...numberFlags(yargsOptions([...ENQUEUE_FLAGS, ...QUEUED_FRAME_FLAGS]))], args, () => runEnqueue(args, run.io), checkBatchArgs),
  };
}

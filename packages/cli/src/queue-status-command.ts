import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_DASHBOARD_PORT, queueStatus } from '@framepipe/queue';
import type { BatchStatus, StageCounts } from '@framepipe/queue';
import type { CommandModule } from 'yargs';
import { REDIS_FLAG, optionsFromFlags, yargsOptions } from './flags.ts';
import { QUEUE_NUMBER_FLAGS, runQueueCommand } from './command-run.ts';
import type { CommandRun } from './command-run.ts';
import { runDashboard } from './dashboard-command.ts';
import { EXIT, interruptedExit, reportFailure } from './report.ts';
import type { CliIo } from './report.ts';
import type { DashboardArgs } from './dashboard-command.ts';

export interface QueueStatusArgs {
  batch?: string;
  json: boolean;
  watch: boolean;
  [flag: string]: unknown;
}

/** Seconds between two looks with --watch. */
const WATCH_INTERVAL = 2;

/**
 * `framepipe queue status`: where each batch (or the one of --batch) stands. With --watch, looks again every two
 * seconds until the batch (or every batch) is done.
 */
export async function runQueueStatus(args: QueueStatusArgs, io: CliIo): Promise<number> {
  try {
    const { redis } = optionsFromFlags([REDIS_FLAG], args) as { redis: string };
    for (;;) {
      const statuses = await queueStatus({ redis, ...(args.batch === undefined ? {} : { batch: args.batch }) });
      if (args.json) io.stdout.write(`${JSON.stringify(args.batch === undefined ? statuses : statuses[0])}\n`);
      else io.stdout.write(statuses.length === 0 ? 'No batch in this Redis\n' : statuses.map(describe).join('\n'));
      // With --watch: until the batch, or every batch there is, is done.
      if (!args.watch || (statuses.length > 0 && statuses.every((status) => status.done))) return EXIT.ok;
      await sleep(WATCH_INTERVAL * 1000, undefined, { signal: io.signal }).catch(() => {});
      // Stopped before the batch was done: `status --watch && next-step` must not go on as if it were.
      if (io.signal?.aborted) return interruptedExit(io.signal.reason);
    }
  } catch (error) {
    return reportFailure(error, io, args.json, args);
  }
}

function counts(what: string, c: StageCounts): string {
  return `  ${what.padEnd(8)}${c.total}: ${c.waiting} waiting, ${c.active} running, ${c.done} done, ${c.failed} failed\n`;
}

function describe(status: BatchStatus): string {
  const lines = [
    `batch ${status.batch} into ${status.out} (enqueued ${status.created})\n`,
    counts('videos', status.videos),
    counts('shards', status.shards),
    `  ${'frames'.padEnd(8)}${status.frames} in shards done, ${status.fps.toFixed(1)} frames/s over the last minute\n`,
    ...status.failures.map(
      (failure) =>
        `  ${'failed'.padEnd(8)}${failure.name}${failure.shard === undefined ? '' : ` shard ${failure.shard}`}: ${failure.code} ${failure.message} (${failure.attempts} ${failure.attempts === 1 ? 'try' : 'tries'})\n`,
    ),
    status.done ? `  ${'done'.padEnd(8)}report in ${status.report}\n` : '',
  ];
  return lines.join('');
}

/** The options and handlers of `framepipe queue status` and `framepipe queue dashboard`. */
export function queueCommand(run: CommandRun): Pick<CommandModule<object, QueueStatusArgs>, 'builder' | 'handler'> {
  const handler = (args: QueueStatusArgs) => runQueueCommand(run, QUEUE_NUMBER_FLAGS, args, () => runQueueStatus(args, run.io));
  const dashboardHandler = (args: DashboardArgs) => runQueueCommand(run, QUEUE_NUMBER_FLAGS, args, () => runDashboard(args, run.io));
  return {
    builder: (y) =>
      y.command({
        command: 'status',
        describe: 'Where each batch stands: videos and shards waiting, running, done, failed; frames; failures',
        builder: (status) =>
          status
            .usage('Usage:\n  $0 queue status --redis URL [--batch ID] [--json] [--watch]')
            .options(yargsOptions([REDIS_FLAG]))
            .option('batch', { type: 'string', requiresArg: true, describe: 'One batch, by the id enqueue printed [default: every batch]', group: 'Queue:' })
            .option('json', { type: 'boolean', default: false, describe: 'Print JSON: the batch (with "done": true once every shard has ended), or a list of batches', group: 'Display:' })
            .option('watch', { type: 'boolean', default: false, describe: `Look again every ${WATCH_INTERVAL} s, until the batch (or every batch) is done`, group: 'Display:' }) as never,
        handler: handler as (args: unknown) => Promise<void>,
      })
      .command({
        command: 'dashboard',
        describe: "Serve Bull Board, BullMQ's web page of the queues, on loopback",
        builder: (dashboard) =>
          dashboard
            .usage('Usage:\n  $0 queue dashboard --redis URL [--port N] [--host ADDRESS] [--allow-actions]\n\nServe a web page of every job of the work queue (state, record, tries, failure) until Ctrl-C. It has no login: keep it on loopback and reach it through an SSH tunnel.')
            .options(yargsOptions([REDIS_FLAG]))
            .option('port', { type: 'number', requiresArg: true, default: DEFAULT_DASHBOARD_PORT, describe: 'TCP port to serve on (0: a free one)', group: 'Dashboard:' })
            .option('host', { type: 'string', requiresArg: true, default: '127.0.0.1', describe: 'Address to listen on', group: 'Dashboard:' })
            .option('allow-actions', { type: 'boolean', default: false, describe: 'Let the page retry, remove and clean jobs (without it, the page only shows them)', group: 'Dashboard:' }) as never,
        handler: dashboardHandler as (args: unknown) => Promise<void>,
      }) as never,
    handler: () => {},
  };
}

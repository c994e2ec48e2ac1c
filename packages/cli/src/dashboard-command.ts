import { once } from 'node:events';
import { serveDashboard, shownRedis } from '@framepipe/queue';
import type { DashboardOptions } from '@framepipe/queue';
import { REDIS_FLAG, optionsFromFlags } from './flags.ts';
import { EXIT, reportFailure } from './report.ts';
import type { CliIo } from './report.ts';

export interface DashboardArgs {
  port?: number;
  host?: string;
  'allow-actions': boolean;
  [flag: string]: unknown;
}

/**
 * `framepipe queue dashboard`: serves Bull Board over the queues of the batches until Ctrl-C or SIGTERM, which
 * stop it and exit 0 (stopping is how a dashboard ends, not an interruption of work).
 */
export async function runDashboard(args: DashboardArgs, io: CliIo): Promise<number> {
  try {
    const { redis } = optionsFromFlags([REDIS_FLAG], args) as { redis: string };
    const options: DashboardOptions = { redis, allowActions: args['allow-actions'] };
    if (args.port !== undefined) options.port = args.port;
    if (args.host !== undefined) options.host = args.host;
    const dashboard = await serveDashboard(options);
    io.stdout.write(`Dashboard of ${shownRedis(redis)} at ${dashboard.url} (${args['allow-actions'] ? 'jobs can be retried and removed' : 'read only'}); Ctrl-C stops it\n`);
    if (io.signal && !io.signal.aborted) await once(io.signal, 'abort');
    await dashboard.close();
    return EXIT.ok;
  } catch (error) {
    return reportFailure(error, io, false, args);
  }
}

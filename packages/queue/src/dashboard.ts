import { createServer } from 'node:http';
import type { RequestListener } from 'node:http';
import { ErrorCode, FramepipeError, assertKnownKeys, assertOptionsObject, checkOptions, invalidOption, rules } from '@framepipe/common';
import { shownUrlText } from '@framepipe/http-source';
import { checkRedisUrl, connectRedis, shownRedis } from './connection.ts';
import { QUEUE_NAMES } from './names.ts';

/** Options of {@link serveDashboard}. */
export interface DashboardOptions {
  /** The Redis of the batches: `redis://[user:password@]host[:port][/db]`, or `rediss://` for TLS. */
  redis: string;
  /**
   * The TCP port to serve on; 0 takes a free one (see {@link Dashboard.url}).
   * @default 3070
   */
  port?: number | undefined;
  /**
   * The address to listen on. The dashboard has no login: keep it on loopback, and reach it from elsewhere through
   * an SSH tunnel (`ssh -L 3070:127.0.0.1:3070 host`) or a proxy that asks for one.
   * @default '127.0.0.1'
   */
  host?: string | undefined;
  /**
   * Let the page act on jobs (retry, remove, clean, pause a queue). Off by default: the page only shows.
   * @default false
   */
  allowActions?: boolean | undefined;
}

/** A dashboard being served, as {@link serveDashboard} resolves with it. */
export interface Dashboard {
  /** Where to open it, e.g. `http://127.0.0.1:3070/`. */
  readonly url: string;
  /** Stops serving and lets go of Redis. */
  close(): Promise<void>;
}

/** The port the dashboard listens on unless told otherwise. */
export const DEFAULT_DASHBOARD_PORT = 3070;

const DASHBOARD_RULES = {
  redis: { check: (value: unknown) => checkRedisUrl(value) },
  port: { check: (value: unknown, name: string) => checkPort(name, value), fallback: () => DEFAULT_DASHBOARD_PORT },
  host: { check: (value: unknown, name: string) => checkHost(name, value), fallback: () => '127.0.0.1' },
  allowActions: rules.boolean(false),
};

/**
 * Serves Bull Board, the web page of BullMQ's queues, over the three queues a batch runs through (`plans`,
 * `shards`, `videos`: see {@link QUEUE_NAMES}): every job with its state, record, tries and failure, for people who
 * would rather look than read `queueStatus`. It reads Redis only, unless `allowActions`. Job records hold no
 * request header (see `enqueue`); the URLs in them are shown as errors show them, without a signed URL's token.
 *
 * @example
 * const dashboard = await serveDashboard({ redis: 'redis://127.0.0.1:6379' });
 * console.log(`open ${dashboard.url}`); // later: await dashboard.close()
 */
export async function serveDashboard(options: DashboardOptions): Promise<Dashboard> {
  const given = assertOptionsObject(options, 'serveDashboard') as Record<string, unknown>;
  assertKnownKeys(given, Object.keys(DASHBOARD_RULES), 'serveDashboard');
  const settings = checkOptions(DASHBOARD_RULES, given, 'serveDashboard');
  const url = settings.redis!;
  const redis = await connectRedis(url, false);
  const { Queue } = await import('bullmq');
  const queues = Object.values(QUEUE_NAMES).map((name) => new Queue(name, { connection: redis }));
  const close = async () => {
    await Promise.all(queues.map((queue) => queue.close()));
    redis.disconnect();
  };
  try {
    // Loaded here, not with the package: only a dashboard needs the web server and the page's assets.
    const [{ createBullBoard }, { BullMQAdapter }, { ExpressAdapter }] = await Promise.all([
      import('@bull-board/api'),
      import('@bull-board/api/bullMQAdapter'),
      import('@bull-board/express'),
    ]);
    const adapter = new ExpressAdapter();
    adapter.setBasePath('/');
    const adapters = queues.map((queue) => {
      const adapter = new BullMQAdapter(queue, { readOnlyMode: !settings.allowActions });
      // A signed URL's token is in its job's record (the worker needs it): the page shows it hidden, as logs do.
      adapter.setFormatter('data', hideCredentials);
      return adapter;
    });
    createBullBoard({
      queues: adapters,
      serverAdapter: adapter,
      options: { uiConfig: { boardTitle: 'framepipe' } },
    });
    // The adapter's router is an Express application, itself a request handler.
    const app = adapter.getRouter() as RequestListener;
    const server = createServer(app);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(settings.port, settings.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const { port } = server.address() as { port: number };
    const host = settings.host.includes(':') ? `[${settings.host}]` : settings.host;
    return {
      url: `http://${host}:${port}/`,
      close: async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        await close();
      },
    };
  } catch (error) {
    await close();
    if (error instanceof FramepipeError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'EADDRINUSE' ? `port ${settings.port} is taken (choose another with port)` : (error as Error).message;
    throw new FramepipeError(ErrorCode.INVALID_OPTION, `Cannot serve the dashboard of ${shownRedis(url)} on ${settings.host}:${settings.port}: ${why}`, {
      option: 'port',
      cause: error,
    });
  }
}

/** A job record as the page shows it: every URL in it as `shownUrl` shows it. */
function hideCredentials(value: unknown): unknown {
  if (typeof value === 'string') return /^https?:\/\//i.test(value) ? shownUrlText(value) : value;
  if (Array.isArray(value)) return value.map(hideCredentials);
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, hideCredentials(item)]));
  return value;
}

function checkPort(name: string, value: unknown): number {
  if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > 65535) throw invalidOption(name, 'a TCP port (0 to 65535)', value);
  return value as number;
}

function checkHost(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) throw invalidOption(name, 'an address to listen on, such as 127.0.0.1', value);
  return value;
}

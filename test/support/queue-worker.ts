/**
 * One queue worker in a process of its own, as the distributed tests start several: `runWorker` with short lock
 * and stall intervals, stopping on SIGTERM, printing one JSON line per event on stdout.
 * Arguments: <redis URL> [concurrency] [maxStalledCount] (0: a job whose worker died is failed by the next one).
 */
import { runWorker } from '@framepipe/queue';

const [redis, concurrency = '1', maxStalledCount] = process.argv.slice(2);
const controller = new AbortController();
process.once('SIGTERM', () => controller.abort());
const summary = await runWorker({
  redis: redis!,
  concurrency: Number(concurrency),
  exitWhenIdle: true,
  signal: controller.signal,
  lockDuration: 2000,
  stalledInterval: 1000,
  ...(maxStalledCount === undefined ? {} : { maxStalledCount: Number(maxStalledCount) }),
  onEvent: (event) => process.stdout.write(`${JSON.stringify(event)}\n`),
});
process.stdout.write(`${JSON.stringify({ type: 'summary', ...summary })}\n`);

/**
 * One queue worker in a process of its own that lets no job stall (maxStalledCount 0): a job whose worker dies is
 * failed for good by the next worker, as one that died under it more than the limit allows would be.
 * Arguments: <redis URL>.
 */
import { runWorker } from '@framepipe/queue';

const [redis] = process.argv.slice(2);
const controller = new AbortController();
process.once('SIGTERM', () => controller.abort());
const summary = await runWorker({
  redis: redis!,
  exitWhenIdle: true,
  signal: controller.signal,
  lockDuration: 1000,
  stalledInterval: 500,
  maxStalledCount: 0,
  onEvent: (event) => process.stdout.write(`${JSON.stringify(event)}\n`),
});
process.stdout.write(`${JSON.stringify({ type: 'summary', ...summary })}\n`);

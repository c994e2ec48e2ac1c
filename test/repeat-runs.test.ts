import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { RunStats, streamVideoFramesToDir } from '@framepipe/core';
import { H264_MP4_MOOV_END } from './support/fixtures.ts';
import { countNativeObjects, removeDir, serveFixtures, tempDir } from './support/pipeline-helpers.ts';
import type { RangeServer } from './support/range-server.ts';

const RUNS = 20;

let server: RangeServer;
let dir: string;

before(async () => {
  ({ server } = await serveFixtures({ 'clip.mp4': H264_MP4_MOOV_END }));
  dir = await tempDir('framepipe-repeat-');
});
after(async () => {
  await server.close();
  await removeDir(dir);
});

/**
 * A full garbage collection, so that RSS shows memory still referenced (or native memory never freed), not garbage
 * waiting for collection. `global.gc` when node runs with --expose-gc; otherwise the same function, exposed by V8's
 * flag at run time.
 */
function collectGarbage(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/**
 * Open file descriptors of this process, and its active libuv resources by type (sockets, file requests, timers).
 * A pending `setImmediate` (the test runner's own, now and then) holds nothing and is left out.
 */
function resources(): { fds: number; handles: number; byType: Record<string, number> } {
  const byType: Record<string, number> = {};
  const active = process.getActiveResourcesInfo().filter((type) => type !== 'Immediate');
  for (const type of active) byType[type] = (byType[type] ?? 0) + 1;
  return { fds: readdirSync('/proc/self/fd').length, handles: active.length, byType };
}

const MiB = 1024 * 1024;

test(`${RUNS} consecutive runs in one process: no growth of file descriptors or sockets; RSS reported`, async (t) => {
  const gc = collectGarbage();
  const native = countNativeObjects();
  t.after(() => native.restore());
  const rows: Array<{ fds: number; handles: number; byType: Record<string, number>; rss: number; heap: number }> = [];
  for (let run = 1; run <= RUNS; run++) {
    const out = join(dir, `run-${run}`);
    const stats = new RunStats();
    const paths = await streamVideoFramesToDir(server.url('/clip.mp4'), out, { stats, manifest: true });
    assert.equal(paths.length, 60);
    assert.deepEqual(native.live(), { frames: 0, packets: 0 }, `run ${run}: every FFmpeg frame and packet freed`);
    await removeDir(out);
    // Sockets and file handles close asynchronously: let the loop settle before counting.
    await sleep(50);
    gc();
    const { rss, heapUsed } = process.memoryUsage();
    const row = { ...resources(), rss, heap: heapUsed };
    rows.push(row);
    const mib = (bytes: number) => (bytes / MiB).toFixed(1);
    t.diagnostic(`run ${run}: fds ${row.fds}, active handles ${row.handles} ${JSON.stringify(row.byType)}, RSS ${mib(rss)} MiB, JS heap ${mib(heapUsed)} MiB`);
  }
  // Run 1 warms up: the HTTP agent's sockets, sharp's and FFmpeg's thread pools, lazily loaded modules.
  const [warm, ...rest] = rows as [(typeof rows)[0], ...typeof rows];
  for (const [i, row] of rest.entries()) {
    assert.ok(row.fds <= warm.fds + 1, `run ${i + 2}: ${row.fds} fds after the warm-up's ${warm.fds}`);
    assert.ok(row.handles <= warm.handles + 1, `run ${i + 2}: ${row.handles} active handles after the warm-up's ${warm.handles}`);
  }
  // A fluctuation is fine; a trend is not: the last runs hold no more than the first ones after the warm-up.
  const peak = (part: typeof rows, key: 'fds' | 'handles') => Math.max(...part.map((row) => row[key]));
  assert.ok(peak(rest.slice(-5), 'fds') <= peak(rest.slice(0, 5), 'fds'), 'no upward trend of fds');
  assert.ok(peak(rest.slice(-5), 'handles') <= peak(rest.slice(0, 5), 'handles'), 'no upward trend of handles');
  const last = rows.at(-1)!;
  const change = (from: number, to: number) => `${(from / MiB).toFixed(1)} → ${(to / MiB).toFixed(1)} MiB (${to >= from ? '+' : ''}${((to - from) / MiB).toFixed(1)} MiB)`;
  t.diagnostic(`RSS run 1 → run ${RUNS}: ${change(warm.rss, last.rss)}; JS heap ${change(warm.heap, last.heap)}`);
});

/**
 * Runs one framepipe call over a video in a process of its own and prints, as JSON, the resident memory after the
 * first frames (the working set, once every stage runs) and its peak over the rest of the run.
 * Usage: node memory-child.ts <video> <iterate|jpg> <queueMaxSize>
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { streamVideoFrames, streamVideoFramesToDir } from '@framepipe/core';

const [video, mode, queue] = process.argv.slice(2) as [string, string, string];
const queueMaxSize = Number(queue);
/** Resident set size in bytes, from the kernel. */
const rss = (): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) * 1024;

const WARM_UP = 10;
let frames = 0;
let baseline = 0;
let peak = 0;
const sample = (): void => {
  frames++;
  const now = rss();
  if (frames === WARM_UP) baseline = now;
  if (frames >= WARM_UP) peak = Math.max(peak, now);
};

if (mode === 'iterate') {
  for await (const frame of streamVideoFrames(video, { queueMaxSize })) {
    void frame.data.length;
    sample();
  }
} else {
  const dir = await mkdtemp(join(tmpdir(), 'framepipe-memory-'));
  try {
    await streamVideoFramesToDir(video, dir, { ext: 'jpg', queueMaxSize, maxWriteWorkers: 2, progress: sample });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
process.stdout.write(`${JSON.stringify({ frames, baseline, peak })}\n`);

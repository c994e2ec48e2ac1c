/**
 * `pnpm bench -- --only reader` (or `node bench/video-reader.ts`): random access with `openVideo`, from one run on
 * this machine. 100 frames of the 1080p bench clip, drawn at random (seeded, no repeats), fetched:
 *
 * 1. by one `VideoReader`, one `getFrame` call per frame in the random order (an annotation tool's way);
 * 2. by one `VideoReader`, one `getFrames` call with all 100 (decoded in frame order, GOP by GOP);
 * 3. by 100 separate `streamVideoFrames({ frames: [i] })` calls (each opens the video, reads its index, seeks);
 * 4. by one `streamVideoFrames({ frames: all 100 })` call, for reference (what a known list costs in one run).
 *
 * Each row gives the wall time, the process's CPU time (steadier on a shared machine), the frames decoded, the seeks,
 * the start checks (keyframes decoded once more by themselves where a seek landed) and the bytes read from the file;
 * every frame is checked to be the one asked for (same number, same pixels as case 4's). All in this process, one
 * after another.
 *
 *   node bench/video-reader.ts [--quick]     --quick: the 2 s clip (50 frames: 20 drawn)
 *
 * A measurement, not a test: it prints a table (also to .bench/reader-results.md) and exits 0 unless something broke.
 */
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { RunStats, openVideo, probeVideo, streamVideoFrames } from '../packages/core/src/index.ts';
import type { RgbFrame } from '../packages/core/src/index.ts';
import { FULL_CLIPS, QUICK_CLIPS, describeClip, makeClip } from './clips.ts';
import { describeMachine, loadNow, machineLines } from './machine.ts';

const ROOT = resolve(import.meta.dirname, '..');
const CACHE = join(ROOT, '.bench');
const RESULTS = join(CACHE, 'reader-results.md');

const { values } = parseArgs({ args: process.argv.slice(2).filter((arg) => arg !== '--'), options: { quick: { type: 'boolean', default: false } } });
const quick = values.quick;

interface Row {
  readonly label: string;
  readonly ms: number;
  /** CPU time of the process (user + system) over the row: steadier than the wall time on a shared machine. */
  readonly cpuMs: number;
  readonly stats: Pick<RunStats, 'framesDecoded' | 'seeks' | 'startsChecked' | 'bytesRead'>;
}

/** `count` distinct frame numbers below `frames`, in a random order, the same at every run (a seeded generator). */
function drawFrames(count: number, frames: number): number[] {
  let state = 16;
  const random = () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
  const all = [...Array(frames).keys()];
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  return all.slice(0, count);
}

/** Sums figures of several runs. */
function total(stats: readonly RunStats[]): Row['stats'] {
  return {
    framesDecoded: stats.reduce((sum, s) => sum + s.framesDecoded, 0),
    seeks: stats.reduce((sum, s) => sum + s.seeks, 0),
    startsChecked: stats.reduce((sum, s) => sum + s.startsChecked, 0),
    bytesRead: stats.reduce((sum, s) => sum + s.bytesRead, 0),
  };
}

async function timed(label: string, work: () => Promise<readonly RunStats[]>): Promise<Row> {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const stats = await work();
  const cpu = process.cpuUsage(cpu0);
  const row = { label, ms: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000, stats: total(stats) };
  process.stderr.write(`${label}: ${row.ms.toFixed(0)} ms, ${row.cpuMs.toFixed(0)} CPU ms, ${row.stats.framesDecoded} frames decoded, ${row.stats.seeks} seeks\n`);
  return row;
}

const spec = quick ? QUICK_CLIPS.hd : FULL_CLIPS.hd;
const clip = await makeClip(spec, CACHE);
const { frameCount } = await probeVideo(clip, { countFrames: true });
const drawn = drawFrames(quick ? 20 : 100, frameCount!);
const sorted = [...drawn].sort((a, b) => a - b);

// The frames the reader must give: those of one streamVideoFrames run over the list (case 4).
const expected = new Map<number, Buffer>();
const rows: Row[] = [];
const check = (frame: RgbFrame, n: number) => {
  if (frame.index !== n) throw new Error(`bench: asked for frame ${n}, got ${frame.index}`);
  const want = expected.get(n);
  if (want && !want.equals(frame.data)) throw new Error(`bench: frame ${n} differs from streamVideoFrames' frame ${n}`);
};

rows.push(
  await timed(`one \`streamVideoFrames({ frames })\` call with the ${drawn.length} frames (reference)`, async () => {
    const stats = new RunStats();
    for await (const frame of streamVideoFrames(clip, { frames: drawn, stats })) expected.set(frame.index, Buffer.from(frame.data));
    if (expected.size !== drawn.length) throw new Error(`bench: streamVideoFrames gave ${expected.size} of ${drawn.length} frames`);
    return [stats];
  }),
);
rows.push(
  await timed(`${drawn.length} separate \`streamVideoFrames({ frames: [i] })\` calls, random order`, async () => {
    const all: RunStats[] = [];
    for (const n of drawn) {
      const stats = new RunStats();
      for await (const frame of streamVideoFrames(clip, { frames: [n], stats })) check(frame, n);
      all.push(stats);
    }
    return all;
  }),
);
for (const [order, frames] of [['random order', drawn], ['frame order', sorted]] as const) {
  rows.push(
    await timed(`\`VideoReader\`: ${frames.length} \`getFrame(i)\` calls, ${order} (open included)`, async () => {
      const stats = new RunStats();
      await using reader = await openVideo(clip, { stats });
      for (const n of frames) check(await reader.getFrame(n), n);
      return [stats];
    }),
  );
}
rows.push(
  await timed(`\`VideoReader\`: one \`getFrames\` call with the ${drawn.length} frames, random order (open included)`, async () => {
    const stats = new RunStats();
    await using reader = await openVideo(clip, { stats });
    (await reader.getFrames(drawn)).forEach((frame, i) => check(frame, drawn[i]!));
    return [stats];
  }),
);

const base = rows[1]!;
const lines = [
  `### VideoReader: ${drawn.length} random frames${quick ? ' (quick run: not for comparison)' : ''}`,
  '',
  ...machineLines(describeMachine(), loadNow()),
  `- clip: ${describeClip(spec)}, GOP ${2 * spec.fps} frames, 3 B-frames; ${drawn.length} of its ${frameCount} frames drawn at random (seeded, no repeats)`,
  '',
  '| how | wall time | per frame | vs separate calls | CPU ms | frames decoded | seeks | start checks | bytes read |',
  '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...rows.map(
    (row) =>
      `| ${row.label} | ${(row.ms / 1000).toFixed(2)} s | ${(row.ms / drawn.length).toFixed(1)} ms | ${(base.ms / row.ms).toFixed(1)}× | ${row.cpuMs.toFixed(0)} | ${row.stats.framesDecoded} | ${row.stats.seeks} | ${row.stats.startsChecked} | ${(row.stats.bytesRead / 2 ** 20).toFixed(1)} MiB |`,
  ),
  '',
];
const markdown = `${lines.join('\n')}\n`;
process.stdout.write(`\n${markdown}`);
await writeFile(RESULTS, markdown);
process.stderr.write(`results written to ${RESULTS}\n`);

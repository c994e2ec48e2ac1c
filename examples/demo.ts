/**
 * framepipe demo: streams frames 0–9 of a video behind an HTTP URL into PNG files.
 *
 *   pnpm demo                           the embedded sample, served on 127.0.0.1, into a temporary directory
 *   pnpm demo [<url|path>] [--out DIR]  your own video, and/or your own output directory
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { RunStats, streamVideoFramesToDir } from '@framepipe/core';
import { SAMPLE_VIDEO, serveFile } from './lib/serve-file.ts';

const { positionals, values } = parseArgs({ allowPositionals: true, options: { out: { type: 'string' } } });
const source = positionals[0];
const outDir = values.out;
const served = source ? null : await serveFile(SAMPLE_VIDEO);
const url = source ?? served!.url;
const outputDir = outDir ?? (await mkdtemp(join(tmpdir(), 'framepipe-demo-')));

try {
  const stats = new RunStats();
  console.log(`Streaming frames 0-9 of ${url}`);
  const paths = await streamVideoFramesToDir(url, outputDir, { start: 0, end: 9, stats });
  console.log(`Saved ${paths.length} frames:`);
  for (const path of paths) console.log(path);
  console.log(`${stats.framesDecoded} frames decoded, ${stats.bytesRead} bytes read, ${stats.seconds.toFixed(2)} s`);
} finally {
  await served?.close();
}

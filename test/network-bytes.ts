/**
 * How many bytes a run pulls over HTTP, against the targets of issue 4. A script, not a test: it prints the figures
 * (bytes the server sent, over the file size) and whether each is within its target.
 *
 *   pnpm bytes            (every case)
 *   pnpm bytes fragmented (the cases whose description has that word)
 *
 * The videos are made once with Debian's ffmpeg (testsrc2: detailed, moving pictures, so the bitrate is that of real
 * footage, unlike the test fixtures whose frame code compresses to almost nothing) and kept in .fixtures/. The 10-minute
 * 720p file takes about a minute and a half to make on two cores; `moov` is at the end, ffmpeg's default.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { RunStats, streamVideoFramesToDir } from '@framepipe/core';
import { FIXTURE_DIR } from './support/fixtures.ts';
import { removeDir, tempDir } from './support/pipeline-helpers.ts';
import { startRangeServer } from './support/range-server.ts';

const run = promisify(execFile);

interface Video {
  name: string;
  size: string;
  seconds: number;
  /** Remuxed into a fragmented MP4 (an empty moov, a moof + mdat per GOP). */
  fragmented?: boolean;
}

/** The path of a testsrc2 H.264 MP4 (B-frames, GOP 2 s, moov at the end), made if missing. */
async function video({ name, size, seconds, fragmented }: Video): Promise<string> {
  const path = join(FIXTURE_DIR, `bytes-${name}${fragmented ? '-fragmented' : ''}.mp4`);
  if (existsSync(path)) return path;
  if (fragmented) {
    const whole = await video({ name, size, seconds });
    const tmp = `${path}.tmp.mp4`;
    await run('ffmpeg', ['-v', 'error', '-y', '-i', whole, '-c', 'copy', '-movflags', 'frag_keyframe+empty_moov', tmp]);
    await rename(tmp, path);
    return path;
  }
  await mkdir(FIXTURE_DIR, { recursive: true });
  process.stderr.write(`making ${path} (${size}, ${seconds} s)...\n`);
  const tmp = `${path}.tmp.mp4`;
  const source = ['-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=25`, '-t', String(seconds)];
  const coding = ['-c:v', 'libx264', '-preset', 'veryfast', '-g', '50', '-bf', '2', '-pix_fmt', 'yuv420p'];
  await run('ffmpeg', ['-v', 'error', '-y', ...source, ...coding, tmp], { maxBuffer: 1 << 24 });
  await rename(tmp, path);
  return path;
}

const CASES = [
  { what: 'full run, 1080p, 20 s, moov at the end', video: { name: '1080p-20s', size: '1920x1080', seconds: 20 }, options: {}, target: 1.05 },
  {
    what: '10 frames at minute 10 of a 10-minute 720p file',
    video: { name: '720p-10min', size: '1280x720', seconds: 600 },
    // The last 10 frames that start before 10:00 (25 fps: frames 14990-14999 are 9:59.60-9:59.96).
    options: { start: 14990, end: 14999 },
    target: 0.02,
  },
  {
    what: '10 frames three quarters into a fragmented 1080p 20 s file (a fragment per 2 s GOP)',
    video: { name: '1080p-20s', size: '1920x1080', seconds: 20, fragmented: true },
    options: { start: 375, end: 384 },
    target: 0.1,
  },
  { what: 'first 10 frames of a 3-minute 1080p file, moov at the end', video: { name: '1080p-3min', size: '1920x1080', seconds: 180 }, options: { end: 9 }, target: 0.06 },
];

const dir = await tempDir('framepipe-bytes-');
try {
  // `pnpm bytes fragmented`: only the cases whose description has that word.
  const only = process.argv[2];
  for (const c of CASES.filter((c) => !only || c.what.includes(only))) {
    const path = await video(c.video);
    const { size } = await stat(path);
    const server = await startRangeServer({ files: { '/video.mp4': path } });
    try {
      const stats = new RunStats();
      const paths = await streamVideoFramesToDir(server.url('/video.mp4'), join(dir, c.video.name), { ...c.options, ext: 'jpg', stats });
      const ratio = server.bytesSent / size;
      const verdict = ratio <= c.target ? 'within' : 'OVER';
      console.log(`${c.what}: ${paths.length} frames; ${server.bytesSent.toLocaleString('en-US')} of ${size.toLocaleString('en-US')} bytes`);
      console.log(`  = ${(ratio * 100).toFixed(2)}% of the file (target ${(c.target * 100).toFixed(0)}%: ${verdict}); ${server.requests.length} requests; strategy ${stats.strategy}, ${stats.decodePath}, ${stats.framesDecoded} frames decoded`);
    } finally {
      await server.close();
    }
  }
} finally {
  await removeDir(dir);
}

/**
 * sharp, streamx and node-av for the bench. bench/ is a directory of scripts, not a workspace package, so it has no
 * node_modules of its own: it takes them from the packages that depend on them, which also means it measures the
 * very copies framepipe runs. Only the few calls the bench makes are typed here. framepipe's own packages are
 * imported by relative path (../packages/<name>/src/index.ts) for the same reason.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** Decoded pixels as sharp returns them with `resolveWithObject`. */
export interface RawImage {
  readonly data: Buffer;
  readonly info: { readonly width: number; readonly height: number; readonly channels: number };
}

interface SharpPipeline {
  raw(): SharpPipeline;
  removeAlpha(): SharpPipeline;
  jpeg(options: { quality: number; chromaSubsampling: string; optimiseCoding: boolean }): SharpPipeline;
  png(options: { compressionLevel: number; adaptiveFiltering: boolean }): SharpPipeline;
  toBuffer(options: { resolveWithObject: true }): Promise<RawImage>;
  toBuffer(): Promise<Buffer>;
}

interface SharpModule {
  (input: string | Buffer, options?: { raw: { width: number; height: number; channels: 3 } }): SharpPipeline;
  readonly versions: Readonly<Record<string, string | undefined>>;
  concurrency(threads: number): number;
  cache(enabled: boolean): unknown;
}

const fromSink = createRequire(new URL('../packages/sink/package.json', import.meta.url));
const fromDecoder = createRequire(new URL('../packages/decoder/package.json', import.meta.url));

/** The sharp that @framepipe/sink encodes with. */
export const sharp = fromSink('sharp') as SharpModule;

/** Just enough of streamx to run a pipeline of the stages into a consumer of ours. */
export interface Streamx {
  Writable: new <T>(options: { write(data: T, cb: (error: Error | null) => void): void }) => object;
  pipelinePromise(...streams: object[]): Promise<void>;
}

/** The streamx that the stages of the checkout at `root` are built on. */
export function streamxOf(root: string): Streamx {
  return createRequire(join(root, 'packages/sink/package.json'))('streamx') as Streamx;
}

/** Versions of node-av, of the FFmpeg it is built on, and of sharp and its libvips. */
export function libraryVersions(): { nodeAv: string; nodeAvFfmpeg: string; sharp: string; libvips: string } {
  // node-av's entry point is dist/index.js: its package root is one level up.
  const root = join(dirname(fromDecoder.resolve('node-av')), '..');
  const nodeAv = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
  const ffmpegVersion = /FFMPEG_VERSION\s*=\s*["']([^"']+)["']/.exec(readFileSync(join(root, 'dist/ffmpeg/version.js'), 'utf8'));
  return {
    nodeAv,
    nodeAvFfmpeg: ffmpegVersion?.[1] ?? 'unknown',
    sharp: sharp.versions.sharp ?? 'unknown',
    libvips: sharp.versions.vips ?? 'unknown',
  };
}

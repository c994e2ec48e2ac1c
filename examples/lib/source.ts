/**
 * The command line every example takes, handled in one place:
 *
 *   (no source)        the embedded sample, served over HTTP on 127.0.0.1 (nothing else is contacted)
 *   <url|path>         your video: an http(s) URL whose server answers Range requests, a path, or a file: URL
 *   --video-id N       a Supervisely video; SERVER_ADDRESS and API_TOKEN come from the environment,
 *                      ./local.env or ~/supervisely.env. Without a source, VIDEO_ID from the environment or
 *                      ./local.env counts as --video-id, as in Supervisely's tutorial
 *   --out DIR          where the examples that write files put them (default: a new temporary directory)
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs, parseEnv } from 'node:util';
import type { ByteSourceInput } from '@framepipe/core';
import { SAMPLE_VIDEO, serveFile } from './serve-file.ts';

/** The arguments as given. */
export interface ExampleArgs {
  /** A URL or path, if one was given. */
  readonly source: string | undefined;
  /** `--video-id N`, if given. */
  readonly videoId: number | undefined;
  /** `--out DIR`, if given. */
  readonly out: string | undefined;
  /** `--out DIR`, or else a new temporary directory (made on the first call). */
  outputDir(): Promise<string>;
}

/** The video an example reads, ready to pass to `streamVideoFramesToDir` or `streamVideoFrames`. */
export interface ExampleVideo {
  /** The source: a URL, a path, or a Supervisely `ByteSource`. */
  readonly input: ByteSourceInput;
  /** Where the video comes from, for printing. */
  readonly label: string;
  /** `--out DIR`, or else a new temporary directory (made on the first call). */
  outputDir(): Promise<string>;
  /** Stops the sample server or closes the Supervisely source. Call it once the example is done. */
  close(): Promise<void>;
}

const SCRIPT = basename(process.argv[1] ?? 'example.ts', '.ts');

/** Parses `process.argv`; on bad usage prints how to call the script and exits with code 2. */
export function parseExampleArgs(args: string[] = process.argv.slice(2)): ExampleArgs {
  try {
    const { positionals, values } = parseArgs({
      args,
      allowPositionals: true,
      options: { 'video-id': { type: 'string' }, out: { type: 'string' } },
    });
    // As in Supervisely's tutorial, VIDEO_ID may also come from the environment or ./local.env (which the
    // tutorial fills in with SERVER_ADDRESS, API_TOKEN and VIDEO_ID), when no source is named.
    const id = values['video-id'] ?? (positionals.length === 0 ? videoIdFromEnv() : undefined);
    if (id !== undefined && !/^[1-9]\d*$/.test(id)) throw new Error(`--video-id takes a positive integer, not ${JSON.stringify(id)}`);
    if (positionals.length > 1) throw new Error(`one source at most, got ${positionals.length}`);
    if (positionals.length === 1 && id !== undefined) throw new Error('give either a <url|path> or --video-id, not both');
    const out = values.out;
    let dir: Promise<string> | undefined;
    const outputDir = () => (dir ??= out ? Promise.resolve(resolve(out)) : mkdtemp(join(tmpdir(), `framepipe-${SCRIPT}-`)));
    return { source: positionals[0], videoId: id === undefined ? undefined : Number(id), out, outputDir };
  } catch (error) {
    console.error(`${(error as Error).message}\nusage: pnpm exec node examples/${SCRIPT}.ts [<url|path> | --video-id N] [--out DIR]`);
    process.exit(2);
  }
}

/** `VIDEO_ID` from the environment, else from `./local.env` if there is one; the environment is left as it is. */
function videoIdFromEnv(): string | undefined {
  if (process.env.VIDEO_ID) return process.env.VIDEO_ID;
  if (!existsSync('local.env')) return undefined;
  return parseEnv(readFileSync('local.env', 'utf8')).VIDEO_ID || undefined;
}

/** Parses the arguments and gets the video ready: serves the sample, or resolves the Supervisely video lazily. */
export async function openVideo(args: ExampleArgs = parseExampleArgs()): Promise<ExampleVideo> {
  const { outputDir } = args;
  if (args.videoId !== undefined) {
    // Loaded only when asked for, so the other runs never touch credentials.
    const { SuperviselyApi } = await import('@framepipe/supervisely');
    // The returned source resolves the video on first read; we created it, so we close it (core does not).
    const api = SuperviselyApi.fromEnv();
    const source = api.videoSource(args.videoId);
    return { input: source, label: `Supervisely video ${args.videoId} on ${api.serverAddress}`, outputDir, close: () => source.close() };
  }
  if (args.source !== undefined) {
    // A URL or path is opened and closed by the library itself.
    return { input: args.source, label: args.source, outputDir, close: async () => {} };
  }
  const served = await serveFile(SAMPLE_VIDEO);
  return { input: served.url, label: `the embedded sample (${served.url})`, outputDir, close: served.close };
}

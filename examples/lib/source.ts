/**
 * The command line every example takes, handled in one place, with the flags of the `framepipe` CLI:
 *
 *   (no source)        the embedded sample, served over HTTP on 127.0.0.1 (nothing else is contacted)
 *   <url|path>         your video: an http(s) URL whose server answers Range requests, a path, or a file: URL
 *   --video-id N       a Supervisely video; SERVER_ADDRESS and API_TOKEN come from the environment,
 *                      ./local.env or ~/supervisely.env. Without a source, VIDEO_ID from the environment or
 *                      ./local.env counts as --video-id, as in Supervisely's tutorial
 *   -o, --out DIR      where the examples that write files put them (default: a new temporary directory)
 *   --start N, ...     the CLI's flags of the frame options an example uses (`--start`, `--end`, `--ext`, ...),
 *                      in place of the example's own values
 *
 * Paths are meant from where the command was typed: under `pnpm demo`, which pnpm runs in the workspace root, that
 * is INIT_CWD. A mistake a user can fix prints one line with its code and exits as the CLI would (2 for bad usage
 * or a bad option, 1 for a failed run), without a stack trace.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs, parseEnv } from 'node:util';
import type { ParseArgsOptionsConfig } from 'node:util';
import { EXIT, FRAME_FLAGS, optionsFromFlags, reportFailure } from '@framepipe/cli';
import { FramepipeError } from '@framepipe/core';
import type { ByteSourceInput, StreamToDirOptions } from '@framepipe/core';
import { SAMPLE_VIDEO, serveFile } from './serve-file.ts';

/** The frame options an example uses, with its own values; the flags of the same options replace them. */
export type ExampleOptions = Partial<StreamToDirOptions>;

/** The arguments as given. */
export interface ExampleArgs<O extends ExampleOptions = ExampleOptions> {
  /** A URL or path, if one was given. */
  readonly source: string | undefined;
  /** `--video-id N`, if given. */
  readonly videoId: number | undefined;
  /** `--out DIR`, if given, from the directory the command was typed in. */
  readonly out: string | undefined;
  /** The example's frame options, with those given as flags in their place. */
  readonly options: O;
  /** `--out DIR`, or else a new temporary directory (made on the first call). */
  outputDir(): Promise<string>;
}

/** The video an example reads, ready to pass to `streamVideoFramesToDir` or `streamVideoFrames`. */
export interface ExampleVideo<O extends ExampleOptions = ExampleOptions> {
  /** The source: a URL, a path, or a Supervisely `ByteSource`. */
  readonly input: ByteSourceInput;
  /** Where the video comes from, for printing. */
  readonly label: string;
  /** The example's frame options, with those given as flags in their place. */
  readonly options: O;
  /** `--out DIR`, or else a new temporary directory (made on the first call). */
  outputDir(): Promise<string>;
  /** Stops the sample server or closes the Supervisely source. Call it once the example is done. */
  close(): Promise<void>;
}

const SCRIPT = basename(process.argv[1] ?? 'example.ts', '.ts');
const DEMO = process.env.npm_lifecycle_event === 'demo';

// `pnpm demo` runs in the workspace root, while the paths on its command line are meant from where the user typed
// it, which pnpm passes as INIT_CWD (as for `pnpm framepipe`, see scripts/framepipe.js).
if (DEMO && process.env.INIT_CWD) process.chdir(process.env.INIT_CWD);

/** The flags as typed, by name, so that a bad option is said as the CLI says it: with its flag and the value typed. */
let typed: Record<string, unknown> = {};

// A failure the user can fix (a missing file, a bad option, an unreachable server) is one line with its code, as
// the CLI prints it; anything else is a bug, and keeps its stack.
process.on('uncaughtException', (error) => {
  if (!(error instanceof FramepipeError)) {
    console.error(error);
    process.exit(EXIT.failed);
  }
  process.exitCode = reportFailure(error, { stdout: process.stdout, stderr: process.stderr }, false, typed);
});

/** A usage mistake: one line with the CLI's code, how to call the script, and the CLI's exit code. */
export function usageError(message: string, options: ExampleOptions = {}): never {
  const flags = FRAME_FLAGS.filter(({ option }) => option in options).map(({ flag, yargs }) => ` [--${flag}${yargs.type === 'boolean' ? '' : ' …'}]`);
  const command = DEMO ? 'pnpm demo' : `pnpm exec node examples/${SCRIPT}.ts`;
  console.error(`ERR_FRAMEPIPE_USAGE ${message}\nusage: ${command} [<url|path> | --video-id N] [-o DIR]${flags.join('')}`);
  process.exit(EXIT.usage);
}

/**
 * Parses `process.argv`: a source, `--video-id`, `-o`/`--out`, and the CLI's flags of the frame options in
 * `defaults` (what the example uses), whose values replace the example's. On bad usage it prints how to call the
 * script and exits with code 2.
 */
export function parseExampleArgs<O extends ExampleOptions>(defaults: O = {} as O, args: string[] = process.argv.slice(2)): ExampleArgs<O> {
  const flags = FRAME_FLAGS.filter(({ option }) => option in defaults);
  const config: ParseArgsOptionsConfig = { 'video-id': { type: 'string' }, out: { type: 'string', short: 'o' } };
  for (const { flag, yargs } of flags) config[flag] = { type: yargs.type === 'boolean' ? 'boolean' : 'string', ...(yargs.array ? { multiple: true } : {}) };
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; allowPositionals: true; options: ParseArgsOptionsConfig }>>;
  try {
    parsed = parseArgs({ args, allowPositionals: true, options: config });
  } catch (error) {
    usageError((error as Error).message, defaults);
  }
  const { positionals, values } = parsed;
  // As in Supervisely's tutorial, VIDEO_ID may also come from the environment or ./local.env (which the
  // tutorial fills in with SERVER_ADDRESS, API_TOKEN and VIDEO_ID), when no source is named.
  const id = (values['video-id'] as string | undefined) ?? (positionals.length === 0 ? videoIdFromEnv() : undefined);
  if (id !== undefined && !/^[1-9]\d*$/.test(id)) usageError(`--video-id takes a positive integer, not ${JSON.stringify(id)}`, defaults);
  if (positionals.length > 1) usageError(`one source at most, got ${positionals.length}`, defaults);
  if (positionals.length === 1 && id !== undefined) usageError('give either a <url|path> or --video-id, not both', defaults);
  // Numbers as the CLI reads them; what is not a number goes to the library as it is, which names the option.
  const given: Record<string, unknown> = {};
  for (const { flag, yargs } of flags) {
    const value = values[flag];
    given[flag] = yargs.type === 'number' && typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)) ? Number(value) : value;
  }
  typed = given;
  const options = { ...defaults, ...optionsFromFlags(flags, given) } as O;
  const out = values.out === undefined ? undefined : resolve(values.out as string);
  let dir: Promise<string> | undefined;
  const outputDir = () => (dir ??= out ? Promise.resolve(out) : mkdtemp(join(tmpdir(), `framepipe-${SCRIPT}-`)));
  return { source: positionals[0], videoId: id === undefined ? undefined : Number(id), out, options, outputDir };
}

/** `VIDEO_ID` from the environment, else from `./local.env` if there is one; the environment is left as it is. */
function videoIdFromEnv(): string | undefined {
  if (process.env.VIDEO_ID) return process.env.VIDEO_ID;
  if (!existsSync('local.env')) return undefined;
  return parseEnv(readFileSync('local.env', 'utf8')).VIDEO_ID || undefined;
}

/**
 * Parses the arguments (see {@link parseExampleArgs}) and gets the video ready: serves the sample, or resolves the
 * Supervisely video lazily.
 */
export async function openVideo<O extends ExampleOptions>(defaults: O = {} as O): Promise<ExampleVideo<O>> {
  const { outputDir, options, videoId, source } = parseExampleArgs(defaults);
  if (videoId !== undefined) {
    // Loaded only when asked for, so the other runs never touch credentials.
    const { SuperviselyApi } = await import('@framepipe/supervisely');
    // The returned source resolves the video on first read; we created it, so we close it (core does not).
    const api = SuperviselyApi.fromEnv();
    const video = api.videoSource(videoId);
    return { input: video, label: `Supervisely video ${videoId} on ${api.serverAddress}`, options, outputDir, close: () => video.close() };
  }
  if (source !== undefined) {
    // A URL or path is opened and closed by the library itself.
    return { input: source, label: source, options, outputDir, close: async () => {} };
  }
  const served = await serveFile(SAMPLE_VIDEO);
  return { input: served.url, label: `the embedded sample (${served.url})`, options, outputDir, close: served.close };
}

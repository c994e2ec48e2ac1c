import { resolve } from 'node:path';
import yargs from 'yargs';
import { Log } from 'node-av';
import { AV_LOG_FATAL, AV_LOG_WARNING } from 'node-av/constants';
import { FramepipeError, InvalidOptionError, RunStats, streamVideoFramesToDir } from '@framepipe/core';
import type { ImageExtension } from '@framepipe/core';

/** Where the CLI writes; tests pass their own. */
export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Aborts the run (the bin wires SIGINT/SIGTERM to it). */
  signal?: AbortSignal | undefined;
}

/** Exit codes: 0 success, 1 a failed run, 2 bad usage, 130 interrupted (as shells report Ctrl-C). */
export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

interface FramesArgs {
  source: string;
  out: string;
  start?: number | undefined;
  end?: number | undefined;
  ext: string;
  'max-write-workers': number;
  'queue-maxsize': number;
  header?: string[] | undefined;
  'show-decoding-progress': boolean;
  json: boolean;
  verbose: boolean;
}

/** Runs the CLI on `argv` (without the node and script paths) and resolves with the exit code. */
export async function main(argv: string[], io: CliIo): Promise<number> {
  let exitCode: number = EXIT.ok;
  const parser = yargs(argv)
    .scriptName('framepipe')
    .usage('$0 <command> [options]')
    .command<FramesArgs>(
      'frames <source>',
      'Save the frames of a video (URL or path) as image files',
      (y) =>
        y
          .positional('source', { type: 'string', describe: 'http(s) URL or local path of the video', demandOption: true })
          .option('out', { alias: 'o', type: 'string', demandOption: true, describe: 'Output directory (created if missing)' })
          .option('start', { type: 'number', describe: 'First frame number, inclusive, 0-based [default: 0]' })
          .option('end', { type: 'number', describe: 'Last frame number, inclusive [default: last frame]' })
          .option('ext', { type: 'string', default: 'png', describe: 'Image format: png, jpg, jpeg or webp' })
          .option('max-write-workers', { type: 'number', default: 4, describe: 'Files written at the same time' })
          .option('queue-maxsize', { type: 'number', default: 32, describe: 'Decoded frames that may wait for a writer' })
          .option('header', { type: 'string', array: true, describe: 'HTTP request header "Name: value" (repeatable)' })
          .option('show-decoding-progress', { type: 'boolean', default: false, describe: 'Progress lines for the scan and decode phases' })
          .option('json', { type: 'boolean', default: false, describe: 'Print one JSON summary object on stdout at the end' })
          .option('verbose', { type: 'boolean', default: false, describe: "Show FFmpeg's own warnings" }),
      async (args) => {
        exitCode = await runFrames(args, io);
      },
    )
    .demandCommand(1, 'Name a command, e.g. framepipe frames <source> --out DIR')
    .strict()
    .help()
    .version(false)
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    .fail((message, error) => {
      if (error) throw error;
      io.stderr.write(`ERR_FRAMEPIPE_USAGE ${message}\nRun framepipe --help for usage.\n`);
      exitCode = EXIT.usage;
    })
    .exitProcess(false);
  await parser.parseAsync();
  return exitCode;
}

async function runFrames(args: FramesArgs, io: CliIo): Promise<number> {
  // FFmpeg reports recoverable decoder complaints (e.g. right after a seek) on stderr; they are not errors here.
  Log.setLevel(args.verbose ? AV_LOG_WARNING : AV_LOG_FATAL);
  const stats = new RunStats();
  try {
    const paths = await streamVideoFramesToDir(args.source, args.out, {
      start: args.start,
      end: args.end,
      ext: args.ext as ImageExtension,
      maxWriteWorkers: args['max-write-workers'],
      queueMaxSize: args['queue-maxsize'],
      headers: parseHeaders(args.header ?? []),
      showDecodingProgress: args['show-decoding-progress'],
      signal: io.signal,
      stats,
    });
    if (args.json) {
      const summary = { frames: paths.length, outputDir: resolve(args.out), seconds: round(stats.seconds), bytesRead: stats.bytesRead };
      io.stdout.write(`${JSON.stringify(summary)}\n`);
    } else {
      io.stdout.write(`Saved ${paths.length} frames to ${args.out} in ${round(stats.seconds)} s\n`);
    }
    return EXIT.ok;
  } catch (error) {
    const code = error instanceof FramepipeError ? error.code : 'ERR_FRAMEPIPE_UNEXPECTED';
    const message = error instanceof Error ? error.message : String(error);
    io.stderr.write(`${code} ${message.replace(/\s*\n\s*/g, ' ')}\n`);
    if (io.signal?.aborted) return EXIT.interrupted;
    return error instanceof InvalidOptionError ? EXIT.usage : EXIT.failed;
  }
}

/** `Name: value` pairs into an object; a malformed one is a usage error. */
function parseHeaders(lines: string[]): Record<string, string> | undefined {
  if (lines.length === 0) return undefined;
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon).trim() : '';
    if (!name) throw new InvalidOptionError('header', `Expected "Name: value" for --header but received ${JSON.stringify(line)}`);
    headers[name] = line.slice(colon + 1).trim();
  }
  return headers;
}

function round(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}

import { readFileSync } from 'node:fs';
import yargs from 'yargs';
import type { Argv } from 'yargs';
import { Log } from 'node-av';
import { AV_LOG_FATAL, AV_LOG_WARNING } from 'node-av/constants';
import { TO_STDOUT_OPTION, checkFramesArgs, runFrames } from './frames-command.ts';
import type { FramesArgs } from './frames-command.ts';
import { runProbe } from './probe-command.ts';
import { BATCH_NUMBER_FLAGS, batchOptions, checkBatchArgs, runBatchCommand } from './batch-command.ts';
import type { BatchArgs } from './batch-command.ts';
import type { ProbeArgs } from './probe-command.ts';
import { enqueueCommand, runEnqueue } from './enqueue-command.ts';
import { runWorkerCommand, workerCommand } from './worker-command.ts';
import { queueCommand, runQueueStatus } from './queue-status-command.ts';
import { runDashboard } from './dashboard-command.ts';
import { EXIT } from './report.ts';
import type { CliIo } from './report.ts';
import {
  DISPLAY_GROUP,
  DISPLAY_OPTIONS,
  ENQUEUE_FLAGS,
  FRAME_FLAGS,
  QUEUED_FRAME_FLAGS,
  SOURCE_FLAGS,
  SOURCE_GROUP,
  STREAM_FLAG,
  WORKER_FLAGS,
  credentialOptions,
  numberAsText,
  numberFlags,
  numbersFromText,
  yargsOptions,
} from './flags.ts';
import { checkSourceArgs } from './video-source.ts';

export { EXIT, Interrupted, interruptedExit } from './report.ts';
export type { CliIo } from './report.ts';

/** This package's version (all framepipe packages share one), read from its package.json, one level above src/ and dist/. */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Runs the CLI on `argv` (without the node and script paths) and resolves with the exit code. */
export async function main(argv: string[], io: CliIo): Promise<number> {
  let exitCode: number = EXIT.ok;
  const columns = (io.stdout as { columns?: number }).columns;
  const parser = yargs(argv)
    .scriptName('framepipe')
    .usage('Usage: $0 <command> [options]\n\nStream the frames of a video behind a URL, on disk or on Supervisely into image files.')
    .command<FramesArgs>(
      'frames [source]',
      'Save a range of frames as PNG/JPEG/WebP files',
      (y) =>
        sourceOptions(y)
          .usage('Usage:\n  $0 frames <url|path> --out DIR [options]\n  $0 frames --video-id N --out DIR [options]\n  $0 frames <url|path> --to-stdout raw|y4m [options] | ffmpeg ...\n\nSave frames <start>..<end> as frame_<number:06d>.<ext> in DIR, or write them to stdout. Frame numbers follow Supervisely\'s rule, so they match annotations made there.')
          .option('out', { alias: 'o', type: 'string', requiresArg: true, describe: 'Output directory (created if missing); - writes raw frames to stdout', group: 'Frames:' })
          .option('to-stdout', TO_STDOUT_OPTION)
          .options(yargsOptions(FRAME_FLAGS))
          .options(DISPLAY_OPTIONS)
          .option('json', { type: 'boolean', default: false, describe: 'Print one JSON summary on stdout: {frames, outputDir, seconds, bytesRead, ...}', group: DISPLAY_GROUP })
          .epilog(
            [
              'Examples:',
              '  framepipe frames https://example.com/clip.mp4 -o frames --end 9   frames 0-9 as PNG',
              '  framepipe frames clip.mp4 -o frames --ext jpg                     every frame as JPEG',
              '  framepipe frames clip.mp4 -o frames --timestamps 0,30,60          the frames at 0, 30 and 60 s',
              '  framepipe frames clip.mp4 -o frames --start-time 60 --fps 1       from 60 s on, the frame shown each second',
              '  framepipe frames clip.mp4 -o frames --keyframes-only              the keyframes (nothing else decoded)',
              '  framepipe frames clip.mp4 --to-stdout y4m | ffmpeg -f yuv4mpegpipe -i - out.mp4',
              '                    the frames to another program, no files',
              '  framepipe frames --video-id 12345 -o frames --start 100 --end 149',
              '                    a Supervisely video; credentials from ~/supervisely.env',
            ].join('\n'),
          ),
      (args) => run(args.verbose as boolean, args, () => runFrames(args, io), checkFramesArgs),
    )
    .command<ProbeArgs>(
      'probe [source]',
      'Describe a video: codec, size, frame count, fps, duration, B-frames, rotation',
      (y) =>
        sourceOptions(y)
          .usage('Usage:\n  $0 probe <url|path> [options]\n  $0 probe --video-id N [options]\n\nPrint what you need before choosing a range. Reads only the container header, unless --count-frames.')
          .options(yargsOptions([STREAM_FLAG]))
          .option('count-frames', { type: 'boolean', default: false, describe: 'Count the frames exactly (MP4 sample tables, or every packet read; no decoding)', group: 'Probe:' })
          .option('json', { type: 'boolean', default: false, describe: 'Print the description as one JSON object', group: DISPLAY_GROUP })
          .option('verbose', DISPLAY_OPTIONS.verbose!)
          .epilog(['Examples:', '  framepipe probe https://example.com/clip.mp4', '  framepipe probe --video-id 12345 --count-frames'].join('\n')),
      (args) => run(args.verbose as boolean, args, () => runProbe(args, io)),
    )
    .command<BatchArgs>(
      'batch [sources..]',
      'Save the frames of many videos, each into a directory of its own; run again, it does what is missing',
      (y) => batchOptions(y),
      (args) => run(args.verbose, args, () => runBatchCommand(args, io), checkBatchArgs),
    )
    .command(enqueueCommand((args) => plain(args, () => runEnqueue(args, io), checkBatchArgs)))
    .command(workerCommand((args) => plain(args, () => runWorkerCommand(args, io))))
    .command(
      queueCommand(
        (args) => plain(args, () => runQueueStatus(args, io)),
        (args) => plain(args, () => runDashboard(args, io)),
      ),
    )
    .demandCommand(1, 'Name a command: frames, probe, batch, enqueue, worker or queue')
    .strict()
    .help()
    .alias('help', 'h')
    .version(VERSION)
    .epilog('Exit codes: 0 done, 1 the run failed, 2 bad usage or option, 130 interrupted (Ctrl-C),\n143 terminated (SIGTERM).\nRun "framepipe <command> --help" for the options of a command.')
    .wrap(Math.min(110, columns ?? 100))
    .fail((message, error) => {
      // Commands report their own failures; what reaches here is a usage mistake that yargs found.
      usage(message || (error instanceof Error ? error.message : String(error)));
    })
    .exitProcess(false);
  // Given a callback, yargs hands over the help text instead of printing it with console.log.
  const help = await new Promise<string>((done) => {
    parser.parseAsync(argv, {}, (_error, _parsed, text) => done(text)).catch(() => done(''));
  });
  if (help) (exitCode === EXIT.ok ? io.stdout : io.stderr).write(`${help}\n`);
  return exitCode;

  function usage(message: string): void {
    // yargs names a missing option by its key ("Missing required argument: out"); users know it by its flag.
    message = message.replace(/^(Missing required arguments?): (.+)$/, (_all, head: string, names: string) => {
      return `${head}: ${names.split(', ').map((name) => `--${name}`).join(', ')}`;
    });
    io.stderr.write(`ERR_FRAMEPIPE_USAGE ${message}\nRun framepipe --help for usage.\n`);
    exitCode = EXIT.usage;
  }

  /** Runs a command once its video arguments make sense (`check` says what is wrong, if anything). */
  async function run<A extends Record<string, unknown>>(
    verbose: boolean,
    args: A,
    command: () => Promise<number>,
    check: (args: A) => true | string = checkSourceArgs as (args: A) => true | string,
  ): Promise<void> {
    // With exitProcess(false), yargs reports a strict-mode failure (an unknown flag) and still calls the handler.
    if (exitCode === EXIT.usage) return;
    numbersFromText(args, NUMBER_FLAGS);
    const problem = check(args);
    if (problem !== true) return usage(problem);
    // FFmpeg reports recoverable decoder complaints (e.g. right after a seek) on stderr; they are not errors here.
    Log.setLevel(verbose ? AV_LOG_WARNING : AV_LOG_FATAL);
    exitCode = await command();
  }

  /** Runs a command of the work queue, which reads no video itself, once its arguments make sense. */
  async function plain<A extends Record<string, unknown>>(args: A, command: () => Promise<number>, check?: (args: A) => true | string): Promise<void> {
    if (exitCode === EXIT.usage) return;
    numbersFromText(args, QUEUE_NUMBER_FLAGS);
    const problem = check?.(args) ?? true;
    if (problem !== true) return usage(problem);
    exitCode = await command();
  }
}

/** The number flags of the work queue's commands. */
const QUEUE_NUMBER_FLAGS = ['dataset-id', ...numberFlags(yargsOptions([...ENQUEUE_FLAGS, ...QUEUED_FRAME_FLAGS, ...WORKER_FLAGS]))];

/** The flags that take a number, read as text (see numberAsText) and turned into numbers before a command runs. */
const NUMBER_FLAGS = ['video-id', 'progress-interval', ...BATCH_NUMBER_FLAGS, ...numberFlags(yargsOptions(SOURCE_FLAGS)), ...numberFlags(yargsOptions(FRAME_FLAGS))];

/** The options that choose the video, shared by every command. */
function sourceOptions<T>(y: Argv<T>) {
  return y
    .positional('source', { type: 'string', describe: 'http(s) URL or local path of the video' })
    .option('video-id', numberAsText({ type: 'number', requiresArg: true, describe: 'Supervisely video id, instead of <source>', group: SOURCE_GROUP }))
    .options(credentialOptions(SOURCE_GROUP))
    .options(yargsOptions(SOURCE_FLAGS));
}

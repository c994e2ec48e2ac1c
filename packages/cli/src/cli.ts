import yargs from 'yargs';
import type { Argv } from 'yargs';
import { Log } from 'node-av';
import { AV_LOG_FATAL, AV_LOG_WARNING } from 'node-av/constants';
import { runFrames } from './frames-command.ts';
import type { FramesArgs } from './frames-command.ts';
import { runProbe } from './probe-command.ts';
import type { ProbeArgs } from './probe-command.ts';
import { EXIT } from './report.ts';
import type { CliIo } from './report.ts';
import { checkSourceArgs } from './video-source.ts';
import type { SourceArgs } from './video-source.ts';

export { EXIT } from './report.ts';
export type { CliIo } from './report.ts';

const SOURCE_GROUP = 'Video (a <source>, or a Supervisely --video-id):';
const DISPLAY_GROUP = 'Display:';

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
          .usage('Usage:\n  $0 frames <url|path> --out DIR [options]\n  $0 frames --video-id N --out DIR [options]\n\nSave frames <start>..<end> as frame_<number:06d>.<ext> in DIR. Frame numbers follow Supervisely\'s rule, so they match annotations made there.')
          .option('out', { alias: 'o', type: 'string', demandOption: true, requiresArg: true, describe: 'Output directory (created if missing)', group: 'Frames:' })
          .option('start', { type: 'number', requiresArg: true, describe: 'First frame number, inclusive, 0-based [default: 0]', group: 'Frames:' })
          .option('end', { type: 'number', requiresArg: true, describe: 'Last frame number, inclusive [default: the last frame]', group: 'Frames:' })
          .option('step', { type: 'number', requiresArg: true, describe: 'Keep every n-th frame of the range [default: 1]', group: 'Frames:' })
          .option('frames', {
            type: 'string',
            array: true,
            requiresArg: true,
            describe: 'Exactly these frame numbers, e.g. --frames 0,250,500 (instead of a range)',
            group: 'Frames:',
          })
          .option('timestamps', {
            type: 'string',
            array: true,
            requiresArg: true,
            describe: 'The frames shown at these times in seconds, e.g. --timestamps 1.5,60 (instead of a range)',
            group: 'Frames:',
          })
          .option('ext', { type: 'string', default: 'png', requiresArg: true, describe: 'Image format: png, jpg, jpeg or webp', group: 'Frames:' })
          .option('manifest', {
            type: 'boolean',
            default: false,
            describe: 'Also write frames.jsonl in DIR: one JSON line per saved frame (index, pts, time, keyframe, file, size, strategy)',
            group: 'Frames:',
          })
          .option('resume', {
            type: 'boolean',
            default: false,
            describe: 'Keep the frame files already in DIR (an earlier run stopped) and decode only the missing ones',
            group: 'Frames:',
          })
          .option('strict', {
            type: 'boolean',
            default: false,
            describe: 'Fail on a corrupt frame or a packet the decoder rejects, instead of skipping it',
            group: 'Frames:',
          })
          .option('max-write-workers', { type: 'number', default: 4, requiresArg: true, describe: 'Files encoded and written at the same time', group: 'Tuning:' })
          .option('queue-maxsize', {
            type: 'number',
            default: 32,
            requiresArg: true,
            describe: 'Decoded frames that may wait for a writer; memory is about (queue + workers + 1) x width x height x 3 bytes',
            group: 'Tuning:',
          })
          .option('autorotate', { type: 'boolean', default: false, describe: 'Turn pictures upright by the rotation metadata, as a player does', group: 'Frames:' })
          .option('show-decoding-progress', { type: 'boolean', default: false, describe: 'Also draw bars for the packet scan and for a decode from the start', group: DISPLAY_GROUP })
          .option('progress-interval', { type: 'number', requiresArg: true, describe: 'Seconds between progress lines when stderr is not a terminal [default: 2]', group: DISPLAY_GROUP })
          .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'Print nothing but errors', group: DISPLAY_GROUP })
          .option('json', { type: 'boolean', default: false, describe: 'Print one JSON summary on stdout: {frames, outputDir, seconds, bytesRead, ...}', group: DISPLAY_GROUP })
          .option('verbose', { type: 'boolean', default: false, describe: "Let FFmpeg's own warnings through", group: DISPLAY_GROUP })
          .epilog(
            [
              'Examples:',
              '  framepipe frames https://example.com/clip.mp4 -o frames --end 9   frames 0-9 as PNG',
              '  framepipe frames clip.mp4 -o frames --ext jpg                     every frame as JPEG',
              '  framepipe frames clip.mp4 -o frames --timestamps 0,30,60          the frames shown at 0, 30 and 60 s',
              '  framepipe frames --video-id 12345 -o frames --start 100 --end 149',
              '                    a Supervisely video; credentials from ~/supervisely.env',
            ].join('\n'),
          ),
      (args) => run(args.verbose as boolean, args, () => runFrames(args, io)),
    )
    .command<ProbeArgs>(
      'probe [source]',
      'Describe a video: codec, size, frame count, fps, duration, B-frames, rotation',
      (y) =>
        sourceOptions(y)
          .usage('Usage:\n  $0 probe <url|path> [options]\n  $0 probe --video-id N [options]\n\nPrint what you need before choosing a range. Reads only the container header, unless --count-frames.')
          .option('count-frames', { type: 'boolean', default: false, describe: 'Count the frames exactly (MP4 sample tables, or every packet read; no decoding)', group: 'Probe:' })
          .option('json', { type: 'boolean', default: false, describe: 'Print the description as one JSON object', group: DISPLAY_GROUP })
          .option('verbose', { type: 'boolean', default: false, describe: "Let FFmpeg's own warnings through", group: DISPLAY_GROUP })
          .epilog(['Examples:', '  framepipe probe https://example.com/clip.mp4', '  framepipe probe --video-id 12345 --count-frames'].join('\n')),
      (args) => run(args.verbose as boolean, args, () => runProbe(args, io)),
    )
    .demandCommand(1, 'Name a command: frames or probe')
    .strict()
    .help()
    .alias('help', 'h')
    .version(false)
    .epilog('Exit codes: 0 done, 1 the run failed, 2 bad usage or option, 130 interrupted (Ctrl-C).\nRun "framepipe <command> --help" for the options of a command.')
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
    io.stderr.write(`ERR_FRAMEPIPE_USAGE ${message}\nRun framepipe --help for usage.\n`);
    exitCode = EXIT.usage;
  }

  /** Runs a command once its video arguments make sense. */
  async function run(verbose: boolean, args: SourceArgs, command: () => Promise<number>): Promise<void> {
    // With exitProcess(false), yargs reports a strict-mode failure (an unknown flag) and still calls the handler.
    if (exitCode === EXIT.usage) return;
    const problem = checkSourceArgs(args);
    if (problem !== true) return usage(problem);
    // FFmpeg reports recoverable decoder complaints (e.g. right after a seek) on stderr; they are not errors here.
    Log.setLevel(verbose ? AV_LOG_WARNING : AV_LOG_FATAL);
    exitCode = await command();
  }
}

/** The options that choose the video, shared by every command. */
function sourceOptions<T>(y: Argv<T>) {
  return y
    .positional('source', { type: 'string', describe: 'http(s) URL or local path of the video' })
    .option('video-id', { type: 'number', requiresArg: true, describe: 'Supervisely video id, instead of <source>', group: SOURCE_GROUP })
    .option('server-address', {
      type: 'string',
      requiresArg: true,
      describe: 'Supervisely address [default: SERVER_ADDRESS from the environment, ./local.env or ~/supervisely.env]',
      group: SOURCE_GROUP,
    })
    .option('api-token', { type: 'string', requiresArg: true, describe: 'Supervisely API token [default: API_TOKEN, found as above]', group: SOURCE_GROUP })
    .option('header', { type: 'string', array: true, requiresArg: true, describe: 'HTTP request header "Name: value" (repeatable)', group: SOURCE_GROUP })
    .option('timeout', { type: 'number', requiresArg: true, describe: 'Seconds a request may wait for a byte [default: 30]', group: SOURCE_GROUP })
    .option('retries', {
      type: 'number',
      requiresArg: true,
      describe: 'Retries of a failed HTTP request, resuming at the byte where it stopped [default: 5]',
      group: SOURCE_GROUP,
    });
}

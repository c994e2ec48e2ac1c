import { probeVideo } from '@framepipe/core';
import type { VideoProbe } from '@framepipe/core';
import type { CommandModule } from 'yargs';
import { DISPLAY_GROUP, DISPLAY_OPTIONS, STREAM_FLAG, optionsFromFlags, yargsOptions } from './flags.ts';
import { runVideoCommand } from './command-run.ts';
import type { CommandRun } from './command-run.ts';
import { EXIT, announceRetries, reportFailure } from './report.ts';
import type { CliIo } from './report.ts';
import { chooseVideo, sourceOptions } from './video-source.ts';
import type { SourceArgs } from './video-source.ts';

export interface ProbeArgs extends SourceArgs {
  'count-frames': boolean;
  json: boolean;
}

/** `framepipe probe`: what a user needs before choosing a range. */
export async function runProbe(args: ProbeArgs, io: CliIo): Promise<number> {
  let video: Awaited<ReturnType<typeof chooseVideo>> | undefined;
  const stopAnnouncing = announceRetries(io);
  try {
    video = await chooseVideo(args);
    const info = await probeVideo(video.input, {
      countFrames: args['count-frames'],
      ...optionsFromFlags([STREAM_FLAG], args),
      ...video.options,
      signal: io.signal,
    });
    io.stdout.write(args.json ? `${JSON.stringify(info)}\n` : describe(info));
    return EXIT.ok;
  } catch (error) {
    return reportFailure(error, io, args.json, args);
  } finally {
    stopAnnouncing();
    await video?.close();
  }
}

/** The probe as aligned `name  value` lines. */
function describe(info: VideoProbe): string {
  const rows: Array<[string, string]> = [
    ['Source', `${info.source} (${info.bytes.toLocaleString('en-US')} bytes)`],
    ['Container', info.format],
    ...(info.videoStreams > 1 ? [['Stream', `video stream ${info.stream} of ${info.videoStreams} (--stream N picks another, from 0)`] as [string, string]] : []),
    ['Codec', info.pixelFormat ? `${info.codec} (${info.pixelFormat})` : info.codec],
    ['Size', `${info.width}x${info.height}`],
    ['Frames', frames(info)],
    ['Frame rate', info.fps === null ? 'unknown' : `${Number(info.fps.toFixed(3))} fps`],
    ['Duration', info.duration === null ? 'unknown' : `${info.duration.toFixed(3)} s`],
    ['B-frames', info.hasBFrames ? 'yes' : 'no'],
    ['Rotation', rotation(info.rotation)],
    ...(info.truncated ? [['Warning', info.truncated] as [string, string]] : []),
  ];
  const width = Math.max(...rows.map(([name]) => name.length)) + 2;
  return rows.map(([name, value]) => `${name.padEnd(width)}${value}\n`).join('');
}

/**
 * The turn a player makes, in the words and numbers users meet elsewhere: `info.rotation` is counter-clockwise in
 * [0, 360); ffprobe shows the display matrix's angle between -180 and 180 (270 is -90 there), and phones write
 * the clockwise turn as the `rotate` tag (90).
 */
function rotation(degrees: number): string {
  if (degrees === 0) return '0 (none)';
  const matrix = degrees >= 180 ? degrees - 360 : degrees;
  const tag = (360 - degrees) % 360;
  const turn = matrix === -180 ? '180°' : matrix < 0 ? `${-matrix}° clockwise` : `${matrix}° counter-clockwise`;
  return `${turn} to show upright (display matrix ${matrix}, rotate tag ${tag}); frames are saved as stored unless --autorotate`;
}

function frames(info: VideoProbe): string {
  if (info.frameCount === null) return 'unknown (--count-frames reads the file to count them)';
  const hidden = info.framesHidden > 0 ? `; ${info.frameCount + info.framesHidden} in the file: the edit list hides ${info.framesHidden} before frame 0` : '';
  const last = `frame numbers 0-${info.frameCount - 1}${hidden}`;
  switch (info.frameCountFrom) {
    case 'counted':
      return `${info.frameCount}, counted (${last})`;
    case 'estimate':
      return `about ${info.frameCount}, estimated from the duration (--count-frames for the exact number)`;
    default:
      return `${info.frameCount}, as the container ${hidden ? 'tables give them' : 'states'} (${last}; --count-frames to count)`;
  }
}

/** The options and handler of `framepipe probe`. */
export function probeCommand(run: CommandRun): Pick<CommandModule<object, ProbeArgs>, 'builder' | 'handler'> {
  return {
    builder: (y) =>
      sourceOptions(y)
        .usage('Usage:\n  $0 probe <url|path> [options]\n  $0 probe --video-id N [options]\n\nPrint what you need before choosing a range. Reads only the container header, unless --count-frames.')
        .options(yargsOptions([STREAM_FLAG]))
        .option('count-frames', { type: 'boolean', default: false, describe: 'Count the frames exactly (MP4 sample tables, or every packet read; no decoding)', group: 'Probe:' })
        .option('json', { type: 'boolean', default: false, describe: 'Print the description as one JSON object', group: DISPLAY_GROUP })
        .option('verbose', DISPLAY_OPTIONS.verbose!)
        .epilog(['Examples:', '  framepipe probe https://example.com/clip.mp4', '  framepipe probe --video-id 12345 --count-frames'].join('\n')) as never,
    handler: (args) => runVideoCommand(run, args.verbose as boolean, args, () => runProbe(args, run.io)),
  };
}

import type { ByteSourceInput } from '@framepipe/core';
import type { SuperviselyApi } from '@framepipe/supervisely';
import { checkInteger } from '@framepipe/common';
import type { Argv } from 'yargs';
import { SOURCE_FLAGS, SOURCE_GROUP, credentialOptions, numberAsText, optionsFromFlags, yargsOptions } from './flags.ts';

/** The flags that say which video to read, shared by every command (and those of {@link SOURCE_FLAGS}). */
export interface SourceArgs {
  source?: string | undefined;
  'video-id'?: number | undefined;
  'server-address'?: string | undefined;
  'api-token'?: string | undefined;
  [flag: string]: unknown;
}

/** The video to read, and what to release when done with it. */
export interface ChosenVideo {
  input: ByteSourceInput;
  /**
   * How to read it, for the library call: `--header`, `--timeout` (in ms), `--retries` and the cache limits for a
   * URL. A Supervisely source already carries them, so they are not given a second time.
   */
  options: { headers?: Record<string, string>; timeout?: number; retries?: number; cacheMemory?: number; cacheDisk?: number };
  /** Closes a Supervisely source; nothing to do for a URL or path, which the library opens and closes. */
  close(): Promise<void>;
}

/**
 * A URL or path, or a Supervisely video id resolved with credentials from the flags, the environment,
 * `./local.env` and `~/supervisely.env` (in that order).
 */
export async function chooseVideo(args: SourceArgs): Promise<ChosenVideo> {
  const options = optionsFromFlags(SOURCE_FLAGS, args) as ChosenVideo['options'];
  const videoId = args['video-id'];
  if (videoId === undefined) {
    return { input: args.source as string, options, close: async () => {} };
  }
  // A mistyped id is a usage error, whatever the credentials: say so before looking for them.
  checkInteger('videoId', videoId, 1);
  const source = (await superviselyApi(args, options.timeout)).videoSource(videoId, options);
  return { input: source, options: {}, close: () => source.close() };
}

/** The Supervisely connection of `--server-address` and `--api-token`, else of the environment and env files. */
export async function superviselyApi(args: SourceArgs, timeout: number | undefined): Promise<SuperviselyApi> {
  // Loaded only for a Supervisely video: a URL or path never needs it.
  const { SuperviselyApi } = await import('@framepipe/supervisely');
  return SuperviselyApi.fromEnv({
    ...(args['server-address'] !== undefined ? { serverAddress: args['server-address'] } : {}),
    ...(args['api-token'] !== undefined ? { token: args['api-token'] } : {}),
    ...(timeout !== undefined ? { timeout } : {}),
  });
}

/**
 * Checks that exactly one of `<source>` and `--video-id` is given, and the Supervisely flags only with an id.
 * Returns true, or what is wrong (yargs reports it as a usage error).
 */
export function checkSourceArgs(args: SourceArgs): true | string {
  const hasSource = args.source !== undefined && args.source !== '';
  const hasId = args['video-id'] !== undefined;
  if (hasSource && hasId) return 'Give either a <source> or --video-id, not both';
  if (!hasSource && !hasId) return 'Give a <source> (URL or path) or --video-id N';
  if (!hasId && (args['server-address'] !== undefined || args['api-token'] !== undefined)) {
    return '--server-address and --api-token go with --video-id';
  }
  return true;
}

/** The options that choose the video, shared by every command that reads one. */
export function sourceOptions<T>(y: Argv<T>) {
  return y
    .positional('source', { type: 'string', describe: 'http(s) URL or local path of the video' })
    .option('video-id', numberAsText({ type: 'number', requiresArg: true, describe: 'Supervisely video id, instead of <source>', group: SOURCE_GROUP }))
    .options(credentialOptions(SOURCE_GROUP))
    .options(yargsOptions(SOURCE_FLAGS));
}

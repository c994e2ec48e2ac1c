import type { ByteSourceInput } from '@framepipe/core';
import { SuperviselyApi } from '@framepipe/supervisely';
import { checkInteger } from '@framepipe/common';
import { SOURCE_FLAGS, optionsFromFlags } from './flags.ts';

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
export function chooseVideo(args: SourceArgs): ChosenVideo {
  const options = optionsFromFlags(SOURCE_FLAGS, args) as ChosenVideo['options'];
  const videoId = args['video-id'];
  if (videoId === undefined) {
    return { input: args.source as string, options, close: async () => {} };
  }
  // A mistyped id is a usage error, whatever the credentials: say so before looking for them.
  checkInteger('videoId', videoId, 1);
  const source = superviselyApi(args, options.timeout).videoSource(videoId, options);
  return { input: source, options: {}, close: () => source.close() };
}

/** The Supervisely connection of `--server-address` and `--api-token`, else of the environment and env files. */
export function superviselyApi(args: SourceArgs, timeout: number | undefined): SuperviselyApi {
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

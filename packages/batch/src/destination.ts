import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { ErrorCode, FramepipeError, ResumeMismatchError } from '@framepipe/common';
import { streamVideoFramesToDir } from '@framepipe/core';
import { removeStaleTemporaries, temporaryName, unreadableAdvice } from '@framepipe/sink';
import type { ByteSourceInput, RunStats, StreamToDirOptions } from '@framepipe/core';

/**
 * The options a destination writes one video with: every option of `streamVideoFramesToDir` but `resume` and
 * `overwrite` (a destination always keeps complete frames already there and writes only the missing ones), with
 * `stats` and `progress` always given. `progress` (called with `1` after each frame written) and `reused` count what
 * was written and kept, for every destination; `stats` holds the figures of the decode (a directory's also counts
 * its files).
 */
export interface VideoWriteOptions extends Omit<StreamToDirOptions, 'resume' | 'overwrite' | 'stats' | 'progress'> {
  stats: RunStats;
  progress: (count: number) => void;
  /**
   * Called once, before the writeVideo call settles (it failed or not), with how many frames of the selection were
   * already there and are kept as they were.
   */
  reused?: ((count: number) => void) | undefined;
}

/** The options {@link FrameDestination.prepare} checks: those of every video it will write. */
export type DestinationCheckOptions = Omit<VideoWriteOptions, 'stats' | 'progress' | 'reused'>;

/**
 * Where a batch puts its frames: a directory ({@link DirDestination}), or a bucket of object storage
 * ({@link S3Destination}); {@link openDestination} opens the one an `out` names.
 */
export interface FrameDestination {
  /** Where it writes, as shown to people: an absolute path, or `s3://bucket/prefix`. */
  readonly location: string;
  /**
   * Checks, before any video runs, that videos can be written with `options` and that the destination can be
   * written: creates a directory if missing, lists a bucket (a bucket that does not exist fails here). Rejects with
   * `ERR_FRAMEPIPE_INVALID_OPTION` for an option the destination cannot honour.
   */
  prepare(options?: DestinationCheckOptions): Promise<void>;
  /** Where the frames of the video `name` go: `<location>/<name>`. */
  videoLocation(name: string): string;
  /**
   * Writes the selected frames of `source` (a URL, a path, `{ url, headers }`, or a `ByteSource` it does not close,
   * such as a Supervisely video's) under `<location>/<name>/` as `frame_<index:06d>.<ext>`, keeping the
   * complete frames already there, and resolves with how many frames of the selection are there once it ends.
   * A frame appears whole or not at all.
   */
  writeVideo(source: ByteSourceInput, name: string, options: VideoWriteOptions): Promise<number>;
  /** Writes `<location>/<fileName>` whole or not at all, and resolves with where it went (a path or a URL). */
  writeReport(fileName: string, text: string): Promise<string>;
  /** Lets go of what it holds (the connections of a client it made); it writes no more after. */
  close(): Promise<void>;
}

/** A directory on this machine, or a shared mount every worker sees. */
export class DirDestination implements FrameDestination {
  readonly location: string;

  constructor(dir: string) {
    this.location = resolve(dir);
  }

  /** Creates the directory if missing. */
  async prepare(): Promise<void> {
    await mkdir(this.location, { recursive: true });
  }

  videoLocation(name: string): string {
    return join(this.location, name);
  }

  async writeVideo(source: ByteSourceInput, name: string, options: VideoWriteOptions): Promise<number> {
    const { reused, progress, ...dirOptions } = options;
    let counted = 0;
    const count = () => {
      counted++;
      progress(1);
    };
    try {
      const paths = await streamVideoFramesToDir(source, this.videoLocation(name), { ...dirOptions, progress: count, resume: true });
      return paths.length;
    } catch (error) {
      throw batchAdvice(error);
    } finally {
      // Files that complete while a stopped run winds down are kept but get no progress call: count them too.
      while (counted < options.stats.framesDelivered) count();
      reused?.(options.stats.framesReused);
    }
  }

  async writeReport(fileName: string, text: string): Promise<string> {
    const path = join(this.location, fileName);
    await writeAtomically(path, text);
    return path;
  }

  async close(): Promise<void> {}
}

/** What a batch can do about a video whose files were written with other options: it always resumes, never overwrites. */
export const BATCH_RESUME_ADVICE =
  "a batch keeps the files a video already has and writes only the missing ones; give the options of the run that wrote them, or remove that video's files (or write the batch elsewhere) to write every file again";

/** What a batch can do about a kept file (`path`) that holds no image: remove it, and the batch writes it again. */
export const batchUnreadableAdvice = (path: string) => unreadableAdvice(path, 'run the batch again');

/**
 * A video of a batch that would keep files of other options (another size or pixel format), or a file that holds no
 * image, fails with a batch's remedies.
 */
function batchAdvice(error: unknown): unknown {
  if (!(error instanceof ResumeMismatchError)) return error;
  return error.withAdvice(error.options.length > 0 ? BATCH_RESUME_ADVICE : batchUnreadableAdvice(error.path!));
}

let reports = 0;

/**
 * Writes a temporary file beside `path`, then renames it: readers see the old file or the whole new one. The
 * temporary file is named as the sink names its own (hidden, with the writer's process and place), so that what a
 * writer killed in the middle left is removed by the next one, as a frame's is.
 */
async function writeAtomically(path: string, text: string): Promise<void> {
  const directory = dirname(path);
  await removeStaleTemporaries(directory);
  const temporary = join(directory, temporaryName(basename(path), ++reports));
  try {
    await writeFile(temporary, text);
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw new FramepipeError(ErrorCode.WRITE_FAILED, `Cannot write ${path}: ${(error as Error).message}`, { path, cause: error });
  }
}

import { readdir, rm } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { FramepipeError, ErrorCode } from '@framepipe/common';

/** `frame_<index:06d>.<ext>`, Supervisely's file name. */
export function frameFileName(index: number, ext: string): string {
  return `frame_${String(index).padStart(6, '0')}.${ext}`;
}

/**
 * The hidden name a file of the directory is written under before it is renamed to `name`: it keeps the extension
 * (for tools that pick the format from it) and names the writing process, so that a later run can tell a file
 * left by a process that was killed from one that a running process is still writing.
 */
export function temporaryName(name: string, sequence: number, pid = process.pid): string {
  return `.${name}.${pid}-${sequence}.partial${extname(name)}`;
}

const TEMPORARY = /^\.(.+)\.(\d+)-\d+\.partial(\.\w+)?$/;

/**
 * The frame numbers whose final file `frame_<index:06d>.<ext>` is in `directory`, sorted; none when the directory
 * does not exist. A final name only ever appears by renaming a complete file, so each of these files is whole;
 * temporary files are never counted.
 *
 * @example
 * const done = await findFrameFiles('/tmp/frames', 'png'); // [0, 1, 2, 5]
 */
export async function findFrameFiles(directory: string, ext: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await entriesOf(directory)) {
    const match = /^frame_(\d{6,})\.(\w+)$/.exec(entry.name);
    if (!match || match[2] !== ext || !entry.isFile()) continue;
    const index = Number(match[1]);
    // `frame_0000012.png` is not a name the sink writes.
    if (Number.isSafeInteger(index) && frameFileName(index, ext) === entry.name) found.push(index);
  }
  return found.sort((a, b) => a - b);
}

/**
 * Removes the temporary files (`.frame_….partial.<ext>`, `.frames.jsonl.….partial.jsonl`) that a writer left in
 * `directory` when its process was killed before it could clean up. Files of a process that is still running
 * (this one included) are left alone: they may be renamed any moment. Resolves with the names removed.
 *
 * @example
 * await removeStaleTemporaries('/tmp/frames'); // ['.frame_000007.png.41235-8.partial.png']
 */
export async function removeStaleTemporaries(directory: string): Promise<string[]> {
  const removed: string[] = [];
  for (const entry of await entriesOf(directory)) {
    const match = TEMPORARY.exec(entry.name);
    if (!match || !entry.isFile() || isRunning(Number(match[2]))) continue;
    // Cleaning up is a courtesy: a file that cannot be removed is left (and never counted as a frame).
    const gone = await rm(join(directory, entry.name), { force: true }).then(() => true, () => false);
    if (gone) removed.push(entry.name);
  }
  return removed;
}

async function entriesOf(directory: string) {
  try {
    return await readdir(directory, { withFileTypes: true });
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw writeFailed(directory, `Cannot read the output directory ${directory}`, cause);
  }
}

/** The error of anything the sink cannot do in its directory: `message`, then the cause's own, with both at hand. */
export function writeFailed(path: string, message: string, cause: unknown): FramepipeError {
  const reason = cause instanceof Error ? `: ${cause.message}` : '';
  return new FramepipeError(ErrorCode.WRITE_FAILED, `${message}${reason}`, { path, cause });
}

/** True when a process with this id exists (a signal 0 probes without sending anything). */
function isRunning(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

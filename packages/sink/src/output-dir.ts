import { readdir, rm } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { FramepipeError, ErrorCode } from '@framepipe/common';
import { IMAGE_EXTENSIONS } from './frame-encoder.ts';
import { MANIFEST_FILE_NAME } from './manifest.ts';

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

/** A frame file of an output directory: `frame_<index:06d>.<ext>`, in one of the formats the sink writes. */
export interface FrameFile {
  /** The file name, e.g. `frame_000012.png`. */
  readonly name: string;
  readonly index: number;
  readonly ext: string;
}

const FRAME_FILE = /^frame_(\d{6,})\.(\w+)$/;

/**
 * Every frame file in `directory`, whatever its format (`png`, `jpg`, `jpeg`, `webp`), sorted by frame number, then
 * name; none when the directory does not exist. Only the names the sink writes count: never a temporary file, nor
 * another file that happens to start with `frame_`.
 *
 * @example
 * const files = await listFrameFiles('/tmp/frames'); // [{ name: 'frame_000000.png', index: 0, ext: 'png' }, ...]
 */
export async function listFrameFiles(directory: string): Promise<FrameFile[]> {
  const found: FrameFile[] = [];
  for (const entry of await entriesOf(directory)) {
    const file = parseFrameFileName(entry.name);
    if (file && entry.isFile()) found.push(file);
  }
  return found.sort((a, b) => a.index - b.index || (a.name < b.name ? -1 : 1));
}

/**
 * The frame file that `name` names, exactly as the sink writes it (`frame_<index:06d>.<ext>` in one of its
 * formats); null for any other name: a temporary file, `frame_0000012.png`, `frame_000012.gif`. A store of frames
 * that is no directory (object storage, say) reads its listing with it.
 *
 * @example
 * parseFrameFileName('frame_000012.png'); // { name: 'frame_000012.png', index: 12, ext: 'png' }
 */
export function parseFrameFileName(name: string): FrameFile | null {
  const match = FRAME_FILE.exec(name);
  if (!match || !(IMAGE_EXTENSIONS as readonly string[]).includes(match[2]!)) return null;
  const index = Number(match[1]);
  const ext = match[2]!;
  // `frame_0000012.png` is not a name the sink writes.
  return Number.isSafeInteger(index) && frameFileName(index, ext) === name ? { name, index, ext } : null;
}

/**
 * The frame numbers whose final file `frame_<index:06d>.<ext>` is in `directory`, sorted; none when the directory
 * does not exist. A final name only ever appears by renaming a complete file, so each of these files is whole;
 * temporary files are never counted.
 *
 * @example
 * const done = await findFrameFiles('/tmp/frames', 'png'); // [0, 1, 2, 5]
 */
export async function findFrameFiles(directory: string, ext: string): Promise<number[]> {
  return (await listFrameFiles(directory)).filter((file) => file.ext === ext).map((file) => file.index);
}

/**
 * Removes what the sink writes from `directory`, and nothing else: every frame file of {@link listFrameFiles}, the
 * manifest, and the temporary files of writers that are no longer running. Resolves with the frame files removed.
 *
 * @example
 * await clearFrameFiles('/tmp/frames'); // [{ name: 'frame_000000.png', index: 0, ext: 'png' }, ...]
 */
export async function clearFrameFiles(directory: string): Promise<FrameFile[]> {
  const files = await listFrameFiles(directory);
  const remove = async (name: string) => {
    const path = join(directory, name);
    await rm(path, { force: true }).catch((cause: unknown) => {
      throw writeFailed(path, `Cannot remove ${path}`, cause);
    });
  };
  for (const file of files) await remove(file.name);
  await remove(MANIFEST_FILE_NAME);
  await removeStaleTemporaries(directory);
  return files;
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

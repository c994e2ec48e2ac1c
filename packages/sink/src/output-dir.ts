import { createHash } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { extname, join } from 'node:path';
import { FramepipeError, ErrorCode } from '@framepipe/common';
import { MANIFEST_FILE_NAME } from './manifest.ts';
import { NameTemplate } from './name-template.ts';
import type { FrameFile } from './name-template.ts';

/**
 * The name of frame `index`'s file in format `ext`: by `template` (see {@link NameTemplate}), by default
 * `frame_<index:06d>.<ext>`, Supervisely's file name.
 *
 * @example
 * frameFileName(12, 'png'); // 'frame_000012.png'
 * frameFileName(12, 'jpg', 'img_{index:05}.{ext}'); // 'img_00012.jpg'
 */
export function frameFileName(index: number, ext: string, template: NameTemplate | string = NameTemplate.DEFAULT): string {
  return NameTemplate.from(template).format(index, ext);
}

/**
 * Where this process's ids mean something: its host and (on Linux) its pid namespace, as 8 hex digits. A process id
 * found in a temporary name can be checked only by a process of the same place: on a directory shared by machines or
 * containers, another writer's pid is not one of ours, alive or not.
 */
export const WRITER_PLACE = (() => {
  let namespace = '';
  try {
    namespace = readlinkSync('/proc/self/ns/pid');
  } catch {
    // No /proc (macOS, Windows): the host name alone.
  }
  return createHash('sha256').update(`${hostname()}\0${namespace}`).digest('hex').slice(0, 8);
})();

/**
 * How old a temporary file of a writer of another place (see {@link WRITER_PLACE}) must be before it is taken for one
 * left by a writer that was killed: its process cannot be asked, and a live writer keeps a temporary file only for
 * the time it takes to write one frame.
 */
export const FOREIGN_TEMPORARY_MS = 60_000;

/**
 * The hidden name a file of the directory is written under before it is renamed to `name`: it keeps the extension
 * (for tools that pick the format from it) and names the writing process and where it runs ({@link WRITER_PLACE}),
 * so that a later run can tell a file left by a process that was killed from one that a running process is still
 * writing, also on a directory that several machines share.
 */
export function temporaryName(name: string, sequence: number, pid = process.pid): string {
  return `.${name}.${pid}-${sequence}@${WRITER_PLACE}.partial${extname(name)}`;
}

// Names without `@place` are those of an earlier version, written on this machine.
const TEMPORARY = /^\.(.+)\.(\d+)-\d+(?:@([0-9a-f]{8}))?\.partial(\.\w+)?$/;

/**
 * Every frame file in `directory` named by `template` (by default `frame_<index:06d>.<ext>`), whatever its format
 * (`png`, `jpg`, `jpeg`, `webp`), sorted by frame number, then name; none when the directory does not exist. Only the
 * names the sink writes count: never a temporary file, nor another file that happens to look like one
 * (`frame_0000012.png`).
 *
 * @example
 * const files = await listFrameFiles('/tmp/frames'); // [{ name: 'frame_000000.png', index: 0, ext: 'png' }, ...]
 * await listFrameFiles('/tmp/frames', 'img_{index:05}.{ext}'); // [{ name: 'img_00000.png', index: 0, ext: 'png' }, ...]
 */
export async function listFrameFiles(directory: string, template: NameTemplate | string = NameTemplate.DEFAULT): Promise<FrameFile[]> {
  const names = NameTemplate.from(template);
  const found: FrameFile[] = [];
  for (const entry of await entriesOf(directory)) {
    const file = names.parse(entry.name);
    if (file && entry.isFile()) found.push(file);
  }
  return found.sort((a, b) => a.index - b.index || (a.name < b.name ? -1 : 1));
}

/**
 * The frame file that `name` names, exactly as the sink writes it by `template` (by default
 * `frame_<index:06d>.<ext>`) in one of its formats; null for any other name: a temporary file, `frame_0000012.png`,
 * `frame_000012.gif`. A store of frames that is no directory (object storage, say) reads its listing with it.
 *
 * @example
 * parseFrameFileName('frame_000012.png'); // { name: 'frame_000012.png', index: 12, ext: 'png' }
 */
export function parseFrameFileName(name: string, template: NameTemplate | string = NameTemplate.DEFAULT): FrameFile | null {
  return NameTemplate.from(template).parse(name);
}

/**
 * The frame numbers whose final file (named by `template`, by default `frame_<index:06d>.<ext>`) in format `ext` is in
 * `directory`, sorted; none when the directory does not exist. A final name only ever appears by renaming a complete
 * file, so each of these files is whole; temporary files are never counted.
 *
 * @example
 * const done = await findFrameFiles('/tmp/frames', 'png'); // [0, 1, 2, 5]
 */
export async function findFrameFiles(directory: string, ext: string, template: NameTemplate | string = NameTemplate.DEFAULT): Promise<number[]> {
  return (await listFrameFiles(directory, template)).filter((file) => file.ext === ext).map((file) => file.index);
}

/**
 * Removes what the sink writes from `directory`, and nothing else: the frame files that `template` or the default
 * template (`frame_<index:06d>.<ext>`) names, the manifest, and the temporary files of writers that are no longer
 * running. Resolves with the frame files removed.
 *
 * @example
 * await clearFrameFiles('/tmp/frames'); // [{ name: 'frame_000000.png', index: 0, ext: 'png' }, ...]
 */
export async function clearFrameFiles(directory: string, template: NameTemplate | string = NameTemplate.DEFAULT): Promise<FrameFile[]> {
  const names = NameTemplate.from(template);
  const files = await listFrameFiles(directory, names);
  if (names.template !== NameTemplate.DEFAULT.template) {
    // A name both templates write is removed once.
    const own = new Set(files.map((file) => file.name));
    files.push(...(await listFrameFiles(directory)).filter((file) => !own.has(file.name)));
    files.sort((a, b) => a.index - b.index || (a.name < b.name ? -1 : 1));
  }
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
 * (this one included) are left alone: they may be renamed any moment. A file written by a process of another
 * machine or container (a shared directory) is removed only once it is a minute old, since that process cannot be
 * asked. Resolves with the names removed.
 *
 * @example
 * await removeStaleTemporaries('/tmp/frames'); // ['.frame_000007.png.41235-8.partial.png']
 */
export async function removeStaleTemporaries(directory: string): Promise<string[]> {
  const removed: string[] = [];
  for (const entry of await entriesOf(directory)) {
    const match = TEMPORARY.exec(entry.name);
    if (!match || !entry.isFile()) continue;
    const place = match[3] ?? WRITER_PLACE;
    if (place === WRITER_PLACE ? isRunning(Number(match[2])) : !(await olderThan(join(directory, entry.name), FOREIGN_TEMPORARY_MS))) continue;
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

/** True when the file at `path` was last written more than `ms` ago (false when it is gone). */
async function olderThan(path: string, ms: number): Promise<boolean> {
  const info = await stat(path).catch(() => null);
  return info !== null && Date.now() - info.mtimeMs > ms;
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

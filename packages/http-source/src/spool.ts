import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AbortError } from '@framepipe/common';

/** The prefix of the temporary directories that hold spooled downloads, in `os.tmpdir()`. */
export const SPOOL_PREFIX = 'framepipe-spool-';

/**
 * A download kept in a temporary file while it arrives, for a server that ignores Range requests: the bytes can
 * only come in order, from the first, so they are written to disk and every read is served from there as soon as
 * its bytes have landed. A reader of the start of the file does not wait for the rest; a reader of the end does.
 *
 * The owner feeds it with {@link Spool.append} and ends it with {@link Spool.finish} or {@link Spool.fail};
 * {@link Spool.close} removes the file.
 */
export class Spool {
  /** The temporary file. */
  readonly path: string;
  readonly #directory: string;
  readonly #writer: WriteStream;
  #reader: Promise<FileHandle> | undefined;
  /** Bytes handed to the writer: where a resumed download continues. */
  #appended = 0;
  /** Bytes the writer has flushed to the file: what reads may use. */
  #stored = 0;
  #size: number | null = null;
  #finished = false;
  #failure: Error | null = null;
  #closed = false;
  readonly #waiters = new Set<() => void>();

  private constructor(directory: string) {
    this.#directory = directory;
    this.path = join(directory, 'download');
    this.#writer = createWriteStream(this.path, { flags: 'w' });
    this.#writer.on('error', (error) => this.fail(error));
  }

  /** Creates the temporary file in a fresh directory of `os.tmpdir()`. */
  static async create(): Promise<Spool> {
    return new Spool(await mkdtemp(join(tmpdir(), SPOOL_PREFIX)));
  }

  /** Bytes received so far, stored or on their way to the file. */
  get appended(): number {
    return this.#appended;
  }

  /** The total size once known (from the answer's length, or from the end of the download), else null. */
  get size(): number | null {
    return this.#size;
  }

  /** Sets the total size as the server announced it. */
  expectSize(size: number): void {
    this.#size = size;
    this.#wake();
  }

  /**
   * Appends the next bytes of the file. Resolves at once while the writer keeps up, or once it has drained, so the
   * owner can pause the download meanwhile.
   */
  append(chunk: Buffer): Promise<void> | undefined {
    if (this.#closed || this.#failure) return undefined;
    this.#appended += chunk.length;
    const ready = this.#writer.write(chunk, (error) => {
      if (error) return;
      this.#stored += chunk.length;
      this.#wake();
    });
    if (ready) return undefined;
    return new Promise((resolve) => this.#writer.once('drain', resolve));
  }

  /** Marks the download complete: the size is what arrived. */
  finish(): void {
    if (this.#failure) return;
    this.#size = this.#appended;
    this.#finished = true;
    this.#wake();
  }

  /** Ends the download with an error that every waiting and later read rejects with. */
  fail(error: Error): void {
    this.#failure ??= error;
    this.#wake();
  }

  /** Resolves once the size is known (the download may still be running). */
  async whenSized(signal?: AbortSignal): Promise<number> {
    await this.#until(() => this.#size !== null, signal);
    return this.#size!;
  }

  /** Reads bytes `start` to `end` (exclusive), waiting until they are in the file. */
  async read(start: number, end: number, signal?: AbortSignal): Promise<Buffer> {
    await this.#until(() => this.#stored >= end || (this.#finished && this.#stored >= this.#appended), signal);
    const last = Math.min(end, this.#stored);
    if (start >= last) return Buffer.alloc(0);
    this.#reader ??= open(this.path, 'r');
    const handle = await this.#reader;
    const buffer = Buffer.allocUnsafe(last - start);
    let filled = 0;
    while (filled < buffer.length) {
      const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, start + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return filled === buffer.length ? buffer : buffer.subarray(0, filled);
  }

  /** Stops accepting bytes, rejects waiting reads, and removes the temporary file. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.fail(new AbortError(new Error('spool closed')));
    await new Promise<void>((resolve) => this.#writer.end(resolve));
    const reader = this.#reader;
    this.#reader = undefined;
    await reader?.then((handle) => handle.close()).catch(() => {});
    await rm(this.#directory, { recursive: true, force: true });
  }

  /** Waits until `ready()` holds, the spool fails, or the signal fires. */
  #until(ready: () => boolean, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (signal?.aborted) done(new AbortError(signal.reason));
        else if (ready()) done(null);
        else if (this.#failure) done(this.#failure);
      };
      const done = (error: Error | null): void => {
        this.#waiters.delete(check);
        signal?.removeEventListener('abort', check);
        if (error) reject(error);
        else resolve();
      };
      this.#waiters.add(check);
      signal?.addEventListener('abort', check, { once: true });
      check();
    });
  }

  #wake(): void {
    for (const check of [...this.#waiters]) check();
  }
}

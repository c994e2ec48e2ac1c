import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AbortError, ErrorCode, FramepipeError, checkInteger, invalidOption, throwIfAborted, SharedAttempt } from '@framepipe/common';
import type { ByteSource } from './byte-source.ts';
import { ByteStream, type ByteStreamOptions } from './byte-stream.ts';

/**
 * A {@link ByteSource} over a local file: the same interface as {@link HttpSource}, read with positional reads
 * on one file descriptor (no cache needed, the OS has one).
 *
 * Opening and reading are synchronous, on the calling thread. The demuxer asks for bytes from a thread of libuv's
 * pool and waits there for them; with as many videos demuxed at once as the pool has threads (4 by default), an
 * asynchronous read would wait for a pool thread that none of them gives back, and every video would stop.
 *
 * @example
 * const source = new FileSource('./videos/clip.mp4');
 * await source.open();
 * const tail = await source.read(source.size - 1024, 1024);
 * await source.close();
 */
export class FileSource implements ByteSource {
  /** The absolute path of the file. */
  readonly path: string;
  /** The absolute path, as it appears in messages and errors. */
  readonly description: string;
  #fd: number | undefined;
  #size = -1;
  #bytesRead = 0;
  readonly #opening = new SharedAttempt();
  #closed = false;

  /** @param file a path (resolved against the working directory) or a `file:` URL. */
  constructor(file: string | URL) {
    if (file instanceof URL && file.protocol === 'file:') this.path = fileURLToPath(file);
    else if (typeof file === 'string' && file !== '') this.path = path.resolve(file);
    else throw invalidOption('path', 'a file path or a file: URL', file);
    this.description = this.path;
  }

  /** Size of the file when it was opened. Throws before {@link FileSource.open} resolved. */
  get size(): number {
    if (this.#size < 0) throw new Error(`FileSource.size is known only after open() has resolved (${this.path})`);
    return this.#size;
  }

  /** Bytes read from the file so far. */
  get bytesRead(): number {
    return this.#bytesRead;
  }

  /** Opens the file and learns its size. Idempotent; a failed open may be retried. */
  open(signal?: AbortSignal): Promise<void> {
    if (this.#closed) return Promise.reject(new AbortError(new Error(`FileSource closed (${this.path})`)));
    return this.#opening.run(() => this.#openNow(signal));
  }

  /** Reads `length` bytes at `offset` (fewer only at the end, none at or past it). Opens the file if needed. */
  async read(offset: number, length: number, signal?: AbortSignal): Promise<Buffer> {
    checkInteger('offset', offset, 0);
    checkInteger('length', length, 0);
    await this.open(signal);
    throwIfAborted(signal);
    const fd = this.#fd;
    if (this.#closed || fd === undefined) throw new AbortError(new Error(`FileSource closed (${this.path})`));
    const end = Math.min(offset + length, this.#size);
    if (offset >= end) return Buffer.alloc(0);
    const buffer = Buffer.allocUnsafe(end - offset);
    let filled = 0;
    try {
      while (filled < buffer.length) {
        const bytesRead = readSync(fd, buffer, filled, buffer.length - filled, offset + filled);
        if (bytesRead === 0) break; // the file shrank since open
        filled += bytesRead;
        this.#bytesRead += bytesRead;
      }
    } catch (error) {
      throw new FramepipeError(ErrorCode.FILE_NOT_FOUND, `Could not read ${this.path}: ${(error as Error).message}`, {
        source: this.path,
        cause: error,
      });
    }
    // close() waits for reads in flight, so a read that raced it still has to fail as the interface says.
    if (this.#closed) throw new AbortError(new Error(`FileSource closed (${this.path})`));
    return filled < buffer.length ? buffer.subarray(0, filled) : buffer;
  }

  /** Closes the file handle. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const fd = this.#fd;
    this.#fd = undefined;
    if (fd !== undefined) closeSync(fd);
  }

  /**
   * A plain byte stream over this file.
   * @example
   * for await (const chunk of source.createReadStream({ chunkSize: 1 << 20 })) hash.update(chunk as Buffer);
   */
  createReadStream(options?: ByteStreamOptions): ByteStream {
    return new ByteStream(this, options);
  }

  async #openNow(signal: AbortSignal | undefined): Promise<void> {
    throwIfAborted(signal);
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch (error) {
      throw this.#openError(error);
    }
    try {
      const stats = fstatSync(fd);
      if (stats.isDirectory()) throw this.#openError({ code: 'EISDIR' });
      throwIfAborted(signal);
      if (this.#closed) throw new AbortError(new Error(`FileSource closed (${this.path})`));
      this.#fd = fd;
      this.#size = stats.size;
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }

  /** `error` is what fs threw, or just `{ code: 'EISDIR' }` when the stat found a directory. */
  #openError(error: unknown): FramepipeError {
    const code = (error as { code?: string }).code;
    const message =
      code === 'ENOENT'
        ? `File not found: ${this.path}`
        : code === 'EISDIR'
          ? `Expected a file but ${this.path} is a directory`
          : `Could not open ${this.path}: ${(error as Error).message}`;
    return new FramepipeError(ErrorCode.FILE_NOT_FOUND, message, error instanceof Error ? { source: this.path, cause: error } : { source: this.path });
  }
}

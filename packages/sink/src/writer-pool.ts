import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { temporaryName } from './output-dir.ts';

/**
 * Writes of frames to wherever they go (files, objects of a bucket): at most `maxWriters` under way at once, and one
 * signal that tells every writer under way to stop.
 *
 * The bound is kept with the caller's help, the way a streamx `_write` works: start a write with {@link
 * WritePool.run}, and the next one only once its `ready` has been called. `ready` is called at once while a writer
 * is free, otherwise when one frees up; {@link WritePool.abort} fails it so that nothing waits for ever.
 *
 * @example
 * const writers = new WritePool(4, (error) => sink.destroy(error));
 * // in a Writable's _write(frame, cb):
 * writers.run(() => upload(frame, { signal: writers.signal }), cb);
 */
export class WritePool {
  readonly maxWriters: number;
  #onFailure: (error: Error) => void;
  #stop = new AbortController();
  #active = new Set<Promise<void>>();
  #parked: ((error: Error | null) => void) | null = null;
  #failure: Error | null = null;

  /** `onFailure` hears of the first write that rejects, and of every later one; it should {@link WritePool.abort}. */
  constructor(maxWriters: number, onFailure: (error: Error) => void) {
    this.maxWriters = maxWriters;
    this.#onFailure = onFailure;
  }

  /** Aborted by {@link WritePool.abort}: what a write under way should stop on. */
  get signal(): AbortSignal {
    return this.#stop.signal;
  }

  /** The first error a write rejected with, if any. */
  get failure(): Error | null {
    return this.#failure;
  }

  /** Starts `write`; `ready` says when the next write may start (see the class). */
  run(write: () => Promise<void>, ready: (error: Error | null) => void): void {
    const job = write().then(
      () => {
        this.#active.delete(job);
        this.#resumeParked();
      },
      (error: Error) => {
        this.#active.delete(job);
        this.#failure ??= error;
        this.#onFailure(error);
      },
    );
    this.#active.add(job);
    if (this.#active.size < this.maxWriters) ready(null);
    else this.#parked = ready;
  }

  /** Resolves once every write under way has settled, whatever its outcome. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#active]);
  }

  /**
   * Fails a held `ready` and aborts {@link WritePool.signal}, both with the write failure if there was one (the
   * reason the caller stops), else with `reason`. Writes under way go on until they notice; {@link
   * WritePool.settled} waits for them.
   */
  abort(reason: Error): void {
    const error = this.#failure ?? reason;
    const parked = this.#parked;
    this.#parked = null;
    parked?.(error);
    this.#stop.abort(error);
  }

  #resumeParked(): void {
    const parked = this.#parked;
    if (parked && this.#active.size < this.maxWriters) {
      this.#parked = null;
      parked(null);
    }
  }
}

/** The writes into one directory: a {@link WritePool} whose files are each committed whole or not at all. */
export class WriterPool extends WritePool {
  readonly directory: string;
  #sequence = 0;

  constructor(directory: string, maxWriters: number, onFailure: (error: Error) => void) {
    super(maxWriters, onFailure);
    this.directory = directory;
  }

  /**
   * Writes the file `name` of the directory under a hidden temporary name (same extension, for tools that pick the
   * format from it), then renames it: the file is complete or absent, and a failure removes the temporary file.
   * Not counted against `maxWriters`: the caller counts it, when it runs inside a write.
   */
  async commit(name: string, write: (tempPath: string) => Promise<void>): Promise<void> {
    const tempPath = join(this.directory, temporaryName(name, ++this.#sequence));
    try {
      await write(tempPath);
      await rename(tempPath, join(this.directory, name));
    } catch (cause) {
      await rm(tempPath, { force: true }).catch(() => {});
      throw cause;
    }
  }
}

import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The prefix of the temporary directories that hold the bytes a read cache moved out of memory, in `os.tmpdir()`. */
export const CACHE_PREFIX = 'framepipe-cache-';

/** Bytes a read cache keeps in memory when the caller does not say: enough for the header, index and GOPs of a run. */
export const DEFAULT_CACHE_MEMORY = 64 * 1024 * 1024;
/** Bytes a read cache may keep in its temporary file when the caller does not say. */
export const DEFAULT_CACHE_DISK = 512 * 1024 * 1024;

/** Limits of a {@link RangeStore}. */
export interface RangeStoreLimits {
  /** Bytes kept in memory; beyond, the least recently used ranges move to the temporary file. */
  readonly memory: number;
  /** Bytes the temporary file may hold; once it is full, ranges that leave memory are forgotten. 0: no file. */
  readonly disk: number;
}

/**
 * Fetches bytes `from` up to at least `needed` (exclusive) and at most `limit`, from wherever the bytes live. The
 * store keeps what it returns, so it may bring more than asked (read-ahead), but never past `limit`: those bytes are
 * stored already, or past the end.
 */
export type RangeFetch = (from: number, needed: number, limit: number) => Promise<Buffer>;

/** A range of the source held by the store: its bytes in memory, or at `at` in the temporary file. */
interface Piece {
  readonly start: number;
  readonly end: number;
  data: Buffer | null;
  at: number;
  /** When it was last read or stored, on the store's clock: the least recent ones leave memory first. */
  used: number;
}

/**
 * The byte ranges of one source fetched so far, so that no reader of that source fetches a byte twice: every
 * read is served from what is held, and only the gaps are fetched (and then held too). Memory is bounded: beyond
 * the memory limit the least recently used ranges move to a temporary file, and once that is full they are
 * forgotten instead (the file keeps the oldest: a container's header, which every demuxer reads, stays).
 * {@link RangeStore.close} removes the file.
 *
 * Not safe for concurrent reads: its owner runs them one at a time.
 */
export class RangeStore {
  readonly #limits: RangeStoreLimits;
  /** Sorted by start; no two overlap. */
  readonly #pieces: Piece[] = [];
  #memory = 0;
  #disk = 0;
  #clock = 0;
  /** The temporary file's descriptor, once made. */
  #fd: number | undefined;
  #closed = false;
  /** Set once the temporary file failed: nothing more goes there. */
  #diskFull = false;
  /**
   * Set for a reader that has said it reads forward (see `HttpSource.planReads`): ranges behind its last read that
   * leave memory are forgotten rather than written to the temporary file, where they would never be read back.
   * Ranges ahead of it still go there.
   */
  forwardOnly = false;
  /** Where the last read started: ranges wholly before it leave memory first, since readers mostly go forward. */
  #readFrom = 0;

  constructor(limits: RangeStoreLimits) {
    this.#limits = limits;
  }

  /** Bytes held in memory. */
  get memoryBytes(): number {
    return this.#memory;
  }

  /** Bytes held in the temporary file. */
  get diskBytes(): number {
    return this.#disk;
  }

  /** The held ranges, in order, as `[start, end)` pairs (for tests and diagnostics). */
  get ranges(): Array<[number, number]> {
    return this.#pieces.map((piece) => [piece.start, piece.end]);
  }

  /**
   * Bytes `start` to `end` (exclusive): the held parts copied out, each gap fetched with `fetch` (its `limit` is
   * the start of the next held range, or `size`) and held from then on.
   */
  async read(start: number, end: number, size: number, fetch: RangeFetch): Promise<Buffer> {
    const since = this.#clock;
    this.#readFrom = start;
    const out = Buffer.allocUnsafe(end - start);
    let position = start;
    while (position < end) {
      const at = this.#firstEndingAfter(position);
      const piece = this.#pieces[at];
      if (piece && piece.start <= position) {
        const last = Math.min(end, piece.end);
        await this.#copy(piece, position, last, out, position - start);
        piece.used = ++this.#clock;
        position = last;
        continue;
      }
      const limit = Math.min(piece?.start ?? size, size);
      const data = await fetch(position, Math.min(end, limit), limit);
      if (data.length === 0) break;
      const kept = data.length > limit - position ? data.subarray(0, limit - position) : data;
      this.#insert(at, { start: position, end: position + kept.length, data: kept, at: -1, used: ++this.#clock });
      this.#memory += kept.length;
      const last = Math.min(end, position + kept.length);
      kept.copy(out, position - start, 0, last - position);
      position = last;
    }
    await this.#fit(since);
    return position === end ? out : out.subarray(0, position - start);
  }

  /** Holds bytes fetched outside {@link RangeStore.read} (the block an open brings); parts already held are ignored. */
  async put(offset: number, data: Buffer): Promise<void> {
    const since = this.#clock;
    let position = offset;
    const end = offset + data.length;
    while (position < end) {
      const at = this.#firstEndingAfter(position);
      const piece = this.#pieces[at];
      if (piece && piece.start <= position) {
        position = piece.end;
        continue;
      }
      const last = Math.min(end, piece?.start ?? end);
      const kept = data.subarray(position - offset, last - offset);
      this.#insert(at, { start: position, end: last, data: kept, at: -1, used: ++this.#clock });
      this.#memory += kept.length;
      position = last;
    }
    await this.#fit(since);
  }

  /** Forgets everything and removes the temporary file. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#pieces.length = 0;
    this.#memory = 0;
    this.#disk = 0;
    const fd = this.#fd;
    this.#fd = undefined;
    if (fd === undefined) return;
    try {
      closeSync(fd);
    } catch {
      // Closed already: nothing left to let go of.
    }
  }

  /** The position in the list of the first piece that ends after `offset` (the list's length if none). */
  #firstEndingAfter(offset: number): number {
    let low = 0;
    let high = this.#pieces.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.#pieces[middle]!.end <= offset) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  #insert(at: number, piece: Piece): void {
    this.#pieces.splice(at, 0, piece);
  }

  /** Copies bytes `from..to` of the source, which `piece` holds, into `out` at `into`. */
  async #copy(piece: Piece, from: number, to: number, out: Buffer, into: number): Promise<void> {
    if (piece.data) {
      piece.data.copy(out, into, from - piece.start, to - piece.start);
      return;
    }
    let filled = 0;
    while (filled < to - from) {
      const bytesRead = readSync(this.#fd!, out, into + filled, to - from - filled, piece.at + from - piece.start + filled);
      if (bytesRead === 0) throw new Error(`the read cache's temporary file ended before byte ${piece.at + from - piece.start + filled}`);
      filled += bytesRead;
    }
  }

  /**
   * Brings memory back under its limit: the least recently used ranges go to the temporary file while it has room,
   * and are forgotten once it has none. Ranges behind the last read go first, then the least recently used: a reader
   * that goes forward (FFmpeg, after its first look at a file) reads the bytes ahead of it again, not those behind.
   * Ranges used after `since` (by the read that ends now) stay, whatever the limit: a block just fetched is what the
   * next reads most likely want, and forgetting it would fetch it again.
   */
  async #fit(since: number): Promise<void> {
    if (this.#memory <= this.#limits.memory) return;
    const behind = (piece: Piece): number => (piece.end <= this.#readFrom ? 0 : 1);
    const inMemory = this.#pieces
      .filter((piece) => piece.data !== null && piece.used <= since)
      .sort((a, b) => behind(a) - behind(b) || a.used - b.used);
    for (const piece of inMemory) {
      if (this.#memory <= this.#limits.memory || this.#closed) break;
      const data = piece.data!;
      const keep = !(this.forwardOnly && behind(piece) === 0) && !this.#diskFull && this.#disk + data.length <= this.#limits.disk;
      if (!(keep && (await this.#spill(piece, data)))) {
        const at = this.#pieces.indexOf(piece);
        if (at >= 0) this.#pieces.splice(at, 1);
      }
      this.#memory -= data.length;
    }
  }

  /**
   * Writes `data`, the bytes of `piece`, at the end of the temporary file. False when the file cannot be made or
   * written (a full disk, say): the piece is then forgotten and nothing more is spilled, since a cache that cannot
   * keep bytes only costs a second fetch, never a failed run.
   */
  async #spill(piece: Piece, data: Buffer): Promise<boolean> {
    const at = this.#disk;
    try {
      const fd = this.#spillFile();
      let written = 0;
      while (written < data.length) written += writeSync(fd, data, written, data.length - written, at + written);
    } catch {
      this.#diskFull = true;
      return false;
    }
    if (this.#closed) return false;
    piece.at = at;
    piece.data = null;
    this.#disk = at + data.length;
    return true;
  }

  /**
   * The temporary file, made on first use and removed from the directory at once: the open descriptor keeps it alive
   * until {@link RangeStore.close}, and a process killed outright (SIGKILL, out of memory) leaves nothing behind.
   *
   * Its reads and writes are synchronous, on this thread: the demuxer waits for them on a thread of libuv's pool, and
   * with as many demuxers waiting as the pool has threads (4 by default: four videos at once), an asynchronous file
   * call would wait for a thread that never comes free.
   */
  #spillFile(): number {
    if (this.#fd === undefined) {
      const directory = mkdtempSync(join(tmpdir(), CACHE_PREFIX));
      try {
        this.#fd = openSync(join(directory, 'ranges'), 'w+');
      } finally {
        rmSync(directory, { recursive: true, force: true });
      }
    }
    return this.#fd;
  }
}

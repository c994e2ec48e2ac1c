import { assertKnownKeys, assertOptionsObject, checkFunction, checkInteger, checkPositiveNumber, invalidOption } from '@framepipe/common';

/** A stream a {@link ProgressBar} draws on: stderr, or anything writable that may say it is a terminal. */
export type ProgressStream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

/** Options of {@link ProgressBar}. */
export interface ProgressBarOptions {
  /** What is being counted, shown first on the line, e.g. `Saving frames`. */
  label: string;
  /**
   * The count at which the work is done; enables the bar, the percentage and the ETA. Null or omitted when not
   * known yet; set {@link ProgressBar.total} later when it is.
   * @default null
   */
  total?: number | null | undefined;
  /**
   * The unit counted, used in the count and the rate.
   * @default 'frames'
   */
  unit?: string | undefined;
  /**
   * Where to draw. On a terminal (`isTTY`) the bar redraws in place, at most ten times a second, and bars
   * drawing on the same stream at the same time stack as a block of lines. Elsewhere (a pipe, a log file, CI)
   * it prints a plain line every `interval` ms while the count moves, and always a last line on `finish()`.
   * @default process.stderr
   */
  stream?: ProgressStream | undefined;
  /**
   * Milliseconds between two plain lines when the stream is not a terminal.
   * @default 2000
   */
  interval?: number | undefined;
  /**
   * Seconds the work has taken so far, read for each line and once more at {@link ProgressBar.finish} for the "done
   * in" time. Give it when the work began before the bar was made (a bar that appears once the total is known), so
   * that the bar counts the whole run, as a summary does: a run's `RunStats.seconds`, say.
   * @default the seconds since the bar was made
   */
  elapsed?: (() => number) | undefined;
}

const KNOWN_OPTIONS = ['label', 'total', 'unit', 'stream', 'interval', 'elapsed'];
const REDRAW_MS = 100;
const BAR_WIDTH = 24;

/**
 * A progress display for long work: count/total, percentage, rate and ETA. It is what `showDecodingProgress`
 * and the CLI draw, and what a `progress` callback can feed, like tqdm in Python.
 *
 * @example
 * const bar = new ProgressBar({ label: 'Streaming frames', total: 50 });
 * try {
 *   await streamVideoFramesToDir(url, '/tmp/frames', { start: 0, end: 49, progress: (n) => bar.tick(n) });
 *   bar.finish();
 * } catch (error) {
 *   bar.finish('stopped');
 *   throw error;
 * }
 */
export class ProgressBar {
  readonly label: string;
  readonly unit: string;
  #total: number | null;
  #count = 0;
  #elapsed: () => number;
  #ended: number | null = null;
  /** The seconds taken, read at `finish`. */
  #took = 0;
  #stopped = false;
  #stream: ProgressStream;
  #interval: number;
  #lastLine = 0;
  #anchor: { count: number; at: number } | null = null;
  #lineCount = -1;
  #detail = '';
  #lineDetail = '';
  #board: Board | null;

  constructor(options: ProgressBarOptions) {
    const opts = assertOptionsObject(options, 'ProgressBar');
    assertKnownKeys(opts, KNOWN_OPTIONS, 'ProgressBar');
    if (typeof opts.label !== 'string') throw invalidOption('label', 'a string', opts.label);
    if (opts.unit !== undefined && typeof opts.unit !== 'string') throw invalidOption('unit', 'a string', opts.unit);
    const stream = opts.stream ?? process.stderr;
    if (typeof stream !== 'object' || stream === null || typeof stream.write !== 'function') {
      throw invalidOption('stream', 'a writable stream', stream);
    }
    this.label = opts.label;
    this.unit = opts.unit ?? 'frames';
    this.#total = checkTotal(opts.total);
    this.#stream = stream;
    this.#interval = checkPositiveNumber('interval', opts.interval, true) ?? 2000;
    const started = performance.now();
    this.#elapsed = checkFunction<() => number>('elapsed', opts.elapsed) ?? (() => (performance.now() - started) / 1000);
    this.#board = stream.isTTY ? Board.of(stream) : null;
    this.#board?.add(this);
  }

  /** Units done so far. */
  get count(): number {
    return this.#count;
  }

  /** The count at which the work is done, or null if unknown. */
  get total(): number | null {
    return this.#total;
  }

  set total(value: number | null) {
    this.#total = checkTotal(value);
  }

  /**
   * Words shown after the count, for what the count alone does not say, e.g. `3/5 videos, 1 failed`; empty shows
   * nothing. Setting it redraws when due, as {@link ProgressBar.update} does.
   * @default ''
   */
  get detail(): string {
    return this.#detail;
  }

  set detail(value: string) {
    if (typeof value !== 'string') throw invalidOption('detail', 'a string', value);
    this.#detail = value;
    this.update(this.#count);
  }

  /** True once {@link ProgressBar.finish} was called. */
  get finished(): boolean {
    return this.#ended !== null;
  }

  /** Adds `n` units done (the signature of a `progress` callback). */
  tick(n = 1): void {
    this.update(this.#count + n);
  }

  /** Sets the units done and redraws when due. */
  update(count: number): void {
    if (this.#ended !== null) return;
    // The rate is measured from the first unit done: the time before it (opening, a scan) says nothing of the pace.
    if (this.#anchor === null && count > 0) this.#anchor = { count, at: performance.now() };
    this.#count = count;
    if (this.#board) {
      this.#board.schedule();
      return;
    }
    const now = performance.now();
    if (now - this.#lastLine >= this.#interval && (count !== this.#lineCount || this.#detail !== this.#lineDetail)) {
      this.#lastLine = now;
      this.#lineCount = count;
      this.#lineDetail = this.#detail;
      this.#stream.write(`${this.line(Infinity)}\n`);
    }
  }

  /**
   * Draws the final state (count, average rate, time taken) and ends the line. Idempotent. `'stopped'` says the work
   * ended before it was done (an interrupt, a failure): the line then reads "stopped after", not "done in".
   */
  finish(outcome: 'done' | 'stopped' = 'done'): void {
    if (this.#ended !== null) return;
    this.#ended = performance.now();
    this.#took = this.#elapsed();
    this.#stopped = outcome === 'stopped';
    if (this.#board) this.#board.finished();
    else this.#stream.write(`${this.line(Infinity)}\n`);
  }

  /** The text of the bar as it is now, at most `width` characters; the drawn bar shrinks first. */
  line(width: number): string {
    const now = this.#ended ?? performance.now();
    const elapsed = this.#ended === null ? this.#elapsed() : this.#took;
    const anchor = this.#anchor;
    const since = anchor ? (now - anchor.at) / 1000 : 0;
    // Units since the first one over the time since; until that is measurable, none (the overall average at the end).
    let rate: number | null = anchor && since >= 0.05 && this.#count > anchor.count ? (this.#count - anchor.count) / since : null;
    if (rate === null && this.#ended !== null && elapsed > 0) rate = this.#count / elapsed;
    const tty = this.#board !== null;
    const parts: string[] = [];
    let ratio: number | null = null;
    if (this.#total !== null) {
      ratio = this.#total > 0 ? Math.min(1, this.#count / this.#total) : 1;
      parts.push(`${this.#count}/${this.#total} ${this.unit} (${Math.floor(ratio * 100)}%)`);
    } else {
      parts.push(`${this.#count} ${this.unit}`);
    }
    if (this.#detail) parts.push(this.#detail);
    parts.push(`${rate === null ? '-' : formatRate(rate)} ${this.unit}/s`);
    if (this.#ended !== null) parts.push(`${this.#stopped ? 'stopped after' : 'done in'} ${formatDuration(elapsed)}`);
    else if (this.#total !== null && rate) parts.push(`ETA ${formatDuration(Math.max(0, this.#total - this.#count) / rate)}`);
    else parts.push(formatDuration(elapsed));
    if (!tty) return `${this.label}: ${parts.join(', ')}`;
    let text = `${this.label}  ${parts.join('  ')}`;
    const room = Math.min(BAR_WIDTH, width - text.length - 5);
    if (ratio !== null && room >= 5) {
      const filled = Math.round(ratio * room);
      text = `${this.label}  [${'#'.repeat(filled)}${'.'.repeat(room - filled)}] ${parts.join('  ')}`;
    }
    return text.length > width ? text.slice(0, Math.max(0, width)) : text;
  }
}

/**
 * The bars drawing on one terminal at the same time, drawn as a block of lines that is redrawn in place. The
 * block ends (the cursor moves below it) when its last bar finishes; bars created later start a new block.
 */
class Board {
  static #boards = new WeakMap<ProgressStream, Board>();

  static of(stream: ProgressStream): Board {
    let board = Board.#boards.get(stream);
    if (!board) {
      board = new Board(stream);
      Board.#boards.set(stream, board);
    }
    return board;
  }

  #stream: ProgressStream;
  #bars: ProgressBar[] = [];
  #linesDrawn = 0;
  #lastDraw = 0;
  #timer: NodeJS.Timeout | null = null;

  constructor(stream: ProgressStream) {
    this.#stream = stream;
  }

  add(bar: ProgressBar): void {
    this.#bars.push(bar);
    this.schedule();
  }

  /** Redraws now if the last draw is old enough, else once it is. */
  schedule(): void {
    if (this.#timer) return;
    const wait = this.#lastDraw + REDRAW_MS - performance.now();
    if (wait <= 0) {
      this.#draw();
      return;
    }
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#draw();
    }, wait);
    this.#timer.unref();
  }

  /** A bar finished: draw its last state; when every bar has, end the block. */
  finished(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#draw();
    if (this.#bars.every((bar) => bar.finished)) {
      this.#stream.write('\n');
      this.#bars = [];
      this.#linesDrawn = 0;
    }
  }

  #draw(): void {
    this.#lastDraw = performance.now();
    // A line longer than the terminal would wrap and break the cursor arithmetic; 0 columns means "unknown".
    const columns = this.#stream.columns ?? 0;
    const width = columns > 0 ? Math.max(20, columns - 1) : 100;
    // Back to the first line of the block: the cursor sits at the end of its last line.
    let out = this.#linesDrawn > 1 ? `\r\x1b[${this.#linesDrawn - 1}A` : '\r';
    out += this.#bars.map((bar) => `\x1b[2K${bar.line(width)}`).join('\n');
    this.#linesDrawn = this.#bars.length;
    this.#stream.write(out);
  }
}

function checkTotal(value: unknown): number | null {
  if (value === null || value === undefined) return null;
  return checkInteger('total', value, 0);
}

function formatRate(rate: number): string {
  return rate >= 100 ? String(Math.round(rate)) : rate.toFixed(1);
}

/** `4.2 s` under a minute, then `m:ss`, then `h:mm:ss`. */
function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const whole = Math.round(seconds);
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = String(whole % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

import type { Writable } from 'node:stream';

/**
 * A one-line progress display on stderr for the packet-counting phases (the scan, and a decode from the start).
 * On a terminal it redraws in place at most ten times a second; elsewhere (a log file, CI) it prints a plain line
 * every two seconds, so logs stay readable.
 */
export class DecodingProgress {
  #label: string;
  #total: number | null;
  #out: Writable & { isTTY?: boolean };
  #count = 0;
  #started = performance.now();
  #lastDraw = 0;
  #finished = false;

  constructor(label: string, total: number | null, out: Writable & { isTTY?: boolean } = process.stderr) {
    this.#label = label;
    this.#total = total !== null && total > 0 ? total : null;
    this.#out = out;
  }

  /** Sets the count of packets done and redraws when due. */
  update(count: number): void {
    this.#count = count;
    const now = performance.now();
    if (now - this.#lastDraw >= (this.#out.isTTY ? 100 : 2000)) {
      this.#lastDraw = now;
      this.#draw(false);
    }
  }

  /** Draws the final state and ends the line. */
  finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#draw(true);
  }

  #draw(final: boolean): void {
    const seconds = (performance.now() - this.#started) / 1000;
    const rate = seconds > 0 ? Math.round(this.#count / seconds) : 0;
    let text = `${this.#label}: ${this.#count}`;
    if (this.#total !== null) {
      const ratio = Math.min(1, this.#count / this.#total);
      const width = 24;
      const filled = Math.round(ratio * width);
      text = `${this.#label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.#count}/${this.#total} (${Math.round(ratio * 100)}%)`;
    }
    text += ` packets, ${rate}/s, ${seconds.toFixed(1)}s`;
    if (this.#out.isTTY) this.#out.write(`\r\x1b[2K${text}${final ? '\n' : ''}`);
    else this.#out.write(`${text}\n`);
  }
}

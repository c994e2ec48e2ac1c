/** The manifest's file name, in the output directory next to the frame files. */
export const MANIFEST_FILE_NAME = 'frames.jsonl';

/** A value of an extra manifest field (see {@link ManifestOptions.fields}). */
export type ManifestValue = string | number | boolean | null;

/**
 * One line of `frames.jsonl` as `JSON.parse` reads it back: one kept frame file. `pts`, `time` and `keyframe` are
 * null when the frame written did not carry them (an `RgbFrame` always does).
 */
export interface ManifestLine {
  /** The frame number. */
  readonly index: number;
  /** Presentation timestamp in the stream's time base; in the file, the exact integer (see the README). */
  readonly pts: number | null;
  /** Presentation time in seconds. */
  readonly time: number | null;
  /** Whether the decoder marked the frame as a keyframe. */
  readonly keyframe: boolean | null;
  /** The file name, relative to the output directory (`frame_000123.png`). */
  readonly file: string;
  readonly width: number;
  readonly height: number;
}

/** The `manifest` option of `FrameDirSink` in its object form. */
export interface ManifestOptions {
  /**
   * Extra fields for every line, after the frame's own (which win over an extra field of the same name). Called
   * once, when the manifest is written, so it may report what was only known once the run had started.
   */
  fields?: (() => Readonly<Record<string, ManifestValue>>) | undefined;
  /**
   * Write it only when the directory already has a `frames.jsonl`, to keep that one true to the directory: what the
   * sink does without the `manifest` option, here with `fields`.
   * @default false
   */
  ifPresent?: boolean | undefined;
}

/** What the sink remembers of a kept file for its manifest line (never the pixels): the line, pts still a bigint. */
export interface ManifestEntry extends Omit<ManifestLine, 'pts'> {
  readonly pts: bigint | null;
}

/** A line of an earlier run's manifest, kept as it was written (so its pts digits stay exact). */
export interface KeptManifestLine {
  readonly index: number;
  readonly file: string;
  readonly text: string;
}

/**
 * The text of `frames.jsonl`: one JSON object per entry, in frame order (then by file name, when a frame has files
 * in two formats), each line ending in a newline. A kept line is written as it was; an entry gets the `extra`
 * fields it does not have itself.
 */
export function formatManifest(
  entries: Iterable<ManifestEntry | KeptManifestLine>,
  extra: Readonly<Record<string, ManifestValue>> = {},
): string {
  const sorted = [...entries].sort((a, b) => a.index - b.index || (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  // The frame's fields first, then the extra ones it does not have.
  const others = Object.entries(extra);
  return sorted
    .map((entry) => {
      if ('text' in entry) return `${entry.text}\n`;
      const line: Record<string, unknown> = { ...entry };
      for (const [key, value] of others) if (!Object.hasOwn(line, key)) line[key] = value;
      return `${jsonObject(line)}\n`;
    })
    .join('');
}

/** An entry's line as it stands, without the extra fields of a run: for a file that no run of this sink made. */
export function keptLine(entry: ManifestEntry & Readonly<Record<string, unknown>>): KeptManifestLine {
  return { index: entry.index, file: entry.file, text: jsonObject(entry) };
}

/**
 * A JSON object on one line. JSON.stringify refuses a bigint; its digits are written as they are instead, so a pts
 * is a JSON integer, exact at any size (a reader that parses to doubles is exact up to 2^53).
 */
function jsonObject(fields: Readonly<Record<string, unknown>>): string {
  const members = Object.entries(fields).map(([key, value]) => {
    const json = typeof value === 'bigint' ? value.toString() : (JSON.stringify(value) ?? 'null');
    return `${JSON.stringify(key)}:${json}`;
  });
  return `{${members.join(',')}}`;
}

/**
 * The lines of a manifest's text by file name, as written (a line that is not a JSON object naming its `file` and
 * `index` is left out).
 */
export function parseManifest(text: string): Map<string, KeptManifestLine> {
  const lines = new Map<string, KeptManifestLine>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const { file, index } = JSON.parse(line) as { file?: unknown; index?: unknown };
      if (typeof file === 'string' && typeof index === 'number' && Number.isSafeInteger(index)) lines.set(file, { index, file, text: line });
    } catch {
      // Not a line this sink wrote.
    }
  }
  return lines;
}

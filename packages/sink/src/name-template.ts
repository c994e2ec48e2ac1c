import { invalidOption } from '@framepipe/common';
import { IMAGE_EXTENSIONS } from './frame-encoder.ts';

/** The seed's (and Supervisely's) file name: the frame number padded to 6 digits. */
export const DEFAULT_NAME_TEMPLATE = 'frame_{index:06}.{ext}';

/** A frame file that a {@link NameTemplate} names. */
export interface FrameFile {
  /** The file name, e.g. `frame_000012.png`. */
  readonly name: string;
  readonly index: number;
  readonly ext: string;
}

// Placeholders are symbols, so that no literal text of a template can be taken for one.
const INDEX_PART = Symbol('index');
const EXT_PART = Symbol('ext');
type Part = string | typeof INDEX_PART | typeof EXT_PART;

const PLACEHOLDER = /\{([^{}]*)\}/g;
const INDEX = /^index(?::(\d{1,2}))?$/;

/**
 * How frame files are named: a template such as `img_{index:05}.{ext}` with exactly one `{index}` (the frame number)
 * or `{index:NN}` (zero-padded to NN digits; a wider number is written whole, so frame 1234567 of `{index:05}` is
 * `1234567`), and one `{ext}` (the image format, so that files of two formats never share a name and a resumed run
 * can tell its own). A template is checked when it is made: no path separator, no `..`, no leading dot (hidden and
 * temporary files start with one), no other `{…}`. Each frame then has a name of its own, and {@link
 * NameTemplate.parse} reads back exactly the names {@link NameTemplate.format} writes, nothing else.
 *
 * @example
 * const names = NameTemplate.from('img_{index:05}.{ext}');
 * names.format(12, 'jpg'); // 'img_00012.jpg'
 * names.parse('img_00012.jpg'); // { name: 'img_00012.jpg', index: 12, ext: 'jpg' }
 * names.parse('img_012.jpg'); // null: not a name it writes
 */
export class NameTemplate {
  /** The template as given. */
  readonly template: string;
  /** Digits the frame number is padded to (0: none). */
  readonly padding: number;
  #parts: ReadonlyArray<Part>;
  #pattern: RegExp;

  private constructor(template: string, padding: number, parts: ReadonlyArray<Part>) {
    this.template = template;
    this.padding = padding;
    this.#parts = parts;
    const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const source = parts.map((part) => (part === INDEX_PART ? '(\\d+)' : part === EXT_PART ? `(${IMAGE_EXTENSIONS.join('|')})` : escape(part))).join('');
    this.#pattern = new RegExp(`^${source}$`);
  }

  /** The seed's template, `frame_{index:06}.{ext}`. */
  static readonly DEFAULT: NameTemplate = NameTemplate.from(DEFAULT_NAME_TEMPLATE);

  /**
   * Checks `template` and makes it; throws `ERR_FRAMEPIPE_INVALID_OPTION` naming `option` and what is wrong
   * otherwise. A `NameTemplate` is returned as it is.
   */
  static from(template: unknown, option = 'nameTemplate'): NameTemplate {
    if (template instanceof NameTemplate) return template;
    const wrong = (what: string) => invalidOption(option, `a file name template with ${what}, e.g. "img_{index:05}.{ext}"`, template);
    if (typeof template !== 'string' || template.length === 0) throw wrong('one {index} and one {ext}');
    if (/[/\\]/.test(template)) throw wrong('no path separator (/ or \\): frames go into the output directory itself');
    if (template.includes('..')) throw wrong('no ".."');
    if (template.startsWith('.')) throw wrong('no leading dot (hidden and temporary files start with one)');
    // oxlint-disable-next-line no-control-regex -- a NUL or control character has no place in a file name.
    if (/[\u0000-\u001f]/.test(template)) throw wrong('no control character');
    const parts: Array<Part> = [];
    let padding = -1;
    let exts = 0;
    let last = 0;
    for (const match of template.matchAll(PLACEHOLDER)) {
      parts.push(template.slice(last, match.index));
      last = match.index + match[0].length;
      const inside = match[1]!;
      const index = INDEX.exec(inside);
      if (index) {
        if (padding >= 0) throw wrong('exactly one {index} (it has two)');
        padding = index[1] === undefined ? 0 : Number(index[1]);
        parts.push(INDEX_PART);
      } else if (inside === 'ext') {
        if (++exts > 1) throw wrong('exactly one {ext} (it has two)');
        parts.push(EXT_PART);
      } else {
        throw wrong(`only {index}, {index:NN} and {ext} (it has {${inside}})`);
      }
    }
    parts.push(template.slice(last));
    const literal = parts.filter((part) => typeof part === 'string').join('');
    if (/[{}]/.test(literal)) throw wrong('only {index}, {index:NN} and {ext} (a brace stands alone)');
    if (padding < 0) throw wrong('exactly one {index} or {index:NN} (it has none: every frame would get the same name)');
    if (exts === 0) throw wrong('exactly one {ext} (it has none)');
    return new NameTemplate(template, padding, parts.filter((part) => part !== ''));
  }

  /** The file name of frame `index` in format `ext`. */
  format(index: number, ext: string): string {
    const number = String(index).padStart(this.padding, '0');
    return this.#parts.map((part) => (part === INDEX_PART ? number : part === EXT_PART ? ext : part)).join('');
  }

  /**
   * The frame file that `name` names, exactly as {@link NameTemplate.format} writes it in one of the sink's formats;
   * null for any other name (a temporary file, a number padded otherwise, another extension).
   */
  parse(name: string): FrameFile | null {
    const match = this.#pattern.exec(name);
    if (!match) return null;
    // The groups come in the template's order.
    const indexFirst = this.#parts.indexOf(INDEX_PART) < this.#parts.indexOf(EXT_PART);
    const digits = match[indexFirst ? 1 : 2]!;
    const ext = match[indexFirst ? 2 : 1]!;
    const index = Number(digits);
    return Number.isSafeInteger(index) && this.format(index, ext) === name ? { name, index, ext } : null;
  }

  toString(): string {
    return this.template;
  }
}


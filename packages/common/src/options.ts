import { InvalidOptionError, spellOptions } from './errors.ts';
import type { OptionText } from './errors.ts';

/**
 * Describes a received value for an error message: the value itself where short, and its type. A small plain object
 * of numbers (a size, a crop) is shown as written (`{ x: 0, y: 0, width: 300, height: 100 }`); other objects only by
 * their kind, since they may be large or hold what should not be printed.
 */
function describe(value: unknown): string {
  let shown: string;
  if (typeof value === 'string') shown = JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  else if (typeof value === 'bigint') shown = `${value}n`;
  else if (typeof value === 'function') shown = value.name ? `[function ${value.name}]` : '[function]';
  else if (value !== null && typeof value === 'object') shown = Array.isArray(value) ? '[array]' : (numbersObject(value) ?? '[object]');
  else shown = String(value);
  const type = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  return `${shown} of type ${type}`;
}

/** `{ a: 1, b: 2 }` for a plain object of 1 to 8 numbers, booleans or undefined, else undefined. */
function numbersObject(value: object): string | undefined {
  const prototype = Object.getPrototypeOf(value) as unknown;
  if (prototype !== Object.prototype && prototype !== null) return undefined;
  const entries = Object.entries(value);
  if (entries.length === 0 || entries.length > 8) return undefined;
  if (!entries.every(([, v]) => v === undefined || typeof v === 'number' || typeof v === 'boolean')) return undefined;
  return `{ ${entries.map(([key, v]) => `${/^[A-Za-z_$][\w$]*$/.test(key) ? key : JSON.stringify(key)}: ${String(v)}`).join(', ')} }`;
}

/**
 * The one way an option is reported wrong: `Expected <what> for <option> but received <value> of type <type>`.
 * `expected` names other options with {@link naming}, so that a caller can spell them its own way.
 */
export function invalidOption(option: string, expected: string | OptionText, value: unknown): InvalidOptionError {
  return new InvalidOptionError(option, `Expected ${spellOptions(expected)} for ${option} but received ${describe(value)}`, { expected });
}

/**
 * The one way two options that exclude each other are reported: both are named, `option` (the one given second)
 * as the error's `option`, `other` as its `conflictsWith`. `advice` says what to give instead, made with
 * {@link naming} so that each option it names is marked as one: the CLI shows those as flags, and only those
 * (`the output size` keeps its word). A plain string names no option.
 */
export function conflictingOptions(option: string, other: string, advice: string | OptionText): InvalidOptionError {
  return new InvalidOptionError(option, `${option} cannot be used together with ${other}: ${spellOptions(advice)}`, { conflictsWith: other, advice });
}

/** Rejects keys a caller passed that the receiver does not know (a typo should not be silently ignored). */
export function assertKnownKeys(options: object, known: readonly string[], where: string): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new InvalidOptionError(key, `Unknown option ${key} for ${where}; known options: ${known.join(', ')}`);
    }
  }
}

/** Checks that `options` is undefined or a plain object and returns it as an object. */
export function assertOptionsObject<T extends object>(options: T | undefined, where: string): Partial<T> {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw invalidOption(`${where} options`, 'an object', options);
  }
  return options;
}

/** An integer >= `min`, or undefined when optional and absent. */
export function checkInteger(option: string, value: unknown, min: number): number;
export function checkInteger(option: string, value: unknown, min: number, optional: true): number | undefined;
export function checkInteger(option: string, value: unknown, min: number, optional = false): number | undefined {
  if (value === undefined && optional) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    const what = min === 0 ? 'a non-negative integer' : min === 1 ? 'a positive integer' : `an integer >= ${min}`;
    throw invalidOption(option, what, value);
  }
  return value;
}

/** A finite number > 0, or undefined when optional and absent. */
export function checkPositiveNumber(option: string, value: unknown, optional = false): number | undefined {
  if (value === undefined && optional) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw invalidOption(option, 'a positive number', value);
  }
  return value;
}

/**
 * One of a fixed set of strings. With `ignoreCase`, `PNG` is taken for `png` (the allowed spelling is returned).
 */
export function checkOneOf<T extends string>(option: string, value: unknown, allowed: readonly T[], ignoreCase = false): T {
  const found = typeof value === 'string' ? allowed.find((a) => a === value || (ignoreCase && a.toLowerCase() === value.toLowerCase())) : undefined;
  if (found === undefined) {
    throw invalidOption(option, `one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`, value);
  }
  return found;
}

/** A function, or undefined when absent. */
export function checkFunction<F extends (...args: never[]) => unknown>(option: string, value: unknown): F | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw invalidOption(option, 'a function', value);
  return value as F;
}

/** A boolean, or the default when absent. */
export function checkBoolean(option: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalidOption(option, 'a boolean', value);
  return value;
}

/** An AbortSignal, or undefined when absent. */
export function checkSignal(option: string, value: unknown): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof AbortSignal)) throw invalidOption(option, 'an AbortSignal', value);
  return value;
}

/**
 * The one rule for HTTP request headers, wherever a caller may give them: an object of header names to strings.
 * Names come back lowercased. `Range` is never allowed (the sources set it on every request), nor any name in
 * `reserved` (lowercase name → why).
 */
export function checkHeaders(value: unknown, reserved: Readonly<Record<string, string>> = {}): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalidOption('headers', 'an object of header names to strings', value);
  }
  const headers: Record<string, string> = {};
  for (const [name, header] of Object.entries(value)) {
    const lower = name.toLowerCase();
    if (lower === 'range') throw invalidOption(`headers.${name}`, 'no Range header (the source sets it on every request)', header);
    const why = reserved[lower];
    if (why !== undefined) throw invalidOption(`headers.${name}`, `no ${lower} header (${why})`, '(not shown)');
    if (typeof header !== 'string') throw invalidOption(`headers.${name}`, 'a string', header);
    headers[lower] = header;
  }
  return headers;
}

/**
 * How one option is checked: `check` turns a value the caller gave (never undefined) into its setting or throws an
 * InvalidOptionError naming the option; `fallback` gives the setting when the option is absent (without it, the
 * setting stays undefined). A table of rules, one per option, is the single place where an option's check and
 * default live; {@link checkOptions} applies it.
 */
export interface OptionRule<V> {
  readonly check: (value: unknown, name: string) => V;
  readonly fallback?: () => V;
}

/** A rule with a default: the setting always has a value. */
export type DefaultedRule<V> = OptionRule<V> & { readonly fallback: () => V };

function integerRule(min: number): OptionRule<number>;
function integerRule(min: number, fallback: number): DefaultedRule<number>;
function integerRule(min: number, fallback?: number): OptionRule<number> {
  return { check: (value, name) => checkInteger(name, value, min), ...(fallback === undefined ? {} : { fallback: () => fallback }) };
}

/** A table of rules for every option of `O`, each checking to the option's type. */
export type RuleTable<O> = { readonly [K in keyof O]-?: OptionRule<Exclude<O[K], undefined>> };

/** The settings a table of rules gives: an option with a fallback always has a value, others may be undefined. */
export type SettingsOf<T> = {
  -readonly [K in keyof T]: T[K] extends { readonly fallback: () => infer V } ? V : T[K] extends OptionRule<infer V> ? V | undefined : never;
};

/** The rules of common option kinds. */
export const rules = {
  /** An integer >= `min`; `fallback` when absent, if given. */
  integer: integerRule,
  /** A finite number > 0. */
  positiveNumber: (): OptionRule<number> => ({ check: (value, name) => checkPositiveNumber(name, value)! }),
  /** A boolean, `fallback` when absent. */
  boolean: (fallback: boolean): DefaultedRule<boolean> => ({ check: (value, name) => checkBoolean(name, value, fallback), fallback: () => fallback }),
  /** One of fixed strings, `fallback` when absent; with `ignoreCase`, in upper or lower case. */
  oneOf: <T extends string>(allowed: readonly T[], fallback: T, ignoreCase = false): DefaultedRule<T> => ({
    check: (value, name) => checkOneOf(name, value, allowed, ignoreCase),
    fallback: () => fallback,
  }),
  /** A function. */
  function: <F extends (...args: never[]) => unknown>(): OptionRule<F> => ({ check: (value, name) => checkFunction<F>(name, value)! }),
  /** An AbortSignal. */
  signal: (): OptionRule<AbortSignal> => ({ check: (value, name) => checkSignal(name, value)! }),
  /** HTTP request headers, by {@link checkHeaders}. */
  headers: (): OptionRule<Record<string, string>> => ({ check: (value) => checkHeaders(value)! }),
  /** An instance of a class, described as `what` in the error. */
  instance: <T>(type: abstract new (...args: never[]) => T, what: string): OptionRule<T> => ({
    check: (value, name) => {
      if (!(value instanceof type)) throw invalidOption(name, what, value);
      return value;
    },
  }),
} as const;

/**
 * Checks `options` against a table of rules: rejects keys the table does not know, checks every given option, and
 * fills in the fallbacks. `where` names the call in the unknown-key message.
 *
 * @example
 * const TABLE = { retries: rules.integer(0, 5), signal: rules.signal() } satisfies RuleTable<MyOptions>;
 * const settings = checkOptions(TABLE, options, 'myCall'); // { retries: number; signal: AbortSignal | undefined }
 */
export function checkOptions<T extends Readonly<Record<string, OptionRule<unknown>>>>(table: T, options: unknown, where: string): SettingsOf<T> {
  const given = assertOptionsObject(options as object | undefined, where) as Record<string, unknown>;
  assertKnownKeys(given, Object.keys(table), where);
  const settings: Record<string, unknown> = {};
  for (const [name, rule] of Object.entries(table)) {
    const value = given[name];
    settings[name] = value === undefined ? rule.fallback?.() : rule.check(value, name);
  }
  return settings as SettingsOf<T>;
}

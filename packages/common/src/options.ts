import { InvalidOptionError } from './errors.ts';

/** Describes a received value for an error message: the value itself where short, and its type. */
function describe(value: unknown): string {
  let shown: string;
  if (typeof value === 'string') shown = JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  else if (typeof value === 'bigint') shown = `${value}n`;
  else if (typeof value === 'function') shown = value.name ? `[function ${value.name}]` : '[function]';
  else if (value !== null && typeof value === 'object') shown = Array.isArray(value) ? '[array]' : '[object]';
  else shown = String(value);
  const type = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  return `${shown} of type ${type}`;
}

/**
 * The one way an option is reported wrong: `Expected <what> for <option> but received <value> of type <type>`.
 */
export function invalidOption(option: string, expected: string, value: unknown): InvalidOptionError {
  return new InvalidOptionError(option, `Expected ${expected} for ${option} but received ${describe(value)}`);
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

/** One of a fixed set of strings. */
export function checkOneOf<T extends string>(option: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw invalidOption(option, `one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`, value);
  }
  return value as T;
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

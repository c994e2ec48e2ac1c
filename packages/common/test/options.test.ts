import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ErrorCode,
  InvalidOptionError,
  assertKnownKeys,
  assertOptionsObject,
  checkBoolean,
  checkFunction,
  checkInteger,
  checkOneOf,
  checkPositiveNumber,
  checkSignal,
  conflictingOptions,
  invalidOption,
  naming,
  spellOptions,
} from '../src/index.ts';

/** Asserts that `fn` throws an InvalidOptionError for `option` with exactly `message`. */
function throwsOption(fn: () => unknown, option: string, message: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof InvalidOptionError, `expected an InvalidOptionError, got ${String(error)}`);
    assert.equal(error.code, ErrorCode.INVALID_OPTION);
    assert.equal(error.option, option);
    assert.equal(error.message, message);
    return true;
  });
}

test('invalidOption: the one message, for every kind of received value', () => {
  const cases: Array<[unknown, string]> = [
    [5, '5 of type number'],
    [-1.5, '-1.5 of type number'],
    [Number.NaN, 'NaN of type number'],
    ['png', '"png" of type string'],
    ['', '"" of type string'],
    ['x'.repeat(61), `"${'x'.repeat(57)}..." of type string`],
    ['x'.repeat(60), `"${'x'.repeat(60)}" of type string`],
    [true, 'true of type boolean'],
    [undefined, 'undefined of type undefined'],
    [null, 'null of type null'],
    [10n, '10n of type bigint'],
    [[1, 2], '[array] of type array'],
    // A small plain object of numbers is shown as written; others, which may be large or secret, by their kind.
    [{ x: 0, 'a b': 2.5, on: true }, '{ x: 0, "a b": 2.5, on: true } of type object'],
    [{}, '[object] of type object'],
    [{ token: 'secret' }, '[object] of type object'],
    [new (class Point { x = 1 })(), '[object] of type object'],
    [function named() {}, '[function named] of type function'],
    [Symbol('s'), 'Symbol(s) of type symbol'],
  ];
  for (const [value, shown] of cases) {
    const error = invalidOption('quality', 'an integer between 1 and 100', value);
    assert.ok(error instanceof InvalidOptionError);
    assert.equal(error.option, 'quality');
    assert.equal(error.message, `Expected an integer between 1 and 100 for quality but received ${shown}`);
  }
  // An anonymous function has no name to show.
  const anonymous = [() => {}][0];
  assert.equal(invalidOption('f', 'x', anonymous).message, 'Expected x for f but received [function] of type function');
});

test('checkInteger: wording follows the minimum; optional only skips undefined', () => {
  assert.equal(checkInteger('start', 0, 0), 0);
  assert.equal(checkInteger('workers', 3, 1), 3);
  assert.equal(checkInteger('end', undefined, 0, true), undefined);
  throwsOption(() => checkInteger('start', -1, 0), 'start', 'Expected a non-negative integer for start but received -1 of type number');
  throwsOption(() => checkInteger('workers', 0, 1), 'workers', 'Expected a positive integer for workers but received 0 of type number');
  throwsOption(() => checkInteger('ioBufferSize', 100, 4096), 'ioBufferSize', 'Expected an integer >= 4096 for ioBufferSize but received 100 of type number');
  throwsOption(() => checkInteger('start', 1.5, 0), 'start', 'Expected a non-negative integer for start but received 1.5 of type number');
  throwsOption(() => checkInteger('start', '3', 0), 'start', 'Expected a non-negative integer for start but received "3" of type string');
  throwsOption(() => checkInteger('start', undefined, 0), 'start', 'Expected a non-negative integer for start but received undefined of type undefined');
  throwsOption(() => checkInteger('end', null, 0, true), 'end', 'Expected a non-negative integer for end but received null of type null');
  throwsOption(() => checkInteger('end', 2 ** 53, 0), 'end', `Expected a non-negative integer for end but received ${2 ** 53} of type number`);
});

test('checkPositiveNumber', () => {
  assert.equal(checkPositiveNumber('timeout', 0.5), 0.5);
  assert.equal(checkPositiveNumber('timeout', undefined, true), undefined);
  throwsOption(() => checkPositiveNumber('timeout', 0), 'timeout', 'Expected a positive number for timeout but received 0 of type number');
  throwsOption(() => checkPositiveNumber('timeout', Infinity), 'timeout', 'Expected a positive number for timeout but received Infinity of type number');
  throwsOption(() => checkPositiveNumber('timeout', undefined), 'timeout', 'Expected a positive number for timeout but received undefined of type undefined');
});

test('checkOneOf lists the allowed values', () => {
  assert.equal(checkOneOf('ext', 'jpg', ['png', 'jpg']), 'jpg');
  throwsOption(() => checkOneOf('ext', 'gif', ['png', 'jpg']), 'ext', 'Expected one of "png", "jpg" for ext but received "gif" of type string');
  throwsOption(() => checkOneOf('ext', 1, ['png']), 'ext', 'Expected one of "png" for ext but received 1 of type number');
  throwsOption(() => checkOneOf('ext', 'JPG', ['png', 'jpg']), 'ext', 'Expected one of "png", "jpg" for ext but received "JPG" of type string');
});

test('checkOneOf with ignoreCase takes any case and gives the allowed spelling', () => {
  assert.equal(checkOneOf('ext', 'PNG', ['png', 'jpg'], true), 'png');
  assert.equal(checkOneOf('ext', 'Jpg', ['png', 'jpg'], true), 'jpg');
  throwsOption(() => checkOneOf('ext', 'GIF', ['png', 'jpg'], true), 'ext', 'Expected one of "png", "jpg" for ext but received "GIF" of type string');
});

test('invalidOption and conflictingOptions carry what the option takes, or the option it clashes with', () => {
  const wrong = invalidOption('start', 'a non-negative integer', 'abc');
  assert.equal(wrong.expected, 'a non-negative integer');
  assert.equal(wrong.conflictsWith, undefined);
  const clash = conflictingOptions('start', 'frames', 'choose one');
  assert.ok(clash instanceof InvalidOptionError);
  assert.equal(clash.code, ErrorCode.INVALID_OPTION);
  assert.equal(clash.option, 'start');
  assert.equal(clash.conflictsWith, 'frames');
  assert.equal(clash.advice, 'choose one');
  assert.equal(clash.message, 'start cannot be used together with frames: choose one');
});

test('naming marks the options that advice and expected texts name, so a caller can spell those and only those its own way', () => {
  const start = 5;
  const clash = conflictingOptions('maxSide', 'size', naming`${'size'} sets the output size itself; give ${'maxSide'} alone`);
  assert.equal(clash.message, 'maxSide cannot be used together with size: size sets the output size itself; give maxSide alone');
  assert.equal(clash.advice, 'size sets the output size itself; give maxSide alone');
  const flag = (option: string) => `--${option.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`;
  // "the output size" is a word, not the option: it stays.
  assert.deepEqual(clash.spelled(flag), { expected: undefined, advice: '--size sets the output size itself; give --max-side alone' });
  // A number in the template is a value, not a name.
  const wrong = invalidOption('end', naming`an integer >= ${'start'} (${start})`, 3);
  assert.equal(wrong.message, 'Expected an integer >= start (5) for end but received 3 of type number');
  assert.deepEqual(wrong.spelled(flag), { expected: 'an integer >= --start (5)', advice: undefined });
  // A plain string names no option.
  assert.equal(conflictingOptions('a', 'b', 'give start alone').spelled(flag).advice, 'give start alone');
  assert.equal(spellOptions(naming`${'fps'}`, flag), '--fps');
});

test('checkFunction, checkBoolean, checkSignal', () => {
  const fn = () => {};
  assert.equal(checkFunction('progress', fn), fn);
  assert.equal(checkFunction('progress', undefined), undefined);
  throwsOption(() => checkFunction('progress', 'tick'), 'progress', 'Expected a function for progress but received "tick" of type string');

  assert.equal(checkBoolean('verbose', undefined, true), true);
  assert.equal(checkBoolean('verbose', false, true), false);
  throwsOption(() => checkBoolean('verbose', 1, false), 'verbose', 'Expected a boolean for verbose but received 1 of type number');

  const signal = new AbortController().signal;
  assert.equal(checkSignal('signal', signal), signal);
  assert.equal(checkSignal('signal', undefined), undefined);
  throwsOption(() => checkSignal('signal', {}), 'signal', 'Expected an AbortSignal for signal but received [object] of type object');
});

test('assertKnownKeys names the unknown key and the known ones', () => {
  assertKnownKeys({ a: 1, b: undefined }, ['a', 'b', 'c'], 'Thing');
  assertKnownKeys({}, [], 'Thing');
  throwsOption(
    () => assertKnownKeys({ a: 1, maxWorkers: 2 }, ['a', 'maxWriteWorkers'], 'FrameDirSink'),
    'maxWorkers',
    'Unknown option maxWorkers for FrameDirSink; known options: a, maxWriteWorkers',
  );
});

test('assertOptionsObject accepts undefined and plain objects only', () => {
  assert.deepEqual(assertOptionsObject(undefined, 'Demuxer'), {});
  const options = { highWaterMark: 2 };
  assert.equal(assertOptionsObject(options, 'Demuxer'), options);
  throwsOption(() => assertOptionsObject(null as never, 'Demuxer'), 'Demuxer options', 'Expected an object for Demuxer options but received null of type null');
  throwsOption(() => assertOptionsObject([] as never, 'Demuxer'), 'Demuxer options', 'Expected an object for Demuxer options but received [array] of type array');
  throwsOption(() => assertOptionsObject(7 as never, 'Demuxer'), 'Demuxer options', 'Expected an object for Demuxer options but received 7 of type number');
});

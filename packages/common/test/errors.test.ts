import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import {
  AbortError,
  ErrorCode,
  FramepipeError,
  InvalidOptionError,
  isAbortError,
  throwIfAborted,
  ResumeMismatchError,
  naming,
} from '../src/index.ts';

test('every code is a distinct ERR_FRAMEPIPE_ string', () => {
  const codes = Object.values(ErrorCode);
  assert.equal(codes.length, 28);
  assert.equal(new Set(codes).size, codes.length);
  for (const code of codes) assert.match(code, /^ERR_FRAMEPIPE_[A-Z_]+$/);
  assert.equal(ErrorCode.INVALID_OPTION, 'ERR_FRAMEPIPE_INVALID_OPTION');
  assert.equal(ErrorCode.WRITE_FAILED, 'ERR_FRAMEPIPE_WRITE_FAILED');
  assert.equal(ErrorCode.ABORTED, 'ERR_FRAMEPIPE_ABORTED');
});

test('FramepipeError carries code, details and cause', () => {
  const cause = new Error('EACCES');
  const error = new FramepipeError(ErrorCode.WRITE_FAILED, 'Cannot write', {
    cause,
    source: 'http://x/v.mp4',
    path: '/out/frame_000001.png',
    option: 'ext',
    status: 503,
  });
  assert.ok(error instanceof Error);
  assert.equal(error.name, 'FramepipeError');
  assert.equal(error.code, 'ERR_FRAMEPIPE_WRITE_FAILED');
  assert.equal(error.message, 'Cannot write');
  assert.equal(error.cause, cause);
  assert.equal(error.source, 'http://x/v.mp4');
  assert.equal(error.path, '/out/frame_000001.png');
  assert.equal(error.option, 'ext');
  assert.equal(error.status, 503);
});

test('FramepipeError without details has no cause property at all', () => {
  const error = new FramepipeError(ErrorCode.TIMEOUT, 'slow');
  assert.equal('cause' in error, false);
  assert.equal(error.source, undefined);
  assert.equal(error.path, undefined);
});

test('ResumeMismatchError: the file, what it holds, what the run makes; options renamed only where they are options', () => {
  const error = new ResumeMismatchError('/out/size/frame_000000.png', {
    found: '320×180 RGB 8-bit',
    expected: '640×360 grey 8-bit',
    differing: 300,
    kept: 300,
    options: [...ResumeMismatchError.SIZE_OPTIONS, 'pixelFormat'],
    // "size" in the advice is a word here, not the option: only what naming marks is an option.
    advice: naming`${'resume'} keeps only the files of the size and format this run writes; pass ${'overwrite'} to write every file again`,
  });
  assert.ok(error instanceof FramepipeError);
  assert.deepEqual([error.name, error.code, error.path, error.checked], ['ResumeMismatchError', ErrorCode.RESUME_MISMATCH, '/out/size/frame_000000.png', 300]);
  const sizes = 'size, maxSide, crop, fit and autorotate decide the width and height';
  assert.equal(
    error.message,
    `/out/size/frame_000000.png holds 320×180 RGB 8-bit, but this run makes 640×360 grey 8-bit (300 of the 300 files to keep differ; ${sizes}; pixelFormat decides the channels and bit depth): resume keeps only the files of the size and format this run writes; pass overwrite to write every file again`,
  );
  assert.equal(error.advice, 'resume keeps only the files of the size and format this run writes; pass overwrite to write every file again');
  // A caller's names for the options (the CLI's flags); the word "size" in the path and in the advice stays.
  const flags: Record<string, string> = { size: '--size', maxSide: '--max-side', crop: '--crop', fit: '--fit', autorotate: '--autorotate', pixelFormat: '--pixel-format', resume: '--resume', overwrite: '--overwrite' };
  assert.equal(
    error.describe((word) => flags[word] ?? word),
    '/out/size/frame_000000.png holds 320×180 RGB 8-bit, but this run makes 640×360 grey 8-bit (300 of the 300 files to keep differ; --size, --max-side, --crop, --fit and --autorotate decide the width and height; --pixel-format decides the channels and bit depth): --resume keeps only the files of the size and format this run writes; pass --overwrite to write every file again',
  );
  const one = new ResumeMismatchError('s3://b/v/frame_000000.png', { found: 'a', expected: 'b', differing: 1, kept: 6, checked: 1, options: [], advice: 'x' });
  assert.equal(one.message, 's3://b/v/frame_000000.png holds a, but this run makes b (1 of the 6 files to keep checked, 1 differs): x');
  const other = one.withAdvice('y');
  assert.deepEqual([other.message, other.kept, other.checked], ['s3://b/v/frame_000000.png holds a, but this run makes b (1 of the 6 files to keep checked, 1 differs): y', 6, 1]);
});

test('InvalidOptionError and AbortError are FramepipeErrors with their own name and code', () => {
  const invalid = new InvalidOptionError('ext', 'bad ext');
  assert.ok(invalid instanceof FramepipeError);
  assert.equal(invalid.name, 'InvalidOptionError');
  assert.equal(invalid.code, ErrorCode.INVALID_OPTION);
  assert.equal(invalid.option, 'ext');

  const plain = new AbortError();
  assert.ok(plain instanceof FramepipeError);
  assert.equal(plain.name, 'AbortError');
  assert.equal(plain.code, ErrorCode.ABORTED);
  assert.equal(plain.message, 'The operation was aborted');
  assert.equal('cause' in plain, false);
  const reason = new Error('user pressed ^C');
  assert.equal(new AbortError(reason).cause, reason);
});

test('isAbortError knows ours and the platform\'s, and nothing else', () => {
  assert.equal(isAbortError(new AbortError()), true);
  assert.equal(isAbortError(new FramepipeError(ErrorCode.ABORTED, 'x')), true);
  assert.equal(isAbortError(new FramepipeError(ErrorCode.TIMEOUT, 'x')), false);
  assert.equal(isAbortError(new DOMException('stop', 'AbortError')), true);
  const controller = new AbortController();
  controller.abort();
  assert.equal(isAbortError(controller.signal.reason), true);
  assert.equal(isAbortError(new Error('AbortError')), false);
  assert.equal(isAbortError('AbortError'), false);
  assert.equal(isAbortError(undefined), false);
});

test('throwIfAborted throws an AbortError carrying the reason, only once the signal fired', () => {
  throwIfAborted(undefined);
  const controller = new AbortController();
  throwIfAborted(controller.signal);
  const reason = new Error('why');
  controller.abort(reason);
  assert.throws(
    () => throwIfAborted(controller.signal),
    (error: unknown) => error instanceof AbortError && error.cause === reason,
  );
});

test("the README's error table lists exactly the codes of ErrorCode, in its order, each with its key", async () => {
  const readme = await readFile(new URL('../../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('\n## Errors\n'), readme.indexOf('\n## ', readme.indexOf('\n## Errors\n') + 1));
  const rows = [...section.matchAll(/^\| `(ERR_FRAMEPIPE_[A-Z_]+)` \(`([A-Z_]+)`\) \|/gm)].map((match) => [match[2], match[1]]);
  assert.deepEqual(rows, Object.entries(ErrorCode));
  // One table of every code: a package's README lists only the codes its stage raises, if any.
  const { readdir } = await import('node:fs/promises');
  for (const name of await readdir(new URL('../../', import.meta.url))) {
    const text = await readFile(new URL(`../../${name}/README.md`, import.meta.url), 'utf8').catch(() => '');
    const listed = new Set([...text.matchAll(/^\|[^|\n]*`(ERR_FRAMEPIPE_[A-Z_]+)`/gm)].map((match) => match[1]));
    assert.ok(listed.size < rows.length / 2, `packages/${name}/README.md has a table of ${listed.size} codes; the README's is the one of them all`);
  }
});

test('an error from an FFmpeg call keeps its code and text in `ffmpeg`', () => {
  const ffmpeg = { code: -1094995529, text: 'Invalid data found when processing input' };
  const error = new FramepipeError(ErrorCode.INVALID_DATA, 'clip.mp4 is not a video framepipe can read', { ffmpeg });
  assert.deepEqual(error.ffmpeg, ffmpeg);
  assert.equal(new FramepipeError(ErrorCode.INVALID_DATA, 'x').ffmpeg, undefined);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCode, FramepipeError } from '@framepipe/common';
import { NAME_MAX_BYTES, shownSource, sourceName } from '../src/index.ts';

test("a URL's last path segment, decoded once, or a path's file name, without the extension; a video id as its number", () => {
  assert.equal(sourceName('https://cdn.example.com/clips/walk.mp4?token=abc#t=3'), 'walk');
  assert.equal(sourceName('https://cdn.example.com/clips/Walk%20cycle.mp4'), 'Walk cycle');
  // Decoded once only: `%2541` is `%41` once decoded, and stays so.
  assert.equal(sourceName('https://cdn.example.com/a%2541.mp4'), 'a%41');
  assert.equal(sourceName(new URL('http://127.0.0.1:8080/v/clip.webm')), 'clip');
  assert.equal(sourceName({ url: 'http://127.0.0.1/v/clip.ts', headers: { authorization: 'Bearer x' } }), 'clip');
  assert.equal(sourceName('file:///data/videos/clip.mkv'), 'clip');
  assert.equal(sourceName('/data/videos/clip.tar.mp4'), 'clip.tar');
  assert.equal(sourceName('relative/clip'), 'clip');
  assert.equal(sourceName({ videoId: 12345 }), '12345');
  // A percent sign that starts no escape is kept as it is.
  assert.equal(sourceName('https://h/100%.mp4'), '100%');
});

test('hostile names stay one safe directory name: no .., no separator, no leading dot, no control character', () => {
  const cases: Array<[string, string]> = [
    ['../x.mp4', 'x'],
    ['/data/in/../../x.mp4', 'x'],
    ['http://h/%2e%2e%2fetc%2fpasswd', '_etc_passwd'],
    ['http://h/%2E%2E%2F%2E%2E%2Fx.mp4', '_._x'],
    ['http://h/a%5C..%5Cb.mp4', 'a_._b'],
    ['a/b\\c.mp4', 'b_c'],
    ['http://h/b%5Cc.mp4', 'b_c'],
    ['.hidden.mp4', 'hidden'],
    ['http://h/...hidden', 'hidden'],
    ['http://h/a%00b%0A%1Fc%7F.mp4', 'a_b__c_'],
    ['http://h/a..b.mp4', 'a.b'],
  ];
  for (const [source, name] of cases) {
    const got = sourceName(source);
    assert.equal(got, name, source);
    assert.ok(!got.includes('..') && !/[/\\\p{Cc}]/u.test(got) && !got.startsWith('.') && got !== '', `${source} -> ${got}`);
  }
});

test('a long name is cut to NAME_MAX_BYTES on a character boundary, with a hash that keeps two long names apart', () => {
  const long = 'a'.repeat(5000);
  const name = sourceName(`http://h/${long}.mp4`);
  assert.equal(Buffer.byteLength(name), NAME_MAX_BYTES);
  assert.match(name, /^a{111}-[0-9a-f]{8}$/);
  const other = sourceName(`http://h/${long}b.mp4`);
  assert.equal(Buffer.byteLength(other), NAME_MAX_BYTES);
  assert.notEqual(other, name);
  assert.equal(sourceName(`http://h/${long}.mp4`), name, 'the same name every time');
  // Three-byte characters: the cut never splits one.
  const wide = sourceName(`/v/${'視'.repeat(200)}.mp4`);
  assert.ok(Buffer.byteLength(wide) <= NAME_MAX_BYTES);
  assert.match(wide, /^視{37}-[0-9a-f]{8}$/);
  assert.ok(!wide.includes('\uFFFD'));
  // Exactly at the limit: kept whole.
  assert.equal(sourceName(`/v/${'b'.repeat(NAME_MAX_BYTES)}.mp4`), 'b'.repeat(NAME_MAX_BYTES));
});

test('a source left with no name is refused with ERR_FRAMEPIPE_INVALID_NAME, its credentials hidden', () => {
  for (const source of ['https://h/videos/', 'http://h/..', 'http://h/%2e%2e', '..', '.', 'http://h/?token=secret']) {
    assert.throws(
      () => sourceName(source),
      (error: unknown) => {
        assert.ok(error instanceof FramepipeError);
        assert.equal(error.code, ErrorCode.INVALID_NAME, source);
        assert.match(error.message, /has no name to file its frames under/);
        assert.ok(!error.message.includes('secret'), error.message);
        return true;
      },
    );
  }
  assert.throws(() => sourceName({ videoId: -1 }), { code: ErrorCode.INVALID_OPTION });
  assert.throws(() => sourceName(42 as never), { code: ErrorCode.INVALID_OPTION, message: /Expected a URL, a path or \{ url, headers \} for source/ });
});

test('shownSource hides credentials and never shows headers', () => {
  assert.equal(shownSource('https://user:pw@h/v.mp4?X-Amz-Signature=abc&x=1'), 'https://h/v.mp4?X-Amz-Signature=(hidden)&x=1');
  assert.equal(shownSource({ url: 'https://h/v.mp4', headers: { authorization: 'Bearer secret' } }), 'https://h/v.mp4');
  assert.equal(shownSource('/data/v.mp4'), '/data/v.mp4');
  assert.equal(shownSource({ videoId: 42 }), 'supervisely:video/42');
});

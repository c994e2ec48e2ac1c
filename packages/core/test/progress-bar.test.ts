import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Writable } from 'node:stream';
import { ProgressBar } from '../src/progress-bar.ts';

/** A stream that keeps what is written, and may claim to be a terminal. */
function capture(tty: boolean, columns?: number): Writable & { isTTY?: boolean; columns?: number; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  }) as Writable & { isTTY?: boolean; columns?: number; text: () => string };
  if (tty) stream.isTTY = true;
  if (columns !== undefined) stream.columns = columns;
  stream.text = () => chunks.join('');
  return stream;
}

test('off a terminal it prints plain lines at most once per interval, and a last line on finish', async () => {
  const out = capture(false);
  const bar = new ProgressBar({ label: 'Saving frames', total: 20, stream: out, interval: 50 });
  for (let i = 0; i < 20; i++) {
    bar.tick();
    await sleep(10);
  }
  bar.finish();
  bar.finish();
  const lines = out.text().split('\n').filter(Boolean);
  // 20 ticks over ~200 ms at one line per 50 ms: a handful of lines, never one per tick.
  assert.ok(lines.length >= 3 && lines.length <= 8, `${lines.length} lines`);
  // No rate yet at the first unit: it is measured from there.
  assert.match(lines[0]!, /^Saving frames: 1\/20 frames \(5%\), - frames\/s, [\d.]+ s$/);
  assert.match(lines[1]!, /^Saving frames: \d+\/20 frames \(\d+%\), [\d.]+ frames\/s, ETA [\d.]+ s$/);
  assert.match(lines.at(-1)!, /^Saving frames: 20\/20 frames \(100%\), [\d.]+ frames\/s, done in [\d.]+ s$/);
  assert.doesNotMatch(out.text(), /\x1b|\r/, 'no terminal control codes in a log');
});

test('without a total it counts, and the total can be set later', () => {
  const out = capture(false);
  const bar = new ProgressBar({ label: 'Scanning packets', unit: 'packets', stream: out, interval: 1 });
  bar.update(7);
  assert.match(out.text(), /^Scanning packets: 7 packets, - packets\/s, [\d.]+ s\n$/);
  bar.total = 10;
  bar.finish();
  assert.match(out.text().split('\n')[1]!, /^Scanning packets: 7\/10 packets \(70%\)/);
});

test('on a terminal, bars on one stream redraw in place as a block and end with one newline', async () => {
  const out = capture(true, 80);
  const scan = new ProgressBar({ label: 'Decoding from start', unit: 'packets', total: 4, stream: out });
  const save = new ProgressBar({ label: 'Saving frames', total: 4, stream: out });
  for (let i = 0; i < 4; i++) {
    scan.tick();
    save.tick();
    await sleep(120);
  }
  scan.finish();
  save.finish();
  const text = out.text();
  // Every redraw after the first goes back up to the first line of the two-line block.
  const ups = (text.match(/\r\x1b\[1A/g) ?? []).length;
  const newlines = (text.match(/\n/g) ?? []).length;
  assert.ok(ups >= 3, JSON.stringify(text));
  assert.ok(text.endsWith('\n'));
  // Each redraw goes up one line and down one: the output moves down by the block's two lines, no more.
  assert.equal(newlines - ups, 2);
  const last = text.slice(text.lastIndexOf('\r\x1b[1A'));
  assert.match(last, /Decoding from start +\[#+\] 4\/4 packets \(100%\) .* done in/);
  assert.match(last, /Saving frames +\[#+\] 4\/4 frames \(100%\) .* done in/);
  for (const line of text.split(/\r|\n/)) assert.ok(line.replace(/\x1b\[\d*[AK]/g, '').length <= 79, `fits 80 columns: ${line}`);
});

test('the rate counts from the first unit done, not from when the bar was made', async () => {
  const out = capture(false);
  const made = performance.now();
  const bar = new ProgressBar({ label: 'Saving frames', total: 100, stream: out, interval: 1 });
  await sleep(300); // opening, scanning: nothing done yet
  bar.tick();
  for (let i = 0; i < 10; i++) {
    await sleep(20);
    bar.tick();
  }
  bar.finish();
  const overall = 11 / ((performance.now() - made) / 1000);
  const rate = Number(/, ([\d.]+) frames\/s, done in/.exec(out.text())![1]);
  // About 50/s against about 22/s overall; the idle start would pull the rate down to the overall average.
  assert.ok(rate > overall * 1.3, `rate ${rate} vs ${overall.toFixed(1)} overall`);
});

test('options are checked with the usual message', () => {
  assert.throws(() => new ProgressBar({ label: 'x', total: -1 }), {
    code: 'ERR_FRAMEPIPE_INVALID_OPTION',
    message: 'Expected a non-negative integer for total but received -1 of type number',
  });
  assert.throws(() => new ProgressBar({ label: 'x', colour: 'red' } as never), { code: 'ERR_FRAMEPIPE_INVALID_OPTION' });
  assert.throws(() => new ProgressBar(undefined as never), { code: 'ERR_FRAMEPIPE_INVALID_OPTION' });
  assert.throws(() => new ProgressBar({ label: 'x', elapsed: 3 as never }), { message: 'Expected a function for elapsed but received 3 of type number' });
});

test('elapsed: the time shown is the work\'s own (begun before the bar), read once more at finish and kept', () => {
  const out = capture(false);
  let seconds = 12.3;
  const bar = new ProgressBar({ label: 'Saving frames', total: 4, stream: out, interval: 1, elapsed: () => seconds });
  bar.update(0);
  assert.match(out.text(), /^Saving frames: 0\/4 frames \(0%\), - frames\/s, 12\.3 s\n$/);
  bar.update(4);
  seconds = 12.34;
  bar.finish();
  seconds = 99;
  assert.match(out.text().split('\n').filter(Boolean).at(-1)!, /^Saving frames: 4\/4 frames \(100%\), [\d.]+ frames\/s, done in 12\.3 s$/);
  assert.match(bar.line(Infinity), /done in 12\.3 s$/);
});

test('work that stops before it is done ends its line with "stopped after", not "done in"', () => {
  const out = capture(false);
  const bar = new ProgressBar({ label: 'Saving frames', total: 20, stream: out, interval: 1000 });
  bar.update(7);
  bar.finish('stopped');
  bar.finish();
  const lines = out.text().split('\n').filter(Boolean);
  assert.match(lines.at(-1)!, /^Saving frames: 7\/20 frames \(35%\), [\d.]+ frames\/s, stopped after [\d.]+ s$/);
  assert.doesNotMatch(out.text(), /done in/);
});

test('detail: words after the count, and a change of them alone is a new line off a terminal', async () => {
  const out = capture(false);
  const bar = new ProgressBar({ label: 'Batch', stream: out, interval: 1 });
  bar.detail = '0/3 videos';
  await sleep(5);
  bar.update(5);
  await sleep(5);
  bar.detail = '1/3 videos, 1 failed';
  bar.finish();
  assert.deepEqual(
    out.text().split('\n').filter(Boolean).map((line) => line.replace(/[\d.]+ s$/, 'T').replace(/, [\d.-]+ frames\/s/, '')),
    ['Batch: 0 frames, 0/3 videos, T', 'Batch: 5 frames, 0/3 videos, T', 'Batch: 5 frames, 1/3 videos, 1 failed, T', 'Batch: 5 frames, 1/3 videos, 1 failed, done in T'],
  );
  assert.throws(() => (bar.detail = 3 as never), { code: 'ERR_FRAMEPIPE_INVALID_OPTION' });
});

/**
 * The API reference in docs/api is generated from the TSDoc comments by TypeDoc (`pnpm api-docs`). This test
 * generates it again into a temporary directory and fails when the committed copy differs, so the reference
 * cannot drift from the code; TypeDoc's warnings (a broken link, a symbol used but not exported) fail it too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { access, readFile, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { removeDir, tempDir } from './support/pipeline-helpers.ts';
import { ROOT } from './support/run-script.ts';

const run = promisify(execFile);

async function files(dir: string): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    found.set(relative(dir, path), await readFile(path, 'utf8'));
  }
  return found;
}

test('docs/api is what TypeDoc makes of the code now, without a warning', { timeout: 180_000 }, async () => {
  const out = await tempDir('framepipe-api-docs-');
  try {
    await run(process.execPath, [join(ROOT, 'node_modules/typedoc/bin/typedoc'), '--out', out], { cwd: ROOT });
    const [fresh, committed] = await Promise.all([files(out), files(join(ROOT, 'docs/api'))]);
    const stale = [...new Set([...fresh.keys(), ...committed.keys()])].filter((name) => fresh.get(name) !== committed.get(name));
    assert.deepEqual(stale.sort(), [], 'these files of docs/api are out of date: run pnpm api-docs and commit them');
  } finally {
    await removeDir(out);
  }
});

test('every link from a README into docs/api leads to a page of the reference', async () => {
  const readmes = [join(ROOT, 'README.md'), join(ROOT, 'examples/README.md')];
  for (const dir of await readdir(join(ROOT, 'packages'))) readmes.push(join(ROOT, 'packages', dir, 'README.md'));
  let links = 0;
  for (const readme of readmes) {
    const text = await readFile(readme, 'utf8');
    for (const [, target] of text.matchAll(/\]\(([^)#\s]*docs\/api\/[^)#\s]*)/g)) {
      links++;
      // The npm README links to the repository's copy: the same page, under docs/api of the repository root.
      const github = /^https:\/\/github\.com\/framepipe\/framepipe\/blob\/main\/(.*)$/.exec(target!);
      const path = github ? join(ROOT, github[1]!) : join(readme, '..', target!);
      await access(path).catch(() => assert.fail(`${relative(ROOT, readme)} links to ${target}, which does not exist`));
    }
  }
  assert.ok(links >= 10, `links found: ${links}`);
});

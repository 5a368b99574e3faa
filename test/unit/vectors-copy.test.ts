/**
 * test/vectors/ is a verbatim copy of the workspace's ../shared/vectors (never
 * edited). Where the original exists, every file must be byte-identical and
 * none may be missing on either side.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../helpers/repo-root.js';
import { sharedVectorsDir } from '../helpers/vectors.js';

function files(dir: string, rel = ''): string[] {
  return readdirSync(path.join(dir, rel), { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? files(dir, path.join(rel, e.name)) : [path.join(rel, e.name)]))
    .sort();
}

const copy = path.join(repoRoot(), 'test', 'vectors');

test('the committed vectors are present', () => {
  assert.ok(files(copy).length >= 29, 'test/vectors holds the shared vectors');
});

test('the committed vectors equal ../shared/vectors byte for byte (when the workspace has it)', (t) => {
  const original = sharedVectorsDir();
  if (original === undefined) {
    t.diagnostic('no ../shared/vectors next to this checkout: nothing to compare (a clean clone elsewhere)');
    return;
  }
  assert.deepEqual(files(copy), files(original));
  for (const f of files(original)) assert.ok(readFileSync(path.join(copy, f)).equals(readFileSync(path.join(original, f))), `${f} differs from the original`);
});

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { mkdir, rename, rm, symlink, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { CachedFile, CachedFiles, FileReadError } from '../../src/main/cluster/cached-file.js';

const root = mkdtempSync(path.join(tmpdir(), 'cached-file-'));
after(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
const fresh = (): string => path.join(root, `f${counter++}`);

/** A clock 10 s ahead: every version is old enough to be trusted (no "racy" re-reads). */
const aged = { now: () => Date.now() + 10_000 };

function textFile(file: string, options: { racyMs?: number; now?: () => number } = aged): { cf: CachedFile<string>; parsed: string[] } {
  const parsed: string[] = [];
  const cf = new CachedFile(
    file,
    (b) => {
      const s = b.toString('utf8');
      parsed.push(s);
      if (s.startsWith('bad')) throw new Error(`cannot parse ${s}`);
      return s;
    },
    { maxBytes: 64, ...options },
  );
  return { cf, parsed };
}

/**
 * Waits until the file's ctime differs from `before`: with coarse kernel
 * timestamps two changes within one tick look alike, and the tests below
 * check detection by version, not the racy-window fallback.
 */
async function ctimeMoved(file: string, before: bigint, change: () => Promise<void>): Promise<void> {
  for (let i = 0; i < 200 && statSync(file, { bigint: true }).ctimeNs === before; i++) {
    await delay(5);
    await change();
  }
}

describe('CachedFile', () => {
  it('an unchanged file is read and parsed once for many gets', async () => {
    const f = fresh();
    await writeFile(f, 'one');
    const { cf, parsed } = textFile(f);
    for (let i = 0; i < 50; i++) assert.equal(await cf.get(), 'one');
    assert.deepEqual(parsed, ['one']);
    assert.deepEqual(cf.stats, { gets: 50, reads: 1, parses: 1 });
  });

  it('a just-written file (racy timestamps) is re-read but parsed once', async () => {
    const f = fresh();
    await writeFile(f, 'one');
    const { cf, parsed } = textFile(f, { racyMs: 60_000 });
    for (let i = 0; i < 10; i++) assert.equal(await cf.get(), 'one');
    assert.deepEqual(parsed, ['one']);
    assert.equal(cf.stats.reads, 10, 'within the racy window every get reads');
    assert.equal(cf.stats.parses, 1, 'same bytes: no parse');
  });

  it('an in-place rewrite of the same size right after a read is seen (default racy window, real clock)', async () => {
    const f = fresh();
    const { cf } = textFile(f, {});
    for (let i = 0; i < 20; i++) {
      const text = `v${String(i).padStart(3, '0')}`;
      await writeFile(f, text); // same size, same inode, often the same timestamp tick
      assert.equal(await cf.get(), text);
    }
  });

  it('an in-place rewrite is detected by the version alone: size, or ctime with mtime set back', async () => {
    const f = fresh();
    await writeFile(f, 'one');
    const { cf } = textFile(f);
    assert.equal(await cf.get(), 'one');
    await writeFile(f, 'three');
    assert.equal(await cf.get(), 'three', 'other size');

    // Same size, mtime restored (as cp -p or tar do): only ctime tells.
    const old = new Date('2020-01-01T00:00:00Z');
    await utimes(f, old, old);
    assert.equal(await cf.get(), 'three');
    const before = statSync(f, { bigint: true });
    const rewrite = async (): Promise<void> => {
      await writeFile(f, 'THREE');
      await utimes(f, old, old);
    };
    await rewrite();
    await ctimeMoved(f, before.ctimeNs, rewrite);
    const after = statSync(f, { bigint: true });
    assert.equal(after.mtimeNs, before.mtimeNs);
    assert.equal(after.ino, before.ino);
    assert.equal(after.size, before.size);
    assert.equal(await cf.get(), 'THREE');
    assert.equal(cf.stats.parses, 3);
  });

  it('rename into place (a new inode) is seen', async () => {
    const f = fresh();
    await writeFile(f, 'aaa');
    const { cf } = textFile(f);
    assert.equal(await cf.get(), 'aaa');
    await writeFile(`${f}.tmp`, 'bbb');
    await rename(`${f}.tmp`, f);
    assert.equal(await cf.get(), 'bbb');
    assert.equal(await cf.get(), 'bbb');
    assert.deepEqual(cf.stats, { gets: 3, reads: 2, parses: 2 });
  });

  it('a Kubernetes ..data symlink swap is seen through the symlinks', async () => {
    const dir = fresh();
    await mkdir(dir);
    const ts1 = '..2026_01_01_00_00_00.000000001';
    await mkdir(path.join(dir, ts1));
    await writeFile(path.join(dir, ts1, 'admin.conf'), 'first');
    await symlink(ts1, path.join(dir, '..data'));
    const file = path.join(dir, 'admin.conf');
    await symlink('..data/admin.conf', file);
    const { cf } = textFile(file);
    assert.equal(await cf.get(), 'first');

    const swap = async (ts: string, text: string, old: string): Promise<void> => {
      await mkdir(path.join(dir, ts));
      await writeFile(path.join(dir, ts, 'admin.conf'), text);
      await symlink(ts, path.join(dir, '..data_tmp'));
      await rename(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
      await rm(path.join(dir, old), { recursive: true });
    };
    await swap('..2026_01_01_00_01_00.000000002', 'secon', ts1); // same size as "first"
    assert.equal(await cf.get(), 'secon');
    await swap('..2026_01_01_00_02_00.000000003', 'third', '..2026_01_01_00_01_00.000000002');
    assert.equal(await cf.get(), 'third');
    assert.equal(await cf.get(), 'third');
    assert.deepEqual(cf.stats, { gets: 4, reads: 3, parses: 3 });
  });

  it('a deleted file fails with the read error (not the cached value), and is read again once back', async () => {
    const f = fresh();
    await writeFile(f, 'here');
    const { cf } = textFile(f);
    assert.equal(await cf.get(), 'here');
    await unlink(f);
    for (let i = 0; i < 2; i++) {
      const err = await cf.get().then(
        () => assert.fail('no error'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof FileReadError);
      assert.equal(err.message, `open ${f}: no such file or directory`);
      assert.equal((err.cause as NodeJS.ErrnoException).code, 'ENOENT');
      assert.equal(err.tooLarge, false);
    }
    await writeFile(f, 'back');
    assert.equal(await cf.get(), 'back');
  });

  it('a directory fails like os.ReadFile (read: is a directory)', async () => {
    const d = fresh();
    await mkdir(d);
    const { cf } = textFile(d);
    await assert.rejects(cf.get(), { name: 'FileReadError', message: `read ${d}: is a directory` });
  });

  it('a file larger than maxBytes fails, after the read as before', async () => {
    const f = fresh();
    await writeFile(f, 'x'.repeat(65));
    const { cf, parsed } = textFile(f);
    const err = await cf.get().catch((e: unknown) => e);
    assert.ok(err instanceof FileReadError);
    assert.equal(err.tooLarge, true);
    assert.equal((err.cause as Error).message, `${f} is larger than 64 bytes`);
    assert.deepEqual(parsed, []);
    await writeFile(f, 'small');
    assert.equal(await cf.get(), 'small');
  });

  it('a parse error is not cached: the next get parses again', async () => {
    const f = fresh();
    await writeFile(f, 'bad one');
    const { cf, parsed } = textFile(f);
    await assert.rejects(cf.get(), { message: 'cannot parse bad one' });
    await assert.rejects(cf.get(), { message: 'cannot parse bad one' });
    assert.deepEqual(parsed, ['bad one', 'bad one']);
    await writeFile(f, 'good');
    assert.equal(await cf.get(), 'good');
    // A later parse error does not leave the previous value behind either.
    await writeFile(f, 'bad two!');
    await assert.rejects(cf.get(), { message: 'cannot parse bad two!' });
    await assert.rejects(cf.get(), { message: 'cannot parse bad two!' });
  });

  it('concurrent gets share one read and parse', async () => {
    const f = fresh();
    await writeFile(f, 'shared');
    for (const options of [aged, { racyMs: 60_000 }]) {
      const { cf, parsed } = textFile(f, options);
      const values = await Promise.all(Array.from({ length: 20 }, () => cf.get()));
      assert.ok(values.every((v) => v === 'shared'));
      assert.deepEqual(parsed, ['shared']);
      assert.equal(cf.stats.reads, 1, JSON.stringify(options));
    }
    // …and share a failure too, which is then not cached.
    const { cf, parsed } = textFile(f);
    await writeFile(f, 'bad shared');
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => cf.get()));
    assert.ok(results.every((r) => r.status === 'rejected'));
    assert.equal(parsed.length, 1);
    await assert.rejects(cf.get());
    assert.equal(parsed.length, 2);
  });

  it('CachedFiles: one CachedFile per path, bounded', async () => {
    const parses: string[] = [];
    const files = new CachedFiles((b, p) => (parses.push(p), b.toString()), { maxBytes: 64, maxFiles: 2, ...aged });
    const [a, b, c] = [fresh(), fresh(), fresh()];
    await Promise.all([writeFile(a, 'a'), writeFile(b, 'b'), writeFile(c, 'c')]);
    assert.equal(await files.get(a), 'a');
    assert.equal(await files.get(a), 'a');
    assert.equal(await files.get(b), 'b');
    assert.equal(files.file(b), files.file(b));
    assert.deepEqual(parses, [a, b]);
    assert.equal(await files.get(c), 'c'); // evicts a
    assert.equal(await files.get(a), 'a');
    assert.deepEqual(parses, [a, b, c, a]);
  });
});

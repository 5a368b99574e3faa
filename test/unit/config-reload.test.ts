import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { ErrorCode, JoinServiceError } from '../../src/shared/errors.js';
import { AttestationConfigSource, type ReloadOutcome } from '../../src/main/config/attestation-config-source.js';
import { ConfigWatcher } from '../../src/main/config/config-watcher.js';
import { createLogger } from '../../src/main/log/logger.js';
import { defaultDevAttestationConfig } from '../../src/workers/attestation/vtpm/issuer/index.js';

const root = mkdtempSync(path.join(tmpdir(), 'config-reload-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirCounter = 0;

const WAIT_MS = 20_000;
const cfg = (n: number): string => `${JSON.stringify({ measurements: { '4': { expected: n.toString(16).padStart(64, '0'), warnOnly: false } } })}\n`;

/** Atomic replacement (write a temp file, rename it over), so no reader sees a half-written file. */
async function replace(file: string, text: string): Promise<void> {
  await writeFile(`${file}.tmp`, text);
  await rename(`${file}.tmp`, file);
}

interface Harness {
  dir: string;
  file: string;
  source: AttestationConfigSource;
  watcher: ConfigWatcher;
  logs: Record<string, unknown>[];
  outcomes: ReloadOutcome[];
  /** Resolves once `cond` holds (checked now and after every reload attempt). */
  until(cond: () => boolean, what: string): Promise<void>;
  close(): Promise<void>;
}

async function harness(opts: { variant?: 'qemu-vtpm'; initial?: string; layout?: 'plain' | 'kubernetes' } = {}): Promise<Harness> {
  const dir = path.join(root, `d${dirCounter++}`);
  await mkdir(dir);
  const file = path.join(dir, 'attestationConfig');
  const initial = opts.initial ?? cfg(1);
  if (opts.layout === 'kubernetes') {
    await mkdir(path.join(dir, '..2026_01_01_00_00_00.000000001'));
    await writeFile(path.join(dir, '..2026_01_01_00_00_00.000000001', 'attestationConfig'), initial);
    await symlink('..2026_01_01_00_00_00.000000001', path.join(dir, '..data'));
    await symlink('..data/attestationConfig', file);
  } else {
    await writeFile(file, initial);
  }
  const logs: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) logs.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  const log = createLogger({ level: 'debug', destination });
  const source = await AttestationConfigSource.load(file, opts.variant ? { variant: opts.variant } : {});
  const watcher = new ConfigWatcher({ source, log, debounceMs: 50, pollIntervalMs: 2000 }).start();
  const outcomes: ReloadOutcome[] = [];
  watcher.on('reload', (o) => outcomes.push(o));
  return {
    dir,
    file,
    source,
    watcher,
    logs,
    outcomes,
    until(cond, what) {
      if (cond()) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!cond()) return;
          clearTimeout(timer);
          watcher.off('reload', check);
          resolve();
        };
        const timer = setTimeout(() => {
          watcher.off('reload', check);
          reject(new Error(`timed out waiting for ${what}; stats ${JSON.stringify(source.stats())}, outcomes ${JSON.stringify(outcomes)}`));
        }, WAIT_MS);
        watcher.on('reload', check);
      });
    },
    close: () => watcher.close(),
  };
}

describe('attestation config hot reload', () => {
  it('an in-place write becomes the next generation', async () => {
    const h = await harness();
    try {
      assert.deepEqual(h.source.stats(), { generation: 1, reloads: 0, reloadFailures: 0 });
      await writeFile(h.file, cfg(2));
      await h.until(() => h.source.current().text === cfg(2), 'content 2');
      // (An in-place write may be read half-written once; that counts as a failure and is not asserted on.)
      assert.equal(h.source.stats().generation, 2);
      assert.equal(h.source.stats().reloads, 1);
      const line = h.logs.find((l) => l['msg'] === 'Attestation config reloaded');
      assert.equal(line?.['generation'], 2);
      assert.equal(line?.['previousGeneration'], 1);
    } finally {
      await h.close();
    }
  });

  it('remove and recreate ends on the new content', async () => {
    const h = await harness();
    try {
      await rm(h.file);
      await writeFile(h.file, cfg(3));
      await h.until(() => h.source.current().text === cfg(3), 'content 3');
      assert.equal(h.source.current().generation, 2);
      // While it was missing the old generation stayed in force (a failure may or may not have been seen).
      assert.ok(h.outcomes.every((o) => o.kind !== 'reloaded' || o.generation === 2));
    } finally {
      await h.close();
    }
  });

  it('editor-style rename into place', async () => {
    const h = await harness();
    try {
      await writeFile(path.join(h.dir, '.attestationConfig.swp'), cfg(4));
      await rename(path.join(h.dir, '.attestationConfig.swp'), h.file);
      await h.until(() => h.source.current().text === cfg(4), 'content 4');
      assert.deepEqual(h.source.stats(), { generation: 2, reloads: 1, reloadFailures: 0 });
    } finally {
      await h.close();
    }
  });

  it('a Kubernetes ConfigMap ..data symlink swap', async () => {
    const h = await harness({ layout: 'kubernetes' });
    try {
      assert.equal(h.source.current().text, cfg(1));
      const swap = async (ts: string, text: string, old: string) => {
        await mkdir(path.join(h.dir, ts));
        await writeFile(path.join(h.dir, ts, 'attestationConfig'), text);
        await symlink(ts, path.join(h.dir, '..data_tmp'));
        await rename(path.join(h.dir, '..data_tmp'), path.join(h.dir, '..data'));
        await rm(path.join(h.dir, old), { recursive: true });
      };
      await swap('..2026_01_01_00_01_00.000000002', cfg(5), '..2026_01_01_00_00_00.000000001');
      await h.until(() => h.source.current().text === cfg(5), 'content 5');
      assert.equal(h.source.current().generation, 2);
      await swap('..2026_01_01_00_02_00.000000003', cfg(6), '..2026_01_01_00_01_00.000000002');
      await h.until(() => h.source.current().text === cfg(6), 'content 6');
      assert.deepEqual(h.source.stats(), { generation: 3, reloads: 2, reloadFailures: 0 });
    } finally {
      await h.close();
    }
  });

  it('rapid successive writes end on the last valid content', async () => {
    const h = await harness();
    try {
      for (let i = 10; i < 40; i++) {
          if (i % 2 === 0) await writeFile(h.file, cfg(i));
        else await replace(h.file, cfg(i));
      }
      await writeFile(h.file, '{"broken');
      await replace(h.file, cfg(99));
      await h.until(() => h.source.current().text === cfg(99), 'content 99');
      const { generation, reloads } = h.source.stats();
      assert.equal(generation, reloads + 1);
      // Generations only ever increase by one per swap.
      const gens = h.outcomes.filter((o) => o.kind === 'reloaded').map((o) => (o.kind === 'reloaded' ? o.generation : 0));
      assert.deepEqual(gens, gens.map((_, i) => i + 2));
    } finally {
      await h.close();
    }
  });

  it('invalid content keeps the previous generation and counts a failure', async () => {
    const h = await harness();
    try {
      await replace(h.file, 'not json at all');
      await h.until(() => h.source.stats().reloadFailures === 1, 'a reload failure');
      assert.deepEqual(h.source.stats(), { generation: 1, reloads: 0, reloadFailures: 1 });
      assert.equal(h.source.current().text, cfg(1));
      const line = h.logs.find((l) => l['msg'] === 'Attestation config reload failed');
      assert.equal(line?.['level'], 'WARN');
      assert.equal(line?.['generationKept'], 1);
      assert.equal(line?.['code'], ErrorCode.ConfigInvalid);
      assert.match(String(line?.['error']), /not valid JSON/);

      await replace(h.file, '[1, 2]');
      await h.until(() => h.source.stats().reloadFailures === 2, 'a second reload failure');
      assert.equal(h.source.current().generation, 1);

      await replace(h.file, cfg(7));
      await h.until(() => h.source.current().text === cfg(7), 'content 7');
      assert.deepEqual(h.source.stats(), { generation: 2, reloads: 1, reloadFailures: 2 });
    } finally {
      await h.close();
    }
  });

  it('a config the variant cannot use (bad hex) is rejected before it takes effect', async () => {
    const good = defaultDevAttestationConfig();
    const h = await harness({ variant: 'qemu-vtpm', initial: good });
    try {
      const parsed = JSON.parse(good) as { measurements: Record<string, { expected: string }> };
      parsed.measurements['4']!.expected = 'zz' + parsed.measurements['4']!.expected.slice(2);
      await replace(h.file, JSON.stringify(parsed));
      await h.until(() => h.source.stats().reloadFailures === 1, 'a reload failure');
      assert.equal(h.source.current().text, good);
      assert.equal(h.source.current().generation, 1);
      const failed = h.outcomes.find((o) => o.kind === 'failed');
      assert.ok(failed?.kind === 'failed');
      assert.match(failed.error.message, /invalid.*qemu-vtpm/);
      assert.equal(failed.error.code, ErrorCode.ConfigInvalid);

      parsed.measurements['4']!.expected = 'ab' + parsed.measurements['4']!.expected.slice(2);
      await replace(h.file, JSON.stringify(parsed));
      await h.until(() => h.source.current().generation === 2, 'generation 2');
      assert.equal(h.source.current().text, JSON.stringify(parsed));
    } finally {
      await h.close();
    }
  });

  it('unchanged content does not make a new generation', async () => {
    const h = await harness();
    try {
      await replace(h.file, cfg(1));
      await h.until(() => h.outcomes.length > 0, 'a reload attempt');
      await writeFile(`${h.file}.tmp`, cfg(1));
      await rename(`${h.file}.tmp`, h.file);
      await h.until(() => h.outcomes.length > 1, 'a second reload attempt');
      assert.ok(h.outcomes.every((o) => o.kind === 'unchanged'), JSON.stringify(h.outcomes));
      assert.deepEqual(h.source.stats(), { generation: 1, reloads: 0, reloadFailures: 0 });
      assert.equal(await h.source.reload().then((o) => o.kind), 'unchanged');
    } finally {
      await h.close();
    }
  });

  it('the periodic re-read picks up a change without a directory event', async () => {
    const dir = path.join(root, 'poll');
    await mkdir(dir);
    const file = path.join(dir, 'attestationConfig');
    await writeFile(file, cfg(1));
    const source = await AttestationConfigSource.load(file);
    // A debounce far longer than the poll interval: only the periodic check can reload in time.
    const log = createLogger({ level: 'error', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
    const watcher = new ConfigWatcher({ source, log, debounceMs: 600_000, pollIntervalMs: 100 }).start();
    try {
      await writeFile(file, cfg(8));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no periodic reload')), WAIT_MS);
        watcher.on('reload', () => {
          if (source.current().text === cfg(8)) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      assert.equal(source.current().generation, 2);
    } finally {
      await watcher.close();
    }
  });

  it('start-up fails clearly when the config is missing or invalid', async () => {
    const missing = path.join(root, 'nope', 'attestationConfig');
    await assert.rejects(AttestationConfigSource.load(missing), (e: unknown) => {
      assert.ok(e instanceof JoinServiceError);
      assert.equal(e.code, ErrorCode.ConfigInvalid);
      assert.match(e.message, /reading attestation config .*ENOENT/);
      return true;
    });
    const bad = path.join(root, 'bad.json');
    await writeFile(bad, '{"measurements":{"4":{"expected":"xyz","warnOnly":false}}}');
    await assert.rejects(AttestationConfigSource.load(bad, { variant: 'qemu-vtpm' }), /attestation config .*bad\.json: invalid.*qemu-vtpm/);
  });
});

/**
 * Reload under load: `joinservice dev --attestation-variant qemu-vtpm` verifies a
 * stream of Go-peer joins (simulated qemu-vtpm nodes) while its attestation
 * config is replaced 50 times, rename-into-place, by two valid generations
 * (A = the dev config, which accepts the simulated node; B = A with PCR 4's
 * expected value changed, which rejects it) and invalid texts (garbage JSON,
 * bad hex). Every verdict is correlated with the generation logged on the
 * service's `aTLS client attested` / `aTLS client rejected` line.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode } from '../../src/shared/errors.js';
import { startDevService, type DevService, type LogLine } from '../helpers/dev-service.js';
import { buildGoPeer, joinserviceIssuerFlags, runGoPeer } from '../helpers/go-peer.js';

const JOINS = 40;
const PARALLEL = 4;
const SWAPS = 50;

const sha = (t: string): string => createHash('sha256').update(t, 'utf8').digest('hex');
const atls = (l: LogLine): Record<string, unknown> => (l['atls'] as Record<string, unknown> | undefined) ?? {};

let svc: DevService;

before(async () => {
  await buildGoPeer();
  svc = await startDevService(['--attestation-variant', 'qemu-vtpm']);
});
after(async () => {
  await svc?.stop();
});

describe('attestation config reload under load', () => {
  it('joins see exactly one valid generation each; invalid configs never take effect; no join is lost', { timeout: 600_000 }, async (t) => {
    const file = svc.info.attestationConfigPath;
    const textA = await readFile(file, 'utf8');
    const parsed = JSON.parse(textA) as { measurements: Record<string, { expected: string; warnOnly: boolean }> };
    const pcr4 = parsed.measurements['4']!.expected;
    const flip = (pcr4[0] === 'f' ? '0' : 'f') + pcr4.slice(1);
    const textB = JSON.stringify({ ...parsed, measurements: { ...parsed.measurements, '4': { expected: flip, warnOnly: false } } });
    const garbage = '{"measurements": {"4": ';
    const badHex = JSON.stringify({ ...parsed, measurements: { ...parsed.measurements, '4': { expected: 'zz' + pcr4.slice(2), warnOnly: false } } });
    const shaA = sha(textA);
    const shaB = sha(textB);
    const invalid = new Set([sha(garbage), sha(badHex)]);

    const replace = async (text: string, i: number) => {
      const tmp = `${file}.swap-${i}`;
      await writeFile(tmp, text);
      await rename(tmp, file);
    };
    // Generation → content, from the service's own reload lines (generation 1 is the start-up config, A).
    const genSha = (): Map<number, string> => {
      const m = new Map<number, string>([[1, shaA]]);
      for (const l of svc.logs) if (l.msg === 'Attestation config reloaded') m.set(l['generation'] as number, l['sha256'] as string);
      return m;
    };
    const reloadedTo = (hash: string, since: number) =>
      svc.waitForLog((l) => l.msg === 'Attestation config reloaded' && l['sha256'] === hash, { since, timeoutMs: 30_000 });

    const since = svc.logs.length;
    const pattern = [textB, textA, garbage, textB, badHex, textA];
    const swapper = (async () => {
      for (let i = 0; i < SWAPS - 1; i++) {
        await replace(pattern[i % pattern.length]!, i);
        await sleep(150 + (i % 4) * 50);
      }
      await replace(textA, SWAPS - 1);
    })();
    const peer = runGoPeer(
      ['--endpoint', svc.info.endpoint, '--rpc', 'join', '--timeout', '60s', ...joinserviceIssuerFlags('qemu-vtpm'), '--count', String(JOINS), '--parallel', String(PARALLEL)],
      { timeoutMs: 540_000 },
    );
    const [res] = await Promise.all([peer, swapper]);
    // The last swap (A) takes effect unless A is already in force.
    if (svc.logs.filter((l) => l.msg === 'Attestation config reloaded').at(-1)?.['sha256'] === shaB) await reloadedTo(shaA, since);

    const window = svc.logs.slice(since);
    const reloaded = window.filter((l) => l.msg === 'Attestation config reloaded');
    const failures = window.filter((l) => l.msg === 'Attestation config reload failed');
    const rejected = window.filter((l) => l.msg === 'aTLS client rejected');
    const attested = window.filter((l) => l.msg === 'aTLS client attested');
    const summary = JSON.stringify({ res, reloads: reloaded.length, failures: failures.length, rejected: rejected.length, attested: attested.length });

    t.diagnostic(summary);
    // No join is lost.
    assert.equal(res.count, JOINS, summary);
    assert.equal((res.succeeded ?? 0) + (res.failed ?? 0), JOINS, summary);
    assert.ok(attested.length >= (res.succeeded ?? 0), summary);
    assert.ok(rejected.length >= (res.failed ?? 0), summary);

    // Invalid texts were seen and refused; only A and B ever became a generation.
    assert.ok(failures.length > 0, summary);
    for (const f of failures) {
      assert.equal(f['code'], ErrorCode.ConfigInvalid, JSON.stringify(f));
      assert.equal(typeof f['generationKept'], 'number');
    }
    for (const r of reloaded) {
      assert.ok(r['sha256'] === shaA || r['sha256'] === shaB, JSON.stringify(r));
      assert.ok(!invalid.has(r['sha256'] as string));
    }

    // Each verdict matches the generation it was made under.
    const gens = genSha();
    for (const r of rejected) {
      assert.equal(atls(r)['check'], ErrorCode.MeasurementMismatch, JSON.stringify(r));
      assert.match(String(atls(r)['error']), /PCR\[4\]/, JSON.stringify(r));
      assert.equal(gens.get(atls(r)['generation'] as number), shaB, JSON.stringify(r));
    }
    for (const a of attested) assert.equal(gens.get(atls(a)['generation'] as number), shaA, JSON.stringify(a));
    // Failed joins failed only in the handshake (no config or internal error reached the client).
    for (const code of Object.keys(res.codes ?? {})) assert.ok(code === 'OK' || code === 'Unavailable', summary);
    assert.equal(window.filter((l) => l.level === 'ERROR').length, 0, JSON.stringify(window.filter((l) => l.level === 'ERROR')));

    // Both generations decide as expected once in force (independent of how the timing above went).
    const sinceB = svc.logs.length;
    await replace(textB, 1000);
    await reloadedTo(shaB, sinceB);
    const underB = await runGoPeer(['--endpoint', svc.info.endpoint, '--rpc', 'join', '--timeout', '60s', ...joinserviceIssuerFlags('qemu-vtpm')]);
    assert.equal(underB.ok, false, JSON.stringify(underB));
    const rejection = await svc.waitForLog((l) => l.msg === 'aTLS client rejected', { since: sinceB });
    assert.equal(atls(rejection)['check'], ErrorCode.MeasurementMismatch);
    assert.equal(genSha().get(atls(rejection)['generation'] as number), shaB);
    const beforeA = svc.logs.length;
    await replace(textA, 1001);
    await reloadedTo(shaA, beforeA);
    const underA = await runGoPeer(['--endpoint', svc.info.endpoint, '--rpc', 'join', '--timeout', '60s', ...joinserviceIssuerFlags('qemu-vtpm')]);
    assert.equal(underA.ok, true, JSON.stringify(underA));
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Piscina } from 'piscina';
import { ErrorCode, type ErrorCode as ErrorCodeType } from '../../src/shared/errors.js';
import { VARIANTS, type VariantName } from '../../src/shared/variants.js';
import { VERIFY_PROTOCOL_VERSION, type VerifyResult, type VerifyTask } from '../../src/shared/worker-protocol.js';
import { assertVariantSupported, isVariantSupported, loadValidatorFactory } from '../../src/workers/attestation/registry.js';
import { goStringSliceGoSyntax, verifyCertificate } from '../../src/workers/verify-certificate.js';
import runTask from '../../src/workers/worker-entry.js';
import {
  buildCertificate,
  DUMMY_OID,
  dummyCertificate,
  fakeDocument,
  HOUR_MS,
  NONCE,
  NOW_MS,
  prng,
  spkiHash,
  testKey,
} from './support/test-certificates.js';

let generation = 1000;

function task(certificate: Uint8Array, over: Partial<VerifyTask> = {}): VerifyTask {
  return {
    v: VERIFY_PROTOCOL_VERSION,
    kind: 'verify-certificate',
    certificate,
    nonce: NONCE,
    variant: 'dummy',
    config: { generation: 1, text: '{}' },
    nowMs: NOW_MS,
    ...over,
  };
}

function expectError(result: VerifyResult, code: ErrorCodeType, message?: string | RegExp): void {
  assert.equal(result.v, VERIFY_PROTOCOL_VERSION);
  assert.equal(result.ok, false, 'verification unexpectedly succeeded');
  if (result.ok) return;
  assert.equal(result.error.code, code, result.error.message);
  if (typeof message === 'string') assert.equal(result.error.message, message);
  else if (message) assert.match(result.error.message, message);
}

describe('verifyCertificate', () => {
  it('verifies a good dummy-attested certificate', async () => {
    const result = await verifyCertificate(task(dummyCertificate(NONCE)));
    assert.equal(result.ok, true, result.ok ? '' : result.error.message);
    if (!result.ok) return;
    assert.deepEqual(result.peer, {
      variant: 'dummy',
      userDataHex: Buffer.from(spkiHash()).toString('hex'),
      measurements: {},
      warnings: [],
    });
    assert.ok(Number.isFinite(result.timings.certificateUs) && result.timings.certificateUs >= 0);
    assert.ok(Number.isFinite(result.timings.attestationUs) && result.timings.attestationUs >= 0);
  });

  it('finds the attestation among other extensions and ignores other variants’ documents', async () => {
    const cert = dummyCertificate(NONCE, {
      extensions: [
        { oid: '1.3.9900.4.1', value: Buffer.from('not for us') },
        { oid: '2.5.29.37', value: Uint8Array.from(Buffer.from('300a06082b06010505070301', 'hex')) },
      ],
    });
    const result = await verifyCertificate(task(cert));
    assert.equal(result.ok, true, result.ok ? '' : result.error.message);
  });

  it('also accepts RSA and Ed25519 client keys', async () => {
    for (const key of [testKey('rsa'), testKey('ed25519')]) {
      const result = await verifyCertificate(task(dummyCertificate(NONCE, { key })));
      assert.equal(result.ok, true, result.ok ? '' : result.error.message);
    }
  });

  it('rejects a certificate without extensions with Go’s message', async () => {
    expectError(
      await verifyCertificate(task(buildCertificate())),
      ErrorCode.AttestationMissing,
      'certificate does not contain compatible attestation documents: got extension OIDs []string(nil)',
    );
    expectError(
      await verifyCertificate(task(buildCertificate({ emptyExtensionsField: true }))),
      ErrorCode.AttestationMissing,
      'certificate does not contain compatible attestation documents: got extension OIDs []string(nil)',
    );
  });

  it('rejects a certificate attested for another variant', async () => {
    const cert = buildCertificate({ extensions: [{ oid: '1.3.9900.4.1', value: fakeDocument(spkiHash(), NONCE) }] });
    expectError(
      await verifyCertificate(task(cert)),
      ErrorCode.AttestationMissing,
      'certificate does not contain compatible attestation documents: got extension OIDs []string{"1.3.9900.4.1"}',
    );
    const two = buildCertificate({
      extensions: [
        { oid: '1.3.9900.5.99', value: Uint8Array.of(1) },
        { oid: '2.5.29.17', value: Uint8Array.from(Buffer.from('30058203612e62', 'hex')) },
      ],
    });
    expectError(
      await verifyCertificate(task(two)),
      ErrorCode.AttestationMissing,
      'certificate does not contain compatible attestation documents: got extension OIDs []string{"1.3.9900.5.99", "2.5.29.17"}',
    );
  });

  it('formats OID lists like Go’s %#v', () => {
    assert.equal(goStringSliceGoSyntax([]), '[]string(nil)');
    assert.equal(goStringSliceGoSyntax(['1.2']), '[]string{"1.2"}');
  });

  it('rejects a wrong nonce with Go’s message', async () => {
    const otherNonce = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);
    const result = await verifyCertificate(task(dummyCertificate(otherNonce)));
    expectError(
      result,
      ErrorCode.AttestationNonceMismatch,
      `invalid nonce: expected ${Buffer.from(otherNonce).toString('hex')}, got ${Buffer.from(NONCE).toString('hex')}`,
    );
  });

  it('rejects user data that is not the SPKI hash', async () => {
    const cert = buildCertificate({ extensions: [{ oid: DUMMY_OID, value: fakeDocument(new Uint8Array(32), NONCE) }] });
    expectError(await verifyCertificate(task(cert)), ErrorCode.AttestationUserDataMismatch, 'certificate hash does not match user data');
    // Bound to another key.
    const other = buildCertificate({ extensions: [{ oid: DUMMY_OID, value: fakeDocument(spkiHash(testKey('p384')), NONCE) }] });
    expectError(await verifyCertificate(task(other)), ErrorCode.AttestationUserDataMismatch);
  });

  it('rejects garbage and null documents', async () => {
    const garbage = buildCertificate({ extensions: [{ oid: DUMMY_OID, value: Buffer.from('\x00\x01garbage') }] });
    expectError(await verifyCertificate(task(garbage)), ErrorCode.AttestationMalformed, "invalid character '\\x00' looking for beginning of value");
    const nullDoc = buildCertificate({ extensions: [{ oid: DUMMY_OID, value: Buffer.from('null') }] });
    expectError(await verifyCertificate(task(nullDoc)), ErrorCode.AttestationNonceMismatch, `invalid nonce: expected , got ${Buffer.from(NONCE).toString('hex')}`);
  });

  it('applies the certificate checks first', async () => {
    expectError(await verifyCertificate(task(dummyCertificate(NONCE), { nowMs: NOW_MS + 3 * HOUR_MS })), ErrorCode.CertValidity);
    expectError(await verifyCertificate(task(dummyCertificate(NONCE).subarray(0, 100))), ErrorCode.CertParse, 'x509: malformed certificate');
    const critical = buildCertificate({ extensions: [{ oid: DUMMY_OID, critical: true, value: fakeDocument(spkiHash(), NONCE) }] });
    expectError(await verifyCertificate(task(critical)), ErrorCode.CertCriticalExtension, 'x509: unhandled critical extension');
  });

  it('never rejects its promise, whatever the certificate bytes', async () => {
    const good = dummyCertificate(NONCE);
    const rnd = prng(7);
    for (let round = 0; round < 500; round++) {
      const m = Uint8Array.from(good);
      m[Math.floor(rnd() * m.length)] = Math.floor(rnd() * 256);
      const result = await verifyCertificate(task(round % 2 ? m : m.subarray(0, Math.floor(rnd() * m.length))));
      assert.equal(result.v, VERIFY_PROTOCOL_VERSION);
      if (!result.ok) assert.notEqual(result.error.code, ErrorCode.Internal, result.error.message);
    }
  });
});

describe('verifyCertificate: task validation', () => {
  it('rejects another protocol version or kind', async () => {
    const t = task(dummyCertificate(NONCE));
    expectError(await verifyCertificate({ ...t, v: 2 } as unknown as VerifyTask), ErrorCode.PoolProtocol, 'verification task has protocol version 2, worker speaks 1');
    expectError(await verifyCertificate({ ...t, kind: 'other' } as unknown as VerifyTask), ErrorCode.PoolProtocol, /unknown kind "other"/);
    expectError(await verifyCertificate(null as unknown as VerifyTask), ErrorCode.PoolProtocol);
  });

  it('rejects malformed fields', async () => {
    const t = task(dummyCertificate(NONCE));
    const bad: Partial<Record<keyof VerifyTask, unknown>>[] = [
      { certificate: 'abc' },
      { nonce: [1, 2] },
      { variant: 'Dummy' },
      { config: { generation: 1 } },
      { config: { generation: 1.5, text: '{}' } },
      { nowMs: Number.NaN },
    ];
    for (const over of bad) expectError(await verifyCertificate({ ...t, ...over } as VerifyTask), ErrorCode.PoolProtocol);
  });
});

describe('attestation variant registry', () => {
  const SUPPORTED = ['dummy', 'qemu-vtpm', 'gcp-sev-es', 'azure-trustedlaunch', 'aws-nitro-tpm', 'azure-sev-snp', 'aws-sev-snp', 'gcp-sev-snp'];
  const others = VARIANTS.map((v) => v.name).filter((n) => !SUPPORTED.includes(n));

  it('supports dummy, the vTPM and the SEV-SNP variants and refuses the two TDX ones at start-up', () => {
    assert.equal(VARIANTS.length, 10);
    assert.deepEqual([...others].sort(), ['azure-tdx', 'qemu-tdx']);
    for (const name of SUPPORTED) {
      assertVariantSupported(name as VariantName);
      assert.equal(isVariantSupported(name as VariantName), true);
    }
    for (const name of others) {
      assert.equal(isVariantSupported(name), false);
      assert.throws(
        () => assertVariantSupported(name),
        (err: unknown) =>
          (err as { code?: string }).code === ErrorCode.AttestationVariantUnsupported &&
          (err as Error).message === `attestation variant "${name}" is not supported by this join service version`,
      );
    }
  });

  it('fails closed when a worker is asked for an unsupported variant', async () => {
    for (const variant of others) {
      await assert.rejects(loadValidatorFactory(variant), { code: ErrorCode.AttestationVariantUnsupported });
      expectError(
        await verifyCertificate(task(dummyCertificate(NONCE), { variant: variant as VariantName })),
        ErrorCode.AttestationVariantUnsupported,
        `attestation variant "${variant}" is not supported by this join service version`,
      );
    }
    await assert.rejects(loadValidatorFactory('__proto__' as VariantName), { code: ErrorCode.AttestationVariantUnsupported });
  });

  it('parses the config once per generation', async () => {
    const cert = dummyCertificate(NONCE);
    const gen = ++generation;
    const first = await verifyCertificate(task(cert, { config: { generation: gen, text: '{}' } }));
    assert.equal(first.ok, true);
    // Same generation: the cached validator is used, the (now invalid) text is not parsed again.
    const cached = await verifyCertificate(task(cert, { config: { generation: gen, text: 'not json' } }));
    assert.equal(cached.ok, true);
    // A new generation with an invalid config fails closed.
    expectError(await verifyCertificate(task(cert, { config: { generation: ++generation, text: '[]' } })), ErrorCode.ConfigInvalid);
  });
});

describe('worker entry', () => {
  it('dispatches verifications to the verifier', async () => {
    const r = (await runTask(task(dummyCertificate(NONCE)))) as VerifyResult;
    assert.equal(r.ok, true);
    const unknown = (await runTask({ ...task(dummyCertificate(NONCE)), kind: 'nope' } as never)) as VerifyResult;
    expectError(unknown, ErrorCode.PoolProtocol);
  });

  it('runs a verification on a piscina worker thread', async () => {
    const pool = new Piscina<VerifyTask, VerifyResult>({
      filename: new URL('../../src/workers/worker-entry.js', import.meta.url).href,
      minThreads: 1,
      maxThreads: 1,
    });
    try {
      const ok = await pool.run(task(dummyCertificate(NONCE)));
      assert.equal(ok.ok, true, ok.ok ? '' : ok.error.message);
      const bad = await pool.run(task(buildCertificate()));
      expectError(bad, ErrorCode.AttestationMissing);
    } finally {
      await pool.destroy();
    }
  });
});

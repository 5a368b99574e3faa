import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ErrorCode, JoinServiceError } from '../../src/shared/errors.js';
import { loadValidatorFactory } from '../../src/workers/attestation/registry.js';
import { encodeVtpmDocument } from '../../src/workers/attestation/vtpm/envelope.js';
import { devAttestationConfig, SoftwareTpmIssuer } from '../../src/workers/attestation/vtpm/issuer/index.js';

const nonce = randomBytes(32);
const userData = randomBytes(32);

async function validator(configText: string) {
  return (await loadValidatorFactory('qemu-vtpm'))(configText);
}

const rejected = (code: string, re: RegExp) => (e: unknown) => {
  assert.ok(e instanceof JoinServiceError, String(e));
  assert.equal(e.code, code, e.message);
  assert.match(e.message, re);
  return true;
};

describe('qemu-vtpm validator', () => {
  for (const akType of ['rsa', 'ecc'] as const) {
    test(`accepts an honest ${akType} document and returns its user data and measurements`, async () => {
      const issuer = new SoftwareTpmIssuer({ akType });
      const v = await validator(devAttestationConfig(issuer));
      const out = await v.validate(encodeVtpmDocument(issuer.issue(userData, nonce)), nonce);
      assert.deepEqual(Buffer.from(out.userData), userData);
      assert.deepEqual(Object.keys(out.measurements).sort((a, b) => Number(a) - Number(b)), ['4', '8', '9', '11', '12', '13', '15']);
      assert.deepEqual(out.warnings, []);
    });
  }

  test('a document for another nonce is rejected', async () => {
    const issuer = new SoftwareTpmIssuer({ akType: 'rsa' });
    const v = await validator(devAttestationConfig(issuer));
    await assert.rejects(v.validate(encodeVtpmDocument(issuer.issue(userData, randomBytes(32))), nonce), rejected(ErrorCode.AttestationNonceMismatch, /^verifying attestation document: .*extraData/));
  });

  test('every enforced PCR mismatch is reported; warnOnly mismatches become warnings', async () => {
    const issuer = new SoftwareTpmIssuer({ akType: 'rsa' });
    const cfg = JSON.parse(devAttestationConfig(issuer)) as { measurements: Record<string, { expected: string; warnOnly: boolean }> };
    cfg.measurements['4']!.expected = 'aa'.repeat(32);
    cfg.measurements['9']!.expected = 'bb'.repeat(32);
    cfg.measurements['11'] = { expected: 'cc'.repeat(32), warnOnly: true };
    const v = await validator(JSON.stringify(cfg));
    const doc = encodeVtpmDocument(issuer.issue(userData, nonce));
    await assert.rejects(v.validate(doc, nonce), (e: JoinServiceError) => {
      assert.equal(e.code, ErrorCode.MeasurementMismatch);
      assert.match(e.message, /^measurement validation failed:\nPCR\[4\]: expected a{64}, got [0-9a-f]{64}\nPCR\[9\]: expected b{64}, got [0-9a-f]{64}$/);
      return true;
    });
    delete (cfg.measurements as Record<string, unknown>)['4'];
    delete (cfg.measurements as Record<string, unknown>)['9'];
    const lenient = await validator(JSON.stringify(cfg));
    const out = await lenient.validate(doc, nonce);
    assert.equal(out.warnings.length, 1);
    assert.match(out.warnings[0]!, /^PCR\[11\]: expected c{64}, got [0-9a-f]{64}$/);
  });

  test('a SHA-256 quote changed after signing is rejected even though another bank verifies (GAP G1)', async () => {
    const issuer = new SoftwareTpmIssuer({ akType: 'rsa', banks: ['sha1', 'sha256', 'sha384'] } as never);
    const doc = issuer.issue(userData, nonce);
    const q256 = doc.attestation.quotes.find((q) => q.pcrs?.hash === 0x000b)!;
    const golden = JSON.parse(devAttestationConfig(issuer)) as { measurements: Record<string, { expected: string }> };
    q256.pcrs!.pcrs.set(4, Buffer.from(golden.measurements['4']!.expected.replace(/./, 'f'), 'hex'));
    const v = await validator('{}');
    await assert.rejects(v.validate(encodeVtpmDocument(doc), nonce), rejected(ErrorCode.AttestationRejected, /SHA-256 quote/));
  });

  test('garbage and null attestations are rejected, never crash', async () => {
    const v = await validator('{}');
    for (const d of ['{"Attestation":null,"InstanceInfo":null,"UserData":null}', 'null', '[]', '{"Attestation":{}}', 'x']) {
      await assert.rejects(v.validate(Buffer.from(d), nonce), (e: unknown) => e instanceof JoinServiceError);
    }
  });

  test('an invalid measurements config is refused when the validator is built', async () => {
    await assert.rejects(validator('{"measurements":{"4":{"expected":"zz"}}}'), (e: unknown) => e instanceof JoinServiceError && e.code === ErrorCode.ConfigInvalid);
  });
});

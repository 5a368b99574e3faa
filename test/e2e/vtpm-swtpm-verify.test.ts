import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { ErrorCode, JoinServiceError } from '../../src/shared/errors.js';
import { loadValidatorFactory } from '../../src/workers/attestation/registry.js';
import type { AttestationValidator } from '../../src/workers/attestation/validator.js';
import { encodeVtpmDocument } from '../../src/workers/attestation/vtpm/envelope.js';
import { devAttestationConfig } from '../../src/workers/attestation/vtpm/issuer/index.js';
import { encodeAkPublic } from '../../src/workers/attestation/vtpm/issuer/tpm-structures.js';
import type { VtpmDocument } from '../../src/workers/attestation/vtpm/types.js';
import { startSwtpm, type Swtpm } from '../helpers/swtpm.js';

// Documents produced by a real (software) TPM — swtpm driven by tpm2-tools the way a node's
// issuer does — verified by the qemu-vtpm validator, and tampered copies rejected.
let tpm: Swtpm;
let tpmSha1Only: Swtpm;
let validator: AttestationValidator;

before(async () => {
  tpm = await startSwtpm();
  tpmSha1Only = await startSwtpm({ banks: ['sha1'] });
  const sha256 = await tpm.readPcrs('sha256');
  validator = (await loadValidatorFactory('qemu-vtpm'))(devAttestationConfig({ pcrValues: () => sha256 }));
});

after(async () => {
  await tpm?.stop();
  await tpmSha1Only?.stop();
});

const clone = (d: VtpmDocument): VtpmDocument => structuredClone(d);

async function expectRejected(doc: VtpmDocument | Uint8Array, nonce: Uint8Array, code: string, re: RegExp): Promise<void> {
  const bytes = doc instanceof Uint8Array ? doc : encodeVtpmDocument(doc);
  await assert.rejects(validator.validate(bytes, nonce), (e: unknown) => {
    assert.ok(e instanceof JoinServiceError, String(e));
    assert.equal(e.code, code, e.message);
    assert.match(e.message, re);
    return true;
  });
}

describe('qemu-vtpm documents from swtpm', () => {
  for (const akType of ['rsa', 'ecc'] as const) {
    test(`an honest ${akType} document verifies and binds the user data`, async () => {
      const nonce = randomBytes(32);
      const userData = randomBytes(32);
      const { json } = await tpm.issueQemuVtpmDocument({ userData, nonce, akType });
      const out = await validator.validate(json, nonce);
      assert.deepEqual(Buffer.from(out.userData), userData);
      assert.equal(out.measurements['15'], '00'.repeat(32));
    });
  }

  test('tampered documents are rejected', async () => {
    const nonce = randomBytes(32);
    const { doc } = await tpm.issueQemuVtpmDocument({ userData: randomBytes(32), nonce, akType: 'rsa' });

    await expectRejected(doc, randomBytes(32), ErrorCode.AttestationNonceMismatch, /did not match expected extraData/);

    const pcr = clone(doc);
    const q256 = pcr.attestation.quotes.find((q) => q.pcrs?.hash === 0x000b)!;
    q256.pcrs!.pcrs.set(4, randomBytes(32));
    await expectRejected(pcr, nonce, ErrorCode.AttestationRejected, /^verifying attestation document: /);

    const sig = clone(doc);
    for (const q of sig.attestation.quotes) q.rawSig[q.rawSig.length - 1]! ^= 1;
    await expectRejected(sig, nonce, ErrorCode.AttestationRejected, /^verifying attestation document: /);

    const swapped = clone(doc);
    swapped.attestation.akPub = encodeAkPublic(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey);
    await expectRejected(swapped, nonce, ErrorCode.AttestationRejected, /^verifying attestation document: /);

    const no256 = clone(doc);
    no256.attestation.quotes = no256.attestation.quotes.filter((q) => q.pcrs?.hash !== 0x000b);
    await expectRejected(no256, nonce, ErrorCode.AttestationRejected, /SHA-1 is not allowed|SHA256/);

    const otherUser = clone(doc);
    otherUser.userData = randomBytes(32);
    await expectRejected(otherUser, nonce, ErrorCode.AttestationNonceMismatch, /extraData/);
  });

  test('a TPM with only a SHA-1 bank cannot attest', async () => {
    const nonce = randomBytes(32);
    const { json } = await tpmSha1Only.issueQemuVtpmDocument({ userData: randomBytes(32), nonce, akType: 'rsa' });
    await expectRejected(json, nonce, ErrorCode.AttestationRejected, /SHA-1 is not allowed for verification/);
  });
});

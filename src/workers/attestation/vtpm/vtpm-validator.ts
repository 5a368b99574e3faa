/**
 * Constellation's vTPM Validate pipeline (tpm-attestation.md §8) shared by
 * qemu-vtpm, gcp-sev-es, azure-trustedlaunch and aws-nitro-tpm. Differences
 * from Go, none of which changes an honest outcome:
 * - all local checks (decoding, quote signatures, nonce binding, event log,
 *   the SHA-256 quote rule of GAP G1) run before the variant's trusted-key
 *   lookup, so a forged document never causes a cloud API call;
 * - every enforced measurement mismatch is reported, as `PCR[i]: expected X, got Y`.
 */
import { createPublicKey } from 'node:crypto';
import { ErrorCode, JoinServiceError, toJoinServiceError } from '../../../shared/errors.js';
import type { VariantName } from '../../../shared/variants.js';
import type { AttestationValidator, ValidationOutcome } from '../validator.js';
import { decodeVtpmDocument } from './envelope.js';
import { processEventLog } from './eventlog/index.js';
import { enforceMeasurements, type Measurements } from './measurements.js';
import { nonceBinding } from './tpm/nonce-binding.js';
import { identityFromKeyObject, keyEquals, loadAk } from './tpm/tpmt-public.js';
import { verifyTpmAttestation } from './tpm/verify-attestation.js';
import type { VtpmVariantPolicy } from './types.js';

export class VtpmValidator implements AttestationValidator {
  constructor(
    readonly variant: VariantName,
    private readonly measurements: Measurements,
    private readonly policy: VtpmVariantPolicy,
  ) {}

  async validate(document: Uint8Array, nonce: Uint8Array): Promise<ValidationOutcome> {
    const doc = decodeVtpmDocument(document);
    const { extraData, tpmNonce } = nonceBinding(doc.userData, nonce, doc.instanceInfo);
    const { machineState, sha256Quote } = verifyTpmAttestation(doc, { tpmNonce, trustedAk: 'any', processEventLog });

    const trusted = await stage('validating attestation public key', () => this.policy.trustedAk(doc, extraData));
    if (trusted !== 'document') {
      const expected = identityFromKeyObject(createPublicKey({ key: Buffer.from(trusted), format: 'der', type: 'spki' }));
      if (!keyEquals(loadAk(doc.attestation.akPub).identity, expected)) {
        throw new JoinServiceError(ErrorCode.AttestationRejected, 'verifying attestation document: failed to parse and validate AK: failed to validate AK public key: key not trusted', {
          variant: this.variant,
        });
      }
    }
    await stage('verifying VM confidential computing capabilities', () => this.policy.cvmCheck(doc, machineState));

    const comparison = enforceMeasurements(this.measurements, sha256Quote.pcrs!.pcrs);
    return { userData: doc.userData ?? new Uint8Array(0), measurements: comparison.checked, warnings: comparison.warnings };
  }
}

async function stage<T>(prefix: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const e = toJoinServiceError(err, ErrorCode.AttestationRejected);
    throw new JoinServiceError(e.code, `${prefix}: ${e.message}`, e.details, { cause: err });
  }
}

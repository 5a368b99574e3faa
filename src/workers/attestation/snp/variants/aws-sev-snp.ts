/**
 * `aws-sev-snp` (sev-snp-attestation.md §4.1, §11): the NitroTPM's AK has no
 * endorsement; it is trusted because the VLEK-signed SNP report carries
 * SHA-512 of its SubjectPublicKeyInfo in REPORT_DATA. Order (Constellation's
 * getTrustedKey / awsValidator.validate) and texts:
 *
 *   1. `ak_pub` → public key (`decoding public key: …`, `getting public key: …`),
 *      digest = SHA-512(PKIX DER of the key: rsaEncryption with NULL
 *      parameters, exponent 65537 for the TPM's 0);
 *   2. InstanceInfo (`validating SNP report: unmarshalling instance info: …`),
 *      report, signer (VLEK only, never fetched), ASVK (node's, else the
 *      start-up cache's / config's amdSigningKey, else embedded), root
 *      (`validating SNP report: getting attestation with certs: …`);
 *   3.–4. chain, format, signature (`validating SNP report: verifying SNP attestation: …`);
 *   5. policy: REPORT_DATA = the digest, the config's minimum launch TCB (no
 *      minimum for REPORTED_TCB, as in Go), provisional firmware permitted,
 *      VMPL 0 (`validating SNP report: validating SNP attestation: …`);
 *   6. the AK from `ak_pub`; then the TPM quote and measurements.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { ErrorCode, JoinServiceError } from '../../../../shared/errors.js';
import type { ValidatorFactory } from '../../validator.js';
import { loadAk, type AkVerificationKey } from '../../vtpm/tpm/tpmt-public.js';
import type { VtpmDocument } from '../../vtpm/types.js';
import type { AmdTrust } from '../chain/verify-chain.js';
import { evidenceOptions, parseSnpConfig, snpPolicyOptions, sha512, SnpVtpmValidator, snpTrustOf, verifySnpEvidence, type SnpConfig, type SnpStepDependencies, type SnpStepResult, type SnpTrustedKeyStep } from './snp-step.js';

const WRAP = { outer: 'validating SNP report: ', instanceInfo: 'unmarshalling instance info', attestation: 'getting attestation with certs' };

/** Go's x509.MarshalPKIXPublicKey of the AK (node:crypto's SPKI export is the same DER for RSA and NIST-curve keys). */
export function akSubjectPublicKeyInfo(ak: AkVerificationKey): Uint8Array {
  let key: KeyObject | null = ak.keyObject();
  if (!key && ak.identity.type === 'rsa') {
    // A key Go's crypto/rsa would refuse for verification still has a PKIX encoding.
    const e = Buffer.alloc(6);
    e.writeUIntBE(ak.identity.e, 0, 6);
    let i = 0;
    while (i < e.length - 1 && e[i] === 0) i++;
    key = createPublicKey({ key: { kty: 'RSA', n: Buffer.from(ak.identity.n).toString('base64url'), e: e.subarray(i).toString('base64url') }, format: 'jwk' });
  }
  if (!key) throw new Error('x509: unsupported public key');
  return new Uint8Array(key.export({ type: 'spki', format: 'der' }));
}

export class AwsSevSnpStep implements SnpTrustedKeyStep {
  constructor(
    private readonly cfg: SnpConfig,
    private readonly trust: AmdTrust,
    private readonly deps: SnpStepDependencies = {},
  ) {}

  async trustedAk(doc: VtpmDocument): Promise<SnpStepResult> {
    let ak: AkVerificationKey;
    try {
      ak = loadAk(doc.attestation.akPub);
    } catch (err) {
      const stage = err instanceof JoinServiceError ? err.details?.akStage : undefined;
      throw new JoinServiceError(ErrorCode.AttestationMalformed, `${stage === 'key' ? 'getting public key' : 'decoding public key'}: ${(err as Error).message}`, { check: 'ak-pub' });
    }
    let digest: Uint8Array;
    try {
      digest = sha512(akSubjectPublicKeyInfo(ak));
    } catch (err) {
      throw new JoinServiceError(ErrorCode.AttestationMalformed, `calculating hash of attestation key: marshalling public key: ${(err as Error).message}`, { check: 'ak-pub' });
    }
    const evidence = await verifySnpEvidence(
      doc.instanceInfo,
      evidenceOptions('aws-sev-snp', this.trust, this.deps, snpPolicyOptions('aws-sev-snp', this.cfg, digest), WRAP),
    );
    return { trustedAk: ak.identity, warnings: evidence.warnings, evidence };
  }
}

/** A factory with injected dependencies (tests; the registry uses the defaults). */
export function awsSevSnpValidatorFactory(deps: SnpStepDependencies = {}): ValidatorFactory {
  return (configText) => {
    const cfg = parseSnpConfig('aws-sev-snp', configText);
    return new SnpVtpmValidator('aws-sev-snp', cfg.measurements, new AwsSevSnpStep(cfg, snpTrustOf('aws-sev-snp', cfg), deps));
  };
}

export const createAwsSevSnpValidator: ValidatorFactory = awsSevSnpValidatorFactory();

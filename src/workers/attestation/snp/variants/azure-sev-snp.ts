/**
 * `azure-sev-snp` (sev-snp-attestation.md §3, §10, §11): the trusted AK is the
 * vTPM key that Azure's paravisor (HCL) named in the runtime data bound by the
 * SNP report's REPORT_DATA. Order (Constellation's getTrustedKey) and texts:
 *
 *   1. InstanceInfo → `unmarshalling instanceInfo: …`;
 *   2. report, signer (VCEK; from KDS when the node sent none), ASK/ARK
 *      → `parsing attestation report: …` (snp-step.ts);
 *   3.–4. chain, format, signature → `verifying SNP attestation: …`;
 *   5. policy with the config's minimum TCB for REPORTED_TCB and LAUNCH_TCB,
 *      the accepted ID key digests and RequireIDBlock = (enforcementPolicy is
 *      Equal) → `validating SNP attestation: …`;
 *   6. `Azure` missing → `missing Azure info from instanceInfo`;
 *   7. ID key digest / MAA fallback (id-key-digest.ts) → `checking IDKey digests: …`;
 *   8. `ak_pub` decoded (go-tpm's text), the HCL AK check (hcl-ak.ts, bound
 *      by kid) → `validating HCLAkPub: …`;
 *   9. the AK from `ak_pub`; then the TPM quote and measurements
 *      (SnpVtpmValidator).
 */
import { ErrorCode, JoinServiceError, toJoinServiceError } from '../../../../shared/errors.js';
import type { ValidatorFactory } from '../../validator.js';
import { akVerificationKey, decodeTpmtPublic, type TpmtPublic } from '../../vtpm/tpm/tpmt-public.js';
import type { VtpmDocument } from '../../vtpm/types.js';
import { validateHclAk } from '../azure/hcl-ak.js';
import { checkIdKeyDigest } from '../azure/id-key-digest.js';
import { sharedMaaTokenValidator, type MaaTokenValidator } from '../azure/maa-token.js';
import type { AmdTrust } from '../chain/verify-chain.js';
import { evidenceOptions, parseSnpConfig, snpPolicyOptions, SnpVtpmValidator, snpTrustOf, verifySnpEvidence, type SnpConfig, type SnpStepDependencies, type SnpStepResult, type SnpTrustedKeyStep } from './snp-step.js';

export interface AzureSevSnpDependencies extends SnpStepDependencies {
  /** MAA token validation (default: the worker's shared validator with its key-set cache). */
  maa?: Pick<MaaTokenValidator, 'validate'>;
}

const WRAP = { outer: '', instanceInfo: 'unmarshalling instanceInfo', attestation: 'parsing attestation report' };

export class AzureSevSnpStep implements SnpTrustedKeyStep {
  constructor(
    private readonly cfg: SnpConfig,
    private readonly trust: AmdTrust,
    private readonly deps: AzureSevSnpDependencies = {},
  ) {}

  async trustedAk(doc: VtpmDocument, extraData: Uint8Array): Promise<SnpStepResult> {
    const fsc = this.cfg.firmwareSignerConfig!;
    const evidence = await verifySnpEvidence(
      doc.instanceInfo,
      evidenceOptions('azure-sev-snp', this.trust, this.deps, snpPolicyOptions('azure-sev-snp', this.cfg), WRAP),
    );
    const azure = evidence.info.azure;
    if (!azure) throw new JoinServiceError(ErrorCode.AttestationRejected, 'missing Azure info from instanceInfo', { check: 'azure-info' });

    let idk;
    try {
      idk = await checkIdKeyDigest(evidence.report.idKeyDigest, fsc, { maaToken: azure.maaToken, extraData, maa: this.deps.maa ?? sharedMaaTokenValidator() });
    } catch (err) {
      const e = toJoinServiceError(err, ErrorCode.AttestationRejected);
      throw new JoinServiceError(e.code, `checking IDKey digests: ${e.message}`, e.details, { cause: err });
    }

    let pub: TpmtPublic;
    try {
      pub = decodeTpmtPublic(doc.attestation.akPub);
    } catch (err) {
      throw toJoinServiceError(err, ErrorCode.AttestationMalformed);
    }
    try {
      validateHclAk(azure.runtimeData, evidence.report.reportData, pub.rsa ? { modulus: pub.rsa.modulus, exponentRaw: pub.rsa.exponentRaw } : null);
    } catch (err) {
      const e = toJoinServiceError(err, ErrorCode.AttestationRejected);
      throw new JoinServiceError(e.code, `validating HCLAkPub: ${e.message}`, e.details, { cause: err });
    }
    let trustedAk;
    try {
      trustedAk = akVerificationKey(pub).identity;
    } catch (err) {
      throw toJoinServiceError(err, ErrorCode.AttestationMalformed);
    }
    return { trustedAk, warnings: [...evidence.warnings, ...idk.warnings], evidence };
  }
}

/** A factory with injected dependencies (tests; the registry uses the defaults). */
export function azureSevSnpValidatorFactory(deps: AzureSevSnpDependencies = {}): ValidatorFactory {
  return (configText) => {
    const cfg = parseSnpConfig('azure-sev-snp', configText);
    return new SnpVtpmValidator('azure-sev-snp', cfg.measurements, new AzureSevSnpStep(cfg, snpTrustOf('azure-sev-snp', cfg), deps));
  };
}

export const createAzureSevSnpValidator: ValidatorFactory = azureSevSnpValidatorFactory();

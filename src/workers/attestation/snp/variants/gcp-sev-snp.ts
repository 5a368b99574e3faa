/**
 * `gcp-sev-snp` (sev-snp-attestation.md §4.2, §11): the SNP report binds the
 * aTLS exchange (REPORT_DATA = extraData ‖ 0^32); the trusted AK is the
 * instance's shielded-VM signing key from the GCE Compute API, as for
 * gcp-sev-es. Order (Constellation's getTrustedKey) and texts:
 *
 *   1. extraData longer than 64 bytes → `extra data too long: N, should be 64
 *      bytes at most` (cannot happen: it is a SHA-256);
 *   2. InstanceInfo, report, signer (VCEK; from KDS when the node sent none),
 *      ASK (node's, else amdSigningKey, else embedded), root
 *      (`validating SNP report: unmarshalling instance info: …` /
 *      `validating SNP report: getting attestation with certs: …`);
 *   3. chain, format, signature (`validating SNP report: verifying SNP attestation: …`);
 *   4. policy: REPORT_DATA = extraData ‖ 0^32, the config's minimum launch TCB,
 *      provisional firmware permitted, VMPL 0 (`validating SNP report:
 *      validating SNP attestation: …`);
 *   5. `GCP` missing → `getting TPM endorsement key: missing GCP info from
 *      instanceInfo` — Go dereferences the nil pointer and the join service
 *      crashes (§4.2 quirk);
 *   6. getShieldedInstanceIdentity(project, zone, instance) through the
 *      gcp-sev-es policy's client and cache (names validated, bounded,
 *      cached per instance; gcp/gcp-sev-es-policy.ts) → `getting TPM
 *      endorsement key: retrieving VM identity: …`, `… received no signing key
 *      from GCP API`, `… failed to decode PEM block containing public key`;
 *      that key is the trusted AK, which the document's `ak_pub` must equal.
 */
import { createPublicKey } from 'node:crypto';
import { ErrorCode, JoinServiceError, toJoinServiceError } from '../../../../shared/errors.js';
import type { ValidatorFactory } from '../../validator.js';
import { createGcpSevEsPolicy, type GcpSevEsPolicyOptions } from '../../vtpm/gcp/gcp-sev-es-policy.js';
import { identityFromKeyObject } from '../../vtpm/tpm/tpmt-public.js';
import type { VtpmDocument, VtpmVariantPolicy } from '../../vtpm/types.js';
import type { GceInstanceInfo } from '../instance-info.js';
import type { AmdTrust } from '../chain/verify-chain.js';
import { REPORT_DATA_SIZE } from '../policy/validate-report.js';
import { evidenceOptions, parseSnpConfig, snpPolicyOptions, SnpVtpmValidator, snpTrustOf, verifySnpEvidence, type SnpConfig, type SnpStepDependencies, type SnpStepResult, type SnpTrustedKeyStep } from './snp-step.js';

export interface GcpSevSnpDependencies extends SnpStepDependencies {
  /** The GCE lookup (default: the gcp-sev-es policy's, with the worker's shared cache and metadata-server token). */
  gce?: GcpSevEsPolicyOptions;
}

const WRAP = { outer: 'validating SNP report: ', instanceInfo: 'unmarshalling instance info', attestation: 'getting attestation with certs' };

/** The GCE instance as go-tpm-tools' GCEInstanceInfo JSON (only what Go passes to the API: name, project, zone). */
function gceInstanceInfoJson(g: GceInstanceInfo): Uint8Array {
  return new Uint8Array(Buffer.from(JSON.stringify({ zone: g.zone, project_id: g.projectId, instance_name: g.instanceName }), 'utf8'));
}

export class GcpSevSnpStep implements SnpTrustedKeyStep {
  private readonly gce: VtpmVariantPolicy;

  constructor(
    private readonly cfg: SnpConfig,
    private readonly trust: AmdTrust,
    private readonly deps: GcpSevSnpDependencies = {},
  ) {
    this.gce = createGcpSevEsPolicy(deps.gce ?? {});
  }

  async trustedAk(doc: VtpmDocument, extraData: Uint8Array): Promise<SnpStepResult> {
    if (extraData.length > REPORT_DATA_SIZE) {
      throw new JoinServiceError(ErrorCode.AttestationRejected, `extra data too long: ${extraData.length}, should be ${REPORT_DATA_SIZE} bytes at most`);
    }
    const reportData = new Uint8Array(REPORT_DATA_SIZE);
    reportData.set(extraData);
    const evidence = await verifySnpEvidence(
      doc.instanceInfo,
      evidenceOptions('gcp-sev-snp', this.trust, this.deps, snpPolicyOptions('gcp-sev-snp', this.cfg, reportData), WRAP),
    );
    const gcp = evidence.info.gcp;
    if (!gcp) {
      throw new JoinServiceError(ErrorCode.AttestationRejected, 'getting TPM endorsement key: missing GCP info from instanceInfo ("GCP": null)', { check: 'gcp-info' });
    }
    let spki: Uint8Array;
    try {
      const key = await this.gce.trustedAk({ ...doc, instanceInfo: gceInstanceInfoJson(gcp) }, extraData);
      if (key === 'document') throw new Error('the GCE lookup returned no key');
      spki = key;
    } catch (err) {
      const e = toJoinServiceError(err, ErrorCode.AttestationRejected);
      throw new JoinServiceError(e.code, `getting TPM endorsement key: ${e.message}`, e.details, { cause: err });
    }
    return { trustedAk: identityFromKeyObject(createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' })), warnings: evidence.warnings, evidence };
  }
}

/** A factory with injected dependencies (tests; the registry uses the defaults). */
export function gcpSevSnpValidatorFactory(deps: GcpSevSnpDependencies = {}): ValidatorFactory {
  return (configText) => {
    const cfg = parseSnpConfig('gcp-sev-snp', configText);
    return new SnpVtpmValidator('gcp-sev-snp', cfg.measurements, new GcpSevSnpStep(cfg, snpTrustOf('gcp-sev-snp', cfg), deps));
  };
}

export const createGcpSevSnpValidator: ValidatorFactory = gcpSevSnpValidatorFactory();

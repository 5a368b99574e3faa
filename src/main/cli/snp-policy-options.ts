/**
 * The go-sev-guest validate.Options each SEV-SNP variant derives from its
 * attestation config, for the offline tools (`joinservice snp verify-report`).
 * Mirrors the literals in src/workers/attestation/snp/variants/*.ts (which do
 * not export a builder); keep the two in sync.
 */
import type { SnpPolicyCheck, SnpPolicyOptions } from '../../workers/attestation/snp/policy/validate-report.js';
import type { SnpConfig, SnpVariantName } from '../../workers/attestation/snp/variants/snp-step.js';

export interface SnpPolicyOptionsResult {
  options: SnpPolicyOptions;
  /** What the offline check cannot do for the variant. */
  notes: string[];
}

export function snpPolicyOptionsFor(variant: SnpVariantName, cfg: SnpConfig): SnpPolicyOptionsResult {
  if (variant === 'azure-sev-snp') {
    const fsc = cfg.firmwareSignerConfig!;
    return {
      options: {
        minimumTcb: cfg.minimumTcb,
        minimumLaunchTcb: cfg.minimumTcb,
        permitProvisionalFirmware: true,
        trustedIdKeyHashes: fsc.acceptedKeyDigests,
        requireIdBlock: fsc.enforcementPolicy === 'Equal',
        vmpl: 0,
      },
      notes: [
        'azure-sev-snp: REPORT_DATA (HCL runtime data) and the ID key digest MAA fallback need the whole attestation document (joinservice verify)',
      ],
    };
  }
  return {
    // aws-sev-snp / gcp-sev-snp: REPORT_DATA is the AK digest, unknown here.
    options: { minimumLaunchTcb: cfg.minimumTcb, permitProvisionalFirmware: true, vmpl: 0 },
    notes: [`${variant}: REPORT_DATA (the SHA-512 of the attestation key) needs the whole attestation document (joinservice verify); not compared`],
  };
}

/** The policy rules snpPolicyFailures evaluates with `opts` (in its order). */
export function applicablePolicyChecks(opts: SnpPolicyOptions): SnpPolicyCheck[] {
  const out: SnpPolicyCheck[] = ['guest-svn', 'policy-migrate-ma', 'policy-debug', 'policy-cxl'];
  if (opts.reportData !== undefined && opts.reportData.length > 0) out.push('report-data');
  out.push('tcb-committed-current', 'tcb-launch-minimum', 'tcb-reported-certificate', 'tcb-certificate-current', 'tcb-reported-minimum', 'firmware-build', 'firmware-version');
  if (opts.requireIdBlock === true) out.push('id-key-hash-size', 'id-key');
  if (opts.vmpl !== null) out.push('vmpl');
  out.push('chip-id');
  return out;
}

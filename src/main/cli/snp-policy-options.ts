/**
 * The go-sev-guest validate.Options each SEV-SNP variant derives from its
 * attestation config, for the offline tools (`joinservice snp verify-report`):
 * the validators' own builder, without the per-document REPORT_DATA binding.
 */
import type { SnpPolicyCheck, SnpPolicyOptions } from '../../workers/attestation/snp/policy/validate-report.js';
import { snpPolicyOptions, type SnpConfig, type SnpVariantName } from '../../workers/attestation/snp/variants/snp-step.js';

export interface SnpPolicyOptionsResult {
  options: SnpPolicyOptions;
  /** What the offline check cannot do for the variant. */
  notes: string[];
}

export function snpPolicyOptionsFor(variant: SnpVariantName, cfg: SnpConfig): SnpPolicyOptionsResult {
  const options = snpPolicyOptions(variant, cfg);
  if (variant === 'azure-sev-snp') {
    return {
      options,
      notes: [
        'azure-sev-snp: REPORT_DATA (HCL runtime data) and the ID key digest MAA fallback need the whole attestation document (joinservice verify)',
      ],
    };
  }
  return {
    // aws-sev-snp / gcp-sev-snp: REPORT_DATA is bound to the AK / extraData, unknown here.
    options,
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

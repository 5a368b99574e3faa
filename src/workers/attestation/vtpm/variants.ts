/**
 * Validator factories of the four vTPM-only variants: measurements from the
 * attestation config plus the variant's trusted-key and CVM policy
 * (tpm-attestation.md §11).
 */
import { ErrorCode, JoinServiceError } from '../../../shared/errors.js';
import type { ValidatorFactory } from '../validator.js';
import { createAwsNitroTpmPolicy } from './aws/aws-nitro-tpm-policy.js';
import { createAzureTrustedLaunchPolicy, trustedRootsFromPem } from './azure/azure-trustedlaunch-policy.js';
import { createGcpSevEsPolicy } from './gcp/gcp-sev-es-policy.js';
import { parseMeasurementsConfig } from './measurements.js';
import type { VtpmVariantPolicy } from './types.js';
import { VtpmValidator } from './vtpm-validator.js';

const trustDocumentAk: VtpmVariantPolicy = {
  trustedAk: async () => 'document',
  cvmCheck: async () => undefined,
};

export const createQemuVtpmValidator: ValidatorFactory = (configText) =>
  new VtpmValidator('qemu-vtpm', parseMeasurementsConfig(configText, 'QEMUVTPM'), trustDocumentAk);

export const createGcpSevEsValidator: ValidatorFactory = (configText) =>
  new VtpmValidator('gcp-sev-es', parseMeasurementsConfig(configText, 'GCPSEVES'), createGcpSevEsPolicy());

export const createAwsNitroTpmValidator: ValidatorFactory = (configText) =>
  new VtpmValidator('aws-nitro-tpm', parseMeasurementsConfig(configText, 'AWSNitroTPM'), createAwsNitroTpmPolicy());

/** azure-trustedlaunch: `trustedRootCertificates` (PEM strings) replaces the shipped AME root when present. */
export const createAzureTrustedLaunchValidator: ValidatorFactory = (configText) => {
  const measurements = parseMeasurementsConfig(configText, 'AzureTrustedLaunch');
  const roots = trustedRootsMember(configText);
  return new VtpmValidator('azure-trustedlaunch', measurements, createAzureTrustedLaunchPolicy(roots ? { trustedRoots: trustedRootsFromPem(roots) } : {}));
};

function trustedRootsMember(configText: string): string[] | undefined {
  const parsed = JSON.parse(configText) as Record<string, unknown>;
  const v = parsed['trustedRootCertificates'];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) {
    throw new JoinServiceError(ErrorCode.ConfigInvalid, 'trustedRootCertificates must be an array of PEM strings');
  }
  return v as string[];
}

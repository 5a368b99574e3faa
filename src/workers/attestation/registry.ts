/**
 * Maps every attestation variant to its validator factory. `dummy`, the
 * four vTPM-only variants and the three SEV-SNP variants are implemented;
 * the TDX variants fail closed. Factories are loaded on first use so
 * worker start-up stays cheap as heavier variants arrive.
 */
import { ErrorCode, JoinServiceError } from '../../shared/errors.js';
import type { VariantName } from '../../shared/variants.js';
import type { ValidatorFactory } from './validator.js';

type FactoryLoader = () => Promise<ValidatorFactory>;

const unsupported: FactoryLoader | undefined = undefined;

const LOADERS: Readonly<Record<VariantName, FactoryLoader | undefined>> = {
  dummy: async () => (await import('./dummy/dummy-validator.js')).createDummyValidator,
  'aws-nitro-tpm': async () => (await import('./vtpm/variants.js')).createAwsNitroTpmValidator,
  'aws-sev-snp': async () => (await import('./snp/variants/aws-sev-snp.js')).createAwsSevSnpValidator,
  'gcp-sev-es': async () => (await import('./vtpm/variants.js')).createGcpSevEsValidator,
  'gcp-sev-snp': async () => (await import('./snp/variants/gcp-sev-snp.js')).createGcpSevSnpValidator,
  'azure-sev-snp': async () => (await import('./snp/variants/azure-sev-snp.js')).createAzureSevSnpValidator,
  'azure-trustedlaunch': async () => (await import('./vtpm/variants.js')).createAzureTrustedLaunchValidator,
  'azure-tdx': unsupported,
  'qemu-vtpm': async () => (await import('./vtpm/variants.js')).createQemuVtpmValidator,
  'qemu-tdx': unsupported,
};

export function isVariantSupported(variant: VariantName): boolean {
  return LOADERS[variant] !== undefined;
}

function unsupportedError(variant: string): JoinServiceError {
  return new JoinServiceError(
    ErrorCode.AttestationVariantUnsupported,
    `attestation variant ${JSON.stringify(variant)} is not supported by this join service version`,
    { variant },
  );
}

/** For start-up: refuses a variant this build cannot verify (e.g. `serve --attestation-variant azure-sev-snp`). */
export function assertVariantSupported(variant: VariantName): void {
  if (!isVariantSupported(variant)) throw unsupportedError(variant);
}

/** The variant's validator factory; AttestationVariantUnsupported for variants without one (or unknown names). */
export async function loadValidatorFactory(variant: VariantName): Promise<ValidatorFactory> {
  const load = Object.hasOwn(LOADERS, variant) ? LOADERS[variant] : undefined;
  if (!load) throw unsupportedError(variant);
  return load();
}

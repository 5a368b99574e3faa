/** The software TPM issuer and the TPM structure encoders it is built from. */
export {
  SoftwareTpmIssuer,
  devAttestationConfig,
  defaultDevAttestationConfig,
  tpmNonceFor,
  QEMU_VTPM_MEASUREMENT_INDICES,
  type AkType,
  type PcrSource,
  type PcrValueInput,
  type SoftwareTpmIssuerOptions,
} from './software-tpm-issuer.js';
export { DEFAULT_BOOT_EVENTS, PCR_COUNT, PcrBanks, eventDigest, resetPcrValue, type PcrEvent } from './pcr-banks.js';
export { deriveEccKey, deriveRsaKey } from './deterministic-keys.js';
export * from './tpm-structures.js';

/**
 * The plug-in interface of attestation variants. A validator checks one
 * attestation document against the verifier's nonce and returns the user
 * data the document binds; verify-certificate.ts then compares that with the
 * SHA-256 of the certificate's SubjectPublicKeyInfo (atls.md §6.2).
 *
 * Validators throw JoinServiceError (AttestationMalformed,
 * AttestationNonceMismatch, AttestationRejected, …) with a message that
 * names the failed check; they never put secrets into messages.
 */
import type { VariantName } from '../../shared/variants.js';

export interface ValidationOutcome {
  /** The user data bound in the document (for aTLS: SHA-256 of the peer's SPKI). */
  userData: Uint8Array;
  /** Measurements checked or reported, index → lowercase hex. */
  measurements: Record<string, string>;
  /** Non-fatal findings (e.g. warnOnly mismatches). */
  warnings: string[];
}

export interface AttestationValidator {
  readonly variant: VariantName;
  validate(document: Uint8Array, nonce: Uint8Array): Promise<ValidationOutcome>;
}

/**
 * Builds a validator from the variant's attestation-config JSON text
 * (config-and-operations.md §2). Called once per config generation per
 * worker; throws JoinServiceError(ConfigInvalid) for an unusable config.
 */
export type ValidatorFactory = (configText: string) => AttestationValidator;

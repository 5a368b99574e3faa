/**
 * The structural part of an aTLS verification (atls.md §6.1): parse the leaf
 * as Go's crypto/tls + x509 would, apply crypto/tls's key-type rule and
 * x509.Verify's checks with the certificate as its own root, verify the
 * self-signature (our addition) and compute the hash the attestation must
 * bind: SHA-256 of the SubjectPublicKeyInfo.
 */
import { createHash } from 'node:crypto';
import { ErrorCode, JoinServiceError } from '../../shared/errors.js';
import { parseCertificate, type ParsedCertificate } from './parse-certificate.js';
import { checkKeyType, importPublicKey } from './public-key.js';
import { verifySelfSignature } from './self-signature.js';
import { verifyAsOwnRoot } from './verify-as-own-root.js';

/** Well above the largest Certificate message a Go peer accepts (256 KiB, atls.md §2). */
export const MAX_CERTIFICATE_BYTES = 1024 * 1024;

export interface CheckedCertificate {
  certificate: ParsedCertificate;
  /** SHA-256 of the DER SubjectPublicKeyInfo. */
  spkiHash: Uint8Array;
}

export function checkCertificate(der: Uint8Array, nowMs: number): CheckedCertificate {
  if (der.length > MAX_CERTIFICATE_BYTES) {
    throw new JoinServiceError(ErrorCode.CertParse, `certificate is ${der.length} bytes, limit ${MAX_CERTIFICATE_BYTES}`);
  }
  const certificate = parseCertificate(der);
  checkKeyType(certificate.publicKey);
  const key = importPublicKey(certificate.publicKey);
  verifyAsOwnRoot(certificate, nowMs);
  verifySelfSignature(certificate, key);
  const spkiHash = createHash('sha256').update(certificate.publicKey.raw).digest();
  return { certificate, spkiHash };
}

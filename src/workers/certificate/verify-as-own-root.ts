/**
 * The checks Go's x509.Certificate.Verify applies when the certificate is its
 * own (only) root, as aTLS calls it (atls.md §6.1 step 3; Go 1.24
 * crypto/x509/verify.go: isValid for the leaf, then the roots-contain-leaf
 * short cut, then policy checks — trivially valid for a one-certificate chain
 * — and the extended-key-usage check with the default usage serverAuth).
 * The self-signature is not part of this (Go skips it for a root); see
 * self-signature.ts.
 */
import { ErrorCode, JoinServiceError } from '../../shared/errors.js';
import { OID_ANY_EXTENDED_KEY_USAGE, OID_SERVER_AUTH } from './extensions.js';
import { formatRfc3339 } from './go-time.js';
import type { ParsedCertificate } from './parse-certificate.js';

export function verifyAsOwnRoot(cert: ParsedCertificate, nowMs: number): void {
  const unhandled = cert.processed.unhandledCritical;
  if (unhandled.length > 0) {
    throw new JoinServiceError(ErrorCode.CertCriticalExtension, 'x509: unhandled critical extension', { extensionOids: unhandled });
  }

  const { notBefore, notAfter } = cert;
  // Both ends are inclusive: Go rejects only now.Before(notBefore) and now.After(notAfter).
  if (nowMs < notBefore.ms) {
    throw validityError(`current time ${formatRfc3339(nowMs)} is before ${formatRfc3339(notBefore.ms, notBefore.offsetMinutes)}`);
  }
  if (nowMs > notAfter.ms) {
    throw validityError(`current time ${formatRfc3339(nowMs)} is after ${formatRfc3339(notAfter.ms, notAfter.offsetMinutes)}`);
  }

  const eku = cert.processed.extKeyUsage;
  if (eku.length > 0 && !eku.includes(OID_SERVER_AUTH) && !eku.includes(OID_ANY_EXTENDED_KEY_USAGE)) {
    throw new JoinServiceError(ErrorCode.CertKeyUsage, 'x509: certificate specifies an incompatible key usage', { extKeyUsage: eku });
  }
}

function validityError(detail: string): JoinServiceError {
  return new JoinServiceError(ErrorCode.CertValidity, `x509: certificate has expired or is not yet valid: ${detail}`);
}

/**
 * The SEV-SNP report signature (sev-snp-attestation.md §5.3, §9.1 step 8):
 * ECDSA P-384 with SHA-384 over report[0x000:0x2A0], R and S stored as
 * 72-byte little-endian integers at 0x2A0 and 0x2E8, verified with the
 * VCEK/VLEK public key.
 *
 * Inputs are plain byte arrays (the signed bytes and the two 72-byte fields)
 * so this module does not depend on the report parser. Go verifies the
 * re-serialised report, which differs from the input only in CPUID_STEP for
 * VERSION ≥ 3 (`stepping & 0x0F`, §5.3): pass the parser's Go-form signed
 * bytes to reproduce that.
 *
 * go-sev-guest hands DER(R, S) of the full 72-byte values to
 * ecdsa.VerifyASN1, which rejects R or S outside [1, n−1]. The same range is
 * checked here explicitly (so the message says which value is wrong), then
 * node:crypto verifies r‖s (48 bytes each, `dsaEncoding: 'ieee-p1363'`).
 * The per-join hot path is that one P-384 verification: no allocation
 * besides the 96-byte r‖s buffer, the key is the cached KeyObject of the
 * verified VCEK/VLEK.
 */
import { verify, type KeyObject } from 'node:crypto';
import { ErrorCode, JoinServiceError } from '../../../../shared/errors.js';

/** Offset and size of the signed part of a report. */
export const SNP_SIGNED_BYTES = 0x2a0;
/** Offsets of R and S in a report, and the size of each field. */
export const SNP_SIGNATURE_R_OFFSET = 0x2a0;
export const SNP_SIGNATURE_S_OFFSET = 0x2e8;
export const SNP_SIGNATURE_COMPONENT_SIZE = 72;
/** Bytes of a P-384 scalar. */
const P384_SIZE = 48;

/** The P-384 group order n, big-endian. */
const P384_ORDER = Buffer.from(
  'ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973',
  'hex',
);

function fail(message: string, details: Record<string, string> = {}): never {
  throw new JoinServiceError(ErrorCode.AttestationRejected, `report signature verification error: ${message}`, { check: 'report-signature', ...details });
}

/**
 * Writes the 72-byte little-endian `le` as a 48-byte big-endian scalar into
 * `out` at `at`, after checking 0 < value < n. Returns an error text or
 * undefined.
 */
function toScalar(le: Uint8Array, out: Buffer, at: number, name: 'R' | 'S'): string | undefined {
  for (let i = P384_SIZE; i < SNP_SIGNATURE_COMPONENT_SIZE; i++) {
    if (le[i] !== 0) return `${name} is not below the P-384 group order (a non-zero byte above 2^384 at field byte ${i})`;
  }
  let zero = true;
  for (let i = 0; i < P384_SIZE; i++) {
    const b = le[P384_SIZE - 1 - i]!;
    out[at + i] = b;
    if (b !== 0) zero = false;
  }
  if (zero) return `${name} is zero`;
  // Big-endian compare with n.
  for (let i = 0; i < P384_SIZE; i++) {
    const b = out[at + i]!;
    const n = P384_ORDER[i]!;
    if (b < n) return undefined;
    if (b > n) break;
  }
  return `${name} is not below the P-384 group order`;
}

/** r‖s (96 bytes, big-endian) from the 72-byte little-endian fields, or an error text. */
export function snpSignatureToP1363(rLe: Uint8Array, sLe: Uint8Array): Buffer | string {
  const out = Buffer.allocUnsafe(2 * P384_SIZE);
  return toScalar(rLe, out, 0, 'R') ?? toScalar(sLe, out, P384_SIZE, 'S') ?? out;
}

/**
 * Verifies a report signature. `signedBytes` is report[0x000:0x2A0] (672
 * bytes), `rLe`/`sLe` the 72-byte fields at 0x2A0/0x2E8, `key` the VCEK/VLEK
 * P-384 public key. Throws JoinServiceError: AttestationMalformed for inputs
 * of the wrong size, AttestationRejected (`details.check = 'report-signature'`)
 * for R/S out of range and for a signature that does not verify.
 */
export function verifySnpReportSignature(key: KeyObject, signedBytes: Uint8Array, rLe: Uint8Array, sLe: Uint8Array): void {
  if (signedBytes.length !== SNP_SIGNED_BYTES || rLe.length !== SNP_SIGNATURE_COMPONENT_SIZE || sLe.length !== SNP_SIGNATURE_COMPONENT_SIZE) {
    throw new JoinServiceError(
      ErrorCode.AttestationMalformed,
      `report signature verification error: need ${SNP_SIGNED_BYTES} signed bytes and two ${SNP_SIGNATURE_COMPONENT_SIZE}-byte R/S fields, got ${signedBytes.length}, ${rLe.length}, ${sLe.length}`,
      { check: 'report-signature' },
    );
  }
  const sig = snpSignatureToP1363(rLe, sLe);
  if (typeof sig === 'string') fail(sig);
  let ok: boolean;
  try {
    ok = verify('sha384', signedBytes, { key, dsaEncoding: 'ieee-p1363' }, sig);
  } catch (err) {
    fail(`ECDSA P-384 verification failed to run (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!ok) fail('ECDSA P-384/SHA-384 signature over report[0x000:0x2A0] does not verify with the report signer key');
}

/** Verifies the signature of a whole raw report (≥ 0x4A0 bytes or at least through S). Same errors as verifySnpReportSignature. */
export function verifySnpReportSignatureOfReport(key: KeyObject, report: Uint8Array): void {
  if (report.length < SNP_SIGNATURE_S_OFFSET + SNP_SIGNATURE_COMPONENT_SIZE) {
    throw new JoinServiceError(ErrorCode.AttestationMalformed, `report signature verification error: report has ${report.length} bytes`, { check: 'report-signature' });
  }
  verifySnpReportSignature(
    key,
    report.subarray(0, SNP_SIGNED_BYTES),
    report.subarray(SNP_SIGNATURE_R_OFFSET, SNP_SIGNATURE_R_OFFSET + SNP_SIGNATURE_COMPONENT_SIZE),
    report.subarray(SNP_SIGNATURE_S_OFFSET, SNP_SIGNATURE_S_OFFSET + SNP_SIGNATURE_COMPONENT_SIZE),
  );
}

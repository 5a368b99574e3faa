/**
 * The report signature's byte forms (sev-snp-attestation.md §5.3); no
 * verification here.
 *
 * SIGNATURE (report 0x2A0, 512 bytes) holds R (72 bytes, little-endian) ‖
 * S (72 bytes, little-endian) ‖ 368 zero bytes. For P-384 the upper 24 bytes
 * of R and S are zero, so each fits 48 big-endian bytes: node:crypto verifies
 * with `{ key, dsaEncoding: 'ieee-p1363' }` over r‖s (96 bytes) or, default,
 * over DER `SEQUENCE { INTEGER r, INTEGER s }`, with SHA-384 over the signed
 * bytes report[0x000:0x2A0].
 *
 * go-sev-guest (`abi.ReportToSignatureDER`) always builds the DER form from
 * the full 72-byte integers; R or S ≥ 2^384 then simply fails verification.
 * `decodeSnpEcdsaP384Signature` therefore always returns `der` and returns
 * `ieeeP1363: null` when a value does not fit 48 bytes — the caller treats
 * that as a bad signature, not as a parse error.
 *
 * Go re-serialises the parsed report before verifying (§5.3); the bytes equal
 * the input except that for VERSION ≥ 3 CPUID_STEP is written as
 * `stepping & 0x0F`. `goSignedBytes` reproduces that, so a report with
 * CPUID_STEP > 15 fails verification exactly as in Go.
 */
import { copyBytes } from './bytes.js';
import {
  SNP_ECDSA_RS_SIZE,
  SNP_REPORT_CPUID_VERSION,
  SNP_REPORT_LAYOUT,
  SNP_SIGNATURE_OFFSET,
  SNP_SIGNATURE_SIZE,
  type SnpAttestationReport,
} from './attestation-report.js';

/** The signed range of a report: [start, end). */
export const SNP_SIGNED_RANGE = { start: 0, end: SNP_SIGNATURE_OFFSET } as const;

/** Bytes of one P-384 scalar. */
export const P384_SCALAR_SIZE = 48;

export interface SnpEcdsaP384Signature {
  /** The 72-byte little-endian fields as in the report. */
  rLe: Uint8Array;
  sLe: Uint8Array;
  /** r‖s, 48 big-endian bytes each (node:crypto `dsaEncoding: 'ieee-p1363'`); null if R or S ≥ 2^384. */
  ieeeP1363: Uint8Array | null;
  /** DER SEQUENCE { INTEGER r, INTEGER s } of the full 72-byte values (node:crypto's default `dsaEncoding: 'der'`). */
  der: Uint8Array;
}

/**
 * The forms of a SIGNATURE field. Accepts the 512-byte field (or at least its
 * first 144 bytes: R ‖ S); RangeError for shorter input.
 */
export function decodeSnpEcdsaP384Signature(signature: Uint8Array): SnpEcdsaP384Signature {
  if (!(signature instanceof Uint8Array) || signature.length < 2 * SNP_ECDSA_RS_SIZE) {
    throw new RangeError(`SIGNATURE needs at least ${2 * SNP_ECDSA_RS_SIZE} bytes (R ‖ S)`);
  }
  const rLe = copyBytes(signature, 0, SNP_ECDSA_RS_SIZE);
  const sLe = copyBytes(signature, SNP_ECDSA_RS_SIZE, 2 * SNP_ECDSA_RS_SIZE);
  const rBe = copyBytes(rLe).reverse();
  const sBe = copyBytes(sLe).reverse();
  const pad = SNP_ECDSA_RS_SIZE - P384_SCALAR_SIZE;
  const fits = (be: Uint8Array): boolean => be.subarray(0, pad).every((b) => b === 0);
  let ieeeP1363: Uint8Array | null = null;
  if (fits(rBe) && fits(sBe)) {
    ieeeP1363 = new Uint8Array(2 * P384_SCALAR_SIZE);
    ieeeP1363.set(rBe.subarray(pad), 0);
    ieeeP1363.set(sBe.subarray(pad), P384_SCALAR_SIZE);
  }
  return { rLe, sLe, ieeeP1363, der: derSequence([derInteger(rBe), derInteger(sBe)]) };
}

/** The signature forms of a parsed report (see decodeSnpEcdsaP384Signature). */
export function reportSignature(report: Pick<SnpAttestationReport, 'signature'>): SnpEcdsaP384Signature {
  return decodeSnpEcdsaP384Signature(report.signature);
}

/**
 * The 512-byte SIGNATURE field for an ECDSA P-384 signature given as r‖s
 * (96 bytes, node:crypto `sign(..., { dsaEncoding: 'ieee-p1363' })`).
 */
export function encodeSnpEcdsaP384Signature(ieeeP1363: Uint8Array): Uint8Array {
  if (!(ieeeP1363 instanceof Uint8Array) || ieeeP1363.length !== 2 * P384_SCALAR_SIZE) {
    throw new RangeError(`an ieee-p1363 P-384 signature has ${2 * P384_SCALAR_SIZE} bytes`);
  }
  const out = new Uint8Array(SNP_SIGNATURE_SIZE);
  out.set(copyBytes(ieeeP1363, 0, P384_SCALAR_SIZE).reverse(), 0);
  out.set(copyBytes(ieeeP1363, P384_SCALAR_SIZE).reverse(), SNP_ECDSA_RS_SIZE);
  return out;
}

/** report[0x000:0x2A0] of raw report bytes (at least 0x2A0 of them; RangeError otherwise). */
export function snpSignedBytes(raw: Uint8Array): Uint8Array {
  if (!(raw instanceof Uint8Array) || raw.length < SNP_SIGNATURE_OFFSET) throw new RangeError(`a report has at least ${SNP_SIGNATURE_OFFSET} signed bytes`);
  return copyBytes(raw, SNP_SIGNED_RANGE.start, SNP_SIGNED_RANGE.end);
}

/**
 * The signed bytes as go-sev-guest verifies them (its re-serialisation of the
 * parsed report): equal to `report.signedBytes` except CPUID_STEP & 0x0F for
 * VERSION ≥ 3.
 */
export function goSignedBytes(report: Pick<SnpAttestationReport, 'raw' | 'version'>): Uint8Array {
  const out = snpSignedBytes(report.raw);
  const step = SNP_REPORT_LAYOUT.cpuidStep.offset;
  if (report.version >= SNP_REPORT_CPUID_VERSION) out[step] = out[step]! & 0x0f;
  return out;
}

function derLength(n: number): number[] {
  if (n < 0x80) return [n];
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>>= 8) bytes.unshift(v & 0xff);
  return [0x80 | bytes.length, ...bytes];
}

/** DER INTEGER of a non-negative big-endian magnitude (minimal, 0x00-prefixed when the high bit is set). */
function derInteger(be: Uint8Array): number[] {
  let i = 0;
  while (i < be.length - 1 && be[i] === 0) i++;
  const body = Array.from(be.subarray(i));
  if (body.length === 0) body.push(0);
  if (body[0]! & 0x80) body.unshift(0);
  return [0x02, ...derLength(body.length), ...body];
}

function derSequence(items: number[][]): Uint8Array {
  const body = items.flat();
  return Uint8Array.from([0x30, ...derLength(body.length), ...body]);
}

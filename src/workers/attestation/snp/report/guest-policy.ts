/**
 * The guest POLICY of an SEV-SNP report (sev-snp-attestation.md §5.1), a u64
 * at report offset 0x08. Parsing follows go-sev-guest `abi.ParseSnpPolicy`
 * of the fork Constellation pins (PAGE_SWAP_DISABLE at bit 25): bit 17 must be
 * 1 and bits 26–63 must be 0, otherwise the report does not parse.
 */
import { hex, snpMalformed, SnpComponent } from './malformed.js';

/** Bit positions (ABI_MINOR is bits 0–7, ABI_MAJOR bits 8–15). */
export const GUEST_POLICY_BITS = {
  SMT: 16,
  /** Reserved, must be 1. */
  RESERVED_1: 17,
  MIGRATE_MA: 18,
  DEBUG: 19,
  SINGLE_SOCKET: 20,
  CXL_ALLOW: 21,
  MEM_AES_256_XTS: 22,
  RAPL_DIS: 23,
  CIPHERTEXT_HIDING: 24,
  PAGE_SWAP_DISABLE: 25,
} as const;

/** Lowest bit of the must-be-zero range (26–63). */
export const GUEST_POLICY_MBZ_LOW_BIT = 26;

export const GUEST_POLICY_OFFSET = 0x08;

export interface SnpGuestPolicyBits {
  abiMinor: number;
  abiMajor: number;
  smt: boolean;
  migrateMa: boolean;
  debug: boolean;
  singleSocket: boolean;
  cxlAllow: boolean;
  memAes256Xts: boolean;
  raplDis: boolean;
  ciphertextHiding: boolean;
  pageSwapDisable: boolean;
}

/** The raw POLICY (authoritative) and its decoded bits. */
export interface SnpGuestPolicy extends SnpGuestPolicyBits {
  raw: bigint;
}

const FLAG_BITS: readonly [keyof SnpGuestPolicyBits, number][] = [
  ['smt', GUEST_POLICY_BITS.SMT],
  ['migrateMa', GUEST_POLICY_BITS.MIGRATE_MA],
  ['debug', GUEST_POLICY_BITS.DEBUG],
  ['singleSocket', GUEST_POLICY_BITS.SINGLE_SOCKET],
  ['cxlAllow', GUEST_POLICY_BITS.CXL_ALLOW],
  ['memAes256Xts', GUEST_POLICY_BITS.MEM_AES_256_XTS],
  ['raplDis', GUEST_POLICY_BITS.RAPL_DIS],
  ['ciphertextHiding', GUEST_POLICY_BITS.CIPHERTEXT_HIDING],
  ['pageSwapDisable', GUEST_POLICY_BITS.PAGE_SWAP_DISABLE],
];

const U64_MAX = (1n << 64n) - 1n;
const bit = (raw: bigint, n: number): boolean => ((raw >> BigInt(n)) & 1n) === 1n;

/**
 * Decodes a raw POLICY; throws JoinServiceError(AttestationMalformed) with
 * go-sev-guest's reason (`malformed guest policy: policy[17] is reserved, must
 * be 1, got 0` / `… mbz range policy[0x1a:0x3f] not all zero: …`).
 */
export function decodeGuestPolicy(raw: bigint): SnpGuestPolicy {
  if (typeof raw !== 'bigint' || raw < 0n || raw > U64_MAX) throw new RangeError(`POLICY: ${String(raw)} is not a uint64`);
  const where = `POLICY (offset ${hex(GUEST_POLICY_OFFSET)})`;
  if (!bit(raw, GUEST_POLICY_BITS.RESERVED_1)) {
    snpMalformed(SnpComponent.report, where, `malformed guest policy: policy[${GUEST_POLICY_BITS.RESERVED_1}] is reserved, must be 1, got 0`, {
      offset: GUEST_POLICY_OFFSET,
    });
  }
  if (raw >> BigInt(GUEST_POLICY_MBZ_LOW_BIT) !== 0n) {
    snpMalformed(
      SnpComponent.report,
      where,
      `malformed guest policy: mbz range policy[${hex(GUEST_POLICY_MBZ_LOW_BIT)}:0x3f] not all zero: ${raw.toString(16)}`,
      { offset: GUEST_POLICY_OFFSET },
    );
  }
  const out = { raw, abiMinor: Number(raw & 0xffn), abiMajor: Number((raw >> 8n) & 0xffn) } as SnpGuestPolicy;
  for (const [name, n] of FLAG_BITS) (out as unknown as Record<string, boolean>)[name] = bit(raw, n);
  return out;
}

/**
 * The raw POLICY for the given bits (missing flags false, ABI 0.0); bit 17 is
 * always set. RangeError for ABI versions outside 0–255.
 */
export function encodeGuestPolicy(bits: Partial<SnpGuestPolicyBits>): bigint {
  const minor = bits.abiMinor ?? 0;
  const major = bits.abiMajor ?? 0;
  for (const [name, v] of [
    ['abiMinor', minor],
    ['abiMajor', major],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 255) throw new RangeError(`POLICY ${name}: ${v} is not 0–255`);
  }
  let raw = BigInt(minor) | (BigInt(major) << 8n) | (1n << BigInt(GUEST_POLICY_BITS.RESERVED_1));
  for (const [name, n] of FLAG_BITS) if (bits[name] === true) raw |= 1n << BigInt(n);
  return raw;
}

/** encodeGuestPolicy + decodeGuestPolicy. */
export function guestPolicy(bits: Partial<SnpGuestPolicyBits>): SnpGuestPolicy {
  return decodeGuestPolicy(encodeGuestPolicy(bits));
}

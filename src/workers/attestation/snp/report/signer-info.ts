/**
 * The signer-info word at report offset 0x48 (sev-snp-attestation.md §5):
 * bit 0 AUTHOR_KEY_EN, bit 1 MASK_CHIP_KEY, bits 2–4 SIGNING_KEY (0 VCEK,
 * 1 VLEK, 7 none; 2–6 reserved), bits 5–31 must be 0. Parsing follows
 * go-sev-guest `abi.ParseSignerInfo`; a reserved SIGNING_KEY or a set
 * must-be-zero bit makes the report unparsable.
 */
import { hex, snpMalformed, SnpComponent } from './malformed.js';

export const SIGNER_INFO_OFFSET = 0x48;

/** SIGNING_KEY values: which endorsement key signed the report. */
export const SigningKey = { VCEK: 0, VLEK: 1, NONE: 7 } as const;
export type SigningKey = (typeof SigningKey)[keyof typeof SigningKey];
export type SigningKeyName = 'VCEK' | 'VLEK' | 'NONE';

export interface SnpSignerInfoBits {
  /** AUTHOR_KEY_EN: the ID block carried an author key (AUTHOR_KEY_DIGEST is meaningful). */
  authorKeyEn: boolean;
  /** MASK_CHIP_KEY: the host masked CHIP_ID (all zero in the report). */
  maskChipKey: boolean;
  /** SIGNING_KEY: 0 VCEK, 1 VLEK, 7 none. */
  signingKey: SigningKey;
}

/** The raw word (authoritative) and its decoded bits. */
export interface SnpSignerInfo extends SnpSignerInfoBits {
  raw: number;
  /** SIGNING_KEY as go-sev-guest names it ("VCEK", "VLEK", "None" → NONE). */
  signingKeyName: SigningKeyName;
}

const NAMES: Readonly<Record<number, SigningKeyName>> = { 0: 'VCEK', 1: 'VLEK', 7: 'NONE' };

/** Decodes the word; throws JoinServiceError(AttestationMalformed) for reserved values. */
export function decodeSignerInfo(raw: number): SnpSignerInfo {
  if (!Number.isInteger(raw) || raw < 0 || raw > 0xffffffff) throw new RangeError(`signer info: ${raw} is not a uint32`);
  const where = `signer info (offset ${hex(SIGNER_INFO_OFFSET)})`;
  if (raw >>> 5 !== 0) {
    snpMalformed(SnpComponent.report, where, `mbz range data[0x48:0x4C][0x5:0x1f] not all zero: ${raw.toString(16)}`, { offset: SIGNER_INFO_OFFSET });
  }
  const key = (raw >>> 2) & 7;
  const name = NAMES[key];
  if (name === undefined) {
    snpMalformed(SnpComponent.report, where, `signing_key values 2-6 are reserved. Got UNKNOWN(${key})`, { offset: SIGNER_INFO_OFFSET });
  }
  return { raw, authorKeyEn: (raw & 1) !== 0, maskChipKey: (raw & 2) !== 0, signingKey: key as SigningKey, signingKeyName: name };
}

/** The raw word for the given bits (missing: false / VCEK). RangeError for a reserved SIGNING_KEY. */
export function encodeSignerInfo(bits: Partial<SnpSignerInfoBits>): number {
  const key = bits.signingKey ?? SigningKey.VCEK;
  if (NAMES[key] === undefined) throw new RangeError(`SIGNING_KEY ${String(key)} is reserved (0 VCEK, 1 VLEK, 7 none)`);
  return (bits.authorKeyEn === true ? 1 : 0) | (bits.maskChipKey === true ? 2 : 0) | (key << 2);
}

/** encodeSignerInfo + decodeSignerInfo. */
export function signerInfo(bits: Partial<SnpSignerInfoBits>): SnpSignerInfo {
  return decodeSignerInfo(encodeSignerInfo(bits));
}

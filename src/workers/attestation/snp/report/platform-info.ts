/**
 * PLATFORM_INFO at report offset 0x40 (u64). Constellation never checks it
 * (sev-snp-attestation.md §5, §9.2) and report parsing accepts any value; the
 * decoded bits (go-sev-guest `abi.ParseSnpPlatformInfo` names) are for
 * diagnostics. Bits not listed stay visible in `raw`.
 */

export const PLATFORM_INFO_BITS = {
  SMT_EN: 0,
  TSME_EN: 1,
  ECC_EN: 2,
  RAPL_DIS: 3,
  CIPHERTEXT_HIDING_EN: 4,
  ALIAS_CHECK_COMPLETE: 5,
  TIO_EN: 7,
} as const;

export interface SnpPlatformInfo {
  raw: bigint;
  smtEnabled: boolean;
  tsmeEnabled: boolean;
  eccEnabled: boolean;
  raplDisabled: boolean;
  ciphertextHidingEnabled: boolean;
  aliasCheckComplete: boolean;
  tioEnabled: boolean;
}

const U64_MAX = (1n << 64n) - 1n;

export function decodePlatformInfo(raw: bigint): SnpPlatformInfo {
  if (typeof raw !== 'bigint' || raw < 0n || raw > U64_MAX) throw new RangeError(`PLATFORM_INFO: ${String(raw)} is not a uint64`);
  const bit = (n: number): boolean => ((raw >> BigInt(n)) & 1n) === 1n;
  return {
    raw,
    smtEnabled: bit(PLATFORM_INFO_BITS.SMT_EN),
    tsmeEnabled: bit(PLATFORM_INFO_BITS.TSME_EN),
    eccEnabled: bit(PLATFORM_INFO_BITS.ECC_EN),
    raplDisabled: bit(PLATFORM_INFO_BITS.RAPL_DIS),
    ciphertextHidingEnabled: bit(PLATFORM_INFO_BITS.CIPHERTEXT_HIDING_EN),
    aliasCheckComplete: bit(PLATFORM_INFO_BITS.ALIAS_CHECK_COMPLETE),
    tioEnabled: bit(PLATFORM_INFO_BITS.TIO_EN),
  };
}

/**
 * SEV-SNP TCB_VERSION (sev-snp-attestation.md §5.2): a u64 stored little-endian
 * in the report (CURRENT_TCB, REPORTED_TCB, COMMITTED_TCB, LAUNCH_TCB) whose
 * bytes are security patch levels (SPLs).
 *
 * Milan/Genoa layout, which go-sev-guest (`kds.DecomposeTCBVersion` /
 * `ComposeTCBParts`) applies to every product and which therefore is the one
 * the checks use: byte 0 BOOT_LOADER, 1 TEE, 2–5 reserved ("spl4"…"spl7" in
 * the KDS spec), 6 SNP, 7 MICROCODE. Comparisons (§9.2) are component-wise
 * over all eight bytes; reserved bytes count.
 *
 * Turin (family 1Ah) defines a different layout: byte 0 FMC, 1 BOOT_LOADER,
 * 2 TEE, 3 SNP, 4–6 reserved, 7 MICROCODE. Neither go-sev-guest nor
 * Constellation implements it (Turin is never trusted, §13);
 * `decodeTurinTcbVersion` exists for diagnostics and tests only.
 */

const U64_MAX = (1n << 64n) - 1n;

/** The eight SPLs of a TCB_VERSION in the Milan/Genoa layout, each 0–255. */
export interface SnpTcbParts {
  /** Byte 0: BOOT_LOADER SPL (KDS `blSPL`). */
  blSpl: number;
  /** Byte 1: TEE SPL (KDS `teeSPL`). */
  teeSpl: number;
  /** Bytes 2–5: reserved SPLs (KDS `spl4`…`spl7`). */
  spl4: number;
  spl5: number;
  spl6: number;
  spl7: number;
  /** Byte 6: SNP firmware SPL (KDS `snpSPL`). */
  snpSpl: number;
  /** Byte 7: MICROCODE SPL (KDS `ucodeSPL`). */
  ucodeSpl: number;
}

/** A TCB_VERSION: the raw u64 (authoritative) and its Milan/Genoa components. */
export interface SnpTcbVersion extends SnpTcbParts {
  raw: bigint;
}

/** Byte index of each Milan/Genoa component. */
export const TCB_PART_BYTES: Readonly<Record<keyof SnpTcbParts, number>> = {
  blSpl: 0,
  teeSpl: 1,
  spl4: 2,
  spl5: 3,
  spl6: 4,
  spl7: 5,
  snpSpl: 6,
  ucodeSpl: 7,
};

const byteAt = (raw: bigint, i: number): number => Number((raw >> BigInt(8 * i)) & 0xffn);

function checkU64(raw: bigint, what: string): void {
  if (typeof raw !== 'bigint' || raw < 0n || raw > U64_MAX) throw new RangeError(`${what}: ${String(raw)} is not a uint64`);
}

/** Splits a raw TCB_VERSION into its Milan/Genoa components (never fails for a uint64). */
export function decodeTcbVersion(raw: bigint): SnpTcbVersion {
  checkU64(raw, 'TCB_VERSION');
  return {
    raw,
    blSpl: byteAt(raw, 0),
    teeSpl: byteAt(raw, 1),
    spl4: byteAt(raw, 2),
    spl5: byteAt(raw, 3),
    spl6: byteAt(raw, 4),
    spl7: byteAt(raw, 5),
    snpSpl: byteAt(raw, 6),
    ucodeSpl: byteAt(raw, 7),
  };
}

/**
 * Composes a raw TCB_VERSION from components (missing ones are 0). Every
 * component must be an integer 0–255 (RangeError otherwise). Unlike Go's
 * ComposeTCBParts this does not limit the non-microcode SPLs to 127: that
 * limit belongs to reading VCEK/VLEK extensions, not to report encoding.
 */
export function encodeTcbVersion(parts: Partial<SnpTcbParts>): bigint {
  let raw = 0n;
  for (const [name, index] of Object.entries(TCB_PART_BYTES) as [keyof SnpTcbParts, number][]) {
    const v = parts[name] ?? 0;
    if (!Number.isInteger(v) || v < 0 || v > 255) throw new RangeError(`TCB component ${name}: ${v} is not 0–255`);
    raw |= BigInt(v) << BigInt(8 * index);
  }
  return raw;
}

/** encodeTcbVersion + decodeTcbVersion: a TCB_VERSION object from components. */
export function tcbVersion(parts: Partial<SnpTcbParts>): SnpTcbVersion {
  return decodeTcbVersion(encodeTcbVersion(parts));
}

/** The eight report bytes of a TCB_VERSION (little-endian u64). */
export function tcbVersionBytes(raw: bigint): Uint8Array {
  checkU64(raw, 'TCB_VERSION');
  const out = new Uint8Array(8);
  for (let i = 0; i < 8; i++) out[i] = byteAt(raw, i);
  return out;
}

/** The raw TCB_VERSION of eight report bytes. */
export function tcbVersionFromBytes(bytes: Uint8Array): bigint {
  if (bytes.length !== 8) throw new RangeError(`TCB_VERSION needs 8 bytes, got ${bytes.length}`);
  return Buffer.from(bytes.buffer, bytes.byteOffset, 8).readBigUInt64LE(0);
}

/**
 * The report bytes in hex, byte 0 first (`020000000000065d` = bootloader 2,
 * SNP 6, microcode 0x5d) — the notation of the vectors' README. Go's
 * messages print the u64 instead (`0x5d06000000000002`): `raw.toString(16)`.
 */
export function tcbVersionHex(raw: bigint): string {
  return Buffer.from(tcbVersionBytes(raw)).toString('hex');
}

/** The Turin (family 1Ah) TCB_VERSION layout; not used by any check (see the module comment). */
export interface TurinTcbVersion {
  raw: bigint;
  /** Byte 0: FMC SPL (KDS `fmcSPL`). */
  fmcSpl: number;
  /** Byte 1: BOOT_LOADER SPL. */
  blSpl: number;
  /** Byte 2: TEE SPL. */
  teeSpl: number;
  /** Byte 3: SNP SPL. */
  snpSpl: number;
  /** Bytes 4–6: reserved. */
  reserved4: number;
  reserved5: number;
  reserved6: number;
  /** Byte 7: MICROCODE SPL. */
  ucodeSpl: number;
}

export function decodeTurinTcbVersion(raw: bigint): TurinTcbVersion {
  checkU64(raw, 'TCB_VERSION');
  return {
    raw,
    fmcSpl: byteAt(raw, 0),
    blSpl: byteAt(raw, 1),
    teeSpl: byteAt(raw, 2),
    snpSpl: byteAt(raw, 3),
    reserved4: byteAt(raw, 4),
    reserved5: byteAt(raw, 5),
    reserved6: byteAt(raw, 6),
    ucodeSpl: byteAt(raw, 7),
  };
}

export function encodeTurinTcbVersion(parts: Partial<Omit<TurinTcbVersion, 'raw'>>): bigint {
  const order: (keyof Omit<TurinTcbVersion, 'raw'>)[] = ['fmcSpl', 'blSpl', 'teeSpl', 'snpSpl', 'reserved4', 'reserved5', 'reserved6', 'ucodeSpl'];
  let raw = 0n;
  order.forEach((name, index) => {
    const v = parts[name] ?? 0;
    if (!Number.isInteger(v) || v < 0 || v > 255) throw new RangeError(`Turin TCB component ${name}: ${v} is not 0–255`);
    raw |= BigInt(v) << BigInt(8 * index);
  });
  return raw;
}

/**
 * The SEV-SNP ATTESTATION_REPORT (sev-snp-attestation.md §5): 1184 (0x4A0)
 * little-endian bytes, parsed with exactly the strictness of go-sev-guest's
 * `abi.ReportToProto` (the pinned edgelesssys fork) and encoded back
 * byte-exactly.
 *
 * Parsing (`parseSnpAttestationReport`), in go-sev-guest's order:
 * - fewer than 0x4A0 bytes → error; bytes after 0x4A0 are ignored for the
 *   report and returned as `trailing` (§13: Azure's test data carries the
 *   20-byte IGVM request header after the report);
 * - POLICY must parse (§5.1: bit 17 set, bits 26–63 clear);
 * - the signer-info word must parse (SIGNING_KEY not 2–6, bits 5–31 clear);
 * - every must-be-zero range must be zero: 0x4C–0x50; 0x188–0x1A0 for
 *   VERSION < 3, 0x18B–0x1A0 for VERSION ≥ 3 (CPUID_FAM_ID/MOD_ID/STEP
 *   occupy 0x188–0x18A there); 0x1EB; 0x1EF; 0x208–0x2A0; and, when
 *   SIGNATURE_ALGO = 1 (ECDSA P-384), the signature tail 0x330–0x4A0.
 * - VERSION itself is not range-checked here: go-sev-guest accepts any value
 *   at parse time and rejects versions outside 2…5 only when verifying the
 *   signature (§9.1 step 7, `report version is: N. Expected between 2 and 5`),
 *   after the certificate checks, so the verifier owns that error. Likewise
 *   SIGNATURE_ALGO ≠ 1, VMPL, TCB relations and PLATFORM_INFO are the
 *   verifier's/policy's business.
 * Failures throw JoinServiceError(AttestationMalformed) naming the field and
 * its offset (`SNP attestation report: reserved (offset 0x18b): mbz range
 * [0x18b:0x1a0] not all zero: first non-zero byte at 0x190`).
 *
 * The result is a plain object: u32 fields and single bytes as numbers, u64
 * fields as bigint (POLICY, PLATFORM_INFO, TCBs and mitigation vectors also
 * decoded), byte fields as Uint8Array copies, plus `raw` (the 1184 report
 * bytes), `signedBytes` (raw[0x000:0x2A0], §5.3) and the signature's R/S
 * fields. Encoding (`encodeSnpAttestationReport`) takes the same shape (or
 * raw numbers) and writes every reserved range as zero.
 */
import { decodeGuestPolicy, encodeGuestPolicy, type SnpGuestPolicy } from './guest-policy.js';
import { hex, snpMalformed, SnpComponent } from './malformed.js';
import { decodePlatformInfo, type SnpPlatformInfo } from './platform-info.js';
import { decodeSignerInfo, type SnpSignerInfo } from './signer-info.js';
import { decodeTcbVersion, type SnpTcbVersion } from './tcb-version.js';
import { copyBytes } from './bytes.js';

/** ATTESTATION_REPORT size; only this many bytes of longer input are the report. */
export const SNP_REPORT_SIZE = 0x4a0;
/** Start of SIGNATURE; the signature covers report[0 : SNP_SIGNATURE_OFFSET]. */
export const SNP_SIGNATURE_OFFSET = 0x2a0;
export const SNP_SIGNATURE_SIZE = 512;
/** SIGNATURE_ALGO value for ECDSA P-384 with SHA-384, the only algorithm defined. */
export const SNP_SIGNATURE_ALGO_ECDSA_P384_SHA384 = 1;
/** R and S are 72-byte little-endian fields; for P-384 the upper 24 bytes are zero. */
export const SNP_ECDSA_RS_SIZE = 72;
/** The versions go-sev-guest's signature verification accepts (checked there, not at parse time). */
export const SNP_REPORT_MIN_VERSION = 2;
export const SNP_REPORT_MAX_VERSION = 5;
/** From this version on, 0x188–0x18A carry CPUID_FAM_ID, CPUID_MOD_ID, CPUID_STEP. */
export const SNP_REPORT_CPUID_VERSION = 3;

/** One report field per §5 (name as in the AMD ABI / the spec table). */
export interface SnpReportFieldLayout {
  name: string;
  offset: number;
  size: number;
}

/** Every field of §5 with its offset and size, in report order (reserved ranges excluded). */
export const SNP_REPORT_LAYOUT = {
  version: { name: 'VERSION', offset: 0x000, size: 4 },
  guestSvn: { name: 'GUEST_SVN', offset: 0x004, size: 4 },
  policy: { name: 'POLICY', offset: 0x008, size: 8 },
  familyId: { name: 'FAMILY_ID', offset: 0x010, size: 16 },
  imageId: { name: 'IMAGE_ID', offset: 0x020, size: 16 },
  vmpl: { name: 'VMPL', offset: 0x030, size: 4 },
  signatureAlgo: { name: 'SIGNATURE_ALGO', offset: 0x034, size: 4 },
  currentTcb: { name: 'CURRENT_TCB', offset: 0x038, size: 8 },
  platformInfo: { name: 'PLATFORM_INFO', offset: 0x040, size: 8 },
  signerInfo: { name: 'signer info (AUTHOR_KEY_EN, MASK_CHIP_KEY, SIGNING_KEY)', offset: 0x048, size: 4 },
  reportData: { name: 'REPORT_DATA', offset: 0x050, size: 64 },
  measurement: { name: 'MEASUREMENT', offset: 0x090, size: 48 },
  hostData: { name: 'HOST_DATA', offset: 0x0c0, size: 32 },
  idKeyDigest: { name: 'ID_KEY_DIGEST', offset: 0x0e0, size: 48 },
  authorKeyDigest: { name: 'AUTHOR_KEY_DIGEST', offset: 0x110, size: 48 },
  reportId: { name: 'REPORT_ID', offset: 0x140, size: 32 },
  reportIdMa: { name: 'REPORT_ID_MA', offset: 0x160, size: 32 },
  reportedTcb: { name: 'REPORTED_TCB', offset: 0x180, size: 8 },
  cpuidFamId: { name: 'CPUID_FAM_ID', offset: 0x188, size: 1 },
  cpuidModId: { name: 'CPUID_MOD_ID', offset: 0x189, size: 1 },
  cpuidStep: { name: 'CPUID_STEP', offset: 0x18a, size: 1 },
  chipId: { name: 'CHIP_ID', offset: 0x1a0, size: 64 },
  committedTcb: { name: 'COMMITTED_TCB', offset: 0x1e0, size: 8 },
  currentBuild: { name: 'CURRENT_BUILD', offset: 0x1e8, size: 1 },
  currentMinor: { name: 'CURRENT_MINOR', offset: 0x1e9, size: 1 },
  currentMajor: { name: 'CURRENT_MAJOR', offset: 0x1ea, size: 1 },
  committedBuild: { name: 'COMMITTED_BUILD', offset: 0x1ec, size: 1 },
  committedMinor: { name: 'COMMITTED_MINOR', offset: 0x1ed, size: 1 },
  committedMajor: { name: 'COMMITTED_MAJOR', offset: 0x1ee, size: 1 },
  launchTcb: { name: 'LAUNCH_TCB', offset: 0x1f0, size: 8 },
  launchMitVector: { name: 'LAUNCH_MIT_VECTOR', offset: 0x1f8, size: 8 },
  currentMitVector: { name: 'CURRENT_MIT_VECTOR', offset: 0x200, size: 8 },
  signature: { name: 'SIGNATURE', offset: 0x2a0, size: 512 },
} as const satisfies Record<string, SnpReportFieldLayout>;

/** The must-be-zero ranges [start, end) that do not depend on VERSION / SIGNATURE_ALGO. */
export const SNP_REPORT_RESERVED_RANGES: readonly (readonly [number, number])[] = [
  [0x04c, 0x050],
  [0x1eb, 0x1ec],
  [0x1ef, 0x1f0],
  [0x208, 0x2a0],
];

export type SnpProductLine = 'Milan' | 'Genoa' | 'Turin' | 'Unknown';

/** CPUID_FAM_ID / CPUID_MOD_ID / CPUID_STEP of a version ≥ 3 report. */
export interface SnpCpuid {
  familyId: number;
  modelId: number;
  stepping: number;
  /**
   * go-sev-guest's `FmsToCpuid1Eax(family, model, stepping)` (the report's
   * `Cpuid1EaxFms`). Only the low 4 bits of the stepping survive, which is why
   * Go re-serialises a report with CPUID_STEP > 15 differently (§5.3).
   */
  cpuid1Eax: number;
  /** Product line derived as go-sev-guest's `SevProductFromCpuid1Eax` does. */
  productLine: SnpProductLine;
}

/** A parsed report. Byte fields are copies; `raw` is authoritative for everything derived. */
export interface SnpAttestationReport {
  version: number;
  guestSvn: number;
  policy: SnpGuestPolicy;
  familyId: Uint8Array;
  imageId: Uint8Array;
  vmpl: number;
  signatureAlgo: number;
  currentTcb: SnpTcbVersion;
  platformInfo: SnpPlatformInfo;
  signerInfo: SnpSignerInfo;
  reportData: Uint8Array;
  measurement: Uint8Array;
  hostData: Uint8Array;
  idKeyDigest: Uint8Array;
  authorKeyDigest: Uint8Array;
  reportId: Uint8Array;
  reportIdMa: Uint8Array;
  reportedTcb: SnpTcbVersion;
  /** Version ≥ 3 only; null for older reports (whose 0x188–0x18A must be zero). */
  cpuid: SnpCpuid | null;
  chipId: Uint8Array;
  committedTcb: SnpTcbVersion;
  currentBuild: number;
  currentMinor: number;
  currentMajor: number;
  committedBuild: number;
  committedMinor: number;
  committedMajor: number;
  launchTcb: SnpTcbVersion;
  /** Parsed for every version (a version 5 field; zero before), never checked by Constellation. */
  launchMitVector: bigint;
  currentMitVector: bigint;
  /** The whole 512-byte SIGNATURE field. */
  signature: Uint8Array;
  /** SIGNATURE bytes 0–71: R, little-endian (see report-signature.ts for the P-384 forms). */
  signatureR: Uint8Array;
  /** SIGNATURE bytes 72–143: S, little-endian. */
  signatureS: Uint8Array;
  /** The 1184 report bytes. */
  raw: Uint8Array;
  /** raw[0x000:0x2A0], the bytes the signature covers (§5.3). */
  signedBytes: Uint8Array;
  /** Input bytes after the 1184-byte report (ignored by Go); empty when none. */
  trailing: Uint8Array;
}

const MILAN_GENOA_FAMILY = 0x19;
const TURIN_FAMILY = 0x1a;

/** Product line of a CPUID family/model (go-sev-guest `SevProductFromCpuid1Eax`; stepping plays no part). */
export function productLineFromCpuid(familyId: number, modelId: number): SnpProductLine {
  if (familyId === MILAN_GENOA_FAMILY && modelId === 0x01) return 'Milan';
  if (familyId === MILAN_GENOA_FAMILY && modelId === 0x11) return 'Genoa';
  if (familyId === TURIN_FAMILY && modelId === 0x02) return 'Turin';
  return 'Unknown';
}

/** go-sev-guest `FmsToCpuid1Eax` (bytes in, uint32 out). */
export function fmsToCpuid1Eax(familyId: number, modelId: number, stepping: number): number {
  let extendedFamily = 0;
  let family = familyId;
  if (familyId >= 0xf) {
    extendedFamily = familyId - 0xf;
    family = 0xf;
  }
  return ((extendedFamily << 20) | ((modelId >> 4) << 16) | (family << 8) | ((modelId & 0xf) << 4) | (stepping & 0xf)) >>> 0;
}

function cpuidOf(familyId: number, modelId: number, stepping: number): SnpCpuid {
  return { familyId, modelId, stepping, cpuid1Eax: fmsToCpuid1Eax(familyId, modelId, stepping), productLine: productLineFromCpuid(familyId, modelId) };
}

function mbz(data: Uint8Array, lo: number, hi: number, where: string): void {
  for (let i = lo; i < hi; i++) {
    if (data[i] !== 0) {
      snpMalformed(SnpComponent.report, `${where} (offset ${hex(lo)})`, `mbz range [${hex(lo)}:${hex(hi)}] not all zero: first non-zero byte at ${hex(i)}`, {
        offset: i,
      });
    }
  }
}

/**
 * Parses an ATTESTATION_REPORT (see the module comment for the rules). Never
 * throws anything but JoinServiceError(AttestationMalformed) for any input.
 */
export function parseSnpAttestationReport(data: Uint8Array): SnpAttestationReport {
  if (!(data instanceof Uint8Array)) snpMalformed(SnpComponent.report, '', 'input is not a byte array');
  if (data.length < SNP_REPORT_SIZE) {
    snpMalformed(SnpComponent.report, '', `array size is ${hex(data.length)}, an SEV-SNP attestation report size is ${hex(SNP_REPORT_SIZE)}`, {
      length: data.length,
    });
  }
  const raw = copyBytes(data, 0, SNP_REPORT_SIZE);
  const trailing = copyBytes(data, SNP_REPORT_SIZE);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const u32 = (o: number): number => view.getUint32(o, true);
  const u64 = (o: number): bigint => view.getBigUint64(o, true);
  const bytes = (f: SnpReportFieldLayout): Uint8Array => copyBytes(raw, f.offset, f.offset + f.size);
  const L = SNP_REPORT_LAYOUT;

  const version = u32(L.version.offset);
  const guestSvn = u32(L.guestSvn.offset);
  const policy = decodeGuestPolicy(u64(L.policy.offset));
  const familyId = bytes(L.familyId);
  const imageId = bytes(L.imageId);
  const vmpl = u32(L.vmpl.offset);
  const signatureAlgo = u32(L.signatureAlgo.offset);
  const currentTcb = decodeTcbVersion(u64(L.currentTcb.offset));
  const platformInfo = decodePlatformInfo(u64(L.platformInfo.offset));
  const signerInfo = decodeSignerInfo(u32(L.signerInfo.offset));
  mbz(raw, 0x04c, 0x050, 'reserved');
  const reportData = bytes(L.reportData);
  const measurement = bytes(L.measurement);
  const hostData = bytes(L.hostData);
  const idKeyDigest = bytes(L.idKeyDigest);
  const authorKeyDigest = bytes(L.authorKeyDigest);
  const reportId = bytes(L.reportId);
  const reportIdMa = bytes(L.reportIdMa);
  const reportedTcb = decodeTcbVersion(u64(L.reportedTcb.offset));
  let cpuid: SnpCpuid | null = null;
  if (version >= SNP_REPORT_CPUID_VERSION) {
    cpuid = cpuidOf(raw[L.cpuidFamId.offset]!, raw[L.cpuidModId.offset]!, raw[L.cpuidStep.offset]!);
    mbz(raw, 0x18b, 0x1a0, 'reserved');
  } else {
    mbz(raw, 0x188, 0x1a0, `reserved (CPUID_FAM_ID/MOD_ID/STEP need VERSION >= ${SNP_REPORT_CPUID_VERSION}, got ${version})`);
  }
  const chipId = bytes(L.chipId);
  const committedTcb = decodeTcbVersion(u64(L.committedTcb.offset));
  const currentBuild = raw[L.currentBuild.offset]!;
  const currentMinor = raw[L.currentMinor.offset]!;
  const currentMajor = raw[L.currentMajor.offset]!;
  mbz(raw, 0x1eb, 0x1ec, 'reserved');
  const committedBuild = raw[L.committedBuild.offset]!;
  const committedMinor = raw[L.committedMinor.offset]!;
  const committedMajor = raw[L.committedMajor.offset]!;
  mbz(raw, 0x1ef, 0x1f0, 'reserved');
  const launchTcb = decodeTcbVersion(u64(L.launchTcb.offset));
  const launchMitVector = u64(L.launchMitVector.offset);
  const currentMitVector = u64(L.currentMitVector.offset);
  mbz(raw, 0x208, SNP_SIGNATURE_OFFSET, 'reserved');
  if (signatureAlgo === SNP_SIGNATURE_ALGO_ECDSA_P384_SHA384) {
    mbz(raw, SNP_SIGNATURE_OFFSET + 2 * SNP_ECDSA_RS_SIZE, SNP_REPORT_SIZE, 'SIGNATURE (bytes after R and S)');
  }
  const signature = bytes(L.signature);
  return {
    version,
    guestSvn,
    policy,
    familyId,
    imageId,
    vmpl,
    signatureAlgo,
    currentTcb,
    platformInfo,
    signerInfo,
    reportData,
    measurement,
    hostData,
    idKeyDigest,
    authorKeyDigest,
    reportId,
    reportIdMa,
    reportedTcb,
    cpuid,
    chipId,
    committedTcb,
    currentBuild,
    currentMinor,
    currentMajor,
    committedBuild,
    committedMinor,
    committedMajor,
    launchTcb,
    launchMitVector,
    currentMitVector,
    signature,
    signatureR: copyBytes(signature, 0, SNP_ECDSA_RS_SIZE),
    signatureS: copyBytes(signature, SNP_ECDSA_RS_SIZE, 2 * SNP_ECDSA_RS_SIZE),
    raw,
    signedBytes: copyBytes(raw, 0, SNP_SIGNATURE_OFFSET),
    trailing,
  };
}

// ---------------------------------------------------------------------------
// Encoder

/** A u64 field given raw or as the parsed object (whose `raw` is used; its decoded view must agree). */
type RawOr<T extends { raw: R }, R> = R | T;

/**
 * What the encoder needs. A parsed SnpAttestationReport is accepted as is
 * (its `raw`, `signedBytes`, `signatureR`/`signatureS` are ignored; SIGNATURE
 * comes from `signature`). Omitted byte fields and numbers are zero, except
 * SIGNATURE_ALGO (default 1) and POLICY (default: bit 17 only, i.e. ABI 0.0
 * with every flag clear).
 */
export interface SnpAttestationReportInit {
  version: number;
  guestSvn?: number;
  policy?: RawOr<SnpGuestPolicy, bigint>;
  familyId?: Uint8Array;
  imageId?: Uint8Array;
  vmpl?: number;
  signatureAlgo?: number;
  currentTcb?: RawOr<SnpTcbVersion, bigint>;
  platformInfo?: RawOr<SnpPlatformInfo, bigint>;
  signerInfo?: RawOr<SnpSignerInfo, number>;
  reportData?: Uint8Array;
  measurement?: Uint8Array;
  hostData?: Uint8Array;
  idKeyDigest?: Uint8Array;
  authorKeyDigest?: Uint8Array;
  reportId?: Uint8Array;
  reportIdMa?: Uint8Array;
  reportedTcb?: RawOr<SnpTcbVersion, bigint>;
  /** Only for VERSION ≥ 3 (zero when omitted); must be null/omitted below. Derived members are ignored. */
  cpuid?: Pick<SnpCpuid, 'familyId' | 'modelId' | 'stepping'> | null;
  chipId?: Uint8Array;
  committedTcb?: RawOr<SnpTcbVersion, bigint>;
  currentBuild?: number;
  currentMinor?: number;
  currentMajor?: number;
  committedBuild?: number;
  committedMinor?: number;
  committedMajor?: number;
  launchTcb?: RawOr<SnpTcbVersion, bigint>;
  launchMitVector?: bigint;
  currentMitVector?: bigint;
  /** The 512-byte SIGNATURE field (see encodeSnpEcdsaP384Signature); zero when omitted. */
  signature?: Uint8Array;
  /** Bytes appended after the report (e.g. Azure's IGVM header); none when omitted. */
  trailing?: Uint8Array;
}

/**
 * The report bytes (1184, plus `trailing`). Raw values are written as given,
 * even ones the parser rejects (so tests can build invalid reports); reserved
 * ranges are always zero. Throws RangeError for out-of-range numbers, wrong
 * byte-field sizes, a decoded view that disagrees with its `raw`, or CPUID
 * values on a VERSION < 3 report.
 */
export function encodeSnpAttestationReport(r: SnpAttestationReportInit): Uint8Array {
  const out = new Uint8Array(SNP_REPORT_SIZE);
  const view = new DataView(out.buffer);
  const L = SNP_REPORT_LAYOUT;
  const putU32 = (f: SnpReportFieldLayout, v: number | undefined): void => {
    const n = v ?? 0;
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`${f.name}: ${n} is not a uint32`);
    view.setUint32(f.offset, n, true);
  };
  const putU8 = (f: SnpReportFieldLayout, v: number | undefined): void => {
    const n = v ?? 0;
    if (!Number.isInteger(n) || n < 0 || n > 0xff) throw new RangeError(`${f.name}: ${n} is not a uint8`);
    out[f.offset] = n;
  };
  const putU64 = (f: SnpReportFieldLayout, v: bigint | undefined): void => {
    const n = v ?? 0n;
    if (typeof n !== 'bigint' || n < 0n || n >= 1n << 64n) throw new RangeError(`${f.name}: ${String(n)} is not a uint64`);
    view.setBigUint64(f.offset, n, true);
  };
  const putBytes = (f: SnpReportFieldLayout, v: Uint8Array | undefined): void => {
    if (v === undefined) return;
    if (!(v instanceof Uint8Array) || v.length !== f.size) throw new RangeError(`${f.name}: needs ${f.size} bytes, got ${v instanceof Uint8Array ? v.length : typeof v}`);
    out.set(v, f.offset);
  };

  if (typeof r.version !== 'number') throw new RangeError('VERSION is required');
  putU32(L.version, r.version);
  putU32(L.guestSvn, r.guestSvn);
  putU64(L.policy, rawOf<bigint, SnpGuestPolicy>(r.policy, encodeGuestPolicy({}), decodeGuestPolicy, L.policy.name));
  putBytes(L.familyId, r.familyId);
  putBytes(L.imageId, r.imageId);
  putU32(L.vmpl, r.vmpl);
  putU32(L.signatureAlgo, r.signatureAlgo ?? SNP_SIGNATURE_ALGO_ECDSA_P384_SHA384);
  putU64(L.currentTcb, rawOf<bigint, SnpTcbVersion>(r.currentTcb, 0n, decodeTcbVersion, L.currentTcb.name));
  putU64(L.platformInfo, rawOf<bigint, SnpPlatformInfo>(r.platformInfo, 0n, decodePlatformInfo, L.platformInfo.name));
  putU32(L.signerInfo, rawOf<number, SnpSignerInfo>(r.signerInfo, 0, decodeSignerInfo, L.signerInfo.name));
  putBytes(L.reportData, r.reportData);
  putBytes(L.measurement, r.measurement);
  putBytes(L.hostData, r.hostData);
  putBytes(L.idKeyDigest, r.idKeyDigest);
  putBytes(L.authorKeyDigest, r.authorKeyDigest);
  putBytes(L.reportId, r.reportId);
  putBytes(L.reportIdMa, r.reportIdMa);
  putU64(L.reportedTcb, rawOf<bigint, SnpTcbVersion>(r.reportedTcb, 0n, decodeTcbVersion, L.reportedTcb.name));
  if (r.cpuid != null) {
    if (r.version < SNP_REPORT_CPUID_VERSION) {
      const { familyId, modelId, stepping } = r.cpuid;
      if (familyId !== 0 || modelId !== 0 || stepping !== 0) throw new RangeError(`CPUID fields need VERSION >= ${SNP_REPORT_CPUID_VERSION}, got ${r.version}`);
    }
    putU8(L.cpuidFamId, r.cpuid.familyId);
    putU8(L.cpuidModId, r.cpuid.modelId);
    putU8(L.cpuidStep, r.cpuid.stepping);
  }
  putBytes(L.chipId, r.chipId);
  putU64(L.committedTcb, rawOf<bigint, SnpTcbVersion>(r.committedTcb, 0n, decodeTcbVersion, L.committedTcb.name));
  putU8(L.currentBuild, r.currentBuild);
  putU8(L.currentMinor, r.currentMinor);
  putU8(L.currentMajor, r.currentMajor);
  putU8(L.committedBuild, r.committedBuild);
  putU8(L.committedMinor, r.committedMinor);
  putU8(L.committedMajor, r.committedMajor);
  putU64(L.launchTcb, rawOf<bigint, SnpTcbVersion>(r.launchTcb, 0n, decodeTcbVersion, L.launchTcb.name));
  putU64(L.launchMitVector, r.launchMitVector);
  putU64(L.currentMitVector, r.currentMitVector);
  putBytes(L.signature, r.signature);
  if (r.trailing === undefined || r.trailing.length === 0) return out;
  const withTrailing = new Uint8Array(SNP_REPORT_SIZE + r.trailing.length);
  withTrailing.set(out);
  withTrailing.set(r.trailing, SNP_REPORT_SIZE);
  return withTrailing;
}

/**
 * The raw value of a field given raw or as a decoded object; for objects,
 * every decoded member present must equal what decoding `raw` gives (so a
 * flipped flag with a stale `raw` fails loudly instead of being ignored).
 */
function rawOf<R extends bigint | number, T extends { raw: R }>(v: R | T | undefined, dflt: R, decode: (raw: R) => T, name: string): R {
  if (v === undefined) return dflt;
  if (typeof v !== 'object') return v;
  let expected: T;
  try {
    expected = decode(v.raw);
  } catch (err) {
    throw new RangeError(`${name}: raw value does not decode: ${(err as Error).message}`, { cause: err });
  }
  for (const [k, val] of Object.entries(v)) {
    if ((expected as Record<string, unknown>)[k] !== val) throw new RangeError(`${name}: member ${k} disagrees with raw ${v.raw.toString(16)}`);
  }
  return v.raw;
}

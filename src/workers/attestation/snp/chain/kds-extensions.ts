/**
 * The AMD KDS extensions of a VCEK/VLEK certificate (OID prefix
 * 1.3.6.1.4.1.3704.1, sev-snp-attestation.md §6.1) read with go-sev-guest's
 * `kds.CertificateExtensions` rules, and their comparison with the report
 * (§9.2: REPORTED_TCB == certificate TCB as a whole u64; for VCEK-signed
 * reports with a non-zero CHIP_ID, CHIP_ID == hwID).
 *
 * Rules, in go-sev-guest's order:
 * - every extension is a KDS OID or AuthorityKeyIdentifier (2.5.29.35) —
 *   anything else fails (`not an AMD KDS OID`); duplicates fail;
 * - structVersion: INTEGER 0…255 (any value; AMD writes 0);
 * - productName: IA5String (first byte must be the IA5String tag; ASCII only;
 *   no trailing bytes) — its value is only evaluated by product detection
 *   (product.ts, v2 reports);
 * - hwID (optional here): exactly 64 raw bytes, or a DER OCTET STRING of 64;
 * - cspID (optional here): IA5String; hwID and cspID together fail;
 * - blSPL, teeSPL, snpSPL, spl4…spl7, ucodeSPL: required INTEGERs 0…255
 *   (minimal DER, no trailing bytes); then every part but ucodeSPL ≤ 127;
 * - VCEK: hwID required, a cspID extension forbidden (Go: a non-empty one;
 *   an empty one already fails as "both"); VLEK: a non-empty cspID required,
 *   hwID forbidden.
 * The certificate TCB is composed in the Milan/Genoa layout go-sev-guest uses
 * for every product (§5.2): bl → byte 0, tee → 1, spl4…7 → 2…5, snp → 6,
 * ucode → 7.
 *
 * Failures: decoding problems (wrong tag, bad DER, trailing bytes) are
 * JoinServiceError(AttestationMalformed); rule violations are
 * AttestationRejected. Both carry `details.check = 'kds-extensions'` and the
 * OID concerned.
 */
import { ErrorCode, JoinServiceError } from '../../../../shared/errors.js';
import { contentOf, DerCursor, readInt64, T } from '../../../certificate/der-cursor.js';
import type { Extension } from '../../../certificate/extensions.js';
import type { SnpSigner } from './product.js';

export const KDS_OID_PREFIX = '1.3.6.1.4.1.3704.1';
export const KDS_OID = {
  structVersion: `${KDS_OID_PREFIX}.1`,
  productName: `${KDS_OID_PREFIX}.2`,
  blSpl: `${KDS_OID_PREFIX}.3.1`,
  teeSpl: `${KDS_OID_PREFIX}.3.2`,
  snpSpl: `${KDS_OID_PREFIX}.3.3`,
  spl4: `${KDS_OID_PREFIX}.3.4`,
  spl5: `${KDS_OID_PREFIX}.3.5`,
  spl6: `${KDS_OID_PREFIX}.3.6`,
  spl7: `${KDS_OID_PREFIX}.3.7`,
  ucodeSpl: `${KDS_OID_PREFIX}.3.8`,
  hwId: `${KDS_OID_PREFIX}.4`,
  cspId: `${KDS_OID_PREFIX}.5`,
} as const;
export type KdsField = keyof typeof KDS_OID;

const OID_AUTHORITY_KEY_ID = '2.5.29.35';
const KDS_FIELD_OF: ReadonlyMap<string, KdsField> = new Map(Object.entries(KDS_OID).map(([k, v]) => [v, k as KdsField]));

/** Bytes of a CHIP_ID / hwID. */
export const CHIP_ID_SIZE = 64;

/** The eight SPLs, each 0–255 (Milan/Genoa TCB_VERSION layout). */
export interface KdsTcbParts {
  blSpl: number;
  teeSpl: number;
  spl4: number;
  spl5: number;
  spl6: number;
  spl7: number;
  snpSpl: number;
  ucodeSpl: number;
}

export type KdsSplField = keyof KdsTcbParts;

/** Byte of the TCB_VERSION each SPL occupies (§5.2). */
export const TCB_BYTE: Readonly<Record<KdsSplField, number>> = { blSpl: 0, teeSpl: 1, spl4: 2, spl5: 3, spl6: 4, spl7: 5, snpSpl: 6, ucodeSpl: 7 };

/** The extension names in messages (as the KDS specification spells them). */
const EXTENSION_NAME: Readonly<Record<KdsField, string>> = {
  structVersion: 'structVersion',
  productName: 'productName',
  blSpl: 'blSPL',
  teeSpl: 'teeSPL',
  snpSpl: 'snpSPL',
  spl4: 'spl4',
  spl5: 'spl5',
  spl6: 'spl6',
  spl7: 'spl7',
  ucodeSpl: 'ucodeSPL',
  hwId: 'hwID',
  cspId: 'cspID',
};

/** The report's TCB_VERSION component names (AMD ABI) for each SPL. */
const REPORT_TCB_PART: Readonly<Record<KdsSplField, string>> = {
  blSpl: 'bootloader',
  teeSpl: 'tee',
  spl4: 'reserved byte 2',
  spl5: 'reserved byte 3',
  spl6: 'reserved byte 4',
  spl7: 'reserved byte 5',
  snpSpl: 'snp',
  ucodeSpl: 'microcode',
};

/** go-sev-guest's read order of the SPLs. */
const SPL_ORDER: readonly KdsSplField[] = ['blSpl', 'teeSpl', 'snpSpl', 'spl4', 'spl5', 'spl6', 'spl7', 'ucodeSpl'];
/** go-sev-guest ComposeTCBParts' check order for the 0–127 rule. */
const MAX127_ORDER: readonly KdsSplField[] = ['snpSpl', 'spl7', 'spl6', 'spl5', 'spl4', 'teeSpl', 'blSpl'];

export interface KdsExtensions {
  structVersion: number;
  productName: string;
  /** SPLs as in the certificate. */
  spl: KdsTcbParts;
  /** The composed certificate TCB (u64, Milan/Genoa layout). */
  tcb: bigint;
  /** 64 bytes for a VCEK; undefined for a VLEK. */
  hwId: Uint8Array | undefined;
  /** The CSP identity of a VLEK (e.g. `CN=cc-us-east-2.amazonaws.com`); undefined for a VCEK. */
  cspId: string | undefined;
}

function malformed(signer: SnpSigner, field: KdsField, reason: string): never {
  throw new JoinServiceError(ErrorCode.AttestationMalformed, `${signer} ${EXTENSION_NAME[field]} extension (${KDS_OID[field]}) ${reason}`, {
    check: 'kds-extensions',
    signer,
    oid: KDS_OID[field],
  });
}

function rejected(signer: SnpSigner, message: string, oid?: string): never {
  throw new JoinServiceError(ErrorCode.AttestationRejected, message, { check: 'kds-extensions', signer, ...(oid ? { oid } : {}) });
}

/** go-sev-guest asn1U8: an INTEGER 0…255 with nothing after it. */
function readU8(signer: SnpSigner, field: KdsField, value: Uint8Array): number {
  const c = DerCursor.of(value);
  const v = readInt64(c);
  if (v === undefined) malformed(signer, field, 'is not a DER INTEGER');
  if (!c.empty()) malformed(signer, field, 'has bytes after its INTEGER');
  if (v < 0n || v > 255n) rejected(signer, `${signer} ${EXTENSION_NAME[field]} extension is ${v}, not a uint8`, KDS_OID[field]);
  return Number(v);
}

/** go-sev-guest asn1IA5String: tag 0x16 first, ASCII content, nothing after it. */
function readIa5(signer: SnpSigner, field: KdsField, value: Uint8Array): string {
  if (value.length === 0) rejected(signer, `${signer} ${EXTENSION_NAME[field]} extension is empty`, KDS_OID[field]);
  if (value[0] !== T.Ia5String) malformed(signer, field, `is not tagged as an IA5String (tag 0x${value[0]!.toString(16).padStart(2, '0')})`);
  const c = DerCursor.of(value);
  const el = c.read(T.Ia5String);
  if (!el) malformed(signer, field, 'is not a DER IA5String');
  if (!c.empty()) malformed(signer, field, 'has bytes after its IA5String');
  const body = contentOf(el);
  if (body.some((b) => b >= 0x80)) malformed(signer, field, 'contains a non-ASCII byte');
  return Buffer.from(body).toString('latin1');
}

/** go-sev-guest asn1OctetString(…, 64): 64 raw bytes, or an OCTET STRING of 64 bytes with nothing after it. */
function readHwId(signer: SnpSigner, value: Uint8Array): Uint8Array {
  if (value.length === CHIP_ID_SIZE) return Uint8Array.from(value);
  const c = DerCursor.of(value);
  const el = c.read(T.OctetString);
  if (!el) malformed(signer, 'hwId', `is neither ${CHIP_ID_SIZE} raw bytes nor a DER OCTET STRING`);
  if (!c.empty()) malformed(signer, 'hwId', 'has bytes after its OCTET STRING');
  const body = contentOf(el);
  if (body.length !== CHIP_ID_SIZE) rejected(signer, `${signer} hwID extension has ${body.length} bytes, expected ${CHIP_ID_SIZE}`, KDS_OID.hwId);
  return Uint8Array.from(body);
}

/** Composes the u64 TCB from SPLs (Milan/Genoa layout); every part must be 0–255. */
export function composeTcb(parts: KdsTcbParts): bigint {
  let tcb = 0n;
  for (const f of SPL_ORDER) {
    const v = parts[f];
    if (!Number.isInteger(v) || v < 0 || v > 255) throw new RangeError(`${f} ${v} is not a uint8`);
    tcb |= BigInt(v) << BigInt(8 * TCB_BYTE[f]);
  }
  return tcb;
}

/** Splits a u64 TCB_VERSION into its SPLs (Milan/Genoa layout). */
export function decomposeTcb(tcb: bigint): KdsTcbParts {
  const byte = (i: number): number => Number((tcb >> BigInt(8 * i)) & 0xffn);
  return { blSpl: byte(0), teeSpl: byte(1), spl4: byte(2), spl5: byte(3), spl6: byte(4), spl7: byte(5), snpSpl: byte(6), ucodeSpl: byte(7) };
}

/**
 * Reads the KDS extensions of a VCEK/VLEK (the parsed certificate's
 * extension list: OID, critical flag, extnValue content) for the signer kind
 * of the report.
 */
export function parseKdsExtensions(extensions: readonly Extension[], signer: SnpSigner): KdsExtensions {
  const byField = new Map<KdsField, Uint8Array>();
  for (const e of extensions) {
    if (e.oid === OID_AUTHORITY_KEY_ID) continue;
    const field = KDS_FIELD_OF.get(e.oid);
    if (field === undefined) rejected(signer, `${signer} certificate extension ${e.oid} is not an AMD KDS extension (not an AMD KDS OID)`, e.oid);
    if (byField.has(field)) rejected(signer, `${signer} certificate has a duplicate AMD KDS extension ${e.oid}`, e.oid);
    byField.set(field, e.value);
  }
  const required = (field: KdsField): Uint8Array => {
    const v = byField.get(field);
    if (v === undefined) rejected(signer, `${signer} certificate has no ${EXTENSION_NAME[field]} extension (${KDS_OID[field]})`, KDS_OID[field]);
    return v;
  };

  const structVersion = readU8(signer, 'structVersion', required('structVersion'));
  const productName = readIa5(signer, 'productName', required('productName'));
  const hwIdValue = byField.get('hwId');
  const hwId = hwIdValue === undefined ? undefined : readHwId(signer, hwIdValue);
  const cspIdValue = byField.get('cspId');
  let cspId: string | undefined;
  if (cspIdValue !== undefined) {
    cspId = readIa5(signer, 'cspId', cspIdValue);
    if (hwId !== undefined) rejected(signer, `${signer} certificate has both hwID and cspID extensions`, KDS_OID.cspId);
  }
  const spl = {} as KdsTcbParts;
  for (const f of SPL_ORDER) spl[f] = readU8(signer, f, required(f));
  for (const f of MAX127_ORDER) {
    if (spl[f] > 127) rejected(signer, `${signer} ${EXTENSION_NAME[f]} extension is ${spl[f]}, expected 0-127`, KDS_OID[f]);
  }

  if (signer === 'VCEK') {
    if (cspId !== undefined && cspId !== '') rejected(signer, `VCEK certificate has a cspID extension (${JSON.stringify(cspId)})`, KDS_OID.cspId);
    if (hwId === undefined) rejected(signer, `VCEK certificate has no hwID extension (${KDS_OID.hwId})`, KDS_OID.hwId);
  } else {
    if (cspId === undefined || cspId === '') rejected(signer, `VLEK certificate has no cspID extension (${KDS_OID.cspId})`, KDS_OID.cspId);
    if (hwId !== undefined) rejected(signer, `VLEK certificate has a hwID extension (${KDS_OID.hwId})`, KDS_OID.hwId);
  }
  return { structVersion, productName, spl, tcb: composeTcb(spl), hwId, cspId: signer === 'VLEK' ? cspId : undefined };
}

/** The report fields the KDS extensions are compared with. */
export interface KdsReportFields {
  /** REPORTED_TCB (report 0x180) as the u64 read little-endian. */
  reportedTcb: bigint;
  /** CHIP_ID (report 0x1A0, 64 bytes). */
  chipId: Uint8Array;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

function tcbHex(tcb: bigint): string {
  return `0x${tcb.toString(16).padStart(16, '0')}`;
}

/**
 * The SPLs in which the certificate TCB differs from REPORTED_TCB, as
 * `VCEK blSPL extension 3 != report REPORTED_TCB.bootloader 4` (empty when equal).
 */
export function kdsTcbMismatches(exts: Pick<KdsExtensions, 'spl'>, signer: SnpSigner, reportedTcb: bigint): string[] {
  const reported = decomposeTcb(reportedTcb);
  const out: string[] = [];
  for (const f of ['blSpl', 'teeSpl', 'spl4', 'spl5', 'spl6', 'spl7', 'snpSpl', 'ucodeSpl'] as const) {
    if (exts.spl[f] !== reported[f]) out.push(`${signer} ${EXTENSION_NAME[f]} extension ${exts.spl[f]} != report REPORTED_TCB.${REPORT_TCB_PART[f]} ${reported[f]}`);
  }
  return out;
}

/**
 * §9.2: REPORTED_TCB must equal the certificate TCB exactly (all eight
 * bytes); for a VCEK-signed report whose CHIP_ID is not all zero (MASK_CHIP_ID
 * may zero it), CHIP_ID must equal the hwID. Throws
 * JoinServiceError(AttestationRejected) naming every differing SPL, or both
 * IDs; `details.check` is `kds-tcb` or `kds-hwid`.
 */
export function checkKdsAgainstReport(exts: KdsExtensions, signer: SnpSigner, report: KdsReportFields): void {
  if (typeof report.reportedTcb !== 'bigint' || report.reportedTcb < 0n || report.reportedTcb >= 1n << 64n) {
    throw new JoinServiceError(ErrorCode.AttestationMalformed, `REPORTED_TCB ${String(report.reportedTcb)} is not a uint64`, { check: 'kds-tcb', signer });
  }
  if (!(report.chipId instanceof Uint8Array) || report.chipId.length !== CHIP_ID_SIZE) {
    throw new JoinServiceError(ErrorCode.AttestationMalformed, `CHIP_ID must have ${CHIP_ID_SIZE} bytes`, { check: 'kds-hwid', signer });
  }
  if (exts.tcb !== report.reportedTcb) {
    const parts = kdsTcbMismatches(exts, signer, report.reportedTcb);
    throw new JoinServiceError(
      ErrorCode.AttestationRejected,
      `${parts.join('; ')} (certificate TCB ${tcbHex(exts.tcb)}, report REPORTED_TCB ${tcbHex(report.reportedTcb)})`,
      { check: 'kds-tcb', signer, certificateTcb: tcbHex(exts.tcb), reportedTcb: tcbHex(report.reportedTcb) },
    );
  }
  if (signer !== 'VCEK') return;
  if (report.chipId.every((b) => b === 0)) return;
  const hwId = exts.hwId;
  if (!hwId || !Buffer.from(hwId.buffer, hwId.byteOffset, hwId.byteLength).equals(report.chipId)) {
    throw new JoinServiceError(ErrorCode.AttestationRejected, `report CHIP_ID ${hex(report.chipId)} != VCEK hwID extension ${hwId ? hex(hwId) : '<none>'}`, {
      check: 'kds-hwid',
      signer,
    });
  }
}

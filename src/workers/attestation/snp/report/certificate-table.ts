/**
 * The certificate table of an extended SNP report (sev-snp-attestation.md
 * §2.1; AMD GHCB spec, MSG_REPORT_REQ / SNP_GET_EXT_REPORT): what the AWS and
 * GCP issuers read the VLEK/VCEK (and ASK/ARK) from. Validators never see it.
 *
 * Layout: 24-byte entries `{ GUID[16], offset u32 LE, length u32 LE }`
 * terminated by an all-zero entry, then the certificates (DER). `offset` is
 * relative to the table start and must be ≥ the size of the entry list
 * including the terminator; `offset + length` must lie within the table.
 * GUIDs are compared in RFC 4122 (textual) byte order, as go-sev-guest's
 * `uuid.UUID` does.
 *
 * Parsing follows go-sev-guest `abi.ParseSnpCertTableHeader` /
 * `CertTable.Unmarshal` (empty input = empty table without terminator;
 * missing terminator, an offset into the entry list, or a range outside the
 * data are errors), with three deliberate differences, all rejecting input no
 * honest host produces:
 * - `offset + length` is computed without Go's uint32 wrap-around (Go's check
 *   can pass a wrapped sum and then panic on the slice);
 * - a GUID listed twice is an error (Go keeps the last one for VCEK/VLEK/ASK/ARK
 *   and the first one in GetByGUIDString);
 * - size bounds: at most SNP_CERT_TABLE_LIMITS.entries entries and
 *   SNP_CERT_TABLE_LIMITS.tableBytes bytes.
 */
import { parseSnpAttestationReport, SNP_REPORT_SIZE, type SnpAttestationReport } from './attestation-report.js';
import { hex, snpMalformed, SnpComponent } from './malformed.js';
import { copyBytes } from './bytes.js';

export const SNP_CERT_TABLE_ENTRY_SIZE = 24;
export const SNP_GUID_SIZE = 16;

/** The GUIDs Constellation's issuers look up (the ASK GUID is also used for the ASVK). */
export const SNP_CERT_GUIDS = {
  VCEK: '63da758d-e664-4564-adc5-f4b93be8accd',
  VLEK: 'a8074bc2-a25a-483e-aae6-39c045a0b8a1',
  ASK: '4ab7b379-bbac-4fe4-a02f-05aef327c782',
  ARK: 'c0b406a4-a803-4952-9743-3fb6014cd0ae',
} as const;
export type SnpCertKind = keyof typeof SNP_CERT_GUIDS;

export const SNP_CERT_TABLE_LIMITS = {
  /** Honest tables hold ≤ 4 certificates (VCEK or VLEK, ASK, ARK, maybe extras). */
  entries: 32,
  /** Four DER certificates are < 8 KiB; hosts hand out a few pages. */
  tableBytes: 64 * 1024,
} as const;

export interface SnpCertTableEntry {
  /** Lower-case textual GUID (`63da758d-e664-…`). */
  guid: string;
  /** The 16 GUID bytes as in the table. */
  guidBytes: Uint8Array;
  /** Which well-known certificate, or null for other GUIDs. */
  kind: SnpCertKind | null;
  offset: number;
  length: number;
  /** The certificate bytes (a copy of table[offset : offset+length]). */
  data: Uint8Array;
}

const GUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** RFC 4122 textual GUID → 16 bytes in textual order. RangeError for malformed text. */
export function guidToBytes(guid: string): Uint8Array {
  if (!GUID_TEXT.test(guid)) throw new RangeError(`not a GUID: ${JSON.stringify(guid.slice(0, 40))}`);
  return Uint8Array.from(Buffer.from(guid.replace(/-/g, ''), 'hex'));
}

/** 16 bytes → lower-case textual GUID. */
export function guidFromBytes(bytes: Uint8Array): string {
  if (bytes.length !== SNP_GUID_SIZE) throw new RangeError(`a GUID has ${SNP_GUID_SIZE} bytes, got ${bytes.length}`);
  const h = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const KIND_BY_GUID: ReadonlyMap<string, SnpCertKind> = new Map(Object.entries(SNP_CERT_GUIDS).map(([k, g]) => [g, k as SnpCertKind]));

/** Parses a certificate table (the bytes after the 1184-byte report). */
export function parseSnpCertificateTable(table: Uint8Array): SnpCertTableEntry[] {
  if (!(table instanceof Uint8Array)) snpMalformed(SnpComponent.certTable, '', 'input is not a byte array');
  if (table.length === 0) return [];
  if (table.length > SNP_CERT_TABLE_LIMITS.tableBytes) {
    snpMalformed(SnpComponent.certTable, '', `${table.length} bytes exceed the limit of ${SNP_CERT_TABLE_LIMITS.tableBytes} bytes`, { length: table.length });
  }
  const view = new DataView(table.buffer, table.byteOffset, table.byteLength);
  const headers: { guidBytes: Uint8Array; offset: number; length: number }[] = [];
  let index = 0;
  for (;;) {
    const where = `entry ${headers.length} (offset ${hex(index)})`;
    if (table.length - index < SNP_CERT_TABLE_ENTRY_SIZE) {
      snpMalformed(
        SnpComponent.certTable,
        where,
        `cert table index ${index} entry unmarshalling error: data too small: ${table.length - index}, want ${SNP_CERT_TABLE_ENTRY_SIZE} (no all-zero terminator entry)`,
        { offset: index },
      );
    }
    const guidBytes = copyBytes(table, index, index + SNP_GUID_SIZE);
    const offset = view.getUint32(index + SNP_GUID_SIZE, true);
    const length = view.getUint32(index + SNP_GUID_SIZE + 4, true);
    index += SNP_CERT_TABLE_ENTRY_SIZE;
    if (offset === 0 && length === 0 && guidBytes.every((b) => b === 0)) break;
    if (headers.length === SNP_CERT_TABLE_LIMITS.entries) {
      snpMalformed(SnpComponent.certTable, where, `more than ${SNP_CERT_TABLE_LIMITS.entries} entries`);
    }
    headers.push({ guidBytes, offset, length });
  }
  const seen = new Set<string>();
  return headers.map((h, i) => {
    const guid = guidFromBytes(h.guidBytes);
    const where = `entry ${i} (GUID ${guid})`;
    if (h.offset < index) {
      snpMalformed(SnpComponent.certTable, where, `cert table entry ${i} has invalid offset into header (size ${index}): ${h.offset}`, { offset: h.offset });
    }
    if (h.offset + h.length > table.length) {
      snpMalformed(
        SnpComponent.certTable,
        where,
        `cert table entry ${i} specifies a byte range outside the certificate data block (size ${table.length}): offset=${h.offset}, length=${h.length}`,
        { offset: h.offset, length: h.length },
      );
    }
    if (seen.has(guid)) snpMalformed(SnpComponent.certTable, where, 'GUID listed more than once');
    seen.add(guid);
    return { guid, guidBytes: h.guidBytes, kind: KIND_BY_GUID.get(guid) ?? null, offset: h.offset, length: h.length, data: copyBytes(table, h.offset, h.offset + h.length) };
  });
}

/** The certificate for a well-known kind or a textual GUID, if the table has it. */
export function findSnpCertificate(entries: readonly SnpCertTableEntry[], which: SnpCertKind | string): Uint8Array | undefined {
  const guid = (Object.hasOwn(SNP_CERT_GUIDS, which) ? SNP_CERT_GUIDS[which as SnpCertKind] : which).toLowerCase();
  return entries.find((e) => e.guid === guid)?.data;
}

/**
 * Encodes a table as go-sev-guest's `CertTable.Marshal` does: entries in the
 * given order, terminator, then the certificates back to back in the same
 * order. No entries → empty output (Go returns nil).
 */
export function encodeSnpCertificateTable(entries: readonly { guid: SnpCertKind | string | Uint8Array; data: Uint8Array }[]): Uint8Array {
  if (entries.length === 0) return new Uint8Array(0);
  const headerSize = (entries.length + 1) * SNP_CERT_TABLE_ENTRY_SIZE;
  const total = headerSize + entries.reduce((n, e) => n + e.data.length, 0);
  if (total > 0xffffffff) throw new RangeError('certificate table exceeds 4 GiB');
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let cursor = headerSize;
  entries.forEach((e, i) => {
    const guidBytes =
      e.guid instanceof Uint8Array ? e.guid : guidToBytes(Object.hasOwn(SNP_CERT_GUIDS, e.guid) ? SNP_CERT_GUIDS[e.guid as SnpCertKind] : e.guid);
    if (guidBytes.length !== SNP_GUID_SIZE) throw new RangeError(`entry ${i}: a GUID has ${SNP_GUID_SIZE} bytes`);
    const at = i * SNP_CERT_TABLE_ENTRY_SIZE;
    out.set(guidBytes, at);
    view.setUint32(at + SNP_GUID_SIZE, cursor, true);
    view.setUint32(at + SNP_GUID_SIZE + 4, e.data.length, true);
    out.set(e.data, cursor);
    cursor += e.data.length;
  });
  return out;
}

/** An extended report: the report and its certificate table. */
export interface SnpExtendedReport {
  report: SnpAttestationReport;
  certificates: SnpCertTableEntry[];
}

/**
 * `report (1184 bytes) ‖ certificate table` (go-sev-guest
 * `abi.ReportCertsToProto`). The report's `trailing` is the raw table.
 */
export function parseSnpExtendedReport(data: Uint8Array): SnpExtendedReport {
  const report = parseSnpAttestationReport(data);
  return { report, certificates: parseSnpCertificateTable(data.subarray(SNP_REPORT_SIZE)) };
}

/**
 * Azure's HCL report (sev-snp-attestation.md §3.2): the blob the paravisor
 * (HCL) writes to TPM NV index 0x01400001, from which the azure-sev-snp
 * issuer cuts the SNP report and the runtime data. Validators never see it;
 * this serves the software issuer in tests and diagnostics.
 *
 * | offset | size | content |
 * | 0x000  | 32   | header: "HCLA", version u32 (2), report size u32, request type u32, 16 reserved bytes |
 * | 0x020  | 1184 | hardware report (SNP ATTESTATION_REPORT; a TDX TDREPORT is padded into the same slot) |
 * | 0x4C0  | 20   | IGVM request data: data size (20 + n), version (1), report type (2 SNP, 3 TVM, 4 TDX), hash type (1 SHA-256), runtime data size n |
 * | 0x4D4  | n    | runtime data (UTF-8 JSON), then zero padding |
 *
 * go-azguestattestation takes the report as blob[0x20:0x4C0] and the runtime
 * data as blob[0x4D4:] cut at the first 0x00 byte, ignoring the size fields.
 * The parser here is stricter and rejects blobs where the two readings could
 * differ: the runtime data of the size field must contain no 0x00 and be
 * followed by 0x00 or the end of the blob, and data size = 20 + n. The header
 * version, report size and request type are returned but not checked (no
 * consumer relies on them; in the TDX vector the report size is 0x4D4 + n and
 * the request type 2).
 */
import { parseSnpAttestationReport, SNP_REPORT_SIZE, type SnpAttestationReport } from '../report/attestation-report.js';
import { hex, snpMalformed, SnpComponent } from '../report/malformed.js';
import { copyBytes } from '../report/bytes.js';

export const HCL_REPORT_OFFSETS = {
  header: 0x000,
  hwReport: 0x020,
  requestData: 0x4c0,
  runtimeData: 0x4d4,
} as const;
export const HCL_HEADER_SIZE = 0x20;
export const HCL_REQUEST_DATA_HEADER_SIZE = 20;
/** "HCLA" read as a little-endian u32. */
export const HCL_SIGNATURE = 0x414c4348;
/** IGVM report types. */
export const HclReportType = { SNP: 2, TVM: 3, TDX: 4 } as const;
/** IGVM report-data hash types. */
export const HclHashType = { SHA256: 1, SHA384: 2, SHA512: 3 } as const;

export const HCL_REPORT_LIMITS = {
  /** The TDX vector's NV blob is 2600 bytes; NV indices are at most a few KiB. */
  blobBytes: 64 * 1024,
} as const;

export interface HclReportHeader {
  /** 0x414C4348 ("HCLA"). */
  signature: number;
  version: number;
  reportSize: number;
  requestType: number;
  reserved: Uint8Array;
}

/** The IGVM request-data header at 0x4C0. */
export interface HclRequestData {
  dataSize: number;
  version: number;
  reportType: number;
  reportDataHashType: number;
  runtimeDataSize: number;
}

export interface HclReport {
  header: HclReportHeader;
  /** blob[0x20:0x4C0], the hardware report slot. */
  hwReport: Uint8Array;
  requestData: HclRequestData;
  /** The runtime data bytes (size field = cut at the first 0x00). */
  runtimeData: Uint8Array;
  /** Everything after the runtime data (zero padding in practice; not checked beyond its first byte). */
  padding: Uint8Array;
}

export interface SnpHclReport extends HclReport {
  /** The parsed SNP report in the hardware slot. */
  report: SnpAttestationReport;
}

function malformed(offset: number, field: string, reason: string): never {
  return snpMalformed(SnpComponent.hclReport, `${field} (offset ${hex(offset)})`, reason, { offset });
}

/** Parses the generic layout (any report type). Throws JoinServiceError(AttestationMalformed) only. */
export function parseHclReport(blob: Uint8Array): HclReport {
  if (!(blob instanceof Uint8Array)) snpMalformed(SnpComponent.hclReport, '', 'input is not a byte array');
  if (blob.length > HCL_REPORT_LIMITS.blobBytes) {
    snpMalformed(SnpComponent.hclReport, '', `${blob.length} bytes exceed the limit of ${HCL_REPORT_LIMITS.blobBytes} bytes`, { length: blob.length });
  }
  if (blob.length < HCL_REPORT_OFFSETS.runtimeData) {
    snpMalformed(SnpComponent.hclReport, '', `${blob.length} bytes are shorter than the ${HCL_REPORT_OFFSETS.runtimeData}-byte fixed part`, { length: blob.length });
  }
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const u32 = (o: number): number => view.getUint32(o, true);
  const signature = u32(0);
  if (signature !== HCL_SIGNATURE) malformed(0, 'header signature', `expected "HCLA" (0x414c4348), got 0x${signature.toString(16).padStart(8, '0')}`);
  const header: HclReportHeader = { signature, version: u32(4), reportSize: u32(8), requestType: u32(12), reserved: copyBytes(blob, 16, HCL_HEADER_SIZE) };
  const r = HCL_REPORT_OFFSETS.requestData;
  const requestData: HclRequestData = { dataSize: u32(r), version: u32(r + 4), reportType: u32(r + 8), reportDataHashType: u32(r + 12), runtimeDataSize: u32(r + 16) };
  const start = HCL_REPORT_OFFSETS.runtimeData;
  const n = requestData.runtimeDataSize;
  if (n > blob.length - start) {
    malformed(r + 16, 'runtime data size', `${n} bytes of runtime data do not fit the ${blob.length - start} bytes after offset ${hex(start)}`);
  }
  if (requestData.dataSize !== HCL_REQUEST_DATA_HEADER_SIZE + n) {
    malformed(r, 'request data size', `${requestData.dataSize} is not ${HCL_REQUEST_DATA_HEADER_SIZE} + runtime data size ${n}`);
  }
  const runtimeData = copyBytes(blob, start, start + n);
  const nul = runtimeData.indexOf(0);
  if (nul >= 0) malformed(start + nul, 'runtime data', `0x00 byte inside the ${n} bytes of runtime data (go-azguestattestation would cut the data there)`);
  if (start + n < blob.length && blob[start + n] !== 0) {
    malformed(start + n, 'runtime data end', 'the byte after the runtime data is not 0x00 (go-azguestattestation would read past the size field)');
  }
  return { header, hwReport: copyBytes(blob, HCL_REPORT_OFFSETS.hwReport, HCL_REPORT_OFFSETS.requestData), requestData, runtimeData, padding: copyBytes(blob, start + n) };
}

/** Parses an HCL report of an SNP VM: report type must be SNP and the slot must hold a parsable SNP report. */
export function parseSnpHclReport(blob: Uint8Array): SnpHclReport {
  const hcl = parseHclReport(blob);
  if (hcl.requestData.reportType !== HclReportType.SNP) {
    const name = Object.entries(HclReportType).find(([, v]) => v === hcl.requestData.reportType)?.[0] ?? 'unknown';
    malformed(HCL_REPORT_OFFSETS.requestData + 8, 'report type', `expected ${HclReportType.SNP} (SNP), got ${hcl.requestData.reportType} (${name})`);
  }
  return { ...hcl, report: parseSnpAttestationReport(hcl.hwReport) };
}

export interface HclReportInit {
  /** The hardware report, at most 1184 bytes (zero-padded into the slot). */
  hwReport: Uint8Array;
  /** Runtime data JSON bytes (no 0x00 inside). */
  runtimeData: Uint8Array;
  /** Default 2. */
  headerVersion?: number;
  /** Default 0x4D4 + runtime data size (as in the TDX vector). */
  reportSize?: number;
  /** Default 2. */
  requestType?: number;
  /** Default SNP (2). */
  reportType?: number;
  /** Default SHA-256 (1). */
  reportDataHashType?: number;
  /** Default 1. */
  requestDataVersion?: number;
  /** Total blob size with zero padding (at least 0x4D4 + runtime data size); default no padding. */
  totalSize?: number;
}

/** Builds an HCL report blob. RangeError for inconsistent input. */
export function encodeHclReport(init: HclReportInit): Uint8Array {
  const { hwReport, runtimeData } = init;
  if (hwReport.length > SNP_REPORT_SIZE) throw new RangeError(`hardware report of ${hwReport.length} bytes exceeds the ${SNP_REPORT_SIZE}-byte slot`);
  if (runtimeData.includes(0)) throw new RangeError('runtime data must not contain 0x00 (the issuer cuts at the first one)');
  const minimum = HCL_REPORT_OFFSETS.runtimeData + runtimeData.length;
  const total = init.totalSize ?? minimum;
  if (total < minimum) throw new RangeError(`totalSize ${total} is smaller than ${minimum}`);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  const put = (o: number, v: number, what: string): void => {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`${what}: ${v} is not a uint32`);
    view.setUint32(o, v, true);
  };
  put(0, HCL_SIGNATURE, 'signature');
  put(4, init.headerVersion ?? 2, 'header version');
  put(8, init.reportSize ?? minimum, 'report size');
  put(12, init.requestType ?? 2, 'request type');
  out.set(hwReport, HCL_REPORT_OFFSETS.hwReport);
  const r = HCL_REPORT_OFFSETS.requestData;
  put(r, HCL_REQUEST_DATA_HEADER_SIZE + runtimeData.length, 'data size');
  put(r + 4, init.requestDataVersion ?? 1, 'request data version');
  put(r + 8, init.reportType ?? HclReportType.SNP, 'report type');
  put(r + 12, init.reportDataHashType ?? HclHashType.SHA256, 'hash type');
  put(r + 16, runtimeData.length, 'runtime data size');
  out.set(runtimeData, HCL_REPORT_OFFSETS.runtimeData);
  return out;
}

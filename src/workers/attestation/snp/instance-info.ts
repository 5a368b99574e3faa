/**
 * The SEV-SNP InstanceInfo (sev-snp-attestation.md §2): the JSON that
 * aws-sev-snp, gcp-sev-snp and azure-sev-snp nodes put, base64-encoded, into
 * the attestation document's `InstanceInfo` (Go struct `snp.InstanceInfo`,
 * marshalled with encoding/json):
 *
 *   {"ReportSigner":<b64|null>,"CertChain":<b64|null>,"AttestationReport":<b64>,
 *    "Azure":{"RuntimeData":<b64|null>,"MAAToken":"…"}|null,
 *    "GCP":{"zone":…,"project_id":…,"instance_name":…}|null}
 *
 * `ReportSigner` and `CertChain` carry PEM *text* (as bytes); they are
 * returned as bytes here and interpreted by the certificate step (§8.3).
 * `AttestationReport` is returned as bytes too (parse it with
 * parseSnpAttestationReport; Go does that as a separate step with its own
 * error wrapping).
 *
 * Strictness follows the vTPM envelope decoder (vtpm/envelope.ts, see its
 * module comment and docs/attestation.md "Strict decoding"): every form Go's
 * *encoder* writes for this struct is accepted, everything else is rejected
 * with the JSON path of the problem, although Go's json.Unmarshal is more
 * lenient (§2):
 * - member names are matched exactly; case variants, duplicates and unknown
 *   members are rejected (Go folds case, lets the last duplicate win and
 *   ignores unknown members);
 * - the five top-level members are required (Go's encoder always writes them,
 *   as `null` when nil); `Azure` needs both `RuntimeData` and `MAAToken`;
 * - `AttestationReport` must be a non-empty byte string (Go would decode
 *   `null` and then fail on the empty report);
 * - `ReportSigner`, `CertChain`, `Azure.RuntimeData` may be `null` or `""`
 *   (kept apart: null vs. empty bytes), `Azure` and `GCP` may be `null` — the
 *   variant validators decide what they need (e.g. gcp-sev-snp must reject
 *   `"GCP": null`, which crashes Go, §4.2);
 * - byte strings are canonical padded standard base64 (envelope's
 *   strictBase64Decode: no CR/LF, no URL alphabet, no missing padding, no
 *   non-zero trailing bits);
 * - the `GCP` object follows go-tpm-tools' `omitempty` tags: members optional,
 *   never their empty value (`""`, `0`, `null`), integers plain decimal uint64;
 * - size bounds (SNP_INSTANCE_INFO_LIMITS) are checked before decoding the
 *   value they bound; the whole document is bounded by the envelope's
 *   InstanceInfo limit.
 * Member order and insignificant whitespace are not checked.
 */
import { GoJsonSyntaxError, parseGoJson, type GoJsonValue } from '../../../shared/go-json/go-json.js';
import { foldGoKey } from '../../../shared/go-json/go-json-decode.js';
import { ENVELOPE_LIMITS, goString, strictBase64Decode } from '../vtpm/envelope.js';
import type { GceInstanceInfo } from '../vtpm/types.js';
import { snpMalformed, SnpComponent } from './report/malformed.js';

export type { GceInstanceInfo } from '../vtpm/types.js';

export const SNP_INSTANCE_INFO_LIMITS = {
  /** The document; the same bound as the envelope's decoded InstanceInfo. */
  documentBytes: ENVELOPE_LIMITS.instanceInfoBytes,
  /** One PEM certificate (a VCEK/VLEK PEM is ≈ 1.9 KiB). */
  reportSignerBytes: 8 * 1024,
  /** Up to two PEM certificates (ASK/ASVK + ARK, RSA-4096: ≈ 4.7 KiB). */
  certChainBytes: 16 * 1024,
  /** The 1184-byte report plus trailing bytes (Azure: + 20-byte IGVM header). */
  attestationReportBytes: 4 * 1024,
  /** HCL runtime data JSON (584 bytes in the Azure vector, ≈ 1.2 KiB with an EK and user data). */
  runtimeDataBytes: 16 * 1024,
  /** An MAA JWT (SEV-SNP tokens are ≈ 5–12 KiB). */
  maaTokenBytes: 32 * 1024,
  /** GCE zone / project / instance names (≤ 63 characters; domain-scoped projects longer). */
  gceStringBytes: ENVELOPE_LIMITS.gceStringBytes,
} as const;

/** `snp.InstanceInfo.Azure` (`AzureInstanceInfo`). */
export interface SnpAzureInstanceInfo {
  /** The HCL runtime data, exactly as carried (REPORT_DATA binds its SHA-256); null when `null`. */
  runtimeData: Uint8Array | null;
  /** The MAA JWT, or `""` when the node has no MAA URL. */
  maaToken: string;
}

export interface SnpInstanceInfo {
  /** PEM text of the VCEK/VLEK certificate; null when `null`, empty when `""`. */
  reportSigner: Uint8Array | null;
  /** PEM text of ASK/ASVK and/or ARK; null when `null`, empty when `""`. */
  certChain: Uint8Array | null;
  /** The raw report bytes (≥ 1184 expected; trailing bytes allowed, §13). */
  attestationReport: Uint8Array;
  azure: SnpAzureInstanceInfo | null;
  gcp: GceInstanceInfo | null;
}

type JsonObject = Extract<GoJsonValue, { kind: 'object' }>;

const utf8 = new TextDecoder('utf-8');
const MAX_QUOTED_CHARS = 64;

function malformed(path: string, reason: string): never {
  return snpMalformed(SnpComponent.instanceInfo, path, reason);
}

function quoted(s: string): string {
  return JSON.stringify(s.length > MAX_QUOTED_CHARS ? `${s.slice(0, MAX_QUOTED_CHARS)}…` : s);
}

function kindWord(v: GoJsonValue): string {
  return v.kind === 'bool' ? 'boolean' : v.kind;
}

const OMITTED_EMPTY = "empty value (Go's encoder omits empty members)";

/**
 * Decodes InstanceInfo bytes (the decoded `InstanceInfo` of the document;
 * null = the document's `null`). Throws JoinServiceError(AttestationMalformed)
 * and nothing else, for any input.
 */
export function decodeSnpInstanceInfo(bytes: Uint8Array | null): SnpInstanceInfo {
  if (bytes === null || bytes.length === 0) malformed('document', 'empty (no InstanceInfo)');
  if (!(bytes instanceof Uint8Array)) malformed('document', 'input is not a byte array');
  if (bytes.length > SNP_INSTANCE_INFO_LIMITS.documentBytes) {
    malformed('document', `${bytes.length} bytes exceed the limit of ${SNP_INSTANCE_INFO_LIMITS.documentBytes} bytes`);
  }
  let root: GoJsonValue;
  try {
    root = parseGoJson(bytes);
  } catch (err) {
    if (err instanceof GoJsonSyntaxError) malformed('document', `invalid JSON at byte offset ${err.offset}: ${err.message}`);
    throw err;
  }
  if (root.kind !== 'object') malformed('document', `expected an object, got ${kindWord(root)}`);
  const names = ['ReportSigner', 'CertChain', 'AttestationReport', 'Azure', 'GCP'];
  const top = members(root, 'document', names, names);
  const L = SNP_INSTANCE_INFO_LIMITS;
  const attestationReport = bytesValue(top.get('AttestationReport')!, 'AttestationReport', L.attestationReportBytes, false);
  if (attestationReport === null || attestationReport.length === 0) malformed('AttestationReport', 'missing attestation report (null or empty)');
  return {
    reportSigner: bytesValue(top.get('ReportSigner')!, 'ReportSigner', L.reportSignerBytes, true),
    certChain: bytesValue(top.get('CertChain')!, 'CertChain', L.certChainBytes, true),
    attestationReport,
    azure: decodeAzure(top.get('Azure')!, 'Azure'),
    gcp: decodeGcp(top.get('GCP')!, 'GCP'),
  };
}

function decodeAzure(v: GoJsonValue, path: string): SnpAzureInstanceInfo | null {
  if (v.kind === 'null') return null;
  if (v.kind !== 'object') malformed(path, `expected an object or null, got ${kindWord(v)}`);
  const names = ['RuntimeData', 'MAAToken'];
  const f = members(v, path, names, names);
  const tokenPath = `${path}.MAAToken`;
  const token = f.get('MAAToken')!;
  if (token.kind !== 'string') malformed(tokenPath, `expected a string, got ${kindWord(token)}`);
  if (token.bytes.length > SNP_INSTANCE_INFO_LIMITS.maaTokenBytes) {
    malformed(tokenPath, `${token.bytes.length} bytes exceed the limit of ${SNP_INSTANCE_INFO_LIMITS.maaTokenBytes} bytes`);
  }
  return {
    runtimeData: bytesValue(f.get('RuntimeData')!, `${path}.RuntimeData`, SNP_INSTANCE_INFO_LIMITS.runtimeDataBytes, true),
    maaToken: utf8.decode(token.bytes),
  };
}

function decodeGcp(v: GoJsonValue, path: string): GceInstanceInfo | null {
  if (v.kind === 'null') return null;
  if (v.kind !== 'object') malformed(path, `expected an object or null, got ${kindWord(v)}`);
  const f = members(v, path, ['zone', 'project_id', 'project_number', 'instance_name', 'instance_id'], []);
  const str = (name: string): string => {
    const m = f.get(name);
    if (m === undefined) return '';
    const at = `${path}.${name}`;
    if (m.kind !== 'string') malformed(at, `expected a string, got ${kindWord(m)}`);
    if (m.bytes.length === 0) malformed(at, OMITTED_EMPTY);
    if (m.bytes.length > SNP_INSTANCE_INFO_LIMITS.gceStringBytes) {
      malformed(at, `${m.bytes.length} bytes exceed the limit of ${SNP_INSTANCE_INFO_LIMITS.gceStringBytes} bytes`);
    }
    return utf8.decode(m.bytes);
  };
  const u64 = (name: string): bigint => {
    const m = f.get(name);
    if (m === undefined) return 0n;
    const at = `${path}.${name}`;
    if (m.kind !== 'number') malformed(at, `expected a number, got ${kindWord(m)}`);
    if (!/^[0-9]+$/.test(m.text)) malformed(at, `${quoted(m.text)} is not a plain unsigned integer literal`);
    if (m.text.length > 20 || BigInt(m.text) > 0xffffffffffffffffn) malformed(at, `${quoted(m.text)} is out of range (maximum 18446744073709551615)`);
    const n = BigInt(m.text);
    if (n === 0n) malformed(at, "0 (Go's encoder omits zero members)");
    return n;
  };
  return { zone: str('zone'), projectId: str('project_id'), projectNumber: u64('project_number'), instanceName: str('instance_name'), instanceId: u64('instance_id') };
}

/** The members of `obj` by exact name; unknown, case-variant and duplicate names are errors; `required` must be present. */
function members(obj: JsonObject, path: string, known: readonly string[], required: readonly string[]): Map<string, GoJsonValue> {
  const out = new Map<string, GoJsonValue>();
  for (const m of obj.members) {
    const key = utf8.decode(m.key);
    const exact = known.includes(key) && Buffer.from(key, 'utf8').equals(m.key);
    if (exact) {
      if (out.has(key)) malformed(path, `duplicate member ${quoted(key)}`);
      out.set(key, m.value);
      continue;
    }
    const folded = foldGoKey(m.key);
    const like = folded === undefined ? undefined : known.find((k) => foldGoKey(Buffer.from(k, 'latin1')) === folded);
    if (like !== undefined) malformed(path, `member ${quoted(key)} differs from ${quoted(like)} only in letter case (member names are case-sensitive)`);
    malformed(path, `unknown member ${quoted(key)}`);
  }
  for (const r of required) if (!out.has(r)) malformed(path, `missing required member ${quoted(r)}`);
  return out;
}

/** A Go []byte member: canonical padded standard base64, or null when `nullable`. */
function bytesValue(v: GoJsonValue, path: string, max: number, nullable: boolean): Uint8Array | null {
  if (v.kind === 'null') {
    if (nullable) return null;
    malformed(path, 'is null');
  }
  if (v.kind !== 'string') malformed(path, `expected a base64 string${nullable ? ' or null' : ''}, got ${kindWord(v)}`);
  const maxChars = 4 * Math.ceil(max / 3);
  if (v.bytes.length > maxChars) malformed(path, `${v.bytes.length} base64 characters exceed the limit of ${max} bytes`);
  const decoded = strictBase64Decode(v.bytes);
  if (typeof decoded === 'string') malformed(path, `not padded standard base64: ${decoded}`);
  if (decoded.length > max) malformed(path, `${decoded.length} bytes exceed the limit of ${max} bytes`);
  return decoded;
}

// ---------------------------------------------------------------------------
// Encoder

function goBytes(b: Uint8Array | null): string {
  return b === null ? 'null' : `"${Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64')}"`;
}

/**
 * Go's encoding/json of `snp.InstanceInfo` (compact, declaration order, `null`
 * for nil, GCP members `omitempty`). decodeSnpInstanceInfo ∘ encode is the
 * identity on every value the decoder returns.
 */
export function encodeSnpInstanceInfo(info: SnpInstanceInfo): Uint8Array {
  const azure =
    info.azure === null ? 'null' : `{"RuntimeData":${goBytes(info.azure.runtimeData)},"MAAToken":${goString(info.azure.maaToken)}}`;
  const s =
    `{"ReportSigner":${goBytes(info.reportSigner)},"CertChain":${goBytes(info.certChain)},` +
    `"AttestationReport":${goBytes(info.attestationReport)},"Azure":${azure},"GCP":${info.gcp === null ? 'null' : encodeGcp(info.gcp)}}`;
  return new Uint8Array(Buffer.from(s, 'utf8'));
}

function encodeGcp(g: GceInstanceInfo): string {
  const u64 = (n: bigint): string | undefined => {
    if (typeof n !== 'bigint' || n < 0n || n > 0xffffffffffffffffn) throw new RangeError(`${String(n)} is not a uint64`);
    return n === 0n ? undefined : n.toString();
  };
  const fields: [string, string | undefined][] = [
    ['zone', g.zone === '' ? undefined : goString(g.zone)],
    ['project_id', g.projectId === '' ? undefined : goString(g.projectId)],
    ['project_number', u64(g.projectNumber)],
    ['instance_name', g.instanceName === '' ? undefined : goString(g.instanceName)],
    ['instance_id', u64(g.instanceId)],
  ];
  return `{${fields
    .filter((f): f is [string, string] => f[1] !== undefined)
    .map(([k, v]) => `"${k}":${v}`)
    .join(',')}}`;
}

/**
 * Constellation's vTPM attestation document envelope (tpm-attestation.md §2):
 * a strict, bounded decoder and an encoder that reproduces Go's
 * encoding/json output byte for byte.
 *
 * Leniency decision (issue: "strict"): the decoder accepts every form an
 * honest Go encoder (encoding/json of vtpm.AttestationDocument with the
 * go-tpm-tools v0.4.6 protobuf structs) produces and rejects everything else
 * with a JoinServiceError(AttestationMalformed) whose message names the JSON
 * path, e.g. `Attestation.quotes[1].pcrs.pcrs["7"]: not padded standard
 * base64: …`. Go's json.Unmarshal is more lenient (§2.5); every divergence
 * below rejects a document no honest issuer emits:
 *
 * - Member names are matched exactly. A name that differs from a known one
 *   only in letter case (Go's fold, incl. U+017F and U+212A) is rejected with
 *   a message saying so; Go would apply it.
 * - Duplicate member names are rejected everywhere, including inside the
 *   unevaluated TeeAttestation subtree; Go merges or overwrites.
 * - Unknown members are rejected (Go ignores them). Honest documents contain
 *   only the members of §2.3, which are all known here, including the ones
 *   Constellation never sets (`instance_info`, `canonical_event_log`,
 *   `intermediate_certs`). Rejecting keeps the accepted language exactly the
 *   honest one and leaves no room to smuggle data past the size limits; the
 *   cost is that a future go-tpm-tools release adding a protobuf field needs
 *   a decoder update before nodes with it can join (the join service is
 *   upgraded together with the node image, so this surfaces in testing).
 * - Members Go's encoder always writes (`Attestation`, `InstanceInfo`,
 *   `UserData`) and the structures every honest quote has (`ak_pub`,
 *   `quotes`, each quote's `quote`/`raw_sig`/`pcrs`, each bank's
 *   `hash`/`pcrs`) are required; `null` in their place is rejected (in
 *   particular `"Attestation": null`, which crashes Go, GAP G2).
 * - `omitempty` members never carry their empty value: `""` byte strings,
 *   `[]`, `{}` PCR maps, `0`, `""` strings and `null` are rejected there.
 *   `InstanceInfo` and `UserData` (no omitempty) may be `null` or `""`.
 * - Byte strings are padded standard base64 (RFC 4648 §4) only: no CR/LF or
 *   other whitespace (Go skips CR/LF), no URL-safe alphabet, no missing
 *   padding, and no non-zero unused bits in the last character (Go accepts
 *   them; its encoder never writes them). JSON escapes are resolved first,
 *   as in Go (`\/` is `/`).
 * - Integers are plain decimal literals without sign, fraction or exponent
 *   (`11`, not `11.0`, `1e1`, `-1`, `"11"`); `hash` is 1…65535 (TPM_ALG_ID).
 * - PCR map keys are canonical decimal uint32: no sign, no leading zeros
 *   (Go's ParseUint accepts `"07"`, but Go's encoder writes `"7"`, and
 *   rejecting removes the `"7"`/`"07"` collision), at most 4294967295. PCR
 *   values are non-empty, at most 64 bytes, and exactly the digest size of
 *   the bank for SHA-1/256/384/512.
 * - `TeeAttestation` may be `null`, absent, `{}`, `{"SevSnpAttestation":
 *   object|null}` or `{"TdxAttestation": object|null}` (not both). The
 *   nested report/quote is NOT type-checked (Go type-checks a SEV-SNP one
 *   against go-sev-guest's protobuf struct): no vTPM variant reads it,
 *   TPM-only nodes send `null`, and mirroring two external, version-dependent
 *   protobuf schemas would risk rejecting honest SNP/TDX documents for no
 *   security gain. The subtree is still bounded (document size, nesting
 *   depth) and free of duplicate keys.
 * - Member order and insignificant whitespace between tokens are not
 *   checked: they carry no meaning, and no JSON reader interprets them
 *   differently.
 *
 * Limits (ENVELOPE_LIMITS) are checked before decoding the field they bound.
 */
import { ErrorCode, JoinServiceError } from '../../../shared/errors.js';
import { GoJsonSyntaxError, parseGoJson, type GoJsonValue } from '../../../shared/go-json/go-json.js';
import { foldGoKey } from '../../../shared/go-json/go-json-decode.js';
import { TpmAlg, type GceInstanceInfo, type QuotedPcrs, type TpmAttestation, type TpmQuote, type VtpmDocument } from './types.js';

/** Go's wrapping of envelope errors in vtpm.Validator.Validate (tpm-attestation.md §8 step 1). */
export const ENVELOPE_ERROR_PREFIX = 'unmarshaling TPM attestation document: ';

/** Size bounds; byte-string bounds apply to the decoded bytes. */
export const ENVELOPE_LIMITS = {
  /** The document travels in a client certificate; Constellation's TLS stack bounds handshake messages to 256 KiB (atls.md §2). */
  documentBytes: 256 * 1024,
  /** Honest documents nest ≤ 6 levels (TPM-only) or ≈ 9 (a TDX quote in TeeAttestation); 32 leaves margin and bounds any walk. */
  nestingDepth: 32,
  /** TPMT_PUBLIC of RSA-2048 is 280 bytes, RSA-4096 ≈ 536, ECC P-521 ≈ 160. */
  akPubBytes: 1024,
  /** One quote per allocated bank; TPMs have ≤ 5 banks (SHA-1, SHA-256, SHA-384, SHA-512, SM3-256). */
  quotes: 8,
  /** TPMS_ATTEST of a one-bank quote is ≈ 150 bytes (+ qualifiedSigner name, ≤ 66). */
  quoteBytes: 4096,
  /** TPMT_SIGNATURE: RSA-4096 is 518 bytes, ECDSA P-521 ≈ 140. */
  rawSigBytes: 4096,
  /** PC-client TPMs have 24 PCRs per bank; 64 allows larger platform PCR sets. */
  pcrsPerBank: 64,
  /** Largest digest (SHA-512). */
  pcrValueBytes: 64,
  /** Firmware logs with Secure Boot db/dbx measurements are 20–80 KiB; 184 KiB decoded (≈ 245 KiB of base64) is what fits the document bound next to the other members. */
  eventLogBytes: 184 * 1024,
  /** Same bound as the firmware log it is derived from (never set by Constellation issuers). */
  canonicalEventLogBytes: 184 * 1024,
  /** A DER AK certificate is 1–2 KiB; 16 KiB allows large RSA-4096 chains with extensions. */
  akCertBytes: 16 * 1024,
  /** Intermediate CA certificates (never set by Constellation issuers). */
  intermediateCerts: 8,
  intermediateCertBytes: 16 * 1024,
  /** Variant payload: azure-trustedlaunch carries two base64 DER certificates in JSON (≈ 5 KiB), AWS an identity document (< 1 KiB). */
  instanceInfoBytes: 64 * 1024,
  /** aTLS user data is a SHA-256 (32 bytes); 64 allows any hash. */
  userDataBytes: 64,
  /** GCE zone / project / instance names are ≤ 63 characters (domain-scoped projects longer). */
  gceStringBytes: 256,
} as const;

type JsonObject = Extract<GoJsonValue, { kind: 'object' }>;

const DIGEST_BYTES: ReadonlyMap<number, number> = new Map([
  [TpmAlg.SHA1, 20],
  [TpmAlg.SHA256, 32],
  [TpmAlg.SHA384, 48],
  [TpmAlg.SHA512, 64],
]);

const BANK_NAMES: ReadonlyMap<number, string> = new Map([
  [TpmAlg.SHA1, 'SHA-1'],
  [TpmAlg.SHA256, 'SHA-256'],
  [TpmAlg.SHA384, 'SHA-384'],
  [TpmAlg.SHA512, 'SHA-512'],
]);

const MAX_PATH_CHARS = 200;
const MAX_QUOTED_CHARS = 64;

const utf8 = new TextDecoder('utf-8');

function malformed(path: string, reason: string): never {
  const p = path.length > MAX_PATH_CHARS ? `${path.slice(0, 60)}…${path.slice(-(MAX_PATH_CHARS - 61))}` : path;
  throw new JoinServiceError(ErrorCode.AttestationMalformed, `${ENVELOPE_ERROR_PREFIX}${p}: ${reason}`, { path: p });
}

/** A JSON-quoted, length-bounded rendering of a key or number text for messages. */
function quoted(s: string): string {
  return JSON.stringify(s.length > MAX_QUOTED_CHARS ? `${s.slice(0, MAX_QUOTED_CHARS)}…` : s);
}

function kindWord(v: GoJsonValue): string {
  return v.kind === 'bool' ? 'boolean' : v.kind;
}

function keySegment(key: string): string {
  return key.length <= MAX_QUOTED_CHARS && /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `.${key}` : `[${quoted(key)}]`;
}

function join(path: string, seg: string): string {
  return path === '' ? seg.replace(/^\./, '') : path + seg;
}

// ---------------------------------------------------------------------------
// Decoder

/** Decodes and validates an attestation document; throws JoinServiceError(AttestationMalformed). */
export function decodeVtpmDocument(bytes: Uint8Array): VtpmDocument {
  if (bytes.length > ENVELOPE_LIMITS.documentBytes) {
    malformed('document', `${bytes.length} bytes exceed the limit of ${ENVELOPE_LIMITS.documentBytes} bytes`);
  }
  let root: GoJsonValue;
  try {
    root = parseGoJson(bytes);
  } catch (err) {
    if (err instanceof GoJsonSyntaxError) malformed('document', `invalid JSON at byte offset ${err.offset}: ${err.message}`);
    throw err;
  }
  checkStructure(root);
  if (root.kind !== 'object') malformed('document', `expected an object, got ${kindWord(root)}`);
  const top = members(root, 'document', ['Attestation', 'InstanceInfo', 'UserData'], ['Attestation', 'InstanceInfo', 'UserData']);
  return {
    attestation: decodeAttestation(top.get('Attestation')!, 'Attestation'),
    instanceInfo: bytesValue(top.get('InstanceInfo')!, 'InstanceInfo', ENVELOPE_LIMITS.instanceInfoBytes, { nullable: true, emptyOk: true }),
    userData: bytesValue(top.get('UserData')!, 'UserData', ENVELOPE_LIMITS.userDataBytes, { nullable: true, emptyOk: true }),
  };
}

interface WalkNode {
  value: GoJsonValue;
  depth: number;
  parent: WalkNode | undefined;
  /** Member key or array index under the parent. */
  seg: Uint8Array | number | undefined;
}

/** The JSON path of a walk node, built only for error messages. */
function walkPath(node: WalkNode): string {
  const segs: string[] = [];
  for (let n: WalkNode | undefined = node; n?.seg !== undefined; n = n.parent) {
    segs.push(typeof n.seg === 'number' ? `[${n.seg}]` : keySegment(utf8.decode(n.seg)));
  }
  return segs.reverse().reduce(join, '') || 'document';
}

/** Nesting depth and duplicate member names over the whole tree (iterative). */
function checkStructure(root: GoJsonValue): void {
  const stack: WalkNode[] = [{ value: root, depth: 1, parent: undefined, seg: undefined }];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    const { value, depth } = node;
    if (depth > ENVELOPE_LIMITS.nestingDepth) malformed(walkPath(node), `nesting deeper than ${ENVELOPE_LIMITS.nestingDepth} levels`);
    if (value.kind === 'array') {
      value.items.forEach((item, i) => {
        if (item.kind === 'object' || item.kind === 'array') stack.push({ value: item, depth: depth + 1, parent: node, seg: i });
      });
    } else if (value.kind === 'object') {
      const seen = new Set<string>();
      for (const m of value.members) {
        const raw = Buffer.from(m.key.buffer, m.key.byteOffset, m.key.byteLength).toString('latin1');
        if (seen.has(raw)) malformed(walkPath(node), `duplicate member ${quoted(utf8.decode(m.key))}`);
        seen.add(raw);
        if (m.value.kind === 'object' || m.value.kind === 'array') stack.push({ value: m.value, depth: depth + 1, parent: node, seg: m.key });
      }
    }
  }
}

/**
 * The members of `obj`, which may only use the names in `known` (exactly);
 * `required` ones must be present. Duplicates were rejected by checkStructure.
 */
function members(obj: JsonObject, path: string, known: readonly string[], required: readonly string[]): Map<string, GoJsonValue> {
  const out = new Map<string, GoJsonValue>();
  for (const m of obj.members) {
    const key = utf8.decode(m.key);
    if (known.includes(key) && Buffer.from(key, 'utf8').equals(m.key)) {
      out.set(key, m.value);
      continue;
    }
    const folded = foldGoKey(m.key);
    const like = folded === undefined ? undefined : known.find((k) => foldGoKey(Buffer.from(k, 'latin1')) === folded);
    if (like !== undefined) {
      malformed(path, `member ${quoted(key)} differs from ${quoted(like)} only in letter case (member names are case-sensitive)`);
    }
    malformed(path, `unknown member ${quoted(key)}`);
  }
  for (const r of required) if (!out.has(r)) malformed(path, `missing required member ${quoted(r)}`);
  return out;
}

function objectValue(v: GoJsonValue, path: string): JsonObject {
  if (v.kind !== 'object') malformed(path, `expected an object, got ${kindWord(v)}`);
  return v;
}

const OMITTED_EMPTY = "empty value (Go's encoder omits empty members)";

function decodeAttestation(v: GoJsonValue, path: string): TpmAttestation {
  const obj = objectValue(v, path);
  const f = members(
    obj,
    path,
    ['ak_pub', 'quotes', 'event_log', 'instance_info', 'canonical_event_log', 'ak_cert', 'intermediate_certs', 'TeeAttestation'],
    ['ak_pub', 'quotes'],
  );
  const at = (name: string) => `${path}.${name}`;
  const optionalBytes = (name: string, max: number): Uint8Array | undefined => {
    const m = f.get(name);
    return m === undefined ? undefined : bytesValue(m, at(name), max, { nullable: false, emptyOk: false })!;
  };
  const out: TpmAttestation = {
    akPub: bytesValue(f.get('ak_pub')!, at('ak_pub'), ENVELOPE_LIMITS.akPubBytes, { nullable: false, emptyOk: false })!,
    quotes: decodeQuotes(f.get('quotes')!, at('quotes')),
    eventLog: optionalBytes('event_log', ENVELOPE_LIMITS.eventLogBytes) ?? new Uint8Array(0),
    akCert: optionalBytes('ak_cert', ENVELOPE_LIMITS.akCertBytes) ?? new Uint8Array(0),
    intermediateCerts: decodeIntermediates(f.get('intermediate_certs'), at('intermediate_certs')),
    teeAttestation: decodeTee(f.get('TeeAttestation'), at('TeeAttestation')),
  };
  const info = f.get('instance_info');
  if (info !== undefined) out.gceInstanceInfo = decodeGceInstanceInfo(info, at('instance_info'));
  const cel = optionalBytes('canonical_event_log', ENVELOPE_LIMITS.canonicalEventLogBytes);
  if (cel !== undefined) out.canonicalEventLog = cel;
  return out;
}

function decodeQuotes(v: GoJsonValue, path: string): TpmQuote[] {
  if (v.kind !== 'array') malformed(path, `expected an array, got ${kindWord(v)}`);
  if (v.items.length === 0) malformed(path, OMITTED_EMPTY);
  if (v.items.length > ENVELOPE_LIMITS.quotes) malformed(path, `${v.items.length} quotes exceed the limit of ${ENVELOPE_LIMITS.quotes}`);
  return v.items.map((item, i) => decodeQuote(item, `${path}[${i}]`));
}

function decodeQuote(v: GoJsonValue, path: string): TpmQuote {
  if (v.kind === 'null') malformed(path, 'quote is null');
  const f = members(objectValue(v, path), path, ['quote', 'raw_sig', 'pcrs'], ['quote', 'raw_sig', 'pcrs']);
  return {
    quote: bytesValue(f.get('quote')!, `${path}.quote`, ENVELOPE_LIMITS.quoteBytes, { nullable: false, emptyOk: false })!,
    rawSig: bytesValue(f.get('raw_sig')!, `${path}.raw_sig`, ENVELOPE_LIMITS.rawSigBytes, { nullable: false, emptyOk: false })!,
    pcrs: decodePcrs(f.get('pcrs')!, `${path}.pcrs`),
  };
}

function decodePcrs(v: GoJsonValue, path: string): QuotedPcrs {
  const f = members(objectValue(v, path), path, ['hash', 'pcrs'], ['hash', 'pcrs']);
  const hashPath = `${path}.hash`;
  const hash = Number(unsignedInteger(f.get('hash')!, hashPath, 0xffffn));
  if (hash === 0) malformed(hashPath, "0 is not a PCR bank (Go's encoder omits a zero hash)");
  const mapPath = `${path}.pcrs`;
  const map = objectValue(f.get('pcrs')!, mapPath);
  if (map.members.length === 0) malformed(mapPath, OMITTED_EMPTY);
  if (map.members.length > ENVELOPE_LIMITS.pcrsPerBank) {
    malformed(mapPath, `${map.members.length} PCRs exceed the limit of ${ENVELOPE_LIMITS.pcrsPerBank} per bank`);
  }
  const digest = DIGEST_BYTES.get(hash);
  const entries: [number, Uint8Array][] = [];
  for (const m of map.members) {
    const key = utf8.decode(m.key);
    const at = `${mapPath}[${quoted(key)}]`;
    const index = pcrIndex(key, at);
    const value = bytesValue(m.value, at, ENVELOPE_LIMITS.pcrValueBytes, { nullable: false, emptyOk: false, emptyReason: 'empty PCR value' })!;
    if (digest !== undefined && value.length !== digest) {
      malformed(at, `${value.length} bytes, but a ${BANK_NAMES.get(hash)} (hash ${hash}) PCR value has ${digest}`);
    }
    entries.push([index, value]);
  }
  entries.sort((a, b) => a[0] - b[0]);
  return { hash, pcrs: new Map(entries) };
}

function pcrIndex(key: string, path: string): number {
  if (!/^[0-9]+$/.test(key)) malformed(path, `PCR index ${quoted(key)} is not an unsigned decimal integer`);
  if (key.length > 1 && key.startsWith('0')) malformed(path, `PCR index ${quoted(key)} has a leading zero (Go's encoder writes canonical decimal)`);
  const n = key.length > 10 ? Infinity : Number(key);
  if (n > 0xffffffff) malformed(path, `PCR index ${quoted(key)} exceeds uint32`);
  return n;
}

function decodeIntermediates(v: GoJsonValue | undefined, path: string): Uint8Array[] {
  if (v === undefined) return [];
  if (v.kind !== 'array') malformed(path, `expected an array, got ${kindWord(v)}`);
  if (v.items.length === 0) malformed(path, OMITTED_EMPTY);
  if (v.items.length > ENVELOPE_LIMITS.intermediateCerts) {
    malformed(path, `${v.items.length} certificates exceed the limit of ${ENVELOPE_LIMITS.intermediateCerts}`);
  }
  return v.items.map(
    (item, i) => bytesValue(item, `${path}[${i}]`, ENVELOPE_LIMITS.intermediateCertBytes, { nullable: false, emptyOk: false, emptyReason: 'empty certificate' })!,
  );
}

function decodeTee(v: GoJsonValue | undefined, path: string): TpmAttestation['teeAttestation'] {
  if (v === undefined) return 'absent';
  if (v.kind === 'null') return 'null';
  if (v.kind !== 'object') malformed(path, `expected an object or null, got ${kindWord(v)}`);
  const f = members(v, path, ['SevSnpAttestation', 'TdxAttestation'], []);
  if (f.size === 0) return 'empty';
  if (f.size > 1) malformed(path, 'carries both SevSnpAttestation and TdxAttestation (a oneof holds one)');
  const [name, inner] = [...f][0]!;
  // Content is not type-checked (see the module comment); checkStructure bounded it.
  if (inner.kind !== 'object' && inner.kind !== 'null') malformed(`${path}.${name}`, `expected an object or null, got ${kindWord(inner)}`);
  return name === 'SevSnpAttestation' ? 'sev-snp' : 'tdx';
}

function decodeGceInstanceInfo(v: GoJsonValue, path: string): GceInstanceInfo {
  const f = members(objectValue(v, path), path, ['zone', 'project_id', 'project_number', 'instance_name', 'instance_id'], []);
  const str = (name: string): string => {
    const m = f.get(name);
    return m === undefined ? '' : stringValue(m, `${path}.${name}`, ENVELOPE_LIMITS.gceStringBytes);
  };
  const u64 = (name: string): bigint => {
    const m = f.get(name);
    if (m === undefined) return 0n;
    const n = unsignedInteger(m, `${path}.${name}`, 0xffffffffffffffffn);
    if (n === 0n) malformed(`${path}.${name}`, "0 (Go's encoder omits zero members)");
    return n;
  };
  return { zone: str('zone'), projectId: str('project_id'), projectNumber: u64('project_number'), instanceName: str('instance_name'), instanceId: u64('instance_id') };
}

function stringValue(v: GoJsonValue, path: string, max: number): string {
  if (v.kind !== 'string') malformed(path, `expected a string, got ${kindWord(v)}`);
  if (v.bytes.length === 0) malformed(path, OMITTED_EMPTY);
  if (v.bytes.length > max) malformed(path, `${v.bytes.length} bytes exceed the limit of ${max} bytes`);
  return utf8.decode(v.bytes);
}

/** A plain unsigned decimal integer literal ≤ max. */
function unsignedInteger(v: GoJsonValue, path: string, max: bigint): bigint {
  if (v.kind !== 'number') malformed(path, `expected a number, got ${kindWord(v)}`);
  const t = v.text;
  if (t.startsWith('-')) malformed(path, `negative number ${quoted(t)}`);
  if (/[eE]/.test(t)) malformed(path, `${quoted(t)} is not an integer literal (exponent)`);
  if (t.includes('.')) malformed(path, `${quoted(t)} is not an integer literal (fraction)`);
  const n = t.length > max.toString().length ? undefined : BigInt(t);
  if (n === undefined || n > max) malformed(path, `${quoted(t)} is out of range (maximum ${max})`);
  return n;
}

interface BytesOptions {
  /** `null` is a valid value (Go fields without omitempty): returns null. */
  nullable: boolean;
  /** `""` is a valid value; otherwise rejected (omitempty members, PCR values, certificates). */
  emptyOk: boolean;
  emptyReason?: string;
}

function bytesValue(v: GoJsonValue, path: string, max: number, opts: BytesOptions): Uint8Array | null {
  if (v.kind === 'null' && opts.nullable) return null;
  if (v.kind !== 'string') malformed(path, `expected a base64 string, got ${kindWord(v)}`);
  const maxChars = 4 * Math.ceil(max / 3);
  if (v.bytes.length > maxChars) malformed(path, `${v.bytes.length} base64 characters exceed the limit of ${max} bytes`);
  const decoded = strictBase64Decode(v.bytes);
  if (typeof decoded === 'string') malformed(path, `not padded standard base64: ${decoded}`);
  if (decoded.length === 0 && !opts.emptyOk) malformed(path, opts.emptyReason ?? OMITTED_EMPTY);
  if (decoded.length > max) malformed(path, `${decoded.length} bytes exceed the limit of ${max} bytes`);
  return decoded;
}

const B64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_VALUE = new Int16Array(256).fill(-1);
for (let i = 0; i < B64_ALPHABET.length; i++) B64_VALUE[B64_ALPHABET.charCodeAt(i)] = i;

function describeByte(c: number): string {
  return c > 0x20 && c < 0x7f ? `'${String.fromCharCode(c)}'` : `0x${c.toString(16).padStart(2, '0')}`;
}

/**
 * Canonical padded standard base64 (what Go's StdEncoding.EncodeToString
 * writes): returns the bytes, or the reason the text is not canonical.
 */
export function strictBase64Decode(b: Uint8Array): Uint8Array | string {
  const n = b.length;
  for (let i = 0; i < n; i++) {
    const c = b[i]!;
    if (B64_VALUE[c]! >= 0) continue;
    if (c === 0x3d) {
      if (i < n - 2 || (i === n - 2 && b[n - 1] !== 0x3d)) return `padding '=' before the end at offset ${i}`;
      continue;
    }
    if (c === 0x0d || c === 0x0a) return `line break (CR/LF) at offset ${i}`;
    if (c === 0x20 || c === 0x09) return `whitespace at offset ${i}`;
    if (c === 0x2d || c === 0x5f) return `URL-safe alphabet character ${describeByte(c)} at offset ${i}`;
    return `invalid character ${describeByte(c)} at offset ${i}`;
  }
  if (n % 4 !== 0) return `length ${n} is not a multiple of 4 (missing padding or truncated)`;
  if (n > 0) {
    const pad = b[n - 1] === 0x3d ? (b[n - 2] === 0x3d ? 2 : 1) : 0;
    if (pad > 0 && B64_VALUE[b[n - 1 - pad]!]! & (pad === 2 ? 0x0f : 0x03)) return 'non-zero unused bits in the last character (non-canonical)';
  }
  const text = Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
  return new Uint8Array(Buffer.from(text, 'base64'));
}

// ---------------------------------------------------------------------------
// Encoder

/**
 * Go's encoding/json of the document: struct members in declaration order,
 * `omitempty` rules of the protobuf tags, PCR map keys sorted as strings,
 * compact output. `teeAttestation` renders as `null`, `{}`,
 * `{"SevSnpAttestation":null}` or `{"TdxAttestation":null}`; 'absent' omits
 * the member (no Go encoder does that; it exists so decode∘encode is the
 * identity on every decodable document).
 */
export function encodeVtpmDocument(doc: VtpmDocument): Uint8Array {
  const s = `{"Attestation":${encodeAttestation(doc.attestation)},"InstanceInfo":${goBytes(doc.instanceInfo)},"UserData":${goBytes(doc.userData)}}`;
  return new Uint8Array(Buffer.from(s, 'utf8'));
}

function goBytes(b: Uint8Array | null): string {
  return b === null ? 'null' : `"${Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64')}"`;
}

/** Renders members, dropping the undefined ones (omitempty). */
function goObject(fields: [string, string | undefined][]): string {
  return `{${fields
    .filter((f): f is [string, string] => f[1] !== undefined)
    .map(([k, v]) => `${goString(k)}:${v}`)
    .join(',')}}`;
}

const omitEmptyBytes = (b: Uint8Array | undefined): string | undefined => (b === undefined || b.length === 0 ? undefined : goBytes(b));

function encodeAttestation(a: TpmAttestation): string {
  const tee = { null: 'null', absent: undefined, 'sev-snp': '{"SevSnpAttestation":null}', tdx: '{"TdxAttestation":null}', empty: '{}' }[a.teeAttestation];
  return goObject([
    ['ak_pub', omitEmptyBytes(a.akPub)],
    ['quotes', a.quotes.length === 0 ? undefined : `[${a.quotes.map(encodeQuote).join(',')}]`],
    ['event_log', omitEmptyBytes(a.eventLog)],
    ['instance_info', a.gceInstanceInfo === undefined ? undefined : encodeGceInstanceInfo(a.gceInstanceInfo)],
    ['canonical_event_log', omitEmptyBytes(a.canonicalEventLog)],
    ['ak_cert', omitEmptyBytes(a.akCert)],
    ['intermediate_certs', a.intermediateCerts.length === 0 ? undefined : `[${a.intermediateCerts.map(goBytes).join(',')}]`],
    ['TeeAttestation', tee],
  ]);
}

function encodeQuote(q: TpmQuote | null): string {
  if (q === null) return 'null';
  return goObject([
    ['quote', omitEmptyBytes(q.quote)],
    ['raw_sig', omitEmptyBytes(q.rawSig)],
    ['pcrs', q.pcrs === null ? undefined : encodePcrs(q.pcrs)],
  ]);
}

function encodePcrs(p: QuotedPcrs): string {
  if (!Number.isInteger(p.hash) || p.hash < -0x80000000 || p.hash > 0x7fffffff) throw new RangeError(`PCR bank hash ${p.hash} is not an int32`);
  const keys = [...p.pcrs.keys()].map((k) => {
    if (!Number.isInteger(k) || k < 0 || k > 0xffffffff) throw new RangeError(`PCR index ${k} is not a uint32`);
    return String(k);
  });
  keys.sort(); // Go sorts map keys by their string form.
  return goObject([
    ['hash', p.hash === 0 ? undefined : String(p.hash)],
    ['pcrs', keys.length === 0 ? undefined : `{${keys.map((k) => `"${k}":${goBytes(p.pcrs.get(Number(k))!)}`).join(',')}}`],
  ]);
}

function encodeGceInstanceInfo(g: GceInstanceInfo): string {
  const str = (s: string) => (s === '' ? undefined : goString(s));
  const u64 = (n: bigint) => {
    if (n < 0n || n > 0xffffffffffffffffn) throw new RangeError(`${n} is not a uint64`);
    return n === 0n ? undefined : n.toString();
  };
  return goObject([
    ['zone', str(g.zone)],
    ['project_id', str(g.projectId)],
    ['project_number', u64(g.projectNumber)],
    ['instance_name', str(g.instanceName)],
    ['instance_id', u64(g.instanceId)],
  ]);
}

/** Go's encoding/json string encoding (HTML-safe escaping, \b \f short forms as of Go 1.22, U+2028/2029 escaped). */
export function goString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c === 0x08) out += '\\b';
    else if (c === 0x0c) out += '\\f';
    else if (c < 0x20 || c === 0x3c || c === 0x3e || c === 0x26 || c === 0x2028 || c === 0x2029) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && s.charCodeAt(i + 1) >= 0xdc00 && s.charCodeAt(i + 1) <= 0xdfff) {
      out += s.slice(i, i + 2);
      i++;
    } else if (c >= 0xd800 && c <= 0xdfff) out += '\\ufffd'; // a lone surrogate is invalid UTF-8 to Go
    else out += s[i];
  }
  return `${out}"`;
}

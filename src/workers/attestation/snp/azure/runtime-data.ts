/**
 * Azure HCL runtime data (sev-snp-attestation.md §3.3–3.4): the JSON the
 * paravisor hashes into REPORT_DATA[0:32] (SHA-256 over these exact bytes)
 * and that names the TPM attestation key as an RSA JWK:
 *
 *   {"keys":[{"kid":"HCLAkPub","key_ops":["sign"],"kty":"RSA","e":"AQAB","n":"…"},
 *            {"kid":"HCLEkPub",…}],
 *    "vm-configuration":{…},"user-data":"…"}
 *
 * Decoding mirrors what Constellation's HCL AK check unmarshals (Go struct
 * `{Keys []struct{E, N string}}` with encoding/json): `keys`, `n` and `e` are
 * matched like Go (exact name, else case-insensitively), unknown members
 * (`vm-configuration`, `user-data`, …) are ignored, `null` leaves a value empty
 * (`"keys": null` → no keys, a `null` key → empty n/e), and a wrong type
 * (`"keys": {}`, `"n": 5`) is an error, as in Go. On top of that, and
 * reflecting JWK (RFC 7517) rather than Go, `kid`, `kty` and `key_ops` are kept
 * per key (exact names; ignored when not a string / array of strings) so a
 * validator can select a key by kid (Go takes `keys[0]` and never looks at the
 * kid).
 *
 * Deliberately stricter than Go (the data is authored by the HCL, never
 * honestly in these forms): a member that is present more than once — exactly
 * or case-folded — among `keys`, `n`, `e`, `kid`, `kty`, `key_ops` is an error
 * (Go would let the last one win, merging into earlier array elements); more
 * than HCL_RUNTIME_DATA_LIMITS.keys keys or more than .bytes bytes are errors.
 *
 * `n` and `e` stay text here. `decodeHclJwkComponents` decodes them as Go's
 * base64.RawURLEncoding does (URL alphabet, padding is an error, CR/LF
 * skipped, non-zero trailing bits accepted) and reports Go's
 * `illegal base64 data at input byte N`; `goHclExponent` reproduces Go's
 * little-endian exponent reading; `hclJwkToPublicKey` builds a node KeyObject
 * (standard big-endian JWK semantics) and its SPKI DER.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { GoJsonSyntaxError, parseGoJson, type GoJsonValue } from '../../../../shared/go-json/go-json.js';
import { foldGoKey } from '../../../../shared/go-json/go-json-decode.js';
import { snpMalformed, SnpComponent } from '../report/malformed.js';
import { copyBytes } from '../report/bytes.js';

export const HCL_RUNTIME_DATA_LIMITS = {
  /** Same as the InstanceInfo bound for Azure.RuntimeData. */
  bytes: 16 * 1024,
  /** The HCL lists the AK and the EK. */
  keys: 16,
} as const;

/** The kid of the attestation key in Azure's runtime data. */
export const HCL_AK_KID = 'HCLAkPub';
/** The kid of the endorsement key. */
export const HCL_EK_KID = 'HCLEkPub';

export interface HclJwk {
  /** `kid` when it is a string. */
  kid?: string;
  /** `kty` when it is a string. */
  kty?: string;
  /** `key_ops` when it is an array of strings. */
  keyOps?: string[];
  /** The modulus, base64url text as carried ('' when absent or null). */
  n: string;
  /** The exponent, base64url text as carried ('' when absent or null). */
  e: string;
}

export interface HclRuntimeData {
  /** The exact bytes (REPORT_DATA[0:32] = SHA-256 of these). */
  raw: Uint8Array;
  /** The keys in document order. */
  keys: HclJwk[];
}

type JsonObject = Extract<GoJsonValue, { kind: 'object' }>;

const utf8 = new TextDecoder('utf-8');

function malformed(path: string, reason: string, extra: Record<string, number> = {}): never {
  return snpMalformed(SnpComponent.runtimeData, path, reason, extra);
}

function kindWord(v: GoJsonValue): string {
  return v.kind === 'bool' ? 'boolean' : v.kind;
}

/**
 * Picks members by name. `goNames` match as Go's encoding/json does (exact,
 * else case-folded); `exactNames` match exactly. Any name present twice is an
 * error; other members are ignored.
 */
function pick(obj: JsonObject, path: string, goNames: readonly string[], exactNames: readonly string[]): Map<string, GoJsonValue> {
  const out = new Map<string, GoJsonValue>();
  const folded = new Map(goNames.map((n) => [foldGoKey(Buffer.from(n, 'latin1'))!, n]));
  for (const m of obj.members) {
    const key = Buffer.from(m.key).toString('utf8');
    let name: string | undefined = exactNames.includes(key) ? key : undefined;
    if (name === undefined) {
      const f = foldGoKey(m.key);
      name = f === undefined ? undefined : folded.get(f);
    }
    if (name === undefined) continue;
    if (out.has(name)) malformed(path, `member ${JSON.stringify(name)} appears more than once (also case-insensitively)`);
    out.set(name, m.value);
  }
  return out;
}

/** Parses runtime data bytes. Throws JoinServiceError(AttestationMalformed) and nothing else, for any input. */
export function parseHclRuntimeData(bytes: Uint8Array): HclRuntimeData {
  if (!(bytes instanceof Uint8Array)) malformed('', 'input is not a byte array');
  if (bytes.length > HCL_RUNTIME_DATA_LIMITS.bytes) malformed('', `${bytes.length} bytes exceed the limit of ${HCL_RUNTIME_DATA_LIMITS.bytes} bytes`);
  let root: GoJsonValue;
  try {
    root = parseGoJson(bytes);
  } catch (err) {
    if (err instanceof GoJsonSyntaxError) malformed('', `unmarshalling json: ${err.message} (byte offset ${err.offset})`, { offset: err.offset });
    throw err;
  }
  const raw = copyBytes(bytes);
  if (root.kind === 'null') return { raw, keys: [] };
  if (root.kind !== 'object') malformed('', `expected an object, got ${kindWord(root)}`);
  const keysValue = pick(root, 'document', ['keys'], []).get('keys');
  if (keysValue === undefined || keysValue.kind === 'null') return { raw, keys: [] };
  if (keysValue.kind !== 'array') malformed('keys', `expected an array, got ${kindWord(keysValue)}`);
  if (keysValue.items.length > HCL_RUNTIME_DATA_LIMITS.keys) malformed('keys', `${keysValue.items.length} keys exceed the limit of ${HCL_RUNTIME_DATA_LIMITS.keys}`);
  return { raw, keys: keysValue.items.map((item, i) => decodeKey(item, `keys[${i}]`)) };
}

function decodeKey(v: GoJsonValue, path: string): HclJwk {
  if (v.kind === 'null') return { n: '', e: '' };
  if (v.kind !== 'object') malformed(path, `expected an object, got ${kindWord(v)}`);
  const f = pick(v, path, ['n', 'e'], ['kid', 'kty', 'key_ops']);
  const goString = (name: 'n' | 'e'): string => {
    const m = f.get(name);
    if (m === undefined || m.kind === 'null') return '';
    if (m.kind !== 'string') malformed(`${path}.${name}`, `expected a string, got ${kindWord(m)}`);
    return utf8.decode(m.bytes);
  };
  const out: HclJwk = { n: goString('n'), e: goString('e') };
  const kid = f.get('kid');
  if (kid?.kind === 'string') out.kid = utf8.decode(kid.bytes);
  const kty = f.get('kty');
  if (kty?.kind === 'string') out.kty = utf8.decode(kty.bytes);
  const ops = f.get('key_ops');
  if (ops?.kind === 'array' && ops.items.every((o) => o.kind === 'string')) {
    out.keyOps = ops.items.map((o) => utf8.decode((o as Extract<GoJsonValue, { kind: 'string' }>).bytes));
  }
  return out;
}

/** The first key with this kid (exact match), if any. */
export function findHclKey(data: HclRuntimeData, kid: string): HclJwk | undefined {
  return data.keys.find((k) => k.kid === kid);
}

// ---------------------------------------------------------------------------
// Go's base64.RawURLEncoding

const URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const URL_DECODE = new Int16Array(256).fill(-1);
for (let i = 0; i < URL_ALPHABET.length; i++) URL_DECODE[URL_ALPHABET.charCodeAt(i)] = i;

/**
 * Go's `base64.RawURLEncoding.DecodeString` (Go 1.24): URL alphabet, no
 * padding (a '=' is illegal), '\r' and '\n' skipped, non-zero unused trailing
 * bits accepted, a lone final character illegal. Returns the bytes, or the
 * input byte offset Go's CorruptInputError reports. Works on the string's
 * UTF-8 bytes, as Go does.
 */
export function goRawUrlBase64Decode(text: string): { bytes: Uint8Array } | { corruptAt: number } {
  const src = Buffer.from(text, 'utf8');
  const out: number[] = [];
  let si = 0;
  while (si < src.length) {
    const q: number[] = [];
    let j = 0;
    for (; j < 4; j++) {
      if (si === src.length) break;
      const c = src[si]!;
      si++;
      const v = URL_DECODE[c]!;
      if (v >= 0) {
        q.push(v);
        continue;
      }
      if (c === 0x0a || c === 0x0d) {
        j--;
        continue;
      }
      return { corruptAt: si - 1 };
    }
    if (j === 0) break;
    if (j === 1) return { corruptAt: si - j };
    while (q.length < 4) q.push(0);
    const val = (q[0]! << 18) | (q[1]! << 12) | (q[2]! << 6) | q[3]!;
    const triple = [(val >> 16) & 0xff, (val >> 8) & 0xff, val & 0xff];
    for (let k = 0; k < j - 1; k++) out.push(triple[k]!);
  }
  return { bytes: Uint8Array.from(out) };
}

/**
 * n and e of a key decoded with Go's RawURLEncoding; throws
 * JoinServiceError(AttestationMalformed) `…: n: illegal base64 data at input
 * byte N` (details.offset = N) — the Go AK check's `decoding modulus string:`
 * / exponent errors.
 */
export function decodeHclJwkComponents(key: HclJwk): { n: Uint8Array; e: Uint8Array } {
  const dec = (name: 'n' | 'e'): Uint8Array => {
    const r = goRawUrlBase64Decode(key[name]);
    if ('corruptAt' in r) malformed(name, `illegal base64 data at input byte ${r.corruptAt}`, { offset: r.corruptAt });
    return r.bytes;
  };
  return { n: dec('n'), e: dec('e') };
}

/**
 * The exponent as Constellation's HCL AK check reads it (§3.4 step 6): the
 * decoded bytes copied into a zeroed 4-byte buffer (extra bytes dropped) and
 * read little-endian. "AQAB" (01 00 01) → 65537.
 */
export function goHclExponent(e: Uint8Array): number {
  const buf = new Uint8Array(4);
  buf.set(e.subarray(0, 4));
  return new DataView(buf.buffer).getUint32(0, true);
}

export interface HclPublicKey {
  kid: string | undefined;
  keyObject: KeyObject;
  /** SubjectPublicKeyInfo DER (PKIX, rsaEncryption). */
  spki: Uint8Array;
  /** The decoded n and e bytes exactly as carried (leading zeros kept). */
  modulus: Uint8Array;
  exponent: Uint8Array;
}

/**
 * The RSA public key of a JWK. `kty` must be "RSA"; n and e decode as in
 * decodeHclJwkComponents and are read big-endian (RFC 7518) — for "AQAB" this
 * agrees with goHclExponent. Throws JoinServiceError(AttestationMalformed).
 */
export function hclJwkToPublicKey(key: HclJwk): HclPublicKey {
  const where = key.kid === undefined ? 'key' : `key ${JSON.stringify(key.kid.slice(0, 64))}`;
  if (key.kty !== 'RSA') malformed(where, `kty is ${key.kty === undefined ? 'missing' : JSON.stringify(key.kty.slice(0, 32))}, expected "RSA"`);
  const { n, e } = decodeHclJwkComponents(key);
  const strip = (b: Uint8Array): Uint8Array => {
    let i = 0;
    while (i < b.length && b[i] === 0) i++;
    return b.subarray(i);
  };
  const nn = strip(n);
  const ee = strip(e);
  if (nn.length === 0) malformed(where, 'empty or zero modulus');
  if (ee.length === 0) malformed(where, 'empty or zero exponent');
  if (nn.length > 2048) malformed(where, `modulus of ${nn.length} bytes is larger than RSA-16384`);
  if (ee.length > 8) malformed(where, `exponent of ${ee.length} bytes is too large`);
  let keyObject: KeyObject;
  try {
    keyObject = createPublicKey({ key: { kty: 'RSA', n: Buffer.from(nn).toString('base64url'), e: Buffer.from(ee).toString('base64url') }, format: 'jwk' });
  } catch (err) {
    malformed(where, `not a usable RSA public key: ${(err as Error).message}`);
  }
  return { kid: key.kid, keyObject, spki: new Uint8Array(keyObject.export({ type: 'spki', format: 'der' })), modulus: n, exponent: e };
}

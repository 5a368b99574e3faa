/**
 * Microsoft Azure Attestation (MAA) token validation for azure-sev-snp's
 * `MAAFallback` (sev-snp-attestation.md §10; go-azguestattestation
 * `maa.GetKeySet` / `maa.ValidateToken` with go-jose v3, Constellation's
 * `maaClient.validateToken` / `validateClaims`).
 *
 * Steps and texts (Go's; the validator wraps them as `checking IDKey
 * digests: …`):
 *   1. empty MAA URL → `getting key set from MAA: maaURL is empty`;
 *   2. the token is a compact JWS (`validating token: parsing token: …`): three
 *      base64url parts, a JSON header with an `alg` this service verifies —
 *      RS256/384/512, PS256/384/512, ES256/384/512 — and, unlike go-jose,
 *      `alg: "none"`, HMAC and every other algorithm are refused here already,
 *      as is a `crit` header (go-jose refuses it at verification);
 *   3. the key set `GET <maaURL>/certs` (path joined as Go's url.JoinPath
 *      does): status 200 (`getting key set from MAA: 404 Not Found`), a
 *      non-empty body (`… received empty response from MAA`), a JWKS whose
 *      keys with an `x5c` entry contribute the public key of `x5c[0]` under
 *      their `kid` (keys without x5c are skipped, an unparsable certificate
 *      fails the whole set: `validating token: parsing key set: …`);
 *   4. the signature with the key whose kid equals the header's `kid`
 *      (go-jose v3's JWKS lookup); no such key → `validating token: verifying
 *      signature: go-jose/go-jose: unsupported key type/format`; the
 *      algorithm must fit the key (RS/PS ↔ RSA, ES256/384/512 ↔ P-256/384/521)
 *      and the signature must verify, else `… go-jose/go-jose: error in
 *      cryptographic primitive` (with the reason appended in parentheses);
 *   5. registered claims with one minute of leeway, each only when present:
 *      `nbf` not in the future (`validating token: validating claims:
 *      go-jose/go-jose/jwt: validation failed, token not valid yet (nbf)`),
 *      `exp` not past (`… token is expired (exp)`), `iat` not in the future
 *      (`… validation field, token issued in the future (iat)`, go-jose's
 *      typo); issuer and audience are not checked (as in Go);
 *   6. `x-ms-runtime` (object) → `client-payload` (object) → `nonce` (string)
 *      must equal base64std(extraData): `invalid claims: missing x-ms-runtime`,
 *      `… missing client-payload`, `… missing nonce`, `invalid claims: nonce
 *      does not match extra data`.
 * None of the `x-ms-sevsnpvm-*` claims are inspected (the MAA is trusted to
 * have appraised the SNP evidence), as in Go.
 *
 * Differences from Go: the token is parsed before the key set is fetched, so
 * garbage never causes a request (Go fetches first); the key set is cached
 * per MAA URL (default 10 min; a token whose kid is not in a cached set
 * older than 30 s refetches it, for key rotation) with single flight; the
 * request is bounded (10 s, 256 KiB, no redirects, no proxy — Go follows
 * redirects); the MAA URL must be https (plain http only to loopback, tests)
 * without credentials, query or fragment. Fetch failures are
 * AttestationUpstreamUnavailable (the MAA, not the node, failed), token
 * failures AttestationRejected.
 */
import { constants as cryptoConstants, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { ErrorCode, JoinServiceError } from '../../../../shared/errors.js';
import { CorruptInputError, goBase64StdDecode } from '../../../../shared/go-json/go-base64.js';
import { GoJsonSyntaxError, parseGoJson, type GoJsonValue } from '../../../../shared/go-json/go-json.js';
import { foldGoKey } from '../../../../shared/go-json/go-json-decode.js';
import { parseCertificate } from '../../../certificate/parse-certificate.js';
import { importPublicKey } from '../../../certificate/public-key.js';
import { capText, checkApiBaseUrl, HttpFailure, nodeHttpTransport, type HttpTransport } from '../../vtpm/http-client.js';
import { TtlCache } from '../../vtpm/ttl-cache.js';
import { goRawUrlBase64Decode } from './runtime-data.js';

export const DEFAULT_MAA_TIMEOUT_MS = 10_000;
/** A MAA key set holds a handful of certificates (≈ 10 KiB). */
export const DEFAULT_MAA_MAX_RESPONSE_BYTES = 256 * 1024;
export const DEFAULT_MAA_KEY_SET_TTL_MS = 10 * 60_000;
/** A cached key set lacking the token's kid is refetched when at least this old. */
export const DEFAULT_MAA_REFRESH_MIN_AGE_MS = 30_000;
export const DEFAULT_MAA_CACHE_ENTRIES = 16;
/** go-jose/jwt DefaultLeeway. */
export const MAA_CLAIMS_LEEWAY_MS = 60_000;
/** A token is a few KiB; the InstanceInfo bounds it (32 KiB) anyway. */
const MAX_TOKEN_CHARS = 64 * 1024;

const GO_JOSE = 'go-jose/go-jose';
export const ERR_CRYPTO_FAILURE = `${GO_JOSE}: error in cryptographic primitive`;
export const ERR_UNSUPPORTED_KEY_TYPE = `${GO_JOSE}: unsupported key type/format`;
export const ERR_NOT_VALID_YET = `${GO_JOSE}/jwt: validation failed, token not valid yet (nbf)`;
export const ERR_EXPIRED = `${GO_JOSE}/jwt: validation failed, token is expired (exp)`;
export const ERR_ISSUED_IN_THE_FUTURE = `${GO_JOSE}/jwt: validation field, token issued in the future (iat)`;

/** The JWS algorithms verified here, with their hash and key requirements. */
const ALGORITHMS: Readonly<Record<string, { kind: 'rsa' | 'rsa-pss' | 'ec'; hash: string; curve?: string; size?: number }>> = {
  RS256: { kind: 'rsa', hash: 'sha256' },
  RS384: { kind: 'rsa', hash: 'sha384' },
  RS512: { kind: 'rsa', hash: 'sha512' },
  PS256: { kind: 'rsa-pss', hash: 'sha256' },
  PS384: { kind: 'rsa-pss', hash: 'sha384' },
  PS512: { kind: 'rsa-pss', hash: 'sha512' },
  ES256: { kind: 'ec', hash: 'sha256', curve: 'prime256v1', size: 32 },
  ES384: { kind: 'ec', hash: 'sha384', curve: 'secp384r1', size: 48 },
  ES512: { kind: 'ec', hash: 'sha512', curve: 'secp521r1', size: 66 },
};

export const MAA_JWS_ALGORITHMS: readonly string[] = Object.keys(ALGORITHMS);

/** One verification key of the MAA key set. */
export interface MaaKey {
  kid: string;
  key: KeyObject;
}

/** A compact JWS, parsed but not verified. */
export interface ParsedJws {
  alg: string;
  /** The header's kid; '' when absent. */
  kid: string;
  /** ASCII of `<header>.<payload>`: the signed bytes. */
  signingInput: Buffer;
  payload: Buffer;
  signature: Buffer;
}

const utf8 = new TextDecoder('utf-8');

/** A failure of one step, with the text Go's wrapping chain produces. */
export class MaaError extends Error {
  constructor(
    message: string,
    readonly upstream: boolean,
    readonly check: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'MaaError';
  }
}

function base64UrlPart(s: string, what: string): Buffer {
  // go-jose v3 trims '=' padding, then decodes RawURLEncoding.
  const r = goRawUrlBase64Decode(s.replace(/=+$/, ''));
  if ('corruptAt' in r) throw new Error(`${what}: illegal base64 data at input byte ${r.corruptAt}`);
  return Buffer.from(r.bytes);
}

function member(obj: Extract<GoJsonValue, { kind: 'object' }>, name: string, caseInsensitive: boolean): GoJsonValue | undefined {
  let found: GoJsonValue | undefined;
  const folded = caseInsensitive ? foldGoKey(Buffer.from(name, 'latin1')) : undefined;
  for (const m of obj.members) {
    const key = utf8.decode(m.key);
    if (key === name || (caseInsensitive && foldGoKey(m.key) === folded)) found = m.value; // last one wins, as in Go
  }
  return found;
}

function parseJsonObject(bytes: Uint8Array, what: string): Extract<GoJsonValue, { kind: 'object' }> {
  let v: GoJsonValue;
  try {
    v = parseGoJson(bytes);
  } catch (err) {
    if (err instanceof GoJsonSyntaxError) throw new Error(`${what}: ${err.message}`);
    throw err;
  }
  if (v.kind !== 'object') throw new Error(`${what}: json: cannot unmarshal ${v.kind === 'bool' ? 'bool' : v.kind} into Go value of type map[string]interface {}`);
  return v;
}

/**
 * go-jose v3 ParseSigned (compact serialisation) plus this service's
 * algorithm allow-list. Throws Error with the reason (the caller adds
 * `parsing token: `).
 */
export function parseCompactJws(token: string): ParsedJws {
  if (token.length > MAX_TOKEN_CHARS) throw new Error(`token of ${token.length} characters exceeds the limit of ${MAX_TOKEN_CHARS}`);
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error(`${GO_JOSE}: compact JWS format must have three parts`);
  const [h, p, s] = parts as [string, string, string];
  const headerBytes = base64UrlPart(h, 'header');
  const payload = base64UrlPart(p, 'payload');
  const signature = base64UrlPart(s, 'signature');
  const header = parseJsonObject(headerBytes, 'header');
  const algValue = member(header, 'alg', false);
  if (algValue === undefined || algValue.kind !== 'string') throw new Error('JWS header has no "alg"');
  const alg = utf8.decode(algValue.bytes);
  if (!Object.hasOwn(ALGORITHMS, alg)) {
    throw new Error(`JWS algorithm ${JSON.stringify(alg.slice(0, 32))} is not accepted (accepted: ${MAA_JWS_ALGORITHMS.join(', ')})`);
  }
  if (member(header, 'crit', false) !== undefined) throw new Error('JWS header has a "crit" parameter, which is not supported');
  const kidValue = member(header, 'kid', false);
  if (kidValue !== undefined && kidValue.kind !== 'string' && kidValue.kind !== 'null') throw new Error('JWS header "kid" is not a string');
  const kid = kidValue?.kind === 'string' ? utf8.decode(kidValue.bytes) : '';
  return { alg, kid, signingInput: Buffer.from(`${h}.${p}`, 'ascii'), payload, signature };
}

/**
 * go-azguestattestation parseKeySet: `{"keys":[{"kid": …, "x5c": ["<std
 * base64 DER>", …]}, …]}` (Go encoding/json: case-insensitive member names,
 * unknown members ignored); per key with at least one x5c entry the public
 * key of x5c[0]. Throws Error (the caller adds `parsing key set: `).
 */
export function parseMaaKeySet(body: Uint8Array): MaaKey[] {
  let root: GoJsonValue;
  try {
    root = parseGoJson(body);
  } catch (err) {
    if (err instanceof GoJsonSyntaxError) throw new Error(err.message);
    throw err;
  }
  if (root.kind === 'null') return [];
  if (root.kind !== 'object') throw new Error(`json: cannot unmarshal ${root.kind} into Go value of type maa.rawKeySet`);
  const keys = member(root, 'Keys', true);
  if (keys === undefined || keys.kind === 'null') return [];
  if (keys.kind !== 'array') throw new Error(`json: cannot unmarshal ${keys.kind} into Go struct field rawKeySet.Keys of type []maa.rawKey`);
  const out: MaaKey[] = [];
  keys.items.forEach((item, i) => {
    if (item.kind === 'null') return;
    if (item.kind !== 'object') throw new Error(`keys[${i}]: json: cannot unmarshal ${item.kind} into Go struct field rawKeySet.Keys of type maa.rawKey`);
    const kidValue = member(item, 'Kid', true);
    if (kidValue !== undefined && kidValue.kind !== 'string' && kidValue.kind !== 'null') {
      throw new Error(`keys[${i}]: json: cannot unmarshal ${kidValue.kind} into Go struct field rawKey.Keys.Kid of type string`);
    }
    const x5c = member(item, 'X5c', true);
    if (x5c === undefined || x5c.kind === 'null') return;
    if (x5c.kind !== 'array') throw new Error(`keys[${i}]: json: cannot unmarshal ${x5c.kind} into Go struct field rawKey.Keys.X5c of type [][]uint8`);
    if (x5c.items.length < 1) return;
    const first = x5c.items[0]!;
    let der: Uint8Array;
    if (first.kind === 'null') {
      der = new Uint8Array(0);
    } else if (first.kind === 'string') {
      try {
        der = goBase64StdDecode(first.bytes);
      } catch (err) {
        if (err instanceof CorruptInputError) throw new Error(`keys[${i}].x5c[0]: ${err.message}`);
        throw err;
      }
    } else {
      throw new Error(`keys[${i}]: json: cannot unmarshal ${first.kind} into Go struct field rawKey.Keys.X5c of type []uint8`);
    }
    let key: KeyObject;
    try {
      const cert = parseCertificate(der);
      key = importPublicKey(cert.publicKey);
    } catch (err) {
      throw new Error(`keys[${i}].x5c[0]: ${err instanceof Error ? err.message : String(err)}`);
    }
    out.push({ kid: kidValue?.kind === 'string' ? utf8.decode(kidValue.bytes) : '', key });
  });
  return out;
}

/** Why `key` cannot verify `alg`, or undefined. */
function keyMismatch(alg: string, key: KeyObject): string | undefined {
  const a = ALGORITHMS[alg]!;
  const type = key.asymmetricKeyType;
  if (a.kind === 'ec') {
    if (type !== 'ec') return `${alg} needs an EC key, the key is ${type ?? 'unknown'}`;
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve !== a.curve) return `${alg} needs curve ${a.curve}, the key is on ${curve ?? 'an unknown curve'}`;
    return undefined;
  }
  if (type !== 'rsa') return `${alg} needs an RSA key, the key is ${type ?? 'unknown'}`;
  return undefined;
}

/**
 * go-jose v3 JSONWebSignature.Verify with a JWKS: the key whose kid equals
 * the header's kid (first match), the algorithm must fit it, the signature
 * must verify. Throws Error with go-jose's text (the caller adds `verifying
 * signature: `).
 */
export function verifyJwsSignature(jws: ParsedJws, keys: readonly MaaKey[]): MaaKey {
  const key = jws.kid === '' ? undefined : keys.find((k) => k.kid === jws.kid);
  if (!key) {
    throw new Error(`${ERR_UNSUPPORTED_KEY_TYPE} (${jws.kid === '' ? 'the token header has no kid' : `no key with kid ${JSON.stringify(jws.kid.slice(0, 64))} in the MAA key set`})`);
  }
  const mismatch = keyMismatch(jws.alg, key.key);
  if (mismatch !== undefined) throw new Error(`${ERR_CRYPTO_FAILURE} (${mismatch})`);
  const a = ALGORITHMS[jws.alg]!;
  let ok: boolean;
  try {
    if (a.kind === 'ec') {
      if (jws.signature.length !== 2 * a.size!) throw new Error(`${GO_JOSE}: invalid signature size, have ${jws.signature.length} bytes, wanted ${2 * a.size!}`);
      ok = cryptoVerify(a.hash, jws.signingInput, { key: key.key, dsaEncoding: 'ieee-p1363' }, jws.signature);
    } else if (a.kind === 'rsa-pss') {
      ok = cryptoVerify(a.hash, jws.signingInput, { key: key.key, padding: cryptoConstants.RSA_PKCS1_PSS_PADDING, saltLength: cryptoConstants.RSA_PSS_SALTLEN_AUTO }, jws.signature);
    } else {
      ok = cryptoVerify(a.hash, jws.signingInput, { key: key.key, padding: cryptoConstants.RSA_PKCS1_PADDING }, jws.signature);
    }
  } catch (err) {
    throw new Error(`${ERR_CRYPTO_FAILURE} (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!ok) throw new Error(`${ERR_CRYPTO_FAILURE} (${jws.alg} signature does not verify with key ${JSON.stringify(key.kid.slice(0, 64))})`);
  return key;
}

/** The claims JSON (an object) of a verified token; Error for anything else. */
export function parseClaims(payload: Uint8Array): Extract<GoJsonValue, { kind: 'object' }> {
  return parseJsonObject(payload, 'claims');
}

/** A NumericDate member in ms (Go: float seconds truncated to int64), undefined when absent/null. */
function numericDateMs(claims: Extract<GoJsonValue, { kind: 'object' }>, name: 'exp' | 'nbf' | 'iat'): number | undefined {
  const v = member(claims, name, true);
  if (v === undefined || v.kind === 'null') return undefined;
  if (v.kind !== 'number') throw new Error(`json: cannot unmarshal ${v.kind} into Go struct field Claims.${name} of type float64`);
  const seconds = Math.trunc(Number(v.text));
  if (!Number.isFinite(seconds)) throw new Error(`json: cannot unmarshal number ${v.text} into Go struct field Claims.${name} of type float64`);
  return seconds * 1000;
}

/**
 * go-jose v3 Claims.Validate(Expected{Time: now}) with the default leeway:
 * nbf, exp, iat in that order, each only when present. Throws Error with
 * go-jose's text.
 */
export function validateRegisteredClaims(claims: Extract<GoJsonValue, { kind: 'object' }>, nowMs: number, leewayMs = MAA_CLAIMS_LEEWAY_MS): void {
  const nbf = numericDateMs(claims, 'nbf');
  const exp = numericDateMs(claims, 'exp');
  const iat = numericDateMs(claims, 'iat');
  if (nbf !== undefined && nowMs + leewayMs < nbf) throw new Error(ERR_NOT_VALID_YET);
  if (exp !== undefined && nowMs - leewayMs > exp) throw new Error(ERR_EXPIRED);
  if (iat !== undefined && nowMs + leewayMs < iat) throw new Error(ERR_ISSUED_IN_THE_FUTURE);
}

/** Constellation's validateClaims: x-ms-runtime.client-payload.nonce == base64std(extraData). Throws Error with Go's text. */
export function validateMaaClaims(claims: Extract<GoJsonValue, { kind: 'object' }>, extraData: Uint8Array): void {
  const runtime = member(claims, 'x-ms-runtime', false);
  if (runtime?.kind !== 'object') throw new Error('invalid claims: missing x-ms-runtime');
  const payload = member(runtime, 'client-payload', false);
  if (payload?.kind !== 'object') throw new Error('invalid claims: missing client-payload');
  const nonce = member(payload, 'nonce', false);
  if (nonce?.kind !== 'string') throw new Error('invalid claims: missing nonce');
  if (utf8.decode(nonce.bytes) !== Buffer.from(extraData).toString('base64')) throw new Error('invalid claims: nonce does not match extra data');
}

/** Go's url.JoinPath(maaURL, "certs") for the URLs this service accepts. */
export function maaCertsUrl(maaUrl: string): string {
  const base = checkApiBaseUrl(maaUrl, 'MAA URL');
  const u = new URL(base);
  u.pathname = `${u.pathname.replace(/\/+$/, '')}/certs`;
  return u.toString();
}

export interface MaaTokenValidatorOptions {
  transport?: HttpTransport;
  timeoutMs?: number;
  maxResponseBytes?: number;
  keySetTtlMs?: number;
  refreshMinAgeMs?: number;
  cacheEntries?: number;
  /** Monotonic clock for the cache (default performance.now). */
  monotonicNow?: () => number;
  /** Wall clock for exp/nbf/iat (default Date.now). */
  now?: () => number;
}

/** MAA token validation with a cached key set per MAA URL. */
export class MaaTokenValidator {
  private readonly transport: HttpTransport;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;
  private readonly refreshMinAgeMs: number;
  private readonly cache: TtlCache<MaaKey[]>;
  private readonly now: () => number;
  /** Key-set requests made (tests, diagnostics). */
  fetches = 0;

  constructor(o: MaaTokenValidatorOptions = {}) {
    this.transport = o.transport ?? nodeHttpTransport;
    this.timeoutMs = o.timeoutMs ?? DEFAULT_MAA_TIMEOUT_MS;
    this.maxResponseBytes = o.maxResponseBytes ?? DEFAULT_MAA_MAX_RESPONSE_BYTES;
    this.refreshMinAgeMs = o.refreshMinAgeMs ?? DEFAULT_MAA_REFRESH_MIN_AGE_MS;
    this.cache = new TtlCache<MaaKey[]>({
      ttlMs: o.keySetTtlMs ?? DEFAULT_MAA_KEY_SET_TTL_MS,
      maxEntries: o.cacheEntries ?? DEFAULT_MAA_CACHE_ENTRIES,
      ...(o.monotonicNow ? { now: o.monotonicNow } : {}),
    });
    this.now = o.now ?? Date.now;
  }

  /**
   * Validates `token` for `extraData` against the MAA at `maaUrl`. Throws
   * MaaError with Go's text (see the module comment), `upstream` set for
   * failures of the MAA itself.
   */
  async validate(maaUrl: string, token: string, extraData: Uint8Array): Promise<void> {
    if (maaUrl === '') throw new MaaError('getting key set from MAA: maaURL is empty', false, 'maa-url');
    let certsUrl: string;
    try {
      certsUrl = maaCertsUrl(maaUrl);
    } catch (err) {
      throw new MaaError(`getting key set from MAA: parsing maaURL: ${(err as Error).message}`, false, 'maa-url');
    }
    let jws: ParsedJws;
    try {
      jws = parseCompactJws(token);
    } catch (err) {
      throw new MaaError(`validating token: parsing token: ${(err as Error).message}`, false, 'maa-token-parse', { cause: err });
    }
    const keys = await this.keySet(certsUrl, jws.kid);
    let claims: Extract<GoJsonValue, { kind: 'object' }>;
    try {
      verifyJwsSignature(jws, keys);
      claims = parseClaims(jws.payload);
    } catch (err) {
      throw new MaaError(`validating token: verifying signature: ${(err as Error).message}`, false, 'maa-token-signature', { cause: err });
    }
    try {
      validateRegisteredClaims(claims, this.now());
    } catch (err) {
      throw new MaaError(`validating token: validating claims: ${(err as Error).message}`, false, 'maa-token-claims', { cause: err });
    }
    try {
      validateMaaClaims(claims, extraData);
    } catch (err) {
      throw new MaaError((err as Error).message, false, 'maa-token-nonce', { cause: err });
    }
  }

  private keySet(certsUrl: string, kid: string): Promise<MaaKey[]> {
    return this.cache.get(certsUrl, () => this.fetchKeySet(certsUrl), {
      reuse: (keys, age) => age < this.refreshMinAgeMs || keys.some((k) => k.kid === kid),
    });
  }

  private async fetchKeySet(certsUrl: string): Promise<MaaKey[]> {
    this.fetches++;
    let res;
    try {
      res = await this.transport({
        method: 'GET',
        url: certsUrl,
        headers: { accept: 'application/json', 'user-agent': 'constellation-joinservice-ts' },
        timeoutMs: this.timeoutMs,
        maxResponseBytes: this.maxResponseBytes,
      });
    } catch (err) {
      if (err instanceof HttpFailure) throw new MaaError(`getting key set from MAA: ${err.message}`, true, 'maa-key-set', { cause: err });
      throw err;
    }
    if (res.status !== 200) {
      throw new MaaError(`getting key set from MAA: ${[String(res.status), statusText(res.status)].filter((x) => x !== '').join(' ')}${res.body.length > 0 ? ` (${capText(res.body.toString('utf8'), 200)})` : ''}`, true, 'maa-key-set');
    }
    if (res.body.length === 0) throw new MaaError('getting key set from MAA: received empty response from MAA', true, 'maa-key-set');
    try {
      return parseMaaKeySet(res.body);
    } catch (err) {
      throw new MaaError(`validating token: parsing key set: ${(err as Error).message}`, true, 'maa-key-set', { cause: err });
    }
  }
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  301: 'Moved Permanently',
  302: 'Found',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

function statusText(status: number): string {
  return STATUS_TEXT[status] ?? '';
}

let shared: MaaTokenValidator | undefined;

/** The worker thread's validator (key sets cached across config generations). */
export function sharedMaaTokenValidator(): MaaTokenValidator {
  shared ??= new MaaTokenValidator();
  return shared;
}

/** MaaError → JoinServiceError (AttestationUpstreamUnavailable for MAA failures, else AttestationRejected). */
export function maaJoinServiceError(err: MaaError, prefix: string): JoinServiceError {
  return new JoinServiceError(err.upstream ? ErrorCode.AttestationUpstreamUnavailable : ErrorCode.AttestationRejected, `${prefix}${err.message}`, { check: err.check }, { cause: err });
}

/**
 * TPMT_PUBLIC (`ak_pub`, tpm-attestation.md §4.2): go-tpm's DecodePublic with
 * its error texts and leniencies (only 0x0010 is NULL in the optional
 * sub-structures, trailing bytes ignored, no attribute/scheme checks), the
 * verification key `Public.Key()` derives, Go's `PublicKey.Equal` on it, and
 * a small per-worker cache so each AK is decoded and imported once.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { ErrorCode, JoinServiceError } from '../../../../shared/errors.js';
import { Alg, algHex } from './tpm-alg.js';
import { TpmReader, tpmError, withContext } from './tpm-reader.js';

export interface SymScheme {
  alg: number;
  keyBits: number;
  mode: number;
}

export interface SigScheme {
  alg: number;
  hash: number;
  /** Only for ECDAA (go-tpm reads a u32 there). */
  count?: number;
}

export interface KdfScheme {
  alg: number;
  hash: number;
}

export interface RsaParams {
  symmetric: SymScheme | null;
  sign: SigScheme | null;
  keyBits: number;
  /** 0 means the default 65537. */
  exponentRaw: number;
  /** Unsigned big-endian, as carried (leading zeros kept). */
  modulus: Uint8Array;
}

export interface EccParams {
  symmetric: SymScheme | null;
  sign: SigScheme | null;
  curveId: number;
  kdf: KdfScheme | null;
  x: Uint8Array;
  y: Uint8Array;
}

export interface SymCipherParams {
  symmetric: SymScheme | null;
  unique: Uint8Array;
}

export interface KeyedHashParams {
  alg: number;
  hash: number;
  kdf: number;
  unique: Uint8Array;
}

export interface TpmtPublic {
  type: number;
  nameAlg: number;
  attributes: number;
  authPolicy: Uint8Array;
  rsa?: RsaParams;
  ecc?: EccParams;
  symCipher?: SymCipherParams;
  keyedHash?: KeyedHashParams;
}

function decodeSymScheme(r: TpmReader): SymScheme | null {
  const alg = withContext('decoding Alg', () => r.u16());
  if (alg === Alg.NULL) return null;
  return withContext('decoding KeyBits, Mode', () => ({ alg, keyBits: r.u16(), mode: r.u16() }));
}

function decodeSigScheme(r: TpmReader): SigScheme | null {
  const alg = withContext('decoding Alg', () => r.u16());
  if (alg === Alg.NULL) return null;
  const hash = withContext('decoding Hash', () => r.u16());
  if (alg !== Alg.ECDAA) return { alg, hash };
  return { alg, hash, count: withContext('decoding Count', () => r.u32()) };
}

function decodeKdfScheme(r: TpmReader): KdfScheme | null {
  const alg = withContext('decoding Alg', () => r.u16());
  if (alg === Alg.NULL) return null;
  return { alg, hash: withContext('decoding Hash', () => r.u16()) };
}

/**
 * go-tpm `DecodePublic`: throws JoinServiceError(AttestationMalformed) with
 * Go's text (e.g. `decoding Sign: decoding Hash: EOF`). Trailing bytes are
 * ignored; the returned byte fields are views into `buf`.
 */
export function decodeTpmtPublic(buf: Uint8Array): TpmtPublic {
  const r = new TpmReader(buf);
  const head = withContext('decoding TPMT_PUBLIC', () => ({
    type: r.u16(),
    nameAlg: r.u16(),
    attributes: r.u32(),
    authPolicy: r.sized(),
  }));
  switch (head.type) {
    case Alg.RSA: {
      const symmetric = withContext('decoding Symmetric', () => decodeSymScheme(r));
      const sign = withContext('decoding Sign', () => decodeSigScheme(r));
      const rest = withContext('decoding KeyBits, Exponent, Modulus', () => ({ keyBits: r.u16(), exponentRaw: r.u32(), modulus: r.sized() }));
      return { ...head, rsa: { symmetric, sign, ...rest } };
    }
    case Alg.ECC: {
      const symmetric = withContext('decoding Symmetric', () => decodeSymScheme(r));
      const sign = withContext('decoding Sign', () => decodeSigScheme(r));
      const curveId = withContext('decoding CurveID', () => r.u16());
      const kdf = withContext('decoding KDF', () => decodeKdfScheme(r));
      const point = withContext('decoding Point', () => ({ x: r.sized(), y: r.sized() }));
      return { ...head, ecc: { symmetric, sign, curveId, kdf, ...point } };
    }
    case Alg.SYMCIPHER: {
      const symmetric = withContext('decoding Symmetric', () => decodeSymScheme(r));
      const unique = withContext('decoding Unique', () => r.sized());
      return { ...head, symCipher: { symmetric, unique } };
    }
    case Alg.KEYEDHASH: {
      const alg = withContext('decoding Alg', () => r.u16());
      const params = withContext('decoding Alg Params', () => {
        switch (alg) {
          case Alg.NULL:
            return { hash: 0, kdf: 0 };
          case Alg.HMAC:
            return { hash: r.u16(), kdf: 0 };
          case Alg.XOR:
            return { hash: r.u16(), kdf: r.u16() };
          default:
            throw tpmError(`unsupported KeyedHash Algorithm: 0x${algHex(alg)}`);
        }
      });
      const unique = withContext('decoding Unique', () => r.sized());
      return { ...head, keyedHash: { alg, ...params, unique } };
    }
    default:
      throw tpmError(`unsupported type in TPMT_PUBLIC: 0x${algHex(head.type)}`);
  }
}

// ---------------------------------------------------------------------------
// Key identity and Go's PublicKey.Equal

export type EcCurve = 'P-224' | 'P-256' | 'P-384' | 'P-521';

/** An RSA public key as Go compares it: modulus without leading zero bytes, exponent. */
export interface RsaKeyIdentity {
  type: 'rsa';
  n: Uint8Array;
  /** NaN when it does not fit a JS safe integer (then it never equals a TPM key). */
  e: number;
}

/** An ECDSA public key as Go compares it: curve and affine coordinates without leading zero bytes. */
export interface EcdsaKeyIdentity {
  type: 'ecdsa';
  curve: EcCurve;
  x: Uint8Array;
  y: Uint8Array;
}

/** Any other key type (Ed25519, …): never equal to an attestation key. */
export interface OtherKeyIdentity {
  type: 'other';
  keyType: string;
}

export type PublicKeyIdentity = RsaKeyIdentity | EcdsaKeyIdentity | OtherKeyIdentity;

function stripZeros(b: Uint8Array): Uint8Array {
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  return b.slice(i);
}

/** Equality of two unsigned big-endian integers (leading zero bytes ignored). */
function intEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a[0] === 0) a = stripZeros(a);
  if (b[0] === 0) b = stripZeros(b);
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

/** Go's `PublicKey.Equal` (rsa: N and E; ecdsa: curve, X and Y); other key types are never equal. */
export function keyEquals(a: PublicKeyIdentity, b: PublicKeyIdentity): boolean {
  if (a.type === 'rsa' && b.type === 'rsa') return a.e === b.e && intEqual(a.n, b.n);
  if (a.type === 'ecdsa' && b.type === 'ecdsa') return a.curve === b.curve && intEqual(a.x, b.x) && intEqual(a.y, b.y);
  return false;
}

interface CurveInfo {
  name: EcCurve;
  nodeName: string;
  /** DER OID element of the named curve. */
  oid: Uint8Array;
  coordinateBytes: number;
  order: bigint;
}

const CURVES: ReadonlyMap<number, CurveInfo> = new Map([
  [
    0x0002,
    {
      name: 'P-224',
      nodeName: 'secp224r1',
      oid: Uint8Array.of(0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x21),
      coordinateBytes: 28,
      order: 0xffffffffffffffffffffffffffff16a2e0b8f03e13dd29455c5c2a3dn,
    },
  ],
  [
    0x0003,
    {
      name: 'P-256',
      nodeName: 'prime256v1',
      oid: Uint8Array.of(0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07),
      coordinateBytes: 32,
      order: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
    },
  ],
  [
    0x0004,
    {
      name: 'P-384',
      nodeName: 'secp384r1',
      oid: Uint8Array.of(0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22),
      coordinateBytes: 48,
      order: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
    },
  ],
  [
    0x0005,
    {
      name: 'P-521',
      nodeName: 'secp521r1',
      oid: Uint8Array.of(0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23),
      coordinateBytes: 66,
      order:
        0x1fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
    },
  ],
]);

const CURVE_BY_NODE_NAME: ReadonlyMap<string, CurveInfo> = new Map([...CURVES.values()].map((c) => [c.nodeName, c]));

/** Go 1.24 crypto/rsa's minimum modulus size for verification. */
export const GO_RSA_MIN_BITS = 1024;

function bitLength(minimal: Uint8Array): number {
  if (minimal.length === 0) return 0;
  return (minimal.length - 1) * 8 + (32 - Math.clz32(minimal[0]!));
}

/** Go 1.24 crypto/rsa's refusal of a verification key (checkPublicKeySize, then checkPublicKey), if any. */
function goRsaKeyError(n: Uint8Array, e: number): string | undefined {
  const bits = bitLength(n);
  if (bits < GO_RSA_MIN_BITS) return `crypto/rsa: ${bits}-bit keys are insecure (see https://go.dev/pkg/crypto/rsa#hdr-Minimum_key_size)`;
  if ((n[n.length - 1]! & 1) === 0) return 'crypto/rsa: public modulus is even';
  if (e < 2) return 'crypto/rsa: public exponent too small or negative';
  if (e % 2 === 0) return 'crypto/rsa: public exponent is even';
  if (e > 0x7fffffff) return 'crypto/rsa: public exponent too large';
  return undefined;
}

function derLength(n: number): number[] {
  if (n < 0x80) return [n];
  if (n < 0x100) return [0x81, n];
  return [0x82, n >> 8, n & 0xff];
}

function der(tag: number, ...parts: Uint8Array[]): Uint8Array {
  const len = parts.reduce((s, p) => s + p.length, 0);
  return Buffer.concat([Uint8Array.of(tag, ...derLength(len)), ...parts]);
}

const EC_PUBLIC_KEY_OID = Uint8Array.of(0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01);

function leftPad(b: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size);
  out.set(b, size - b.length);
  return out;
}

/** The verification key of an attestation key: its identity plus what verification needs. */
export interface AkVerificationKey {
  readonly identity: RsaKeyIdentity | EcdsaKeyIdentity;
  /** RSA only: modulus size in bytes (Go's `PublicKey.Size()`) and Go 1.24's refusal of the key, if any. */
  readonly rsa?: { readonly sizeBytes: number; readonly keyError: string | undefined };
  /** ECDSA only: the curve order (r and s must lie in [1, n−1]) and its length in bytes. */
  readonly ecdsa?: { readonly order: bigint; readonly orderBytes: number };
  /**
   * The node:crypto key, imported on first use; null when OpenSSL cannot
   * represent it (an ECC point off its curve or with oversized coordinates:
   * Go never verifies a signature with such a key either) or when Go refuses
   * the RSA key before using it.
   */
  keyObject(): KeyObject | null;
}

class AkKey implements AkVerificationKey {
  private imported: KeyObject | null | undefined;

  constructor(
    readonly identity: RsaKeyIdentity | EcdsaKeyIdentity,
    readonly rsa: { readonly sizeBytes: number; readonly keyError: string | undefined } | undefined,
    readonly ecdsa: { readonly order: bigint; readonly orderBytes: number } | undefined,
    private readonly curve: CurveInfo | undefined,
  ) {}

  keyObject(): KeyObject | null {
    if (this.imported === undefined) this.imported = this.importKey();
    return this.imported;
  }

  private importKey(): KeyObject | null {
    try {
      const id = this.identity;
      if (id.type === 'rsa') {
        if (this.rsa?.keyError !== undefined) return null;
        const e = Buffer.alloc(4);
        e.writeUInt32BE(id.e);
        return createPublicKey({
          key: { kty: 'RSA', n: Buffer.from(id.n).toString('base64url'), e: stripZerosBuf(e).toString('base64url') },
          format: 'jwk',
        });
      }
      const c = this.curve!;
      if (id.x.length > c.coordinateBytes || id.y.length > c.coordinateBytes) return null;
      const point = Buffer.concat([Uint8Array.of(0x00, 0x04), leftPad(id.x, c.coordinateBytes), leftPad(id.y, c.coordinateBytes)]);
      const spki = der(0x30, der(0x30, EC_PUBLIC_KEY_OID, c.oid), der(0x03, point));
      return createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
    } catch {
      return null;
    }
  }
}

function stripZerosBuf(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
}

/**
 * go-tpm `Public.Key()`: the verification key of a decoded TPMT_PUBLIC.
 * Throws JoinServiceError(AttestationMalformed) with Go's text for key types
 * other than RSA/ECC and for curves other than NIST P-224/256/384/521.
 */
export function akVerificationKey(pub: TpmtPublic): AkVerificationKey {
  if (pub.type === Alg.RSA && pub.rsa) {
    const n = stripZeros(pub.rsa.modulus);
    const e = pub.rsa.exponentRaw === 0 ? 65537 : pub.rsa.exponentRaw;
    return new AkKey({ type: 'rsa', n, e }, { sizeBytes: (bitLength(n) + 7) >> 3, keyError: goRsaKeyError(n, e) }, undefined, undefined);
  }
  if (pub.type === Alg.ECC && pub.ecc) {
    const curve = CURVES.get(pub.ecc.curveId);
    if (!curve) {
      throw tpmError(`can't map TPM EC curve ID 0x${pub.ecc.curveId.toString(16)} to Go elliptic.Curve value`);
    }
    const identity: EcdsaKeyIdentity = { type: 'ecdsa', curve: curve.name, x: stripZeros(pub.ecc.x), y: stripZeros(pub.ecc.y) };
    const orderBytes = curve.coordinateBytes;
    return new AkKey(identity, undefined, { order: curve.order, orderBytes }, curve);
  }
  throw tpmError(`unsupported public key type 0x${algHex(pub.type)}`);
}

/**
 * The identity of a node:crypto public key, for trusted keys obtained
 * elsewhere (GCP's getShieldedInstanceIdentity SPKI, the Azure AK
 * certificate). Key types other than RSA and NIST-curve ECDSA yield
 * `{type:'other'}`, which never equals an attestation key.
 */
export function identityFromKeyObject(key: KeyObject): PublicKeyIdentity {
  const type = key.asymmetricKeyType ?? 'unknown';
  try {
    if (type === 'rsa') {
      const jwk = key.export({ format: 'jwk' });
      const n = stripZeros(Buffer.from(jwk.n ?? '', 'base64url'));
      const eBytes = stripZeros(Buffer.from(jwk.e ?? '', 'base64url'));
      let e = 0;
      for (const b of eBytes) e = e * 256 + b;
      return { type: 'rsa', n, e: eBytes.length > 6 ? Number.NaN : e };
    }
    if (type === 'ec') {
      const curve = CURVE_BY_NODE_NAME.get(key.asymmetricKeyDetails?.namedCurve ?? '');
      if (curve) {
        const spki = key.export({ format: 'der', type: 'spki' });
        const len = 1 + 2 * curve.coordinateBytes;
        const point = spki.subarray(spki.length - len);
        if (point[0] === 0x04) {
          return {
            type: 'ecdsa',
            curve: curve.name,
            x: stripZeros(point.subarray(1, 1 + curve.coordinateBytes)),
            y: stripZeros(point.subarray(1 + curve.coordinateBytes)),
          };
        }
      }
    }
  } catch {
    // fall through: not a key an attestation key can equal
  }
  return { type: 'other', keyType: type };
}

// ---------------------------------------------------------------------------
// Per-worker cache of decoded attestation keys

/** Where deriving the key from `ak_pub` failed (Go wraps the two differently). */
export type AkStage = 'decode' | 'key';

const CACHE_LIMIT = 64;
const cache = new Map<string, AkVerificationKey>();
/** The most recent hit (a copy of its bytes): one memcmp instead of building the string key. */
let last: { bytes: Buffer; ak: AkVerificationKey } | undefined;

/**
 * DecodePublic + Public.Key() of `ak_pub`, cached by its exact bytes (a
 * worker sees the same few AKs again and again, and the cached entry keeps
 * the imported KeyObject). Throws JoinServiceError(AttestationMalformed) with
 * the inner Go text and `details.akStage` = 'decode' | 'key'.
 */
export function loadAk(akPub: Uint8Array): AkVerificationKey {
  const bytes = Buffer.from(akPub.buffer, akPub.byteOffset, akPub.byteLength);
  if (last && last.bytes.equals(bytes)) return last.ak;
  const cacheKey = bytes.toString('latin1');
  const hit = cache.get(cacheKey);
  if (hit) {
    last = { bytes: Buffer.from(bytes), ak: hit };
    return hit;
  }
  let pub: TpmtPublic;
  try {
    pub = decodeTpmtPublic(akPub);
  } catch (err) {
    throw new JoinServiceError(ErrorCode.AttestationMalformed, (err as Error).message, { akStage: 'decode' });
  }
  let ak: AkVerificationKey;
  try {
    ak = akVerificationKey(pub);
  } catch (err) {
    throw new JoinServiceError(ErrorCode.AttestationMalformed, (err as Error).message, { akStage: 'key' });
  }
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!);
  cache.set(cacheKey, ak);
  last = { bytes: Buffer.from(bytes), ak };
  return ak;
}

/** Empties the attestation-key cache (tests, config reloads). */
export function clearAkCache(): void {
  cache.clear();
  last = undefined;
}

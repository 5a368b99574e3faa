/**
 * TPM_ALG_ID constants and the Go formatting of go-tpm's values that error
 * texts contain (tpm-attestation.md §4.1, §13).
 *
 * go-tpm's `tpm2.Algorithm` has a String() method, and Go's fmt formats a
 * Stringer under `%x` as the hex of its *string*: go-tpm's
 * `fmt.Errorf("… 0x%x", alg)` therefore prints e.g. RSAPSS (0x0016) as
 * `0x525341505353` and an unnamed ID 0x0002 as the hex of `Alg?<2>`.
 * `algHex` reproduces that. `tpm2.EllipticCurve` and `tpmutil.Tag` have no
 * String() and print as plain numbers.
 */

export const Alg = {
  UNKNOWN: 0x0000,
  RSA: 0x0001,
  SHA1: 0x0004,
  HMAC: 0x0005,
  AES: 0x0006,
  KEYEDHASH: 0x0008,
  XOR: 0x000a,
  SHA256: 0x000b,
  SHA384: 0x000c,
  SHA512: 0x000d,
  NULL: 0x0010,
  RSASSA: 0x0014,
  RSAES: 0x0015,
  RSAPSS: 0x0016,
  OAEP: 0x0017,
  ECDSA: 0x0018,
  ECDH: 0x0019,
  ECDAA: 0x001a,
  KDF2: 0x0021,
  ECC: 0x0023,
  SYMCIPHER: 0x0025,
  SHA3_256: 0x0027,
  SHA3_384: 0x0028,
  SHA3_512: 0x0029,
  CTR: 0x0040,
  OFB: 0x0041,
  CBC: 0x0042,
  CFB: 0x0043,
  ECB: 0x0044,
} as const;

/** TPM_ST attestation structure tags. */
export const AttestTag = {
  CERTIFY: 0x8017,
  QUOTE: 0x8018,
  CREATION: 0x801a,
} as const;

export const TPM_GENERATED_VALUE = 0xff544347;

const ALG_NAMES: ReadonlyMap<number, string> = new Map([
  [Alg.UNKNOWN, 'AlgUnknown'],
  [Alg.RSA, 'RSA'],
  [Alg.SHA1, 'SHA1'],
  [Alg.HMAC, 'HMAC'],
  [Alg.AES, 'AES'],
  [Alg.KEYEDHASH, 'KeyedHash'],
  [Alg.XOR, 'XOR'],
  [Alg.SHA256, 'SHA256'],
  [Alg.SHA384, 'SHA384'],
  [Alg.SHA512, 'SHA512'],
  [Alg.NULL, 'AlgNull'],
  [Alg.RSASSA, 'RSASSA'],
  [Alg.RSAES, 'RSAES'],
  [Alg.RSAPSS, 'RSAPSS'],
  [Alg.OAEP, 'OAEP'],
  [Alg.ECDSA, 'ECDSA'],
  [Alg.ECDH, 'ECDH'],
  [Alg.ECDAA, 'ECDAA'],
  [Alg.KDF2, 'KDF2'],
  [Alg.ECC, 'ECC'],
  [Alg.SYMCIPHER, 'SymCipher'],
  [Alg.SHA3_256, 'SHA3_256'],
  [Alg.SHA3_384, 'SHA3_384'],
  [Alg.SHA3_512, 'SHA3_512'],
  [Alg.CTR, 'CTR'],
  [Alg.OFB, 'OFB'],
  [Alg.CBC, 'CBC'],
  [Alg.CFB, 'CFB'],
  [Alg.ECB, 'ECB'],
]);

/** go-tpm's `tpm2.Algorithm.String()`. */
export function algString(a: number): string {
  return ALG_NAMES.get(a) ?? `Alg?<${a}>`;
}

/** Go's `%x` of a `tpm2.Algorithm` (hex of its String(), see the file comment). */
export function algHex(a: number): string {
  return Buffer.from(algString(a), 'latin1').toString('hex');
}

/** A hash algorithm go-tpm's `Algorithm.Hash()` knows. */
export interface HashInfo {
  /** node:crypto algorithm name. */
  node: string;
  /** Go's `crypto.Hash.String()`. */
  goName: string;
  /** Digest size in bytes. */
  size: number;
}

/**
 * go-tpm's hashInfo table. SHA-3 counts as available: the deviation from a Go
 * binary that does not link SHA-3 is the text of an error for a structure
 * that is rejected either way (no SHA-3 hash is an allowed signature hash).
 */
const HASHES: ReadonlyMap<number, HashInfo> = new Map([
  [Alg.SHA1, { node: 'sha1', goName: 'SHA-1', size: 20 }],
  [Alg.SHA256, { node: 'sha256', goName: 'SHA-256', size: 32 }],
  [Alg.SHA384, { node: 'sha384', goName: 'SHA-384', size: 48 }],
  [Alg.SHA512, { node: 'sha512', goName: 'SHA-512', size: 64 }],
  [Alg.SHA3_256, { node: 'sha3-256', goName: 'SHA3-256', size: 32 }],
  [Alg.SHA3_384, { node: 'sha3-384', goName: 'SHA3-384', size: 48 }],
  [Alg.SHA3_512, { node: 'sha3-512', goName: 'SHA3-512', size: 64 }],
]);

/** go-tpm's `Algorithm.Hash()`: the hash or Go's error text. */
export function hashOf(a: number): HashInfo | string {
  return HASHES.get(a) ?? `hash algorithm not supported: 0x${algHex(a)}`;
}

/** Go's `%v` of a byte slice: `[1 2 3]`. */
export function goBytes(b: Uint8Array): string {
  return `[${b.join(' ')}]`;
}

/** Go's tpm2.Algorithm(x) conversion of a proto enum value (int32 → uint16). */
export function toAlg(hash: number): number {
  return hash & 0xffff;
}

/**
 * CertificateRequest.CheckSignature (join-protocol.md §4 step 10.3): Go's
 * getSignatureAlgorithmFromAI and checkSignature with allowSHA1 = true, with
 * Go's error texts. SHA-1 based signatures are accepted (CSRs are exempt from
 * Go's SHA-1 ban), MD5 is refused as insecure, MD2, DSA and unknown
 * algorithms are unimplemented. The signature itself is checked with
 * node:crypto; Go's crypto/rsa public-key checks (size, parity, exponent
 * range) come first, as in Go.
 */
import { constants, createPublicKey, verify, type KeyObject } from 'node:crypto';
import type { SubjectPublicKeyInfo } from '../certificate/public-key.js';
import {
  ALGORITHM_IDENTIFIER_FIELD,
  Class,
  contentBytes,
  GoAsn1Error,
  GoSlice,
  GoTag,
  INT_FIELD,
  parseAlgorithmIdentifierContent,
  parseInt64,
  parseTagAndLength,
  readField,
  unmarshalAlgorithmIdentifier,
  type FieldType,
  type GoAlgorithmIdentifier,
  type GoElement,
} from './go-asn1.js';
import { csrError } from './signing-errors.js';

type Hash = 'md5' | 'sha1' | 'sha256' | 'sha384' | 'sha512';
type PublicKeyAlgorithm = 'RSA' | 'DSA' | 'ECDSA' | 'Ed25519';

export interface SignatureAlgorithm {
  /** Go's SignatureAlgorithm.String(). */
  name: string;
  keyAlgorithm: PublicKeyAlgorithm;
  /** null: no pre-hashing (Ed25519) or a hash Go cannot compute (MD2). */
  hash: Hash | null;
  pss?: boolean;
}

const DETAILS: Readonly<Record<string, SignatureAlgorithm>> = {
  '1.2.840.113549.1.1.2': { name: 'MD2-RSA', keyAlgorithm: 'RSA', hash: null },
  '1.2.840.113549.1.1.4': { name: 'MD5-RSA', keyAlgorithm: 'RSA', hash: 'md5' },
  '1.2.840.113549.1.1.5': { name: 'SHA1-RSA', keyAlgorithm: 'RSA', hash: 'sha1' },
  '1.3.14.3.2.29': { name: 'SHA1-RSA', keyAlgorithm: 'RSA', hash: 'sha1' },
  '1.2.840.113549.1.1.11': { name: 'SHA256-RSA', keyAlgorithm: 'RSA', hash: 'sha256' },
  '1.2.840.113549.1.1.12': { name: 'SHA384-RSA', keyAlgorithm: 'RSA', hash: 'sha384' },
  '1.2.840.113549.1.1.13': { name: 'SHA512-RSA', keyAlgorithm: 'RSA', hash: 'sha512' },
  '1.2.840.10040.4.3': { name: 'DSA-SHA1', keyAlgorithm: 'DSA', hash: 'sha1' },
  '2.16.840.1.101.3.4.3.2': { name: 'DSA-SHA256', keyAlgorithm: 'DSA', hash: 'sha256' },
  '1.2.840.10045.4.1': { name: 'ECDSA-SHA1', keyAlgorithm: 'ECDSA', hash: 'sha1' },
  '1.2.840.10045.4.3.2': { name: 'ECDSA-SHA256', keyAlgorithm: 'ECDSA', hash: 'sha256' },
  '1.2.840.10045.4.3.3': { name: 'ECDSA-SHA384', keyAlgorithm: 'ECDSA', hash: 'sha384' },
  '1.2.840.10045.4.3.4': { name: 'ECDSA-SHA512', keyAlgorithm: 'ECDSA', hash: 'sha512' },
  '1.3.101.112': { name: 'Ed25519', keyAlgorithm: 'Ed25519', hash: null },
};

const OID_RSASSA_PSS = '1.2.840.113549.1.1.10';
const OID_ED25519 = '1.3.101.112';
const OID_MGF1 = '1.2.840.113549.1.1.8';
const PSS_HASHES: Readonly<Record<string, { hash: 'sha256' | 'sha384' | 'sha512'; saltLength: number }>> = {
  '2.16.840.1.101.3.4.2.1': { hash: 'sha256', saltLength: 32 },
  '2.16.840.1.101.3.4.2.2': { hash: 'sha384', saltLength: 48 },
  '2.16.840.1.101.3.4.2.3': { hash: 'sha512', saltLength: 64 },
};
const HASH_LENGTH: Readonly<Record<Hash, number>> = { md5: 16, sha1: 20, sha256: 32, sha384: 48, sha512: 64 };

export const ERR_UNSUPPORTED_ALGORITHM = 'x509: cannot verify signature: algorithm unimplemented';

/** Go's getSignatureAlgorithmFromAI; undefined is UnknownSignatureAlgorithm. */
export function signatureAlgorithmFromAi(ai: GoAlgorithmIdentifier): SignatureAlgorithm | undefined {
  if (ai.oid === OID_ED25519 && ai.params && ai.params.length !== 0) return undefined;
  if (ai.oid !== OID_RSASSA_PSS) return DETAILS[ai.oid];
  try {
    return pssAlgorithm(ai.params);
  } catch (err) {
    if (err instanceof GoAsn1Error) return undefined;
    throw err;
  }
}

const NULL_DER = '0500';

/** RSASSA-PSS-params restricted to Go's three buckets (asn1.Unmarshal into pssParameters). */
function pssAlgorithm(params: Uint8Array | undefined): SignatureAlgorithm | undefined {
  if (!params) return undefined;
  const top = readField(GoSlice.of(params), { tag: GoTag.Sequence, compound: true, name: 'pssParameters' })!;
  const s = GoSlice.inside(top);
  const hashAi = parseAlgorithmIdentifierContent(readExplicit(s, 0, ALGORITHM_IDENTIFIER_FIELD, false)!);
  const mgfAi = parseAlgorithmIdentifierContent(readExplicit(s, 1, ALGORITHM_IDENTIFIER_FIELD, false)!);
  const salt = parseInt64(contentBytes(readExplicit(s, 2, INT_FIELD, false)!));
  const trailerEl = readExplicit(s, 3, INT_FIELD, true);
  const trailer = trailerEl ? parseInt64(contentBytes(trailerEl)) : 1n;
  if (!mgfAi.params) return undefined;
  const mgfHash = unmarshalAlgorithmIdentifier(mgfAi.params);
  const nullOrAbsent = (p: Uint8Array | undefined): boolean => !p || p.length === 0 || Buffer.from(p).toString('hex') === NULL_DER;
  if (!nullOrAbsent(hashAi.params) || mgfAi.oid !== OID_MGF1 || mgfHash.oid !== hashAi.oid || !nullOrAbsent(mgfHash.params) || trailer !== 1n) {
    return undefined;
  }
  const h = PSS_HASHES[hashAi.oid];
  if (!h || salt !== BigInt(h.saltLength)) return undefined;
  return { name: `${h.hash.toUpperCase()}-RSAPSS`, keyAlgorithm: 'RSA', hash: h.hash, pss: true };
}

/** Go's parseField for an `asn1:"explicit,tag:N"` (optionally optional) field; errors only decide "unknown algorithm". */
function readExplicit(s: GoSlice, n: number, inner: FieldType, optional: boolean): GoElement | undefined {
  const init = s.pos;
  if (init === s.end) {
    if (optional) return undefined;
    throw new GoAsn1Error('sequence truncated');
  }
  const outer = parseTagAndLength(s.buf, init, s.end);
  if (outer.offset === s.end) throw new GoAsn1Error('explicit tag has no child');
  const t = outer.t;
  if (!(t.cls === Class.ContextSpecific && t.tag === n && (t.length === 0 || t.compound))) {
    if (optional) return undefined;
    throw new GoAsn1Error("explicitly tagged member didn't match");
  }
  if (t.length === 0) throw new GoAsn1Error('zero length explicit tag was not an asn1.Flag');
  const child = new GoSlice(s.buf, s.base, s.end, outer.offset);
  const el = readField(child, { ...inner, optional });
  if (!el) return undefined;
  s.pos = child.pos;
  return el;
}

const GO_KEY_TYPE: Readonly<Record<string, string>> = { rsa: '*rsa.PublicKey', ecdsa: '*ecdsa.PublicKey', ed25519: 'ed25519.PublicKey' };
const KEY_ALGORITHM: Readonly<Record<string, PublicKeyAlgorithm>> = { rsa: 'RSA', ecdsa: 'ECDSA', ed25519: 'Ed25519' };

/**
 * Go's checkSignature(algo, signed, signature, publicKey, allowSHA1=true).
 * `key` is the already imported key for ECDSA (imported while parsing, as Go
 * unmarshals the point then); other keys are imported here.
 */
export function checkCsrSignature(
  algorithm: SignatureAlgorithm | undefined,
  signed: Uint8Array,
  signature: Uint8Array,
  publicKey: SubjectPublicKeyInfo,
  imported: KeyObject | undefined,
): void {
  if (!algorithm) throw csrError(ERR_UNSUPPORTED_ALGORITHM);
  if (algorithm.hash === null && algorithm.keyAlgorithm !== 'Ed25519') throw csrError(ERR_UNSUPPORTED_ALGORITHM);
  if (algorithm.hash === 'md5') throw csrError(`x509: cannot verify signature: insecure algorithm ${algorithm.name}`);

  const keyType = publicKey.algorithm;
  if (keyType !== 'rsa' && keyType !== 'ecdsa' && keyType !== 'ed25519') throw csrError(ERR_UNSUPPORTED_ALGORITHM);
  if (algorithm.keyAlgorithm !== KEY_ALGORITHM[keyType]) {
    throw csrError(`x509: signature algorithm specifies an ${algorithm.keyAlgorithm} public key, but have public key of type ${GO_KEY_TYPE[keyType]}`);
  }
  if (keyType === 'rsa') checkRsaPublicKey(publicKey);

  let ok: boolean;
  try {
    const key = imported ?? createPublicKey({ key: Buffer.from(publicKey.raw), format: 'der', type: 'spki' });
    if (keyType === 'ecdsa') {
      ok = verify(algorithm.hash, signed, { key, dsaEncoding: 'der' }, signature);
    } else if (keyType === 'ed25519') {
      ok = verify(null, signed, key, signature);
    } else {
      // Go's crypto/rsa requires the signature to be exactly as long as the modulus.
      const modulusBytes = Math.ceil(publicKey.rsaModulusBits! / 8);
      ok =
        signature.length === modulusBytes &&
        verify(
          algorithm.hash,
          signed,
          algorithm.pss
            ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: HASH_LENGTH[algorithm.hash!] }
            : { key, padding: constants.RSA_PKCS1_PADDING },
          signature,
        );
    }
  } catch {
    ok = false;
  }
  if (!ok) {
    throw csrError(
      keyType === 'ecdsa' ? 'x509: ECDSA verification failure' : keyType === 'ed25519' ? 'x509: Ed25519 verification failure' : 'crypto/rsa: verification error',
    );
  }
}

/** crypto/rsa's checks before verifying: key size (rsa1024min), then the FIPS module's public-key checks. */
function checkRsaPublicKey(k: SubjectPublicKeyInfo): void {
  const bits = k.rsaModulusBits!;
  if (bits < 1024) throw csrError(`crypto/rsa: ${bits}-bit keys are insecure (see https://go.dev/pkg/crypto/rsa#hdr-Minimum_key_size)`);
  if (!k.rsaModulusOdd) throw csrError('crypto/rsa: public modulus is even');
  const e = k.rsaPublicExponent!;
  if (e < 2n) throw csrError('crypto/rsa: public exponent too small or negative');
  if ((e & 1n) === 0n) throw csrError('crypto/rsa: public exponent is even');
  if (e > 0x7fffffffn) throw csrError('crypto/rsa: public exponent too large');
}

/**
 * The cluster CA's private key (join-protocol.md §4 step 10.2): the first PEM
 * block of ca.key parsed by its block type the way the Go service does —
 * `EC PRIVATE KEY` with x509.ParseECPrivateKey (SEC 1), `RSA PRIVATE KEY` with
 * x509.ParsePKCS1PrivateKey, `PRIVATE KEY` with x509.ParsePKCS8PrivateKey;
 * anything else is `unsupported key type "<type>"`.
 *
 * The ASN.1 structures are decoded with Go's encoding/asn1 rules (go-asn1.ts)
 * so that malformed keys fail with Go's texts, including its "use
 * ParsePKCS8PrivateKey instead" hints. The accepted key is then re-encoded
 * canonically and imported into node:crypto, and a sign/verify self-test
 * stands in for Go's RSA key validation (Go's individual crypto/rsa
 * validation messages are not reproduced; a key failing the test gets our own
 * message).
 *
 * Also here: Go's signingParamsForKey, i.e. which signature algorithm the
 * issued certificate gets.
 */
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import * as der from '../../shared/der/encode.js';
import type { PemBlock } from '../../shared/pem.js';
import {
  ALGORITHM_IDENTIFIER_FIELD,
  BIG_INT_FIELD,
  BIT_STRING_FIELD,
  BYTES_FIELD,
  Class,
  contentBytes,
  GoAsn1Error,
  GoSlice,
  GoTag,
  INT_FIELD,
  OID_FIELD,
  OPTIONAL_PARAMS,
  parseAlgorithmIdentifierContent,
  parseBigInt,
  parseBitString,
  parseInt64,
  parseObjectIdentifier,
  parseTagAndLength,
  readField,
  readRequired,
  readSequenceOf,
  structuralError,
  syntaxError,
  type FieldType,
  type GoAlgorithmIdentifier,
  type GoElement,
} from './go-asn1.js';
import { goQuote } from './go-quote.js';
import { caError } from './signing-errors.js';

export type CaKeyKind = 'rsa' | 'ecdsa' | 'ed25519' | 'x25519';
export type SignatureHash = 'sha256' | 'sha384' | 'sha512';

export interface CaPrivateKey {
  kind: CaKeyKind;
  /** The node:crypto key (undefined for X25519, which Go cannot sign with either). */
  key: KeyObject | undefined;
  /** DER SubjectPublicKeyInfo of the matching public key (undefined for X25519). */
  spki: Uint8Array | undefined;
  /** The hash the certificate signature uses; null for Ed25519. */
  hash: SignatureHash | null;
  /** The signature AlgorithmIdentifier element for TBSCertificate and Certificate. */
  signatureAlgorithm: Uint8Array | undefined;
  /** Go's name for the signature algorithm, for logs. */
  signatureAlgorithmName: string | undefined;
}

const OID_RSA = '1.2.840.113549.1.1.1';
const OID_EC = '1.2.840.10045.2.1';
const OID_ED25519 = '1.3.101.112';
const OID_X25519 = '1.3.101.110';

interface Curve {
  name: string;
  /** The curve order n, big-endian, at the curve's scalar length. */
  order: bigint;
  bytes: number;
  hash: SignatureHash;
}

const CURVES: Readonly<Record<string, Curve>> = {
  '1.3.132.0.33': { name: 'P-224', order: 0xffffffffffffffffffffffffffff16a2e0b8f03e13dd29455c5c2a3dn, bytes: 28, hash: 'sha256' },
  '1.2.840.10045.3.1.7': {
    name: 'P-256',
    order: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
    bytes: 32,
    hash: 'sha256',
  },
  '1.3.132.0.34': {
    name: 'P-384',
    order: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
    bytes: 48,
    hash: 'sha384',
  },
  '1.3.132.0.35': {
    name: 'P-521',
    order:
      0x01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
    bytes: 66,
    hash: 'sha512',
  },
};

const SIGNATURE_ALGORITHMS = {
  rsa: { oid: '1.2.840.113549.1.1.11', name: 'SHA256-RSA', nullParams: true },
  sha256: { oid: '1.2.840.10045.4.3.2', name: 'ECDSA-SHA256', nullParams: false },
  sha384: { oid: '1.2.840.10045.4.3.3', name: 'ECDSA-SHA384', nullParams: false },
  sha512: { oid: '1.2.840.10045.4.3.4', name: 'ECDSA-SHA512', nullParams: false },
  ed25519: { oid: OID_ED25519, name: 'Ed25519', nullParams: false },
} as const;

/** Parses the first PEM block of ca.key by its type, as the Go service does. */
export function parseCaPrivateKey(block: PemBlock): CaPrivateKey {
  const bytes = new Uint8Array(block.bytes.buffer, block.bytes.byteOffset, block.bytes.byteLength);
  let key: ParsedKey;
  try {
    switch (block.type) {
      case 'EC PRIVATE KEY':
        key = parseEcPrivateKey(bytes, undefined);
        break;
      case 'RSA PRIVATE KEY':
        key = parsePkcs1PrivateKey(bytes);
        break;
      case 'PRIVATE KEY':
        key = parsePkcs8PrivateKey(bytes);
        break;
      default:
        throw caError(`unsupported key type ${goQuote(Buffer.from(block.type, 'latin1'))}`);
    }
  } catch (err) {
    if (err instanceof GoAsn1Error) throw caError(err.message);
    throw err;
  }
  return importKey(key);
}

// ---- Go's parsers ---------------------------------------------------------------

type ParsedKey =
  | { kind: 'rsa'; pkcs1: Uint8Array }
  | { kind: 'ecdsa'; curveOid: string; curve: Curve; scalar: Uint8Array }
  | { kind: 'ed25519'; seed: Uint8Array }
  | { kind: 'x25519' };

const failure = (message: string): GoAsn1Error => new GoAsn1Error(message);

/** x509.ParseECPrivateKey / parseECPrivateKey(namedCurveOID, der). */
function parseEcPrivateKey(bytes: Uint8Array, namedCurveOid: string | undefined): ParsedKey {
  let ec: EcStructure;
  try {
    ec = unmarshalEcPrivateKey(bytes);
  } catch (err) {
    if (!(err instanceof GoAsn1Error)) throw err;
    if (succeeds(() => unmarshalPkcs8(bytes))) throw failure('x509: failed to parse private key (use ParsePKCS8PrivateKey instead for this key format)');
    if (succeeds(() => unmarshalPkcs1(bytes))) throw failure('x509: failed to parse private key (use ParsePKCS1PrivateKey instead for this key format)');
    throw failure(`x509: failed to parse EC private key: ${err.message}`);
  }
  if (ec.version !== 1n) throw failure(`x509: unknown EC private key version ${ec.version}`);
  const curveOid = namedCurveOid ?? ec.curveOid;
  const curve = curveOid === undefined ? undefined : CURVES[curveOid];
  if (!curve || curveOid === undefined) throw failure('x509: unknown elliptic curve');
  let k = 0n;
  for (const b of ec.privateKey) k = (k << 8n) | BigInt(b);
  if (k >= curve.order) throw failure('x509: invalid elliptic curve private key value');
  let scalar = ec.privateKey;
  // Leading zero padding is tolerated, as are missing leading zeros (both as in Go).
  while (scalar.length > curve.bytes) {
    if (scalar[0] !== 0) throw failure('x509: invalid private key length');
    scalar = scalar.subarray(1);
  }
  const padded = new Uint8Array(curve.bytes);
  padded.set(scalar, curve.bytes - scalar.length);
  return { kind: 'ecdsa', curveOid, curve, scalar: padded };
}

/** x509.ParsePKCS1PrivateKey. */
function parsePkcs1PrivateKey(bytes: Uint8Array): ParsedKey {
  let key: Pkcs1Structure;
  try {
    key = unmarshalPkcs1(bytes);
  } catch (err) {
    if (!(err instanceof GoAsn1Error)) throw err;
    if (succeeds(() => unmarshalEcPrivateKey(bytes))) throw failure('x509: failed to parse private key (use ParseECPrivateKey instead for this key format)');
    if (succeeds(() => unmarshalPkcs8(bytes))) throw failure('x509: failed to parse private key (use ParsePKCS8PrivateKey instead for this key format)');
    throw err;
  }
  if (key.rest > 0) throw syntaxError('trailing data');
  if (key.version > 1n) throw failure('x509: unsupported private key version');
  if (key.n <= 0n || key.d <= 0n || key.p <= 0n || key.q <= 0n) throw failure('x509: private key contains zero or negative value');
  if (key.additionalPrimes.some((p) => p <= 0n)) throw failure('x509: private key contains zero or negative prime');
  return { kind: 'rsa', pkcs1: bytes };
}

/** x509.ParsePKCS8PrivateKey. */
function parsePkcs8PrivateKey(bytes: Uint8Array): ParsedKey {
  let p8: Pkcs8Structure;
  try {
    p8 = unmarshalPkcs8(bytes);
  } catch (err) {
    if (!(err instanceof GoAsn1Error)) throw err;
    if (succeeds(() => unmarshalEcPrivateKey(bytes))) throw failure('x509: failed to parse private key (use ParseECPrivateKey instead for this key format)');
    if (succeeds(() => unmarshalPkcs1(bytes))) throw failure('x509: failed to parse private key (use ParsePKCS1PrivateKey instead for this key format)');
    throw err;
  }
  switch (p8.algorithm.oid) {
    case OID_RSA:
      return nested('x509: failed to parse RSA private key embedded in PKCS#8: ', () => parsePkcs1PrivateKey(p8.privateKey));
    case OID_EC: {
      let curveOid: string | undefined;
      try {
        curveOid = p8.algorithm.params ? unmarshalOid(p8.algorithm.params) : undefined;
      } catch {
        curveOid = undefined;
      }
      return nested('x509: failed to parse EC private key embedded in PKCS#8: ', () => parseEcPrivateKey(p8.privateKey, curveOid));
    }
    case OID_ED25519: {
      if (p8.algorithm.params && p8.algorithm.params.length !== 0) throw failure('x509: invalid Ed25519 private key parameters');
      let seed: Uint8Array;
      try {
        seed = unmarshalOctetString(p8.privateKey);
      } catch (err) {
        throw failure(`x509: invalid Ed25519 private key: ${(err as Error).message}`);
      }
      if (seed.length !== 32) throw failure(`x509: invalid Ed25519 private key length: ${seed.length}`);
      return { kind: 'ed25519', seed };
    }
    case OID_X25519: {
      if (p8.algorithm.params && p8.algorithm.params.length !== 0) throw failure('x509: invalid X25519 private key parameters');
      let scalar: Uint8Array;
      try {
        scalar = unmarshalOctetString(p8.privateKey);
      } catch (err) {
        throw failure(`x509: invalid X25519 private key: ${(err as Error).message}`);
      }
      if (scalar.length !== 32) throw failure('crypto/ecdh: invalid private key size');
      return { kind: 'x25519' };
    }
    default:
      throw failure(`x509: PKCS#8 wrapping contained private key with unknown algorithm: ${p8.algorithm.oid}`);
  }
}

function nested(prefix: string, fn: () => ParsedKey): ParsedKey {
  try {
    return fn();
  } catch (err) {
    if (err instanceof GoAsn1Error) throw failure(prefix + err.message);
    throw err;
  }
}

function succeeds(fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch (err) {
    if (err instanceof GoAsn1Error) return false;
    throw err;
  }
}

// ---- the encoding/asn1 structures -----------------------------------------------

interface EcStructure {
  version: bigint;
  privateKey: Uint8Array;
  curveOid: string | undefined;
}

/** asn1.Unmarshal(der, &ecPrivateKey{}) (trailing data ignored, as Go ignores it here). */
function unmarshalEcPrivateKey(bytes: Uint8Array): EcStructure {
  const top = readRequired(GoSlice.of(bytes), { tag: GoTag.Sequence, compound: true, name: 'ecPrivateKey' });
  const s = GoSlice.inside(top);
  const version = parseInt64(contentBytes(readRequired(s, INT_FIELD)));
  const privateKey = contentBytes(readRequired(s, BYTES_FIELD));
  const oidEl = readExplicitOptional(s, 0, OID_FIELD);
  const curveOid = oidEl ? parseObjectIdentifier(contentBytes(oidEl)) : undefined;
  const pub = readExplicitOptional(s, 1, BIT_STRING_FIELD);
  if (pub) parseBitString(contentBytes(pub));
  return { version, privateKey, curveOid };
}

interface Pkcs1Structure {
  version: bigint;
  n: bigint;
  d: bigint;
  p: bigint;
  q: bigint;
  additionalPrimes: bigint[];
  /** Bytes after the structure. */
  rest: number;
}

const OPTIONAL_BIG_INT: FieldType = { ...BIG_INT_FIELD, optional: true, params: OPTIONAL_PARAMS };

/** asn1.Unmarshal(der, &pkcs1PrivateKey{}). */
function unmarshalPkcs1(bytes: Uint8Array): Pkcs1Structure {
  const input = GoSlice.of(bytes);
  const top = readRequired(input, { tag: GoTag.Sequence, compound: true, name: 'pkcs1PrivateKey' });
  const s = GoSlice.inside(top);
  const version = parseInt64(contentBytes(readRequired(s, INT_FIELD)));
  const n = parseBigInt(contentBytes(readRequired(s, BIG_INT_FIELD)));
  parseInt64(contentBytes(readRequired(s, INT_FIELD))); // E
  const d = parseBigInt(contentBytes(readRequired(s, BIG_INT_FIELD)));
  const p = parseBigInt(contentBytes(readRequired(s, BIG_INT_FIELD)));
  const q = parseBigInt(contentBytes(readRequired(s, BIG_INT_FIELD)));
  for (let i = 0; i < 3; i++) {
    const el = readField(s, OPTIONAL_BIG_INT); // Dp, Dq, Qinv
    if (el) parseBigInt(contentBytes(el));
  }
  const additionalPrimes: bigint[] = [];
  const primes = readField(s, { tag: GoTag.Sequence, compound: true, name: '', optional: true });
  if (primes) {
    for (const el of readSequenceOf(GoSlice.inside(primes), { tag: GoTag.Sequence, compound: true })) {
      const ps = GoSlice.inside(el);
      additionalPrimes.push(parseBigInt(contentBytes(readRequired(ps, BIG_INT_FIELD))));
      parseBigInt(contentBytes(readRequired(ps, BIG_INT_FIELD)));
      parseBigInt(contentBytes(readRequired(ps, BIG_INT_FIELD)));
    }
  }
  return { version, n, d, p, q, additionalPrimes, rest: bytes.length - input.pos };
}

interface Pkcs8Structure {
  algorithm: GoAlgorithmIdentifier;
  privateKey: Uint8Array;
}

/** asn1.Unmarshal(der, &pkcs8{}). */
function unmarshalPkcs8(bytes: Uint8Array): Pkcs8Structure {
  const top = readRequired(GoSlice.of(bytes), { tag: GoTag.Sequence, compound: true, name: 'pkcs8' });
  const s = GoSlice.inside(top);
  parseInt64(contentBytes(readRequired(s, INT_FIELD)));
  const algorithm = parseAlgorithmIdentifierContent(readRequired(s, ALGORITHM_IDENTIFIER_FIELD));
  const privateKey = contentBytes(readRequired(s, BYTES_FIELD));
  return { algorithm, privateKey };
}

function unmarshalOid(bytes: Uint8Array): string {
  return parseObjectIdentifier(contentBytes(readRequired(GoSlice.of(bytes), OID_FIELD)));
}

function unmarshalOctetString(bytes: Uint8Array): Uint8Array {
  return contentBytes(readRequired(GoSlice.of(bytes), BYTES_FIELD));
}

/**
 * Go's parseField for an `asn1:"optional,explicit,tag:N"` field: the [N]
 * wrapper, then the inner element, which (as in Go) is where parsing continues.
 */
function readExplicitOptional(s: GoSlice, n: number, inner: FieldType): GoElement | undefined {
  const init = s.pos;
  if (init === s.end) return undefined;
  const outer = parseTagAndLength(s.buf, init, s.end);
  if (outer.offset === s.end) throw structuralError('explicit tag has no child');
  const t = outer.t;
  if (!(t.cls === Class.ContextSpecific && t.tag === n && (t.length === 0 || t.compound))) return undefined;
  if (t.length === 0) throw structuralError('zero length explicit tag was not an asn1.Flag');
  const child = new GoSlice(s.buf, s.base, s.end, outer.offset);
  const el = readField(child, { ...inner, optional: true });
  if (!el) return undefined;
  s.pos = child.pos;
  return el;
}

// ---- node:crypto import -------------------------------------------------------------

function importKey(parsed: ParsedKey): CaPrivateKey {
  if (parsed.kind === 'x25519') {
    return { kind: 'x25519', key: undefined, spki: undefined, hash: null, signatureAlgorithm: undefined, signatureAlgorithmName: undefined };
  }
  let key: KeyObject;
  try {
    key = createNodeKey(parsed);
  } catch {
    throw caError(`x509: failed to parse ${parsed.kind === 'rsa' ? 'RSA' : parsed.kind === 'ecdsa' ? 'EC' : 'Ed25519'} private key: invalid key`);
  }
  const spki = new Uint8Array(createPublicKey(key).export({ format: 'der', type: 'spki' }));
  const hash: SignatureHash | null = parsed.kind === 'rsa' ? 'sha256' : parsed.kind === 'ecdsa' ? parsed.curve.hash : null;
  const alg = parsed.kind === 'rsa' ? SIGNATURE_ALGORITHMS.rsa : parsed.kind === 'ecdsa' ? SIGNATURE_ALGORITHMS[parsed.curve.hash] : SIGNATURE_ALGORITHMS.ed25519;
  const signatureAlgorithm = alg.nullParams ? der.sequence(der.oid(alg.oid), Uint8Array.of(0x05, 0x00)) : der.sequence(der.oid(alg.oid));
  const ca: CaPrivateKey = { kind: parsed.kind, key, spki, hash, signatureAlgorithm, signatureAlgorithmName: alg.name };
  selfTest(ca);
  return ca;
}

function createNodeKey(parsed: Exclude<ParsedKey, { kind: 'x25519' }>): KeyObject {
  switch (parsed.kind) {
    case 'rsa':
      return createPrivateKey({ key: Buffer.from(parsed.pkcs1), format: 'der', type: 'pkcs1' });
    case 'ecdsa': {
      // Canonical SEC 1 without the public key: OpenSSL derives it from the scalar.
      const sec1 = der.sequence(der.integer(1), der.octetString(parsed.scalar), der.explicit(0, der.oid(parsed.curveOid)));
      return createPrivateKey({ key: Buffer.from(sec1), format: 'der', type: 'sec1' });
    }
    case 'ed25519': {
      const pkcs8 = der.sequence(der.integer(0), der.sequence(der.oid(OID_ED25519)), der.octetString(der.octetString(parsed.seed)));
      return createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' });
    }
  }
}

/** A pairwise-consistency test once per parsed key, in place of Go's key validation. */
function selfTest(ca: CaPrivateKey): void {
  const message = Buffer.from('kubelet certificate CA key self-test');
  let ok = false;
  try {
    const pub = createPublicKey(ca.key!);
    const signature = sign(ca.hash, message, ca.key!);
    ok = verify(ca.hash, message, pub, signature);
  } catch {
    ok = false;
  }
  if (!ok) throw caError(`x509: the ${ca.kind === 'rsa' ? 'RSA' : ca.kind === 'ecdsa' ? 'EC' : 'Ed25519'} private key is invalid (sign/verify self-test failed)`);
}

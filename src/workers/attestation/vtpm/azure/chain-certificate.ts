/**
 * A certificate as Go's x509.Certificate.Verify sees it: the repository's
 * Go-compatible parser (src/workers/certificate/parse-certificate.ts, which
 * applies x509.ParseCertificate's checks and error texts and records the
 * unhandled critical extensions) plus the fields chain building reads and that
 * parser does not expose: RawIssuer, serial number, subject CommonName and
 * Organization (for UnknownAuthorityError's hint), SubjectKeyId,
 * AuthorityKeyId, basic constraints, key usage, the presence of name
 * constraints, the SAN extension, policy constraints / mappings, the
 * SignatureAlgorithm Go derives from the AlgorithmIdentifier and the
 * signature bits (BitString.RightAlign).
 *
 * Every extension value read here has already passed the parser's checks, so
 * the readers below only extract; a failure to extract is still reported as a
 * parse error (CertParse) rather than assumed away.
 */
import type { KeyObject } from 'node:crypto';
import { ErrorCode, JoinServiceError } from '../../../../shared/errors.js';
import { contentOf, DerCursor, elementBytes, readBigInteger, readBitString, readBoolean, readInt64, readOid, T } from '../../../certificate/der-cursor.js';
import { parseCertificate, type ParsedCertificate } from '../../../certificate/parse-certificate.js';
import { importPublicKey } from '../../../certificate/public-key.js';
import { nameAttributes } from '../../../certificate/x509-name.js';

/** Go's crypto.Hash values that matter here; null is crypto.Hash(0). */
export type GoHash = 'md5' | 'sha1' | 'sha256' | 'sha384' | 'sha512' | null;
/** Go's PublicKeyAlgorithm a SignatureAlgorithm names. */
export type SigKeyAlgorithm = 'RSA' | 'DSA' | 'ECDSA' | 'Ed25519';

/** One row of Go's signatureAlgorithmDetails, or Go's UnknownSignatureAlgorithm (`name` "0"). */
export interface GoSignatureAlgorithm {
  /** SignatureAlgorithm.String(), e.g. "SHA256-RSA"; "0" for UnknownSignatureAlgorithm. */
  name: string;
  key: SigKeyAlgorithm | null;
  hash: GoHash;
  pss: boolean;
}

export const UNKNOWN_SIGNATURE_ALGORITHM: GoSignatureAlgorithm = { name: '0', key: null, hash: null, pss: false };

const SIGNATURE_ALGORITHMS: ReadonlyMap<string, GoSignatureAlgorithm> = new Map([
  ['1.2.840.113549.1.1.2', { name: 'MD2-RSA', key: 'RSA', hash: null, pss: false }],
  ['1.2.840.113549.1.1.4', { name: 'MD5-RSA', key: 'RSA', hash: 'md5', pss: false }],
  ['1.2.840.113549.1.1.5', { name: 'SHA1-RSA', key: 'RSA', hash: 'sha1', pss: false }],
  ['1.3.14.3.2.29', { name: 'SHA1-RSA', key: 'RSA', hash: 'sha1', pss: false }],
  ['1.2.840.113549.1.1.11', { name: 'SHA256-RSA', key: 'RSA', hash: 'sha256', pss: false }],
  ['1.2.840.113549.1.1.12', { name: 'SHA384-RSA', key: 'RSA', hash: 'sha384', pss: false }],
  ['1.2.840.113549.1.1.13', { name: 'SHA512-RSA', key: 'RSA', hash: 'sha512', pss: false }],
  ['1.2.840.10040.4.3', { name: 'DSA-SHA1', key: 'DSA', hash: 'sha1', pss: false }],
  ['2.16.840.1.101.3.4.3.2', { name: 'DSA-SHA256', key: 'DSA', hash: 'sha256', pss: false }],
  ['1.2.840.10045.4.1', { name: 'ECDSA-SHA1', key: 'ECDSA', hash: 'sha1', pss: false }],
  ['1.2.840.10045.4.3.2', { name: 'ECDSA-SHA256', key: 'ECDSA', hash: 'sha256', pss: false }],
  ['1.2.840.10045.4.3.3', { name: 'ECDSA-SHA384', key: 'ECDSA', hash: 'sha384', pss: false }],
  ['1.2.840.10045.4.3.4', { name: 'ECDSA-SHA512', key: 'ECDSA', hash: 'sha512', pss: false }],
  ['1.3.101.112', { name: 'Ed25519', key: 'Ed25519', hash: null, pss: false }],
]);

const OID_RSASSA_PSS = '1.2.840.113549.1.1.10';
const OID_MGF1 = '1.2.840.113549.1.1.8';
const PSS_HASHES: Readonly<Record<string, { hash: 'sha256' | 'sha384' | 'sha512'; salt: bigint; name: string }>> = {
  '2.16.840.1.101.3.4.2.1': { hash: 'sha256', salt: 32n, name: 'SHA256-RSAPSS' },
  '2.16.840.1.101.3.4.2.2': { hash: 'sha384', salt: 48n, name: 'SHA384-RSAPSS' },
  '2.16.840.1.101.3.4.2.3': { hash: 'sha512', salt: 64n, name: 'SHA512-RSAPSS' },
};

export interface BasicConstraints {
  /** Go's BasicConstraintsValid: the extension is present. */
  valid: boolean;
  isCA: boolean;
  /** Go's MaxPathLen: -1 when absent (negative values mean "no limit" in Verify as well). */
  maxPathLen: bigint;
}

export interface ChainCertificate {
  parsed: ParsedCertificate;
  raw: Uint8Array;
  rawIssuer: Uint8Array;
  rawSubject: Uint8Array;
  serial: bigint;
  /** The last CN of the subject (Go's Subject.CommonName) as the bytes of the Go string; empty when none. */
  commonName: Uint8Array;
  /** The subject's O values in order (Go's Subject.Organization), as Go string bytes. */
  organization: Uint8Array[];
  /** Empty when absent (Go's nil). */
  subjectKeyId: Uint8Array;
  /** Empty when absent. */
  authorityKeyId: Uint8Array;
  basicConstraints: BasicConstraints;
  /** Go's KeyUsage bit set (bits 0–8, keyCertSign = 1 << 5); 0 when absent. */
  keyUsage: number;
  hasNameConstraints: boolean;
  /** The subjectAltName extension value, if present. */
  subjectAltName: Uint8Array | undefined;
  /** policyConstraints requireExplicitPolicy ([0]), if present. */
  requireExplicitPolicy: bigint | undefined;
  hasPolicyMappings: boolean;
  signatureAlgorithm: GoSignatureAlgorithm;
  /** Go's Certificate.Signature (BitString.RightAlign()). */
  signature: Uint8Array;
  /** The imported key; undefined for key algorithms Go leaves as a nil PublicKey. */
  publicKey: KeyObject | undefined;
}

export const KEY_USAGE_CERT_SIGN = 1 << 5;

function parseError(message: string): JoinServiceError {
  return new JoinServiceError(ErrorCode.CertParse, message);
}

/** x509.ParseCertificate plus the fields Verify reads; throws CertParse with Go's text. */
export function analyseCertificate(der: Uint8Array): ChainCertificate {
  const parsed = parseCertificate(der);
  const { rawIssuer, serial } = readIssuerAndSerial(parsed.tbs);
  const names = subjectNames(parsed.rawSubject);
  const out: ChainCertificate = {
    parsed,
    raw: parsed.raw,
    rawIssuer,
    rawSubject: parsed.rawSubject,
    serial,
    commonName: names.commonName,
    organization: names.organization,
    subjectKeyId: new Uint8Array(0),
    authorityKeyId: new Uint8Array(0),
    basicConstraints: { valid: false, isCA: false, maxPathLen: -1n },
    keyUsage: 0,
    hasNameConstraints: false,
    subjectAltName: undefined,
    requireExplicitPolicy: undefined,
    hasPolicyMappings: false,
    signatureAlgorithm: goSignatureAlgorithm(parsed.signatureAlgorithm.oid, parsed.signatureAlgorithm.params),
    signature: rightAlign(parsed.signature.bytes, parsed.signature.unusedBits),
    publicKey: undefined,
  };
  for (const e of parsed.extensions) {
    switch (e.oid) {
      case '2.5.29.14':
        out.subjectKeyId = readSubjectKeyId(e.value);
        break;
      case '2.5.29.35':
        out.authorityKeyId = readAuthorityKeyId(e.value);
        break;
      case '2.5.29.19':
        out.basicConstraints = readBasicConstraints(e.value);
        break;
      case '2.5.29.15':
        out.keyUsage = readKeyUsage(e.value);
        break;
      case '2.5.29.30':
        out.hasNameConstraints = true;
        break;
      case '2.5.29.17':
        out.subjectAltName = e.value;
        break;
      case '2.5.29.36':
        out.requireExplicitPolicy = readRequireExplicitPolicy(e.value);
        break;
      case '2.5.29.33':
        out.hasPolicyMappings = true;
        break;
    }
  }
  const alg = parsed.publicKey.algorithm;
  // Go parses these into a non-nil PublicKey (an invalid point or key is a parse error there too).
  if (alg === 'rsa' || alg === 'ecdsa' || alg === 'ed25519') out.publicKey = importPublicKey(parsed.publicKey);
  return out;
}

/** The TBSCertificate's serialNumber and issuer (the parser has validated both). */
function readIssuerAndSerial(tbs: Uint8Array): { rawIssuer: Uint8Array; serial: bigint } {
  const seq = DerCursor.of(tbs).read(T.Sequence);
  if (!seq) throw parseError('x509: malformed tbs certificate');
  const c = DerCursor.inside(seq);
  if (c.peekTag() === 0xa0) c.readAny();
  const serial = readBigInteger(c);
  c.read(T.Sequence); // signature AlgorithmIdentifier
  const issuer = c.read(T.Sequence);
  if (serial === undefined || !issuer) throw parseError('x509: malformed issuer');
  return { rawIssuer: elementBytes(issuer), serial };
}

/** Go's FillFromRDNSequence for CN (last one wins) and O (all, in order). */
function subjectNames(rawSubject: Uint8Array): { commonName: Uint8Array; organization: Uint8Array[] } {
  let commonName: Uint8Array = new Uint8Array(0);
  const organization: Uint8Array[] = [];
  for (const { oid, tag, content } of nameAttributes(rawSubject)) {
    if (oid !== '2.5.4.3' && oid !== '2.5.4.10') continue;
    const text = attributeString(tag, content);
    if (text === undefined) continue;
    if (oid === '2.5.4.3') commonName = text;
    else organization.push(text);
  }
  return { commonName, organization };
}

/**
 * The bytes of the Go string parseASN1String yields: the content as is for
 * the 8-bit string types (Go does not transcode T61String), UTF-8 for a
 * BMPString. Other values are not strings for FillFromRDNSequence either.
 */
function attributeString(tag: number, v: Uint8Array): Uint8Array | undefined {
  switch (tag) {
    case T.BmpString: {
      if (v.length % 2 !== 0) return undefined;
      const swapped = Buffer.from(v).swap16();
      return Buffer.from(swapped.toString('utf16le'), 'utf8');
    }
    case T.T61String:
    case T.PrintableString:
    case T.Utf8String:
    case T.Ia5String:
    case T.NumericString:
      return v;
    default:
      return undefined;
  }
}

function readSubjectKeyId(value: Uint8Array): Uint8Array {
  const el = DerCursor.of(value).read(T.OctetString);
  if (!el) throw parseError('x509: invalid subject key identifier');
  return contentOf(el);
}

function readAuthorityKeyId(value: Uint8Array): Uint8Array {
  const seq = DerCursor.of(value).read(T.Sequence);
  if (!seq) throw parseError('x509: invalid authority key identifier');
  const c = DerCursor.inside(seq);
  if (c.peekTag() !== 0x80) return new Uint8Array(0);
  const id = c.read(0x80);
  if (!id) throw parseError('x509: invalid authority key identifier');
  return contentOf(id);
}

/** Go's parseBasicConstraintsExtension: optional BOOLEAN cA, optional INTEGER pathLen (any int64). */
function readBasicConstraints(value: Uint8Array): BasicConstraints {
  const seq = DerCursor.of(value).read(T.Sequence);
  if (!seq) throw parseError('x509: invalid basic constraints');
  const c = DerCursor.inside(seq);
  let isCA = false;
  if (c.peekTag() === T.Boolean) {
    const b = readBoolean(c);
    if (b === undefined) throw parseError('x509: invalid basic constraints');
    isCA = b;
  }
  let maxPathLen = -1n;
  if (c.peekTag() === T.Integer) {
    const n = readInt64(c);
    if (n === undefined) throw parseError('x509: invalid basic constraints');
    maxPathLen = n;
  }
  return { valid: true, isCA, maxPathLen };
}

/** Go's parseKeyUsageExtension: bits 0–8 of the BIT STRING (asn1.BitString.At). */
function readKeyUsage(value: Uint8Array): number {
  const bits = readBitString(DerCursor.of(value));
  if (!bits) throw parseError('x509: invalid key usage');
  const bitLength = bits.bytes.length * 8 - bits.unusedBits;
  let usage = 0;
  for (let i = 0; i < 9; i++) {
    if (i < bitLength && (bits.bytes[i >> 3]! >> (7 - (i & 7))) & 1) usage |= 1 << i;
  }
  return usage;
}

/** policyConstraints: the requireExplicitPolicy [0] INTEGER, if present. */
function readRequireExplicitPolicy(value: Uint8Array): bigint | undefined {
  const seq = DerCursor.of(value).read(T.Sequence);
  if (!seq) throw parseError('x509: invalid policy constraints extension');
  const c = DerCursor.inside(seq);
  if (c.peekTag() !== 0x80) return undefined;
  const v = readInt64(c, 0x80);
  if (v === undefined) throw parseError('x509: invalid policy constraints extension');
  return v;
}

/** asn1.BitString.RightAlign. */
function rightAlign(bytes: Uint8Array, unusedBits: number): Uint8Array {
  if (unusedBits === 0 || bytes.length === 0) return bytes;
  const shift = unusedBits;
  const out = new Uint8Array(bytes.length);
  out[0] = bytes[0]! >> shift;
  for (let i = 1; i < bytes.length; i++) {
    out[i] = ((bytes[i - 1]! << (8 - shift)) | (bytes[i]! >> shift)) & 0xff;
  }
  return out;
}

/**
 * Go's getSignatureAlgorithmFromAI: Ed25519 only without parameters; the
 * other fixed OIDs regardless of parameters; RSASSA-PSS only in its three
 * shapes (hash SHA-256/384/512 with absent or NULL parameters, MGF1 with the
 * same hash, salt length = hash length, trailer field 1). Anything else is
 * UnknownSignatureAlgorithm, which fails later with "algorithm unimplemented".
 */
export function goSignatureAlgorithm(oid: string, params: Uint8Array | undefined): GoSignatureAlgorithm {
  if (oid === OID_RSASSA_PSS) return pssAlgorithm(params) ?? UNKNOWN_SIGNATURE_ALGORITHM;
  const alg = SIGNATURE_ALGORITHMS.get(oid);
  if (!alg) return UNKNOWN_SIGNATURE_ALGORITHM;
  if (alg.key === 'Ed25519' && params !== undefined && params.length > 0) return UNKNOWN_SIGNATURE_ALGORITHM;
  return alg;
}

function pssAlgorithm(params: Uint8Array | undefined): GoSignatureAlgorithm | undefined {
  if (!params) return undefined;
  const top = DerCursor.of(params).read(T.Sequence);
  if (!top) return undefined;
  const c = DerCursor.inside(top);
  const hashAi = c.read(0xa0);
  const mgfAi = c.read(0xa1);
  const saltEl = c.read(0xa2);
  const trailerEl = c.readOptional(0xa3);
  if (!hashAi || !mgfAi || !saltEl || trailerEl === false || !c.empty()) return undefined;

  const hash = readAlgorithmIdentifier(DerCursor.inside(hashAi));
  const mgf = readAlgorithmIdentifier(DerCursor.inside(mgfAi));
  if (!hash || !mgf || mgf.oid !== OID_MGF1 || !nullOrAbsent(hash.params) || !mgf.params) return undefined;
  const mgfHash = readAlgorithmIdentifier(DerCursor.of(mgf.params));
  if (!mgfHash || mgfHash.oid !== hash.oid || !nullOrAbsent(mgfHash.params)) return undefined;

  const salt = readInt64(DerCursor.inside(saltEl));
  const trailer = trailerEl ? readInt64(DerCursor.inside(trailerEl)) : 1n;
  if (salt === undefined || trailer !== 1n) return undefined;
  const h = PSS_HASHES[hash.oid];
  if (!h || salt !== h.salt) return undefined;
  return { name: h.name, key: 'RSA', hash: h.hash, pss: true };
}

function readAlgorithmIdentifier(c: DerCursor): { oid: string; params: Uint8Array | undefined } | undefined {
  const seq = c.read(T.Sequence);
  if (!seq) return undefined;
  const ic = DerCursor.inside(seq);
  const oid = readOid(ic);
  if (oid === undefined) return undefined;
  if (ic.empty()) return { oid, params: undefined };
  const p = ic.readAny();
  if (!p || !ic.empty()) return undefined;
  return { oid, params: elementBytes(p) };
}

function nullOrAbsent(params: Uint8Array | undefined): boolean {
  return params === undefined || (params.length === 2 && params[0] === 0x05 && params[1] === 0x00);
}

/** The name UnknownAuthorityError uses for a candidate: CN, else the first O, else "serial:<decimal>" (Go string bytes). */
export function hintName(cert: ChainCertificate): Uint8Array {
  if (cert.commonName.length > 0) return cert.commonName;
  if (cert.organization.length > 0) return cert.organization[0]!;
  return Buffer.from(`serial:${cert.serial.toString()}`, 'latin1');
}

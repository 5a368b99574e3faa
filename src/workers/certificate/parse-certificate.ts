/**
 * Parses a DER certificate with the acceptance rules of Go's
 * x509.ParseCertificate (crypto/x509/parser.go, Go 1.24): the same structure
 * checks in the same order, with Go's error texts, including Go's leniencies
 * (trailing elements inside TBSCertificate and after the signature are
 * ignored; only trailing bytes after the certificate are an error). Every
 * failure is a JoinServiceError with ErrorCode.CertParse.
 *
 * Built on the small bounds-checked DER reader rather than an ASN.1 schema
 * library: it is several times faster on this per-handshake path (see
 * bench/micro/parse-certificate.ts) and lets us mirror Go's exact rules.
 */
import type { DerElement } from '../../shared/der/decode.js';
import { ErrorCode, JoinServiceError } from '../../shared/errors.js';
import { contentOf, DerCursor, elementBytes, readBigInteger, readBitString, readBoolean, readInt64, readOid, T, type BitString } from './der-cursor.js';
import { processExtensions, type Extension, type ProcessedExtensions } from './extensions.js';
import { readGoTime, type GoTime } from './go-time.js';
import { parseSubjectPublicKeyInfo, type SubjectPublicKeyInfo } from './public-key.js';
import { checkName } from './x509-name.js';

export interface AlgorithmIdentifier {
  oid: string;
  /** The whole parameters element, if present. */
  params: Uint8Array | undefined;
}

export interface ParsedCertificate {
  raw: Uint8Array;
  /** The TBSCertificate element: the signed bytes. */
  tbs: Uint8Array;
  /** The subject Name element as encoded (Go's RawSubject; the issuer of certificates this one signs). */
  rawSubject: Uint8Array;
  version: 1 | 2 | 3;
  signatureAlgorithm: AlgorithmIdentifier;
  notBefore: GoTime;
  notAfter: GoTime;
  publicKey: SubjectPublicKeyInfo;
  /** In certificate order; empty unless v3 with an extensions field. */
  extensions: Extension[];
  processed: ProcessedExtensions;
  signature: BitString;
}

function fail(message: string): never {
  throw new JoinServiceError(ErrorCode.CertParse, message);
}

export function parseCertificate(der: Uint8Array): ParsedCertificate {
  const input = DerCursor.of(der);
  const certEl = input.read(T.Sequence);
  if (!certEl) fail('x509: malformed certificate');
  const cert = DerCursor.inside(certEl);

  const tbsEl = cert.read(T.Sequence);
  if (!tbsEl) fail('x509: malformed tbs certificate');
  const tbs = DerCursor.inside(tbsEl);

  const version = readVersion(tbs);
  const serial = readBigInteger(tbs);
  if (serial === undefined) fail('x509: malformed serial number');
  if (serial < 0n) fail('x509: negative serial number');

  const sigAlgEl = tbs.read(T.Sequence);
  if (!sigAlgEl) fail('x509: malformed signature algorithm identifier');
  const outerSigAlgEl = cert.read(T.Sequence);
  if (!outerSigAlgEl) fail('x509: malformed algorithm identifier');
  if (!Buffer.from(contentOf(sigAlgEl)).equals(contentOf(outerSigAlgEl))) {
    fail("x509: inner and outer signature algorithm identifiers don't match");
  }
  const signatureAlgorithm = parseAlgorithmIdentifier(sigAlgEl);

  const issuer = tbs.read(T.Sequence);
  if (!issuer) fail('x509: malformed issuer');
  failOn(checkName(issuer));

  const validityEl = tbs.read(T.Sequence);
  if (!validityEl) fail('x509: malformed validity');
  const validity = DerCursor.inside(validityEl);
  const notBefore = orFail(readGoTime(validity));
  const notAfter = orFail(readGoTime(validity));

  const subject = tbs.read(T.Sequence);
  if (!subject) fail('x509: malformed issuer'); // sic: Go reports the subject as "issuer"
  failOn(checkName(subject));

  const spki = tbs.read(T.Sequence);
  if (!spki) fail('x509: malformed spki');
  const publicKey = parseSubjectPublicKeyInfo(spki);

  const extensions: Extension[] = [];
  if (version > 1) {
    if (tbs.readOptional(0x81) === false) fail('x509: malformed issuerUniqueID');
    if (tbs.readOptional(0x82) === false) fail('x509: malformed subjectUniqueID');
    if (version === 3) extensions.push(...readExtensions(tbs));
  }
  const processed = processExtensions(extensions);

  const signature = readBitString(cert);
  if (!signature) fail('x509: malformed signature');

  if (certEl.end !== der.length) fail('x509: trailing data');
  return {
    raw: elementBytes(certEl),
    tbs: elementBytes(tbsEl),
    rawSubject: elementBytes(subject),
    version,
    signatureAlgorithm,
    notBefore,
    notAfter,
    publicKey,
    extensions,
    processed,
    signature,
  };
}

function readVersion(tbs: DerCursor): 1 | 2 | 3 {
  const explicit = tbs.readOptional(0xa0);
  if (explicit === false) fail('x509: malformed version');
  if (explicit === null) return 1;
  const c = DerCursor.inside(explicit);
  const v = readInt64(c);
  if (v === undefined || !c.empty() || v < 0n) fail('x509: malformed version');
  if (v > 2n) fail('x509: invalid version');
  return (Number(v) + 1) as 1 | 2 | 3;
}

/** Go's parseAI: an OID and optionally one parameters element (anything after it is ignored). */
function parseAlgorithmIdentifier(el: DerElement): AlgorithmIdentifier {
  const c = DerCursor.inside(el);
  const oid = readOid(c);
  if (oid === undefined) fail('x509: malformed OID');
  if (c.empty()) return { oid, params: undefined };
  const params = c.readAny();
  if (!params) fail('x509: malformed parameters');
  return { oid, params: elementBytes(params) };
}

function readExtensions(tbs: DerCursor): Extension[] {
  const wrapper = tbs.readOptional(0xa3);
  if (wrapper === false) fail('x509: malformed extensions');
  if (wrapper === null) return [];
  const seq = DerCursor.inside(wrapper).read(T.Sequence);
  if (!seq) fail('x509: malformed extensions');
  const c = DerCursor.inside(seq);
  const out: Extension[] = [];
  const seen = new Set<string>();
  while (!c.empty()) {
    const extEl = c.read(T.Sequence);
    if (!extEl) fail('x509: malformed extension');
    const ext = parseExtension(DerCursor.inside(extEl));
    if (seen.has(ext.oid)) fail(`x509: certificate contains duplicate extension with OID "${ext.oid}"`);
    seen.add(ext.oid);
    out.push(ext);
  }
  return out;
}

function parseExtension(c: DerCursor): Extension {
  const oid = readOid(c);
  if (oid === undefined) fail('x509: malformed extension OID field');
  let critical = false;
  if (c.peekTag() === T.Boolean) {
    const b = readBoolean(c);
    if (b === undefined) fail('x509: malformed extension critical field');
    critical = b;
  }
  const value = c.read(T.OctetString);
  if (!value) fail('x509: malformed extension value field');
  return { oid, critical, value: contentOf(value) };
}

function failOn(err: Error | undefined): void {
  if (err) fail(err.message);
}

function orFail<V>(v: V | Error): V {
  if (v instanceof Error) fail(v.message);
  return v;
}

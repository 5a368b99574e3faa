/**
 * x509.ParseCertificateRequest for the node's CSR (join-protocol.md §4 step
 * 10.3): DER only (PEM text fails like any other non-DER input), decoded with
 * encoding/asn1's rules and error texts (go-asn1.ts), then:
 * - the SubjectPublicKeyInfo with Go's parsePublicKey checks (the shared
 *   ../certificate/public-key.ts; an ECDSA point is imported, i.e. checked to
 *   lie on its curve, here as Go does);
 * - the subject as a pkix.Name (FillFromRDNSequence: only string values of
 *   the nine standard attribute types count; O and the others accumulate,
 *   CN and serialNumber keep the last value);
 * - the extensionRequest attribute(s) (attributes that do not parse are
 *   ignored, a malformed extension list is an error, duplicates are an
 *   error) and from a subjectAltName extension the IP addresses.
 *
 * Known differences from Go, none reachable with a CSR a real producer
 * (Go, OpenSSL, kubeadm) writes: a SubjectPublicKeyInfo that is not canonical
 * DER is refused (Go would re-encode it); DSA and X25519 keys are not
 * validated (their CSRs then fail the signature check as "algorithm
 * unimplemented", as in Go, but a malformed such key does not get Go's
 * parse message); times inside the subject are checked for shape only.
 */
import type { KeyObject } from 'node:crypto';
import type { DerElement } from '../../shared/der/decode.js';
import { JoinServiceError } from '../../shared/errors.js';
import { parseSubjectAltName } from '../certificate/extensions.js';
import { importPublicKey, parseSubjectPublicKeyInfo, type SubjectPublicKeyInfo } from '../certificate/public-key.js';
import { signatureAlgorithmFromAi, type SignatureAlgorithm } from './csr-signature.js';
import {
  ALGORITHM_IDENTIFIER_FIELD,
  BIT_STRING_FIELD,
  BYTES_FIELD,
  Class,
  contentBytes,
  fullBytes,
  GoAsn1Error,
  GoSlice,
  GoTag,
  implicitTagParams,
  INT_FIELD,
  OID_FIELD,
  OPTIONAL_PARAMS,
  parseAlgorithmIdentifierContent,
  parseBitString,
  parseBool,
  parseInt64,
  parseObjectIdentifier,
  readAnyValue,
  readField,
  readRawValue,
  readRequired,
  readSequenceOf,
  rightAlign,
  SET_PARAMS,
  syntaxError,
  type GoElement,
} from './go-asn1.js';
import { csrError } from './signing-errors.js';

/** pkix.Name's standard attributes, as Go strings (bytes). */
export interface GoName {
  country: Uint8Array[];
  province: Uint8Array[];
  locality: Uint8Array[];
  streetAddress: Uint8Array[];
  postalCode: Uint8Array[];
  organization: Uint8Array[];
  organizationalUnit: Uint8Array[];
  commonName: Uint8Array;
  serialNumber: Uint8Array;
}

export interface ParsedCsr {
  /** RawTBSCertificateRequest: the signed bytes. */
  tbs: Uint8Array;
  /** undefined: UnknownSignatureAlgorithm. */
  signatureAlgorithm: SignatureAlgorithm | undefined;
  /** The signature bits, right-aligned (BitString.RightAlign). */
  signature: Uint8Array;
  publicKey: SubjectPublicKeyInfo;
  /** The imported key when parsing already imported it (ECDSA). */
  publicKeyObject: KeyObject | undefined;
  subject: GoName;
  /** IPAddresses from the requested subjectAltName (4 or 16 bytes each). */
  ipAddresses: Uint8Array[];
}

const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
const OID_SUBJECT_ALT_NAME = '2.5.29.17';

/** Parses a DER CSR; every failure is a KubeletCsrRejected error with Go's text. */
export function parseCertificateRequest(der: Uint8Array): ParsedCsr {
  try {
    return parse(der);
  } catch (err) {
    if (err instanceof GoAsn1Error || err instanceof JoinServiceError) throw csrError(err.message);
    throw err;
  }
}

function parse(der: Uint8Array): ParsedCsr {
  // asn1.Unmarshal(asn1Data, &certificateRequest{}) then the trailing-data check.
  const input = GoSlice.of(der);
  const csrEl = readRequired(input, { tag: GoTag.Sequence, compound: true, name: 'certificateRequest' });
  const c = GoSlice.inside(csrEl);

  const tbsEl = readRequired(c, { tag: GoTag.Sequence, compound: true, name: 'tbsCertificateRequest' });
  const t = GoSlice.inside(tbsEl);
  parseInt64(contentBytes(readRequired(t, INT_FIELD))); // Version: not checked by Go
  const subjectEl = readRawValue(t)!;
  const spkiEl = readRequired(t, { tag: GoTag.Sequence, compound: true, name: 'publicKeyInfo' });
  const spki = GoSlice.inside(spkiEl);
  parseAlgorithmIdentifierContent(readRequired(spki, ALGORITHM_IDENTIFIER_FIELD));
  parseBitString(contentBytes(readRequired(spki, BIT_STRING_FIELD)));
  const attributesEl = readRequired(t, { tag: 0, cls: Class.ContextSpecific, compound: true, name: '', params: implicitTagParams(0) });
  const attributes = readSequenceOf(GoSlice.inside(attributesEl), 'any');

  const signatureAlgorithmAi = parseAlgorithmIdentifierContent(readRequired(c, ALGORITHM_IDENTIFIER_FIELD));
  const signatureBits = parseBitString(contentBytes(readRequired(c, BIT_STRING_FIELD)));
  if (input.pos !== der.length) throw syntaxError('trailing data');

  // parseCertificateRequest
  const signatureAlgorithm = signatureAlgorithmFromAi(signatureAlgorithmAi);
  // Go's parsePublicKey (skipped for unknown algorithms, whose PublicKey stays nil).
  const publicKey = parseSubjectPublicKeyInfo(toDerElement(spkiEl));
  const publicKeyObject = publicKey.algorithm === 'ecdsa' ? importPublicKey(publicKey) : undefined;

  const subject = parseSubject(fullBytes(subjectEl));
  const extensions = parseCsrExtensions(attributes);
  let ipAddresses: Uint8Array[] = [];
  for (const ext of extensions) {
    if (ext.oid === OID_SUBJECT_ALT_NAME) ipAddresses = parseSubjectAltName(ext.value).ipAddresses;
  }

  return {
    tbs: fullBytes(tbsEl),
    signatureAlgorithm,
    signature: rightAlign(signatureBits),
    publicKey,
    publicKeyObject,
    subject,
    ipAddresses,
  };
}

function toDerElement(el: GoElement): DerElement {
  return { tag: el.buf[el.start]!, start: el.start, contentStart: el.contentStart, end: el.end, buf: el.buf };
}

/** asn1.Unmarshal(subject, &pkix.RDNSequence{}) then Name.FillFromRDNSequence. */
function parseSubject(bytes: Uint8Array): GoName {
  const s = GoSlice.of(bytes);
  const seq = readRequired(s, { tag: GoTag.Sequence, compound: true, name: 'RDNSequence' });
  const name: GoName = {
    country: [],
    province: [],
    locality: [],
    streetAddress: [],
    postalCode: [],
    organization: [],
    organizationalUnit: [],
    commonName: new Uint8Array(0),
    serialNumber: new Uint8Array(0),
  };
  // parseSequenceOf checks the headers of all RDNs before decoding the first;
  // each RDN then checks its attributes' headers before decoding them.
  const rdns = readSequenceOf(GoSlice.inside(seq), { tag: GoTag.Set, compound: true });
  for (const rdn of rdns) {
    for (const atv of readSequenceOf(GoSlice.inside(rdn), { tag: GoTag.Sequence, compound: true })) {
      const a = GoSlice.inside(atv);
      const type = parseObjectIdentifier(contentBytes(readRequired(a, OID_FIELD)));
      const value = readAnyValue(a);
      if (value !== undefined) fillName(name, type, value);
    }
  }
  if (s.pos !== bytes.length) throw new GoAsn1Error('x509: trailing data after X.509 Subject');
  return name;
}

function fillName(name: GoName, type: string, value: Uint8Array): void {
  switch (type) {
    case '2.5.4.3':
      name.commonName = value;
      break;
    case '2.5.4.5':
      name.serialNumber = value;
      break;
    case '2.5.4.6':
      name.country.push(value);
      break;
    case '2.5.4.7':
      name.locality.push(value);
      break;
    case '2.5.4.8':
      name.province.push(value);
      break;
    case '2.5.4.9':
      name.streetAddress.push(value);
      break;
    case '2.5.4.10':
      name.organization.push(value);
      break;
    case '2.5.4.11':
      name.organizationalUnit.push(value);
      break;
    case '2.5.4.17':
      name.postalCode.push(value);
      break;
  }
}

interface RequestedExtension {
  oid: string;
  value: Uint8Array;
}

/** Go's parseCSRExtensions over the raw attributes. */
function parseCsrExtensions(attributes: GoElement[]): RequestedExtension[] {
  const out: RequestedExtension[] = [];
  const requested = new Set<string>();
  for (const raw of attributes) {
    let attr: { oid: string; firstValue: Uint8Array | undefined };
    try {
      attr = parseAttribute(fullBytes(raw));
    } catch (err) {
      if (err instanceof GoAsn1Error) continue; // attributes that do not parse are ignored
      throw err;
    }
    if (attr.firstValue === undefined || attr.oid !== OID_EXTENSION_REQUEST) continue;
    const extensions = parseExtensionList(attr.firstValue);
    for (const ext of extensions) {
      if (requested.has(ext.oid)) throw new GoAsn1Error('x509: certificate request contains duplicate requested extensions');
      requested.add(ext.oid);
    }
    out.push(...extensions);
  }
  return out;
}

/** asn1.Unmarshal(raw, &pkcs10Attribute{Id, Values []asn1.RawValue `asn1:"set"`}). */
function parseAttribute(bytes: Uint8Array): { oid: string; firstValue: Uint8Array | undefined } {
  const s = GoSlice.of(bytes);
  const seq = readRequired(s, { tag: GoTag.Sequence, compound: true, name: 'pkcs10Attribute' });
  const a = GoSlice.inside(seq);
  const oid = parseObjectIdentifier(contentBytes(readRequired(a, OID_FIELD)));
  const set = readRequired(a, { tag: GoTag.Set, compound: true, name: '', params: SET_PARAMS });
  const values = readSequenceOf(GoSlice.inside(set), 'any');
  return { oid, firstValue: values[0] && fullBytes(values[0]) };
}

/** asn1.Unmarshal(value, &[]pkix.Extension{}) (trailing data ignored, as in Go). */
function parseExtensionList(bytes: Uint8Array): RequestedExtension[] {
  const seq = readRequired(GoSlice.of(bytes), { tag: GoTag.Sequence, compound: true, name: '' });
  return readSequenceOf(GoSlice.inside(seq), { tag: GoTag.Sequence, compound: true }).map((el) => {
    const e = GoSlice.inside(el);
    const oid = parseObjectIdentifier(contentBytes(readRequired(e, OID_FIELD)));
    const critical = readField(e, { tag: GoTag.Boolean, compound: false, name: 'bool', optional: true, params: OPTIONAL_PARAMS });
    if (critical) parseBool(contentBytes(critical));
    const value = contentBytes(readRequired(e, BYTES_FIELD));
    return { oid, value };
  });
}

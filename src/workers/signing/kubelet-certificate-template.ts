/**
 * The kubelet client certificate (join-protocol.md §4 step 10.5): what Go's
 * x509.CreateCertificate makes of the join service's template
 *
 *   version v3; serial uniform in [0, 2^128); issuer = ca.crt's raw subject;
 *   subject = the CSR's pkix.Name re-encoded (C, ST, L, street, postalCode,
 *   O, OU, CN, serialNumber; one RDN per type, several values of a type in
 *   one multi-valued RDN sorted as DER SET OF; PrintableString when every
 *   character is PrintableString without '*' and '&', else UTF8String);
 *   validity now−2h … now+8760h; the CSR's public key;
 *   extensions in Go's order: keyUsage (critical; digitalSignature,
 *   keyEncipherment), extKeyUsage (clientAuth, serverAuth), basicConstraints
 *   (critical; CA:FALSE), authorityKeyIdentifier (= the CA's SKI, only if it
 *   has one and issuer ≠ subject), subjectAltName (only the CSR's IP
 *   addresses, IPv4 in 4 bytes; omitted when there are none); no SKI;
 *   signed with the CA key: RSA → sha256WithRSAEncryption (PKCS #1 v1.5),
 *   ECDSA P-224/P-256 → ecdsa-with-SHA256, P-384 → SHA384, P-521 → SHA512,
 *   Ed25519 → Ed25519.
 *
 * Go's CreateCertificate checks, in its order: the CA key must be able to
 * sign (an X25519 PKCS #8 key cannot), the subject must marshal (a value that
 * is neither PrintableString nor valid UTF-8 fails), the CA key must belong
 * to ca.crt. Go also re-verifies its own signature afterwards; we do not:
 * node:crypto signs with a key that passed a sign/verify self-test when it
 * was loaded, and a second verification would double the per-join cost for
 * ECDSA CAs.
 */
import { constants, randomFillSync, sign } from 'node:crypto';
import * as der from '../../shared/der/encode.js';
import type { ClusterCa } from './ca-files.js';
import type { GoName, ParsedCsr } from './csr.js';
import { isPrintableForMarshal, isValidUtf8 } from './go-asn1.js';
import { caError, csrError } from './signing-errors.js';

export const NOT_BEFORE_OFFSET_MS = 2 * 60 * 60 * 1000;
export const VALIDITY_MS = 8760 * 60 * 60 * 1000;

const V3 = der.explicit(0, der.integer(2));
const KEY_USAGE = der.sequence(der.oid('2.5.29.15'), der.boolean(true), der.octetString(Uint8Array.of(0x03, 0x02, 0x05, 0xa0)));
const EXT_KEY_USAGE = der.sequence(
  der.oid('2.5.29.37'),
  der.octetString(der.sequence(der.oid('1.3.6.1.5.5.7.3.2'), der.oid('1.3.6.1.5.5.7.3.1'))),
);
const BASIC_CONSTRAINTS = der.sequence(der.oid('2.5.29.19'), der.boolean(true), der.octetString(der.sequence()));
const OID_AUTHORITY_KEY_ID = der.oid('2.5.29.35');
const OID_SUBJECT_ALT_NAME = der.oid('2.5.29.17');

/** pkix.Name.ToRDNSequence order. */
const NAME_ATTRIBUTES: ReadonlyArray<readonly [keyof GoName, Uint8Array]> = [
  ['country', der.oid('2.5.4.6')],
  ['province', der.oid('2.5.4.8')],
  ['locality', der.oid('2.5.4.7')],
  ['streetAddress', der.oid('2.5.4.9')],
  ['postalCode', der.oid('2.5.4.17')],
  ['organization', der.oid('2.5.4.10')],
  ['organizationalUnit', der.oid('2.5.4.11')],
  ['commonName', der.oid('2.5.4.3')],
  ['serialNumber', der.oid('2.5.4.5')],
];

export interface KubeletCertificateOptions {
  ca: ClusterCa;
  csr: ParsedCsr;
  nowMs: number;
  /** The serial's 16 bytes (tests); uniformly random otherwise, i.e. a serial uniform in [0, 2^128). */
  serial?: Uint8Array;
}

/**
 * Serial bytes come from a pooled CSPRNG buffer: one randomFillSync per 256
 * certificates instead of one per certificate (OpenSSL's per-call RNG
 * overhead was ~5% of an ECDSA-CA issuance). Each 16-byte slice is used once.
 */
const SERIAL_BYTES = 16;
const serialPool = new Uint8Array(SERIAL_BYTES * 256);
let serialOffset = serialPool.length;

function randomSerial(): Uint8Array {
  if (serialOffset === serialPool.length) {
    randomFillSync(serialPool);
    serialOffset = 0;
  }
  const out = serialPool.slice(serialOffset, serialOffset + SERIAL_BYTES);
  serialOffset += SERIAL_BYTES;
  return out;
}

/** Builds and signs the certificate; returns its DER. */
export function createKubeletCertificate(o: KubeletCertificateOptions): Uint8Array {
  const { ca, csr } = o;
  const key = ca.key;
  if (key.kind === 'x25519' || !key.key || !key.signatureAlgorithm) throw caError('x509: certificate private key does not implement crypto.Signer');
  const subject = encodeName(csr.subject);
  if (ca.certificate.keyAlgorithm !== 'unknown' && !Buffer.from(ca.certificate.spki).equals(key.spki!)) {
    throw caError("x509: provided PrivateKey doesn't match parent's PublicKey");
  }

  const extensions: Uint8Array[] = [KEY_USAGE, EXT_KEY_USAGE, BASIC_CONSTRAINTS];
  const issuer = ca.certificate.rawSubject;
  const ski = ca.certificate.subjectKeyId;
  if (ski && !Buffer.from(issuer).equals(subject)) {
    extensions.push(der.sequence(OID_AUTHORITY_KEY_ID, der.octetString(der.sequence(der.tlv(0x80, ski)))));
  }
  if (csr.ipAddresses.length > 0) {
    const subjectIsEmpty = subject.length === 2;
    extensions.push(
      der.sequence(
        OID_SUBJECT_ALT_NAME,
        ...(subjectIsEmpty ? [der.boolean(true)] : []),
        der.octetString(der.sequence(...csr.ipAddresses.map((ip) => der.tlv(0x87, to4(ip))))),
      ),
    );
  }

  const tbs = der.sequence(
    V3,
    der.integer(o.serial ?? randomSerial()),
    key.signatureAlgorithm,
    issuer,
    der.sequence(der.time(o.nowMs - NOT_BEFORE_OFFSET_MS), der.time(o.nowMs + VALIDITY_MS)),
    subject,
    csr.publicKey.raw,
    der.explicit(3, der.sequence(...extensions)),
  );
  let signature: Uint8Array;
  switch (key.kind) {
    case 'rsa':
      signature = sign('sha256', tbs, { key: key.key, padding: constants.RSA_PKCS1_PADDING });
      break;
    case 'ecdsa':
      signature = sign(key.hash, tbs, { key: key.key, dsaEncoding: 'der' });
      break;
    case 'ed25519':
      signature = sign(null, tbs, key.key);
      break;
  }
  return der.sequence(tbs, key.signatureAlgorithm, der.bitString(signature));
}

/** asn1.Marshal(name.ToRDNSequence()). */
export function encodeName(name: GoName): Uint8Array {
  const rdns: Uint8Array[] = [];
  for (const [field, oid] of NAME_ATTRIBUTES) {
    const v = name[field];
    const values = Array.isArray(v) ? v : v.length > 0 ? [v] : [];
    if (values.length === 0) continue;
    const atvs = values.map((value) => der.sequence(oid, goString(value)));
    if (atvs.length > 1) atvs.sort((a, b) => Buffer.compare(a, b));
    rdns.push(der.set(...atvs));
  }
  return der.sequence(...rdns);
}

/** encoding/asn1's choice for a Go string without an explicit string type. */
function goString(value: Uint8Array): Uint8Array {
  if (value.every(isPrintableForMarshal)) return der.tlv(0x13, value);
  if (!isValidUtf8(value)) throw csrError('asn1: string not valid UTF-8');
  return der.tlv(0x0c, value);
}

/** net.IP.To4: an IPv4-mapped IPv6 address becomes its 4 IPv4 bytes. */
function to4(ip: Uint8Array): Uint8Array {
  if (ip.length === 16 && ip.subarray(0, 10).every((b) => b === 0) && ip[10] === 0xff && ip[11] === 0xff) return ip.subarray(12);
  return ip;
}

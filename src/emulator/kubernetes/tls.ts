import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import * as der from '../../shared/der/encode.js';
import { encodePem } from '../../shared/pem.js';

const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
const OID = {
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  serverAuth: '1.3.6.1.5.5.7.3.1',
} as const;

/** Key-usage bit numbers (RFC 5280 §4.2.1.3). */
const KU = { digitalSignature: 0, keyEncipherment: 2, keyCertSign: 5, cRLSign: 6 } as const;

export interface EmulatorTlsMaterial {
  /** PEM of the self-signed CA that issued the server certificate (goes into kubeconfig `certificate-authority-data`). */
  caPem: string;
  /** PEM of the server certificate (SANs: the given DNS names and IPs). */
  certPem: string;
  /** PKCS #8 PEM of the server key. */
  keyPem: string;
}

/** Named-bit BIT STRING in DER (trailing zero bits removed, as RFC 5280 key usage requires). */
function namedBits(bits: readonly number[]): Uint8Array {
  const max = Math.max(...bits);
  const bytes = new Uint8Array(Math.floor(max / 8) + 1);
  for (const b of bits) bytes[b >> 3]! |= 0x80 >> (b & 7);
  const unused = 7 - (max & 7);
  return der.tlv(0x03, Uint8Array.of(unused), bytes);
}

function extension(oid: string, critical: boolean, value: Uint8Array): Uint8Array {
  return der.sequence(der.oid(oid), ...(critical ? [der.boolean(true)] : []), der.octetString(value));
}

function spkiOf(key: KeyObject): Uint8Array {
  return key.export({ type: 'spki', format: 'der' });
}

/** SHA-1 of the subjectPublicKey BIT STRING contents (RFC 5280 §4.2.1.2 method 1); P-256 SPKI keys end with the 65-byte point. */
function keyId(spki: Uint8Array): Uint8Array {
  return createHash('sha1').update(spki.subarray(spki.length - 65)).digest();
}

function ipBytes(ip: string): Uint8Array {
  if (isIP(ip) === 4) return Uint8Array.from(ip.split('.').map(Number));
  // IPv6: expand "::" and convert groups.
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 0xff;
  });
  return out;
}

function certificate(o: {
  subjectCn: string;
  issuerName: Uint8Array;
  spki: Uint8Array;
  signer: KeyObject;
  extensions: Uint8Array[];
  notBefore: number;
  notAfter: number;
}): Uint8Array {
  const sigAlg = der.sequence(der.oid(ECDSA_WITH_SHA256));
  const tbs = der.sequence(
    der.explicit(0, der.integer(2)),
    der.integer(Uint8Array.of(0x01, ...randomBytes(15))),
    sigAlg,
    o.issuerName,
    der.sequence(der.time(o.notBefore), der.time(o.notAfter)),
    der.commonNameOnly(o.subjectCn),
    o.spki,
    der.tlv(0xa3, der.sequence(...o.extensions)),
  );
  const signature = sign('sha256', tbs, { key: o.signer, dsaEncoding: 'der' });
  return der.sequence(tbs, sigAlg, der.bitString(signature));
}

/**
 * A fresh ECDSA P-256 CA and a server certificate it issued, valid from one
 * hour ago for one year. The certificates are minimal but strict enough for
 * Go's x509 verifier (kubectl) and Node's TLS stack.
 */
export function generateEmulatorTls(o: { dnsNames?: string[]; ips?: string[] } = {}): EmulatorTlsMaterial {
  const now = Date.now();
  const notBefore = now - 60 * 60 * 1000;
  const notAfter = now + 365 * 24 * 60 * 60 * 1000;

  const ca = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const caSpki = spkiOf(ca.publicKey);
  const caKeyId = keyId(caSpki);
  const caName = der.commonNameOnly('kubernetes-emulator-ca');
  const caCert = certificate({
    subjectCn: 'kubernetes-emulator-ca',
    issuerName: caName,
    spki: caSpki,
    signer: ca.privateKey,
    notBefore,
    notAfter,
    extensions: [
      extension(OID.basicConstraints, true, der.sequence(der.boolean(true))),
      extension(OID.keyUsage, true, namedBits([KU.digitalSignature, KU.keyCertSign, KU.cRLSign])),
      extension(OID.subjectKeyIdentifier, false, der.octetString(caKeyId)),
    ],
  });

  const server = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const dnsNames = o.dnsNames ?? ['localhost', 'kubernetes', 'kubernetes.default.svc'];
  const ips = o.ips ?? ['127.0.0.1', '::1'];
  const san = der.sequence(
    ...dnsNames.map((d) => der.tlv(0x82, Buffer.from(d, 'latin1'))),
    ...ips.map((ip) => der.tlv(0x87, ipBytes(ip))),
  );
  const serverCert = certificate({
    subjectCn: 'kube-apiserver',
    issuerName: caName,
    spki: spkiOf(server.publicKey),
    signer: ca.privateKey,
    notBefore,
    notAfter,
    extensions: [
      extension(OID.basicConstraints, true, der.sequence()),
      extension(OID.keyUsage, true, namedBits([KU.digitalSignature])),
      extension(OID.extKeyUsage, false, der.sequence(der.oid(OID.serverAuth))),
      extension(OID.authorityKeyIdentifier, false, der.sequence(der.tlv(0x80, caKeyId))),
      extension(OID.subjectAltName, false, san),
    ],
  });

  return {
    caPem: encodePem('CERTIFICATE', caCert),
    certPem: encodePem('CERTIFICATE', serverCert),
    keyPem: server.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

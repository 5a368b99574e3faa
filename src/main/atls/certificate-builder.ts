import { randomBytes, sign, type KeyObject } from 'node:crypto';
import * as der from '../../shared/der/encode.js';

const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
const TWO_HOURS_MS = 2 * 60 * 60 * 1000;

export interface CertificateExtension {
  oid: string;
  critical?: boolean;
  /** Raw extnValue content (placed verbatim inside the OCTET STRING). */
  value: Uint8Array;
}

export interface SelfSignedCertificateOptions {
  /** P-256 private key that signs the certificate and whose public key it carries. */
  privateKey: KeyObject;
  /** DER SubjectPublicKeyInfo of the certificate's key (normally the private key's public half). */
  spki: Uint8Array;
  commonName: string;
  /** Serial magnitude; defaults to a random integer in [0, 2^128) like Go's aTLS. */
  serial?: Uint8Array;
  notBefore?: number;
  notAfter?: number;
  /** Omitted entirely when empty, as Go does for parties without an issuer. */
  extensions?: readonly CertificateExtension[];
}

/**
 * Builds an aTLS-style self-signed certificate (atls.md §4): v3, ecdsa-with-SHA256,
 * issuer = subject = CN=<commonName>, ±2 h validity by default.
 */
export function buildSelfSignedCertificate(o: SelfSignedCertificateOptions): Uint8Array {
  const now = Date.now();
  const name = der.commonNameOnly(o.commonName);
  const sigAlg = der.sequence(der.oid(ECDSA_WITH_SHA256));
  const exts = o.extensions ?? [];
  const tbsParts = [
    der.explicit(0, der.integer(2)),
    der.integer(o.serial ?? randomBytes(16)),
    sigAlg,
    name,
    der.sequence(der.time(o.notBefore ?? now - TWO_HOURS_MS), der.time(o.notAfter ?? now + TWO_HOURS_MS)),
    name,
    o.spki,
  ];
  if (exts.length > 0) {
    tbsParts.push(
      der.tlv(
        0xa3,
        der.sequence(
          ...exts.map((e) =>
            der.sequence(der.oid(e.oid), ...(e.critical ? [der.boolean(true)] : []), der.octetString(e.value)),
          ),
        ),
      ),
    );
  }
  const tbs = der.sequence(...tbsParts);
  const signature = sign('sha256', tbs, { key: o.privateKey, dsaEncoding: 'der' });
  return der.sequence(tbs, sigAlg, der.bitString(signature));
}

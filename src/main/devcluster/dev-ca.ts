import { createHash, randomBytes, sign, type KeyObject } from 'node:crypto';
import { children, content, readSingle, Tag } from '../../shared/der/decode.js';
import * as der from '../../shared/der/encode.js';

const SHA256_WITH_RSA = '1.2.840.113549.1.1.11';
const TEN_YEARS_MS = 10 * 365 * 24 * 60 * 60 * 1000;

/**
 * A self-signed RSA CA certificate like kubeadm's (`CN=<name>`, CA:TRUE,
 * keyCertSign, subjectKeyIdentifier), for the embedded default's dev cluster.
 */
export function buildDevCaCertificate(o: { privateKey: KeyObject; spki: Uint8Array; commonName: string; now: number }): Uint8Array {
  const name = der.sequence(der.set(der.sequence(der.oid('2.5.4.3'), der.utf8String(o.commonName))));
  const sigAlg = der.sequence(der.oid(SHA256_WITH_RSA), der.tlv(0x05));
  // SKI: SHA-1 of the subjectPublicKey BIT STRING contents (RFC 5280 §4.2.1.2 method 1), as Go and kubeadm do.
  const keyBits = subjectPublicKeyBits(o.spki);
  const ski = createHash('sha1').update(keyBits).digest();
  const extensions = der.sequence(
    der.sequence(der.oid('2.5.29.15'), der.boolean(true), der.octetString(der.tlv(0x03, Uint8Array.of(0x02, 0xa4)))), // digitalSignature, keyEncipherment, keyCertSign
    der.sequence(der.oid('2.5.29.19'), der.boolean(true), der.octetString(der.sequence(der.boolean(true)))),
    der.sequence(der.oid('2.5.29.14'), der.octetString(der.octetString(ski))),
  );
  const tbs = der.sequence(
    der.explicit(0, der.integer(2)),
    der.integer(randomBytes(16)),
    sigAlg,
    name,
    der.sequence(der.time(o.now - 60 * 60 * 1000), der.time(o.now + TEN_YEARS_MS)),
    name,
    o.spki,
    der.explicit(3, extensions),
  );
  const signature = sign('sha256', tbs, o.privateKey);
  return der.sequence(tbs, sigAlg, der.bitString(signature));
}

/** The key bytes inside the SPKI's BIT STRING (after the unused-bits byte). */
function subjectPublicKeyBits(spki: Uint8Array): Uint8Array {
  const [, bits] = children(readSingle(spki, Tag.Sequence));
  return content(bits!).subarray(1);
}

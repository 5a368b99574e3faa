/**
 * SubjectPublicKeyInfo handling: Go's x509 parsePublicKey checks (errors are
 * certificate parse errors), crypto/tls's key-type rule (RSA, ECDSA or
 * Ed25519 only) and the import into a node:crypto KeyObject.
 *
 * Go computes the aTLS hash over MarshalPKIXPublicKey of the *parsed* key. We
 * hash the certificate's SPKI element instead and therefore require it to be
 * exactly what Go would re-marshal (no trailing data, no unused bits): for
 * such keys both hashes are equal, and a Go peer never sends anything else.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import type { DerElement } from '../../shared/der/decode.js';
import { ErrorCode, JoinServiceError } from '../../shared/errors.js';
import { contentOf, DerCursor, elementBytes, isValidInteger, readBitString, readOid, T } from './der-cursor.js';

export type KeyAlgorithm = 'rsa' | 'ecdsa' | 'ed25519' | 'x25519' | 'dsa' | 'unknown';
export type NamedCurve = 'P-224' | 'P-256' | 'P-384' | 'P-521';

export interface SubjectPublicKeyInfo {
  /** The whole SubjectPublicKeyInfo element (what the attestation binds). */
  raw: Uint8Array;
  algorithm: KeyAlgorithm;
  algorithmOid: string;
  curve?: NamedCurve;
  rsaModulusBits?: number;
  /** The RSA public exponent (fits an int64). */
  rsaPublicExponent?: bigint;
  /** Whether the RSA modulus is odd (Go's crypto/rsa refuses even moduli when verifying). */
  rsaModulusOdd?: boolean;
}

const KEY_ALGORITHMS: Readonly<Record<string, KeyAlgorithm>> = {
  '1.2.840.113549.1.1.1': 'rsa',
  '1.2.840.10045.2.1': 'ecdsa',
  '1.3.101.112': 'ed25519',
  '1.3.101.110': 'x25519',
  '1.2.840.10040.4.1': 'dsa',
};

const CURVES: Readonly<Record<string, { name: NamedCurve; coordinateBytes: number }>> = {
  '1.3.132.0.33': { name: 'P-224', coordinateBytes: 28 },
  '1.2.840.10045.3.1.7': { name: 'P-256', coordinateBytes: 32 },
  '1.3.132.0.34': { name: 'P-384', coordinateBytes: 48 },
  '1.3.132.0.35': { name: 'P-521', coordinateBytes: 66 },
};

/** crypto/tls rejects larger RSA keys (Go's tlsmaxrsasize default). */
export const MAX_RSA_BITS = 8192;
/** Go 1.24's crypto/rsa refuses smaller keys when checking the TLS CertificateVerify. */
export const MIN_RSA_BITS = 1024;

function parseError(message: string): JoinServiceError {
  return new JoinServiceError(ErrorCode.CertParse, message);
}

/** Parses the SPKI element (already read as a SEQUENCE) with Go's checks. */
export function parseSubjectPublicKeyInfo(spki: DerElement): SubjectPublicKeyInfo {
  const c = DerCursor.inside(spki);
  const ai = c.read(T.Sequence);
  if (!ai) throw parseError('x509: malformed public key algorithm identifier');
  const aic = DerCursor.inside(ai);
  const algorithmOid = readOid(aic);
  if (algorithmOid === undefined) throw parseError('x509: malformed OID');
  let params: DerElement | undefined;
  if (!aic.empty()) {
    params = aic.readAny();
    if (!params) throw parseError('x509: malformed parameters');
  }
  const bits = readBitString(c);
  if (!bits) throw parseError('x509: malformed subjectPublicKey');

  const algorithm = KEY_ALGORITHMS[algorithmOid] ?? 'unknown';
  const info: SubjectPublicKeyInfo = { raw: elementBytes(spki), algorithm, algorithmOid };
  // Only keys crypto/tls accepts matter further; the others are refused by checkKeyType.
  if (algorithm !== 'rsa' && algorithm !== 'ecdsa' && algorithm !== 'ed25519') return info;

  if (!aic.empty() || !c.empty() || bits.unusedBits !== 0) {
    throw parseError('x509: subjectPublicKeyInfo is not in canonical DER form (trailing data or unused bits)');
  }
  const key = bits.bytes;
  switch (algorithm) {
    case 'rsa': {
      if (!params || params.tag !== T.Null || params.end !== params.contentStart) {
        throw parseError('x509: RSA key missing NULL parameters');
      }
      const rsa = parseRsaKey(key);
      info.rsaModulusBits = rsa.bits;
      info.rsaPublicExponent = rsa.exponent;
      info.rsaModulusOdd = rsa.odd;
      return info;
    }
    case 'ecdsa': {
      const pc = params ? new DerCursor(params.buf, params.start, params.end) : undefined;
      const curveOid = pc ? readOid(pc) : undefined;
      if (curveOid === undefined) throw parseError('x509: invalid ECDSA parameters');
      const curve = CURVES[curveOid];
      if (!curve) throw parseError('x509: unsupported elliptic curve');
      if (key.length !== 1 + 2 * curve.coordinateBytes || key[0] !== 0x04) {
        throw parseError('x509: failed to unmarshal elliptic curve point');
      }
      info.curve = curve.name;
      return info;
    }
    case 'ed25519':
      if (params) throw parseError('x509: Ed25519 key encoded with illegal parameters');
      if (key.length !== 32) throw parseError('x509: wrong Ed25519 public key size');
      return info;
  }
}

/** PKCS#1 RSAPublicKey with Go's checks; returns the modulus length in bits, the exponent and the modulus parity. */
function parseRsaKey(key: Uint8Array): { bits: number; exponent: bigint; odd: boolean } {
  const outer = DerCursor.of(key);
  const seq = outer.read(T.Sequence);
  if (!seq) throw parseError('x509: invalid RSA public key');
  const c = DerCursor.inside(seq);
  const n = c.read(T.Integer);
  if (!n || !isValidInteger(contentOf(n))) throw parseError('x509: invalid RSA modulus');
  const e = c.read(T.Integer);
  const eb = e && contentOf(e);
  if (!eb || !isValidInteger(eb) || eb.length > 8) throw parseError('x509: invalid RSA public exponent');
  const nb = contentOf(n);
  if (nb[0]! & 0x80 || nb.every((b) => b === 0)) throw parseError('x509: RSA modulus is not a positive number');
  if (eb[0]! & 0x80 || eb.every((b) => b === 0)) throw parseError('x509: RSA public exponent is not a positive number');
  if (!c.empty() || !outer.empty()) {
    throw parseError('x509: subjectPublicKeyInfo is not in canonical DER form (trailing data in RSA key)');
  }
  let exponent = 0n;
  for (const b of eb) exponent = (exponent << 8n) | BigInt(b);
  return { bits: bitLength(nb), exponent, odd: (nb[nb.length - 1]! & 1) === 1 };
}

function bitLength(magnitude: Uint8Array): number {
  let i = 0;
  while (i < magnitude.length && magnitude[i] === 0) i++;
  if (i === magnitude.length) return 0;
  return (magnitude.length - i - 1) * 8 + (32 - Math.clz32(magnitude[i]!));
}

const GO_KEY_TYPE: Readonly<Record<KeyAlgorithm, string>> = {
  rsa: '*rsa.PublicKey',
  ecdsa: '*ecdsa.PublicKey',
  ed25519: 'ed25519.PublicKey',
  x25519: '*ecdh.PublicKey',
  dsa: '*dsa.PublicKey',
  unknown: '<nil>',
};

/** crypto/tls's checks on the leaf key (processCertsFromClient). */
export function checkKeyType(info: SubjectPublicKeyInfo): void {
  if (info.algorithm !== 'rsa' && info.algorithm !== 'ecdsa' && info.algorithm !== 'ed25519') {
    throw new JoinServiceError(
      ErrorCode.CertKeyType,
      `tls: client certificate contains an unsupported public key of type ${GO_KEY_TYPE[info.algorithm]}`,
      { keyAlgorithmOid: info.algorithmOid },
    );
  }
  const bits = info.rsaModulusBits;
  if (bits !== undefined && bits > MAX_RSA_BITS) {
    throw new JoinServiceError(ErrorCode.CertKeyType, `tls: client sent certificate containing RSA key larger than ${MAX_RSA_BITS} bits`, {
      rsaBits: bits,
    });
  }
  if (bits !== undefined && bits < MIN_RSA_BITS) {
    throw new JoinServiceError(ErrorCode.CertKeyType, `crypto/rsa: ${bits}-bit keys are insecure (minimum ${MIN_RSA_BITS})`, { rsaBits: bits });
  }
}

/** Imports the key; OpenSSL also checks that an EC point lies on its curve (Go's elliptic.Unmarshal does the same). */
export function importPublicKey(info: SubjectPublicKeyInfo): KeyObject {
  try {
    return createPublicKey({ key: Buffer.from(info.raw.buffer, info.raw.byteOffset, info.raw.byteLength), format: 'der', type: 'spki' });
  } catch {
    const message =
      info.algorithm === 'ecdsa' ? 'x509: failed to unmarshal elliptic curve point' : `x509: invalid ${info.algorithm} public key`;
    throw parseError(message);
  }
}

/**
 * Go's Certificate.CheckSignatureFrom and checkSignature (crypto/x509,
 * Go 1.24) as chain building calls them (SHA-1 not allowed), with Go's error
 * texts. The cryptography itself is node:crypto; the Go-side preconditions
 * that OpenSSL does not apply the same way are checked first:
 *
 * - the parent must be allowed to sign certificates: a v3 certificate without
 *   basicConstraints, one with cA FALSE, or one whose keyUsage lacks
 *   keyCertSign → "x509: invalid signature: parent certificate cannot sign this
 *   kind of certificate";
 * - MD5 and SHA-1 signatures are insecure algorithms, MD2 and unknown
 *   identifiers are unimplemented;
 * - the key type must match the algorithm;
 * - crypto/rsa (Go 1.24): moduli below 1024 bits are refused, and the FIPS
 *   module's public-key checks (odd modulus, odd exponent in [3, 2^31-1]) and
 *   the exact signature length apply to PKCS #1 v1.5 and PSS alike; PSS
 *   requires salt length = hash length.
 */
import { constants, verify } from 'node:crypto';
import { KEY_USAGE_CERT_SIGN, type ChainCertificate, type GoSignatureAlgorithm } from './chain-certificate.js';

export const ERR_CONSTRAINT_VIOLATION = 'x509: invalid signature: parent certificate cannot sign this kind of certificate';
export const ERR_UNSUPPORTED_ALGORITHM = 'x509: cannot verify signature: algorithm unimplemented';
export const ERR_RSA_VERIFICATION = 'crypto/rsa: verification error';
export const ERR_ECDSA_VERIFICATION = 'x509: ECDSA verification failure';
export const ERR_ED25519_VERIFICATION = 'x509: Ed25519 verification failure';

const MIN_RSA_BITS = 1024;
const MAX_RSA_EXPONENT = 2n ** 31n - 1n;

const GO_KEY_TYPE: Readonly<Record<string, string>> = {
  rsa: '*rsa.PublicKey',
  ecdsa: '*ecdsa.PublicKey',
  ed25519: 'ed25519.PublicKey',
  dsa: '*dsa.PublicKey',
  x25519: '*ecdh.PublicKey',
};
const SIG_KEY_OF: Readonly<Record<string, string>> = { rsa: 'RSA', ecdsa: 'ECDSA', ed25519: 'Ed25519', dsa: 'DSA' };

/** c.CheckSignatureFrom(parent): undefined when the signature verifies, else Go's error text. */
export function checkSignatureFrom(child: ChainCertificate, parent: ChainCertificate): string | undefined {
  const bc = parent.basicConstraints;
  if ((parent.parsed.version === 3 && !bc.valid) || (bc.valid && !bc.isCA)) return ERR_CONSTRAINT_VIOLATION;
  if (parent.keyUsage !== 0 && (parent.keyUsage & KEY_USAGE_CERT_SIGN) === 0) return ERR_CONSTRAINT_VIOLATION;
  // Go's PublicKeyAlgorithm is Unknown for anything but RSA, DSA, ECDSA and Ed25519.
  if (SIG_KEY_OF[parent.parsed.publicKey.algorithm] === undefined) return ERR_UNSUPPORTED_ALGORITHM;
  return checkSignature(child.signatureAlgorithm, child.parsed.tbs, child.signature, parent);
}

function checkSignature(algo: GoSignatureAlgorithm, signed: Uint8Array, signature: Uint8Array, parent: ChainCertificate): string | undefined {
  switch (algo.hash) {
    case null:
      if (algo.key !== 'Ed25519') return ERR_UNSUPPORTED_ALGORITHM;
      break;
    case 'md5':
    case 'sha1':
      // InsecureAlgorithmError (Go 1.24 has no x509sha1 override any more).
      return `x509: cannot verify signature: insecure algorithm ${algo.name}`;
  }

  const spki = parent.parsed.publicKey;
  const key = parent.publicKey;
  const keyAlg = spki.algorithm;
  if (keyAlg !== 'rsa' && keyAlg !== 'ecdsa' && keyAlg !== 'ed25519') return ERR_UNSUPPORTED_ALGORITHM; // DSA: parsed, never verified
  if (!key) return ERR_UNSUPPORTED_ALGORITHM;
  if (algo.key !== SIG_KEY_OF[keyAlg]) {
    return `x509: signature algorithm specifies an ${algo.key ?? 'unknown'} public key, but have public key of type ${GO_KEY_TYPE[keyAlg]}`;
  }

  switch (keyAlg) {
    case 'rsa': {
      const bits = spki.rsaModulusBits ?? 0;
      if (bits < MIN_RSA_BITS) return `crypto/rsa: ${bits}-bit keys are insecure (see https://go.dev/pkg/crypto/rsa#hdr-Minimum_key_size)`;
      if (!spki.rsaModulusOdd) return 'crypto/rsa: public modulus is even';
      const e = spki.rsaPublicExponent ?? 0n;
      if (e < 2n) return 'crypto/rsa: public exponent too small or negative';
      if (e % 2n === 0n) return 'crypto/rsa: public exponent is even';
      if (e > MAX_RSA_EXPONENT) return 'crypto/rsa: public exponent too large';
      if (signature.length !== Math.ceil(bits / 8)) return ERR_RSA_VERIFICATION;
      const options = algo.pss
        ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: hashLength(algo.hash!) }
        : { key, padding: constants.RSA_PKCS1_PADDING };
      return safeVerify(() => verify(algo.hash, signed, options, signature)) ? undefined : ERR_RSA_VERIFICATION;
    }
    case 'ecdsa':
      return safeVerify(() => verify(algo.hash, signed, { key, dsaEncoding: 'der' }, signature)) ? undefined : ERR_ECDSA_VERIFICATION;
    case 'ed25519':
      return safeVerify(() => verify(null, signed, key, signature)) ? undefined : ERR_ED25519_VERIFICATION;
  }
}

function hashLength(hash: string): number {
  return hash === 'sha256' ? 32 : hash === 'sha384' ? 48 : 64;
}

function safeVerify(f: () => boolean): boolean {
  try {
    return f();
  } catch {
    return false;
  }
}

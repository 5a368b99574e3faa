/**
 * Verifies the certificate's self-signature. Go's aTLS does not (the leaf is
 * its own root and TLS CertificateVerify proves key possession); we add it as
 * defence in depth — Go-made certificates always pass. Supported: ECDSA and
 * RSA PKCS#1 v1.5 with SHA-256/384/512, RSA-PSS in the three shapes Go
 * recognises (MGF1 with the message hash, salt length = hash length, trailer
 * 1), and Ed25519. Anything else fails closed with CertSignature.
 */
import { constants, verify, type KeyObject } from 'node:crypto';
import { ErrorCode, JoinServiceError } from '../../shared/errors.js';
import { contentOf, DerCursor, readInt64, readOid, T } from './der-cursor.js';
import type { AlgorithmIdentifier, ParsedCertificate } from './parse-certificate.js';
import type { KeyAlgorithm } from './public-key.js';

type Hash = 'sha256' | 'sha384' | 'sha512';

interface SignatureScheme {
  name: string;
  key: KeyAlgorithm;
  hash: Hash | null;
  pss?: boolean;
}

const HASH_OIDS: Readonly<Record<string, Hash>> = {
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};
const HASH_LENGTH: Readonly<Record<Hash, number>> = { sha256: 32, sha384: 48, sha512: 64 };

const SIMPLE_SCHEMES: Readonly<Record<string, SignatureScheme>> = {
  '1.2.840.10045.4.3.2': { name: 'ecdsa-with-SHA256', key: 'ecdsa', hash: 'sha256' },
  '1.2.840.10045.4.3.3': { name: 'ecdsa-with-SHA384', key: 'ecdsa', hash: 'sha384' },
  '1.2.840.10045.4.3.4': { name: 'ecdsa-with-SHA512', key: 'ecdsa', hash: 'sha512' },
  '1.2.840.113549.1.1.11': { name: 'sha256WithRSAEncryption', key: 'rsa', hash: 'sha256' },
  '1.2.840.113549.1.1.12': { name: 'sha384WithRSAEncryption', key: 'rsa', hash: 'sha384' },
  '1.2.840.113549.1.1.13': { name: 'sha512WithRSAEncryption', key: 'rsa', hash: 'sha512' },
  '1.3.101.112': { name: 'Ed25519', key: 'ed25519', hash: null },
};
const OID_RSASSA_PSS = '1.2.840.113549.1.1.10';
const OID_MGF1 = '1.2.840.113549.1.1.8';
const NULL_DER = '0500';

function signatureError(message: string, details?: Record<string, string>): JoinServiceError {
  return new JoinServiceError(ErrorCode.CertSignature, message, details);
}

export function verifySelfSignature(cert: ParsedCertificate, key: KeyObject): void {
  const alg = cert.signatureAlgorithm;
  const scheme = resolveScheme(alg);
  if (scheme.key !== cert.publicKey.algorithm) {
    throw signatureError(`signature algorithm ${scheme.name} does not match the ${cert.publicKey.algorithm} public key`, {
      signatureAlgorithmOid: alg.oid,
    });
  }
  if (cert.signature.unusedBits !== 0) throw signatureError('signature BIT STRING has unused bits');
  const sig = cert.signature.bytes;
  let ok: boolean;
  try {
    if (scheme.key === 'ecdsa') {
      ok = verify(scheme.hash, cert.tbs, { key, dsaEncoding: 'der' }, sig);
    } else if (scheme.key === 'rsa') {
      const options = scheme.pss
        ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: HASH_LENGTH[scheme.hash!] }
        : { key, padding: constants.RSA_PKCS1_PADDING };
      ok = verify(scheme.hash, cert.tbs, options, sig);
    } else {
      ok = verify(null, cert.tbs, key, sig);
    }
  } catch {
    ok = false;
  }
  if (!ok) throw signatureError(`certificate self-signature (${scheme.name}) does not verify`);
}

function resolveScheme(alg: AlgorithmIdentifier): SignatureScheme {
  const params = alg.params ? Buffer.from(alg.params).toString('hex') : undefined;
  const simple = SIMPLE_SCHEMES[alg.oid];
  if (simple) {
    // RFC 5758 / 8410: ECDSA and Ed25519 identifiers have no parameters; RSA ones NULL (or, leniently, none).
    const paramsOk = simple.key === 'rsa' ? params === undefined || params === NULL_DER : params === undefined;
    if (!paramsOk) throw signatureError(`unexpected parameters for signature algorithm ${simple.name}`, { signatureAlgorithmOid: alg.oid });
    return simple;
  }
  if (alg.oid === OID_RSASSA_PSS) return resolvePss(alg.params);
  throw signatureError(`unsupported certificate signature algorithm ${alg.oid}`, { signatureAlgorithmOid: alg.oid });
}

/**
 * RSASSA-PSS-params (RFC 4055) restricted as Go's getSignatureAlgorithmFromAI
 * does: explicit hash SHA-256/384/512 (params absent or NULL), MGF1 with the
 * same hash, salt length equal to the hash length, trailer field 1.
 */
function resolvePss(params: Uint8Array | undefined): SignatureScheme {
  const bad = (): never => {
    throw signatureError('unsupported RSA-PSS parameters', { signatureAlgorithmOid: OID_RSASSA_PSS });
  };
  if (!params) return bad();
  const top = DerCursor.of(params).read(T.Sequence);
  if (!top) return bad();
  const c = DerCursor.inside(top);
  const hashAi = c.read(0xa0);
  const mgfAi = c.read(0xa1);
  const saltEl = c.read(0xa2);
  const trailerEl = c.readOptional(0xa3);
  if (!hashAi || !mgfAi || !saltEl || trailerEl === false || !c.empty()) return bad();

  const hash = readHashAlgorithm(DerCursor.inside(hashAi)) ?? bad();
  const mgf = DerCursor.inside(mgfAi).read(T.Sequence) ?? bad();
  const mc = DerCursor.inside(mgf);
  if (readOid(mc) !== OID_MGF1) return bad();
  const mgfHash = readHashAlgorithm(mc) ?? bad();
  const saltCursor = DerCursor.inside(saltEl);
  const salt = readInt64(saltCursor);
  let trailer = 1n;
  if (trailerEl) trailer = readInt64(DerCursor.inside(trailerEl)) ?? bad();
  if (mgfHash !== hash || salt !== BigInt(HASH_LENGTH[hash]) || trailer !== 1n) return bad();
  return { name: `RSASSA-PSS with ${hash.toUpperCase()}`, key: 'rsa', hash, pss: true };
}

/** An AlgorithmIdentifier SEQUENCE naming SHA-256/384/512 with absent or NULL parameters. */
function readHashAlgorithm(c: DerCursor): Hash | undefined {
  const seq = c.read(T.Sequence);
  if (!seq) return undefined;
  const hc = DerCursor.inside(seq);
  const hash = HASH_OIDS[readOid(hc) ?? ''];
  if (!hash) return undefined;
  if (!hc.empty()) {
    const p = hc.read(T.Null);
    if (!p || contentOf(p).length !== 0 || !hc.empty()) return undefined;
  }
  return hash;
}

/**
 * Verifying one quote: go-tpm-tools `internal.VerifyQuote` (tpm-attestation.md
 * §5) with Go's texts, in Go's order; the first failure ends the attempt:
 *
 * 1. decode `raw_sig` (TPMT_SIGNATURE);
 * 2. signature hash Hs ∈ {SHA-256, SHA-384, SHA-512};
 * 3. scheme vs key: ECDSA key ↔ ECDSA signature (r, s ∈ [1, n−1]); RSA key ↔
 *    RSASSA (PKCS#1 v1.5) only, with Go 1.24 crypto/rsa's key limits and an
 *    exact signature length;
 * 4. decode `quote` (TPMS_ATTEST), type must be quote;
 * 5. extraData == expected (constant time; lengths must match);
 * 6. PCR selection == the `pcrs` object (hash and index set);
 * 7. Hs(PCR values of indices 0…23 present, ascending) == pcrDigest.
 */
import { createHash, hash as oneShotHash, timingSafeEqual, verify } from 'node:crypto';
import { ErrorCode, JoinServiceError } from '../../../../shared/errors.js';
import type { QuotedPcrs, TpmQuote } from '../types.js';
import { Alg, algHex, AttestTag, goBytes, hashOf, type HashInfo, toAlg } from './tpm-alg.js';
import { tpmError, wrapError } from './tpm-reader.js';
import { decodeQuoteAttest, type PcrSelection } from './tpms-attest.js';
import { decodeTpmtSignature, type TpmtSignature } from './tpmt-signature.js';
import type { AkVerificationKey } from './tpmt-public.js';

/** go-tpm-tools SignatureHashAlgs. */
const SIGNATURE_HASH_ALGS: ReadonlySet<number> = new Set([Alg.SHA512, Alg.SHA384, Alg.SHA256]);

/** Go's crypto/rsa ErrVerification text. */
const RSA_VERIFICATION_ERROR = 'crypto/rsa: verification error';

function rejected(message: string): JoinServiceError {
  return new JoinServiceError(ErrorCode.AttestationRejected, message);
}

/** go-tpm-tools verifyHashAlg: the signature's hash, or Go's error. */
function signatureHash(sig: TpmtSignature): HashInfo {
  const hashAlg = sig.ecc ? sig.ecc.hashAlg : sig.rsa!.hashAlg;
  const h = hashOf(hashAlg);
  if (typeof h === 'string') throw rejected(h);
  if (!SIGNATURE_HASH_ALGS.has(hashAlg)) throw rejected(`unsupported signature hash algorithm: ${h.goName}`);
  return h;
}

function safeVerify(alg: string, data: Uint8Array, key: Parameters<typeof verify>[2], sig: Uint8Array): boolean {
  try {
    return verify(alg, data, key, sig);
  } catch {
    return false;
  }
}

function toBigInt(b: Uint8Array): bigint {
  if (b.length === 0) return 0n;
  return BigInt(`0x${Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')}`);
}

function verifyEcdsa(ak: AkVerificationKey, h: HashInfo, quoted: Uint8Array, sig: TpmtSignature): void {
  if (sig.alg !== Alg.ECDSA) throw rejected(`signature scheme 0x${algHex(sig.alg)} is not supported, only ECDSA is supported`);
  const { order, orderBytes } = ak.ecdsa!;
  const r = toBigInt(sig.ecc!.r);
  const s = toBigInt(sig.ecc!.s);
  const key = ak.keyObject();
  let ok = false;
  if (key && r > 0n && s > 0n && r < order && s < order) {
    const p1363 = Buffer.from(r.toString(16).padStart(2 * orderBytes, '0') + s.toString(16).padStart(2 * orderBytes, '0'), 'hex');
    ok = safeVerify(h.node, quoted, { key, dsaEncoding: 'ieee-p1363' }, p1363);
  }
  if (!ok) throw rejected('ECC signature verification failed');
}

function verifyRsassa(ak: AkVerificationKey, h: HashInfo, quoted: Uint8Array, sig: TpmtSignature): void {
  if (sig.alg !== Alg.RSASSA) {
    throw rejected(`signature scheme 0x${algHex(sig.alg)} is not supported, only RSASSA (PKCS#1 v1.5) is supported`);
  }
  const { sizeBytes, keyError } = ak.rsa!;
  if (keyError !== undefined) throw rejected(`RSASSA signature verification failed: ${keyError}`);
  const signature = sig.rsa!.signature;
  const key = ak.keyObject();
  if (signature.length !== sizeBytes || !key || !safeVerify(h.node, quoted, key, signature)) {
    throw rejected(`RSASSA signature verification failed: ${RSA_VERIFICATION_ERROR}`);
  }
}

/** go-tpm-tools SamePCRSelection (bank compared as tpm2.Algorithm, i.e. the low 16 bits). */
export function samePcrSelection(pcrs: QuotedPcrs | null, sel: PcrSelection): boolean {
  const hash = pcrs ? toAlg(pcrs.hash) : 0;
  if (hash !== sel.hash) return false;
  const map = pcrs?.pcrs;
  const size = map ? map.size : 0;
  if (size !== sel.pcrs.length) return false;
  for (const i of sel.pcrs) if (!map?.has(i)) return false;
  return true;
}

/** Reused buffer for the concatenated PCR values (24 SHA-512 values fit). */
const scratch = new Uint8Array(24 * 64);

/** go-tpm-tools PCRDigest: `hash` over the values of PCRs 0…23 present, ascending (higher indices are never hashed). */
export function pcrDigest(pcrs: QuotedPcrs | null, hashName: string): Buffer {
  const map = pcrs?.pcrs;
  let len = 0;
  if (map) {
    for (let i = 0; i < 24; i++) {
      const v = map.get(i);
      if (!v) continue;
      if (len + v.length > scratch.length) return pcrDigestLarge(map, hashName);
      scratch.set(v, len);
      len += v.length;
    }
  }
  return oneShotHash(hashName, scratch.subarray(0, len), 'buffer');
}

function pcrDigestLarge(map: Map<number, Uint8Array>, hashName: string): Buffer {
  const h = createHash(hashName);
  for (let i = 0; i < 24; i++) {
    const v = map.get(i);
    if (v) h.update(v);
  }
  return h.digest();
}

function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * go-tpm-tools `internal.VerifyQuote` against an already trusted AK. Throws
 * JoinServiceError with Go's text: AttestationMalformed for decoding
 * failures, AttestationNonceMismatch for the extraData mismatch,
 * AttestationRejected otherwise.
 */
export function verifyQuote(quote: TpmQuote, ak: AkVerificationKey, extraData: Uint8Array): void {
  let sig: TpmtSignature;
  try {
    sig = decodeTpmtSignature(quote.rawSig);
  } catch (err) {
    throw wrapError('signature decoding failed', err);
  }
  const h = signatureHash(sig);
  if (ak.identity.type === 'ecdsa') verifyEcdsa(ak, h, quote.quote, sig);
  else verifyRsassa(ak, h, quote.quote, sig);

  let ad;
  try {
    ad = decodeQuoteAttest(quote.quote);
  } catch (err) {
    throw wrapError('decoding attestation data failed', err);
  }
  if (ad.type !== AttestTag.QUOTE) throw rejected(`expected quote tag, got: ${ad.type}`);
  const info = ad.quoteInfo;
  if (!info) throw rejected('attestation data does not contain quote info');
  if (!constantTimeEqual(ad.extraData, extraData)) {
    throw tpmError(
      `quote extraData ${goBytes(ad.extraData)} did not match expected extraData ${goBytes(extraData)}`,
      ErrorCode.AttestationNonceMismatch,
    );
  }
  if (!samePcrSelection(quote.pcrs, info.pcrSelection)) throw rejected('given PCRs and Quote do not have the same PCR selection');
  if (!constantTimeEqual(info.pcrDigest, pcrDigest(quote.pcrs, h.node))) throw rejected('given PCRs digest not matching');
}

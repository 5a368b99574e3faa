/**
 * TPMT_SIGNATURE (`raw_sig`, tpm-attestation.md §4.4): go-tpm's
 * DecodeSignature with its error texts. RSASSA and RSAPSS carry
 * `hashAlg ‖ TPM2B sig`, ECDSA `hashAlg ‖ TPM2B r ‖ TPM2B s`; every other
 * scheme is a decode error. Trailing bytes are ignored.
 */
import { Alg, algHex } from './tpm-alg.js';
import { TpmReader, tpmError, wrapError } from './tpm-reader.js';

export interface TpmtSignature {
  alg: number;
  /** RSASSA / RSAPSS. */
  rsa?: { hashAlg: number; signature: Uint8Array };
  /** ECDSA: r and s as carried (unsigned big-endian, leading zeros kept). */
  ecc?: { hashAlg: number; r: Uint8Array; s: Uint8Array };
}

/** go-tpm `DecodeSignature`; throws JoinServiceError(AttestationMalformed) with Go's text. Byte fields are views into `buf`. */
export function decodeTpmtSignature(buf: Uint8Array): TpmtSignature {
  const r = new TpmReader(buf);
  let ctx = 'decoding Alg';
  try {
    const alg = r.u16();
    switch (alg) {
      case Alg.RSASSA:
      case Alg.RSAPSS: {
        ctx = 'decoding RSA';
        const hashAlg = r.u16();
        return { alg, rsa: { hashAlg, signature: r.sized() } };
      }
      case Alg.ECDSA: {
        ctx = 'decoding ECC';
        const hashAlg = r.u16();
        const sr = r.sized();
        return { alg, ecc: { hashAlg, r: sr, s: r.sized() } };
      }
      default:
        ctx = '';
        throw tpmError(`unsupported signature algorithm 0x${algHex(alg)}`);
    }
  } catch (err) {
    throw ctx === '' ? err : wrapError(ctx, err);
  }
}

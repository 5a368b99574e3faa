/**
 * TPMS_ATTEST (`quote`, tpm-attestation.md §4.3): go-tpm's
 * DecodeAttestationData with its error texts and quirks:
 *
 * - magic ≠ 0xFF544347 → "incorrect magic value: <hex>";
 * - CERTIFY and CREATION bodies decode too, any other type is an error
 *   (VerifyQuote then refuses a non-quote type with its own text);
 * - the quote's TPML_PCR_SELECTION must hold exactly one selection, except
 *   that count 0 decodes as a single selection with hash 0 and no PCRs;
 * - a short pcrSelect read is not itself an error (bytes.Buffer.Read), the
 *   next read then fails;
 * - a TPM2B_NAME of size 0 is empty, of size 4 a handle, otherwise
 *   `hashAlg ‖ digest` with the digest length taken from hashAlg (a shorter
 *   digest is accepted, an unknown hash is an error);
 * - trailing bytes are ignored.
 */
import { AttestTag, hashOf, TPM_GENERATED_VALUE } from './tpm-alg.js';
import { TpmReader, tpmError, wrapError } from './tpm-reader.js';

export interface TpmName {
  handle?: number;
  digest?: { alg: number; value: Uint8Array };
}

export interface PcrSelection {
  /** TPM_ALG_ID of the bank. */
  hash: number;
  /** Selected PCR indices in ascending order. */
  pcrs: number[];
}

export interface TpmsAttest {
  magic: number;
  type: number;
  qualifiedSigner: TpmName;
  extraData: Uint8Array;
  clockInfo: { clock: bigint; resetCount: number; restartCount: number; safe: number };
  firmwareVersion: bigint;
  quoteInfo?: { pcrSelection: PcrSelection; pcrDigest: Uint8Array };
  certifyInfo?: { name: TpmName; qualifiedName: TpmName };
  creationInfo?: { name: TpmName; opaqueDigest: Uint8Array };
}

/** go-tpm DecodeName (inner texts: "decoding Digest: decoding Alg|Value: …", or the hash error). */
function decodeName(r: TpmReader): TpmName {
  const nameBuf = r.sized();
  const len = nameBuf.length;
  if (len === 0) return {};
  if (len === 4) return { handle: ((nameBuf[0]! << 24) | (nameBuf[1]! << 16) | (nameBuf[2]! << 8) | nameBuf[3]!) >>> 0 };
  // hashAlg ‖ digest, read from nameBuf with bytes.Buffer semantics
  if (len < 2) throw tpmError('decoding Digest: decoding Alg: unexpected EOF');
  const alg = (nameBuf[0]! << 8) | nameBuf[1]!;
  const h = hashOf(alg);
  if (typeof h === 'string') throw tpmError(`decoding Digest: ${h}`);
  if (len === 2 && h.size > 0) throw tpmError('decoding Digest: decoding Value: EOF');
  return { digest: { alg, value: nameBuf.subarray(2, 2 + h.size) } };
}

/** go-tpm decodeTPMLPCRSelection + decodeOneTPMLPCRSelection. */
function decodeOnePcrSelection(r: TpmReader): PcrSelection {
  const count = r.u32();
  let first: PcrSelection | undefined;
  let n = 0;
  // Every iteration consumes at least 3 bytes or fails, so this is bounded by the input.
  for (let i = 0; i < count; i++) {
    const hash = r.u16();
    const size = r.u8();
    const bits = r.readUpTo(size); // a short read leaves the missing bytes zero
    let count = 0;
    for (let j = 0; j < bits.length; j++) for (let b = bits[j]!; b !== 0; b &= b - 1) count++;
    const pcrs = new Array<number>(count);
    let at = 0;
    for (let j = 0; j < bits.length; j++) {
      const b = bits[j]!;
      if (b === 0) continue;
      for (let k = 0; k < 8; k++) if (b & (1 << k)) pcrs[at++] = 8 * j + k;
    }
    if (n++ === 0) first = { hash, pcrs };
  }
  if (n === 0) return { hash: 0, pcrs: [] };
  if (n !== 1) throw tpmError(`got ${n} TPMS_PCR_SELECTION items in TPML_PCR_SELECTION, expected 1`);
  return first!;
}

/**
 * go-tpm `DecodeAttestationData`; throws JoinServiceError(AttestationMalformed)
 * with Go's text. Byte fields are views into `buf`. (Error contexts are
 * tracked in a variable rather than with nested closures: this runs for every
 * candidate quote.)
 */
export function decodeQuoteAttest(buf: Uint8Array): TpmsAttest {
  const r = new TpmReader(buf);
  let ctx = 'decoding Magic/Type';
  let ad: TpmsAttest;
  try {
    const magic = r.u32();
    const type = r.u16();
    if (magic !== TPM_GENERATED_VALUE) {
      ctx = '';
      throw tpmError(`incorrect magic value: ${magic.toString(16)}`);
    }
    ctx = 'decoding QualifiedSigner';
    const qualifiedSigner = decodeName(r);
    ctx = 'decoding ExtraData/ClockInfo/FirmwareVersion';
    const extraData = r.sized();
    const clockInfo = { clock: r.u64(), resetCount: r.u32(), restartCount: r.u32(), safe: r.u8() };
    const firmwareVersion = r.u64();
    ad = { magic, type, qualifiedSigner, extraData, clockInfo, firmwareVersion };
    switch (type) {
      case AttestTag.CERTIFY:
        ctx = 'decoding AttestedCertifyInfo: decoding Name';
        {
          const name = decodeName(r);
          ctx = 'decoding AttestedCertifyInfo: decoding QualifiedName';
          ad.certifyInfo = { name, qualifiedName: decodeName(r) };
        }
        break;
      case AttestTag.CREATION:
        ctx = 'decoding AttestedCreationInfo: decoding Name';
        {
          const name = decodeName(r);
          ctx = 'decoding AttestedCreationInfo: decoding Digest';
          ad.creationInfo = { name, opaqueDigest: r.sized() };
        }
        break;
      case AttestTag.QUOTE:
        ctx = 'decoding AttestedQuoteInfo: decoding PCRSelection';
        {
          const pcrSelection = decodeOnePcrSelection(r);
          ctx = 'decoding AttestedQuoteInfo: decoding PCRDigest';
          ad.quoteInfo = { pcrSelection, pcrDigest: r.sized() };
        }
        break;
      default:
        ctx = '';
        throw tpmError(`only Quote, Certify & Creation attestation structures are supported, got type 0x${type.toString(16)}`);
    }
  } catch (err) {
    throw ctx === '' ? err : wrapError(ctx, err);
  }
  return ad;
}

/**
 * Encoders for the TPM 2.0 structures a TPM returns when a node issues a
 * vTPM attestation document (tpm-attestation.md §4, §12): the AK's
 * TPMT_PUBLIC, its (qualified) name, TPMS_ATTEST of TPM2_Quote and
 * TPMT_SIGNATURE. The byte layout is what swtpm (libtpms) produces for a key
 * created with go-tpm-tools' AK templates (or the equivalent
 * `tpm2_createprimary -C o -G rsa2048:rsassa-sha256:null` /
 * `ecc256:ecdsa-sha256:null`); test/e2e/swtpm.test.ts compares them byte for
 * byte with swtpm's output.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { TpmAlg } from '../types.js';

export const TPM_GENERATED_VALUE = 0xff544347;
export const TPM_ST_ATTEST_QUOTE = 0x8018;
export const TPM_ALG_RSA = 0x0001;
export const TPM_ALG_ECC = 0x0023;
export const TPM_ALG_NULL = 0x0010;
export const TPM_ALG_RSASSA = 0x0014;
export const TPM_ALG_ECDSA = 0x0018;
export const TPM_ECC_NIST_P256 = 0x0003;
/** TPM_RH_OWNER: the hierarchy go-tpm-tools' AttestationKeyRSA/ECC are created in (qemu-vtpm, aws-nitro-tpm). */
export const TPM_RH_OWNER = 0x40000001;
export const TPM_RH_ENDORSEMENT = 0x4000000b;
/** fixedTPM | fixedParent | sensitiveDataOrigin | userWithAuth | restricted | sign (go-tpm-tools AK templates). */
export const AK_ATTRIBUTES = 0x00050072;

/** PCR bank names the issuers handle, with TPM_ALG_ID, Node hash name and digest size. */
export const BANKS = {
  sha1: { alg: TpmAlg.SHA1, hash: 'sha1', size: 20 },
  sha256: { alg: TpmAlg.SHA256, hash: 'sha256', size: 32 },
  sha384: { alg: TpmAlg.SHA384, hash: 'sha384', size: 48 },
  sha512: { alg: TpmAlg.SHA512, hash: 'sha512', size: 64 },
} as const;
export type BankName = keyof typeof BANKS;

export function bankName(bank: BankName | number): BankName {
  if (typeof bank === 'string') {
    if (!Object.hasOwn(BANKS, bank)) throw new Error(`unknown PCR bank ${JSON.stringify(bank)}`);
    return bank;
  }
  for (const [name, b] of Object.entries(BANKS)) if (b.alg === bank) return name as BankName;
  throw new Error(`unknown PCR bank algorithm 0x${bank.toString(16)}`);
}

/** A big-endian byte writer. */
export class TpmWriter {
  private buf: Buffer;
  private n = 0;

  constructor(capacity = 256) {
    this.buf = Buffer.alloc(capacity);
  }

  private ensure(extra: number): void {
    if (this.n + extra <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.n + extra));
    this.buf.copy(next, 0, 0, this.n);
    this.buf = next;
  }

  u8(v: number): this {
    this.ensure(1);
    this.buf.writeUInt8(v, this.n);
    this.n += 1;
    return this;
  }

  u16(v: number): this {
    this.ensure(2);
    this.buf.writeUInt16BE(v, this.n);
    this.n += 2;
    return this;
  }

  u32(v: number): this {
    this.ensure(4);
    this.buf.writeUInt32BE(v >>> 0, this.n);
    this.n += 4;
    return this;
  }

  u64(v: bigint): this {
    this.ensure(8);
    this.buf.writeBigUInt64BE(BigInt.asUintN(64, v), this.n);
    this.n += 8;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
    return this;
  }

  /** TPM2B: u16 size ‖ bytes. */
  tpm2b(b: Uint8Array): this {
    if (b.length > 0xffff) throw new Error('TPM2B too long');
    return this.u16(b.length).bytes(b);
  }

  finish(): Uint8Array {
    return new Uint8Array(this.buf.subarray(0, this.n));
  }
}

function fromBase64Url(s: string | undefined): Buffer {
  if (s === undefined) throw new Error('incomplete JWK');
  return Buffer.from(s, 'base64url');
}

/** Left-pads (or strips leading zeros of) an unsigned big-endian integer to `size` bytes. */
export function fixedWidth(b: Uint8Array, size: number): Uint8Array {
  let start = 0;
  while (b.length - start > size && b[start] === 0) start++;
  if (b.length - start > size) throw new Error(`integer does not fit into ${size} bytes`);
  const out = new Uint8Array(size);
  out.set(b.subarray(start), size - (b.length - start));
  return out;
}

/**
 * TPMT_PUBLIC (no TPM2B size prefix) of an AK created from go-tpm-tools'
 * AKTemplateRSA (RSA-2048, RSASSA-SHA256, exponent field 0 = 65537) or
 * AKTemplateECC (P-256, ECDSA-SHA256, KDF NULL), with `unique` = the key.
 * This is what `tpm2_readpublic -f tpmt` and go-tpm's re-encoding yield.
 */
export function encodeAkPublic(publicKey: KeyObject): Uint8Array {
  const jwk = publicKey.export({ format: 'jwk' });
  const w = new TpmWriter(300);
  if (publicKey.asymmetricKeyType === 'rsa') {
    const n = fromBase64Url(jwk.n);
    const e = fromBase64Url(jwk.e);
    const exponent = e.length > 4 ? NaN : e.reduce((acc, b) => acc * 256 + b, 0);
    if (!Number.isSafeInteger(exponent)) throw new Error('RSA exponent does not fit into 32 bits');
    const modulus = fixedWidth(n, n.length - (n[0] === 0 ? 1 : 0));
    const keyBits = modulus.length * 8;
    w.u16(TPM_ALG_RSA).u16(TpmAlg.SHA256).u32(AK_ATTRIBUTES).tpm2b(new Uint8Array(0));
    w.u16(TPM_ALG_NULL); // symmetric
    w.u16(TPM_ALG_RSASSA).u16(TpmAlg.SHA256); // scheme
    w.u16(keyBits).u32(exponent === 65537 ? 0 : exponent);
    w.tpm2b(modulus);
    return w.finish();
  }
  if (publicKey.asymmetricKeyType === 'ec') {
    if (jwk.crv !== 'P-256') throw new Error(`unsupported AK curve ${String(jwk.crv)}`);
    w.u16(TPM_ALG_ECC).u16(TpmAlg.SHA256).u32(AK_ATTRIBUTES).tpm2b(new Uint8Array(0));
    w.u16(TPM_ALG_NULL); // symmetric
    w.u16(TPM_ALG_ECDSA).u16(TpmAlg.SHA256); // scheme
    w.u16(TPM_ECC_NIST_P256);
    w.u16(TPM_ALG_NULL); // kdf
    w.tpm2b(fixedWidth(fromBase64Url(jwk.x), 32)).tpm2b(fixedWidth(fromBase64Url(jwk.y), 32));
    return w.finish();
  }
  throw new Error(`unsupported AK type ${String(publicKey.asymmetricKeyType)}`);
}

/** TPM2B_NAME content of an object with nameAlg SHA-256: `000b ‖ SHA-256(TPMT_PUBLIC)`. */
export function objectName(tpmtPublic: Uint8Array): Uint8Array {
  const w = new TpmWriter(34);
  return w.u16(TpmAlg.SHA256).bytes(createHash('sha256').update(tpmtPublic).digest()).finish();
}

/**
 * Qualified name of a primary object (TPM 2.0 Part 1 §16): nameAlg ‖
 * H(QN(hierarchy) ‖ Name), where a hierarchy's qualified name is its handle.
 * This, not the plain name, is what TPM2_Quote puts into
 * TPMS_ATTEST.qualifiedSigner.
 */
export function primaryQualifiedName(tpmtPublic: Uint8Array, hierarchy = TPM_RH_OWNER): Uint8Array {
  const parent = new TpmWriter(4).u32(hierarchy).finish();
  const inner = createHash('sha256').update(parent).update(objectName(tpmtPublic)).digest();
  return new TpmWriter(34).u16(TpmAlg.SHA256).bytes(inner).finish();
}

/** One TPMS_PCR_SELECTION (`u16 hash ‖ u8 sizeofSelect ‖ bitmap`) selecting `indices`; 3 bitmap bytes for 24 PCRs. */
export function encodePcrSelection(bankAlg: number, indices: Iterable<number>, sizeofSelect = 3): Uint8Array {
  const bitmap = new Uint8Array(sizeofSelect);
  for (const i of indices) {
    if (!Number.isInteger(i) || i < 0 || i >= sizeofSelect * 8) throw new Error(`PCR index ${i} outside the selection`);
    bitmap[i >> 3]! |= 1 << (i & 7);
  }
  return new TpmWriter(3 + sizeofSelect).u16(bankAlg).u8(sizeofSelect).bytes(bitmap).finish();
}

/** TPMS_CLOCK_INFO. */
export interface ClockInfo {
  /** Milliseconds the TPM has been running (u64). */
  clock: bigint;
  /** u32; obfuscated by the TPM for keys outside the endorsement/platform hierarchies. */
  resetCount: number;
  /** u32; obfuscated like resetCount. */
  restartCount: number;
  safe: boolean;
}

export interface QuoteAttestFields {
  /** TPM2B_NAME content (usually primaryQualifiedName of the AK). */
  qualifiedSigner: Uint8Array;
  /** TPM2B_DATA content = qualifyingData of TPM2_Quote (the tpmNonce). */
  extraData: Uint8Array;
  clockInfo: ClockInfo;
  /** u64; obfuscated like resetCount. */
  firmwareVersion: bigint;
  /** The TPMS_PCR_SELECTION bytes (encodePcrSelection), exactly one selection. */
  pcrSelection: Uint8Array;
  /** TPM2B_DIGEST content: H_sig(selected PCR values in ascending order). */
  pcrDigest: Uint8Array;
}

/** TPMS_ATTEST of type TPM_ST_ATTEST_QUOTE with one PCR selection (no TPM2B size prefix). */
export function encodeQuoteAttest(f: QuoteAttestFields): Uint8Array {
  const w = new TpmWriter(160);
  w.u32(TPM_GENERATED_VALUE).u16(TPM_ST_ATTEST_QUOTE);
  w.tpm2b(f.qualifiedSigner).tpm2b(f.extraData);
  w.u64(f.clockInfo.clock).u32(f.clockInfo.resetCount).u32(f.clockInfo.restartCount).u8(f.clockInfo.safe ? 1 : 0);
  w.u64(f.firmwareVersion);
  w.u32(1).bytes(f.pcrSelection);
  w.tpm2b(f.pcrDigest);
  return w.finish();
}

/** The PCR digest of a quote: the concatenated values (ascending index order) hashed with the signing scheme's hash. */
export function quotePcrDigest(values: Iterable<Uint8Array>, hash = 'sha256'): Uint8Array {
  const h = createHash(hash);
  for (const v of values) h.update(v);
  return new Uint8Array(h.digest());
}

/** TPMT_SIGNATURE for RSASSA: `0014 ‖ hashAlg ‖ TPM2B sig`. */
export function encodeRsassaSignature(hashAlg: number, signature: Uint8Array): Uint8Array {
  return new TpmWriter(6 + signature.length).u16(TPM_ALG_RSASSA).u16(hashAlg).tpm2b(signature).finish();
}

/** TPMT_SIGNATURE for ECDSA: `0018 ‖ hashAlg ‖ TPM2B r ‖ TPM2B s`, r and s padded to the curve size as libtpms does. */
export function encodeEcdsaSignature(hashAlg: number, r: Uint8Array, s: Uint8Array, size = 32): Uint8Array {
  return new TpmWriter(8 + 2 * size).u16(TPM_ALG_ECDSA).u16(hashAlg).tpm2b(fixedWidth(r, size)).tpm2b(fixedWidth(s, size)).finish();
}

/** TPMT_SIGNATURE from an IEEE P1363 ECDSA signature (r ‖ s, equal halves). */
export function encodeEcdsaP1363Signature(hashAlg: number, p1363: Uint8Array): Uint8Array {
  const half = p1363.length / 2;
  return encodeEcdsaSignature(hashAlg, p1363.subarray(0, half), p1363.subarray(half), half);
}

/**
 * Test-only encoder of TPM 2.0 structures (tpm-attestation.md §4): AK
 * TPMT_PUBLICs (RSA, ECC), TPMS_ATTEST quotes over chosen PCR values and
 * TPMT_SIGNATUREs made with node:crypto, assembled into VtpmDocuments the
 * way an issuer would (§12.1), plus a trivial event-log processor that only
 * accepts an empty log (§7.1).
 */
import { constants, createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import type { EventLogProcessor, MachineState, QuotedPcrs, TpmQuote, VtpmDocument } from '../../../src/workers/attestation/vtpm/types.js';
import { nonceBinding } from '../../../src/workers/attestation/vtpm/tpm/nonce-binding.js';

export const ALG = {
  RSA: 0x0001,
  SHA1: 0x0004,
  HMAC: 0x0005,
  AES: 0x0006,
  KEYEDHASH: 0x0008,
  SHA256: 0x000b,
  SHA384: 0x000c,
  SHA512: 0x000d,
  NULL: 0x0010,
  RSASSA: 0x0014,
  RSAPSS: 0x0016,
  ECDSA: 0x0018,
  ECDAA: 0x001a,
  ECC: 0x0023,
  SYMCIPHER: 0x0025,
  SHA3_256: 0x0027,
} as const;

export const ST = { CERTIFY: 0x8017, QUOTE: 0x8018, TIME: 0x8019, CREATION: 0x801a } as const;

export const CURVE = { P224: 0x0002, P256: 0x0003, P384: 0x0004, P521: 0x0005, BN_P256: 0x0010 } as const;

const NODE_HASH: Readonly<Record<number, string>> = {
  [ALG.SHA1]: 'sha1',
  [ALG.SHA256]: 'sha256',
  [ALG.SHA384]: 'sha384',
  [ALG.SHA512]: 'sha512',
  [ALG.SHA3_256]: 'sha3-256',
};

export function nodeHash(alg: number): string {
  const h = NODE_HASH[alg];
  if (!h) throw new Error(`test builder: no node hash for 0x${alg.toString(16)}`);
  return h;
}

export function u8(n: number): Buffer {
  return Buffer.of(n & 0xff);
}
export function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n & 0xffff);
  return b;
}
export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}
export function u64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(n);
  return b;
}
export function tpm2b(b: Uint8Array): Buffer {
  return Buffer.concat([u16(b.length), b]);
}
export function cat(...parts: Uint8Array[]): Buffer {
  return Buffer.concat(parts);
}
export function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}

// ---------------------------------------------------------------------------
// Attestation keys

export interface TestAk {
  kind: 'rsa' | 'ecc';
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** TPMT_PUBLIC. */
  akPub: Buffer;
}

const AK_ATTRIBUTES = 0x00050072;

export interface RsaPublicOptions {
  exponentRaw?: number;
  modulus?: Uint8Array;
  scheme?: Uint8Array;
  symmetric?: Uint8Array;
  keyBits?: number;
}

/** TPMT_PUBLIC of an RSA key (go-tpm-tools AKTemplateRSA with the key's modulus). */
export function rsaAkPublic(pub: KeyObject, o: RsaPublicOptions = {}): Buffer {
  const jwk = pub.export({ format: 'jwk' });
  const n = o.modulus ?? Buffer.from(jwk.n!, 'base64url');
  const e = Buffer.from(jwk.e!, 'base64url');
  const eNum = e.reduce((acc, b) => acc * 256 + b, 0);
  const exponentRaw = o.exponentRaw ?? (eNum === 65537 ? 0 : eNum);
  return cat(
    u16(ALG.RSA),
    u16(ALG.SHA256),
    u32(AK_ATTRIBUTES),
    tpm2b(Buffer.alloc(0)),
    o.symmetric ?? u16(ALG.NULL),
    o.scheme ?? cat(u16(ALG.RSASSA), u16(ALG.SHA256)),
    u16(o.keyBits ?? n.length * 8),
    u32(exponentRaw),
    tpm2b(n),
  );
}

export interface EccPublicOptions {
  curveId?: number;
  x?: Uint8Array;
  y?: Uint8Array;
  scheme?: Uint8Array;
}

const CURVE_OF: Readonly<Record<string, { id: number; size: number }>> = {
  secp224r1: { id: CURVE.P224, size: 28 },
  prime256v1: { id: CURVE.P256, size: 32 },
  secp384r1: { id: CURVE.P384, size: 48 },
  secp521r1: { id: CURVE.P521, size: 66 },
};

/** TPM curve ID and affine coordinates of an EC public key (from its uncompressed SPKI point; JWK lacks P-224). */
export function ecPoint(pub: KeyObject): { curve: number; x: Buffer; y: Buffer } {
  const c = CURVE_OF[pub.asymmetricKeyDetails?.namedCurve ?? '']!;
  const spki = pub.export({ format: 'der', type: 'spki' });
  const point = spki.subarray(spki.length - (1 + 2 * c.size));
  return { curve: c.id, x: point.subarray(1, 1 + c.size), y: point.subarray(1 + c.size) };
}

/** TPMT_PUBLIC of an ECC key (go-tpm-tools AKTemplateECC with the key's point). */
export function eccAkPublic(pub: KeyObject, o: EccPublicOptions = {}): Buffer {
  const { curve, x, y } = ecPoint(pub);
  return cat(
    u16(ALG.ECC),
    u16(ALG.SHA256),
    u32(AK_ATTRIBUTES),
    tpm2b(Buffer.alloc(0)),
    u16(ALG.NULL),
    o.scheme ?? cat(u16(ALG.ECDSA), u16(ALG.SHA256)),
    u16(o.curveId ?? curve),
    u16(ALG.NULL),
    tpm2b(o.x ?? x),
    tpm2b(o.y ?? y),
  );
}

export function rsaAk(bits = 2048): TestAk {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  return { kind: 'rsa', privateKey, publicKey, akPub: rsaAkPublic(publicKey) };
}

export function eccAk(namedCurve = 'P-256'): TestAk {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve });
  return { kind: 'ecc', privateKey, publicKey, akPub: eccAkPublic(publicKey) };
}

// ---------------------------------------------------------------------------
// Signatures

/** TPMT_SIGNATURE with an RSA signature blob (RSASSA or RSAPSS). */
export function rsaSignature(alg: number, hashAlg: number, sig: Uint8Array): Buffer {
  return cat(u16(alg), u16(hashAlg), tpm2b(sig));
}

/** TPMT_SIGNATURE with ECDSA r and s. */
export function ecdsaSignature(hashAlg: number, r: Uint8Array, s: Uint8Array): Buffer {
  return cat(u16(ALG.ECDSA), u16(hashAlg), tpm2b(r), tpm2b(s));
}

export type Scheme = 'rsassa' | 'rsapss' | 'ecdsa';

/** Signs `data` with the AK as a TPM would (hash `hashAlg`), returning a TPMT_SIGNATURE. */
export function signTpm(ak: TestAk, data: Uint8Array, hashAlg: number = ALG.SHA256, scheme?: Scheme): Buffer {
  const h = nodeHash(hashAlg);
  const sch = scheme ?? (ak.kind === 'rsa' ? 'rsassa' : 'ecdsa');
  if (sch === 'ecdsa') {
    const p1363 = sign(h, data, { key: ak.privateKey, dsaEncoding: 'ieee-p1363' });
    const half = p1363.length / 2;
    return ecdsaSignature(hashAlg, p1363.subarray(0, half), p1363.subarray(half));
  }
  if (sch === 'rsapss') {
    return rsaSignature(ALG.RSAPSS, hashAlg, sign(h, data, { key: ak.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING }));
  }
  return rsaSignature(ALG.RSASSA, hashAlg, sign(h, data, ak.privateKey));
}

// ---------------------------------------------------------------------------
// TPMS_ATTEST

export function pcrSelectBits(indices: readonly number[], sizeofSelect = 3): Buffer {
  const b = Buffer.alloc(sizeofSelect);
  for (const i of indices) b[i >> 3]! |= 1 << (i & 7);
  return b;
}

/** One TPMS_PCR_SELECTION. */
export function pcrSelection(hash: number, indices: readonly number[], sizeofSelect = 3): Buffer {
  return cat(u16(hash), u8(sizeofSelect), pcrSelectBits(indices, sizeofSelect));
}

/** TPML_PCR_SELECTION with the given selections. */
export function pcrSelectionList(...sels: Uint8Array[]): Buffer {
  return cat(u32(sels.length), ...sels);
}

export interface AttestOptions {
  magic?: number;
  type?: number;
  /** TPM2B_NAME content (default: SHA-256 name of 34 bytes). */
  qualifiedSigner?: Uint8Array;
  extraData: Uint8Array;
  clock?: bigint;
  firmwareVersion?: bigint;
  /** TPML_PCR_SELECTION bytes (quote type). */
  selection?: Uint8Array;
  /** pcrDigest (quote type). */
  pcrDigest?: Uint8Array;
  /** Raw body after firmwareVersion (overrides selection/pcrDigest). */
  body?: Uint8Array;
  trailing?: Uint8Array;
}

export function attest(o: AttestOptions): Buffer {
  const signer = o.qualifiedSigner ?? cat(u16(ALG.SHA256), Buffer.alloc(32, 0xab));
  const body = o.body ?? cat(o.selection ?? pcrSelectionList(), tpm2b(o.pcrDigest ?? Buffer.alloc(0)));
  return cat(
    u32(o.magic ?? 0xff544347),
    u16(o.type ?? ST.QUOTE),
    tpm2b(signer),
    tpm2b(o.extraData),
    u64(o.clock ?? 123456789n),
    u32(7),
    u32(3),
    u8(1),
    u64(o.firmwareVersion ?? 0x2000_0000_0001n),
    body,
    o.trailing ?? Buffer.alloc(0),
  );
}

/** PCR values of a bank: value(i) = H_bank("pcr <seed> <i>"). */
export function pcrValues(bank: number, indices: readonly number[] = range(24), seed = 'boot'): Map<number, Uint8Array> {
  const m = new Map<number, Uint8Array>();
  for (const i of indices) m.set(i, createHash(nodeHash(bank)).update(`pcr ${seed} ${i}`).digest());
  return m;
}

export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** What a TPM signs as pcrDigest: H(values of the selected PCRs, ascending), all selected indices. */
export function tpmPcrDigest(pcrs: Map<number, Uint8Array>, indices: readonly number[], hashAlg: number): Buffer {
  const h = createHash(nodeHash(hashAlg));
  for (const i of [...indices].sort((a, b) => a - b)) h.update(pcrs.get(i) ?? Buffer.alloc(0));
  return h.digest();
}

export interface QuoteOptions {
  bank: number;
  extraData: Uint8Array;
  /** PCR values (default: pcrValues(bank)). */
  pcrs?: Map<number, Uint8Array>;
  /** Signature hash (default SHA-256); also the pcrDigest hash unless digestHash is given. */
  sigHash?: number;
  digestHash?: number;
  scheme?: Scheme;
  /** Overrides of the signed TPMS_ATTEST. */
  attest?: Partial<AttestOptions>;
}

/** A quote as the issuer emits it: TPMS_ATTEST over all PCRs of `bank`, signed by the AK. */
export function makeQuote(ak: TestAk, o: QuoteOptions): TpmQuote {
  const pcrs = o.pcrs ?? pcrValues(o.bank);
  const indices = [...pcrs.keys()].sort((a, b) => a - b);
  const sigHash: number = o.sigHash ?? ALG.SHA256;
  const quote = attest({
    extraData: o.extraData,
    selection: pcrSelectionList(pcrSelection(o.bank, indices)),
    pcrDigest: tpmPcrDigest(pcrs, indices, o.digestHash ?? sigHash),
    ...o.attest,
  });
  return { quote, rawSig: signTpm(ak, quote, sigHash, o.scheme), pcrs: { hash: o.bank, pcrs } };
}

export interface DocumentOptions {
  banks: readonly number[];
  nonce?: Uint8Array;
  userData?: Uint8Array | null;
  instanceInfo?: Uint8Array | null;
  eventLog?: Uint8Array;
}

export interface BuiltDocument {
  doc: VtpmDocument;
  tpmNonce: Uint8Array;
  extraData: Uint8Array;
  nonce: Uint8Array;
}

/** A document like Constellation's issuer builds: one quote per bank, in the given order. */
export function makeDocument(ak: TestAk, o: DocumentOptions): BuiltDocument {
  const nonce = o.nonce ?? Buffer.alloc(32, 0x11);
  const userData = o.userData === undefined ? Buffer.alloc(32, 0x22) : o.userData;
  const instanceInfo = o.instanceInfo === undefined ? null : o.instanceInfo;
  const { extraData, tpmNonce } = nonceBinding(userData, nonce, instanceInfo);
  const quotes = o.banks.map((bank) => makeQuote(ak, { bank, extraData: tpmNonce }));
  const doc: VtpmDocument = {
    attestation: {
      akPub: ak.akPub,
      quotes,
      eventLog: o.eventLog ?? new Uint8Array(0),
      akCert: new Uint8Array(0),
      intermediateCerts: [],
      teeAttestation: 'null',
    },
    instanceInfo,
    userData,
  };
  return { doc, tpmNonce, extraData, nonce };
}

export function trivialState(bank: number): MachineState {
  return { hash: bank, platform: { scrtmVersionId: new Uint8Array(0), technology: 0 }, secureBoot: { enabled: false }, verifiedEvents: 0 };
}

/** Accepts only an empty log (§7.1); anything else fails like an unparseable log. */
export const emptyLogOnly: EventLogProcessor = (eventLog, bank) => {
  if (eventLog.length !== 0) throw new Error('failed to parse event log: test processor accepts only an empty log');
  return trivialState(bank);
};

/** Wraps a processor and records the banks it was called for. */
export function recordingProcessor(inner: EventLogProcessor = emptyLogOnly): { calls: number[]; processor: EventLogProcessor } {
  const calls: number[] = [];
  return {
    calls,
    processor: (log, bank, pcrs) => {
      calls.push(bank);
      return inner(log, bank, pcrs);
    },
  };
}

export function clonePcrs(p: QuotedPcrs): QuotedPcrs {
  return { hash: p.hash, pcrs: new Map([...p.pcrs].map(([k, v]) => [k, Uint8Array.from(v)])) };
}

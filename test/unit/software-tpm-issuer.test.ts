/**
 * The software TPM issuer (src/workers/attestation/vtpm/issuer): structure of
 * its TPMT_PUBLIC, TPMS_ATTEST, TPMT_SIGNATURE and documents, checked with an
 * independent parser written here and node:crypto, plus swtpm-recorded
 * vectors (swtpm 0.7.1 / tpm2-tools 5.4 via test/helpers/swtpm.ts, default
 * measured boot, userData = 32 × 0x07, nonce = 32 × 0x09) that the encoders
 * must reproduce byte for byte. The live comparison with swtpm and the
 * tpm2-tools checks are in test/e2e/swtpm.test.ts.
 */
import assert from 'node:assert/strict';
import { createHash, createPublicKey, generateKeyPairSync, verify, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import { encodeVtpmDocument } from '../../src/workers/attestation/vtpm/envelope.js';
import {
  DEFAULT_BOOT_EVENTS,
  PcrBanks,
  QEMU_VTPM_MEASUREMENT_INDICES,
  SoftwareTpmIssuer,
  defaultDevAttestationConfig,
  devAttestationConfig,
  encodeAkPublic,
  encodeEcdsaSignature,
  encodePcrSelection,
  encodeQuoteAttest,
  encodeRsassaSignature,
  objectName,
  primaryQualifiedName,
  quotePcrDigest,
  tpmNonceFor,
} from '../../src/workers/attestation/vtpm/issuer/index.js';
import type { VtpmDocument } from '../../src/workers/attestation/vtpm/types.js';
import { renderVtpmDocumentJson } from '../helpers/swtpm.js';

const SWTPM_RECORDED = {
  rsa: {
    akPub:
      '0001000b00050072000000100014000b0800000000000100b5b19450ef6d0a682975bc7091e304254ab3a7737d00f77f976fa3c459e3ba107b50d3ab80f27d8a4e2d960bbfc1df73c85333162a12e67ac84e948a87e076692166f2dffe1c32adaed4c9d88d27e8ef2a55e6fa22a3e162de51cdfd9880e582d15bc5d302a05b7504709df6806b31b25becde925ebf1a64e8299574195196c25f64f7bfb812b55732c378a77cfff6d05a392b14a9294a9918f0c6210c062016eb7bbece5cbe2b31b9aa02bc64bb026f1ba19a18adcaf43b469e2b1890d1942ce8b22e57406b2e58eab393abfc1568845f014fc407aac6798465e357c12c642aa0e31e3f1bbfd3366f9cc0213d8c4634f25c11ab673033476146832ad39bbda9',
    quotes: [
      {
        bank: 4,
        quote:
          'ff54434780180022000be46de38714fc695ede91967ba5c1625e1ead46713939e822c5fe05e0ba09de8600207a6ef99386c2d2ac1d6809ff5c06365d675888323628a591502c7d0d57730dca0000000000000076ca772624cb273d79003a880a3b4a3238b400000001000403ffffff002003c8e7dc0c6c0b277af4d994e6127ef57ea7fca9af71102eb77893b84c046e20',
        rawSig:
          '0014000b010025efce47f5c18673e8f585e077404d70fc8e31a5e012a1c076f8b0ce36ba60af2964034f11d1d3765d64fe76d623566d5ba5b624368ab38e211c0d9f8e7386fae8c6ede51b4f77bf3bda6c78dab6be49c0ece23e9ff466b0bb29cc4a4dd88878a3f6df2e6ba72a326ae9fa6446706805a870e7492a17de965abf1cab53008ba0708087a19a4e1885b827af59923c3a060b25028b5f87fafa2f4e01066968b1a5033ff1f3731412778fea6688f30f9f847202bb554cc730a22dc0ff52c1353daedbff756c3c68e023d016343027cf6caa5b9b72a5da7e30424f20c34c9980b79212a1af83550e2604a7baab325c03ab5da3129c921bf6f37aac9373215547a920',
      },
      {
        bank: 11,
        quote:
          'ff54434780180022000be46de38714fc695ede91967ba5c1625e1ead46713939e822c5fe05e0ba09de8600207a6ef99386c2d2ac1d6809ff5c06365d675888323628a591502c7d0d57730dca0000000000000092ca772624cb273d79003a880a3b4a3238b400000001000b03ffffff0020dc7707c29d15125939e2d49b9198b81eb6eebb3774485c0ab8a3cd890cc14453',
        rawSig:
          '0014000b01003ac76048df7546c71a9123ff6ba2383e301688a182072c6775fa1d873f86d03cb27723d785bb9d099cd6190a26f756af28f3c7a788555fd923cc6ba45b47ac9cfc4e9bf70725df28bf1b60dfb65c3b12e628f22d8ff115dbdc7097f0e5eb44e30911012f006003629fd17835e0971f5065f72d9fc4ecba338047565fbdba9b66c6c60a67a7b756cff88f235f2f2a565db25d11235a457c4d950e0d1df2d375f899dd7673c1079928d316b72f39a399067da1181367df88f56659f9916f1a69f2ff0a4c7aa1bb5ad7e92ca31119bf30b00fbdf3dbfa3382cc203d5108662f68ceab86064aee9be14f8ea815037cbc11e3e770a4d4f62e9ee31fe029f040b541ab',
      },
    ],
  },
  ecc: {
    akPub:
      '0023000b00050072000000100018000b0003001000202ebdc7fd10c2f47a3ccd8ed7d08630647a07b18237f4bd6b35151cf217bed506002001be308cdd84e81e26ade5c908d799312f24b13ccfedfc4532a611304539f76b',
    quotes: [
      {
        bank: 4,
        quote:
          'ff54434780180022000b9792b202c9f8a02c8753c53614b71908d72f94d99746fd0585e0159660672b2800207a6ef99386c2d2ac1d6809ff5c06365d675888323628a591502c7d0d57730dca00000000000000de5938c64fe587cc6300cf3d5c5a19bbc1a400000001000403ffffff002003c8e7dc0c6c0b277af4d994e6127ef57ea7fca9af71102eb77893b84c046e20',
        rawSig:
          '0018000b00205c757db9383798750a8bef84bdb67828f38ba7c8f8b6340efd3912dc0bd3e2550020febe4acb38eb35cb650be566d35ecc06caaff728e67576241f337dbb3472d67e',
      },
      {
        bank: 11,
        quote:
          'ff54434780180022000b9792b202c9f8a02c8753c53614b71908d72f94d99746fd0585e0159660672b2800207a6ef99386c2d2ac1d6809ff5c06365d675888323628a591502c7d0d57730dca00000000000000ef5938c64fe587cc6300cf3d5c5a19bbc1a400000001000b03ffffff0020dc7707c29d15125939e2d49b9198b81eb6eebb3774485c0ab8a3cd890cc14453',
        rawSig:
          '0018000b00205de4b022c6fcdfdf6ec28a645b3445cc984a9a3cf307f5739cf17a591083b6e500201fc02f3a03868a4cf76314435b751ab1aaacf4caa9de9dc80e10640ddb5547f1',
      },
    ],
  },
} as const;

const USER_DATA = new Uint8Array(32).fill(7);
const NONCE = new Uint8Array(32).fill(9);
const ALL_PCRS = Array.from({ length: 24 }, (_, i) => i);
const fromHex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const sha = (alg: string, ...parts: Uint8Array[]): Uint8Array => {
  const h = createHash(alg);
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};

// --- An independent reader for the TPM structures (TPM 2.0 Part 2; tpm-attestation.md §4).

class Reader {
  at = 0;
  constructor(private readonly b: Uint8Array) {}
  private take(n: number): Uint8Array {
    if (this.at + n > this.b.length) throw new Error(`short read at ${this.at}`);
    const v = this.b.subarray(this.at, this.at + n);
    this.at += n;
    return v;
  }
  u8 = (): number => this.take(1)[0]!;
  u16 = (): number => Buffer.from(this.take(2)).readUInt16BE(0);
  u32 = (): number => Buffer.from(this.take(4)).readUInt32BE(0);
  u64 = (): bigint => Buffer.from(this.take(8)).readBigUInt64BE(0);
  tpm2b = (): Uint8Array => this.take(this.u16());
  rest = (): number => this.b.length - this.at;
}

interface Attest {
  magic: number;
  type: number;
  qualifiedSigner: Uint8Array;
  extraData: Uint8Array;
  clock: bigint;
  resetCount: number;
  restartCount: number;
  safe: number;
  firmwareVersion: bigint;
  selections: { hash: number; select: Uint8Array }[];
  pcrDigest: Uint8Array;
}

function parseAttest(b: Uint8Array): Attest {
  const r = new Reader(b);
  const a: Attest = {
    magic: r.u32(),
    type: r.u16(),
    qualifiedSigner: r.tpm2b(),
    extraData: r.tpm2b(),
    clock: r.u64(),
    resetCount: r.u32(),
    restartCount: r.u32(),
    safe: r.u8(),
    firmwareVersion: r.u64(),
    selections: [],
    pcrDigest: new Uint8Array(0),
  };
  const count = r.u32();
  for (let i = 0; i < count; i++) {
    const hash = r.u16();
    const size = r.u8();
    const select = new Uint8Array(size);
    for (let j = 0; j < size; j++) select[j] = r.u8();
    a.selections.push({ hash, select });
  }
  a.pcrDigest = r.tpm2b();
  assert.equal(r.rest(), 0, 'no trailing bytes after TPMS_ATTEST');
  return a;
}

interface Public {
  type: number;
  nameAlg: number;
  attributes: number;
  authPolicy: Uint8Array;
  symmetric: number;
  scheme: number;
  schemeHash: number;
  key: KeyObject;
  keyBits?: number;
  exponent?: number;
  curve?: number;
  kdf?: number;
}

function parsePublic(b: Uint8Array): Public {
  const r = new Reader(b);
  const type = r.u16();
  const nameAlg = r.u16();
  const attributes = r.u32();
  const authPolicy = r.tpm2b();
  const symmetric = r.u16();
  assert.equal(symmetric, 0x0010, 'symmetric NULL');
  const scheme = r.u16();
  const schemeHash = r.u16();
  let out: Public;
  if (type === 0x0001) {
    const keyBits = r.u16();
    const exponent = r.u32();
    const n = r.tpm2b();
    const e = Buffer.alloc(4);
    e.writeUInt32BE(exponent === 0 ? 65537 : exponent);
    const key = createPublicKey({ format: 'jwk', key: { kty: 'RSA', n: Buffer.from(n).toString('base64url'), e: e.subarray(1).toString('base64url') } });
    out = { type, nameAlg, attributes, authPolicy, symmetric, scheme, schemeHash, key, keyBits, exponent };
  } else if (type === 0x0023) {
    const curve = r.u16();
    const kdf = r.u16();
    const x = r.tpm2b();
    const y = r.tpm2b();
    assert.equal(x.length, 32);
    assert.equal(y.length, 32);
    const key = createPublicKey({ format: 'jwk', key: { kty: 'EC', crv: 'P-256', x: Buffer.from(x).toString('base64url'), y: Buffer.from(y).toString('base64url') } });
    out = { type, nameAlg, attributes, authPolicy, symmetric, scheme, schemeHash, key, curve, kdf };
  } else {
    throw new Error(`unexpected TPMT_PUBLIC type ${type}`);
  }
  assert.equal(r.rest(), 0, 'no trailing bytes after TPMT_PUBLIC');
  return out;
}

/** TPMT_SIGNATURE → { sigAlg, hashAlg, der-free signature for node:crypto (PKCS#1 bytes or r‖s) }. */
function parseSignature(b: Uint8Array): { sigAlg: number; hashAlg: number; signature: Uint8Array; parts: Uint8Array[] } {
  const r = new Reader(b);
  const sigAlg = r.u16();
  const hashAlg = r.u16();
  let parts: Uint8Array[];
  if (sigAlg === 0x0014) parts = [r.tpm2b()];
  else if (sigAlg === 0x0018) parts = [r.tpm2b(), r.tpm2b()];
  else throw new Error(`unexpected signature algorithm ${sigAlg}`);
  assert.equal(r.rest(), 0, 'no trailing bytes after TPMT_SIGNATURE');
  return { sigAlg, hashAlg, signature: Buffer.concat(parts), parts };
}

function verifySignature(key: KeyObject, message: Uint8Array, rawSig: Uint8Array): boolean {
  const s = parseSignature(rawSig);
  assert.equal(s.hashAlg, 0x000b, 'signature hash SHA-256');
  if (s.sigAlg === 0x0014) return verify('sha256', message, key, s.signature);
  return verify('sha256', message, { key, dsaEncoding: 'ieee-p1363' }, s.signature);
}

function defaultPcrs(bank: 'sha1' | 'sha256'): Uint8Array[] {
  const banks = new PcrBanks([bank]);
  for (const e of DEFAULT_BOOT_EVENTS) banks.event(e.pcr, e.data);
  return [...banks.list(bank)];
}

describe('swtpm-recorded vectors', () => {
  for (const akType of ['rsa', 'ecc'] as const) {
    const rec = SWTPM_RECORDED[akType];
    const akPub = fromHex(rec.akPub);

    it(`${akType}: encodeAkPublic reproduces swtpm's TPMT_PUBLIC from the public key alone`, () => {
      const p = parsePublic(akPub);
      assert.equal(hex(encodeAkPublic(p.key)), rec.akPub);
      assert.equal(akPub.length, akType === 'rsa' ? 280 : 88);
    });

    for (const q of rec.quotes) {
      it(`${akType}: encodeQuoteAttest reproduces swtpm's bank-${q.bank} TPMS_ATTEST given its clock fields`, () => {
        const quote = fromHex(q.quote);
        const parsed = parseAttest(quote);
        const bank = q.bank === 4 ? 'sha1' : 'sha256';
        const rebuilt = encodeQuoteAttest({
          qualifiedSigner: primaryQualifiedName(akPub),
          extraData: tpmNonceFor(USER_DATA, NONCE, null),
          clockInfo: { clock: parsed.clock, resetCount: parsed.resetCount, restartCount: parsed.restartCount, safe: parsed.safe === 1 },
          firmwareVersion: parsed.firmwareVersion,
          pcrSelection: encodePcrSelection(q.bank, ALL_PCRS),
          // The default measured boot's values: swtpm had the same events extended.
          pcrDigest: quotePcrDigest(defaultPcrs(bank)),
        });
        assert.equal(hex(rebuilt), q.quote);
      });

      it(`${akType}: swtpm's bank-${q.bank} TPMT_SIGNATURE verifies and re-encodes identically`, () => {
        const quote = fromHex(q.quote);
        const rawSig = fromHex(q.rawSig);
        assert.ok(verifySignature(parsePublic(akPub).key, quote, rawSig));
        const s = parseSignature(rawSig);
        const again = s.sigAlg === 0x0014 ? encodeRsassaSignature(s.hashAlg, s.parts[0]!) : encodeEcdsaSignature(s.hashAlg, s.parts[0]!, s.parts[1]!);
        assert.equal(hex(again), q.rawSig);
      });
    }
  }

  it('qualifiedSigner is the owner-hierarchy qualified name, not the plain name', () => {
    const akPub = fromHex(SWTPM_RECORDED.rsa.akPub);
    const signer = parseAttest(fromHex(SWTPM_RECORDED.rsa.quotes[0].quote)).qualifiedSigner;
    const name = objectName(akPub);
    assert.equal(hex(name), '000b' + hex(sha('sha256', akPub)));
    assert.notEqual(hex(signer), hex(name));
    assert.equal(hex(signer), '000b' + hex(sha('sha256', fromHex('40000001'), name)));
  });
});

describe('SoftwareTpmIssuer', () => {
  for (const akType of ['rsa', 'ecc'] as const) {
    describe(akType, () => {
      const issuer = new SoftwareTpmIssuer({ akType });
      const doc = issuer.issue(USER_DATA, NONCE);
      const pub = parsePublic(doc.attestation.akPub);

      it('ak_pub is the go-tpm-tools AK template with the key as unique', () => {
        assert.equal(pub.nameAlg, 0x000b);
        assert.equal(pub.attributes, 0x00050072);
        assert.equal(pub.authPolicy.length, 0);
        assert.equal(pub.schemeHash, 0x000b);
        const template = fromHex(akType === 'rsa' ? SWTPM_RECORDED.rsa.akPub : SWTPM_RECORDED.ecc.akPub);
        const prefix = akType === 'rsa' ? 24 : 22; // everything before the key material (incl. unique sizes)
        assert.equal(hex(doc.attestation.akPub.subarray(0, prefix)), hex(template.subarray(0, prefix)));
        if (akType === 'rsa') {
          assert.equal(pub.type, 0x0001);
          assert.equal(pub.scheme, 0x0014);
          assert.equal(pub.keyBits, 2048);
          assert.equal(pub.exponent, 0);
          assert.equal(doc.attestation.akPub.length, 280);
        } else {
          assert.equal(pub.type, 0x0023);
          assert.equal(pub.scheme, 0x0018);
          assert.equal(pub.curve, 0x0003);
          assert.equal(pub.kdf, 0x0010);
          assert.equal(doc.attestation.akPub.length, 88);
        }
        assert.ok(pub.key.equals(issuer.akPublicKey()));
        assert.deepEqual(issuer.akPublic(), doc.attestation.akPub);
      });

      it('has one quote per bank (SHA-1, then SHA-256) over all 24 PCRs, bound to userData and nonce', () => {
        const tpmNonce = sha('sha256', sha('sha256', USER_DATA, NONCE));
        assert.deepEqual(
          doc.attestation.quotes.map((q) => q.pcrs?.hash),
          [4, 11],
        );
        for (const q of doc.attestation.quotes) {
          const a = parseAttest(q.quote);
          assert.equal(a.magic, 0xff544347);
          assert.equal(a.type, 0x8018);
          assert.deepEqual(a.qualifiedSigner, primaryQualifiedName(doc.attestation.akPub));
          assert.deepEqual(a.qualifiedSigner, issuer.akQualifiedName());
          assert.deepEqual(a.extraData, tpmNonce);
          assert.equal(a.safe, 1);
          assert.equal(a.selections.length, 1);
          assert.equal(a.selections[0]!.hash, q.pcrs!.hash);
          assert.equal(hex(a.selections[0]!.select), 'ffffff');
          assert.equal(q.quote.length, 145);
          const size = q.pcrs!.hash === 4 ? 20 : 32;
          assert.deepEqual([...q.pcrs!.pcrs.keys()], ALL_PCRS);
          for (const v of q.pcrs!.pcrs.values()) assert.equal(v.length, size);
          // pcrDigest is SHA-256 (the signature hash) over the values in index order, for both banks.
          assert.deepEqual(a.pcrDigest, sha('sha256', ...ALL_PCRS.map((i) => q.pcrs!.pcrs.get(i)!)));
          assert.ok(verifySignature(pub.key, q.quote, q.rawSig), 'signature verifies');
          const s = parseSignature(q.rawSig);
          assert.equal(s.sigAlg, akType === 'rsa' ? 0x0014 : 0x0018);
          assert.equal(q.rawSig.length, akType === 'rsa' ? 262 : 72);
        }
      });

      it('is a qemu-vtpm document: InstanceInfo null, no event log or certificates, TeeAttestation null', () => {
        assert.equal(doc.instanceInfo, null);
        assert.deepEqual(doc.userData, USER_DATA);
        assert.equal(doc.attestation.eventLog.length, 0);
        assert.equal(doc.attestation.akCert.length, 0);
        assert.deepEqual(doc.attestation.intermediateCerts, []);
        assert.equal(doc.attestation.teeAttestation, 'null');
      });

      it('renders as Go JSON: envelope encoder and the independent rendering agree, members in Go order', () => {
        const json = encodeVtpmDocument(doc);
        assert.deepEqual(json, renderVtpmDocumentJson(doc));
        const text = Buffer.from(json).toString('utf8');
        const skeleton = text.replace(/:"([A-Za-z0-9+/=]*)"/g, (_, b64: string) => `:${Buffer.from(b64, 'base64').length}`);
        const pcrKeys = ALL_PCRS.map(String).sort();
        const bankSkeleton = (hash: number, size: number) =>
          `{"quote":145,"raw_sig":${akType === 'rsa' ? 262 : 72},"pcrs":{"hash":${hash},"pcrs":{${pcrKeys.map((k) => `"${k}":${size}`).join(',')}}}}`;
        assert.equal(
          skeleton,
          `{"Attestation":{"ak_pub":${akType === 'rsa' ? 280 : 88},"quotes":[${bankSkeleton(4, 20)},${bankSkeleton(11, 32)}],"TeeAttestation":null},"InstanceInfo":null,"UserData":32}`,
        );
      });

      it('different nonces and user data give different extraData; the AK stays', () => {
        const other = issuer.issue(USER_DATA, new Uint8Array(32).fill(1));
        assert.deepEqual(other.attestation.akPub, doc.attestation.akPub);
        assert.notDeepEqual(parseAttest(other.attestation.quotes[0]!.quote).extraData, parseAttest(doc.attestation.quotes[0]!.quote).extraData);
        const withInfo = issuer.issue(USER_DATA, NONCE, new TextEncoder().encode('{"x":1}'));
        assert.deepEqual(parseAttest(withInfo.attestation.quotes[1]!.quote).extraData, tpmNonceFor(USER_DATA, NONCE, new TextEncoder().encode('{"x":1}')));
        assert.deepEqual(withInfo.instanceInfo, new TextEncoder().encode('{"x":1}'));
      });
    });
  }

  it('default PCRs: a measured boot in both banks, PCRs 8, 10, 12, 13, 15, 16, 23 zero and 17–22 all ones', () => {
    const issuer = new SoftwareTpmIssuer({ akType: 'ecc' });
    for (const [bank, size] of [
      ['sha1', 20],
      ['sha256', 32],
    ] as const) {
      const v = issuer.pcrValues(bank);
      for (let i = 0; i < 24; i++) {
        const value = v.get(i)!;
        assert.equal(value.length, size);
        if ([8, 10, 12, 13, 15, 16, 23].includes(i)) assert.ok(value.every((b) => b === 0), `${bank} PCR ${i} zero`);
        else if (i >= 17 && i <= 22) assert.ok(value.every((b) => b === 0xff), `${bank} PCR ${i} ones`);
        else assert.ok(value.some((b) => b !== 0), `${bank} PCR ${i} measured`);
      }
      // Replay: PCR := H(PCR ‖ H(data)) per event, from zero.
      const replay = new Map<number, Uint8Array>();
      for (const e of DEFAULT_BOOT_EVENTS) {
        const data = typeof e.data === 'string' ? new TextEncoder().encode(e.data) : e.data;
        replay.set(e.pcr, sha(bank, replay.get(e.pcr) ?? new Uint8Array(size), sha(bank, data)));
      }
      for (const [i, value] of replay) assert.deepEqual(v.get(i), value, `${bank} PCR ${i}`);
    }
    assert.deepEqual(issuer.pcrValues(11), issuer.pcrValues('sha256'));
  });

  it('pcrEvent(15, clusterID) makes PCR 15 H(0 ‖ H(clusterID)) in every bank and changes the quoted digest', () => {
    const issuer = new SoftwareTpmIssuer({ akType: 'ecc' });
    const before = parseAttest(issuer.issue(USER_DATA, NONCE).attestation.quotes[1]!.quote).pcrDigest;
    const clusterId = new Uint8Array(32).fill(0x42);
    issuer.pcrEvent(15, clusterId);
    assert.deepEqual(issuer.pcrValues('sha256').get(15), sha('sha256', new Uint8Array(32), sha('sha256', clusterId)));
    assert.deepEqual(issuer.pcrValues('sha1').get(15), sha('sha1', new Uint8Array(20), sha('sha1', clusterId)));
    const after = issuer.issue(USER_DATA, NONCE).attestation.quotes[1]!;
    assert.notDeepEqual(parseAttest(after.quote).pcrDigest, before);
    assert.deepEqual(parseAttest(after.quote).pcrDigest, sha('sha256', ...ALL_PCRS.map((i) => after.pcrs!.pcrs.get(i)!)));
  });

  it('configurable banks, events and explicit PCR values', () => {
    const issuer = new SoftwareTpmIssuer({
      akType: 'rsa',
      seed: 'banks',
      banks: ['sha256', 'sha384'],
      events: [{ pcr: 4, data: 'kernel' }],
      pcrs: { sha256: { 9: 'aa'.repeat(32) }, sha384: new Map([[9, new Uint8Array(48).fill(0xbb)]]) },
    });
    const doc = issuer.issue(USER_DATA, NONCE);
    assert.deepEqual(
      doc.attestation.quotes.map((q) => q.pcrs!.hash),
      [11, 12],
    );
    assert.equal(hex(doc.attestation.quotes[0]!.pcrs!.pcrs.get(9)!), 'aa'.repeat(32));
    assert.equal(hex(doc.attestation.quotes[1]!.pcrs!.pcrs.get(9)!), 'bb'.repeat(48));
    assert.deepEqual(doc.attestation.quotes[0]!.pcrs!.pcrs.get(4), sha('sha256', new Uint8Array(32), sha('sha256', new TextEncoder().encode('kernel'))));
    assert.ok(doc.attestation.quotes[0]!.pcrs!.pcrs.get(11)!.every((b) => b === 0));
    assert.equal(parseAttest(doc.attestation.quotes[1]!.quote).pcrDigest.length, 32, 'SHA-384 bank, SHA-256 digest');
    assert.throws(() => new SoftwareTpmIssuer({ akType: 'rsa', seed: 'banks', pcrs: { sha256: { 9: 'aa' } } }), /32 bytes/);
    assert.throws(() => issuer.pcrValues('sha1'), /not allocated/);
  });

  it('a seed gives a reproducible AK; with a fixed clock an RSA document is reproducible byte for byte', () => {
    for (const akType of ['rsa', 'ecc'] as const) {
      const a = new SoftwareTpmIssuer({ akType, seed: 'dev', clock: () => 123456n });
      const b = new SoftwareTpmIssuer({ akType, seed: new TextEncoder().encode('dev'), clock: () => 123456n });
      const c = new SoftwareTpmIssuer({ akType, seed: 'other' });
      assert.deepEqual(a.akPublic(), b.akPublic());
      assert.notDeepEqual(a.akPublic(), c.akPublic());
      const da = a.issue(USER_DATA, NONCE);
      const db = b.issue(USER_DATA, NONCE);
      assert.equal(parseAttest(da.attestation.quotes[0]!.quote).clock, 123456n);
      if (akType === 'rsa') assert.deepEqual(encodeVtpmDocument(da), encodeVtpmDocument(db));
      else assert.deepEqual(da.attestation.quotes[0]!.quote, db.attestation.quotes[0]!.quote);
      for (const q of da.attestation.quotes) assert.ok(verifySignature(parsePublic(da.attestation.akPub).key, q.quote, q.rawSig));
    }
    const rsa = new SoftwareTpmIssuer({ akType: 'rsa', seed: 'dev' }).akPublicKey().export({ format: 'jwk' });
    assert.equal(Buffer.from(rsa.n!, 'base64url').length, 256);
    assert.equal(rsa.e, 'AQAB');
  });

  it('the clock advances and counters are fixed per instance', async () => {
    const issuer = new SoftwareTpmIssuer({ akType: 'ecc' });
    const a = parseAttest(issuer.issue(USER_DATA, NONCE).attestation.quotes[0]!.quote);
    await new Promise((r) => setTimeout(r, 20));
    const b = parseAttest(issuer.issue(USER_DATA, NONCE).attestation.quotes[0]!.quote);
    assert.ok(b.clock > a.clock);
    assert.equal(b.resetCount, a.resetCount);
    assert.equal(b.restartCount, a.restartCount);
    assert.equal(b.firmwareVersion, a.firmwareVersion);
  });

  it('accepts a given AK private key and rejects a mismatching one', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const issuer = new SoftwareTpmIssuer({ akType: 'ecc', akPrivateKey: privateKey });
    assert.ok(parsePublic(issuer.akPublic()).key.equals(createPublicKey(privateKey)));
    assert.throws(() => new SoftwareTpmIssuer({ akType: 'rsa', akPrivateKey: privateKey }), /private rsa key/);
    assert.throws(() => new SoftwareTpmIssuer({ akType: 'ecc', akPrivateKey: createPublicKey(privateKey) }), /private ec key/);
    assert.throws(() => new SoftwareTpmIssuer({ akType: 'dsa' as 'rsa' }), /unknown AK type/);
  });

  it('is fast: 200 RSA documents well within a second each', () => {
    const issuer = new SoftwareTpmIssuer({ akType: 'rsa', seed: 'dev' });
    const start = performance.now();
    let doc: VtpmDocument | undefined;
    for (let i = 0; i < 200; i++) doc = issuer.issue(USER_DATA, NONCE);
    const perDoc = (performance.now() - start) / 200;
    assert.ok(perDoc < 50, `${perDoc.toFixed(2)} ms per document`);
    assert.equal(doc!.attestation.quotes.length, 2);
  });
});

describe('dev attestation config', () => {
  it("enforces the issuer's SHA-256 values at qemu-vtpm's indices, keys sorted as strings like Go", () => {
    const issuer = new SoftwareTpmIssuer({ akType: 'ecc' });
    const json = devAttestationConfig(issuer);
    assert.deepEqual(
      [...json.matchAll(/"(\d+)":\{/g)].map((m) => m[1]),
      ['11', '12', '13', '15', '4', '8', '9'],
    );
    const parsed = JSON.parse(json) as { measurements: Record<string, { expected: string; warnOnly: boolean }> };
    assert.deepEqual(Object.keys(parsed), ['measurements']);
    for (const i of QEMU_VTPM_MEASUREMENT_INDICES) {
      assert.deepEqual(parsed.measurements[String(i)], { expected: hex(issuer.pcrValues('sha256').get(i)!), warnOnly: false });
    }
    assert.equal(parsed.measurements['15']!.expected, '0'.repeat(64));
    assert.equal(defaultDevAttestationConfig(), json, 'independent of the AK');
  });

  it('follows PCR changes and custom indices', () => {
    const issuer = new SoftwareTpmIssuer({ akType: 'ecc' });
    issuer.pcrEvent(15, 'cluster');
    const parsed = JSON.parse(devAttestationConfig(issuer, [15, 0])) as { measurements: Record<string, { expected: string }> };
    assert.deepEqual(Object.keys(parsed.measurements).sort(), ['0', '15']);
    assert.equal(parsed.measurements['15']!.expected, hex(issuer.pcrValues('sha256').get(15)!));
    assert.notEqual(devAttestationConfig(issuer), defaultDevAttestationConfig());
  });
});

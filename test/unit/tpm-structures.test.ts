/**
 * TPM wire structures (tpm-attestation.md §3, §4): go-tpm's decoders with Go's
 * texts and leniencies, the AK verification key and Go's key equality, nonce
 * binding, and property-based fuzzing of every decoder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { ErrorCode, JoinServiceError } from '../../src/shared/errors.js';
import { nonceBinding } from '../../src/workers/attestation/vtpm/tpm/nonce-binding.js';
import { algHex, algString, goBytes } from '../../src/workers/attestation/vtpm/tpm/tpm-alg.js';
import { TpmReader } from '../../src/workers/attestation/vtpm/tpm/tpm-reader.js';
import { decodeQuoteAttest } from '../../src/workers/attestation/vtpm/tpm/tpms-attest.js';
import { decodeTpmtSignature } from '../../src/workers/attestation/vtpm/tpm/tpmt-signature.js';
import {
  akVerificationKey,
  clearAkCache,
  decodeTpmtPublic,
  identityFromKeyObject,
  keyEquals,
  loadAk,
  type PublicKeyIdentity,
} from '../../src/workers/attestation/vtpm/tpm/tpmt-public.js';
import {
  ALG,
  attest,
  cat,
  CURVE,
  eccAk,
  eccAkPublic,
  ecdsaSignature,
  hex,
  pcrSelection,
  pcrSelectionList,
  range,
  rsaAk,
  rsaAkPublic,
  rsaSignature,
  signTpm,
  ST,
  tpm2b,
  u16,
  u32,
  u8,
} from './support/tpm-builder.js';

const RSA_TEMPLATE = hex('0001 000b 00050072 0000 0010 0014 000b 0800 00000000 0000');
const ECC_TEMPLATE = hex(`0023 000b 00050072 0000 0010 0018 000b 0003 0010 0020 ${'00'.repeat(32)} 0020 ${'00'.repeat(32)}`);

const rsa = rsaAk(2048);
const ecc = eccAk('P-256');

function throwsGo(f: () => unknown, message: string | RegExp, code: ErrorCode = ErrorCode.AttestationMalformed): void {
  assert.throws(f, (err: unknown) => {
    assert.ok(err instanceof JoinServiceError, `not a JoinServiceError: ${String(err)}`);
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    assert.equal(err.code, code);
    return true;
  });
}

/** Any failure must be a JoinServiceError with a non-empty message (never a TypeError/RangeError). */
function onlyGoErrors(f: () => unknown): void {
  try {
    f();
  } catch (err) {
    if (!(err instanceof JoinServiceError) || err.message.length === 0) throw err;
  }
}

// ---------------------------------------------------------------------------
// Go formatting

test('Go %x of a tpm2.Algorithm is the hex of its String()', () => {
  assert.equal(algString(0x0016), 'RSAPSS');
  assert.equal(algHex(0x0016), '525341505353');
  assert.equal(algHex(0x0014), '525341535341');
  assert.equal(algString(0x0002), 'Alg?<2>');
  assert.equal(algHex(0x0002), '416c673f3c323e');
  assert.equal(algString(0x0000), 'AlgUnknown');
  assert.equal(algString(0x0010), 'AlgNull');
  assert.equal(goBytes(Uint8Array.of(1, 2, 255)), '[1 2 255]');
  assert.equal(goBytes(new Uint8Array(0)), '[]');
});

test('TpmReader: EOF when nothing is left, unexpected EOF on a partial field, TPM2B size 0 always fine', () => {
  throwsGo(() => new TpmReader(new Uint8Array(0)).u16(), 'EOF');
  throwsGo(() => new TpmReader(Uint8Array.of(1)).u16(), 'unexpected EOF');
  throwsGo(() => new TpmReader(Uint8Array.of(1, 2, 3)).u32(), 'unexpected EOF');
  assert.equal(new TpmReader(Uint8Array.of(0, 0)).sized().length, 0);
  throwsGo(() => new TpmReader(Uint8Array.of(0, 2)).sized(), 'EOF');
  throwsGo(() => new TpmReader(Uint8Array.of(0, 2, 9)).sized(), 'unexpected EOF');
  const r = new TpmReader(Uint8Array.of(1, 2, 3));
  assert.deepEqual([...r.readUpTo(5)], [1, 2, 3], 'bytes.Buffer.Read: a partial read is not an error');
  throwsGo(() => r.readUpTo(1), 'EOF');
  assert.equal(r.readUpTo(0).length, 0);
  assert.equal(new TpmReader(hex('0102030405060708')).u64(), 0x0102030405060708n);
  assert.equal(new TpmReader(hex('ffffffff')).u32(), 0xffffffff);
});

// ---------------------------------------------------------------------------
// TPMT_PUBLIC

test('decodeTpmtPublic: go-tpm-tools AKTemplateRSA and AKTemplateECC (§12.2)', () => {
  const p = decodeTpmtPublic(RSA_TEMPLATE);
  assert.equal(p.type, ALG.RSA);
  assert.equal(p.nameAlg, ALG.SHA256);
  assert.equal(p.attributes, 0x00050072);
  assert.equal(p.authPolicy.length, 0);
  assert.equal(p.rsa?.symmetric, null);
  assert.deepEqual(p.rsa?.sign, { alg: ALG.RSASSA, hash: ALG.SHA256 });
  assert.equal(p.rsa?.keyBits, 2048);
  assert.equal(p.rsa?.exponentRaw, 0);
  assert.equal(p.rsa?.modulus.length, 0);

  const e = decodeTpmtPublic(ECC_TEMPLATE);
  assert.equal(e.type, ALG.ECC);
  assert.deepEqual(e.ecc?.sign, { alg: ALG.ECDSA, hash: ALG.SHA256 });
  assert.equal(e.ecc?.curveId, CURVE.P256);
  assert.equal(e.ecc?.kdf, null);
  assert.equal(e.ecc?.x.length, 32);
  assert.equal(e.ecc?.y.length, 32);
});

test('decodeTpmtPublic: trailing bytes are ignored', () => {
  const p = decodeTpmtPublic(cat(rsa.akPub, Buffer.from('trailing garbage')));
  assert.deepEqual(akVerificationKey(p).identity, akVerificationKey(decodeTpmtPublic(rsa.akPub)).identity);
});

test('decodeTpmtPublic: truncation at every length yields go-tpm texts', () => {
  const expectRsa: [number, string][] = [
    [0, 'decoding TPMT_PUBLIC: EOF'],
    [1, 'decoding TPMT_PUBLIC: unexpected EOF'],
    [2, 'decoding TPMT_PUBLIC: EOF'],
    [5, 'decoding TPMT_PUBLIC: unexpected EOF'],
    [8, 'decoding TPMT_PUBLIC: EOF'],
    [10, 'decoding Symmetric: decoding Alg: EOF'],
    [12, 'decoding Sign: decoding Alg: EOF'],
    [14, 'decoding Sign: decoding Hash: EOF'],
    [16, 'decoding KeyBits, Exponent, Modulus: EOF'],
    [19, 'decoding KeyBits, Exponent, Modulus: unexpected EOF'],
    [22, 'decoding KeyBits, Exponent, Modulus: EOF'],
    [24, 'decoding KeyBits, Exponent, Modulus: EOF'],
    [100, 'decoding KeyBits, Exponent, Modulus: unexpected EOF'],
  ];
  for (const [len, message] of expectRsa) throwsGo(() => decodeTpmtPublic(rsa.akPub.subarray(0, len)), message);
  const expectEcc: [number, string][] = [
    [16, 'decoding CurveID: EOF'],
    [18, 'decoding KDF: decoding Alg: EOF'],
    [20, 'decoding Point: EOF'],
    [40, 'decoding Point: unexpected EOF'],
    [54, 'decoding Point: EOF'],
  ];
  for (const [len, message] of expectEcc) throwsGo(() => decodeTpmtPublic(ecc.akPub.subarray(0, len)), message);
  for (let len = 0; len < rsa.akPub.length; len++) onlyGoErrors(() => decodeTpmtPublic(rsa.akPub.subarray(0, len)));
});

test('decodeTpmtPublic: only 0x0010 is NULL; 0x0000 reads the following fields; ECDAA reads a count', () => {
  const symZero = rsaAkPublic(rsa.publicKey, { symmetric: cat(u16(0), u16(128), u16(0x43)) });
  assert.deepEqual(decodeTpmtPublic(symZero).rsa?.symmetric, { alg: 0, keyBits: 128, mode: 0x43 });
  const ecdaa = rsaAkPublic(rsa.publicKey, { scheme: cat(u16(ALG.ECDAA), u16(ALG.SHA256), u32(7)) });
  assert.deepEqual(decodeTpmtPublic(ecdaa).rsa?.sign, { alg: ALG.ECDAA, hash: ALG.SHA256, count: 7 });
  const signZero = rsaAkPublic(rsa.publicKey, { scheme: cat(u16(0), u16(0)) });
  assert.deepEqual(decodeTpmtPublic(signZero).rsa?.sign, { alg: 0, hash: 0 });
  assert.equal(akVerificationKey(decodeTpmtPublic(signZero)).identity.type, 'rsa', 'no scheme or attribute check');
});

test('decodeTpmtPublic: unsupported type, KEYEDHASH and SYMCIPHER', () => {
  throwsGo(() => decodeTpmtPublic(hex('0002 000b 00000000 0000')), 'unsupported type in TPMT_PUBLIC: 0x416c673f3c323e');
  const keyedHash = cat(u16(ALG.KEYEDHASH), u16(ALG.SHA256), u32(0), tpm2b(Buffer.alloc(0)), u16(ALG.HMAC), u16(ALG.SHA256), tpm2b(Buffer.alloc(32)));
  const kh = decodeTpmtPublic(keyedHash);
  assert.equal(kh.keyedHash?.alg, ALG.HMAC);
  assert.equal(kh.keyedHash?.hash, ALG.SHA256);
  throwsGo(() => akVerificationKey(kh), 'unsupported public key type 0x4b6579656448617368');
  const badKh = cat(u16(ALG.KEYEDHASH), u16(ALG.SHA256), u32(0), tpm2b(Buffer.alloc(0)), u16(ALG.AES), tpm2b(Buffer.alloc(0)));
  throwsGo(() => decodeTpmtPublic(badKh), 'decoding Alg Params: unsupported KeyedHash Algorithm: 0x414553');
  const sym = cat(u16(ALG.SYMCIPHER), u16(ALG.SHA256), u32(0), tpm2b(Buffer.alloc(0)), u16(ALG.AES), u16(128), u16(0x43), tpm2b(Buffer.alloc(32)));
  const sc = decodeTpmtPublic(sym);
  assert.deepEqual(sc.symCipher?.symmetric, { alg: ALG.AES, keyBits: 128, mode: 0x43 });
  throwsGo(() => akVerificationKey(sc), 'unsupported public key type 0x53796d436970686572');
});

test('akVerificationKey: only NIST P-224/256/384/521 map to a key', () => {
  throwsGo(
    () => akVerificationKey(decodeTpmtPublic(eccAkPublic(ecc.publicKey, { curveId: CURVE.BN_P256 }))),
    "can't map TPM EC curve ID 0x10 to Go elliptic.Curve value",
  );
  throwsGo(() => akVerificationKey(decodeTpmtPublic(eccAkPublic(ecc.publicKey, { curveId: 0x0001 }))), "can't map TPM EC curve ID 0x1 to Go elliptic.Curve value");
  for (const curve of ['P-224', 'P-384', 'P-521']) {
    const k = eccAk(curve);
    const ak = akVerificationKey(decodeTpmtPublic(k.akPub));
    assert.equal(ak.identity.type, 'ecdsa');
    assert.ok(ak.keyObject(), `${curve} imports`);
    assert.ok(keyEquals(ak.identity, identityFromKeyObject(k.publicKey)), `${curve} identity`);
  }
});

test('akVerificationKey: RSA exponent 0 means 65537; Go 1.24 RSA limits are recorded for verification time', () => {
  const ak = akVerificationKey(decodeTpmtPublic(rsa.akPub));
  assert.equal(ak.identity.type === 'rsa' && ak.identity.e, 65537);
  assert.equal(ak.rsa?.sizeBytes, 256);
  assert.equal(ak.rsa?.keyError, undefined);
  assert.ok(ak.keyObject());
  const n = Buffer.from(rsa.publicKey.export({ format: 'jwk' }).n!, 'base64url');
  const limits: [Buffer, number, string][] = [
    [n.subarray(0, 64), 0, 'crypto/rsa: 512-bit keys are insecure (see https://go.dev/pkg/crypto/rsa#hdr-Minimum_key_size)'],
    [Buffer.alloc(0), 0, 'crypto/rsa: 0-bit keys are insecure (see https://go.dev/pkg/crypto/rsa#hdr-Minimum_key_size)'],
    [cat(n.subarray(0, 255), u8(n[255]! & 0xfe)), 0, 'crypto/rsa: public modulus is even'],
    [n, 1, 'crypto/rsa: public exponent too small or negative'],
    [n, 65536, 'crypto/rsa: public exponent is even'],
    [n, 0x80000001, 'crypto/rsa: public exponent too large'],
  ];
  for (const [modulus, exponentRaw, message] of limits) {
    const k = akVerificationKey(decodeTpmtPublic(rsaAkPublic(rsa.publicKey, { modulus, exponentRaw })));
    assert.equal(k.rsa?.keyError, message);
    assert.equal(k.keyObject(), null, 'never imported');
  }
  const ok = akVerificationKey(decodeTpmtPublic(rsaAkPublic(rsa.publicKey, { exponentRaw: 0x7fffffff })));
  assert.equal(ok.rsa?.keyError, undefined, 'e = 2^31-1 is the largest accepted exponent');
  const three = akVerificationKey(decodeTpmtPublic(rsaAkPublic(rsa.publicKey, { exponentRaw: 3 })));
  assert.equal(three.rsa?.keyError, undefined);
  const n1023 = Buffer.from(n);
  n1023[128] = 0x7f; // 128 bytes from here on, top bit clear → 1023 bits
  const k1023 = akVerificationKey(decodeTpmtPublic(rsaAkPublic(rsa.publicKey, { modulus: n1023.subarray(128) })));
  assert.match(k1023.rsa!.keyError!, /^crypto\/rsa: 1023-bit keys are insecure/);
});

test('keyEquals mirrors Go PublicKey.Equal', () => {
  const id = (b: Uint8Array): PublicKeyIdentity => akVerificationKey(decodeTpmtPublic(b)).identity;
  const n = Buffer.from(rsa.publicKey.export({ format: 'jwk' }).n!, 'base64url');
  const base = id(rsa.akPub);
  assert.ok(keyEquals(base, identityFromKeyObject(rsa.publicKey)), 'TPMT_PUBLIC vs SPKI of the same key');
  assert.ok(keyEquals(base, id(rsaAkPublic(rsa.publicKey, { modulus: cat(Buffer.alloc(3), n) }))), 'leading zeros do not matter');
  assert.ok(keyEquals(base, id(rsaAkPublic(rsa.publicKey, { exponentRaw: 65537 }))), 'exponent 0 equals explicit 65537');
  assert.ok(keyEquals(base, id(rsaAkPublic(rsa.publicKey, { keyBits: 1024 }))), 'keyBits is not compared');
  assert.ok(!keyEquals(base, id(rsaAkPublic(rsa.publicKey, { exponentRaw: 3 }))), 'exponent differs');
  assert.ok(!keyEquals(base, id(rsaAk(1024).akPub)), 'modulus differs');
  assert.ok(!keyEquals(base, id(ecc.akPub)), 'RSA never equals ECDSA');
  assert.ok(!keyEquals(id(ecc.akPub), base));
  const eid = id(ecc.akPub);
  assert.ok(keyEquals(eid, identityFromKeyObject(ecc.publicKey)));
  const jwk = ecc.publicKey.export({ format: 'jwk' });
  assert.ok(!keyEquals(eid, id(eccAkPublic(ecc.publicKey, { curveId: CURVE.P384 }))), 'curve differs');
  assert.ok(!keyEquals(eid, id(eccAkPublic(ecc.publicKey, { x: Buffer.from(jwk.y!, 'base64url') }))), 'X differs');
  assert.ok(keyEquals(eid, id(eccAkPublic(ecc.publicKey, { x: cat(u8(0), Buffer.from(jwk.x!, 'base64url')) }))), 'leading zero in X');
  const ed = identityFromKeyObject(generateKeyPairSync('ed25519').publicKey);
  assert.equal(ed.type, 'other');
  assert.ok(!keyEquals(base, ed) && !keyEquals(ed, ed), 'other key types are never equal');
});

test('loadAk caches by the exact ak_pub bytes and reports the failing stage', () => {
  clearAkCache();
  const a = loadAk(rsa.akPub);
  assert.equal(loadAk(Buffer.from(rsa.akPub)), a, 'same bytes (other buffer) → same cached key');
  assert.equal(a.keyObject(), a.keyObject(), 'imported once');
  assert.notEqual(loadAk(cat(rsa.akPub, u8(0))), a, 'different bytes → separate entry');
  assert.throws(() => loadAk(new Uint8Array(0)), (e: unknown) => e instanceof JoinServiceError && e.details?.akStage === 'decode' && e.message === 'decoding TPMT_PUBLIC: EOF');
  assert.throws(
    () => loadAk(eccAkPublic(ecc.publicKey, { curveId: CURVE.BN_P256 })),
    (e: unknown) => e instanceof JoinServiceError && e.details?.akStage === 'key',
  );
  for (let i = 0; i < 100; i++) loadAk(cat(rsa.akPub, u32(i))); // bounded: evicts, never grows without limit
  assert.ok(loadAk(rsa.akPub).identity);
});

test('an off-curve ECC point still has an identity but no key', () => {
  const jwk = ecc.publicKey.export({ format: 'jwk' });
  const y = Buffer.from(jwk.y!, 'base64url');
  y[31]! ^= 1;
  const ak = akVerificationKey(decodeTpmtPublic(eccAkPublic(ecc.publicKey, { y })));
  assert.equal(ak.identity.type, 'ecdsa');
  assert.equal(ak.keyObject(), null);
  const big = akVerificationKey(decodeTpmtPublic(eccAkPublic(ecc.publicKey, { x: Buffer.alloc(33, 0xff) })));
  assert.equal(big.keyObject(), null, 'coordinate longer than the field');
});

// ---------------------------------------------------------------------------
// TPMS_ATTEST

const NONCE = createHash('sha256').update('nonce').digest();
const DIGEST = createHash('sha256').update('digest').digest();
const SEL24 = pcrSelectionList(pcrSelection(ALG.SHA256, range(24)));

test('decodeQuoteAttest: a quote', () => {
  const ad = decodeQuoteAttest(attest({ extraData: NONCE, selection: SEL24, pcrDigest: DIGEST, clock: 42n, firmwareVersion: 0x1234n }));
  assert.equal(ad.magic, 0xff544347);
  assert.equal(ad.type, ST.QUOTE);
  assert.equal(ad.qualifiedSigner.digest?.alg, ALG.SHA256);
  assert.equal(ad.qualifiedSigner.digest?.value.length, 32);
  assert.deepEqual(Buffer.from(ad.extraData), NONCE);
  assert.deepEqual(ad.clockInfo, { clock: 42n, resetCount: 7, restartCount: 3, safe: 1 });
  assert.equal(ad.firmwareVersion, 0x1234n);
  assert.deepEqual(ad.quoteInfo?.pcrSelection, { hash: ALG.SHA256, pcrs: range(24) });
  assert.deepEqual(Buffer.from(ad.quoteInfo!.pcrDigest), DIGEST);
  const withTrailing = decodeQuoteAttest(attest({ extraData: NONCE, selection: SEL24, pcrDigest: DIGEST, trailing: Buffer.alloc(9, 7) }));
  assert.deepEqual(withTrailing.quoteInfo, ad.quoteInfo, 'trailing bytes ignored');
});

test('decodeQuoteAttest: bad magic and unsupported types', () => {
  throwsGo(() => decodeQuoteAttest(attest({ extraData: NONCE, magic: 0xff544348 })), 'incorrect magic value: ff544348');
  throwsGo(() => decodeQuoteAttest(attest({ extraData: NONCE, magic: 0 })), 'incorrect magic value: 0');
  throwsGo(
    () => decodeQuoteAttest(attest({ extraData: NONCE, type: ST.TIME, body: Buffer.alloc(40) })),
    'only Quote, Certify & Creation attestation structures are supported, got type 0x8019',
  );
  const certify = decodeQuoteAttest(attest({ extraData: NONCE, type: ST.CERTIFY, body: cat(tpm2b(u32(0x81000001)), tpm2b(Buffer.alloc(0))) }));
  assert.equal(certify.certifyInfo?.name.handle, 0x81000001);
  assert.equal(certify.quoteInfo, undefined);
  const creation = decodeQuoteAttest(attest({ extraData: NONCE, type: ST.CREATION, body: cat(tpm2b(Buffer.alloc(0)), tpm2b(DIGEST)) }));
  assert.equal(creation.creationInfo?.opaqueDigest.length, 32);
  throwsGo(() => decodeQuoteAttest(attest({ extraData: NONCE, type: ST.CERTIFY, body: tpm2b(Buffer.alloc(0)) })), 'decoding AttestedCertifyInfo: decoding QualifiedName: EOF');
});

test('decodeQuoteAttest: exactly one PCR selection; count 0 decodes as hash 0 without PCRs', () => {
  const two = pcrSelectionList(pcrSelection(ALG.SHA1, range(24)), pcrSelection(ALG.SHA256, range(24)));
  throwsGo(
    () => decodeQuoteAttest(attest({ extraData: NONCE, selection: two, pcrDigest: DIGEST })),
    'decoding AttestedQuoteInfo: decoding PCRSelection: got 2 TPMS_PCR_SELECTION items in TPML_PCR_SELECTION, expected 1',
  );
  const zero = decodeQuoteAttest(attest({ extraData: NONCE, selection: pcrSelectionList(), pcrDigest: DIGEST }));
  assert.deepEqual(zero.quoteInfo?.pcrSelection, { hash: 0, pcrs: [] });
  const wide = decodeQuoteAttest(attest({ extraData: NONCE, selection: pcrSelectionList(pcrSelection(ALG.SHA256, [0, 23, 24, 31], 4)), pcrDigest: DIGEST }));
  assert.deepEqual(wide.quoteInfo?.pcrSelection.pcrs, [0, 23, 24, 31]);
  // count claims 3 selections but the data ends: EOF while reading the second
  throwsGo(
    () => decodeQuoteAttest(cat(attest({ extraData: NONCE, body: cat(u32(3), pcrSelection(ALG.SHA256, [1])) }))),
    'decoding AttestedQuoteInfo: decoding PCRSelection: EOF',
  );
  // a short pcrSelect read is no error itself; the digest read then fails
  throwsGo(
    () => decodeQuoteAttest(attest({ extraData: NONCE, body: cat(u32(1), u16(ALG.SHA256), u8(3), u8(0xff)) })),
    'decoding AttestedQuoteInfo: decoding PCRDigest: EOF',
  );
  // a huge count is bounded by the input: every selection consumes at least 3 bytes
  throwsGo(
    () => decodeQuoteAttest(attest({ extraData: NONCE, body: cat(u32(0xffffffff), pcrSelection(ALG.SHA256, [1])) })),
    'decoding AttestedQuoteInfo: decoding PCRSelection: EOF',
  );
});

test('decodeQuoteAttest: TPM2B_NAME forms of qualifiedSigner', () => {
  const q = (signer: Uint8Array) => attest({ extraData: NONCE, selection: SEL24, pcrDigest: DIGEST, qualifiedSigner: signer });
  assert.deepEqual(decodeQuoteAttest(q(new Uint8Array(0))).qualifiedSigner, {});
  assert.equal(decodeQuoteAttest(q(u32(0x40000007))).qualifiedSigner.handle, 0x40000007);
  const short = decodeQuoteAttest(q(cat(u16(ALG.SHA256), Buffer.alloc(5, 1))));
  assert.equal(short.qualifiedSigner.digest?.value.length, 5, 'a digest shorter than its hash is accepted');
  const sha1 = decodeQuoteAttest(q(cat(u16(ALG.SHA1), Buffer.alloc(20, 1), Buffer.alloc(3))));
  assert.equal(sha1.qualifiedSigner.digest?.value.length, 20, 'trailing name bytes ignored');
  throwsGo(() => decodeQuoteAttest(q(cat(u16(0x0099), Buffer.alloc(32)))), 'decoding QualifiedSigner: decoding Digest: hash algorithm not supported: 0x416c673f3c3135333e');
  throwsGo(() => decodeQuoteAttest(q(u16(ALG.SHA256))), 'decoding QualifiedSigner: decoding Digest: decoding Value: EOF');
  throwsGo(() => decodeQuoteAttest(q(u8(1))), 'decoding QualifiedSigner: decoding Digest: decoding Alg: unexpected EOF');
});

test('decodeQuoteAttest: truncation at every length', () => {
  const full = attest({ extraData: NONCE, selection: SEL24, pcrDigest: DIGEST });
  // magic 0-3, type 4-5, name 6-41, extraData 42-75, clock 76-83, resetCount 84-87, restartCount 88-91,
  // safe 92, firmwareVersion 93-100, count 101-104, hash 105-106, sizeofSelect 107, pcrSelect 108-110, digest 111-144
  const expect: [number, string][] = [
    [0, 'decoding Magic/Type: EOF'],
    [3, 'decoding Magic/Type: unexpected EOF'],
    [4, 'decoding Magic/Type: EOF'],
    [5, 'decoding Magic/Type: unexpected EOF'],
    [6, 'decoding QualifiedSigner: EOF'],
    [8, 'decoding QualifiedSigner: EOF'],
    [20, 'decoding QualifiedSigner: unexpected EOF'],
    [42, 'decoding ExtraData/ClockInfo/FirmwareVersion: EOF'],
    [44, 'decoding ExtraData/ClockInfo/FirmwareVersion: EOF'],
    [60, 'decoding ExtraData/ClockInfo/FirmwareVersion: unexpected EOF'],
    [76, 'decoding ExtraData/ClockInfo/FirmwareVersion: EOF'],
    [78, 'decoding ExtraData/ClockInfo/FirmwareVersion: unexpected EOF'],
    [92, 'decoding ExtraData/ClockInfo/FirmwareVersion: EOF'],
    [93, 'decoding ExtraData/ClockInfo/FirmwareVersion: EOF'],
    [100, 'decoding ExtraData/ClockInfo/FirmwareVersion: unexpected EOF'],
    [101, 'decoding AttestedQuoteInfo: decoding PCRSelection: EOF'],
    [103, 'decoding AttestedQuoteInfo: decoding PCRSelection: unexpected EOF'],
    [107, 'decoding AttestedQuoteInfo: decoding PCRSelection: EOF'],
    [108, 'decoding AttestedQuoteInfo: decoding PCRSelection: EOF'],
    [109, 'decoding AttestedQuoteInfo: decoding PCRDigest: EOF'],
    [111, 'decoding AttestedQuoteInfo: decoding PCRDigest: EOF'],
    [112, 'decoding AttestedQuoteInfo: decoding PCRDigest: unexpected EOF'],
    [113, 'decoding AttestedQuoteInfo: decoding PCRDigest: EOF'],
    [130, 'decoding AttestedQuoteInfo: decoding PCRDigest: unexpected EOF'],
  ];
  assert.equal(full.length, 145);
  for (const [len, message] of expect) throwsGo(() => decodeQuoteAttest(full.subarray(0, len)), message);
  for (let len = 0; len < full.length; len++) onlyGoErrors(() => decodeQuoteAttest(full.subarray(0, len)));
  assert.ok(decodeQuoteAttest(full).quoteInfo);
});

// ---------------------------------------------------------------------------
// TPMT_SIGNATURE

test('decodeTpmtSignature: RSASSA, RSAPSS, ECDSA; other schemes are decode errors', () => {
  const data = Buffer.from('quote');
  const s = decodeTpmtSignature(signTpm(rsa, data));
  assert.equal(s.alg, ALG.RSASSA);
  assert.equal(s.rsa?.hashAlg, ALG.SHA256);
  assert.equal(s.rsa?.signature.length, 256);
  assert.equal(decodeTpmtSignature(signTpm(rsa, data, ALG.SHA256, 'rsapss')).alg, ALG.RSAPSS);
  const e = decodeTpmtSignature(cat(signTpm(ecc, data), Buffer.from('trailing')));
  assert.equal(e.alg, ALG.ECDSA);
  assert.equal(e.ecc?.r.length, 32);
  assert.equal(e.ecc?.s.length, 32);
  throwsGo(() => decodeTpmtSignature(cat(u16(ALG.ECDAA), u16(ALG.SHA256))), 'unsupported signature algorithm 0x4543444141');
  throwsGo(() => decodeTpmtSignature(u16(0x001b)), 'unsupported signature algorithm 0x416c673f3c32373e');
  throwsGo(() => decodeTpmtSignature(u16(ALG.NULL)), 'unsupported signature algorithm 0x416c674e756c6c');
  throwsGo(() => decodeTpmtSignature(new Uint8Array(0)), 'decoding Alg: EOF');
  throwsGo(() => decodeTpmtSignature(u8(0)), 'decoding Alg: unexpected EOF');
  throwsGo(() => decodeTpmtSignature(u16(ALG.RSASSA)), 'decoding RSA: EOF');
  throwsGo(() => decodeTpmtSignature(rsaSignature(ALG.RSASSA, ALG.SHA256, Buffer.alloc(256)).subarray(0, 100)), 'decoding RSA: unexpected EOF');
  throwsGo(() => decodeTpmtSignature(ecdsaSignature(ALG.SHA256, Buffer.alloc(32), Buffer.alloc(32)).subarray(0, 40)), 'decoding ECC: EOF');
  const emptyRs = decodeTpmtSignature(ecdsaSignature(ALG.SHA256, Buffer.alloc(0), Buffer.alloc(0)));
  assert.equal(emptyRs.ecc?.r.length, 0);
});

// ---------------------------------------------------------------------------
// Nonce binding

test('nonceBinding: extraData = SHA-256(UserData ‖ nonce), tpmNonce = SHA-256(InstanceInfo ‖ extraData)', () => {
  const userData = Buffer.alloc(32, 1);
  const nonce = Buffer.alloc(32, 2);
  const info = Buffer.from('{"zone":"europe-west3-b"}');
  const { extraData, tpmNonce } = nonceBinding(userData, nonce, info);
  const ed = createHash('sha256').update(cat(userData, nonce)).digest();
  assert.deepEqual(Buffer.from(extraData), ed);
  assert.deepEqual(Buffer.from(tpmNonce), createHash('sha256').update(cat(info, ed)).digest());
  const nulls = nonceBinding(null, nonce, null);
  assert.deepEqual(Buffer.from(nulls.extraData), createHash('sha256').update(nonce).digest());
  assert.deepEqual(Buffer.from(nulls.tpmNonce), createHash('sha256').update(nulls.extraData).digest());
  assert.deepEqual(nonceBinding(new Uint8Array(0), nonce, new Uint8Array(0)), nulls, 'null counts as empty');
  assert.notDeepEqual(nonceBinding(userData, nonce, Buffer.from('{"zone":"x"}')).tpmNonce, tpmNonce);
});

// ---------------------------------------------------------------------------
// Fuzzing: never a crash or hang, only JoinServiceErrors with Go text

const FUZZ = { numRuns: 3000, seed: 0x7a3e, endOnFailure: true } as const;

function allDecoders(b: Uint8Array): void {
  onlyGoErrors(() => decodeTpmtPublic(b));
  onlyGoErrors(() => akVerificationKey(decodeTpmtPublic(b)).keyObject());
  onlyGoErrors(() => decodeQuoteAttest(b));
  onlyGoErrors(() => decodeTpmtSignature(b));
}

test('fuzz: random bytes into every decoder', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), (b) => allDecoders(b)), FUZZ);
});

/** A valid structure with a few bytes overwritten, bytes inserted/removed, or truncated. */
function mutated(valid: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  return fc
    .record({
      which: fc.nat({ max: valid.length - 1 }),
      edits: fc.array(fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }), op: fc.constantFrom('set', 'insert', 'delete') }), {
        minLength: 1,
        maxLength: 6,
      }),
      cut: fc.option(fc.nat()),
    })
    .map(({ which, edits, cut }) => {
      const b = [...valid[which]!];
      for (const { at, value, op } of edits) {
        const i = b.length === 0 ? 0 : at % b.length;
        if (op === 'set' && b.length > 0) b[i] = value;
        else if (op === 'insert') b.splice(i, 0, value);
        else b.splice(i, 1);
      }
      const out = Uint8Array.from(b);
      return cut === null ? out : out.subarray(0, cut % (out.length + 1));
    });
}

test('fuzz: mutated valid structures into every decoder', () => {
  const data = Buffer.from('quote bytes');
  const valid = [
    rsa.akPub,
    ecc.akPub,
    RSA_TEMPLATE,
    ECC_TEMPLATE,
    attest({ extraData: NONCE, selection: SEL24, pcrDigest: DIGEST }),
    attest({ extraData: NONCE, type: ST.CERTIFY, body: cat(tpm2b(u32(1)), tpm2b(cat(u16(ALG.SHA256), Buffer.alloc(32)))) }),
    signTpm(rsa, data),
    signTpm(ecc, data),
  ];
  fc.assert(fc.property(mutated(valid), (b) => allDecoders(b)), FUZZ);
});

/**
 * Quote and attestation verification (tpm-attestation.md §5, §6, §8, §14 G1,
 * §15 Q8): every rule with Go's texts, the candidate loop's order and
 * last-error semantics, the stricter SHA-256-quote rule (G1) and fuzzing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { ErrorCode, JoinServiceError } from '../../src/shared/errors.js';
import { loadAk, identityFromKeyObject, type AkVerificationKey } from '../../src/workers/attestation/vtpm/tpm/tpmt-public.js';
import { goVerifyAttestation, selectSha256Quote, supportedQuotes, verifyTpmAttestation } from '../../src/workers/attestation/vtpm/tpm/verify-attestation.js';
import { pcrDigest, verifyQuote } from '../../src/workers/attestation/vtpm/tpm/verify-quote.js';
import type { EventLogProcessor, TpmQuote, VtpmDocument } from '../../src/workers/attestation/vtpm/types.js';
import {
  ALG,
  attest,
  cat,
  clonePcrs,
  eccAk,
  eccAkPublic,
  ecdsaSignature,
  ecPoint,
  emptyLogOnly,
  makeDocument,
  makeQuote,
  pcrSelection,
  pcrSelectionList,
  pcrValues,
  range,
  recordingProcessor,
  rsaAk,
  rsaAkPublic,
  rsaSignature,
  signTpm,
  ST,
  tpm2b,
  tpmPcrDigest,
  trivialState,
  u16,
  u32,
  u8,
  type TestAk,
} from './support/tpm-builder.js';

const rsa = rsaAk(2048);
const ecc = eccAk('P-256');
const ecc384 = eccAk('P-384');
const NONCE = createHash('sha256').update('tpm nonce').digest();

const P256_N = Buffer.from('ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551', 'hex');

function akOf(t: TestAk | Uint8Array): AkVerificationKey {
  return loadAk(t instanceof Uint8Array ? t : t.akPub);
}

function expectError(f: () => unknown, message: string, code?: ErrorCode): void {
  assert.throws(f, (err: unknown) => {
    assert.ok(err instanceof JoinServiceError, `not a JoinServiceError: ${String(err)}`);
    assert.equal(err.message, message);
    if (code) assert.equal(err.code, code);
    return true;
  });
}

function quoteRejected(q: TpmQuote, ak: AkVerificationKey | TestAk, message: string, code: ErrorCode = ErrorCode.AttestationRejected): void {
  const key = 'identity' in ak ? ak : akOf(ak);
  expectError(() => verifyQuote(q, key, NONCE), message, code);
}

/** A quote over arbitrary TPMS_ATTEST bytes, signed by `ak`. */
function signedQuote(ak: TestAk, quote: Uint8Array, pcrs: TpmQuote['pcrs'], sigHash: number = ALG.SHA256): TpmQuote {
  return { quote, rawSig: signTpm(ak, quote, sigHash), pcrs };
}

// ---------------------------------------------------------------------------
// §5 verifyQuote

test('verifyQuote: honest RSASSA-SHA256, ECDSA-P256-SHA256 and ECDSA-P384-SHA384 quotes verify', () => {
  verifyQuote(makeQuote(rsa, { bank: ALG.SHA256, extraData: NONCE }), akOf(rsa), NONCE);
  verifyQuote(makeQuote(ecc, { bank: ALG.SHA256, extraData: NONCE }), akOf(ecc), NONCE);
  verifyQuote(makeQuote(ecc384, { bank: ALG.SHA384, extraData: NONCE, sigHash: ALG.SHA384 }), akOf(ecc384), NONCE);
  verifyQuote(makeQuote(rsa, { bank: ALG.SHA512, extraData: NONCE, sigHash: ALG.SHA512 }), akOf(rsa), NONCE);
  verifyQuote(makeQuote(ecc, { bank: ALG.SHA256, extraData: NONCE, sigHash: ALG.SHA512 }), akOf(ecc), NONCE);
});

test('verifyQuote: pcrDigest is hashed with the signature hash, not the bank hash', () => {
  // SHA-1 bank, SHA-256 signature: the digest over the 20-byte values is SHA-256 → verifies
  verifyQuote(makeQuote(rsa, { bank: ALG.SHA1, extraData: NONCE }), akOf(rsa), NONCE);
  // SHA-384 bank under an RSASSA-SHA256 AK (GCE): SHA-256 digest of 48-byte values
  verifyQuote(makeQuote(rsa, { bank: ALG.SHA384, extraData: NONCE }), akOf(rsa), NONCE);
  // a quote whose digest was computed with the bank hash (SHA-1) does not match
  quoteRejected(makeQuote(rsa, { bank: ALG.SHA1, extraData: NONCE, digestHash: ALG.SHA1 }), rsa, 'given PCRs digest not matching');
  const p = pcrValues(ALG.SHA256);
  assert.deepEqual(pcrDigest({ hash: ALG.SHA256, pcrs: p }, 'sha384'), tpmPcrDigest(p, range(24), ALG.SHA384));
});

test('verifyQuote: signature decoding failures', () => {
  const q = makeQuote(rsa, { bank: ALG.SHA256, extraData: NONCE });
  quoteRejected({ ...q, rawSig: new Uint8Array(0) }, rsa, 'signature decoding failed: decoding Alg: EOF', ErrorCode.AttestationMalformed);
  quoteRejected(
    { ...q, rawSig: cat(u16(ALG.ECDAA), u16(ALG.SHA256), tpm2b(Buffer.alloc(32)), tpm2b(Buffer.alloc(32))) },
    rsa,
    'signature decoding failed: unsupported signature algorithm 0x4543444141',
    ErrorCode.AttestationMalformed,
  );
  quoteRejected({ ...q, rawSig: q.rawSig.subarray(0, 100) }, rsa, 'signature decoding failed: decoding RSA: unexpected EOF', ErrorCode.AttestationMalformed);
});

test('verifyQuote: only SHA-256/384/512 signature hashes', () => {
  quoteRejected(makeQuote(rsa, { bank: ALG.SHA256, extraData: NONCE, sigHash: ALG.SHA1 }), rsa, 'unsupported signature hash algorithm: SHA-1');
  quoteRejected(makeQuote(ecc, { bank: ALG.SHA256, extraData: NONCE, sigHash: ALG.SHA1 }), ecc, 'unsupported signature hash algorithm: SHA-1');
  quoteRejected(makeQuote(rsa, { bank: ALG.SHA256, extraData: NONCE, sigHash: ALG.SHA3_256 }), rsa, 'unsupported signature hash algorithm: SHA3-256');
  const q = makeQuote(rsa, { bank: ALG.SHA256, extraData: NONCE });
  const sig = q.rawSig.subarray(4);
  quoteRejected({ ...q, rawSig: cat(u16(ALG.RSASSA), u16(0x0099), sig) }, rsa, 'hash algorithm not supported: 0x416c673f3c3135333e');
  quoteRejected({ ...q, rawSig: cat(u16(ALG.RSASSA), u16(ALG.NULL), sig) }, rsa, 'hash algorithm not supported: 0x416c674e756c6c');
});

test('verifyQuote: scheme must match the key type (RSASSA for RSA, ECDSA for ECC)', () => {
  quoteRejected(
    makeQuote(rsa, { bank: ALG.SHA256, extraData: NONCE, scheme: 'rsapss' }),
    rsa,
    'signature scheme 0x525341505353 is not supported, only RSASSA (PKCS#1 v1.5) is supported',
  );
  // an RSA signature presented for an ECDSA AK, and vice versa
  quoteRejected(makeQuote(rsa, { bank: ALG.SHA256, extraData: NONCE }), ecc, 'signature scheme 0x525341535341 is not supported, only ECDSA is supported');
  quoteRejected(
    makeQuote(ecc, { bank: ALG.SHA256, extraData: NONCE }),
    rsa,
    'signature scheme 0x4543445341 is not supported, only RSASSA (PKCS#1 v1.5) is supported',
  );
});

test('verifyQuote: wrong key or corrupted signature', () => {
  quoteRejected(makeQuote(rsa, { bank: ALG.SHA256, extraData: NONCE }), rsaAk(2048), 'RSASSA signature verification failed: crypto/rsa: verification error');
  const q = makeQuote(rsa, { bank: ALG.SHA256, extraData: NONCE });
  const bad = Buffer.from(q.rawSig);
  bad[100]! ^= 0x40;
  quoteRejected({ ...q, rawSig: bad }, rsa, 'RSASSA signature verification failed: crypto/rsa: verification error');
  const tampered = Buffer.from(q.quote);
  tampered[tampered.length - 1]! ^= 1;
  quoteRejected({ ...q, quote: tampered }, rsa, 'RSASSA signature verification failed: crypto/rsa: verification error');
  const e = makeQuote(ecc, { bank: ALG.SHA256, extraData: NONCE });
  const ebad = Buffer.from(e.rawSig);
  ebad[10]! ^= 1;
  quoteRejected({ ...e, rawSig: ebad }, ecc, 'ECC signature verification failed');
  quoteRejected(e, eccAk('P-256'), 'ECC signature verification failed');
});

test('verifyQuote: ECDSA r and s must lie in [1, n−1]; leading zeros are fine', () => {
  const q = makeQuote(ecc, { bank: ALG.SHA256, extraData: NONCE });
  const r = q.rawSig.subarray(6, 38);
  const s = q.rawSig.subarray(40, 72);
  const withRs = (rr: Uint8Array, ss: Uint8Array): TpmQuote => ({ ...q, rawSig: ecdsaSignature(ALG.SHA256, rr, ss) });
  verifyQuote(withRs(cat(Buffer.alloc(2), r), cat(u8(0), s)), akOf(ecc), NONCE);
  const nMinus1 = Buffer.from(P256_N);
  nMinus1[31]! -= 1;
  const nPlusR = Buffer.from((BigInt(`0x${P256_N.toString('hex')}`) + BigInt(`0x${Buffer.from(r).toString('hex')}`)).toString(16).padStart(66, '0'), 'hex');
  for (const [rr, ss, what] of [
    [Buffer.alloc(0), s, 'r = 0 (empty)'],
    [Buffer.alloc(32), s, 'r = 0'],
    [r, Buffer.alloc(0), 's = 0'],
    [P256_N, s, 'r = n'],
    [r, P256_N, 's = n'],
    [nPlusR, s, 'r + n (same value mod n)'],
    [nMinus1, s, 'r = n − 1 (in range, wrong)'],
    [Buffer.alloc(80, 0xff), s, 'r longer than the order'],
  ] as const) {
    assert.throws(() => verifyQuote(withRs(rr, ss), akOf(ecc), NONCE), { message: 'ECC signature verification failed' }, what);
  }
});

test('verifyQuote: an off-curve ECC AK never verifies', () => {
  const { y } = ecPoint(ecc.publicKey);
  const yy = Buffer.from(y);
  yy[31]! ^= 1;
  quoteRejected(makeQuote(ecc, { bank: ALG.SHA256, extraData: NONCE }), akOf(eccAkPublic(ecc.publicKey, { y: yy })), 'ECC signature verification failed');
});

test('verifyQuote: Go 1.24 crypto/rsa limits (§15 Q8)', () => {
  const q = makeQuote(rsa, { bank: ALG.SHA256, extraData: NONCE });
  const sig = q.rawSig.subarray(6);
  // signature length must equal the modulus length
  quoteRejected({ ...q, rawSig: rsaSignature(ALG.RSASSA, ALG.SHA256, sig.subarray(1)) }, rsa, 'RSASSA signature verification failed: crypto/rsa: verification error');
  quoteRejected(
    { ...q, rawSig: rsaSignature(ALG.RSASSA, ALG.SHA256, cat(u8(0), sig)) },
    rsa,
    'RSASSA signature verification failed: crypto/rsa: verification error',
  );
  // 512-bit key: refused before any cryptography
  const small = rsaAk(512);
  quoteRejected(
    makeQuote(small, { bank: ALG.SHA256, extraData: NONCE }),
    small,
    'RSASSA signature verification failed: crypto/rsa: 512-bit keys are insecure (see https://go.dev/pkg/crypto/rsa#hdr-Minimum_key_size)',
  );
  // 1024 bits is the minimum, even with SHA-512
  const k1024 = rsaAk(1024);
  verifyQuote(makeQuote(k1024, { bank: ALG.SHA256, extraData: NONCE, sigHash: ALG.SHA512 }), akOf(k1024), NONCE);
  const n = Buffer.from(rsa.publicKey.export({ format: 'jwk' }).n!, 'base64url');
  const cases: [Buffer, string][] = [
    [rsaAkPublic(rsa.publicKey, { exponentRaw: 65536 }), 'crypto/rsa: public exponent is even'],
    [rsaAkPublic(rsa.publicKey, { exponentRaw: 1 }), 'crypto/rsa: public exponent too small or negative'],
    [rsaAkPublic(rsa.publicKey, { exponentRaw: 0x80000001 }), 'crypto/rsa: public exponent too large'],
    [rsaAkPublic(rsa.publicKey, { modulus: cat(n.subarray(0, 255), u8(n[255]! ^ 1)) }), 'crypto/rsa: public modulus is even'],
  ];
  for (const [akPub, inner] of cases) quoteRejected(q, akOf(akPub), `RSASSA signature verification failed: ${inner}`);
  // leading zero bytes in the modulus and an explicit 65537 are the same key
  verifyQuote(q, akOf(rsaAkPublic(rsa.publicKey, { modulus: cat(Buffer.alloc(2), n) })), NONCE);
  verifyQuote(q, akOf(rsaAkPublic(rsa.publicKey, { exponentRaw: 65537 })), NONCE);
  // the scheme check comes first
  quoteRejected(
    makeQuote(rsa, { bank: ALG.SHA256, extraData: NONCE, scheme: 'rsapss' }),
    akOf(rsaAkPublic(rsa.publicKey, { exponentRaw: 65536 })),
    'signature scheme 0x525341505353 is not supported, only RSASSA (PKCS#1 v1.5) is supported',
  );
});

test('verifyQuote: TPMS_ATTEST checks after the signature (magic, type, single selection)', () => {
  const pcrs = { hash: ALG.SHA256, pcrs: pcrValues(ALG.SHA256) };
  const sel = pcrSelectionList(pcrSelection(ALG.SHA256, range(24)));
  const digest = tpmPcrDigest(pcrs.pcrs, range(24), ALG.SHA256);
  quoteRejected(
    signedQuote(rsa, attest({ extraData: NONCE, selection: sel, pcrDigest: digest, magic: 0xff544348 }), pcrs),
    rsa,
    'decoding attestation data failed: incorrect magic value: ff544348',
    ErrorCode.AttestationMalformed,
  );
  quoteRejected(
    signedQuote(rsa, attest({ extraData: NONCE, type: ST.TIME, body: Buffer.alloc(40) }), pcrs),
    rsa,
    'decoding attestation data failed: only Quote, Certify & Creation attestation structures are supported, got type 0x8019',
    ErrorCode.AttestationMalformed,
  );
  quoteRejected(
    signedQuote(rsa, attest({ extraData: NONCE, type: ST.CERTIFY, body: cat(tpm2b(u32(1)), tpm2b(Buffer.alloc(0))) }), pcrs),
    rsa,
    'expected quote tag, got: 32791',
  );
  quoteRejected(
    signedQuote(rsa, attest({ extraData: NONCE, type: ST.CREATION, body: cat(tpm2b(Buffer.alloc(0)), tpm2b(digest)) }), pcrs),
    rsa,
    'expected quote tag, got: 32794',
  );
  const two = pcrSelectionList(pcrSelection(ALG.SHA256, range(24)), pcrSelection(ALG.SHA1, range(24)));
  quoteRejected(
    signedQuote(rsa, attest({ extraData: NONCE, selection: two, pcrDigest: digest }), pcrs),
    rsa,
    'decoding attestation data failed: decoding AttestedQuoteInfo: decoding PCRSelection: got 2 TPMS_PCR_SELECTION items in TPML_PCR_SELECTION, expected 1',
    ErrorCode.AttestationMalformed,
  );
  // count 0 decodes as one selection with hash 0 and no PCRs: a selection mismatch for any real bank …
  const zero = signedQuote(rsa, attest({ extraData: NONCE, selection: pcrSelectionList(), pcrDigest: digest }), pcrs);
  quoteRejected(zero, rsa, 'given PCRs and Quote do not have the same PCR selection');
  // … while a quote without `pcrs` matches it (hash 0, empty map) and its digest is H(ε)
  const empty = createHash('sha256').digest();
  verifyQuote(signedQuote(rsa, attest({ extraData: NONCE, selection: pcrSelectionList(), pcrDigest: empty }), null), akOf(rsa), NONCE);
  // trailing bytes after pcrDigest are signed but ignored
  verifyQuote(signedQuote(rsa, attest({ extraData: NONCE, selection: sel, pcrDigest: digest, trailing: Buffer.alloc(7) }), pcrs), akOf(rsa), NONCE);
});

test('verifyQuote: extraData must equal the expected nonce (constant time, same length)', () => {
  const q = makeQuote(rsa, { bank: ALG.SHA256, extraData: Uint8Array.of(1, 2, 3) });
  expectError(() => verifyQuote(q, akOf(rsa), Uint8Array.of(1, 2, 4)), 'quote extraData [1 2 3] did not match expected extraData [1 2 4]', ErrorCode.AttestationNonceMismatch);
  expectError(() => verifyQuote(q, akOf(rsa), Uint8Array.of(1, 2)), 'quote extraData [1 2 3] did not match expected extraData [1 2]', ErrorCode.AttestationNonceMismatch);
  expectError(() => verifyQuote(q, akOf(rsa), Uint8Array.of(1, 2, 3, 0)), 'quote extraData [1 2 3] did not match expected extraData [1 2 3 0]');
  expectError(() => verifyQuote(q, akOf(rsa), new Uint8Array(0)), 'quote extraData [1 2 3] did not match expected extraData []');
  verifyQuote(makeQuote(rsa, { bank: ALG.SHA256, extraData: new Uint8Array(0) }), akOf(rsa), new Uint8Array(0));
  const full = makeQuote(rsa, { bank: ALG.SHA256, extraData: NONCE });
  const other = createHash('sha256').update('other').digest();
  assert.throws(() => verifyQuote(full, akOf(rsa), other), (e: unknown) => e instanceof JoinServiceError && e.message.startsWith(`quote extraData [${[...NONCE].join(' ')}] did not match`));
});

test('verifyQuote: PCR selection must equal the pcrs object (hash, extra/missing PCRs)', () => {
  const q = makeQuote(rsa, { bank: ALG.SHA256, extraData: NONCE });
  const SEL = 'given PCRs and Quote do not have the same PCR selection';
  const extra = clonePcrs(q.pcrs!);
  extra.pcrs.set(24, Buffer.alloc(32));
  quoteRejected({ ...q, pcrs: extra }, rsa, SEL);
  const missing = clonePcrs(q.pcrs!);
  missing.pcrs.delete(7);
  quoteRejected({ ...q, pcrs: missing }, rsa, SEL);
  const moved = clonePcrs(q.pcrs!);
  moved.pcrs.set(30, moved.pcrs.get(7)!);
  moved.pcrs.delete(7);
  quoteRejected({ ...q, pcrs: moved }, rsa, SEL);
  quoteRejected({ ...q, pcrs: { ...q.pcrs!, hash: ALG.SHA384 } }, rsa, SEL);
  quoteRejected({ ...q, pcrs: { ...q.pcrs!, hash: 0 } }, rsa, SEL);
  quoteRejected({ ...q, pcrs: null }, rsa, SEL);
  // Go converts the proto enum (int32) to tpm2.Algorithm (uint16): only the low 16 bits count
  verifyQuote({ ...q, pcrs: { ...q.pcrs!, hash: 0x1000b } }, akOf(rsa), NONCE);
  verifyQuote({ ...q, pcrs: { ...q.pcrs!, hash: -0xfff5 } }, akOf(rsa), NONCE);
  // wrong value, right selection
  const changed = clonePcrs(q.pcrs!);
  changed.pcrs.get(4)![0]! ^= 1;
  quoteRejected({ ...q, pcrs: changed }, rsa, 'given PCRs digest not matching');
  // PCR values of the wrong length are only caught by the digest
  const longer = clonePcrs(q.pcrs!);
  longer.pcrs.set(4, cat(longer.pcrs.get(4)!, u8(0)));
  quoteRejected({ ...q, pcrs: longer }, rsa, 'given PCRs digest not matching');
});

test('verifyQuote: PCR indices ≥ 24 are never hashed, so such a selection never verifies', () => {
  const indices = [...range(24), 24, 25];
  const pcrs = pcrValues(ALG.SHA256, indices);
  const quote = attest({
    extraData: NONCE,
    selection: pcrSelectionList(pcrSelection(ALG.SHA256, indices, 4)),
    pcrDigest: tpmPcrDigest(pcrs, indices, ALG.SHA256), // what a TPM with 32 PCRs would sign
  });
  quoteRejected(signedQuote(rsa, quote, { hash: ALG.SHA256, pcrs }), rsa, 'given PCRs digest not matching');
  assert.deepEqual(pcrDigest({ hash: ALG.SHA256, pcrs }, 'sha256'), tpmPcrDigest(pcrs, range(24), ALG.SHA256));
});

// ---------------------------------------------------------------------------
// §6 goVerifyAttestation (Go's loop)

function goVerify(doc: VtpmDocument, tpmNonce: Uint8Array, trustedAks = [identityFromKeyObject(rsa.publicKey)], processEventLog: EventLogProcessor = emptyLogOnly) {
  return goVerifyAttestation(doc.attestation, { nonce: tpmNonce, trustedAks, processEventLog });
}

test('goVerifyAttestation: AK decode, derivation and trust with Go texts', () => {
  const { doc, tpmNonce } = makeDocument(rsa, { banks: [ALG.SHA1, ALG.SHA256] });
  assert.equal(goVerify(doc, tpmNonce).machineState.hash, ALG.SHA256);
  expectError(
    () => goVerify(doc, tpmNonce, [identityFromKeyObject(ecc.publicKey)]),
    'failed to parse and validate AK: failed to validate AK public key: key not trusted',
    ErrorCode.AttestationRejected,
  );
  expectError(() => goVerify(doc, tpmNonce, []), 'bad options: no trust mechanism provided, either use TrustedAKs or TrustedRootCerts');
  const noAk = { ...doc, attestation: { ...doc.attestation, akPub: new Uint8Array(0) } };
  expectError(() => goVerify(noAk, tpmNonce), 'failed to parse and validate AK: failed to decode AK public area: decoding TPMT_PUBLIC: EOF', ErrorCode.AttestationMalformed);
  const bn = { ...doc, attestation: { ...doc.attestation, akPub: eccAkPublic(ecc.publicKey, { curveId: 0x0010 }) } };
  expectError(() => goVerify(bn, tpmNonce), "failed to parse and validate AK: failed to get AK public key: can't map TPM EC curve ID 0x10 to Go elliptic.Curve value");
  // a trusted key among several; ak_cert is ignored entirely
  const withCert = { ...doc, attestation: { ...doc.attestation, akCert: Buffer.from('not a certificate') } };
  assert.ok(goVerify(withCert, tpmNonce, [identityFromKeyObject(ecc.publicKey), identityFromKeyObject(rsa.publicKey)]));
});

test('goVerifyAttestation: candidates SHA-512, SHA-384, SHA-256, SHA-1; the highest verifying bank wins', () => {
  const { doc, tpmNonce } = makeDocument(rsa, { banks: [ALG.SHA1, ALG.SHA256, ALG.SHA384, ALG.SHA512] });
  const rec = recordingProcessor();
  const r = goVerify(doc, tpmNonce, undefined, rec.processor);
  assert.equal(r.machineState.hash, ALG.SHA512);
  assert.equal(r.quote, doc.attestation.quotes[3]);
  assert.deepEqual(rec.calls, [ALG.SHA512]);
  assert.deepEqual(
    supportedQuotes(doc.attestation.quotes).map((c) => c.bank),
    [ALG.SHA512, ALG.SHA384, ALG.SHA256, ALG.SHA1],
  );
  // an event log the SHA-512/384 quotes cannot replay: the loop falls through to SHA-256
  const failHigh: EventLogProcessor = (log, bank) => {
    if (bank === ALG.SHA512 || bank === ALG.SHA384) throw new Error(`failed to replay event log: no digest for bank ${bank}`);
    return trivialState(bank);
  };
  const rec2 = recordingProcessor(failHigh);
  assert.equal(goVerify(doc, tpmNonce, undefined, rec2.processor).machineState.hash, ALG.SHA256);
  assert.deepEqual(rec2.calls, [ALG.SHA512, ALG.SHA384, ALG.SHA256]);
});

test('goVerifyAttestation: only the first quote per bank is a candidate; unknown banks and missing pcrs are skipped', () => {
  const { doc, tpmNonce } = makeDocument(rsa, { banks: [ALG.SHA256] });
  const good = doc.attestation.quotes[0]!;
  const broken: TpmQuote = { ...good, rawSig: signTpm(rsaAk(1024), good.quote) };
  const dup = { ...doc, attestation: { ...doc.attestation, quotes: [broken, good] } };
  expectError(() => goVerify(dup, tpmNonce), 'failed to verify quote: RSASSA signature verification failed: crypto/rsa: verification error');
  const odd = { ...doc, attestation: { ...doc.attestation, quotes: [{ ...good, pcrs: null }, { ...good, pcrs: { ...good.pcrs!, hash: ALG.SHA3_256 } }] } };
  expectError(() => goVerify(odd, tpmNonce), 'attestation does not contain a supported quote', ErrorCode.AttestationRejected);
  const none = { ...doc, attestation: { ...doc.attestation, quotes: [] } };
  expectError(() => goVerify(none, tpmNonce), 'attestation does not contain a supported quote');
  // a bank value that truncates to SHA-256 is a SHA-256 candidate (Go's tpm2.Algorithm conversion)
  const trunc = { ...doc, attestation: { ...doc.attestation, quotes: [{ ...good, pcrs: { ...good.pcrs!, hash: 0x1000b } }] } };
  assert.equal(goVerify(trunc, tpmNonce).machineState.hash, ALG.SHA256);
});

test('goVerifyAttestation: SHA-1 is refused after the log; a SHA-1-only document fails with the SHA-1 text', () => {
  const { doc, tpmNonce } = makeDocument(rsa, { banks: [ALG.SHA1] });
  const rec = recordingProcessor();
  expectError(() => goVerify(doc, tpmNonce, undefined, rec.processor), 'SHA-1 is not allowed for verification (set VerifyOpts.AllowSHA1 to true to allow)', ErrorCode.AttestationRejected);
  assert.deepEqual(rec.calls, [ALG.SHA1], 'the log is processed before the SHA-1 rule');
  // a SHA-1 quote failing earlier reports the earlier error
  assert.throws(() => goVerify(doc, Buffer.alloc(32)), { message: /^failed to verify quote: quote extraData \[/ });
});

test('goVerifyAttestation: the last error wins', () => {
  const { doc, tpmNonce } = makeDocument(rsa, { banks: [ALG.SHA1, ALG.SHA256, ALG.SHA384] });
  const [q1, q256, q384] = doc.attestation.quotes as [TpmQuote, TpmQuote, TpmQuote];
  const badSig = (q: TpmQuote): TpmQuote => ({ ...q, rawSig: signTpm(rsa, cat(q.quote, u8(0))) });
  // SHA-256 broken, SHA-1 fine → the SHA-1 text (it is the last error)
  const d1 = { ...doc, attestation: { ...doc.attestation, quotes: [q1, badSig(q256)] } };
  expectError(() => goVerify(d1, tpmNonce), 'SHA-1 is not allowed for verification (set VerifyOpts.AllowSHA1 to true to allow)');
  // SHA-384 broken, SHA-256 with another nonce → the nonce text
  const otherNonce = makeQuote(rsa, { bank: ALG.SHA256, extraData: Buffer.alloc(32, 9) });
  const d2 = { ...doc, attestation: { ...doc.attestation, quotes: [badSig(q384), otherNonce] } };
  assert.throws(
    () => goVerify(d2, tpmNonce),
    (e: unknown) => e instanceof JoinServiceError && e.code === ErrorCode.AttestationNonceMismatch && e.message.startsWith('failed to verify quote: quote extraData [9 9 9'),
  );
  // all fail, the event-log error of the last candidate is reported with go-tpm-tools' prefixes
  const withLog = { ...doc, attestation: { ...doc.attestation, eventLog: Uint8Array.of(1, 2, 3) } };
  expectError(
    () => goVerify(withLog, tpmNonce),
    'failed to parse machine state from TCG event log: failed to validate the PCClient event log: failed to parse event log: test processor accepts only an empty log',
  );
  // a processor that already wraps is not wrapped twice
  const wrapped: EventLogProcessor = () => {
    throw new Error('failed to validate the PCClient event log: failed to replay event log: x');
  };
  expectError(() => goVerify(doc, tpmNonce, undefined, wrapped), 'failed to parse machine state from TCG event log: failed to validate the PCClient event log: failed to replay event log: x');
});

// ---------------------------------------------------------------------------
// verifyTpmAttestation (Validate steps 3/5/7 + G1)

test('verifyTpmAttestation: honest documents (qemu-vtpm style, trusted key, ECC AK)', () => {
  const { doc, tpmNonce } = makeDocument(rsa, { banks: [ALG.SHA1, ALG.SHA256] });
  const rec = recordingProcessor();
  const r = verifyTpmAttestation(doc, { tpmNonce, trustedAk: 'any', processEventLog: rec.processor });
  assert.equal(r.sha256Quote, doc.attestation.quotes[1]);
  assert.equal(r.machineState.hash, ALG.SHA256);
  assert.deepEqual(rec.calls, [ALG.SHA256], 'the accepted SHA-256 quote is not verified twice');
  assert.ok(verifyTpmAttestation(doc, { tpmNonce, trustedAk: identityFromKeyObject(rsa.publicKey), processEventLog: emptyLogOnly }));
  const e = makeDocument(ecc, { banks: [ALG.SHA256, ALG.SHA384], instanceInfo: Buffer.from('{"zone":"z"}') });
  const er = verifyTpmAttestation(e.doc, { tpmNonce: e.tpmNonce, trustedAk: 'any', processEventLog: emptyLogOnly });
  assert.equal(er.machineState.hash, ALG.SHA384);
  assert.equal(er.sha256Quote, e.doc.attestation.quotes[0]);
});

test('verifyTpmAttestation: Validate prefixes and stages', () => {
  const { doc, tpmNonce } = makeDocument(rsa, { banks: [ALG.SHA1, ALG.SHA256] });
  const opts = { tpmNonce, trustedAk: 'any' as const, processEventLog: emptyLogOnly };
  const stage = (f: () => unknown, message: string, st: string, code?: ErrorCode) =>
    assert.throws(f, (e: unknown) => {
      assert.ok(e instanceof JoinServiceError);
      assert.equal(e.message, message);
      assert.equal(e.details?.stage, st);
      if (code) assert.equal(e.code, code);
      return true;
    });
  stage(
    () => verifyTpmAttestation({ ...doc, attestation: { ...doc.attestation, akPub: new Uint8Array(0) } }, opts),
    'validating attestation public key: decoding TPMT_PUBLIC: EOF',
    'trusted-key',
  );
  stage(
    () => verifyTpmAttestation({ ...doc, attestation: { ...doc.attestation, akPub: eccAkPublic(ecc.publicKey, { curveId: 0x0010 }) } }, opts),
    "validating attestation public key: can't map TPM EC curve ID 0x10 to Go elliptic.Curve value",
    'trusted-key',
  );
  stage(
    () => verifyTpmAttestation(doc, { ...opts, trustedAk: identityFromKeyObject(ecc.publicKey) }),
    'verifying attestation document: failed to parse and validate AK: failed to validate AK public key: key not trusted',
    'verify',
    ErrorCode.AttestationRejected,
  );
  stage(
    () => verifyTpmAttestation(doc, { ...opts, tpmNonce: Buffer.alloc(32) }),
    `verifying attestation document: failed to verify quote: quote extraData [${[...tpmNonce].join(' ')}] did not match expected extraData [${Array(32).fill(0).join(' ')}]`,
    'verify',
    ErrorCode.AttestationNonceMismatch,
  );
  stage(
    () => verifyTpmAttestation({ ...doc, attestation: { ...doc.attestation, quotes: [] } }, opts),
    'verifying attestation document: attestation does not contain a supported quote',
    'verify',
  );
  // GetSHA256QuoteIndex texts, unwrapped
  const only384 = makeDocument(rsa, { banks: [ALG.SHA384] });
  stage(
    () => verifyTpmAttestation(only384.doc, { ...opts, tpmNonce: only384.tpmNonce }),
    'attestation did not include SHA256 hashed PCRs',
    'select-sha256-quote',
  );
  const d = makeDocument(rsa, { banks: [ALG.SHA384, ALG.SHA256] });
  const q = d.doc.attestation.quotes;
  const noPcrsFirst = { ...d.doc, attestation: { ...d.doc.attestation, quotes: [{ ...q[1]!, pcrs: null }, ...q] } };
  stage(() => verifyTpmAttestation(noPcrsFirst, { ...opts, tpmNonce: d.tpmNonce }), 'no PCR data in attestation', 'select-sha256-quote');
  expectError(() => selectSha256Quote([]), 'attestation is missing quotes');
  expectError(() => selectSha256Quote([null]), 'quote is nil');
});

test('G1 conformance: SHA-256 PCRs overwritten after signing, SHA-384 verifies — Go accepts, verifyTpmAttestation rejects', () => {
  const { doc, tpmNonce } = makeDocument(rsa, { banks: [ALG.SHA1, ALG.SHA256, ALG.SHA384] });
  const q256 = doc.attestation.quotes[1]!;
  const forged = clonePcrs(q256.pcrs!);
  for (const i of [4, 8, 9, 11, 12, 13, 15]) forged.pcrs.set(i, Buffer.alloc(32)); // "golden" values
  const attacked: VtpmDocument = {
    ...doc,
    attestation: { ...doc.attestation, quotes: [doc.attestation.quotes[0]!, { ...q256, pcrs: forged }, doc.attestation.quotes[2]!] },
  };
  // Go's VerifyAttestation alone accepts: the SHA-384 quote verifies and the SHA-256 one is never looked at
  const go = goVerifyAttestation(attacked.attestation, { nonce: tpmNonce, trustedAks: [loadAk(rsa.akPub).identity], processEventLog: emptyLogOnly });
  assert.equal(go.machineState.hash, ALG.SHA384);
  assert.equal(selectSha256Quote(attacked.attestation.quotes).pcrs, forged, 'Constellation would compare the forged values');
  // the adopted rule verifies the compared quote too
  assert.throws(
    () => verifyTpmAttestation(attacked, { tpmNonce, trustedAk: 'any', processEventLog: emptyLogOnly }),
    (e: unknown) => {
      assert.ok(e instanceof JoinServiceError);
      assert.equal(e.code, ErrorCode.AttestationRejected);
      assert.equal(e.message, 'verifying attestation document: verifying the SHA-256 quote used for the measurements: failed to verify quote: given PCRs digest not matching');
      assert.equal(e.details?.stage, 'verify-sha256-quote');
      return true;
    },
  );
  // the unmodified document passes, and its SHA-256 quote went through the full pipeline
  const rec = recordingProcessor();
  const ok = verifyTpmAttestation(doc, { tpmNonce, trustedAk: 'any', processEventLog: rec.processor });
  assert.equal(ok.machineState.hash, ALG.SHA384, "Go's MachineState");
  assert.equal(ok.sha256Quote, q256);
  assert.deepEqual(rec.calls, [ALG.SHA384, ALG.SHA256]);
});

test('G1: the compared SHA-256 quote must pass nonce, signature and event log too', () => {
  const { doc, tpmNonce } = makeDocument(rsa, { banks: [ALG.SHA256, ALG.SHA512] });
  const opts = { tpmNonce, trustedAk: 'any' as const, processEventLog: emptyLogOnly };
  const stale = makeQuote(rsa, { bank: ALG.SHA256, extraData: Buffer.alloc(32, 7) }); // replayed from another handshake
  const replay = { ...doc, attestation: { ...doc.attestation, quotes: [stale, doc.attestation.quotes[1]!] } };
  assert.ok(goVerifyAttestation(replay.attestation, { nonce: tpmNonce, trustedAks: [loadAk(rsa.akPub).identity], processEventLog: emptyLogOnly }));
  assert.throws(
    () => verifyTpmAttestation(replay, opts),
    (e: unknown) =>
      e instanceof JoinServiceError &&
      e.code === ErrorCode.AttestationNonceMismatch &&
      e.message.startsWith('verifying attestation document: verifying the SHA-256 quote used for the measurements: failed to verify quote: quote extraData [7 7 7'),
  );
  const foreign = makeQuote(rsaAk(1024), { bank: ALG.SHA256, extraData: tpmNonce });
  const signedElsewhere = { ...doc, attestation: { ...doc.attestation, quotes: [foreign, doc.attestation.quotes[1]!] } };
  expectError(
    () => verifyTpmAttestation(signedElsewhere, opts),
    'verifying attestation document: verifying the SHA-256 quote used for the measurements: failed to verify quote: RSASSA signature verification failed: crypto/rsa: verification error',
  );
  const only256Fails: EventLogProcessor = (_log, bank) => {
    if (bank === ALG.SHA256) throw new Error('failed to replay event log: PCR4 mismatch');
    return trivialState(bank);
  };
  expectError(
    () => verifyTpmAttestation(doc, { ...opts, processEventLog: only256Fails }),
    'verifying attestation document: verifying the SHA-256 quote used for the measurements: failed to parse machine state from TCG event log: failed to validate the PCClient event log: failed to replay event log: PCR4 mismatch',
  );
});

test('G1: a bank that only truncates to SHA-256 does not stand in for the compared quote', () => {
  const { doc, tpmNonce } = makeDocument(rsa, { banks: [ALG.SHA256] });
  const good = doc.attestation.quotes[0]!;
  const decoy: TpmQuote = { ...good, pcrs: { ...good.pcrs!, hash: 0x1000b } }; // Go's loop takes it as the SHA-256 candidate
  const forged = clonePcrs(good.pcrs!);
  forged.pcrs.set(4, Buffer.alloc(32));
  const d = { ...doc, attestation: { ...doc.attestation, quotes: [decoy, { ...good, pcrs: forged }] } };
  assert.equal(goVerifyAttestation(d.attestation, { nonce: tpmNonce, trustedAks: [loadAk(rsa.akPub).identity], processEventLog: emptyLogOnly }).quote, decoy);
  expectError(
    () => verifyTpmAttestation(d, { tpmNonce, trustedAk: 'any', processEventLog: emptyLogOnly }),
    'verifying attestation document: verifying the SHA-256 quote used for the measurements: failed to verify quote: given PCRs digest not matching',
  );
});

// ---------------------------------------------------------------------------
// Fuzzing verification

const base = makeDocument(rsa, { banks: [ALG.SHA1, ALG.SHA256, ALG.SHA384] });
const eBase = makeDocument(ecc, { banks: [ALG.SHA256] });

function mutate(bytes: Uint8Array, edits: readonly { at: number; value: number }[], cut: number | null): Uint8Array {
  const b = Uint8Array.from(bytes);
  for (const { at, value } of edits) if (b.length > 0) b[at % b.length] = value;
  return cut === null ? b : b.subarray(0, cut % (b.length + 1));
}

const edit = fc.array(fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 4 });

function onlyJoinServiceErrors(f: () => unknown): void {
  try {
    f();
  } catch (err) {
    if (!(err instanceof JoinServiceError) || err.message.length === 0) throw err;
  }
}

test('fuzz: mutated quotes, signatures, AKs and PCR maps into verification', () => {
  const FUZZ = { numRuns: 600, seed: 0x51de, endOnFailure: true } as const;
  fc.assert(
    fc.property(
      fc.constantFrom(base, eBase),
      fc.nat(),
      fc.constantFrom('quote', 'rawSig', 'akPub', 'hash', 'pcrs'),
      edit,
      fc.option(fc.nat()),
      fc.integer({ min: -70000, max: 70000 }),
      (b, qi, field, edits, cut, hash) => {
        const quotes = b.doc.attestation.quotes.map((q) => ({ ...q }));
        const i = qi % quotes.length;
        const q = quotes[i]!;
        let akPub = b.doc.attestation.akPub;
        if (field === 'quote') q.quote = mutate(q.quote, edits, cut);
        else if (field === 'rawSig') q.rawSig = mutate(q.rawSig, edits, cut);
        else if (field === 'akPub') akPub = mutate(akPub, edits, cut);
        else if (field === 'hash') q.pcrs = { ...q.pcrs!, hash };
        else {
          const p = clonePcrs(q.pcrs!);
          for (const { at, value } of edits) p.pcrs.set(at % 40, Uint8Array.of(value));
          q.pcrs = p;
        }
        const doc = { ...b.doc, attestation: { ...b.doc.attestation, akPub, quotes } };
        onlyJoinServiceErrors(() => verifyTpmAttestation(doc, { tpmNonce: b.tpmNonce, trustedAk: 'any', processEventLog: emptyLogOnly }));
        onlyJoinServiceErrors(() =>
          goVerifyAttestation(doc.attestation, { nonce: b.tpmNonce, trustedAks: [identityFromKeyObject(rsa.publicKey)], processEventLog: emptyLogOnly }),
        );
      },
    ),
    FUZZ,
  );
});

test('fuzz: random bytes as quote, signature and AK', () => {
  const FUZZ = { numRuns: 1500, seed: 0x0b5e, endOnFailure: true } as const;
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 300 }), fc.boolean(), (quote, rawSig, ownAk) => {
      const quotes: TpmQuote[] = [{ quote, rawSig, pcrs: { hash: ALG.SHA256, pcrs: pcrValues(ALG.SHA256, [0, 1]) } }];
      const akPub = ownAk ? rsa.akPub : cat(quote, rawSig);
      const doc = { ...base.doc, attestation: { ...base.doc.attestation, akPub, quotes } };
      onlyJoinServiceErrors(() => verifyTpmAttestation(doc, { tpmNonce: base.tpmNonce, trustedAk: 'any', processEventLog: emptyLogOnly }));
      onlyJoinServiceErrors(() => verifyQuote(quotes[0]!, akOf(ecc), base.tpmNonce));
    }),
    FUZZ,
  );
});

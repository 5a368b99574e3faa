/**
 * Azure's HCL attestation-key check (src/workers/attestation/snp/azure/hcl-ak.ts,
 * sev-snp-attestation.md §3.4) with this service's kid binding: the key named
 * HCLAkPub is the AK wherever it sits in the list, keys[0] is used only when
 * no key carries a kid; Go's texts for each failure; the little-endian
 * exponent quirk; the real runtime data of Constellation's vector.
 */
import assert from 'node:assert/strict';
import { createHash, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import { ErrorCode, JoinServiceError } from '../../src/shared/errors.js';
import { selectHclAkKey, validateHclAk, type TpmRsaParameters } from '../../src/workers/attestation/snp/azure/hcl-ak.js';
import { parseHclRuntimeData } from '../../src/workers/attestation/snp/azure/runtime-data.js';
import { parseSnpAttestationReport } from '../../src/workers/attestation/snp/report/attestation-report.js';
import { CONSTELLATION_ATTESTATION as C, readVector } from '../helpers/vectors.js';

const utf8 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));

function rsaKey(): KeyObject {
  return generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
}
const AK = rsaKey();
const EK = rsaKey();

function jwk(key: KeyObject, kid?: string): Record<string, unknown> {
  const j = key.export({ format: 'jwk' });
  return { ...(kid !== undefined ? { kid } : {}), key_ops: ['sign'], kty: 'RSA', e: j.e, n: j.n };
}

/** TPM RSA parameters of a key as TPMT_PUBLIC carries them (exponent 0 = 65537). */
function tpmParams(key: KeyObject, exponentRaw = 0): TpmRsaParameters {
  return { modulus: new Uint8Array(Buffer.from(key.export({ format: 'jwk' }).n!, 'base64url')), exponentRaw };
}

function runtimeData(keys: unknown[], extra: Record<string, unknown> = {}): Uint8Array {
  return utf8(JSON.stringify({ keys, 'vm-configuration': { 'console-enabled': true, 'secure-boot': true, 'tpm-enabled': true }, ...extra }));
}

/** REPORT_DATA binding `rd` (SHA-256 in the first 32 bytes, the rest zero). */
function reportDataFor(rd: Uint8Array): Uint8Array {
  const out = new Uint8Array(64);
  out.set(createHash('sha256').update(rd).digest());
  return out;
}

function check(rd: Uint8Array, ak: TpmRsaParameters | null, reportData = reportDataFor(rd)): { selectedBy: 'kid' | 'first' } {
  return validateHclAk(rd, reportData, ak);
}

function rejects(fn: () => unknown, message: string | RegExp, code: ErrorCode = ErrorCode.AttestationRejected): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof JoinServiceError, String(err));
    assert.equal(err.code, code);
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

describe('HCL AK check: which key is the AK', () => {
  it('accepts the AK listed second when it carries kid HCLAkPub (Go would compare keys[0], the EK, and fail)', () => {
    const rd = runtimeData([jwk(EK, 'HCLEkPub'), jwk(AK, 'HCLAkPub')]);
    assert.deepEqual(check(rd, tpmParams(AK)), { selectedBy: 'kid' });
  });

  it('does not use keys[0] when it is the EK with a kid and no key is named HCLAkPub', () => {
    const rd = runtimeData([jwk(AK, 'HCLEkPub')]);
    rejects(() => check(rd, tpmParams(AK)), 'runtime data has no key with kid "HCLAkPub" (kids: "HCLEkPub")');
  });

  it('rejects an AK that matches the EK entry listed first when HCLAkPub names another key', () => {
    const rd = runtimeData([jwk(AK, 'HCLEkPub'), jwk(EK, 'HCLAkPub')]);
    rejects(() => check(rd, tpmParams(AK)), 'unexpected modulus value in TPM');
  });

  it('falls back to keys[0] only when no key carries a kid (Go\'s rule)', () => {
    const rd = runtimeData([jwk(AK), jwk(EK)]);
    assert.deepEqual(check(rd, tpmParams(AK)), { selectedBy: 'first' });
    rejects(() => check(rd, tpmParams(EK)), 'unexpected modulus value in TPM');
  });

  it('uses the kid rule as soon as any key has a kid', () => {
    const data = parseHclRuntimeData(runtimeData([jwk(EK), jwk(AK, 'HCLAkPub')]));
    assert.equal(selectHclAkKey(data).selectedBy, 'kid');
    assert.equal(selectHclAkKey(data).key.n, jwk(AK).n);
  });
});

describe('HCL AK check: Go\'s steps and texts', () => {
  it('rejects runtime data that is not JSON', () => {
    rejects(() => check(utf8('{"keys":'), tpmParams(AK)), /^unmarshalling json: /, ErrorCode.AttestationMalformed);
    rejects(() => check(utf8('{"keys":{}}'), tpmParams(AK)), /^unmarshalling json: keys: expected an array, got object$/, ErrorCode.AttestationMalformed);
  });

  it('rejects runtime data whose SHA-256 is not REPORT_DATA[0:32] (bytes 32–63 are not checked)', () => {
    const rd = runtimeData([jwk(AK, 'HCLAkPub')]);
    const bad = reportDataFor(rd);
    bad[0] = bad[0]! ^ 1;
    rejects(() => check(rd, tpmParams(AK), bad), 'unexpected runtimeData digest in TPM');
    const tail = reportDataFor(rd);
    tail.fill(0xee, 32);
    assert.deepEqual(check(rd, tpmParams(AK), tail), { selectedBy: 'kid' });
    rejects(() => check(rd, tpmParams(AK), reportDataFor(rd).subarray(0, 16)), 'reportData has unexpected size: 16');
  });

  it('rejects runtime data without keys', () => {
    rejects(() => check(runtimeData([]), tpmParams(AK)), 'did not receive any keys in runtime data');
    rejects(() => check(utf8('{"vm-configuration":{}}'), tpmParams(AK)), 'did not receive any keys in runtime data');
  });

  it('rejects a modulus that differs from the TPM AK\'s', () => {
    rejects(() => check(runtimeData([jwk(EK, 'HCLAkPub')]), tpmParams(AK)), 'unexpected modulus value in TPM');
  });

  it('decodes n and e with Go\'s RawURLEncoding (padding is an error)', () => {
    const padded = { ...jwk(AK, 'HCLAkPub'), n: `${String(jwk(AK).n)}=` };
    rejects(() => check(runtimeData([padded]), tpmParams(AK)), /^decoding modulus string: illegal base64 data at input byte \d+$/);
    const badE = { ...jwk(AK, 'HCLAkPub'), e: 'AQ=B' };
    rejects(() => check(runtimeData([badE]), tpmParams(AK)), 'decoding exponent string: illegal base64 data at input byte 2');
  });

  it('reads the exponent little-endian from a zero-padded 4-byte buffer (the quirk)', () => {
    // "AQAB" = 01 00 01 → 01 00 01 00 little-endian = 65537, the TPM's 0.
    assert.deepEqual(check(runtimeData([jwk(AK, 'HCLAkPub')]), tpmParams(AK, 0)), { selectedBy: 'kid' });
    assert.deepEqual(check(runtimeData([jwk(AK, 'HCLAkPub')]), tpmParams(AK, 65537)), { selectedBy: 'kid' });
    // "AAEAAQ" = 00 01 00 01 is 65537 big-endian (RFC 7518) but 0x01000100 little-endian: Go rejects it.
    rejects(() => check(runtimeData([{ ...jwk(AK, 'HCLAkPub'), e: 'AAEAAQ' }]), tpmParams(AK, 0)), 'unexpected N value in TPM');
    // "AwAAAA" = 03 00 00 00 → 3, compared with the TPM field as is.
    assert.deepEqual(check(runtimeData([{ ...jwk(AK, 'HCLAkPub'), e: 'AwAAAA' }]), tpmParams(AK, 3)), { selectedBy: 'kid' });
    rejects(() => check(runtimeData([{ ...jwk(AK, 'HCLAkPub'), e: 'AwAAAA' }]), tpmParams(AK, 0)), 'unexpected N value in TPM');
    // More than four bytes: only the first four count.
    assert.deepEqual(check(runtimeData([{ ...jwk(AK, 'HCLAkPub'), e: 'AQABAP8' }]), tpmParams(AK, 0)), { selectedBy: 'kid' });
  });

  it('rejects a non-RSA AK (Go panics on it)', () => {
    rejects(() => check(runtimeData([jwk(AK, 'HCLAkPub')]), null), 'attestation key is not an RSA key');
  });
});

describe('HCL AK check: Constellation\'s Azure vector', () => {
  it('accepts runtimedata.bin against attestation.bin\'s REPORT_DATA and the key it names', () => {
    const rd = readVector(`${C}/snp/testdata/runtimedata.bin`, '0ccc0895ef2f2c3b8c8568f5a2bb65ff5bf9387a09359742ad41e686cacfd38b');
    const report = parseSnpAttestationReport(readVector(`${C}/snp/testdata/attestation.bin`));
    const key = parseHclRuntimeData(rd).keys[0]!;
    const ak = createPublicKey({ key: { kty: 'RSA', n: key.n, e: key.e }, format: 'jwk' });
    assert.deepEqual(validateHclAk(rd, report.reportData, tpmParams(ak)), { selectedBy: 'kid' });
    rejects(() => validateHclAk(rd, report.reportData, tpmParams(AK)), 'unexpected modulus value in TPM');
  });
});

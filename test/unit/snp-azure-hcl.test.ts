/**
 * Azure HCL report layout and runtime data (sev-snp-attestation.md §3.2–3.4).
 *
 * No SNP HCL report is among the vectors; `attestation.bin` is its slice
 * 0x20–0x4D4 (the SNP report followed by the IGVM request header), so the SNP
 * blob here is rebuilt from it and `runtimedata.bin`. The TDX HCL report
 * (`azure/tdx/testdata/hclreport.bin`) is a real NV blob of the same layout.
 */
import assert from 'node:assert/strict';
import { createHash, createPublicKey } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ErrorCode, JoinServiceError } from '../../src/shared/errors.js';
import {
  encodeHclReport,
  HCL_REPORT_LIMITS,
  HCL_REPORT_OFFSETS,
  HclReportType,
  parseHclReport,
  parseSnpHclReport,
} from '../../src/workers/attestation/snp/azure/hcl-report.js';
import {
  decodeHclJwkComponents,
  findHclKey,
  goHclExponent,
  goRawUrlBase64Decode,
  HCL_AK_KID,
  HCL_EK_KID,
  HCL_RUNTIME_DATA_LIMITS,
  hclJwkToPublicKey,
  parseHclRuntimeData,
  type HclJwk,
} from '../../src/workers/attestation/snp/azure/runtime-data.js';
import { parseSnpAttestationReport, SNP_REPORT_SIZE } from '../../src/workers/attestation/snp/report/attestation-report.js';
import { CONSTELLATION_ATTESTATION as C, readVector } from '../helpers/vectors.js';

const AZURE_REPORT = readVector(`${C}/snp/testdata/attestation.bin`, '81a53588633c535976cab39ef32839b708e009faaaf93d83e290832391d9b620');
const AZURE_RUNTIME_DATA = readVector(`${C}/snp/testdata/runtimedata.bin`, '0ccc0895ef2f2c3b8c8568f5a2bb65ff5bf9387a09359742ad41e686cacfd38b');
const TDX_HCL = readVector(`${C}/azure/tdx/testdata/hclreport.bin`, 'b3e58f9012f65f51d9cdd291dbb74622d30ad4d804a28639d529f4958449a1db');

const utf8 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));
const sha256 = (b: Uint8Array): Buffer => createHash('sha256').update(b).digest();

/** The SNP HCL blob of the Azure vector: header ‖ attestation.bin (report + IGVM header) ‖ runtime data ‖ zero padding to 2600 bytes. */
function azureSnpHclBlob(): Buffer {
  const header = Buffer.alloc(32);
  header.write('HCLA', 0, 'latin1');
  header.writeUInt32LE(2, 4);
  header.writeUInt32LE(HCL_REPORT_OFFSETS.runtimeData + AZURE_RUNTIME_DATA.length, 8);
  header.writeUInt32LE(2, 12);
  const blob = Buffer.alloc(2600);
  Buffer.concat([header, AZURE_REPORT, AZURE_RUNTIME_DATA]).copy(blob);
  return blob;
}

function assertMalformed(fn: () => unknown, message: RegExp, component: string): JoinServiceError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof JoinServiceError, `expected JoinServiceError, got ${String(caught)}`);
  assert.equal(caught.code, ErrorCode.AttestationMalformed);
  assert.match(caught.message, message);
  assert.equal(caught.details?.component, component);
  return caught;
}

describe('Azure HCL report (§3.2)', () => {
  it('the SNP blob rebuilt from the vectors parses: IGVM header 604/1/SNP/SHA-256/584, report, runtime data', () => {
    const blob = azureSnpHclBlob();
    const hcl = parseSnpHclReport(blob);
    assert.deepEqual(hcl.requestData, { dataSize: 604, version: 1, reportType: HclReportType.SNP, reportDataHashType: 1, runtimeDataSize: 584 });
    assert.deepEqual(Buffer.from(hcl.runtimeData), AZURE_RUNTIME_DATA);
    assert.deepEqual(hcl.report, parseSnpAttestationReport(AZURE_REPORT.subarray(0, SNP_REPORT_SIZE)));
    assert.deepEqual(Buffer.from(hcl.hwReport), AZURE_REPORT.subarray(0, SNP_REPORT_SIZE));
    // attestation.bin is exactly blob[0x20:0x4D4] (go-azguestattestation's report slice plus the IGVM header).
    assert.deepEqual(blob.subarray(HCL_REPORT_OFFSETS.hwReport, HCL_REPORT_OFFSETS.runtimeData), AZURE_REPORT);
    assert.deepEqual(hcl.report.reportData.subarray(0, 32), new Uint8Array(sha256(hcl.runtimeData)));
    assert.equal(hcl.header.signature, 0x414c4348);
    assert.equal(hcl.padding.length, 2600 - 0x4d4 - 584);
    // The encoder reproduces the blob.
    assert.deepEqual(Buffer.from(encodeHclReport({ hwReport: hcl.hwReport, runtimeData: hcl.runtimeData, totalSize: 2600 })), blob);
  });

  it('the real TDX NV blob: generic layout parses (report type 4), its runtime data hash is in the TDREPORT, SNP parsing refuses it', () => {
    const hcl = parseHclReport(TDX_HCL);
    assert.deepEqual({ ...hcl.header, reserved: undefined }, { signature: 0x414c4348, version: 2, reportSize: 2436, requestType: 2, reserved: undefined });
    assert.deepEqual(hcl.header.reserved, new Uint8Array(16));
    assert.deepEqual(hcl.requestData, { dataSize: 1220, version: 1, reportType: HclReportType.TDX, reportDataHashType: 1, runtimeDataSize: 1200 });
    assert.equal(hcl.hwReport[0], 0x81);
    assert.equal(hcl.runtimeData.length, 1200);
    assert.equal(sha256(hcl.runtimeData).toString('hex'), '1b2d148a60baa97959615549e0e632a10c124bcecec7409e732838629b3fba8e');
    assert.deepEqual(Buffer.from(hcl.hwReport.subarray(128, 160)), sha256(hcl.runtimeData));
    assert.deepEqual(hcl.padding, new Uint8Array(164));
    assertMalformed(() => parseSnpHclReport(TDX_HCL), /Azure HCL report: report type \(offset 0x4c8\): expected 2 \(SNP\), got 4 \(TDX\)/, 'azure-hcl-report');
    assert.deepEqual(
      Buffer.from(encodeHclReport({ hwReport: hcl.hwReport, runtimeData: hcl.runtimeData, reportType: HclReportType.TDX, totalSize: TDX_HCL.length })),
      TDX_HCL,
    );
  });

  it('rejects bad magic, short blobs, sizes that do not fit, and size/NUL disagreements', () => {
    const blob = azureSnpHclBlob();
    const with32 = (offset: number, v: number): Buffer => {
      const b = Buffer.from(blob);
      b.writeUInt32LE(v, offset);
      return b;
    };
    const H = 'azure-hcl-report';
    assertMalformed(() => parseHclReport(with32(0, 0x41424344)), /header signature \(offset 0x0\): expected "HCLA"/, H);
    assertMalformed(() => parseHclReport(blob.subarray(0, 0x4d3)), /1235 bytes are shorter than the 1236-byte fixed part/, H);
    assertMalformed(() => parseHclReport(new Uint8Array(HCL_REPORT_LIMITS.blobBytes + 1)), /exceed the limit/, H);
    assertMalformed(() => parseHclReport(with32(0x4d0, 5000)), /runtime data size \(offset 0x4d0\): 5000 bytes of runtime data do not fit/, H);
    assertMalformed(() => parseHclReport(with32(0x4c0, 605)), /request data size \(offset 0x4c0\): 605 is not 20 \+ runtime data size 584/, H);
    // Size field shorter than the NUL-terminated data: the issuer would read more.
    const shorter = with32(0x4d0, 580);
    shorter.writeUInt32LE(600, 0x4c0);
    assertMalformed(() => parseHclReport(shorter), /runtime data end \(offset 0x718\): the byte after the runtime data is not 0x00/, H);
    // Size field longer: a NUL inside.
    const longer = with32(0x4d0, 590);
    longer.writeUInt32LE(610, 0x4c0);
    assertMalformed(() => parseHclReport(longer), /runtime data \(offset 0x71c\): 0x00 byte inside the 590 bytes/, H);
    // SNP slot that does not parse.
    const badReport = Buffer.from(blob);
    badReport[0x20 + 0x4c] = 1;
    assertMalformed(() => parseSnpHclReport(badReport), /SNP attestation report: reserved \(offset 0x4c\)/, 'snp-report');
    // Runtime data may end exactly at the end of the blob.
    const exact = encodeHclReport({ hwReport: AZURE_REPORT.subarray(0, SNP_REPORT_SIZE), runtimeData: AZURE_RUNTIME_DATA });
    assert.equal(exact.length, 0x4d4 + 584);
    assert.equal(parseSnpHclReport(exact).padding.length, 0);
  });

  it('encoder input checks', () => {
    assert.throws(() => encodeHclReport({ hwReport: new Uint8Array(1185), runtimeData: utf8('{}') }), RangeError);
    assert.throws(() => encodeHclReport({ hwReport: new Uint8Array(10), runtimeData: Uint8Array.of(0x7b, 0, 0x7d) }), /must not contain 0x00/);
    assert.throws(() => encodeHclReport({ hwReport: new Uint8Array(10), runtimeData: utf8('{}'), totalSize: 100 }), /smaller than/);
  });
});

describe('Azure HCL runtime data (§3.3, §3.4)', () => {
  it('the vector runtime data: one RSA key HCLAkPub, key_ops ["encrypt"], e AQAB; JWK → KeyObject / SPKI', () => {
    const rd = parseHclRuntimeData(AZURE_RUNTIME_DATA);
    assert.deepEqual(Buffer.from(rd.raw), AZURE_RUNTIME_DATA);
    assert.equal(rd.keys.length, 1);
    const ak = findHclKey(rd, HCL_AK_KID)!;
    assert.equal(ak, rd.keys[0]);
    assert.deepEqual({ ...ak, n: undefined }, { kid: 'HCLAkPub', kty: 'RSA', keyOps: ['encrypt'], n: undefined, e: 'AQAB' });
    const { n, e } = decodeHclJwkComponents(ak);
    assert.equal(n.length, 256);
    assert.deepEqual(e, Uint8Array.of(1, 0, 1));
    assert.equal(goHclExponent(e), 65537);
    const pub = hclJwkToPublicKey(ak);
    assert.equal(pub.kid, 'HCLAkPub');
    assert.equal(pub.keyObject.asymmetricKeyType, 'rsa');
    assert.equal(pub.keyObject.asymmetricKeyDetails?.modulusLength, 2048);
    assert.equal(pub.keyObject.asymmetricKeyDetails?.publicExponent, 65537n);
    assert.deepEqual(pub.modulus, n);
    const again = createPublicKey({ key: Buffer.from(pub.spki), format: 'der', type: 'spki' });
    assert.equal((again.export({ format: 'jwk' }) as { n: string }).n, ak.n);
    assert.equal(findHclKey(rd, HCL_EK_KID), undefined);
  });

  it('the TDX vector runtime data: AK (sign) and EK (encrypt) are found by kid', () => {
    const rd = parseHclRuntimeData(parseHclReport(TDX_HCL).runtimeData);
    assert.deepEqual(
      rd.keys.map((k) => [k.kid, k.kty, k.keyOps]),
      [
        ['HCLAkPub', 'RSA', ['sign']],
        ['HCLEkPub', 'RSA', ['encrypt']],
      ],
    );
    const ak = hclJwkToPublicKey(findHclKey(rd, HCL_AK_KID)!);
    const ek = hclJwkToPublicKey(findHclKey(rd, HCL_EK_KID)!);
    assert.notDeepEqual(ak.spki, ek.spki);
  });

  it("decodes like Go's encoding/json into {keys:[{e,n}]}: case-insensitive keys/n/e, unknown members ignored, nulls", () => {
    const n = Buffer.from(Uint8Array.of(0xc0, 1, 2)).toString('base64url');
    const rd = parseHclRuntimeData(utf8(`{"KEYS":[{"N":"${n}","E":"AQAB","kid":"k","x":[1,{}]},null,{}],"vm-configuration":{"a":[]},"user-data":"00"}`));
    assert.deepEqual(rd.keys, [{ kid: 'k', n, e: 'AQAB' }, { n: '', e: '' }, { n: '', e: '' }]);
    assert.deepEqual(parseHclRuntimeData(utf8('null')).keys, []);
    assert.deepEqual(parseHclRuntimeData(utf8('{}')).keys, []);
    assert.deepEqual(parseHclRuntimeData(utf8('{"keys":null}')).keys, []);
    assert.deepEqual(parseHclRuntimeData(utf8('{"keys":[{"n":null,"e":null,"kid":5,"kty":[],"key_ops":["a",1]}]}')).keys, [{ n: '', e: '' }]);
    // U+212A KELVIN SIGN folds to K, as in Go.
    assert.equal(parseHclRuntimeData(utf8('{"\u212Aeys":[{"n":"AQ"}]}')).keys.length, 1);
    // kid is matched exactly (RFC 7517), not case-folded.
    assert.equal(parseHclRuntimeData(utf8('{"keys":[{"KID":"HCLAkPub"}]}')).keys[0]!.kid, undefined);
  });

  it('rejects what Go rejects (syntax, wrong types) and, deliberately, duplicates', () => {
    const R = 'azure-runtime-data';
    assertMalformed(() => parseHclRuntimeData(new Uint8Array(0)), /unmarshalling json: unexpected end of JSON input/, R);
    assertMalformed(() => parseHclRuntimeData(utf8('{"keys":[}')), /unmarshalling json: invalid character '}' looking for beginning of value/, R);
    assertMalformed(() => parseHclRuntimeData(utf8('[]')), /expected an object, got array/, R);
    assertMalformed(() => parseHclRuntimeData(utf8('{"keys":{}}')), /keys: expected an array, got object/, R);
    assertMalformed(() => parseHclRuntimeData(utf8('{"keys":[1]}')), /keys\[0\]: expected an object, got number/, R);
    assertMalformed(() => parseHclRuntimeData(utf8('{"keys":[{"n":5}]}')), /keys\[0\]\.n: expected a string, got number/, R);
    assertMalformed(() => parseHclRuntimeData(utf8('{"keys":[],"Keys":[]}')), /document: member "keys" appears more than once/, R);
    assertMalformed(() => parseHclRuntimeData(utf8('{"keys":[{"n":"AQ","N":"AQ"}]}')), /keys\[0\]: member "n" appears more than once/, R);
    assertMalformed(() => parseHclRuntimeData(utf8('{"keys":[{"kid":"a","kid":"b"}]}')), /member "kid" appears more than once/, R);
    assertMalformed(() => parseHclRuntimeData(utf8(`{"keys":[${Array(HCL_RUNTIME_DATA_LIMITS.keys + 1).fill('{}').join(',')}]}`)), /17 keys exceed the limit of 16/, R);
    assertMalformed(() => parseHclRuntimeData(new Uint8Array(HCL_RUNTIME_DATA_LIMITS.bytes + 1).fill(0x20)), /exceed the limit/, R);
  });

  it("n/e decode as Go's base64.RawURLEncoding, with Go's error offsets", () => {
    const dec = (s: string) => goRawUrlBase64Decode(s);
    assert.deepEqual(dec('AQAB'), { bytes: Uint8Array.of(1, 0, 1) });
    assert.deepEqual(dec(''), { bytes: new Uint8Array(0) });
    assert.deepEqual(dec('AQ'), { bytes: Uint8Array.of(1) });
    assert.deepEqual(dec('AR'), { bytes: Uint8Array.of(1) }); // non-zero trailing bits accepted (not strict)
    assert.deepEqual(dec('A\r\nQ\nAB'), { bytes: Uint8Array.of(1, 0, 1) }); // CR/LF skipped
    assert.deepEqual(dec('-_8'), { bytes: Uint8Array.of(0xfb, 0xff) });
    assert.deepEqual(dec('AQAB='), { corruptAt: 4 }); // padding is an error
    assert.deepEqual(dec('AQ=='), { corruptAt: 2 });
    assert.deepEqual(dec('AQA+'), { corruptAt: 3 }); // standard alphabet
    assert.deepEqual(dec('AQABA'), { corruptAt: 4 }); // a lone final character
    assert.deepEqual(dec('AQAB\nA'), { corruptAt: 5 });
    assert.deepEqual(dec('é'), { corruptAt: 0 });
    const err = assertMalformed(() => decodeHclJwkComponents({ n: 'AQ==', e: 'AQAB' }), /Azure HCL runtime data: n: illegal base64 data at input byte 2/, 'azure-runtime-data');
    assert.equal(err.details?.offset, 2);
  });

  it("goHclExponent: Go's little-endian read of a zero-padded 4-byte buffer", () => {
    assert.equal(goHclExponent(Uint8Array.of(1, 0, 1)), 65537);
    assert.equal(goHclExponent(Uint8Array.of(3)), 3);
    assert.equal(goHclExponent(Uint8Array.of(0, 1, 0, 1)), 0x01000100); // big-endian 65537 read LE
    assert.equal(goHclExponent(Uint8Array.of(1, 0, 0, 0, 9)), 1); // truncated to 4 bytes
    assert.equal(goHclExponent(new Uint8Array(0)), 0);
  });

  it('hclJwkToPublicKey rejects non-RSA, undecodable or empty keys with the typed error', () => {
    const R = 'azure-runtime-data';
    const ak = parseHclRuntimeData(AZURE_RUNTIME_DATA).keys[0]!;
    assertMalformed(() => hclJwkToPublicKey({ ...ak, kty: 'EC' }), /key "HCLAkPub": kty is "EC", expected "RSA"/, R);
    assertMalformed(() => hclJwkToPublicKey({ n: ak.n, e: ak.e }), /key: kty is missing/, R);
    assertMalformed(() => hclJwkToPublicKey({ ...ak, e: 'AQAB=' }), /e: illegal base64 data at input byte 4/, R);
    assertMalformed(() => hclJwkToPublicKey({ ...ak, n: '' }), /empty or zero modulus/, R);
    assertMalformed(() => hclJwkToPublicKey({ ...ak, n: 'AAAA' }), /empty or zero modulus/, R);
    assertMalformed(() => hclJwkToPublicKey({ ...ak, e: 'AAAA' }), /empty or zero exponent/, R);
    // Leading zero bytes are kept in `modulus` (Go compares the decoded bytes) but not in the key.
    const padded: HclJwk = { ...ak, n: Buffer.concat([Buffer.of(0), Buffer.from(ak.n, 'base64url')]).toString('base64url') };
    const pub = hclJwkToPublicKey(padded);
    assert.equal(pub.modulus.length, 257);
    assert.deepEqual(pub.spki, hclJwkToPublicKey(ak).spki);
  });
});

// ---------------------------------------------------------------------------
// Fuzzing

const FUZZ_SEED = Number(process.env.SNP_FUZZ_SEED ?? 0x5eed5e7);
const FUZZ_RUNS = Number(process.env.SNP_FUZZ_RUNS ?? 1500);

function run(name: string, property: Parameters<typeof fc.assert>[0]): void {
  try {
    fc.assert(property, { numRuns: FUZZ_RUNS, seed: FUZZ_SEED });
  } catch (err) {
    throw new Error(`${name}: fuzz failure (re-run with SNP_FUZZ_SEED=${FUZZ_SEED}): ${(err as Error).message}`, { cause: err });
  }
}

function typed(fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch (err) {
    if (!(err instanceof JoinServiceError)) throw err;
    assert.equal(err.code, ErrorCode.AttestationMalformed);
    assert.ok(err.message.length < 400, `message too long: ${err.message.length}`);
    return false;
  }
}

describe('Azure HCL: fuzzing', () => {
  it(`random bytes and JSON never throw anything but the typed error (seed ${FUZZ_SEED})`, () => {
    run(
      'random bytes',
      fc.property(fc.uint8Array({ maxLength: 1600 }), (b) => {
        typed(() => parseHclReport(b));
        typed(() => parseSnpHclReport(b));
        typed(() => parseHclRuntimeData(b));
      }),
    );
    run(
      'random JSON',
      fc.property(fc.jsonValue(), (v) => {
        const rd = parseOr(utf8(JSON.stringify(v) ?? 'null'));
        for (const k of rd?.keys ?? []) typed(() => hclJwkToPublicKey(k));
      }),
    );
  });

  it('mutated real blobs and runtime data: parse or typed error', () => {
    const blob = azureSnpHclBlob();
    let ok = 0;
    run(
      'mutated blobs',
      fc.property(fc.array(fc.record({ at: fc.integer({ min: 0, max: 2599 }), v: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 3 }), (muts) => {
        const b = Buffer.from(blob);
        for (const m of muts) b[m.at] = m.v;
        if (typed(() => parseSnpHclReport(b))) ok++;
      }),
    );
    assert.ok(ok > 0);
    const keysArb = fc.array(
      fc.record(
        { kid: fc.oneof(fc.constant('HCLAkPub'), fc.integer()), kty: fc.constantFrom('RSA', 'EC'), n: fc.oneof(fc.base64String(), fc.string(), fc.constant(null)), e: fc.constantFrom('AQAB', 'AQ', 'AQAB=', '', 'AAAA') },
        { requiredKeys: [] },
      ),
      { maxLength: 3 },
    );
    run(
      'structured runtime data',
      fc.property(keysArb, fc.jsonValue(), (keys, extra) => {
        const rd = parseOr(utf8(JSON.stringify({ keys, 'vm-configuration': extra })));
        for (const k of rd?.keys ?? []) typed(() => hclJwkToPublicKey(k));
      }),
    );
  });
});

function parseOr(b: Uint8Array): ReturnType<typeof parseHclRuntimeData> | undefined {
  let out: ReturnType<typeof parseHclRuntimeData> | undefined;
  typed(() => (out = parseHclRuntimeData(b)));
  return out;
}

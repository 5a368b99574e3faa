/**
 * AMD KDS extensions of VCEK/VLEK certificates (sev-snp-attestation.md §6.1)
 * with go-sev-guest's kds.CertificateExtensions rules, read from the real
 * certificates, and their comparison with the report (§9.2): REPORTED_TCB ==
 * certificate TCB (each SPL named on mismatch), CHIP_ID == hwID for VCEK
 * reports whose CHIP_ID is not zero.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as der from '../../src/shared/der/encode.js';
import { ErrorCode, JoinServiceError } from '../../src/shared/errors.js';
import { decodeAllPem } from '../../src/shared/pem.js';
import type { Extension } from '../../src/workers/certificate/extensions.js';
import { parseCertificate } from '../../src/workers/certificate/parse-certificate.js';
import {
  checkKdsAgainstReport,
  composeTcb,
  decomposeTcb,
  KDS_OID,
  kdsTcbMismatches,
  parseKdsExtensions,
  type KdsExtensions,
} from '../../src/workers/attestation/snp/chain/kds-extensions.js';
import { CONSTELLATION_ATTESTATION as C, readVector, readVectorBase64, readVectorHex, readVectorText } from '../helpers/vectors.js';

const firstDer = (pem: string): Uint8Array => new Uint8Array(decodeAllPem(pem)[0]!.bytes);
const VCEK_DER = readVector(`${C}/snp/testdata/vcek.cert`, 'b68af9a570db2b79fe686495dcb2c18f164ddcced5661781177012bbe67e564d');
const VLEK_DER = firstDer(readVectorText(`${C}/snp/testdata/vlek.pem`, '3efb601e08235ecae3d7edfae308cd9c073538003f7794d3a39c95a0c17ad3df'));
const AWS_VLEK_DER = firstDer(readVectorText(`${C}/aws/snp/testdata/vlek.pem`, 'bcf2a296685afb2d2125ed43af98f5f55d3563f100832482e20918e6d019680e'));
const AZURE_REPORT = readVector(`${C}/snp/testdata/attestation.bin`, '81a53588633c535976cab39ef32839b708e009faaaf93d83e290832391d9b620');
const VLEK_REPORT = readVectorHex(`${C}/snp/testdata/attestation_vlek.hex`, 'f5f678231df2abc52e856758df4259dd90c9250c6a54fe2927ef7d48d5e803a6');
const AWS_REPORT = readVectorBase64(`${C}/aws/snp/testdata/report.txt`, '0f92eb72c01081020f798d53ba20e6421c34772714eb949ba01fa4a288b310ce');
const AZURE_CHIP_ID = '9e44aaef02cfca6fddbaca669c6cfd29e1ab8d97ebc939857128acbb13b8740df31436d34e86e5f8ae0cdfeb3a0e185db46decac176cc77d761c22a1b9dcf25b';

const VCEK_EXTS = parseCertificate(VCEK_DER).extensions;
const VLEK_EXTS = parseCertificate(VLEK_DER).extensions;

const reportFields = (report: Uint8Array) => ({
  reportedTcb: Buffer.from(report).readBigUInt64LE(0x180),
  chipId: Uint8Array.from(report.subarray(0x1a0, 0x1e0)),
});

function fails(f: () => unknown, code: string, pattern: RegExp): JoinServiceError {
  let caught: unknown;
  try {
    f();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof JoinServiceError, `expected a JoinServiceError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.match(caught.message, pattern);
  return caught;
}

/** The extension list with `oid` replaced (value undefined = removed). */
function withExt(exts: readonly Extension[], oid: string, value: Uint8Array | undefined, critical = false): Extension[] {
  const out = exts.filter((e) => e.oid !== oid);
  if (value !== undefined) out.push({ oid, critical, value });
  return out;
}

const ia5 = (s: string): Uint8Array => der.tlv(0x16, Buffer.from(s, 'latin1'));

describe('KDS extensions: the real certificates', () => {
  it('vcek.cert: Milan-B0, bl 2, tee 0, snp 6, ucode 0x5d, hwID = the Azure report CHIP_ID', () => {
    const k = parseKdsExtensions(VCEK_EXTS, 'VCEK');
    assert.equal(k.structVersion, 0);
    assert.equal(k.productName, 'Milan-B0');
    assert.deepEqual(k.spl, { blSpl: 2, teeSpl: 0, snpSpl: 6, spl4: 0, spl5: 0, spl6: 0, spl7: 0, ucodeSpl: 0x5d });
    assert.equal(k.tcb, 0x5d06000000000002n);
    assert.equal(Buffer.from(k.hwId!).toString('hex'), AZURE_CHIP_ID);
    assert.equal(k.cspId, undefined);
  });

  it('vlek.pem: product Milan, bl 3, tee 0, snp 10, ucode 0x73, CSP ID cc-us-east-2, no hwID', () => {
    const k = parseKdsExtensions(VLEK_EXTS, 'VLEK');
    assert.equal(k.productName, 'Milan');
    assert.equal(k.tcb, 0x730a000000000003n);
    assert.equal(k.cspId, 'CN=cc-us-east-2.amazonaws.com');
    assert.equal(k.hwId, undefined);
  });

  it('aws vlek.pem: bl 4, tee 0, snp 24, ucode 0xd9 (217, encoded 02 02 00 D9), CSP ID cc-eu-west-1', () => {
    const exts = parseCertificate(AWS_VLEK_DER).extensions;
    assert.deepEqual(Buffer.from(exts.find((e) => e.oid === KDS_OID.ucodeSpl)!.value).toString('hex'), '020200d9');
    const k = parseKdsExtensions(exts, 'VLEK');
    assert.equal(k.tcb, 0xd918000000000004n);
    assert.equal(k.cspId, 'CN=cc-eu-west-1.amazonaws.com');
  });

  it('a VCEK read as a VLEK and a VLEK read as a VCEK are rejected', () => {
    fails(() => parseKdsExtensions(VCEK_EXTS, 'VLEK'), ErrorCode.AttestationRejected, /^VLEK certificate has no cspID extension \(1\.3\.6\.1\.4\.1\.3704\.1\.5\)$/);
    fails(() => parseKdsExtensions(VLEK_EXTS, 'VCEK'), ErrorCode.AttestationRejected, /^VCEK certificate has a cspID extension \("CN=cc-us-east-2.amazonaws.com"\)$/);
  });
});

describe('KDS extensions: go-sev-guest rules', () => {
  it('only KDS OIDs and the AuthorityKeyIdentifier are allowed; duplicates are refused', () => {
    fails(() => parseKdsExtensions(withExt(VCEK_EXTS, '2.5.29.19', der.sequence()), 'VCEK'), ErrorCode.AttestationRejected, /extension 2\.5\.29\.19 is not an AMD KDS extension \(not an AMD KDS OID\)/);
    fails(() => parseKdsExtensions(withExt(VCEK_EXTS, `${KDS_OID.blSpl}.1`, der.integer(1)), 'VCEK'), ErrorCode.AttestationRejected, /not an AMD KDS OID/);
    parseKdsExtensions(withExt(VCEK_EXTS, '2.5.29.35', der.sequence()), 'VCEK');
    const dup = [...VCEK_EXTS, VCEK_EXTS.find((e) => e.oid === KDS_OID.teeSpl)!];
    const err = fails(() => parseKdsExtensions(dup, 'VCEK'), ErrorCode.AttestationRejected, /duplicate AMD KDS extension 1\.3\.6\.1\.4\.1\.3704\.1\.3\.2/);
    assert.equal(err.details?.check, 'kds-extensions');
  });

  it('every required extension is required (structVersion, productName, the eight SPLs)', () => {
    for (const [field, name] of [
      ['structVersion', 'structVersion'],
      ['productName', 'productName'],
      ['blSpl', 'blSPL'],
      ['teeSpl', 'teeSPL'],
      ['snpSpl', 'snpSPL'],
      ['spl4', 'spl4'],
      ['spl7', 'spl7'],
      ['ucodeSpl', 'ucodeSPL'],
    ] as const) {
      const err = fails(() => parseKdsExtensions(withExt(VCEK_EXTS, KDS_OID[field], undefined), 'VCEK'), ErrorCode.AttestationRejected, new RegExp(`^VCEK certificate has no ${name} extension`));
      assert.equal(err.details?.oid, KDS_OID[field]);
    }
    fails(() => parseKdsExtensions(withExt(VCEK_EXTS, KDS_OID.hwId, undefined), 'VCEK'), ErrorCode.AttestationRejected, /^VCEK certificate has no hwID extension/);
  });

  it('SPLs: INTEGER 0…255, minimal DER, nothing after it; all but ucodeSPL ≤ 127', () => {
    const k = (oid: string, v: Uint8Array): KdsExtensions => parseKdsExtensions(withExt(VCEK_EXTS, oid, v), 'VCEK');
    assert.equal(k(KDS_OID.ucodeSpl, der.integer(255)).spl.ucodeSpl, 255);
    assert.equal(k(KDS_OID.blSpl, der.integer(127)).spl.blSpl, 127);
    fails(() => k(KDS_OID.blSpl, der.integer(128)), ErrorCode.AttestationRejected, /^VCEK blSPL extension is 128, expected 0-127$/);
    fails(() => k(KDS_OID.spl5, der.integer(200)), ErrorCode.AttestationRejected, /^VCEK spl5 extension is 200, expected 0-127$/);
    fails(() => k(KDS_OID.ucodeSpl, der.integer(256)), ErrorCode.AttestationRejected, /^VCEK ucodeSPL extension is 256, not a uint8$/);
    fails(() => k(KDS_OID.snpSpl, der.tlv(0x02, Uint8Array.of(0xff))), ErrorCode.AttestationRejected, /^VCEK snpSPL extension is -1, not a uint8$/);
    fails(() => k(KDS_OID.teeSpl, der.tlv(0x02, Uint8Array.of(0x00, 0x05))), ErrorCode.AttestationMalformed, /teeSPL extension \(1\.3\.6\.1\.4\.1\.3704\.1\.3\.2\) is not a DER INTEGER/);
    fails(() => k(KDS_OID.teeSpl, Uint8Array.of(0x02, 0x01, 0x00, 0x00)), ErrorCode.AttestationMalformed, /has bytes after its INTEGER/);
    fails(() => k(KDS_OID.teeSpl, der.octetString(Uint8Array.of(1))), ErrorCode.AttestationMalformed, /is not a DER INTEGER/);
    fails(() => k(KDS_OID.structVersion, der.integer(300)), ErrorCode.AttestationRejected, /^VCEK structVersion extension is 300, not a uint8$/);
    assert.equal(k(KDS_OID.structVersion, der.integer(1)).structVersion, 1);
  });

  it('productName and cspID: IA5String tag first, ASCII only, nothing after it', () => {
    const k = (oid: string, v: Uint8Array, signer: 'VCEK' | 'VLEK' = 'VCEK'): KdsExtensions => parseKdsExtensions(withExt(signer === 'VCEK' ? VCEK_EXTS : VLEK_EXTS, oid, v), signer);
    assert.equal(k(KDS_OID.productName, ia5('Genoa-B1')).productName, 'Genoa-B1');
    assert.equal(k(KDS_OID.productName, ia5('anything')).productName, 'anything'); // evaluated by product detection only
    fails(() => k(KDS_OID.productName, der.utf8String('Milan-B0')), ErrorCode.AttestationMalformed, /productName extension \(1\.3\.6\.1\.4\.1\.3704\.1\.2\) is not tagged as an IA5String \(tag 0x0c\)/);
    fails(() => k(KDS_OID.productName, ia5('Mil\u00e4n')), ErrorCode.AttestationMalformed, /contains a non-ASCII byte/);
    fails(() => k(KDS_OID.productName, Uint8Array.from([...ia5('Milan'), 0])), ErrorCode.AttestationMalformed, /has bytes after its IA5String/);
    fails(() => k(KDS_OID.productName, new Uint8Array(0)), ErrorCode.AttestationRejected, /productName extension is empty/);
    fails(() => k(KDS_OID.cspId, der.printableString('CN=x'), 'VLEK'), ErrorCode.AttestationMalformed, /cspID extension .* is not tagged as an IA5String \(tag 0x13\)/);
    fails(() => k(KDS_OID.cspId, ia5(''), 'VLEK'), ErrorCode.AttestationRejected, /^VLEK certificate has no cspID extension/);
  });

  it('hwID: 64 raw bytes or an OCTET STRING of 64 bytes', () => {
    const raw = VCEK_EXTS.find((e) => e.oid === KDS_OID.hwId)!.value;
    assert.equal(raw.length, 64);
    const wrapped = parseKdsExtensions(withExt(VCEK_EXTS, KDS_OID.hwId, der.octetString(raw)), 'VCEK');
    assert.deepEqual(wrapped.hwId, Uint8Array.from(raw));
    fails(() => parseKdsExtensions(withExt(VCEK_EXTS, KDS_OID.hwId, der.octetString(raw.subarray(1))), 'VCEK'), ErrorCode.AttestationRejected, /^VCEK hwID extension has 63 bytes, expected 64$/);
    fails(() => parseKdsExtensions(withExt(VCEK_EXTS, KDS_OID.hwId, raw.subarray(1)), 'VCEK'), ErrorCode.AttestationMalformed, /hwID extension .* is neither 64 raw bytes nor a DER OCTET STRING/);
    fails(() => parseKdsExtensions(withExt(VCEK_EXTS, KDS_OID.hwId, Uint8Array.from([...der.octetString(raw), 0])), 'VCEK'), ErrorCode.AttestationMalformed, /has bytes after its OCTET STRING/);
  });

  it('hwID and cspID together are refused for both signers (even an empty cspID); VLEK must not have a hwID', () => {
    const hw = VCEK_EXTS.find((e) => e.oid === KDS_OID.hwId)!.value;
    fails(() => parseKdsExtensions(withExt(VCEK_EXTS, KDS_OID.cspId, ia5('')), 'VCEK'), ErrorCode.AttestationRejected, /^VCEK certificate has both hwID and cspID extensions$/);
    fails(() => parseKdsExtensions(withExt(VLEK_EXTS, KDS_OID.hwId, hw), 'VLEK'), ErrorCode.AttestationRejected, /^VLEK certificate has both hwID and cspID extensions$/);
    fails(() => parseKdsExtensions(withExt(withExt(VLEK_EXTS, KDS_OID.cspId, undefined), KDS_OID.hwId, hw), 'VLEK'), ErrorCode.AttestationRejected, /^VLEK certificate has no cspID extension/);
    // A VCEK with an empty cspID but without hwID: Go reports the missing hwID.
    fails(() => parseKdsExtensions(withExt(withExt(VCEK_EXTS, KDS_OID.hwId, undefined), KDS_OID.cspId, ia5('')), 'VCEK'), ErrorCode.AttestationRejected, /^VCEK certificate has no hwID extension/);
  });

  it('the critical flag is not the KDS reader’s business (x509.Verify refuses unhandled critical extensions)', () => {
    const crit = VCEK_EXTS.map((e) => ({ ...e, critical: true }));
    assert.equal(parseKdsExtensions(crit, 'VCEK').tcb, 0x5d06000000000002n);
  });

  it('composeTcb / decomposeTcb use the Milan/Genoa layout (bl 0, tee 1, spl4–7 2–5, snp 6, ucode 7)', () => {
    const parts = { blSpl: 1, teeSpl: 2, spl4: 3, spl5: 4, spl6: 5, spl7: 6, snpSpl: 7, ucodeSpl: 8 };
    assert.equal(composeTcb(parts), 0x0807060504030201n);
    assert.deepEqual(decomposeTcb(0x0807060504030201n), parts);
    assert.throws(() => composeTcb({ ...parts, ucodeSpl: 256 }), RangeError);
  });
});

describe('KDS extensions against the report (§9.2)', () => {
  const vcek = parseKdsExtensions(VCEK_EXTS, 'VCEK');
  const vlek = parseKdsExtensions(VLEK_EXTS, 'VLEK');
  const awsVlek = parseKdsExtensions(parseCertificate(AWS_VLEK_DER).extensions, 'VLEK');

  it('the real pairs match: Azure report/vcek, attestation_vlek/vlek, AWS report/vlek', () => {
    checkKdsAgainstReport(vcek, 'VCEK', reportFields(AZURE_REPORT));
    checkKdsAgainstReport(vlek, 'VLEK', reportFields(VLEK_REPORT));
    checkKdsAgainstReport(awsVlek, 'VLEK', reportFields(AWS_REPORT));
  });

  it('each differing SPL is named: bl, tee, snp, ucode, and the reserved bytes', () => {
    const base = reportFields(AZURE_REPORT);
    const cases: [number, number, RegExp][] = [
      [0, 3, /^VCEK blSPL extension 2 != report REPORTED_TCB\.bootloader 3 \(certificate TCB 0x5d06000000000002, report REPORTED_TCB 0x5d06000000000003\)$/],
      [1, 1, /^VCEK teeSPL extension 0 != report REPORTED_TCB\.tee 1 \(/],
      [6, 7, /^VCEK snpSPL extension 6 != report REPORTED_TCB\.snp 7 \(/],
      [7, 0x5c, /^VCEK ucodeSPL extension 93 != report REPORTED_TCB\.microcode 92 \(/],
      [2, 1, /^VCEK spl4 extension 0 != report REPORTED_TCB\.reserved byte 2 1 \(/],
      [5, 9, /^VCEK spl7 extension 0 != report REPORTED_TCB\.reserved byte 5 9 \(/],
    ];
    for (const [byte, value, pattern] of cases) {
      const tcb = (base.reportedTcb & ~(0xffn << BigInt(8 * byte))) | (BigInt(value) << BigInt(8 * byte));
      const err = fails(() => checkKdsAgainstReport(vcek, 'VCEK', { ...base, reportedTcb: tcb }), ErrorCode.AttestationRejected, pattern);
      assert.equal(err.details?.check, 'kds-tcb');
    }
    // Several at once, in TCB byte order.
    const err = fails(() => checkKdsAgainstReport(vlek, 'VLEK', { ...base, reportedTcb: 0x740b000000000104n }), ErrorCode.AttestationRejected, /^VLEK blSPL extension 3 != report REPORTED_TCB\.bootloader 4; VLEK teeSPL extension 0 != report REPORTED_TCB\.tee 1; VLEK snpSPL extension 10 != report REPORTED_TCB\.snp 11; VLEK ucodeSPL extension 115 != report REPORTED_TCB\.microcode 116 \(/);
    assert.equal(err.details?.certificateTcb, '0x730a000000000003');
    assert.deepEqual(kdsTcbMismatches(vcek, 'VCEK', vcek.tcb), []);
  });

  it('CHIP_ID must equal the VCEK hwID unless it is all zero (MASK_CHIP_ID); VLEK reports are not compared', () => {
    const base = reportFields(AZURE_REPORT);
    const other = Uint8Array.from(base.chipId);
    other[63]! ^= 1;
    const err = fails(() => checkKdsAgainstReport(vcek, 'VCEK', { ...base, chipId: other }), ErrorCode.AttestationRejected, new RegExp(`^report CHIP_ID ${AZURE_CHIP_ID.slice(0, -2)}5a != VCEK hwID extension ${AZURE_CHIP_ID}$`));
    assert.equal(err.details?.check, 'kds-hwid');
    checkKdsAgainstReport(vcek, 'VCEK', { ...base, chipId: new Uint8Array(64) });
    checkKdsAgainstReport(vlek, 'VLEK', { reportedTcb: vlek.tcb, chipId: other });
  });

  it('malformed report fields are malformed, not a mismatch', () => {
    fails(() => checkKdsAgainstReport(vcek, 'VCEK', { reportedTcb: vcek.tcb, chipId: new Uint8Array(63) }), ErrorCode.AttestationMalformed, /CHIP_ID must have 64 bytes/);
    fails(() => checkKdsAgainstReport(vcek, 'VCEK', { reportedTcb: 1n << 64n, chipId: new Uint8Array(64) }), ErrorCode.AttestationMalformed, /is not a uint64/);
  });
});

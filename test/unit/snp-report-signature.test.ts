/**
 * SEV-SNP report signature (sev-snp-attestation.md §5.3): ECDSA P-384/SHA-384
 * over report[0x000:0x2A0] with R/S as 72-byte little-endian fields, checked
 * with the real reports and their VCEK/VLEK, and every way to break it: bit
 * flips in the signed bytes, in R and in S, R/S zero, equal to or above the
 * group order, non-zero high bytes, wrong key, wrong sizes.
 */
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import { ErrorCode, JoinServiceError } from '../../src/shared/errors.js';
import {
  SNP_SIGNATURE_COMPONENT_SIZE,
  SNP_SIGNATURE_R_OFFSET,
  SNP_SIGNATURE_S_OFFSET,
  SNP_SIGNED_BYTES,
  snpSignatureToP1363,
  verifySnpReportSignature,
  verifySnpReportSignatureOfReport,
} from '../../src/workers/attestation/snp/chain/report-signature.js';
import { CONSTELLATION_ATTESTATION as C, readVector, readVectorBase64, readVectorHex, readVectorText } from '../helpers/vectors.js';

const REPORT_SIZE = 0x4a0;
/** Azure's report as Constellation stores it: the 1184-byte report at offset 0, then the 20-byte IGVM request header (README). */
const AZURE_BIN = readVector(`${C}/snp/testdata/attestation.bin`, '81a53588633c535976cab39ef32839b708e009faaaf93d83e290832391d9b620');
const AZURE_VCEK = new X509Certificate(readVectorText(`${C}/snp/testdata/vcek.pem`, 'b8801d0e849361c13bd73c6482808b3bdbb51bb73a8e19b045f0f80d1f14092e'));
const AWS_REPORT = readVectorBase64(`${C}/aws/snp/testdata/report.txt`, '0f92eb72c01081020f798d53ba20e6421c34772714eb949ba01fa4a288b310ce');
const AWS_VLEK = new X509Certificate(readVectorText(`${C}/aws/snp/testdata/vlek.pem`, 'bcf2a296685afb2d2125ed43af98f5f55d3563f100832482e20918e6d019680e'));
const VLEK_REPORT = readVectorHex(`${C}/snp/testdata/attestation_vlek.hex`, 'f5f678231df2abc52e856758df4259dd90c9250c6a54fe2927ef7d48d5e803a6');
const VLEK = new X509Certificate(readVectorText(`${C}/snp/testdata/vlek.pem`, '3efb601e08235ecae3d7edfae308cd9c073538003f7794d3a39c95a0c17ad3df'));

const P384_N = BigInt('0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973');

interface Parts {
  signed: Uint8Array;
  r: Uint8Array;
  s: Uint8Array;
}

function parts(report: Uint8Array): Parts {
  return {
    signed: Uint8Array.from(report.subarray(0, SNP_SIGNED_BYTES)),
    r: Uint8Array.from(report.subarray(SNP_SIGNATURE_R_OFFSET, SNP_SIGNATURE_R_OFFSET + SNP_SIGNATURE_COMPONENT_SIZE)),
    s: Uint8Array.from(report.subarray(SNP_SIGNATURE_S_OFFSET, SNP_SIGNATURE_S_OFFSET + SNP_SIGNATURE_COMPONENT_SIZE)),
  };
}

function flip(b: Uint8Array, index: number, bit = 0): Uint8Array {
  const out = Uint8Array.from(b);
  out[index]! ^= 1 << bit;
  return out;
}

/** A 72-byte little-endian field holding `v`. */
function le72(v: bigint): Uint8Array {
  const out = new Uint8Array(SNP_SIGNATURE_COMPONENT_SIZE);
  for (let i = 0; i < SNP_SIGNATURE_COMPONENT_SIZE; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

function fromLe(b: Uint8Array): bigint {
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
  return v;
}

function rejects(f: () => void, pattern: RegExp, code: string = ErrorCode.AttestationRejected): JoinServiceError {
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

const CASES: [string, Uint8Array, KeyObject][] = [
  ['Azure attestation.bin (v2, VCEK)', AZURE_BIN, AZURE_VCEK.publicKey],
  ['AWS report.txt (v3, VLEK)', AWS_REPORT, AWS_VLEK.publicKey],
];

describe('SNP report signature: the real reports', () => {
  it('attestation.bin holds the report at offset 0 (1184 bytes + the 20-byte IGVM header), not the whole HCL blob', () => {
    assert.equal(AZURE_BIN.length, REPORT_SIZE + 20);
    assert.equal(AZURE_BIN.readUInt32LE(0), 2); // VERSION 2, not "HCLA"
    assert.notEqual(AZURE_BIN.subarray(0, 4).toString('latin1'), 'HCLA');
    assert.deepEqual([0, 4, 8, 12, 16].map((o) => AZURE_BIN.readUInt32LE(REPORT_SIZE + o)), [0x25c, 1, 2, 1, 0x248]);
  });

  for (const [name, report, key] of CASES) {
    it(`${name} verifies with its signer's key (whole report and plain byte arrays)`, () => {
      verifySnpReportSignatureOfReport(key, report);
      const p = parts(report);
      verifySnpReportSignature(key, p.signed, p.r, p.s);
    });

    it(`${name}: a flipped bit anywhere in the signed bytes is rejected`, () => {
      const p = parts(report);
      for (const at of [0, 0x08, 0x50, 0x180, 0x1a0, SNP_SIGNED_BYTES - 1]) {
        rejects(() => verifySnpReportSignature(key, flip(p.signed, at, 3), p.r, p.s), /report signature verification error: ECDSA P-384\/SHA-384 signature over report\[0x000:0x2A0\] does not verify/);
      }
    });

    it(`${name}: a flipped bit in R or in S is rejected`, () => {
      const p = parts(report);
      for (const at of [0, 17, 47]) {
        rejects(() => verifySnpReportSignature(key, p.signed, flip(p.r, at, 1), p.s), /does not verify/);
        rejects(() => verifySnpReportSignature(key, p.signed, p.r, flip(p.s, at, 6)), /does not verify/);
      }
      // R and S swapped
      rejects(() => verifySnpReportSignature(key, p.signed, p.s, p.r), /does not verify/);
    });

    it(`${name}: R or S zero, ≥ n, or with bytes above 2^384 are rejected by range, naming the value`, () => {
      const p = parts(report);
      const zero = new Uint8Array(SNP_SIGNATURE_COMPONENT_SIZE);
      rejects(() => verifySnpReportSignature(key, p.signed, zero, p.s), /R is zero/);
      rejects(() => verifySnpReportSignature(key, p.signed, p.r, zero), /S is zero/);
      for (const v of [P384_N, P384_N + 1n, (1n << 384n) - 1n]) {
        rejects(() => verifySnpReportSignature(key, p.signed, le72(v), p.s), /R is not below the P-384 group order/);
        rejects(() => verifySnpReportSignature(key, p.signed, p.r, le72(v)), /S is not below the P-384 group order/);
      }
      // The real R plus n (still < 2^576, the field's range): Go's DER form would fail too.
      rejects(() => verifySnpReportSignature(key, p.signed, le72(fromLe(p.r) + P384_N), p.s), /R is not below the P-384 group order \(a non-zero byte above 2\^384/);
      rejects(() => verifySnpReportSignature(key, p.signed, p.r, flip(p.s, 71, 7)), /S is not below the P-384 group order \(a non-zero byte above 2\^384 at field byte 71\)/);
      // n − 1 is in range (and just does not verify)
      rejects(() => verifySnpReportSignature(key, p.signed, le72(P384_N - 1n), p.s), /does not verify/);
    });

    it(`${name}: the other report's key does not verify it`, () => {
      const other = CASES.find(([n]) => n !== name)![2];
      rejects(() => verifySnpReportSignatureOfReport(other, report), /does not verify with the report signer key/);
    });
  }

  it('attestation_vlek.hex does not verify with vlek.pem (vector fact: upstream only uses the pair for certificate selection)', () => {
    rejects(() => verifySnpReportSignatureOfReport(VLEK.publicKey, VLEK_REPORT), /does not verify/);
    // Its R and S are in range: the failure is the signature itself.
    const p = parts(VLEK_REPORT);
    assert.ok(snpSignatureToP1363(p.r, p.s) instanceof Buffer);
  });

  it('the errors carry check=report-signature', () => {
    const p = parts(AZURE_BIN);
    const err = rejects(() => verifySnpReportSignature(AZURE_VCEK.publicKey, flip(p.signed, 0), p.r, p.s), /does not verify/);
    assert.equal(err.details?.check, 'report-signature');
  });
});

describe('SNP report signature: synthetic P-384 signatures', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const signed = new Uint8Array(randomBytes(SNP_SIGNED_BYTES));
  const sig = sign('sha384', signed, { key: privateKey, dsaEncoding: 'ieee-p1363' });
  const r = Uint8Array.from([...sig.subarray(0, 48)].reverse().concat(Array(24).fill(0)));
  const s = Uint8Array.from([...sig.subarray(48)].reverse().concat(Array(24).fill(0)));

  it('a signature converted to the report form verifies; snpSignatureToP1363 inverts the conversion', () => {
    verifySnpReportSignature(publicKey, signed, r, s);
    assert.deepEqual(snpSignatureToP1363(r, s), sig);
  });

  it('the negated S (n − s) verifies too: ECDSA has no low-S rule in Go either', () => {
    verifySnpReportSignature(publicKey, signed, r, le72(P384_N - fromLe(s)));
  });

  it('a key of another curve or type fails closed as a rejection', () => {
    const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    rejects(() => verifySnpReportSignature(p256, signed, r, s), /report signature verification error/);
    const spkiOnly = createPublicKey(publicKey.export({ format: 'pem', type: 'spki' }));
    verifySnpReportSignature(spkiOnly, signed, r, s);
  });

  it('wrong input sizes are malformed, not rejected', () => {
    rejects(() => verifySnpReportSignature(publicKey, signed.subarray(1), r, s), /need 672 signed bytes and two 72-byte R\/S fields, got 671, 72, 72/, ErrorCode.AttestationMalformed);
    rejects(() => verifySnpReportSignature(publicKey, signed, r.subarray(0, 48), s), /got 672, 48, 72/, ErrorCode.AttestationMalformed);
    rejects(() => verifySnpReportSignatureOfReport(publicKey, new Uint8Array(0x2e8 + 71)), /report has 815 bytes/, ErrorCode.AttestationMalformed);
  });
});

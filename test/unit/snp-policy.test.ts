/**
 * The SEV-SNP report policy and signature checks
 * (src/workers/attestation/snp/policy/validate-report.ts,
 * sev-snp-attestation.md §9.1 steps 7–8, §9.2): every check fails alone with
 * go-sev-guest's text and passes at its boundary; several failures are all
 * listed (multi-error); VMPL and CHIP_ID come after the rest; version,
 * signature algorithm and signature as go-sev-guest's SnpReportSignature.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, it } from 'node:test';
import { ErrorCode, JoinServiceError } from '../../src/shared/errors.js';
import {
  goTcbParts,
  snpPolicyFailures,
  validateSnpReport,
  verifySnpReportFormatAndSignature,
  type SnpEndorsementFacts,
  type SnpPolicyOptions,
} from '../../src/workers/attestation/snp/policy/validate-report.js';
import {
  encodeSnpAttestationReport,
  parseSnpAttestationReport,
  SNP_SIGNATURE_OFFSET,
  type SnpAttestationReport,
  type SnpAttestationReportInit,
} from '../../src/workers/attestation/snp/report/attestation-report.js';
import { encodeGuestPolicy } from '../../src/workers/attestation/snp/report/guest-policy.js';
import { encodeSnpEcdsaP384Signature } from '../../src/workers/attestation/snp/report/report-signature.js';
import { encodeSignerInfo, SigningKey } from '../../src/workers/attestation/snp/report/signer-info.js';
import { decodeTcbVersion, encodeTcbVersion, type SnpTcbParts } from '../../src/workers/attestation/snp/report/tcb-version.js';

const PARTS: SnpTcbParts = { blSpl: 3, teeSpl: 0, spl4: 0, spl5: 0, spl6: 0, spl7: 0, snpSpl: 8, ucodeSpl: 115 };
const TCB = encodeTcbVersion(PARTS);
const tcb = (over: Partial<SnpTcbParts>): bigint => encodeTcbVersion({ ...PARTS, ...over });
const CHIP = Uint8Array.from({ length: 64 }, (_, i) => i + 1);
const REPORT_DATA = Uint8Array.from({ length: 64 }, (_, i) => 0xa0 ^ i);
const ID_KEY = Uint8Array.from({ length: 48 }, (_, i) => 0x30 + i);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
/** Go's %+v of the default parts. */
const GO_PARTS = '{BlSpl:3 TeeSpl:0 Spl4:0 Spl5:0 Spl6:0 Spl7:0 SnpSpl:8 UcodeSpl:115}';

function init(over: Partial<SnpAttestationReportInit> = {}): SnpAttestationReportInit {
  return {
    version: 3,
    policy: encodeGuestPolicy({ smt: true }),
    signerInfo: encodeSignerInfo({ signingKey: SigningKey.VCEK }),
    currentTcb: TCB,
    reportedTcb: TCB,
    committedTcb: TCB,
    launchTcb: TCB,
    cpuid: { familyId: 0x19, modelId: 0x01, stepping: 0 },
    chipId: CHIP,
    reportData: REPORT_DATA,
    idKeyDigest: ID_KEY,
    currentBuild: 21,
    committedBuild: 21,
    currentMajor: 1,
    currentMinor: 55,
    committedMajor: 1,
    committedMinor: 55,
    ...over,
  };
}

function report(over: Partial<SnpAttestationReportInit> = {}): SnpAttestationReport {
  return parseSnpAttestationReport(encodeSnpAttestationReport(init(over)));
}

const VCEK: SnpEndorsementFacts = { signer: 'VCEK', kds: { tcb: TCB, hwId: CHIP } };
const VLEK: SnpEndorsementFacts = { signer: 'VLEK', kds: { tcb: TCB, hwId: undefined } };

/** The option sets Constellation passes (§9.2 "Per-variant options"). */
const AZURE: SnpPolicyOptions = { minimumTcb: PARTS, minimumLaunchTcb: PARTS, permitProvisionalFirmware: true, trustedIdKeyHashes: [ID_KEY], requireIdBlock: true, vmpl: 0 };
const AWS: SnpPolicyOptions = { reportData: REPORT_DATA, minimumLaunchTcb: PARTS, permitProvisionalFirmware: true, vmpl: 0 };

function failures(r: SnpAttestationReport, opts: SnpPolicyOptions = AZURE, facts: SnpEndorsementFacts = VCEK): { check: string; message: string }[] {
  return snpPolicyFailures(r, facts, opts);
}

function only(r: SnpAttestationReport, check: string, message: string, opts: SnpPolicyOptions = AZURE, facts: SnpEndorsementFacts = VCEK): void {
  assert.deepEqual(failures(r, opts, facts), [{ check, message }]);
}

describe('SNP report policy (§9.2)', () => {
  it('passes an honest report under the Azure, AWS and GCP option sets, and with no options at all', () => {
    assert.deepEqual(failures(report()), []);
    assert.deepEqual(failures(report(), AWS), []);
    assert.deepEqual(failures(report(), AWS, VLEK), []);
    assert.deepEqual(failures(report(), {}), []);
    validateSnpReport(report(), VCEK, AZURE);
  });

  it('formats TCB parts as Go prints kds.TCBParts with %+v', () => {
    assert.equal(goTcbParts(decodeTcbVersion(TCB)), GO_PARTS);
  });

  describe('guest policy against {SMT allowed, everything else off}', () => {
    it('allows SMT and the bits that are not required (single socket, AES-256-XTS, RAPL, ciphertext hiding, page swap) and any ABI version', () => {
      const policy = encodeGuestPolicy({ smt: true, singleSocket: true, memAes256Xts: true, raplDis: true, ciphertextHiding: true, pageSwapDisable: true, abiMajor: 1, abiMinor: 55 });
      assert.deepEqual(failures(report({ policy })), []);
      assert.deepEqual(failures(report({ policy: encodeGuestPolicy({}) })), []);
    });
    it('rejects MIGRATE_MA', () => only(report({ policy: encodeGuestPolicy({ smt: true, migrateMa: true }) }), 'policy-migrate-ma', 'found unauthorized migration agent capability'));
    it('rejects DEBUG', () => only(report({ policy: encodeGuestPolicy({ smt: true, debug: true }) }), 'policy-debug', 'found unauthorized debug capability'));
    it('rejects CXL_ALLOW', () => only(report({ policy: encodeGuestPolicy({ smt: true, cxlAllow: true }) }), 'policy-cxl', 'found unauthorized CXL capability'));
    it('lists all three when all are set (Go stops at the first)', () => {
      const f = failures(report({ policy: encodeGuestPolicy({ smt: true, migrateMa: true, debug: true, cxlAllow: true }) }));
      assert.deepEqual(
        f.map((x) => x.check),
        ['policy-migrate-ma', 'policy-debug', 'policy-cxl'],
      );
    });
  });

  describe('REPORT_DATA', () => {
    it('is compared only where an expected value is given', () => {
      assert.deepEqual(failures(report({ reportData: new Uint8Array(64) }), AZURE), []);
      assert.deepEqual(failures(report(), AWS), []);
    });
    it('rejects a mismatch with go-sev-guest\'s text', () => {
      const other = new Uint8Array(64).fill(0x11);
      only(report({ reportData: other }), 'report-data', `report field REPORT_DATA is ${hex(other)}. Expect ${hex(REPORT_DATA)}`, AWS);
    });
    it('rejects an expected value of the wrong size as Go\'s option check does', () => {
      only(report(), 'report-data', 'option ReportData must be nil or 64 bytes', { ...AWS, reportData: new Uint8Array(32) });
    });
  });

  describe('the five TCB rules (provisional firmware permitted)', () => {
    it('1: COMMITTED_TCB must not exceed CURRENT_TCB in any component', () => {
      const committed = tcb({ teeSpl: 1 });
      only(
        report({ committedTcb: committed }),
        'tcb-committed-current',
        `the report's CURRENT_TCB ${GO_PARTS} is lower than the report's COMMITTED_TCB ${goTcbParts(decodeTcbVersion(committed))} in at least one component`,
      );
      assert.deepEqual(failures(report({ committedTcb: tcb({ ucodeSpl: 114 }) })), []);
    });
    it('1 without provisional firmware: COMMITTED_TCB must equal CURRENT_TCB', () => {
      const committed = tcb({ ucodeSpl: 114 });
      only(
        report({ committedTcb: committed }),
        'tcb-committed-current',
        `the report's COMMITTED_TCB 0x${committed.toString(16)} does not match the report's CURRENT_TCB 0x${TCB.toString(16)}`,
        { ...AZURE, permitProvisionalFirmware: false },
      );
    });
    it('2: LAUNCH_TCB must reach the minimum launch TCB', () => {
      const launch = tcb({ snpSpl: 7 });
      only(
        report({ launchTcb: launch }),
        'tcb-launch-minimum',
        `the report's LAUNCH_TCB ${goTcbParts(decodeTcbVersion(launch))} is lower than the policy minimum launch TCB ${GO_PARTS} in at least one component`,
      );
      assert.deepEqual(failures(report({ launchTcb: tcb({ snpSpl: 9 }) })), []);
    });
    it('3: REPORTED_TCB must equal the certificate TCB as a whole (reserved bytes included)', () => {
      const reported = tcb({ spl5: 1 });
      only(report({ reportedTcb: reported }), 'tcb-reported-certificate', `the report's REPORTED_TCB 0x${reported.toString(16)} does not match the TCB of the V[CL]EK certificate 0x${TCB.toString(16)}`, {
        ...AZURE,
        minimumTcb: {},
      });
    });
    it('4: the certificate TCB must not exceed CURRENT_TCB', () => {
      const cert = tcb({ ucodeSpl: 116 });
      only(
        report({ reportedTcb: cert }),
        'tcb-certificate-current',
        `the report's CURRENT_TCB ${GO_PARTS} is lower than the TCB of the V[CL]EK certificate ${goTcbParts(decodeTcbVersion(cert))} in at least one component`,
        AZURE,
        { signer: 'VCEK', kds: { tcb: cert, hwId: CHIP } },
      );
    });
    it('5: REPORTED_TCB must reach the minimum TCB (Azure sets it, AWS/GCP do not)', () => {
      const min = { ...PARTS, blSpl: 4 };
      only(
        report(),
        'tcb-reported-minimum',
        `the report's REPORTED_TCB ${GO_PARTS} is lower than the policy minimum TCB ${goTcbParts(min)} in at least one component`,
        { ...AZURE, minimumTcb: min },
      );
      assert.deepEqual(failures(report(), { ...AWS, minimumTcb: undefined }), []);
    });
    it('compares component-wise: one higher part does not compensate a lower one', () => {
      const f = failures(report(), { ...AZURE, minimumTcb: { ...PARTS, blSpl: 2, ucodeSpl: 116 } });
      assert.deepEqual(
        f.map((x) => x.check),
        ['tcb-reported-minimum'],
      );
    });
  });

  describe('firmware version (minimums 0)', () => {
    it('rejects a committed build above the current one', () => {
      only(report({ committedBuild: 22 }), 'firmware-build', 'committed build number 22 is greater than the current build number 21');
    });
    it('rejects a committed API version above the current one (showing the current major.minor)', () => {
      only(report({ committedMinor: 56 }), 'firmware-version', 'committed API version (1.56) is greater than the current API version (1.55)');
      assert.deepEqual(failures(report({ committedBuild: 20, committedMinor: 54 })), []);
    });
    it('without provisional firmware, committed must equal current', () => {
      const f = failures(report({ committedBuild: 20, committedMinor: 54 }), { ...AZURE, permitProvisionalFirmware: false });
      assert.deepEqual(f, [
        { check: 'firmware-build', message: 'committed build number 20 does not match the current build number 21' },
        { check: 'firmware-version', message: 'committed API version (1.54) does not match the current API version (1.55)' },
      ]);
    });
  });

  describe('ID block (RequireIDBlock)', () => {
    it('rejects an ID_KEY_DIGEST that is not trusted', () => {
      const other = new Uint8Array(48).fill(9);
      only(report({ idKeyDigest: other }), 'id-key', `report ID key not trusted: ${hex(other)}`);
    });
    it('is not checked without RequireIDBlock (WarnOnly / MAAFallback)', () => {
      assert.deepEqual(failures(report({ idKeyDigest: new Uint8Array(48) }), { ...AZURE, requireIdBlock: false }), []);
    });
    it('rejects a trusted digest of the wrong size as go-sev-guest does', () => {
      only(report(), 'id-key-hash-size', 'bad hash size in TrustedIDKeyHashes: found hash with length 32. Expect 48', { ...AZURE, trustedIdKeyHashes: [ID_KEY, new Uint8Array(32)] });
    });
  });

  describe('VMPL and CHIP_ID', () => {
    it('rejects VMPL ≠ 0', () => only(report({ vmpl: 1 }), 'vmpl', 'report VMPL 1 is not 0'));
    it('does not check VMPL when asked not to', () => assert.deepEqual(failures(report({ vmpl: 2 }), { ...AZURE, vmpl: null }), []));
    it('rejects a VCEK report whose CHIP_ID is not the hwID', () => {
      const other = new Uint8Array(64).fill(0x5a);
      only(report({ chipId: other }), 'chip-id', `report field CHIP_ID ${hex(other)} is not the same as the VCEK certificate's HWID ${hex(CHIP)}`);
    });
    it('skips an all-zero CHIP_ID (MASK_CHIP_ID) and VLEK reports', () => {
      assert.deepEqual(failures(report({ chipId: new Uint8Array(64) })), []);
      assert.deepEqual(failures(report({ chipId: new Uint8Array(64).fill(3) }), AWS, VLEK), []);
    });
  });

  it('rejects GUEST_SVN below a minimum', () => {
    only(report({ guestSvn: 1 }), 'guest-svn', "report's GUEST_SVN 1 is less than the required minimum 2", { ...AZURE, minimumGuestSvn: 2 });
  });

  it('reports every failing check, in go-sev-guest order, VMPL and CHIP_ID last', () => {
    const committed = tcb({ teeSpl: 2 });
    const r = report({
      vmpl: 3,
      chipId: new Uint8Array(64).fill(1),
      policy: encodeGuestPolicy({ smt: true, debug: true }),
      reportData: new Uint8Array(64),
      committedTcb: committed,
      launchTcb: tcb({ blSpl: 2 }),
      reportedTcb: tcb({ blSpl: 2 }),
      committedBuild: 30,
      idKeyDigest: new Uint8Array(48),
    });
    const opts: SnpPolicyOptions = { ...AZURE, reportData: REPORT_DATA };
    const expectedChecks = [
      'policy-debug',
      'report-data',
      'tcb-committed-current',
      'tcb-launch-minimum',
      'tcb-reported-certificate',
      'tcb-reported-minimum',
      'firmware-build',
      'id-key',
      'vmpl',
      'chip-id',
    ];
    assert.deepEqual(
      failures(r, opts).map((f) => f.check),
      expectedChecks,
    );
    assert.throws(
      () => validateSnpReport(r, VCEK, opts),
      (err: unknown) => {
        assert.ok(err instanceof JoinServiceError);
        assert.equal(err.code, ErrorCode.AttestationRejected);
        const listed = err.details?.failedChecks as string[];
        assert.equal(listed.length, expectedChecks.length);
        assert.deepEqual(err.details?.checks, expectedChecks);
        assert.equal(err.message, listed.join('; '));
        assert.match(err.message, /^found unauthorized debug capability; report field REPORT_DATA is 0{128}\. Expect /);
        assert.match(err.message, /the report's REPORTED_TCB \{BlSpl:2 [^}]*\} is lower than the policy minimum TCB \{BlSpl:3 [^}]*\} in at least one component/);
        assert.match(err.message, /; report VMPL 3 is not 0; report field CHIP_ID (01){64} is not the same as the VCEK certificate's HWID /);
        return true;
      },
    );
  });
});

describe('SNP report format and signature (§9.1 steps 7–8)', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const other = generateKeyPairSync('ec', { namedCurve: 'P-384' });

  function signed(over: Partial<SnpAttestationReportInit> = {}, key = privateKey): Uint8Array {
    const raw = encodeSnpAttestationReport(init(over));
    const sig = sign('sha384', raw.subarray(0, SNP_SIGNATURE_OFFSET), { key, dsaEncoding: 'ieee-p1363' });
    raw.set(encodeSnpEcdsaP384Signature(new Uint8Array(sig)), SNP_SIGNATURE_OFFSET);
    return raw;
  }
  const rejectedWith = (raw: Uint8Array, message: string | RegExp, key = publicKey): void => {
    assert.throws(() => verifySnpReportFormatAndSignature(parseSnpAttestationReport(raw), key), (err: unknown) => {
      assert.ok(err instanceof JoinServiceError);
      assert.equal(err.code, ErrorCode.AttestationRejected);
      if (typeof message === 'string') assert.equal(err.message, message);
      else assert.match(err.message, message);
      return true;
    });
  };

  it('accepts versions 2 to 5 signed with the endorsement key', () => {
    for (const version of [2, 3, 4, 5]) {
      verifySnpReportFormatAndSignature(parseSnpAttestationReport(signed({ version, cpuid: version >= 3 ? init().cpuid : null })), publicKey);
    }
  });

  it('rejects versions outside 2…5 before looking at the signature', () => {
    rejectedWith(signed({ version: 1, cpuid: null }), 'attestation report format error: report version is: 1. Expected between 2 and 5');
    rejectedWith(signed({ version: 6 }), 'attestation report format error: report version is: 6. Expected between 2 and 5');
  });

  it('rejects an unknown SIGNATURE_ALGO', () => {
    rejectedWith(signed({ signatureAlgo: 2 }), 'unknown SignatureAlgo: 2');
  });

  it('rejects another key and any changed signed byte', () => {
    rejectedWith(signed(), /^report signature verification error: /, other.publicKey);
    rejectedWith(signed({}, other.privateKey), /^report signature verification error: /);
    const raw = signed();
    raw[0x90] = raw[0x90]! ^ 1; // MEASUREMENT
    rejectedWith(raw, /^report signature verification error: /);
  });

  it('verifies Go\'s re-serialisation: a v3 report with CPUID_STEP > 15 fails as in Go', () => {
    rejectedWith(signed({ cpuid: { familyId: 0x19, modelId: 0x01, stepping: 0x12 } }), /^report signature verification error: /);
  });
});

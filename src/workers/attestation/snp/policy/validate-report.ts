/**
 * The SEV-SNP report checks after the certificate chain (sev-snp-attestation.md
 * §9.1 steps 7–8 and §9.2): go-sev-guest's `verify.SnpReportSignature` (format
 * and signature) and `validate.SnpAttestation` (policy) with the options
 * Constellation passes, with go-sev-guest's texts.
 *
 * `verifySnpReportFormatAndSignature` — §9.1 steps 7–8, in Go's order:
 *   VERSION 2…5 (`attestation report format error: report version is: N.
 *   Expected between 2 and 5`; the policy already parsed), SIGNATURE_ALGO = 1
 *   (`unknown SignatureAlgo: N`), the ECDSA P-384 signature over Go's
 *   re-serialised signed bytes (`report signature verification error: …`).
 *
 * `validateSnpReport` — §9.2. The checks and their Go texts:
 *   - GUEST_SVN ≥ minimum (0 for every Constellation variant, never fails);
 *   - guest policy against Constellation's maximum policy {SMT allowed, all
 *     else off, ABI 0.0}: MIGRATE_MA → `found unauthorized migration agent
 *     capability`, DEBUG → `found unauthorized debug capability`, CXL_ALLOW →
 *     `found unauthorized CXL capability`;
 *   - REPORT_DATA, where an expected value is given (aws, gcp):
 *     `report field REPORT_DATA is <hex>. Expect <hex>`;
 *   - the five TCB rules (PermitProvisionalFirmware: true for every variant):
 *       1. COMMITTED_TCB ≤ CURRENT_TCB component-wise (without provisional
 *          firmware: equal as a whole),
 *       2. minimum launch TCB ≤ LAUNCH_TCB component-wise,
 *       3. REPORTED_TCB = the VCEK/VLEK certificate's TCB (whole u64),
 *       4. certificate TCB ≤ CURRENT_TCB component-wise,
 *       5. minimum TCB ≤ REPORTED_TCB component-wise,
 *     e.g. `the report's REPORTED_TCB {BlSpl:2 TeeSpl:0 Spl4:0 Spl5:0 Spl6:0
 *     Spl7:0 SnpSpl:6 UcodeSpl:93} is lower than the policy minimum TCB
 *     {BlSpl:3 …} in at least one component`;
 *   - firmware version with provisional firmware permitted: COMMITTED_BUILD ≤
 *     CURRENT_BUILD, COMMITTED major.minor ≤ CURRENT major.minor (minimums 0);
 *   - ID block, only when `requireIdBlock` (azure-sev-snp with Equal): every
 *     trusted digest must be 48 bytes, ID_KEY_DIGEST must be one of them
 *     (`report ID key not trusted: <hex>`; no author keys are trusted);
 *   - VMPL = 0: `report VMPL N is not 0`;
 *   - for VCEK-signed reports whose CHIP_ID is not all zero: CHIP_ID = the
 *     VCEK's hwID (`report field CHIP_ID … is not the same as the VCEK
 *     certificate's HWID …`).
 * PLATFORM_INFO, MEASUREMENT, HOST_DATA, FAMILY_ID, IMAGE_ID and the
 * mitigation vectors are not checked (Constellation sets no option for them).
 *
 * Every failing check is reported: the message is Go's multi-error form (the
 * texts joined with "; "), `details.failedChecks` lists the texts and
 * `details.checks` the check ids. Deliberate differences from Go, all only in
 * what a *rejection* reports, never in the verdict:
 *   - Go's policy check stops at its first finding (MIGRATE_MA before DEBUG
 *     before CXL_ALLOW), its firmware-version check too; here each is a
 *     check of its own and all are listed;
 *   - Go checks VMPL and CHIP_ID only after everything else passed; here they
 *     are evaluated afterwards as well but always, and listed after the rest;
 *   - rule 3 compares the raw u64s (Go composes both from their parts first,
 *     which maps a part above 127 to 0; the certificate's parts are ≤ 127 by
 *     the KDS rules, so only a report could differ, and its raw value is what
 *     is shown);
 *   - Go's "committed API version … is greater than the current API version"
 *     prints the current minor twice; here the current major.minor is shown.
 */
import type { KeyObject } from 'node:crypto';
import { ErrorCode, JoinServiceError } from '../../../../shared/errors.js';
import { verifySnpReportSignature } from '../chain/report-signature.js';
import type { KdsExtensions } from '../chain/kds-extensions.js';
import type { SnpSigner } from '../chain/product.js';
import { SNP_REPORT_MAX_VERSION, SNP_REPORT_MIN_VERSION, SNP_SIGNATURE_ALGO_ECDSA_P384_SHA384, type SnpAttestationReport } from '../report/attestation-report.js';
import { goSignedBytes } from '../report/report-signature.js';
import { decodeTcbVersion, type SnpTcbParts, type SnpTcbVersion } from '../report/tcb-version.js';

/** Bytes of REPORT_DATA, ID_KEY_DIGEST. */
export const REPORT_DATA_SIZE = 64;
export const ID_KEY_DIGEST_SIZE = 48;

/** go-sev-guest `validate.Options`, reduced to what Constellation sets (§9.2 "Per-variant options"). */
export interface SnpPolicyOptions {
  /** Expected REPORT_DATA (64 bytes); undefined: not compared (azure). */
  reportData?: Uint8Array;
  /** Minimum for REPORTED_TCB (rule 5), component-wise; missing parts 0 (aws, gcp: all 0). */
  minimumTcb?: Partial<SnpTcbParts>;
  /** Minimum for LAUNCH_TCB (rule 2), component-wise; missing parts 0. */
  minimumLaunchTcb?: Partial<SnpTcbParts>;
  /** PermitProvisionalFirmware; default true (every Constellation variant). */
  permitProvisionalFirmware?: boolean;
  /** TrustedIDKeyHashes (48 bytes each). */
  trustedIdKeyHashes?: readonly Uint8Array[];
  /** RequireIDBlock (azure-sev-snp with enforcementPolicy Equal). */
  requireIdBlock?: boolean;
  /** The required VMPL; default 0 (every Constellation variant); null: not checked. */
  vmpl?: number | null;
  /** MinimumGuestSvn; default 0. */
  minimumGuestSvn?: number;
}

/** The endorsement certificate's facts the policy compares with (from the verified chain). */
export interface SnpEndorsementFacts {
  signer: SnpSigner;
  kds: Pick<KdsExtensions, 'tcb' | 'hwId'>;
}

/** Identifiers of the checks (details.checks, tests). */
export type SnpPolicyCheck =
  | 'guest-svn'
  | 'policy-migrate-ma'
  | 'policy-debug'
  | 'policy-cxl'
  | 'report-data'
  | 'tcb-committed-current'
  | 'tcb-launch-minimum'
  | 'tcb-reported-certificate'
  | 'tcb-certificate-current'
  | 'tcb-reported-minimum'
  | 'firmware-build'
  | 'firmware-version'
  | 'id-key-hash-size'
  | 'id-key'
  | 'vmpl'
  | 'chip-id';

export interface SnpPolicyFailure {
  check: SnpPolicyCheck;
  /** go-sev-guest's text. */
  message: string;
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

const ZERO_TCB: SnpTcbParts = { blSpl: 0, teeSpl: 0, spl4: 0, spl5: 0, spl6: 0, spl7: 0, snpSpl: 0, ucodeSpl: 0 };
const TCB_ORDER = ['blSpl', 'teeSpl', 'spl4', 'spl5', 'spl6', 'spl7', 'snpSpl', 'ucodeSpl'] as const;
/** Go's field names of kds.TCBParts, in declaration order. */
const GO_TCB_NAMES: Readonly<Record<(typeof TCB_ORDER)[number], string>> = {
  blSpl: 'BlSpl',
  teeSpl: 'TeeSpl',
  spl4: 'Spl4',
  spl5: 'Spl5',
  spl6: 'Spl6',
  spl7: 'Spl7',
  snpSpl: 'SnpSpl',
  ucodeSpl: 'UcodeSpl',
};

function tcbParts(p: Partial<SnpTcbParts> | undefined): SnpTcbParts {
  const out = { ...ZERO_TCB };
  for (const k of TCB_ORDER) {
    const v = p?.[k];
    if (v === undefined) continue;
    if (!Number.isInteger(v) || v < 0 || v > 255) throw new RangeError(`TCB part ${k}: ${v} is not 0–255`);
    out[k] = v;
  }
  return out;
}

/** Go's `%+v` of a kds.TCBParts: `{BlSpl:2 TeeSpl:0 Spl4:0 Spl5:0 Spl6:0 Spl7:0 SnpSpl:6 UcodeSpl:93}`. */
export function goTcbParts(p: SnpTcbParts): string {
  return `{${TCB_ORDER.map((k) => `${GO_TCB_NAMES[k]}:${p[k]}`).join(' ')}}`;
}

/** go-sev-guest kds.TCBPartsLE: every component of `a` ≤ the same component of `b`. */
export function tcbPartsLe(a: SnpTcbParts, b: SnpTcbParts): boolean {
  return TCB_ORDER.every((k) => a[k] <= b[k]);
}

interface Described {
  parts: SnpTcbParts;
  desc: string;
}

/** go-sev-guest tcbGtError: `wantLower` ≤ `wantHigher` component-wise, else its text. */
function tcbGt(wantLower: Described, wantHigher: Described): string | undefined {
  if (tcbPartsLe(wantLower.parts, wantHigher.parts)) return undefined;
  return `the ${wantHigher.desc} ${goTcbParts(wantHigher.parts)} is lower than the ${wantLower.desc} ${goTcbParts(wantLower.parts)} in at least one component`;
}

/** go-sev-guest tcbNeError on raw u64 values. */
function tcbNe(leftDesc: string, left: bigint, rightDesc: string, right: bigint): string | undefined {
  if (left === right) return undefined;
  return `the ${leftDesc} 0x${left.toString(16)} does not match the ${rightDesc} 0x${right.toString(16)}`;
}

const described = (t: SnpTcbVersion, desc: string): Described => ({ parts: t, desc });

function compareVersion(major0: number, minor0: number, major1: number, minor1: number): number {
  return ((major0 << 8) | minor0) - ((major1 << 8) | minor1);
}

/**
 * Every failing check of validate.SnpAttestation (see the module comment), in
 * go-sev-guest's order: GUEST_SVN, the multi-error group (policy, REPORT_DATA,
 * TCB, firmware version, ID key), then VMPL and CHIP_ID. Empty when the
 * report passes.
 */
export function snpPolicyFailures(report: SnpAttestationReport, endorsement: SnpEndorsementFacts, opts: SnpPolicyOptions = {}): SnpPolicyFailure[] {
  const out: SnpPolicyFailure[] = [];
  const fail = (check: SnpPolicyCheck, message: string | undefined): void => {
    if (message !== undefined) out.push({ check, message });
  };

  const minSvn = opts.minimumGuestSvn ?? 0;
  if (report.guestSvn < minSvn) fail('guest-svn', `report's GUEST_SVN ${report.guestSvn} is less than the required minimum ${minSvn}`);

  // validatePolicy against {SMT: true, ABI 0.0, everything else false}.
  const p = report.policy;
  if (p.migrateMa) fail('policy-migrate-ma', 'found unauthorized migration agent capability');
  if (p.debug) fail('policy-debug', 'found unauthorized debug capability');
  if (p.cxlAllow) fail('policy-cxl', 'found unauthorized CXL capability');

  // validateVerbatimFields: only REPORT_DATA is ever set.
  if (opts.reportData !== undefined && opts.reportData.length > 0) {
    if (opts.reportData.length !== REPORT_DATA_SIZE) {
      fail('report-data', `option ReportData must be nil or ${REPORT_DATA_SIZE} bytes`);
    } else if (!Buffer.from(report.reportData).equals(opts.reportData)) {
      fail('report-data', `report field REPORT_DATA is ${hex(report.reportData)}. Expect ${hex(opts.reportData)}`);
    }
  }

  // validateTcb.
  const permit = opts.permitProvisionalFirmware ?? true;
  const reported = described(report.reportedTcb, "report's REPORTED_TCB");
  const current = described(report.currentTcb, "report's CURRENT_TCB");
  const committed = described(report.committedTcb, "report's COMMITTED_TCB");
  const launch = described(report.launchTcb, "report's LAUNCH_TCB");
  const certTcb = decodeTcbVersion(endorsement.kds.tcb);
  const cert = described(certTcb, 'TCB of the V[CL]EK certificate');
  const minimum: Described = { parts: tcbParts(opts.minimumTcb), desc: 'policy minimum TCB' };
  const minLaunch: Described = { parts: tcbParts(opts.minimumLaunchTcb), desc: 'policy minimum launch TCB' };
  fail('tcb-committed-current', permit ? tcbGt(committed, current) : tcbNe(committed.desc, report.committedTcb.raw, current.desc, report.currentTcb.raw));
  fail('tcb-launch-minimum', tcbGt(minLaunch, launch));
  fail('tcb-reported-certificate', tcbNe(reported.desc, report.reportedTcb.raw, cert.desc, certTcb.raw));
  fail('tcb-certificate-current', tcbGt(cert, current));
  fail('tcb-reported-minimum', tcbGt(minimum, reported));

  // validateVersion (MinimumBuild and MinimumVersion are 0).
  const buildCmp = report.committedBuild - report.currentBuild;
  const versionCmp = compareVersion(report.committedMajor, report.committedMinor, report.currentMajor, report.currentMinor);
  const committedVersion = `(${report.committedMajor}.${report.committedMinor})`;
  const currentVersion = `(${report.currentMajor}.${report.currentMinor})`;
  if (permit) {
    if (buildCmp > 0) fail('firmware-build', `committed build number ${report.committedBuild} is greater than the current build number ${report.currentBuild}`);
    if (versionCmp > 0) fail('firmware-version', `committed API version ${committedVersion} is greater than the current API version ${currentVersion}`);
  } else {
    if (buildCmp !== 0) fail('firmware-build', `committed build number ${report.committedBuild} does not match the current build number ${report.currentBuild}`);
    if (versionCmp !== 0) fail('firmware-version', `committed API version ${committedVersion} does not match the current API version ${currentVersion}`);
  }

  // validateKeys (no author keys are configured, so only the ID key can be trusted).
  if (opts.requireIdBlock === true) {
    const hashes = opts.trustedIdKeyHashes ?? [];
    const bad = hashes.find((h) => h.length !== ID_KEY_DIGEST_SIZE);
    if (bad !== undefined) {
      fail('id-key-hash-size', `bad hash size in TrustedIDKeyHashes: found hash with length ${bad.length}. Expect ${ID_KEY_DIGEST_SIZE}`);
    } else if (!hashes.some((h) => Buffer.from(h).equals(report.idKeyDigest))) {
      fail('id-key', `report ID key not trusted: ${hex(report.idKeyDigest)}`);
    }
  }

  const vmpl = opts.vmpl === undefined ? 0 : opts.vmpl;
  if (vmpl !== null && report.vmpl !== vmpl) fail('vmpl', `report VMPL ${report.vmpl} is not ${vmpl}`);

  // MASK_CHIP_ID may zero CHIP_ID; only a non-zero one is compared.
  if (endorsement.signer === 'VCEK' && report.chipId.some((b) => b !== 0)) {
    const hwId = endorsement.kds.hwId ?? new Uint8Array(0);
    if (!Buffer.from(report.chipId).equals(hwId)) {
      fail('chip-id', `report field CHIP_ID ${hex(report.chipId)} is not the same as the VCEK certificate's HWID ${hex(hwId)}`);
    }
  }
  return out;
}

/**
 * validate.SnpAttestation as Constellation calls it. Throws
 * JoinServiceError(AttestationRejected) whose message is go-sev-guest's
 * multi-error text of every failing check (joined with "; "), without
 * Constellation's wrapping (the variant adds `validating SNP attestation: `);
 * `details.failedChecks` / `details.checks` list them.
 */
export function validateSnpReport(report: SnpAttestationReport, endorsement: SnpEndorsementFacts, opts: SnpPolicyOptions = {}): void {
  const failures = snpPolicyFailures(report, endorsement, opts);
  if (failures.length === 0) return;
  throw new JoinServiceError(ErrorCode.AttestationRejected, failures.map((f) => f.message).join('; '), {
    check: 'snp-policy',
    checks: failures.map((f) => f.check),
    failedChecks: failures.map((f) => f.message),
  });
}

/**
 * §9.1 steps 7–8 (go-sev-guest SnpReportSignature): VERSION 2…5,
 * SIGNATURE_ALGO = ECDSA P-384/SHA-384, then the signature over Go's
 * re-serialised signed bytes with the verified VCEK/VLEK key. Throws
 * JoinServiceError(AttestationRejected) with Go's text (without
 * Constellation's `verifying SNP attestation: `).
 */
export function verifySnpReportFormatAndSignature(report: SnpAttestationReport, endorsementKey: KeyObject): void {
  if (report.version < SNP_REPORT_MIN_VERSION || report.version > SNP_REPORT_MAX_VERSION) {
    throw new JoinServiceError(
      ErrorCode.AttestationRejected,
      `attestation report format error: report version is: ${report.version}. Expected between ${SNP_REPORT_MIN_VERSION} and ${SNP_REPORT_MAX_VERSION}`,
      { check: 'report-version', version: report.version },
    );
  }
  if (report.signatureAlgo !== SNP_SIGNATURE_ALGO_ECDSA_P384_SHA384) {
    throw new JoinServiceError(ErrorCode.AttestationRejected, `unknown SignatureAlgo: ${report.signatureAlgo}`, { check: 'report-signature-algo' });
  }
  verifySnpReportSignature(endorsementKey, goSignedBytes(report), report.signatureR, report.signatureS);
}

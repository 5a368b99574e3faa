/**
 * What the three SEV-SNP variants (azure-sev-snp, aws-sev-snp, gcp-sev-snp)
 * share (sev-snp-attestation.md §1, §8, §9, §11):
 *
 * - `parseSnpConfig`: the variant's attestation config (measurements, the
 *   four minimum SPLs, amdRootKey, amdSigningKey, Azure's
 *   firmwareSignerConfig);
 * - `verifySnpEvidence`: InstanceInfo → report → report signer → AMD chain →
 *   report format and signature → report policy, i.e. Go's
 *   `AttestationWithCerts` + `verify.SnpAttestation` + `validate.SnpAttestation`
 *   with the options of the variant and Go's error wrapping;
 * - `SnpVtpmValidator`: the pipeline around a variant's step, the vTPM
 *   validation of tpm-attestation.md §8 with the SNP step as the trusted-AK
 *   source.
 *
 * Certificates (§8.3), with this service's decisions:
 *   1. `ReportSigner`: trimmed; empty → none; exactly one PEM CERTIFICATE block
 *      with nothing after it. A parse error is not fatal (as in Go): it is
 *      reported as a warning and the certificate counts as absent.
 *   2. SIGNING_KEY: 7 (none) is rejected at once (Go fails later, in the
 *      chain); the variant's key kind is required before anything is fetched:
 *      aws-sev-snp only VLEK, azure/gcp only VCEK (Go accepts the other kind up
 *      to the chain check, which then always fails because the intermediate
 *      sits in the other slot of its trusted roots).
 *   3. VLEK without certificate → `VLEK certificate required but not present`;
 *      VCEK without (usable) certificate → fetched from AMD KDS (product line
 *      of the report's CPUID when it has one, else Milan, as Constellation;
 *      CHIP_ID and REPORTED_TCB of the report; cached per worker, single
 *      flight, rejected requests remembered for a minute). A VLEK is never
 *      fetched.
 *   4. `CertChain`: up to two PEM certificates named SEV-<line> /
 *      SEV-VLEK-<line> (the intermediate) and ARK-<line>; anything else is a
 *      warning, and what parsed before it is used (as in Go). The node's ASK
 *      or ASVK is used if present; else `amdSigningKey` (the start-up cache's
 *      ASK overrides the config's value, §8.2) when it issued the endorsement
 *      certificate; else the embedded intermediate of the product line
 *      (chain/verify-chain.ts) — never a network fetch.
 *   5. The root is `amdRootKey`; an empty `amdRootKey` means the embedded ARK
 *      of the report's product line (Go would fetch an ARK from the network
 *      and trust it). A node-supplied ARK is never trusted: it must be the
 *      trusted root itself, else the attestation is rejected (Go discards it).
 *
 * Go's wrapping is reproduced per variant (`SnpErrorWrapping`), so messages
 * read like Go's, e.g. aws: `validating SNP report: validating SNP
 * attestation: report field REPORT_DATA is …. Expect …`.
 */
import { createHash } from 'node:crypto';
import { ErrorCode, JoinServiceError, toJoinServiceError, type ErrorDetails } from '../../../../shared/errors.js';
import { decodePem } from '../../../../shared/pem.js';
import type { VariantName } from '../../../../shared/variants.js';
import type { AttestationValidator, ValidationOutcome } from '../../validator.js';
import { decodeVtpmDocument } from '../../vtpm/envelope.js';
import { processEventLog } from '../../vtpm/eventlog/index.js';
import { enforceMeasurements, parseMeasurementsConfig, type Measurements } from '../../vtpm/measurements.js';
import { nonceBinding } from '../../vtpm/tpm/nonce-binding.js';
import { keyEquals, loadAk, type PublicKeyIdentity } from '../../vtpm/tpm/tpmt-public.js';
import { verifyTpmAttestation } from '../../vtpm/tpm/verify-attestation.js';
import type { VtpmDocument } from '../../vtpm/types.js';
import type { EnforcementPolicy, FirmwareSignerConfig } from '../azure/id-key-digest.js';
import { defaultSnpChainCache, type SnpChainCache } from '../chain/chain-cache.js';
import { readAmdName } from '../chain/amd-name.js';
import { productOfIntermediateCommonName, productLineOfArkCommonName, reportProductLine, type ReportProductLine, type SnpSigner } from '../chain/product.js';
import { createAmdTrust, type AmdTrust, type VerifiedSnpChain } from '../chain/verify-chain.js';
import { decodeSnpInstanceInfo, type SnpInstanceInfo } from '../instance-info.js';
import { KdsError, type AmdProduct, type KdsCallLimit, type VcekRequest } from '../kds/kds-client.js';
import { sharedKdsCache } from '../kds/vcek-cache.js';
import { validateSnpReport, verifySnpReportFormatAndSignature, type SnpPolicyOptions } from '../policy/validate-report.js';
import { parseSnpAttestationReport, type SnpAttestationReport } from '../report/attestation-report.js';
import { SigningKey } from '../report/signer-info.js';
import type { SnpTcbParts } from '../report/tcb-version.js';
import { parseCertificate } from '../../../certificate/parse-certificate.js';

export type SnpVariantName = Extract<VariantName, 'azure-sev-snp' | 'aws-sev-snp' | 'gcp-sev-snp'>;

/** The KDS operations the step uses (KdsCache satisfies it). */
export interface SnpVcekSource {
  getVcek(req: VcekRequest, limit?: KdsCallLimit): Promise<Uint8Array>;
  deleteVcek(req: VcekRequest): void;
}

/** Injectable dependencies of the SNP validators (defaults: the worker's shared caches and clients, the wall clock). */
export interface SnpStepDependencies {
  /** Wall clock in ms: certificate validity and MAA token times (default Date.now). */
  now?: () => number;
  /** VCEK source (default: the worker's sharedKdsCache for https://kdsintf.amd.com). */
  kds?: SnpVcekSource;
  /** Time budget of one VCEK fetch, retries included (default 15 s, inside the 30 s pool deadline). */
  kdsTimeoutMs?: number;
  /** Verified-chain cache (default: the worker's). */
  chainCache?: SnpChainCache;
}

export const DEFAULT_SNP_KDS_TIMEOUT_MS = 15_000;

// ---------------------------------------------------------------------------
// Config

/** The minimum SPLs of the config (the other four TCB parts are 0). */
export type SnpMinimumTcb = Pick<SnpTcbParts, 'blSpl' | 'teeSpl' | 'snpSpl' | 'ucodeSpl'>;

export interface SnpConfig {
  measurements: Measurements;
  /** bootloaderVersion, teeVersion, snpVersion, microcodeVersion. */
  minimumTcb: SnpMinimumTcb;
  /** PEM; '' = the embedded ARK of the report's product line. */
  amdRootKey: string;
  /** PEM; '' = none. */
  amdSigningKey: string;
  /** azure-sev-snp only. */
  firmwareSignerConfig?: FirmwareSignerConfig;
}

const GO_CONFIG_STRUCT: Readonly<Record<SnpVariantName, string>> = {
  'azure-sev-snp': 'AzureSEVSNP',
  'aws-sev-snp': 'AWSSEVSNP',
  'gcp-sev-snp': 'GCPSEVSNP',
};

const VERSION_FIELDS: readonly [keyof SnpMinimumTcb, string][] = [
  ['blSpl', 'bootloaderVersion'],
  ['teeSpl', 'teeVersion'],
  ['snpSpl', 'snpVersion'],
  ['ucodeSpl', 'microcodeVersion'],
];

function configError(variant: SnpVariantName, message: string): never {
  throw new JoinServiceError(ErrorCode.ConfigInvalid, `${variant} attestation config: ${message}`);
}

/**
 * Decodes the variant's attestation config. The main thread validated the
 * text against the variant's schema already (exact key names, types); this
 * re-checks what the validator relies on and throws
 * JoinServiceError(ConfigInvalid) for anything it cannot use (e.g. `"latest"`
 * in a version field, or a file that skipped validation as `joinservice
 * verify --config` input may).
 */
export function parseSnpConfig(variant: SnpVariantName, text: string): SnpConfig {
  const measurements = parseMeasurementsConfig(text, GO_CONFIG_STRUCT[variant]);
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (err) {
    configError(variant, `not valid JSON: ${(err as Error).message}`);
  }
  if (root === null || typeof root !== 'object' || Array.isArray(root)) configError(variant, 'must be a JSON object');
  const o = root as Record<string, unknown>;
  const minimumTcb = { blSpl: 0, teeSpl: 0, snpSpl: 0, ucodeSpl: 0 };
  for (const [part, key] of VERSION_FIELDS) {
    const v = o[key];
    if (v === undefined) configError(variant, `missing ${key}`);
    if (typeof v === 'string' && /^latest$/i.test(v)) configError(variant, `${key}: unresolved placeholder "latest": write the concrete version`);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 255) configError(variant, `${key}: must be an integer from 0 to 255, got ${JSON.stringify(v)}`);
    minimumTcb[part] = v;
  }
  const amdRootKey = o['amdRootKey'];
  if (typeof amdRootKey !== 'string') configError(variant, 'amdRootKey: must be a PEM certificate string or "" (the embedded AMD root of the report\'s product line)');
  const amdSigningKey = o['amdSigningKey'];
  if (amdSigningKey !== undefined && amdSigningKey !== null && typeof amdSigningKey !== 'string') configError(variant, 'amdSigningKey: must be a PEM certificate string, "" or null');
  const out: SnpConfig = { measurements, minimumTcb, amdRootKey, amdSigningKey: amdSigningKey ?? '' };
  if (variant === 'azure-sev-snp') out.firmwareSignerConfig = parseFirmwareSignerConfig(variant, o['firmwareSignerConfig']);
  return out;
}

function parseFirmwareSignerConfig(variant: SnpVariantName, v: unknown): FirmwareSignerConfig {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) configError(variant, 'firmwareSignerConfig: must be an object');
  const f = v as Record<string, unknown>;
  const raw = f['acceptedKeyDigests'];
  const list = raw === null || raw === undefined ? [] : typeof raw === 'string' ? [raw] : raw;
  if (!Array.isArray(list)) configError(variant, 'firmwareSignerConfig.acceptedKeyDigests: must be a list of hex digests');
  const acceptedKeyDigests = list.map((d, i) => {
    if (typeof d !== 'string' || !/^[0-9a-fA-F]{96}$/.test(d)) configError(variant, `firmwareSignerConfig.acceptedKeyDigests[${i}]: must be 96 hex characters (48 bytes)`);
    return new Uint8Array(Buffer.from(d, 'hex'));
  });
  const p = f['enforcementPolicy'];
  let enforcementPolicy: EnforcementPolicy;
  if (p === undefined) enforcementPolicy = 'Unknown';
  else if (p === true) enforcementPolicy = 'Equal';
  else if (p === false) enforcementPolicy = 'WarnOnly';
  else if (typeof p === 'string' && ['equal', 'maafallback', 'warnonly'].includes(p.toLowerCase())) {
    enforcementPolicy = ({ equal: 'Equal', maafallback: 'MAAFallback', warnonly: 'WarnOnly' } as const)[p.toLowerCase() as 'equal' | 'maafallback' | 'warnonly'];
  } else configError(variant, `firmwareSignerConfig.enforcementPolicy: unknown enforcement policy ${JSON.stringify(p)}`);
  const maaUrl = f['maaURL'];
  if (maaUrl !== undefined && maaUrl !== null && typeof maaUrl !== 'string') configError(variant, 'firmwareSignerConfig.maaURL: must be a string');
  return { acceptedKeyDigests, enforcementPolicy, maaUrl: maaUrl ?? '' };
}

/** The AMD trust of a config (createAmdTrust: ConfigInvalid for an unusable amdRootKey / amdSigningKey). */
export function snpTrustOf(variant: SnpVariantName, cfg: SnpConfig): AmdTrust {
  try {
    return createAmdTrust({ amdRootKey: cfg.amdRootKey, amdSigningKey: cfg.amdSigningKey });
  } catch (err) {
    const e = toJoinServiceError(err, ErrorCode.ConfigInvalid);
    throw new JoinServiceError(ErrorCode.ConfigInvalid, `${variant} attestation config: ${e.message}`, e.details, { cause: err });
  }
}

// ---------------------------------------------------------------------------
// InstanceInfo certificates

const utf8 = new TextDecoder('utf-8');

/** ParseReportSigner (§8.3 step 2): DER of the one certificate, undefined when absent; Error (Go's text) when unusable. */
export function parseReportSigner(pemBytes: Uint8Array | null): Uint8Array | undefined {
  const text = utf8.decode(pemBytes ?? new Uint8Array(0)).trim();
  if (text === '') return undefined;
  const first = decodePem(text);
  if (!first) throw new Error('no PEM blocks found');
  if (first.rest < text.length && text.slice(first.rest).trim() !== '') throw new Error('received more data than expected');
  if (first.block.type !== 'CERTIFICATE') throw new Error(`expected PEM block type 'CERTIFICATE', got '${first.block.type}'`);
  const der = new Uint8Array(first.block.bytes);
  try {
    parseCertificate(der);
  } catch (err) {
    throw new Error(`parsing VCEK certificate: ${(err as Error).message}`);
  }
  return der;
}

export interface NodeCertChain {
  /** The ASK or ASVK (DER), if the chain had one. */
  intermediate?: Uint8Array;
  /** The ARK (DER), if the chain had one (never trusted: it must be the trusted root). */
  ark?: Uint8Array;
  /** Why parsing stopped early; undefined when the chain parsed completely or was empty. */
  problem?: string;
}

/**
 * ParseCertChain (§8.3 step 3): up to two PEM certificates, classified by
 * subject CN; whatever parsed before a problem is kept.
 */
export function parseNodeCertChain(pemBytes: Uint8Array | null): NodeCertChain {
  const text = utf8.decode(pemBytes ?? new Uint8Array(0)).trim();
  const out: NodeCertChain = {};
  let at = 0;
  let i = 1;
  for (let r = decodePem(text, at); r; r = decodePem(text, at), i++) {
    if (i > 2) {
      out.problem = `parse certificate ${i}: more than 2 certificates in chain`;
      return out;
    }
    if (r.block.type !== 'CERTIFICATE') {
      out.problem = `parse certificate ${i}: expected PEM block type 'CERTIFICATE', got '${r.block.type}'`;
      return out;
    }
    const der = new Uint8Array(r.block.bytes);
    let cn: string;
    try {
      cn = readAmdName(parseCertificate(der).rawSubject).commonName;
    } catch (err) {
      out.problem = `parse certificate ${i}: ${(err as Error).message}`;
      return out;
    }
    if (productOfIntermediateCommonName(cn) !== undefined) out.intermediate = der;
    else if (productLineOfArkCommonName(cn) !== undefined) out.ark = der;
    else {
      out.problem = `parse certificate ${i}: unexpected subject CN ${cn}`;
      return out;
    }
    at = r.rest;
  }
  if (i > 1 && text.slice(at).trim() !== '') out.problem = 'remaining PEM block is not a valid certificate';
  return out;
}

// ---------------------------------------------------------------------------
// The SNP evidence

/** Go's message prefixes of a variant (§11). */
export interface SnpErrorWrapping {
  /** Before everything (aws, gcp: `validating SNP report: `). */
  outer: string;
  /** InstanceInfo decoding (azure `unmarshalling instanceInfo`, aws/gcp `unmarshalling instance info`). */
  instanceInfo: string;
  /** AttestationWithCerts (azure `parsing attestation report`, aws/gcp `getting attestation with certs`). */
  attestation: string;
}

export interface SnpEvidenceOptions {
  variant: SnpVariantName;
  trust: AmdTrust;
  nowMs: number;
  policy: SnpPolicyOptions;
  wrap: SnpErrorWrapping;
  kds: SnpVcekSource;
  kdsTimeoutMs: number;
  chainCache: SnpChainCache;
}

export interface VerifiedSnpEvidence {
  info: SnpInstanceInfo;
  report: SnpAttestationReport;
  chain: VerifiedSnpChain;
  signer: SnpSigner;
  /** Where the VCEK/VLEK came from. */
  endorsementSource: 'node' | 'kds';
  /** Non-fatal findings (unparsable ReportSigner / CertChain). */
  warnings: string[];
}

/** The endorsement key kind each variant accepts (see the module comment, step 2). */
export const SNP_VARIANT_SIGNER: Readonly<Record<SnpVariantName, SnpSigner>> = {
  'azure-sev-snp': 'VCEK',
  'aws-sev-snp': 'VLEK',
  'gcp-sev-snp': 'VCEK',
};

const KDS_PRODUCTS: readonly AmdProduct[] = ['Milan', 'Genoa', 'Turin'];

function wrapped(err: unknown, prefix: string, extra: ErrorDetails = {}): JoinServiceError {
  const e = toJoinServiceError(err, ErrorCode.AttestationRejected);
  return new JoinServiceError(e.code, `${prefix}${e.message}`, { ...e.details, ...extra }, { cause: err });
}

function rejected(message: string, details: ErrorDetails): JoinServiceError {
  return new JoinServiceError(ErrorCode.AttestationRejected, message, details);
}

/**
 * InstanceInfo → verified and validated SNP evidence (see the module
 * comment). Throws JoinServiceError with Go's wrapped texts:
 * AttestationMalformed (undecodable data), AttestationRejected (failed
 * checks), AttestationUpstreamUnavailable (AMD KDS failed).
 */
export async function verifySnpEvidence(instanceInfo: Uint8Array | null, o: SnpEvidenceOptions): Promise<VerifiedSnpEvidence> {
  const wrap = o.wrap;
  const outer = wrap.outer;
  const attPrefix = `${outer}${wrap.attestation}: `;
  const verifyPrefix = `${outer}verifying SNP attestation: `;
  const warnings: string[] = [];

  let info: SnpInstanceInfo;
  try {
    info = decodeSnpInstanceInfo(instanceInfo);
  } catch (err) {
    throw wrapped(err, `${outer}${wrap.instanceInfo}: `, { check: 'instance-info' });
  }
  let report: SnpAttestationReport;
  try {
    report = parseSnpAttestationReport(info.attestationReport);
  } catch (err) {
    throw wrapped(err, `${attPrefix}converting report to proto: `, { check: 'report-parse' });
  }

  // Report signer.
  let endorsement: Uint8Array | undefined;
  try {
    endorsement = parseReportSigner(info.reportSigner);
  } catch (err) {
    warnings.push(`Error parsing report signer: ${(err as Error).message}`);
  }
  const key = report.signerInfo.signingKey;
  if (key === SigningKey.NONE) {
    throw rejected(`${verifyPrefix}the report's SIGNING_KEY is 7 (none): it is not signed by a VCEK or VLEK`, { check: 'signing-key', signingKey: key });
  }
  const signer: SnpSigner = key === SigningKey.VLEK ? 'VLEK' : 'VCEK';
  const wanted = SNP_VARIANT_SIGNER[o.variant];
  if (signer !== wanted) {
    throw rejected(`${verifyPrefix}the report is signed by a ${signer}, but ${o.variant} accepts only ${wanted}-signed reports`, { check: 'signing-key', signer });
  }
  const productHint: ReportProductLine | undefined = reportProductLine(report.version, report.cpuid?.familyId ?? 0, report.cpuid?.modelId ?? 0, report.cpuid?.stepping ?? 0);
  let endorsementSource: 'node' | 'kds' = 'node';
  let vcekRequest: VcekRequest | undefined;
  if (!endorsement) {
    const problem = warnings.length > 0 ? ` (${warnings[warnings.length - 1]})` : '';
    if (signer === 'VLEK') throw rejected(`${attPrefix}adding report signer: VLEK certificate required but not present${problem}`, { check: 'report-signer' });
    const product: AmdProduct = productHint !== undefined && (KDS_PRODUCTS as readonly string[]).includes(productHint) ? (productHint as AmdProduct) : 'Milan';
    vcekRequest = { product, chipId: report.chipId, reportedTcb: report.reportedTcb.raw };
    try {
      endorsement = await o.kds.getVcek(vcekRequest, { timeoutMs: o.kdsTimeoutMs });
    } catch (err) {
      const code = err instanceof KdsError ? (err.upstream ? ErrorCode.AttestationUpstreamUnavailable : ErrorCode.AttestationRejected) : ErrorCode.AttestationUpstreamUnavailable;
      throw new JoinServiceError(code, `${attPrefix}adding report signer: retrieving VCEK certificate from AMD KDS: ${(err as Error).message}${problem}`, {
        check: 'kds-vcek',
        ...(err instanceof KdsError && err.httpStatus !== undefined ? { httpStatus: err.httpStatus } : {}),
      }, { cause: err });
    }
    endorsementSource = 'kds';
  }

  // The node's chain (its ARK is passed on only to be compared with the trusted root).
  const nodeChain = parseNodeCertChain(info.certChain);
  if (nodeChain.problem !== undefined) warnings.push(`Error parsing certificate chain: ${nodeChain.problem}`);

  let chain: VerifiedSnpChain;
  try {
    chain = o.chainCache.verify(
      { signer, endorsement, intermediate: nodeChain.intermediate, ark: nodeChain.ark, reportProductLine: productHint },
      o.trust,
      o.nowMs,
    );
  } catch (err) {
    if (vcekRequest) o.kds.deleteVcek(vcekRequest);
    throw wrapped(err, verifyPrefix, { endorsementSource });
  }
  try {
    verifySnpReportFormatAndSignature(report, chain.endorsementKey);
  } catch (err) {
    throw wrapped(err, verifyPrefix, { endorsementSource });
  }
  try {
    validateSnpReport(report, { signer, kds: chain.kds }, o.policy);
  } catch (err) {
    throw wrapped(err, `${outer}validating SNP attestation: `);
  }
  return { info, report, chain, signer, endorsementSource, warnings };
}

// ---------------------------------------------------------------------------
// The pipeline

/** What a variant's SNP step yields. */
export interface SnpStepResult {
  /** The AK the document's `ak_pub` must equal. */
  trustedAk: PublicKeyIdentity;
  warnings: string[];
  evidence: VerifiedSnpEvidence;
}

/** A variant's trusted-key step (§11), errors without the pipeline's `validating attestation public key: `. */
export interface SnpTrustedKeyStep {
  trustedAk(doc: VtpmDocument, extraData: Uint8Array): Promise<SnpStepResult>;
}

/**
 * The vTPM validation of an SNP variant (tpm-attestation.md §8, §1 here):
 *
 *   1. decode the document strictly (vtpm/envelope.ts);
 *   2. extraData = SHA-256(UserData ‖ nonce), quote nonce =
 *      SHA-256(InstanceInfo ‖ extraData);
 *   3. the TPM quotes with the document's AK (Go's candidate loop, SHA-1 not
 *      allowed, event log, the SHA-256 quote rule of GAP G1);
 *   4. the variant's SNP step → the trusted AK (`validating attestation
 *      public key: …`);
 *   5. the document's AK must equal it (go-tpm-tools TrustedAKs:
 *      `verifying attestation document: failed to parse and validate AK:
 *      failed to validate AK public key: key not trusted`);
 *   6. the configured measurements against the SHA-256 quote.
 *
 * Go runs step 4 before step 3; the verdict is the same (every step must
 * pass), only which failure is reported first differs. This order keeps
 * every local check ahead of the network (AMD KDS, MAA, GCE API), as for the
 * other vTPM variants.
 */
export class SnpVtpmValidator implements AttestationValidator {
  constructor(
    readonly variant: SnpVariantName,
    private readonly measurements: Measurements,
    /** The variant's SNP step (exposed for tests that stop before the TPM quote). */
    readonly step: SnpTrustedKeyStep,
  ) {}

  async validate(document: Uint8Array, nonce: Uint8Array): Promise<ValidationOutcome> {
    const doc = decodeVtpmDocument(document);
    const { extraData, tpmNonce } = nonceBinding(doc.userData, nonce, doc.instanceInfo);
    const { sha256Quote } = verifyTpmAttestation(doc, { tpmNonce, trustedAk: 'any', processEventLog });

    let step: SnpStepResult;
    try {
      step = await this.step.trustedAk(doc, extraData);
    } catch (err) {
      throw wrapped(err, 'validating attestation public key: ');
    }
    if (!keyEquals(loadAk(doc.attestation.akPub).identity, step.trustedAk)) {
      throw new JoinServiceError(ErrorCode.AttestationRejected, 'verifying attestation document: failed to parse and validate AK: failed to validate AK public key: key not trusted', {
        variant: this.variant,
        check: 'trusted-ak',
      });
    }
    const comparison = enforceMeasurements(this.measurements, sha256Quote.pcrs!.pcrs);
    return { userData: doc.userData ?? new Uint8Array(0), measurements: comparison.checked, warnings: [...step.warnings, ...comparison.warnings] };
  }
}

/**
 * The go-sev-guest validate.Options a variant derives from its config (spec §9.2
 * table); `reportData` is the per-document binding (aws: SHA-512 of the AK SPKI,
 * gcp: extraData ‖ 0³², azure: none — its runtime data is checked separately).
 * One builder for the validators and the offline tools, so they cannot drift.
 */
export function snpPolicyOptions(variant: SnpVariantName, cfg: SnpConfig, reportData?: Uint8Array): SnpPolicyOptions {
  if (variant === 'azure-sev-snp') {
    const fsc = cfg.firmwareSignerConfig!;
    return {
      minimumTcb: cfg.minimumTcb,
      minimumLaunchTcb: cfg.minimumTcb,
      permitProvisionalFirmware: true,
      trustedIdKeyHashes: fsc.acceptedKeyDigests,
      requireIdBlock: fsc.enforcementPolicy === 'Equal',
      vmpl: 0,
    };
  }
  return { ...(reportData ? { reportData } : {}), minimumLaunchTcb: cfg.minimumTcb, permitProvisionalFirmware: true, vmpl: 0 };
}

/** The evidence options shared by the variants' steps. */
export function evidenceOptions(
  variant: SnpVariantName,
  trust: AmdTrust,
  deps: SnpStepDependencies,
  policy: SnpPolicyOptions,
  wrap: SnpErrorWrapping,
): SnpEvidenceOptions {
  return {
    variant,
    trust,
    nowMs: (deps.now ?? Date.now)(),
    policy,
    wrap,
    kds: deps.kds ?? sharedKdsCache(),
    kdsTimeoutMs: deps.kdsTimeoutMs ?? DEFAULT_SNP_KDS_TIMEOUT_MS,
    chainCache: deps.chainCache ?? defaultSnpChainCache,
  };
}

/** SHA-512 (Go's sha512.Sum512) of bytes. */
export function sha512(b: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha512').update(b).digest());
}

/**
 * A software issuer for azure-sev-snp, aws-sev-snp and gcp-sev-snp
 * (sev-snp-attestation.md §1–4): the attestation document a Constellation
 * node of the variant sends, made without SEV-SNP hardware, for tests and
 * benchmarks. The SNP report is signed by a VCEK/VLEK of the synthetic AMD
 * PKI (synthetic-amd-pki.ts), so a validator accepts it only when its config
 * trusts the synthetic ARK (syntheticSnpAttestationConfig).
 *
 * Document = go-tpm-tools attestation of a software TPM (SoftwareTpmIssuer,
 * RSA AK, quotes with qualifying data SHA-256(InstanceInfo ‖ extraData),
 * extraData = SHA-256(userData ‖ nonce)) + the InstanceInfo JSON (§2):
 * - azure-sev-snp: as go-azguestattestation reads it from the HCL report: the
 *   HCL runtime data names the AK (keys[0], kid HCLAkPub, RSA JWK) and
 *   REPORT_DATA[0:32] = SHA-256(runtime data); ReportSigner = VCEK PEM,
 *   CertChain = ASK ‖ ARK PEM (THIM), AttestationReport = the 1184 bytes
 *   (optionally + the 20-byte IGVM header, as Constellation's test data has),
 *   Azure = {RuntimeData, MAAToken ""}, GCP null. The HCL report is fixed per
 *   VM (made once per issuer), as on Azure, where it does not carry the nonce.
 * - aws-sev-snp: REPORT_DATA = SHA-512(AK SubjectPublicKeyInfo DER), report
 *   signed by the VLEK (SIGNING_KEY = 1, CHIP_ID zero as on AWS),
 *   ReportSigner = VLEK PEM, CertChain null, Azure/GCP null.
 * - gcp-sev-snp: REPORT_DATA = extraData ‖ 0^32, VCEK-signed, ReportSigner =
 *   VCEK PEM, CertChain = ASK PEM (the extended report's table had one),
 *   GCP = {zone, project_id, instance_name}. The validator takes the trusted
 *   AK from the GCE API (getShieldedInstanceIdentity → signingKey.ekPub):
 *   tests must serve `akPublicKeyPem()` there.
 * AWS and GCP get a freshly signed report per document, as the hardware
 * would give; report fields default to realistic values (Milan, version 2
 * on Azure / 3 with CPUID elsewhere, VMPL 0, SMT policy, the platform TCB
 * everywhere and equal to the VCEK's).
 *
 * Every option beyond `variant` exists to build documents that a correct
 * validator must reject (report field overrides, other signing keys,
 * tampered bytes, other certificates).
 */
import { createHash, sign, type KeyObject } from 'node:crypto';
import { encodeVtpmDocument } from '../../vtpm/envelope.js';
import { DEFAULT_BOOT_EVENTS, PcrBanks } from '../../vtpm/issuer/pcr-banks.js';
import { devAttestationConfig, QEMU_VTPM_MEASUREMENT_INDICES, SoftwareTpmIssuer, type PcrSource } from '../../vtpm/issuer/software-tpm-issuer.js';
import type { BankName } from '../../vtpm/issuer/tpm-structures.js';
import type { GceInstanceInfo, VtpmDocument } from '../../vtpm/types.js';
import { encodeHclReport, HCL_REPORT_OFFSETS } from '../azure/hcl-report.js';
import { HCL_AK_KID } from '../azure/runtime-data.js';
import { encodeSnpInstanceInfo, type SnpInstanceInfo } from '../instance-info.js';
import { encodeSnpAttestationReport, SNP_SIGNATURE_OFFSET, type SnpAttestationReportInit } from '../report/attestation-report.js';
import { encodeGuestPolicy, type SnpGuestPolicyBits } from '../report/guest-policy.js';
import { encodeSnpEcdsaP384Signature } from '../report/report-signature.js';
import { encodeSignerInfo, SigningKey } from '../report/signer-info.js';
import { decodeTcbVersion, encodeTcbVersion, type SnpTcbParts } from '../report/tcb-version.js';
import { defaultSyntheticAmdPki, type SyntheticAmdPki, type SyntheticCertificate } from './synthetic-amd-pki.js';

export const SNP_VARIANTS = ['azure-sev-snp', 'aws-sev-snp', 'gcp-sev-snp'] as const;
export type SnpVariant = (typeof SNP_VARIANTS)[number];

export function isSnpVariant(s: string): s is SnpVariant {
  return (SNP_VARIANTS as readonly string[]).includes(s);
}

/** ID_KEY_DIGEST of Azure's ID block: Constellation's default `acceptedKeyDigests` entry. */
export const AZURE_DEFAULT_ID_KEY_DIGEST = '0356215882a825279a85b300b0b742931d113bf7e32dde2e50ffde7ec743ca491ecdd7f336dc28a6e0b2bb57af7a44a3';

/** The GCE instance a gcp-sev-snp issuer claims to be by default. */
export const SYNTHETIC_GCE_INSTANCE: Readonly<GceInstanceInfo> = {
  zone: 'us-central1-a',
  projectId: 'constellation-synthetic',
  projectNumber: 0n,
  instanceName: 'synthetic-node-0',
  instanceId: 0n,
};

/** The report fields the issuer fills in before signing (report-data binding included). */
export type SnpReportOverrides = Partial<SnpAttestationReportInit>;

export interface SoftwareSnpIssuerOptions {
  variant: SnpVariant;
  /** The AMD PKI; default defaultSyntheticAmdPki(). */
  pki?: SyntheticAmdPki;
  /** The node's TPM; default a SoftwareTpmIssuer with an RSA AK (from `akPrivateKey`, `akSeed`, else fresh) and the default measured boot. */
  tpm?: SoftwareTpmIssuer;
  akPrivateKey?: KeyObject;
  akSeed?: Uint8Array | string;
  /** PCR banks of the default TPM; default sha1, sha256. */
  banks?: readonly BankName[];
  /** Platform TCB: CURRENT/REPORTED/COMMITTED/LAUNCH_TCB and the VCEK/VLEK's TCB; default the PKI's. */
  tcb?: bigint | Partial<SnpTcbParts>;
  /** Guest POLICY (bits, bit 17 added; or raw); default SMT, ABI 0.31 on Azure (as Azure's), ABI 0.0 elsewhere. */
  policy?: bigint | Partial<SnpGuestPolicyBits>;
  /** CHIP_ID in the report (and the VCEK's hwID); default the PKI's chip id for VCEK reports, zero for VLEK reports. */
  chipId?: Uint8Array;
  /** ID_KEY_DIGEST; default AZURE_DEFAULT_ID_KEY_DIGEST on Azure, zero elsewhere. */
  idKeyDigest?: Uint8Array;
  /** VMPL; default 0. */
  vmpl?: number;
  /** VERSION; default 2 on Azure (as its test data), 3 elsewhere (with Milan CPUID). */
  reportVersion?: number;
  /** Which endorsement key signs: default VLEK on AWS, VCEK otherwise (SIGNING_KEY follows). A certificate of the PKI may be given. */
  reportSigner?: 'vcek' | 'vlek' | SyntheticCertificate;
  /** Report fields applied last before signing (e.g. `reportedTcb`, `reportData`, `signerInfo`, `signature`). */
  report?: SnpReportOverrides;
  /** Signs the report with this P-384 key instead of the endorsement key. */
  reportSigningKey?: KeyObject;
  /** Changes the signed report bytes (e.g. flip a bit after signing). */
  mutateReport?: (report: Uint8Array) => Uint8Array;
  /** InstanceInfo.ReportSigner as PEM text (null: JSON null); default the endorsement certificate. */
  reportSignerPem?: string | null;
  /** InstanceInfo.CertChain as PEM text (null: JSON null); default ASK‖ARK (Azure), ASK (GCP), null (AWS). */
  certChainPem?: string | null;
  /** Azure: the runtime data bytes (REPORT_DATA binds their SHA-256 unless `report.reportData` is given); default as the HCL writes it. */
  runtimeData?: Uint8Array;
  /** Azure: Azure.MAAToken; default "". */
  maaToken?: string;
  /** Azure: append the 20-byte IGVM request header to AttestationReport (as Constellation's test data does); default false. */
  azureIgvmTrailer?: boolean;
  /** GCP: the GCP member (null: JSON null); default SYNTHETIC_GCE_INSTANCE. */
  gce?: GceInstanceInfo | null;
  /** Last change to the InstanceInfo before encoding. */
  mutateInstanceInfo?: (info: SnpInstanceInfo) => SnpInstanceInfo;
  /** Last change to the encoded InstanceInfo bytes (the TPM nonce binds the result). */
  mutateInstanceInfoBytes?: (bytes: Uint8Array) => Uint8Array;
}

/** One issued document and what went into it. */
export interface IssuedSnpDocument {
  /** The attestation document bytes (what the node puts into its aTLS certificate). */
  document: Uint8Array;
  vtpmDocument: VtpmDocument;
  instanceInfo: SnpInstanceInfo;
  /** The InstanceInfo bytes as carried (standard-base64 decoded). */
  instanceInfoBytes: Uint8Array;
  /** The AttestationReport bytes (1184, plus the IGVM header when asked for). */
  report: Uint8Array;
  /** SHA-256(userData ‖ nonce). */
  extraData: Uint8Array;
  /** SHA-256(InstanceInfo ‖ extraData): the quotes' qualifying data. */
  tpmNonce: Uint8Array;
}

const utf8 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));
const sha256 = (...parts: Uint8Array[]): Uint8Array => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};

function tcbRaw(tcb: bigint | Partial<SnpTcbParts> | undefined, dflt: bigint): bigint {
  if (tcb === undefined) return dflt;
  return typeof tcb === 'bigint' ? decodeTcbVersion(tcb).raw : encodeTcbVersion(tcb);
}

export class SoftwareSnpIssuer implements PcrSource {
  readonly variant: SnpVariant;
  readonly pki: SyntheticAmdPki;
  readonly tpm: SoftwareTpmIssuer;
  /** The VCEK or VLEK that signs the reports. */
  readonly endorsement: SyntheticCertificate;
  /** The platform TCB (raw). */
  readonly tcb: bigint;
  private readonly o: SoftwareSnpIssuerOptions;
  private readonly baseReport: SnpAttestationReportInit;
  private readonly akSpki: Uint8Array;
  private azure: { runtimeData: Uint8Array; hclReport: Uint8Array; report: Uint8Array; info: SnpInstanceInfo; bytes: Uint8Array } | undefined;

  constructor(o: SoftwareSnpIssuerOptions) {
    if (!isSnpVariant(o.variant)) throw new Error(`SoftwareSnpIssuer supports ${SNP_VARIANTS.join(', ')}, not ${JSON.stringify(o.variant)}`);
    this.o = o;
    this.variant = o.variant;
    this.pki = o.pki ?? defaultSyntheticAmdPki();
    this.tpm = o.tpm ?? new SoftwareTpmIssuer({ akType: 'rsa', akPrivateKey: o.akPrivateKey, seed: o.akSeed, banks: o.banks });
    if (this.variant === 'azure-sev-snp' && this.tpm.akType !== 'rsa') throw new Error('azure-sev-snp needs an RSA AK (the HCL runtime data carries it as an RSA JWK)');
    this.akSpki = new Uint8Array(this.tpm.akPublicKey().export({ type: 'spki', format: 'der' }));
    this.tcb = tcbRaw(o.tcb, this.pki.tcb.raw);

    const signer = o.reportSigner ?? (this.variant === 'aws-sev-snp' ? 'vlek' : 'vcek');
    const certChipId = o.chipId ?? this.pki.chipId;
    if (signer === 'vcek') this.endorsement = this.pki.vcek({ chipId: certChipId, tcb: this.tcb });
    else if (signer === 'vlek') this.endorsement = this.pki.vlek({ tcb: this.tcb });
    else this.endorsement = signer;
    const isVlek = this.endorsement.role === 'vlek';

    const version = o.reportVersion ?? (this.variant === 'azure-sev-snp' ? 2 : 3);
    const policy = o.policy === undefined ? encodeGuestPolicy({ smt: true, abiMinor: this.variant === 'azure-sev-snp' ? 31 : 0 }) : typeof o.policy === 'bigint' ? o.policy : encodeGuestPolicy(o.policy);
    const id = (tag: number): Uint8Array => {
      const b = new Uint8Array(16);
      b[0] = tag;
      return b;
    };
    this.baseReport = {
      version,
      guestSvn: 0,
      policy,
      familyId: this.variant === 'azure-sev-snp' ? id(1) : new Uint8Array(16),
      imageId: this.variant === 'azure-sev-snp' ? id(2) : new Uint8Array(16),
      vmpl: o.vmpl ?? 0,
      currentTcb: this.tcb,
      platformInfo: 1n, // SMT_EN
      signerInfo: encodeSignerInfo({ signingKey: isVlek ? SigningKey.VLEK : SigningKey.VCEK }),
      measurement: new Uint8Array(createHash('sha384').update(`synthetic launch digest ${this.variant}`).digest()),
      idKeyDigest: o.idKeyDigest ?? (this.variant === 'azure-sev-snp' ? new Uint8Array(Buffer.from(AZURE_DEFAULT_ID_KEY_DIGEST, 'hex')) : new Uint8Array(48)),
      reportId: sha256(utf8('REPORT_ID'), this.akSpki),
      reportIdMa: new Uint8Array(32).fill(0xff),
      reportedTcb: this.tcb,
      cpuid: version >= 3 ? { familyId: 0x19, modelId: 0x01, stepping: isVlek ? 1 : 0 } : null,
      chipId: o.chipId ?? (isVlek ? new Uint8Array(64) : this.pki.chipId),
      committedTcb: this.tcb,
      currentBuild: 29,
      currentMinor: 55,
      currentMajor: 1,
      committedBuild: 29,
      committedMinor: 55,
      committedMajor: 1,
      launchTcb: this.tcb,
    };
  }

  /** The AK public key; for gcp-sev-snp what the GCE API must return as the instance's signing key. */
  akPublicKey(): KeyObject {
    return this.tpm.akPublicKey();
  }

  /** The AK as a PEM `PUBLIC KEY` (PKIX) block: GCE getShieldedInstanceIdentity's `signingKey.ekPub`. */
  akPublicKeyPem(): string {
    return this.tpm.akPublicKey().export({ type: 'spki', format: 'pem' }) as string;
  }

  /** SHA-256 PCR values of the TPM (for syntheticSnpAttestationConfig). */
  pcrValues(bank: 'sha256'): Map<number, Uint8Array> {
    return this.tpm.pcrValues(bank);
  }

  /** REPORT_DATA of the aws-sev-snp binding: SHA-512(AK SubjectPublicKeyInfo DER). */
  awsReportData(): Uint8Array {
    return new Uint8Array(createHash('sha512').update(this.akSpki).digest());
  }

  /** Azure: the HCL report blob of this VM (header, report, IGVM header, runtime data). */
  hclReport(): Uint8Array {
    return new Uint8Array(this.azureState().hclReport);
  }

  /** Azure: the HCL runtime data JSON bytes. */
  runtimeData(): Uint8Array {
    return new Uint8Array(this.azureState().runtimeData);
  }

  /** A signed report with the given REPORT_DATA (before `mutateReport`). */
  signReport(reportData: Uint8Array): Uint8Array {
    const init: SnpAttestationReportInit = { ...this.baseReport, reportData, ...this.o.report };
    const raw = encodeSnpAttestationReport(init);
    if (this.o.report?.signature === undefined) {
      const key = this.o.reportSigningKey ?? this.endorsement.privateKey;
      const sig = sign('sha384', raw.subarray(0, SNP_SIGNATURE_OFFSET), { key, dsaEncoding: 'ieee-p1363' });
      raw.set(encodeSnpEcdsaP384Signature(new Uint8Array(sig)), SNP_SIGNATURE_OFFSET);
    }
    return this.o.mutateReport ? this.o.mutateReport(raw) : raw;
  }

  private azureState(): NonNullable<SoftwareSnpIssuer['azure']> {
    if (this.variant !== 'azure-sev-snp') throw new Error(`${this.variant} has no HCL report`);
    if (this.azure) return this.azure;
    const runtimeData = this.o.runtimeData ?? this.defaultRuntimeData();
    const reportData = new Uint8Array(64);
    reportData.set(sha256(runtimeData));
    const signed = this.signReport(reportData);
    // The HCL slot holds exactly 1184 bytes; a tampered longer report would not fit, so cut it (the IGVM header follows anyway).
    const hclReport = encodeHclReport({ hwReport: signed.subarray(0, HCL_REPORT_OFFSETS.requestData - HCL_REPORT_OFFSETS.hwReport), runtimeData });
    const end = this.o.azureIgvmTrailer ? HCL_REPORT_OFFSETS.runtimeData : HCL_REPORT_OFFSETS.requestData;
    const report = hclReport.slice(HCL_REPORT_OFFSETS.hwReport, end);
    const info = this.instanceInfo(report, { runtimeData, maaToken: this.o.maaToken ?? '' });
    this.azure = { runtimeData, hclReport, report, info, bytes: this.encodeInstanceInfo(info) };
    return this.azure;
  }

  /** Runtime data as Azure's HCL writes it, with this TPM's AK as keys[0]. */
  private defaultRuntimeData(): Uint8Array {
    const jwk = this.tpm.akPublicKey().export({ format: 'jwk' });
    const u = createHash('sha256').update('vmUniqueId').update(this.akSpki).digest('hex').toUpperCase();
    const vmUniqueId = `${u.slice(0, 8)}-${u.slice(8, 12)}-${u.slice(12, 16)}-${u.slice(16, 20)}-${u.slice(20, 32)}`;
    const data = {
      keys: [{ kid: HCL_AK_KID, key_ops: ['sign'], kty: 'RSA', e: jwk.e, n: jwk.n }],
      'vm-configuration': {
        'console-enabled': true,
        'current-time': Math.floor(Date.now() / 1000),
        'secure-boot': true,
        'tpm-enabled': true,
        vmUniqueId,
      },
      'user-data': '0'.repeat(128),
    };
    return utf8(JSON.stringify(data));
  }

  private instanceInfo(report: Uint8Array, azure: SnpInstanceInfo['azure']): SnpInstanceInfo {
    const o = this.o;
    const pemOr = (v: string | null | undefined, dflt: string | null): Uint8Array | null => {
      const text = v === undefined ? dflt : v;
      return text === null ? null : utf8(text);
    };
    const intermediate = this.endorsement.role === 'vlek' ? this.pki.asvk : this.pki.ask;
    const chainDefault = this.variant === 'azure-sev-snp' ? intermediate.pem + this.pki.ark.pem : this.variant === 'gcp-sev-snp' ? intermediate.pem : null;
    const info: SnpInstanceInfo = {
      reportSigner: pemOr(o.reportSignerPem, this.endorsement.pem),
      certChain: pemOr(o.certChainPem, chainDefault),
      attestationReport: report,
      azure,
      gcp: this.variant === 'gcp-sev-snp' ? (o.gce === undefined ? { ...SYNTHETIC_GCE_INSTANCE } : o.gce) : null,
    };
    return o.mutateInstanceInfo ? o.mutateInstanceInfo(info) : info;
  }

  private encodeInstanceInfo(info: SnpInstanceInfo): Uint8Array {
    const bytes = encodeSnpInstanceInfo(info);
    return this.o.mutateInstanceInfoBytes ? this.o.mutateInstanceInfoBytes(bytes) : bytes;
  }

  /** The document for the aTLS `nonce` and `userData`, with everything that went into it. */
  issueDetailed(userData: Uint8Array, nonce: Uint8Array): IssuedSnpDocument {
    const extraData = sha256(userData, nonce);
    let info: SnpInstanceInfo;
    let bytes: Uint8Array;
    let report: Uint8Array;
    if (this.variant === 'azure-sev-snp') {
      const a = this.azureState();
      ({ info, bytes, report } = a);
    } else {
      let reportData: Uint8Array;
      if (this.variant === 'aws-sev-snp') {
        reportData = this.awsReportData();
      } else {
        reportData = new Uint8Array(64);
        reportData.set(extraData);
      }
      report = this.signReport(reportData);
      info = this.instanceInfo(report, null);
      bytes = this.encodeInstanceInfo(info);
    }
    const vtpmDocument = this.tpm.issue(userData, nonce, bytes);
    return {
      document: encodeVtpmDocument(vtpmDocument),
      vtpmDocument,
      instanceInfo: info,
      instanceInfoBytes: bytes,
      report,
      extraData,
      tpmNonce: sha256(bytes, extraData),
    };
  }

  /** The attestation document bytes (as `joinservice issue` prints them). */
  issue(userData: Uint8Array, nonce: Uint8Array): Uint8Array {
    return this.issueDetailed(userData, nonce).document;
  }
}

export interface SyntheticSnpConfigOptions {
  /** Minimum bootloader/TEE/SNP/microcode SPLs; default the PKI's TCB (the issuer's default). */
  minimumTcb?: bigint | Partial<SnpTcbParts>;
  /** Enforced PCR indices; default 4, 8, 9, 11, 12, 13, 15 (as the fixtures). */
  measurementIndices?: readonly number[];
  /** azure: firmwareSignerConfig.acceptedKeyDigests (hex); default [AZURE_DEFAULT_ID_KEY_DIGEST]. */
  acceptedKeyDigests?: readonly string[];
  /** azure: firmwareSignerConfig.enforcementPolicy; default MAAFallback (Constellation's default; never reached with the default digest). */
  enforcementPolicy?: 'Equal' | 'MAAFallback' | 'WarnOnly';
  /** azure: firmwareSignerConfig.maaURL (omitted when empty). */
  maaURL?: string;
  /** amdRootKey; default the PKI's ARK. */
  amdRootKey?: string;
  /** amdSigningKey; default the PKI's ASVK for aws-sev-snp (its nodes send no chain), "" otherwise. */
  amdSigningKey?: string;
}

/** The measured boot every default software TPM has (values do not depend on the AK). */
function defaultPcrSource(): PcrSource {
  const banks = new PcrBanks(['sha256']);
  for (const e of DEFAULT_BOOT_EVENTS) banks.event(e.pcr, e.data);
  return { pcrValues: () => banks.map('sha256') };
}

/**
 * An attestation config (`/var/config/attestationConfig`) for `variant` that
 * accepts SoftwareSnpIssuer documents: measurements from `measurements`
 * (default: the software TPM's default measured boot), minimum versions
 * equal to the PKI's TCB, `amdRootKey` = the synthetic ARK. Rendered as Go's
 * encoding/json writes the variant's config struct (member order of the
 * fixtures, measurement keys sorted as strings). Passes the config schema.
 */
export function syntheticSnpAttestationConfig(
  variant: SnpVariant,
  pki: SyntheticAmdPki = defaultSyntheticAmdPki(),
  measurements: PcrSource = defaultPcrSource(),
  options: SyntheticSnpConfigOptions = {},
): string {
  if (!isSnpVariant(variant)) throw new Error(`not an SEV-SNP variant: ${JSON.stringify(variant)}`);
  const m = devAttestationConfig(measurements, options.measurementIndices ?? QEMU_VTPM_MEASUREMENT_INDICES);
  const prefix = '{"measurements":';
  const measurementsJson = m.slice(prefix.length, -1);
  const tcb = decodeTcbVersion(tcbRaw(options.minimumTcb, pki.tcb.raw));
  const parts = [
    `"measurements":${measurementsJson}`,
    `"bootloaderVersion":${tcb.blSpl}`,
    `"teeVersion":${tcb.teeSpl}`,
    `"snpVersion":${tcb.snpSpl}`,
    `"microcodeVersion":${tcb.ucodeSpl}`,
  ];
  if (variant === 'azure-sev-snp') {
    const fsc = [
      `"acceptedKeyDigests":${JSON.stringify(options.acceptedKeyDigests ?? [AZURE_DEFAULT_ID_KEY_DIGEST])}`,
      `"enforcementPolicy":${JSON.stringify(options.enforcementPolicy ?? 'MAAFallback')}`,
    ];
    if (options.maaURL) fsc.push(`"maaURL":${JSON.stringify(options.maaURL)}`);
    parts.push(`"firmwareSignerConfig":{${fsc.join(',')}}`);
  }
  parts.push(`"amdRootKey":${JSON.stringify(options.amdRootKey ?? pki.ark.pem)}`);
  parts.push(`"amdSigningKey":${JSON.stringify(options.amdSigningKey ?? (variant === 'aws-sev-snp' ? pki.asvk.pem : ''))}`);
  return `{${parts.join(',')}}`;
}

/**
 * The `sev-snp-cert-cache` ConfigMap data (namespace kube-system, keys `ask`
 * and `ark`, §8.2) a join service for `variant` should find so that it does
 * not fetch AMD's chain from KDS at start-up: for aws-sev-snp the `ask` key
 * holds the ASVK. gcp-sev-snp has no cache (returns null).
 */
export function syntheticSnpCertCache(variant: SnpVariant, pki: SyntheticAmdPki = defaultSyntheticAmdPki()): { ask: string; ark: string } | null {
  if (variant === 'gcp-sev-snp') return null;
  return { ask: variant === 'aws-sev-snp' ? pki.asvk.pem : pki.ask.pem, ark: pki.ark.pem };
}

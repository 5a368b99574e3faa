/**
 * `joinservice inspect` for the SEV-SNP variants (azure-sev-snp, aws-sev-snp,
 * gcp-sev-snp): decodes the document's InstanceInfo (snp.InstanceInfo), the
 * ATTESTATION_REPORT it carries, the ReportSigner / CertChain certificates,
 * Azure's runtime data and MAA token, and GCP's instance identity, into plain
 * data for the text and --json output of inspect.ts.
 *
 * Offline and diagnostic only: nothing here is verified (signatures, chain,
 * policy are `joinservice verify`'s business). Every part is decoded on its
 * own; a part that fails becomes `{ error: "<part>: <reason>" }` and the other
 * parts are still shown. Never throws.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { toJoinServiceError } from '../../shared/errors.js';
import { decodeSnpInstanceInfo, type SnpInstanceInfo } from '../../workers/attestation/snp/instance-info.js';
import { parseSnpAttestationReport, type SnpAttestationReport } from '../../workers/attestation/snp/report/attestation-report.js';
import { decodeTurinTcbVersion, tcbVersionHex, type SnpTcbVersion } from '../../workers/attestation/snp/report/tcb-version.js';

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const u64Hex = (v: bigint): string => `0x${v.toString(16).padStart(16, '0')}`;

type Part = Record<string, unknown> | { error: string };

/** One decoding step: its value, or `{ error }` naming the part that failed. */
function part<T>(name: string, fn: () => T): T | { error: string } {
  try {
    return fn();
  } catch (err) {
    let msg: string;
    try {
      msg = toJoinServiceError(err).message;
    } catch {
      msg = String(err);
    }
    return { error: `${name}: failed to decode: ${msg}` };
  }
}

/** Whether InstanceInfo bytes look like an snp.InstanceInfo (the JSON with an AttestationReport member). */
export function looksLikeSnpInstanceInfo(bytes: Uint8Array | null): boolean {
  if (bytes === null || bytes.length === 0) return false;
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return head[0] === 0x7b /* { */ && head.includes('"AttestationReport"');
}

function describeTcb(t: SnpTcbVersion, turin: boolean): Record<string, unknown> {
  if (turin) {
    const x = decodeTurinTcbVersion(t.raw);
    return { raw: u64Hex(t.raw), bytes: tcbVersionHex(t.raw), layout: 'Turin', fmc: x.fmcSpl, bootloader: x.blSpl, tee: x.teeSpl, snp: x.snpSpl, microcode: x.ucodeSpl };
  }
  const spl = [t.spl4, t.spl5, t.spl6, t.spl7];
  return {
    raw: u64Hex(t.raw),
    bytes: tcbVersionHex(t.raw),
    bootloader: t.blSpl,
    tee: t.teeSpl,
    snp: t.snpSpl,
    microcode: t.ucodeSpl,
    ...(spl.some((s) => s !== 0) ? { reservedSpl: spl } : {}),
  };
}

/** The report's fields for people: numbers, hex strings, decoded bit fields. */
export function describeSnpReport(r: SnpAttestationReport): Record<string, unknown> {
  const p = r.policy;
  const turin = r.cpuid?.productLine === 'Turin';
  return {
    version: r.version,
    guestSvn: r.guestSvn,
    policy: {
      raw: u64Hex(p.raw),
      abi: `${p.abiMajor}.${p.abiMinor}`,
      abiMajor: p.abiMajor,
      abiMinor: p.abiMinor,
      smt: p.smt,
      migrateMa: p.migrateMa,
      debug: p.debug,
      singleSocket: p.singleSocket,
      cxlAllow: p.cxlAllow,
      memAes256Xts: p.memAes256Xts,
      raplDis: p.raplDis,
      ciphertextHiding: p.ciphertextHiding,
      pageSwapDisable: p.pageSwapDisable,
    },
    vmpl: r.vmpl,
    signatureAlgo: r.signatureAlgo === 1 ? '1 (ECDSA P-384 with SHA-384)' : String(r.signatureAlgo),
    signer: r.signerInfo.signingKeyName,
    signerInfo: { raw: `0x${r.signerInfo.raw.toString(16).padStart(8, '0')}`, authorKeyEn: r.signerInfo.authorKeyEn, maskChipKey: r.signerInfo.maskChipKey },
    productLine: r.cpuid
      ? {
          name: r.cpuid.productLine,
          familyId: `0x${r.cpuid.familyId.toString(16)}`,
          modelId: `0x${r.cpuid.modelId.toString(16)}`,
          stepping: r.cpuid.stepping,
          cpuid1Eax: `0x${r.cpuid.cpuid1Eax.toString(16).padStart(8, '0')}`,
        }
      : `not in the report (VERSION ${r.version} < 3)`,
    platformInfo: {
      raw: u64Hex(r.platformInfo.raw),
      smtEnabled: r.platformInfo.smtEnabled,
      tsmeEnabled: r.platformInfo.tsmeEnabled,
      eccEnabled: r.platformInfo.eccEnabled,
      raplDisabled: r.platformInfo.raplDisabled,
      ciphertextHidingEnabled: r.platformInfo.ciphertextHidingEnabled,
      aliasCheckComplete: r.platformInfo.aliasCheckComplete,
      tioEnabled: r.platformInfo.tioEnabled,
    },
    tcb: {
      current: describeTcb(r.currentTcb, turin),
      reported: describeTcb(r.reportedTcb, turin),
      committed: describeTcb(r.committedTcb, turin),
      launch: describeTcb(r.launchTcb, turin),
    },
    firmware: {
      current: `${r.currentMajor}.${r.currentMinor} build ${r.currentBuild}`,
      committed: `${r.committedMajor}.${r.committedMinor} build ${r.committedBuild}`,
    },
    chipId: hex(r.chipId),
    reportData: hex(r.reportData),
    measurement: hex(r.measurement),
    hostData: hex(r.hostData),
    idKeyDigest: hex(r.idKeyDigest),
    authorKeyDigest: hex(r.authorKeyDigest),
    familyId: hex(r.familyId),
    imageId: hex(r.imageId),
    reportId: hex(r.reportId),
    reportIdMa: hex(r.reportIdMa),
    launchMitVector: u64Hex(r.launchMitVector),
    currentMitVector: u64Hex(r.currentMitVector),
    signatureR: hex(r.signatureR),
    signatureS: hex(r.signatureS),
    trailingBytes: r.trailing.length,
    ...(r.trailing.length > 0 ? { trailing: hex(r.trailing) } : {}),
  };
}

function commonName(subject: string): string | null {
  for (const line of subject.split('\n')) {
    if (line.startsWith('CN=')) return line.slice(3);
  }
  return null;
}

function describeCert(der: Uint8Array | string, label: string): Part {
  return part(label, () => {
    const x = new X509Certificate(typeof der === 'string' ? der : Buffer.from(der));
    return {
      subjectCn: commonName(x.subject),
      issuerCn: commonName(x.issuer),
      notBefore: x.validFromDate.toISOString(),
      notAfter: x.validToDate.toISOString(),
      serialNumber: x.serialNumber,
      sha256: createHash('sha256').update(x.raw).digest('hex'),
    };
  });
}

/** Certificates of a ReportSigner / CertChain member: PEM blocks (as Constellation writes them) or one DER certificate. */
function describeCerts(bytes: Uint8Array | null, name: string): unknown {
  if (bytes === null) return null;
  if (bytes.length === 0) return 'empty';
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g);
  if (blocks === null) {
    return [describeCert(bytes, `${name}[0]`)];
  }
  return blocks.map((pem, i) => describeCert(pem, `${name}[${i}]`));
}

function describeRuntimeData(bytes: Uint8Array | null): unknown {
  if (bytes === null) return null;
  return part('Azure.RuntimeData', () => {
    const j = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')) as unknown;
    const keysVal = j && typeof j === 'object' ? (j as { keys?: unknown }).keys : undefined;
    if (!Array.isArray(keysVal)) throw new Error('no "keys" array');
    return {
      bytes: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      keys: keysVal.map((k: unknown) => {
        const o = k && typeof k === 'object' ? (k as Record<string, unknown>) : {};
        return { kid: typeof o['kid'] === 'string' ? o['kid'] : null, kty: typeof o['kty'] === 'string' ? o['kty'] : null };
      }),
    };
  });
}

function describeInfo(info: SnpInstanceInfo): Record<string, unknown> {
  const report = part('AttestationReport', () => parseSnpAttestationReport(info.attestationReport));
  return {
    report: 'error' in report ? report : describeSnpReport(report),
    reportBytes: info.attestationReport.length,
    reportSigner: describeCerts(info.reportSigner, 'ReportSigner'),
    certChain: describeCerts(info.certChain, 'CertChain'),
    azure:
      info.azure === null
        ? null
        : {
            runtimeData: describeRuntimeData(info.azure.runtimeData),
            maaToken: info.azure.maaToken === '' ? 'absent' : `present (${info.azure.maaToken.length} characters)`,
          },
    gcp:
      info.gcp === null
        ? null
        : {
            zone: info.gcp.zone,
            project: info.gcp.projectId,
            projectNumber: info.gcp.projectNumber.toString(),
            instance: info.gcp.instanceName,
            instanceId: info.gcp.instanceId.toString(),
          },
  };
}

/** The SEV-SNP part of a document: InstanceInfo → report, certificates, Azure / GCP extras. Never throws. */
export function describeSnpInstanceInfo(bytes: Uint8Array | null): Record<string, unknown> {
  const info = part('InstanceInfo', () => decodeSnpInstanceInfo(bytes));
  if ('error' in info) return info;
  return part('SEV-SNP', () => describeInfo(info));
}

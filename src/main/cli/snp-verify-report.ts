/**
 * `joinservice snp verify-report`: offline verification of one raw SEV-SNP
 * attestation report against its VCEK/VLEK, for operators and for checking
 * AMD test vectors. Every check is run on its own (a failed chain does not
 * hide a bad signature) and printed with ok / FAILED and the reason:
 *
 *   report-parse   the 1184 report bytes (raw file, hex or base64 text)
 *   signing-key    the report's SIGNING_KEY matches the certificate kind
 *   chain          VCEK/VLEK ← ASK/ASVK ← ARK (verify-chain.ts: names,
 *                  KDS extensions, signatures, validity at --at); the
 *                  intermediate and ARK from --chain, else the embedded ones
 *                  of the product line; the root is the config's
 *                  `amdRootKey` (with --config) or the embedded ARK
 *   signature      report format and ECDSA P-384 signature by the
 *                  certificate's key (validate-report.ts)
 *   kds:*          the certificate's KDS extensions against the report
 *                  (REPORTED_TCB = certificate TCB ≤ CURRENT_TCB, CHIP_ID = HWID)
 *   policy:*       with --config: the variant's go-sev-guest options
 *                  (snp-policy-options.ts), every rule listed
 *
 * Exit 0 when every check passed, 1 otherwise, 2 for usage errors.
 */
import { X509Certificate, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Command, InvalidArgumentError } from 'commander';
import { toJoinServiceError } from '../../shared/errors.js';
import { decodeAllPem } from '../../shared/pem.js';
import { analyseCertificate } from '../../workers/attestation/vtpm/azure/chain-certificate.js';
import { parseKdsExtensions, type KdsExtensions } from '../../workers/attestation/snp/chain/kds-extensions.js';
import { productOfIntermediateCommonName, productLineOfArkCommonName, reportProductLine, type SnpProductLine, type SnpSigner } from '../../workers/attestation/snp/chain/product.js';
import { createAmdTrust, verifySnpChain, type AmdTrust, type VerifiedSnpChain } from '../../workers/attestation/snp/chain/verify-chain.js';
import { snpPolicyFailures, verifySnpReportFormatAndSignature, type SnpPolicyCheck } from '../../workers/attestation/snp/policy/validate-report.js';
import { parseSnpAttestationReport, SNP_REPORT_SIZE, type SnpAttestationReport } from '../../workers/attestation/snp/report/attestation-report.js';
import { SigningKey } from '../../workers/attestation/snp/report/signer-info.js';
import { parseSnpConfig, type SnpConfig, type SnpVariantName } from '../../workers/attestation/snp/variants/snp-step.js';
import { applicablePolicyChecks, snpPolicyOptionsFor, type SnpPolicyOptionsResult } from './snp-policy-options.js';

export interface SnpCheckResult {
  check: string;
  ok: boolean;
  /** Why it failed, or what was checked. */
  detail: string;
}

export interface SnpVerifyReportResult {
  ok: boolean;
  signer?: SnpSigner;
  productLine?: string;
  variant?: SnpVariantName;
  at: string;
  checks: SnpCheckResult[];
  notes: string[];
}

const PRODUCTS: Readonly<Record<string, SnpProductLine>> = { milan: 'Milan', genoa: 'Genoa', turin: 'Turin' };

/** The report bytes of a file: raw binary (≥ 1184 bytes, trailing bytes ignored), or hex / base64 text of them. */
export function decodeReportFile(bytes: Buffer): Uint8Array {
  const text = bytes.toString('latin1').replace(/\s+/g, '');
  if (/^([0-9a-fA-F]{2})+$/.test(text) && text.length >= SNP_REPORT_SIZE * 2) return new Uint8Array(Buffer.from(text, 'hex'));
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(text) && text.length >= Math.ceil(SNP_REPORT_SIZE / 3) * 4) {
    const decoded = Buffer.from(text, 'base64');
    if (decoded.length >= SNP_REPORT_SIZE) return new Uint8Array(decoded);
  }
  return new Uint8Array(bytes);
}

/** DER certificates of a PEM (or one DER) file. */
function certificatesOf(bytes: Buffer, what: string): Uint8Array[] {
  if (bytes.length > 0 && bytes[0] === 0x30) return [new Uint8Array(bytes)];
  const out = decodeAllPem(bytes.toString('latin1'))
    .filter((b) => b.type === 'CERTIFICATE')
    .map((b) => b.bytes);
  if (out.length === 0) throw new Error(`${what}: no certificate (PEM CERTIFICATE or DER) found`);
  return out;
}

const message = (err: unknown): string => toJoinServiceError(err).message;

export interface SnpVerifyReportInput {
  report: Uint8Array;
  certificate: Uint8Array;
  /** Intermediate (ASK/ASVK) and/or ARK, DER. */
  chain?: Uint8Array[];
  product?: SnpProductLine;
  nowMs: number;
  configText?: string;
  variant?: SnpVariantName;
}

/** Runs every check (see the module comment); never throws for a bad input file, only reports it. */
export function verifySnpReport(input: SnpVerifyReportInput): SnpVerifyReportResult {
  const checks: SnpCheckResult[] = [];
  const notes: string[] = [];
  const at = new Date(input.nowMs).toISOString();
  const pass = (check: string, detail: string) => checks.push({ check, ok: true, detail });
  const fail = (check: string, detail: string) => checks.push({ check, ok: false, detail });
  const done = (extra: Partial<SnpVerifyReportResult> = {}): SnpVerifyReportResult => ({ ok: checks.every((c) => c.ok), at, checks, notes, ...extra });

  let report: SnpAttestationReport;
  try {
    report = parseSnpAttestationReport(input.report);
    pass('report-parse', `version ${report.version}, ${input.report.length} bytes${report.trailing.length > 0 ? ` (${report.trailing.length} trailing bytes ignored)` : ''}`);
  } catch (err) {
    fail('report-parse', message(err));
    return done();
  }

  // The certificate kind: the report's SIGNING_KEY, which the certificate's CN must agree with.
  let certCn = '';
  let certKey: KeyObject | undefined;
  try {
    const x = new X509Certificate(Buffer.from(input.certificate));
    certKey = x.publicKey;
    certCn = /(?:^|\n)CN=([^\n]*)/.exec(x.subject)?.[1] ?? '';
  } catch (err) {
    fail('certificate-parse', (err as Error).message);
  }
  const key = report.signerInfo.signingKey;
  const certSigner: SnpSigner | undefined = certCn === 'SEV-VLEK' ? 'VLEK' : certCn === 'SEV-VCEK' ? 'VCEK' : undefined;
  let signer: SnpSigner;
  if (key === SigningKey.NONE) {
    fail('signing-key', "the report's SIGNING_KEY is 7 (none): it is not signed by a VCEK or VLEK");
    signer = certSigner ?? 'VCEK';
  } else {
    signer = key === SigningKey.VLEK ? 'VLEK' : 'VCEK';
    if (certSigner !== undefined && certSigner !== signer) fail('signing-key', `the report is signed by a ${signer} (SIGNING_KEY ${key}), but the certificate is a ${certSigner} (CN ${certCn})`);
    else pass('signing-key', `${signer} (SIGNING_KEY ${key}); certificate CN ${certCn || '(none)'}`);
  }

  let cfg: SnpConfig | undefined;
  let variant: SnpVariantName | undefined;
  if (input.configText !== undefined) {
    variant = input.variant ?? (signer === 'VLEK' ? 'aws-sev-snp' : configHas(input.configText, 'firmwareSignerConfig') ? 'azure-sev-snp' : 'gcp-sev-snp');
    try {
      cfg = parseSnpConfig(variant, input.configText);
      pass('config', `${variant} attestation config${input.variant === undefined ? ' (variant inferred; --variant overrides)' : ''}`);
    } catch (err) {
      fail('config', message(err));
    }
  }

  // Chain.
  const hint = reportProductLine(report.version, report.cpuid?.familyId ?? 0, report.cpuid?.modelId ?? 0, report.cpuid?.stepping ?? 0);
  let intermediate: Uint8Array | undefined;
  let ark: Uint8Array | undefined;
  for (const der of input.chain ?? []) {
    let cn = '';
    try {
      cn = /(?:^|\n)CN=([^\n]*)/.exec(new X509Certificate(Buffer.from(der)).subject)?.[1] ?? '';
    } catch (err) {
      notes.push(`--chain: unparsable certificate ignored: ${(err as Error).message}`);
      continue;
    }
    if (productLineOfArkCommonName(cn)) ark = der;
    else if (productOfIntermediateCommonName(cn)) intermediate = der;
    else notes.push(`--chain: certificate CN ${cn} is neither an ASK/ASVK nor an ARK; ignored`);
  }
  const reportLine = input.product ?? (hint !== undefined && hint !== 'Unknown' ? hint : undefined);
  let chain: VerifiedSnpChain | undefined;
  let trust: AmdTrust | undefined;
  try {
    trust = createAmdTrust(cfg ? { amdRootKey: cfg.amdRootKey, amdSigningKey: cfg.amdSigningKey } : {});
  } catch (err) {
    fail('chain', `trust anchors: ${message(err)}`);
  }
  if (trust) {
    try {
      chain = verifySnpChain({ signer, endorsement: input.certificate, intermediate, ark, reportProductLine: reportLine ?? hint }, trust, input.nowMs);
      pass(
        'chain',
        `${chain.endorsement.role} CN ${chain.endorsement.commonName} ← ${chain.intermediate.role} CN ${chain.intermediate.commonName} (${chain.intermediate.source}) ← ARK CN ${chain.ark.commonName} (${chain.ark.source}), valid at ${at}`,
      );
    } catch (err) {
      fail('chain', message(err));
    }
  }
  if (input.product !== undefined && hint !== undefined && hint !== 'Unknown' && hint !== input.product) {
    notes.push(`--product ${input.product} differs from the report's CPUID product line ${hint}`);
  }

  // Signature (the verified key, else the certificate's key as such).
  const sigKey = chain?.endorsementKey ?? certKey;
  if (sigKey) {
    try {
      verifySnpReportFormatAndSignature(report, sigKey);
      pass('signature', `ECDSA P-384/SHA-384 by the ${signer}'s key${chain ? '' : ' (certificate not chain-verified)'}`);
    } catch (err) {
      fail('signature', `report signature does not verify with the ${signer} certificate's key: ${message(err)}`);
    }
  } else {
    fail('signature', 'no public key to verify with (the certificate does not parse)');
  }

  // KDS extensions against the report, and the policy.
  let kds: KdsExtensions | undefined = chain?.kds;
  if (!kds) {
    try {
      kds = parseKdsExtensions(analyseCertificate(input.certificate).parsed.extensions, signer);
    } catch (err) {
      fail('kds-extensions', message(err));
    }
  }
  if (kds) {
    let policy: SnpPolicyOptionsResult | undefined;
    if (cfg && variant) {
      policy = snpPolicyOptionsFor(variant, cfg);
      notes.push(...policy.notes);
    }
    const failures = snpPolicyFailures(report, { signer, kds }, policy?.options ?? { vmpl: null, minimumGuestSvn: 0 });
    const kdsChecks: SnpPolicyCheck[] = ['tcb-reported-certificate', 'tcb-certificate-current', ...(signer === 'VCEK' ? (['chip-id'] as const) : [])];
    const listed: SnpPolicyCheck[] = policy ? [...kdsChecks, ...applicablePolicyChecks(policy.options).filter((c) => !kdsChecks.includes(c))] : kdsChecks;
    for (const c of listed) {
      const prefix = kdsChecks.includes(c) ? 'kds' : 'policy';
      const f = failures.filter((x) => x.check === c);
      if (f.length > 0) fail(`${prefix}:${c}`, f.map((x) => x.message).join('; '));
      else pass(`${prefix}:${c}`, 'ok');
    }
  }
  return done({ signer, variant, productLine: chain?.productLine ?? reportLine ?? hint ?? 'unknown' });
}

function configHas(text: string, key: string): boolean {
  try {
    const o = JSON.parse(text) as Record<string, unknown>;
    return o !== null && typeof o === 'object' && key in o;
  } catch {
    return false;
  }
}

export function formatSnpVerifyReport(r: SnpVerifyReportResult): string {
  const lines = [`${r.ok ? 'OK' : 'FAILED'}: SEV-SNP report${r.signer ? ` signed by a ${r.signer}` : ''}${r.productLine ? ` (${r.productLine})` : ''} at ${r.at}${r.variant ? `, policy of ${r.variant}` : ''}`];
  const width = Math.max(...r.checks.map((c) => c.check.length));
  for (const c of r.checks) lines.push(`  ${c.check.padEnd(width)}  ${c.ok ? 'ok    ' : 'FAILED'}  ${c.detail}`);
  for (const n of r.notes) lines.push(`  note: ${n}`);
  return `${lines.join('\n')}\n`;
}

/** `--at RFC3339` → ms since the epoch. */
export function parseAt(v: string): number {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(v)) throw new InvalidArgumentError('must be an RFC 3339 time, e.g. 2025-01-01T00:00:00Z');
  const ms = Date.parse(v);
  if (Number.isNaN(ms)) throw new InvalidArgumentError('must be an RFC 3339 time, e.g. 2025-01-01T00:00:00Z');
  return ms;
}

function productArg(v: string): SnpProductLine {
  const p = PRODUCTS[v.toLowerCase()];
  if (!p) throw new InvalidArgumentError('must be milan, genoa or turin');
  return p;
}

function variantArg(v: string): SnpVariantName {
  if (v !== 'azure-sev-snp' && v !== 'aws-sev-snp' && v !== 'gcp-sev-snp') throw new InvalidArgumentError('must be azure-sev-snp, aws-sev-snp or gcp-sev-snp');
  return v;
}

interface Flags {
  report: string;
  cert: string;
  chain?: string;
  product?: SnpProductLine;
  at?: number;
  config?: string;
  variant?: SnpVariantName;
  json?: boolean;
}

/** `joinservice snp` with its subcommand `verify-report`. */
export function snpCommand(): Command {
  const verify = new Command('verify-report')
    .description('verify a raw SEV-SNP report: signature, AMD chain, KDS extensions vs report and (with --config) the policy; prints every check; exit 0 all ok, 1 any failed')
    .requiredOption('--report <file>', 'the report: raw (1184 bytes, trailing bytes ignored), hex or base64 text')
    .requiredOption('--cert <file>', 'the VCEK or VLEK certificate (PEM or DER)')
    .option('--chain <file>', 'ASK/ASVK and/or ARK (PEM); default: the embedded certificates of the product line')
    .option('--product <line>', 'milan, genoa or turin (default: the report\'s CPUID, else the certificate\'s productName)', productArg)
    .option('--at <time>', 'verify certificate validity at this RFC 3339 time (default: now)', parseAt)
    .option('--config <file>', 'attestation config: its amdRootKey/amdSigningKey and the variant\'s report policy')
    .option('--variant <variant>', 'with --config: azure-sev-snp, aws-sev-snp or gcp-sev-snp (default: aws for VLEK, azure when the config has firmwareSignerConfig, else gcp)', variantArg)
    .option('--json', 'machine-readable output')
    .action(async (flags: Flags) => {
      const result = verifySnpReport({
        report: decodeReportFile(await readFile(flags.report)),
        certificate: certificatesOf(await readFile(flags.cert), '--cert')[0]!,
        ...(flags.chain !== undefined ? { chain: certificatesOf(await readFile(flags.chain), '--chain') } : {}),
        ...(flags.product !== undefined ? { product: flags.product } : {}),
        nowMs: flags.at ?? Date.now(),
        ...(flags.config !== undefined ? { configText: await readFile(flags.config, 'utf8') } : {}),
        ...(flags.variant !== undefined ? { variant: flags.variant } : {}),
      });
      process.stdout.write(flags.json ? `${JSON.stringify(result)}\n` : formatSnpVerifyReport(result));
      process.exitCode = result.ok ? 0 : 1;
    });
  return new Command('snp').description('SEV-SNP tools').addCommand(verify.exitOverride());
}

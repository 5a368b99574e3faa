import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import { toJoinServiceError } from '../../shared/errors.js';
import { parseVariant } from '../../shared/variants.js';
import { loadValidatorFactory } from '../../workers/attestation/registry.js';
import { awsSevSnpValidatorFactory } from '../../workers/attestation/snp/variants/aws-sev-snp.js';
import { azureSevSnpValidatorFactory } from '../../workers/attestation/snp/variants/azure-sev-snp.js';
import { gcpSevSnpValidatorFactory } from '../../workers/attestation/snp/variants/gcp-sev-snp.js';
import type { ValidationOutcome, ValidatorFactory } from '../../workers/attestation/validator.js';
import { parseAt } from './snp-verify-report.js';

/** Attestation documents travel in a TLS Certificate message, bounded by the service at 256 KiB by default. */
const MAX_DOCUMENT_BYTES = 16 * 1024 * 1024;

export interface VerifyReport {
  verdict: 'accepted' | 'rejected';
  variant: string;
  /** Every failed check (one line each), empty when accepted. */
  failures: string[];
  warnings: string[];
  error?: { code: string; message: string };
  measurements?: Record<string, string>;
  userDataHex?: string;
}

function hexArg(name: string, value: string): Buffer {
  if (!/^([0-9a-fA-F]{2})*$/.test(value)) throw new Error(`--${name} must be hex`);
  return Buffer.from(value, 'hex');
}

/**
 * Verifies one document the way the service does (same variant plug-in, same
 * config parsing, same nonce/user-data checks), for operators debugging a
 * node that cannot join.
 */
export async function verifyDocument(o: { variant: string; configText: string; nonce: Buffer; userData?: Buffer; document: Uint8Array; nowMs?: number }): Promise<VerifyReport> {
  const variant = parseVariant(o.variant);
  let outcome: ValidationOutcome;
  try {
    const validator = (await validatorFactoryAt(variant, o.nowMs))(o.configText);
    outcome = await validator.validate(o.document, o.nonce);
    if (o.userData && !Buffer.from(outcome.userData).equals(o.userData)) {
      throw new Error(`certificate hash does not match user data: expected ${o.userData.toString('hex')}, document has ${Buffer.from(outcome.userData).toString('hex')}`);
    }
  } catch (err) {
    const e = toJoinServiceError(err);
    // The SEV-SNP policy lists every failed rule (details.failedChecks); other errors name one check per line.
    const listed = e.details?.['failedChecks'];
    const failures = Array.isArray(listed) && listed.length > 0 ? listed.map(String) : e.message.split('\n').filter((l) => l.trim() !== '');
    return { verdict: 'rejected', variant, failures, warnings: [], error: { code: e.code, message: e.message } };
  }
  return {
    verdict: 'accepted',
    variant,
    failures: [],
    warnings: outcome.warnings,
    measurements: outcome.measurements,
    userDataHex: Buffer.from(outcome.userData).toString('hex'),
  };
}

/**
 * The variant's validator factory; with `nowMs` (SEV-SNP variants) the
 * certificate validity is checked at that time instead of now.
 */
async function validatorFactoryAt(variant: ReturnType<typeof parseVariant>, nowMs: number | undefined): Promise<ValidatorFactory> {
  if (nowMs === undefined) return loadValidatorFactory(variant);
  const deps = { now: () => nowMs };
  if (variant === 'azure-sev-snp') return azureSevSnpValidatorFactory(deps);
  if (variant === 'aws-sev-snp') return awsSevSnpValidatorFactory(deps);
  if (variant === 'gcp-sev-snp') return gcpSevSnpValidatorFactory(deps);
  throw new Error(`--at is supported for the SEV-SNP variants, not ${variant}`);
}

export function formatReport(r: VerifyReport): string {
  const lines = [`${r.verdict === 'accepted' ? 'ACCEPTED' : 'REJECTED'} (${r.variant})`];
  for (const f of r.failures) lines.push(`  failed: ${f}`);
  for (const w of r.warnings) lines.push(`  warning: ${w}`);
  if (r.userDataHex) lines.push(`  user data: ${r.userDataHex}`);
  for (const [i, v] of Object.entries(r.measurements ?? {})) lines.push(`  PCR[${i}] = ${v}`);
  return `${lines.join('\n')}\n`;
}

export function verifyCommand(): Command {
  return new Command('verify')
    .description('verify an attestation document exactly as the service would; exit 0 if accepted, 1 if rejected')
    .requiredOption('--variant <variant>', 'attestation variant, e.g. qemu-vtpm')
    .requiredOption('--config <file>', 'attestation config JSON (as in /var/config/attestationConfig)')
    .requiredOption('--nonce <hex>', 'the server nonce the document must be bound to')
    .option('--user-data <hex>', 'expected user data (SHA-256 of the node certificate\'s public key)')
    .option('--json', 'machine-readable output')
    .option('--at <time>', 'SEV-SNP variants: check certificate validity at this RFC 3339 time instead of now', parseAt)
    .argument('<document>', 'the attestation document (the certificate extension\'s raw bytes)')
    .action(async (docPath: string, flags: { variant: string; config: string; nonce: string; userData?: string; json?: boolean; at?: number }) => {
      const document = await readBounded(docPath);
      const report = await verifyDocument({
        variant: flags.variant,
        configText: await readFile(flags.config, 'utf8'),
        nonce: hexArg('nonce', flags.nonce),
        ...(flags.userData !== undefined ? { userData: hexArg('user-data', flags.userData) } : {}),
        document,
        ...(flags.at !== undefined ? { nowMs: flags.at } : {}),
      });
      process.stdout.write(flags.json ? `${JSON.stringify(report)}\n` : formatReport(report));
      process.exitCode = report.verdict === 'accepted' ? 0 : 1;
    });
}

export async function readBounded(file: string): Promise<Buffer> {
  const b = await readFile(file);
  if (b.length > MAX_DOCUMENT_BYTES) throw new Error(`${file} is larger than ${MAX_DOCUMENT_BYTES} bytes`);
  return b;
}

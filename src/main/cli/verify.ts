import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import { toJoinServiceError } from '../../shared/errors.js';
import { parseVariant } from '../../shared/variants.js';
import { loadValidatorFactory } from '../../workers/attestation/registry.js';
import type { ValidationOutcome } from '../../workers/attestation/validator.js';

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
export async function verifyDocument(o: { variant: string; configText: string; nonce: Buffer; userData?: Buffer; document: Uint8Array }): Promise<VerifyReport> {
  const variant = parseVariant(o.variant);
  let outcome: ValidationOutcome;
  try {
    const validator = (await loadValidatorFactory(variant))(o.configText);
    outcome = await validator.validate(o.document, o.nonce);
    if (o.userData && !Buffer.from(outcome.userData).equals(o.userData)) {
      throw new Error(`certificate hash does not match user data: expected ${o.userData.toString('hex')}, document has ${Buffer.from(outcome.userData).toString('hex')}`);
    }
  } catch (err) {
    const e = toJoinServiceError(err);
    const failures = e.message.split('\n').filter((l) => l.trim() !== '');
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
    .argument('<document>', 'the attestation document (the certificate extension\'s raw bytes)')
    .action(async (docPath: string, flags: { variant: string; config: string; nonce: string; userData?: string; json?: boolean }) => {
      const document = await readBounded(docPath);
      const report = await verifyDocument({
        variant: flags.variant,
        configText: await readFile(flags.config, 'utf8'),
        nonce: hexArg('nonce', flags.nonce),
        ...(flags.userData !== undefined ? { userData: hexArg('user-data', flags.userData) } : {}),
        document,
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

import { createHash, createPrivateKey, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import {
  isSnpVariant,
  loadOrCreateSyntheticAmdPki,
  SoftwareSnpIssuer,
  SYNTHETIC_GCE_INSTANCE,
  syntheticSnpAttestationConfig,
  type SnpVariant,
} from '../../workers/attestation/snp/issuer/index.js';
import { encodeVtpmDocument } from '../../workers/attestation/vtpm/envelope.js';
import { deriveRsaKey, SoftwareTpmIssuer } from '../../workers/attestation/vtpm/issuer/index.js';

/** Where SNP variants keep their synthetic AMD PKI unless --pki-dir says otherwise. */
export const DEFAULT_SYNTHETIC_PKI_DIR = '.state/synthetic-amd-pki';

/** The AK seed of gcp-sev-snp without --ak-seed: one fixed GCE instance, whose AK the GCE API (mock) must return. */
export const DEFAULT_GCE_AK_SEED = `gce:${SYNTHETIC_GCE_INSTANCE.projectId}/${SYNTHETIC_GCE_INSTANCE.zone}/${SYNTHETIC_GCE_INSTANCE.instanceName}`;

const VARIANTS = ['qemu-vtpm', 'azure-sev-snp', 'aws-sev-snp', 'gcp-sev-snp', 'dummy'];

function hex(name: string, value: string | undefined): Buffer {
  if (value === undefined) throw new Error(`--${name} is required`);
  if (!/^([0-9a-fA-F]{2})+$/.test(value)) throw new Error(`--${name} must be non-empty hex`);
  return Buffer.from(value, 'hex');
}

/**
 * The AK derived from `seed` (deriving RSA-2048 takes ~1.5 s), kept as
 * `ak-<SHA-256(seed)[0:8] hex>.key` in `cacheDir` when one is given, so
 * repeated runs present the same AK quickly (a GCE instance's AK is fixed).
 */
function seededAk(seed: string, cacheDir: string | undefined): KeyObject {
  if (cacheDir === undefined) return deriveRsaKey(Buffer.from(seed, 'utf8'));
  const file = join(cacheDir, `ak-${createHash('sha256').update(seed).digest('hex').slice(0, 16)}.key`);
  if (existsSync(file)) return createPrivateKey(readFileSync(file));
  const key = deriveRsaKey(Buffer.from(seed, 'utf8'));
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, key.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  renameSync(tmp, file); // same content from every racing writer
  return key;
}

interface IssueFlags {
  variant: string;
  nonce?: string;
  userData?: string;
  pkiDir: string;
  akSeed?: string;
  printConfig?: boolean;
  printAk?: boolean;
}

/**
 * A simulated node's attestation issuer for the embedded default and tests:
 * prints the document a node of the variant would embed in its aTLS
 * certificate for the given nonce and user data. It proves nothing about
 * this machine.
 * - qemu-vtpm: the software TPM (fresh RSA attestation key, the default
 *   measured boot, which the dev attestation config accepts).
 * - azure-sev-snp, aws-sev-snp, gcp-sev-snp: the software TPM plus an SNP
 *   report signed by the synthetic AMD PKI in --pki-dir (created on first
 *   use; every run uses the same chain). Only a config that trusts that
 *   PKI's ARK accepts the documents: `--print-config` prints one.
 *   gcp-sev-snp's AK is fixed (seeded) because the validator fetches it from
 *   the GCE API; `--print-ak` prints it as the API's `signingKey.ekPub`.
 */
export function issueCommand(): Command {
  return new Command('issue')
    .description('print the attestation document a simulated node would send (dev and test tool; no security)')
    .option('--variant <variant>', VARIANTS.join(', '), 'qemu-vtpm')
    .option('--nonce <hex>', "the server's nonce (required unless printing a config or AK)")
    .option('--user-data <hex>', "SHA-256 of the node certificate's public key (required unless printing a config or AK)")
    .option('--pki-dir <dir>', 'SEV-SNP variants: the synthetic AMD PKI directory (keys and certificates, created on first use)', DEFAULT_SYNTHETIC_PKI_DIR)
    .option('--ak-seed <seed>', `derive the TPM attestation key from this seed (default: fresh key; gcp-sev-snp: ${JSON.stringify(DEFAULT_GCE_AK_SEED)})`)
    .option('--print-config', 'SEV-SNP variants: print an attestation config that accepts these documents (trusts the PKI) instead of a document')
    .option('--print-ak', "print the attestation key's public key (PEM) instead of a document")
    .action((flags: IssueFlags) => {
      const variant = flags.variant;
      if (!VARIANTS.includes(variant)) throw new Error(`joinservice issue supports ${VARIANTS.join(', ')}, not ${JSON.stringify(variant)}`);
      if (variant === 'dummy') {
        const nonce = hex('nonce', flags.nonce);
        const userData = hex('user-data', flags.userData);
        process.stdout.write(Buffer.from(JSON.stringify({ UserData: userData.toString('base64'), Nonce: nonce.toString('base64') })));
        return;
      }
      const snp = isSnpVariant(variant);
      const pki = snp ? loadOrCreateSyntheticAmdPki(flags.pkiDir) : undefined;
      if (flags.printConfig) {
        if (!snp) throw new Error('--print-config is for the SEV-SNP variants (qemu-vtpm: joinservice dev writes its config)');
        process.stdout.write(syntheticSnpAttestationConfig(variant as SnpVariant, pki) + '\n');
        return;
      }
      const seed = flags.akSeed ?? (variant === 'gcp-sev-snp' ? DEFAULT_GCE_AK_SEED : undefined);
      const akPrivateKey = seed === undefined ? undefined : seededAk(seed, snp ? flags.pkiDir : undefined);
      const tpm = new SoftwareTpmIssuer({ akType: 'rsa', akPrivateKey });
      if (flags.printAk) {
        process.stdout.write(tpm.akPublicKey().export({ type: 'spki', format: 'pem' }));
        return;
      }
      const nonce = hex('nonce', flags.nonce);
      const userData = hex('user-data', flags.userData);
      const doc = snp
        ? new SoftwareSnpIssuer({ variant: variant as SnpVariant, pki, tpm }).issue(userData, nonce)
        : encodeVtpmDocument(tpm.issue(userData, nonce));
      process.stdout.write(doc);
    });
}

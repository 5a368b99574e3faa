import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import type { VariantName } from '../../shared/variants.js';
import {
  isSnpVariant,
  loadOrCreateSyntheticAmdPki,
  syntheticSnpAttestationConfig,
  syntheticSnpCertCache,
} from '../../workers/attestation/snp/issuer/index.js';
import { defaultDevAttestationConfig } from '../../workers/attestation/vtpm/issuer/index.js';

export interface DevState {
  dir: string;
  masterSecretPath: string;
  masterSaltPath: string;
  measurementSaltPath: string;
  attestationConfigPath: string;
  masterSecret: Buffer;
  masterSalt: Buffer;
  /** SEV-SNP variants only: the synthetic AMD PKI the simulated nodes (`joinservice issue --pki-dir`) sign with. */
  snp?: DevSnpState;
}

export interface DevSnpState {
  /** The synthetic AMD PKI directory (default `<state-dir>/amd-pki`). */
  pkiDir: string;
  /** Data of the `kube-system/sev-snp-cert-cache` ConfigMap to seed (null for gcp-sev-snp, which has no cache). */
  certCache: { ask: string; ark: string } | null;
}

export interface DevStateOptions {
  /** Use this attestation config instead of the generated one. */
  attestationConfig?: string;
  /** SEV-SNP variants: the synthetic AMD PKI directory (created when missing); default `<state-dir>/amd-pki`. */
  snpPkiDir?: string;
}

/** The attestation config `constellation` writes for a variant without measurements to enforce. */
function defaultAttestationConfig(variant: VariantName): string {
  if (variant === 'dummy') return '{}\n';
  // Matches the measured boot of the simulated node (`joinservice issue`): PCRs 4, 8, 9, 11, 12, 13, 15 enforced.
  if (variant === 'qemu-vtpm') return `${defaultDevAttestationConfig()}\n`;
  // SEV-SNP variants: generated from the synthetic AMD PKI (see ensureDevState).
  throw new Error(`the dev mode has no default attestation config for ${variant}; pass --attestation-config FILE`);
}

async function readOrCreate(file: string, make: () => Buffer | string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const content = make();
  // 'wx': never overwrite a secret another process created meanwhile.
  await writeFile(file, content, { mode: 0o600, flag: 'wx' }).catch(async (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
  return readFile(file);
}

/**
 * The embedded default's state: a random master secret and salts created on
 * first start and reused afterwards (same disk UUID → same key across
 * restarts), plus a dev attestation config for the variant.
 */
/**
 * The dev config of an SEV-SNP variant: syntheticSnpAttestationConfig of the
 * PKI (trusts its ARK, minimum TCB = the PKI's). Kept when it exists and
 * still trusts the PKI's ARK (edits survive restarts); rewritten atomically
 * when missing or when the PKI directory was re-created with other keys.
 */
async function ensureSnpConfig(file: string, variant: Parameters<typeof syntheticSnpAttestationConfig>[0], pki: ReturnType<typeof loadOrCreateSyntheticAmdPki>): Promise<void> {
  try {
    const current = JSON.parse(await readFile(file, 'utf8')) as { amdRootKey?: unknown };
    if (typeof current.amdRootKey === 'string' && current.amdRootKey.trim() === pki.ark.pem.trim()) return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' && !(err instanceof SyntaxError)) throw err;
  }
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${syntheticSnpAttestationConfig(variant, pki)}\n`, { mode: 0o600 });
  await rename(tmp, file);
}

export async function ensureDevState(dir: string, variant: VariantName, options: DevStateOptions | string = {}): Promise<DevState> {
  const o: DevStateOptions = typeof options === 'string' ? { attestationConfig: options } : options;
  const attestationConfig = o.attestationConfig;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const p = (name: string) => path.resolve(dir, name);
  const masterSecret = await readOrCreate(p('masterSecret'), () => randomBytes(32));
  const masterSalt = await readOrCreate(p('masterSalt'), () => randomBytes(32));
  await readOrCreate(p('measurementSalt'), () => randomBytes(32));
  let attestationConfigPath: string;
  let snp: DevSnpState | undefined;
  if (isSnpVariant(variant) && (!attestationConfig || o.snpPkiDir !== undefined)) {
    // With --attestation-config the PKI is made only when its directory is named (dev always names it): its chain seeds the certificate cache ConfigMap.
    const pkiDir = path.resolve(o.snpPkiDir ?? p('amd-pki'));
    const pki = loadOrCreateSyntheticAmdPki(pkiDir);
    snp = { pkiDir, certCache: syntheticSnpCertCache(variant, pki) };
    if (!attestationConfig) {
      attestationConfigPath = p(`attestationConfig.${variant}.json`);
      await ensureSnpConfig(attestationConfigPath, variant, pki);
    } else {
      attestationConfigPath = path.resolve(attestationConfig);
    }
  } else if (attestationConfig) {
    attestationConfigPath = path.resolve(attestationConfig);
  } else {
    attestationConfigPath = p(`attestationConfig.${variant}.json`);
    await readOrCreate(attestationConfigPath, () => defaultAttestationConfig(variant));
  }
  return {
    dir: path.resolve(dir),
    masterSecretPath: p('masterSecret'),
    masterSaltPath: p('masterSalt'),
    measurementSaltPath: p('measurementSalt'),
    attestationConfigPath,
    masterSecret,
    masterSalt,
    ...(snp ? { snp } : {}),
  };
}

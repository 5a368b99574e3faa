import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import type { VariantName } from '../../shared/variants.js';
import { defaultDevAttestationConfig } from '../../workers/attestation/vtpm/issuer/index.js';

export interface DevState {
  dir: string;
  masterSecretPath: string;
  masterSaltPath: string;
  measurementSaltPath: string;
  attestationConfigPath: string;
  masterSecret: Buffer;
  masterSalt: Buffer;
}

/** The attestation config `constellation` writes for a variant without measurements to enforce. */
function defaultAttestationConfig(variant: VariantName): string {
  if (variant === 'dummy') return '{}\n';
  // Matches the measured boot of the simulated node (`joinservice issue`): PCRs 4, 8, 9, 11, 12, 13, 15 enforced.
  if (variant === 'qemu-vtpm') return `${defaultDevAttestationConfig()}\n`;
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
export async function ensureDevState(dir: string, variant: VariantName, attestationConfig?: string): Promise<DevState> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const p = (name: string) => path.resolve(dir, name);
  const masterSecret = await readOrCreate(p('masterSecret'), () => randomBytes(32));
  const masterSalt = await readOrCreate(p('masterSalt'), () => randomBytes(32));
  await readOrCreate(p('measurementSalt'), () => randomBytes(32));
  let attestationConfigPath: string;
  if (attestationConfig) {
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
  };
}

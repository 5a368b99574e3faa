import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ErrorCode, JoinServiceError, toJoinServiceError } from '../../shared/errors.js';
import type { VariantName } from '../../shared/variants.js';
import type { AttestationConfigRef } from '../../shared/worker-protocol.js';
import { loadValidatorFactory } from '../../workers/attestation/registry.js';
import { validateAttestationConfig } from './validate-attestation-config.js';

/** Attestation configs are small JSON files (a few KiB with embedded root certificates). */
export const MAX_ATTESTATION_CONFIG_BYTES = 1024 * 1024;

/** Reload counters (config-and-operations.md §3), e.g. for `RunningJoinService.stats()`. */
export interface ConfigReloadStats {
  /** The generation in force (1 = the config read at start-up). */
  generation: number;
  /** Reloads that produced a new generation. */
  reloads: number;
  /** Reload attempts that kept the previous generation (unreadable or invalid file). */
  reloadFailures: number;
}

/** The result of one `reload()`. */
export type ReloadOutcome =
  | { kind: 'reloaded'; generation: number; previousGeneration: number; sha256: string }
  /** Same content as the generation in force, or as the last failed attempt (then it is not counted again). */
  | { kind: 'unchanged'; generation: number }
  | { kind: 'failed'; generation: number; error: JoinServiceError; sha256?: string };

export interface AttestationConfigSourceOptions {
  /**
   * The configured variant: every text (start-up and reloads) must also build
   * this variant's validator before it is accepted, like Go's `Update`.
   * Without it only the generic checks run.
   */
  variant?: VariantName;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * The attestation config in force. Workers receive its text with every task
 * and cache their parsed validator per generation, so a reload only swaps
 * `ref` (one reference assignment) after the new text passed every check; a
 * verification reads `current()` once and therefore sees exactly one
 * generation. A failed reload keeps the previous generation.
 */
export class AttestationConfigSource {
  private ref: AttestationConfigRef;
  private refHash: string;
  private lastFailedKey: string | undefined;
  private reloads = 0;
  private reloadFailures = 0;
  /** Reloads run one at a time, in call order. */
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly path: string,
    private readonly variant: VariantName | undefined,
    text: string,
  ) {
    this.ref = { generation: 1, text };
    this.refHash = sha256Hex(text);
  }

  /** Reads and checks the config; throws JoinServiceError(ConfigInvalid) with the reason when it is missing or invalid. */
  static async load(path: string, opts: AttestationConfigSourceOptions = {}): Promise<AttestationConfigSource> {
    const text = await readConfigFile(path);
    await checkConfig(path, text, opts.variant);
    return new AttestationConfigSource(path, opts.variant, text);
  }

  current(): AttestationConfigRef {
    return this.ref;
  }

  /** SHA-256 (hex) of the text in force. */
  currentSha256(): string {
    return this.refHash;
  }

  stats(): ConfigReloadStats {
    return { generation: this.ref.generation, reloads: this.reloads, reloadFailures: this.reloadFailures };
  }

  /** Re-reads the file (through symlinks) and swaps to a new generation only if the content changed and is valid. */
  reload(): Promise<ReloadOutcome> {
    const run = this.chain.then(() => this.reloadNow());
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async reloadNow(): Promise<ReloadOutcome> {
    const generation = this.ref.generation;
    let text: string | undefined;
    let hash: string | undefined;
    try {
      text = await readConfigFile(this.path);
      hash = sha256Hex(text);
      if (hash === this.refHash) {
        this.lastFailedKey = undefined;
        return { kind: 'unchanged', generation };
      }
      if (`content:${hash}` === this.lastFailedKey) return { kind: 'unchanged', generation };
      await checkConfig(this.path, text, this.variant);
    } catch (err) {
      const error = toJoinServiceError(err, ErrorCode.ConfigInvalid);
      const key = hash !== undefined ? `content:${hash}` : `error:${error.message}`;
      if (key === this.lastFailedKey) return { kind: 'unchanged', generation };
      this.lastFailedKey = key;
      this.reloadFailures++;
      return { kind: 'failed', generation, error, ...(hash !== undefined ? { sha256: hash } : {}) };
    }
    this.lastFailedKey = undefined;
    this.reloads++;
    this.refHash = hash;
    this.ref = { generation: generation + 1, text };
    return { kind: 'reloaded', generation: generation + 1, previousGeneration: generation, sha256: hash };
  }
}

async function readConfigFile(path: string): Promise<string> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    throw new JoinServiceError(ErrorCode.ConfigInvalid, `reading attestation config ${path}: ${(err as Error).message}`);
  }
  if (buf.length > MAX_ATTESTATION_CONFIG_BYTES) {
    throw new JoinServiceError(ErrorCode.ConfigInvalid, `attestation config ${path} is ${buf.length} bytes, limit ${MAX_ATTESTATION_CONFIG_BYTES}`);
  }
  return buf.toString('utf8');
}

/** The generic checks: JSON object. */
function checkConfigText(path: string, text: string): void {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new JoinServiceError(ErrorCode.ConfigInvalid, `attestation config ${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new JoinServiceError(ErrorCode.ConfigInvalid, `attestation config ${path} must be a JSON object`);
  }
}

/**
 * All checks a text must pass to become a generation: the variant's schema
 * validator (or, without a variant, the generic JSON-object check), then a
 * trial build of the variant's validator.
 */
async function checkConfig(path: string, text: string, variant: VariantName | undefined): Promise<void> {
  if (variant === undefined) {
    checkConfigText(path, text);
    return;
  }
  try {
    validateAttestationConfig(variant, text);
  } catch (err) {
    const e = toJoinServiceError(err, ErrorCode.ConfigInvalid);
    throw new JoinServiceError(e.code, `attestation config ${path}: ${e.message}`, e.details);
  }
  await checkConfigForVariant(path, text, variant);
}

/** Builds the variant's validator from `text` once (Go's `Update` step 5), so a config the workers could not use is never swapped in. */
async function checkConfigForVariant(path: string, text: string, variant: VariantName | undefined): Promise<void> {
  if (variant === undefined) return;
  const factory = await loadValidatorFactory(variant);
  try {
    factory(text);
  } catch (err) {
    const e = toJoinServiceError(err, ErrorCode.ConfigInvalid);
    throw new JoinServiceError(ErrorCode.ConfigInvalid, `attestation config ${path} is invalid for ${variant}: ${e.message}`, { validatorCode: e.code });
  }
}

export async function readConfigText(path: string): Promise<string> {
  const text = await readConfigFile(path);
  checkConfigText(path, text);
  return text;
}

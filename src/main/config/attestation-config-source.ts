import { readFile } from 'node:fs/promises';
import { ErrorCode, JoinServiceError } from '../../shared/errors.js';
import type { AttestationConfigRef } from '../../shared/worker-protocol.js';

/** Attestation configs are small JSON files (a few KiB with embedded root certificates). */
export const MAX_ATTESTATION_CONFIG_BYTES = 1024 * 1024;

/**
 * The attestation config in force. Workers receive its text with every task
 * and cache their parsed validator per generation, so a later reload only has
 * to swap `current` (schema validation and hot reload build on this seam).
 */
export class AttestationConfigSource {
  private ref: AttestationConfigRef;

  private constructor(
    readonly path: string,
    text: string,
  ) {
    this.ref = { generation: 1, text };
  }

  static async load(path: string): Promise<AttestationConfigSource> {
    return new AttestationConfigSource(path, await readConfigText(path));
  }

  current(): AttestationConfigRef {
    return this.ref;
  }
}

export async function readConfigText(path: string): Promise<string> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    throw new JoinServiceError(ErrorCode.ConfigInvalid, `reading attestation config ${path}: ${(err as Error).message}`);
  }
  if (buf.length > MAX_ATTESTATION_CONFIG_BYTES) {
    throw new JoinServiceError(ErrorCode.ConfigInvalid, `attestation config ${path} is ${buf.length} bytes, limit ${MAX_ATTESTATION_CONFIG_BYTES}`);
  }
  const text = buf.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new JoinServiceError(ErrorCode.ConfigInvalid, `attestation config ${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new JoinServiceError(ErrorCode.ConfigInvalid, `attestation config ${path} must be a JSON object`);
  }
  return text;
}

/**
 * Read-only access to the shared test vectors. `test/vectors/` is a verbatim,
 * committed copy of the workspace's `../shared/vectors` (so a clean clone
 * anywhere has them; test/unit/vectors-copy.test.ts fails if the copy ever
 * differs from the original when that is present). Override with
 * JOINSERVICE_VECTORS_DIR. Missing vectors are a test failure, never a skip:
 * every reader throws with the path it looked for.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from './repo-root.js';

/** The original shared vectors next to the checkout, when this workspace has them. */
export function sharedVectorsDir(): string | undefined {
  const dir = path.resolve(repoRoot(), '..', 'shared', 'vectors');
  return existsSync(dir) ? dir : undefined;
}

/** Constellation's attestation test data, by its upstream repository path. */
export const CONSTELLATION_ATTESTATION = 'constellation/internal/attestation';

/** The vectors directory; throws when it does not exist. */
export function vectorsDir(): string {
  const dir = process.env.JOINSERVICE_VECTORS_DIR ?? path.join(repoRoot(), 'test', 'vectors');
  if (!existsSync(dir)) throw new Error(`test vectors not found at ${dir} (the committed copy of ../shared/vectors, or set JOINSERVICE_VECTORS_DIR)`);
  return dir;
}

/** The absolute path of a vector file (relative to the vectors directory); throws when missing. */
export function vectorPath(rel: string): string {
  const p = path.join(vectorsDir(), rel);
  if (!existsSync(p)) throw new Error(`test vector missing: ${p}`);
  return p;
}

/**
 * A vector file's bytes. With `sha256` (lower-case hex, as listed in the
 * vectors' README) the content is checked first.
 */
export function readVector(rel: string, sha256?: string): Buffer {
  const bytes = readFileSync(vectorPath(rel));
  if (sha256 !== undefined) {
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== sha256) throw new Error(`test vector ${rel} has SHA-256 ${actual}, expected ${sha256}`);
  }
  return bytes;
}

export function readVectorText(rel: string, sha256?: string): string {
  return readVector(rel, sha256).toString('utf8');
}

/** A hex text file (one value, surrounding whitespace allowed); strict hex. */
export function readVectorHex(rel: string, sha256?: string): Buffer {
  const text = readVectorText(rel, sha256).trim();
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(text)) throw new Error(`test vector ${rel} is not hex`);
  return Buffer.from(text, 'hex');
}

/** A standard-base64 text file (one value, surrounding whitespace allowed); strict base64. */
export function readVectorBase64(rel: string, sha256?: string): Buffer {
  const text = readVectorText(rel, sha256).trim();
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)) throw new Error(`test vector ${rel} is not padded standard base64`);
  return Buffer.from(text, 'base64');
}

import * as path from 'node:path';
import { goFileError } from '../../shared/go-file-error.js';
import { CachedFiles, FileReadError } from './cached-file.js';

/** join-protocol.md §4 Step 11: names relative to the PKI directory, in the spec's order. */
export const CONTROL_PLANE_FILES = [
  'ca.key',
  'sa.key',
  'front-proxy-ca.key',
  'etcd/ca.key',
  'ca.crt',
  'sa.pub',
  'front-proxy-ca.crt',
  'etcd/ca.crt',
] as const;

const MAX_PKI_FILE_BYTES = 1024 * 1024;

/**
 * Checked per control-plane join like Go re-reads them (one stat per file),
 * read only when a file changed (cached-file.ts). The bytes are copied for
 * every caller, so nobody can change the cached ones.
 */
const files = new CachedFiles<Buffer>((data) => data, { maxBytes: MAX_PKI_FILE_BYTES, maxFiles: 4 * CONTROL_PLANE_FILES.length });

export interface ControlPlaneFile {
  name: string;
  data: Buffer;
}

/**
 * Reads the control-plane certificates and keys for a control-plane join. The
 * first unreadable file fails with Go's file error text. (Go returns them in
 * random map order; clients must not rely on order, we use the spec's.)
 */
export async function loadControlPlaneFiles(pkiDir: string): Promise<ControlPlaneFile[]> {
  const reads = await Promise.allSettled(
    CONTROL_PLANE_FILES.map(async (name) => {
      const file = path.join(pkiDir, name);
      try {
        return { name, data: Buffer.from(await files.get(file)) };
      } catch (err) {
        throw new Error(goFileError(err instanceof FileReadError ? err.cause : err, file));
      }
    }),
  );
  // Read concurrently, but report the first failure in the spec's order.
  const failed = reads.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  return reads.map((r) => (r as PromiseFulfilledResult<ControlPlaneFile>).value);
}

import { createHash } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { decodeAllPem } from '../../shared/pem.js';
import { parseCertificate } from '../../workers/certificate/parse-certificate.js';
import { goFileError } from '../../shared/go-file-error.js';
import { CachedFiles, FileReadError } from './cached-file.js';

/** Kubeconfigs are a few KiB; a bound keeps a corrupted file from costing much. */
const MAX_KUBECONFIG_BYTES = 1024 * 1024;

interface NamedCluster {
  name?: unknown;
  cluster?: { 'certificate-authority-data'?: unknown };
}
interface NamedContext {
  name?: unknown;
  context?: { cluster?: unknown };
}

/** Read per join like Go (a changed file takes effect at once), parsed once per file version (cached-file.ts). */
const files = new CachedFiles<readonly string[]>((raw) => Object.freeze(hashesOf(raw.toString('utf8'))), { maxBytes: MAX_KUBECONFIG_BYTES });

/**
 * kubeadm's discovery-token-ca-cert-hash values for the cluster CA in the
 * admin kubeconfig (join-protocol.md §4 Step 7.4): `sha256:<hex>` of each CA
 * certificate's raw SubjectPublicKeyInfo. Checked per request like Go (one
 * stat); read and parsed once per file version. The array is frozen.
 */
export async function discoveryTokenCaCertHashes(adminConfPath: string): Promise<readonly string[]> {
  try {
    return await files.get(adminConfPath);
  } catch (err) {
    if (!(err instanceof FileReadError)) throw err;
    if (err.tooLarge) throw new Error(`loading kubeconfig file: ${(err.cause as Error).message}`);
    throw new Error(`loading kubeconfig file: ${goFileError(err.cause, adminConfPath)}`);
  }
}

function hashesOf(text: string): string[] {
  let doc: Record<string, unknown>;
  try {
    doc = (parseYaml(text) ?? {}) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`loading kubeconfig file: ${(err as Error).message}`);
  }
  const clusters = Array.isArray(doc['clusters']) ? (doc['clusters'] as NamedCluster[]) : [];
  const contexts = Array.isArray(doc['contexts']) ? (doc['contexts'] as NamedContext[]) : [];
  let cluster = clusters.find((c) => c?.name === '');
  if (!cluster) {
    const current = doc['current-context'];
    const ctx = contexts.find((c) => c?.name === current && typeof current === 'string');
    const clusterName = ctx?.context?.cluster;
    cluster = clusters.find((c) => typeof clusterName === 'string' && c?.name === clusterName);
  }
  if (!cluster) throw new Error("couldn't get cluster config from kubeconfig file");
  const caData = cluster.cluster?.['certificate-authority-data'];
  const pemText = typeof caData === 'string' ? Buffer.from(caData, 'base64').toString('latin1') : '';
  const certs = decodeAllPem(pemText).filter((b) => b.type === 'CERTIFICATE' && Object.keys(b.headers).length === 0);
  const hashes = certs.map((b) => {
    let spki: Uint8Array;
    try {
      spki = parseCertificate(b.bytes).publicKey.raw;
    } catch (err) {
      throw new Error(`parsing CA certs: ${(err as Error).message}`);
    }
    return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
  });
  if (hashes.length === 0) throw new Error('parsing CA certs: data does not contain any valid RSA or ECDSA certificates');
  return hashes;
}

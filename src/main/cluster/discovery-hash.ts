import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { decodeAllPem } from '../../shared/pem.js';
import { parseCertificate } from '../../workers/certificate/parse-certificate.js';
import { goFileError } from '../../shared/go-file-error.js';

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

const cache = new Map<string, string[]>();

/**
 * kubeadm's discovery-token-ca-cert-hash values for the cluster CA in the
 * admin kubeconfig (join-protocol.md §4 Step 7.4): `sha256:<hex>` of each CA
 * certificate's raw SubjectPublicKeyInfo. Read per request like Go; parsed
 * once per file content.
 */
export async function discoveryTokenCaCertHashes(adminConfPath: string): Promise<string[]> {
  let raw: Buffer;
  try {
    raw = await readFile(adminConfPath);
  } catch (err) {
    throw new Error(`loading kubeconfig file: ${goFileError(err, adminConfPath)}`);
  }
  if (raw.length > MAX_KUBECONFIG_BYTES) throw new Error(`loading kubeconfig file: ${adminConfPath} is larger than ${MAX_KUBECONFIG_BYTES} bytes`);
  const key = createHash('sha256').update(raw).digest('hex');
  const cached = cache.get(key);
  if (cached) return cached;
  const hashes = hashesOf(raw.toString('utf8'));
  if (cache.size > 16) cache.clear();
  cache.set(key, hashes);
  return hashes;
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

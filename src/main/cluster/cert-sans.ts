import { readFile } from 'node:fs/promises';
import { isMap, isSeq, isScalar, parseDocument } from 'yaml';
import type { Logger } from '../log/logger.js';
import { goFileError } from '../../shared/go-file-error.js';

const MAX_CLUSTER_CONFIGURATION_BYTES = 1024 * 1024;

/**
 * IssueJoinTicket Step 4: the request's principals followed by the
 * `apiServer.certSANs` of the kubeadm ClusterConfiguration file. Never fails:
 * problems are logged and the request's principals are returned unchanged.
 * Bug-compatible with Go: a certSANs entry that is not a YAML string is logged
 * and replaced by "" (join-protocol.md §4 Step 4).
 */
export async function extendPrincipals(requested: readonly string[], clusterConfigurationPath: string, log: Logger): Promise<string[]> {
  let text: string;
  try {
    const raw = await readFile(clusterConfigurationPath);
    if (raw.length > MAX_CLUSTER_CONFIGURATION_BYTES) throw new Error(`${clusterConfigurationPath} is larger than ${MAX_CLUSTER_CONFIGURATION_BYTES} bytes`);
    text = raw.toString('utf8');
  } catch (err) {
    log.error('Failed to read kubeadm ClusterConfiguration', { error: goFileError(err, clusterConfigurationPath) });
    return [...requested];
  }
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    log.error('Failed to parse kubeadm ClusterConfiguration', { error: doc.errors[0]!.message });
    return [...requested];
  }
  const apiServer = isMap(doc.contents) ? doc.contents.get('apiServer', true) : undefined;
  if (!isMap(apiServer)) {
    log.error('kubeadm ClusterConfiguration has no apiServer mapping');
    return [...requested];
  }
  const sans = apiServer.get('certSANs', true);
  if (!isSeq(sans)) {
    log.error('kubeadm ClusterConfiguration has no apiServer.certSANs sequence');
    return [...requested];
  }
  const out = [...requested];
  for (const item of sans.items) {
    if (isScalar(item) && typeof item.value === 'string') {
      out.push(item.value);
    } else {
      log.error('certSANs entry is not a string', { entry: String(isScalar(item) ? item.value : item) });
      out.push('');
    }
  }
  return out;
}

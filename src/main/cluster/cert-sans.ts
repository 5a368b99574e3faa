import { isMap, isSeq, isScalar, parseDocument } from 'yaml';
import type { Logger } from '../log/logger.js';
import { goFileError } from '../../shared/go-file-error.js';
import { CachedFiles, FileReadError } from './cached-file.js';

const MAX_CLUSTER_CONFIGURATION_BYTES = 1024 * 1024;

/** What a ClusterConfiguration's content means for Step 4; frozen, shared by every join. */
type CertSans =
  | { readonly ok: true; readonly sans: readonly string[]; readonly badEntries: readonly string[] }
  | { readonly ok: false; readonly problem: string };

/** A YAML syntax error: not cached, logged on every join like before. */
class YamlError extends Error {}

/** Read per join like Go (a changed file takes effect at once), parsed once per file version (cached-file.ts). */
const files = new CachedFiles<CertSans>(certSansOf, { maxBytes: MAX_CLUSTER_CONFIGURATION_BYTES });

/**
 * IssueJoinTicket Step 4: the request's principals followed by the
 * `apiServer.certSANs` of the kubeadm ClusterConfiguration file. Never fails:
 * problems are logged and the request's principals are returned unchanged.
 * Bug-compatible with Go: a certSANs entry that is not a YAML string is logged
 * and replaced by "" (join-protocol.md §4 Step 4).
 */
export async function extendPrincipals(requested: readonly string[], clusterConfigurationPath: string, log: Logger): Promise<string[]> {
  let parsed: CertSans;
  try {
    parsed = await files.get(clusterConfigurationPath);
  } catch (err) {
    if (err instanceof YamlError) {
      log.error('Failed to parse kubeadm ClusterConfiguration', { error: err.message });
    } else {
      const cause = err instanceof FileReadError ? err.cause : err;
      log.error('Failed to read kubeadm ClusterConfiguration', { error: goFileError(cause, clusterConfigurationPath) });
    }
    return [...requested];
  }
  if (!parsed.ok) {
    log.error(parsed.problem);
    return [...requested];
  }
  for (const entry of parsed.badEntries) log.error('certSANs entry is not a string', { entry });
  return [...requested, ...parsed.sans];
}

function certSansOf(raw: Buffer): CertSans {
  const doc = parseDocument(raw.toString('utf8'));
  if (doc.errors.length > 0) throw new YamlError(doc.errors[0]!.message);
  const apiServer = isMap(doc.contents) ? doc.contents.get('apiServer', true) : undefined;
  if (!isMap(apiServer)) return Object.freeze({ ok: false, problem: 'kubeadm ClusterConfiguration has no apiServer mapping' });
  const items = apiServer.get('certSANs', true);
  if (!isSeq(items)) return Object.freeze({ ok: false, problem: 'kubeadm ClusterConfiguration has no apiServer.certSANs sequence' });
  const sans: string[] = [];
  const badEntries: string[] = [];
  for (const item of items.items) {
    if (isScalar(item) && typeof item.value === 'string') {
      sans.push(item.value);
    } else {
      badEntries.push(String(isScalar(item) ? item.value : item));
      sans.push('');
    }
  }
  return Object.freeze({ ok: true, sans: Object.freeze(sans), badEntries: Object.freeze(badEntries) });
}

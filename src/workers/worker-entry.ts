/**
 * Piscina worker entry: piscina calls the default export with each task and
 * it dispatches on the task kind. Only the certificate checks and the variant
 * registry load at start-up; variant validators and the signing code are
 * imported on first use.
 */
import type { WorkerTask } from '../shared/worker-protocol.js';
import { verifyCertificate } from './verify-certificate.js';

export default async function runTask(task: WorkerTask): Promise<unknown> {
  if (task?.kind === 'issue-kubelet-certificate') {
    return (await import('./signing/issue-kubelet-certificate.js')).issueKubeletCertificate(task);
  }
  // Also answers tasks of unknown kinds or versions, with a typed PoolProtocol error.
  return verifyCertificate(task as never);
}

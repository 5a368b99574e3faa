/**
 * IssueJoinTicket steps 10 and 12 in a worker (join-protocol.md §4): read the
 * cluster CA, parse and check the node's CSR, sign its kubelet client
 * certificate, and name the node (the CSR's CN without `system:node:`).
 *
 * Never throws: failures become `{ ok: false, error }` whose message is Go's
 * error text *without* the `Generating kubelet certificate: ` prefix (the
 * main thread adds it), with ErrorCode.KubeletCsrRejected (the node's CSR) or
 * ErrorCode.KubeletCaUnavailable (ca.crt / ca.key). Malformed tasks get
 * ErrorCode.PoolProtocol; unexpected exceptions ErrorCode.Internal with a
 * message that reveals nothing of the input.
 *
 * Step order as in Go's KubernetesCA.GetCertificate: ca.crt, ca.key, CSR
 * parse, CSR signature, subject checks, certificate.
 */
import { performance } from 'node:perf_hooks';
import { ErrorCode, JoinServiceError, type SerializedError } from '../../shared/errors.js';
import { encodePem } from '../../shared/pem.js';
import { VERIFY_PROTOCOL_VERSION, type IssueKubeletCertificateResult, type IssueKubeletCertificateTask } from '../../shared/worker-protocol.js';
import { loadClusterCa } from './ca-files.js';
import { parseCertificateRequest, type GoName } from './csr.js';
import { checkCsrSignature } from './csr-signature.js';
import { goQuote } from './go-quote.js';
import { createKubeletCertificate } from './kubelet-certificate-template.js';
import { csrError } from './signing-errors.js';

/** kubeadm constants NodesUserPrefix and NodesGroup. */
export const NODES_USER_PREFIX = 'system:node:';
export const NODES_GROUP = 'system:nodes';

const PREFIX_BYTES = Buffer.from(NODES_USER_PREFIX, 'latin1');
const GROUP_BYTES = Buffer.from(NODES_GROUP, 'latin1');

type Step = 'task' | 'ca' | 'csr' | 'certificate';

export async function issueKubeletCertificate(task: IssueKubeletCertificateTask): Promise<IssueKubeletCertificateResult> {
  const t0 = performance.now();
  let step: Step = 'task';
  try {
    checkTask(task);
    step = 'ca';
    const ca = loadClusterCa(task.pkiDir);
    step = 'csr';
    const csr = parseCertificateRequest(task.csr);
    checkCsrSignature(csr.signatureAlgorithm, csr.tbs, csr.signature, csr.publicKey, csr.publicKeyObject);
    const nodeName = checkSubject(csr.subject);
    step = 'certificate';
    const der = createKubeletCertificate({ ca, csr, nowMs: task.nowMs });
    return { v: VERIFY_PROTOCOL_VERSION, ok: true, certificatePem: encodePem('CERTIFICATE', der), nodeName, timings: { totalUs: elapsedUs(t0) } };
  } catch (err) {
    return { v: VERIFY_PROTOCOL_VERSION, ok: false, error: serialize(err, step), timings: { totalUs: elapsedUs(t0) } };
  }
}

/**
 * Step 10.4 (Go's texts), and step 12: the node name is the CN without the
 * prefix (Go's GetNodeNameFromCSR parses the CSR again; its only possible
 * failure, a missing prefix, is already excluded here).
 */
export function checkSubject(subject: GoName): string {
  if (subject.organization.length !== 1) throw csrError('certificate request must have exactly one organization');
  const org = subject.organization[0]!;
  if (!GROUP_BYTES.equals(org)) {
    throw csrError(`certificate request must have organization ${goQuote(NODES_GROUP)} but has ${goQuote(org)}`);
  }
  const cn = subject.commonName;
  if (cn.length < PREFIX_BYTES.length || !PREFIX_BYTES.equals(cn.subarray(0, PREFIX_BYTES.length))) {
    throw csrError(`certificate request must have common name prefix ${goQuote(NODES_USER_PREFIX)} but is ${goQuote(cn)}`);
  }
  // A CN that is not valid UTF-8 cannot get this far: the subject must marshal (kubelet-certificate-template.ts).
  return Buffer.from(cn.subarray(PREFIX_BYTES.length)).toString('utf8');
}

function checkTask(task: IssueKubeletCertificateTask): void {
  const t = task as Partial<Record<keyof IssueKubeletCertificateTask, unknown>> | null;
  const protocolError = (what: string): JoinServiceError => new JoinServiceError(ErrorCode.PoolProtocol, `invalid kubelet certificate task: ${what}`);
  if (typeof t !== 'object' || t === null) throw protocolError('not an object');
  if (t.v !== VERIFY_PROTOCOL_VERSION) {
    throw new JoinServiceError(ErrorCode.PoolProtocol, `kubelet certificate task has protocol version ${String(t.v)}, worker speaks ${VERIFY_PROTOCOL_VERSION}`);
  }
  if (t.kind !== 'issue-kubelet-certificate') throw protocolError(`unknown kind ${JSON.stringify(t.kind)}`);
  if (!(t.csr instanceof Uint8Array)) throw protocolError('csr is not bytes');
  if (typeof t.pkiDir !== 'string' || t.pkiDir.length === 0) throw protocolError('pkiDir is not a non-empty string');
  if (typeof t.nowMs !== 'number' || !Number.isFinite(t.nowMs)) throw protocolError('nowMs is not a finite number');
}

function serialize(err: unknown, step: Step): SerializedError {
  if (err instanceof JoinServiceError) return err.toJSON();
  const name = err instanceof Error ? err.name : typeof err;
  return { code: ErrorCode.Internal, message: `internal error during kubelet certificate ${step === 'task' ? 'task check' : step} step`, details: { errorName: name } };
}

function elapsedUs(t0: number): number {
  return Math.round((performance.now() - t0) * 1000);
}

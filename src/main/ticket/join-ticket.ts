import { create } from '@bufbuild/protobuf';
import * as path from 'node:path';
import { ComponentSchema } from '../../gen/internal/versions/components/components_pb.js';
import {
  control_plane_cert_or_keySchema,
  IssueJoinTicketResponseSchema,
  type IssueJoinTicketRequest,
  type IssueJoinTicketResponse,
} from '../../gen/joinservice/joinproto/join_pb.js';
import { ErrorCode, JoinServiceError } from '../../shared/errors.js';
import { VERIFY_PROTOCOL_VERSION } from '../../shared/worker-protocol.js';
import { extendPrincipals } from '../cluster/cert-sans.js';
import { loadControlPlaneFiles, type ControlPlaneFile } from '../cluster/control-plane-files.js';
import { discoveryTokenCaCertHashes } from '../cluster/discovery-hash.js';
import { k8sCompliantHostname } from '../cluster/node-name.js';
import type { DataKeySource } from '../kms/kms-client.js';
import { createBootstrapToken } from '../kubernetes/bootstrap-token.js';
import type { KubernetesApi } from '../kubernetes/kubernetes-client.js';
import type { WorkerPool } from '../pool/worker-pool.js';
import { signHostCertificate } from '../ssh/host-certificate.js';
import { parseSshPublicKey } from '../ssh/host-public-key.js';
import { sshCaFromSeed } from '../ssh/ssh-ca.js';
import { decodeComponents, type KubernetesComponent } from './components.js';
import {
  MEASUREMENT_SECRET_KEY_ID,
  MEASUREMENT_SECRET_LENGTH,
  SSH_CA_SEED_KEY_ID,
  SSH_CA_SEED_LENGTH,
  STATE_DISK_KEY_LENGTH,
} from './constants.js';
import { buildJoiningNode, JOINING_NODE_FIELD_MANAGER } from './joining-node.js';
import type { TicketContext } from './rejoin-ticket.js';
import { stepFailed } from './ticket-error.js';

const NAMESPACE = 'kube-system';
const NODE_VERSION_NAME = 'constellation-version';
const COMPONENTS_KEY = 'components';

/** Where the cluster's files are (production: config-and-operations.md §1 / join-protocol.md §1). */
export interface ClusterPaths {
  /** /etc/kubernetes/pki: ca.crt, ca.key and the control-plane files. */
  pkiDir: string;
  /** /etc/kubernetes/admin.conf: the cluster CA for the discovery hash. */
  adminConfPath: string;
  /** /var/kubeadm-config/ClusterConfiguration: extra SSH principals. */
  clusterConfigurationPath: string;
}

export interface JoinTicketDeps {
  kms: DataKeySource;
  pool: Pick<WorkerPool, 'run'>;
  kubernetes: KubernetesApi;
  /** `<VPC IP>:6443`, or undefined while the VPC IP is not known yet. */
  apiServerEndpoint: () => string | undefined;
  /** /var/config/measurementSalt, read once at start-up. */
  measurementSalt: Uint8Array;
  paths: ClusterPaths;
  now?: () => Date;
}

/**
 * IssueJoinTicket (join-protocol.md §4). Every step keeps Go's failure text
 * and INTERNAL status. Two deliberate changes of order, neither changing a
 * successful ticket:
 * - the three KMS requests run concurrently (failures are still reported in
 *   step order);
 * - every read-only step (CA hash, components, kubelet certificate, control-plane
 *   files, node name) runs before the first write (the bootstrap-token Secret),
 *   so a bad CSR or a missing file no longer leaves a token behind. Only a
 *   failure of the final JoiningNode write can leave the token Secret, which
 *   expires after 15 minutes (the service account may not delete Secrets).
 */
export async function issueJoinTicket(req: IssueJoinTicketRequest, deps: JoinTicketDeps, ctx: TicketContext): Promise<IssueJoinTicketResponse> {
  const log = ctx.log;
  const now = deps.now ?? (() => new Date());
  const apiServerEndpoint = deps.apiServerEndpoint();
  if (apiServerEndpoint === undefined) {
    throw new JoinServiceError(ErrorCode.VpcIpNotReady, 'join service not ready: the VPC IP of the API server is not known yet');
  }

  // Steps 1–3.
  log.info('Requesting measurement secret');
  log.info('Requesting disk encryption key');
  log.info('Requesting emergency SSH CA derivation key');
  const [secret, diskKey, seed] = await Promise.allSettled([
    deps.kms.getDataKey(MEASUREMENT_SECRET_KEY_ID, MEASUREMENT_SECRET_LENGTH, ctx.deadline),
    deps.kms.getDataKey(req.diskUuid, STATE_DISK_KEY_LENGTH, ctx.deadline),
    deps.kms.getDataKey(SSH_CA_SEED_KEY_ID, SSH_CA_SEED_LENGTH, ctx.deadline),
  ]);
  const measurementSecret = settled(secret, 'getting measurement secret');
  const stateDiskKey = settled(diskKey, 'getting key for stateful disk');
  const caSeed = settled(seed, 'getting emergency SSH CA seed material');
  const sshCa = step('generating ssh emergency CA key', () => sshCaFromSeed(caSeed));

  // Steps 4–6.
  let principals = await extendPrincipals(req.hostCertificatePrincipals, deps.paths.clusterConfigurationPath, log);
  if (principals.length === 0) principals = [ctx.peerAddress];
  const hostKey = step('unmarshalling host public key', () => parseSshPublicKey(req.hostPublicKey));
  const hostCertificate = step('generating and signing SSH host key', () => signHostCertificate({ ca: sshCa, hostKey, principals, now: now() }));

  // Read-only steps, concurrently; failures reported in step order.
  log.info('Querying NodeVersion custom resource for components ConfigMap name');
  log.info('Creating signed kubelet certificate');
  const [caHashes, components, kubelet, controlPlaneFiles] = await Promise.allSettled([
    discoveryTokenCaCertHashes(deps.paths.adminConfPath),
    loadComponents(deps.kubernetes, ctx),
    issueKubeletCertificate(deps.pool, req.certificateRequest, deps.paths.pkiDir, now()),
    req.isControlPlane ? (log.info('Loading control plane certificates and keys'), loadControlPlaneFiles(deps.paths.pkiDir)) : Promise.resolve([]),
  ]);
  const caHash = settled(caHashes, 'generating Kubernetes join arguments')[0]!;
  const { componentsReference, list } = settledComponents(components);
  const { certificatePem, nodeName } = settled(kubelet, 'Generating kubelet certificate');
  const cpFiles = settled(controlPlaneFiles, 'loading control-plane certificates and keys') as ControlPlaneFile[];
  const joiningNodeName = step('adding node to joining nodes', () => k8sCompliantHostname(nodeName));

  // Writes: Step 7 (token Secret), then Step 13 (JoiningNode).
  log.info('Creating Kubernetes join token');
  const token = await stepAsync('generating Kubernetes join arguments', () =>
    createBootstrapToken(deps.kubernetes, { now: now(), log, deadline: ctx.deadline }),
  );
  await stepAsync('adding node to joining nodes', async () => {
    const body = buildJoiningNode({ name: joiningNodeName, componentsReference, isControlPlane: req.isControlPlane, now: now() });
    try {
      if (req.isControlPlane) await deps.kubernetes.createJoiningNode(body, ctx.deadline);
      else await deps.kubernetes.applyJoiningNode(body.metadata.name, body, JOINING_NODE_FIELD_MANAGER, ctx.deadline);
    } catch (err) {
      const what = req.isControlPlane ? 'failed to create joining control-plane node, maybe another node is already joining' : 'failed to create joining node';
      throw new Error(`${what}: ${(err as Error).message}`, { cause: err });
    }
  });

  return create(IssueJoinTicketResponseSchema, {
    stateDiskKey,
    measurementSalt: deps.measurementSalt,
    measurementSecret,
    kubeletCert: Buffer.from(certificatePem, 'latin1'),
    apiServerEndpoint,
    token: token.token,
    discoveryTokenCaCertHash: caHash,
    controlPlaneFiles: cpFiles.map((f) => create(control_plane_cert_or_keySchema, { name: f.name, data: f.data })),
    kubernetesComponents: list.map((c) => create(ComponentSchema, c)),
    authorizedCaPublicKey: Buffer.from(sshCa.authorizedKeyLine(), 'latin1'),
    hostCertificate: Buffer.from(hostCertificate.line, 'latin1'),
  });

  function settledComponents(r: PromiseSettledResult<{ componentsReference: string; list: KubernetesComponent[] }>) {
    if (r.status === 'fulfilled') {
      log.info(`Querying ${r.value.componentsReference} ConfigMap for components`);
      return r.value;
    }
    throw r.reason;
  }
}

/** Steps 8–9; errors already carry their step prefix. */
async function loadComponents(k8s: KubernetesApi, ctx: TicketContext): Promise<{ componentsReference: string; list: KubernetesComponent[] }> {
  let ref: string;
  try {
    const nodeVersion = await k8s.getNodeVersion(NODE_VERSION_NAME, ctx.deadline);
    const spec = (nodeVersion as { spec?: Record<string, unknown> } | undefined)?.spec;
    if (!spec || !('kubernetesComponentsReference' in spec)) throw new Error('kubernetesComponentsReference not found in node version');
    const value = spec['kubernetesComponentsReference'];
    if (typeof value !== 'string') {
      throw new Error(`failed to get K8sComponentsRef from node version: .spec.kubernetesComponentsReference accessor error: ${JSON.stringify(value)} is of the type ${goTypeName(value)}, expected string`);
    }
    ref = value;
  } catch (err) {
    const inner = (err as Error).message;
    const detail = inner.startsWith('kubernetesComponentsReference') || inner.startsWith('failed to get K8sComponentsRef') ? inner : `failed to get node version: ${inner}`;
    throw stepFailed('getting components ConfigMap name', new Error(`could not get k8s components config map name: ${detail}`));
  }
  let raw: string;
  try {
    const cm = await k8s.getConfigMap(NAMESPACE, ref, ctx.deadline);
    raw = cm?.data?.[COMPONENTS_KEY] ?? '';
  } catch (err) {
    throw stepFailed('getting components', new Error(`failed to get components: failed to get configmap: ${(err as Error).message}`));
  }
  try {
    return { componentsReference: ref, list: decodeComponents(raw) };
  } catch (err) {
    throw stepFailed('getting components', new Error(`failed to unmarshal components ${raw}: ${(err as Error).message}`));
  }
}

/** Step 10 (and 12) in the worker pool: RSA CA signatures cost about a millisecond. */
async function issueKubeletCertificate(pool: Pick<WorkerPool, 'run'>, csr: Uint8Array, pkiDir: string, at: Date) {
  // The CSR is a view into the request's (up to 64 KiB) buffer; posting a view copies its whole buffer.
  const own = csr.byteLength === csr.buffer.byteLength ? csr : csr.slice();
  const r = await pool.run({ v: VERIFY_PROTOCOL_VERSION, kind: 'issue-kubelet-certificate', csr: own, pkiDir: path.resolve(pkiDir), nowMs: at.getTime() });
  if (!r.ok) throw JoinServiceError.fromJSON(r.error);
  return r;
}

function settled<T>(r: PromiseSettledResult<T>, prefix: string): T {
  if (r.status === 'fulfilled') return r.value;
  throw alreadyPrefixed(r.reason) ?? stepFailed(prefix, r.reason);
}

function step<T>(prefix: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw stepFailed(prefix, err);
  }
}

async function stepAsync<T>(prefix: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw stepFailed(prefix, err);
  }
}

function alreadyPrefixed(err: unknown): JoinServiceError | undefined {
  return err instanceof JoinServiceError && err.code === ErrorCode.TicketStepFailed ? err : undefined;
}

function goTypeName(v: unknown): string {
  if (v === null) return '<nil>';
  if (typeof v === 'number') return 'float64';
  if (typeof v === 'boolean') return 'bool';
  if (Array.isArray(v)) return '[]interface {}';
  return 'map[string]interface {}';
}

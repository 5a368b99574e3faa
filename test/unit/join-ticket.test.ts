import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { create } from '@bufbuild/protobuf';
import { IssueJoinTicketRequestSchema, type IssueJoinTicketRequest } from '../../src/gen/joinservice/joinproto/join_pb.js';
import { startDevCluster, type DevCluster } from '../../src/main/devcluster/dev-cluster.js';
import { deriveDataKey } from '../../src/main/keyservice/derive-key.js';
import { startKeyService, type RunningKeyService } from '../../src/main/keyservice/keyservice-server.js';
import { KeyServiceClient } from '../../src/main/kms/kms-client.js';
import { createKubernetesClient, type KubernetesClient } from '../../src/main/kubernetes/kubernetes-client.js';
import { silentLogger } from '../../src/main/log/logger.js';
import { WorkerPool } from '../../src/main/pool/worker-pool.js';
import { issueJoinTicket, type JoinTicketDeps } from '../../src/main/ticket/join-ticket.js';
import { ErrorCode, JoinServiceError } from '../../src/shared/errors.js';
import { buildCsr, flipLastByte, key, name, OID, STRING_TAG, san, ip } from './support/kubelet-pki.js';

const MASTER_SECRET = Buffer.alloc(32, 3);
const MASTER_SALT = Buffer.alloc(32, 4);
const SALT = Buffer.alloc(32, 5);
const PEER = '10.9.0.5:51234';

let dir: string;
let cluster: DevCluster;
let kubernetes: KubernetesClient;
let ks: RunningKeyService;
let kms: KeyServiceClient;
let pool: WorkerPool;
let deps: JoinTicketDeps;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'join-ticket-'));
  cluster = await startDevCluster(dir);
  kubernetes = await createKubernetesClient({ kubeconfigPath: cluster.kubeconfigPath, requestTimeoutMs: 3000 });
  ks = await startKeyService({ host: '127.0.0.1', port: 0, masterSecret: MASTER_SECRET, masterSalt: MASTER_SALT, log: silentLogger() });
  kms = new KeyServiceClient({ endpoint: ks.endpoint, log: silentLogger(), initialBackoffMs: 5, maxAttempts: 2 });
  pool = new WorkerPool({ workers: 0, maxQueue: 8, timeoutMs: 30_000 });
  await pool.start();
  deps = {
    kms,
    pool,
    kubernetes,
    apiServerEndpoint: () => '10.0.0.1:6443',
    measurementSalt: SALT,
    paths: { pkiDir: cluster.pkiDir, adminConfPath: cluster.adminConfPath, clusterConfigurationPath: cluster.clusterConfigurationPath },
  };
});

after(async () => {
  kms.close();
  kubernetes.close();
  await ks.close();
  await pool.close();
  await cluster.close();
  rmSync(dir, { recursive: true, force: true });
});

function hostKeyWire(): Buffer {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
  const str = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  return Buffer.concat([str(Buffer.from('ssh-ed25519')), str(raw)]);
}

interface RequestFields {
  diskUuid?: string;
  certificateRequest?: Uint8Array;
  isControlPlane?: boolean;
  hostPublicKey?: Uint8Array;
  hostCertificatePrincipals?: string[];
  node?: string;
}

function request({ node = 'worker-1', ...o }: RequestFields = {}): IssueJoinTicketRequest {
  const subject = name([{ oid: OID.O, value: 'system:nodes', tag: STRING_TAG.printable }], [{ oid: OID.CN, value: `system:node:${node}`, tag: STRING_TAG.printable }]);
  return create(IssueJoinTicketRequestSchema, {
    diskUuid: 'disk-1',
    certificateRequest: buildCsr({ subject, extensions: [{ oid: '2.5.29.17', value: san({ ips: [ip('10.9.0.5')], dns: ['dropped.example'] }) }] }),
    hostPublicKey: hostKeyWire(),
    hostCertificatePrincipals: ['10.9.0.5', node],
    ...o,
  });
}

const ctx = (over: { deadline?: Date } = {}) => ({ peerAddress: PEER, log: silentLogger(), ...over });

async function expectStepError(req: IssueJoinTicketRequest, message: string | RegExp, d: JoinTicketDeps = deps): Promise<void> {
  await assert.rejects(issueJoinTicket(req, d, ctx()), (e: JoinServiceError) => {
    assert.equal(e.code, ErrorCode.TicketStepFailed, e.message);
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

const tokenSecrets = () => cluster.emulator.objects.secrets.list('kube-system').filter((s) => s.metadata?.name?.startsWith('bootstrap-token-'));

describe('IssueJoinTicket', () => {
  test('a worker gets a complete ticket; the token Secret and JoiningNode are written', async () => {
    const before = tokenSecrets().length;
    cluster.emulator.clearRequests();
    const res = await issueJoinTicket(request(), deps, ctx());
    assert.equal(Buffer.from(res.stateDiskKey).toString('hex'), deriveDataKey(MASTER_SECRET, MASTER_SALT, 'disk-1', 32).toString('hex'));
    assert.equal(Buffer.from(res.measurementSecret).toString('hex'), deriveDataKey(MASTER_SECRET, MASTER_SALT, 'measurementSecret', 32).toString('hex'));
    assert.deepEqual(Buffer.from(res.measurementSalt), SALT);
    assert.equal(res.apiServerEndpoint, '10.0.0.1:6443');
    assert.match(res.token, /^[a-z0-9]{6}\.[a-z0-9]{16}$/);
    assert.equal(res.kubernetesVersion, '');
    assert.equal(res.controlPlaneFiles.length, 0);
    assert.equal(res.kubernetesComponents.length, 3);
    assert.equal(res.kubernetesComponents[2]!.extract, true);

    const ca = new X509Certificate(await import('node:fs').then((fs) => fs.readFileSync(cluster.caCertPath)));
    const kubelet = new X509Certificate(Buffer.from(res.kubeletCert));
    assert.ok(kubelet.verify(ca.publicKey), 'kubelet certificate chains to the cluster CA');
    assert.equal(kubelet.subject, 'O=system:nodes\nCN=system:node:worker-1');
    assert.equal(kubelet.subjectAltName, 'IP Address:10.9.0.5');
    const caSpki = ca.publicKey.export({ type: 'spki', format: 'der' });
    assert.equal(res.discoveryTokenCaCertHash, `sha256:${createHash('sha256').update(caSpki).digest('hex')}`);

    const seed = deriveDataKey(MASTER_SECRET, MASTER_SALT, 'ca_emergency_ssh', 32);
    assert.match(Buffer.from(res.authorizedCaPublicKey).toString(), /^ssh-ed25519 [A-Za-z0-9+/]+=*\n$/);
    assert.ok(seed.length === 32);
    assert.match(Buffer.from(res.hostCertificate).toString(), /^ssh-ed25519-cert-v01@openssh\.com [A-Za-z0-9+/]+=*\n$/);

    const [id, secret] = res.token.split('.') as [string, string];
    assert.equal(tokenSecrets().length, before + 1);
    const s = cluster.emulator.objects.secrets.get('kube-system', `bootstrap-token-${id}`)!;
    const data = s['data'] as Record<string, string>;
    assert.equal(s['type'], 'bootstrap.kubernetes.io/token');
    assert.equal(Buffer.from(data['token-secret']!, 'base64').toString(), secret);
    assert.equal(Buffer.from(data['auth-extra-groups']!, 'base64').toString(), 'system:bootstrappers:kubeadm:default-node-token');

    const jn = cluster.emulator.objects.joiningnodes.get('worker-1')!;
    const spec = jn['spec'] as Record<string, unknown>;
    assert.equal(spec['name'], 'worker-1');
    assert.equal(spec['iscontrolplane'], false);
    assert.equal(spec['componentsreference'], cluster.componentsConfigMapName);
    assert.match(String(spec['deadline']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const apply = cluster.emulator.requests.find((r) => r.method === 'PATCH' && r.path.endsWith('/joiningnodes/worker-1'))!;
    assert.equal(apply.contentType, 'application/apply-patch+yaml');
    assert.equal(apply.query['fieldManager'], 'join-service');
    assert.equal(apply.query['force'], undefined);

    // A re-joining worker overwrites its own JoiningNode.
    await issueJoinTicket(request(), deps, ctx());
  });

  test('a control plane gets the control-plane files; a second one is refused while the first joins', async () => {
    const res = await issueJoinTicket(request({ isControlPlane: true, node: 'cp-0' }), deps, ctx());
    assert.deepEqual(res.controlPlaneFiles.map((f) => f.name), ['ca.key', 'sa.key', 'front-proxy-ca.key', 'etcd/ca.key', 'ca.crt', 'sa.pub', 'front-proxy-ca.crt', 'etcd/ca.crt']);
    const jn = cluster.emulator.objects.joiningnodes.get('control-plane')!;
    assert.equal((jn['spec'] as Record<string, unknown>)['name'], 'cp-0');
    await expectStepError(
      request({ isControlPlane: true, node: 'cp-1' }),
      'adding node to joining nodes: failed to create joining control-plane node, maybe another node is already joining: joiningnodes.update.edgeless.systems "control-plane" already exists',
    );
    cluster.emulator.objects.joiningnodes.delete('control-plane');
  });

  test('CSR rules fail step 10 with Go\'s texts and leave no token Secret behind', async () => {
    const before = tokenSecrets().length;
    const subj = (...rdns: { oid: string; value: string }[][]) => name(...rdns.map((r) => r.map((a) => ({ ...a, tag: STRING_TAG.printable }))));
    await expectStepError(request({ certificateRequest: buildCsr({ mangleSignature: flipLastByte }) }), /^Generating kubelet certificate: x509: ECDSA verification failure$/);
    await expectStepError(
      request({ certificateRequest: buildCsr({ subject: subj([{ oid: OID.O, value: 'system:masters' }], [{ oid: OID.CN, value: 'system:node:w' }]) }) }),
      'Generating kubelet certificate: certificate request must have organization "system:nodes" but has "system:masters"',
    );
    await expectStepError(
      request({ certificateRequest: buildCsr({ subject: subj([{ oid: OID.O, value: 'system:nodes' }], [{ oid: OID.O, value: 'other' }], [{ oid: OID.CN, value: 'system:node:w' }]) }) }),
      'Generating kubelet certificate: certificate request must have exactly one organization',
    );
    await expectStepError(
      request({ certificateRequest: buildCsr({ subject: subj([{ oid: OID.O, value: 'system:nodes' }], [{ oid: OID.CN, value: 'worker-1' }]) }) }),
      'Generating kubelet certificate: certificate request must have common name prefix "system:node:" but is "worker-1"',
    );
    await expectStepError(request({ node: 'node.example.com' }), 'adding node to joining nodes: failed to get k8s compliant hostname: failed to generate a Kubernetes compliant hostname for node.example.com');
    assert.equal(tokenSecrets().length, before, 'validation failures happen before the first write');
  });

  test('a bad SSH host key fails step 5', async () => {
    await expectStepError(request({ hostPublicKey: new Uint8Array(0) }), 'unmarshalling host public key: ssh: short read');
    await expectStepError(request({ hostPublicKey: hostKeyWire().subarray(0, 20) }), /^unmarshalling host public key: ssh: /);
  });

  test('KMS failures fail steps 1 and 2 with the KMS error text', async () => {
    await expectStepError(
      request({ diskUuid: '' }),
      'getting key for stateful disk: fetching data encryption key from Constellation KMS: rpc error: code = InvalidArgument desc = no data key ID specified',
    );
    ks.faults.failNext = { count: 100, code: grpc.status.UNAVAILABLE, message: 'key service down' };
    try {
      await expectStepError(request(), 'getting measurement secret: fetching data encryption key from Constellation KMS: rpc error: code = Unavailable desc = key service down');
    } finally {
      ks.faults.failNext = undefined;
    }
  });

  test('without principals the host certificate names the peer address', async () => {
    const cfg = path.join(dir, 'NoSans');
    writeFileSync(cfg, 'apiServer: {}\n');
    const d = { ...deps, paths: { ...deps.paths, clusterConfigurationPath: cfg } };
    const res = await issueJoinTicket(request({ hostCertificatePrincipals: [] }), d, ctx());
    const blob = Buffer.from(Buffer.from(res.hostCertificate).toString().split(' ')[1]!, 'base64');
    assert.ok(blob.includes(Buffer.from(PEER)), 'principal = peer address with port');
  });

  test('Kubernetes failures: API server down, slow, missing NodeVersion, invalid components', async () => {
    cluster.emulator.faults.outage('refuse');
    try {
      await expectStepError(request(), /^getting components ConfigMap name: could not get k8s components config map name: failed to get node version: Get "https:\/\/127\.0\.0\.1:\d+\/apis\/update\.edgeless\.systems\/v1alpha1\/nodeversions\/constellation-version": dial tcp 127\.0\.0\.1:\d+: connect: connection refused$/);
    } finally {
      cluster.emulator.faults.restore();
    }

    const delay = cluster.emulator.faults.delay(5000, { path: /nodeversions/ });
    try {
      await assert.rejects(issueJoinTicket(request(), deps, ctx({ deadline: new Date(Date.now() + 300) })), /^JoinServiceError: getting components ConfigMap name: .*: context deadline exceeded$/);
    } finally {
      cluster.emulator.faults.clear();
      void delay;
    }

    const nv = cluster.emulator.objects.nodeversions.get('constellation-version')!;
    cluster.emulator.objects.nodeversions.delete('constellation-version');
    try {
      await expectStepError(
        request(),
        'getting components ConfigMap name: could not get k8s components config map name: failed to get node version: nodeversions.update.edgeless.systems "constellation-version" not found',
      );
      cluster.emulator.objects.nodeversions.put({ ...nv, spec: { other: 1 } });
      await expectStepError(request(), 'getting components ConfigMap name: could not get k8s components config map name: kubernetesComponentsReference not found in node version');
      cluster.emulator.objects.configmaps.put({ metadata: { name: 'broken', namespace: 'kube-system' }, data: { components: '[{"url":' } });
      cluster.emulator.objects.nodeversions.put({ ...nv, spec: { kubernetesComponentsReference: 'broken' } });
      await expectStepError(request(), 'getting components: failed to unmarshal components [{"url":: unexpected end of JSON input');
    } finally {
      cluster.emulator.objects.nodeversions.put(nv);
    }
  });

  test('a token Secret that already exists by name is replaced, as kubeadm does on AlreadyExists', async () => {
    cluster.emulator.faults.failNext(1, { status: 409, reason: 'AlreadyExists', message: 'secrets "x" already exists' }, { method: 'POST', path: /\/secrets$/ });
    try {
      const res = await issueJoinTicket(request(), deps, ctx());
      const id = res.token.split('.')[0]!;
      assert.ok(cluster.emulator.requests.some((r) => r.method === 'PUT' && r.path.endsWith(`/secrets/bootstrap-token-${id}`)));
    } finally {
      cluster.emulator.faults.clear();
    }
  });

  test('while the VPC IP is unknown the service is not ready (UNAVAILABLE), before any KMS call', async () => {
    const calls = ks.calls;
    await assert.rejects(issueJoinTicket(request(), { ...deps, apiServerEndpoint: () => undefined }, ctx()), { code: ErrorCode.VpcIpNotReady });
    assert.equal(ks.calls, calls);
  });

  test('RSA and Ed25519 node keys are accepted too', async () => {
    for (const kind of ['rsa', 'ed25519'] as const) {
      const res = await issueJoinTicket(request({ certificateRequest: buildCsr({ key: key(kind) }) }), deps, ctx());
      assert.equal(new X509Certificate(Buffer.from(res.kubeletCert)).publicKey.asymmetricKeyType, kind);
    }
  });
});

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import YAML from 'yaml';
import { KubernetesEmulator } from '../../src/emulator/kubernetes/index.js';
import { generateEmulatorTls } from '../../src/emulator/kubernetes/tls.js';
import {
  createKubernetesClient,
  isAlreadyExists,
  isConflict,
  isNotFound,
  kubernetesStatusOf,
  type KubernetesClient,
} from '../../src/main/kubernetes/kubernetes-client.js';
import { RateLimitWaitError, TokenBucket } from '../../src/main/kubernetes/rate-limiter.js';
import { ErrorCode, JoinServiceError } from '../../src/shared/errors.js';

const NS = 'kube-system';
const GROUP = 'update.edgeless.systems';

function joiningNode(name: string, spec: Record<string, unknown> = {}) {
  return {
    apiVersion: `${GROUP}/v1alpha1`,
    kind: 'JoiningNode',
    metadata: { name },
    spec: { name, componentsreference: 'k8s-components-sha256-abc', iscontrolplane: false, deadline: '2026-01-24T15:29:08Z', ...spec },
  };
}

/** Awaits a rejection and returns it as a JoinServiceError (asserting the type). */
async function failure(p: Promise<unknown>): Promise<JoinServiceError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof JoinServiceError, `expected JoinServiceError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a rejection');
}

describe('Kubernetes client against the emulator', () => {
  let e: KubernetesEmulator;
  let dir: string;
  let client: KubernetesClient;
  const extra: KubernetesClient[] = [];

  const clientWith = async (o: Parameters<typeof createKubernetesClient>[0] = {}) => {
    const c = await createKubernetesClient({ kubeconfigPath: path.join(dir, 'admin.yaml'), ...o });
    extra.push(c);
    return c;
  };

  before(async () => {
    e = await KubernetesEmulator.start();
    dir = await mkdtemp(path.join(tmpdir(), 'k8s-client-'));
    await e.writeKubeconfig(path.join(dir, 'admin.yaml'));
    client = await createKubernetesClient({ kubeconfigPath: path.join(dir, 'admin.yaml') });
  });
  after(async () => {
    client.close();
    for (const c of extra) c.close();
    await e.stop();
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    await e.faults.restore();
    e.reset();
  });

  describe('success paths', () => {
    test('Secrets: create, get, replace', async () => {
      const created = await client.createSecret(NS, { metadata: { name: 's' }, type: 'Opaque', data: { k: Buffer.from('v').toString('base64') } });
      assert.equal(created.metadata?.name, 's');
      assert.ok(created.metadata?.uid);
      const got = await client.getSecret(NS, 's');
      assert.equal(Buffer.from(got.data!['k']!, 'base64').toString(), 'v');
      const replaced = await client.replaceSecret(NS, 's', { metadata: { name: 's' }, type: 'Opaque', data: { k: Buffer.from('w').toString('base64') } });
      assert.notEqual(replaced.metadata?.resourceVersion, created.metadata?.resourceVersion);
      assert.equal(e.objects.secrets.get(NS, 's')?.['data'] && (e.objects.secrets.get(NS, 's')!['data'] as Record<string, string>)['k'], 'dw==');
    });

    test('ConfigMaps: create, get, replace with the current resourceVersion', async () => {
      await client.createConfigMap(NS, { metadata: { name: 'sev-snp-cert-cache', namespace: NS }, data: { ask: 'A', ark: 'B' } });
      const cm = await client.getConfigMap(NS, 'sev-snp-cert-cache');
      assert.deepEqual(cm.data, { ask: 'A', ark: 'B' });
      const upd = await client.replaceConfigMap(NS, 'sev-snp-cert-cache', { ...cm, data: { ...cm.data, ask: 'C' } });
      assert.equal(upd.data?.['ask'], 'C');
    });

    test('getNodeVersion returns the parsed custom object', async () => {
      e.objects.nodeversions.put({ metadata: { name: 'constellation-version' }, spec: { kubernetesComponentsReference: 'k8s-components-sha256-abc' } });
      const nv = await client.getNodeVersion('constellation-version');
      assert.equal(nv.kind, 'NodeVersion');
      assert.deepEqual(nv['spec'], { kubernetesComponentsReference: 'k8s-components-sha256-abc' });
    });

    test('createJoiningNode POSTs; applyJoiningNode PATCHes with apply-patch+yaml, fieldManager and no force', async () => {
      const cp = await client.createJoiningNode(joiningNode('control-plane', { iscontrolplane: true }));
      assert.equal(cp.metadata?.name, 'control-plane');
      e.clearRequests();
      const w = await client.applyJoiningNode('worker-1', joiningNode('worker-1'), 'join-service');
      assert.equal((w['spec'] as { name: string }).name, 'worker-1');
      const req = e.requests.find((r) => r.method === 'PATCH')!;
      assert.equal(req.path, `/apis/${GROUP}/v1alpha1/joiningnodes/worker-1`);
      assert.equal(req.contentType, 'application/apply-patch+yaml');
      assert.deepEqual(req.query, { fieldManager: 'join-service' });
      assert.match(req.userAgent ?? '', /^joinservice /);
      assert.deepEqual(JSON.parse(req.body!), joiningNode('worker-1'), 'the body is the JoiningNode as JSON');
      const stored = e.objects.joiningnodes.get('worker-1')!;
      assert.deepEqual(stored.metadata?.managedFields?.map((m) => [m.manager, m.operation]), [['join-service', 'Apply']]);
      // A rejoining worker overwrites its own object.
      await client.applyJoiningNode('worker-1', joiningNode('worker-1', { deadline: '2026-01-30T00:00:00Z' }), 'join-service');
      assert.equal((e.objects.joiningnodes.get('worker-1')!['spec'] as { deadline: string }).deadline, '2026-01-30T00:00:00Z');
    });

    test('in-cluster configuration (service-account token and CA, KUBERNETES_SERVICE_HOST/PORT)', async () => {
      const root = path.join(dir, 'incluster');
      const sa = path.join(root, 'var/run/secrets/kubernetes.io/serviceaccount');
      await mkdir(sa, { recursive: true });
      await writeFile(path.join(sa, 'token'), e.token);
      await writeFile(path.join(sa, 'ca.crt'), e.caPem);
      await writeFile(path.join(sa, 'namespace'), NS);
      const saved = { host: process.env['KUBERNETES_SERVICE_HOST'], port: process.env['KUBERNETES_SERVICE_PORT'] };
      process.env['KUBERNETES_SERVICE_HOST'] = '127.0.0.1';
      process.env['KUBERNETES_SERVICE_PORT'] = String(e.port);
      try {
        const c = await createKubernetesClient({ inClusterRoot: root });
        extra.push(c);
        e.objects.secrets.put({ metadata: { name: 'x', namespace: NS } });
        assert.equal((await c.getSecret(NS, 'x')).metadata?.name, 'x');
      } finally {
        for (const [k, v] of [['KUBERNETES_SERVICE_HOST', saved.host], ['KUBERNETES_SERVICE_PORT', saved.port]] as const) {
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
        }
      }
    });

    test('missing in-cluster environment → ConfigInvalid', async () => {
      const saved = process.env['KUBERNETES_SERVICE_HOST'];
      delete process.env['KUBERNETES_SERVICE_HOST'];
      try {
        const err = await failure(createKubernetesClient({}));
        assert.equal(err.code, ErrorCode.ConfigInvalid);
        assert.match(err.message, /KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined/);
      } finally {
        if (saved !== undefined) process.env['KUBERNETES_SERVICE_HOST'] = saved;
      }
    });
  });

  describe('API errors carry HTTP status, Status.reason and client-go text', () => {
    test('404 NotFound', async () => {
      const err = await failure(client.getSecret(NS, 'bootstrap-token-abcdef'));
      assert.equal(err.code, ErrorCode.KubernetesApiError);
      assert.equal(err.message, 'secrets "bootstrap-token-abcdef" not found');
      assert.deepEqual(kubernetesStatusOf(err), { httpStatus: 404, reason: 'NotFound' });
      assert.ok(isNotFound(err));
      const nv = await failure(client.getNodeVersion('constellation-version'));
      assert.equal(nv.message, 'nodeversions.update.edgeless.systems "constellation-version" not found');
      const cm = await failure(client.getConfigMap(NS, 'k8s-components-sha256-x'));
      assert.equal(cm.message, 'configmaps "k8s-components-sha256-x" not found');
    });

    test('409 AlreadyExists', async () => {
      await client.createJoiningNode(joiningNode('control-plane', { iscontrolplane: true }));
      const err = await failure(client.createJoiningNode(joiningNode('control-plane', { iscontrolplane: true })));
      assert.equal(err.message, 'joiningnodes.update.edgeless.systems "control-plane" already exists');
      assert.deepEqual(kubernetesStatusOf(err), { httpStatus: 409, reason: 'AlreadyExists' });
      assert.ok(isAlreadyExists(err));
      assert.ok(!isConflict(err));
    });

    test('409 Conflict on a stale resourceVersion', async () => {
      const cm = await client.createConfigMap(NS, { metadata: { name: 'c' }, data: { a: '1' } });
      await client.replaceConfigMap(NS, 'c', { ...cm, data: { a: '2' } });
      const err = await failure(client.replaceConfigMap(NS, 'c', { ...cm, data: { a: '3' } }));
      assert.equal(err.message, 'Operation cannot be fulfilled on configmaps "c": the object has been modified; please apply your changes to the latest version and try again');
      assert.ok(isConflict(err));
      assert.equal(err.details?.['httpStatus'], 409);
    });

    test('409 Conflict of a server-side apply with another manager', async () => {
      await client.applyJoiningNode('w', joiningNode('w'), 'someone-else');
      const err = await failure(client.applyJoiningNode('w', joiningNode('w', { componentsreference: 'new' }), 'join-service'));
      assert.ok(isConflict(err));
      assert.equal(err.message, 'Apply failed with 1 conflict: conflict with "someone-else": .spec.componentsreference');
    });

    test('401 Unauthorized (wrong token)', async () => {
      await e.writeKubeconfig(path.join(dir, 'wrong.yaml'), { token: 'wrong' });
      const c = await clientWith({ kubeconfigPath: path.join(dir, 'wrong.yaml') });
      const err = await failure(c.getSecret(NS, 'x'));
      assert.equal(err.message, 'Unauthorized');
      assert.deepEqual(kubernetesStatusOf(err), { httpStatus: 401, reason: 'Unauthorized' });
    });

    test('403 Forbidden (read-only credentials)', async () => {
      await e.writeKubeconfig(path.join(dir, 'ro.yaml'), { readOnly: true });
      const c = await clientWith({ kubeconfigPath: path.join(dir, 'ro.yaml') });
      const err = await failure(c.createSecret(NS, { metadata: { name: 'x' } }));
      assert.equal(err.message, 'secrets is forbidden: User "system:serviceaccount:kube-system:read-only" cannot create resource "secrets" in API group "" in the namespace "kube-system"');
      assert.deepEqual(kubernetesStatusOf(err), { httpStatus: 403, reason: 'Forbidden' });
    });

    test('422 Invalid', async () => {
      const err = await failure(client.createConfigMap(NS, { metadata: { name: 'Not_Valid' } }));
      assert.deepEqual(kubernetesStatusOf(err), { httpStatus: 422, reason: 'Invalid' });
      assert.match(err.message, /^ConfigMap "Not_Valid" is invalid: metadata\.name: Invalid value: "Not_Valid": a lowercase RFC 1123 subdomain/);
    });

    test('error bodies that are not a Status get client-go\'s generic text', async () => {
      e.faults.failNext(1, { status: 500, body: 'upstream exploded' });
      const a = await failure(client.getSecret(NS, 'x'));
      assert.equal(a.message, 'an error on the server ("upstream exploded") has prevented the request from succeeding (get secrets x)');
      assert.deepEqual(kubernetesStatusOf(a), { httpStatus: 500, reason: 'InternalError' });
      e.faults.failNext(1, { status: 404, body: '' });
      const b = await failure(client.getNodeVersion('constellation-version'));
      assert.equal(b.message, 'the server could not find the requested resource (get nodeversions.update.edgeless.systems constellation-version)');
      assert.ok(isNotFound(b));
      e.faults.failNext(1, { status: 503, body: '<html>busy</html>', contentType: 'text/html' });
      const c = await failure(client.createSecret(NS, { metadata: { name: 'y' } }));
      assert.equal(c.message, 'the server is currently unable to handle the request (post secrets y)');
    });
  });

  describe('transport failures and deadlines', () => {
    test('API server down (connection refused) → KubernetesUnavailable with Go\'s url.Error text', async () => {
      await e.faults.outage('refuse');
      const err = await failure(client.getSecret(NS, 'x'));
      assert.equal(err.code, ErrorCode.KubernetesUnavailable);
      assert.equal(err.message, `Get "${e.endpoint}/api/v1/namespaces/kube-system/secrets/x": dial tcp 127.0.0.1:${e.port}: connect: connection refused`);
      await e.faults.restore();
      e.objects.secrets.put({ metadata: { name: 'x', namespace: NS } });
      assert.equal((await client.getSecret(NS, 'x')).metadata?.name, 'x', 'recovers once the server is back');
    });

    test('connection reset → KubernetesUnavailable', async () => {
      await e.faults.outage('reset');
      const err = await failure(client.createJoiningNode(joiningNode('control-plane')));
      assert.equal(err.code, ErrorCode.KubernetesUnavailable);
      assert.match(err.message, new RegExp(`^Post "${e.endpoint}/apis/update.edgeless.systems/v1alpha1/joiningnodes": `));
    });

    test('slow server and caller deadline → KubernetesTimeout (context deadline exceeded)', async () => {
      e.faults.delay(Infinity, { path: `/api/v1/namespaces/${NS}/secrets/slow` });
      const err = await failure(client.getSecret(NS, 'slow', new Date(Date.now() + 150)));
      assert.equal(err.code, ErrorCode.KubernetesTimeout);
      assert.equal(err.message, `Get "${e.endpoint}/api/v1/namespaces/kube-system/secrets/slow": context deadline exceeded`);
      assert.equal(err.details?.['cancelled'], false);
    });

    test('slow server and the per-request timeout → KubernetesTimeout', async () => {
      const c = await clientWith({ requestTimeoutMs: 150 });
      e.faults.delay(Infinity, { method: 'PATCH' });
      const err = await failure(c.applyJoiningNode('w', joiningNode('w'), 'join-service', { deadline: new Date(Date.now() + 60_000) }));
      assert.equal(err.code, ErrorCode.KubernetesTimeout);
      assert.match(err.message, /^Patch ".*\/joiningnodes\/w": context deadline exceeded$/);
    });

    test('caller AbortSignal → KubernetesTimeout (context canceled)', async () => {
      e.faults.delay(Infinity, { path: `/api/v1/namespaces/${NS}/configmaps/c` });
      const ac = new AbortController();
      const p = failure(client.getConfigMap(NS, 'c', { signal: ac.signal }));
      setTimeout(() => ac.abort(), 50);
      const err = await p;
      assert.equal(err.code, ErrorCode.KubernetesTimeout);
      assert.match(err.message, /context canceled$/);
      assert.equal(err.details?.['cancelled'], true);
    });

    test('an untrusted server certificate → KubernetesUnavailable with an x509 message', async () => {
      const kc = YAML.parse(e.kubeconfig()) as { clusters: { cluster: Record<string, string> }[] };
      kc.clusters[0]!.cluster['certificate-authority-data'] = Buffer.from(generateEmulatorTls().caPem).toString('base64');
      await writeFile(path.join(dir, 'badca.yaml'), YAML.stringify(kc));
      const c = await clientWith({ kubeconfigPath: path.join(dir, 'badca.yaml') });
      const err = await failure(c.getSecret(NS, 'x'));
      assert.equal(err.code, ErrorCode.KubernetesUnavailable);
      assert.match(err.message, /x509: certificate signed by unknown authority$/);
    });
  });

  describe('client-side rate limiting', () => {
    test('requests beyond the burst wait for a token instead of failing', async () => {
      const c = await clientWith({ qps: 40, burst: 2 });
      e.objects.secrets.put({ metadata: { name: 'x', namespace: NS } });
      const results = await Promise.all(Array.from({ length: 5 }, () => c.getSecret(NS, 'x')));
      assert.equal(results.length, 5);
      assert.deepEqual(c.limiter.stats, { immediate: 2, waited: 3, refused: 0 });
      assert.equal(e.requests.filter((r) => r.path.endsWith('/secrets/x')).length, 5);
    });

    test('a request whose token would come after its deadline fails at once and is never sent', async () => {
      const c = await clientWith({ qps: 0.01, burst: 3 });
      e.objects.secrets.put({ metadata: { name: 'x', namespace: NS } });
      for (let i = 0; i < 3; i++) await c.getSecret(NS, 'x');
      const err = await failure(c.getSecret(NS, 'x', new Date(Date.now() + 200)));
      assert.equal(err.code, ErrorCode.KubernetesTimeout);
      assert.equal(err.message, 'client rate limiter Wait returned an error: rate: Wait(n=1) would exceed context deadline');
      assert.equal(e.requests.filter((r) => r.path.endsWith('/secrets/x')).length, 3, 'did not exceed the burst');
    });
  });
});

describe('TokenBucket', () => {
  test('burst is immediate, then requests wait, and refill restores capacity', async () => {
    let now = 0;
    const b = new TokenBucket({ qps: 1000, burst: 2, clock: () => now });
    assert.equal(await b.take(Date.now() + 1000), 0);
    assert.equal(await b.take(Date.now() + 1000), 0);
    const waited = await b.take(Date.now() + 1000);
    assert.ok(waited > 0, 'third request waited');
    now += 10_000;
    assert.equal(await b.take(Date.now() + 1000), 0);
    assert.deepEqual(b.stats, { immediate: 3, waited: 1, refused: 0 });
  });

  test('refuses when the token would come after the deadline; cancellation returns the reservation', async () => {
    let now = 0;
    const b = new TokenBucket({ qps: 1, burst: 1, clock: () => now });
    await b.take(Date.now() + 10);
    await assert.rejects(b.take(Date.now() + 10), (e: unknown) => e instanceof RateLimitWaitError && e.why === 'deadline');
    const ac = new AbortController();
    const p = b.take(Date.now() + 5000, ac.signal);
    ac.abort();
    await assert.rejects(p, (e: unknown) => e instanceof RateLimitWaitError && e.why === 'cancelled');
    assert.deepEqual(b.stats, { immediate: 1, waited: 0, refused: 2 });
    // The cancelled reservation was returned: one second later a token is there again.
    now += 1000;
    assert.equal(await b.take(Date.now() + 10), 0);
  });

  test('qps 0 disables limiting', async () => {
    const b = new TokenBucket({ qps: 0, burst: 1 });
    for (let i = 0; i < 100; i++) assert.equal(await b.take(0), 0);
  });
});

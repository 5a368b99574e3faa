import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { buildSelfSignedCertificate } from '../../src/main/atls/certificate-builder.js';
import { extendPrincipals } from '../../src/main/cluster/cert-sans.js';
import { CONTROL_PLANE_FILES, loadControlPlaneFiles } from '../../src/main/cluster/control-plane-files.js';
import { discoveryTokenCaCertHashes } from '../../src/main/cluster/discovery-hash.js';
import { k8sCompliantHostname } from '../../src/main/cluster/node-name.js';
import { silentLogger, type Logger } from '../../src/main/log/logger.js';
import { encodePem } from '../../src/shared/pem.js';

const dir = mkdtempSync(path.join(tmpdir(), 'cluster-files-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function recordingLogger(): { log: Logger; errors: string[] } {
  const errors: string[] = [];
  const base = silentLogger();
  const log: Logger = { ...base, error: (m) => errors.push(m), group: () => log, with: () => log, debug() {}, info() {}, warn() {}, flush() {} };
  return { log, errors };
}

test('Step 4: request principals followed by certSANs; problems logged, never fatal', async () => {
  const f = path.join(dir, 'ClusterConfiguration');
  writeFileSync(f, 'apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\napiServer:\n  certSANs:\n  - "*"\n  - 34.8.0.20\n');
  assert.deepEqual(await extendPrincipals(['10.9.0.5', 'fe80::1', 'my-node'], f, silentLogger()), ['10.9.0.5', 'fe80::1', 'my-node', '*', '34.8.0.20']);

  writeFileSync(f, 'apiServer:\n  certSANs: ["a", 5, "b"]\n');
  const r = recordingLogger();
  assert.deepEqual(await extendPrincipals(['x'], f, r.log), ['x', 'a', '', 'b'], 'a non-string entry becomes "" (Go bug compatibility)');
  assert.equal(r.errors.length, 1);

  for (const content of ['apiServer: 5\n', 'kind: x\n', 'apiServer:\n  certSANs: nope\n', ': : :\n  - [']) {
    writeFileSync(f, content);
    const rr = recordingLogger();
    assert.deepEqual(await extendPrincipals(['x'], f, rr.log), ['x'], content);
    assert.equal(rr.errors.length, 1, content);
  }
  const missing = recordingLogger();
  assert.deepEqual(await extendPrincipals([], path.join(dir, 'nope'), missing.log), []);
  assert.equal(missing.errors.length, 1);
});

function caPem(): { pem: string; hash: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const der = buildSelfSignedCertificate({ privateKey, spki, commonName: 'kubernetes' });
  return { pem: encodePem('CERTIFICATE', der), hash: `sha256:${createHash('sha256').update(spki).digest('hex')}` };
}

function kubeconfig(clusters: { name: string; data: string }[], currentContext: string, contexts: { name: string; cluster: string }[]): string {
  const c = clusters.map((x) => `- name: "${x.name}"\n  cluster:\n    server: https://10.0.0.1:6443\n    certificate-authority-data: ${Buffer.from(x.data).toString('base64')}\n`).join('');
  const ctx = contexts.map((x) => `- name: ${x.name}\n  context:\n    cluster: ${x.cluster}\n    user: admin\n`).join('');
  return `apiVersion: v1\nkind: Config\nclusters:\n${c}contexts:\n${ctx}current-context: ${currentContext}\n`;
}

test('Step 7.4: discovery hash = sha256 of the CA SPKI of the selected cluster', async () => {
  const a = caPem();
  const b = caPem();
  const f = path.join(dir, 'admin.conf');
  writeFileSync(f, kubeconfig([{ name: 'kubernetes', data: a.pem + b.pem }], 'admin@kubernetes', [{ name: 'admin@kubernetes', cluster: 'kubernetes' }]));
  assert.deepEqual(await discoveryTokenCaCertHashes(f), [a.hash, b.hash]);
  assert.equal(new X509Certificate(a.pem).subject, 'CN=kubernetes');

  writeFileSync(f, kubeconfig([{ name: 'other', data: a.pem }, { name: '', data: b.pem }], 'ctx', [{ name: 'ctx', cluster: 'other' }]));
  assert.deepEqual(await discoveryTokenCaCertHashes(f), [b.hash], 'a cluster named "" wins');

  writeFileSync(f, kubeconfig([{ name: 'other', data: a.pem }], 'missing', []));
  await assert.rejects(discoveryTokenCaCertHashes(f), /^Error: couldn't get cluster config from kubeconfig file$/);

  writeFileSync(f, kubeconfig([{ name: 'k', data: '-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n' }], 'c', [{ name: 'c', cluster: 'k' }]));
  await assert.rejects(discoveryTokenCaCertHashes(f), /parsing CA certs: data does not contain any valid RSA or ECDSA certificates/);

  writeFileSync(f, kubeconfig([{ name: 'k', data: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' }], 'c', [{ name: 'c', cluster: 'k' }]));
  await assert.rejects(discoveryTokenCaCertHashes(f), /^Error: parsing CA certs: x509: /);

  await assert.rejects(discoveryTokenCaCertHashes(path.join(dir, 'none')), /loading kubeconfig file: open .*none: no such file or directory/);
});

test('Step 11: control-plane files in order; the first missing one fails', async () => {
  const pki = path.join(dir, 'pki');
  mkdirSync(path.join(pki, 'etcd'), { recursive: true });
  for (const n of CONTROL_PLANE_FILES) writeFileSync(path.join(pki, n), `content of ${n}`);
  const files = await loadControlPlaneFiles(pki);
  assert.deepEqual(files.map((f) => f.name), [...CONTROL_PLANE_FILES]);
  assert.equal(files[3]!.data.toString(), 'content of etcd/ca.key');
  rmSync(path.join(pki, 'sa.key'));
  rmSync(path.join(pki, 'etcd/ca.crt'));
  await assert.rejects(loadControlPlaneFiles(pki), { message: `open ${path.join(pki, 'sa.key')}: no such file or directory` });
});

test('cached per file version: callers cannot change the cached values, changes take effect at once', async () => {
  const cfg = path.join(dir, 'ClusterConfiguration-cache');
  writeFileSync(cfg, 'apiServer:\n  certSANs: ["a", 5]\n');
  const r1 = recordingLogger();
  const first = await extendPrincipals(['x'], cfg, r1.log);
  assert.deepEqual(first, ['x', 'a', '']);
  first.push('mutated');
  const r2 = recordingLogger();
  assert.deepEqual(await extendPrincipals(['y'], cfg, r2.log), ['y', 'a', ''], 'a fresh array per call');
  assert.equal(r2.errors.length, 1, 'the bad entry is logged on every call, as before');
  writeFileSync(cfg, 'apiServer:\n  certSANs: ["b"]\n');
  assert.deepEqual(await extendPrincipals([], cfg, silentLogger()), ['b']);

  const a = caPem();
  const b = caPem();
  const conf = path.join(dir, 'admin-cache.conf');
  writeFileSync(conf, kubeconfig([{ name: 'kubernetes', data: a.pem }], 'c', [{ name: 'c', cluster: 'kubernetes' }]));
  const hashes = await discoveryTokenCaCertHashes(conf);
  assert.ok(Object.isFrozen(hashes));
  assert.throws(() => (hashes as string[]).push('x'));
  assert.deepEqual(await discoveryTokenCaCertHashes(conf), [a.hash]);
  writeFileSync(conf, kubeconfig([{ name: 'kubernetes', data: b.pem }], 'c', [{ name: 'c', cluster: 'kubernetes' }]));
  assert.deepEqual(await discoveryTokenCaCertHashes(conf), [b.hash], 'a rotated CA at once');

  const pki = path.join(dir, 'pki-cache');
  mkdirSync(path.join(pki, 'etcd'), { recursive: true });
  for (const n of CONTROL_PLANE_FILES) writeFileSync(path.join(pki, n), `content of ${n}`);
  const files = await loadControlPlaneFiles(pki);
  files[0]!.data.fill(0x41);
  assert.equal((await loadControlPlaneFiles(pki))[0]!.data.toString(), 'content of ca.key', 'each call gets its own copy');
  writeFileSync(path.join(pki, 'ca.key'), 'rotated ca.key');
  assert.equal((await loadControlPlaneFiles(pki))[0]!.data.toString(), 'rotated ca.key');
});

test('Step 13.1: Kubernetes-compliant node names, bug-compatible with Go', () => {
  assert.equal(k8sCompliantHostname('TEST'), 'test');
  assert.equal(k8sCompliantHostname('test_node'), 'test-node');
  for (const bad of ['test_node_', '', 'node.example.com', '-a', 'a b']) {
    assert.throws(() => k8sCompliantHostname(bad), {
      message: `failed to get k8s compliant hostname: failed to generate a Kubernetes compliant hostname for ${bad}`,
    });
  }
});

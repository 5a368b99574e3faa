import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ensureDevClusterFiles } from '../../src/main/devcluster/dev-cluster-files.js';
import { CONTROL_PLANE_FILES, loadControlPlaneFiles } from '../../src/main/cluster/control-plane-files.js';
import { discoveryTokenCaCertHashes } from '../../src/main/cluster/discovery-hash.js';
import { extendPrincipals } from '../../src/main/cluster/cert-sans.js';
import { silentLogger } from '../../src/main/log/logger.js';

test('the dev cluster has kubeadm-shaped PKI, admin.conf and ClusterConfiguration, created once', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'devcluster-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const files = await ensureDevClusterFiles(dir, { url: 'https://127.0.0.1:1', certSANs: ['127.0.0.1', 'localhost'] });
  const ca = new X509Certificate(readFileSync(files.caCertPath));
  assert.equal(ca.subject, 'CN=kubernetes');
  assert.equal(ca.ca, true);
  assert.ok(ca.verify(ca.publicKey), 'self-signed');
  assert.ok(ca.checkPrivateKey(createPrivateKey(readFileSync(path.join(files.pkiDir, 'ca.key')))));
  assert.match(readFileSync(path.join(files.pkiDir, 'ca.key'), 'utf8'), /^-----BEGIN RSA PRIVATE KEY-----/);
  assert.equal((await loadControlPlaneFiles(files.pkiDir)).length, CONTROL_PLANE_FILES.length);
  const [hash] = await discoveryTokenCaCertHashes(files.adminConfPath);
  assert.match(hash!, /^sha256:[0-9a-f]{64}$/);
  assert.deepEqual(await extendPrincipals(['n'], files.clusterConfigurationPath, silentLogger()), ['n', '127.0.0.1', 'localhost']);

  const again = await ensureDevClusterFiles(dir, { url: 'https://127.0.0.1:2', certSANs: [] });
  assert.equal(new X509Certificate(readFileSync(again.caCertPath)).fingerprint256, ca.fingerprint256, 'the CA is kept');
});

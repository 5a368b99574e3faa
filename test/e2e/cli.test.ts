import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { deriveDataKey } from '../../src/main/keyservice/derive-key.js';
import { startDevCluster, type DevCluster } from '../../src/main/devcluster/dev-cluster.js';
import { startKeyService, type RunningKeyService } from '../../src/main/keyservice/keyservice-server.js';
import { silentLogger } from '../../src/main/log/logger.js';
import { spawnJoinService, startDevService } from '../helpers/dev-service.js';
import { buildGoPeer, runGoPeer } from '../helpers/go-peer.js';

const MASTER_SECRET = Buffer.alloc(32, 7);
const MASTER_SALT = Buffer.alloc(32, 9);

before(async () => {
  await buildGoPeer();
});

const tempDirs: string[] = [];
after(() => {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

function configDir(attestationConfig = '{}'): string {
  const dir = tempDir('joinservice-config-');
  writeFileSync(path.join(dir, 'attestationConfig'), attestationConfig);
  writeFileSync(path.join(dir, 'measurementSalt'), Buffer.alloc(32, 1));
  return dir;
}

describe('joinservice serve', () => {
  let ks: RunningKeyService;
  let cluster: DevCluster;
  before(async () => {
    ks = await startKeyService({ host: '127.0.0.1', port: 0, masterSecret: MASTER_SECRET, masterSalt: MASTER_SALT, log: silentLogger() });
    cluster = await startDevCluster(tempDir('joinservice-cluster-'));
  });
  after(async () => {
    await ks.close();
    await cluster.close();
  });

  test('takes the Go binary flags, reads the config dir, serves Go nodes and stops on SIGTERM', async () => {
    const svc = spawnJoinService([
      'serve',
      '-cloud-provider=QEMU',
      `-key-service-endpoint=${ks.endpoint}`,
      '-attestation-variant=dummy',
      '-v=0',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--config-dir',
      configDir(),
      `--kubeconfig=${cluster.kubeconfigPath}`,
      `--pki-dir=${cluster.pkiDir}`,
      `--admin-conf=${cluster.adminConfPath}`,
      `--kubeadm-config=${cluster.clusterConfigurationPath}`,
      '--vpc-ip=10.0.0.9',
    ]);
    try {
      const started = await svc.waitForLog((l) => l.msg.startsWith('Starting join service on '));
      const first = svc.logs[0]!;
      assert.equal(first.msg, 'Constellation Node Join Service');
      assert.equal(first['cloudProvider'], 'QEMU');
      const endpoint = started.msg.slice('Starting join service on '.length);
      const r = await runGoPeer(['--endpoint', endpoint, '--disk-uuid', 'serve-disk']);
      assert.equal(r.ok, true, JSON.stringify(r));
      assert.equal(r.stateDiskKey, deriveDataKey(MASTER_SECRET, MASTER_SALT, 'serve-disk', 32).toString('hex'));
      const j = await runGoPeer(['--endpoint', endpoint, '--rpc', 'join', '--node-name', 'serve-node']);
      assert.equal(j.ok, true, JSON.stringify(j));
      assert.equal(j.apiServerEndpoint, '10.0.0.9:6443');
    } finally {
      assert.equal(await svc.stop(), 0);
    }
  });

  const failsToStart = async (args: string[], expectedCode: number, pattern?: RegExp) => {
    const svc = spawnJoinService(args);
    const code = await svc.exited;
    assert.equal(code, expectedCode, JSON.stringify(svc.logs));
    if (pattern) assert.ok(svc.logs.some((l) => pattern.test(String(l['error'] ?? l.msg))), JSON.stringify(svc.logs));
  };

  test('an unknown variant exits 1 with Go\'s message', async () => {
    await failsToStart(['serve', '--cloud-provider=qemu', `--key-service-endpoint=${ks.endpoint}`, '--attestation-variant=foo', '--config-dir', configDir()], 1, /^unknown OID: "foo"$/);
  });

  test('a variant without a validator in this version exits 1 instead of serving', async () => {
    await failsToStart(['serve', '--cloud-provider=azure', `--key-service-endpoint=${ks.endpoint}`, '--attestation-variant=azure-tdx', '--config-dir', configDir()], 1, /azure-tdx/);
  });

  test('an unsupported cloud provider, no Kubernetes configuration, a missing or invalid config exit 1', async () => {
    const kube = `--kubeconfig=${cluster.kubeconfigPath}`;
    await failsToStart(['serve', '--cloud-provider=mars', `--key-service-endpoint=${ks.endpoint}`, '--attestation-variant=dummy', '--config-dir', configDir(), kube], 1, /unsupported cloud provider/);
    await failsToStart(['serve', '--cloud-provider=qemu', `--key-service-endpoint=${ks.endpoint}`, '--attestation-variant=dummy', '--config-dir', configDir()], 1, /in-cluster/);
    await failsToStart(['serve', '--cloud-provider=qemu', `--key-service-endpoint=${ks.endpoint}`, '--attestation-variant=dummy', '--config-dir', '/nonexistent', kube], 1, /attestationConfig/);
    await failsToStart(['serve', '--cloud-provider=qemu', `--key-service-endpoint=${ks.endpoint}`, '--attestation-variant=dummy', '--config-dir', configDir('[1,2]'), kube], 1, /must be a JSON object/);
  });

  test('an unknown flag is a usage error (exit 2)', async () => {
    await failsToStart(['serve', '--no-such-flag'], 2);
    await failsToStart(['serve', '--workers', 'many'], 2);
  });
});

describe('joinservice dev', () => {
  test('keeps its master secret across restarts and removes dev-info.json on stop', async () => {
    const stateDir = tempDir('joinservice-dev-');
    const first = await startDevService([], stateDir);
    const r1 = await runGoPeer(['--endpoint', first.info.endpoint, '--disk-uuid', 'restart-disk']);
    assert.equal(await first.stop(), 0);
    assert.equal(existsSync(path.join(stateDir, 'dev-info.json')), false);
    const second = await startDevService([], stateDir);
    try {
      const r2 = await runGoPeer(['--endpoint', second.info.endpoint, '--disk-uuid', 'restart-disk']);
      assert.equal(r1.ok && r2.ok, true);
      assert.equal(r1.stateDiskKey, r2.stateDiskKey);
      const secret = readFileSync(second.info.masterSecretPath);
      assert.equal(secret.length, 32);
      assert.equal(r2.stateDiskKey, deriveDataKey(secret, readFileSync(second.info.masterSaltPath), 'restart-disk', 32).toString('hex'));
    } finally {
      await second.stop();
    }
  });

  test('--workers 0 verifies inline and serves the same', async () => {
    const svc = await startDevService(['--workers', '0']);
    try {
      const good = await runGoPeer(['--endpoint', svc.info.endpoint]);
      assert.equal(good.ok, true, JSON.stringify(good));
      const bad = await runGoPeer(['--endpoint', svc.info.endpoint, '--mode', 'wrong-nonce']);
      assert.equal(bad.code, 'Unavailable');
    } finally {
      await svc.stop();
    }
  });

  test('--max-cert-list-bytes is the bound OpenSSL enforces on the client Certificate message', async () => {
    // 120 KiB is above OpenSSL's built-in 100 KiB: accepted by default (256 KiB), refused with a 64 KiB bound.
    const big = ['--mode', 'big-document', '--doc-size', String(120 * 1024)];
    const lowered = await startDevService(['--max-cert-list-bytes', String(64 * 1024)]);
    try {
      const since = lowered.logs.length;
      const r = await runGoPeer(['--endpoint', lowered.info.endpoint, ...big]);
      assert.equal(r.ok, false);
      const line = await lowered.waitForLog((l) => l.msg === 'TLS handshake failed', { since });
      assert.match(String((line['atls'] as Record<string, unknown>)['tlsError']), /EXCESSIVE_MESSAGE_SIZE/);
    } finally {
      await lowered.stop();
    }
    const standard = await startDevService([]);
    try {
      const r = await runGoPeer(['--endpoint', standard.info.endpoint, ...big]);
      assert.equal(r.ok, true, JSON.stringify(r));
    } finally {
      await standard.stop();
    }
  });

  test('--attestation-config uses the given file', async () => {
    const dir = tempDir('joinservice-cfg-');
    const file = path.join(dir, 'my-config.json');
    writeFileSync(file, '{"measurements":{}}');
    const svc = await startDevService(['--attestation-config', file]);
    try {
      assert.equal(svc.info.attestationConfigPath, file);
      assert.equal((await runGoPeer(['--endpoint', svc.info.endpoint])).ok, true);
    } finally {
      await svc.stop();
    }
  });
});

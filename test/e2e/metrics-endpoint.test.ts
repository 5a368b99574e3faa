import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { startDevCluster } from '../../src/main/devcluster/dev-cluster.js';
import { startKeyService } from '../../src/main/keyservice/keyservice-server.js';
import { silentLogger } from '../../src/main/log/logger.js';
import { parsePrometheusText, sampleSum, sampleValue, type MetricSample } from '../../src/main/metrics/parse-text.js';
import { spawnJoinService, startDevService, type DevService } from '../helpers/dev-service.js';
import { buildGoPeer, runGoPeer } from '../helpers/go-peer.js';

// `joinservice dev --metrics-listen 127.0.0.1:0`: a Go node joins, the endpoint shows it server-side
// (RPC, handshake, pool, CPU) and nothing secret from the ticket.
let svc: DevService;

before(async () => {
  await buildGoPeer();
  svc = await startDevService(['--workers', '2', '--metrics-listen', '127.0.0.1:0', '--attestation-variant', 'dummy']);
});

after(async () => {
  assert.equal(await svc?.stop(), 0);
});

async function get(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.text() };
}

async function scrape(): Promise<{ text: string; samples: MetricSample[] }> {
  const r = await get(svc.info.metricsEndpoint!);
  assert.equal(r.status, 200);
  return { text: r.body, samples: parsePrometheusText(r.body) };
}

test('dev announces the endpoint in its log and in dev-info.json', async () => {
  const url = svc.info.metricsEndpoint;
  assert.match(String(url), /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
  assert.doesNotMatch(String(url), /:0\/metrics$/, 'the real port, not 0');
  const line = await svc.waitForLog((l) => l.msg === `Metrics on ${url}`);
  assert.equal(line['metricsEndpoint'], url);
  const health = await get(url!.replace(/\/metrics$/, '/healthz'));
  assert.deepEqual(health, { status: 200, body: 'ok' });
  assert.equal((await get(url!.replace(/\/metrics$/, '/nope'))).status, 404);
});

test('one Go-node join shows up server-side, and no secret of its ticket is in the metrics', async () => {
  const before = (await scrape()).samples;
  assert.equal(sampleValue(before, 'joinservice_pool_workers'), 2);
  assert.equal(sampleValue(before, 'joinservice_rpcs_total', { method: 'IssueJoinTicket', code: 'OK' }), 0);

  const r = await runGoPeer(['--endpoint', svc.info.endpoint, '--rpc', 'join', '--node-name', 'metrics-node-7', '--disk-uuid', 'metrics-disk-uuid']);
  assert.equal(r.ok, true, JSON.stringify(r));
  const { text, samples: s } = await scrape();

  assert.equal(sampleValue(s, 'joinservice_rpcs_total', { method: 'IssueJoinTicket', code: 'OK' }), 1);
  assert.equal(sampleSum(s, 'joinservice_rpcs_total'), 1);
  assert.equal(sampleValue(s, 'joinservice_rpc_duration_seconds_count', { method: 'IssueJoinTicket' }), 1);
  assert.ok(sampleValue(s, 'joinservice_handshakes_total', { result: 'attested' })! >= 1);
  const ok = (task: string) => sampleValue(s, 'joinservice_pool_tasks_total', { task, result: 'ok' })!;
  assert.ok(ok('verify-certificate') >= 1 && ok('issue-kubelet-certificate') >= 1);
  assert.ok(sampleSum(s, 'joinservice_pool_tasks_total', { result: 'ok' }) >= 2);
  assert.ok(sampleValue(s, 'joinservice_pool_task_duration_seconds_count', { task: 'verify-certificate' })! >= 1);
  assert.ok(sampleValue(s, 'joinservice_pool_worker_busy_seconds_total')! > 0);
  assert.ok(sampleSum(s, 'joinservice_process_cpu_seconds_total') > 0);
  assert.ok(sampleValue(s, 'process_cpu_user_seconds_total')! > 0);
  assert.ok(sampleValue(s, 'joinservice_main_thread_busy_seconds_total')! > 0);
  assert.ok(sampleValue(s, 'joinservice_process_max_rss_bytes')! > 0);
  assert.ok(sampleValue(s, 'joinservice_event_loop_delay_samples')! > 0, 'samples since the previous scrape');
  assert.equal(sampleValue(s, 'joinservice_pending_handshakes'), 0);
  assert.equal(sampleValue(s, 'joinservice_attestation_config_generation'), 1);

  // Secrets never appear: the bootstrap token (and its halves), the disk key, the measurement secret
  // and the master secret. Nor do the node's name or disk UUID (labels only from fixed sets).
  const token = String(r.token);
  assert.match(token, /^[a-z0-9]{6}\.[a-z0-9]{16}$/);
  assert.match(String(r.stateDiskKey), /^[0-9a-f]{64}$/);
  assert.match(String(r.measurementSecret), /^[0-9a-f]{64}$/);
  const secrets = [
    token,
    token.split('.')[0]!,
    token.split('.')[1]!,
    String(r.stateDiskKey),
    String(r.measurementSecret),
    readFileSync(svc.info.masterSecretPath).toString('hex'),
    readFileSync(svc.info.masterSecretPath).toString('base64'),
    'metrics-node-7',
    'metrics-disk-uuid',
  ];
  const lower = text.toLowerCase();
  for (const secret of secrets) {
    assert.ok(secret.length >= 6, secret);
    assert.ok(!lower.includes(secret.toLowerCase()), `metrics contain ${secret}`);
  }
});

test('serve: Go flag syntax, IPv6 loopback, a rejoin counted, the endpoint closed on SIGTERM', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'metrics-serve-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'attestationConfig'), '{}');
  writeFileSync(path.join(dir, 'measurementSalt'), Buffer.alloc(32, 1));
  const ks = await startKeyService({ host: '127.0.0.1', port: 0, masterSecret: Buffer.alloc(32, 7), masterSalt: Buffer.alloc(32, 9), log: silentLogger() });
  t.after(() => ks.close());
  const cluster = await startDevCluster(path.join(dir, 'cluster'));
  t.after(() => cluster.close());
  const proc = spawnJoinService([
    'serve',
    '-cloud-provider=QEMU',
    `-key-service-endpoint=${ks.endpoint}`,
    '-attestation-variant=dummy',
    '--host=127.0.0.1',
    '--port=0',
    '--workers=0',
    `--config-dir=${dir}`,
    `--kubeconfig=${cluster.kubeconfigPath}`,
    `--pki-dir=${cluster.pkiDir}`,
    `--admin-conf=${cluster.adminConfPath}`,
    `--kubeadm-config=${cluster.clusterConfigurationPath}`,
    '--vpc-ip=10.0.0.9',
    '-metrics-listen=[::1]:0',
  ]);
  let stopped = false;
  t.after(async () => {
    if (!stopped) await proc.stop();
  });
  const metricsLine = await proc.waitForLog((l) => l.msg.startsWith('Metrics on '), { timeoutMs: 30_000 });
  const url = String(metricsLine['metricsEndpoint']);
  assert.match(url, /^http:\/\/\[::1\]:\d+\/metrics$/);
  assert.equal(metricsLine.msg, `Metrics on ${url}`);
  const started = await proc.waitForLog((l) => l.msg.startsWith('Starting join service on '));
  const endpoint = started.msg.slice('Starting join service on '.length);

  const r = await runGoPeer(['--endpoint', endpoint, '--rpc', 'rejoin', '--disk-uuid', 'serve-metrics-disk']);
  assert.equal(r.ok, true, JSON.stringify(r));
  const res = await fetch(url);
  const text = await res.text();
  const s = parsePrometheusText(text);
  assert.equal(sampleValue(s, 'joinservice_rpcs_total', { method: 'IssueRejoinTicket', code: 'OK' }), 1);
  assert.equal(sampleValue(s, 'joinservice_handshakes_total', { result: 'attested' }), 1);
  // --workers 0: verification runs inline; no worker threads, no worker busy time.
  assert.equal(sampleValue(s, 'joinservice_pool_workers'), 0);
  assert.equal(sampleValue(s, 'joinservice_pool_worker_busy_seconds_total'), 0);
  assert.equal(sampleValue(s, 'joinservice_pool_tasks_total', { task: 'verify-certificate', result: 'ok' }), 1);
  assert.ok(!text.toLowerCase().includes(String(r.stateDiskKey)), 'the disk key is not in the metrics');

  stopped = true;
  assert.equal(await proc.stop(), 0);
  await assert.rejects(fetch(url), 'the endpoint is closed with the service');
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { ServiceMetrics, type EventLoopDelayHistogram, type MetricSources } from '../../src/main/metrics/metrics.js';
import { parsePrometheusText, sampleSum, sampleValue, type MetricSample } from '../../src/main/metrics/parse-text.js';
import { WorkerPool, type InlineRunner } from '../../src/main/pool/worker-pool.js';
import { ErrorCode, JoinServiceError } from '../../src/shared/errors.js';
import { VERIFY_PROTOCOL_VERSION, type VerifyTask } from '../../src/shared/worker-protocol.js';

const task = (nowMs = Date.now()): VerifyTask => ({
  v: VERIFY_PROTOCOL_VERSION,
  kind: 'verify-certificate',
  certificate: Uint8Array.of(0x30, 0x00),
  nonce: new Uint8Array(32),
  variant: 'dummy',
  config: { generation: 1, text: '{}' },
  nowMs,
});

const okResult = { v: 1, ok: true, peer: { variant: 'dummy', userDataHex: '', measurements: {}, warnings: [] }, timings: { certificateUs: 0, attestationUs: 0 } };
const failResult = { v: 1, ok: false, error: { code: ErrorCode.CertParse, message: 'bad' }, timings: { certificateUs: 0, attestationUs: 0 } };

async function scrape(m: ServiceMetrics): Promise<MetricSample[]> {
  return parsePrometheusText(await m.scrape());
}

function bindPool(m: ServiceMetrics, pool: WorkerPool, over: Partial<MetricSources> = {}): void {
  m.bind({
    pool: () => pool.stats(),
    poolThreads: () => pool.threadCount(),
    poolBusyMs: () => pool.threadsBusyMs(),
    pendingHandshakes: () => 0,
    attestedConnections: () => 0,
    config: () => ({ generation: 1, reloads: 0, reloadFailures: 0 }),
    ...over,
  });
}

/** A stand-in for the event-loop histogram: the test decides what it recorded. */
class FakeHistogram implements EventLoopDelayHistogram {
  values: number[] = [];
  resets = 0;
  get count() {
    return this.values.length;
  }
  get max() {
    return Math.max(0, ...this.values);
  }
  percentile(p: number): number {
    const sorted = [...this.values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
  }
  reset(): void {
    this.values = [];
    this.resets++;
  }
  disable(): boolean {
    return true;
  }
}

test('the registry holds every documented metric with its fixed label sets, plus prom-client defaults', async (t) => {
  const m = new ServiceMetrics();
  t.after(() => m.close());
  const text = await m.scrape();
  for (const [name, type] of [
    ['joinservice_event_loop_delay_seconds', 'gauge'],
    ['joinservice_event_loop_delay_samples', 'gauge'],
    ['joinservice_process_max_rss_bytes', 'gauge'],
    ['joinservice_process_cpu_seconds_total', 'counter'],
    ['joinservice_main_thread_busy_seconds_total', 'counter'],
    ['joinservice_pool_workers', 'gauge'],
    ['joinservice_pool_queue_depth', 'gauge'],
    ['joinservice_pool_running', 'gauge'],
    ['joinservice_pool_tasks_total', 'counter'],
    ['joinservice_pool_task_duration_seconds', 'histogram'],
    ['joinservice_pool_worker_busy_seconds_total', 'counter'],
    ['joinservice_handshakes_total', 'counter'],
    ['joinservice_pending_handshakes', 'gauge'],
    ['joinservice_attested_connections', 'gauge'],
    ['joinservice_rpcs_total', 'counter'],
    ['joinservice_rpc_duration_seconds', 'histogram'],
    ['joinservice_attestation_config_generation', 'gauge'],
    ['joinservice_attestation_config_reloads_total', 'counter'],
    // prom-client's default metrics
    ['process_cpu_user_seconds_total', 'counter'],
    ['process_cpu_system_seconds_total', 'counter'],
    ['process_resident_memory_bytes', 'gauge'],
    ['nodejs_heap_size_used_bytes', 'gauge'],
    ['nodejs_eventloop_lag_p99_seconds', 'gauge'],
    ['nodejs_eventloop_lag_max_seconds', 'gauge'],
  ]) {
    assert.match(text, new RegExp(`^# TYPE ${name} ${type}$`, 'm'), name);
    assert.match(text, new RegExp(`^# HELP ${name} \\S`, 'm'), name);
  }
  const s = parsePrometheusText(text);
  // Every series of the fixed label sets exists from the start.
  for (const task of ['verify-certificate', 'issue-kubelet-certificate']) {
    for (const result of ['ok', 'error', 'overloaded', 'timeout']) assert.equal(sampleValue(s, 'joinservice_pool_tasks_total', { task, result }), 0);
  }
  for (const result of ['attested', 'rejected', 'timeout', 'refused']) assert.equal(sampleValue(s, 'joinservice_handshakes_total', { result }), 0);
  for (const method of ['IssueJoinTicket', 'IssueRejoinTicket']) assert.equal(sampleValue(s, 'joinservice_rpcs_total', { method, code: 'OK' }), 0);
  for (const quantile of ['0.5', '0.9', '0.99', '1']) assert.notEqual(sampleValue(s, 'joinservice_event_loop_delay_seconds', { quantile }), undefined);
  for (const result of ['ok', 'failed']) assert.equal(sampleValue(s, 'joinservice_attestation_config_reloads_total', { result }), 0);
  // Label names only from the fixed sets.
  const allowed = new Set(['task', 'result', 'method', 'code', 'quantile', 'mode', 'le', 'type', 'space', 'kind', 'version', 'major', 'minor', 'patch']);
  for (const sample of s) for (const k of Object.keys(sample.labels)) assert.ok(allowed.has(k), `${sample.name} has label ${k}`);
  // Process-wide figures since start: positive from the first scrape.
  assert.ok(sampleSum(s, 'joinservice_process_cpu_seconds_total') > 0);
  assert.ok(sampleValue(s, 'joinservice_process_max_rss_bytes')! >= sampleValue(s, 'process_resident_memory_bytes')! / 2);
});

test('RPC and handshake outcomes count under fixed labels; unknown values are dropped, not turned into labels', async (t) => {
  const m = new ServiceMetrics();
  t.after(() => m.close());
  m.rpcDone('IssueJoinTicket', 0, 0.02);
  m.rpcDone('IssueJoinTicket', 7, 0.001);
  m.rpcDone('IssueRejoinTicket', 14, 0.5);
  m.rpcDone('IssueJoinTicket', 99, 0.5);
  m.rpcDone('Evil' as never, 0, 0.5);
  m.handshake('attested');
  m.handshake('refused');
  m.handshake('refused');
  m.handshake('10.0.0.1:4000' as never);
  const s = await scrape(m);
  assert.equal(sampleValue(s, 'joinservice_rpcs_total', { method: 'IssueJoinTicket', code: 'OK' }), 1);
  assert.equal(sampleValue(s, 'joinservice_rpcs_total', { method: 'IssueJoinTicket', code: 'PERMISSION_DENIED' }), 1);
  assert.equal(sampleValue(s, 'joinservice_rpcs_total', { method: 'IssueRejoinTicket', code: 'UNAVAILABLE' }), 1);
  assert.equal(sampleValue(s, 'joinservice_rpcs_total', { method: 'IssueJoinTicket', code: 'UNKNOWN' }), 1, 'an out-of-range code counts as UNKNOWN');
  assert.equal(sampleSum(s, 'joinservice_rpcs_total'), 4);
  assert.equal(sampleValue(s, 'joinservice_rpc_duration_seconds_count', { method: 'IssueJoinTicket' }), 3);
  assert.equal(sampleValue(s, 'joinservice_rpc_duration_seconds_bucket', { method: 'IssueJoinTicket', le: '0.001' }), 1);
  assert.equal(sampleValue(s, 'joinservice_handshakes_total', { result: 'attested' }), 1);
  assert.equal(sampleValue(s, 'joinservice_handshakes_total', { result: 'refused' }), 2);
  assert.equal(sampleSum(s, 'joinservice_handshakes_total'), 3);
  assert.ok(!s.some((x) => Object.values(x.labels).includes('10.0.0.1:4000') || Object.values(x.labels).includes('Evil')));
});

test('event-loop delay gauges cover exactly the window since the previous scrape (every scrape resets)', async (t) => {
  const h = new FakeHistogram();
  const m = new ServiceMetrics({ eventLoopDelay: h });
  t.after(() => m.close());
  const q = (s: MetricSample[], quantile: string) => sampleValue(s, 'joinservice_event_loop_delay_seconds', { quantile });

  // Window 1: nothing recorded yet.
  let s = await scrape(m);
  assert.equal(sampleValue(s, 'joinservice_event_loop_delay_samples'), 0);
  for (const quantile of ['0.5', '0.9', '0.99', '1']) assert.equal(q(s, quantile), 0);

  // Window 2: 100 samples of 5 ms and one of 250 ms.
  h.values = [...Array.from({ length: 100 }, () => 5e6), 250e6];
  s = await scrape(m);
  assert.equal(sampleValue(s, 'joinservice_event_loop_delay_samples'), 101);
  assert.equal(q(s, '0.5'), 0.005);
  assert.equal(q(s, '0.99'), 0.005);
  assert.equal(q(s, '1'), 0.25);
  assert.equal(h.resets, 2);

  // Window 3: the 250 ms stall is gone, only what happened since.
  h.values.push(7e6);
  s = await scrape(m);
  assert.equal(sampleValue(s, 'joinservice_event_loop_delay_samples'), 1);
  assert.equal(q(s, '1'), 0.007);
  assert.equal(h.resets, 3);
});

test('the real sampler puts a stall that starts right after a scrape into the next window', async (t) => {
  // perf_hooks.monitorEventLoopDelay would lose this one: its reset() drops the first interval after it.
  const m = new ServiceMetrics();
  t.after(() => m.close());
  await scrape(m); // start a fresh window
  const until = Date.now() + 120;
  while (Date.now() < until) {
    // block the main thread
  }
  await sleep(20); // the histogram's timer runs once the loop is free again
  const s = await scrape(m);
  assert.ok(sampleValue(s, 'joinservice_event_loop_delay_samples')! >= 1);
  assert.ok(sampleValue(s, 'joinservice_event_loop_delay_seconds', { quantile: '1' })! >= 0.1, 'the max covers the 120 ms block');
});

test('inline pool (--workers 0): task outcomes, durations, gauges; no worker threads and no busy time', async (t) => {
  const m = new ServiceMetrics();
  t.after(() => m.close());
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const runner: InlineRunner = async (tk) => {
    const mode = (tk as VerifyTask).nowMs;
    if (mode === 1) return okResult;
    if (mode === 2) return failResult;
    if (mode === 3) throw new JoinServiceError(ErrorCode.Internal, 'boom');
    if (mode === 4) return new Promise(() => undefined); // never answers: times out
    await gate;
    return okResult;
  };
  const pool = new WorkerPool({ workers: 0, maxQueue: 1, timeoutMs: 50, inlineRunner: runner, onTaskDone: m.poolTaskDone });
  t.after(() => pool.close());
  await pool.start();
  bindPool(m, pool);

  assert.equal((await pool.verify(task(1))).ok, true);
  assert.equal((await pool.verify(task(2))).ok, false);
  await assert.rejects(pool.verify(task(3)));
  await assert.rejects(pool.verify(task(4)), (e: JoinServiceError) => e.code === ErrorCode.AttestationTimeout);
  // Two waiting tasks fill capacity (1 inline + 1 queued): the third is refused at once.
  const a = pool.verify(task(5));
  const b = pool.verify(task(5));
  await assert.rejects(pool.verify(task(5)), (e: JoinServiceError) => e.code === ErrorCode.PoolOverloaded);
  let s = await scrape(m);
  assert.equal(sampleValue(s, 'joinservice_pool_running'), 2);
  release();
  await Promise.all([a, b]);

  s = await scrape(m);
  const v = (result: string) => sampleValue(s, 'joinservice_pool_tasks_total', { task: 'verify-certificate', result });
  assert.equal(v('ok'), 3);
  assert.equal(v('error'), 2, 'a typed failure answer and a thrown error');
  assert.equal(v('timeout'), 1);
  assert.equal(v('overloaded'), 1);
  assert.equal(sampleValue(s, 'joinservice_pool_task_duration_seconds_count', { task: 'verify-certificate' }), 6, 'overloaded refusals are not timed');
  assert.ok(sampleValue(s, 'joinservice_pool_task_duration_seconds_sum', { task: 'verify-certificate' })! > 0);
  assert.equal(sampleValue(s, 'joinservice_pool_workers'), 0);
  assert.equal(sampleValue(s, 'joinservice_pool_running'), 0);
  assert.equal(sampleValue(s, 'joinservice_pool_queue_depth'), 0);
  assert.equal(sampleValue(s, 'joinservice_pool_worker_busy_seconds_total'), 0);
  assert.equal(sampleValue(s, 'joinservice_attestation_config_generation'), 1);
});

test('config generation and reload counters follow the config source', async (t) => {
  const m = new ServiceMetrics();
  t.after(() => m.close());
  const stats = { generation: 1, reloads: 0, reloadFailures: 0 };
  m.bind({ pool: () => ({ workers: 0, running: 0, queued: 0, completed: 0, rejectedOverload: 0 }), poolThreads: () => 0, poolBusyMs: () => 0, pendingHandshakes: () => 3, attestedConnections: () => 2, config: () => stats });
  let s = await scrape(m);
  assert.equal(sampleValue(s, 'joinservice_pending_handshakes'), 3);
  assert.equal(sampleValue(s, 'joinservice_attested_connections'), 2);
  Object.assign(stats, { generation: 3, reloads: 2, reloadFailures: 1 });
  s = await scrape(m);
  assert.equal(sampleValue(s, 'joinservice_attestation_config_generation'), 3);
  assert.equal(sampleValue(s, 'joinservice_attestation_config_reloads_total', { result: 'ok' }), 2);
  assert.equal(sampleValue(s, 'joinservice_attestation_config_reloads_total', { result: 'failed' }), 1);
  s = await scrape(m);
  assert.equal(sampleValue(s, 'joinservice_attestation_config_reloads_total', { result: 'ok' }), 2, 'not counted twice');
});

test('worker threads: busy seconds count task run time, not idle waiting, and never decrease across a replaced thread', async (t) => {
  // A worker that answers at once, or spins until it is terminated (nowMs === -2).
  const dir = mkdtempSync(path.join(tmpdir(), 'metrics-worker-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const entry = path.join(dir, 'spin-worker.mjs');
  writeFileSync(
    entry,
    `export default function run(task) {
      if (task.nowMs === -2) for (;;) {}
      const until = Date.now() + 30; while (Date.now() < until) {}
      return ${JSON.stringify(okResult)};
    }\n`,
  );
  const m = new ServiceMetrics();
  t.after(() => m.close());
  const pool = new WorkerPool({ workers: 1, maxQueue: 2, timeoutMs: 400, workerEntry: pathToFileURL(entry), onTaskDone: m.poolTaskDone });
  t.after(() => pool.close());
  await pool.start();
  bindPool(m, pool);
  const busy = async () => sampleValue(await scrape(m), 'joinservice_pool_worker_busy_seconds_total')!;

  assert.equal((await pool.verify(task(1))).ok, true);
  const afterOne = await busy();
  assert.ok(afterOne >= 0.025, `one 30 ms task is busy time (${afterOne})`);
  assert.equal(sampleValue(await scrape(m), 'joinservice_pool_workers'), 1);

  // An idle worker waits in Atomics.wait (JavaScript): that must not count as busy.
  await sleep(300);
  const idle = await busy();
  assert.ok(idle < afterOne + 0.1, `idle time is not busy time (${afterOne} → ${idle})`);
  // A task that spins until the pool replaces the thread.
  const spinning = pool.verify(task(-2));
  const during = await busy();
  await assert.rejects(spinning, (e: JoinServiceError) => e.code === ErrorCode.AttestationTimeout);
  // The replacement thread serves the next task; the spun time is still counted.
  assert.equal((await pool.verify(task(1))).ok, true);
  const after = await busy();
  assert.ok(after >= during, `busy time never decreases (${during} → ${after})`);
  const s = await scrape(m);
  assert.equal(sampleValue(s, 'joinservice_pool_tasks_total', { task: 'verify-certificate', result: 'timeout' }), 1);
  assert.equal(sampleValue(s, 'joinservice_pool_tasks_total', { task: 'verify-certificate', result: 'ok' }), 2);
});

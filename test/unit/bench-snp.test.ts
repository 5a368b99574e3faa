import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkBenchVariant, isSnpBenchVariant } from '../../bench/join/main.js';
import { evaluateTargets, loopComparison, renderMarkdown, renderTerminalSummary, snpCertificateLines } from '../../bench/join/report.js';
import type { BenchReport, PoolRun } from '../../bench/join/results.js';
import { digestServerLog } from '../../bench/join/server-log.js';

function run(pool: number, loopP99: number | null, cpu: number, serverLog?: PoolRun['serverLog']): PoolRun {
  return {
    pool,
    warmup: { total: 10, joined: 10 },
    load: {
      total: 200,
      joined: 200,
      failed: 0,
      retries: 0,
      durationMs: 5000,
      joinsPerSec: 40,
      errorsByCause: {},
      latencyMs: { p50: 2000, p95: 4000, p99: 4500, max: 4600 },
      attemptLatencyMs: { p50: 2000, p99: 4500 },
      timeline: [
        [0, 0],
        [5000, 200],
      ],
    },
    server: {
      workers: pool,
      windowMs: 5200,
      cpuMs: cpu * 200,
      cpuMsPerJoin: cpu,
      cpuSource: 'metrics',
      eventLoopDelayMs: loopP99 === null ? null : { p50: 5, p99: loopP99, max: loopP99 + 10 },
      workerUtilisation: pool > 0 ? 0.5 : null,
      workerCpuUtilisation: pool > 0 ? 0.4 : null,
      mainThreadUtilisation: 0.9,
      peakRssBytes: 200 * 2 ** 20,
      rssSource: 'metrics',
      threadsCpuMsPerJoin: { MainThread: 8, WorkerThread: pool > 0 ? 2 : 0 },
      handshakes: {},
      rpcs: {},
      poolTasks: {},
    },
    backends: { kubernetesRequests: 1000, kubernetesPerJoin: 5, kmsCalls: 600, kmsPerJoin: 3, kubernetesRoutes: {} },
    ratios: { cpuToFloor: cpu / 1.4, cpuToInline: null, throughputToInline: null },
    files: {},
    ...(serverLog ? { serverLog } : {}),
  };
}

const cacheLog = (): PoolRun['serverLog'] => ({ lines: 100, problems: {}, examples: [], snpCertCache: { source: 'configmap', persisted: true }, kdsMentions: 0 });

function report(runs: PoolRun[], variant = 'azure-sev-snp'): BenchReport {
  const r: BenchReport = {
    schema: 1,
    startedAt: '2026-12-04T10:00:00.000Z',
    durationMs: 60_000,
    commandLine: `npm run bench -- --quick --variant ${variant}`,
    quick: true,
    variant,
    machine: { cores: 2, cpuModel: 'AMD EPYC', nodeVersion: 'v24.21.0', goVersion: 'go1.19.8', kernel: '6.1', platform: 'linux/x64', totalMemBytes: 8 * 2 ** 30 },
    settings: {
      nodes: 200,
      arrival: 'burst',
      pools: runs.map((x) => x.pool),
      kubeLatencyMs: 5,
      kmsLatencyMs: 1,
      warmup: 10,
      callTimeout: '30s',
      retryInterval: '30s',
      runTimeout: '3m',
      kubeQps: 10_000,
      kubeBurst: 10_000,
      serverArgs: [],
      issuerProcesses: 1,
      issuerAks: 8,
      cpuProf: false,
    },
    runs,
    floor: {
      variant,
      floorMs: 1.4,
      primitives: [{ name: 'ECDSA P-384 SHA-384 verify: SNP report signature', countPerJoin: 1, usEach: 690, usPerJoin: 690 }],
      informational: [{ name: 'cold chain, nothing remembered: 2 RSA-4096 PSS verifies', countPerJoin: 1, usEach: 260, usPerJoin: 260 }],
    },
    targets: [],
    notes: [],
  };
  r.targets = evaluateTargets(r);
  return r;
}

test('bench variants: SEV-SNP azure/aws run, gcp is refused with the reason', () => {
  for (const v of ['qemu-vtpm', 'dummy', 'azure-sev-snp', 'aws-sev-snp']) checkBenchVariant(v);
  assert.throws(() => checkBenchVariant('gcp-sev-snp'), /GCE Compute API.*join-floor\.js --variant gcp-sev-snp/s);
  assert.throws(() => checkBenchVariant('azure-tdx'), /must be one of/);
  assert.ok(isSnpBenchVariant('aws-sev-snp') && !isSnpBenchVariant('qemu-vtpm'));
});

test('pool vs inline: event-loop p99 side by side with CPU ÷ floor', () => {
  const r = report([run(0, 90, 14, cacheLog()), run(1, 30, 15, cacheLog()), run(2, 18, 16, cacheLog())]);
  const c = loopComparison(r)!;
  assert.equal(c.inline.p99, 90);
  assert.deepEqual(
    c.pooled.map((x) => [x.pool, x.p99ToInline]),
    [
      [1, 0.333],
      [2, 0.2],
    ],
  );
  assert.equal(loopComparison(report([run(1, 30, 15)])), undefined, 'no inline run: nothing to compare');
  assert.equal(loopComparison(report([run(0, 30, 15)])), undefined, 'no pooled run: nothing to compare');
  assert.equal(loopComparison(report([run(0, null, 14), run(1, 30, 15)]))!.pooled[0]!.p99ToInline, null);

  const md = renderMarkdown(r);
  assert.match(md, /## SEV-SNP verification and the event loop: pool vs inline/);
  assert.match(md, /\| 0 \(inline\) \| main thread \| 90 ms \| 1\.00× \| 100 ms \| 14\.00 \| 10\.00× \|/);
  assert.match(md, /\| 2 \| 2 workers \| 18 ms \| 0\.20× \|/);
  assert.match(md, /pool 1: p99 30 ms, lower than inline \(90 ms, 0\.33×\), above the 20 ms target/);
  assert.match(md, /pool 2: p99 18 ms, lower than inline \(90 ms, 0\.20×\), within the 20 ms target/);
  assert.match(md, /source configmap\); no server log line mentions AMD KDS/);
  assert.match(md, /cold chain, nothing remembered/);

  const text = renderTerminalSummary(r, ['bench/results/2026-12-04-azure-sev-snp-quick.json']);
  assert.match(text, /event loop p99, pool vs inline: inline 90 ms \| pool 1 30 ms \(0\.33×\) \| pool 2 18 ms \(0\.20×\)/);
  assert.match(text, /CPU\/join ÷ floor: inline 10\.00× \| pool 1 10\.71× \| pool 2 11\.43×/);
  assert.match(text, /AMD certificates: every run's server took the ASK from the cert-cache ConfigMap/);
  assert.ok(text.split('\n').length <= 32, `${text.split('\n').length} lines`);

  const qemu = renderMarkdown(report([run(0, 90, 14), run(1, 30, 15)], 'qemu-vtpm'));
  assert.match(qemu, /## Verification and the event loop: pool vs inline/);
  assert.doesNotMatch(qemu, /AMD certificates/);
});

test('SEV-SNP certificate lines: one per run when the runs differ', () => {
  const kds: PoolRun['serverLog'] = { ...cacheLog()!, kdsMentions: 2, firstKdsMention: '{"msg":"retrieving VCEK certificate from AMD KDS"}' };
  const lines = snpCertificateLines(report([run(0, 90, 14, cacheLog()), run(1, 30, 15, kds)]));
  assert.equal(lines.length, 2);
  assert.match(lines[1]!, /pool 1: cert cache from configmap; 2 log lines mention AMD KDS \(first: .*retrieving VCEK/);
  assert.match(snpCertificateLines(report([run(1, 30, 15)]))[0]!, /pool 1: no server log/);
});

test('server log digest: problems by message, the cert-cache source, KDS mentions', () => {
  const log = [
    '{"level":"INFO","msg":"Constellation Node Join Service"}',
    '{"level":"INFO","snpCertCache":{"variant":"azure-sev-snp","product":"Milan","source":"configmap","persisted":true},"msg":"Using the SEV-SNP certificate chain cache"}',
    '{"level":"WARN","msg":"aTLS client rejected","check":"ATTESTATION_REJECTED","error":"validating SNP report: report field VMPL is 1"}',
    '{"level":"WARN","msg":"aTLS client rejected","check":"ATTESTATION_REJECTED","error":"validating SNP report: report field VMPL is 1"}',
    '{"level":"ERROR","msg":"IssueJoinTicket failed","code":13,"error":"retrieving VCEK certificate from AMD KDS: timeout"}',
    'not json',
    '',
  ].join('\n');
  const d = digestServerLog(log, { snp: true });
  assert.equal(d.lines, 6);
  assert.deepEqual(d.problems, { 'aTLS client rejected': 2, 'IssueJoinTicket failed': 1 });
  assert.deepEqual(d.examples, [
    'aTLS client rejected check=ATTESTATION_REJECTED error=validating SNP report: report field VMPL is 1',
    'IssueJoinTicket failed code=13 error=retrieving VCEK certificate from AMD KDS: timeout',
  ]);
  assert.deepEqual(d.snpCertCache, { source: 'configmap', persisted: true });
  assert.equal(d.kdsMentions, 1);
  assert.match(d.firstKdsMention!, /AMD KDS: timeout/);
  const plain = digestServerLog(log);
  assert.equal(plain.snpCertCache, undefined);
  assert.equal(plain.kdsMentions, undefined);
  assert.equal(digestServerLog('{"level":"INFO","msg":"x"}', { snp: true }).snpCertCache, null);
});

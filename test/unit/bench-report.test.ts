import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateTargets, renderMarkdown, renderTerminalSummary, fmtMs } from '../../bench/join/report.js';
import type { BenchReport, PoolRun } from '../../bench/join/results.js';
import { escapeXml, niceTicks, renderChart } from '../../bench/join/svg.js';
import { ProgressDisplay } from '../../bench/join/progress.js';
import { serverFigures } from '../../bench/join/main.js';
import { parsePrometheusText } from '../../bench/join/prometheus.js';

function run(pool: number, o: { cpu?: number; p99?: number; loopP99?: number | null; retries?: number; joined?: number } = {}): PoolRun {
  const joined = o.joined ?? 1000;
  return {
    pool,
    warmup: { total: 20, joined: 20 },
    load: {
      total: 1000,
      joined,
      failed: 1000 - joined,
      retries: o.retries ?? 0,
      durationMs: 10_000,
      joinsPerSec: joined / 10,
      errorsByCause: joined < 1000 ? { deadline: 1000 - joined } : {},
      latencyMs: { p50: 4000, p95: 8000, p99: o.p99 ?? 9000, max: 9500 },
      attemptLatencyMs: { p50: 3000, p99: 8000 },
      timeline: [
        [0, 0],
        [5000, 500],
        [10_000, joined],
      ],
    },
    server: {
      workers: pool,
      windowMs: 10_500,
      cpuMs: (o.cpu ?? 1.2) * joined,
      cpuMsPerJoin: o.cpu ?? 1.2,
      cpuSource: 'metrics',
      eventLoopDelayMs: o.loopP99 === null ? null : { p50: 1, p99: o.loopP99 ?? 10, max: 30 },
      workerUtilisation: pool > 0 ? 0.8 : null,
      workerCpuUtilisation: pool > 0 ? 0.5 : null,
      mainThreadUtilisation: 0.9,
      peakRssBytes: 300 * 2 ** 20,
      rssSource: 'metrics',
      threadsCpuMsPerJoin: { MainThread: 0.8, WorkerThread: 0.3, V8Worker: 0.1 },
      handshakes: {},
      rpcs: {},
      poolTasks: {},
    },
    backends: { kubernetesRequests: 5000, kubernetesPerJoin: 5, kmsCalls: 3000, kmsPerJoin: 3, kubernetesRoutes: {} },
    ratios: { cpuToFloor: (o.cpu ?? 1.2) / 1, cpuToInline: null, throughputToInline: null },
    files: {},
  };
}

function report(runs: PoolRun[], nodes = 1000, arrival = 'burst'): BenchReport {
  return {
    schema: 1,
    startedAt: '2025-01-02T03:04:05.000Z',
    durationMs: 60_000,
    commandLine: 'npm run bench -- --quick',
    quick: false,
    variant: 'qemu-vtpm',
    machine: { cores: 2, cpuModel: 'AMD EPYC <test>', nodeVersion: 'v24.21.0', goVersion: 'go1.19.8', kernel: '6.1', platform: 'linux/x64', totalMemBytes: 8 * 2 ** 30 },
    settings: {
      nodes,
      arrival,
      pools: runs.map((r) => r.pool),
      kubeLatencyMs: 5,
      kmsLatencyMs: 1,
      warmup: 20,
      callTimeout: '30s',
      retryInterval: '30s',
      runTimeout: '15m',
      kubeQps: 10_000,
      kubeBurst: 10_000,
      serverArgs: [],
      issuerProcesses: 1,
      issuerAks: 8,
      cpuProf: false,
    },
    runs,
    floor: { variant: 'qemu-vtpm', floorMs: 1, primitives: [{ name: 'RSA verify', countPerJoin: 1, usEach: 60, usPerJoin: 60 }] },
    targets: [],
    notes: [],
  };
}

test('targets: met, not met and not evaluated, judged on the runs with a pool', () => {
  const good = report([run(0, { cpu: 9, loopP99: 500 }), run(1), run(2)]);
  assert.deepEqual(
    evaluateTargets(good).map((t) => t.status),
    ['met', 'met', 'met'],
  );
  const bad = report([run(0), run(1, { cpu: 1.6 }), run(2, { loopP99: 25, retries: 3 })]);
  const t = evaluateTargets(bad);
  assert.deepEqual(
    t.map((x) => x.status),
    ['not met', 'not met', 'not met'],
  );
  assert.match(t[0]!.detail, /pool 1: 1\.60×/);
  const small = report([run(2, { loopP99: null })], 60);
  assert.deepEqual(
    evaluateTargets(small).map((x) => x.status),
    ['met', 'not evaluated', 'not evaluated'],
  );
  assert.equal(evaluateTargets({ ...small, floor: null, runs: [{ ...run(2), ratios: { cpuToFloor: null, cpuToInline: null, throughputToInline: null } }] })[0]!.status, 'not evaluated');
  assert.deepEqual(
    evaluateTargets(report([run(0)])).map((x) => x.status),
    ['not evaluated', 'not evaluated', 'not evaluated'],
  );
});

test('Markdown summary: command line, machine, one row per pool, targets, chart', () => {
  const r = report([run(0), run(2)]);
  r.targets = evaluateTargets(r);
  const md = renderMarkdown(r, 'chart.svg');
  assert.match(md, /`npm run bench -- --quick`/);
  assert.match(md, /2 × AMD EPYC <test>/);
  assert.match(md, /\| 0 \(inline\) \| 1000\/1000 \| 100\.0 \| 4\.00 s \|/);
  assert.match(md, /\| 2 \| 1\.20 \| 1\.20× \|/);
  assert.match(md, /✅ met: server CPU per join ≤ 1\.5× the crypto floor/);
  assert.match(md, /!\[[^\]]+\]\(chart\.svg\)/);
  assert.match(md, /\| pool \| MainThread \| WorkerThread \| V8Worker \|/);
  const broken = report([{ pool: 1, error: 'server exited (1)', warmup: { total: 20, joined: 0 }, ratios: { cpuToFloor: null, cpuToInline: null, throughputToInline: null }, files: {} }]);
  broken.floor = null;
  broken.floorError = 'skipped';
  assert.match(renderMarkdown(broken), /server exited \(1\)/);
  assert.match(renderMarkdown(broken), /Crypto floor: not measured \(skipped\)/);
});

test('terminal summary fits one screen', () => {
  const r = report([run(0), run(1), run(2)]);
  r.targets = evaluateTargets(r);
  const text = renderTerminalSummary(r, ['bench/results/x.json']);
  const lines = text.split('\n');
  assert.ok(lines.length <= 30, `${lines.length} lines`);
  const wide = lines.filter((l) => l.length > 160);
  assert.deepEqual(wide, [], 'no line wider than 160 columns');
  assert.match(text, /wrote bench\/results\/x\.json/);
});

function assertBalanced(svg: string): void {
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    if (m[3] === '/') continue;
    if (m[1] === '/') assert.equal(stack.pop(), m[2], `closing ${m[2]}`);
    else stack.push(m[2]!);
  }
  assert.deepEqual(stack, []);
}

test('SVG chart: well-formed, one curve and three bars per pool, escaped text', () => {
  const r = report([run(0), run(1), run(2)]);
  r.machine.cpuModel = 'A & B <cpu>';
  const svg = renderChart(r);
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  assertBalanced(svg);
  assert.equal((svg.match(/<polyline /g) ?? []).length, 3);
  assert.equal((svg.match(/<rect x=/g) ?? []).length, 3 * 3 + 3);
  assert.ok(svg.includes('A &amp; B &lt;cpu&gt;'));
  assert.ok(!/NaN|undefined|Infinity/.test(svg));
  const empty = renderChart(report([]));
  assertBalanced(empty);
  assert.ok(!/NaN|undefined|Infinity/.test(empty));
  assert.equal(escapeXml(`<"'&>`), '&lt;&quot;&apos;&amp;&gt;');
});

test('nice axis ticks', () => {
  assert.deepEqual(niceTicks(10), [0, 2, 4, 6, 8, 10]);
  assert.deepEqual(niceTicks(1000), [0, 200, 400, 600, 800, 1000]);
  assert.deepEqual(niceTicks(0.77), [0, 0.2, 0.4, 0.6, 0.8]);
  assert.deepEqual(niceTicks(0), [0, 1]);
  assert.equal(fmtMs(1234), '1.23 s');
});

test('progress: one updating line on a TTY, a line every 5 s otherwise', () => {
  const out: string[] = [];
  const p = { elapsedMs: 4200, joined: 412, failed: 0, inFlight: 10, waitingRetry: 0, total: 1000, retries: 0, ratePerSec: 97, errors: {} };
  const tty = new ProgressDisplay(true, (s) => out.push(s));
  tty.update(2, p);
  tty.update(2, { ...p, joined: 413 });
  tty.done();
  assert.equal(out.length, 3);
  assert.ok(out[0]!.startsWith('\rpool=2  joined 412/1000  rate 97/s'));
  assert.equal(out[2], '\n');
  out.length = 0;
  let now = 0;
  const plain = new ProgressDisplay(false, (s) => out.push(s), 5000, () => now);
  plain.update(1, p);
  now = 1000;
  plain.update(1, p);
  now = 5000;
  plain.update(1, p);
  assert.equal(out.length, 2);
  assert.ok(out.every((l) => l.endsWith('\n') && !l.includes('\r')));
});

test('server figures from two scrapes', () => {
  const start = parsePrometheusText(`process_cpu_user_seconds_total 10
process_cpu_system_seconds_total 1
joinservice_pool_workers 2
joinservice_pool_worker_busy_seconds_total 4
joinservice_handshakes_total{result="ok"} 20
joinservice_process_max_rss_bytes 100
joinservice_main_thread_busy_seconds_total 1
`);
  const end = parsePrometheusText(`process_cpu_user_seconds_total 19
process_cpu_system_seconds_total 2
joinservice_pool_workers 2
joinservice_pool_worker_busy_seconds_total 12
joinservice_handshakes_total{result="ok"} 1020
joinservice_process_max_rss_bytes 300
joinservice_main_thread_busy_seconds_total 8
joinservice_event_loop_delay_seconds{quantile="0.5"} 0.001
joinservice_event_loop_delay_seconds{quantile="0.9"} 0.005
joinservice_event_loop_delay_seconds{quantile="0.99"} 0.015
joinservice_event_loop_delay_seconds{quantile="1"} 0.04
`);
  const f = serverFigures(
    2,
    { at: 0, samples: start, cpuMs: 11_000, peakRssBytes: 100, threadsCpuMs: { MainThread: 1000, WorkerThread: 500 }, backends: undefined },
    { at: 10_000, samples: end, cpuMs: 21_000, peakRssBytes: 300, threadsCpuMs: { MainThread: 8000, WorkerThread: 4500 }, backends: undefined },
    1000,
  );
  assert.equal(f.cpuMs, 10_000);
  assert.equal(f.cpuMsPerJoin, 10);
  assert.equal(f.cpuSource, 'metrics');
  assert.deepEqual(f.eventLoopDelayMs, { p50: 1, p99: 15, max: 40 });
  assert.equal(f.workerUtilisation, 0.4);
  assert.equal(f.workerCpuUtilisation, 0.2);
  assert.equal(f.mainThreadUtilisation, 0.7);
  assert.deepEqual(f.threadsCpuMsPerJoin, { MainThread: 7, WorkerThread: 4 });
  assert.equal(f.peakRssBytes, 300);
  assert.deepEqual(f.handshakes, { ok: 1000 });
  const procfs = serverFigures(0, { at: 0, samples: undefined, cpuMs: 500, peakRssBytes: 1, backends: undefined }, { at: 1000, samples: undefined, cpuMs: 1500, peakRssBytes: 2, backends: undefined }, 100);
  assert.equal(procfs.cpuSource, 'procfs');
  assert.equal(procfs.cpuMsPerJoin, 10);
  assert.equal(procfs.eventLoopDelayMs, null);
  assert.equal(procfs.workerUtilisation, null);
});

/** Targets, the Markdown summary and the terminal summary of a join benchmark report. */
import type { BenchReport, PoolRun, TargetCheck } from './results.js';

export const TARGET_CPU_TO_FLOOR = 1.5;
export const TARGET_EVENT_LOOP_P99_MS = 20;
export const TARGET_BURST_NODES = 1000;
export const TARGET_BURST_P99_MS = 10_000;

/** Milliseconds for people: `850 ms`, `1.24 s`, `12.3 s`; `–` when unknown. */
export function fmtMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  if (ms < 10) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${ms.toFixed(0)} ms`;
  if (ms < 10_000) return `${(ms / 1000).toFixed(2)} s`;
  return `${(ms / 1000).toFixed(1)} s`;
}

export function fmtNum(x: number | null | undefined, digits = 1): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  return x.toFixed(digits);
}

export function fmtRatio(x: number | null | undefined): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '–' : `${x.toFixed(2)}×`;
}

export function fmtPct(x: number | null | undefined): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '–' : `${(x * 100).toFixed(0)} %`;
}

export function fmtBytes(b: number | null | undefined): string {
  if (b === null || b === undefined || !Number.isFinite(b)) return '–';
  return `${(b / (1024 * 1024)).toFixed(0)} MiB`;
}

export function fmtErrors(e: Record<string, number> | undefined): string {
  const entries = Object.entries(e ?? {}).filter(([, n]) => n > 0);
  if (entries.length === 0) return '0';
  return entries
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k}: ${n}`)
    .join(', ');
}

export function poolLabel(pool: number): string {
  return pool === 0 ? '0 (inline)' : String(pool);
}

function pooled(runs: readonly PoolRun[]): PoolRun[] {
  return runs.filter((r) => r.pool > 0 && r.load !== undefined && r.load.joined > 0);
}

function judge(id: TargetCheck['id'], text: string, runs: PoolRun[], check: (r: PoolRun) => [boolean | null, string]): TargetCheck {
  if (runs.length === 0) return { id, text, status: 'not evaluated', detail: 'no run with a worker pool' };
  const results = runs.map((r) => ({ r, v: check(r) }));
  const unknown = results.filter((x) => x.v[0] === null);
  const detail = results.map((x) => `pool ${x.r.pool}: ${x.v[1]}`).join('; ');
  if (unknown.length > 0) return { id, text, status: 'not evaluated', detail };
  return { id, text, status: results.every((x) => x.v[0] === true) ? 'met' : 'not met', detail };
}

/** The issue's targets, each judged on every run with a worker pool (pool ≥ 1); never throws. */
export function evaluateTargets(report: Pick<BenchReport, 'runs' | 'floor' | 'settings'>): TargetCheck[] {
  const runs = pooled(report.runs);
  const out: TargetCheck[] = [];
  out.push(
    judge('cpu-floor', `server CPU per join ≤ ${TARGET_CPU_TO_FLOOR}× the crypto floor`, runs, (r) => {
      const x = r.ratios.cpuToFloor;
      if (x === null) return [null, report.floor ? 'no CPU figure' : 'no floor measured'];
      return [x <= TARGET_CPU_TO_FLOOR, fmtRatio(x)];
    }),
  );
  out.push(
    judge('event-loop', `event-loop delay p99 ≤ ${TARGET_EVENT_LOOP_P99_MS} ms at saturation with the pool`, runs, (r) => {
      const d = r.server?.eventLoopDelayMs;
      if (!d) return [null, 'no metrics endpoint'];
      return [d.p99 <= TARGET_EVENT_LOOP_P99_MS, fmtMs(d.p99)];
    }),
  );
  const s = report.settings;
  const burstText = `a ${TARGET_BURST_NODES}-node burst completes with zero retries and p99 ≤ ${TARGET_BURST_P99_MS / 1000} s`;
  if (s.arrival !== 'burst' || s.nodes < TARGET_BURST_NODES) {
    out.push({ id: 'burst-1000', text: burstText, status: 'not evaluated', detail: `this run: ${s.nodes} nodes, arrival ${s.arrival}` });
  } else {
    out.push(
      judge('burst-1000', burstText, runs, (r) => {
        const l = r.load!;
        const ok = l.joined === l.total && l.retries === 0 && l.latencyMs.p99 <= TARGET_BURST_P99_MS;
        return [ok, `${l.joined}/${l.total} joined, ${l.retries} retries, p99 ${fmtMs(l.latencyMs.p99)}`];
      }),
    );
  }
  return out;
}

/** The thread names of the runs, busiest first. */
export function threadColumns(runs: readonly PoolRun[]): string[] {
  const total: Record<string, number> = {};
  for (const r of runs) for (const [n, ms] of Object.entries(r.server?.threadsCpuMsPerJoin ?? {})) total[n] = (total[n] ?? 0) + ms;
  return Object.entries(total)
    .sort((a, b) => b[1] - a[1])
    .map(([n]) => n);
}

function table(header: string[], rows: string[][], align: ('l' | 'r')[]): string[] {
  const lines = [`| ${header.join(' | ')} |`, `| ${align.map((a) => (a === 'r' ? '---:' : '---')).join(' | ')} |`];
  for (const r of rows) lines.push(`| ${r.join(' | ')} |`);
  return lines;
}

function loopCell(r: PoolRun): string {
  const d = r.server?.eventLoopDelayMs;
  return d ? `${fmtNum(d.p50)} / ${fmtNum(d.p99)} / ${fmtNum(d.max)}` : '–';
}

export function machineLine(report: BenchReport): string {
  const m = report.machine;
  return `${m.cores} × ${m.cpuModel}, ${(m.totalMemBytes / 2 ** 30).toFixed(1)} GiB, ${m.platform} ${m.kernel}, Node ${m.nodeVersion}, ${m.goVersion}`;
}

function isSnpVariant(variant: string): boolean {
  return /-sev-snp$/.test(variant);
}

export interface LoopComparisonRow {
  pool: number;
  /** Event-loop delay p99 / max in the measured window (ms); null without metrics. */
  p99: number | null;
  max: number | null;
  /** p99 ÷ the inline run's p99. */
  p99ToInline: number | null;
  cpuMsPerJoin: number | null;
  cpuToFloor: number | null;
}

/**
 * "Does verification still stall the event loop?": the event-loop delay p99
 * of every run next to the inline run's (pool 0, verification on the main
 * thread), and CPU per join ÷ floor. Undefined without an inline run and a
 * run with a pool (nothing to put side by side).
 */
export function loopComparison(report: Pick<BenchReport, 'runs'>): { inline: LoopComparisonRow; pooled: LoopComparisonRow[] } | undefined {
  const ok = report.runs.filter((r) => r.load !== undefined && r.load.joined > 0);
  const inlineRun = ok.find((r) => r.pool === 0);
  const pooledRuns = ok.filter((r) => r.pool > 0);
  if (!inlineRun || pooledRuns.length === 0) return undefined;
  const inlineP99 = inlineRun.server?.eventLoopDelayMs?.p99 ?? null;
  const row = (r: PoolRun): LoopComparisonRow => {
    const p99 = r.server?.eventLoopDelayMs?.p99 ?? null;
    return {
      pool: r.pool,
      p99,
      max: r.server?.eventLoopDelayMs?.max ?? null,
      p99ToInline: p99 !== null && inlineP99 !== null && inlineP99 > 0 ? Math.round((p99 / inlineP99) * 1000) / 1000 : null,
      cpuMsPerJoin: r.server?.cpuMsPerJoin ?? null,
      cpuToFloor: r.ratios.cpuToFloor,
    };
  };
  return { inline: row(inlineRun), pooled: pooledRuns.map(row) };
}

/** One sentence per pooled run: its p99 against inline and the target. */
function loopVerdict(c: NonNullable<ReturnType<typeof loopComparison>>, r: LoopComparisonRow): string {
  if (r.p99 === null || c.inline.p99 === null) return `pool ${r.pool}: not measured (no event-loop metric)`;
  const vs = r.p99 < c.inline.p99 ? 'lower than' : r.p99 > c.inline.p99 ? 'higher than' : 'equal to';
  const target = r.p99 <= TARGET_EVENT_LOOP_P99_MS ? `within the ${TARGET_EVENT_LOOP_P99_MS} ms target` : `above the ${TARGET_EVENT_LOOP_P99_MS} ms target`;
  return `pool ${r.pool}: p99 ${fmtMs(r.p99)}, ${vs} inline (${fmtMs(c.inline.p99)}, ${fmtRatio(r.p99ToInline)}), ${target}`;
}

function snpRunLine(r: PoolRun): string {
  const d = r.serverLog;
  if (!d) return `pool ${r.pool}: no server log`;
  const cache = d.snpCertCache ? `cert cache from ${d.snpCertCache.source}${d.snpCertCache.persisted ? '' : ' (not persisted)'}` : 'no "Using the SEV-SNP certificate chain cache" line';
  const kds = d.kdsMentions ? `${d.kdsMentions} log lines mention AMD KDS (first: ${d.firstKdsMention ?? '?'})` : 'no log line mentions AMD KDS';
  return `pool ${r.pool}: ${cache}; ${kds}`;
}

/** The SEV-SNP certificate facts of the runs: one line when every run agrees, else one per run. */
export function snpCertificateLines(report: Pick<BenchReport, 'runs'>): string[] {
  const withLog = report.runs.filter((r) => r.serverLog);
  const first = withLog[0]?.serverLog;
  const uniform =
    first !== undefined &&
    withLog.length === report.runs.length &&
    withLog.every((r) => r.serverLog!.snpCertCache?.source === first.snpCertCache?.source && r.serverLog!.snpCertCache?.persisted === first.snpCertCache?.persisted && !r.serverLog!.kdsMentions);
  if (uniform && first.snpCertCache) {
    return [`AMD certificates: every run's server took the ASK from the cert-cache ConfigMap (source ${first.snpCertCache.source}); no server log line mentions AMD KDS`];
  }
  return report.runs.map((r) => `AMD certificates: ${snpRunLine(r)}`);
}

function problemsLine(r: PoolRun): string | undefined {
  const d = r.serverLog;
  if (!d) return undefined;
  const total = Object.values(d.problems).reduce((a, b) => a + b, 0);
  if (total === 0) return undefined;
  const by = Object.entries(d.problems)
    .sort((a, b) => b[1] - a[1])
    .map(([m, n]) => `${m} ×${n}`)
    .join(', ');
  return `pool ${r.pool} server log: ${total} WARN/ERROR (${by}); first: ${d.examples[0] ?? '?'}`;
}

function targetMark(t: TargetCheck): string {
  return t.status === 'met' ? '✅ met' : t.status === 'not met' ? '❌ not met' : '➖ not evaluated';
}

/** The Markdown summary (`bench/results/<date>-<variant>.md`). */
export function renderMarkdown(report: BenchReport, chartFile?: string): string {
  const s = report.settings;
  const L: string[] = [];
  L.push(`# Join benchmark: ${report.variant}${report.quick ? ' (quick)' : ''}, ${report.startedAt.slice(0, 10)}`);
  L.push('');
  L.push(`Command: \`${report.commandLine}\``);
  L.push('');
  L.push(`Machine: ${machineLine(report)}. The load generator, the issuer, the backends and the server share these cores.`);
  L.push('');
  L.push(
    `Load: ${s.nodes} nodes per run, arrival ${s.arrival}, the Go aTLS client (crypto/tls + grpc-go) joining like Constellation's node ` +
      `(${s.callTimeout} per attempt, retry after ${s.retryInterval}); ${s.warmup} warm-up joins per run, not measured. ` +
      `Backends: Kubernetes API emulator +${s.kubeLatencyMs} ms per request, key service +${s.kmsLatencyMs} ms per call. ` +
      `Server: \`joinservice serve --workers <pool> --kube-qps ${s.kubeQps} --kube-burst ${s.kubeBurst}${s.serverArgs.length ? ` ${s.serverArgs.join(' ')}` : ''}\` ` +
      `(the default 50 QPS client-side limit would cap joins at ~10/s with ~5 API calls per join and measure the limiter, not the service).`,
  );
  L.push('');
  L.push('## Throughput and latency');
  L.push('');
  L.push(
    ...table(
      ['pool', 'joined', 'joins/s', 'p50', 'p95', 'p99', 'max', 'retries', 'errors', 'vs inline'],
      report.runs.map((r) => {
        const l = r.load;
        if (!l) return [poolLabel(r.pool), '–', '–', '–', '–', '–', '–', '–', r.error ?? 'no result', '–'];
        return [
          poolLabel(r.pool),
          `${l.joined}/${l.total}`,
          fmtNum(l.joinsPerSec),
          fmtMs(l.latencyMs.p50),
          fmtMs(l.latencyMs.p95),
          fmtMs(l.latencyMs.p99),
          fmtMs(l.latencyMs.max),
          String(l.retries),
          fmtErrors(l.errorsByCause),
          fmtRatio(r.ratios.throughputToInline),
        ];
      }),
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l', 'r'],
    ),
  );
  L.push('');
  L.push('## Server cost');
  L.push('');
  L.push(
    ...table(
      ['pool', 'CPU ms/join', '÷ floor', '÷ inline', 'event loop p50 / p99 / max (ms)', 'main thread busy', 'worker util. (metric / CPU)', 'peak RSS', 'K8s calls/join', 'KMS calls/join'],
      report.runs.map((r) => [
        poolLabel(r.pool),
        fmtNum(r.server?.cpuMsPerJoin, 2),
        fmtRatio(r.ratios.cpuToFloor),
        fmtRatio(r.ratios.cpuToInline),
        loopCell(r),
        fmtPct(r.server?.mainThreadUtilisation),
        r.pool === 0 ? '–' : `${fmtPct(r.server?.workerUtilisation)} / ${fmtPct(r.server?.workerCpuUtilisation)}`,
        fmtBytes(r.server?.peakRssBytes),
        fmtNum(r.backends?.kubernetesPerJoin, 1),
        fmtNum(r.backends?.kmsPerJoin, 1),
      ]),
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
  );
  L.push('');
  const cmp = loopComparison(report);
  if (cmp) {
    L.push(`## ${isSnpVariant(report.variant) ? 'SEV-SNP verification' : 'Verification'} and the event loop: pool vs inline`);
    L.push('');
    L.push(
      'Event-loop delay of the main thread in the measured window with verification in the worker pool, next to pool 0 ' +
        '(`--workers 0`: every verification on the main thread), and the server CPU per join ÷ the crypto floor' +
        `${report.floor ? ` (${fmtNum(report.floor.floorMs, 3)} ms)` : ' (not measured)'}.`,
    );
    L.push('');
    L.push(
      ...table(
        ['pool', 'verification on', 'event loop p99', 'p99 ÷ inline', 'event loop max', 'CPU ms/join', 'CPU ÷ floor'],
        [cmp.inline, ...cmp.pooled].map((r) => [
          poolLabel(r.pool),
          r.pool === 0 ? 'main thread' : `${r.pool} worker${r.pool === 1 ? '' : 's'}`,
          fmtMs(r.p99),
          r.pool === 0 ? '1.00×' : fmtRatio(r.p99ToInline),
          fmtMs(r.max),
          fmtNum(r.cpuMsPerJoin, 2),
          fmtRatio(r.cpuToFloor),
        ]),
        ['l', 'l', 'r', 'r', 'r', 'r', 'r'],
      ),
    );
    L.push('');
    for (const r of cmp.pooled) L.push(`- ${loopVerdict(cmp, r)}.`);
    L.push('');
  }
  if (isSnpVariant(report.variant)) {
    for (const l of snpCertificateLines(report)) L.push(`${l}.`, '');
  }
  const problems = report.runs.map(problemsLine).filter((x): x is string => x !== undefined);
  if (problems.length > 0) {
    L.push('Server log warnings and errors:');
    L.push('');
    for (const p of problems) L.push(`- ${p.replace(/\|/g, '\\|')}`);
    L.push('');
  }
  const threadRuns = report.runs.filter((r) => r.server && Object.keys(r.server.threadsCpuMsPerJoin ?? {}).length > 0);
  if (threadRuns.length > 0) {
    L.push('Server CPU per join by thread (ms, from /proc/<pid>/task): `MainThread` is the event loop, `WorkerThread` the pool, `V8Worker` V8\'s GC and compiler helpers, `libuv-worker` the libuv thread pool.');
    L.push('');
    const names = threadColumns(threadRuns);
    L.push(
      ...table(
        ['pool', ...names],
        threadRuns.map((r) => [poolLabel(r.pool), ...names.map((n) => fmtNum(r.server!.threadsCpuMsPerJoin[n], 2))]),
        ['l', ...names.map((): 'r' => 'r')],
      ),
    );
    L.push('');
  }
  if (report.floor) {
    L.push(`Crypto floor (\`dist/bench/micro/join-floor.js --variant ${report.variant}\`): **${fmtNum(report.floor.floorMs, 3)} ms** CPU per join.`);
    if (report.floor.primitives?.length) {
      L.push('');
      L.push(
        ...table(
          ['primitive', 'per join', 'µs each', 'µs per join'],
          report.floor.primitives.map((p) => [p.name, String(p.countPerJoin), fmtNum(p.usEach, 1), fmtNum(p.usPerJoin, 1)]),
          ['l', 'r', 'r', 'r'],
        ),
      );
    }
    const cold = (report.floor.informational ?? []).filter((p) => p.name.startsWith('cold chain'));
    if (cold.length > 0) {
      L.push('');
      L.push('The floor assumes a known chip (the worker\'s SEV-SNP chain cache holds its verified chain); once per new chip and worker thread, informational:');
      L.push('');
      L.push(...table(['not in the floor', 'µs once'], cold.map((p) => [p.name, fmtNum(p.usEach, 1)]), ['l', 'r']));
    }
  } else {
    L.push(`Crypto floor: not measured (${report.floorError ?? 'unknown reason'}).`);
  }
  L.push('');
  L.push('## Targets');
  L.push('');
  for (const t of report.targets) L.push(`- ${targetMark(t)}: ${t.text} (${t.detail})`);
  L.push('');
  for (const n of report.notes) L.push(`- ${n}`);
  if (report.notes.length) L.push('');
  if (chartFile) {
    L.push(`![joins over time and latency percentiles per pool size](${chartFile})`);
    L.push('');
  }
  return L.join('\n');
}

function pad(cells: string[][]): string[] {
  const widths = cells[0]!.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  return cells.map((r) => r.map((x, c) => (c === 0 ? x.padEnd(widths[c]!) : x.padStart(widths[c]!))).join('  '));
}

/** The one-screen summary printed at the end (plain text, ≤ ~100 columns). */
export function renderTerminalSummary(report: BenchReport, files: string[]): string {
  const s = report.settings;
  const L: string[] = [];
  L.push('');
  L.push(`Join benchmark ${report.variant}${report.quick ? ' (quick)' : ''}: ${s.nodes} nodes, ${s.arrival}, +${s.kubeLatencyMs} ms K8s, +${s.kmsLatencyMs} ms KMS`);
  L.push(`machine: ${machineLine(report)}`);
  L.push('');
  L.push(
    ...pad([
      ['pool', 'joined', 'joins/s', 'p50', 'p95', 'p99', 'max', 'retries', 'CPU/join', '÷floor', '÷inline', 'loop p99', 'loop max', 'main', 'workers', 'RSS'],
      ...report.runs.map((r) => {
        const l = r.load;
        const sv = r.server;
        return [
          poolLabel(r.pool),
          l ? `${l.joined}/${l.total}` : 'broke',
          fmtNum(l?.joinsPerSec),
          fmtMs(l?.latencyMs.p50),
          fmtMs(l?.latencyMs.p95),
          fmtMs(l?.latencyMs.p99),
          fmtMs(l?.latencyMs.max),
          l ? String(l.retries) : '–',
          sv?.cpuMsPerJoin != null ? `${sv.cpuMsPerJoin.toFixed(2)} ms` : '–',
          fmtRatio(r.ratios.cpuToFloor),
          fmtRatio(r.ratios.cpuToInline),
          fmtMs(sv?.eventLoopDelayMs?.p99),
          fmtMs(sv?.eventLoopDelayMs?.max),
          fmtPct(sv?.mainThreadUtilisation),
          r.pool === 0 ? '–' : fmtPct(sv?.workerCpuUtilisation ?? sv?.workerUtilisation),
          fmtBytes(sv?.peakRssBytes),
        ];
      }),
    ]),
  );
  for (const r of report.runs) {
    const t = Object.entries(r.server?.threadsCpuMsPerJoin ?? {})
      .filter(([, ms]) => ms >= 0.05)
      .sort((a, b) => b[1] - a[1]);
    if (t.length > 0) L.push(`pool ${r.pool} CPU ms/join by thread: ${t.map(([n, ms]) => `${n} ${ms.toFixed(2)}`).join(', ')}`);
  }
  const errs = report.runs.filter((r) => r.error || (r.load && Object.keys(r.load.errorsByCause).length > 0));
  for (const r of errs) L.push(`pool ${r.pool}: ${r.error ?? `errors ${fmtErrors(r.load?.errorsByCause)}`}`);
  for (const r of report.runs) {
    const p = problemsLine(r);
    if (p) L.push(p.length > 300 ? `${p.slice(0, 297)}...` : p);
  }
  L.push('');
  L.push(report.floor ? `crypto floor: ${fmtNum(report.floor.floorMs, 3)} ms CPU per join` : `crypto floor: not measured (${report.floorError ?? 'unknown'})`);
  const cmp = loopComparison(report);
  if (cmp) {
    const cell = (r: LoopComparisonRow) => (r.pool === 0 ? `inline ${fmtMs(r.p99)}` : `pool ${r.pool} ${fmtMs(r.p99)} (${fmtRatio(r.p99ToInline)})`);
    L.push(`event loop p99, pool vs inline: ${[cmp.inline, ...cmp.pooled].map(cell).join(' | ')}`);
    L.push(`CPU/join ÷ floor: ${[cmp.inline, ...cmp.pooled].map((r) => `${r.pool === 0 ? 'inline' : `pool ${r.pool}`} ${fmtRatio(r.cpuToFloor)}`).join(' | ')}`);
  }
  if (isSnpVariant(report.variant)) L.push(...snpCertificateLines(report));
  for (const t of report.targets) {
    L.push(`${t.status === 'met' ? 'MET    ' : t.status === 'not met' ? 'NOT MET' : 'n/a    '}  ${t.text}`);
    L.push(`         ${t.detail}`);
  }
  L.push('');
  for (const f of files) L.push(`wrote ${f}`);
  return L.join('\n');
}

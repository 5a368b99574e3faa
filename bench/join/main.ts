/**
 * The join benchmark (`npm run bench [-- FLAGS]`): for each worker-pool size,
 * fresh backends (Kubernetes API emulator, key service) and a fresh
 * `joinservice serve`, warm-up joins, then N simulated Go nodes joining under
 * the chosen arrival pattern; the service's own metrics before and after give
 * its CPU per join, event-loop delay, worker utilisation and peak RSS. Then
 * the crypto-floor micro-benchmark, the targets, and
 * bench/results/<date>-<variant>[-quick].{json,md,svg}. See bench/README.md.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import type { BackendsInfo, BackendStats } from './backends.js';
import { runLoad, arrivalArgs, type LoadResult } from './load.js';
import { machineInfo } from './machine.js';
import { Lines, liveProcs, spawnProc, waitFor, type Proc } from './procs.js';
import { ProgressDisplay } from './progress.js';
import { deltaBy, metricBy, metricSum, type Sample } from './prometheus.js';
import { evaluateTargets, renderMarkdown, renderTerminalSummary } from './report.js';
import type { BenchReport, BenchSettings, FloorResult, PoolRun, ServerFigures } from './results.js';
import { procUsage, scrape, serveSupportsMetrics, startServer, type RunningServer } from './server.js';
import { digestServerLog } from './server-log.js';
import { joinedTimeline, joinsPerSecond, ratio, round, summarizeLatencies } from './stats.js';
import { renderChart } from './svg.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const DIST = path.join(REPO, 'dist');
const NODE = process.execPath;
const PEER = path.join(REPO, 'test/go/bin/atls-peer');
const FLOOR_JS = path.join(DIST, 'bench/micro/join-floor.js');

const QUICK = { nodes: 200, warmup: 10, runTimeout: '3m' };
const FULL = { nodes: 1000, warmup: 20, runTimeout: '15m' };

interface Flags {
  variant: string;
  nodes?: number;
  arrival: string;
  pools: number[];
  kubeLatencyMs: number;
  kmsLatencyMs: number;
  quick: boolean;
  out: string;
  cpuProf: boolean;
  warmup?: number;
  runTimeout?: string;
  callTimeout: string;
  retryInterval: string;
  kubeQps: number;
  kubeBurst: number;
  serverArg: string[];
  issuerProcesses: number;
  issuerAks: number;
  stateDir?: string;
  floor: boolean;
}

function intArg(min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < min || n > max) throw new InvalidArgumentError(`must be an integer from ${min} to ${max}`);
    return n;
  };
}

function numArg(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError('must be a number >= 0');
  return n;
}

function poolsArg(v: string): number[] {
  const pools = v.split(',').map((s) => intArg(0, 256)(s.trim()));
  if (pools.length === 0) throw new InvalidArgumentError('at least one pool size');
  return pools;
}

function durationArg(v: string): string {
  if (!/^\d+(?:\.\d+)?(?:ms|s|m|h)$/.test(v)) throw new InvalidArgumentError('a Go duration like 30s, 15m');
  return v;
}

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

export function parseFlags(argv: string[]): Flags {
  const cmd = new Command('bench')
    .description('join throughput and latency under autoscaling bursts, as ratios to the crypto floor (bench/README.md)')
    .option('--variant <variant>', `attestation variant (${BENCH_VARIANTS.join(', ')})`, 'qemu-vtpm')
    .option('--nodes <n>', `nodes per run (default ${FULL.nodes}, --quick ${QUICK.nodes})`, intArg(1, 1_000_000))
    .option('--arrival <pattern>', 'burst | window:<duration> (e.g. window:60s) | rate:<nodes/s> (e.g. rate:50)', 'burst')
    .option('--pools <list>', 'worker pool sizes to compare (0 = inline on the main thread)', poolsArg, [0, 1, 2])
    .option('--kube-latency-ms <ms>', 'latency injected per Kubernetes API request', numArg, 5)
    .option('--kms-latency-ms <ms>', 'latency injected per key service call', numArg, 1)
    .option('--quick', `smoke/development mode, about a minute: ${QUICK.nodes} nodes, floor --quick, writes <date>-<variant>-quick.*`, false)
    .option('--out <dir>', 'results directory', path.join(REPO, 'bench/results'))
    .option('--cpu-prof', 'run the server under node --cpu-prof (profiles in <out>/profiles/)', false)
    .option('--warmup <n>', `warm-up joins per run, not measured (default ${FULL.warmup}, --quick ${QUICK.warmup})`, intArg(0, 100_000))
    .option('--run-timeout <duration>', `upper bound of one load run (default ${FULL.runTimeout}, --quick ${QUICK.runTimeout})`, durationArg)
    .option('--call-timeout <duration>', "per-attempt deadline (Constellation's node: 30s)", durationArg, '30s')
    .option('--retry-interval <duration>', "wait after a failed attempt (Constellation's node: 30s)", durationArg, '30s')
    .option('--kube-qps <n>', 'server client-side Kubernetes QPS (high, so that the limiter is not what is measured)', intArg(1, 10_000), 10_000)
    .option('--kube-burst <n>', 'server client-side Kubernetes burst', intArg(1, 100_000), 10_000)
    .option('--server-arg <flag>', 'extra flag for joinservice serve (repeatable), e.g. --server-arg=--max-verify-queue=2048', collect, [])
    .option('--issuer-processes <n>', 'processes of the attestation issuer', intArg(1, 64), 1)
    .option('--issuer-aks <n>', 'attestation keys per issuer process', intArg(1, 1024), 8)
    .option('--state-dir <dir>', 'dev state of the benchmark (default .state/bench/<variant>)')
    .option('--no-floor', 'skip the crypto-floor micro-benchmark');
  cmd.exitOverride();
  try {
    cmd.parse(argv, { from: 'user' });
  } catch (err) {
    // --help: 0; a usage error (already printed by commander): 2.
    if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2);
    throw err;
  }
  const f = cmd.opts<Flags>();
  try {
    arrivalArgs(f.arrival);
    checkBenchVariant(f.variant);
  } catch (err) {
    process.stderr.write(`error: ${(err as Error).message}\n`);
    process.exit(2);
  }
  return f;
}

/** The variants the join benchmark can run end to end. */
export const BENCH_VARIANTS = ['qemu-vtpm', 'dummy', 'azure-sev-snp', 'aws-sev-snp'] as const;

/** Throws a usage error for a variant the benchmark cannot run (with the reason). */
export function checkBenchVariant(variant: string): void {
  if ((BENCH_VARIANTS as readonly string[]).includes(variant)) return;
  if (variant === 'gcp-sev-snp') {
    throw new Error(
      '--variant gcp-sev-snp is not supported by the join benchmark: its validator takes the trusted AK from the GCE Compute API ' +
        '(getShieldedInstanceIdentity, with an OAuth token from the GCE metadata server), and joinservice serve has no flag to point it at a ' +
        'fake GCE endpoint, so every join would fail at that lookup. Its crypto floor runs alone: node dist/bench/micro/join-floor.js --variant gcp-sev-snp',
    );
  }
  throw new Error(`--variant must be one of ${BENCH_VARIANTS.join(', ')} (no issuer for ${JSON.stringify(variant)})`);
}

export function isSnpBenchVariant(variant: string): boolean {
  return variant === 'azure-sev-snp' || variant === 'aws-sev-snp' || variant === 'gcp-sev-snp';
}

function quoteArg(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`;
}

function commandLine(argv: string[]): string {
  const via = process.env['npm_lifecycle_event'] === 'bench' ? 'npm run bench' : 'node scripts/bench.js';
  return argv.length === 0 ? via : `${via}${via.startsWith('npm') ? ' --' : ''} ${argv.map(quoteArg).join(' ')}`;
}

function newestMtime(dir: string, suffix: string): number {
  let newest = 0;
  if (!existsSync(dir)) return 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestMtime(p, suffix));
    else if (e.name.endsWith(suffix)) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/** Builds the Go peer when it is missing or older than its sources; checks that it has --load. */
function ensurePeer(say: (s: string) => void): void {
  const srcNewest = newestMtime(path.join(REPO, 'test/go/src'), '.go');
  if (!existsSync(PEER) || statSync(PEER).mtimeMs < srcNewest) {
    say('building the Go load generator (bash scripts/build-go-peer.sh) …');
    const r = spawnSync('bash', [path.join(REPO, 'scripts/build-go-peer.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.status !== 0) throw new Error('scripts/build-go-peer.sh failed (see above)');
  }
  const help = spawnSync(PEER, ['--help'], { encoding: 'utf8' });
  if (!`${help.stdout}${help.stderr}`.includes('-load')) throw new Error(`${PEER} has no --load mode; rebuild it with bash scripts/build-go-peer.sh`);
}

export interface Scrape {
  at: number;
  samples: Sample[] | undefined;
  cpuMs: number | null;
  peakRssBytes: number | null;
  threadsCpuMs?: Record<string, number>;
  backends: BackendStats | undefined;
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

async function takeScrape(server: RunningServer, backends: BackendsInfo, resetRoutes: boolean): Promise<Scrape> {
  const [samples, usage, b] = await Promise.all([
    server.metricsUrl ? scrape(server.metricsUrl) : Promise.resolve(undefined),
    procUsage(server.proc.pid),
    getJson<BackendStats>(`${backends.statsUrl}${resetRoutes ? '?reset=1' : ''}`).catch(() => undefined),
  ]);
  const at = performance.now();
  let cpuMs: number | null = usage?.cpuMs ?? null;
  let peak: number | null = usage?.peakRssBytes ?? null;
  if (samples) {
    const u = metricSum(samples, 'process_cpu_user_seconds_total');
    const s = metricSum(samples, 'process_cpu_system_seconds_total');
    const own = metricSum(samples, 'joinservice_process_cpu_seconds_total');
    if (u !== undefined && s !== undefined) cpuMs = (u + s) * 1000;
    else if (own !== undefined) cpuMs = own * 1000;
    peak = metricSum(samples, 'joinservice_process_max_rss_bytes') ?? peak;
  }
  return { at, samples, cpuMs, peakRssBytes: peak, threadsCpuMs: usage?.threadsCpuMs ?? {}, backends: b };
}

export function serverFigures(pool: number, start: Scrape, end: Scrape, joined: number): ServerFigures {
  const windowMs = end.at - start.at;
  const fromMetrics = start.samples !== undefined && end.samples !== undefined;
  const cpuMs = start.cpuMs !== null && end.cpuMs !== null ? end.cpuMs - start.cpuMs : null;
  let eventLoopDelayMs: ServerFigures['eventLoopDelayMs'] = null;
  let workerUtilisation: number | null = null;
  let mainThreadUtilisation: number | null = null;
  let workers = pool;
  const handshakes: Record<string, number> = {};
  let rpcs: Record<string, number> = {};
  let poolTasks: Record<string, number> = {};
  if (fromMetrics) {
    const q = (quantile: string) => metricSum(end.samples!, 'joinservice_event_loop_delay_seconds', { quantile });
    const p50 = q('0.5');
    const p99 = q('0.99');
    const max = q('1');
    if (p50 !== undefined && p99 !== undefined && max !== undefined) eventLoopDelayMs = { p50: p50 * 1000, p99: p99 * 1000, max: max * 1000 };
    workers = metricSum(end.samples!, 'joinservice_pool_workers') ?? pool;
    const b0 = metricSum(start.samples!, 'joinservice_pool_worker_busy_seconds_total');
    const b1 = metricSum(end.samples!, 'joinservice_pool_worker_busy_seconds_total');
    if (pool > 0 && workers > 0 && b0 !== undefined && b1 !== undefined && windowMs > 0) workerUtilisation = (b1 - b0) / (workers * (windowMs / 1000));
    const m0 = metricSum(start.samples!, 'joinservice_main_thread_busy_seconds_total');
    const m1 = metricSum(end.samples!, 'joinservice_main_thread_busy_seconds_total');
    if (m0 !== undefined && m1 !== undefined && windowMs > 0) mainThreadUtilisation = (m1 - m0) / (windowMs / 1000);
    Object.assign(handshakes, deltaBy(metricBy(start.samples!, 'joinservice_handshakes_total', ['result']), metricBy(end.samples!, 'joinservice_handshakes_total', ['result'])));
    rpcs = deltaBy(metricBy(start.samples!, 'joinservice_rpcs_total', ['method', 'code']), metricBy(end.samples!, 'joinservice_rpcs_total', ['method', 'code']));
    poolTasks = deltaBy(metricBy(start.samples!, 'joinservice_pool_tasks_total', ['task', 'result']), metricBy(end.samples!, 'joinservice_pool_tasks_total', ['task', 'result']));
  }
  const source = fromMetrics ? 'metrics' : cpuMs !== null ? 'procfs' : 'none';
  const threadsDelta = deltaBy(start.threadsCpuMs ?? {}, end.threadsCpuMs ?? {});
  const workerCpuMs = threadsDelta['WorkerThread'];
  const workerCpuUtilisation = pool > 0 && workerCpuMs !== undefined && windowMs > 0 ? workerCpuMs / (pool * windowMs) : null;
  const threadsCpuMsPerJoin: Record<string, number> = {};
  if (joined > 0) {
    for (const [name, ms] of Object.entries(threadsDelta)) threadsCpuMsPerJoin[name] = round(ms / joined, 3);
  }
  return {
    workers,
    windowMs: round(windowMs, 1),
    cpuMs: cpuMs === null ? null : round(cpuMs, 1),
    cpuMsPerJoin: cpuMs === null || joined === 0 ? null : round(cpuMs / joined, 3),
    cpuSource: source,
    eventLoopDelayMs: eventLoopDelayMs && { p50: round(eventLoopDelayMs.p50, 2), p99: round(eventLoopDelayMs.p99, 2), max: round(eventLoopDelayMs.max, 2) },
    workerUtilisation: workerUtilisation === null ? null : round(workerUtilisation, 3),
    workerCpuUtilisation: workerCpuUtilisation === null ? null : round(workerCpuUtilisation, 3),
    mainThreadUtilisation: mainThreadUtilisation === null ? null : round(mainThreadUtilisation, 3),
    peakRssBytes: end.peakRssBytes,
    rssSource: end.samples && metricSum(end.samples, 'joinservice_process_max_rss_bytes') !== undefined ? 'metrics' : end.peakRssBytes !== null ? 'procfs' : 'none',
    threadsCpuMsPerJoin,
    handshakes,
    rpcs,
    poolTasks,
  };
}

interface Context {
  flags: Flags;
  settings: BenchSettings;
  logDir: string;
  profDir: string;
  issuerUrl: string;
  metrics: boolean;
  stateDir: string;
  /** SEV-SNP: the synthetic AMD PKI shared by the issuer, the backends and the floor. */
  pkiDir: string | undefined;
  progress: ProgressDisplay;
  say: (s: string) => void;
}

async function startBackends(ctx: Context, pool: number): Promise<{ proc: Proc; info: BackendsInfo }> {
  const lines = new Lines();
  const proc = spawnProc(
    'backends',
    NODE,
    [
      path.join(DIST, 'bench/join/backends.js'),
      '--variant',
      ctx.flags.variant,
      '--state-dir',
      ctx.stateDir,
      '--kube-latency-ms',
      String(ctx.flags.kubeLatencyMs),
      '--kms-latency-ms',
      String(ctx.flags.kmsLatencyMs),
      ...(ctx.pkiDir ? ['--pki-dir', ctx.pkiDir] : []),
    ],
    { onStdout: lines.emit, logStdout: true, logFile: path.join(ctx.logDir, `backends-pool${pool}.log`) },
  );
  const info = await waitFor(
    proc,
    lines.subscribe,
    (l) => {
      try {
        const v = JSON.parse(l) as BackendsInfo;
        return typeof v.statsUrl === 'string' ? v : undefined;
      } catch {
        return undefined;
      }
    },
    120_000,
    'info line',
  );
  return { proc, info };
}

async function runPool(ctx: Context, pool: number): Promise<PoolRun> {
  const { flags, settings } = ctx;
  const files: Record<string, string> = {
    serverLog: path.join(ctx.logDir, `server-pool${pool}.log`),
    loadLog: path.join(ctx.logDir, `load-pool${pool}.log`),
    backendsLog: path.join(ctx.logDir, `backends-pool${pool}.log`),
    nodes: path.join(ctx.logDir, `nodes-pool${pool}.json`),
  };
  // The report names them relative to the repository (it may be committed).
  const relFiles = () => Object.fromEntries(Object.entries(files).map(([k, f]) => [k, path.relative(REPO, f)]));
  const run: PoolRun = { pool, warmup: { total: settings.warmup, joined: 0 }, ratios: { cpuToFloor: null, cpuToInline: null, throughputToInline: null }, files: {} };
  let backends: { proc: Proc; info: BackendsInfo } | undefined;
  let server: RunningServer | undefined;
  try {
    ctx.say(`pool=${pool}: starting the backends and joinservice serve --workers ${pool} …`);
    backends = await startBackends(ctx, pool);
    const cpuProfDir = flags.cpuProf ? path.join(ctx.profDir, `pool${pool}`) : undefined;
    if (cpuProfDir) {
      await mkdir(cpuProfDir, { recursive: true });
      files['profiles'] = cpuProfDir;
    }
    server = await startServer({
      repo: REPO,
      node: NODE,
      variant: flags.variant,
      workers: pool,
      backends: backends.info,
      kubeQps: settings.kubeQps,
      kubeBurst: settings.kubeBurst,
      metrics: ctx.metrics,
      extraArgs: settings.serverArgs,
      logFile: files['serverLog']!,
      ...(cpuProfDir ? { cpuProfDir } : {}),
    });
    const common = {
      peer: PEER,
      endpoint: server.endpoint,
      variant: flags.variant,
      issuerUrl: ctx.issuerUrl,
      callTimeout: settings.callTimeout,
      retryInterval: settings.retryInterval,
      logFile: files['loadLog']!,
    };
    if (settings.warmup > 0) {
      ctx.say(`pool=${pool}: ${settings.warmup} warm-up joins …`);
      const w = await runLoad(
        { ...common, count: settings.warmup, arrival: 'burst', maxAttempts: 1, runTimeout: '2m', nodeName: 'warmup', progressInterval: '0s' },
        () => {},
      ).result;
      run.warmup.joined = w.joined;
      if (w.joined === 0) throw new Error(`no warm-up join succeeded: ${JSON.stringify(w.errorsByCause)} (first error: ${w.nodes.find((n) => !n.ok)?.lastError ?? '?'})`);
    }
    const start = await takeScrape(server, backends.info, true);
    const load = runLoad(
      { ...common, count: settings.nodes, arrival: settings.arrival, runTimeout: settings.runTimeout, nodeName: 'bench', progressInterval: '1s' },
      (p) => ctx.progress.update(pool, p),
    );
    let result: LoadResult;
    try {
      result = await load.result;
    } finally {
      ctx.progress.done();
    }
    const end = await takeScrape(server, backends.info, false);
    await writeFile(files['nodes']!, `${JSON.stringify(result.nodes)}\n`);

    const lat = summarizeLatencies(result.nodes.filter((n) => n.ok).map((n) => n.latencyMs));
    run.load = {
      total: result.total,
      joined: result.joined,
      failed: result.failed,
      retries: result.retries,
      durationMs: round(result.durationMs, 1),
      joinsPerSec: round(joinsPerSecond(result.joined, result.durationMs), 2),
      errorsByCause: result.errorsByCause ?? {},
      latencyMs: result.nodes.length > 0 ? lat : result.latencyMs,
      attemptLatencyMs: result.attemptLatencyMs,
      timeline: joinedTimeline(result.nodes),
    };
    run.server = serverFigures(pool, start, end, result.joined);
    const kReq = start.backends && end.backends ? end.backends.kubernetesRequests - start.backends.kubernetesRequests : 0;
    const kms = start.backends && end.backends ? end.backends.kmsCalls - start.backends.kmsCalls : 0;
    run.backends = {
      kubernetesRequests: kReq,
      kubernetesPerJoin: result.joined > 0 ? round(kReq / result.joined, 2) : null,
      kmsCalls: kms,
      kmsPerJoin: result.joined > 0 ? round(kms / result.joined, 2) : null,
      kubernetesRoutes: end.backends?.kubernetesRoutes ?? {},
    };
    if (result.joined === 0) run.error = `no node joined: ${JSON.stringify(result.errorsByCause)}`;
    if (result.interrupted) run.error = 'the load generator was interrupted';
  } catch (err) {
    run.error = (err as Error).message;
    ctx.progress.note(`pool=${pool}: broke: ${run.error}`);
  } finally {
    const stops: Promise<unknown>[] = [];
    if (server) stops.push(server.proc.stop(30_000));
    await Promise.all(stops);
    if (backends) await backends.proc.stop(10_000);
    run.files = relFiles();
    if (server) {
      const text = await readFile(files['serverLog']!, 'utf8').catch(() => '');
      run.serverLog = digestServerLog(text, { snp: isSnpBenchVariant(flags.variant) });
    }
  }
  return run;
}

async function runFloor(ctx: Context): Promise<{ floor: FloorResult | null; error?: string }> {
  if (!ctx.flags.floor) return { floor: null, error: 'skipped (--no-floor)' };
  if (!existsSync(FLOOR_JS)) return { floor: null, error: `${path.relative(REPO, FLOOR_JS)} does not exist yet` };
  ctx.say(`crypto floor: node ${path.relative(REPO, FLOOR_JS)} --variant ${ctx.flags.variant} --json${ctx.flags.quick ? ' --quick' : ''}${ctx.pkiDir ? ' --pki-dir …' : ''} …`);
  const stdout: string[] = [];
  const proc = spawnProc('floor', NODE, [FLOOR_JS, '--variant', ctx.flags.variant, '--json', ...(ctx.flags.quick ? ['--quick'] : []), ...(ctx.pkiDir ? ['--pki-dir', ctx.pkiDir] : [])], {
    onStdout: (l) => stdout.push(l),
    logStdout: true,
    logFile: path.join(ctx.logDir, 'floor.log'),
  });
  const timer = setTimeout(() => void proc.stop(2000), 15 * 60_000);
  const code = await proc.exited;
  clearTimeout(timer);
  const text = stdout.join('\n').trim();
  for (const candidate of [text, ...stdout.slice().reverse()]) {
    try {
      const v = JSON.parse(candidate) as FloorResult;
      if (typeof v.floorMs === 'number' && v.floorMs > 0) return { floor: v };
    } catch {
      // try the next candidate
    }
  }
  return { floor: null, error: `join-floor exited (${code}) without a JSON result with floorMs; see ${path.join(ctx.logDir, 'floor.log')}` };
}

function stamp(d: Date): string {
  return d.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
}

export async function main(argv: string[]): Promise<number> {
  const flags = parseFlags(argv);
  const started = new Date();
  const t0 = performance.now();
  const out = path.resolve(flags.out);
  const tty = Boolean(process.stdout.isTTY);
  const progress = new ProgressDisplay(tty, (s) => process.stdout.write(s));
  const say = (s: string) => progress.note(s);
  const base = `${started.toISOString().slice(0, 10)}-${flags.variant}${flags.quick ? '-quick' : ''}`;
  const logDir = path.join(out, 'logs', `${stamp(started)}-${flags.variant}${flags.quick ? '-quick' : ''}`);
  const profDir = path.join(out, 'profiles', `${stamp(started)}-${flags.variant}`);
  await mkdir(logDir, { recursive: true });

  const defaults = flags.quick ? QUICK : FULL;
  const settings: BenchSettings = {
    nodes: flags.nodes ?? defaults.nodes,
    arrival: flags.arrival,
    pools: flags.pools,
    kubeLatencyMs: flags.kubeLatencyMs,
    kmsLatencyMs: flags.kmsLatencyMs,
    warmup: flags.warmup ?? defaults.warmup,
    callTimeout: flags.callTimeout,
    retryInterval: flags.retryInterval,
    runTimeout: flags.runTimeout ?? defaults.runTimeout,
    kubeQps: flags.kubeQps,
    kubeBurst: flags.kubeBurst,
    serverArgs: flags.serverArg,
    issuerProcesses: flags.issuerProcesses,
    issuerAks: flags.issuerAks,
    cpuProf: flags.cpuProf,
  };

  if (!existsSync(path.join(DIST, 'src/main/cli/main.js'))) throw new Error('dist/ is missing: run npm run build (or npm run bench, which builds)');
  ensurePeer(say);
  const metrics = serveSupportsMetrics(REPO, NODE);
  const notes: string[] = [];
  if (!metrics) notes.push('joinservice serve has no --metrics-listen yet: CPU and peak RSS come from /proc; event-loop delay and worker utilisation are not measured.');

  const interrupted = () => {
    progress.note('interrupted: stopping the child processes …');
    void Promise.all(liveProcs().map((p) => p.stop(3000))).then(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);

  say(`logs: ${path.relative(process.cwd(), logDir) || logDir}`);
  const stateDir = path.resolve(flags.stateDir ?? path.join(REPO, '.state/bench', flags.variant));
  const snp = isSnpBenchVariant(flags.variant);
  // One synthetic AMD PKI for the issuer (signs), the backends (config + cert cache) and the floor; created by the issuer on first use.
  const pkiDir = snp ? path.join(stateDir, 'amd-pki') : undefined;
  if (snp) {
    notes.push(
      `${flags.variant}: documents from the software SNP issuer (src/workers/attestation/snp/issuer) signed by the synthetic AMD PKI in ` +
        `${path.relative(REPO, pkiDir!)}, which the attestation config trusts (amdRootKey = its ARK); all ${flags.issuerAks} AKs are one chip, so the server's ` +
        'chain cache knows it after the first join (a join costs the report\'s P-384 verify, not the AMD chain). The emulator is seeded with ' +
        'kube-system/sev-snp-cert-cache and every node sends its VCEK/VLEK: AMD KDS is not needed (each run\'s server log is checked for it: "AMD certificates").',
    );
  }
  const issuerLines = new Lines();
  const issuer = spawnProc(
    'issuer',
    NODE,
    [
      path.join(DIST, 'bench/join/issuer-server.js'),
      '--processes',
      String(flags.issuerProcesses),
      '--aks',
      String(flags.issuerAks),
      '--variant',
      flags.variant,
      ...(pkiDir ? ['--pki-dir', pkiDir] : []),
    ],
    { onStdout: issuerLines.emit, logStdout: true, logFile: path.join(logDir, 'issuer.log') },
  );
  const runs: PoolRun[] = [];
  let floorResult: { floor: FloorResult | null; error?: string };
  try {
    const issuerUrl = await waitFor(
      issuer,
      issuerLines.subscribe,
      (l) => {
        try {
          return (JSON.parse(l) as { url?: string }).url;
        } catch {
          return undefined;
        }
      },
      120_000,
      'issuer URL',
    );
    const ctx: Context = {
      flags,
      settings,
      logDir,
      profDir,
      issuerUrl,
      metrics,
      stateDir,
      pkiDir,
      progress,
      say,
    };
    for (const pool of flags.pools) runs.push(await runPool(ctx, pool));
    await issuer.stop(5000);
    floorResult = await runFloor(ctx);
  } finally {
    await issuer.stop(5000);
  }

  const floor = floorResult.floor;
  const inline = runs.find((r) => r.pool === 0 && r.server?.cpuMsPerJoin != null);
  for (const r of runs) {
    const cpu = r.server?.cpuMsPerJoin ?? null;
    r.ratios.cpuToFloor = round(ratio(cpu, floor?.floorMs) ?? NaN, 3);
    r.ratios.cpuToInline = round(ratio(cpu, inline?.server?.cpuMsPerJoin) ?? NaN, 3);
    r.ratios.throughputToInline = round(ratio(r.load?.joinsPerSec, inline?.load?.joinsPerSec) ?? NaN, 3);
    for (const k of Object.keys(r.ratios) as (keyof PoolRun['ratios'])[]) if (Number.isNaN(r.ratios[k])) r.ratios[k] = null;
  }
  const report: BenchReport = {
    schema: 1,
    startedAt: started.toISOString(),
    durationMs: round(performance.now() - t0, 0),
    commandLine: commandLine(argv),
    quick: flags.quick,
    variant: flags.variant,
    machine: machineInfo(NODE),
    settings,
    runs,
    floor,
    ...(floorResult.error ? { floorError: floorResult.error } : {}),
    targets: [],
    notes,
  };
  report.targets = evaluateTargets(report);

  await mkdir(out, { recursive: true });
  const jsonFile = path.join(out, `${base}.json`);
  const mdFile = path.join(out, `${base}.md`);
  const svgFile = path.join(out, `${base}.svg`);
  await writeFile(jsonFile, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(svgFile, renderChart(report));
  await writeFile(mdFile, renderMarkdown(report, path.basename(svgFile)));
  const rel = (f: string) => path.relative(process.cwd(), f) || f;
  process.stdout.write(`${renderTerminalSummary(report, [jsonFile, mdFile, svgFile].map(rel))}\n`);

  const broken = runs.filter((r) => r.error !== undefined || !r.load || r.load.joined === 0);
  if (broken.length > 0) {
    process.stderr.write(`bench: ${broken.length} of ${runs.length} runs broke: ${broken.map((r) => `pool ${r.pool}: ${r.error ?? 'no result'}`).join('; ')}\n`);
    return 1;
  }
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
      for (const p of liveProcs()) p.child.kill('SIGTERM');
      process.exit(2);
    },
  );
}

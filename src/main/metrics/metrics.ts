import { createHistogram, performance } from 'node:perf_hooks';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { WorkerTask } from '../../shared/worker-protocol.js';
import type { HandshakeOutcome } from '../atls/atls-server.js';
import type { ConfigReloadStats } from '../config/attestation-config-source.js';
import type { JoinRpcMethod } from '../grpc/join-api-server.js';
import type { PoolStats, PoolTaskOutcome } from '../pool/worker-pool.js';

/**
 * The service's Prometheus metrics (docs/metrics.md). Label values come only
 * from the fixed sets below; nothing a peer sends (addresses, node names,
 * tokens, keys) ever becomes a label or a value.
 *
 * Hot-path calls (`poolTaskDone`, `handshake`, `rpcDone`) are one prom-client
 * counter increment / histogram observation each, with pre-built label objects.
 * Everything else is read on scrape from `bind()`'s sources.
 */

/** What a scrape reads from the running service. */
export interface MetricSources {
  pool: () => PoolStats;
  poolThreads: () => number;
  poolBusyMs: () => number;
  pendingHandshakes: () => number;
  attestedConnections: () => number;
  config: () => ConfigReloadStats;
}

/** The part of perf_hooks' IntervalHistogram the event-loop gauges read (replaceable in tests). */
export interface EventLoopDelayHistogram {
  readonly count: number;
  readonly max: number;
  percentile(p: number): number;
  reset(): void;
  disable(): boolean;
}

export interface ServiceMetricsOptions {
  /** Replaces the own EventLoopDelaySampler (tests). */
  eventLoopDelay?: EventLoopDelayHistogram;
}

/**
 * Main-thread event-loop delay, sampled as `perf_hooks.monitorEventLoopDelay`
 * does (the interval between the ticks of a 5 ms repeating timer, in ns, into
 * an HDR histogram), but with the previous tick's time kept across `reset()`.
 * monitorEventLoopDelay's reset() also forgets that time, so the first interval
 * after a reset is dropped: a stall that starts right after a scrape would be
 * in no window at all (test/unit/metrics.test.ts shows it). Here every interval
 * belongs to the window in which it ends. Cost: one timer callback every 5 ms
 * (about 1 µs each, see docs/metrics.md).
 */
export class EventLoopDelaySampler implements EventLoopDelayHistogram {
  /** 1 µs … 1 h at 2 significant digits (1 %): a twentieth of the default's buckets, so the percentiles a scrape reads are cheap. */
  private readonly h = createHistogram({ lowest: 1000, highest: 3600e9, figures: 2 });
  private prev = performance.now();
  private readonly timer: NodeJS.Timeout;

  constructor(resolutionMs = EVENT_LOOP_RESOLUTION_MS) {
    this.timer = setInterval(() => {
      const now = performance.now();
      this.h.record(Math.max(1, Math.round((now - this.prev) * 1e6)));
      this.prev = now;
    }, resolutionMs).unref();
  }

  get count(): number {
    return this.h.count;
  }

  get max(): number {
    return this.h.max;
  }

  percentile(p: number): number {
    return this.h.percentile(p);
  }

  reset(): void {
    this.h.reset();
  }

  disable(): boolean {
    clearInterval(this.timer);
    return true;
  }
}

const TASKS = ['verify-certificate', 'issue-kubelet-certificate'] as const satisfies readonly WorkerTask['kind'][];
const TASK_OUTCOMES = ['ok', 'error', 'overloaded', 'timeout'] as const satisfies readonly PoolTaskOutcome[];
const HANDSHAKE_OUTCOMES = ['attested', 'rejected', 'timeout', 'refused'] as const satisfies readonly HandshakeOutcome[];
const RPC_METHODS = ['IssueJoinTicket', 'IssueRejoinTicket'] as const satisfies readonly JoinRpcMethod[];
/** gRPC status names by number (OK, CANCELLED, …, UNAUTHENTICATED), as in grpc-js's `status` enum. */
const GRPC_CODE_NAMES: readonly string[] = Object.entries(GrpcStatus)
  .filter((e): e is [string, number] => typeof e[1] === 'number')
  .sort((a, b) => a[1] - b[1])
  .map(([name]) => name);

/** Pool tasks: sub-millisecond (dummy, kubelet certificate) to the 30 s verification timeout. */
const TASK_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** RPCs: 1 ms … 30 s (KMS and Kubernetes round trips, client deadlines). */
const RPC_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Our event-loop delay histogram samples every 5 ms. */
export const EVENT_LOOP_RESOLUTION_MS = 5;
const QUANTILES = [
  ['0.5', 50],
  ['0.9', 90],
  ['0.99', 99],
] as const;

type Labels<K extends string> = Readonly<Record<K, string>>;

function labelTable<A extends string, B extends string, K1 extends string, K2 extends string>(
  k1: K1,
  as: readonly A[],
  k2: K2,
  bs: readonly B[],
): Record<A, Record<B, Labels<K1 | K2>>> {
  const out = {} as Record<A, Record<B, Labels<K1 | K2>>>;
  for (const a of as) {
    out[a] = {} as Record<B, Labels<K1 | K2>>;
    for (const b of bs) out[a][b] = Object.freeze({ [k1]: a, [k2]: b } as unknown as Record<K1 | K2, string>);
  }
  return out;
}

export class ServiceMetrics {
  readonly registry = new Registry();
  private sources: MetricSources | undefined;
  private readonly eventLoop: EventLoopDelayHistogram;

  private readonly poolTasks: Counter<'task' | 'result'>;
  private readonly poolTaskDuration: Histogram<'task'>;
  private readonly handshakes: Counter<'result'>;
  private readonly rpcs: Counter<'method' | 'code'>;
  private readonly rpcDuration: Histogram<'method'>;
  private readonly configReloads: Counter<'result'>;

  private readonly poolTaskLabels = labelTable('task', TASKS, 'result', TASK_OUTCOMES);
  private readonly taskLabels = Object.fromEntries(TASKS.map((t) => [t, Object.freeze({ task: t })])) as Record<WorkerTask['kind'], Labels<'task'>>;
  private readonly handshakeLabels = Object.fromEntries(HANDSHAKE_OUTCOMES.map((r) => [r, Object.freeze({ result: r })])) as Record<HandshakeOutcome, Labels<'result'>>;
  private readonly rpcLabels = labelTable('method', RPC_METHODS, 'code', GRPC_CODE_NAMES);
  private readonly methodLabels = Object.fromEntries(RPC_METHODS.map((m) => [m, Object.freeze({ method: m })])) as Record<JoinRpcMethod, Labels<'method'>>;

  constructor(o: ServiceMetricsOptions = {}) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });

    this.eventLoop = o.eventLoopDelay ?? new EventLoopDelaySampler();
    const eventLoop = this.eventLoop;
    let samples = 0;
    new Gauge({
      name: 'joinservice_event_loop_delay_seconds',
      help:
        `Main-thread event-loop delay since the previous scrape (quantile 1 = max): interval between the ticks of a ${EVENT_LOOP_RESOLUTION_MS} ms timer ` +
        `(as perf_hooks.monitorEventLoopDelay measures it), so an idle loop reads about ${EVENT_LOOP_RESOLUTION_MS / 1000} s. ` +
        'Every scrape RESETS the window: two scrapes at t0 and t1 give exactly t0..t1 (concurrent scrapers split the windows between them). 0 when no samples.',
      labelNames: ['quantile'],
      registers,
      collect() {
        samples = eventLoop.count;
        for (const [label, p] of QUANTILES) this.set({ quantile: label }, samples > 0 ? eventLoop.percentile(p) / 1e9 : 0);
        this.set({ quantile: '1' }, samples > 0 ? eventLoop.max / 1e9 : 0);
        eventLoop.reset();
      },
    });
    new Gauge({
      name: 'joinservice_event_loop_delay_samples',
      help: 'Samples behind joinservice_event_loop_delay_seconds (the window since the previous scrape; reset by every scrape).',
      registers,
      collect() {
        this.set(samples);
      },
    });

    new Gauge({
      name: 'joinservice_process_max_rss_bytes',
      help: 'Peak resident set size of the process since start (getrusage maxrss).',
      registers,
      collect() {
        this.set(process.resourceUsage().maxRSS * 1024);
      },
    });
    let cpuSeen = { user: 0, system: 0 };
    new Counter({
      name: 'joinservice_process_cpu_seconds_total',
      help: 'CPU time of the whole process since start, all threads (main + workers + libuv/V8 threads), by mode (getrusage RUSAGE_SELF).',
      labelNames: ['mode'],
      registers,
      collect() {
        const now = process.cpuUsage();
        incBy(this, { mode: 'user' }, (now.user - cpuSeen.user) / 1e6);
        incBy(this, { mode: 'system' }, (now.system - cpuSeen.system) / 1e6);
        cpuSeen = now;
      },
    });
    let mainBusySeen = 0;
    new Counter({
      name: 'joinservice_main_thread_busy_seconds_total',
      help: 'Time the main thread\'s event loop was active (not waiting for I/O) since start: performance.eventLoopUtilization().active.',
      registers,
      collect() {
        const active = performance.eventLoopUtilization().active;
        incBy(this, {}, (active - mainBusySeen) / 1000);
        mainBusySeen = Math.max(mainBusySeen, active);
      },
    });

    const src = () => this.sources;
    new Gauge({
      name: 'joinservice_pool_workers',
      help: 'Verification worker threads alive (--workers; 0 = inline verification on the main thread).',
      registers,
      collect() {
        this.set(src()?.poolThreads() ?? 0);
      },
    });
    new Gauge({
      name: 'joinservice_pool_queue_depth',
      help: 'Pool tasks waiting for a free worker.',
      registers,
      collect() {
        this.set(src()?.pool().queued ?? 0);
      },
    });
    new Gauge({
      name: 'joinservice_pool_running',
      help: 'Pool tasks running on a worker (or inline) now.',
      registers,
      collect() {
        this.set(src()?.pool().running ?? 0);
      },
    });
    let busySeen = 0;
    new Counter({
      name: 'joinservice_pool_worker_busy_seconds_total',
      help: 'Sum of the run times of the tasks the pool\'s worker threads completed (piscina run-time histogram; queue wait excluded). 0 with --workers 0.',
      registers,
      collect() {
        const ms = src()?.poolBusyMs() ?? 0;
        incBy(this, {}, (ms - busySeen) / 1000);
        busySeen = Math.max(busySeen, ms);
      },
    });
    this.poolTasks = new Counter({
      name: 'joinservice_pool_tasks_total',
      help: 'Pool tasks by kind and outcome: ok, error (typed failure such as a rejected attestation, or a failed worker), overloaded (queue full, refused at once), timeout.',
      labelNames: ['task', 'result'],
      registers,
    });
    this.poolTaskDuration = new Histogram({
      name: 'joinservice_pool_task_duration_seconds',
      help: 'Wall time of one pool task including its queue wait (overloaded refusals not observed).',
      labelNames: ['task'],
      buckets: TASK_BUCKETS,
      registers,
    });

    this.handshakes = new Counter({
      name: 'joinservice_handshakes_total',
      help: 'aTLS connections by outcome: attested, rejected (TLS, precheck or attestation failure), timeout (handshake or verification), refused (pending-handshake limit or pool overloaded).',
      labelNames: ['result'],
      registers,
    });
    new Gauge({
      name: 'joinservice_pending_handshakes',
      help: 'aTLS connections in TLS handshake or verification now (bounded by --max-pending-handshakes).',
      registers,
      collect() {
        this.set(src()?.pendingHandshakes() ?? 0);
      },
    });
    new Gauge({
      name: 'joinservice_attested_connections',
      help: 'Open attested connections served by join.API now.',
      registers,
      collect() {
        this.set(src()?.attestedConnections() ?? 0);
      },
    });

    this.rpcs = new Counter({
      name: 'joinservice_rpcs_total',
      help: 'join.API calls by method and gRPC status code name.',
      labelNames: ['method', 'code'],
      registers,
    });
    this.rpcDuration = new Histogram({
      name: 'joinservice_rpc_duration_seconds',
      help: 'Handler time of one join.API call, from the call reaching the handler to its answer.',
      labelNames: ['method'],
      buckets: RPC_BUCKETS,
      registers,
    });

    new Gauge({
      name: 'joinservice_attestation_config_generation',
      help: 'Generation of the attestation config in force (1 = the one read at start).',
      registers,
      collect() {
        const c = src()?.config();
        if (c) this.set(c.generation);
      },
    });
    const reloadsSeen = { ok: 0, failed: 0 };
    this.configReloads = new Counter({
      name: 'joinservice_attestation_config_reloads_total',
      help: 'Attestation config reloads: ok = a new generation is in force, failed = the file was unreadable or invalid and the previous generation stays.',
      labelNames: ['result'],
      registers,
      collect() {
        const c = src()?.config();
        if (!c) return;
        incBy(this, { result: 'ok' }, c.reloads - reloadsSeen.ok);
        incBy(this, { result: 'failed' }, c.reloadFailures - reloadsSeen.failed);
        reloadsSeen.ok = Math.max(reloadsSeen.ok, c.reloads);
        reloadsSeen.failed = Math.max(reloadsSeen.failed, c.reloadFailures);
      },
    });

    // Every series of the fixed label sets exists from the start (0), so rates work from the first scrape.
    for (const t of TASKS) {
      for (const r of TASK_OUTCOMES) this.poolTasks.inc(this.poolTaskLabels[t][r], 0);
      this.poolTaskDuration.zero(this.taskLabels[t]);
    }
    for (const r of HANDSHAKE_OUTCOMES) this.handshakes.inc(this.handshakeLabels[r], 0);
    this.configReloads.inc({ result: 'ok' }, 0);
    this.configReloads.inc({ result: 'failed' }, 0);
    for (const m of RPC_METHODS) {
      this.rpcs.inc(this.rpcLabels[m]['OK']!, 0);
      this.rpcDuration.zero(this.methodLabels[m]);
    }
  }

  /** Connects the scrape-time gauges to a running service. */
  bind(sources: MetricSources): void {
    this.sources = sources;
  }

  // The hooks below run inside the pool, the aTLS listener and the gRPC handlers: they never throw.

  readonly poolTaskDone = (kind: WorkerTask['kind'], outcome: PoolTaskOutcome, seconds: number): void => {
    const labels = this.poolTaskLabels[kind]?.[outcome];
    if (!labels) return;
    try {
      this.poolTasks.inc(labels);
      if (outcome !== 'overloaded' && seconds >= 0 && seconds < Infinity) this.poolTaskDuration.observe(this.taskLabels[kind], seconds);
    } catch {
      // A metric must never fail a join.
    }
  };

  readonly handshake = (outcome: HandshakeOutcome): void => {
    const labels = this.handshakeLabels[outcome];
    if (!labels) return;
    try {
      this.handshakes.inc(labels);
    } catch {
      // A metric must never fail a connection.
    }
  };

  readonly rpcDone = (method: JoinRpcMethod, code: number, seconds: number): void => {
    const labels = this.rpcLabels[method]?.[GRPC_CODE_NAMES[code] ?? 'UNKNOWN'];
    if (!labels) return;
    try {
      this.rpcs.inc(labels);
      if (seconds >= 0 && seconds < Infinity) this.rpcDuration.observe(this.methodLabels[method], seconds);
    } catch {
      // A metric must never fail a call.
    }
  };

  get contentType(): string {
    return this.registry.contentType;
  }

  /** One scrape in the Prometheus text format (resets the event-loop delay window). */
  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  close(): void {
    this.eventLoop.disable();
  }
}

function incBy<L extends string>(c: Counter<L>, labels: Partial<Record<L, string>>, delta: number): void {
  // A counter never goes down; a source that reads lower (e.g. an exited thread) just adds nothing.
  c.inc(labels, delta > 0 ? delta : 0);
}

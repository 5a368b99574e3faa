/** The join benchmark's result document (`bench/results/<date>-<variant>.json`). */
import type { ServerLogDigest } from './server-log.js';
import type { LatencySummary } from './stats.js';

export interface MachineInfo {
  cores: number;
  cpuModel: string;
  nodeVersion: string;
  goVersion: string;
  kernel: string;
  platform: string;
  totalMemBytes: number;
}

export interface FloorPrimitive {
  name: string;
  countPerJoin: number;
  usEach: number;
  usPerJoin: number;
}

/** What `dist/bench/micro/join-floor.js --json` prints (only floorMs is required here). */
export interface FloorResult {
  variant: string;
  floorMs: number;
  node?: string;
  cpu?: string;
  primitives?: FloorPrimitive[];
  designCosts?: unknown[];
  /** Rows in neither total (key imports, the SEV-SNP cold chain, …); older floors lack it. */
  informational?: FloorPrimitive[];
  notes?: string[];
}

export interface LoadFigures {
  total: number;
  joined: number;
  failed: number;
  retries: number;
  /** First arrival → last join (load generator). */
  durationMs: number;
  joinsPerSec: number;
  /** Failed attempts by cause (a retried attempt counts too). */
  errorsByCause: Record<string, number>;
  /** Per node: arrival → joined, including retries and waits. */
  latencyMs: LatencySummary;
  /** The successful attempt alone (dial → ticket). */
  attemptLatencyMs: { p50: number; p99: number };
  /** Cumulative joins: [ms since the load started, joined]. */
  timeline: [number, number][];
}

export interface ServerFigures {
  workers: number;
  /** Scrape → scrape (the measured window). */
  windowMs: number;
  cpuMs: number | null;
  cpuMsPerJoin: number | null;
  /** metrics: process_cpu_*_seconds_total; procfs: /proc/<pid>/stat (fallback when the service has no metrics endpoint). */
  cpuSource: 'metrics' | 'procfs' | 'none';
  eventLoopDelayMs: { p50: number; p99: number; max: number } | null;
  /** Δjoinservice_pool_worker_busy_seconds_total ÷ (workers × window seconds); null with pool 0 or without metrics. */
  workerUtilisation: number | null;
  /** CPU of the WorkerThread threads (/proc) ÷ (workers × window); null with pool 0 or without /proc. */
  workerCpuUtilisation: number | null;
  /** Δjoinservice_main_thread_busy_seconds_total (event-loop utilisation) ÷ window; null without the metric. */
  mainThreadUtilisation: number | null;
  peakRssBytes: number | null;
  rssSource: 'metrics' | 'procfs' | 'none';
  /** Server CPU of the window per join by thread name, from /proc/<pid>/task (ms): MainThread, WorkerThread (pool), V8Worker (GC, compiler), libuv-worker. */
  threadsCpuMsPerJoin: Record<string, number>;
  handshakes: Record<string, number>;
  rpcs: Record<string, number>;
  poolTasks: Record<string, number>;
}

export interface BackendFigures {
  kubernetesRequests: number;
  kubernetesPerJoin: number | null;
  kmsCalls: number;
  kmsPerJoin: number | null;
  /** Kubernetes requests of the window by route ("GET /api/v1/namespaces/kube-system/configmaps/{name}"). */
  kubernetesRoutes: Record<string, number>;
}

export interface PoolRun {
  pool: number;
  /** Set when this run broke (a process failed); the figures may be missing then. */
  error?: string;
  warmup: { total: number; joined: number };
  load?: LoadFigures;
  server?: ServerFigures;
  backends?: BackendFigures;
  ratios: {
    /** Server CPU per join ÷ the crypto floor. */
    cpuToFloor: number | null;
    /** Server CPU per join ÷ that of pool 0 (inline verification). */
    cpuToInline: number | null;
    /** Joins/s ÷ that of pool 0. */
    throughputToInline: number | null;
  };
  files: Record<string, string>;
  /** The server log of the run: WARN/ERROR by message; SEV-SNP: the cert-cache source and KDS mentions (server-log.ts). */
  serverLog?: ServerLogDigest;
}

export type TargetStatus = 'met' | 'not met' | 'not evaluated';

export interface TargetCheck {
  id: 'cpu-floor' | 'event-loop' | 'burst-1000';
  text: string;
  status: TargetStatus;
  detail: string;
}

export interface BenchSettings {
  nodes: number;
  arrival: string;
  pools: number[];
  kubeLatencyMs: number;
  kmsLatencyMs: number;
  warmup: number;
  callTimeout: string;
  retryInterval: string;
  runTimeout: string;
  kubeQps: number;
  kubeBurst: number;
  serverArgs: string[];
  issuerProcesses: number;
  issuerAks: number;
  cpuProf: boolean;
}

export interface BenchReport {
  schema: 1;
  /** ISO time of the start. */
  startedAt: string;
  durationMs: number;
  commandLine: string;
  quick: boolean;
  variant: string;
  machine: MachineInfo;
  settings: BenchSettings;
  runs: PoolRun[];
  floor: FloorResult | null;
  floorError?: string;
  targets: TargetCheck[];
  notes: string[];
}

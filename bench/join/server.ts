/** The service under test: `joinservice serve` as its own process, its metrics and its resource usage. */
import { spawnSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import * as path from 'node:path';
import type { BackendsInfo } from './backends.js';
import { Lines, spawnProc, waitFor, type Proc } from './procs.js';
import { parsePrometheusText, type Sample } from './prometheus.js';

export interface ServerOptions {
  repo: string;
  node: string;
  variant: string;
  workers: number;
  backends: BackendsInfo;
  kubeQps: number;
  kubeBurst: number;
  /** Pass --metrics-listen (the service supports it). */
  metrics: boolean;
  /** Extra flags for `serve`. */
  extraArgs: readonly string[];
  logFile: string;
  /** Write V8 CPU profiles here (`node --cpu-prof`). */
  cpuProfDir?: string;
}

export interface RunningServer {
  proc: Proc;
  endpoint: string;
  metricsUrl: string | undefined;
  args: string[];
}

/** Does this build of `joinservice serve` have the --metrics-listen flag? */
export function serveSupportsMetrics(repo: string, node: string): boolean {
  const r = spawnSync(node, [path.join(repo, 'bin/joinservice.js'), 'serve', '--help'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('--metrics-listen');
}

function findString(obj: unknown, key: string, depth = 0): string | undefined {
  if (typeof obj !== 'object' || obj === null || depth > 4) return undefined;
  for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
    if (k === key && typeof v === 'string') return v;
    const inner = findString(v, key, depth + 1);
    if (inner !== undefined) return inner;
  }
  return undefined;
}

function parseLog(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** `Starting join service on 127.0.0.1:PORT` → the endpoint. */
export function endpointFromLog(rec: Record<string, unknown>): string | undefined {
  const m = /^Starting join service on (\S+)/.exec(String(rec['msg'] ?? ''));
  return m?.[1];
}

/** The metrics URL from `Metrics on http://…/metrics` or a `metricsEndpoint` attribute. */
export function metricsUrlFromLog(rec: Record<string, unknown>): string | undefined {
  const m = /Metrics on (https?:\/\/\S+)/.exec(String(rec['msg'] ?? ''));
  if (m) return m[1];
  const ep = findString(rec, 'metricsEndpoint');
  if (ep === undefined) return undefined;
  if (/^https?:\/\//.test(ep)) return ep.includes('/metrics') ? ep : `${ep.replace(/\/$/, '')}/metrics`;
  return `http://${ep}/metrics`;
}

export function serveArgs(o: ServerOptions): string[] {
  const b = o.backends;
  return [
    'serve',
    '--cloud-provider',
    'qemu',
    '--attestation-variant',
    o.variant,
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--config-dir',
    b.configDir,
    '--kubeconfig',
    b.kubeconfigPath,
    '--key-service-endpoint',
    b.keyServiceEndpoint,
    '--pki-dir',
    b.pkiDir,
    '--admin-conf',
    b.adminConfPath,
    '--kubeadm-config',
    b.clusterConfigurationPath,
    '--vpc-ip',
    '127.0.0.1',
    '--workers',
    String(o.workers),
    '--kube-qps',
    String(o.kubeQps),
    '--kube-burst',
    String(o.kubeBurst),
    ...(o.metrics ? ['--metrics-listen', '127.0.0.1:0'] : []),
    ...o.extraArgs,
  ];
}

export async function startServer(o: ServerOptions): Promise<RunningServer> {
  const lines = new Lines();
  const args = serveArgs(o);
  const nodeArgs = o.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', o.cpuProfDir] : [];
  const proc = spawnProc('server', o.node, [...nodeArgs, path.join(o.repo, 'bin/joinservice.js'), ...args], {
    logFile: o.logFile,
    logStdout: true,
    onStdout: lines.emit,
    onStderr: (l) => {
      lines.emit(l);
    },
  });
  try {
    const endpointP = waitFor(proc, lines.subscribe, (l) => {
      const rec = parseLog(l);
      return rec ? endpointFromLog(rec) : undefined;
    }, 60_000, 'Starting join service line');
    const metricsP = o.metrics
      ? waitFor(proc, lines.subscribe, (l) => {
          const rec = parseLog(l);
          return rec ? metricsUrlFromLog(rec) : undefined;
        }, 60_000, 'metrics endpoint line')
      : Promise.resolve(undefined);
    const [endpoint, metricsUrl] = await Promise.all([endpointP, metricsP]);
    return { proc, endpoint, metricsUrl, args: [...nodeArgs, 'bin/joinservice.js', ...args] };
  } catch (err) {
    await proc.stop(2000);
    throw err;
  }
}

export async function scrape(url: string): Promise<Sample[]> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return parsePrometheusText(await res.text());
}

let clockTicks: number | undefined;
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    const n = Number(r.stdout?.trim());
    clockTicks = Number.isFinite(n) && n > 0 ? n : 100;
  }
  return clockTicks;
}

export interface ProcUsage {
  cpuMs: number;
  /** VmHWM: the peak resident set size. */
  peakRssBytes: number | null;
  /** CPU by thread name (MainThread, WorkerThread = pool workers, V8Worker = GC/compiler helpers, libuv-worker, …), summed over the threads alive now. */
  threadsCpuMs: Record<string, number>;
}

function cpuMsOfStat(stat: string): number {
  // Fields after the command name (which may contain spaces) start at field 3.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(rest[11]) + Number(rest[12])) * 1000) / ticksPerSecond();
}

async function threadsCpu(pid: number): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  let tids: string[] = [];
  try {
    tids = await readdir(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  await Promise.all(
    tids.map(async (tid) => {
      try {
        const [comm, stat] = await Promise.all([readFile(`/proc/${pid}/task/${tid}/comm`, 'utf8'), readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8')]);
        const name = comm.trim();
        out[name] = (out[name] ?? 0) + cpuMsOfStat(stat);
      } catch {
        // the thread ended meanwhile
      }
    }),
  );
  return out;
}

/** CPU (user + system, all threads) and peak RSS of a process from /proc; null where /proc is unavailable. */
export async function procUsage(pid: number): Promise<ProcUsage | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const hwm = /^VmHWM:\s+(\d+) kB/m.exec(status);
    return { cpuMs: cpuMsOfStat(stat), peakRssBytes: hwm ? Number(hwm[1]) * 1024 : null, threadsCpuMs: await threadsCpu(pid) };
  } catch {
    return null;
  }
}

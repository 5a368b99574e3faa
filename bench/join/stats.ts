/** Pure figures of the join benchmark: percentiles, the joined-over-time curve, rates. */
import type { PeerLoadNode as LoadNode } from '../../test/helpers/go-peer.js';

export interface LatencySummary {
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile of an ascending array (as the Go load generator computes it); 0 when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.max(0, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.min(i, sorted.length - 1)]!;
}

export function summarizeLatencies(values: readonly number[]): LatencySummary {
  const s = [...values].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p95: percentile(s, 95), p99: percentile(s, 99), max: percentile(s, 100) };
}

/** One node of the load generator's result line. */
export type { PeerLoadNode as LoadNode } from '../../test/helpers/go-peer.js';

/**
 * The cumulative number of joined nodes over time as at most `maxPoints`
 * [ms since the run start, joined] pairs, starting at [0, 0] and ending at the
 * last join (a step curve sampled at equal time steps).
 */
export function joinedTimeline(nodes: readonly LoadNode[], maxPoints = 200): [number, number][] {
  const done = nodes
    .filter((n) => n.ok)
    .map((n) => n.doneMs)
    .sort((a, b) => a - b);
  if (done.length === 0) return [[0, 0]];
  const end = done[done.length - 1]!;
  if (done.length + 1 <= maxPoints) {
    return [[0, 0], ...done.map((t, k): [number, number] => [round(t, 1), k + 1])];
  }
  const steps = Math.max(1, maxPoints - 1);
  const out: [number, number][] = [[0, 0]];
  let k = 0;
  for (let s = 1; s <= steps; s++) {
    const t = (end * s) / steps;
    while (k < done.length && done[k]! <= t) k++;
    out.push([round(t, 1), k]);
  }
  out[out.length - 1] = [round(end, 1), done.length];
  return out;
}

/** Joins per second over the load generator's duration (first arrival → last join). */
export function joinsPerSecond(joined: number, durationMs: number): number {
  if (joined === 0 || !(durationMs > 0)) return 0;
  return (joined * 1000) / durationMs;
}

export function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** `a / b`, or null when either is unknown or b is 0. */
export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a === null || a === undefined || b === null || b === undefined || b === 0 || !Number.isFinite(a) || !Number.isFinite(b)) return null;
  return a / b;
}

/** Rounds a Kubernetes API path to a route: object names after a resource type become `{name}`. */
export function routeOf(method: string, urlPath: string): string {
  const parts = urlPath.split('/');
  const resources = new Set(['secrets', 'configmaps', 'nodeversions', 'joiningnodes', 'namespaces', 'nodes', 'events']);
  for (let k = 1; k < parts.length; k++) {
    const prev = parts[k - 1]!;
    if (resources.has(prev) && parts[k] !== '' && !(prev === 'namespaces' && k + 1 < parts.length && parts[k + 1] !== undefined && resources.has(parts[k + 1]!))) {
      parts[k] = '{name}';
    }
  }
  return `${method.toUpperCase()} ${parts.join('/')}`;
}

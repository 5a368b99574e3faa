/**
 * The benchmark chart as hand-written SVG: left, nodes joined over time (one
 * line per pool size); right, latency percentiles p50/p95/p99 per pool size.
 */
import { fmtMs, poolLabel, TARGET_BURST_NODES, TARGET_BURST_P99_MS } from './report.js';
import type { BenchReport } from './results.js';

const POOL_COLOURS = ['#d62728', '#1f77b4', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];
const PCT_COLOURS = { p50: '#9ecae1', p95: '#4292c6', p99: '#08519c' };

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** "Nice" axis ticks from 0 to at least `max` (1, 2, 2.5, 5 × 10^k steps). */
export function niceTicks(max: number, target = 5): number[] {
  if (!(max > 0) || !Number.isFinite(max)) return [0, 1];
  const raw = max / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let v = 0; v < max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1]! < max) ticks.push(Number((ticks[ticks.length - 1]! + step).toPrecision(12)));
  return ticks;
}

function tickLabel(v: number): string {
  return Number.isInteger(v) ? String(v) : String(Number(v.toFixed(2)));
}

function colour(i: number): string {
  return POOL_COLOURS[i % POOL_COLOURS.length]!;
}

interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

function axes(o: string[], box: Box, xTicks: number[], yTicks: number[], xMax: number, yMax: number, xLabel: string, yLabel: string, xTickLabels?: (v: number) => string): void {
  const X = (v: number) => box.x + (v / xMax) * box.w;
  const Y = (v: number) => box.y + box.h - (v / yMax) * box.h;
  for (const t of yTicks) {
    o.push(`<line x1="${box.x}" y1="${Y(t).toFixed(1)}" x2="${box.x + box.w}" y2="${Y(t).toFixed(1)}" stroke="#e5e5e5"/>`);
    o.push(`<text x="${box.x - 6}" y="${(Y(t) + 4).toFixed(1)}" text-anchor="end" class="tick">${tickLabel(t)}</text>`);
  }
  for (const t of xTicks) {
    o.push(`<line x1="${X(t).toFixed(1)}" y1="${box.y + box.h}" x2="${X(t).toFixed(1)}" y2="${box.y + box.h + 4}" stroke="#333"/>`);
    o.push(`<text x="${X(t).toFixed(1)}" y="${box.y + box.h + 17}" text-anchor="middle" class="tick">${escapeXml(xTickLabels ? xTickLabels(t) : tickLabel(t))}</text>`);
  }
  o.push(`<line x1="${box.x}" y1="${box.y + box.h}" x2="${box.x + box.w}" y2="${box.y + box.h}" stroke="#333"/>`);
  o.push(`<line x1="${box.x}" y1="${box.y}" x2="${box.x}" y2="${box.y + box.h}" stroke="#333"/>`);
  o.push(`<text x="${box.x + box.w / 2}" y="${box.y + box.h + 36}" text-anchor="middle" class="label">${escapeXml(xLabel)}</text>`);
  const cy = box.y + box.h / 2;
  o.push(`<text x="${box.x - 44}" y="${cy}" text-anchor="middle" class="label" transform="rotate(-90 ${box.x - 44} ${cy})">${escapeXml(yLabel)}</text>`);
}

/** The chart of a report as a standalone SVG document. */
export function renderChart(report: BenchReport): string {
  const W = 1000;
  const H = 470;
  const o: string[] = [];
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif">`);
  o.push('<style>.tick{font-size:11px;fill:#333}.label{font-size:12px;fill:#111}.title{font-size:16px;font-weight:bold}.sub{font-size:12px;fill:#444}.panel{font-size:13px;font-weight:bold}.val{font-size:10px;fill:#222}</style>');
  o.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  const s = report.settings;
  o.push(
    `<text x="20" y="26" class="title">${escapeXml(`Join benchmark: ${report.variant}, ${s.nodes} nodes, arrival ${s.arrival}${report.quick ? ' (quick)' : ''}`)}</text>`,
  );
  o.push(
    `<text x="20" y="45" class="sub">${escapeXml(
      `${report.startedAt.slice(0, 10)} · ${report.machine.cores} × ${report.machine.cpuModel} · Node ${report.machine.nodeVersion} · K8s +${s.kubeLatencyMs} ms, KMS +${s.kmsLatencyMs} ms per call`,
    )}</text>`,
  );
  const runs = report.runs.filter((r) => r.load !== undefined);

  // Left: nodes joined over time.
  const left: Box = { x: 75, y: 85, w: 370, h: 290 };
  const tMaxMs = Math.max(1, ...runs.map((r) => r.load!.timeline[r.load!.timeline.length - 1]?.[0] ?? 0));
  const xTicks = niceTicks(tMaxMs / 1000);
  const xMax = xTicks[xTicks.length - 1]!;
  const yTicks = niceTicks(Math.max(1, s.nodes));
  const yMax = yTicks[yTicks.length - 1]!;
  o.push(`<text x="${left.x}" y="${left.y - 12}" class="panel">Nodes joined over time</text>`);
  axes(o, left, xTicks, yTicks, xMax, yMax, 'seconds since the load started', 'nodes joined');
  runs.forEach((r) => {
    const pts = r.load!.timeline.map(([t, n]) => `${(left.x + (t / 1000 / xMax) * left.w).toFixed(1)},${(left.y + left.h - (n / yMax) * left.h).toFixed(1)}`);
    o.push(`<polyline fill="none" stroke="${colour(report.runs.indexOf(r))}" stroke-width="2" points="${pts.join(' ')}"/>`);
  });
  // Legend of the left panel: pool → joins/s.
  let legendX = left.x - 40;
  runs.forEach((r) => {
    const y = left.y + left.h + 58;
    const label = `pool ${poolLabel(r.pool)}: ${r.load!.joinsPerSec.toFixed(1)} joins/s`;
    const x = legendX;
    legendX += 32 + label.length * 6.3;
    o.push(`<line x1="${x}" y1="${y - 4}" x2="${x + 18}" y2="${y - 4}" stroke="${colour(report.runs.indexOf(r))}" stroke-width="3"/>`);
    o.push(`<text x="${x + 23}" y="${y}" class="label">${escapeXml(label)}</text>`);
  });

  // Right: latency percentiles per pool size.
  const right: Box = { x: 580, y: 85, w: 390, h: 290 };
  const burstTarget = s.arrival === 'burst' && s.nodes >= TARGET_BURST_NODES;
  const maxLatS = Math.max(0.001, ...runs.map((r) => r.load!.latencyMs.p99 / 1000), burstTarget ? (TARGET_BURST_P99_MS / 1000) * 1.05 : 0);
  const lTicks = niceTicks(maxLatS);
  const lMax = lTicks[lTicks.length - 1]!;
  o.push(`<text x="${right.x}" y="${right.y - 12}" class="panel">Join latency (arrival → ticket) per pool size</text>`);
  const groups = Math.max(1, runs.length);
  const groupW = right.w / groups;
  axes(o, right, [], lTicks, 1, lMax, 'worker pool size (0 = verification inline on the main thread)', 'latency (s)');
  runs.forEach((r, g) => {
    const keys = ['p50', 'p95', 'p99'] as const;
    const barW = Math.min(36, (groupW * 0.7) / keys.length);
    const x0 = right.x + g * groupW + (groupW - barW * keys.length) / 2;
    keys.forEach((k, j) => {
      const v = r.load!.latencyMs[k];
      const h = (v / 1000 / lMax) * right.h;
      const x = x0 + j * barW;
      const y = right.y + right.h - h;
      o.push(`<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${PCT_COLOURS[k]}"><title>${escapeXml(`pool ${r.pool} ${k}: ${fmtMs(v)}`)}</title></rect>`);
      o.push(`<text x="${(x + (barW - 2) / 2).toFixed(1)}" y="${(y - 3).toFixed(1)}" text-anchor="middle" class="val">${escapeXml(fmtMs(v).replace(' ', ''))}</text>`);
    });
    o.push(`<text x="${(right.x + g * groupW + groupW / 2).toFixed(1)}" y="${right.y + right.h + 17}" text-anchor="middle" class="tick" fill="${colour(report.runs.indexOf(r))}">${escapeXml(`pool ${poolLabel(r.pool)}`)}</text>`);
  });
  if (burstTarget) {
    const y = right.y + right.h - (TARGET_BURST_P99_MS / 1000 / lMax) * right.h;
    o.push(`<line x1="${right.x}" y1="${y.toFixed(1)}" x2="${right.x + right.w}" y2="${y.toFixed(1)}" stroke="#d62728" stroke-dasharray="6 4"/>`);
    o.push(`<text x="${right.x + 4}" y="${(y - 4).toFixed(1)}" text-anchor="start" class="val" fill="#d62728">${escapeXml(`target: p99 ≤ ${TARGET_BURST_P99_MS / 1000} s`)}</text>`);
  }
  (['p50', 'p95', 'p99'] as const).forEach((k, j) => {
    const x = right.x + j * 70;
    const y = right.y + right.h + 58;
    o.push(`<rect x="${x}" y="${y - 10}" width="14" height="10" fill="${PCT_COLOURS[k]}"/>`);
    o.push(`<text x="${x + 19}" y="${y}" class="label">${k}</text>`);
  });
  if (runs.length === 0) o.push(`<text x="${W / 2}" y="${H / 2}" text-anchor="middle" class="label">no run produced results</text>`);
  o.push('</svg>');
  return `${o.join('\n')}\n`;
}

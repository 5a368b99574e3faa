/**
 * Summarises V8 CPU profiles (`node --cpu-prof`, as `npm run bench -- --cpu-prof`
 * writes them: one file per thread) by self time: per area of the code and the
 * top functions.
 *
 *   node dist/bench/join/profile-summary.js bench/results/profiles/<run>/pool2 [--top 25] [--json]
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileSummary {
  files: number;
  /** Sampled time that was not idle, in ms. */
  busyMs: number;
  idleMs: number;
  areas: { area: string; ms: number; share: number }[];
  functions: { name: string; area: string; ms: number; share: number }[];
  /** Time with the function anywhere on the stack (each sample counted once per function). */
  inclusive: { name: string; area: string; ms: number; share: number }[];
}

function frameKey(f: CallFrame): string {
  return `${f.functionName || '(anonymous)'} ${f.url ? `${f.url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${f.lineNumber + 1}` : ''}`.trim();
}

/** The area of the code a frame belongs to (by script URL and V8's pseudo frames). */
export function areaOf(f: CallFrame): string {
  const u = f.url;
  if (u === '') {
    if (f.functionName === '(garbage collector)') return 'GC';
    if (f.functionName === '(idle)') return 'idle';
    if (f.functionName === '(program)') return 'native (program)';
    return 'native';
  }
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u);
  if (nm) return `npm:${nm[1]}`;
  const d = /\/dist\/(src\/(?:main|workers|shared|gen)\/[^/]+|src\/[^/]+|bench\/[^/]+)/.exec(u);
  if (d) return d[1]!.replace(/\.js$/, '');
  if (u.startsWith('node:internal/tls') || u.startsWith('node:_tls') || u === 'node:tls') return 'node:tls';
  if (u.startsWith('node:internal/http2') || u === 'node:http2') return 'node:http2';
  if (u.startsWith('node:internal/crypto') || u === 'node:crypto') return 'node:crypto';
  if (u.startsWith('node:internal/streams') || u === 'node:stream' || u === 'node:net' || u.startsWith('node:internal/stream_base')) return 'node:net/streams';
  if (u.startsWith('node:_http') || u === 'node:http' || u === 'node:https') return 'node:http(s)';
  if (u.startsWith('node:internal/worker') || u === 'node:worker_threads') return 'node:worker_threads';
  if (u.startsWith('node:')) return 'node:other';
  return u;
}

export function summarizeProfiles(profiles: readonly CpuProfile[], top = 25): ProfileSummary {
  const byArea = new Map<string, number>();
  const byFn = new Map<string, { area: string; us: number }>();
  const incl = new Map<string, { area: string; us: number }>();
  let idleUs = 0;
  let busyUs = 0;
  for (const p of profiles) {
    const nodes = new Map(p.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const self = new Map<number, number>();
    for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0));
    for (const [id, us] of self) {
      const f = nodes.get(id)!.callFrame;
      const area = areaOf(f);
      if (area === 'idle') {
        idleUs += us;
        continue;
      }
      busyUs += us;
      byArea.set(area, (byArea.get(area) ?? 0) + us);
      const key = frameKey(f);
      const e = byFn.get(key) ?? { area, us: 0 };
      e.us += us;
      byFn.set(key, e);
      const seen = new Set<string>();
      for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
        const cf = nodes.get(cur)!.callFrame;
        const k = frameKey(cf);
        if (seen.has(k) || cf.functionName === '(root)') continue;
        seen.add(k);
        const ie = incl.get(k) ?? { area: areaOf(cf), us: 0 };
        ie.us += us;
        incl.set(k, ie);
      }
    }
  }
  const share = (us: number) => (busyUs > 0 ? Math.round((us / busyUs) * 1000) / 1000 : 0);
  return {
    files: profiles.length,
    busyMs: Math.round(busyUs / 1000),
    idleMs: Math.round(idleUs / 1000),
    areas: [...byArea].sort((a, b) => b[1] - a[1]).map(([area, us]) => ({ area, ms: Math.round(us / 100) / 10, share: share(us) })),
    functions: [...byFn]
      .sort((a, b) => b[1].us - a[1].us)
      .slice(0, top)
      .map(([name, e]) => ({ name, area: e.area, ms: Math.round(e.us / 100) / 10, share: share(e.us) })),
    inclusive: [...incl]
      .sort((a, b) => b[1].us - a[1].us)
      .slice(0, top)
      .map(([name, e]) => ({ name, area: e.area, ms: Math.round(e.us / 100) / 10, share: share(e.us) })),
  };
}

export function renderProfileSummary(s: ProfileSummary): string {
  const L = [`${s.files} profile(s): ${s.busyMs} ms busy, ${s.idleMs} ms idle (self time)`, '', 'by area:'];
  for (const a of s.areas.slice(0, 20)) L.push(`  ${(a.share * 100).toFixed(1).padStart(5)} %  ${String(a.ms).padStart(8)} ms  ${a.area}`);
  L.push('', 'top functions:');
  for (const f of s.functions) L.push(`  ${(f.share * 100).toFixed(1).padStart(5)} %  ${String(f.ms).padStart(8)} ms  ${f.name}  [${f.area}]`);
  L.push('', 'top functions, inclusive (on the stack):');
  for (const f of s.inclusive) L.push(`  ${(f.share * 100).toFixed(1).padStart(5)} %  ${String(f.ms).padStart(8)} ms  ${f.name}  [${f.area}]`);
  return L.join('\n');
}

function profileFiles(target: string): string[] {
  if (statSync(target).isFile()) return [target];
  return readdirSync(target)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => path.join(target, f));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  const ti = args.indexOf('--top');
  const top = ti >= 0 ? Number(args[ti + 1]) : 25;
  const targets = args.filter((a, i) => !a.startsWith('--') && !(ti >= 0 && i === ti + 1));
  if (targets.length === 0) {
    console.error('usage: profile-summary.js <dir-or-file.cpuprofile>... [--top N] [--json]');
    process.exit(2);
  }
  const files = targets.flatMap(profileFiles);
  const summary = summarizeProfiles(
    files.map((f) => JSON.parse(readFileSync(f, 'utf8')) as CpuProfile),
    top,
  );
  console.log(json ? JSON.stringify(summary, null, 2) : renderProfileSummary(summary));
}

/**
 * What the server's log of one run says beyond its metrics: WARN/ERROR lines
 * by message (with the first few distinct ones in full, so a failing check is
 * named in the report), and for SEV-SNP variants where the AMD chain came
 * from at start-up and whether anything mentioned AMD KDS (the benchmark
 * seeds the cert-cache ConfigMap and every node sends its VCEK/VLEK, so the
 * expected answer is "ConfigMap, never KDS").
 */

export interface ServerLogDigest {
  lines: number;
  /** WARN/ERROR/FATAL lines by `msg`. */
  problems: Record<string, number>;
  /** The first distinct problems (msg + check/error/code), at most `maxExamples`. */
  examples: string[];
  /** SEV-SNP start-up cache: `source` and `persisted` of "Using the SEV-SNP certificate chain cache"; null when no such line. */
  snpCertCache?: { source: string; persisted: boolean } | null;
  /** Lines that mention AMD KDS (kdsintf.amd.com, "KDS"): none expected in a benchmark run. */
  kdsMentions?: number;
  /** The first such line (truncated). */
  firstKdsMention?: string;
}

const PROBLEM_LEVELS = new Set(['WARN', 'ERROR', 'FATAL', '40', '50', '60']);
const CERT_CACHE_MSG = 'Using the SEV-SNP certificate chain cache';

function parse(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const v = JSON.parse(line) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function str(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

/** `msg` plus the attributes that name a failed check. */
function describe(rec: Record<string, unknown>): string {
  const parts = [str(rec['msg']) ?? '(no msg)'];
  for (const k of ['check', 'code', 'error', 'warning', 'reason']) {
    const v = str(rec[k]);
    if (v !== undefined) parts.push(`${k}=${v}`);
  }
  return parts.join(' ').slice(0, 600);
}

/** Digest of a server log (JSON lines; other lines are counted but not read). */
export function digestServerLog(text: string, o: { snp?: boolean; maxExamples?: number } = {}): ServerLogDigest {
  const maxExamples = o.maxExamples ?? 5;
  const out: ServerLogDigest = { lines: 0, problems: {}, examples: [] };
  if (o.snp) {
    out.snpCertCache = null;
    out.kdsMentions = 0;
  }
  const seen = new Set<string>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    out.lines++;
    if (o.snp && /kdsintf|\bKDS\b/i.test(line)) {
      out.kdsMentions!++;
      out.firstKdsMention ??= line.slice(0, 600);
    }
    const rec = parse(line);
    if (!rec) continue;
    const msg = str(rec['msg']) ?? '';
    if (o.snp && msg === CERT_CACHE_MSG) {
      // The attributes sit at the top level or under the logger's group key (`snpCertCache: {source, persisted, …}`).
      const attrs = [rec, ...Object.values(rec).filter((v): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v))].find((x) => 'source' in x) ?? rec;
      out.snpCertCache = { source: str(attrs['source']) ?? '?', persisted: attrs['persisted'] === true };
    }
    const level = str(rec['level'])?.toUpperCase();
    if (level === undefined || !PROBLEM_LEVELS.has(level)) continue;
    out.problems[msg] = (out.problems[msg] ?? 0) + 1;
    const d = describe(rec);
    if (!seen.has(d) && out.examples.length < maxExamples) {
      seen.add(d);
      out.examples.push(d);
    }
  }
  return out;
}

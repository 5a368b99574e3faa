/** A parser for the Prometheus text exposition format (0.0.4), enough for the service's /metrics. */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseValue(s: string): number {
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (s === 'NaN') return NaN;
  const v = Number(s);
  if (s === '' || Number.isNaN(v)) throw new Error(`bad sample value ${JSON.stringify(s)}`);
  return v;
}

/** Parses `{a="x",b="y\"z"}` starting at text[i] === '{'; returns the labels and the index after '}'. */
function parseLabels(text: string, i: number): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  i++;
  for (;;) {
    while (text[i] === ' ' || text[i] === ',') i++;
    if (text[i] === '}') return [labels, i + 1];
    const m = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(text.slice(i));
    if (!m) throw new Error(`bad label name at ${JSON.stringify(text.slice(i, i + 20))}`);
    const name = m[0];
    i += name.length;
    while (text[i] === ' ') i++;
    if (text[i] !== '=') throw new Error(`expected = after label ${name}`);
    i++;
    while (text[i] === ' ') i++;
    if (text[i] !== '"') throw new Error(`expected " after label ${name}=`);
    i++;
    let value = '';
    for (;;) {
      const c = text[i];
      if (c === undefined) throw new Error(`unterminated value of label ${name}`);
      i++;
      if (c === '"') break;
      if (c === '\\') {
        const e = text[i++];
        value += e === 'n' ? '\n' : (e ?? '');
      } else value += c;
    }
    labels[name] = value;
  }
}

/** All samples of a text exposition; comments and blank lines are skipped, a malformed line throws. */
export function parsePrometheusText(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (!m) throw new Error(`bad metric line ${JSON.stringify(line)}`);
    let labels: Record<string, string> = {};
    let i = m[0].length;
    if (line[i] === '{') [labels, i] = parseLabels(line, i);
    const fields = line.slice(i).trim().split(/\s+/);
    out.push({ name: m[0], labels, value: parseValue(fields[0] ?? '') });
  }
  return out;
}

function matches(s: Sample, name: string, labels: Record<string, string>): boolean {
  if (s.name !== name) return false;
  for (const [k, v] of Object.entries(labels)) if (s.labels[k] !== v) return false;
  return true;
}

/** The sum of the samples of `name` whose labels include `labels`; undefined when there is none. */
export function metricSum(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  let sum: number | undefined;
  for (const s of samples) if (matches(s, name, labels)) sum = (sum ?? 0) + s.value;
  return sum;
}

/** Sums of `name` grouped by the values of `by` (e.g. result → count). */
export function metricBy(samples: readonly Sample[], name: string, by: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) {
    if (s.name !== name) continue;
    const key = by.map((l) => s.labels[l] ?? '').join(',');
    out[key] = (out[key] ?? 0) + s.value;
  }
  return out;
}

/** end − start per key (counters); keys only in `end` count from 0. */
export function deltaBy(start: Record<string, number>, end: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(end)) {
    const d = v - (start[k] ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
}

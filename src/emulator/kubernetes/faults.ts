/** Fault injection for the Kubernetes emulator, controlled by tests. */

export interface RequestMatcher {
  /** HTTP method (case-insensitive); any when omitted. */
  method?: string;
  /** Exact URL path (no query), or a RegExp tested against the path; any when omitted. */
  path?: string | RegExp;
}

export interface FaultHandle {
  /** How often the rule fired so far. */
  readonly hits: number;
  /** Removes the rule (idempotent). */
  remove(): void;
}

export interface ForcedError {
  status: number;
  /** Status.reason; defaults to the apiserver's reason for the code. */
  reason?: string;
  message?: string;
  /** Send this raw body instead of a Status object (e.g. a proxy's HTML/text error page). */
  body?: string;
  /** Content-Type of `body` (default text/plain). */
  contentType?: string;
}

interface Rule {
  kind: 'delay' | 'fail';
  match: RequestMatcher;
  remaining: number;
  hits: number;
  delayMs?: number;
  error?: ForcedError;
}

export type OutageMode = 'refuse' | 'reset';

export interface OutageControl {
  start(mode: OutageMode): Promise<void>;
  end(): Promise<void>;
  mode(): OutageMode | undefined;
}

function matches(m: RequestMatcher, method: string, path: string): boolean {
  if (m.method && m.method.toUpperCase() !== method.toUpperCase()) return false;
  if (m.path === undefined) return true;
  return typeof m.path === 'string' ? m.path === path : m.path.test(path);
}

/**
 * Per-path/method latency, forced error statuses for the next N matching
 * requests, and full outages (connection refused: the listener is closed;
 * reset: connections are accepted and reset at once).
 */
export class EmulatorFaults {
  private rules: Rule[] = [];

  constructor(private readonly outageControl: OutageControl) {}

  /** Delays matching requests by `ms` (Infinity: until the client gives up), `times` times (default: always). */
  delay(ms: number, match: RequestMatcher = {}, times = Infinity): FaultHandle {
    return this.add({ kind: 'delay', match, remaining: times, hits: 0, delayMs: ms });
  }

  /** Answers the next `count` matching requests with a Status error of the given HTTP code. */
  failNext(count: number, error: ForcedError, match: RequestMatcher = {}): FaultHandle {
    return this.add({ kind: 'fail', match, remaining: count, hits: 0, error });
  }

  /** Starts an outage: `refuse` closes the listener (ECONNREFUSED), `reset` resets every connection (ECONNRESET). */
  outage(mode: OutageMode = 'refuse'): Promise<void> {
    return this.outageControl.start(mode);
  }

  /** Ends an outage (the listener comes back on the same port). */
  restore(): Promise<void> {
    return this.outageControl.end();
  }

  get outageMode(): OutageMode | undefined {
    return this.outageControl.mode();
  }

  /** Removes all delay/failure rules (an outage stays until restore()). */
  clear(): void {
    this.rules = [];
  }

  /** The delay for this request (sum of matching delay rules) and a forced error, consuming rule budgets. */
  take(method: string, path: string): { delayMs: number; error: ForcedError | undefined } {
    let delayMs = 0;
    let error: ForcedError | undefined;
    for (const r of this.rules) {
      if (r.remaining <= 0 || !matches(r.match, method, path)) continue;
      if (r.kind === 'delay') {
        delayMs += r.delayMs!;
      } else if (error === undefined) {
        error = r.error;
      } else continue;
      r.remaining -= 1;
      r.hits += 1;
    }
    this.rules = this.rules.filter((r) => r.remaining > 0);
    return { delayMs, error };
  }

  private add(rule: Rule): FaultHandle {
    this.rules.push(rule);
    return {
      get hits() {
        return rule.hits;
      },
      remove: () => {
        rule.remaining = 0;
        this.rules = this.rules.filter((r) => r !== rule);
      },
    };
  }
}

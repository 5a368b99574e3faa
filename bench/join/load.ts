/** The load generator: the Go aTLS peer (`test/go/bin/atls-peer --load`) as a child process. */
import { spawnProc } from './procs.js';
import type { PeerLoadProgress as LoadProgress, PeerLoadResult as LoadResult } from '../../test/helpers/go-peer.js';

export interface LoadOptions {
  peer: string;
  endpoint: string;
  variant: string;
  issuerUrl: string;
  count: number;
  /** burst | window:<duration> | rate:<per second> */
  arrival: string;
  callTimeout: string;
  retryInterval: string;
  maxAttempts?: number;
  runTimeout: string;
  nodeName: string;
  progressInterval: string;
  logFile: string;
}

/** The load generator's output contract (progress lines, result line) is defined once, next to the Go peer's test helper. */
export type { PeerLoadProgress as LoadProgress, PeerLoadResult as LoadResult } from '../../test/helpers/go-peer.js';

/** `burst` | `window:60s` | `rate:50` → the peer's flags. */
export function arrivalArgs(arrival: string): string[] {
  if (arrival === 'burst') return ['--arrival', 'burst'];
  const w = /^window:(\d+(?:\.\d+)?(?:ms|s|m|h))$/.exec(arrival);
  if (w) return ['--arrival', 'window', '--window', w[1]!];
  const r = /^rate:(\d+(?:\.\d+)?)$/.exec(arrival);
  if (r && Number(r[1]) > 0) return ['--arrival', 'rate', '--rate', r[1]!];
  throw new Error(`--arrival must be burst, window:<duration> (e.g. window:60s) or rate:<nodes per second>, not ${JSON.stringify(arrival)}`);
}

export function loadArgs(o: LoadOptions): string[] {
  return [
    '--load',
    '--rpc',
    'join',
    '--endpoint',
    o.endpoint,
    '--variant',
    o.variant,
    '--issuer-url',
    o.issuerUrl,
    '--count',
    String(o.count),
    ...arrivalArgs(o.arrival),
    '--call-timeout',
    o.callTimeout,
    '--retry-interval',
    o.retryInterval,
    ...(o.maxAttempts !== undefined ? ['--max-attempts', String(o.maxAttempts)] : []),
    '--run-timeout',
    o.runTimeout,
    '--progress-interval',
    o.progressInterval,
    '--node-name',
    o.nodeName,
  ];
}

/** `progress {…}` → the progress object; undefined for other lines. */
export function parseProgressLine(line: string): LoadProgress | undefined {
  if (!line.startsWith('progress {')) return undefined;
  try {
    return JSON.parse(line.slice('progress '.length)) as LoadProgress;
  } catch {
    return undefined;
  }
}

/** The result line on stdout (the last line that parses as {"mode":"load",…}). */
export function parseResult(stdoutLines: readonly string[]): LoadResult | undefined {
  for (let i = stdoutLines.length - 1; i >= 0; i--) {
    const l = stdoutLines[i]!.trim();
    if (!l.startsWith('{')) continue;
    try {
      const r = JSON.parse(l) as LoadResult;
      if (r.mode === 'load') return r;
    } catch {
      // not the result line
    }
  }
  return undefined;
}

export interface LoadRun {
  pid: number;
  result: Promise<LoadResult>;
  stop(): Promise<unknown>;
}

/** Starts a load run; `onProgress` gets every progress line. */
export function runLoad(o: LoadOptions, onProgress: (p: LoadProgress) => void): LoadRun {
  const stdout: string[] = [];
  const proc = spawnProc('load generator', o.peer, loadArgs(o), {
    logFile: o.logFile,
    onStdout: (l) => stdout.push(l),
    onStderr: (l) => {
      const p = parseProgressLine(l);
      if (p) onProgress(p);
      return false; // progress lines stay in the log too
    },
  });
  const result = proc.exited.then((code) => {
    const r = parseResult(stdout);
    if (!r) throw new Error(`load generator exited (${code}) without a result line; last output:\n  ${proc.tail().join('\n  ')}`);
    return r;
  });
  return { pid: proc.pid, result, stop: () => proc.stop(15_000) };
}

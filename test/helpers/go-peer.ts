/**
 * Builds and runs the real Go aTLS + grpc-go client (test/go/src/atlspeer, built by
 * scripts/build-go-peer.sh into test/go/bin/atls-peer) for end-to-end tests.
 *
 * The peer prints exactly one JSON line on stdout; exit code 0 means it ran as
 * asked (even if the RPC failed), 2 is a usage error. See the usage text of
 * `atls-peer --help` for the flags.
 */
import { spawn } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { repoRoot as findRoot } from './repo-root.js';

/** Latency percentiles over all connections of a `--count N > 1` run. */
export interface PeerLatency {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/**
 * The JSON line printed by atls-peer. One flat shape for its three forms:
 * - `--count 1`: `ok`, `code` (grpc-go code name, e.g. `OK`, `Unavailable`,
 *   `Unimplemented`, `DeadlineExceeded`), `calls`, `elapsedMs`; on success the
 *   hex `stateDiskKey`/`measurementSecret` (rejoin/join), on failure `message`;
 *   `tlsVersion`/`alpn` whenever a TLS handshake completed.
 * - `--mode slow-handshake`: `ok: false`, `code` `ClosedByServer` or `StillOpen`
 *   (or `Unavailable` when the TCP connect failed), `closedAfterMs` (null when
 *   still open), `bytesReceived`.
 * - `--count N > 1`: `count`, `succeeded`, `failed`, `codes`, `latencyMs`, and up to
 *   five distinct failure texts in `errors`; no `code`.
 */
export interface PeerResult {
  ok: boolean;
  elapsedMs: number;
  code?: string;
  message?: string;
  tlsVersion?: string;
  alpn?: string;
  stateDiskKey?: string;
  measurementSecret?: string;
  calls?: number;
  /** First read error on the TLS connection after the handshake, e.g. `remote error: tls: bad certificate`. */
  transportError?: string;
  /** Client-side TLS handshake error, if the handshake failed. */
  handshakeError?: string;
  closedAfterMs?: number | null;
  bytesReceived?: number;
  count?: number;
  succeeded?: number;
  failed?: number;
  codes?: Record<string, number>;
  latencyMs?: PeerLatency;
  errors?: string[];
}

export interface RunGoPeerOptions {
  /** Kill the peer (SIGKILL) and reject after this many ms. Default 120000. */
  timeoutMs?: number;
  /** Extra environment variables (merged over process.env). */
  env?: NodeJS.ProcessEnv;
}

/** Rejection of runGoPeer/buildGoPeer; carries what the process produced. */
export class GoPeerError extends Error {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** The parsed JSON line, if stdout held one (e.g. `{code: 'UsageError'}` on exit 2). */
  readonly result: PeerResult | undefined;

  constructor(
    message: string,
    details: { exitCode: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; result?: PeerResult },
  ) {
    super(message);
    this.name = 'GoPeerError';
    this.exitCode = details.exitCode;
    this.signal = details.signal;
    this.stdout = details.stdout;
    this.stderr = details.stderr;
    this.result = details.result;
  }
}

const repoRoot: string = findRoot();
/** Absolute path of the atls-peer binary (exists after buildGoPeer()). */
export const goPeerBinary: string = path.join(repoRoot, 'test', 'go', 'bin', 'atls-peer');
const buildScript = path.join(repoRoot, 'scripts', 'build-go-peer.sh');

async function newestMtime(dir: string, suffix: string): Promise<number> {
  let newest = 0;
  const entries = await readdir(dir, { withFileTypes: true });
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, await newestMtime(p, suffix));
    else if (e.name.endsWith(suffix)) newest = Math.max(newest, (await stat(p)).mtimeMs);
  }
  return newest;
}

async function binaryIsFresh(): Promise<boolean> {
  let binMtime: number;
  try {
    binMtime = (await stat(goPeerBinary)).mtimeMs;
  } catch {
    return false;
  }
  const sources = Math.max(
    await newestMtime(path.join(repoRoot, 'test', 'go', 'src', 'atlspeer'), '.go'),
    await newestMtime(path.join(repoRoot, 'proto'), '.proto'),
    (await stat(buildScript)).mtimeMs,
  );
  return binMtime > sources;
}

interface Captured {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

function capture(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Captured> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      resolve({
        exitCode,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
      });
    });
  });
}

let buildPromise: Promise<string> | undefined;

/**
 * Builds the Go peer once per process (skipped when the binary is newer than its
 * Go sources, the protos and the build script) and returns the binary path.
 */
export function buildGoPeer(): Promise<string> {
  buildPromise ??= (async () => {
    if (await binaryIsFresh()) return goPeerBinary;
    const r = await capture('bash', [buildScript], process.env, 15 * 60_000);
    if (r.exitCode !== 0) {
      throw new GoPeerError(
        `go-peer: ${buildScript} failed (${r.timedOut ? 'timed out' : `exit ${String(r.exitCode ?? r.signal)}`}):\n${r.stderr}${r.stdout}`,
        { exitCode: r.exitCode, signal: r.signal, stdout: r.stdout, stderr: r.stderr },
      );
    }
    return goPeerBinary;
  })();
  return buildPromise;
}

function parseResult(stdout: string): PeerResult | undefined {
  const lines = stdout.split('\n').filter((l) => l.trim() !== '');
  if (lines.length !== 1) return undefined;
  try {
    const v: unknown = JSON.parse(lines[0] ?? '');
    if (typeof v === 'object' && v !== null && typeof (v as { ok?: unknown }).ok === 'boolean') return v as PeerResult;
  } catch {
    // fall through
  }
  return undefined;
}

/**
 * Runs atls-peer (building it first if needed) with `args` and resolves with its
 * JSON result. Rejects with a GoPeerError on a non-zero exit code, a timeout, or
 * output that is not exactly one JSON line.
 */
export async function runGoPeer(args: string[], opts: RunGoPeerOptions = {}): Promise<PeerResult> {
  const bin = await buildGoPeer();
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const r = await capture(bin, args, { ...process.env, ...opts.env }, timeoutMs);
  const result = parseResult(r.stdout);
  const details = { exitCode: r.exitCode, signal: r.signal, stdout: r.stdout, stderr: r.stderr, ...(result ? { result } : {}) };
  const cmdline = `atls-peer ${args.join(' ')}`;
  if (r.timedOut) {
    throw new GoPeerError(`${cmdline}: killed after ${timeoutMs} ms\nstderr:\n${r.stderr}`, details);
  }
  if (r.exitCode !== 0) {
    throw new GoPeerError(
      `${cmdline}: exit ${String(r.exitCode ?? r.signal)}\nstdout: ${r.stdout.trim()}\nstderr:\n${r.stderr}`,
      details,
    );
  }
  if (!result) {
    throw new GoPeerError(`${cmdline}: stdout is not a single JSON line: ${JSON.stringify(r.stdout)}\nstderr:\n${r.stderr}`, details);
  }
  return result;
}

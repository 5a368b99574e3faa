/**
 * Builds and runs the real Go aTLS + grpc-go client (test/go/src/atlspeer, built by
 * scripts/build-go-peer.sh into test/go/bin/atls-peer) for end-to-end tests.
 *
 * The peer prints exactly one JSON line on stdout; exit code 0 means it ran as
 * asked (even if the RPC failed), 2 is a usage error. See the usage text of
 * `atls-peer --help` for the flags.
 *
 * Attestation: by default the peer's built-in issuer makes `dummy` documents
 * (extension OID 1.3.9900.1.1). With `--issuer-command CMD` (and repeatable
 * `--issuer-arg X` for its leading arguments) it presents documents of any
 * variant made by an external program: in every handshake it runs, directly (no
 * shell, 30 s timeout, killed with its whole process group),
 * `CMD <issuer-args…> --nonce <hex server nonce> --user-data <hex SHA-256 of the
 * fresh certificate key's DER SPKI>` (lower-case hex, 32 bytes each) and embeds
 * its stdout (non-empty, at most 1 MiB) verbatim under the OID of `--variant
 * NAME` (default `dummy`; any atls.md §3 variant string). A non-zero exit, a
 * timeout, empty or oversized output fails the handshake: the JSON then has
 * `handshakeError` (and `message`) with `issuer command: …` plus the command's
 * stderr. Note that grpc-go 1.33 ends a handshake after 20 s anyway (its minimum
 * connect timeout), so a hanging command shows up as `context deadline exceeded
 * (client certificate: issuer command: killed, handshake ended: …)`.
 * With `--issuer-command` only `--mode good | wrong-nonce | wrong-key-hash` are
 * allowed (the command gets a random nonce / the hash of another key); without
 * it, `--variant` must be `dummy`. `issuerFlags()` and `joinserviceIssuerFlags()`
 * build these flags.
 *
 * `--issuer-url URL` (instead of `--issuer-command`, same `--mode` limits) asks an
 * HTTP service per handshake: POST `{"variant","nonce","userData"}` (hex) as
 * application/json; a 200 answer's body is the document (at most 1 MiB), any other
 * status fails the handshake with `issuer url: HTTP <status>: "<up to 200 bytes of
 * the body>"`. One keep-alive client is shared by all handshakes.
 *
 * `--load` (with `--rpc join`) is the join benchmark's load generator: `--count` nodes
 * that join like Constellation nodes (per-attempt `--call-timeout`, `--retry-interval`,
 * `--max-attempts`, `--run-timeout`; arrivals `--arrival burst | window --window D |
 * rate --rate R`). It prints `progress {json}` lines on stderr and one
 * `{"mode":"load",…}` line on stdout (PeerLoadResult); run it with runGoPeerLoad().
 */
import { spawn } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { repoRoot as findRoot } from './repo-root.js';

/** One `control_plane_cert_or_key` of a join ticket. */
export interface PeerControlPlaneFile {
  name: string;
  /** The raw file content, standard base64. */
  dataBase64: string;
}

/** One `components.Component` of a join ticket. */
export interface PeerComponent {
  url: string;
  hash: string;
  installPath: string;
  extract: boolean;
}

/** The OpenSSH host certificate of a join ticket, decoded by the peer (PROTOCOL.certkeys). */
export interface PeerHostCertificateInfo {
  /** Certificate type name, e.g. `ssh-ed25519-cert-v01@openssh.com`. */
  keyType: string;
  nonceLength: number;
  /** The certified key (type-specific part; for Ed25519 the 32 raw bytes), hex. */
  publicKeyHex: string;
  /** uint64 as a decimal string. */
  serial: string;
  /** 1 = user, 2 = host. */
  certType: number;
  keyId: string;
  principals: string[];
  /** Unix seconds. */
  validAfter: number;
  /** uint64 as a decimal string (`18446744073709551615` = forever). */
  validBefore: string;
  criticalOptionsHex: string;
  extensionsHex: string;
  reservedHex: string;
  /** The signature-key blob (SSH wire format of the CA key), hex. */
  signatureKeyHex: string;
  signatureType: string;
}

/** What a node can check on its join ticket by itself. */
export interface PeerJoinChecks {
  /** kubeletCert is a PEM CERTIFICATE whose SubjectPublicKeyInfo is the CSR key's. */
  kubeletCertMatchesCsrKey: boolean;
  /** token matches `\A[a-z0-9]{6}\.[a-z0-9]{16}\z`. */
  tokenFormatOk: boolean;
  /** authorizedCaPublicKey is exactly `ssh-ed25519 <padded base64 of an Ed25519 key blob>\n`. */
  authorizedCaPublicKeyFormatOk: boolean;
  /**
   * hostCertificate is exactly `ssh-ed25519-cert-v01@openssh.com <base64>\n`, parses
   * without trailing bytes, certifies our host key, has type 2 (host), its
   * signature key is the authorizedCaPublicKey blob and its Ed25519 signature verifies.
   */
  hostCertificateValid: boolean;
  /** Only when controlPlaneFiles holds `ca.crt`: discoveryTokenCaCertHash is sha256 of its SPKI. */
  discoveryHashMatchesCa?: boolean;
  /** Only when controlPlaneFiles holds `ca.crt`: kubeletCert is signed by it. */
  kubeletCertSignedByCa?: boolean;
  /** Why checks failed (absent when all passed). */
  errors?: string[];
}

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
 *   `Unimplemented`, `DeadlineExceeded`, `Internal`), `calls`, `elapsedMs`; on
 *   success the hex `stateDiskKey`/`measurementSecret` (rejoin/join), on failure
 *   `message`; `tlsVersion`/`alpn` whenever a TLS handshake completed.
 *   With `--rpc join` additionally the request that was sent (`nodeName`,
 *   `principalsSent`, `csrPublicKeySpkiHex`, `hostPublicKeyLine`; success or not)
 *   and, on success, the whole ticket (`measurementSalt` … `hostCertificate`), the
 *   derived `clusterId`, the decoded `hostCertificateInfo` and the node-side
 *   `checks`. The peer sends one IssueJoinTicketRequest per connection like
 *   Constellation's bootstrapper: a DER PKCS#10 CSR for a fresh key (`--csr-key`
 *   ecdsa P-256 | rsa 2048 | ed25519) with O=`system:nodes`,
 *   CN=`system:node:<--node-name>` (default `worker-0`), IP SANs `--csr-ip`
 *   (default `10.9.0.5`) and DNS SANs `--csr-dns` (default
 *   `kubelet.dns-san.invalid`, to show that the service drops them); a fresh
 *   Ed25519 SSH host key; `is_control_plane` from `--control-plane`; principals
 *   `--principal …` (default: the CSR IPs, then the node name; `--no-principals`
 *   sends none). `--mode bad-csr-signature | csr-wrong-org | csr-two-orgs |
 *   csr-no-org | csr-wrong-cn | csr-pem | bad-host-key | empty-host-key` break the
 *   request (require `--rpc join`).
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
  // --rpc join, success only: the ticket (bytes fields hex, text fields as strings).
  measurementSalt?: string;
  /** HKDF-SHA256(measurementSecret, salt = measurementSalt, info `key-clusterID`, 32), hex: the node's cluster ID. */
  clusterId?: string;
  /** PEM. */
  kubeletCert?: string;
  apiServerEndpoint?: string;
  token?: string;
  discoveryTokenCaCertHash?: string;
  /** In the order received. */
  controlPlaneFiles?: PeerControlPlaneFile[];
  kubernetesVersion?: string;
  kubernetesComponents?: PeerComponent[];
  /** authorized_keys line as received (normally with a trailing `\n`). */
  authorizedCaPublicKey?: string;
  /** authorized_keys-style line as received (normally with a trailing `\n`). */
  hostCertificate?: string;
  /** Absent when hostCertificate does not parse (see `checks.errors`). */
  hostCertificateInfo?: PeerHostCertificateInfo;
  checks?: PeerJoinChecks;
  // --rpc join, success or failure: what was sent.
  /** The --node-name (CSR CN without `system:node:`; also for csr-wrong-cn). */
  nodeName?: string;
  principalsSent?: string[];
  /** DER SubjectPublicKeyInfo of the CSR key, hex. */
  csrPublicKeySpkiHex?: string;
  /** `ssh-ed25519 <base64 wire blob>` of the real host key (no newline; also for bad-host-key/empty-host-key). */
  hostPublicKeyLine?: string;
  calls?: number;
  /** First read error on the TLS connection after the handshake, e.g. `remote error: tls: bad certificate`. */
  transportError?: string;
  /**
   * Client-side TLS handshake error, if the handshake failed (with
   * `--issuer-command` e.g. `issuer command: exit status 3; stderr: …`).
   */
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

/**
 * `--variant <variant> --issuer-command <command> --issuer-arg <a>…`: the peer
 * presents `variant` documents printed by `command args… --nonce <hex> --user-data <hex>`.
 */
export function issuerFlags(variant: string, command: string, args: readonly string[] = []): string[] {
  return ['--variant', variant, '--issuer-command', command, ...args.flatMap((a) => ['--issuer-arg', a])];
}

/**
 * Flags that make the peer use this checkout's simulated node issuer,
 * `joinservice issue --variant <variant>` (bin/joinservice.js under the current
 * Node.js; qemu-vtpm documents come from its software TPM with the default
 * measured boot that `joinservice dev` accepts). About 1 s per handshake.
 */
export function joinserviceIssuerFlags(variant: 'qemu-vtpm' | 'dummy' = 'qemu-vtpm'): string[] {
  return issuerFlags(variant, process.execPath, [path.join(repoRoot, 'bin', 'joinservice.js'), 'issue', '--variant', variant]);
}

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

/** Latency percentiles (nearest rank) over the joined nodes of a `--load` run, in ms. */
export interface PeerLoadLatency {
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** One node of a `--load` run. Offsets in ms from the run start (`startUnixMs`). */
export interface PeerLoadNode {
  i: number;
  /** When the node's goroutine started (for a node that never started: its scheduled time). */
  arrivalMs: number;
  /** When it joined (ticket checked) or failed for good. */
  doneMs: number;
  /** doneMs - arrivalMs (>= 0): key generation, every attempt and the retry waits. */
  latencyMs: number;
  /** Attempts made (0 if the run ended before the node arrived). */
  attempts: number;
  ok: boolean;
  /** Failed nodes only: `<cause>: <text>` of the last failure, at most 200 characters. */
  lastError?: string;
}

/**
 * The result line of `atls-peer --load` (see the usage text and load.go). Error
 * causes: `dial`, `handshake`, `issuer`, `deadline`, `grpc:<CodeName>`,
 * `ticket-check`, `run-timeout`, `interrupted`, `other`.
 */
export interface PeerLoadResult {
  mode: 'load';
  arrival: 'burst' | 'window' | 'rate';
  total: number;
  joined: number;
  failed: number;
  /** Attempts beyond the first, summed over the nodes. */
  retries: number;
  /** First arrival to last completion. */
  durationMs: number;
  startUnixMs: number;
  /**
   * Failed attempts per cause; `run-timeout` / `interrupted` count every node the
   * end of the run cut off (once per node, in flight, waiting to retry or not yet arrived).
   */
  errorsByCause: Record<string, number>;
  latencyMs: PeerLoadLatency;
  nodes: PeerLoadNode[];
  /** Over the successful attempts (dial start to RPC end), ms. */
  attemptLatencyMs: { p50: number; p99: number };
  /** Present (true) only when SIGINT/SIGTERM ended the run. */
  interrupted?: boolean;
}

/** One `progress {json}` line of a `--load` run (stderr). */
export interface PeerLoadProgress {
  elapsedMs: number;
  joined: number;
  failed: number;
  inFlight: number;
  waitingRetry: number;
  total: number;
  retries: number;
  /** Joins since the previous line per second of the time since it. */
  ratePerSec: number;
  errors: Record<string, number>;
}

export interface PeerLoadRun {
  result: PeerLoadResult;
  /** Every progress line, in order (the last one is printed after the run ended). */
  progress: PeerLoadProgress[];
  stderr: string;
}

export interface RunGoPeerLoadOptions extends RunGoPeerOptions {
  /** Called for every progress line; `signal` sends a signal to the peer. */
  onProgress?: (p: PeerLoadProgress, signal: (s: NodeJS.Signals) => void) => void;
}

/**
 * Runs `atls-peer --load <args>` (add `--rpc join` and the rest to `args`; `--load`
 * is prepended) and resolves with its result line and progress lines. Rejects with
 * a GoPeerError on a non-zero exit, a timeout, or a stdout that is not exactly one
 * `{"mode":"load",…}` line.
 */
export async function runGoPeerLoad(args: string[], opts: RunGoPeerLoadOptions = {}): Promise<PeerLoadRun> {
  const bin = await buildGoPeer();
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const fullArgs = ['--load', ...args];
  const child = spawn(bin, fullArgs, { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const progress: PeerLoadProgress[] = [];
  let stderr = '';
  let pending = '';
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => {
    const s = b.toString('utf8');
    stderr += s;
    pending += s;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (!line.startsWith('progress ')) continue;
      const p = JSON.parse(line.slice('progress '.length)) as PeerLoadProgress;
      progress.push(p);
      opts.onProgress?.(p, (sig) => child.kill(sig));
    }
  });
  const { exitCode, signal } = await new Promise<{ exitCode: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      resolve({ exitCode: code, signal: sig });
    });
  });
  const stdout = Buffer.concat(out).toString('utf8');
  const cmdline = `atls-peer ${fullArgs.join(' ')}`;
  const details = { exitCode, signal, stdout, stderr };
  if (timedOut) throw new GoPeerError(`${cmdline}: killed after ${timeoutMs} ms\nstderr:\n${stderr}`, details);
  if (exitCode !== 0) {
    throw new GoPeerError(`${cmdline}: exit ${String(exitCode ?? signal)}\nstdout: ${stdout.trim()}\nstderr:\n${stderr}`, details);
  }
  const lines = stdout.split('\n').filter((l) => l.trim() !== '');
  let result: PeerLoadResult | undefined;
  try {
    const v = lines.length === 1 ? (JSON.parse(lines[0] ?? '') as unknown) : undefined;
    if (typeof v === 'object' && v !== null && (v as { mode?: unknown }).mode === 'load') result = v as PeerLoadResult;
  } catch {
    // reported below
  }
  if (!result) throw new GoPeerError(`${cmdline}: stdout is not a single load result line: ${JSON.stringify(stdout)}\nstderr:\n${stderr}`, details);
  return { result, progress, stderr };
}

import { InvalidArgumentError, type Command } from 'commander';
import { NONCE_CA_SETTINGS, type NonceCaSetting } from '../atls/nonce-ca.js';
import { parseListenAddress, type ListenAddress } from '../metrics/metrics-server.js';
import { DEFAULT_LIMITS, type ServiceLimits } from '../service/limits.js';

/**
 * Go's flag package accepts `-name=value`, `-name value`, `--name=value`.
 * Commander wants `--name` for long options, so single-dash long flags are
 * rewritten (`-v` stays the short verbosity flag; `-v=2` becomes `-v 2`).
 */
export function normalizeGoFlags(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (const a of argv) {
    const m = /^-([a-z][a-z0-9-]+)(=.*)?$/.exec(a);
    if (a.startsWith('-v=')) out.push('-v', a.slice(3));
    else if (m) out.push(`--${m[1]}${m[2] ?? ''}`);
    else out.push(a);
  }
  return out;
}

export function intArg(min: number, max: number) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value)) throw new InvalidArgumentError(`not an integer: ${value}`);
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`must be between ${min} and ${max}`);
    return n;
  };
}

/** The resource-limit flags shared by `serve` and `dev`. */
export function addLimitFlags(cmd: Command): Command {
  return cmd
    .option('--workers <n>', 'verification worker threads (0 = verify inline on the main thread)', intArg(0, 256), DEFAULT_LIMITS.workers)
    .option('--max-verify-queue <n>', 'verifications that may wait for a worker before new connections are refused', intArg(0, 100_000), DEFAULT_LIMITS.maxVerifyQueue)
    .option('--verify-timeout-ms <ms>', 'upper bound of one attestation verification', intArg(100, 600_000), DEFAULT_LIMITS.verifyTimeoutMs)
    .option('--handshake-timeout-ms <ms>', 'upper bound from TCP accept to the end of the TLS handshake', intArg(100, 600_000), DEFAULT_LIMITS.handshakeTimeoutMs)
    .option('--max-pending-handshakes <n>', 'connections in handshake or verification at once', intArg(1, 1_000_000), DEFAULT_LIMITS.maxPendingHandshakes)
    .option('--max-cert-list-bytes <n>', 'largest client Certificate message accepted', intArg(16 * 1024, 16 * 1024 * 1024), DEFAULT_LIMITS.maxCertListBytes)
    .option(
      '--nonce-ca <mode>',
      'how the server nonce gets into the CertificateRequest: native (OpenSSL ClientHello callback of the addon) or context (a SecureContext per ClientHello); auto = native if its start-up self-test passes, else context',
      nonceCaArg,
      DEFAULT_LIMITS.nonceCa,
    );
}

function nonceCaArg(value: string): NonceCaSetting {
  if (!(NONCE_CA_SETTINGS as readonly string[]).includes(value)) throw new InvalidArgumentError(`must be one of ${NONCE_CA_SETTINGS.join(', ')}`);
  return value as NonceCaSetting;
}

export function limitsFrom(opts: Record<string, unknown>): ServiceLimits {
  const nonceCa = (opts['nonceCa'] as NonceCaSetting | undefined) ?? 'auto';
  return {
    workers: opts['workers'] as number,
    maxVerifyQueue: opts['maxVerifyQueue'] as number,
    verifyTimeoutMs: opts['verifyTimeoutMs'] as number,
    handshakeTimeoutMs: opts['handshakeTimeoutMs'] as number,
    maxPendingHandshakes: opts['maxPendingHandshakes'] as number,
    maxCertListBytes: opts['maxCertListBytes'] as number,
    nonceCa,
  };
}

/** `--metrics-listen HOST:PORT` (serve and dev): the Prometheus endpoint, off by default. */
export function addMetricsFlag(cmd: Command): Command {
  return cmd.option(
    '--metrics-listen <host:port>',
    'serve Prometheus metrics over plain HTTP at http://HOST:PORT/metrics, e.g. 127.0.0.1:9100 ([::1]:9100, :9100 = all interfaces, port 0 = any free port; default: off)',
    listenAddressArg,
  );
}

function listenAddressArg(value: string): ListenAddress {
  try {
    return parseListenAddress(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

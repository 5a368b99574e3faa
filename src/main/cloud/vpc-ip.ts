import { ErrorCode, JoinServiceError, toJoinServiceError } from '../../shared/errors.js';
import type { Logger } from '../log/logger.js';
import { apiServerEndpointFor } from './api-server-endpoint.js';
import { createAwsProvider } from './aws.js';
import { createAzureProvider } from './azure.js';
import { createGcpProvider } from './gcp.js';
import { createOpenStackProvider } from './openstack.js';
import { parseIpAddress, raceAbort, type ProviderOptions, type VpcIpProvider } from './provider.js';
import { createQemuProvider } from './qemu.js';

/**
 * The node's IP in the VPC — the host of `api_server_endpoint`
 * (config-and-operations.md §5, join-protocol.md Step 7.5 / Step 14).
 *
 * Go obtains it once at start-up (30 s timeout) and exits on failure, so a
 * metadata hiccup makes the pod crash-loop (upstream issue #2780). Here the
 * lookup runs in the background with capped exponential backoff and jitter;
 * until it succeeds the source reports "not ready" and IssueJoinTicket answers
 * UNAVAILABLE (VpcIpNotReady). Once known, the IP never changes (as in Go).
 */
export interface VpcIpSource {
  /** The VPC IP, or undefined while it is not known yet. */
  current(): string | undefined;
  /** Resolves with the IP once known; rejects (VpcIpNotReady) if closed before. Never an unhandled rejection. */
  readonly ready: Promise<string>;
  /** `JoinHostPort(ip, "6443")`, or undefined while the IP is not known yet. */
  apiServerEndpoint(): string | undefined;
  /** Stops retrying (aborts an attempt in flight). Idempotent. */
  close(): void;
}

export type CloudProvider = 'aws' | 'azure' | 'gcp' | 'openstack' | 'qemu';

/** Accepted `--cloud-provider` values (case-insensitive); `stackit` is OpenStack. */
export const CLOUD_PROVIDER_NAMES: readonly string[] = ['aws', 'azure', 'gcp', 'openstack', 'stackit', 'qemu'];

/** The address the embedded default (`joinservice dev`) uses: loopback, no metadata access. */
export const DEV_VPC_IP = '127.0.0.1';

/** Go's overall limit for obtaining the VPC IP; here the limit of one attempt. */
export const DEFAULT_ATTEMPT_TIMEOUT_MS = 30_000;

export interface BackoffOptions {
  /** Delay after the first failed attempt. */
  initialMs: number;
  /** Cap of the (pre-jitter) delay. */
  maxMs: number;
  /** Growth per failed attempt. */
  factor: number;
  /** Fraction of the delay that is randomised, 0…1: delay × (1 − jitter × random()). */
  jitter: number;
}

export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = { initialMs: 1_000, maxMs: 30_000, factor: 2, jitter: 0.5 };

/** Delay before attempt `failedAttempts + 1`: min(max, initial × factor^(failedAttempts − 1)), jittered downwards. */
export function backoffDelayMs(failedAttempts: number, b: BackoffOptions, random: () => number = Math.random): number {
  const exp = Math.max(0, failedAttempts - 1);
  const base = Math.min(b.maxMs, b.initialMs * Math.pow(b.factor, exp));
  const jitter = Math.min(1, Math.max(0, b.jitter));
  const r = Math.min(1, Math.max(0, random()));
  return Math.max(0, Math.round(base * (1 - jitter * r)));
}

/** `--cloud-provider` → canonical provider; anything else → ConfigInvalid `unsupported cloud provider: "<name>"`. */
export function parseCloudProvider(name: string): CloudProvider {
  switch (name.toLowerCase()) {
    case 'aws':
      return 'aws';
    case 'azure':
      return 'azure';
    case 'gcp':
      return 'gcp';
    case 'openstack':
    case 'stackit':
      return 'openstack';
    case 'qemu':
      return 'qemu';
    default:
      throw new JoinServiceError(ErrorCode.ConfigInvalid, `unsupported cloud provider: ${JSON.stringify(name)}`);
  }
}

/** The metadata client for `--cloud-provider` (case-insensitive). `o` replaces base URL / transport (tests). */
export function createVpcIpProvider(cloudProvider: string, o: ProviderOptions = {}): VpcIpProvider {
  switch (parseCloudProvider(cloudProvider)) {
    case 'aws':
      return createAwsProvider(o);
    case 'azure':
      return createAzureProvider(o);
    case 'gcp':
      return createGcpProvider(o);
    case 'openstack':
      return createOpenStackProvider(o);
    case 'qemu':
      return createQemuProvider(o);
  }
}

/** A source that knows its IP from the start (`--vpc-ip`, the dev default). Throws ConfigInvalid for a non-IP. */
export function staticVpcIpSource(ip: string): VpcIpSource {
  let valid: string;
  try {
    valid = parseIpAddress(ip, 'VPC IP');
  } catch (err) {
    throw new JoinServiceError(ErrorCode.ConfigInvalid, (err as Error).message);
  }
  const endpoint = apiServerEndpointFor(valid);
  return {
    current: () => valid,
    ready: Promise.resolve(valid),
    apiServerEndpoint: () => endpoint,
    close: () => {},
  };
}

/** The embedded default: 127.0.0.1, no metadata access. */
export function devVpcIpSource(): VpcIpSource {
  return staticVpcIpSource(DEV_VPC_IP);
}

export interface VpcIpSourceOptions {
  provider: VpcIpProvider;
  log: Logger;
  /** Limit of one attempt (all its requests together). Default 30 s, as Go's overall limit. */
  attemptTimeoutMs?: number;
  backoff?: Partial<BackoffOptions>;
  /** Jitter source, 0…1 (tests). */
  random?: () => number;
}

/**
 * Starts looking up the VPC IP in the background and returns at once.
 * Logs one line per failed attempt — ERROR `Failed to get IP in VPC` with
 * `provider`, `attempt`, `error`, `retryInMs` — and INFO `Got IP in VPC`
 * (`provider`, `vpcIp`, `attempts`) on success.
 */
export function startVpcIpSource(o: VpcIpSourceOptions): VpcIpSource {
  const backoff: BackoffOptions = { ...DEFAULT_BACKOFF, ...o.backoff };
  const attemptTimeoutMs = o.attemptTimeoutMs ?? DEFAULT_ATTEMPT_TIMEOUT_MS;
  const random = o.random ?? Math.random;
  const closed = new AbortController();
  let ip: string | undefined;
  let endpoint: string | undefined;
  let resolveReady!: (ip: string) => void;
  let rejectReady!: (err: Error) => void;
  const ready = new Promise<string>((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  ready.catch(() => {}); // a rejection after close() must not crash a process nobody awaits in
  let retryTimer: NodeJS.Timeout | undefined;
  let wakeUp: (() => void) | undefined;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      wakeUp = resolve;
      retryTimer = setTimeout(resolve, ms);
      retryTimer.unref();
    });

  const attempt = async (): Promise<string> => {
    const timeout = new AbortController();
    const timer = setTimeout(
      () => timeout.abort(new JoinServiceError(ErrorCode.MetadataUnavailable, `attempt timed out after ${attemptTimeoutMs} ms`)),
      attemptTimeoutMs,
    );
    timer.unref();
    const signal = AbortSignal.any([closed.signal, timeout.signal]);
    try {
      const got = await raceAbort(o.provider.getVpcIp(signal), signal);
      return parseIpAddress(got, `${o.provider.name}: VPC IP`);
    } finally {
      clearTimeout(timer);
    }
  };

  const run = async () => {
    for (let n = 1; !closed.signal.aborted; n++) {
      try {
        const got = await attempt();
        if (closed.signal.aborted) return;
        ip = got;
        endpoint = apiServerEndpointFor(got);
        o.log.info('Got IP in VPC', { provider: o.provider.name, vpcIp: got, attempts: n });
        resolveReady(got);
        return;
      } catch (err) {
        if (closed.signal.aborted) return;
        const e = toJoinServiceError(err, ErrorCode.MetadataUnavailable);
        const delay = backoffDelayMs(n, backoff, random);
        o.log.error('Failed to get IP in VPC', { provider: o.provider.name, attempt: n, error: e.message, retryInMs: delay });
        await sleep(delay);
      }
    }
  };

  void run()
    .catch((err: unknown) => rejectReady(toJoinServiceError(err)))
    .finally(() => {
      if (ip === undefined) rejectReady(notReady('VPC IP lookup stopped before the IP was known'));
    });

  return {
    current: () => ip,
    ready,
    apiServerEndpoint: () => endpoint,
    close: () => {
      if (closed.signal.aborted) return;
      closed.abort(notReady('VPC IP source closed'));
      clearTimeout(retryTimer);
      wakeUp?.();
    },
  };
}

export interface VpcIpFlags {
  /** `--cloud-provider` (case-insensitive). Ignored when `vpcIp` is set. */
  cloudProvider: string;
  /** `--vpc-ip`: use this IP, no metadata access at all. Empty/undefined = ask the provider. */
  vpcIp?: string | undefined;
}

export interface VpcIpFromFlagsOptions extends Omit<VpcIpSourceOptions, 'provider'> {
  providerOptions?: ProviderOptions;
}

/**
 * What `serve` uses: `--vpc-ip` → static source (validated, ConfigInvalid if not
 * an IP); else the provider's metadata client in the retry loop. An unknown
 * provider throws ConfigInvalid `unsupported cloud provider: "<name>"` at once.
 */
export function vpcIpSourceFromFlags(flags: VpcIpFlags, o: VpcIpFromFlagsOptions): VpcIpSource {
  if (flags.vpcIp !== undefined && flags.vpcIp !== '') {
    const source = staticVpcIpSource(flags.vpcIp);
    o.log.info('Using VPC IP from --vpc-ip', { vpcIp: source.current() });
    return source;
  }
  const provider = createVpcIpProvider(flags.cloudProvider, o.providerOptions);
  return startVpcIpSource({ ...o, provider });
}

/** For IssueJoinTicket: the endpoint, or JoinServiceError(VpcIpNotReady) → gRPC UNAVAILABLE. */
export function requireApiServerEndpoint(source: VpcIpSource): string {
  const endpoint = source.apiServerEndpoint();
  if (endpoint === undefined) throw notReady('VPC IP of this node is not known yet (cloud metadata unavailable); try again later');
  return endpoint;
}

function notReady(message: string): JoinServiceError {
  return new JoinServiceError(ErrorCode.VpcIpNotReady, message);
}

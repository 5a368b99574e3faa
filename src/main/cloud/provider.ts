import { BlockList, isIP } from 'node:net';
import { ErrorCode, JoinServiceError } from '../../shared/errors.js';
import { createHttpMetadataFetch, type MetadataFetch } from './metadata-http.js';

/** One cloud's way of finding this node's IP in the VPC (config-and-operations.md §5). */
export interface VpcIpProvider {
  /** Canonical provider name (`aws`, `azure`, `gcp`, `openstack`, `qemu`). */
  readonly name: string;
  /**
   * The node's VPC IP, already validated (see parseIpAddress). Rejects with a
   * JoinServiceError(MetadataUnavailable) on any failure; honours `signal`.
   */
  getVpcIp(signal?: AbortSignal): Promise<string>;
}

/** What tests (and unusual deployments) may replace in every provider client. */
export interface ProviderOptions {
  /** Scheme + authority (+ optional path prefix) of the metadata service, e.g. `http://127.0.0.1:41234`. */
  baseUrl?: string;
  /** Transport; defaults to createHttpMetadataFetch() (5 s per request, 64 KiB bodies, no proxy). */
  fetch?: MetadataFetch;
}

export function fetchOrDefault(o: ProviderOptions): MetadataFetch {
  return o.fetch ?? createHttpMetadataFetch();
}

const unspecified = new BlockList();
unspecified.addAddress('0.0.0.0', 'ipv4');
unspecified.addAddress('::', 'ipv6');

/**
 * Validates an IP address the way Go's net.ParseIP would accept it for our use:
 * dotted-quad IPv4 (no leading zeros) or textual IPv6, no zone (`%eth0`), not
 * the unspecified address (a join endpoint of 0.0.0.0/:: is useless). Returns
 * the string unchanged (Go passes the metadata string as-is to JoinHostPort).
 * `what` names the value in the error (e.g. `aws: instance identity document privateIp`).
 */
export function parseIpAddress(value: unknown, what: string): string {
  if (typeof value !== 'string') {
    throw new JoinServiceError(ErrorCode.MetadataUnavailable, `${what}: expected a string, got ${value === null ? 'null' : typeof value}`);
  }
  if (value === '') throw new JoinServiceError(ErrorCode.MetadataUnavailable, `${what} is empty`);
  const family = value.includes('%') ? 0 : isIP(value);
  if (family === 0) {
    const shown = value.length > 64 ? `${value.slice(0, 64)}…` : value;
    throw new JoinServiceError(ErrorCode.MetadataUnavailable, `${what} is not an IP address: ${JSON.stringify(shown)}`);
  }
  if (unspecified.check(value, family === 4 ? 'ipv4' : 'ipv6')) {
    throw new JoinServiceError(ErrorCode.MetadataUnavailable, `${what} is the unspecified address ${value}`);
  }
  return value;
}

/** Rejects as soon as `signal` aborts, even if `work` ignores the signal. */
export function raceAbort<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) {
    work.catch(() => {});
    return Promise.reject(abortReason(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new JoinServiceError(ErrorCode.MetadataUnavailable, 'aborted');
}

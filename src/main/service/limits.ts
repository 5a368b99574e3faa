import { availableParallelism } from 'node:os';
import { DEFAULT_MAX_CERT_LIST_BYTES } from '../atls/cert-list-limit.js';
import type { NonceCaSetting } from '../atls/nonce-ca.js';

/** Resource bounds of the service; each is a command-line flag. */
export interface ServiceLimits {
  /** Verification worker threads; 0 = verify inline on the main thread. */
  workers: number;
  /** Verifications waiting beyond the running ones before new connections are refused. */
  maxVerifyQueue: number;
  /** One attestation verification (atls.md §2: 30 s in Go). */
  verifyTimeoutMs: number;
  /** TCP accept → end of TLS handshake. */
  handshakeTimeoutMs: number;
  /** Connections in handshake or verification at once. */
  maxPendingHandshakes: number;
  /** Largest client Certificate message. */
  maxCertListBytes: number;
  /** How the server nonce gets into the CertificateRequest (`--nonce-ca`, src/main/atls/nonce-ca.ts). */
  nonceCa?: NonceCaSetting;
}

export const DEFAULT_LIMITS: ServiceLimits = {
  workers: availableParallelism(),
  // As large as the pending-handshake bound (which includes connections in verification): with a
  // smaller queue a 1000-node burst overflowed the pool (fast handshakes, slower verification) and
  // admitted nodes were refused and retried after 30 s (bench/README.md).
  maxVerifyQueue: 1024,
  verifyTimeoutMs: 30_000,
  handshakeTimeoutMs: 10_000,
  maxPendingHandshakes: 1024,
  maxCertListBytes: DEFAULT_MAX_CERT_LIST_BYTES,
  nonceCa: 'auto',
};

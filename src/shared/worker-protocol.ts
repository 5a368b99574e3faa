/**
 * The typed protocol between the main thread and the worker pool.
 *
 * Two kinds of task, each one whole CPU-heavy job:
 * - `verify-certificate`: one whole aTLS client-certificate verification (atls.md §6):
 * structural certificate checks, variant dispatch by extension OID, the
 * variant's attestation check against the server nonce, and the
 * user-data = SHA-256(SPKI) binding. Everything crossing the boundary is
 * plain structured-clone data; errors cross as SerializedError with a stable
 * ErrorCode. Bump VERIFY_PROTOCOL_VERSION on any incompatible change: a worker
 * answers a task of another version with ErrorCode.PoolProtocol.
 */
import type { SerializedError } from './errors.js';
import type { VariantName } from './variants.js';

export const VERIFY_PROTOCOL_VERSION = 1;

/** The attestation config a task is verified against, identified by its generation. */
export interface AttestationConfigRef {
  /** Increases with every successful (re)load; workers cache the parsed validator per generation. */
  generation: number;
  /** The config file's JSON text (config-and-operations.md §2), decoded by the variant's plug-in. */
  text: string;
}

export interface VerifyCertificateTask {
  v: typeof VERIFY_PROTOCOL_VERSION;
  kind: 'verify-certificate';
  /** DER of the client's leaf certificate, as received in the TLS Certificate message. */
  certificate: Uint8Array;
  /** The 32-byte server nonce this connection's CertificateRequest carried. */
  nonce: Uint8Array;
  /** The configured variant (--attestation-variant); only its OID is accepted. */
  variant: VariantName;
  config: AttestationConfigRef;
  /** Verification time (ms since epoch), taken on the main thread when the handshake completed. */
  nowMs: number;
}

export type VerifyTask = VerifyCertificateTask;

/**
 * IssueJoinTicket step 10 (join-protocol.md §4): validate the node's CSR and
 * sign its kubelet client certificate with the cluster CA. The worker reads
 * `ca.crt` and `ca.key` from `pkiDir` itself (re-read per task as Go does, parsed
 * key cached by file content), so CA key material never crosses the boundary.
 */
export interface IssueKubeletCertificateTask {
  v: typeof VERIFY_PROTOCOL_VERSION;
  kind: 'issue-kubelet-certificate';
  /** DER PKCS#10 from IssueJoinTicketRequest.certificate_request. */
  csr: Uint8Array;
  /** Directory with ca.crt and ca.key (production: /etc/kubernetes/pki). */
  pkiDir: string;
  /** Issuing time (ms since epoch). */
  nowMs: number;
}

export type IssueKubeletCertificateResult =
  | {
      v: typeof VERIFY_PROTOCOL_VERSION;
      ok: true;
      /** One PEM CERTIFICATE block, 64-column base64, trailing newline. */
      certificatePem: string;
      /** The CSR's CN without the `system:node:` prefix (step 12). */
      nodeName: string;
      timings: { totalUs: number };
    }
  | { v: typeof VERIFY_PROTOCOL_VERSION; ok: false; error: SerializedError; timings: { totalUs: number } };

export type WorkerTask = VerifyCertificateTask | IssueKubeletCertificateTask;

/** The result type a task kind answers with. */
export type WorkerResult<T extends WorkerTask> = T extends IssueKubeletCertificateTask ? IssueKubeletCertificateResult : VerifyResult;

/** Public facts about a verified peer, handed to RPC handlers and logs. */
export interface AttestedPeer {
  variant: VariantName;
  /** Hex of the user data bound in the attestation (= SHA-256 of the certificate's SPKI). */
  userDataHex: string;
  /** Measurements the validator checked or reported, index → lowercase hex (empty for dummy). */
  measurements: Record<string, string>;
  /** Non-fatal findings (warnOnly mismatches, …) for the log. */
  warnings: string[];
}

export interface VerifyTimings {
  /** Microseconds spent in the structural certificate checks. */
  certificateUs: number;
  /** Microseconds spent in the variant's attestation check. */
  attestationUs: number;
}

export type VerifyResult =
  | { v: typeof VERIFY_PROTOCOL_VERSION; ok: true; peer: AttestedPeer; timings: VerifyTimings }
  | { v: typeof VERIFY_PROTOCOL_VERSION; ok: false; error: SerializedError; timings: VerifyTimings };

/**
 * The one error type of the service. Every failure that crosses a module
 * boundary (worker → main thread, handler → gRPC) is a JoinServiceError with a
 * stable code; src/main/grpc/status.ts maps codes to gRPC status codes.
 *
 * Messages never contain key material: callers pass only descriptions of the
 * failed check (which field, expected vs. actual public values).
 */
export const ErrorCode = {
  // aTLS transport (main thread)
  AtlsNoSni: 'ATLS_NO_SNI',
  AtlsBadSni: 'ATLS_BAD_SNI',
  AtlsDuplicateSni: 'ATLS_DUPLICATE_SNI',
  AtlsNonceUnknown: 'ATLS_NONCE_UNKNOWN',
  AtlsNoClientCertificate: 'ATLS_NO_CLIENT_CERTIFICATE',
  AtlsSessionResumed: 'ATLS_SESSION_RESUMED',
  AtlsAlpn: 'ATLS_ALPN',
  AtlsHandshakeTimeout: 'ATLS_HANDSHAKE_TIMEOUT',
  AtlsTooManyHandshakes: 'ATLS_TOO_MANY_HANDSHAKES',
  AtlsHandshakeFailed: 'ATLS_HANDSHAKE_FAILED',
  // certificate structure (worker)
  CertParse: 'CERT_PARSE',
  CertValidity: 'CERT_VALIDITY',
  CertCriticalExtension: 'CERT_CRITICAL_EXTENSION',
  CertKeyUsage: 'CERT_KEY_USAGE',
  CertKeyType: 'CERT_KEY_TYPE',
  CertSignature: 'CERT_SIGNATURE',
  // attestation (worker)
  AttestationMissing: 'ATTESTATION_MISSING',
  AttestationMalformed: 'ATTESTATION_MALFORMED',
  AttestationNonceMismatch: 'ATTESTATION_NONCE_MISMATCH',
  AttestationUserDataMismatch: 'ATTESTATION_USER_DATA_MISMATCH',
  AttestationRejected: 'ATTESTATION_REJECTED',
  AttestationVariantUnsupported: 'ATTESTATION_VARIANT_UNSUPPORTED',
  AttestationTimeout: 'ATTESTATION_TIMEOUT',
  /** Enforced measurements (PCR values) differ from the attestation config; the message lists `PCR[i]: expected X, got Y` per mismatch. */
  MeasurementMismatch: 'MEASUREMENT_MISMATCH',
  /** A cloud API a vTPM variant relies on (GCE shielded identity, EC2 DescribeImages, their credential sources) failed, timed out or answered out of bounds; not the node's fault. */
  AttestationUpstreamUnavailable: 'ATTESTATION_UPSTREAM_UNAVAILABLE',
  // kubelet certificate issuance (worker, join-protocol.md §4 step 10)
  /** The node's CSR is malformed, not validly self-signed, or names a subject other than O=system:nodes, CN=system:node:*. */
  KubeletCsrRejected: 'KUBELET_CSR_REJECTED',
  /** ca.crt / ca.key are missing, unreadable, malformed, of an unsupported type, or do not belong together. */
  KubeletCaUnavailable: 'KUBELET_CA_UNAVAILABLE',
  // verification pool (main thread)
  PoolOverloaded: 'POOL_OVERLOADED',
  PoolWorkerFailed: 'POOL_WORKER_FAILED',
  PoolProtocol: 'POOL_PROTOCOL',
  // configuration / start-up
  ConfigInvalid: 'CONFIG_INVALID',
  /** A cloud metadata request failed (transport, status, size, body shape, not an IP). Retried at start-up. */
  MetadataUnavailable: 'METADATA_UNAVAILABLE',
  /** The node's VPC IP (host of api_server_endpoint) is not known yet; the service is not ready. */
  VpcIpNotReady: 'VPC_IP_NOT_READY',
  // Kubernetes API (src/main/kubernetes)
  /** The API server answered with an error status; details carry httpStatus and Status.reason, the message is client-go's error text. */
  KubernetesApiError: 'KUBERNETES_API_ERROR',
  /** The API server could not be reached (connection refused/reset, DNS, TLS). */
  KubernetesUnavailable: 'KUBERNETES_UNAVAILABLE',
  /** A Kubernetes call ran out of time (request timeout, caller deadline, rate-limiter wait) or was cancelled. */
  KubernetesTimeout: 'KUBERNETES_TIMEOUT',
  /** Creating the bootstrap-token Secret failed (ticket Step 7); the message starts with `creating bootstrap token: `. */
  BootstrapTokenFailed: 'BOOTSTRAP_TOKEN_FAILED',
  // RPC handling
  PeerNotAttested: 'PEER_NOT_ATTESTED',
  KmsRequestFailed: 'KMS_REQUEST_FAILED',
  InvalidArgument: 'INVALID_ARGUMENT',
  TicketStepFailed: 'TICKET_STEP_FAILED',
  /** The emergency SSH CA seed from the KMS is shorter than 32 bytes (ticket Step 3). */
  SshCaSeedInvalid: 'SSH_CA_SEED_INVALID',
  /** request.host_public_key is not an acceptable SSH wire-format public key (ticket Step 5). */
  SshHostKeyInvalid: 'SSH_HOST_KEY_INVALID',
  Unimplemented: 'UNIMPLEMENTED',
  Internal: 'INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const knownCodes: ReadonlySet<string> = new Set(Object.values(ErrorCode));

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && knownCodes.has(value);
}

/** Public, loggable facts about a failure (never secrets). */
export type ErrorDetails = Record<string, string | number | boolean | null | string[]>;

export class JoinServiceError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetails | undefined;

  constructor(code: ErrorCode, message: string, details?: ErrorDetails, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'JoinServiceError';
    this.code = code;
    this.details = details;
  }

  /** Plain-data form used to cross the worker boundary. */
  toJSON(): SerializedError {
    return { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) };
  }

  static fromJSON(e: SerializedError): JoinServiceError {
    return new JoinServiceError(e.code, e.message, e.details);
  }
}

export interface SerializedError {
  code: ErrorCode;
  message: string;
  details?: ErrorDetails;
}

/** Wraps anything thrown into a JoinServiceError, keeping codes that are already typed. */
export function toJoinServiceError(err: unknown, fallback: ErrorCode = ErrorCode.Internal): JoinServiceError {
  if (err instanceof JoinServiceError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new JoinServiceError(fallback, message, undefined, { cause: err });
}

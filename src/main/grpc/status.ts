import { status, type ServiceError, Metadata } from '@grpc/grpc-js';
import { ErrorCode, JoinServiceError, toJoinServiceError } from '../../shared/errors.js';

/** The only place where error codes become gRPC status codes. */
const GRPC_STATUS: Partial<Record<ErrorCode, status>> = {
  [ErrorCode.TicketStepFailed]: status.INTERNAL,
  [ErrorCode.KmsRequestFailed]: status.INTERNAL,
  [ErrorCode.Internal]: status.INTERNAL,
  [ErrorCode.InvalidArgument]: status.INVALID_ARGUMENT,
  [ErrorCode.Unimplemented]: status.UNIMPLEMENTED,
  [ErrorCode.PeerNotAttested]: status.PERMISSION_DENIED,
  [ErrorCode.PoolOverloaded]: status.RESOURCE_EXHAUSTED,
  [ErrorCode.VpcIpNotReady]: status.UNAVAILABLE,
  // Kubernetes adapter errors only reach gRPC unwrapped outside the ticket
  // handlers; IssueJoinTicket wraps them into TicketStepFailed (INTERNAL).
  [ErrorCode.KubernetesApiError]: status.INTERNAL,
  [ErrorCode.KubernetesUnavailable]: status.UNAVAILABLE,
  [ErrorCode.KubernetesTimeout]: status.DEADLINE_EXCEEDED,
  [ErrorCode.BootstrapTokenFailed]: status.INTERNAL,
};

export function grpcStatusFor(code: ErrorCode): status {
  return GRPC_STATUS[code] ?? status.INTERNAL;
}

export function toServiceError(err: unknown): Partial<ServiceError> {
  const e = err instanceof JoinServiceError ? err : toJoinServiceError(err);
  return { code: grpcStatusFor(e.code), details: e.message, metadata: new Metadata() };
}

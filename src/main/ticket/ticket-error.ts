import { ErrorCode, JoinServiceError, toJoinServiceError } from '../../shared/errors.js';

/**
 * A failed ticket step: gRPC INTERNAL with Go's `<step prefix>: <cause>` message
 * (join-protocol.md §4–§6). The cause text is built by the failing component and
 * never contains key material.
 */
export function stepFailed(prefix: string, cause: unknown): JoinServiceError {
  const c = toJoinServiceError(cause);
  return new JoinServiceError(ErrorCode.TicketStepFailed, `${prefix}: ${c.message}`, { step: prefix, cause: c.code }, { cause: c });
}

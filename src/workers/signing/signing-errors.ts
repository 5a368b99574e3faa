/**
 * Errors of the kubelet-certificate step. Messages are Go's error texts
 * without the `Generating kubelet certificate: ` prefix, which the main thread
 * adds; the code says whose fault it is (the node's CSR or the cluster CA).
 */
import { ErrorCode, JoinServiceError } from '../../shared/errors.js';

export function csrError(message: string): JoinServiceError {
  return new JoinServiceError(ErrorCode.KubeletCsrRejected, message);
}

export function caError(message: string): JoinServiceError {
  return new JoinServiceError(ErrorCode.KubeletCaUnavailable, message);
}

/** Runs `fn`, turning any error it throws into `wrap(message)` (JoinServiceErrors of other steps keep only their text). */
export function rethrowAs<T>(wrap: (message: string) => JoinServiceError, fn: () => T, prefix = ''): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof JoinServiceError && (err.code === ErrorCode.KubeletCsrRejected || err.code === ErrorCode.KubeletCaUnavailable)) {
      if (!prefix) throw err;
      throw new JoinServiceError(err.code, prefix + err.message);
    }
    if (err instanceof Error && isGoTextError(err)) throw wrap(prefix + err.message);
    throw err;
  }
}

/** Errors whose message is already a Go error text (our parsers'); anything else is an internal bug. */
function isGoTextError(err: Error): boolean {
  return err.name === 'GoAsn1Error' || err instanceof JoinServiceError;
}

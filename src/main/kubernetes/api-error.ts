/**
 * Turns HTTP failures of Kubernetes calls into JoinServiceErrors whose
 * message is the text client-go would produce, so the Go service's error
 * strings (join-protocol.md §4 Steps 7–9, 13) come out unchanged:
 *
 * - an API `Status` body → its `message` (`secrets "x" not found`);
 * - another error body → client-go's generic text for the status code
 *   (errors.NewGenericServerResponse), e.g. `the server could not find the
 *   requested resource (get secrets x)`;
 * - transport failures → Go's url.Error form,
 *   `Get "https://…/api/v1/…": dial tcp 10.96.0.1:443: connect: connection refused`;
 * - deadline / cancellation → `Get "https://…": context deadline exceeded` /
 *   `context canceled`.
 */
import { ErrorCode, JoinServiceError } from '../../shared/errors.js';

/** What a request was about (for generic messages): verb, resource, name. */
export interface CallDescription {
  method: string;
  url: string;
  /** `secrets` or `joiningnodes.update.edgeless.systems`. */
  resource: string;
  name?: string;
}

/** An HTTP error response, raised by the transport. */
export class HttpStatusError extends Error {
  constructor(
    readonly statusCode: number,
    readonly body: Buffer,
    readonly headers: Record<string, string>,
  ) {
    super(`HTTP ${statusCode}`);
    this.name = 'HttpStatusError';
  }
}

interface StatusBody {
  kind?: unknown;
  status?: unknown;
  message?: unknown;
  reason?: unknown;
  code?: unknown;
}

/** Go's url.Error op: `Get`, `Post`, `Put`, `Patch`, `Delete`. */
export function goMethod(method: string): string {
  return method.charAt(0).toUpperCase() + method.slice(1).toLowerCase();
}

function genericText(code: number, verb: string, serverMessage: string): { reason: string; message: string } {
  switch (code) {
    case 409:
      return { reason: verb === 'POST' ? 'AlreadyExists' : 'Conflict', message: 'the server reported a conflict' };
    case 404:
      return { reason: 'NotFound', message: 'the server could not find the requested resource' };
    case 400:
      return { reason: 'BadRequest', message: 'the server rejected our request for an unknown reason' };
    case 401:
      return { reason: 'Unauthorized', message: 'the server has asked for the client to provide credentials' };
    case 403:
      return { reason: 'Forbidden', message: serverMessage };
    case 406:
      return { reason: 'NotAcceptable', message: serverMessage && serverMessage !== 'unknown' ? serverMessage : 'the server was unable to respond with a content type that the client supports' };
    case 415:
      return { reason: 'UnsupportedMediaType', message: serverMessage };
    case 405:
      return { reason: 'MethodNotAllowed', message: 'the server does not allow this method on the requested resource' };
    case 422:
      return { reason: 'Invalid', message: 'the server rejected our request due to an error in our request' };
    case 503:
      return { reason: 'ServiceUnavailable', message: 'the server is currently unable to handle the request' };
    case 504:
      return { reason: 'Timeout', message: 'the server was unable to return a response in the time allotted, but may still be processing the request' };
    case 429:
      return { reason: 'TooManyRequests', message: 'the server has received too many requests and has asked us to try again later' };
    default:
      if (code >= 500) return { reason: 'InternalError', message: `an error on the server (${JSON.stringify(serverMessage)}) has prevented the request from succeeding` };
      return { reason: 'Unknown', message: `the server responded with the status code ${code} but did not return more information` };
  }
}

/** A JoinServiceError for an error response of the API server. */
export function statusError(e: HttpStatusError, call: CallDescription): JoinServiceError {
  const text = e.body.toString('utf8');
  let parsed: StatusBody | undefined;
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v === 'object' && v !== null && (v as StatusBody).kind === 'Status') parsed = v as StatusBody;
  } catch {
    // not JSON
  }
  let reason: string;
  let message: string;
  if (parsed && typeof parsed.message === 'string' && parsed.message !== '') {
    reason = typeof parsed.reason === 'string' && parsed.reason !== '' ? parsed.reason : genericText(e.statusCode, call.method, '').reason;
    message = parsed.message;
  } else {
    const contentType = (e.headers['content-type'] ?? '').toLowerCase();
    const isText = contentType.startsWith('text/') || contentType === '';
    const serverMessage = isText && text.trim() !== '' ? text.trim().slice(0, 1024) : 'unknown';
    ({ reason, message } = genericText(e.statusCode, call.method.toUpperCase(), serverMessage));
    if (call.resource) {
      const verb = call.method.toLowerCase();
      message = call.name ? `${message} (${verb} ${call.resource} ${call.name})` : `${message} (${verb} ${call.resource})`;
    }
  }
  return new JoinServiceError(ErrorCode.KubernetesApiError, message, {
    httpStatus: e.statusCode,
    reason,
    method: call.method.toUpperCase(),
    resource: call.resource,
    ...(call.name !== undefined ? { name: call.name } : {}),
  });
}

interface NodeError extends Error {
  code?: string;
  address?: string;
  port?: number;
  syscall?: string;
  hostname?: string;
}

function hostPort(url: URL): string {
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return `${url.hostname}:${port}`;
}

/** Go-like text of a transport failure (after `<Method> "<url>": `). */
function transportText(err: NodeError, url: URL): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return `dial tcp ${hostPort(url)}: connect: connection refused`;
    case 'ECONNRESET':
      return `read tcp ${hostPort(url)}: read: connection reset by peer`;
    case 'EPIPE':
      return `write tcp ${hostPort(url)}: write: broken pipe`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `dial tcp: lookup ${url.hostname}: no such host`;
    case 'EHOSTUNREACH':
      return `dial tcp ${hostPort(url)}: connect: no route to host`;
    case 'ENETUNREACH':
      return `dial tcp ${hostPort(url)}: connect: network is unreachable`;
    case 'ETIMEDOUT':
      return `dial tcp ${hostPort(url)}: i/o timeout`;
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'UNABLE_TO_GET_ISSUER_CERT':
      return 'tls: failed to verify certificate: x509: certificate signed by unknown authority';
    case 'CERT_HAS_EXPIRED':
      return 'tls: failed to verify certificate: x509: certificate has expired or is not yet valid';
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `tls: failed to verify certificate: x509: certificate is not valid for ${url.hostname}`;
    case 'ERR_KUBERNETES_RESPONSE_TOO_LARGE':
      return err.message;
    default:
      if (err.message === 'socket hang up') return 'EOF';
      return err.message || String(err);
  }
}

/** A JoinServiceError for a request that got no HTTP response. */
export function transportError(err: unknown, call: CallDescription): JoinServiceError {
  const url = new URL(call.url);
  const e = err as NodeError;
  const detail = transportText(e, url);
  return new JoinServiceError(
    ErrorCode.KubernetesUnavailable,
    `${goMethod(call.method)} "${call.url}": ${detail}`,
    { method: call.method.toUpperCase(), resource: call.resource, ...(e.code ? { errno: e.code } : {}) },
    { cause: err },
  );
}

/** A JoinServiceError for a call that hit its deadline or was cancelled. */
export function timeoutError(call: CallDescription, why: 'deadline' | 'cancelled', timeoutMs: number): JoinServiceError {
  return new JoinServiceError(
    ErrorCode.KubernetesTimeout,
    `${goMethod(call.method)} "${call.url}": ${why === 'deadline' ? 'context deadline exceeded' : 'context canceled'}`,
    { method: call.method.toUpperCase(), resource: call.resource, timeoutMs, cancelled: why === 'cancelled' },
  );
}

/** httpStatus and Status.reason of a Kubernetes API error, if `err` is one. */
export function kubernetesStatusOf(err: unknown): { httpStatus: number; reason: string } | undefined {
  if (!(err instanceof JoinServiceError) || err.code !== ErrorCode.KubernetesApiError || !err.details) return undefined;
  const { httpStatus, reason } = err.details;
  if (typeof httpStatus !== 'number' || typeof reason !== 'string') return undefined;
  return { httpStatus, reason };
}

/** apierrors.IsNotFound: reason NotFound (or a 404 without a known reason). */
export function isNotFound(err: unknown): boolean {
  const s = kubernetesStatusOf(err);
  return s !== undefined && (s.reason === 'NotFound' || (s.reason === 'Unknown' && s.httpStatus === 404));
}

/** apierrors.IsAlreadyExists. */
export function isAlreadyExists(err: unknown): boolean {
  return kubernetesStatusOf(err)?.reason === 'AlreadyExists';
}

/** apierrors.IsConflict (stale resourceVersion, apply conflicts). */
export function isConflict(err: unknown): boolean {
  return kubernetesStatusOf(err)?.reason === 'Conflict';
}

/** Errors a caller may retry: transport failures, timeouts, 429/5xx. */
export function isTransient(err: unknown): boolean {
  if (err instanceof JoinServiceError && (err.code === ErrorCode.KubernetesUnavailable || err.code === ErrorCode.KubernetesTimeout)) return true;
  const s = kubernetesStatusOf(err);
  return s !== undefined && (s.httpStatus === 429 || s.httpStatus >= 500);
}

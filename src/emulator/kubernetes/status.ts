/**
 * metav1.Status error objects with the kube-apiserver's wording
 * (k8s.io/apimachinery/pkg/api/errors). Messages are what client-go returns
 * as the error text, so clients of the emulator see exactly what they would
 * see from a real API server.
 */

export interface StatusCause {
  reason: string;
  message: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface StatusObject {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

/** What an error refers to: the resource (plural) and API group. */
export interface GroupResource {
  group: string;
  plural: string;
}

/** `secrets` or `joiningnodes.update.edgeless.systems` (schema.GroupResource.String()). */
export function qualifiedResource(gr: GroupResource): string {
  return gr.group ? `${gr.plural}.${gr.group}` : gr.plural;
}

function details(gr: GroupResource, name: string | undefined, extra: Partial<StatusDetails> = {}): StatusDetails {
  return { ...(name !== undefined ? { name } : {}), ...(gr.group ? { group: gr.group } : {}), kind: gr.plural, ...extra };
}

/** An API error the request handler turns into a Status response. */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  toStatus(): StatusObject {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    };
  }
}

export function notFound(gr: GroupResource, name: string): ApiError {
  return new ApiError(404, 'NotFound', `${qualifiedResource(gr)} "${name}" not found`, details(gr, name));
}

export function alreadyExists(gr: GroupResource, name: string): ApiError {
  return new ApiError(409, 'AlreadyExists', `${qualifiedResource(gr)} "${name}" already exists`, details(gr, name));
}

/** 409 Conflict for a stale resourceVersion or a failed precondition. */
export function conflict(gr: GroupResource, name: string, why: string): ApiError {
  return new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${qualifiedResource(gr)} "${name}": ${why}`, details(gr, name));
}

export const STALE_OBJECT = 'the object has been modified; please apply your changes to the latest version and try again';

/** One field error (k8s.io/apimachinery/pkg/util/validation/field). */
export interface FieldError {
  type: 'FieldValueInvalid' | 'FieldValueRequired' | 'FieldValueForbidden' | 'FieldValueTypeInvalid' | 'FieldValueNotSupported' | 'FieldValueTooLong';
  field: string;
  /** The error text without the field path, e.g. `Invalid value: "X": must be …`. */
  detail: string;
}

export function invalidValue(field: string, value: unknown, why: string): FieldError {
  return { type: 'FieldValueInvalid', field, detail: `Invalid value: ${goQuote(value)}: ${why}` };
}

export function requiredValue(field: string, why: string): FieldError {
  return { type: 'FieldValueRequired', field, detail: why ? `Required value: ${why}` : 'Required value' };
}

export function forbidden(field: string, why: string): FieldError {
  return { type: 'FieldValueForbidden', field, detail: `Forbidden: ${why}` };
}

export function typeInvalid(field: string, value: unknown, why: string): FieldError {
  return { type: 'FieldValueTypeInvalid', field, detail: `Invalid value: ${goQuote(value)}: ${why}` };
}

export function tooLong(field: string, max: number): FieldError {
  return { type: 'FieldValueTooLong', field, detail: `Too long: must have at most ${max} bytes` };
}

/** How field.Error prints a value: strings quoted, other scalars bare, objects as JSON. */
function goQuote(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** 422 Invalid (errors.NewInvalid): `<Kind> "<name>" is invalid: <err>` or `… is invalid: [<err>, <err>]`. */
export function invalid(kind: string, group: string, name: string, errs: readonly FieldError[]): ApiError {
  const texts = errs.map((e) => `${e.field}: ${e.detail}`);
  const joined = texts.length === 1 ? texts[0]! : `[${texts.join(', ')}]`;
  const qualifiedKind = group ? `${kind}.${group}` : kind;
  return new ApiError(422, 'Invalid', `${qualifiedKind} "${name}" is invalid: ${joined}`, {
    name,
    ...(group ? { group } : {}),
    kind,
    causes: errs.map((e) => ({ reason: e.type, message: e.detail, field: e.field })),
  });
}

export function badRequest(message: string): ApiError {
  return new ApiError(400, 'BadRequest', message);
}

export function unauthorized(): ApiError {
  return new ApiError(401, 'Unauthorized', 'Unauthorized');
}

/** 403 as the RBAC authorizer words it. */
export function forbiddenRequest(o: { user: string; verb: string; gr: GroupResource; name?: string; namespace?: string; subresource?: string }): ApiError {
  const what = o.name ? `${qualifiedResource(o.gr)} "${o.name}"` : qualifiedResource(o.gr);
  const resource = o.subresource ? `${o.gr.plural}/${o.subresource}` : o.gr.plural;
  const scope = o.namespace ? `in the namespace "${o.namespace}"` : 'at the cluster scope';
  return new ApiError(
    403,
    'Forbidden',
    `${what} is forbidden: User "${o.user}" cannot ${o.verb} resource "${resource}" in API group "${o.gr.group}" ${scope}`,
    details(o.gr, o.name),
  );
}

export function methodNotAllowed(message = 'the server does not allow this method on the requested resource'): ApiError {
  return new ApiError(405, 'MethodNotAllowed', message);
}

export function unsupportedMediaType(contentType: string, accepted: readonly string[]): ApiError {
  return new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`, {
    causes: [{ reason: 'UnexpectedServerResponse', message: contentType }],
  });
}

export function requestEntityTooLarge(limit: number): ApiError {
  return new ApiError(413, 'RequestEntityTooLarge', `Request entity too large: limit is ${limit}`);
}

export function pathNotFound(): ApiError {
  return new ApiError(404, 'NotFound', 'the server could not find the requested resource');
}

export function internalError(message: string): ApiError {
  return new ApiError(500, 'InternalError', `Internal error occurred: ${message}`, { causes: [{ reason: '', message }] });
}

/** A Status for forced errors (fault injection) with the reason apiserver uses for that HTTP code. */
export function statusForCode(code: number, message?: string, reason?: string): ApiError {
  const reasons: Record<number, [string, string]> = {
    400: ['BadRequest', 'the server rejected our request for an unknown reason'],
    401: ['Unauthorized', 'Unauthorized'],
    403: ['Forbidden', 'forbidden'],
    404: ['NotFound', 'the server could not find the requested resource'],
    405: ['MethodNotAllowed', 'the server does not allow this method on the requested resource'],
    409: ['Conflict', 'the server reported a conflict'],
    410: ['Expired', 'the resource has expired'],
    413: ['RequestEntityTooLarge', 'the request entity is too large'],
    415: ['UnsupportedMediaType', 'the server does not support the media type'],
    422: ['Invalid', 'the server rejected our request due to an error in our request'],
    429: ['TooManyRequests', 'the server has received too many requests and has asked us to try again later'],
    500: ['InternalError', 'an error on the server has prevented the request from succeeding'],
    503: ['ServiceUnavailable', 'the server is currently unable to handle the request'],
    504: ['Timeout', 'the server was unable to return a response in the time allotted, but may still be processing the request'],
  };
  const [defaultReason, text] = reasons[code] ?? ['', `the server responded with the status code ${code}`];
  return new ApiError(code, reason ?? defaultReason, message ?? text, code === 429 || code === 503 ? { retryAfterSeconds: 1 } : undefined);
}

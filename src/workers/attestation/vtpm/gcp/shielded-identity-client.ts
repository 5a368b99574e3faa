/**
 * Compute Engine API `instances.getShieldedInstanceIdentity`
 * (tpm-attestation.md §11.2):
 *
 *   GET {apiBaseUrl}/compute/v1/projects/{project}/zones/{zone}/instances/{instance}/getShieldedInstanceIdentity
 *   Authorization: Bearer <token>
 *   → {"kind":"compute#shieldedInstanceIdentity","signingKey":{"ekPub":"-----BEGIN PUBLIC KEY-----…","ekCert":"…"},
 *      "encryptionKey":{…},"eccP256SigningKey":{…},"eccP256EncryptionKey":{…}}
 *
 * Only `signingKey.ekPub` is read. The names are validated and every path
 * segment is escaped (gce-instance-info.ts). Errors of the API are rendered
 * as Go's googleapi.Error does: `googleapi: Error 404: The resource '…' was
 * not found, notFound`.
 */
import { capText, checkApiBaseUrl, CloudApiError, goUrlErrorPrefix, HttpFailure, isUpstreamStatus, nodeHttpTransport, type HttpTransport } from '../http-client.js';
import { shieldedIdentityPath, type GceInstanceRef } from './gce-instance-info.js';
import type { GceTokenProvider } from './gce-token.js';

export const GCE_API_BASE_URL = 'https://compute.googleapis.com';
export const DEFAULT_GCE_API_TIMEOUT_MS = 10_000;
/** A shielded identity with four PEM keys and two certificates is a few KiB. */
export const DEFAULT_GCE_API_MAX_BYTES = 256 * 1024;

/** What the policy reads from a ShieldedInstanceIdentity. */
export interface ShieldedInstanceIdentity {
  /** `signingKey.ekPub` (PEM), undefined when the API returned no signing key. */
  signingKeyEkPub: string | undefined;
}

export interface ShieldedIdentityClient {
  /** Throws CloudApiError with a Go-like text (without Go's "retrieving VM identity: " prefix). */
  getShieldedInstanceIdentity(ref: GceInstanceRef): Promise<ShieldedInstanceIdentity>;
  /** The API base URL (part of cache keys). */
  readonly apiBaseUrl: string;
}

export interface ShieldedIdentityClientOptions {
  /** Default https://compute.googleapis.com; http only to loopback (tests). */
  apiBaseUrl?: string;
  tokenProvider: GceTokenProvider;
  /** Per-request deadline, default 10 s. */
  timeoutMs?: number;
  /** Largest accepted response, default 256 KiB. */
  maxResponseBytes?: number;
  transport?: HttpTransport;
}

export function createShieldedIdentityClient(o: ShieldedIdentityClientOptions): ShieldedIdentityClient {
  const apiBaseUrl = checkApiBaseUrl(o.apiBaseUrl ?? GCE_API_BASE_URL, 'GCE API base URL');
  const timeoutMs = o.timeoutMs ?? DEFAULT_GCE_API_TIMEOUT_MS;
  const maxResponseBytes = o.maxResponseBytes ?? DEFAULT_GCE_API_MAX_BYTES;
  const transport = o.transport ?? nodeHttpTransport;

  return {
    apiBaseUrl,
    async getShieldedInstanceIdentity(ref) {
      const url = apiBaseUrl + shieldedIdentityPath(ref);
      const prefix = goUrlErrorPrefix('GET', url);
      let token: string;
      try {
        token = await o.tokenProvider.getToken();
      } catch (err) {
        throw new CloudApiError(`${prefix}${err instanceof Error ? err.message : String(err)}`, true, undefined, { cause: err });
      }
      let res;
      try {
        res = await transport({
          method: 'GET',
          url,
          headers: { authorization: `Bearer ${token}`, accept: 'application/json', 'user-agent': 'constellation-joinservice-ts' },
          timeoutMs,
          maxResponseBytes,
        });
      } catch (err) {
        if (err instanceof HttpFailure) throw new CloudApiError(err.message, true, undefined, { cause: err });
        throw err;
      }
      const text = res.body.toString('utf8');
      if (res.status < 200 || res.status > 299) {
        throw new CloudApiError(googleApiErrorText(res.status, text), isUpstreamStatus(res.status), res.status);
      }
      return parseShieldedIdentity(text);
    },
  };
}

function parseShieldedIdentity(text: string): ShieldedInstanceIdentity {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new CloudApiError(`unexpected response: not JSON: ${(err as Error).message}`, true);
  }
  if (!isObject(parsed)) throw new CloudApiError('unexpected response: not a JSON object', true);
  const signingKey = parsed['signingKey'];
  if (signingKey === undefined || signingKey === null) return { signingKeyEkPub: undefined };
  if (!isObject(signingKey)) throw new CloudApiError('unexpected response: signingKey is not an object', true);
  const ekPub = signingKey['ekPub'];
  if (ekPub === undefined || ekPub === null) return { signingKeyEkPub: undefined };
  if (typeof ekPub !== 'string') throw new CloudApiError('unexpected response: signingKey.ekPub is not a string', true);
  return { signingKeyEkPub: ekPub };
}

/**
 * googleapi.CheckResponse + Error.Error(): the `error` object of the body
 * when there is one (`googleapi: Error <code>: <message>[, <reason>]`),
 * otherwise `googleapi: got HTTP response code <code> with body: <body>`.
 * Texts taken from the body are capped.
 */
export function googleApiErrorText(status: number, body: string): string {
  let reply: unknown;
  try {
    reply = JSON.parse(body);
  } catch {
    reply = undefined;
  }
  const e = isObject(reply) && isObject(reply['error']) ? reply['error'] : undefined;
  if (!e) return `googleapi: got HTTP response code ${status} with body: ${capText(body)}`;
  const code = typeof e['code'] === 'number' && e['code'] !== 0 ? e['code'] : status;
  const message = typeof e['message'] === 'string' ? e['message'] : '';
  const items = Array.isArray(e['errors']) ? e['errors'].filter(isObject) : [];
  const errors = items.map((x) => ({
    reason: typeof x['reason'] === 'string' ? x['reason'] : '',
    message: typeof x['message'] === 'string' ? x['message'] : '',
  }));
  if (errors.length === 0 && message === '') return `googleapi: got HTTP response code ${status} with body: ${capText(body)}`;
  let out = `googleapi: Error ${code}: ${capText(message)}`;
  if (errors.length === 0) return out.trim();
  if (errors.length === 1 && errors[0]!.message === message) return `${out}, ${capText(errors[0]!.reason, 100)}`;
  out += '\nMore details:\n';
  for (const x of errors.slice(0, 5)) out += `Reason: ${capText(x.reason, 100)}, Message: ${capText(x.message)}\n`;
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

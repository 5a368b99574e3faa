/**
 * OAuth2 access tokens for the Compute API call of `gcp-sev-es`: from the GCE
 * metadata server (the join service runs on a GCE control-plane node with a
 * service account), as Go's application-default credentials do on GCE:
 *
 *   GET http://169.254.169.254/computeMetadata/v1/instance/service-accounts/default/token
 *   Metadata-Flavor: Google
 *   → {"access_token":"…","expires_in":3599,"token_type":"Bearer"}
 *
 * The token is cached until `refreshMarginMs` before it expires; concurrent
 * callers share one fetch. Tokens never appear in error messages.
 *
 * Anything else (a static token, workload identity, …) plugs in as a
 * GceTokenProvider.
 */
import { HttpFailure, metadataHttpTransport, type HttpTransport } from '../http-client.js';

export interface GceTokenProvider {
  /** A bearer access token valid for at least the next request. */
  getToken(): Promise<string>;
}

export const GCE_METADATA_BASE_URL = 'http://169.254.169.254';
export const GCE_TOKEN_PATH = '/computeMetadata/v1/instance/service-accounts/default/token';

export interface GceMetadataTokenProviderOptions {
  /** Default http://169.254.169.254 (tests: a loopback fake). */
  metadataBaseUrl?: string;
  /** Per-request deadline, default 3 s. */
  timeoutMs?: number;
  /** Largest accepted response, default 64 KiB. */
  maxResponseBytes?: number;
  /** Refresh this long before expiry, default 60 s. */
  refreshMarginMs?: number;
  /** Monotonic clock in ms (default performance.now). */
  now?: () => number;
  transport?: HttpTransport;
}

export const DEFAULT_TOKEN_TIMEOUT_MS = 3_000;
const DEFAULT_TOKEN_MAX_BYTES = 64 * 1024;
const DEFAULT_REFRESH_MARGIN_MS = 60_000;

/** Failure to obtain a token; the message never contains a token. */
export class GceTokenError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GceTokenError';
  }
}

export function createGceMetadataTokenProvider(o: GceMetadataTokenProviderOptions = {}): GceTokenProvider {
  const base = (o.metadataBaseUrl ?? GCE_METADATA_BASE_URL).replace(/\/+$/, '');
  const url = `${base}${GCE_TOKEN_PATH}`;
  const timeoutMs = o.timeoutMs ?? DEFAULT_TOKEN_TIMEOUT_MS;
  const maxResponseBytes = o.maxResponseBytes ?? DEFAULT_TOKEN_MAX_BYTES;
  const margin = o.refreshMarginMs ?? DEFAULT_REFRESH_MARGIN_MS;
  const now = o.now ?? (() => performance.now());
  const transport = o.transport ?? metadataHttpTransport;

  let cached: { token: string; refreshAt: number } | undefined;
  let inflight: Promise<string> | undefined;

  const fetchToken = async (): Promise<string> => {
    const started = now();
    let res;
    try {
      res = await transport({ method: 'GET', url, headers: { 'Metadata-Flavor': 'Google' }, timeoutMs, maxResponseBytes });
    } catch (err) {
      throw new GceTokenError(`fetching access token from the GCE metadata server: ${err instanceof HttpFailure ? err.message : String(err)}`, { cause: err });
    }
    if (res.status !== 200) {
      throw new GceTokenError(`fetching access token from the GCE metadata server: ${url} returned status ${res.status}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(res.body.toString('utf8'));
    } catch {
      throw new GceTokenError('fetching access token from the GCE metadata server: response is not JSON');
    }
    const rec = parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
    const token = rec['access_token'];
    const expiresIn = rec['expires_in'];
    if (typeof token !== 'string' || !/^[\x21-\x7e]{1,4096}$/.test(token)) {
      throw new GceTokenError('fetching access token from the GCE metadata server: response has no usable access_token');
    }
    if (rec['token_type'] !== undefined && (typeof rec['token_type'] !== 'string' || rec['token_type'].toLowerCase() !== 'bearer')) {
      throw new GceTokenError('fetching access token from the GCE metadata server: token_type is not Bearer');
    }
    const lifetimeMs = typeof expiresIn === 'number' && Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn * 1000 : 0;
    // A token without (enough) lifetime is used for this request only.
    cached = lifetimeMs > margin ? { token, refreshAt: started + lifetimeMs - margin } : undefined;
    return token;
  };

  return {
    getToken() {
      if (cached && now() < cached.refreshAt) return Promise.resolve(cached.token);
      if (!inflight) {
        inflight = fetchToken().finally(() => {
          inflight = undefined;
        });
      }
      return inflight;
    },
  };
}

/** A fixed token (tests, or a token minted elsewhere). */
export function staticGceTokenProvider(token: string): GceTokenProvider {
  return { getToken: () => Promise.resolve(token) };
}

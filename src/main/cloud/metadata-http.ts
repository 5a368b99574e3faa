import * as http from 'node:http';
import { ErrorCode, JoinServiceError } from '../../shared/errors.js';

/**
 * Bounded HTTP for cloud metadata endpoints (config-and-operations.md §5).
 *
 * Every request has its own deadline (connect + headers + body) and a response
 * size bound; redirects are never followed; proxies are never used (a dedicated
 * agent without proxy settings, whatever HTTP(S)_PROXY / NODE_USE_ENV_PROXY say:
 * metadata endpoints are link-local or node-local, and Azure IMDS explicitly
 * requires bypassing proxies). Only plain `http:` URLs are accepted — every
 * metadata service we talk to is plain HTTP.
 *
 * Failures are JoinServiceError(MetadataUnavailable) with `<METHOD> <url>: <reason>`.
 */

export const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;

export interface MetadataRequest {
  method?: 'GET' | 'PUT';
  url: string;
  headers?: Readonly<Record<string, string>>;
  /** Aborts the request (the attempt deadline or shutdown); its reason becomes the error if it is an Error. */
  signal?: AbortSignal;
}

export interface MetadataResponse {
  status: number;
  statusText: string;
  /** The whole body, UTF-8 decoded; at most the configured number of bytes. */
  body: string;
}

/** The injectable transport every provider client uses. */
export type MetadataFetch = (req: MetadataRequest) => Promise<MetadataResponse>;

export interface HttpMetadataFetchOptions {
  /** Deadline per request, connect to last body byte. Default 5 s. */
  requestTimeoutMs?: number;
  /** Largest accepted response body. Default 64 KiB. */
  maxBodyBytes?: number;
}

/** No keep-alive, no proxy: each metadata request gets its own short-lived connection. */
const agent = new http.Agent({ keepAlive: false });

export function metadataError(req: Pick<MetadataRequest, 'method' | 'url'>, reason: string, cause?: unknown): JoinServiceError {
  return new JoinServiceError(
    ErrorCode.MetadataUnavailable,
    `${req.method ?? 'GET'} ${req.url}: ${reason}`,
    undefined,
    cause === undefined ? undefined : { cause },
  );
}

export function createHttpMetadataFetch(o: HttpMetadataFetchOptions = {}): MetadataFetch {
  const timeoutMs = o.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const maxBytes = o.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  return (req) => request(req, timeoutMs, maxBytes);
}

function request(req: MetadataRequest, timeoutMs: number, maxBytes: number): Promise<MetadataResponse> {
  const method = req.method ?? 'GET';
  let url: URL;
  try {
    url = new URL(req.url);
  } catch (err) {
    return Promise.reject(metadataError(req, 'invalid URL', err));
  }
  if (url.protocol !== 'http:') return Promise.reject(metadataError(req, `unsupported URL scheme ${url.protocol}`));
  if (req.signal?.aborted) return Promise.reject(abortError(req, req.signal));

  return new Promise<MetadataResponse>((resolve, reject) => {
    let settled = false;
    const finish = (err: Error | undefined, res?: MetadataResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.signal?.removeEventListener('abort', onAbort);
      if (err) {
        r.destroy();
        reject(err);
      } else {
        resolve(res!);
      }
    };
    const onAbort = () => finish(abortError(req, req.signal!));
    const timer = setTimeout(() => finish(metadataError(req, `timed out after ${timeoutMs} ms`)), timeoutMs);
    timer.unref();

    const headers: Record<string, string> = { ...req.headers };
    if (method === 'PUT') headers['content-length'] = '0';
    const r = http.request(url, { method, headers, agent });
    r.on('error', (err) => finish(metadataError(req, err.message, err)));
    r.on('response', (res) => {
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > maxBytes) {
        res.destroy();
        finish(metadataError(req, `response body of ${declared} bytes exceeds the limit of ${maxBytes} bytes`));
        return;
      }
      const chunks: Buffer[] = [];
      let total = 0;
      res.on('data', (chunk: Buffer) => {
        total += chunk.length;
        if (total > maxBytes) {
          res.destroy();
          finish(metadataError(req, `response body exceeds the limit of ${maxBytes} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('error', (err) => finish(metadataError(req, `reading response: ${err.message}`, err)));
      res.on('close', () => {
        if (!res.complete) finish(metadataError(req, 'connection closed while reading the response'));
      });
      res.on('end', () => {
        let body: string;
        try {
          body = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks, total));
        } catch (err) {
          finish(metadataError(req, 'response body is not valid UTF-8', err));
          return;
        }
        finish(undefined, { status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', body });
      });
    });
    req.signal?.addEventListener('abort', onAbort, { once: true });
    r.end();
  });
}

function abortError(req: MetadataRequest, signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof JoinServiceError ? reason : metadataError(req, 'aborted', reason);
}

/** Throws unless the status is 2xx; the error quotes at most 120 characters of the body (never on success). */
export function expectOk(req: Pick<MetadataRequest, 'method' | 'url'>, res: MetadataResponse): void {
  if (res.status >= 200 && res.status <= 299) return;
  const text = res.body.trim();
  const snippet = text === '' ? '' : `: ${JSON.stringify(text.length > 120 ? `${text.slice(0, 120)}…` : text)}`;
  throw metadataError(req, `unexpected status ${res.status}${res.statusText ? ` ${res.statusText}` : ''}${snippet}`);
}

/** Parses a JSON body into an object; arrays and scalars are rejected. */
export function parseJsonObject(req: Pick<MetadataRequest, 'method' | 'url'>, res: MetadataResponse): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(res.body);
  } catch (err) {
    throw metadataError(req, `response is not valid JSON: ${(err as Error).message}`, err);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw metadataError(req, 'response is not a JSON object');
  return value as Record<string, unknown>;
}

/** `base` without trailing slashes + `path` (which starts with `/`). */
export function joinUrl(base: string, path: string): string {
  return base.replace(/\/+$/, '') + path;
}

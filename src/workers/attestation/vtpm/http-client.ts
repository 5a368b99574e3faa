/**
 * Bounded HTTP for the cloud APIs the vTPM variant policies call (GCE Compute
 * API, EC2 Query API) and their credential sources (GCE metadata server,
 * EC2 IMDSv2).
 *
 * - every request has one deadline covering connect, headers and body, and
 *   may also be aborted through an AbortSignal;
 * - response bodies are bounded (a declared Content-Length above the bound
 *   fails before reading; a streamed body fails as soon as it passes it);
 * - redirects are never followed; no proxy is ever used (dedicated agents
 *   without proxy settings, whatever HTTP(S)_PROXY / NODE_USE_ENV_PROXY say);
 * - API connections are kept alive (TLS handshakes to compute.googleapis.com
 *   or ec2.<region>.amazonaws.com are the expensive part); metadata-server
 *   connections are not.
 *
 * Failures are HttpFailure with a Go net/http-like text:
 * `Get "https://…": <reason>`.
 */
import * as http from 'node:http';
import * as https from 'node:https';

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT';
  url: string;
  headers?: Readonly<Record<string, string>>;
  body?: string | Uint8Array;
  /** Deadline for the whole exchange, in milliseconds. */
  timeoutMs: number;
  /** Largest accepted response body, in bytes. */
  maxResponseBytes: number;
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** The injectable transport of every vTPM cloud client. */
export type HttpTransport = (req: HttpRequest) => Promise<HttpResponse>;

export type HttpFailureKind = 'timeout' | 'too-large' | 'transport' | 'aborted' | 'invalid-url';

export class HttpFailure extends Error {
  constructor(
    readonly kind: HttpFailureKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'HttpFailure';
  }
}

/** Go's url.Error prefix: `Get "https://…": `. */
export function goUrlErrorPrefix(method: string, url: string): string {
  return `${method.charAt(0)}${method.slice(1).toLowerCase()} ${JSON.stringify(url)}: `;
}

const apiAgents = {
  http: new http.Agent({ keepAlive: true, maxSockets: 8, maxFreeSockets: 2 }),
  https: new https.Agent({ keepAlive: true, maxSockets: 8, maxFreeSockets: 2 }),
};
const oneShotAgents = {
  http: new http.Agent({ keepAlive: false }),
  https: new https.Agent({ keepAlive: false }),
};

export interface NodeHttpTransportOptions {
  /** Keep connections alive between requests (API endpoints); default true. */
  keepAlive?: boolean;
}

/** The default transport over node:http / node:https. */
export function createNodeHttpTransport(o: NodeHttpTransportOptions = {}): HttpTransport {
  const keepAlive = o.keepAlive ?? true;
  return (req) => send(req, keepAlive);
}

export const nodeHttpTransport: HttpTransport = createNodeHttpTransport();
export const metadataHttpTransport: HttpTransport = createNodeHttpTransport({ keepAlive: false });

function send(req: HttpRequest, keepAlive: boolean): Promise<HttpResponse> {
  const prefix = goUrlErrorPrefix(req.method, req.url);
  let url: URL;
  try {
    url = new URL(req.url);
  } catch (err) {
    return Promise.reject(new HttpFailure('invalid-url', `${prefix}invalid URL`, { cause: err }));
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return Promise.reject(new HttpFailure('invalid-url', `${prefix}unsupported protocol scheme ${JSON.stringify(url.protocol.slice(0, -1))}`));
  }
  if (req.signal?.aborted) return Promise.reject(abortFailure(prefix, req.signal));

  const isHttps = url.protocol === 'https:';
  const agents = keepAlive ? apiAgents : oneShotAgents;
  const agent = isHttps ? agents.https : agents.http;
  const body = req.body === undefined ? undefined : typeof req.body === 'string' ? Buffer.from(req.body, 'utf8') : Buffer.from(req.body);
  const headers: Record<string, string> = { ...req.headers };
  if (body !== undefined || req.method !== 'GET') headers['content-length'] = String(body?.length ?? 0);

  return new Promise<HttpResponse>((resolve, reject) => {
    let settled = false;
    const finish = (err: HttpFailure | undefined, res?: HttpResponse): void => {
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
    const onAbort = (): void => finish(abortFailure(prefix, req.signal!));
    const timer = setTimeout(() => finish(new HttpFailure('timeout', `${prefix}request timed out after ${req.timeoutMs} ms`)), req.timeoutMs);
    timer.unref();

    const options: https.RequestOptions = { method: req.method, headers, agent };
    const r = isHttps ? https.request(url, options) : http.request(url, options);
    r.on('error', (err) => finish(new HttpFailure('transport', `${prefix}${err.message}`, { cause: err })));
    r.on('response', (res) => {
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > req.maxResponseBytes) {
        res.destroy();
        finish(new HttpFailure('too-large', `${prefix}response body of ${declared} bytes exceeds the limit of ${req.maxResponseBytes} bytes`));
        return;
      }
      const chunks: Buffer[] = [];
      let total = 0;
      res.on('data', (chunk: Buffer) => {
        total += chunk.length;
        if (total > req.maxResponseBytes) {
          res.destroy();
          finish(new HttpFailure('too-large', `${prefix}response body exceeds the limit of ${req.maxResponseBytes} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('error', (err) => finish(new HttpFailure('transport', `${prefix}reading response: ${err.message}`, { cause: err })));
      res.on('close', () => {
        if (!res.complete) finish(new HttpFailure('transport', `${prefix}connection closed while reading the response`));
      });
      res.on('end', () => finish(undefined, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks, total) }));
    });
    req.signal?.addEventListener('abort', onAbort, { once: true });
    r.end(body);
  });
}

function abortFailure(prefix: string, signal: AbortSignal): HttpFailure {
  const reason: unknown = signal.reason;
  const text = reason instanceof Error && reason.name !== 'AbortError' ? reason.message : 'request aborted';
  return new HttpFailure('aborted', `${prefix}${text}`, { cause: reason });
}

/**
 * Checks a configured API base URL: https, or http only to a loopback host
 * (test doubles). No credentials, query or fragment. Returns it without
 * trailing slashes.
 */
export function checkApiBaseUrl(value: string, what: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`${what}: invalid URL ${JSON.stringify(value)}`);
  }
  const loopback = url.hostname === '127.0.0.1' || url.hostname === '[::1]' || url.hostname === 'localhost';
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new Error(`${what}: ${JSON.stringify(value)} must be an https URL (plain http only to a loopback address)`);
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new Error(`${what}: ${JSON.stringify(value)} must not carry credentials, a query or a fragment`);
  }
  return value.replace(/\/+$/, '');
}

/** Whether a non-2xx status is worth blaming on the service rather than on the request. */
export function isUpstreamStatus(status: number): boolean {
  return status === 401 || status === 403 || status === 408 || status === 429 || status >= 500;
}

/**
 * A failed cloud call. `upstream` says whom to blame: true for transport
 * failures, timeouts, oversized answers, credential problems and statuses
 * such as 401/403/429/5xx (the service or its configuration); false when the
 * service rejected what the node's document named (e.g. 400/404).
 */
export class CloudApiError extends Error {
  constructor(
    message: string,
    readonly upstream: boolean,
    readonly httpStatus?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CloudApiError';
  }
}

/** Caps text taken from a response before it goes into an error message. */
export function capText(s: string, max = 300): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** JSON-quoted, at most 80 characters of a node-supplied value (log lines stay short). */
export function quoteCapped(s: string): string {
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);
}

/**
 * The HTTP layer under @kubernetes/client-node's generated API clients: a
 * keep-alive node:https agent shared by all calls (the library's default
 * builds a new undici dispatcher per request, i.e. a new TLS connection per
 * call), per-call AbortSignals, a response size limit, and error responses
 * raised as HttpStatusError so that one place (api-error.ts) turns them into
 * client-go-style messages.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { ResponseContext, SelfDecodingBody, type PromiseHttpLibrary, type RequestContext } from '@kubernetes/client-node';
import { HttpStatusError } from './api-error.js';

const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);

export interface TransportOptions {
  /** TLS material from the kubeconfig / in-cluster config. */
  tls: Pick<https.AgentOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized' | 'servername'>;
  userAgent: string;
  /** Largest accepted response body (default 8 MiB). */
  maxResponseBytes?: number;
  /** Connections kept per API server (default 16). */
  maxSockets?: number;
}

export class NodeTransport implements PromiseHttpLibrary {
  private readonly httpsAgent: https.Agent;
  private readonly httpAgent: http.Agent;
  private readonly maxResponseBytes: number;

  constructor(private readonly o: TransportOptions) {
    const common = { keepAlive: true, keepAliveMsecs: 30_000, maxSockets: o.maxSockets ?? 16, maxFreeSockets: 4, scheduling: 'lifo' as const };
    this.httpsAgent = new https.Agent({ ...common, ...o.tls });
    this.httpAgent = new http.Agent(common);
    this.maxResponseBytes = o.maxResponseBytes ?? 8 * 1024 * 1024;
  }

  send(ctx: RequestContext): Promise<ResponseContext> {
    const url = new URL(ctx.getUrl());
    const body = ctx.getBody();
    if (body !== undefined && typeof body !== 'string') return Promise.reject(new Error('unsupported request body type'));
    const headers: Record<string, string> = { ...ctx.getHeaders(), 'User-Agent': this.o.userAgent };
    if (body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(body));
    const signal = ctx.getSignal();
    const method = ctx.getHttpMethod();
    return this.attempt(url, method, headers, body, signal).catch((err: NodeJS.ErrnoException & { reusedSocket?: boolean }) => {
      // A pooled keep-alive connection the server already closed: retry once on a
      // fresh connection, for idempotent methods only (as Go's net/http does).
      if (err.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE') && IDEMPOTENT.has(method) && !signal?.aborted) {
        return this.attempt(url, method, headers, body, signal);
      }
      throw err;
    });
  }

  private attempt(url: URL, method: string, headers: Record<string, string>, body: string | undefined, signal: AbortSignal | undefined): Promise<ResponseContext> {
    const isHttps = url.protocol === 'https:';
    return new Promise<ResponseContext>((resolve, reject) => {
      const req = (isHttps ? https : http).request(
        url,
        { method, headers, agent: isHttps ? this.httpsAgent : this.httpAgent, ...(signal ? { signal } : {}) },
        (res) => {
          const chunks: Buffer[] = [];
          let total = 0;
          res.on('data', (c: Buffer) => {
            total += c.length;
            if (total > this.maxResponseBytes) {
              const err = Object.assign(new Error(`response body larger than ${this.maxResponseBytes} bytes`), { code: 'ERR_KUBERNETES_RESPONSE_TOO_LARGE' });
              res.destroy(err);
              return;
            }
            chunks.push(c);
          });
          res.on('error', reject);
          res.on('close', () => {
            if (!res.complete) reject(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
          });
          res.on('end', () => {
            const buf = Buffer.concat(chunks);
            const hdrs: Record<string, string> = {};
            for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) hdrs[k] = Array.isArray(v) ? v.join(', ') : v;
            const code = res.statusCode ?? 0;
            if (code < 200 || code > 299) reject(new HttpStatusError(code, buf, hdrs));
            else resolve(new ResponseContext(code, hdrs, new SelfDecodingBody(Promise.resolve(buf))));
          });
        },
      );
      req.on('error', (err) => reject(Object.assign(err, { reusedSocket: req.reusedSocket })));
      req.end(body);
    });
  }

  /** Closes idle and active connections. */
  close(): void {
    this.httpsAgent.destroy();
    this.httpAgent.destroy();
  }
}

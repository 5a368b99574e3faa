import * as http from 'node:http';
import { isIP, type AddressInfo, type Socket } from 'node:net';
import type { Logger } from '../log/logger.js';

/** `--metrics-listen` parsed: `HOST:PORT`, `[IPv6]:PORT`, or `:PORT` (all interfaces). */
export interface ListenAddress {
  /** '' = all interfaces. */
  host: string;
  port: number;
}

export function parseListenAddress(value: string): ListenAddress {
  const m = /^(?:\[([0-9A-Fa-f:.%a-zA-Z]+)\]|([^[\]:]*)):(\d{1,5})$/.exec(value);
  if (!m) throw new Error(`expected HOST:PORT or [IPv6]:PORT, got ${JSON.stringify(value)}`);
  const host = m[1] ?? m[2] ?? '';
  if (m[1] !== undefined && isIP(m[1]) !== 6) throw new Error(`not an IPv6 address: ${m[1]}`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`port out of range: ${m[3]}`);
  return { host, port };
}

/** What the endpoint serves; ServiceMetrics implements it. */
export interface MetricsSource {
  readonly contentType: string;
  scrape(): Promise<string>;
}

export interface MetricsServerOptions {
  listen: ListenAddress;
  metrics: MetricsSource;
  log: Logger;
  /** Scrapes answered at once; more get 503 (default 16). */
  maxConcurrentScrapes?: number;
  /** Open connections; more are dropped at accept (default 64). */
  maxConnections?: number;
  /** Time for a client to send its request headers (default 5 s). */
  headersTimeoutMs?: number;
}

export interface MetricsServer {
  address: AddressInfo;
  /** `http://HOST:PORT/metrics` with the bound address. */
  url: string;
  /** The same URL with a wildcard address replaced by loopback, for clients on this machine. */
  localUrl: string;
  close(): Promise<void>;
}

export const DEFAULT_MAX_CONCURRENT_SCRAPES = 16;

/**
 * The plain-HTTP metrics endpoint: GET /metrics (Prometheus text format), GET
 * /healthz (200 "ok"), 404 for anything else. Bounded: header and request
 * timeouts, small header limit, at most `maxConcurrentScrapes` scrapes in
 * flight (counted until the response is flushed or the connection dies), at
 * most `maxConnections` connections; request bodies are never read into
 * memory (a request with one gets `Connection: close`).
 */
export async function startMetricsServer(o: MetricsServerOptions): Promise<MetricsServer> {
  const maxScrapes = o.maxConcurrentScrapes ?? DEFAULT_MAX_CONCURRENT_SCRAPES;
  const headersTimeout = o.headersTimeoutMs ?? 5000;
  let scrapes = 0;
  const server = http.createServer(
    {
      headersTimeout,
      requestTimeout: headersTimeout * 2,
      keepAliveTimeout: 5000,
      maxHeaderSize: 8192,
      connectionsCheckingInterval: Math.min(1000, headersTimeout),
    },
    (req, res) => {
      const withBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
      if (withBody) res.setHeader('Connection', 'close');
      const path = (req.url ?? '').split('?', 1)[0];
      const get = req.method === 'GET' || req.method === 'HEAD';
      if (get && path === '/healthz') {
        send(res, 200, 'text/plain; charset=utf-8', 'ok');
      } else if (get && path === '/metrics') {
        if (scrapes >= maxScrapes) {
          res.setHeader('Retry-After', '1');
          send(res, 503, 'text/plain; charset=utf-8', 'too many concurrent scrapes\n');
          return;
        }
        scrapes++;
        res.once('close', () => scrapes--);
        o.metrics.scrape().then(
          (text) => send(res, 200, o.metrics.contentType, text),
          (err: unknown) => {
            o.log.warn('Metrics scrape failed', { error: (err as Error).message });
            send(res, 500, 'text/plain; charset=utf-8', 'scrape failed\n');
          },
        );
      } else {
        send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
      }
    },
  );
  server.maxConnections = o.maxConnections ?? 64;
  // Idle keep-alive sockets of a vanished scraper do not stay forever.
  server.setTimeout(30_000, (socket: Socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.listen.port, o.listen.host === '' ? undefined : o.listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => o.log.warn('Metrics server error', { error: err.message }));
  const address = server.address() as AddressInfo;
  const url = `http://${hostPort(address.address, address.port)}/metrics`;
  const local = address.address === '::' || address.address === '0.0.0.0' ? '127.0.0.1' : address.address;
  const localUrl = `http://${hostPort(local, address.port)}/metrics`;
  o.log.info(`Metrics on ${url}`, { metricsEndpoint: url });
  return {
    address,
    url,
    localUrl,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function send(res: http.ServerResponse, code: number, contentType: string, body: string): void {
  if (res.destroyed) return;
  res.writeHead(code, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(body);
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

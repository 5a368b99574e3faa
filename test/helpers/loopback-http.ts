import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A minimal loopback-only (127.0.0.1) HTTP server for the cloud-API fakes of
 * the vTPM policy tests: every request is recorded with its body; the handler
 * answers, delays, or hangs (never answers until the server closes).
 */

export interface LoopbackRequest {
  method: string;
  /** Path and query as sent. */
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface LoopbackReply {
  status?: number;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Stream the body without Content-Length. */
  chunked?: boolean;
  /** Answer only after this many milliseconds. */
  delayMs?: number;
}

export type LoopbackHandler = (req: LoopbackRequest) => LoopbackReply | 'hang';

export interface LoopbackServer {
  baseUrl: string;
  requests: LoopbackRequest[];
  close(): Promise<void>;
}

export async function startLoopbackServer(handler: LoopbackHandler): Promise<LoopbackServer> {
  const requests: LoopbackRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rec: LoopbackRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) };
      requests.push(rec);
      let reply: LoopbackReply | 'hang';
      try {
        reply = handler(rec);
      } catch (err) {
        reply = { status: 500, body: `fake failed: ${(err as Error).message}` };
      }
      if (reply === 'hang') return;
      const r = reply;
      const send = (): void => {
        const body = typeof r.body === 'string' ? Buffer.from(r.body) : (r.body ?? Buffer.alloc(0));
        const headers: Record<string, string> = { ...r.headers };
        if (!r.chunked) headers['content-length'] = String(body.length);
        res.writeHead(r.status ?? 200, headers);
        if (r.chunked) {
          for (let off = 0; off < body.length; off += 4096) res.write(body.subarray(off, off + 4096));
          res.end();
        } else {
          res.end(body);
        }
      };
      if (r.delayMs) {
        const t = setTimeout(() => {
          timers.delete(t);
          send();
        }, r.delayMs);
        timers.add(t);
      } else {
        send();
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

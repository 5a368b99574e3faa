/**
 * The attestation issuer of the join benchmark's simulated nodes, as its own
 * process (its CPU must not count as the server's): the Go load generator
 * (`atls-peer --load --issuer-url …`) asks it for one document per handshake.
 *
 *   POST /issue  {"variant":"qemu-vtpm","nonce":"<hex>","userData":"<hex>"}
 *     → 200 application/octet-stream: the raw attestation document
 *     → 400 bad input, 404/405 other paths and methods, 413 body > 4 KiB
 *
 * qemu-vtpm documents come from the project's software TPM (the measured boot
 * the dev attestation config accepts), as `joinservice issue` prints them, so
 * the server does the real verification work. Real nodes each have their own
 * attestation key; the issuer holds --aks RSA AKs (made at start, used round
 * robin) instead of generating a 2048-bit key per document, which would make
 * the issuer, not the server, the bottleneck. The verifier caches nothing per
 * AK, so the server's work is the same.
 *
 * `--variant azure-sev-snp | aws-sev-snp | gcp-sev-snp` (with `--pki-dir`, the
 * synthetic AMD PKI the server's attestation config trusts; created there when
 * missing): --aks SoftwareSnpIssuers (src/workers/attestation/snp/issuer), one
 * per AK, used round robin. All of them are one chip of that PKI (same VCEK /
 * VLEK), so after the first join the server's chain cache knows it and a join
 * costs the report's P-384 verification, not the AMD chain (as for a cluster
 * whose nodes run on chips seen before). azure: the HCL report is made once
 * per AK (as on Azure, it does not carry the nonce); aws/gcp: a freshly
 * signed report per document. Such an issuer also answers `dummy`.
 *
 *   node dist/bench/join/issuer-server.js [--host 127.0.0.1] [--port 0] [--processes 1] [--aks 8]
 *        [--variant qemu-vtpm] [--pki-dir DIR]
 *
 * prints one line `{"url":"http://127.0.0.1:PORT/issue","pid":…}` on stdout once it listens.
 */
import cluster from 'node:cluster';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { isSnpVariant, loadOrCreateSyntheticAmdPki, SNP_VARIANTS, SoftwareSnpIssuer, type SnpVariant, type SyntheticAmdPki } from '../../src/workers/attestation/snp/issuer/index.js';
import { encodeVtpmDocument } from '../../src/workers/attestation/vtpm/envelope.js';
import { SoftwareTpmIssuer } from '../../src/workers/attestation/vtpm/issuer/index.js';

export const MAX_BODY_BYTES = 4096;
/** Nonce and user data: 1 to 64 bytes (the service uses 32-byte nonces and SHA-256 user data). */
export const MAX_HEX_BYTES = 64;

/** Every variant the issuer can make documents for (one issuer: its --variant and dummy). */
export const ISSUER_VARIANTS = ['qemu-vtpm', 'dummy', ...SNP_VARIANTS] as const;
export type IssuerVariant = (typeof ISSUER_VARIANTS)[number];
/** What a default (qemu-vtpm) issuer answers. */
export const DEFAULT_ACCEPTED: readonly IssuerVariant[] = ['qemu-vtpm', 'dummy'];

export function isIssuerVariant(v: string): v is IssuerVariant {
  return (ISSUER_VARIANTS as readonly string[]).includes(v);
}

export type IssueFn = ((variant: IssuerVariant, nonce: Buffer, userData: Buffer) => Uint8Array) & {
  /** The variants this issuer answers (others: 400). */
  accepted?: readonly IssuerVariant[];
};

export class BadRequest extends Error {}

export interface IssueOptions {
  /** The variant of the documents (besides dummy); default qemu-vtpm. */
  variant?: IssuerVariant;
  /** SEV-SNP: the synthetic AMD PKI (required for the SNP variants unless `pkiDir` is given). */
  pki?: SyntheticAmdPki;
  /** SEV-SNP: directory of the synthetic AMD PKI (loaded, or created when missing). */
  pkiDir?: string;
}

function dummyDocument(nonce: Buffer, userData: Buffer): Uint8Array {
  return Buffer.from(JSON.stringify({ UserData: userData.toString('base64'), Nonce: nonce.toString('base64') }));
}

/**
 * Documents like `joinservice issue`: `aks` software TPMs (qemu-vtpm) or
 * software SNP issuers (one per AK, SEV-SNP variants) used round robin, and
 * dummy documents.
 */
export function createIssue(aks = 8, o: IssueOptions = {}): IssueFn {
  const variant = o.variant ?? 'qemu-vtpm';
  let issue: IssueFn;
  if (isSnpVariant(variant)) {
    const pki = o.pki ?? (o.pkiDir !== undefined ? loadOrCreateSyntheticAmdPki(o.pkiDir) : undefined);
    if (!pki) throw new Error(`--variant ${variant} needs --pki-dir (the synthetic AMD PKI the server's attestation config trusts)`);
    // RSA key generation (and for azure the HCL report) happens here, before the server listens.
    const snp = Array.from({ length: aks }, () => new SoftwareSnpIssuer({ variant: variant as SnpVariant, pki }));
    // The first document of each issuer builds its per-VM state (azure: the HCL report); do it now.
    for (const s of snp) s.issue(new Uint8Array(32), new Uint8Array(32));
    let next = 0;
    issue = (v, nonce, userData) => {
      if (v === 'dummy') return dummyDocument(nonce, userData);
      const s = snp[next]!;
      next = (next + 1) % snp.length;
      return s.issue(userData, nonce);
    };
  } else if (variant === 'qemu-vtpm' || variant === 'dummy') {
    const tpms = variant === 'qemu-vtpm' ? Array.from({ length: aks }, () => new SoftwareTpmIssuer({ akType: 'rsa' })) : [];
    let next = 0;
    issue = (v, nonce, userData) => {
      if (v === 'qemu-vtpm') {
        const t = tpms[next]!;
        next = (next + 1) % tpms.length;
        return encodeVtpmDocument(t.issue(userData, nonce));
      }
      return dummyDocument(nonce, userData);
    };
  } else {
    throw new Error(`the issuer has no documents for ${String(variant)}`);
  }
  issue.accepted = variant === 'dummy' ? ['dummy'] : [variant, 'dummy'];
  return issue;
}

function hexField(body: Record<string, unknown>, name: string): Buffer {
  const v = body[name];
  if (typeof v !== 'string' || !/^(?:[0-9a-fA-F]{2})+$/.test(v)) throw new BadRequest(`${name} must be non-empty hex`);
  if (v.length / 2 > MAX_HEX_BYTES) throw new BadRequest(`${name} is ${v.length / 2} bytes, at most ${MAX_HEX_BYTES}`);
  return Buffer.from(v, 'hex');
}

/** Validates a request body against the issuer's variants (default: qemu-vtpm, dummy); throws BadRequest. */
export function parseIssueRequest(text: string, accepted: readonly IssuerVariant[] = DEFAULT_ACCEPTED): { variant: IssuerVariant; nonce: Buffer; userData: Buffer } {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new BadRequest('body is not JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new BadRequest('body must be a JSON object');
  const b = body as Record<string, unknown>;
  if (typeof b['variant'] !== 'string' || !(accepted as readonly string[]).includes(b['variant'])) {
    throw new BadRequest(`variant must be one of ${accepted.join(', ')} (this issuer's)`);
  }
  return { variant: b['variant'] as IssuerVariant, nonce: hexField(b, 'nonce'), userData: hexField(b, 'userData') };
}

function reply(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** The issuer's HTTP handler: POST /issue; GET /healthz. */
export function issuerHandler(issue: IssueFn, stats = { issued: 0, rejected: 0 }) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const url = (req.url ?? '/').split('?')[0];
    if (url === '/healthz' && req.method === 'GET') return reply(res, 200, `ok ${stats.issued} issued ${stats.rejected} rejected\n`);
    if (url !== '/issue') return reply(res, 404, 'not found\n');
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      return reply(res, 405, 'method not allowed\n');
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_BODY_BYTES) {
      stats.rejected++;
      res.setHeader('Connection', 'close');
      reply(res, 413, `body larger than ${MAX_BODY_BYTES} bytes\n`);
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (c: Buffer) => {
      if (tooLarge) return;
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        tooLarge = true;
        stats.rejected++;
        res.setHeader('Connection', 'close');
        reply(res, 413, `body larger than ${MAX_BODY_BYTES} bytes\n`);
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (tooLarge) return;
      let doc: Uint8Array;
      try {
        const r = parseIssueRequest(Buffer.concat(chunks).toString('utf8'), issue.accepted ?? DEFAULT_ACCEPTED);
        doc = issue(r.variant, r.nonce, r.userData);
      } catch (err) {
        stats.rejected++;
        if (err instanceof BadRequest) return reply(res, 400, `${err.message}\n`);
        return reply(res, 500, `${(err as Error).message}\n`);
      }
      stats.issued++;
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': doc.length });
      res.end(doc);
    });
    req.on('error', () => res.destroy());
  };
}

export function startIssuerServer(o: { host: string; port: number; aks: number; variant?: IssuerVariant; pkiDir?: string }): Promise<Server> {
  const issue = createIssue(o.aks, { ...(o.variant ? { variant: o.variant } : {}), ...(o.pkiDir !== undefined ? { pkiDir: o.pkiDir } : {}) });
  const server = createServer({ keepAliveTimeout: 120_000 }, issuerHandler(issue));
  server.maxConnections = 100_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: o.host, port: o.port, backlog: 4096 }, () => resolve(server));
  });
}

function intOption(min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`must be an integer from ${min} to ${max}`);
    return n;
  };
}

async function main(argv: string[]): Promise<void> {
  const flags = new Command('issuer-server')
    .option('--host <address>', 'listen address', '127.0.0.1')
    .option('--port <port>', 'listen port (0: any free port)', intOption(0, 65535), 0)
    .option('--processes <n>', 'issuer processes sharing the port (node:cluster)', intOption(1, 64), 1)
    .option('--aks <n>', 'attestation keys per process, used round robin', intOption(1, 1024), 8)
    .option('--variant <variant>', `documents of this variant (and dummy): ${ISSUER_VARIANTS.join(', ')}`, (v: string) => {
      if (!isIssuerVariant(v)) throw new InvalidArgumentError(`one of ${ISSUER_VARIANTS.join(', ')}`);
      return v;
    }, 'qemu-vtpm')
    .option('--pki-dir <dir>', 'SEV-SNP variants: the synthetic AMD PKI (created when missing)')
    .parse(argv, { from: 'user' })
    .opts<{ host: string; port: number; processes: number; aks: number; variant: IssuerVariant; pkiDir?: string }>();
  if (isSnpVariant(flags.variant) && flags.pkiDir === undefined) throw new InvalidArgumentError(`--variant ${flags.variant} needs --pki-dir`);
  // Create the PKI once in the primary (seconds of RSA-4096 derivation), so forked workers only load it.
  if (flags.pkiDir !== undefined && cluster.isPrimary) loadOrCreateSyntheticAmdPki(flags.pkiDir);

  if (flags.processes > 1 && cluster.isPrimary) {
    let ready = 0;
    let port = 0;
    for (let i = 0; i < flags.processes; i++) cluster.fork();
    cluster.on('message', (_w, msg: { port?: number }) => {
      if (typeof msg.port !== 'number') return;
      port = msg.port;
      if (++ready === flags.processes) console.log(JSON.stringify({ url: `http://${flags.host}:${port}/issue`, pid: process.pid, processes: flags.processes }));
    });
    cluster.on('exit', (w, code, signal) => {
      console.error(`issuer-server: worker ${w.process.pid} exited (${code ?? signal})`);
      process.exitCode = 1;
    });
    const stop = () => {
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
      process.exit(0);
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    return;
  }
  const server = await startIssuerServer(flags);
  const port = (server.address() as AddressInfo).port;
  if (cluster.isWorker) process.send!({ port });
  else console.log(JSON.stringify({ url: `http://${flags.host}:${port}/issue`, pid: process.pid, processes: 1 }));
  const stop = () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(`issuer-server: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  });
}

/**
 * AMD Key Distribution Service client (sev-snp-attestation.md §7): the VCEK
 * of a chip at a TCB, and the `cert_chain` (ASK or ASVK, then ARK) of a
 * product line.
 *
 *   VCEK        {base}/vcek/v1/{product}/{hex(CHIP_ID)}?blSPL=<d>&teeSPL=<d>&snpSPL=<d>&ucodeSPL=<d>   → DER
 *   VCEK chain  {base}/vcek/v1/{product}/cert_chain                                                    → PEM ASK, ARK
 *   VLEK chain  {base}/vlek/v1/{product}/cert_chain                                                    → PEM ASVK, ARK
 *
 * CHIP_ID is lowercase hex (128 characters) and the SPLs are REPORTED_TCB's,
 * in decimal, decomposed with the Milan/Genoa layout (§5.2). Constellation
 * always asks for `Milan`; the product line is a parameter here (Milan,
 * Genoa, Turin). Turin (absent from the go-sev-guest fork Constellation pins, never trusted by
 * Constellation, §13) follows AMD's Turin KDS form as current upstream
 * go-sev-guest builds it: the first 8 CHIP_ID bytes (16 hex characters),
 * the Turin TCB layout, and `&fmcSPL=<d>` appended.
 *
 * HTTP goes through the bounded transport of the vTPM variants
 * (vtpm/http-client.ts): per-request deadline, size-bounded bodies (16 KiB
 * per VCEK, 64 KiB per chain by default), no redirects, no proxy.
 *
 * Retries (ours, not Go's): 408, 429, 5xx, transport failures and per-request
 * timeouts are retried with exponential backoff — 1 s, 2 s, 4 s, … capped at
 * 30 s, each up to 20 % shorter at random (jitter) — inside a total budget of 20 s, further
 * bounded by the caller's `timeoutMs`. A `Retry-After` header (seconds or an
 * HTTP date) replaces the computed delay; one beyond 30 s, or beyond the
 * remaining budget, ends the attempts at once. Any other status (404, 400,
 * …), an oversized body and a malformed answer fail at once. Go's default
 * getter instead retries every failure, 404 included, with delays of
 * 20 s, 30 s, 30 s … for up to 2 minutes; ours is shorter because a worker
 * fetch runs inside the 30 s verification deadline (the start-up certificate
 * cache, src/main/snp/cert-cache.ts, configures a longer budget).
 *
 * Failures are KdsError (a CloudApiError: `upstream` tells whether to blame
 * AMD/the network — transport, 429, 5xx, oversized or malformed answers,
 * 401/403, every cert_chain failure — or the node's report, i.e. a VCEK
 * request KDS rejected with another 4xx, typically 404 for an unknown
 * CHIP_ID/TCB, and an all-zero CHIP_ID, which is refused without a request).
 * Messages start with Go's text for a bad status, `failed to retrieve <url>`.
 */
import { setTimeout as sleepTimer } from 'node:timers/promises';
import { readSingle, Tag } from '../../../../shared/der/decode.js';
import { decodePem, encodePem } from '../../../../shared/pem.js';
import { checkApiBaseUrl, CloudApiError, HttpFailure, isUpstreamStatus, nodeHttpTransport, type HttpResponse, type HttpTransport } from '../../vtpm/http-client.js';
import { decodeTcbVersion, decodeTurinTcbVersion } from '../report/tcb-version.js';

export const KDS_BASE_URL = 'https://kdsintf.amd.com';

export const AMD_PRODUCTS = ['Milan', 'Genoa', 'Turin'] as const;
/** An AMD product line as KDS names it in its URLs. */
export type AmdProduct = (typeof AMD_PRODUCTS)[number];

/** Which endorsement key hierarchy: VCEK (ASK → ARK) or VLEK (ASVK → ARK). */
export type KdsKeyKind = 'vcek' | 'vlek';

export function isAmdProduct(value: unknown): value is AmdProduct {
  return typeof value === 'string' && (AMD_PRODUCTS as readonly string[]).includes(value);
}

/** CHIP_ID length in the attestation report. */
export const CHIP_ID_BYTES = 64;
/** Turin's KDS hardware ID: the first 8 CHIP_ID bytes. */
export const TURIN_HWID_BYTES = 8;

/** A VCEK is ~1.3 KiB DER. */
export const DEFAULT_KDS_MAX_CERT_BYTES = 16 * 1024;
/** A cert_chain is two RSA-4096 certificates in PEM, ~4.6 KiB. */
export const DEFAULT_KDS_MAX_CHAIN_BYTES = 64 * 1024;
/** Deadline of one HTTP request (further bounded by the remaining budget). */
export const DEFAULT_KDS_REQUEST_TIMEOUT_MS = 10_000;

export interface KdsRetryPolicy {
  /** First backoff delay (default 1 s); doubles after every retry. */
  initialDelayMs: number;
  /** Largest backoff delay (default 30 s). */
  maxDelayMs: number;
  /** Total time for all attempts and delays of one fetch (default 20 s); the caller's timeoutMs can only shorten it. */
  budgetMs: number;
  /** Largest Retry-After honoured (default 30 s); a longer one ends the attempts. */
  maxRetryAfterMs: number;
  /** Largest number of requests of one fetch (default 10). */
  maxAttempts: number;
  /** Each delay is reduced by up to this fraction at random (default 0.2; 0 = exact delays). */
  jitter: number;
}

export const DEFAULT_KDS_RETRY: Readonly<KdsRetryPolicy> = Object.freeze({
  initialDelayMs: 1_000,
  maxDelayMs: 30_000,
  budgetMs: 20_000,
  maxRetryAfterMs: 30_000,
  maxAttempts: 10,
  jitter: 0.2,
});

/** A caller's bound on one fetch: remaining time and/or cancellation. */
export interface KdsCallLimit {
  /** Time left for this fetch, retries included (the policy's budget still applies). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** What identifies a VCEK: the chip, the TCB it reported, its product line. */
export interface VcekRequest {
  product: AmdProduct;
  /** CHIP_ID of the report, 64 bytes. */
  chipId: Uint8Array;
  /** REPORTED_TCB of the report (u64 as in the report). */
  reportedTcb: bigint;
}

/** A parsed `cert_chain` answer. */
export interface KdsCertChain {
  /** ASK (VCEK chain) or ASVK (VLEK chain), DER. */
  askDer: Uint8Array;
  /** ARK, DER. */
  arkDer: Uint8Array;
  /** The same certificates as canonical PEM (64-column base64, no headers). */
  askPem: string;
  arkPem: string;
}

export type KdsErrorKind = 'status' | 'transport' | 'timeout' | 'too-large' | 'malformed' | 'budget' | 'aborted' | 'invalid-request';

export class KdsError extends CloudApiError {
  constructor(
    message: string,
    upstream: boolean,
    readonly kind: KdsErrorKind,
    readonly url: string,
    readonly attempts: number,
    httpStatus?: number,
    options?: { cause?: unknown },
  ) {
    super(message, upstream, httpStatus, options);
    this.name = 'KdsError';
  }
}

export interface KdsClient {
  /** The base URL without trailing slash (part of cache keys). */
  readonly baseUrl: string;
  vcekUrl(req: VcekRequest): string;
  certChainUrl(product: AmdProduct, kind: KdsKeyKind): string;
  /** The VCEK DER for the chip at REPORTED_TCB (only checked to be one DER SEQUENCE). */
  fetchVcek(req: VcekRequest, limit?: KdsCallLimit): Promise<Uint8Array>;
  /** The product's cert_chain for VCEKs or VLEKs, parsed with §7's two-block rule. */
  fetchCertChain(product: AmdProduct, kind: KdsKeyKind, limit?: KdsCallLimit): Promise<KdsCertChain>;
}

export interface KdsClientOptions {
  /** Default https://kdsintf.amd.com; plain http only to loopback (tests). */
  baseUrl?: string;
  transport?: HttpTransport;
  requestTimeoutMs?: number;
  maxCertBytes?: number;
  maxChainBytes?: number;
  retry?: Partial<KdsRetryPolicy>;
  /** Monotonic clock in ms for budgets (default performance.now). */
  now?: () => number;
  /** Wall clock in ms, only for HTTP-date Retry-After values (default Date.now). */
  wallClock?: () => number;
  /** Waits `ms` (rejects when `signal` aborts); default a timer. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Uniform [0, 1) for jitter (default Math.random). */
  random?: () => number;
  userAgent?: string;
}

const defaultSleep = (ms: number, signal?: AbortSignal): Promise<void> => sleepTimer(ms, undefined, signal ? { signal } : {});

export function kdsCertChainUrl(baseUrl: string, product: AmdProduct, kind: KdsKeyKind): string {
  checkProduct(product);
  if (kind !== 'vcek' && kind !== 'vlek') throw new RangeError(`unknown KDS key kind ${JSON.stringify(kind)}`);
  return `${baseUrl}/${kind}/v1/${product}/cert_chain`;
}

/** The VCEK URL of §7 (Milan/Genoa) or AMD's Turin form. Throws RangeError on a malformed request. */
export function kdsVcekUrl(baseUrl: string, req: VcekRequest): string {
  checkProduct(req.product);
  if (!(req.chipId instanceof Uint8Array) || req.chipId.length !== CHIP_ID_BYTES) {
    throw new RangeError(`CHIP_ID must be ${CHIP_ID_BYTES} bytes, got ${req.chipId instanceof Uint8Array ? req.chipId.length : typeof req.chipId}`);
  }
  if (req.product === 'Turin') {
    const t = decodeTurinTcbVersion(req.reportedTcb);
    const hwid = Buffer.from(req.chipId.subarray(0, TURIN_HWID_BYTES)).toString('hex');
    return `${baseUrl}/vcek/v1/Turin/${hwid}?blSPL=${t.blSpl}&teeSPL=${t.teeSpl}&snpSPL=${t.snpSpl}&ucodeSPL=${t.ucodeSpl}&fmcSPL=${t.fmcSpl}`;
  }
  const t = decodeTcbVersion(req.reportedTcb);
  const hex = Buffer.from(req.chipId).toString('hex');
  return `${baseUrl}/vcek/v1/${req.product}/${hex}?blSPL=${t.blSpl}&teeSPL=${t.teeSpl}&snpSPL=${t.snpSpl}&ucodeSPL=${t.ucodeSpl}`;
}

function checkProduct(product: unknown): asserts product is AmdProduct {
  if (!isAmdProduct(product)) throw new RangeError(`unknown AMD product line ${JSON.stringify(product)} (want one of ${AMD_PRODUCTS.join(', ')})`);
}

/**
 * go-sev-guest `kds.ParseProductCertChain`: the first PEM block (text before
 * it is skipped, as Go's pem.Decode does) is the ASK/ASVK, the next the ARK;
 * both must be `CERTIFICATE` blocks without headers, and nothing may follow
 * the second block's END line (not even a blank line). A third block, a
 * missing block, another block type or trailing bytes are errors. Throws
 * Error with Go's texts.
 */
export function parseKdsCertChain(body: Uint8Array | string): KdsCertChain {
  // latin1 keeps one character per byte, so "trailing bytes" counts bytes.
  const text = typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('latin1');
  const first = decodeStrictPem(text, 0);
  const second = first ? decodeStrictPem(text, first.rest) : undefined;
  const problems: string[] = [];
  const checkForm = (name: string, b: { type: string; headers: Record<string, string> } | undefined): void => {
    if (!b) problems.push(`could not find ${name} PEM block`);
    else if (b.type !== 'CERTIFICATE') problems.push(`the ${name} PEM block type is ${b.type}. Expect CERTIFICATE`);
    else if (Object.keys(b.headers).length !== 0) problems.push(`the ${name} PEM block has non-empty headers: ${JSON.stringify(b.headers)}`);
  };
  checkForm('ASK or ASVK', first?.block);
  checkForm('ARK', second?.block);
  if (problems.length > 0) throw new Error(problems.join('; '));
  const trailing = text.length - second!.rest;
  if (trailing !== 0) throw new Error(`unexpected trailing bytes: ${trailing} bytes`);
  const askDer = new Uint8Array(first!.block.bytes);
  const arkDer = new Uint8Array(second!.block.bytes);
  return { askDer, arkDer, askPem: encodePem('CERTIFICATE', askDer), arkPem: encodePem('CERTIFICATE', arkDer) };
}

/**
 * decodePem plus Go's rule that the END line carries nothing but trailing
 * whitespace (pem.Decode skips such a block; shared/pem.ts does not check).
 */
function decodeStrictPem(text: string, from: number): ReturnType<typeof decodePem> {
  for (let at = from; ; ) {
    const r = decodePem(text, at);
    if (!r) return undefined;
    const marker = `-----END ${r.block.type}-----`;
    const endAt = text.lastIndexOf(marker, r.rest);
    const after = text.slice(endAt + marker.length, r.rest);
    if (endAt >= 0 && /^[ \t\r]*\n?$/.test(after)) return r;
    // Skip this block as Go does and look for the next BEGIN after its start.
    const begin = text.indexOf('-----BEGIN ', at);
    at = begin < 0 ? text.length : begin + 1;
  }
}

/** `Retry-After` in ms: delta-seconds or an HTTP date; undefined when absent or unparsable. */
export function parseRetryAfter(value: string | string[] | undefined, wallNowMs: number): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined) return undefined;
  const s = v.trim();
  if (/^\d{1,10}$/.test(s)) return Number(s) * 1000;
  if (!/[a-z]/i.test(s)) return undefined;
  const at = Date.parse(s);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - wallNowMs);
}

const STATUS_TEXT: Readonly<Record<number, string>> = { 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 429: 'Too Many Requests', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout' };

function statusLine(status: number): string {
  const t = STATUS_TEXT[status];
  return t ? `${status} ${t}` : String(status);
}

function attemptsSuffix(n: number): string {
  return n > 1 ? ` (after ${n} attempts)` : '';
}

export function createKdsClient(o: KdsClientOptions = {}): KdsClient {
  const baseUrl = checkApiBaseUrl(o.baseUrl ?? KDS_BASE_URL, 'AMD KDS base URL');
  const transport = o.transport ?? nodeHttpTransport;
  const requestTimeoutMs = o.requestTimeoutMs ?? DEFAULT_KDS_REQUEST_TIMEOUT_MS;
  const maxCertBytes = o.maxCertBytes ?? DEFAULT_KDS_MAX_CERT_BYTES;
  const maxChainBytes = o.maxChainBytes ?? DEFAULT_KDS_MAX_CHAIN_BYTES;
  const retry: KdsRetryPolicy = { ...DEFAULT_KDS_RETRY, ...o.retry };
  for (const k of ['initialDelayMs', 'maxDelayMs', 'budgetMs', 'maxRetryAfterMs'] as const) {
    if (!(retry[k] >= 0) || !Number.isFinite(retry[k])) throw new RangeError(`KDS retry ${k} must be a finite number ≥ 0, got ${retry[k]}`);
  }
  if (!Number.isInteger(retry.maxAttempts) || retry.maxAttempts < 1) throw new RangeError(`KDS retry maxAttempts must be a positive integer, got ${retry.maxAttempts}`);
  if (!(retry.jitter >= 0 && retry.jitter <= 1)) throw new RangeError(`KDS retry jitter must be within [0, 1], got ${retry.jitter}`);
  const now = o.now ?? (() => performance.now());
  const wallClock = o.wallClock ?? Date.now;
  const sleep = o.sleep ?? defaultSleep;
  const random = o.random ?? Math.random;
  const userAgent = o.userAgent ?? 'constellation-joinservice-ts';

  /** GET with retries; returns the 2xx body. `rejectedIsUpstream`: how to blame a non-retryable 4xx. */
  async function get(url: string, maxResponseBytes: number, limit: KdsCallLimit, rejectedIsUpstream: boolean): Promise<Buffer> {
    const started = now();
    const budget = Math.max(0, Math.min(retry.budgetMs, limit.timeoutMs ?? Infinity));
    const deadline = started + budget;
    const signal = limit.signal;
    let delay = retry.initialDelayMs;
    let last: KdsError | undefined;
    for (let attempt = 1; ; attempt++) {
      if (signal?.aborted) throw aborted(url, attempt - 1, signal, last);
      const remaining = deadline - now();
      if (remaining <= 0) throw budgetExhausted(url, attempt - 1, budget, last);
      let res: HttpResponse | undefined;
      let retryAfterMs: number | undefined;
      try {
        res = await transport({
          method: 'GET',
          url,
          headers: { accept: '*/*', 'user-agent': userAgent },
          timeoutMs: Math.max(1, Math.min(requestTimeoutMs, remaining)),
          maxResponseBytes,
          ...(signal ? { signal } : {}),
        });
      } catch (err) {
        if (!(err instanceof HttpFailure)) throw err;
        if (err.kind === 'aborted' && signal?.aborted) throw aborted(url, attempt, signal, last);
        if (err.kind === 'too-large') throw new KdsError(err.message, true, 'too-large', url, attempt, undefined, { cause: err });
        if (err.kind === 'invalid-url') throw new KdsError(err.message, true, 'invalid-request', url, attempt, undefined, { cause: err });
        last = new KdsError(`${err.message}${attemptsSuffix(attempt)}`, true, err.kind === 'timeout' ? 'timeout' : 'transport', url, attempt, undefined, { cause: err });
      }
      if (res) {
        if (res.status >= 200 && res.status <= 299) return res.body;
        const message = `failed to retrieve ${url}: HTTP status ${statusLine(res.status)}${attemptsSuffix(attempt)}`;
        if (res.status !== 408 && res.status !== 429 && res.status < 500) {
          throw new KdsError(message, rejectedIsUpstream || isUpstreamStatus(res.status), 'status', url, attempt, res.status);
        }
        last = new KdsError(message, true, 'status', url, attempt, res.status);
        retryAfterMs = parseRetryAfter(res.headers['retry-after'], wallClock());
      }
      // Retryable failure.
      if (attempt >= retry.maxAttempts) throw last!;
      if (retryAfterMs !== undefined && retryAfterMs > retry.maxRetryAfterMs) {
        throw withNote(last!, `KDS asked to retry after ${Math.ceil(retryAfterMs / 1000)} s, more than the ${Math.round(retry.maxRetryAfterMs / 1000)} s honoured`);
      }
      const wait = retryAfterMs ?? delay * (1 - retry.jitter * random());
      if (now() + wait >= deadline) {
        throw withNote(last!, `no time left for a retry in ${Math.round(wait)} ms within the ${Math.round(budget)} ms budget`);
      }
      try {
        await sleep(wait, signal);
      } catch (err) {
        if (signal?.aborted) throw aborted(url, attempt, signal, last);
        throw err;
      }
      delay = Math.min(delay * 2, retry.maxDelayMs);
    }
  }

  return {
    baseUrl,
    vcekUrl: (req) => kdsVcekUrl(baseUrl, req),
    certChainUrl: (product, kind) => kdsCertChainUrl(baseUrl, product, kind),

    async fetchVcek(req, limit = {}) {
      let url: string;
      try {
        url = kdsVcekUrl(baseUrl, req);
      } catch (err) {
        throw new KdsError(`building the VCEK URL: ${(err as Error).message}`, false, 'invalid-request', '', 0, undefined, { cause: err });
      }
      if (req.chipId.every((b) => b === 0)) {
        // MASK_CHIP_ID: KDS cannot know this chip; Go would ask and fail.
        throw new KdsError(`failed to retrieve ${url}: CHIP_ID is all zeros (MASK_CHIP_ID set in the guest policy?)`, false, 'invalid-request', url, 0);
      }
      const body = await get(url, maxCertBytes, limit, false);
      try {
        readSingle(body, Tag.Sequence);
      } catch (err) {
        throw new KdsError(`failed to retrieve ${url}: the answer is not one DER certificate: ${(err as Error).message}`, true, 'malformed', url, 1, undefined, { cause: err });
      }
      return new Uint8Array(body);
    },

    async fetchCertChain(product, kind, limit = {}) {
      let url: string;
      try {
        url = kdsCertChainUrl(baseUrl, product, kind);
      } catch (err) {
        throw new KdsError(`building the cert_chain URL: ${(err as Error).message}`, true, 'invalid-request', '', 0, undefined, { cause: err });
      }
      const body = await get(url, maxChainBytes, limit, true);
      try {
        return parseKdsCertChain(body);
      } catch (err) {
        throw new KdsError(`could not parse root cert_chain from ${url}: ${(err as Error).message}`, true, 'malformed', url, 1, undefined, { cause: err });
      }
    },
  };
}

function withNote(e: KdsError, note: string): KdsError {
  return new KdsError(`${e.message}; ${note}`, e.upstream, 'budget', e.url, e.attempts, e.httpStatus, { cause: e });
}

function budgetExhausted(url: string, attempts: number, budget: number, last: KdsError | undefined): KdsError {
  if (last) return withNote(last, `retry budget of ${Math.round(budget)} ms exhausted`);
  return new KdsError(`failed to retrieve ${url}: no time left (budget ${Math.round(budget)} ms)`, true, 'budget', url, attempts);
}

function aborted(url: string, attempts: number, signal: AbortSignal, last: KdsError | undefined): KdsError {
  const reason: unknown = signal.reason;
  const why = reason instanceof Error && reason.name !== 'AbortError' ? reason.message : 'context canceled';
  return new KdsError(`failed to retrieve ${url}: ${why}${last ? ` (last failure: ${last.message})` : ''}`, true, 'aborted', url, attempts, last?.httpStatus, { cause: reason });
}

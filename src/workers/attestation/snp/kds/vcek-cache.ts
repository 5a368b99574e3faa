/**
 * Caches in front of the AMD KDS client, so that a node's second join costs
 * only the report signature, not a network round trip.
 *
 * VCEKs: a bounded LRU (default 4096 entries, ~1.3 KiB each ≈ 5 MiB) of
 * VCEK DER keyed by product + CHIP_ID + REPORTED_TCB — exactly what the KDS
 * URL is made of, so an entry is the answer KDS would give again. Entries
 * expire after 7 days (a VCEK is valid for 7 years; the TTL only lets a
 * re-issued certificate in eventually). Concurrent misses of one key share
 * one request (single flight: 10 nodes of one host joining at once cost one
 * fetch). The cache holds bytes, not trust: the validator verifies the VCEK
 * against ASK/ARK on every use (and may cache that result by DER hash);
 * `deleteVcek` drops an entry that failed verification.
 *
 * Negative results: a VCEK request KDS *rejected* (4xx other than 429, e.g.
 * 404 for an unknown CHIP_ID/TCB — the node's fault) is remembered for 60 s
 * per key, so a node retrying a bogus report does not turn every attempt
 * into a KDS request. Upstream failures (network, 429, 5xx, malformed or
 * oversized answers) are never remembered: the next verification tries again
 * (the client's own backoff applies within one fetch).
 *
 * cert_chain: one entry per product line and key kind (VCEK/VLEK), fresh for
 * 24 h. After that it is served stale while one background refresh runs
 * (stale-while-revalidate); when the refresh fails the stale chain keeps
 * being served, the failure is reported once per failure streak through
 * `warn`, and the next refresh is attempted no earlier than 5 min later.
 * A chain is only fetched in the foreground when none was ever cached.
 * `invalidateCertChain` drops a chain that failed verification.
 *
 * One cache per worker thread (module-level `sharedKdsCache`): each pool
 * worker warms its own. The chain is static and VCEKs per chip are few, so
 * the duplication costs a handful of requests after start-up; sharing across
 * threads would need the main thread in the loop of every verification.
 *
 * Single flight and deadlines: a shared load runs with the time budget of the
 * caller that started it but not with its AbortSignal (one cancelled caller
 * does not fail the others); every caller stops waiting when its own signal
 * aborts. All clocks and sleeps are injectable (tests).
 */
import { checkApiBaseUrl } from '../../vtpm/http-client.js';
import { TtlCache } from '../../vtpm/ttl-cache.js';
import { createKdsClient, KDS_BASE_URL, KdsError, type AmdProduct, type KdsCallLimit, type KdsCertChain, type KdsClient, type KdsKeyKind, type VcekRequest } from './kds-client.js';

export const DEFAULT_VCEK_CACHE_MAX_ENTRIES = 4096;
export const DEFAULT_VCEK_CACHE_TTL_MS = 7 * 24 * 60 * 60_000;
export const DEFAULT_VCEK_NEGATIVE_TTL_MS = 60_000;
export const DEFAULT_VCEK_NEGATIVE_MAX_ENTRIES = 1024;
export const DEFAULT_CERT_CHAIN_TTL_MS = 24 * 60 * 60_000;
export const DEFAULT_CERT_CHAIN_REFRESH_RETRY_MS = 5 * 60_000;

/** The fetches the caches need (KdsClient satisfies it). */
export type KdsFetcher = Pick<KdsClient, 'baseUrl' | 'fetchVcek' | 'fetchCertChain'>;

export interface KdsCacheOptions {
  client: KdsFetcher;
  vcekMaxEntries?: number;
  vcekTtlMs?: number;
  /** How long a rejected VCEK request (404 …) is remembered; 0 disables. */
  vcekNegativeTtlMs?: number;
  chainTtlMs?: number;
  /** Least time between failed cert_chain refreshes. */
  chainRefreshRetryMs?: number;
  /** Time budget of a background refresh (default: the client's retry budget). */
  backgroundTimeoutMs?: number;
  /** Monotonic clock in ms (default performance.now). */
  now?: () => number;
  /** Called once per failure streak of a cert_chain refresh (the stale chain is still served). */
  warn?: (msg: string, attrs: Record<string, unknown>) => void;
}

export interface CertChainLookup {
  chain: KdsCertChain;
  /** True when the chain is older than the TTL (a refresh is pending or failed). */
  stale: boolean;
  ageMs: number;
}

interface ChainEntry {
  chain: KdsCertChain;
  storedAt: number;
  /** Monotonic time of the last failed refresh. */
  failedAt?: number;
  /** Whether the current failure streak was reported. */
  warned: boolean;
}

/** Cache key of a VCEK: product, CHIP_ID (hex), REPORTED_TCB (16 hex digits). */
export function vcekCacheKey(req: VcekRequest): string {
  return `${req.product}/${Buffer.from(req.chipId).toString('hex')}/${req.reportedTcb.toString(16).padStart(16, '0')}`;
}

export class KdsCache {
  readonly client: KdsFetcher;
  private readonly vceks: TtlCache<Uint8Array>;
  private readonly rejected: TtlCache<KdsError> | undefined;
  private readonly chains = new Map<string, ChainEntry>();
  private readonly chainLoads = new Map<string, Promise<KdsCertChain>>();
  private readonly chainTtlMs: number;
  private readonly chainRefreshRetryMs: number;
  private readonly backgroundTimeoutMs: number | undefined;
  private readonly now: () => number;
  private readonly warn: (msg: string, attrs: Record<string, unknown>) => void;

  constructor(o: KdsCacheOptions) {
    this.client = o.client;
    this.now = o.now ?? (() => performance.now());
    this.vceks = new TtlCache<Uint8Array>({
      ttlMs: o.vcekTtlMs ?? DEFAULT_VCEK_CACHE_TTL_MS,
      maxEntries: o.vcekMaxEntries ?? DEFAULT_VCEK_CACHE_MAX_ENTRIES,
      now: this.now,
    });
    const negativeTtl = o.vcekNegativeTtlMs ?? DEFAULT_VCEK_NEGATIVE_TTL_MS;
    this.rejected = negativeTtl > 0 ? new TtlCache<KdsError>({ ttlMs: negativeTtl, maxEntries: DEFAULT_VCEK_NEGATIVE_MAX_ENTRIES, now: this.now }) : undefined;
    this.chainTtlMs = o.chainTtlMs ?? DEFAULT_CERT_CHAIN_TTL_MS;
    this.chainRefreshRetryMs = o.chainRefreshRetryMs ?? DEFAULT_CERT_CHAIN_REFRESH_RETRY_MS;
    if (!(this.chainTtlMs > 0)) throw new RangeError(`chainTtlMs must be positive, got ${this.chainTtlMs}`);
    this.backgroundTimeoutMs = o.backgroundTimeoutMs;
    this.warn = o.warn ?? (() => {});
  }

  /** The VCEK DER for the request: cached, or fetched once for all concurrent callers. Throws KdsError. */
  async getVcek(req: VcekRequest, limit: KdsCallLimit = {}): Promise<Uint8Array> {
    const key = vcekCacheKey(req);
    if (this.rejected?.has(key)) {
      // A remembered rejection: fail again without a request.
      const e = await this.rejected.get(key, () => Promise.reject(new Error('unreachable')));
      throw new KdsError(`${e.message} (remembered)`, e.upstream, e.kind, e.url, 0, e.httpStatus, { cause: e });
    }
    const shared = this.vceks.get(key, async () => {
      try {
        return await this.client.fetchVcek(req, { ...(limit.timeoutMs !== undefined ? { timeoutMs: limit.timeoutMs } : {}) });
      } catch (err) {
        if (err instanceof KdsError && !err.upstream && this.rejected) {
          const e = err;
          void this.rejected.get(key, () => Promise.resolve(e));
        }
        throw err;
      }
    });
    const der = await waitWithSignal(shared, limit.signal);
    return der.slice();
  }

  /** Drops a cached VCEK (e.g. it failed verification), so the next use fetches it again. */
  deleteVcek(req: VcekRequest): void {
    const key = vcekCacheKey(req);
    this.vceks.delete(key);
  }

  /** Whether a VCEK for the request is cached (no fetch is started). */
  hasVcek(req: VcekRequest): boolean {
    return this.vceks.has(vcekCacheKey(req));
  }

  get vcekCount(): number {
    return this.vceks.size;
  }

  /**
   * The product's cert_chain: fresh from the cache; stale while a background
   * refresh runs or after it failed; fetched in the foreground only when no
   * chain was ever cached (single flight). Throws KdsError only in that case.
   */
  async getCertChain(product: AmdProduct, kind: KdsKeyKind, limit: KdsCallLimit = {}): Promise<CertChainLookup> {
    const key = `${product}/${kind}`;
    const entry = this.chains.get(key);
    const now = this.now();
    if (entry) {
      const ageMs = now - entry.storedAt;
      if (ageMs >= 0 && ageMs < this.chainTtlMs) return { chain: entry.chain, stale: false, ageMs };
      this.refreshInBackground(key, product, kind, entry);
      return { chain: entry.chain, stale: true, ageMs };
    }
    let load = this.chainLoads.get(key);
    if (!load) {
      load = this.loadChain(key, product, kind, limit.timeoutMs);
      // The foreground load's error reaches its callers; keep it from being reported as unhandled.
      load.catch(() => {});
    }
    const chain = await waitWithSignal(load, limit.signal);
    return { chain, stale: false, ageMs: 0 };
  }

  /** Drops a cached chain (e.g. it failed verification); the next use fetches in the foreground. */
  invalidateCertChain(product: AmdProduct, kind: KdsKeyKind): void {
    this.chains.delete(`${product}/${kind}`);
  }

  /** Settles when no cert_chain load is running (tests). */
  async idle(): Promise<void> {
    while (this.chainLoads.size > 0) await Promise.allSettled([...this.chainLoads.values()]);
  }

  private loadChain(key: string, product: AmdProduct, kind: KdsKeyKind, timeoutMs: number | undefined): Promise<KdsCertChain> {
    const p = this.client.fetchCertChain(product, kind, timeoutMs !== undefined ? { timeoutMs } : {}).then(
      (chain) => {
        this.chainLoads.delete(key);
        const previous = this.chains.get(key);
        if (previous?.warned) this.warn('AMD KDS cert_chain refreshed after earlier failures', { product, kind });
        this.chains.set(key, { chain, storedAt: this.now(), warned: false });
        return chain;
      },
      (err: unknown) => {
        this.chainLoads.delete(key);
        throw err;
      },
    );
    this.chainLoads.set(key, p);
    return p;
  }

  private refreshInBackground(key: string, product: AmdProduct, kind: KdsKeyKind, entry: ChainEntry): void {
    if (this.chainLoads.has(key)) return;
    if (entry.failedAt !== undefined && this.now() - entry.failedAt < this.chainRefreshRetryMs) return;
    this.loadChain(key, product, kind, this.backgroundTimeoutMs).catch((err: unknown) => {
      const current = this.chains.get(key);
      if (current !== entry) return; // invalidated or replaced meanwhile
      entry.failedAt = this.now();
      if (!entry.warned) {
        entry.warned = true;
        this.warn('AMD KDS cert_chain refresh failed; serving the cached chain', {
          product,
          kind,
          ageMs: Math.round(this.now() - entry.storedAt),
          error: err instanceof Error ? err.message : String(err),
        });
      }
    });
  }
}

/** Resolves with `p`, or rejects as soon as `signal` aborts (without cancelling `p`). */
function waitWithSignal<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

function abortError(signal: AbortSignal): KdsError {
  const reason: unknown = signal.reason;
  const why = reason instanceof Error && reason.name !== 'AbortError' ? reason.message : 'context canceled';
  return new KdsError(`waiting for AMD KDS: ${why}`, true, 'aborted', '', 0, undefined, { cause: reason });
}

const shared = new Map<string, KdsCache>();

/**
 * The worker thread's cache for a KDS base URL (created on first use with
 * the default client and limits).
 */
export function sharedKdsCache(baseUrl: string = KDS_BASE_URL): KdsCache {
  const key = checkApiBaseUrl(baseUrl, 'AMD KDS base URL');
  let c = shared.get(key);
  if (!c) {
    c = new KdsCache({ client: createKdsClient({ baseUrl: key }) });
    shared.set(key, c);
  }
  return c;
}

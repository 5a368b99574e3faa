/**
 * Client-side token bucket (the equivalent of client-go's QPS/Burst
 * limiter): `burst` tokens, refilled at `qps` per second. A request that
 * finds the bucket empty reserves the next token and waits for it, unless
 * that token would only become available after the request's deadline, in
 * which case it fails at once (like golang.org/x/time/rate's Wait).
 */
export interface TokenBucketOptions {
  /** Sustained requests per second; 0 or Infinity disables limiting. */
  qps: number;
  /** Bucket size (requests allowed back-to-back). */
  burst: number;
  /** Monotonic clock in ms (tests). */
  clock?: () => number;
}

export interface TokenBucketStats {
  /** Requests that got a token without waiting. */
  immediate: number;
  /** Requests that waited for their token. */
  waited: number;
  /** Requests refused because the token would come after their deadline, or cancelled while waiting. */
  refused: number;
}

export class RateLimitWaitError extends Error {
  constructor(readonly why: 'deadline' | 'cancelled') {
    super(why === 'deadline' ? 'rate: Wait(n=1) would exceed context deadline' : 'context canceled');
    this.name = 'RateLimitWaitError';
  }
}

export class TokenBucket {
  readonly qps: number;
  readonly burst: number;
  readonly stats: TokenBucketStats = { immediate: 0, waited: 0, refused: 0 };
  private tokens: number;
  private last: number;
  private readonly clock: () => number;

  constructor(o: TokenBucketOptions) {
    if (!(o.qps >= 0) || !(o.burst >= 1)) throw new RangeError(`invalid rate limit qps=${o.qps} burst=${o.burst}`);
    this.qps = o.qps;
    this.burst = Math.floor(o.burst);
    this.clock = o.clock ?? (() => performance.now());
    this.tokens = this.burst;
    this.last = this.clock();
  }

  get enabled(): boolean {
    return this.qps > 0 && Number.isFinite(this.qps);
  }

  private refill(): void {
    const now = this.clock();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.qps);
    this.last = now;
  }

  /**
   * Takes one token, waiting if necessary. `deadlineMs` is an absolute
   * Date.now()-based time. Resolves with the time waited (ms).
   */
  async take(deadlineMs: number, signal?: AbortSignal): Promise<number> {
    if (!this.enabled) return 0;
    if (signal?.aborted) {
      this.stats.refused++;
      throw new RateLimitWaitError('cancelled');
    }
    this.refill();
    if (this.tokens >= 1) {
      this.tokens -= 1;
      this.stats.immediate++;
      return 0;
    }
    const waitMs = ((1 - this.tokens) / this.qps) * 1000;
    if (Date.now() + waitMs > deadlineMs) {
      this.stats.refused++;
      throw new RateLimitWaitError('deadline');
    }
    this.tokens -= 1; // reserve
    this.stats.waited++;
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        clearTimeout(timer);
        this.tokens += 1; // give the reservation back
        this.stats.waited--;
        this.stats.refused++;
        reject(new RateLimitWaitError('cancelled'));
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, Math.ceil(waitMs));
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    return waitMs;
  }
}

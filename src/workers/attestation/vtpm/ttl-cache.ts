/**
 * A small cache for the results of cloud lookups made by the vTPM variant
 * policies (GCE shielded instance identities, EC2 image attributes):
 *
 * - entries expire `ttlMs` after they were stored;
 * - single-flight: concurrent `get`s of a key that is not cached share one
 *   load (one network request), and all of them see its result or error;
 * - failed loads are not cached (the next `get` tries again);
 * - bounded: at most `maxEntries` values are kept; inserting beyond that drops
 *   expired entries first, then the least recently used ones.
 *
 * The verification runs inside pool worker threads, so a cache lives per
 * worker (each worker warms its own); that is accepted — it only costs a few
 * more lookups right after start-up.
 */

export interface TtlCacheOptions {
  /** Lifetime of a stored value, in milliseconds (> 0). */
  ttlMs: number;
  /** Largest number of stored values (≥ 1). */
  maxEntries: number;
  /** Clock in milliseconds; monotonic by default (performance.now). */
  now?: () => number;
}

export interface TtlCacheGetOptions<V> {
  /**
   * Called on a cache hit with the stored value and its age; returning false
   * treats the hit as a miss (the value is reloaded, single-flight as usual).
   */
  reuse?: (value: V, ageMs: number) => boolean;
}

interface Entry<V> {
  value: V;
  storedAt: number;
}

export class TtlCache<V> {
  private readonly entries = new Map<string, Entry<V>>();
  private readonly inflight = new Map<string, Promise<V>>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(o: TtlCacheOptions) {
    if (!(o.ttlMs > 0) || !Number.isFinite(o.ttlMs)) throw new RangeError(`ttlMs must be a positive number, got ${o.ttlMs}`);
    if (!Number.isInteger(o.maxEntries) || o.maxEntries < 1) throw new RangeError(`maxEntries must be a positive integer, got ${o.maxEntries}`);
    this.ttlMs = o.ttlMs;
    this.maxEntries = o.maxEntries;
    this.now = o.now ?? (() => performance.now());
  }

  /** The cached value of `key`, or the result of `load()` (shared with concurrent callers of the same key). */
  get(key: string, load: () => Promise<V>, opts: TtlCacheGetOptions<V> = {}): Promise<V> {
    const entry = this.entries.get(key);
    if (entry) {
      const age = this.now() - entry.storedAt;
      if (age < this.ttlMs && age >= 0 && (!opts.reuse || opts.reuse(entry.value, age))) {
        // Refresh the LRU position.
        this.entries.delete(key);
        this.entries.set(key, entry);
        return Promise.resolve(entry.value);
      }
    }
    const pending = this.inflight.get(key);
    if (pending) return pending;

    let p: Promise<V>;
    try {
      p = load();
    } catch (err) {
      p = Promise.reject(err);
    }
    const shared = p.then(
      (value) => {
        this.inflight.delete(key);
        this.store(key, value);
        return value;
      },
      (err: unknown) => {
        this.inflight.delete(key);
        throw err;
      },
    );
    this.inflight.set(key, shared);
    return shared;
  }

  /** Whether a fresh value for `key` is stored (no load is started). */
  has(key: string): boolean {
    const entry = this.entries.get(key);
    if (!entry) return false;
    const age = this.now() - entry.storedAt;
    return age >= 0 && age < this.ttlMs;
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }

  /** Number of stored values (expired ones included until they are evicted). */
  get size(): number {
    return this.entries.size;
  }

  private store(key: string, value: V): void {
    const now = this.now();
    this.entries.delete(key);
    this.entries.set(key, { value, storedAt: now });
    if (this.entries.size <= this.maxEntries) return;
    for (const [k, e] of this.entries) {
      const age = now - e.storedAt;
      if (age >= this.ttlMs || age < 0) this.entries.delete(k);
    }
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }
}

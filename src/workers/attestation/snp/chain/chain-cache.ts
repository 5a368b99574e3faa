/**
 * A bounded LRU cache of verified SEV-SNP certificate chains, so the per-join
 * cost for a chip seen before is a SHA-256 over the presented DERs, a map
 * lookup and the validity re-check — then only the report's P-384 signature
 * (report-signature.ts) and the vTPM quote remain.
 *
 * Key: SHA-256 over (trust identity, signer, the report's product line hint,
 * the node's ARK, the node's ASK/ASVK, the VCEK/VLEK), each length-prefixed —
 * everything verifySnpChain's result depends on except the clock. The value
 * is the VerifiedSnpChain (the imported VCEK/VLEK KeyObject, the KDS
 * extensions, the validity windows). A hit re-checks every validity window
 * against the clock, so an entry never outlives its certificates; failures
 * are not cached (each failed attempt costs a full verification, bounded by
 * the pool's queue). Per worker thread; entries of an old config generation
 * age out (their trust identity is no longer asked for).
 */
import { createHash } from 'node:crypto';
import { checkSnpChainValidity, verifySnpChain, type AmdTrust, type SnpChainInput, type VerifiedSnpChain } from './verify-chain.js';

export const DEFAULT_SNP_CHAIN_CACHE_ENTRIES = 1024;

const EMPTY = new Uint8Array(0);

function lengthPrefix(n: number): Uint8Array {
  return Uint8Array.of((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

/** The cache key of a chain input under a trust configuration (base64 SHA-256). */
export function snpChainCacheKey(input: SnpChainInput, trust: AmdTrust): string {
  const h = createHash('sha256');
  h.update(`snp-chain/v1\0${trust.id}\0${input.signer}\0${input.reportProductLine ?? '-'}\0`);
  for (const part of [input.ark ?? EMPTY, input.intermediate ?? EMPTY, input.endorsement]) {
    h.update(lengthPrefix(part.length));
    h.update(part);
  }
  return h.digest('base64');
}

export interface SnpChainCacheStats {
  size: number;
  hits: number;
  misses: number;
}

export class SnpChainCache {
  private readonly entries = new Map<string, VerifiedSnpChain>();
  private hits = 0;
  private misses = 0;

  constructor(readonly maxEntries: number = DEFAULT_SNP_CHAIN_CACHE_ENTRIES) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError(`maxEntries must be a positive integer, got ${maxEntries}`);
  }

  /**
   * verifySnpChain with caching: a hit costs the key hash, the lookup and the
   * validity re-check (which throws exactly as a full verification would);
   * a miss verifies and stores the result.
   */
  verify(input: SnpChainInput, trust: AmdTrust, nowMs: number): VerifiedSnpChain {
    const key = snpChainCacheKey(input, trust);
    const hit = this.entries.get(key);
    if (hit) {
      this.hits++;
      this.entries.delete(key);
      this.entries.set(key, hit);
      checkSnpChainValidity(hit, nowMs);
      return hit;
    }
    this.misses++;
    const verified = Object.freeze(verifySnpChain(input, trust, nowMs));
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(key, verified);
    return verified;
  }

  stats(): SnpChainCacheStats {
    return { size: this.entries.size, hits: this.hits, misses: this.misses };
  }

  clear(): void {
    this.entries.clear();
    this.hits = 0;
    this.misses = 0;
  }
}

/** The worker thread's shared cache. */
export const defaultSnpChainCache = new SnpChainCache();

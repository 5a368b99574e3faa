import { randomBytes } from 'node:crypto';

interface PendingNonce {
  nonce: Buffer;
  expiresAt: number;
}

export type IssueNonceResult = { ok: true; nonce: Buffer } | { ok: false; reason: 'duplicate' | 'full' };

/**
 * Server nonces of handshakes in flight, keyed by the client's SNI (its
 * base64 client nonce: random per connection, so a collision means a replayed
 * or crafted ClientHello). SNICallback gets no socket, so the SNI is the only
 * key that links the ClientHello to the finished connection. Each nonce is
 * taken at most once and expires with the handshake timeout.
 */
export class NonceStore {
  private readonly pending = new Map<string, PendingNonce>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxPending: number,
  ) {}

  /** Issues a fresh nonce for `sni` (`nonce`: one drawn by the caller from a CSPRNG, else randomBytes(32)). */
  issue(sni: string, now = Date.now(), nonce?: Buffer): IssueNonceResult {
    const existing = this.pending.get(sni);
    if (existing && existing.expiresAt > now) return { ok: false, reason: 'duplicate' };
    if (this.pending.size >= this.maxPending) {
      this.sweep(now);
      if (this.pending.size >= this.maxPending) return { ok: false, reason: 'full' };
    }
    if (nonce !== undefined && nonce.length !== 32) throw new Error(`server nonce must be 32 bytes, got ${nonce.length}`);
    const n = nonce ?? randomBytes(32);
    this.pending.set(sni, { nonce: n, expiresAt: now + this.ttlMs });
    return { ok: true, nonce: n };
  }

  /** Returns and forgets the nonce issued for `sni`, or undefined if none is live. */
  take(sni: string, now = Date.now()): Buffer | undefined {
    const p = this.pending.get(sni);
    if (!p) return undefined;
    this.pending.delete(sni);
    return p.expiresAt > now ? p.nonce : undefined;
  }

  /** Forgets a nonce whose handshake failed. */
  drop(sni: string): void {
    this.pending.delete(sni);
  }

  sweep(now = Date.now()): void {
    for (const [k, v] of this.pending) if (v.expiresAt <= now) this.pending.delete(k);
  }

  get size(): number {
    return this.pending.size;
  }
}

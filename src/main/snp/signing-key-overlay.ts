/**
 * How the start-up SEV-SNP certificate cache's ASK/ASVK reaches the workers
 * (sev-snp-attestation.md §8.2: "on every validator (re)build the cached ASK
 * is injected as `amdSigningKey`, overriding the config's value").
 *
 * Mechanism: the workers build a validator per config generation from the
 * config *text* each task carries. The overlay wraps the config source's
 * `current()`: once an ASK is known, the text handed to the workers is the
 * config with `amdSigningKey` replaced by it (re-serialised once per
 * generation and remembered). Nothing else changes; validation, reload and
 * the trial build still see the file's text.
 *
 * A worker caches its validator per generation number, so the text of a
 * number must never change once a worker may have seen it. When the ASK
 * arrives after verifications already started (the cache was not ready
 * within serve's start-up wait, e.g. AMD KDS was unreachable and a background
 * retry succeeded), every later ref carries generation + 1: numbers handed
 * out before were ≤ the generation in force then, numbers after are above it,
 * so no number is reused for another text and the workers build a validator
 * with the ASK for the next verification. The shift happens at most once
 * (the cache becomes ready once) and is logged by the caller; before it, and
 * when the ASK is known from the start, generations are the config source's.
 */
import type { AttestationConfigRef } from '../../shared/worker-protocol.js';

export class SnpSigningKeyOverlay {
  private askPem: string | undefined;
  private served = false;
  private shift = 0;
  private last: { base: AttestationConfigRef; out: AttestationConfigRef } | undefined;

  constructor(private readonly base: () => AttestationConfigRef) {}

  /** The ref to hand to a verification task. */
  current(): AttestationConfigRef {
    const base = this.base();
    this.served = true;
    if (this.askPem === undefined) return base;
    if (this.last?.base === base) return this.last.out;
    const out = { generation: base.generation + this.shift, text: overlayAmdSigningKey(base.text, this.askPem) };
    this.last = { base, out };
    return out;
  }

  /**
   * Makes `askPem` the `amdSigningKey` of every later verification. Returns
   * the generation offset now in force (0, or 1 when refs without the ASK
   * were already handed out). Later calls with another ASK are ignored.
   */
  setSigningKey(askPem: string): number {
    if (this.askPem !== undefined) return this.shift;
    this.askPem = askPem;
    if (this.served) this.shift = 1;
    this.last = undefined;
    return this.shift;
  }

  get signingKey(): string | undefined {
    return this.askPem;
  }

  /** 0, or 1 after a late ASK (see the module comment). */
  get generationOffset(): number {
    return this.shift;
  }
}

/**
 * The config text with `amdSigningKey` set to `askPem` (added when absent).
 * The text passed the config validation (a JSON object without duplicate or
 * case-variant keys), so JSON.parse/stringify keep its meaning; a text that
 * does not parse is returned unchanged (the worker reports it).
 */
export function overlayAmdSigningKey(text: string, askPem: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return text;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return text;
  return JSON.stringify({ ...(parsed as Record<string, unknown>), amdSigningKey: askPem });
}

/**
 * Per-worker cache of built validators, keyed by (variant, config
 * generation): a config is parsed once per generation per worker, not per
 * task. A few generations are kept because tasks started before a reload may
 * still arrive with the previous one. Build failures are cached too, so a bad
 * config is not re-parsed for every handshake.
 */
import { toJoinServiceError, type JoinServiceError } from '../../shared/errors.js';
import type { AttestationConfigRef } from '../../shared/worker-protocol.js';
import type { VariantName } from '../../shared/variants.js';
import { loadValidatorFactory } from './registry.js';
import type { AttestationValidator } from './validator.js';

const MAX_ENTRIES = 4;

type Entry = { ok: true; validator: AttestationValidator } | { ok: false; error: JoinServiceError };

export class ValidatorCache {
  private readonly entries = new Map<string, Entry>();

  async get(variant: VariantName, config: AttestationConfigRef): Promise<AttestationValidator> {
    const key = `${variant}\u0000${config.generation}`;
    let entry = this.entries.get(key);
    if (!entry) {
      entry = await build(variant, config.text);
      // Another task of this worker may have built it meanwhile; keep the first.
      entry = this.entries.get(key) ?? entry;
      this.entries.set(key, entry);
      while (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
    }
    if (!entry.ok) throw entry.error;
    return entry.validator;
  }

  clear(): void {
    this.entries.clear();
  }
}

async function build(variant: VariantName, configText: string): Promise<Entry> {
  try {
    const factory = await loadValidatorFactory(variant);
    return { ok: true, validator: factory(configText) };
  } catch (err) {
    return { ok: false, error: toJoinServiceError(err) };
  }
}

/**
 * azure-sev-snp's ID-key-digest enforcement (sev-snp-attestation.md §10,
 * Constellation's `checkIDKeyDigest`), run after the report policy for every
 * enforcement mode:
 *
 *   1. ID_KEY_DIGEST equals an entry of `acceptedKeyDigests` → pass;
 *   2. otherwise by `enforcementPolicy`:
 *      - MAAFallback → the MAA token decides (maa-token.ts);
 *      - WarnOnly → pass with a warning (Go logs it; here it is returned and
 *        ends up in the verdict's warnings, which the service logs);
 *      - Equal and any other value (Go's Unknown, a missing key) → reject:
 *        `configured idkeydigests [<hex> …] don't contain reported idkeydigest <hex>`.
 * The validator wraps failures as `checking IDKey digests: …`.
 *
 * Under MAAFallback an accepted token also yields a warning naming the digest
 * (Go logs this at info level), so operators see that the fallback decided.
 */
import { ErrorCode, JoinServiceError } from '../../../../shared/errors.js';
import { MaaError, maaJoinServiceError, type MaaTokenValidator } from './maa-token.js';

export type EnforcementPolicy = 'Equal' | 'MAAFallback' | 'WarnOnly' | 'Unknown';

/** `firmwareSignerConfig` of the azure-sev-snp attestation config, decoded. */
export interface FirmwareSignerConfig {
  acceptedKeyDigests: readonly Uint8Array[];
  enforcementPolicy: EnforcementPolicy;
  /** '' when absent. */
  maaUrl: string;
}

export interface IdKeyDigestContext {
  /** InstanceInfo.Azure.MAAToken ('' when the node has none). */
  maaToken: string;
  /** SHA-256(UserData ‖ nonce). */
  extraData: Uint8Array;
  maa: Pick<MaaTokenValidator, 'validate'>;
}

export interface IdKeyDigestOutcome {
  /** How the digest was accepted. */
  via: 'accepted-digest' | 'warn-only' | 'maa';
  warnings: string[];
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/** Go's `%x` of an idkeydigest.List: `[<hex> <hex>]`. */
export function goDigestList(digests: readonly Uint8Array[]): string {
  return `[${digests.map(hex).join(' ')}]`;
}

/**
 * Checks the report's ID_KEY_DIGEST (see the module comment). Throws
 * JoinServiceError with Go's text, without `checking IDKey digests: `:
 * AttestationRejected, or AttestationUpstreamUnavailable when the MAA key set
 * could not be fetched.
 */
export async function checkIdKeyDigest(reported: Uint8Array, cfg: FirmwareSignerConfig, ctx: IdKeyDigestContext): Promise<IdKeyDigestOutcome> {
  if (cfg.acceptedKeyDigests.some((d) => Buffer.from(d).equals(reported))) return { via: 'accepted-digest', warnings: [] };
  const mismatch = `idkeydigests ${goDigestList(cfg.acceptedKeyDigests)} don't contain reported idkeydigest ${hex(reported)}`;
  switch (cfg.enforcementPolicy) {
    case 'MAAFallback':
      try {
        await ctx.maa.validate(cfg.maaUrl, ctx.maaToken, ctx.extraData);
      } catch (err) {
        if (err instanceof MaaError) throw maaJoinServiceError(err, '');
        throw err;
      }
      return { via: 'maa', warnings: [`Configured ${mismatch}, accepted by the MAA token (enforcementPolicy MAAFallback)`] };
    case 'WarnOnly':
      return { via: 'warn-only', warnings: [`Configured ${mismatch}`] };
    default:
      throw new JoinServiceError(ErrorCode.AttestationRejected, `configured ${mismatch}`, {
        check: 'id-key-digest',
        enforcementPolicy: cfg.enforcementPolicy,
        reportedIdKeyDigest: hex(reported),
      });
  }
}

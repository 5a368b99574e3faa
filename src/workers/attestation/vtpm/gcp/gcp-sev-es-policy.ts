/**
 * `gcp-sev-es` (tpm-attestation.md §11.2): the trusted AK is the signing key
 * GCE registered for the instance the document names (Compute API
 * getShieldedInstanceIdentity, `signingKey.ekPub`); the CVM check requires a
 * GCE firmware version ≥ 1 and confidential technology AMD_SEV.
 *
 * Order of work in trustedAk (GAP G4): decode InstanceInfo, validate the
 * three names (no request for anything GCE cannot name), then the cached,
 * single-flight API lookup, then PEM / PKIX parsing. Go's texts:
 *   json errors (unwrapped), `retrieving VM identity: <api error>`,
 *   `received no signing key from GCP API`,
 *   `failed to decode PEM block containing public key`, x509 parse errors;
 * cvmCheck: `outdated GCE version: <v> (require >= 1)`,
 *   `unexpected confidential technology: <name> (expected: AMD_SEV)`.
 *
 * Caching: lookups are cached per instance (API base URL, project, zone,
 * name) for `cacheTtlMs`. A managed instance group recreates an instance
 * under the same name with a new vTPM, so a cached key whose public numbers
 * do not occur in the document's `ak_pub` is looked up again (at most once
 * per `staleRefreshMinAgeMs` per instance) instead of rejecting the new
 * instance until the entry expires. Policies built with default cache
 * settings share one per-worker cache (it survives config reloads, which
 * rebuild validators); passing cacheTtlMs, cacheMaxEntries or now gives the
 * policy a cache of its own.
 */
import { createPublicKey } from 'node:crypto';
import { readElement, DerError } from '../../../../shared/der/decode.js';
import { ErrorCode, JoinServiceError } from '../../../../shared/errors.js';
import { decodePem } from '../../../../shared/pem.js';
import { parseSubjectPublicKeyInfo } from '../../../certificate/public-key.js';
import { CloudApiError, type HttpTransport } from '../http-client.js';
import { TtlCache } from '../ttl-cache.js';
import { GceTechnology, type MachineState, type VtpmDocument, type VtpmVariantPolicy } from '../types.js';
import { checkGceInstanceRef, decodeGceInstanceInfo, type GceInstanceRef } from './gce-instance-info.js';
import { createGceMetadataTokenProvider, GCE_METADATA_BASE_URL, type GceTokenProvider } from './gce-token.js';
import { createShieldedIdentityClient, type ShieldedIdentityClient } from './shielded-identity-client.js';

export interface GcpSevEsPolicyOptions {
  /** Compute API base URL, default https://compute.googleapis.com (http only to loopback). */
  apiBaseUrl?: string;
  /** OAuth2 token source; default: the GCE metadata server (shared per worker). */
  tokenProvider?: GceTokenProvider;
  /** Metadata server of the default token provider, default http://169.254.169.254. */
  metadataBaseUrl?: string;
  /** Deadline of each API request, default 10 s (the token request has its own 3 s; both stay well inside the 30 s pool deadline). */
  timeoutMs?: number;
  /** Largest accepted API response, default 256 KiB. */
  maxResponseBytes?: number;
  /** Lifetime of a cached lookup, default 5 min. */
  cacheTtlMs?: number;
  /** Most cached instances, default 1024. */
  cacheMaxEntries?: number;
  /** A cached key that cannot match the document is re-fetched only if it is at least this old; default 5 s. */
  staleRefreshMinAgeMs?: number;
  /** Monotonic clock in ms for the cache (default performance.now). */
  now?: () => number;
  /** Replaces the HTTP client entirely (then apiBaseUrl/tokenProvider/timeoutMs are not used). */
  client?: ShieldedIdentityClient;
  transport?: HttpTransport;
}

export const DEFAULT_GCP_CACHE_TTL_MS = 5 * 60_000;
export const DEFAULT_GCP_CACHE_MAX_ENTRIES = 1024;
export const DEFAULT_STALE_REFRESH_MIN_AGE_MS = 5_000;
export const MINIMUM_GCE_VERSION = 1;

/** The outcome of one lookup, as cached. */
type CachedIdentity =
  | { kind: 'no-key' }
  | { kind: 'bad-pem' }
  | { kind: 'bad-key'; message: string }
  | { kind: 'key'; spki: Uint8Array; material: Uint8Array[] };

let sharedCache: TtlCache<CachedIdentity> | undefined;
const sharedTokenProviders = new Map<string, GceTokenProvider>();

function defaultTokenProvider(metadataBaseUrl: string): GceTokenProvider {
  let p = sharedTokenProviders.get(metadataBaseUrl);
  if (!p) {
    p = createGceMetadataTokenProvider({ metadataBaseUrl });
    sharedTokenProviders.set(metadataBaseUrl, p);
  }
  return p;
}

export function createGcpSevEsPolicy(o: GcpSevEsPolicyOptions = {}): VtpmVariantPolicy {
  const client =
    o.client ??
    createShieldedIdentityClient({
      apiBaseUrl: o.apiBaseUrl,
      tokenProvider: o.tokenProvider ?? defaultTokenProvider(o.metadataBaseUrl ?? GCE_METADATA_BASE_URL),
      timeoutMs: o.timeoutMs,
      maxResponseBytes: o.maxResponseBytes,
      transport: o.transport,
    });
  const ownCache = o.cacheTtlMs !== undefined || o.cacheMaxEntries !== undefined || o.now !== undefined;
  const cache = ownCache
    ? new TtlCache<CachedIdentity>({
        ttlMs: o.cacheTtlMs ?? DEFAULT_GCP_CACHE_TTL_MS,
        maxEntries: o.cacheMaxEntries ?? DEFAULT_GCP_CACHE_MAX_ENTRIES,
        now: o.now,
      })
    : (sharedCache ??= new TtlCache<CachedIdentity>({ ttlMs: DEFAULT_GCP_CACHE_TTL_MS, maxEntries: DEFAULT_GCP_CACHE_MAX_ENTRIES }));
  const staleMinAge = o.staleRefreshMinAgeMs ?? DEFAULT_STALE_REFRESH_MIN_AGE_MS;

  const lookup = (ref: GceInstanceRef, akPub: Uint8Array): Promise<CachedIdentity> => {
    const key = [client.apiBaseUrl, ref.projectId, ref.zone, ref.instanceName].join('\u0000');
    return cache.get(key, async () => interpret((await client.getShieldedInstanceIdentity(ref)).signingKeyEkPub), {
      reuse: (v, age) => v.kind !== 'key' || age < staleMinAge || keyMayMatch(v.material, akPub),
    });
  };

  return {
    async trustedAk(doc: VtpmDocument): Promise<Uint8Array> {
      let info;
      try {
        info = decodeGceInstanceInfo(doc.instanceInfo);
      } catch (err) {
        throw new JoinServiceError(ErrorCode.AttestationMalformed, (err as Error).message, undefined, { cause: err });
      }
      let ref: GceInstanceRef;
      try {
        ref = checkGceInstanceRef(info);
      } catch (err) {
        // Go would send these names to the API and fail there ("retrieving VM identity: googleapi: …").
        throw new JoinServiceError(ErrorCode.AttestationRejected, `retrieving VM identity: ${(err as Error).message}`);
      }
      let identity: CachedIdentity;
      try {
        identity = await lookup(ref, doc.attestation.akPub);
      } catch (err) {
        if (!(err instanceof CloudApiError)) throw err;
        throw new JoinServiceError(
          err.upstream ? ErrorCode.AttestationUpstreamUnavailable : ErrorCode.AttestationRejected,
          `retrieving VM identity: ${err.message}`,
          { project: ref.projectId, zone: ref.zone, instance: ref.instanceName, ...(err.httpStatus !== undefined ? { httpStatus: err.httpStatus } : {}) },
          { cause: err },
        );
      }
      switch (identity.kind) {
        case 'no-key':
          throw new JoinServiceError(ErrorCode.AttestationRejected, 'received no signing key from GCP API');
        case 'bad-pem':
          throw new JoinServiceError(ErrorCode.AttestationRejected, 'failed to decode PEM block containing public key');
        case 'bad-key':
          throw new JoinServiceError(ErrorCode.AttestationRejected, identity.message);
        case 'key':
          return identity.spki.slice();
      }
    },

    cvmCheck(_doc: VtpmDocument, state: MachineState): Promise<void> {
      try {
        validateCvm(state);
        return Promise.resolve();
      } catch (err) {
        return Promise.reject(err as Error);
      }
    },
  };
}

/**
 * Whether the public numbers of a cached key all occur in the document's
 * TPMT_PUBLIC (a necessary condition for the pipeline's key comparison to
 * succeed). Keys without extracted numbers always pass.
 */
function keyMayMatch(material: readonly Uint8Array[], akPub: Uint8Array): boolean {
  const hay = Buffer.from(akPub.buffer, akPub.byteOffset, akPub.byteLength);
  return material.every((m) => hay.indexOf(m) >= 0);
}

/** Go's validateCVM for gcp-sev-es. */
export function validateCvm(state: MachineState): void {
  const gceVersion = state.platform.gceVersion ?? 0;
  if (gceVersion < MINIMUM_GCE_VERSION) {
    throw new JoinServiceError(ErrorCode.AttestationRejected, `outdated GCE version: ${gceVersion} (require >= ${MINIMUM_GCE_VERSION})`);
  }
  const tech = state.platform.technology;
  if (tech !== GceTechnology.AMD_SEV) {
    throw new JoinServiceError(
      ErrorCode.AttestationRejected,
      `unexpected confidential technology: ${technologyName(tech)} (expected: ${technologyName(GceTechnology.AMD_SEV)})`,
    );
  }
}

const TECHNOLOGY_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(GceTechnology).map(([name, value]) => [value, name]));

/** protobuf-go's String() of attest.GCEConfidentialTechnology: the value name, or the number when unknown. */
export function technologyName(t: number): string {
  return TECHNOLOGY_NAMES.get(t) ?? String(t);
}

/** Turns `signingKey.ekPub` into the cached outcome: Go's pem.Decode + type check + x509.ParsePKIXPublicKey. */
function interpret(ekPub: string | undefined): CachedIdentity {
  if (ekPub === undefined) return { kind: 'no-key' };
  const block = decodePem(ekPub)?.block;
  if (!block || block.type !== 'PUBLIC KEY') return { kind: 'bad-pem' };
  try {
    return { kind: 'key', ...parsePkixPublicKey(block.bytes) };
  } catch (err) {
    return { kind: 'bad-key', message: (err as Error).message };
  }
}

/**
 * x509.ParsePKIXPublicKey with Go's texts where they are simple; the key is
 * returned re-encoded by node:crypto (canonical SPKI DER) together with its
 * public numbers (RSA modulus, EC coordinates), used to spot stale cache
 * entries.
 */
export function parsePkixPublicKey(der: Uint8Array): { spki: Uint8Array; material: Uint8Array[] } {
  let el;
  try {
    el = readElement(der, 0);
  } catch (err) {
    throw new Error(`asn1: structure error: ${err instanceof DerError ? err.message : String(err)}`);
  }
  if (el.tag !== 0x30) throw new Error('asn1: structure error: tags don\'t match (16 vs {class:0 tag:' + (el.tag & 0x1f) + '})');
  if (el.end !== der.length) throw new Error('x509: trailing data after ASN.1 of public-key');
  let info;
  try {
    info = parseSubjectPublicKeyInfo(el);
  } catch (err) {
    throw new Error((err as Error).message);
  }
  if (info.algorithm === 'unknown') throw new Error('x509: unknown public key algorithm');
  let key;
  try {
    key = createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' });
  } catch {
    throw new Error(`x509: invalid ${info.algorithm} public key`);
  }
  const spki = new Uint8Array(key.export({ format: 'der', type: 'spki' }));
  const jwk = key.export({ format: 'jwk' });
  const material: Uint8Array[] = [];
  if (jwk.kty === 'RSA' && typeof jwk.n === 'string') material.push(Buffer.from(jwk.n, 'base64url'));
  if (jwk.kty === 'EC' && typeof jwk.x === 'string' && typeof jwk.y === 'string') {
    material.push(Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url'));
  }
  return { spki, material };
}

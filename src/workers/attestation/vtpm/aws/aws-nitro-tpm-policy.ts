/**
 * `aws-nitro-tpm` (tpm-attestation.md §11.4): the document's own AK is
 * trusted (AWS offers no AK endorsement); the CVM check asks EC2 whether the
 * AMI the instance identity document names supports NitroTPM
 * (DescribeImages → first image's `tpmSupport == "v2.0"`).
 *
 * cvmCheck, in order (all local work before the network):
 * 1. decode InstanceInfo (Go's json texts, unwrapped);
 * 2. validate `region` as a plain AWS region name — it becomes part of the
 *    EC2 host name (GAP G3) — and `imageId` as an AMI ID;
 * 3. DescribeImages, cached per (endpoint, region, image) with single-flight
 *    and time-boxed; an empty result is a rejection (Go indexes it and
 *    panics, GAP G3);
 * 4. `iam image <id> does not support TPM v2.0` unless the first image says v2.0.
 *
 * Policies built with default cache settings share one per-worker cache;
 * passing cacheTtlMs, cacheMaxEntries or now gives the policy its own.
 */
import { ErrorCode, JoinServiceError } from '../../../../shared/errors.js';
import { checkApiBaseUrl, CloudApiError, quoteCapped, type HttpTransport } from '../http-client.js';
import { TtlCache } from '../ttl-cache.js';
import type { MachineState, VtpmDocument, VtpmVariantPolicy } from '../types.js';
import { createDefaultCredentialsProvider, type AwsCredentialsProvider } from './aws-credentials.js';
import { createEc2Client, type Ec2ImageClient } from './ec2-client.js';
import { decodeInstanceIdentityDocument, isValidAwsRegion, isValidImageId, type InstanceIdentityDocument } from './instance-identity.js';

export interface AwsNitroTpmPolicyOptions {
  /** EC2 endpoint for every region (tests: a loopback fake); default per region `https://ec2.<region>.amazonaws.com`. */
  ec2BaseUrl?: string;
  /** EC2 endpoint per region (overrides ec2BaseUrl). */
  endpointFor?: (region: string) => string;
  /** Default: environment credentials, else the IMDSv2 instance role (shared per worker). */
  credentialsProvider?: AwsCredentialsProvider;
  /** IMDS of the default credentials provider, default http://169.254.169.254. */
  imdsBaseUrl?: string;
  /** Deadline of the DescribeImages request, default 10 s. */
  timeoutMs?: number;
  /** Largest accepted DescribeImages response, default 1 MiB. */
  maxResponseBytes?: number;
  /** Lifetime of a cached DescribeImages result, default 10 min. */
  cacheTtlMs?: number;
  /** Most cached images, default 256. */
  cacheMaxEntries?: number;
  /** Monotonic clock in ms for the cache (default performance.now). */
  now?: () => number;
  /** Wall clock for SigV4 (default `new Date()`). */
  clock?: () => Date;
  /** Replaces the EC2 client entirely. */
  client?: Ec2ImageClient;
  transport?: HttpTransport;
}

export const DEFAULT_AWS_CACHE_TTL_MS = 10 * 60_000;
export const DEFAULT_AWS_CACHE_MAX_ENTRIES = 256;

/** What is cached of one DescribeImages answer. */
interface ImageLookup {
  count: number;
  firstTpmSupport: string | undefined;
}

let sharedCache: TtlCache<ImageLookup> | undefined;
const sharedCredentialProviders = new Map<string, AwsCredentialsProvider>();

function defaultCredentialsProvider(imdsBaseUrl: string | undefined): AwsCredentialsProvider {
  const key = imdsBaseUrl ?? '';
  let p = sharedCredentialProviders.get(key);
  if (!p) {
    p = createDefaultCredentialsProvider(imdsBaseUrl === undefined ? {} : { imdsBaseUrl });
    sharedCredentialProviders.set(key, p);
  }
  return p;
}

export function createAwsNitroTpmPolicy(o: AwsNitroTpmPolicyOptions = {}): VtpmVariantPolicy {
  const fixedEndpoint = o.ec2BaseUrl === undefined ? undefined : checkApiBaseUrl(o.ec2BaseUrl, 'EC2 endpoint');
  const client =
    o.client ??
    createEc2Client({
      endpointFor: o.endpointFor ?? (fixedEndpoint !== undefined ? () => fixedEndpoint : undefined),
      credentialsProvider: o.credentialsProvider ?? defaultCredentialsProvider(o.imdsBaseUrl),
      timeoutMs: o.timeoutMs,
      maxResponseBytes: o.maxResponseBytes,
      clock: o.clock,
      transport: o.transport,
    });
  const ownCache = o.cacheTtlMs !== undefined || o.cacheMaxEntries !== undefined || o.now !== undefined;
  const cache = ownCache
    ? new TtlCache<ImageLookup>({ ttlMs: o.cacheTtlMs ?? DEFAULT_AWS_CACHE_TTL_MS, maxEntries: o.cacheMaxEntries ?? DEFAULT_AWS_CACHE_MAX_ENTRIES, now: o.now })
    : (sharedCache ??= new TtlCache<ImageLookup>({ ttlMs: DEFAULT_AWS_CACHE_TTL_MS, maxEntries: DEFAULT_AWS_CACHE_MAX_ENTRIES }));

  return {
    trustedAk(): Promise<'document'> {
      return Promise.resolve('document');
    },

    async cvmCheck(doc: VtpmDocument, _state: MachineState): Promise<void> {
      let id: InstanceIdentityDocument;
      try {
        id = decodeInstanceIdentityDocument(doc.instanceInfo);
      } catch (err) {
        throw new JoinServiceError(ErrorCode.AttestationMalformed, (err as Error).message, undefined, { cause: err });
      }
      const { region, imageId } = id;
      if (!isValidAwsRegion(region)) throw new JoinServiceError(ErrorCode.AttestationRejected, `invalid region ${quoteCapped(region)} in instance identity document`);
      if (!isValidImageId(imageId)) throw new JoinServiceError(ErrorCode.AttestationRejected, `invalid image ID ${quoteCapped(imageId)} in instance identity document`);

      let endpoint: string;
      try {
        endpoint = client.endpointFor(region);
      } catch (err) {
        throw new JoinServiceError(ErrorCode.ConfigInvalid, (err as Error).message, { region }, { cause: err });
      }
      let lookup: ImageLookup;
      try {
        lookup = await cache.get([endpoint, region, imageId].join('\u0000'), async () => {
          const images = await client.describeImages(region, imageId);
          return { count: images.length, firstTpmSupport: images[0]?.tpmSupport };
        });
      } catch (err) {
        if (!(err instanceof CloudApiError)) throw err;
        throw new JoinServiceError(
          err.upstream ? ErrorCode.AttestationUpstreamUnavailable : ErrorCode.AttestationRejected,
          err.message,
          { region, imageId, ...(err.httpStatus !== undefined ? { httpStatus: err.httpStatus } : {}) },
          { cause: err },
        );
      }
      if (lookup.count === 0) {
        throw new JoinServiceError(ErrorCode.AttestationRejected, `iam image ${imageId} not found: DescribeImages returned no images`, { region, imageId });
      }
      if (lookup.firstTpmSupport !== 'v2.0') {
        throw new JoinServiceError(ErrorCode.AttestationRejected, `iam image ${imageId} does not support TPM v2.0`, { region, imageId });
      }
    },
  };
}

/**
 * Credentials for the EC2 DescribeImages call of `aws-nitro-tpm`: the part of
 * the AWS SDK's default chain a join service on EC2 uses —
 *
 * 1. environment: `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY`
 *    (+ `AWS_SESSION_TOKEN`), read when the provider is created;
 * 2. otherwise the instance role through IMDSv2:
 *    `PUT /latest/api/token` (`X-aws-ec2-metadata-token-ttl-seconds`),
 *    `GET /latest/meta-data/iam/security-credentials/` → role name,
 *    `GET /latest/meta-data/iam/security-credentials/<role>` →
 *    `{"Code":"Success","AccessKeyId":…,"SecretAccessKey":…,"Token":…,"Expiration":…}`;
 *    cached until `refreshMarginMs` before `Expiration`, concurrent callers
 *    share one refresh.
 *
 * Secrets never appear in error messages.
 */
import { capText, HttpFailure, metadataHttpTransport, type HttpResponse, type HttpTransport } from '../http-client.js';
import type { AwsCredentials } from './sigv4.js';

export type { AwsCredentials } from './sigv4.js';

export interface AwsCredentialsProvider {
  getCredentials(): Promise<AwsCredentials>;
}

/** Failure to obtain credentials; never contains secrets. */
export class AwsCredentialsError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AwsCredentialsError';
  }
}

export const AWS_IMDS_BASE_URL = 'http://169.254.169.254';
const IMDS_TOKEN_TTL_SECONDS = 21_600;
const DEFAULT_IMDS_TIMEOUT_MS = 2_000;
const DEFAULT_IMDS_MAX_BYTES = 64 * 1024;
const DEFAULT_REFRESH_MARGIN_MS = 5 * 60_000;

const HEADER_SAFE = /^[\x21-\x7e]+$/;

function checkCredentials(c: AwsCredentials, source: string): AwsCredentials {
  if (!HEADER_SAFE.test(c.accessKeyId) || c.accessKeyId.length > 128) throw new AwsCredentialsError(`${source}: invalid access key ID`);
  if (!HEADER_SAFE.test(c.secretAccessKey) || c.secretAccessKey.length > 1024) throw new AwsCredentialsError(`${source}: invalid secret access key`);
  if (c.sessionToken !== undefined && (!HEADER_SAFE.test(c.sessionToken) || c.sessionToken.length > 16384)) {
    throw new AwsCredentialsError(`${source}: invalid session token`);
  }
  return c;
}

export function staticCredentialsProvider(c: AwsCredentials): AwsCredentialsProvider {
  const checked = checkCredentials(c, 'static credentials');
  return { getCredentials: () => Promise.resolve(checked) };
}

/** Credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, or undefined when the first two are not both set. */
export function envCredentials(env: Readonly<Record<string, string | undefined>> = process.env): AwsCredentials | undefined {
  const accessKeyId = env['AWS_ACCESS_KEY_ID'];
  const secretAccessKey = env['AWS_SECRET_ACCESS_KEY'];
  if (!accessKeyId || !secretAccessKey) return undefined;
  const sessionToken = env['AWS_SESSION_TOKEN'] || undefined;
  return checkCredentials({ accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) }, 'environment credentials');
}

export interface ImdsCredentialsProviderOptions {
  /** Default http://169.254.169.254 (tests: a loopback fake). */
  imdsBaseUrl?: string;
  /** Per-request deadline, default 2 s (IMDS is link-local). */
  timeoutMs?: number;
  maxResponseBytes?: number;
  /** Refresh this long before `Expiration`, default 5 min. */
  refreshMarginMs?: number;
  /** Wall clock in ms since the epoch (Expiration is absolute); default Date.now. */
  clock?: () => number;
  transport?: HttpTransport;
}

export function createImdsCredentialsProvider(o: ImdsCredentialsProviderOptions = {}): AwsCredentialsProvider {
  const base = (o.imdsBaseUrl ?? AWS_IMDS_BASE_URL).replace(/\/+$/, '');
  const timeoutMs = o.timeoutMs ?? DEFAULT_IMDS_TIMEOUT_MS;
  const maxResponseBytes = o.maxResponseBytes ?? DEFAULT_IMDS_MAX_BYTES;
  const margin = o.refreshMarginMs ?? DEFAULT_REFRESH_MARGIN_MS;
  const clock = o.clock ?? Date.now;
  const transport = o.transport ?? metadataHttpTransport;

  let cached: AwsCredentials | undefined;
  let inflight: Promise<AwsCredentials> | undefined;

  const call = async (method: 'GET' | 'PUT', path: string, headers: Record<string, string>): Promise<string> => {
    let res: HttpResponse;
    try {
      res = await transport({ method, url: `${base}${path}`, headers, timeoutMs, maxResponseBytes });
    } catch (err) {
      throw new AwsCredentialsError(`EC2 IMDS: ${err instanceof HttpFailure ? err.message : String(err)}`, { cause: err });
    }
    if (res.status !== 200) {
      // Bodies of these paths carry no secrets on error; still, quote only a little.
      throw new AwsCredentialsError(`EC2 IMDS: ${method} ${path}: status ${res.status}: ${JSON.stringify(capText(res.body.toString('utf8').trim(), 120))}`);
    }
    return res.body.toString('utf8');
  };

  const refresh = async (): Promise<AwsCredentials> => {
    const token = (await call('PUT', '/latest/api/token', { 'X-aws-ec2-metadata-token-ttl-seconds': String(IMDS_TOKEN_TTL_SECONDS) })).trim();
    if (!HEADER_SAFE.test(token)) throw new AwsCredentialsError('EC2 IMDS: unusable session token');
    const auth = { 'X-aws-ec2-metadata-token': token };
    const roles = (await call('GET', '/latest/meta-data/iam/security-credentials/', auth)).split('\n').map((l) => l.trim());
    const role = roles.find((l) => l !== '');
    if (role === undefined) throw new AwsCredentialsError('no EC2 IMDS role found');
    if (!/^[\w+=,.@-]{1,128}$/.test(role)) throw new AwsCredentialsError(`EC2 IMDS: invalid role name ${JSON.stringify(capText(role, 64))}`);
    const body = await call('GET', `/latest/meta-data/iam/security-credentials/${encodeURIComponent(role)}`, auth);
    let doc: unknown;
    try {
      doc = JSON.parse(body);
    } catch {
      throw new AwsCredentialsError('EC2 IMDS: role credentials are not JSON');
    }
    const rec = doc !== null && typeof doc === 'object' && !Array.isArray(doc) ? (doc as Record<string, unknown>) : {};
    if (rec['Code'] !== undefined && rec['Code'] !== 'Success') {
      throw new AwsCredentialsError(`EC2 IMDS: role credentials not available: ${JSON.stringify(capText(String(rec['Code']), 64))}`);
    }
    const { AccessKeyId: accessKeyId, SecretAccessKey: secretAccessKey, Token: sessionToken, Expiration: expiration } = rec;
    if (typeof accessKeyId !== 'string' || typeof secretAccessKey !== 'string') {
      throw new AwsCredentialsError('EC2 IMDS: role credentials lack AccessKeyId/SecretAccessKey');
    }
    const expiresAt = typeof expiration === 'string' ? Date.parse(expiration) : NaN;
    const creds = checkCredentials(
      {
        accessKeyId,
        secretAccessKey,
        ...(typeof sessionToken === 'string' && sessionToken !== '' ? { sessionToken } : {}),
        ...(Number.isFinite(expiresAt) ? { expiresAt } : {}),
      },
      'EC2 IMDS role credentials',
    );
    // Without a usable expiry the credentials serve this request only.
    cached = creds.expiresAt !== undefined && creds.expiresAt - margin > clock() ? creds : undefined;
    return creds;
  };

  return {
    getCredentials() {
      if (cached && cached.expiresAt !== undefined && cached.expiresAt - margin > clock()) return Promise.resolve(cached);
      inflight ??= refresh().finally(() => {
        inflight = undefined;
      });
      return inflight;
    },
  };
}

export interface DefaultCredentialsProviderOptions extends ImdsCredentialsProviderOptions {
  /** Environment to read, default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
}

/** Environment credentials when set, otherwise the IMDSv2 instance role. */
export function createDefaultCredentialsProvider(o: DefaultCredentialsProviderOptions = {}): AwsCredentialsProvider {
  const fromEnv = envCredentials(o.env ?? process.env);
  return fromEnv ? staticCredentialsProvider(fromEnv) : createImdsCredentialsProvider(o);
}

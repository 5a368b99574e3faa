/**
 * AWS Signature Version 4 (header form) with node:crypto, as needed for the
 * EC2 Query API: canonical request → string to sign → HMAC-SHA256 chain
 * `AWS4<secret>` → date → region → service → `aws4_request`.
 *
 * - canonical URI: each path segment URI-encoded once (RFC 3986 unreserved
 *   characters kept), no normalisation beyond that;
 * - canonical query: parameters URI-encoded, sorted by name then value;
 * - canonical headers: lower-cased names, values trimmed with inner runs of
 *   spaces collapsed, sorted by name, repeated names joined with `,`; every
 *   header given to `signV4` is signed, plus `host` and `x-amz-date`, plus
 *   `x-amz-security-token` when the credentials carry a session token (the
 *   test suite's post-sts-header-before form, which EC2 accepts);
 * - payload hash: hex SHA-256 of the body.
 *
 * Checked against the published examples of the AWS SigV4 test suite
 * (test/unit/vtpm-aws-policy.test.ts).
 */
import { createHash, createHmac } from 'node:crypto';

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** Wall-clock expiry (ms since the epoch) of temporary credentials. */
  expiresAt?: number;
}

export interface SigV4Request {
  method: string;
  /** Host header value (host[:port]). */
  host: string;
  /** Unencoded absolute path, e.g. `/`. */
  path: string;
  query?: ReadonlyArray<readonly [string, string]>;
  /** Extra headers to sign and send (e.g. content-type); never host / x-amz-date. */
  headers?: Readonly<Record<string, string>>;
  body: string | Uint8Array;
}

export interface SigV4Params {
  credentials: AwsCredentials;
  region: string;
  service: string;
  date: Date;
}

export interface SignedRequest {
  /** Headers to send (the given ones plus X-Amz-Date, X-Amz-Security-Token, Authorization); Host is left to the transport. */
  headers: Record<string, string>;
  canonicalRequest: string;
  stringToSign: string;
  signedHeaders: string;
  signature: string;
  authorization: string;
}

/** RFC 3986 percent-encoding as SigV4 requires: everything but `A–Z a–z 0–9 - _ . ~`, upper-case hex. */
export function awsUriEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function hmac(key: string | Uint8Array, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/** `YYYYMMDDTHHMMSSZ`. */
export function amzDate(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

export function signingKey(secret: string, day: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, day), region), service), 'aws4_request');
}

function canonicalHeaderValue(v: string): string {
  return v.trim().replace(/ +/g, ' ');
}

export function signV4(req: SigV4Request, p: SigV4Params): SignedRequest {
  const stamp = amzDate(p.date);
  const day = stamp.slice(0, 8);
  const scope = `${day}/${p.region}/${p.service}/aws4_request`;

  const send: Record<string, string> = { ...req.headers, 'X-Amz-Date': stamp };
  if (p.credentials.sessionToken) send['X-Amz-Security-Token'] = p.credentials.sessionToken;

  const canon = new Map<string, string[]>();
  const add = (name: string, value: string): void => {
    const key = name.toLowerCase();
    const list = canon.get(key) ?? [];
    list.push(canonicalHeaderValue(value));
    canon.set(key, list);
  };
  add('host', req.host);
  for (const [name, value] of Object.entries(send)) add(name, value);
  const names = [...canon.keys()].sort();
  const canonicalHeaders = names.map((n) => `${n}:${canon.get(n)!.join(',')}\n`).join('');
  const signedHeaders = names.join(';');

  const canonicalUri = req.path
    .split('/')
    .map((seg) => awsUriEncode(seg))
    .join('/');
  const canonicalQuery = (req.query ?? [])
    .map(([k, v]) => [awsUriEncode(k), awsUriEncode(v)] as const)
    .sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');

  const canonicalRequest = [req.method.toUpperCase(), canonicalUri || '/', canonicalQuery, canonicalHeaders, signedHeaders, sha256Hex(req.body)].join('\n');
  const stringToSign = ['AWS4-HMAC-SHA256', stamp, scope, sha256Hex(canonicalRequest)].join('\n');
  const signature = createHmac('sha256', signingKey(p.credentials.secretAccessKey, day, p.region, p.service)).update(stringToSign, 'utf8').digest('hex');
  const authorization = `AWS4-HMAC-SHA256 Credential=${p.credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return { headers: { ...send, Authorization: authorization }, canonicalRequest, stringToSign, signedHeaders, signature, authorization };
}

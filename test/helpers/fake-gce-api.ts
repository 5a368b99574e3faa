import { generateKeyPairSync } from 'node:crypto';
import { startLoopbackServer, type LoopbackReply, type LoopbackRequest, type LoopbackServer } from './loopback-http.js';

/**
 * A loopback stand-in for the two GCE endpoints `gcp-sev-es` uses, on one
 * server (its base URL serves as both metadataBaseUrl and apiBaseUrl):
 *
 * - `GET /computeMetadata/v1/instance/service-accounts/default/token`
 *   (requires `Metadata-Flavor: Google`) → an access token;
 * - `GET /compute/v1/projects/{p}/zones/{z}/instances/{i}/getShieldedInstanceIdentity`
 *   (requires `Authorization: Bearer <token>`) → the instance's
 *   ShieldedInstanceIdentity, shaped like the real API's answer; unknown
 *   instances answer the API's 404 error document.
 *
 * Instances are keyed by the raw path segments `p/z/i`.
 */

export const FAKE_GCE_TOKEN = 'ya29.fake-access-token-0123456789';
export const TOKEN_PATH = '/computeMetadata/v1/instance/service-accounts/default/token';

export type FakeInstance =
  | { signingKeyPem: string | null; extra?: Record<string, unknown> }
  | { reply: LoopbackReply | 'hang' };

export interface FakeGceApi extends LoopbackServer {
  instances: Map<string, FakeInstance>;
  /** Requests to the Compute API only. */
  apiRequests(): LoopbackRequest[];
  /** Requests to the token endpoint only. */
  tokenRequests(): LoopbackRequest[];
  /** Replaces the token endpoint's answer (default: 200 with expires_in 3599). */
  tokenReply: LoopbackReply | 'hang' | undefined;
  /** Delay of every API answer (to make calls overlap). */
  apiDelayMs: number;
}

const PATH = /^\/compute\/v1\/projects\/([^/]*)\/zones\/([^/]*)\/instances\/([^/]*)\/getShieldedInstanceIdentity$/;

/** A certificate-shaped PEM block (the policy ignores ekCert). */
const PLACEHOLDER_CERT = `-----BEGIN CERTIFICATE-----\n${Buffer.alloc(96, 7).toString('base64')}\n-----END CERTIFICATE-----\n`;

let otherKeys: { rsa: string; ec: string } | undefined;
/** The identity's other keys (EK, ECC entries): real PEM public keys, generated once. */
function otherKeyPems(): { rsa: string; ec: string } {
  otherKeys ??= {
    rsa: generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    ec: generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
  return otherKeys;
}

export function googleError(code: number, message: string, reason: string): string {
  return JSON.stringify({ error: { code, message, errors: [{ message, domain: 'global', reason }] } });
}

export async function startFakeGceApi(): Promise<FakeGceApi> {
  const instances = new Map<string, FakeInstance>();
  const ref: { api?: FakeGceApi } = {};
  const state = {
    get tokenReply() {
      return ref.api?.tokenReply;
    },
    get apiDelayMs() {
      return ref.api?.apiDelayMs ?? 0;
    },
  };
  const server = await startLoopbackServer((req) => {
    if (req.url === TOKEN_PATH) {
      if (req.method !== 'GET' || req.headers['metadata-flavor'] !== 'Google') return { status: 403, body: 'Missing Metadata-Flavor:Google header.' };
      return state.tokenReply ?? { status: 200, headers: { 'content-type': 'application/json', 'metadata-flavor': 'Google' }, body: JSON.stringify({ access_token: FAKE_GCE_TOKEN, expires_in: 3599, token_type: 'Bearer' }) };
    }
    const m = PATH.exec(req.url);
    if (!m || req.method !== 'GET') return { status: 404, body: 'Not Found' };
    if (req.headers.authorization !== `Bearer ${FAKE_GCE_TOKEN}`) {
      return { status: 401, headers: { 'content-type': 'application/json' }, body: googleError(401, 'Request is missing required authentication credential.', 'required') };
    }
    const [, project, zone, instance] = m;
    const entry = instances.get(`${project}/${zone}/${instance}`);
    if (!entry) {
      const message = `The resource 'projects/${project}/zones/${zone}/instances/${instance}' was not found`;
      return { status: 404, headers: { 'content-type': 'application/json' }, body: googleError(404, message, 'notFound'), delayMs: state.apiDelayMs };
    }
    if ('reply' in entry) return entry.reply;
    const other = otherKeyPems();
    const identity: Record<string, unknown> = {
      kind: 'compute#shieldedInstanceIdentity',
      ...(entry.signingKeyPem === null ? {} : { signingKey: { ekPub: entry.signingKeyPem, ekCert: PLACEHOLDER_CERT } }),
      encryptionKey: { ekPub: other.rsa, ekCert: PLACEHOLDER_CERT },
      eccP256SigningKey: { ekPub: other.ec },
      eccP256EncryptionKey: { ekPub: other.ec },
      ...entry.extra,
    };
    return { status: 200, headers: { 'content-type': 'application/json; charset=UTF-8' }, body: JSON.stringify(identity), delayMs: state.apiDelayMs };
  });
  const api = Object.assign(server, {
    instances,
    tokenReply: undefined as LoopbackReply | 'hang' | undefined,
    apiDelayMs: 0,
    apiRequests: () => server.requests.filter((r) => r.url.startsWith('/compute/')),
    tokenRequests: () => server.requests.filter((r) => r.url === TOKEN_PATH),
  });
  ref.api = api;
  return api;
}

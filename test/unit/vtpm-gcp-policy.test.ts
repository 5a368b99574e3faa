import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { ErrorCode, JoinServiceError } from '../../src/shared/errors.js';
import { encodePem } from '../../src/shared/pem.js';
import { TtlCache } from '../../src/workers/attestation/vtpm/ttl-cache.js';
import { GceTechnology, type MachineState, type VtpmDocument } from '../../src/workers/attestation/vtpm/types.js';
import {
  checkGceInstanceRef,
  decodeGceInstanceInfo,
  escapePathSegment,
  isValidInstanceName,
  isValidProjectId,
  isValidZone,
  shieldedIdentityPath,
} from '../../src/workers/attestation/vtpm/gcp/gce-instance-info.js';
import { createGceMetadataTokenProvider, staticGceTokenProvider } from '../../src/workers/attestation/vtpm/gcp/gce-token.js';
import { createGcpSevEsPolicy, type GcpSevEsPolicyOptions } from '../../src/workers/attestation/vtpm/gcp/gcp-sev-es-policy.js';
import { googleApiErrorText } from '../../src/workers/attestation/vtpm/gcp/shielded-identity-client.js';
import { FAKE_GCE_TOKEN, startFakeGceApi, type FakeGceApi } from '../helpers/fake-gce-api.js';

// ---- fixtures -----------------------------------------------------------------------------------

interface TestKey {
  pem: string;
  spki: Buffer;
  modulus: Buffer;
}

function rsaKey(): TestKey {
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = publicKey.export({ format: 'jwk' });
  return {
    pem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    spki: publicKey.export({ type: 'spki', format: 'der' }),
    modulus: Buffer.from(jwk.n!, 'base64url'),
  };
}

/** A TPMT_PUBLIC of an RSA-2048 signing key (RSASSA-SHA256) with the given modulus. */
function tpmtPublicRsa(modulus: Buffer): Uint8Array {
  const head = Buffer.from([
    0x00, 0x01, // type RSA
    0x00, 0x0b, // nameAlg SHA-256
    0x00, 0x05, 0x00, 0x72, // objectAttributes
    0x00, 0x00, // authPolicy (empty)
    0x00, 0x10, // symmetric NULL
    0x00, 0x14, 0x00, 0x0b, // scheme RSASSA, SHA-256
    0x08, 0x00, // keyBits 2048
    0x00, 0x00, 0x00, 0x00, // exponent (default)
  ]);
  const size = Buffer.alloc(2);
  size.writeUInt16BE(modulus.length);
  return new Uint8Array(Buffer.concat([head, size, modulus]));
}

const INFO = { zone: 'europe-west3-b', project_id: 'my-project', instance_name: 'constell-worker-0001' };
const INSTANCE_KEY = `${INFO.project_id}/${INFO.zone}/${INFO.instance_name}`;

function doc(instanceInfo: string | null | object, akPub: Uint8Array = new Uint8Array(0)): VtpmDocument {
  const bytes = instanceInfo === null ? null : Buffer.from(typeof instanceInfo === 'string' ? instanceInfo : JSON.stringify(instanceInfo));
  return {
    attestation: { akPub, quotes: [], eventLog: new Uint8Array(0), akCert: new Uint8Array(0), intermediateCerts: [], teeAttestation: 'null' },
    instanceInfo: bytes,
    userData: new Uint8Array(32),
  };
}

function machineState(gceVersion: number | undefined, technology: number): MachineState {
  return {
    hash: 11,
    platform: { ...(gceVersion === undefined ? {} : { gceVersion }), scrtmVersionId: new Uint8Array(0), technology },
    secureBoot: { enabled: true },
    verifiedEvents: 0,
  };
}

async function rejects(p: Promise<unknown>, code: ErrorCode, message: string | RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof JoinServiceError, `not a JoinServiceError: ${String(err)}`);
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    assert.equal(err.code, code, `code of ${err.message}`);
    return true;
  });
}

let keyA: TestKey;
let keyB: TestKey;
let api: FakeGceApi;

before(async () => {
  keyA = rsaKey();
  keyB = rsaKey();
  api = await startFakeGceApi();
});

after(async () => {
  await api.close();
});

/** A policy against the fake with its own cache and token provider (tests stay independent). */
function policy(o: GcpSevEsPolicyOptions = {}): ReturnType<typeof createGcpSevEsPolicy> {
  return createGcpSevEsPolicy({
    apiBaseUrl: api.baseUrl,
    tokenProvider: createGceMetadataTokenProvider({ metadataBaseUrl: api.baseUrl }),
    cacheTtlMs: 60_000,
    ...o,
  });
}

function resetFake(): void {
  api.requests.length = 0;
  api.instances.clear();
  api.tokenReply = undefined;
  api.apiDelayMs = 0;
}

// ---- InstanceInfo decoding ----------------------------------------------------------------------

describe('gcp-sev-es InstanceInfo (Go json.Unmarshal into attest.GCEInstanceInfo)', () => {
  test('the issuer encoding decodes', () => {
    const info = decodeGceInstanceInfo(Buffer.from(JSON.stringify(INFO)));
    assert.deepEqual(info, { zone: 'europe-west3-b', projectId: 'my-project', projectNumber: 0n, instanceName: 'constell-worker-0001', instanceId: 0n });
  });

  test('keys match case-insensitively, unknown keys are ignored, numbers are uint64', () => {
    const info = decodeGceInstanceInfo(
      Buffer.from('{"ZONE":"us-central1-a","Project_Id":"p-123456","instance_NAME":"n1","project_number":18446744073709551615,"instance_id":0,"extra":[1,{}]}'),
    );
    assert.equal(info.zone, 'us-central1-a');
    assert.equal(info.projectId, 'p-123456');
    assert.equal(info.instanceName, 'n1');
    assert.equal(info.projectNumber, 18446744073709551615n);
  });

  test('null decodes to empty fields; null members keep their zero value', () => {
    assert.deepEqual(decodeGceInstanceInfo(Buffer.from('null')), { zone: '', projectId: '', projectNumber: 0n, instanceName: '', instanceId: 0n });
    assert.equal(decodeGceInstanceInfo(Buffer.from('{"zone":null}')).zone, '');
  });

  test("Go's error texts", () => {
    const cases: Array<[Uint8Array | null, string]> = [
      [null, 'unexpected end of JSON input'],
      [Buffer.from(''), 'unexpected end of JSON input'],
      [Buffer.from('{"zone":"a"'), 'unexpected end of JSON input'],
      [Buffer.from('{"zone":"a"} x'), "invalid character 'x' after top-level value"],
      [Buffer.from('[]'), 'json: cannot unmarshal array into Go value of type attest.GCEInstanceInfo'],
      [Buffer.from('{"zone":5}'), 'json: cannot unmarshal number into Go struct field GCEInstanceInfo.zone of type string'],
      [Buffer.from('{"project_number":-1}'), 'json: cannot unmarshal number -1 into Go struct field GCEInstanceInfo.project_number of type uint64'],
      [Buffer.from('{"instance_id":1.5}'), 'json: cannot unmarshal number 1.5 into Go struct field GCEInstanceInfo.instance_id of type uint64'],
      [Buffer.from('{"instance_id":18446744073709551616}'), 'json: cannot unmarshal number 18446744073709551616 into Go struct field GCEInstanceInfo.instance_id of type uint64'],
      [Buffer.from('{"project_number":"1"}'), 'json: cannot unmarshal string into Go struct field GCEInstanceInfo.project_number of type uint64'],
    ];
    for (const [input, message] of cases) assert.throws(() => decodeGceInstanceInfo(input), { message }, String(input));
  });
});

// ---- name validation and escaping ---------------------------------------------------------------

describe('gcp-sev-es instance names (GCE naming rules, G4)', () => {
  test('project IDs', () => {
    for (const ok of ['my-project', 'constellation-123456', 'abcdef', 'a23456789012345678901234567890', 'example.com:proj', 'google.com:my-project', 'sub.example.co.uk:p1']) {
      assert.ok(isValidProjectId(ok), ok);
    }
    for (const bad of ['', 'abcde', 'a234567890123456789012345678901', '1project', 'project-', 'My-Project', 'my_project', '../x', 'a/b', '%2F', 'my-project/zones', 'example.com:', ':proj', 'com:proj', 'example.com:Proj', 'example..com:proj', 'example.com:proj/x', 'my project', 'my-project\n']) {
      assert.ok(!isValidProjectId(bad), bad);
    }
  });

  test('zones', () => {
    for (const ok of ['europe-west3-b', 'us-central1-a', 'northamerica-northeast2-c', 'me-central2-a', 'us-central1-ai1a']) assert.ok(isValidZone(ok), ok);
    for (const bad of ['', 'us-central1', 'a/b', '../x', '%2F', 'US-CENTRAL1-A', 'us-central1-a/../b', 'us-central1-a?x=1', 'us-central1-a#']) assert.ok(!isValidZone(bad), bad);
  });

  test('instance names (RFC 1035 labels)', () => {
    for (const ok of ['a', 'constell-worker-0001', `a${'b'.repeat(62)}`]) assert.ok(isValidInstanceName(ok), ok);
    for (const bad of ['', '0abc', 'abc-', 'Abc', 'a_b', '../x', 'a/b', '%2F', '..', `a${'b'.repeat(63)}`, 'a.b']) assert.ok(!isValidInstanceName(bad), bad);
  });

  test('the path: each segment escaped, the colon of a domain-scoped project kept', () => {
    assert.equal(
      shieldedIdentityPath(checkGceInstanceRef({ projectId: 'example.com:proj', zone: 'us-central1-a', instanceName: 'node-1' })),
      '/compute/v1/projects/example.com:proj/zones/us-central1-a/instances/node-1/getShieldedInstanceIdentity',
    );
    assert.equal(escapePathSegment('a/b'), 'a%2Fb');
    assert.equal(escapePathSegment('../x'), '..%2Fx');
    assert.equal(escapePathSegment('%2F'), '%252F');
    assert.equal(escapePathSegment("a b!*'()?#"), 'a%20b%21%2A%27%28%29%3F%23');
  });

  test('checkGceInstanceRef names the first invalid value', () => {
    assert.throws(() => checkGceInstanceRef({ projectId: '../x', zone: 'us-central1-a', instanceName: 'n' }), { message: 'invalid GCE project ID "../x"' });
    assert.throws(() => checkGceInstanceRef({ projectId: 'my-project', zone: 'a/b', instanceName: 'n' }), { message: 'invalid GCE zone "a/b"' });
    assert.throws(() => checkGceInstanceRef({ projectId: 'my-project', zone: 'us-central1-a', instanceName: '%2F' }), { message: 'invalid GCE instance name "%2F"' });
  });
});

// ---- trusted AK through the fake API --------------------------------------------------------------

describe('gcp-sev-es trustedAk against the fake Compute API', () => {
  test('happy path: token from the metadata server, identity from the API, SPKI of signingKey.ekPub', async () => {
    resetFake();
    api.instances.set(INSTANCE_KEY, { signingKeyPem: keyA.pem });
    const ak = await policy().trustedAk(doc(INFO, tpmtPublicRsa(keyA.modulus)), new Uint8Array(32));
    assert.ok(ak instanceof Uint8Array);
    assert.deepEqual(Buffer.from(ak), keyA.spki);

    assert.equal(api.tokenRequests().length, 1);
    assert.equal(api.tokenRequests()[0]!.headers['metadata-flavor'], 'Google');
    const [call] = api.apiRequests();
    assert.ok(call);
    assert.equal(call.method, 'GET');
    assert.equal(call.url, '/compute/v1/projects/my-project/zones/europe-west3-b/instances/constell-worker-0001/getShieldedInstanceIdentity');
    assert.equal(call.headers.authorization, `Bearer ${FAKE_GCE_TOKEN}`);
    assert.equal(call.body.length, 0);
  });

  test('a domain-scoped project reaches the API with its colon', async () => {
    resetFake();
    api.instances.set('example.com:proj/us-central1-a/node-1', { signingKeyPem: keyB.pem });
    const ak = await policy().trustedAk(doc({ zone: 'us-central1-a', project_id: 'example.com:proj', instance_name: 'node-1' }), new Uint8Array(32));
    assert.deepEqual(Buffer.from(ak as Uint8Array), keyB.spki);
    assert.equal(api.apiRequests()[0]!.url, '/compute/v1/projects/example.com:proj/zones/us-central1-a/instances/node-1/getShieldedInstanceIdentity');
  });

  test('invalid names are rejected before any request (../x, a/b, %2F, empty)', async () => {
    resetFake();
    const p = policy();
    const cases: Array<[object | string, string]> = [
      [{ ...INFO, instance_name: '../x' }, 'retrieving VM identity: invalid GCE instance name "../x"'],
      [{ ...INFO, zone: 'a/b' }, 'retrieving VM identity: invalid GCE zone "a/b"'],
      [{ ...INFO, project_id: '%2F' }, 'retrieving VM identity: invalid GCE project ID "%2F"'],
      [{ ...INFO, project_id: 'my-project/zones/x/instances/y/getShieldedInstanceIdentity?' }, /^retrieving VM identity: invalid GCE project ID "my-project\/zones/],
      ['null', 'retrieving VM identity: invalid GCE project ID ""'],
      ['{}', 'retrieving VM identity: invalid GCE project ID ""'],
    ] as Array<[object | string, string]>;
    for (const [info, message] of cases) await rejects(p.trustedAk(doc(info), new Uint8Array(32)), ErrorCode.AttestationRejected, message);
    assert.equal(api.requests.length, 0, 'no request of any kind');
  });

  test('undecodable InstanceInfo fails with the Go json text, before any request', async () => {
    resetFake();
    const p = policy();
    await rejects(p.trustedAk(doc(null), new Uint8Array(32)), ErrorCode.AttestationMalformed, 'unexpected end of JSON input');
    await rejects(p.trustedAk(doc('{"zone":true}'), new Uint8Array(32)), ErrorCode.AttestationMalformed, 'json: cannot unmarshal bool into Go struct field GCEInstanceInfo.zone of type string');
    assert.equal(api.requests.length, 0);
  });

  test('API errors: 404 is the node\'s problem, 403 / 500 the service\'s (googleapi texts)', async () => {
    resetFake();
    const p = policy();
    await rejects(
      p.trustedAk(doc({ ...INFO, instance_name: 'missing' }), new Uint8Array(32)),
      ErrorCode.AttestationRejected,
      "retrieving VM identity: googleapi: Error 404: The resource 'projects/my-project/zones/europe-west3-b/instances/missing' was not found, notFound",
    );
    api.instances.set(INSTANCE_KEY, {
      reply: { status: 403, body: JSON.stringify({ error: { code: 403, message: "Required 'compute.instances.getShieldedInstanceIdentity' permission for 'projects/my-project/zones/europe-west3-b/instances/constell-worker-0001'", errors: [{ message: "Required 'compute.instances.getShieldedInstanceIdentity' permission for 'projects/my-project/zones/europe-west3-b/instances/constell-worker-0001'", domain: 'global', reason: 'forbidden' }] } }) },
    });
    await rejects(p.trustedAk(doc(INFO), new Uint8Array(32)), ErrorCode.AttestationUpstreamUnavailable, /^retrieving VM identity: googleapi: Error 403: Required 'compute\.instances\.getShieldedInstanceIdentity' permission .*, forbidden$/);
    api.instances.set(INSTANCE_KEY, { reply: { status: 502, body: '<html>Bad Gateway</html>' } });
    await rejects(p.trustedAk(doc(INFO), new Uint8Array(32)), ErrorCode.AttestationUpstreamUnavailable, 'retrieving VM identity: googleapi: got HTTP response code 502 with body: <html>Bad Gateway</html>');
    api.instances.set(INSTANCE_KEY, { reply: { status: 200, body: 'not json' } });
    await rejects(p.trustedAk(doc(INFO), new Uint8Array(32)), ErrorCode.AttestationUpstreamUnavailable, /^retrieving VM identity: unexpected response: not JSON/);
  });

  test('googleapi.Error formatting', () => {
    assert.equal(googleApiErrorText(400, JSON.stringify({ error: { code: 400, message: 'Invalid value for field', errors: [] } })), 'googleapi: Error 400: Invalid value for field');
    assert.equal(
      googleApiErrorText(400, JSON.stringify({ error: { code: 400, message: 'm', errors: [{ reason: 'r1', message: 'a' }, { reason: 'r2', message: 'b' }] } })),
      'googleapi: Error 400: m\nMore details:\nReason: r1, Message: a\nReason: r2, Message: b\n',
    );
    assert.equal(googleApiErrorText(500, ''), 'googleapi: got HTTP response code 500 with body: ');
    assert.equal(googleApiErrorText(404, JSON.stringify({ error: { message: 'gone', errors: [{ message: 'gone', reason: 'notFound' }] } })), 'googleapi: Error 404: gone, notFound');
  });

  test('no signing key, non-PEM and wrong PEM types, bad PKIX: Go texts', async () => {
    resetFake();
    const p = policy();
    const cases: Array<[string | null, string | RegExp]> = [
      [null, 'received no signing key from GCP API'],
      ['', 'failed to decode PEM block containing public key'],
      ['not a pem', 'failed to decode PEM block containing public key'],
      [encodePem('CERTIFICATE', keyA.spki), 'failed to decode PEM block containing public key'],
      [encodePem('RSA PUBLIC KEY', keyA.spki), 'failed to decode PEM block containing public key'],
      [encodePem('PUBLIC KEY', Buffer.concat([keyA.spki, Buffer.from([0])])), 'x509: trailing data after ASN.1 of public-key'],
      [encodePem('PUBLIC KEY', Buffer.from([0x30, 0x03, 0x02, 0x01])), /^asn1: structure error: /],
      [encodePem('PUBLIC KEY', Buffer.from('300b300506032a030403020001', 'hex')), 'x509: unknown public key algorithm'],
    ];
    for (const [pem, message] of cases) {
      api.instances.set(INSTANCE_KEY, { signingKeyPem: pem });
      await rejects(policy().trustedAk(doc(INFO), new Uint8Array(32)), ErrorCode.AttestationRejected, message);
    }
    // signingKey present but without ekPub.
    api.instances.set(INSTANCE_KEY, { signingKeyPem: null, extra: { signingKey: { ekCert: 'x' } } });
    await rejects(p.trustedAk(doc(INFO), new Uint8Array(32)), ErrorCode.AttestationRejected, 'received no signing key from GCP API');
    // Text before the first block is skipped, as pem.Decode does.
    api.instances.set(INSTANCE_KEY, { signingKeyPem: `junk\n${keyA.pem}` });
    assert.deepEqual(Buffer.from((await policy().trustedAk(doc(INFO), new Uint8Array(32))) as Uint8Array), keyA.spki);
  });

  test('an EC signing key is returned as SPKI too', async () => {
    resetFake();
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    api.instances.set(INSTANCE_KEY, { signingKeyPem: ec.export({ type: 'spki', format: 'pem' }).toString() });
    const ak = await policy().trustedAk(doc(INFO), new Uint8Array(32));
    assert.deepEqual(Buffer.from(ak as Uint8Array), ec.export({ type: 'spki', format: 'der' }));
  });
});

// ---- caching ------------------------------------------------------------------------------------

describe('gcp-sev-es caching', () => {
  test('a second validation of the same instance is served from the cache', async () => {
    resetFake();
    api.instances.set(INSTANCE_KEY, { signingKeyPem: keyA.pem });
    const p = policy();
    const d = doc(INFO, tpmtPublicRsa(keyA.modulus));
    await p.trustedAk(d, new Uint8Array(32));
    await p.trustedAk(d, new Uint8Array(32));
    assert.equal(api.apiRequests().length, 1);
    assert.equal(api.tokenRequests().length, 1);
  });

  test('single-flight: concurrent validations of one instance share one request', async () => {
    resetFake();
    api.instances.set(INSTANCE_KEY, { signingKeyPem: keyA.pem });
    api.apiDelayMs = 100;
    const p = policy();
    const d = doc(INFO, tpmtPublicRsa(keyA.modulus));
    const results = await Promise.all(Array.from({ length: 8 }, () => p.trustedAk(d, new Uint8Array(32))));
    for (const r of results) assert.deepEqual(Buffer.from(r as Uint8Array), keyA.spki);
    assert.equal(api.apiRequests().length, 1);
    assert.equal(api.tokenRequests().length, 1);
  });

  test('single-flight shares failures too, and failures are not cached', async () => {
    resetFake();
    api.apiDelayMs = 50;
    const p = policy();
    const d = doc({ ...INFO, instance_name: 'missing' });
    const all = await Promise.allSettled(Array.from({ length: 5 }, () => p.trustedAk(d, new Uint8Array(32))));
    assert.ok(all.every((r) => r.status === 'rejected'));
    assert.equal(api.apiRequests().length, 1);
    await assert.rejects(p.trustedAk(d, new Uint8Array(32)));
    assert.equal(api.apiRequests().length, 2);
  });

  test('entries expire after the TTL (injected clock)', async () => {
    resetFake();
    api.instances.set(INSTANCE_KEY, { signingKeyPem: keyA.pem });
    let t = 1_000;
    const p = policy({ cacheTtlMs: 10_000, now: () => t, tokenProvider: staticGceTokenProvider(FAKE_GCE_TOKEN) });
    const d = doc(INFO, tpmtPublicRsa(keyA.modulus));
    await p.trustedAk(d, new Uint8Array(32));
    t += 9_999;
    await p.trustedAk(d, new Uint8Array(32));
    assert.equal(api.apiRequests().length, 1);
    t += 1;
    await p.trustedAk(d, new Uint8Array(32));
    assert.equal(api.apiRequests().length, 2);
  });

  test('a recreated instance (same name, new AK) is looked up again once the entry is a few seconds old', async () => {
    resetFake();
    api.instances.set(INSTANCE_KEY, { signingKeyPem: keyA.pem });
    let t = 0;
    const p = policy({ cacheTtlMs: 300_000, staleRefreshMinAgeMs: 5_000, now: () => t, tokenProvider: staticGceTokenProvider(FAKE_GCE_TOKEN) });
    assert.deepEqual(Buffer.from((await p.trustedAk(doc(INFO, tpmtPublicRsa(keyA.modulus)), new Uint8Array(32))) as Uint8Array), keyA.spki);
    // The managed instance group recreated the VM: GCE now reports key B, the node presents key B.
    api.instances.set(INSTANCE_KEY, { signingKeyPem: keyB.pem });
    const newDoc = doc(INFO, tpmtPublicRsa(keyB.modulus));
    t += 1_000; // too young: the cached key A is returned (the pipeline's comparison then fails)
    assert.deepEqual(Buffer.from((await p.trustedAk(newDoc, new Uint8Array(32))) as Uint8Array), keyA.spki);
    assert.equal(api.apiRequests().length, 1);
    t += 5_000;
    assert.deepEqual(Buffer.from((await p.trustedAk(newDoc, new Uint8Array(32))) as Uint8Array), keyB.spki);
    assert.equal(api.apiRequests().length, 2);
    // Key B is cached now.
    t += 10_000;
    await p.trustedAk(newDoc, new Uint8Array(32));
    assert.equal(api.apiRequests().length, 2);
  });

  test('policies with default cache settings share the per-worker cache, keyed by API base URL', async () => {
    resetFake();
    api.instances.set(INSTANCE_KEY, { signingKeyPem: keyA.pem });
    const token = staticGceTokenProvider(FAKE_GCE_TOKEN);
    const d = doc(INFO, tpmtPublicRsa(keyA.modulus));
    await createGcpSevEsPolicy({ apiBaseUrl: api.baseUrl, tokenProvider: token }).trustedAk(d, new Uint8Array(32));
    await createGcpSevEsPolicy({ apiBaseUrl: api.baseUrl, tokenProvider: token }).trustedAk(d, new Uint8Array(32));
    assert.equal(api.apiRequests().length, 1);
    // Another endpoint never sees this entry.
    const other = await startFakeGceApi();
    try {
      other.instances.set(INSTANCE_KEY, { signingKeyPem: keyB.pem });
      const ak = await createGcpSevEsPolicy({ apiBaseUrl: other.baseUrl, tokenProvider: token }).trustedAk(d, new Uint8Array(32));
      assert.deepEqual(Buffer.from(ak as Uint8Array), keyB.spki);
    } finally {
      await other.close();
    }
  });
});

// ---- bounds: timeouts, sizes, tokens ------------------------------------------------------------

describe('gcp-sev-es request bounds and tokens', () => {
  test('a hanging API times out', async () => {
    resetFake();
    api.instances.set(INSTANCE_KEY, { reply: 'hang' });
    const started = Date.now();
    await rejects(
      policy({ timeoutMs: 200 }).trustedAk(doc(INFO), new Uint8Array(32)),
      ErrorCode.AttestationUpstreamUnavailable,
      /^retrieving VM identity: Get "http:\/\/127\.0\.0\.1:\d+\/compute\/v1\/projects\/my-project\/zones\/europe-west3-b\/instances\/constell-worker-0001\/getShieldedInstanceIdentity": request timed out after 200 ms$/,
    );
    assert.ok(Date.now() - started < 2_000);
  });

  test('a hanging metadata server times out', async () => {
    resetFake();
    api.tokenReply = 'hang';
    await rejects(
      policy({ tokenProvider: createGceMetadataTokenProvider({ metadataBaseUrl: api.baseUrl, timeoutMs: 150 }) }).trustedAk(doc(INFO), new Uint8Array(32)),
      ErrorCode.AttestationUpstreamUnavailable,
      /^retrieving VM identity: Get "[^"]+": fetching access token from the GCE metadata server: Get "[^"]+": request timed out after 150 ms$/,
    );
    assert.equal(api.apiRequests().length, 0);
  });

  test('oversized API answers are refused (declared and streamed)', async () => {
    resetFake();
    const big = JSON.stringify({ kind: 'compute#shieldedInstanceIdentity', signingKey: { ekPub: keyA.pem }, padding: 'x'.repeat(4096) });
    api.instances.set(INSTANCE_KEY, { reply: { status: 200, body: big } });
    await rejects(policy({ maxResponseBytes: 2048 }).trustedAk(doc(INFO), new Uint8Array(32)), ErrorCode.AttestationUpstreamUnavailable, /response body of \d+ bytes exceeds the limit of 2048 bytes$/);
    api.instances.set(INSTANCE_KEY, { reply: { status: 200, body: big, chunked: true } });
    await rejects(policy({ maxResponseBytes: 2048 }).trustedAk(doc(INFO), new Uint8Array(32)), ErrorCode.AttestationUpstreamUnavailable, /response body exceeds the limit of 2048 bytes$/);
  });

  test('token failures are the service\'s problem and name no token', async () => {
    resetFake();
    api.tokenReply = { status: 404, body: 'no service account' };
    await rejects(policy().trustedAk(doc(INFO), new Uint8Array(32)), ErrorCode.AttestationUpstreamUnavailable, /fetching access token from the GCE metadata server: .* returned status 404$/);
    api.tokenReply = { status: 200, body: JSON.stringify({ token_type: 'Bearer', expires_in: 100 }) };
    await rejects(policy().trustedAk(doc(INFO), new Uint8Array(32)), ErrorCode.AttestationUpstreamUnavailable, /response has no usable access_token$/);
  });

  test('the token is cached until shortly before it expires', async () => {
    resetFake();
    let t = 0;
    api.instances.set(INSTANCE_KEY, { signingKeyPem: keyA.pem });
    api.instances.set('my-project/europe-west3-b/other-node', { signingKeyPem: keyB.pem });
    const tokens = createGceMetadataTokenProvider({ metadataBaseUrl: api.baseUrl, now: () => t });
    const p = policy({ tokenProvider: tokens, cacheTtlMs: 1 });
    await p.trustedAk(doc(INFO), new Uint8Array(32));
    await p.trustedAk(doc({ ...INFO, instance_name: 'other-node' }), new Uint8Array(32));
    assert.equal(api.tokenRequests().length, 1);
    t += 3_599_000 - 60_000 - 1; // expires_in 3599 s, refreshed 60 s early
    await tokens.getToken();
    assert.equal(api.tokenRequests().length, 1);
    t += 1;
    await tokens.getToken();
    assert.equal(api.tokenRequests().length, 2);
  });

  test('the API base URL must be https, or http to loopback', () => {
    assert.throws(() => createGcpSevEsPolicy({ apiBaseUrl: 'http://compute.example.com', tokenProvider: staticGceTokenProvider('t') }), /must be an https URL/);
    assert.throws(() => createGcpSevEsPolicy({ apiBaseUrl: 'https://user:pw@compute.googleapis.com', tokenProvider: staticGceTokenProvider('t') }), /credentials/);
    createGcpSevEsPolicy({ apiBaseUrl: 'https://compute.googleapis.com/', tokenProvider: staticGceTokenProvider('t') });
  });
});

// ---- CVM check ----------------------------------------------------------------------------------

describe('gcp-sev-es cvmCheck (validateCVM)', () => {
  const p = createGcpSevEsPolicy({ apiBaseUrl: 'https://compute.googleapis.com', tokenProvider: staticGceTokenProvider('t'), cacheTtlMs: 1 });
  const d = doc(INFO);

  test('GCE version ≥ 1 and AMD_SEV pass', async () => {
    await p.cvmCheck(d, machineState(1, GceTechnology.AMD_SEV));
    await p.cvmCheck(d, machineState(7, GceTechnology.AMD_SEV));
  });

  test("Go's texts", async () => {
    await rejects(p.cvmCheck(d, machineState(undefined, GceTechnology.AMD_SEV)), ErrorCode.AttestationRejected, 'outdated GCE version: 0 (require >= 1)');
    await rejects(p.cvmCheck(d, machineState(0, GceTechnology.AMD_SEV)), ErrorCode.AttestationRejected, 'outdated GCE version: 0 (require >= 1)');
    await rejects(p.cvmCheck(d, machineState(1, GceTechnology.AMD_SEV_ES)), ErrorCode.AttestationRejected, 'unexpected confidential technology: AMD_SEV_ES (expected: AMD_SEV)');
    await rejects(p.cvmCheck(d, machineState(1, GceTechnology.AMD_SEV_SNP)), ErrorCode.AttestationRejected, 'unexpected confidential technology: AMD_SEV_SNP (expected: AMD_SEV)');
    await rejects(p.cvmCheck(d, machineState(1, GceTechnology.NONE)), ErrorCode.AttestationRejected, 'unexpected confidential technology: NONE (expected: AMD_SEV)');
    await rejects(p.cvmCheck(d, machineState(1, 9)), ErrorCode.AttestationRejected, 'unexpected confidential technology: 9 (expected: AMD_SEV)');
    // The version is checked first.
    await rejects(p.cvmCheck(d, machineState(0, GceTechnology.NONE)), ErrorCode.AttestationRejected, 'outdated GCE version: 0 (require >= 1)');
  });
});

// ---- the cache itself ---------------------------------------------------------------------------

describe('TtlCache', () => {
  test('bounded: expired entries go first, then the least recently used', async () => {
    let t = 0;
    const c = new TtlCache<number>({ ttlMs: 100, maxEntries: 3, now: () => t });
    await c.get('a', async () => 1);
    t = 50;
    await c.get('b', async () => 2);
    await c.get('c', async () => 3);
    await c.get('a', async () => 99); // hit: 'a' becomes most recently used
    await c.get('d', async () => 4); // evicts 'b' (least recently used)
    assert.equal(c.size, 3);
    assert.ok(!c.has('b'));
    assert.ok(c.has('a') && c.has('c') && c.has('d'));
    t = 120; // 'a' (stored at 0) expired
    await c.get('e', async () => 5);
    assert.ok(!c.has('a'));
    assert.equal(c.size, 3);
  });

  test('a throwing loader rejects, and nothing is cached', async () => {
    const c = new TtlCache<number>({ ttlMs: 100, maxEntries: 3 });
    await assert.rejects(
      c.get('x', () => {
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(c.size, 0);
    assert.equal(await c.get('x', async () => 7), 7);
  });

  test('options are checked', () => {
    assert.throws(() => new TtlCache({ ttlMs: 0, maxEntries: 1 }), RangeError);
    assert.throws(() => new TtlCache({ ttlMs: 1, maxEntries: 0 }), RangeError);
  });
});

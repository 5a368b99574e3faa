/**
 * azure-sev-snp's MAA fallback (src/workers/attestation/snp/azure/maa-token.ts,
 * id-key-digest.ts; sev-snp-attestation.md §10) against a fake MAA: the key
 * set (`GET <maaURL>/certs`, cached), compact JWS verification by kid with
 * the algorithm bound to the key, `alg: none` and foreign algorithms refused,
 * exp/nbf/iat with a minute of leeway, the nonce claim, Go's texts, and the
 * ID-key-digest enforcement modes.
 */
import assert from 'node:assert/strict';
import { constants, createHash, sign, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import { ErrorCode, JoinServiceError } from '../../src/shared/errors.js';
import { checkIdKeyDigest, goDigestList, type FirmwareSignerConfig } from '../../src/workers/attestation/snp/azure/id-key-digest.js';
import {
  ERR_CRYPTO_FAILURE,
  ERR_EXPIRED,
  ERR_ISSUED_IN_THE_FUTURE,
  ERR_NOT_VALID_YET,
  ERR_UNSUPPORTED_KEY_TYPE,
  MaaError,
  maaCertsUrl,
  MaaTokenValidator,
  parseMaaKeySet,
} from '../../src/workers/attestation/snp/azure/maa-token.js';
import type { HttpRequest, HttpResponse, HttpTransport } from '../../src/workers/attestation/vtpm/http-client.js';
import { HttpFailure } from '../../src/workers/attestation/vtpm/http-client.js';
import { buildCertificate, testKey, type TestKey } from './support/test-certificates.js';

const NOW = Date.UTC(2025, 5, 1, 12, 0, 0);
const MAA = 'https://sharedeus.eus.attest.azure.net';
const EXTRA = new Uint8Array(createHash('sha256').update('user data and nonce').digest());
const RSA = testKey('rsa');
const EC = testKey('p256');
const P384: TestKey = testKey('p384');

const b64url = (b: Uint8Array | string): string => Buffer.from(b).toString('base64url');

function jwks(keys: { kid?: string; key?: TestKey; x5c?: unknown }[]): string {
  return JSON.stringify({
    keys: keys.map((k) => ({
      ...(k.kid !== undefined ? { kid: k.kid } : {}),
      kty: 'RSA',
      ...(k.x5c !== undefined ? { x5c: k.x5c } : k.key ? { x5c: [Buffer.from(buildCertificate({ key: k.key, commonName: 'MAA signing' })).toString('base64')] } : {}),
    })),
  });
}

const KEY_SET = jwks([{ kid: 'rsa-1', key: RSA }, { kid: 'ec-1', key: EC }, { kid: 'no-x5c' }]);

interface TokenOptions {
  alg?: string;
  kid?: string | null;
  claims?: Record<string, unknown>;
  key?: KeyObject;
  header?: Record<string, unknown>;
}

function claims(over: Record<string, unknown> = {}): Record<string, unknown> {
  const s = Math.floor(NOW / 1000);
  return {
    iss: MAA,
    iat: s - 10,
    nbf: s - 10,
    exp: s + 3600,
    'x-ms-runtime': { 'client-payload': { nonce: Buffer.from(EXTRA).toString('base64') }, keys: [] },
    'x-ms-sevsnpvm-is-debuggable': false,
    ...over,
  };
}

function token(o: TokenOptions = {}): string {
  const alg = o.alg ?? 'RS256';
  const header = { alg, ...(o.kid === null ? {} : { kid: o.kid ?? (alg.startsWith('ES') ? 'ec-1' : 'rsa-1') }), typ: 'JWT', ...o.header };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(o.claims ?? claims()))}`;
  const key = o.key ?? (alg.startsWith('ES') ? EC.privateKey : RSA.privateKey);
  const hash = { '256': 'sha256', '384': 'sha384', '512': 'sha512' }[alg.slice(2)] ?? 'sha256';
  let sig: Buffer;
  if (alg.startsWith('ES')) sig = sign(hash, Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  else if (alg.startsWith('PS')) sig = sign(hash, Buffer.from(input), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST });
  else if (alg.startsWith('RS')) sig = sign(hash, Buffer.from(input), { key, padding: constants.RSA_PKCS1_PADDING });
  else sig = Buffer.alloc(0);
  return `${input}.${b64url(sig)}`;
}

/** A fake MAA: answers `/certs` with `body` (or the reply function), records requests. */
function fakeMaa(reply: (req: HttpRequest) => Partial<HttpResponse> | Error = () => ({ body: Buffer.from(KEY_SET) })): HttpTransport & { requests: HttpRequest[] } {
  const requests: HttpRequest[] = [];
  const t = (async (req: HttpRequest): Promise<HttpResponse> => {
    requests.push(req);
    const r = reply(req);
    if (r instanceof Error) throw r;
    return { status: r.status ?? 200, headers: r.headers ?? {}, body: r.body ?? Buffer.alloc(0) };
  }) as HttpTransport & { requests: HttpRequest[] };
  t.requests = requests;
  return t;
}

function validator(transport: HttpTransport, mono?: { t: number }): MaaTokenValidator {
  return new MaaTokenValidator({ transport, now: () => NOW, ...(mono ? { monotonicNow: () => mono.t } : {}) });
}

async function rejects(p: Promise<unknown>, message: string | RegExp, upstream = false): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof MaaError, String(err));
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    assert.equal(err.upstream, upstream);
    return true;
  });
}

describe('MAA key set', () => {
  it('is fetched from <maaURL>/certs (path joined like Go\'s url.JoinPath) and cached', async () => {
    assert.equal(maaCertsUrl(MAA), `${MAA}/certs`);
    assert.equal(maaCertsUrl(`${MAA}/`), `${MAA}/certs`);
    assert.equal(maaCertsUrl(`${MAA}/tenant`), `${MAA}/tenant/certs`);
    const t = fakeMaa();
    const v = validator(t);
    await v.validate(MAA, token(), EXTRA);
    await v.validate(`${MAA}`, token({ alg: 'ES256' }), EXTRA);
    assert.equal(t.requests.length, 1);
    assert.equal(t.requests[0]!.url, `${MAA}/certs`);
    assert.equal(t.requests[0]!.method, 'GET');
    assert.ok(t.requests[0]!.timeoutMs > 0 && t.requests[0]!.maxResponseBytes > 0);
  });

  it('takes the key of x5c[0] per kid, skips keys without x5c and fails on an unparsable certificate', () => {
    const keys = parseMaaKeySet(Buffer.from(KEY_SET));
    assert.deepEqual(
      keys.map((k) => [k.kid, k.key.asymmetricKeyType]),
      [
        ['rsa-1', 'rsa'],
        ['ec-1', 'ec'],
      ],
    );
    assert.throws(() => parseMaaKeySet(Buffer.from(jwks([{ kid: 'x', x5c: ['AAAA'] }]))), { message: /^keys\[0\]\.x5c\[0\]: x509: / });
    assert.throws(() => parseMaaKeySet(Buffer.from('{"keys":{}}')), { message: /cannot unmarshal object/ });
    assert.deepEqual(parseMaaKeySet(Buffer.from('{"Keys":[]}')), []);
  });

  it('fails upstream on a status other than 200, an empty body, a bad key set or a transport failure', async () => {
    await rejects(validator(fakeMaa(() => ({ status: 404 }))).validate(MAA, token(), EXTRA), 'getting key set from MAA: 404 Not Found', true);
    await rejects(validator(fakeMaa(() => ({ body: Buffer.alloc(0) }))).validate(MAA, token(), EXTRA), 'getting key set from MAA: received empty response from MAA', true);
    await rejects(validator(fakeMaa(() => ({ body: Buffer.from('{') }))).validate(MAA, token(), EXTRA), /^validating token: parsing key set: /, true);
    await rejects(
      validator(fakeMaa(() => new HttpFailure('timeout', `Get "${MAA}/certs": request timed out after 10000 ms`))).validate(MAA, token(), EXTRA),
      `getting key set from MAA: Get "${MAA}/certs": request timed out after 10000 ms`,
      true,
    );
  });

  it('refuses an empty MAA URL before anything else (the CLI-deployed default)', async () => {
    const t = fakeMaa();
    await rejects(validator(t).validate('', token(), EXTRA), 'getting key set from MAA: maaURL is empty');
    await rejects(validator(t).validate('', '', EXTRA), 'getting key set from MAA: maaURL is empty');
    assert.equal(t.requests.length, 0);
  });

  it('refuses a plain-http or credential-carrying MAA URL', async () => {
    await rejects(validator(fakeMaa()).validate('http://maa.example', token(), EXTRA), /^getting key set from MAA: parsing maaURL: .*must be an https URL/);
    await rejects(validator(fakeMaa()).validate('https://u:p@maa.example', token(), EXTRA), /must not carry credentials/);
  });
});

describe('MAA token (compact JWS)', () => {
  it('accepts RS256, PS256 and ES256 tokens signed by the key named in the header', async () => {
    const v = validator(fakeMaa());
    for (const alg of ['RS256', 'RS384', 'RS512', 'PS256', 'PS512', 'ES256']) await v.validate(MAA, token({ alg }), EXTRA);
  });

  it('rejects a changed signature or payload', async () => {
    const v = validator(fakeMaa());
    const t = token();
    const [h, p, s] = t.split('.') as [string, string, string];
    const sig = Buffer.from(s, 'base64url');
    sig[10] = sig[10]! ^ 1;
    await rejects(v.validate(MAA, `${h}.${p}.${b64url(sig)}`, EXTRA), new RegExp(`^validating token: verifying signature: ${escape(ERR_CRYPTO_FAILURE)} \\(RS256 signature does not verify`));
    const other = b64url(JSON.stringify(claims({ iss: 'https://evil.example' })));
    await rejects(v.validate(MAA, `${h}.${other}.${s}`, EXTRA), new RegExp(`^validating token: verifying signature: ${escape(ERR_CRYPTO_FAILURE)}`));
    await rejects(v.validate(MAA, token({ key: P384.privateKey, alg: 'ES384', kid: 'ec-1' }), EXTRA), new RegExp(escape(ERR_CRYPTO_FAILURE)));
  });

  it('selects the key by kid: an unknown or missing kid fails (go-jose: unsupported key type)', async () => {
    const t = fakeMaa();
    const mono = { t: 0 };
    const v = validator(t, mono);
    await rejects(v.validate(MAA, token({ kid: 'rotated' }), EXTRA), new RegExp(`^validating token: verifying signature: ${escape(ERR_UNSUPPORTED_KEY_TYPE)} \\(no key with kid "rotated"`));
    await rejects(v.validate(MAA, token({ kid: null }), EXTRA), new RegExp(`${escape(ERR_UNSUPPORTED_KEY_TYPE)} \\(the token header has no kid\\)`));
    await rejects(v.validate(MAA, token({ kid: 'no-x5c' }), EXTRA), new RegExp(escape(ERR_UNSUPPORTED_KEY_TYPE)));
    assert.equal(t.requests.length, 1);
    // A cached set older than the refresh age is fetched again for an unknown kid (key rotation).
    mono.t = 60_000;
    await rejects(v.validate(MAA, token({ kid: 'rotated' }), EXTRA), new RegExp(escape(ERR_UNSUPPORTED_KEY_TYPE)));
    assert.equal(t.requests.length, 2);
  });

  it('binds the algorithm to the key: an EC algorithm with the RSA key (and vice versa) fails', async () => {
    const v = validator(fakeMaa());
    await rejects(v.validate(MAA, token({ alg: 'ES256', kid: 'rsa-1' }), EXTRA), new RegExp(`${escape(ERR_CRYPTO_FAILURE)} \\(ES256 needs an EC key, the key is rsa\\)`));
    await rejects(v.validate(MAA, token({ alg: 'RS256', kid: 'ec-1', key: RSA.privateKey }), EXTRA), new RegExp(`${escape(ERR_CRYPTO_FAILURE)} \\(RS256 needs an RSA key, the key is ec\\)`));
    await rejects(v.validate(MAA, token({ alg: 'ES384', kid: 'ec-1', key: P384.privateKey }), EXTRA), /ES384 needs curve secp384r1, the key is on prime256v1/);
  });

  it('refuses alg "none", HMAC and unknown algorithms while parsing, before any request', async () => {
    const t = fakeMaa();
    const v = validator(t);
    await rejects(v.validate(MAA, token({ alg: 'none' }), EXTRA), /^validating token: parsing token: JWS algorithm "none" is not accepted \(accepted: RS256, /);
    await rejects(v.validate(MAA, token({ alg: 'HS256' }), EXTRA), /^validating token: parsing token: JWS algorithm "HS256" is not accepted/);
    await rejects(v.validate(MAA, token({ alg: 'EdDSA' }), EXTRA), /JWS algorithm "EdDSA" is not accepted/);
    await rejects(v.validate(MAA, token({ header: { crit: ['exp'] } }), EXTRA), /^validating token: parsing token: JWS header has a "crit" parameter/);
    await rejects(v.validate(MAA, '', EXTRA), 'validating token: parsing token: go-jose/go-jose: compact JWS format must have three parts');
    await rejects(v.validate(MAA, 'a.b', EXTRA), 'validating token: parsing token: go-jose/go-jose: compact JWS format must have three parts');
    await rejects(v.validate(MAA, `${b64url('{"alg":"RS256"')}.e30.`, EXTRA), /^validating token: parsing token: header: /);
    assert.equal(t.requests.length, 0);
  });

  describe('registered claims (one minute of leeway, each only when present)', () => {
    const s = Math.floor(NOW / 1000);
    it('rejects an expired token and accepts one inside the leeway', async () => {
      const v = validator(fakeMaa());
      await rejects(v.validate(MAA, token({ claims: claims({ exp: s - 61 }) }), EXTRA), `validating token: validating claims: ${ERR_EXPIRED}`);
      await v.validate(MAA, token({ claims: claims({ exp: s - 59 }) }), EXTRA);
    });
    it('rejects a token not valid yet (nbf) and one issued in the future (iat)', async () => {
      const v = validator(fakeMaa());
      await rejects(v.validate(MAA, token({ claims: claims({ nbf: s + 61 }) }), EXTRA), `validating token: validating claims: ${ERR_NOT_VALID_YET}`);
      await rejects(v.validate(MAA, token({ claims: claims({ iat: s + 61 }) }), EXTRA), `validating token: validating claims: ${ERR_ISSUED_IN_THE_FUTURE}`);
      await v.validate(MAA, token({ claims: claims({ nbf: s + 59, iat: s + 59 }) }), EXTRA);
    });
    it('accepts a token without exp/nbf/iat (go-jose checks only present claims) and rejects a non-numeric one', async () => {
      const v = validator(fakeMaa());
      await v.validate(MAA, token({ claims: claims({ exp: undefined, nbf: undefined, iat: undefined }) }), EXTRA);
      await rejects(v.validate(MAA, token({ claims: claims({ exp: 'tomorrow' }) }), EXTRA), /^validating token: validating claims: json: cannot unmarshal string/);
    });
  });

  describe('private claims', () => {
    const v = validator(fakeMaa());
    it('requires x-ms-runtime.client-payload.nonce = base64(extraData)', async () => {
      await rejects(v.validate(MAA, token(), new Uint8Array(32)), 'invalid claims: nonce does not match extra data');
      await rejects(v.validate(MAA, token({ claims: claims({ 'x-ms-runtime': { 'client-payload': { nonce: Buffer.from(EXTRA).toString('base64url') } } }) }), EXTRA), 'invalid claims: nonce does not match extra data');
    });
    it('names the missing claim', async () => {
      await rejects(v.validate(MAA, token({ claims: claims({ 'x-ms-runtime': undefined }) }), EXTRA), 'invalid claims: missing x-ms-runtime');
      await rejects(v.validate(MAA, token({ claims: claims({ 'x-ms-runtime': 'x' }) }), EXTRA), 'invalid claims: missing x-ms-runtime');
      await rejects(v.validate(MAA, token({ claims: claims({ 'x-ms-runtime': { keys: [] } }) }), EXTRA), 'invalid claims: missing client-payload');
      await rejects(v.validate(MAA, token({ claims: claims({ 'x-ms-runtime': { 'client-payload': {} } }) }), EXTRA), 'invalid claims: missing nonce');
      await rejects(v.validate(MAA, token({ claims: claims({ 'x-ms-runtime': { 'client-payload': { nonce: 5 } } }) }), EXTRA), 'invalid claims: missing nonce');
    });
  });
});

describe('ID key digest enforcement (§10)', () => {
  const REPORTED = new Uint8Array(48).fill(0x57);
  const ACCEPTED = [new Uint8Array(48).fill(0x03), new Uint8Array(48).fill(0x04)];
  const cfg = (enforcementPolicy: FirmwareSignerConfig['enforcementPolicy'], maaUrl = MAA): FirmwareSignerConfig => ({ acceptedKeyDigests: ACCEPTED, enforcementPolicy, maaUrl });
  const mismatch = `idkeydigests ${goDigestList(ACCEPTED)} don't contain reported idkeydigest ${Buffer.from(REPORTED).toString('hex')}`;
  const neverMaa = { validate: (): Promise<void> => Promise.reject(new Error('the MAA must not be asked')) };

  it('passes an accepted digest in every mode without asking the MAA', async () => {
    for (const mode of ['Equal', 'WarnOnly', 'MAAFallback', 'Unknown'] as const) {
      const out = await checkIdKeyDigest(ACCEPTED[1]!, cfg(mode), { maaToken: '', extraData: EXTRA, maa: neverMaa });
      assert.deepEqual(out, { via: 'accepted-digest', warnings: [] });
    }
  });

  it('Equal (and a missing policy) reject with Go\'s text', async () => {
    assert.match(goDigestList(ACCEPTED), /^\[(03){48} (04){48}\]$/);
    for (const mode of ['Equal', 'Unknown'] as const) {
      await assert.rejects(checkIdKeyDigest(REPORTED, cfg(mode), { maaToken: token(), extraData: EXTRA, maa: neverMaa }), (err: unknown) => {
        assert.ok(err instanceof JoinServiceError);
        assert.equal(err.code, ErrorCode.AttestationRejected);
        assert.equal(err.message, `configured ${mismatch}`);
        return true;
      });
    }
  });

  it('WarnOnly passes with a warning', async () => {
    assert.deepEqual(await checkIdKeyDigest(REPORTED, cfg('WarnOnly'), { maaToken: '', extraData: EXTRA, maa: neverMaa }), { via: 'warn-only', warnings: [`Configured ${mismatch}`] });
  });

  it('MAAFallback lets the token decide', async () => {
    const out = await checkIdKeyDigest(REPORTED, cfg('MAAFallback'), { maaToken: token(), extraData: EXTRA, maa: validator(fakeMaa()) });
    assert.equal(out.via, 'maa');
    assert.equal(out.warnings.length, 1);
    await assert.rejects(checkIdKeyDigest(REPORTED, cfg('MAAFallback'), { maaToken: token(), extraData: new Uint8Array(32), maa: validator(fakeMaa()) }), {
      code: ErrorCode.AttestationRejected,
      message: 'invalid claims: nonce does not match extra data',
    });
    await assert.rejects(checkIdKeyDigest(REPORTED, cfg('MAAFallback', ''), { maaToken: token(), extraData: EXTRA, maa: validator(fakeMaa()) }), {
      code: ErrorCode.AttestationRejected,
      message: 'getting key set from MAA: maaURL is empty',
    });
    await assert.rejects(checkIdKeyDigest(REPORTED, cfg('MAAFallback'), { maaToken: token(), extraData: EXTRA, maa: validator(fakeMaa(() => ({ status: 503 }))) }), {
      code: ErrorCode.AttestationUpstreamUnavailable,
      message: 'getting key set from MAA: 503 Service Unavailable',
    });
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

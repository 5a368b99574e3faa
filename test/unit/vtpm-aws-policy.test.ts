import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode, JoinServiceError } from '../../src/shared/errors.js';
import type { MachineState, VtpmDocument } from '../../src/workers/attestation/vtpm/types.js';
import { amzDate, sha256Hex, signingKey, signV4, type AwsCredentials } from '../../src/workers/attestation/vtpm/aws/sigv4.js';
import {
  decodeInstanceIdentityDocument,
  defaultEc2Endpoint,
  isStrictRfc3339,
  isValidAwsRegion,
  isValidImageId,
} from '../../src/workers/attestation/vtpm/aws/instance-identity.js';
import {
  createDefaultCredentialsProvider,
  createImdsCredentialsProvider,
  envCredentials,
  staticCredentialsProvider,
} from '../../src/workers/attestation/vtpm/aws/aws-credentials.js';
import { parseXml } from '../../src/workers/attestation/vtpm/aws/ec2-client.js';
import { createAwsNitroTpmPolicy, type AwsNitroTpmPolicyOptions } from '../../src/workers/attestation/vtpm/aws/aws-nitro-tpm-policy.js';
import { ec2Error, startFakeEc2, startFakeImds, FAKE_IMDS_TOKEN, FAKE_ROLE, type FakeEc2 } from '../helpers/fake-ec2.js';

// ---- fixtures -----------------------------------------------------------------------------------

/** The Go re-encoding of an IMDS identity document, exactly as tpm-attestation.md §11.4 shows it. */
const HONEST_INFO =
  '{"devpayProductCodes":null,"marketplaceProductCodes":null,"availabilityZone":"eu-central-1a",' +
  '"privateIp":"10.0.0.12","version":"2017-09-30","region":"eu-central-1","instanceId":"i-0123456789abcdef0",' +
  '"billingProducts":null,"instanceType":"m6a.xlarge","accountId":"123456789012",' +
  '"pendingTime":"2025-01-01T00:00:00Z","imageId":"ami-0123456789abcdef0","kernelId":"","ramdiskId":"",' +
  '"architecture":"x86_64"}';
const IMAGE = 'ami-0123456789abcdef0';

function info(patch: Record<string, unknown>): string {
  return JSON.stringify({ ...(JSON.parse(HONEST_INFO) as object), ...patch });
}

function doc(instanceInfo: string | null): VtpmDocument {
  return {
    attestation: { akPub: new Uint8Array([0, 1]), quotes: [], eventLog: new Uint8Array(0), akCert: new Uint8Array(0), intermediateCerts: [], teeAttestation: 'null' },
    instanceInfo: instanceInfo === null ? null : Buffer.from(instanceInfo),
    userData: new Uint8Array(32),
  };
}

const STATE: MachineState = { hash: 11, platform: { scrtmVersionId: new Uint8Array(0), technology: 0 }, secureBoot: { enabled: false }, verifiedEvents: 0 };

const CREDS: AwsCredentials = { accessKeyId: 'AKIAJOINSERVICETEST1', secretAccessKey: 'c2VjcmV0LWZvci10aGUtZmFrZS1lYzItZW5kcG9pbnQ' };

async function rejects(p: Promise<unknown>, code: ErrorCode, message: string | RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof JoinServiceError, `not a JoinServiceError: ${String(err)}`);
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    assert.equal(err.code, code, `code of ${err.message}`);
    return true;
  });
}

let ec2: FakeEc2;

before(async () => {
  ec2 = await startFakeEc2();
  ec2.secrets.set(CREDS.accessKeyId, CREDS.secretAccessKey);
});

after(async () => {
  await ec2.close();
});

function resetFake(): void {
  ec2.requests.length = 0;
  ec2.images.clear();
  ec2.delayMs = 0;
  ec2.signatureFailures.length = 0;
}

/** A policy against the fake with its own cache. */
function policy(o: AwsNitroTpmPolicyOptions = {}): ReturnType<typeof createAwsNitroTpmPolicy> {
  return createAwsNitroTpmPolicy({ ec2BaseUrl: ec2.baseUrl, credentialsProvider: staticCredentialsProvider(CREDS), cacheTtlMs: 60_000, ...o });
}

// ---- SigV4 --------------------------------------------------------------------------------------

describe('SigV4 against the AWS documentation and test suite', () => {
  // aws-sig-v4-test-suite credentials and time; service "service", region us-east-1, host example.amazonaws.com.
  const SUITE: AwsCredentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
  const AT = new Date('2015-08-30T12:36:00Z');
  const params = { credentials: SUITE, region: 'us-east-1', service: 'service', date: AT };
  const host = 'example.amazonaws.com';

  test('derived signing key of the documented example (20150830/us-east-1/iam)', () => {
    assert.equal(signingKey(SUITE.secretAccessKey, '20150830', 'us-east-1', 'iam').toString('hex'), 'c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9');
    assert.equal(amzDate(AT), '20150830T123600Z');
  });

  test('the documented IAM ListUsers example', () => {
    const s = signV4(
      {
        method: 'GET',
        host: 'iam.amazonaws.com',
        path: '/',
        query: [['Version', '2010-05-08'], ['Action', 'ListUsers']],
        headers: { 'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8' },
        body: '',
      },
      { ...params, service: 'iam' },
    );
    assert.equal(
      s.canonicalRequest,
      'GET\n/\nAction=ListUsers&Version=2010-05-08\ncontent-type:application/x-www-form-urlencoded; charset=utf-8\nhost:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
    assert.equal(sha256Hex(s.canonicalRequest), 'f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59');
    assert.equal(
      s.authorization,
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7',
    );
  });

  const suite: Array<{ name: string; method: string; query?: Array<[string, string]>; headers?: Record<string, string>; body?: string; signature: string; signedHeaders?: string }> = [
    { name: 'get-vanilla', method: 'GET', signature: '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31' },
    { name: 'post-vanilla', method: 'POST', signature: '5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b' },
    { name: 'post-vanilla-query', method: 'POST', query: [['Param1', 'value1']], signature: '28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11' },
    {
      name: 'get-header-value-trim',
      method: 'GET',
      headers: { 'My-Header1': ' value1', 'My-Header2': ' "a   b   c"' },
      signature: 'acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736',
      signedHeaders: 'host;my-header1;my-header2;x-amz-date',
    },
    {
      name: 'post-x-www-form-urlencoded',
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'Param1=value1',
      signature: 'ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a',
      signedHeaders: 'content-type;host;x-amz-date',
    },
  ];
  for (const c of suite) {
    test(`test suite: ${c.name}`, () => {
      const s = signV4({ method: c.method, host, path: '/', query: c.query, headers: c.headers, body: c.body ?? '' }, params);
      assert.equal(s.signature, c.signature);
      if (c.signedHeaders) assert.equal(s.signedHeaders, c.signedHeaders);
      assert.equal(s.headers['X-Amz-Date'], '20150830T123600Z');
    });
  }

  test('test suite: post-sts-header-before (session token signed)', () => {
    const token =
      'AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==';
    const s = signV4({ method: 'POST', host, path: '/', body: '' }, { ...params, credentials: { ...SUITE, sessionToken: token } });
    assert.equal(s.signedHeaders, 'host;x-amz-date;x-amz-security-token');
    assert.equal(s.signature, '85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead');
    assert.equal(s.headers['X-Amz-Security-Token'], token);
  });
});

// ---- InstanceInfo -------------------------------------------------------------------------------

describe('aws-nitro-tpm InstanceInfo (Go json.Unmarshal into imds.InstanceIdentityDocument)', () => {
  test('the honest Go re-encoding decodes', () => {
    const d = decodeInstanceIdentityDocument(Buffer.from(HONEST_INFO));
    assert.equal(d.region, 'eu-central-1');
    assert.equal(d.imageId, IMAGE);
    assert.equal(d.pendingTime, '2025-01-01T00:00:00Z');
    assert.equal(d.devpayProductCodes, null);
    assert.equal(d.architecture, 'x86_64');
  });

  test('the raw IMDS document (pretty-printed, lists, fractional time) decodes too; keys fold case', () => {
    const raw = `{
  "accountId" : "123456789012",
  "architecture" : "x86_64",
  "availabilityZone" : "us-east-1b",
  "billingProducts" : ["bp-6ba54002"],
  "devpayProductCodes" : null,
  "marketplaceProductCodes" : [ "1abc2defghijklm3nopqrs4tu" ],
  "imageId" : "ami-5fb8c835",
  "instanceId" : "i-1234567890abcdef0",
  "instanceType" : "t2.micro",
  "kernelId" : null,
  "pendingTime" : "2016-11-19T16:32:11.123+01:00",
  "privateIp" : "172.31.34.226",
  "ramdiskId" : null,
  "REGION" : "us-east-1",
  "version" : "2017-09-30",
  "unknownKey": {"a": [1, 2]}
}`;
    const d = decodeInstanceIdentityDocument(Buffer.from(raw));
    assert.equal(d.region, 'us-east-1');
    assert.equal(d.imageId, 'ami-5fb8c835');
    assert.deepEqual(d.billingProducts, ['bp-6ba54002']);
    assert.deepEqual(d.marketplaceProductCodes, ['1abc2defghijklm3nopqrs4tu']);
    assert.equal(d.kernelId, '');
  });

  test("Go's error texts", () => {
    const cases: Array<[string | null, string]> = [
      [null, 'unexpected end of JSON input'],
      ['', 'unexpected end of JSON input'],
      ['{invalid}', "invalid character 'i' looking for beginning of object key string"],
      ['"x"', 'json: cannot unmarshal string into Go value of type imds.InstanceIdentityDocument'],
      ['{"region":1}', 'json: cannot unmarshal number into Go struct field InstanceIdentityDocument.region of type string'],
      ['{"devpayProductCodes":"x"}', 'json: cannot unmarshal string into Go struct field InstanceIdentityDocument.devpayProductCodes of type []string'],
      ['{"billingProducts":[1]}', 'json: cannot unmarshal number into Go struct field InstanceIdentityDocument.billingProducts of type string'],
      ['{"pendingTime":5}', 'Time.UnmarshalJSON: input is not a JSON string'],
      ['{"pendingTime":{}}', 'Time.UnmarshalJSON: input is not a JSON string'],
      ['{"pendingTime":"yesterday"}', 'parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": not a valid RFC 3339 date-time'],
      // A Time error ends decoding at once and wins over an earlier type error, as in Go.
      ['{"region":1,"pendingTime":true}', 'Time.UnmarshalJSON: input is not a JSON string'],
    ];
    for (const [input, message] of cases) {
      assert.throws(() => decodeInstanceIdentityDocument(input === null ? null : Buffer.from(input)), { message }, String(input));
    }
    assert.equal(decodeInstanceIdentityDocument(Buffer.from('{"pendingTime":null}')).pendingTime, '');
  });

  test('RFC 3339 strictness', () => {
    for (const ok of ['2025-01-01T00:00:00Z', '2024-02-29T23:59:59.999999999+14:00', '2016-11-19T16:32:11-07:30']) assert.ok(isStrictRfc3339(ok), ok);
    for (const bad of ['2025-01-01 00:00:00Z', '2025-1-01T00:00:00Z', '2025-02-30T00:00:00Z', '2023-02-29T00:00:00Z', '2025-01-01T24:00:00Z', '2025-01-01T00:00:60Z', '2025-01-01T00:00:00+24:00', '2025-01-01T00:00:00', '2025-01-01T00:00:00,5Z']) {
      assert.ok(!isStrictRfc3339(bad), bad);
    }
  });

  test('regions and image IDs', () => {
    for (const ok of ['us-east-1', 'eu-central-1', 'ap-southeast-5', 'us-gov-west-1', 'cn-north-1', 'il-central-1', 'ca-west-1']) assert.ok(isValidAwsRegion(ok), ok);
    for (const bad of ['', 'us-east-1.evil.com', 'us-east-1/', 'evil.com#', '169.254.169.254', 'us-east-1:443', 'US-EAST-1', 'us-east', 'useast1', 'us-east-1 ', 'us-east-1\n', '../us-east-1']) {
      assert.ok(!isValidAwsRegion(bad), bad);
    }
    assert.equal(defaultEc2Endpoint('eu-central-1'), 'https://ec2.eu-central-1.amazonaws.com');
    assert.equal(defaultEc2Endpoint('cn-north-1'), 'https://ec2.cn-north-1.amazonaws.com.cn');
    assert.throws(() => defaultEc2Endpoint('us-east-1.evil.com'));
    for (const ok of ['ami-5fb8c835', 'ami-0123456789abcdef0']) assert.ok(isValidImageId(ok), ok);
    for (const bad of ['', 'ami-tpm-enabled', 'ami-1234567', 'ami-0123456789abcdef01', 'AMI-5fb8c835', 'ami-5FB8C835', 'ami-5fb8c835&ImageId.2=ami-00000000']) assert.ok(!isValidImageId(bad), bad);
  });
});

// ---- the policy against the fake EC2 --------------------------------------------------------------

describe('aws-nitro-tpm policy against the fake EC2 endpoint', () => {
  test('trustedAk trusts the document', async () => {
    assert.equal(await policy().trustedAk(doc(HONEST_INFO), new Uint8Array(32)), 'document');
  });

  test('happy path: a signed DescribeImages for the document\'s AMI, tpmSupport v2.0', async () => {
    resetFake();
    ec2.images.set(IMAGE, { tpmSupport: 'v2.0' });
    await policy({ clock: () => new Date('2026-01-02T03:04:05Z') }).cvmCheck(doc(HONEST_INFO), STATE);
    assert.deepEqual(ec2.signatureFailures, []);
    const [req] = ec2.requests;
    assert.ok(req);
    assert.equal(req.method, 'POST');
    assert.equal(req.url, '/');
    assert.equal(req.headers['content-type'], 'application/x-www-form-urlencoded; charset=utf-8');
    assert.equal(req.body.toString(), `Action=DescribeImages&Version=2016-11-15&ImageId.1=${IMAGE}`);
    assert.equal(req.headers['x-amz-date'], '20260102T030405Z');
    assert.match(
      String(req.headers.authorization),
      /^AWS4-HMAC-SHA256 Credential=AKIAJOINSERVICETEST1\/20260102\/eu-central-1\/ec2\/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=[0-9a-f]{64}$/,
    );
    assert.equal(req.headers['x-amz-security-token'], undefined);
  });

  test('temporary credentials send and sign the session token', async () => {
    resetFake();
    ec2.images.set(IMAGE, { tpmSupport: 'v2.0' });
    const creds = { ...CREDS, sessionToken: 'IQoJb3JpZ2luX2VjEFakeSessionToken//////////wEaCXVzLWVhc3QtMSJHMEUCIQ==' };
    await policy({ credentialsProvider: staticCredentialsProvider(creds) }).cvmCheck(doc(HONEST_INFO), STATE);
    assert.deepEqual(ec2.signatureFailures, []);
    assert.equal(ec2.requests[0]!.headers['x-amz-security-token'], creds.sessionToken);
    assert.match(String(ec2.requests[0]!.headers.authorization), /SignedHeaders=content-type;host;x-amz-date;x-amz-security-token,/);
  });

  test('a wrong secret is refused by the fake (it verifies signatures) and is the service\'s problem', async () => {
    resetFake();
    ec2.images.set(IMAGE, { tpmSupport: 'v2.0' });
    await rejects(
      policy({ credentialsProvider: staticCredentialsProvider({ ...CREDS, secretAccessKey: 'wrong' }) }).cvmCheck(doc(HONEST_INFO), STATE),
      ErrorCode.AttestationUpstreamUnavailable,
      /^operation error EC2: DescribeImages, https response error StatusCode: 401, RequestID: [\w-]+, api error AuthFailure: AWS was not able to validate the provided access credentials$/,
    );
    assert.deepEqual(ec2.signatureFailures, ['signature mismatch']);
  });

  test('no tpmSupport, or another value: Go\'s text', async () => {
    resetFake();
    ec2.images.set(IMAGE, {});
    await rejects(policy().cvmCheck(doc(HONEST_INFO), STATE), ErrorCode.AttestationRejected, `iam image ${IMAGE} does not support TPM v2.0`);
    ec2.images.set(IMAGE, { tpmSupport: 'v1.2' });
    await rejects(policy().cvmCheck(doc(HONEST_INFO), STATE), ErrorCode.AttestationRejected, `iam image ${IMAGE} does not support TPM v2.0`);
    ec2.images.set(IMAGE, { tpmSupport: ' v2.0' });
    await rejects(policy().cvmCheck(doc(HONEST_INFO), STATE), ErrorCode.AttestationRejected, `iam image ${IMAGE} does not support TPM v2.0`);
  });

  test('only the image\'s own tpmSupport counts (not one nested deeper)', async () => {
    resetFake();
    const xml = `<DescribeImagesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><imagesSet><item><imageId>${IMAGE}</imageId><tagSet><item><tpmSupport>v2.0</tpmSupport></item></tagSet></item></imagesSet></DescribeImagesResponse>`;
    ec2.images.set(IMAGE, { reply: { status: 200, body: xml } });
    await rejects(policy().cvmCheck(doc(HONEST_INFO), STATE), ErrorCode.AttestationRejected, `iam image ${IMAGE} does not support TPM v2.0`);
  });

  test('an empty DescribeImages result is a rejection, not a crash (G3)', async () => {
    resetFake();
    const empty = '<?xml version="1.0" encoding="UTF-8"?>\n<DescribeImagesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r-1</requestId><imagesSet/></DescribeImagesResponse>';
    ec2.images.set(IMAGE, { reply: { status: 200, body: empty } });
    await rejects(policy().cvmCheck(doc(HONEST_INFO), STATE), ErrorCode.AttestationRejected, `iam image ${IMAGE} not found: DescribeImages returned no images`);
    ec2.images.set(IMAGE, { reply: { status: 200, body: '<DescribeImagesResponse><requestId>r-2</requestId></DescribeImagesResponse>' } });
    await rejects(policy().cvmCheck(doc(HONEST_INFO), STATE), ErrorCode.AttestationRejected, `iam image ${IMAGE} not found: DescribeImages returned no images`);
  });

  test('EC2 API errors, with the SDK\'s operation-error text', async () => {
    resetFake();
    const other = 'ami-00000000000000000';
    await rejects(
      policy().cvmCheck(doc(info({ imageId: other })), STATE),
      ErrorCode.AttestationRejected,
      `operation error EC2: DescribeImages, https response error StatusCode: 400, RequestID: b3c4a5d6-0000-4000-8000-fakeREQUEST1, api error InvalidAMIID.NotFound: The image id '[${other}]' does not exist`,
    );
    ec2.images.set(IMAGE, { reply: ec2Error(403, 'UnauthorizedOperation', 'You are not authorized to perform this operation.') });
    await rejects(policy().cvmCheck(doc(HONEST_INFO), STATE), ErrorCode.AttestationUpstreamUnavailable, /api error UnauthorizedOperation: You are not authorized/);
    ec2.images.set(IMAGE, { reply: ec2Error(503, 'Unavailable', 'The server is overloaded') });
    await rejects(policy().cvmCheck(doc(HONEST_INFO), STATE), ErrorCode.AttestationUpstreamUnavailable, /StatusCode: 503, .*api error Unavailable/);
    ec2.images.set(IMAGE, { reply: { status: 500, body: 'oops' } });
    await rejects(policy().cvmCheck(doc(HONEST_INFO), STATE), ErrorCode.AttestationUpstreamUnavailable, 'operation error EC2: DescribeImages, https response error StatusCode: 500, RequestID: ');
  });

  test('malformed or hostile XML is refused', async () => {
    resetFake();
    const bodies = [
      '<DescribeImagesResponse><imagesSet><item></imagesSet></DescribeImagesResponse>',
      '<!DOCTYPE x [<!ENTITY e "v2.0">]><DescribeImagesResponse><imagesSet><item><tpmSupport>&e;</tpmSupport></item></imagesSet></DescribeImagesResponse>',
      '<DescribeImagesResponse><imagesSet><item><tpmSupport>v2.0</tpmSupport></item></imagesSet>',
      'v2.0',
      '<Other/>',
    ];
    for (const body of bodies) {
      ec2.images.set(IMAGE, { reply: { status: 200, body } });
      await rejects(policy().cvmCheck(doc(HONEST_INFO), STATE), ErrorCode.AttestationUpstreamUnavailable, /^operation error EC2: DescribeImages, deserialization failed, /);
    }
  });

  test('invalid region / image ID are rejected before any request', async () => {
    resetFake();
    const cases: Array<[string, string]> = [
      [info({ region: 'us-east-1.evil.com' }), 'invalid region "us-east-1.evil.com" in instance identity document'],
      [info({ region: '' }), 'invalid region "" in instance identity document'],
      [info({ region: 'eu-central-1/../../x' }), 'invalid region "eu-central-1/../../x" in instance identity document'],
      [info({ imageId: 'ami-tpm-enabled' }), 'invalid image ID "ami-tpm-enabled" in instance identity document'],
      [info({ imageId: `${IMAGE}&ImageId.2=ami-00000000` }), `invalid image ID "${IMAGE}&ImageId.2=ami-00000000" in instance identity document`],
      ['null', 'invalid region "" in instance identity document'],
    ];
    for (const [i, message] of cases) await rejects(policy().cvmCheck(doc(i), STATE), ErrorCode.AttestationRejected, message);
    await rejects(policy().cvmCheck(doc(null), STATE), ErrorCode.AttestationMalformed, 'unexpected end of JSON input');
    await rejects(policy().cvmCheck(doc('{"imageId":[]}'), STATE), ErrorCode.AttestationMalformed, 'json: cannot unmarshal array into Go struct field InstanceIdentityDocument.imageId of type string');
    assert.equal(ec2.requests.length, 0);
  });

  test('the endpoint is built from the validated region by default', async () => {
    resetFake();
    const seen: string[] = [];
    const p = createAwsNitroTpmPolicy({
      credentialsProvider: staticCredentialsProvider(CREDS),
      cacheTtlMs: 1,
      endpointFor: (region) => {
        seen.push(defaultEc2Endpoint(region));
        return ec2.baseUrl;
      },
    });
    ec2.images.set(IMAGE, { tpmSupport: 'v2.0' });
    await p.cvmCheck(doc(HONEST_INFO), STATE);
    assert.deepEqual([...new Set(seen)], ['https://ec2.eu-central-1.amazonaws.com']);
    assert.throws(() => createAwsNitroTpmPolicy({ ec2BaseUrl: 'http://ec2.example.com', credentialsProvider: staticCredentialsProvider(CREDS) }), /must be an https URL/);
  });
});

// ---- caching and bounds ---------------------------------------------------------------------------

describe('aws-nitro-tpm caching and request bounds', () => {
  test('cache hit: the same image is described once', async () => {
    resetFake();
    ec2.images.set(IMAGE, { tpmSupport: 'v2.0' });
    const p = policy();
    await p.cvmCheck(doc(HONEST_INFO), STATE);
    await p.cvmCheck(doc(info({ instanceId: 'i-0fedcba9876543210' })), STATE);
    assert.equal(ec2.requests.length, 1);
    // Another region is another key.
    await p.cvmCheck(doc(info({ region: 'eu-west-1' })), STATE);
    assert.equal(ec2.requests.length, 2);
  });

  test('negative answers are cached too; errors are not', async () => {
    resetFake();
    ec2.images.set(IMAGE, {});
    const p = policy();
    await assert.rejects(p.cvmCheck(doc(HONEST_INFO), STATE));
    await assert.rejects(p.cvmCheck(doc(HONEST_INFO), STATE));
    assert.equal(ec2.requests.length, 1);
    ec2.images.set(IMAGE, { reply: { status: 500, body: '' } });
    const q = policy();
    await assert.rejects(q.cvmCheck(doc(HONEST_INFO), STATE));
    await assert.rejects(q.cvmCheck(doc(HONEST_INFO), STATE));
    assert.equal(ec2.requests.length, 3);
  });

  test('single-flight: concurrent checks of one image share one request', async () => {
    resetFake();
    ec2.images.set(IMAGE, { tpmSupport: 'v2.0' });
    ec2.delayMs = 100;
    const p = policy();
    await Promise.all(Array.from({ length: 8 }, () => p.cvmCheck(doc(HONEST_INFO), STATE)));
    assert.equal(ec2.requests.length, 1);
  });

  test('entries expire after the TTL (injected clock)', async () => {
    resetFake();
    ec2.images.set(IMAGE, { tpmSupport: 'v2.0' });
    let t = 0;
    const p = policy({ cacheTtlMs: 600_000, now: () => t });
    await p.cvmCheck(doc(HONEST_INFO), STATE);
    t = 599_999;
    await p.cvmCheck(doc(HONEST_INFO), STATE);
    assert.equal(ec2.requests.length, 1);
    t = 600_000;
    await p.cvmCheck(doc(HONEST_INFO), STATE);
    assert.equal(ec2.requests.length, 2);
  });

  test('default-settings policies share the per-worker cache', async () => {
    resetFake();
    ec2.images.set('ami-11111111', { tpmSupport: 'v2.0' });
    const make = (): ReturnType<typeof createAwsNitroTpmPolicy> => createAwsNitroTpmPolicy({ ec2BaseUrl: ec2.baseUrl, credentialsProvider: staticCredentialsProvider(CREDS) });
    await make().cvmCheck(doc(info({ imageId: 'ami-11111111' })), STATE);
    await make().cvmCheck(doc(info({ imageId: 'ami-11111111' })), STATE);
    assert.equal(ec2.requests.length, 1);
  });

  test('a hanging endpoint times out', async () => {
    resetFake();
    ec2.images.set(IMAGE, { reply: 'hang' });
    const started = Date.now();
    await rejects(
      policy({ timeoutMs: 200 }).cvmCheck(doc(HONEST_INFO), STATE),
      ErrorCode.AttestationUpstreamUnavailable,
      /^operation error EC2: DescribeImages, https response error StatusCode: 0, RequestID: , request send failed, Post "http:\/\/127\.0\.0\.1:\d+\/": request timed out after 200 ms$/,
    );
    assert.ok(Date.now() - started < 2_000);
  });

  test('oversized answers are refused (declared and streamed)', async () => {
    resetFake();
    const big = `<DescribeImagesResponse><imagesSet><item><imageId>${IMAGE}</imageId><tpmSupport>v2.0</tpmSupport><description>${'x'.repeat(8192)}</description></item></imagesSet></DescribeImagesResponse>`;
    ec2.images.set(IMAGE, { reply: { status: 200, body: big } });
    await rejects(policy({ maxResponseBytes: 4096 }).cvmCheck(doc(HONEST_INFO), STATE), ErrorCode.AttestationUpstreamUnavailable, /response body of \d+ bytes exceeds the limit of 4096 bytes$/);
    ec2.images.set(IMAGE, { reply: { status: 200, body: big, chunked: true } });
    await rejects(policy({ maxResponseBytes: 4096 }).cvmCheck(doc(HONEST_INFO), STATE), ErrorCode.AttestationUpstreamUnavailable, /response body exceeds the limit of 4096 bytes$/);
  });
});

// ---- credentials --------------------------------------------------------------------------------

describe('aws-nitro-tpm credentials', () => {
  test('environment credentials come first', async () => {
    const env = { AWS_ACCESS_KEY_ID: 'AKIAENV', AWS_SECRET_ACCESS_KEY: 'envsecret', AWS_SESSION_TOKEN: 'envtoken' };
    assert.deepEqual(envCredentials(env), { accessKeyId: 'AKIAENV', secretAccessKey: 'envsecret', sessionToken: 'envtoken' });
    assert.equal(envCredentials({ AWS_ACCESS_KEY_ID: 'AKIAENV' }), undefined);
    const p = createDefaultCredentialsProvider({ env, imdsBaseUrl: 'http://127.0.0.1:9' });
    assert.equal((await p.getCredentials()).accessKeyId, 'AKIAENV');
  });

  test('IMDSv2 instance-role credentials: token, role, credentials; cached until shortly before expiry', async () => {
    let wall = Date.parse('2026-01-01T00:00:00Z');
    const imds = await startFakeImds({ AccessKeyId: 'ASIAROLE', SecretAccessKey: 'rolesecret', Token: 'roletoken', Expiration: '2026-01-01T06:00:00Z' });
    try {
      const provider = createImdsCredentialsProvider({ imdsBaseUrl: imds.baseUrl, clock: () => wall });
      const c = await provider.getCredentials();
      assert.deepEqual(c, { accessKeyId: 'ASIAROLE', secretAccessKey: 'rolesecret', sessionToken: 'roletoken', expiresAt: Date.parse('2026-01-01T06:00:00Z') });
      assert.deepEqual(
        imds.requests.map((r) => `${r.method} ${r.url}`),
        ['PUT /latest/api/token', 'GET /latest/meta-data/iam/security-credentials/', `GET /latest/meta-data/iam/security-credentials/${FAKE_ROLE}`],
      );
      assert.equal(imds.requests[0]!.headers['x-aws-ec2-metadata-token-ttl-seconds'], '21600');
      assert.equal(imds.requests[1]!.headers['x-aws-ec2-metadata-token'], FAKE_IMDS_TOKEN);
      await Promise.all([provider.getCredentials(), provider.getCredentials()]);
      assert.equal(imds.requests.length, 3);
      wall = Date.parse('2026-01-01T05:55:00Z'); // 5 min before expiry: refresh
      imds.credentials = { AccessKeyId: 'ASIAROLE2', SecretAccessKey: 'rolesecret2', Token: 'roletoken2', Expiration: '2026-01-01T12:00:00Z' };
      assert.equal((await provider.getCredentials()).accessKeyId, 'ASIAROLE2');
      assert.equal(imds.requests.length, 6);
    } finally {
      await imds.close();
    }
  });

  test('the policy signs with instance-role credentials', async () => {
    resetFake();
    ec2.images.set(IMAGE, { tpmSupport: 'v2.0' });
    ec2.secrets.set('ASIAPOLICYROLE', 'policyrolesecret');
    const imds = await startFakeImds({ AccessKeyId: 'ASIAPOLICYROLE', SecretAccessKey: 'policyrolesecret', Token: 'policy-session', Expiration: '2999-01-01T00:00:00Z' });
    try {
      await createAwsNitroTpmPolicy({ ec2BaseUrl: ec2.baseUrl, credentialsProvider: createImdsCredentialsProvider({ imdsBaseUrl: imds.baseUrl }), cacheTtlMs: 1 }).cvmCheck(doc(HONEST_INFO), STATE);
      assert.deepEqual(ec2.signatureFailures, []);
      assert.equal(ec2.requests[0]!.headers['x-amz-security-token'], 'policy-session');
    } finally {
      await imds.close();
    }
  });

  test('credential failures are the service\'s problem and carry no secrets', async () => {
    resetFake();
    const imds = await startFakeImds({ AccessKeyId: 'ASIAX', SecretAccessKey: 'topsecret', Token: 't', Expiration: '2999-01-01T00:00:00Z' });
    try {
      imds.roleList = '';
      await rejects(
        policy({ credentialsProvider: createImdsCredentialsProvider({ imdsBaseUrl: imds.baseUrl }) }).cvmCheck(doc(HONEST_INFO), STATE),
        ErrorCode.AttestationUpstreamUnavailable,
        /^operation error EC2: DescribeImages, get identity: get credentials: EC2 IMDS: GET \/latest\/meta-data\/iam\/security-credentials\/: status 404/,
      );
      assert.equal(ec2.requests.length, 0);
    } finally {
      await imds.close();
    }
    await rejects(
      policy({ credentialsProvider: createImdsCredentialsProvider({ imdsBaseUrl: 'http://127.0.0.1:9', timeoutMs: 200 }) }).cvmCheck(doc(HONEST_INFO), STATE),
      ErrorCode.AttestationUpstreamUnavailable,
      /^operation error EC2: DescribeImages, get identity: get credentials: EC2 IMDS: Put "http:\/\/127\.0\.0\.1:9\/latest\/api\/token": /,
    );
    assert.throws(() => staticCredentialsProvider({ accessKeyId: 'A\nB', secretAccessKey: 's' }), { message: 'static credentials: invalid access key ID' });
  });
});

// ---- XML reader ---------------------------------------------------------------------------------

describe('the XML reader of EC2 responses', () => {
  test('entities, CDATA, comments, prefixes, attributes with ">"', () => {
    const root = parseXml('<?xml version="1.0"?><!-- c --><a:R xmlns:a="x" k="1>2"><v>&lt;&amp;&#65;&#x42;</v><w><![CDATA[<raw>]]></w><e/></a:R>');
    assert.equal(root.name, 'R');
    assert.deepEqual(root.children.map((c) => [c.name, c.text]), [['v', '<&AB'], ['w', '<raw>'], ['e', '']]);
  });

  test('refuses what it cannot read safely', () => {
    for (const bad of ['', 'text', '<a>', '<a></b>', '<a/><b/>', '<a>&unknown;</a>', '<!DOCTYPE a><a/>', `${'<a>'.repeat(100)}${'</a>'.repeat(100)}`, '<a b="unterminated></a>']) {
      assert.throws(() => parseXml(bad), Error, bad.slice(0, 20));
    }
  });
});

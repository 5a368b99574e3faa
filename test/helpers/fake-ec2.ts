import { createHash, createHmac } from 'node:crypto';
import { startLoopbackServer, type LoopbackReply, type LoopbackRequest, type LoopbackServer } from './loopback-http.js';

/**
 * Loopback stand-ins for what `aws-nitro-tpm` talks to:
 *
 * - startFakeEc2: the EC2 Query API endpoint. Accepts only
 *   `POST /` with `Content-Type: application/x-www-form-urlencoded…`, a body
 *   `Action=DescribeImages&Version=2016-11-15&ImageId.1=…`, and a SigV4
 *   Authorization header for service `ec2` that it verifies itself (its own
 *   compact implementation, with the secrets it knows). Answers the real
 *   XML shapes: DescribeImagesResponse, or Response/Errors/Error.
 * - startFakeImds: IMDSv2 (token, role list, role credentials).
 */

export interface FakeImage {
  /** `tpmSupport` element; omitted when undefined. */
  tpmSupport?: string;
}

export type FakeImageEntry = FakeImage | { reply: LoopbackReply | 'hang' };

export interface FakeEc2 extends LoopbackServer {
  images: Map<string, FakeImageEntry>;
  /** Access key ID → secret the fake accepts. */
  secrets: Map<string, string>;
  /** Delay of every answer (to make calls overlap). */
  delayMs: number;
  /** Reasons of rejected signatures, for assertions. */
  signatureFailures: string[];
}

export function ec2Error(status: number, code: string, message: string): LoopbackReply {
  return {
    status,
    headers: { 'content-type': 'text/xml;charset=UTF-8' },
    body: `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${code}</Code><Message>${message}</Message></Error></Errors><RequestID>b3c4a5d6-0000-4000-8000-fakeREQUEST1</RequestID></Response>`,
  };
}

export function describeImagesXml(items: Array<{ imageId: string } & FakeImage>): string {
  const item = (i: { imageId: string } & FakeImage): string =>
    `
        <item>
            <imageId>${i.imageId}</imageId>
            <imageLocation>123456789012/constellation-v2.24.0</imageLocation>
            <imageState>available</imageState>
            <imageOwnerId>123456789012</imageOwnerId>
            <creationDate>2025-06-01T10:00:00.000Z</creationDate>
            <isPublic>true</isPublic>
            <architecture>x86_64</architecture>
            <imageType>machine</imageType>
            <name>constellation-v2.24.0</name>
            <rootDeviceType>ebs</rootDeviceType>
            <rootDeviceName>/dev/xvda</rootDeviceName>
            <blockDeviceMapping>
                <item>
                    <deviceName>/dev/xvda</deviceName>
                    <ebs>
                        <snapshotId>snap-0123456789abcdef0</snapshotId>
                        <volumeSize>10</volumeSize>
                        <deleteOnTermination>true</deleteOnTermination>
                        <volumeType>gp3</volumeType>
                        <encrypted>false</encrypted>
                    </ebs>
                </item>
            </blockDeviceMapping>
            <virtualizationType>hvm</virtualizationType>
            <tagSet><item><key>Name</key><value>constellation-v2.24.0</value></item></tagSet>
            <hypervisor>xen</hypervisor>
            <enaSupport>true</enaSupport>
            <sriovNetSupport>simple</sriovNetSupport>
            <bootMode>uefi</bootMode>${i.tpmSupport === undefined ? '' : `\n            <tpmSupport>${i.tpmSupport}</tpmSupport>`}
            <platformDetails>Linux/UNIX</platformDetails>
            <usageOperation>RunInstances</usageOperation>
        </item>`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<DescribeImagesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
    <requestId>59dbff89-35bd-4eac-99ed-be587EXAMPLE</requestId>
    <imagesSet>${items.map(item).join('')}
    </imagesSet>
</DescribeImagesResponse>`;
}

const AUTH = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/;

/** Checks the request's SigV4 signature; returns a reason when it is wrong. */
export function checkSigV4(req: LoopbackRequest, secrets: ReadonlyMap<string, string>, expectedService: string): string | undefined {
  const m = AUTH.exec(String(req.headers.authorization ?? ''));
  if (!m) return 'malformed Authorization header';
  const [, akid, day, region, service, signedHeaders, signature] = m as unknown as [string, string, string, string, string, string, string];
  if (service !== expectedService) return `service ${service}`;
  const secret = secrets.get(akid);
  if (secret === undefined) return `unknown access key ${akid}`;
  const stamp = String(req.headers['x-amz-date'] ?? '');
  if (!stamp.startsWith(day)) return 'x-amz-date does not match the credential scope';
  const names = signedHeaders.split(';');
  if (!names.includes('host') || !names.includes('x-amz-date')) return 'host and x-amz-date must be signed';
  if (req.headers['x-amz-security-token'] !== undefined && !names.includes('x-amz-security-token')) return 'session token not signed';
  const canonHeaders = names.map((n) => `${n}:${String(req.headers[n] ?? '').trim().replace(/ +/g, ' ')}\n`).join('');
  const [path, query = ''] = req.url.split('?');
  const creq = [req.method, path, query, canonHeaders, signedHeaders, createHash('sha256').update(req.body).digest('hex')].join('\n');
  const sts = ['AWS4-HMAC-SHA256', stamp, `${day}/${region}/${service}/aws4_request`, createHash('sha256').update(creq).digest('hex')].join('\n');
  let k: Buffer = createHmac('sha256', `AWS4${secret}`).update(day).digest();
  for (const part of [region, service, 'aws4_request']) k = createHmac('sha256', k).update(part).digest();
  const want = createHmac('sha256', k).update(sts).digest('hex');
  return want === signature ? undefined : 'signature mismatch';
}

export async function startFakeEc2(): Promise<FakeEc2> {
  const ref: { ec2?: FakeEc2 } = {};
  const server = await startLoopbackServer((req) => {
    const self = ref.ec2!;
    const delayMs = self.delayMs;
    if (req.method !== 'POST' || req.url !== '/') return { ...ec2Error(400, 'InvalidAction', 'The action is not valid for this web service.'), delayMs };
    if (!String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) return ec2Error(400, 'InvalidParameterValue', 'bad content type');
    const failure = checkSigV4(req, self.secrets, 'ec2');
    if (failure) {
      self.signatureFailures.push(failure);
      return ec2Error(401, 'AuthFailure', 'AWS was not able to validate the provided access credentials');
    }
    const form = new URLSearchParams(req.body.toString('utf8'));
    if (form.get('Action') !== 'DescribeImages' || form.get('Version') !== '2016-11-15') return ec2Error(400, 'InvalidAction', 'unexpected action');
    const keys = [...form.keys()].sort();
    if (keys.join(',') !== 'Action,ImageId.1,Version') return ec2Error(400, 'InvalidParameterCombination', `unexpected parameters ${keys.join(',')}`);
    const imageId = form.get('ImageId.1')!;
    const entry = self.images.get(imageId);
    if (!entry) return { ...ec2Error(400, 'InvalidAMIID.NotFound', `The image id '[${imageId}]' does not exist`), delayMs };
    if ('reply' in entry) return entry.reply;
    return { status: 200, headers: { 'content-type': 'text/xml;charset=UTF-8' }, body: describeImagesXml([{ imageId, ...entry }]), delayMs };
  });
  const ec2 = Object.assign(server, { images: new Map<string, FakeImageEntry>(), secrets: new Map<string, string>(), delayMs: 0, signatureFailures: [] as string[] });
  ref.ec2 = ec2;
  return ec2;
}

// ---- IMDSv2 -------------------------------------------------------------------------------------

export const FAKE_IMDS_TOKEN = 'AQAEAFakeImdsSessionToken==';
export const FAKE_ROLE = 'constellation-control-plane-role';

export interface FakeImdsCredentials {
  AccessKeyId: string;
  SecretAccessKey: string;
  Token: string;
  Expiration: string;
}

export interface FakeImds extends LoopbackServer {
  credentials: FakeImdsCredentials;
  /** Role list body (default FAKE_ROLE + newline). */
  roleList: string;
}

export async function startFakeImds(credentials: FakeImdsCredentials): Promise<FakeImds> {
  const ref: { imds?: FakeImds } = {};
  const server = await startLoopbackServer((req) => {
    const self = ref.imds!;
    if (req.url === '/latest/api/token') {
      if (req.method !== 'PUT' || !req.headers['x-aws-ec2-metadata-token-ttl-seconds']) return { status: 400 };
      return { status: 200, body: FAKE_IMDS_TOKEN };
    }
    if (req.headers['x-aws-ec2-metadata-token'] !== FAKE_IMDS_TOKEN) return { status: 401 };
    if (req.method === 'GET' && req.url === '/latest/meta-data/iam/security-credentials/') {
      return self.roleList === '' ? { status: 404, body: 'Not Found' } : { status: 200, body: self.roleList };
    }
    if (req.method === 'GET' && req.url === `/latest/meta-data/iam/security-credentials/${FAKE_ROLE}`) {
      return {
        status: 200,
        body: JSON.stringify({ Code: 'Success', LastUpdated: '2025-06-01T10:00:00Z', Type: 'AWS-HMAC', ...self.credentials }, null, 2),
      };
    }
    return { status: 404, body: 'Not Found' };
  });
  const imds = Object.assign(server, { credentials, roleList: `${FAKE_ROLE}\n` });
  ref.imds = imds;
  return imds;
}

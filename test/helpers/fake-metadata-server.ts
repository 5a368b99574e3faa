import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A loopback-only (127.0.0.1) stand-in for cloud metadata services. Routes are
 * keyed `"<METHOD> <path?query>"`; unknown routes answer 404. Every request is
 * recorded (method, url, lower-cased headers) so tests can check what was sent.
 */

export interface RecordedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

export interface FakeReply {
  status?: number;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Send the body in chunks without Content-Length (chunked transfer). */
  chunked?: boolean;
}

/** `'hang'`: accept the request and never answer (until the server closes). */
export type FakeHandler = (req: RecordedRequest) => FakeReply | 'hang';

export interface FakeMetadataServer {
  baseUrl: string;
  requests: RecordedRequest[];
  /** Replace or add a route while running. */
  route(key: string, handler: FakeHandler): void;
  close(): Promise<void>;
}

export async function startFakeMetadataServer(routes: Record<string, FakeHandler>): Promise<FakeMetadataServer> {
  const table = new Map(Object.entries(routes));
  const requests: RecordedRequest[] = [];
  const server = http.createServer((req, res) => {
    const rec: RecordedRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers };
    requests.push(rec);
    req.resume();
    req.on('end', () => {
      const handler = table.get(`${rec.method} ${rec.url}`);
      const reply = handler ? handler(rec) : { status: 404, body: '404 page not found\n' };
      if (reply === 'hang') return;
      const body = typeof reply.body === 'string' ? Buffer.from(reply.body) : (reply.body ?? Buffer.alloc(0));
      const headers: Record<string, string> = { ...reply.headers };
      if (!reply.chunked) headers['content-length'] = String(body.length);
      res.writeHead(reply.status ?? 200, headers);
      if (reply.chunked) {
        for (let off = 0; off < body.length; off += 8192) res.write(body.subarray(off, off + 8192));
        res.end();
      } else {
        res.end(body);
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    requests,
    route: (key, handler) => table.set(key, handler),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---- realistic per-provider fakes -------------------------------------------------------------

/** Pass as a field value to leave the field out of a JSON body (JSON.stringify drops symbol values). */
export const OMIT: unique symbol = Symbol('omit');

export const AWS_TOKEN = 'AQAEAHh1ZmFrZS1pbWRzdjItdG9rZW4tZm9yLXRlc3Rz==';

/** AWS IMDSv2: token PUT (requires the TTL header), identity document (requires the token). */
export function awsRoutes(privateIp: unknown = '192.168.178.26'): Record<string, FakeHandler> {
  return {
    'PUT /latest/api/token': (req) => {
      const ttl = Number(req.headers['x-aws-ec2-metadata-token-ttl-seconds']);
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > 21600) return { status: 400, body: 'Bad Request' };
      return { status: 200, headers: { 'content-type': 'text/plain', 'x-aws-ec2-metadata-token-ttl-seconds': String(ttl) }, body: AWS_TOKEN };
    },
    'GET /latest/dynamic/instance-identity/document': (req) => {
      if (req.headers['x-aws-ec2-metadata-token'] !== AWS_TOKEN) return { status: 401, body: 'Unauthorized' };
      const doc = {
        accountId: '123456789012',
        architecture: 'x86_64',
        availabilityZone: 'eu-central-1a',
        billingProducts: null,
        devpayProductCodes: null,
        marketplaceProductCodes: null,
        imageId: 'ami-0a1b2c3d4e5f67890',
        instanceId: 'i-0123456789abcdef0',
        instanceType: 'm6a.xlarge',
        kernelId: null,
        pendingTime: '2026-01-22T15:20:04Z',
        ramdiskId: null,
        region: 'eu-central-1',
        version: '2017-09-30',
        privateIp,
      };
      return { status: 200, headers: { 'content-type': 'text/plain' }, body: JSON.stringify(doc, null, 2) };
    },
  };
}

export const AZURE_INSTANCE_ROUTE = 'GET /metadata/instance?api-version=2021-02-01&format=json';

/** A realistic Azure IMDS instance document (Constellation scale-set VM, one NIC). */
export function azureInstanceDocument(privateIps: string[] = ['10.9.0.5']): Record<string, unknown> {
  return {
    compute: {
      azEnvironment: 'AzurePublicCloud',
      location: 'westeurope',
      name: 'constell-worker-3a1f2c9b_0',
      osType: 'Linux',
      provider: 'Microsoft.Compute',
      resourceGroupName: 'constellation-rg',
      resourceId:
        '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/constellation-rg/providers/Microsoft.Compute/virtualMachineScaleSets/constell-worker-3a1f2c9b/virtualMachines/0',
      subscriptionId: '00000000-0000-0000-0000-000000000000',
      tags: 'constellation-role:worker;constellation-uid:3a1f2c9b',
      vmId: '6f4e5b3a-1c2d-4e5f-8a9b-0c1d2e3f4a5b',
      vmScaleSetName: 'constell-worker-3a1f2c9b',
      vmSize: 'Standard_DC4as_v5',
      zone: '1',
    },
    network: {
      interface: [
        {
          ipv4: {
            ipAddress: privateIps.map((ip) => ({ privateIpAddress: ip, publicIpAddress: '' })),
            subnet: [{ address: '10.9.0.0', prefix: '16' }],
          },
          ipv6: { ipAddress: [] },
          macAddress: '000D3A2B4C5D',
        },
      ],
    },
  };
}

/** Azure IMDS: requires `Metadata: true`, rejects X-Forwarded-For (as IMDS does). */
export function azureRoutes(doc: unknown = azureInstanceDocument()): Record<string, FakeHandler> {
  return {
    [AZURE_INSTANCE_ROUTE]: (req) => {
      if (String(req.headers['metadata']).toLowerCase() !== 'true' || req.headers['x-forwarded-for'] !== undefined) {
        return { status: 400, headers: { 'content-type': 'application/json; charset=utf-8' }, body: '{"error":"Bad request. Required metadata header not specified"}' };
      }
      return { status: 200, headers: { 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify(doc) };
    },
  };
}

export const GCP_IP_ROUTE = 'GET /computeMetadata/v1/instance/network-interfaces/0/ip';

/** GCP metadata server: requires `Metadata-Flavor: Google`, answers with the same header. */
export function gcpRoutes(ip = '10.0.0.2'): Record<string, FakeHandler> {
  return {
    [GCP_IP_ROUTE]: (req): FakeReply => {
      if (req.headers['metadata-flavor'] !== 'Google') {
        return { status: 403, headers: { 'content-type': 'text/html; charset=UTF-8' }, body: 'Missing required header: Metadata-Flavor' };
      }
      return { status: 200, headers: { 'content-type': 'application/text', 'metadata-flavor': 'Google' }, body: ip };
    },
  };
}

export const OPENSTACK_IP_ROUTE = 'GET /1.0/meta-data/local-ipv4';

export function openstackRoutes(body = '192.168.42.17'): Record<string, FakeHandler> {
  return { [OPENSTACK_IP_ROUTE]: () => ({ status: 200, headers: { 'content-type': 'text/plain; charset=UTF-8' }, body }) };
}

/** The QEMU metadata API (hack/qemu-metadata-api): JSON of the matching DHCP lease. */
export function qemuRoutes(vpcIp: unknown = '10.42.1.100'): Record<string, FakeHandler> {
  return {
    'GET /self': () => ({
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        Name: 'control-plane-0',
        ProviderID: 'qemu:///hostname/control-plane-0',
        Role: 'ControlPlane',
        VPCIP: vpcIp,
        SecondaryIPRange: '',
        AliasIPRanges: null,
      }),
    }),
  };
}

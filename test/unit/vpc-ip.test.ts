import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { ErrorCode, JoinServiceError } from '../../src/shared/errors.js';
import { grpcStatusFor } from '../../src/main/grpc/status.js';
import type { LogAttrs, Logger } from '../../src/main/log/logger.js';
import { apiServerEndpointFor, joinHostPort } from '../../src/main/cloud/api-server-endpoint.js';
import { createHttpMetadataFetch, type MetadataFetch } from '../../src/main/cloud/metadata-http.js';
import { createAwsProvider } from '../../src/main/cloud/aws.js';
import { createAzureProvider } from '../../src/main/cloud/azure.js';
import { createGcpProvider, gcpDefaultBaseUrl } from '../../src/main/cloud/gcp.js';
import { createOpenStackProvider } from '../../src/main/cloud/openstack.js';
import { createQemuProvider } from '../../src/main/cloud/qemu.js';
import { parseIpAddress, type VpcIpProvider } from '../../src/main/cloud/provider.js';
import {
  backoffDelayMs,
  createVpcIpProvider,
  DEFAULT_BACKOFF,
  devVpcIpSource,
  parseCloudProvider,
  requireApiServerEndpoint,
  startVpcIpSource,
  staticVpcIpSource,
  vpcIpSourceFromFlags,
} from '../../src/main/cloud/vpc-ip.js';
import {
  AWS_TOKEN,
  AZURE_INSTANCE_ROUTE,
  GCP_IP_ROUTE,
  OMIT,
  OPENSTACK_IP_ROUTE,
  awsRoutes,
  azureInstanceDocument,
  azureRoutes,
  gcpRoutes,
  openstackRoutes,
  qemuRoutes,
  startFakeMetadataServer,
  type FakeHandler,
  type FakeMetadataServer,
} from '../helpers/fake-metadata-server.js';

// ---- helpers ------------------------------------------------------------------------------------

interface Line {
  level: string;
  msg: string;
  attrs: LogAttrs;
}

function captureLogger(lines: Line[] = [], bound: LogAttrs = {}): Logger & { lines: Line[] } {
  const at = (level: string) => (msg: string, attrs?: LogAttrs) => lines.push({ level, msg, attrs: { ...bound, ...attrs } });
  return {
    lines,
    debug: at('DEBUG'),
    info: at('INFO'),
    warn: at('WARN'),
    error: at('ERROR'),
    group: () => captureLogger(lines, bound),
    with: (attrs) => captureLogger(lines, { ...bound, ...attrs }),
    flush: () => {},
  };
}

async function withServer(routes: Record<string, FakeHandler>, fn: (s: FakeMetadataServer) => Promise<void>): Promise<void> {
  const server = await startFakeMetadataServer(routes);
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

async function rejectsWith(p: Promise<unknown>, code: ErrorCode, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof JoinServiceError, `not a JoinServiceError: ${String(err)}`);
    assert.equal(err.code, code);
    assert.match(err.message, pattern);
    return true;
  });
}

const unavailable = ErrorCode.MetadataUnavailable;
const fastBackoff = { initialMs: 1, maxMs: 4, factor: 2, jitter: 0.5 };

// ---- AWS ----------------------------------------------------------------------------------------

test('aws: IMDSv2 token PUT, then the identity document with the token → privateIp', async () => {
  await withServer(awsRoutes('192.168.178.26'), async (s) => {
    const ip = await createAwsProvider({ baseUrl: s.baseUrl }).getVpcIp();
    assert.equal(ip, '192.168.178.26');
    assert.deepEqual(
      s.requests.map((r) => `${r.method} ${r.url}`),
      ['PUT /latest/api/token', 'GET /latest/dynamic/instance-identity/document'],
    );
    assert.equal(s.requests[0]!.headers['x-aws-ec2-metadata-token-ttl-seconds'], '21600');
    assert.equal(s.requests[1]!.headers['x-aws-ec2-metadata-token'], AWS_TOKEN);
  });
});

test('aws: token refused, document 401, bad JSON, missing privateIp, not an IP', async () => {
  await withServer({ ...awsRoutes(), 'PUT /latest/api/token': () => ({ status: 403, body: 'Forbidden' }) }, async (s) => {
    await rejectsWith(createAwsProvider({ baseUrl: s.baseUrl }).getVpcIp(), unavailable, /PUT .*\/latest\/api\/token: unexpected status 403 Forbidden: "Forbidden"/);
  });
  await withServer({ ...awsRoutes(), 'PUT /latest/api/token': () => ({ status: 200, body: 'some-other-token' }) }, async (s) => {
    const err = await createAwsProvider({ baseUrl: s.baseUrl })
      .getVpcIp()
      .then(() => assert.fail('expected a rejection'), (e: unknown) => e as Error);
    assert.match(err.message, /instance-identity\/document: unexpected status 401/);
    assert.ok(!err.message.includes('some-other-token'), 'token must not appear in errors');
  });
  await withServer({ ...awsRoutes(), 'GET /latest/dynamic/instance-identity/document': () => ({ body: '{"privateIp": "10.0.0.1",' }) }, async (s) => {
    await rejectsWith(createAwsProvider({ baseUrl: s.baseUrl }).getVpcIp(), unavailable, /not valid JSON/);
  });
  await withServer(awsRoutes(OMIT), async (s) => {
    await rejectsWith(createAwsProvider({ baseUrl: s.baseUrl }).getVpcIp(), unavailable, /has no privateIp/);
  });
  await withServer(awsRoutes('ip-192-168-178-26.eu-central-1.compute.internal'), async (s) => {
    await rejectsWith(createAwsProvider({ baseUrl: s.baseUrl }).getVpcIp(), unavailable, /privateIp is not an IP address: "ip-192-168/);
  });
  await withServer(awsRoutes(42), async (s) => {
    await rejectsWith(createAwsProvider({ baseUrl: s.baseUrl }).getVpcIp(), unavailable, /privateIp: expected a string, got number/);
  });
});

// ---- Azure --------------------------------------------------------------------------------------

test('azure: IMDS instance document with Metadata: true → first interface, first IPv4 private address', async () => {
  await withServer(azureRoutes(azureInstanceDocument(['10.9.0.5', '10.9.0.77'])), async (s) => {
    assert.equal(await createAzureProvider({ baseUrl: s.baseUrl }).getVpcIp(), '10.9.0.5');
    assert.equal(s.requests.length, 1);
    assert.equal(s.requests[0]!.url, '/metadata/instance?api-version=2021-02-01&format=json');
    assert.equal(s.requests[0]!.headers['metadata'], 'true');
    assert.equal(s.requests[0]!.headers['x-forwarded-for'], undefined);
  });
});

test('azure: error cases', async () => {
  const doc = azureInstanceDocument();
  const noInterfaces = { ...doc, network: { interface: [] } };
  const noIpv4 = { ...doc, network: { interface: [{ ipv6: { ipAddress: [] }, macAddress: '000D3A2B4C5D' }] } };
  const noPrivate = { ...doc, network: { interface: [{ ipv4: { ipAddress: [{ publicIpAddress: '20.1.2.3' }], subnet: [] } }] } };
  const cases: [unknown, RegExp][] = [
    [{ compute: doc['compute'] }, /no network object/],
    [noInterfaces, /lists no network interface/],
    [noIpv4, /first network interface has no IPv4 address/],
    [noPrivate, /has no privateIpAddress/],
    [azureInstanceDocument(['']), /privateIpAddress is empty/],
    [azureInstanceDocument(['10.9.0.300']), /not an IP address: "10.9.0.300"/],
    [[doc], /not a JSON object/],
  ];
  for (const [body, pattern] of cases) {
    await withServer(azureRoutes(body), async (s) => {
      await rejectsWith(createAzureProvider({ baseUrl: s.baseUrl }).getVpcIp(), unavailable, pattern);
    });
  }
  await withServer({ [AZURE_INSTANCE_ROUTE]: () => ({ status: 429, body: '{"error":"Too many requests"}' }) }, async (s) => {
    await rejectsWith(createAzureProvider({ baseUrl: s.baseUrl }).getVpcIp(), unavailable, /unexpected status 429/);
  });
});

// ---- GCP ----------------------------------------------------------------------------------------

test('gcp: network-interfaces/0/ip with Metadata-Flavor: Google', async () => {
  await withServer(gcpRoutes('10.0.0.2\n'), async (s) => {
    assert.equal(await createGcpProvider({ baseUrl: s.baseUrl }).getVpcIp(), '10.0.0.2');
    assert.equal(s.requests[0]!.url, '/computeMetadata/v1/instance/network-interfaces/0/ip');
    assert.equal(s.requests[0]!.headers['metadata-flavor'], 'Google');
  });
});

test('gcp: error cases and the default base URL', async () => {
  await withServer({ [GCP_IP_ROUTE]: () => ({ status: 404, body: 'Not Found' }) }, async (s) => {
    await rejectsWith(createGcpProvider({ baseUrl: s.baseUrl }).getVpcIp(), unavailable, /unexpected status 404/);
  });
  await withServer(gcpRoutes('<html>captive portal</html>'), async (s) => {
    await rejectsWith(createGcpProvider({ baseUrl: s.baseUrl }).getVpcIp(), unavailable, /gcp: network-interfaces\/0\/ip is not an IP address/);
  });
  assert.equal(gcpDefaultBaseUrl({}), 'http://169.254.169.254');
  assert.equal(gcpDefaultBaseUrl({ GCE_METADATA_HOST: '127.0.0.1:8989' }), 'http://127.0.0.1:8989');
});

// ---- OpenStack / STACKIT ------------------------------------------------------------------------

test('openstack: local-ipv4 body, trailing newline trimmed', async () => {
  await withServer(openstackRoutes('192.168.42.17\n'), async (s) => {
    assert.equal(await createOpenStackProvider({ baseUrl: s.baseUrl }).getVpcIp(), '192.168.42.17');
    assert.equal(s.requests[0]!.url, '/1.0/meta-data/local-ipv4');
  });
  await withServer({ [OPENSTACK_IP_ROUTE]: () => ({ status: 500, body: '500 Internal Server Error\n\nAn unknown error has occurred.' }) }, async (s) => {
    await rejectsWith(createOpenStackProvider({ baseUrl: s.baseUrl }).getVpcIp(), unavailable, /unexpected status 500/);
  });
  await withServer(openstackRoutes('192.168.42.17 10.0.0.1'), async (s) => {
    await rejectsWith(createOpenStackProvider({ baseUrl: s.baseUrl }).getVpcIp(), unavailable, /not an IP address/);
  });
});

// ---- QEMU ---------------------------------------------------------------------------------------

test('qemu: /self JSON → VPCIP', async () => {
  await withServer(qemuRoutes('10.42.1.100'), async (s) => {
    assert.equal(await createQemuProvider({ baseUrl: s.baseUrl }).getVpcIp(), '10.42.1.100');
  });
  await withServer({ 'GET /self': () => ({ status: 404, body: 'No matching peer found\n' }) }, async (s) => {
    await rejectsWith(createQemuProvider({ baseUrl: s.baseUrl }).getVpcIp(), unavailable, /404 Not Found: "No matching peer found"/);
  });
  await withServer(qemuRoutes(OMIT), async (s) => {
    await rejectsWith(createQemuProvider({ baseUrl: s.baseUrl }).getVpcIp(), unavailable, /no VPCIP/);
  });
  await withServer(qemuRoutes('fe80::1%eth0'), async (s) => {
    await rejectsWith(createQemuProvider({ baseUrl: s.baseUrl }).getVpcIp(), unavailable, /not an IP address/);
  });
});

// ---- transport bounds ---------------------------------------------------------------------------

test('oversized bodies are rejected (declared length and chunked)', async () => {
  const big = 'x'.repeat(70 * 1024);
  await withServer(
    {
      'GET /self': () => ({ body: big }),
      [OPENSTACK_IP_ROUTE]: () => ({ body: big, chunked: true }),
    },
    async (s) => {
      await rejectsWith(createQemuProvider({ baseUrl: s.baseUrl }).getVpcIp(), unavailable, /response body of 71680 bytes exceeds the limit of 65536 bytes/);
      await rejectsWith(createOpenStackProvider({ baseUrl: s.baseUrl }).getVpcIp(), unavailable, /response body exceeds the limit of 65536 bytes/);
      const small = createHttpMetadataFetch({ maxBodyBytes: 8 });
      await rejectsWith(createQemuProvider({ baseUrl: s.baseUrl, fetch: small }).getVpcIp(), unavailable, /exceeds the limit of 8 bytes/);
    },
  );
});

test('a server that never answers hits the per-request timeout', async () => {
  await withServer({ [GCP_IP_ROUTE]: () => 'hang' }, async (s) => {
    const fetch = createHttpMetadataFetch({ requestTimeoutMs: 50 });
    await rejectsWith(createGcpProvider({ baseUrl: s.baseUrl, fetch }).getVpcIp(), unavailable, /GET http:\/\/127\.0\.0\.1:\d+\/computeMetadata.*timed out after 50 ms/);
  });
});

test('connection refused and non-http URLs are metadata errors', async () => {
  const s = await startFakeMetadataServer({});
  const base = s.baseUrl;
  await s.close();
  await rejectsWith(createOpenStackProvider({ baseUrl: base }).getVpcIp(), unavailable, /ECONNREFUSED/);
  await rejectsWith(createOpenStackProvider({ baseUrl: 'https://127.0.0.1:1' }).getVpcIp(), unavailable, /unsupported URL scheme https:/);
});

test('an aborted signal stops a request in flight', async () => {
  await withServer({ [OPENSTACK_IP_ROUTE]: () => 'hang' }, async (s) => {
    const ac = new AbortController();
    const p = createOpenStackProvider({ baseUrl: s.baseUrl }).getVpcIp(ac.signal);
    ac.abort(new JoinServiceError(ErrorCode.VpcIpNotReady, 'closing'));
    await rejectsWith(p, ErrorCode.VpcIpNotReady, /closing/);
  });
});

// ---- provider selection, validation, endpoint ---------------------------------------------------

test('provider names are case-insensitive, stackit is openstack, anything else is unsupported', () => {
  assert.equal(parseCloudProvider('AWS'), 'aws');
  assert.equal(parseCloudProvider('Azure'), 'azure');
  assert.equal(parseCloudProvider('gcp'), 'gcp');
  assert.equal(parseCloudProvider('STACKIT'), 'openstack');
  assert.equal(parseCloudProvider('OpenStack'), 'openstack');
  assert.equal(parseCloudProvider('QEMU'), 'qemu');
  assert.equal(createVpcIpProvider('StackIT').name, 'openstack');
  for (const bad of ['', 'azure-stack', 'metal', ' aws']) {
    assert.throws(
      () => createVpcIpProvider(bad),
      (err: unknown) => err instanceof JoinServiceError && err.code === ErrorCode.ConfigInvalid && /^unsupported cloud provider: /.test(err.message),
    );
  }
});

test('IP validation: v4, v6, mapped; no zones, no unspecified, no hostnames', () => {
  for (const ok of ['10.0.0.1', '127.0.0.1', 'fd00::4', '2001:db8::1', '::ffff:10.0.0.1']) assert.equal(parseIpAddress(ok, 'x'), ok);
  for (const bad of ['010.0.0.1', '10.0.0', 'fe80::1%eth0', 'localhost', '0.0.0.0', '::', '0:0:0:0:0:0:0:0', ' 10.0.0.1']) {
    assert.throws(() => parseIpAddress(bad, 'x'), JoinServiceError, bad);
  }
});

test('JoinHostPort: IPv4 as is, IPv6 bracketed', () => {
  assert.equal(apiServerEndpointFor('10.0.1.4'), '10.0.1.4:6443');
  assert.equal(apiServerEndpointFor('fd00::4'), '[fd00::4]:6443');
  assert.equal(apiServerEndpointFor('::ffff:10.0.0.1'), '[::ffff:10.0.0.1]:6443');
  assert.equal(joinHostPort('node-1', 9000), 'node-1:9000');
});

// ---- sources: override, dev default, retry loop -------------------------------------------------

test('--vpc-ip override: no metadata access, validated', async () => {
  const log = captureLogger();
  let fetched = 0;
  const fetch: MetadataFetch = () => {
    fetched++;
    return Promise.reject(new Error('must not be called'));
  };
  const src = vpcIpSourceFromFlags({ cloudProvider: 'aws', vpcIp: 'fd00:1::5' }, { log, providerOptions: { fetch } });
  assert.equal(src.current(), 'fd00:1::5');
  assert.equal(src.apiServerEndpoint(), '[fd00:1::5]:6443');
  assert.equal(await src.ready, 'fd00:1::5');
  assert.equal(fetched, 0);
  assert.throws(() => vpcIpSourceFromFlags({ cloudProvider: 'aws', vpcIp: 'node-1' }, { log }), (err: unknown) => err instanceof JoinServiceError && err.code === ErrorCode.ConfigInvalid);
  assert.throws(() => vpcIpSourceFromFlags({ cloudProvider: 'nope' }, { log }), /unsupported cloud provider: "nope"/);
  assert.equal(devVpcIpSource().apiServerEndpoint(), '127.0.0.1:6443');
  assert.equal(staticVpcIpSource('10.1.2.3').current(), '10.1.2.3');
});

test('retry loop: not ready while failing, ready after N failures, one log line per failed attempt', async () => {
  let calls = 0;
  await withServer(
    {
      'GET /self': () => {
        calls++;
        return calls <= 3 ? { status: 503, body: 'Service Unavailable' } : qemuRoutes('10.42.1.7')['GET /self']!({ method: 'GET', url: '/self', headers: {} });
      },
    },
    async (s) => {
      const log = captureLogger();
      const src = vpcIpSourceFromFlags({ cloudProvider: 'QEMU' }, { log, backoff: fastBackoff, random: () => 0.5, providerOptions: { baseUrl: s.baseUrl } });
      assert.equal(src.current(), undefined);
      assert.equal(src.apiServerEndpoint(), undefined);
      assert.throws(() => requireApiServerEndpoint(src), (err: unknown) => err instanceof JoinServiceError && err.code === ErrorCode.VpcIpNotReady);
      assert.equal(await src.ready, '10.42.1.7');
      assert.equal(src.current(), '10.42.1.7');
      assert.equal(requireApiServerEndpoint(src), '10.42.1.7:6443');
      const failures = log.lines.filter((l) => l.msg === 'Failed to get IP in VPC');
      assert.equal(failures.length, 3);
      assert.deepEqual(
        failures.map((l) => [l.level, l.attrs['provider'], l.attrs['attempt'], l.attrs['retryInMs']]),
        [
          ['ERROR', 'qemu', 1, 1],
          ['ERROR', 'qemu', 2, 2],
          ['ERROR', 'qemu', 3, 3],
        ],
      );
      assert.match(String(failures[0]!.attrs['error']), /unexpected status 503/);
      const ok = log.lines.filter((l) => l.msg === 'Got IP in VPC');
      assert.deepEqual(ok.map((l) => l.attrs), [{ provider: 'qemu', vpcIp: '10.42.1.7', attempts: 4 }]);
      src.close();
    },
  );
});

test('retry loop: an attempt that hangs is cut off by the attempt timeout, then retried', async () => {
  let calls = 0;
  const provider: VpcIpProvider = {
    name: 'fake',
    getVpcIp: () => (++calls === 1 ? new Promise<string>(() => {}) : Promise.resolve('10.0.0.9')),
  };
  const log = captureLogger();
  const src = startVpcIpSource({ provider, log, attemptTimeoutMs: 20, backoff: fastBackoff });
  assert.equal(await src.ready, '10.0.0.9');
  const failures = log.lines.filter((l) => l.msg === 'Failed to get IP in VPC');
  assert.equal(failures.length, 1);
  assert.match(String(failures[0]!.attrs['error']), /attempt timed out after 20 ms/);
});

test('retry loop: a provider returning a non-IP is retried like any failure', async () => {
  let calls = 0;
  const provider: VpcIpProvider = { name: 'fake', getVpcIp: () => Promise.resolve(++calls === 1 ? 'not-an-ip' : '10.0.0.10') };
  const log = captureLogger();
  const src = startVpcIpSource({ provider, log, backoff: fastBackoff });
  assert.equal(await src.ready, '10.0.0.10');
  assert.match(String(log.lines[0]!.attrs['error']), /fake: VPC IP is not an IP address/);
});

test('close() before the IP is known: ready rejects with VpcIpNotReady (→ UNAVAILABLE), no more attempts', async () => {
  let calls = 0;
  const provider: VpcIpProvider = {
    name: 'fake',
    getVpcIp: () => {
      calls++;
      return Promise.reject(new Error('metadata down'));
    },
  };
  const log = captureLogger();
  const src = startVpcIpSource({ provider, log, backoff: { initialMs: 60_000, maxMs: 60_000 } });
  // Let the first attempt fail and the loop go to sleep.
  while (log.lines.length === 0) await new Promise((r) => setImmediate(r));
  src.close();
  src.close();
  await rejectsWith(src.ready, ErrorCode.VpcIpNotReady, /closed|stopped/);
  assert.equal(calls, 1);
  assert.equal(src.current(), undefined);
  assert.equal(grpcStatusFor(ErrorCode.VpcIpNotReady), status.UNAVAILABLE);
  try {
    requireApiServerEndpoint(src);
    assert.fail('expected VpcIpNotReady');
  } catch (err) {
    assert.ok(err instanceof JoinServiceError);
    assert.equal(grpcStatusFor(err.code), status.UNAVAILABLE);
  }
});

test('backoff: 1 s doubling to 30 s, jitter only shortens', () => {
  const none = () => 0;
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7, 20].map((n) => backoffDelayMs(n, DEFAULT_BACKOFF, none)),
    [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000],
  );
  assert.equal(backoffDelayMs(1, DEFAULT_BACKOFF, () => 1), 500);
  assert.equal(backoffDelayMs(6, DEFAULT_BACKOFF, () => 1), 15000);
  for (let i = 0; i < 100; i++) {
    const d = backoffDelayMs(3, DEFAULT_BACKOFF);
    assert.ok(d >= 2000 && d <= 4000, String(d));
  }
});

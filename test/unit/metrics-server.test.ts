import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import { Writable } from 'node:stream';
import { Command, CommanderError } from 'commander';
import { addMetricsFlag, normalizeGoFlags } from '../../src/main/cli/flags.js';
import { createLogger, silentLogger } from '../../src/main/log/logger.js';
import { ServiceMetrics } from '../../src/main/metrics/metrics.js';
import { DEFAULT_MAX_CONCURRENT_SCRAPES, parseListenAddress, startMetricsServer, type MetricsSource } from '../../src/main/metrics/metrics-server.js';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(url: string, o: { method?: string; body?: string; agent?: http.Agent } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: o.method ?? 'GET', agent: o.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

const base = (url: string) => url.replace(/\/metrics$/, '');

test('--metrics-listen: HOST:PORT, [IPv6]:PORT, :PORT; anything else is a usage error', () => {
  assert.deepEqual(parseListenAddress('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
  assert.deepEqual(parseListenAddress('[::1]:9100'), { host: '::1', port: 9100 });
  assert.deepEqual(parseListenAddress(':9100'), { host: '', port: 9100 });
  assert.deepEqual(parseListenAddress('localhost:9100'), { host: 'localhost', port: 9100 });
  for (const bad of ['127.0.0.1', '::1:9100', '[::1]', '[nothex]:80', '1.2.3.4:65536', '1.2.3.4:-1', '1.2.3.4:x', 'http://1.2.3.4:80']) {
    assert.throws(() => parseListenAddress(bad), Error, bad);
  }
  const parse = (...args: string[]) => {
    const cmd = addMetricsFlag(new Command().exitOverride().configureOutput({ writeErr: () => undefined }));
    cmd.parse(normalizeGoFlags(args), { from: 'user' });
    return cmd.opts()['metricsListen'] as unknown;
  };
  assert.equal(parse(), undefined, 'off by default');
  assert.deepEqual(parse('--metrics-listen', '[::1]:0'), { host: '::1', port: 0 });
  assert.deepEqual(parse('-metrics-listen=127.0.0.1:9100'), { host: '127.0.0.1', port: 9100 }, 'Go flag syntax');
  assert.throws(() => parse('--metrics-listen', '9100'), CommanderError);
});

test('GET /metrics and /healthz; 404 for anything else; bodies are not read', async (t) => {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  const metrics = new ServiceMetrics();
  t.after(() => metrics.close());
  const server = await startMetricsServer({ listen: { host: '127.0.0.1', port: 0 }, metrics, log: createLogger({ level: 'info', destination }) });
  t.after(() => server.close());
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
  assert.notEqual(server.address.port, 0);
  assert.equal(server.localUrl, server.url);
  const started = lines.find((l) => l['msg'] === `Metrics on ${server.url}`);
  assert.ok(started, JSON.stringify(lines));
  assert.equal(started['metricsEndpoint'], server.url);

  const scrape = await request(server.url);
  assert.equal(scrape.status, 200);
  assert.match(String(scrape.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  assert.match(scrape.body, /^joinservice_pool_workers 0$/m);
  assert.equal((await request(`${server.url}?x=1`)).status, 200, 'query strings are ignored');

  const health = await request(`${base(server.url)}/healthz`);
  assert.equal(health.status, 200);
  assert.equal(health.body, 'ok');

  for (const [method, p] of [['GET', '/'], ['GET', '/metrics/'], ['GET', '/metricsx'], ['POST', '/metrics'], ['PUT', '/healthz'], ['DELETE', '/metrics']] as const) {
    assert.equal((await request(`${base(server.url)}${p}`, { method })).status, 404, `${method} ${p}`);
  }
  // A request with a body gets its answer and the connection is closed, the body never read.
  const withBody = await request(server.url, { method: 'POST', body: 'x'.repeat(1024) });
  assert.equal(withBody.status, 404);
  assert.equal(withBody.headers['connection'], 'close');
});

test('at most 16 scrapes at once; the 17th gets 503 and capacity returns once they finish', async (t) => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let calls = 0;
  let waiting!: () => void;
  const allWaiting = new Promise<void>((r) => (waiting = r));
  const source: MetricsSource = {
    contentType: 'text/plain; version=0.0.4; charset=utf-8',
    scrape: async () => {
      if (++calls === DEFAULT_MAX_CONCURRENT_SCRAPES) waiting();
      await gate;
      return 'x 1\n';
    },
  };
  const server = await startMetricsServer({ listen: { host: '127.0.0.1', port: 0 }, metrics: source, log: silentLogger() });
  t.after(() => server.close());
  const agent = new http.Agent({ maxSockets: 64 });
  t.after(() => agent.destroy());
  const pending = Array.from({ length: DEFAULT_MAX_CONCURRENT_SCRAPES }, () => request(server.url, { agent }));
  await allWaiting;
  const refused = await request(server.url, { agent });
  assert.equal(refused.status, 503);
  assert.equal(refused.headers['retry-after'], '1');
  assert.equal((await request(`${base(server.url)}/healthz`, { agent })).status, 200, 'health checks are not limited');
  release();
  for (const r of await Promise.all(pending)) assert.equal(r.status, 200);
  assert.equal((await request(server.url, { agent })).status, 200);
});

test('a client that never finishes its headers is cut off', async (t) => {
  const metrics = new ServiceMetrics();
  t.after(() => metrics.close());
  const server = await startMetricsServer({ listen: { host: '127.0.0.1', port: 0 }, metrics, log: silentLogger(), headersTimeoutMs: 200 });
  t.after(() => server.close());
  const sock = net.connect(server.address.port, '127.0.0.1');
  sock.write('GET /metrics HTTP/1.1\r\nHost: x\r\n');
  const chunks: Buffer[] = [];
  sock.on('data', (c: Buffer) => chunks.push(c));
  await new Promise((resolve) => sock.once('close', resolve));
  assert.match(Buffer.concat(chunks).toString(), /^HTTP\/1\.1 408/);
});

test('IPv6 loopback with a free port; close() ends kept-alive connections', async (t) => {
  const metrics = new ServiceMetrics();
  t.after(() => metrics.close());
  const server = await startMetricsServer({ listen: { host: '::1', port: 0 }, metrics, log: silentLogger() });
  assert.match(server.url, /^http:\/\/\[::1\]:\d+\/metrics$/);
  const agent = new http.Agent({ keepAlive: true });
  t.after(() => agent.destroy());
  assert.equal((await request(server.url, { agent })).status, 200);
  await server.close();
  await assert.rejects(request(server.url), /ECONNREFUSED/);
});

test('a wildcard listen address gives a loopback URL for local clients', async (t) => {
  const metrics = new ServiceMetrics();
  t.after(() => metrics.close());
  const server = await startMetricsServer({ listen: { host: '0.0.0.0', port: 0 }, metrics, log: silentLogger() });
  t.after(() => server.close());
  assert.equal(server.url, `http://0.0.0.0:${server.address.port}/metrics`);
  assert.equal(server.localUrl, `http://127.0.0.1:${server.address.port}/metrics`);
  assert.equal((await request(server.localUrl)).status, 200);
});

test('a taken port fails the start', async (t) => {
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  t.after(() => blocker.close());
  const port = (blocker.address() as net.AddressInfo).port;
  const metrics = new ServiceMetrics();
  t.after(() => metrics.close());
  await assert.rejects(startMetricsServer({ listen: { host: '127.0.0.1', port }, metrics, log: silentLogger() }), /EADDRINUSE/);
});

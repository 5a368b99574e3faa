/**
 * The load mode of the Go aTLS peer (`atls-peer --load`, test/go/src/atlspeer/load.go),
 * the load generator of the join benchmark: simulated Constellation nodes against
 * `joinservice dev`, arrivals, retries and error causes, the `--issuer-url` issuer
 * service (answered here by an in-process HTTP server running the software vTPM
 * issuer), progress lines and SIGINT. No assertion depends on timing beyond the
 * order of the arrivals.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { encodeVtpmDocument } from '../../src/workers/attestation/vtpm/envelope.js';
import { SoftwareTpmIssuer } from '../../src/workers/attestation/vtpm/issuer/index.js';
import { startDevService, type DevService } from '../helpers/dev-service.js';
import { buildGoPeer, GoPeerError, runGoPeer, runGoPeerLoad, type PeerLoadResult, type PeerLoadRun } from '../helpers/go-peer.js';
import { kubectlRunner } from '../helpers/kubectl.js';

const RESULT_KEYS = ['mode', 'arrival', 'total', 'joined', 'failed', 'retries', 'durationMs', 'startUnixMs', 'errorsByCause', 'latencyMs', 'nodes', 'attemptLatencyMs'];
const PROGRESS_KEYS = ['elapsedMs', 'joined', 'failed', 'inFlight', 'waitingRetry', 'total', 'retries', 'ratePerSec', 'errors'];

function listen(server: net.Server | http.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
  });
}

function close(server: net.Server | http.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A loopback port where nothing listens (bound once, then released). */
async function closedPort(): Promise<number> {
  const probe = net.createServer();
  const port = await listen(probe);
  await close(probe);
  return port;
}

/** Checks the result line's shape and its internal consistency. */
function checkShape(r: PeerLoadResult, total: number): void {
  assert.deepEqual(Object.keys(r).filter((k) => k !== 'interrupted'), RESULT_KEYS);
  assert.equal(r.mode, 'load');
  assert.equal(r.total, total);
  assert.equal(r.joined + r.failed, total);
  assert.equal(r.nodes.length, total);
  assert.deepEqual(Object.keys(r.latencyMs), ['p50', 'p95', 'p99', 'max']);
  assert.deepEqual(Object.keys(r.attemptLatencyMs), ['p50', 'p99']);
  assert.ok(Number.isInteger(r.startUnixMs) && r.startUnixMs > 1.6e12, String(r.startUnixMs));
  assert.ok(r.durationMs >= 0);
  const { p50, p95, p99, max } = r.latencyMs;
  assert.ok(p50 <= p95 && p95 <= p99 && p99 <= max, JSON.stringify(r.latencyMs));
  assert.ok(r.attemptLatencyMs.p50 <= r.attemptLatencyMs.p99);
  let retries = 0;
  r.nodes.forEach((n, i) => {
    assert.equal(n.i, i);
    const keys = ['i', 'arrivalMs', 'doneMs', 'latencyMs', 'attempts', 'ok', ...(n.ok ? [] : ['lastError'])];
    assert.deepEqual(Object.keys(n), keys, JSON.stringify(n));
    assert.ok(n.arrivalMs >= 0 && n.latencyMs >= 0);
    // latencyMs = doneMs - arrivalMs (each rounded to µs).
    if (n.attempts > 0) assert.ok(Math.abs(n.latencyMs - (n.doneMs - n.arrivalMs)) < 0.01, JSON.stringify(n));
    if (!n.ok) assert.ok(n.lastError!.length <= 200, n.lastError);
    retries += Math.max(0, n.attempts - 1);
  });
  assert.equal(r.retries, retries);
  assert.equal(r.joined, r.nodes.filter((n) => n.ok).length);
  if (r.joined > 0) assert.equal(max, Math.max(...r.nodes.filter((n) => n.ok).map((n) => n.latencyMs)));
  else assert.deepEqual(r.latencyMs, { p50: 0, p95: 0, p99: 0, max: 0 });
}

async function expectUsageError(args: string[], messagePart: string): Promise<void> {
  await assert.rejects(runGoPeer(args), (err: unknown) => {
    assert.ok(err instanceof GoPeerError, String(err));
    assert.equal(err.exitCode, 2);
    assert.equal(err.result?.code, 'UsageError');
    assert.match(err.result?.message ?? '', new RegExp(messagePart));
    return true;
  });
}

interface IssuerRequest {
  contentType: string | undefined;
  body: { variant: string; nonce: string; userData: string };
}

/**
 * A stand-in for the benchmark's issuer service: POST {variant, nonce, userData}
 * → the qemu-vtpm document of a fresh software TPM (like `joinservice issue`), or
 * `fail` (status 500) when `mode.fail` is set.
 */
function issuerServer(mode: { fail: boolean }, requests: IssuerRequest[]): http.Server {
  return http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as IssuerRequest['body'];
      requests.push({ contentType: req.headers['content-type'], body });
      if (mode.fail) {
        res.writeHead(500, { 'content-type': 'text/plain' }).end('issuer broken on purpose');
        return;
      }
      const doc = encodeVtpmDocument(new SoftwareTpmIssuer({ akType: 'rsa' }).issue(Buffer.from(body.userData, 'hex'), Buffer.from(body.nonce, 'hex')));
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(doc);
    });
  });
}

describe('Go aTLS peer --load', { timeout: 10 * 60_000 }, () => {
  let dummySvc: DevService;
  let vtpmSvc: DevService;
  let work: string;

  before(async () => {
    await buildGoPeer();
    [dummySvc, vtpmSvc] = await Promise.all([
      startDevService(['--workers', '1', '--kube-qps', '1000', '--kube-burst', '2000']),
      startDevService(['--workers', '1', '--attestation-variant', 'qemu-vtpm']),
    ]);
    work = await mkdtemp(path.join(tmpdir(), 'go-peer-load-'));
  });

  after(async () => {
    await Promise.all([dummySvc?.stop(), vtpmSvc?.stop()]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  const load = (svc: DevService, ...args: string[]): Promise<PeerLoadRun> =>
    runGoPeerLoad(['--endpoint', svc.info.endpoint, '--rpc', 'join', '--progress-interval', '0', ...args]);

  it('rejects misuse of the load flags with exit 2', async () => {
    const ep = ['--endpoint', '127.0.0.1:1'];
    await expectUsageError([...ep, '--load'], '--load requires --rpc join');
    await expectUsageError([...ep, '--load', '--rpc', 'join', '--mode', 'wrong-nonce'], '--load requires --mode good');
    await expectUsageError([...ep, '--rpc', 'join', '--arrival', 'rate'], '--arrival requires --load');
    await expectUsageError([...ep, '--load', '--rpc', 'join', '--arrival', 'poisson'], 'invalid --arrival');
    await expectUsageError([...ep, '--load', '--rpc', 'join', '--arrival', 'rate'], '--rate is required');
    await expectUsageError([...ep, '--load', '--rpc', 'join', '--window', '1s'], '--window is required with, and only allowed with');
    await expectUsageError([...ep, '--load', '--rpc', 'join', '--arrival', 'rate', '--rate', '0'], '--rate must be');
    await expectUsageError([...ep, '--load', '--rpc', 'join', '--call-timeout', '0s'], '--call-timeout must be > 0');
    await expectUsageError([...ep, '--issuer-url', 'http://127.0.0.1:1/', '--issuer-command', process.execPath], 'mutually exclusive');
    await expectUsageError([...ep, '--issuer-url', 'ftp://x/'], 'invalid --issuer-url');
    await expectUsageError([...ep, '--issuer-url', 'http://127.0.0.1:1/', '--mode', 'garbage-document'], 'cannot be used with --issuer-url');
    await expectUsageError([...ep, '--variant', 'qemu-vtpm'], '--variant qemu-vtpm requires --issuer-command or --issuer-url');
  });

  it('a burst of 20 nodes joins: all joined, no retries, one JoiningNode per node name', async () => {
    const { result: r } = await load(dummySvc, '--count', '20', '--node-name', 'burst');
    checkShape(r, 20);
    assert.equal(r.arrival, 'burst');
    assert.equal(r.joined, 20, JSON.stringify(r.errorsByCause));
    assert.equal(r.failed, 0);
    assert.equal(r.retries, 0);
    assert.deepEqual(r.errorsByCause, {});
    for (const n of r.nodes) assert.equal(n.attempts, 1);
    assert.ok(r.latencyMs.p50 > 0);

    // The service saw 20 distinct node names: one JoiningNode each (read with kubectl).
    const kubectl = await kubectlRunner(dummySvc.info.kubeconfigPath, work);
    const got = await kubectl('get', 'joiningnodes', '-o', 'json');
    assert.equal(got.code, 0, got.stderr);
    const names = (JSON.parse(got.stdout) as { items: { spec: { name: string } }[] }).items.map((i) => i.spec.name).filter((n) => n.startsWith('burst-'));
    assert.deepEqual(names.sort(), Array.from({ length: 20 }, (_, i) => `burst-${i}`).sort());
  });

  it('--arrival rate starts the nodes in order', async () => {
    const { result: r } = await load(dummySvc, '--count', '10', '--arrival', 'rate', '--rate', '20', '--node-name', 'rate');
    checkShape(r, 10);
    assert.equal(r.arrival, 'rate');
    assert.equal(r.joined, 10, JSON.stringify(r.errorsByCause));
    for (let i = 1; i < r.nodes.length; i++) {
      assert.ok(r.nodes[i]!.arrivalMs > r.nodes[i - 1]!.arrivalMs, `arrivals out of order: ${JSON.stringify(r.nodes.map((n) => n.arrivalMs))}`);
    }
  });

  it('--arrival window joins every node', async () => {
    const { result: r } = await load(dummySvc, '--count', '4', '--arrival', 'window', '--window', '200ms', '--node-name', 'window');
    checkShape(r, 4);
    assert.equal(r.arrival, 'window');
    assert.equal(r.joined, 4, JSON.stringify(r.errorsByCause));
  });

  it('retries after a failed attempt and gives up after --max-attempts (cause dial)', async () => {
    const port = await closedPort();
    const { result: r } = await runGoPeerLoad([
      '--endpoint', `127.0.0.1:${port}`, '--rpc', 'join', '--progress-interval', '0',
      '--max-attempts', '2', '--retry-interval', '200ms', '--call-timeout', '2s',
    ]);
    checkShape(r, 1);
    assert.equal(r.joined, 0);
    assert.equal(r.failed, 1);
    assert.equal(r.retries, 1);
    assert.deepEqual(r.errorsByCause, { dial: 2 });
    assert.equal(r.nodes[0]!.attempts, 2);
    assert.match(r.nodes[0]!.lastError!, /^dial: .*connection refused/);
  });

  it('a call that gets no answer fails with cause deadline', async () => {
    // Accepts TCP connections but never speaks TLS.
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((s) => {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
      s.resume();
    });
    const port = await listen(silent);
    try {
      const { result: r } = await runGoPeerLoad([
        '--endpoint', `127.0.0.1:${port}`, '--rpc', 'join', '--progress-interval', '0',
        '--count', '2', '--max-attempts', '1', '--call-timeout', '500ms',
      ]);
      checkShape(r, 2);
      assert.equal(r.failed, 2);
      assert.equal(r.retries, 0);
      assert.deepEqual(r.errorsByCause, { deadline: 2 });
      assert.match(r.nodes[0]!.lastError!, /^deadline: /);
    } finally {
      for (const s of sockets) s.destroy();
      await close(silent);
    }
  });

  describe('--issuer-url against a qemu-vtpm service', () => {
    const mode = { fail: false };
    const requests: IssuerRequest[] = [];
    let server: http.Server;
    let url: string;

    before(async () => {
      server = issuerServer(mode, requests);
      url = `http://127.0.0.1:${await listen(server)}/issue`;
    });
    after(async () => {
      server.closeAllConnections();
      await close(server);
    });

    it('5 nodes join with software vTPM documents from the issuer service', async () => {
      mode.fail = false;
      requests.length = 0;
      const { result: r } = await load(vtpmSvc, '--count', '5', '--variant', 'qemu-vtpm', '--issuer-url', url, '--node-name', 'vtpm');
      checkShape(r, 5);
      assert.equal(r.joined, 5, JSON.stringify(r.nodes.map((n) => n.lastError)));
      assert.deepEqual(r.errorsByCause, {});
      // One request per handshake, in the documented format.
      assert.equal(requests.length, 5);
      const userData = new Set<string>();
      for (const q of requests) {
        assert.equal(q.contentType, 'application/json');
        assert.deepEqual(Object.keys(q.body), ['variant', 'nonce', 'userData']);
        assert.equal(q.body.variant, 'qemu-vtpm');
        assert.match(q.body.nonce, /^[0-9a-f]{64}$/);
        assert.match(q.body.userData, /^[0-9a-f]{64}$/);
        userData.add(q.body.userData);
      }
      assert.equal(userData.size, 5, 'a fresh aTLS key per node');
    });

    it('an issuer answering 500 fails the attempts with cause issuer', async () => {
      mode.fail = true;
      requests.length = 0;
      const { result: r } = await load(vtpmSvc, '--count', '2', '--max-attempts', '1', '--variant', 'qemu-vtpm', '--issuer-url', url);
      checkShape(r, 2);
      assert.equal(r.failed, 2);
      assert.deepEqual(r.errorsByCause, { issuer: 2 });
      for (const n of r.nodes) {
        assert.match(n.lastError!, /^issuer: /);
        assert.match(n.lastError!, /500/);
        assert.match(n.lastError!, /issuer broken on purpose/);
      }
    });

    it('--issuer-url works without --load, too', async () => {
      mode.fail = false;
      requests.length = 0;
      const ok = await runGoPeer(['--endpoint', vtpmSvc.info.endpoint, '--rpc', 'join', '--node-name', 'single', '--variant', 'qemu-vtpm', '--issuer-url', url]);
      assert.equal(ok.ok, true, JSON.stringify(ok));
      assert.equal(ok.checks?.hostCertificateValid, true);
      assert.equal(requests.length, 1);
      mode.fail = true;
      const bad = await runGoPeer(['--endpoint', vtpmSvc.info.endpoint, '--variant', 'qemu-vtpm', '--issuer-url', url]);
      assert.equal(bad.ok, false);
      assert.match(bad.handshakeError ?? '', /issuer url: HTTP 500 Internal Server Error: "issuer broken on purpose"/);
    });

    it('a document the service rejects fails the attempt with cause grpc:Unavailable', async () => {
      // The built-in dummy document under the dummy OID: the qemu-vtpm service refuses it.
      // It verifies after the TLS handshake and then closes the connection without an
      // alert (docs/architecture.md), which a grpc-go node sees as Unavailable.
      const { result: r } = await load(vtpmSvc, '--count', '1', '--max-attempts', '1');
      checkShape(r, 1);
      assert.deepEqual(r.errorsByCause, { 'grpc:Unavailable': 1 });
      assert.match(r.nodes[0]!.lastError!, /^grpc:Unavailable: connection closed/);
    });
  });

  it('prints progress lines on stderr that parse as JSON', async () => {
    const { result: r, progress } = await runGoPeerLoad([
      '--endpoint', dummySvc.info.endpoint, '--rpc', 'join', '--count', '5', '--node-name', 'progress', '--progress-interval', '50ms',
    ]);
    assert.equal(r.joined, 5);
    assert.ok(progress.length >= 1, 'at least the final line');
    for (const p of progress) {
      assert.deepEqual(Object.keys(p), PROGRESS_KEYS);
      assert.equal(p.total, 5);
      assert.equal(p.joined + p.failed + p.inFlight + p.waitingRetry <= 5, true, JSON.stringify(p));
    }
    const last = progress.at(-1)!;
    assert.equal(last.joined, 5);
    assert.equal(last.inFlight, 0);
    assert.deepEqual(last.errors, {});
  });

  it('SIGINT ends the run and still prints the result', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((s) => {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
      s.resume();
    });
    const port = await listen(silent);
    try {
      let sent = false;
      const { result: r } = await runGoPeerLoad(
        ['--endpoint', `127.0.0.1:${port}`, '--rpc', 'join', '--count', '3', '--call-timeout', '10m', '--progress-interval', '20ms'],
        {
          onProgress: (p, signal) => {
            // Every node is in its (never answered) first attempt.
            if (!sent && p.inFlight === 3) {
              sent = true;
              signal('SIGINT');
            }
          },
        },
      );
      assert.ok(sent);
      checkShape(r, 3);
      assert.equal(r.interrupted, true);
      assert.equal(r.failed, 3);
      assert.deepEqual(r.errorsByCause, { interrupted: 3 });
      for (const n of r.nodes) assert.match(n.lastError!, /^interrupted: /);
    } finally {
      for (const s of sockets) s.destroy();
      await close(silent);
    }
  });
});

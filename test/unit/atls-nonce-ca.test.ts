import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, X509Certificate } from 'node:crypto';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { AtlsServer, type HandshakeOutcome } from '../../src/main/atls/atls-server.js';
import { listenerOptions } from '../../src/main/atls/listener-options.js';
import {
  caListProbe,
  NativeNonceCa,
  nativeNonceCaSelfTest,
  nativeNonceName,
  nativeRejectionCode,
  resolveNonceCaMode,
  type NonceCaMode,
} from '../../src/main/atls/nonce-ca.js';
import { NONCE_NAME_TEMPLATE, nonceName } from '../../src/main/atls/nonce-name.js';
import { NonceStore } from '../../src/main/atls/nonce-store.js';
import { ServerIdentity } from '../../src/main/atls/server-identity.js';
import { createLogger } from '../../src/main/log/logger.js';
import { WorkerPool } from '../../src/main/pool/worker-pool.js';
import { ErrorCode } from '../../src/shared/errors.js';

// atls.md §5.2: the DN for nonce bytes 00..1f, byte for byte.
const SPEC_DN_HEX =
  '3037313530330603550403132c41414543417751464267634943516f4c4441304f4478415245684d554652595847426b61477877644868383d';
const SPEC_NONCE = Buffer.from(Uint8Array.from({ length: 32 }, (_, i) => i));

type Line = Record<string, unknown> & { msg: string; level: string; atls?: Record<string, unknown> };

test('the nonce DN is the spec example byte for byte, from JS and from the native builder', () => {
  assert.equal(nonceName(SPEC_NONCE).toString('hex'), SPEC_DN_HEX);
  assert.equal(nativeNonceName(SPEC_NONCE).toString('hex'), SPEC_DN_HEX, 'what OpenSSL re-encodes from the X509_NAME it sends');
  assert.equal(NONCE_NAME_TEMPLATE.der.length, 57);
  assert.equal(NONCE_NAME_TEMPLATE.cnOffset, 13);
  for (let i = 0; i < 20; i++) {
    const n = randomBytes(32);
    assert.deepEqual(nativeNonceName(n), nonceName(n));
  }
  assert.throws(() => nativeNonceName(Buffer.alloc(31)), /32-byte/);
});

test('the native self-test passes on this Node/OpenSSL and auto resolves to native', async () => {
  await nativeNonceCaSelfTest();
  assert.deepEqual(await resolveNonceCaMode('auto'), { mode: 'native' });
  assert.deepEqual(await resolveNonceCaMode('native'), { mode: 'native' });
  assert.deepEqual(await resolveNonceCaMode('context'), { mode: 'context' });
});

test('nativeRejectionCode reads the code only from a ClientHello callback failure', () => {
  const e = Object.assign(new Error('40C7:error:0A0000EA:SSL routines:on_client_hello:callback failed:nonce_ca.c:172:atls-rejected:ATLS_BAD_SNI\n'), {
    code: 'ERR_SSL_CALLBACK_FAILED',
  });
  assert.equal(nativeRejectionCode(e), ErrorCode.AtlsBadSni);
  assert.equal(nativeRejectionCode(Object.assign(new Error(e.message), { code: 'ERR_SSL_OTHER' })), undefined);
  assert.equal(nativeRejectionCode(Object.assign(new Error('callback failed'), { code: 'ERR_SSL_CALLBACK_FAILED' })), undefined);
});

/** An aTLS listener in `mode` whose logs and outcomes are recorded; the pool is never reached (clients send no certificate). */
async function listener(t: TestContext, mode: NonceCaMode, o: { identity?: ServerIdentity; handshakeTimeoutMs?: number } = {}) {
  const lines: Line[] = [];
  const log = createLogger({ level: 'debug', destination: { write: (s: string) => void lines.push(JSON.parse(s) as Line) } });
  const outcomes: HandshakeOutcome[] = [];
  const pool = new WorkerPool({ workers: 0, maxQueue: 0, timeoutMs: 1000, inlineRunner: () => Promise.reject(new Error('not reached')) });
  await pool.start();
  // Records every nonce the listener issues (same store in both modes).
  const issue = t.mock.method(NonceStore.prototype, 'issue');
  const atls = new AtlsServer({
    host: '127.0.0.1',
    port: 0,
    variant: 'dummy',
    currentConfig: () => ({ generation: 1, text: '{}' }),
    pool,
    log,
    handshakeTimeoutMs: o.handshakeTimeoutMs ?? 10_000,
    maxPendingHandshakes: 64,
    maxCertListBytes: 256 * 1024,
    nonceCa: mode,
    ...(o.identity ? { identity: o.identity } : {}),
    onAttested: () => assert.fail('nothing attests here'),
    onHandshakeOutcome: (r) => outcomes.push(r),
  });
  const { port } = await atls.listen();
  t.after(async () => {
    await atls.close();
    await pool.close();
  });
  const issuedFor = (sni: string): Buffer | undefined => {
    for (const c of issue.mock.calls) {
      const r = c.result as ReturnType<NonceStore['issue']> | undefined;
      if (c.arguments[0] === sni && r?.ok) return r.nonce;
    }
    return undefined;
  };
  const waitFor = async (pred: (l: Line) => boolean): Promise<Line> => {
    for (let i = 0; i < 2000; i++) {
      const l = lines.find(pred);
      if (l) return l;
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error('log line not seen');
  };
  return { atls, port, lines, outcomes, issuedFor, waitFor };
}

interface ProbeResult {
  /** The CertificateRequest's acceptable-CA names (undefined: no CertificateRequest reached the client). */
  names?: Buffer[];
  protocol?: string | null;
  serverCertFingerprint?: string;
  error?: Error;
}

/** A Node TLS client that reports the CA names of the CertificateRequest and sends no certificate. */
async function probeConnect(port: number, o: { servername?: string; version: 'TLSv1.2' | 'TLSv1.3'; ecdhCurve?: string }): Promise<ProbeResult> {
  const out: ProbeResult = {};
  const probe = caListProbe(
    (names) => (out.names = names),
    () => tls.createSecureContext({ minVersion: o.version, maxVersion: o.version, ...(o.ecdhCurve ? { ecdhCurve: o.ecdhCurve } : {}) }),
  );
  try {
    await new Promise<void>((resolve) => {
      const c = tls.connect({
        port,
        host: '127.0.0.1',
        ...(o.servername !== undefined ? { servername: o.servername } : {}),
        secureContext: probe.context,
        rejectUnauthorized: false,
        ALPNProtocols: ['h2'],
      });
      c.once('secureConnect', () => {
        out.protocol = c.getProtocol();
        out.serverCertFingerprint = c.getPeerX509Certificate()?.fingerprint256;
      });
      c.on('data', () => undefined);
      c.once('error', (e) => (out.error = e));
      c.once('close', () => resolve());
    });
  } finally {
    probe.close();
  }
  return out;
}

const goSni = () => randomBytes(32).toString('base64');

for (const mode of ['native', 'context'] as const) {
  describe(`nonce CA ${mode}`, () => {
    for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
      test(`${version}: the CertificateRequest carries exactly CN=base64(the nonce issued for this SNI)`, async (t) => {
        const l = await listener(t, mode);
        const seen = new Set<string>();
        for (let i = 0; i < 3; i++) {
          const sni = goSni();
          const r = await probeConnect(l.port, { servername: sni, version });
          // (Under TLS 1.2 the server's precheck may reset the connection before the client read the server's Finished.)
          if (r.protocol !== undefined) assert.equal(r.protocol, version);
          const nonce = l.issuedFor(sni);
          assert.ok(nonce, 'a nonce was issued for the SNI');
          assert.deepEqual(r.names?.map((n) => n.toString('hex')), [nonceName(nonce).toString('hex')]);
          seen.add(nonce.toString('hex'));
          // No certificate was sent: the precheck took the nonce and rejected the client.
          while (l.lines.filter((x) => x.msg === 'aTLS client rejected' && x.atls?.['check'] === ErrorCode.AtlsNoClientCertificate).length <= i) {
            await new Promise((res) => setTimeout(res, 5));
          }
        }
        assert.equal(seen.size, 3, 'a fresh nonce per connection');
        assert.equal(l.atls.nonceCaMode, mode);
        assert.ok(l.lines.some((x) => x.msg === 'aTLS nonce CA' && x.atls?.['nonceCa'] === mode));
        if (mode === 'native') {
          const s = l.atls.nativeNonceCaStats()!;
          assert.equal(s.issued, 3);
          assert.equal(s.failed, 0);
        } else {
          assert.equal(l.atls.nativeNonceCaStats(), undefined);
        }
      });
    }

    test('no SNI: no CA list, the handshake completes and the precheck rejects it (ATLS_NO_SNI)', async (t) => {
      const l = await listener(t, mode);
      const r = await probeConnect(l.port, { version: 'TLSv1.3' });
      assert.deepEqual(r.names, []);
      await l.waitFor((x) => x.msg === 'aTLS client rejected' && x.atls?.['check'] === ErrorCode.AtlsNoSni);
    });

    test('an SNI that is not Go base64 fails the handshake with the same log lines', async (t) => {
      const l = await listener(t, mode);
      const r = await probeConnect(l.port, { servername: 'example.com', version: 'TLSv1.3' });
      assert.equal(r.names, undefined, 'no CertificateRequest');
      assert.ok(r.error);
      const rejected = await l.waitFor((x) => x.msg === 'aTLS handshake rejected');
      assert.equal(rejected.level, 'WARN');
      assert.deepEqual(rejected.atls, { check: ErrorCode.AtlsBadSni, error: 'SNI is not a base64 client nonce' });
      const failed = await l.waitFor((x) => x.msg === 'TLS handshake failed');
      assert.equal(failed.atls?.['tlsError'], ErrorCode.AtlsBadSni);
      assert.equal(failed.atls?.['check'], ErrorCode.AtlsHandshakeFailed);
      while (l.outcomes.length < 1) await nextTurn();
      assert.deepEqual(l.outcomes, ['rejected']);
      if (mode === 'native') {
        // Like Go: alert internal_error.
        assert.match(r.error.message, /alert internal error|alert number 80/);
        assert.equal(l.atls.nativeNonceCaStats()!.rejected, 1);
      }
    });

    test('a replayed ClientHello (same SNI while the first handshake is in flight) is refused; the first keeps its nonce', async (t) => {
      const l = await listener(t, mode);
      const sni = goSni();
      const hello = await captureClientHello(sni);
      const first = await rawConnect(l.port);
      first.write(hello);
      // Wait until the first ClientHello got its nonce (the server then waits for the client's next flight).
      while (!l.issuedFor(sni)) await nextTurn();
      const second = await rawConnect(l.port);
      second.write(hello);
      const rejected = await l.waitFor((x) => x.msg === 'aTLS handshake rejected');
      assert.equal(rejected.atls?.['check'], ErrorCode.AtlsDuplicateSni);
      const failed = await l.waitFor((x) => x.msg === 'TLS handshake failed');
      assert.equal(failed.atls?.['tlsError'], ErrorCode.AtlsDuplicateSni);
      while (l.outcomes.length < 1) await nextTurn();
      assert.deepEqual(l.outcomes, ['rejected']);
      // The refused duplicate did not drop the first connection's nonce: a third copy is refused as well.
      const third = await rawConnect(l.port);
      third.write(hello);
      while (l.lines.filter((x) => x.msg === 'aTLS handshake rejected' && x.atls?.['check'] === ErrorCode.AtlsDuplicateSni).length < 2) {
        await new Promise((res) => setTimeout(res, 5));
      }
      assert.equal(l.issuedFor(sni)?.length, 32);
      for (const s of [first, second, third]) s.destroy();
    });
  });
}

describe('native only', () => {
  test('a TLS 1.3 HelloRetryRequest keeps the first ClientHello’s nonce: one nonce, one list', async (t) => {
    const l = await listener(t, 'native');
    const sni = goSni();
    // The client's first key share (P-384) is not the group the server prefers (X25519): HelloRetryRequest.
    const r = await probeConnect(l.port, { servername: sni, version: 'TLSv1.3', ecdhCurve: 'P-384:X25519' });
    assert.equal(r.protocol, 'TLSv1.3');
    const s = l.atls.nativeNonceCaStats()!;
    assert.equal(s.retried, 1, 'the server did send a HelloRetryRequest');
    assert.equal(s.issued, 1);
    const nonce = l.issuedFor(sni);
    assert.ok(nonce);
    assert.deepEqual(r.names?.map((n) => n.toString('hex')), [nonceName(nonce).toString('hex')]);
  });

  test('after the hourly key rotation new connections get the new certificate and still their nonce', async (t) => {
    let now = Date.now();
    const identity = new ServerIdentity(() => now);
    const l = await listener(t, 'native', { identity });
    const before = await probeConnect(l.port, { servername: goSni(), version: 'TLSv1.3' });
    assert.equal(l.atls.installRotatedCredentials(), false, 'nothing to rotate yet');
    now += 61 * 60 * 1000;
    assert.equal(l.atls.installRotatedCredentials(), true);
    const sni = goSni();
    const after = await probeConnect(l.port, { servername: sni, version: 'TLSv1.3' });
    assert.ok(before.serverCertFingerprint && after.serverCertFingerprint);
    assert.notEqual(after.serverCertFingerprint, before.serverCertFingerprint);
    assert.deepEqual(after.names?.map((n) => n.toString('hex')), [nonceName(l.issuedFor(sni)!).toString('hex')]);
    const x = new X509Certificate(identity.defaultCredentials().cert);
    assert.equal(x.fingerprint256, after.serverCertFingerprint);
    assert.equal(l.atls.nativeNonceCaStats()!.issued, 1, 'stats of the new context');
  });

  test('a detached nonce CA fails later ClientHellos closed; Node’s SNI machinery never replaces the list', async (t) => {
    const identity = new ServerIdentity();
    let calls = 0;
    const { ca, result: server } = NativeNonceCa.attach(
      () => {
        calls++;
        return true;
      },
      () => tls.createServer(listenerOptions(identity.defaultCredentials())),
    );
    const errors: Error[] = [];
    server.on('tlsClientError', (e) => errors.push(e));
    server.on('secureConnection', (s: tls.TLSSocket) => s.end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    t.after(() => new Promise<void>((r) => server.close(() => r())));
    const port = (server.address() as net.AddressInfo).port;
    const ok = await probeConnect(port, { servername: goSni(), version: 'TLSv1.3' });
    assert.equal(ok.names?.length, 1);
    assert.equal(calls, 1);
    ca.detach();
    const refused = await probeConnect(port, { servername: goSni(), version: 'TLSv1.3' });
    assert.equal(refused.names, undefined);
    assert.equal(calls, 1, 'JS is not called after detach');
    while (errors.length < 1) await nextTurn();
    assert.equal(nativeRejectionCode(errors[0]!), ErrorCode.AtlsHandshakeFailed);
    assert.equal(ca.stats().failed, 1);
  });
});

/** The ClientHello a Node TLS client sends for `servername` (captured by a plain TCP server that never answers). */
async function captureClientHello(servername: string): Promise<Buffer> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  try {
    const got = new Promise<Buffer>((resolve) => {
      srv.once('connection', (s) => {
        let buf = Buffer.alloc(0);
        s.on('data', (d: Buffer) => {
          buf = Buffer.concat([buf, d]);
          // One TLS record: 5-byte header + length.
          if (buf.length >= 5 && buf.length >= 5 + buf.readUInt16BE(3)) {
            resolve(buf.subarray(0, 5 + buf.readUInt16BE(3)));
            s.destroy();
          }
        });
      });
    });
    const c = tls.connect({ port: (srv.address() as net.AddressInfo).port, host: '127.0.0.1', servername, rejectUnauthorized: false, ALPNProtocols: ['h2'] });
    c.on('error', () => undefined);
    const hello = await got;
    c.destroy();
    return hello;
  } finally {
    srv.close();
  }
}

function rawConnect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', () => undefined);
    s.once('error', reject);
  });
}

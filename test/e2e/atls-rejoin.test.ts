import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { deriveDataKey } from '../../src/main/keyservice/derive-key.js';
import { ErrorCode } from '../../src/shared/errors.js';
import { startDevService, type DevService, type LogLine } from '../helpers/dev-service.js';
import { buildGoPeer, runGoPeer, type PeerResult } from '../helpers/go-peer.js';

// The real peer: Go crypto/tls + grpc-go (test/go), against `joinservice dev` as a child process,
// once per way the server nonce reaches the CertificateRequest (`--nonce-ca`, src/main/atls/nonce-ca.ts).
const HANDSHAKE_TIMEOUT_MS = 1500;
const atlsAttr = (l: LogLine, k: string) => (l['atls'] as Record<string, unknown> | undefined)?.[k];

for (const nonceCa of ['native', 'context'] as const) {
  describe(`--nonce-ca ${nonceCa}`, () => {
    let svc: DevService;
    let masterSecret: Buffer;
    let masterSalt: Buffer;

    before(async () => {
      await buildGoPeer();
      svc = await startDevService(['--handshake-timeout-ms', String(HANDSHAKE_TIMEOUT_MS), '--workers', '2', '--nonce-ca', nonceCa]);
      masterSecret = readFileSync(svc.info.masterSecretPath);
      masterSalt = readFileSync(svc.info.masterSaltPath);
    });

    after(async () => {
      const code = await svc?.stop();
      assert.equal(code, 0, 'SIGTERM stops the service cleanly');
    });

    const peer = (...args: string[]): Promise<PeerResult> => runGoPeer(['--endpoint', svc.info.endpoint, ...args]);
    const expectedKey = (id: string) => deriveDataKey(masterSecret, masterSalt, id, 32).toString('hex');

    /** Runs a peer that must be refused and returns the server's log line naming the failed check. */
    async function expectRejected(args: string[], check: string, msg = 'aTLS client rejected'): Promise<{ result: PeerResult; line: LogLine }> {
      const since = svc.logs.length;
      const result = await peer(...args);
      assert.equal(result.ok, false, JSON.stringify(result));
      assert.equal(result.code, 'Unavailable', JSON.stringify(result));
      const line = await svc.waitForLog((l) => l.msg === msg && atlsAttr(l, 'check') === check, { since });
      assert.equal(line.level, 'WARN');
      assert.match(String(atlsAttr(line, 'peerAddress')), /^127\.0\.0\.1:\d+$/);
      return { result, line };
    }

    test(`the listener runs with the ${nonceCa} nonce CA`, async () => {
      const line = await svc.waitForLog((l) => l.msg === 'aTLS nonce CA');
      assert.equal(atlsAttr(line, 'nonceCa'), nonceCa);
    });

    describe('IssueRejoinTicket over aTLS from a Go node', () => {
      test('succeeds over TLS 1.3 with ALPN h2 and returns the KMS-derived keys', async () => {
        const r = await peer('--rpc', 'rejoin', '--disk-uuid', 'disk-a', '--tls-version', '1.3');
        assert.equal(r.ok, true, JSON.stringify(r));
        assert.equal(r.tlsVersion, '1.3');
        assert.equal(r.alpn, 'h2');
        assert.equal(r.stateDiskKey, expectedKey('disk-a'));
        assert.equal(r.measurementSecret, expectedKey('measurementSecret'));
      });

      test('succeeds over TLS 1.2', async () => {
        const r = await peer('--rpc', 'rejoin', '--disk-uuid', 'disk-a', '--tls-version', '1.2');
        assert.equal(r.ok, true, JSON.stringify(r));
        assert.equal(r.tlsVersion, '1.2');
        assert.equal(r.stateDiskKey, expectedKey('disk-a'));
      });

      test('the same disk UUID gets the same key on every connection, another UUID another key', async () => {
        const a1 = await peer('--disk-uuid', 'disk-b');
        const a2 = await peer('--disk-uuid', 'disk-b', '--calls', '3');
        const c = await peer('--disk-uuid', 'disk-c');
        assert.equal(a1.stateDiskKey, a2.stateDiskKey);
        assert.equal(a2.calls, 3);
        assert.notEqual(a1.stateDiskKey, c.stateDiskKey);
        assert.equal(c.stateDiskKey, expectedKey('disk-c'));
      });

      test('an empty disk UUID fails with the Go error text', async () => {
        const r = await peer('--disk-uuid', '');
        assert.equal(r.code, 'Internal');
        assert.equal(
          r.message,
          'unable to get key for stateful disk: fetching data encryption key from Constellation KMS: rpc error: code = InvalidArgument desc = no data key ID specified',
        );
      });

      test('unknown methods answer UNIMPLEMENTED', async () => {
        const u = await peer('--rpc', 'unknown');
        assert.equal(u.code, 'Unimplemented', JSON.stringify(u));
      });

      test('a ~200 KiB attestation document is accepted', async () => {
        const r = await peer('--mode', 'big-document', '--doc-size', String(200 * 1024));
        assert.equal(r.ok, true, JSON.stringify(r));
      });
    });

    describe('bad clients are refused with a log line naming the failed check', () => {
      test('wrong nonce', async () => {
        const { line } = await expectRejected(['--mode', 'wrong-nonce'], ErrorCode.AttestationNonceMismatch);
        assert.match(String(atlsAttr(line, 'error')), /^invalid nonce: expected [0-9a-f]{64}, got [0-9a-f]{64}$/);
        assert.equal(atlsAttr(line, 'variant'), 'dummy');
      });

      test('user data not bound to the certificate key', async () => {
        const { line } = await expectRejected(['--mode', 'wrong-key-hash'], ErrorCode.AttestationUserDataMismatch);
        assert.equal(atlsAttr(line, 'error'), 'certificate hash does not match user data');
      });

      test('certificate without attestation extension', async () => {
        const { line } = await expectRejected(['--mode', 'missing-extension'], ErrorCode.AttestationMissing);
        assert.equal(atlsAttr(line, 'error'), 'certificate does not contain compatible attestation documents: got extension OIDs []string(nil)');
      });

      test('attestation for another variant', async () => {
        const { line } = await expectRejected(['--mode', 'other-variant'], ErrorCode.AttestationMissing);
        assert.match(String(atlsAttr(line, 'error')), /got extension OIDs \[\]string\{"1\.3\.9900\.5\.1"\}/);
      });

      test('garbage attestation document', async () => {
        await expectRejected(['--mode', 'garbage-document'], ErrorCode.AttestationMalformed);
      });

      test('expired certificate', async () => {
        await expectRejected(['--mode', 'expired-cert'], ErrorCode.CertValidity);
      });

      test('no client certificate', async () => {
        await expectRejected(['--mode', 'no-client-cert'], ErrorCode.AtlsNoClientCertificate);
      });

      test('plain TLS without an SNI nonce', async () => {
        await expectRejected(['--mode', 'no-sni'], ErrorCode.AtlsNoSni);
      });

      test('a 1 MiB document exceeds the certificate-list bound and fails the handshake', async () => {
        const since = svc.logs.length;
        const r = await peer('--mode', 'big-document', '--doc-size', String(1024 * 1024));
        assert.equal(r.ok, false);
        const line = await svc.waitForLog((l) => l.msg === 'TLS handshake failed', { since });
        assert.equal(atlsAttr(line, 'check'), ErrorCode.AtlsHandshakeFailed);
        assert.match(String(atlsAttr(line, 'tlsError')), /EXCESSIVE_MESSAGE_SIZE/);
      });

      test('a client that never finishes the handshake is cut off, while good clients are served meanwhile', async () => {
        const since = svc.logs.length;
        const slow = peer('--mode', 'slow-handshake', '--hold', '10s');
        const bad = Promise.all([peer('--mode', 'wrong-nonce'), peer('--mode', 'garbage-document'), peer('--mode', 'no-client-cert')]);
        const good = await peer('--count', '20', '--parallel', '5', '--disk-uuid', 'disk-load');
        assert.equal(good.succeeded, 20, JSON.stringify(good));
        for (const b of await bad) assert.equal(b.ok, false);
        const s = await slow;
        assert.equal(s.code, 'ClosedByServer', JSON.stringify(s));
        const line = await svc.waitForLog((l) => l.msg === 'TLS handshake failed' && atlsAttr(l, 'check') === ErrorCode.AtlsHandshakeTimeout, { since });
        assert.equal(atlsAttr(line, 'tlsError'), 'ERR_TLS_HANDSHAKE_TIMEOUT');
      });

      test('no key material appears in the service log', () => {
        const text = JSON.stringify(svc.logs);
        for (const id of ['disk-a', 'disk-b', 'measurementSecret']) {
          const k = deriveDataKey(masterSecret, masterSalt, id, 32);
          assert.ok(!text.includes(k.toString('hex')) && !text.includes(k.toString('base64')), `key for ${id} leaked`);
        }
        assert.ok(!text.includes(masterSecret.toString('hex')) && !text.includes(masterSecret.toString('base64')));
      });
    });
  });
}

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { deriveDataKey } from '../../src/main/keyservice/derive-key.js';
import { loadOrCreateSyntheticAmdPki } from '../../src/workers/attestation/snp/issuer/index.js';
import { startDevService, type DevService, type LogLine } from '../helpers/dev-service.js';
import { buildGoPeer, issuerFlags, runGoPeer, type PeerResult } from '../helpers/go-peer.js';
import { repoRoot } from '../helpers/repo-root.js';

// A Go node (crypto/tls + grpc-go) joins `joinservice dev --attestation-variant azure-sev-snp | aws-sev-snp`
// over aTLS. Its documents come from `joinservice issue --variant V --pki-dir D` (software TPM + SNP
// report signed by the synthetic AMD PKI in D). The dev service trusts the synthetic ARK of its PKI
// (--snp-pki-dir) and finds the synthetic chain in the seeded `kube-system/sev-snp-cert-cache`
// ConfigMap, so nothing ever asks AMD KDS.

let work: string;
/** The PKI the dev services trust and the good nodes sign with (default seed). */
let trustedPkiDir: string;
/** Another synthetic AMD PKI (different seed: other ARK, ASK, ASVK, VCEK, VLEK keys). */
let otherPkiDir: string;

before(async () => {
  await buildGoPeer();
  work = mkdtempSync(path.join(tmpdir(), 'snp-join-e2e-'));
  trustedPkiDir = path.join(work, 'amd-pki');
  otherPkiDir = path.join(work, 'other-amd-pki');
  loadOrCreateSyntheticAmdPki(trustedPkiDir);
  const other = loadOrCreateSyntheticAmdPki(otherPkiDir, { seed: 'snp-join e2e: an untrusted synthetic AMD PKI' });
  assert.notEqual(other.ark.pem, loadOrCreateSyntheticAmdPki(trustedPkiDir).ark.pem);
});

after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

function snpIssuer(variant: string, pkiDir: string): string[] {
  return issuerFlags(variant, process.execPath, [path.join(repoRoot(), 'bin', 'joinservice.js'), 'issue', '--variant', variant, '--pki-dir', pkiDir]);
}

const rejected = (l: LogLine): boolean => l.msg === 'aTLS client rejected';
const atlsOf = (l: LogLine): Record<string, unknown> => (l['atls'] ?? {}) as Record<string, unknown>;

for (const variant of ['azure-sev-snp', 'aws-sev-snp'] as const) {
  describe(`${variant}: a Go node joins over aTLS`, () => {
    let svc: DevService;
    const join = (...args: string[]): Promise<PeerResult> => runGoPeer(['--endpoint', svc.info.endpoint, '--rpc', 'join', ...args]);

    before(async () => {
      svc = await startDevService(['--attestation-variant', variant, '--snp-pki-dir', trustedPkiDir, '--workers', '1']);
    });

    after(async () => {
      assert.equal(await svc?.stop(), 0);
    });

    test('the dev service runs the variant with the synthetic config and the seeded certificate cache (no AMD KDS)', async () => {
      assert.equal(svc.info.attestationVariant, variant);
      assert.equal(svc.info.snpPkiDir, trustedPkiDir);
      const config = JSON.parse(readFileSync(svc.info.attestationConfigPath, 'utf8')) as { amdRootKey: string };
      assert.equal(config.amdRootKey.trim(), loadOrCreateSyntheticAmdPki(trustedPkiDir).ark.pem.trim());
      const cache = await svc.waitForLog((l) => l.msg === 'Using the SEV-SNP certificate chain cache');
      assert.deepEqual((cache['snpCertCache'] as Record<string, unknown>)['source'], 'configmap', JSON.stringify(cache));
      assert.ok(svc.logs.some((l) => l.msg === "The SEV-SNP certificate cache's ASK overrides amdSigningKey for all further verifications"));
    });

    test('a worker with a document of the trusted synthetic PKI gets its join ticket', async () => {
      const r = await join(...snpIssuer(variant, trustedPkiDir), '--disk-uuid', `${variant}-disk`, '--node-name', `${variant}-worker`);
      assert.equal(r.ok, true, JSON.stringify(r));
      assert.equal(r.code, 'OK');
      const checks = r.checks!;
      assert.equal(checks.kubeletCertMatchesCsrKey, true, JSON.stringify(checks));
      assert.equal(checks.tokenFormatOk, true, JSON.stringify(checks));
      assert.equal(checks.hostCertificateValid, true, JSON.stringify(checks));
      assert.equal(r.stateDiskKey, deriveDataKey(readFileSync(svc.info.masterSecretPath), readFileSync(svc.info.masterSaltPath), `${variant}-disk`, 32).toString('hex'));
      assert.equal(r.measurementSalt, readFileSync(svc.info.measurementSaltPath).toString('hex'));
      await svc.waitForLog((l) => l.msg === 'IssueJoinTicket successful');
    });

    test('a document signed by another synthetic AMD PKI is rejected by the chain check', async () => {
      const since = svc.logs.length;
      const r = await join(...snpIssuer(variant, otherPkiDir), '--disk-uuid', 'untrusted-disk');
      assert.equal(r.ok, false, JSON.stringify(r));
      assert.equal(r.stateDiskKey, undefined);
      const line = await svc.waitForLog(rejected, { since, timeoutMs: 30_000 });
      const atls = atlsOf(line);
      assert.equal(atls['variant'], variant);
      const check = String(atls['check']);
      const error = String(atls['error']);
      if (variant === 'azure-sev-snp') {
        // azure nodes send their chain: the ARK is not the trusted root (amdRootKey).
        assert.equal(check, 'presented-ark', JSON.stringify(line));
        assert.match(error, /ARK sent by the node .* is not the trusted Milan root \(amdRootKey\)/, JSON.stringify(line));
      } else {
        // aws nodes send only the VLEK: the trusted ASVK (the cache's, overriding amdSigningKey) did not sign it.
        assert.equal(check, 'endorsement-signature', JSON.stringify(line));
        assert.match(error, /VLEK certificate is not signed by the ASVK/, JSON.stringify(line));
      }
      assert.doesNotMatch(check, /NONCE|USER_DATA/, JSON.stringify(line));
      assert.ok(!svc.logs.slice(since).some((l) => l.msg === 'IssueJoinTicket successful'));
    });

    test('a document for another nonce (--mode wrong-nonce) is rejected naming the nonce', async () => {
      const since = svc.logs.length;
      const r = await join(...snpIssuer(variant, trustedPkiDir), '--mode', 'wrong-nonce', '--disk-uuid', 'wrong-nonce-disk');
      assert.equal(r.ok, false, JSON.stringify(r));
      assert.equal(r.stateDiskKey, undefined);
      const line = await svc.waitForLog(rejected, { since, timeoutMs: 30_000 });
      const atls = atlsOf(line);
      assert.equal(atls['variant'], variant);
      assert.match(`${String(atls['check'])} ${String(atls['error'])}`, /NONCE|extraData|REPORT_DATA/i, JSON.stringify(line));
      assert.ok(!svc.logs.slice(since).some((l) => l.msg === 'IssueJoinTicket successful'));
    });
  });
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { createIssue, issuerHandler, MAX_BODY_BYTES, parseIssueRequest, startIssuerServer } from '../../bench/join/issuer-server.js';
import { createServer } from 'node:http';
import { decodeSnpInstanceInfo } from '../../src/workers/attestation/snp/instance-info.js';
import { defaultSyntheticAmdPki, syntheticSnpAttestationConfig } from '../../src/workers/attestation/snp/issuer/index.js';
import { loadValidatorFactory } from '../../src/workers/attestation/registry.js';
import { decodeVtpmDocument } from '../../src/workers/attestation/vtpm/envelope.js';

const nonce = 'aa'.repeat(32);
const userData = 'bb'.repeat(32);

test('issue requests are validated', () => {
  assert.equal(parseIssueRequest(JSON.stringify({ variant: 'qemu-vtpm', nonce, userData })).nonce.length, 32);
  for (const bad of [
    'not json',
    '[]',
    JSON.stringify({ variant: 'azure-sev-snp', nonce, userData }),
    JSON.stringify({ variant: 'dummy', nonce: 'abc', userData }),
    JSON.stringify({ variant: 'dummy', nonce: 'zz', userData }),
    JSON.stringify({ variant: 'dummy', nonce: '', userData }),
    JSON.stringify({ variant: 'dummy', nonce, userData: 'cc'.repeat(65) }),
    JSON.stringify({ variant: 'dummy', nonce }),
  ]) {
    assert.throws(() => parseIssueRequest(bad), /./, bad);
  }
});

test('issuer server: documents for qemu-vtpm and dummy, 400/404/405/413 otherwise', async () => {
  const server = await startIssuerServer({ host: '127.0.0.1', port: 0, aks: 1 });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const post = (body: string) => fetch(`${base}/issue`, { method: 'POST', body, headers: { 'Content-Type': 'application/json' } });
  try {
    const vtpm = await post(JSON.stringify({ variant: 'qemu-vtpm', nonce, userData }));
    assert.equal(vtpm.status, 200);
    const doc = decodeVtpmDocument(new Uint8Array(await vtpm.arrayBuffer()));
    assert.ok(doc.attestation.quotes.length >= 1);

    const dummy = await post(JSON.stringify({ variant: 'dummy', nonce, userData }));
    assert.equal(dummy.status, 200);
    assert.deepEqual(JSON.parse(await dummy.text()), { UserData: Buffer.from(userData, 'hex').toString('base64'), Nonce: Buffer.from(nonce, 'hex').toString('base64') });

    assert.equal((await post('{"variant":"dummy","nonce":"xyz","userData":"00"}')).status, 400);
    assert.equal((await post('x'.repeat(MAX_BODY_BYTES + 1))).status, 413);
    assert.equal((await fetch(`${base}/issue`)).status, 405);
    assert.equal((await fetch(`${base}/elsewhere`, { method: 'POST', body: '{}' })).status, 404);
    assert.match(await (await fetch(`${base}/healthz`)).text(), /^ok 2 issued/);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

test('issue requests: an SEV-SNP issuer answers its variant and dummy only', () => {
  const accepted = ['azure-sev-snp', 'dummy'] as const;
  assert.equal(parseIssueRequest(JSON.stringify({ variant: 'azure-sev-snp', nonce, userData }), accepted).variant, 'azure-sev-snp');
  assert.throws(() => parseIssueRequest(JSON.stringify({ variant: 'qemu-vtpm', nonce, userData }), accepted), /azure-sev-snp, dummy/);
  assert.throws(() => createIssue(1, { variant: 'aws-sev-snp' }), /--pki-dir/);
});

for (const variant of ['azure-sev-snp', 'aws-sev-snp'] as const) {
  test(`issuer ${variant}: documents round robin over the AKs, accepted by the variant's validator with the synthetic config`, async () => {
    const pki = defaultSyntheticAmdPki();
    const issue = createIssue(2, { variant, pki });
    assert.deepEqual(issue.accepted, [variant, 'dummy']);
    const n = Buffer.from(nonce, 'hex');
    const u = Buffer.from(userData, 'hex');
    const docs = [issue(variant, n, u), issue(variant, n, u), issue(variant, n, u)];
    const aks = docs.map((d) => Buffer.from(decodeVtpmDocument(d).attestation.akPub).toString('hex'));
    assert.notEqual(aks[0], aks[1], 'two AKs');
    assert.equal(aks[0], aks[2], 'round robin');
    const info = decodeSnpInstanceInfo(decodeVtpmDocument(docs[0]!).instanceInfo!);
    assert.ok(info.reportSigner, 'the node sends its VCEK/VLEK: no KDS fetch');
    const validator = (await loadValidatorFactory(variant))(syntheticSnpAttestationConfig(variant, pki));
    for (const d of docs) {
      const out = await validator.validate(d, n);
      assert.deepEqual(Buffer.from(out.userData), u);
    }

    const server = createServer(issuerHandler(issue));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/issue`;
      const post = (v: string) => fetch(url, { method: 'POST', body: JSON.stringify({ variant: v, nonce, userData }) });
      assert.equal((await post(variant)).status, 200);
      assert.equal((await post('dummy')).status, 200);
      assert.equal((await post('qemu-vtpm')).status, 400);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
}

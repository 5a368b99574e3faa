import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describeDocument } from '../../src/main/cli/inspect.js';
import { formatReport, verifyDocument } from '../../src/main/cli/verify.js';
import { encodeVtpmDocument } from '../../src/workers/attestation/vtpm/envelope.js';
import { devAttestationConfig, SoftwareTpmIssuer } from '../../src/workers/attestation/vtpm/issuer/index.js';
import { parseMeasurementsConfig } from '../../src/workers/attestation/vtpm/measurements.js';

const issuer = new SoftwareTpmIssuer({ akType: 'rsa' });
const nonce = randomBytes(32);
const userData = randomBytes(32);
const doc = encodeVtpmDocument(issuer.issue(userData, nonce));
const config = devAttestationConfig(issuer);

test('verify accepts an honest document and prints the checked PCRs', async () => {
  const r = await verifyDocument({ variant: 'qemu-vtpm', configText: config, nonce, userData, document: doc });
  assert.equal(r.verdict, 'accepted');
  assert.match(formatReport(r), /^ACCEPTED \(qemu-vtpm\)\n/);
  assert.match(formatReport(r), /PCR\[15\] = 0{64}/);
});

test('verify lists every failed check', async () => {
  const cfg = JSON.parse(config) as { measurements: Record<string, { expected: string }> };
  cfg.measurements['4']!.expected = '11'.repeat(32);
  cfg.measurements['9']!.expected = '22'.repeat(32);
  const r = await verifyDocument({ variant: 'qemu-vtpm', configText: JSON.stringify(cfg), nonce, document: doc });
  assert.equal(r.verdict, 'rejected');
  assert.deepEqual(r.failures.slice(1).map((f) => f.replace(/got [0-9a-f]+/, 'got X')), [`PCR[4]: expected ${'11'.repeat(32)}, got X`, `PCR[9]: expected ${'22'.repeat(32)}, got X`]);
  const wrongUser = await verifyDocument({ variant: 'qemu-vtpm', configText: config, nonce, userData: randomBytes(32), document: doc });
  assert.equal(wrongUser.verdict, 'rejected');
  assert.match(wrongUser.failures[0]!, /certificate hash does not match user data/);
});

test('inspect describes the AK, quotes and PCRs against a config', () => {
  const cfg = JSON.parse(config) as { measurements: Record<string, { expected: string }> };
  cfg.measurements['4']!.expected = '11'.repeat(32);
  const d = describeDocument(doc, parseMeasurementsConfig(JSON.stringify(cfg))) as {
    format: string;
    ak: { type: string; rsaBits: number };
    quotes: { bank: string; pcrs: { index: number; match?: boolean }[] }[];
  };
  assert.equal(d.format, 'vTPM attestation document');
  assert.equal(d.ak.type, 'RSA');
  assert.equal(d.ak.rsaBits, 2048);
  const sha256 = d.quotes.find((q) => q.bank === 'SHA256')!;
  assert.equal(sha256.pcrs.find((p) => p.index === 4)!.match, false);
  assert.equal(sha256.pcrs.find((p) => p.index === 15)!.match, true);
  assert.equal(describeDocument(Buffer.from('garbage')).format, 'unknown');
});

/**
 * Micro-benchmark: parsing an aTLS client certificate with the hand-written
 * Go-compatible parser (src/workers/certificate) versus @peculiar/asn1-x509.
 *
 *   node_modules/.bin/tsc -p tsconfig.build.json
 *   node_modules/.bin/node dist/bench/micro/parse-certificate.js [iterations]
 *
 * "peculiar + bytes" also re-serializes the TBSCertificate and the SPKI,
 * which the verification needs (signature input, attestation hash) and the
 * schema library does not keep. The last rows show the whole structural
 * check and the whole dummy verification for scale.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate } from '@peculiar/asn1-x509';
import { buildSelfSignedCertificate } from '../../src/main/atls/certificate-builder.js';
import { VERIFY_PROTOCOL_VERSION } from '../../src/shared/worker-protocol.js';
import { checkCertificate } from '../../src/workers/certificate/check-certificate.js';
import { parseCertificate } from '../../src/workers/certificate/parse-certificate.js';
import { verifyCertificate } from '../../src/workers/verify-certificate.js';

const DUMMY_OID = '1.3.9900.1.1';
const iterations = Number(process.argv[2] ?? 2000);

function makeCertificate(documentBytes: number, nonce: Uint8Array): Uint8Array {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  const userData = createHash('sha256').update(spki).digest();
  // A dummy document padded with an ignored key to the target size, like a large TPM/SNP JSON document.
  const head = `{"UserData":"${userData.toString('base64')}","Nonce":"${Buffer.from(nonce).toString('base64')}","Pad":"`;
  const doc = head + 'A'.repeat(Math.max(0, documentBytes - head.length - 2)) + '"}';
  return buildSelfSignedCertificate({ privateKey, spki, commonName: 'Constellation', extensions: [{ oid: DUMMY_OID, value: Buffer.from(doc) }] });
}

function bench(name: string, fn: () => unknown): number {
  for (let i = 0; i < Math.min(200, iterations); i++) fn();
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) fn();
  const us = ((performance.now() - t0) * 1000) / iterations;
  console.log(`  ${name.padEnd(34)} ${us.toFixed(1).padStart(9)} µs/op`);
  return us;
}

async function benchAsync(name: string, fn: () => Promise<unknown>): Promise<void> {
  for (let i = 0; i < Math.min(200, iterations); i++) await fn();
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) await fn();
  console.log(`  ${name.padEnd(34)} ${(((performance.now() - t0) * 1000) / iterations).toFixed(1).padStart(9)} µs/op`);
}

const nonce = Uint8Array.from({ length: 32 }, (_, i) => i);
for (const size of [8 * 1024, 100 * 1024]) {
  const der = makeCertificate(size, nonce);
  const now = Date.now();
  console.log(`certificate with a ${size / 1024} KiB document (${der.length} bytes), ${iterations} iterations`);
  const ours = bench('hand-written (Go rules)', () => {
    const c = parseCertificate(der);
    return c.extensions.find((e) => e.oid === DUMMY_OID)?.value.length;
  });
  const peculiar = bench('@peculiar/asn1-x509', () => {
    const c = AsnConvert.parse(der, Certificate);
    return c.tbsCertificate.extensions?.find((e) => e.extnID === DUMMY_OID)?.extnValue.byteLength;
  });
  const peculiarBytes = bench('@peculiar/asn1-x509 + bytes', () => {
    const c = AsnConvert.parse(der, Certificate);
    AsnConvert.serialize(c.tbsCertificate);
    AsnConvert.serialize(c.tbsCertificate.subjectPublicKeyInfo);
    return c.tbsCertificate.extensions?.find((e) => e.extnID === DUMMY_OID)?.extnValue.byteLength;
  });
  console.log(`  → peculiar/hand-written: ${(peculiar / ours).toFixed(1)}× (parse only), ${(peculiarBytes / ours).toFixed(1)}× (with bytes)`);
  bench('checkCertificate (parse+key+sig)', () => checkCertificate(der, now));
  await benchAsync('verifyCertificate (dummy, whole)', () =>
    verifyCertificate({
      v: VERIFY_PROTOCOL_VERSION,
      kind: 'verify-certificate',
      certificate: der,
      nonce,
      variant: 'dummy',
      config: { generation: 1, text: '{}' },
      nowMs: now,
    }).then((r) => {
      if (!r.ok) throw new Error(r.error.message);
    }),
  );
}

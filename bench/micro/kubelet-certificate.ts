/**
 * Micro-benchmark: one kubelet certificate issuance (IssueJoinTicket step 10
 * + 12 as the worker runs it: read ca.crt/ca.key, cache lookup, CSR parse and
 * signature check, subject checks, certificate build and signature, PEM)
 * versus a bare crypto.sign with the same CA key over a message of the
 * TBSCertificate's size, for an RSA-2048 and an ECDSA P-256 CA.
 *
 *   node_modules/.bin/tsc -p tsconfig.build.json
 *   node_modules/.bin/node dist/bench/micro/kubelet-certificate.js [iterations]
 *
 * The CSR is what a joining node sends (ECDSA P-256 key, IP SAN). Checking
 * its signature is part of every issuance (Go does it too): importing the
 * node's key into OpenSSL and a P-256 verification cost several P-256
 * signatures, so next to "whole / bare sign" the "crypto floor" row (CA
 * signature + CSR key import + CSR verification, nothing else) shows what
 * the parsing, encoding and file reads add. The breakdown rows show where
 * the time goes.
 */
import { constants, createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { VERIFY_PROTOCOL_VERSION, type IssueKubeletCertificateTask } from '../../src/shared/worker-protocol.js';
import { loadClusterCa } from '../../src/workers/signing/ca-files.js';
import { parseCertificateRequest } from '../../src/workers/signing/csr.js';
import { checkCsrSignature } from '../../src/workers/signing/csr-signature.js';
import { checkSubject, issueKubeletCertificate } from '../../src/workers/signing/issue-kubelet-certificate.js';
import { createKubeletCertificate } from '../../src/workers/signing/kubelet-certificate-template.js';
import { buildCsr, ip, key, makeCa, OID_SAN, san, writeCaFiles, type KeyFormat, type KeyKind } from '../../test/unit/support/kubelet-pki.js';

const iterations = Number(process.argv[2] ?? 2000);

function bench(label: string, fn: () => unknown): number {
  for (let i = 0; i < Math.min(200, iterations); i++) fn();
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) fn();
  const us = ((performance.now() - t0) * 1000) / iterations;
  console.log(`  ${label.padEnd(40)} ${us.toFixed(1).padStart(9)} µs/op`);
  return us;
}

async function benchAsync(label: string, fn: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < Math.min(200, iterations); i++) await fn();
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) await fn();
  const us = ((performance.now() - t0) * 1000) / iterations;
  console.log(`  ${label.padEnd(40)} ${us.toFixed(1).padStart(9)} µs/op`);
  return us;
}

const root = await mkdtemp(path.join(tmpdir(), 'kubelet-bench-'));
try {
  const csr = buildCsr({ key: key('p256'), extensions: [{ oid: OID_SAN, value: san({ ips: [ip('10.0.1.17')], dns: ['worker-1'] }) }] });
  const cases: Array<[string, KeyKind, KeyFormat]> = [
    ['RSA-2048 CA (RSA PRIVATE KEY)', 'rsa', 'pkcs1'],
    ['ECDSA P-256 CA (EC PRIVATE KEY)', 'p256', 'sec1'],
  ];
  for (const [label, kind, format] of cases) {
    const dir = path.join(root, kind);
    await writeCaFiles(dir, makeCa(kind), format);
    const caKey = createPrivateKey(await readFile(path.join(dir, 'ca.key')));
    const task: IssueKubeletCertificateTask = { v: VERIFY_PROTOCOL_VERSION, kind: 'issue-kubelet-certificate', csr, pkiDir: dir, nowMs: Date.now() };
    const first = await issueKubeletCertificate(task);
    if (!first.ok) throw new Error(first.error.message);
    // A message of the TBSCertificate's size for the bare signature.
    const tbsSize = Buffer.from(first.certificatePem.replace(/-----[^-]+-----|\n/g, ''), 'base64').length - (kind === 'rsa' ? 256 + 30 : 90);
    const message = Buffer.alloc(tbsSize, 0x5a);
    const bareSign =
      kind === 'rsa'
        ? (): unknown => sign('sha256', message, { key: caKey, padding: constants.RSA_PKCS1_PADDING })
        : (): unknown => sign('sha256', message, { key: caKey, dsaEncoding: 'der' });

    // The CSR check every issuance must do (Go too): import the node's key, verify its signature.
    const csrParsed = parseCertificateRequest(csr);
    const csrSpki = Buffer.from(csrParsed.publicKey.raw);
    const bareCsrCheck = (): unknown =>
      verify(csrParsed.signatureAlgorithm!.hash, csrParsed.tbs, { key: createPublicKey({ key: csrSpki, format: 'der', type: 'spki' }), dsaEncoding: 'der' }, csrParsed.signature);

    console.log(`${label}, ECDSA P-256 CSR, ${iterations} iterations`);
    const whole = await benchAsync('whole issuance (issueKubeletCertificate)', () => issueKubeletCertificate(task));
    const bare = bench('bare crypto.sign, same key', bareSign);
    const floor = bench('crypto floor: sign + CSR key import+verify', () => (bareSign(), bareCsrCheck()));
    console.log(`  ${'ratio whole / bare sign'.padEnd(40)} ${(whole / bare).toFixed(2).padStart(9)}`);
    console.log(`  ${'ratio whole / crypto floor'.padEnd(40)} ${(whole / floor).toFixed(2).padStart(9)}`);
    console.log('  breakdown:');
    const ca = loadClusterCa(dir);
    const parsed = csrParsed;
    bench('  read ca.crt + ca.key, cache lookup', () => loadClusterCa(dir));
    bench('  parse CSR', () => parseCertificateRequest(csr));
    bench('  check CSR signature (ECDSA P-256)', () => {
      const p = parseCertificateRequest(csr);
      checkCsrSignature(p.signatureAlgorithm, p.tbs, p.signature, p.publicKey, p.publicKeyObject);
    });
    bench('  subject checks', () => checkSubject(parsed.subject));
    bench('  build + sign certificate', () => createKubeletCertificate({ ca, csr: parsed, nowMs: task.nowMs }));
  }
} finally {
  await rm(root, { recursive: true, force: true });
}

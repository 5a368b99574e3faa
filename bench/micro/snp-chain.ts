/**
 * Micro-benchmark: the SEV-SNP certificate chain and report signature
 * (src/workers/attestation/snp/chain/) on the real Azure vector
 * (vcek.pem + certchain.pem, attestation.bin), next to the bare node:crypto
 * operations they are made of:
 *
 * - full chain verification, nothing remembered (VCEK and ASK parsed, VCEK
 *   signature by the ASK and ASK signature by the ARK: two RSA-4096 PSS
 *   verifications) — a fresh AmdTrust per call, built beforehand;
 * - chain verification for a new chip under a known ASK (the ASK was
 *   verified before under this trust: one RSA-4096 PSS verification);
 * - a chain-cache hit (SHA-256 over the presented DERs, lookup, validity);
 * - the report signature (one P-384 verification incl. the R/S conversion)
 *   against bare crypto.verify with a pre-converted signature.
 *
 *   node_modules/.bin/tsc -p tsconfig.build.json
 *   node_modules/.bin/node dist/bench/micro/snp-chain.js [iterations]
 */
import { constants, verify, X509Certificate } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { decodeAllPem } from '../../src/shared/pem.js';
import { SnpChainCache } from '../../src/workers/attestation/snp/chain/chain-cache.js';
import { verifySnpReportSignatureOfReport } from '../../src/workers/attestation/snp/chain/report-signature.js';
import { createAmdTrust, verifySnpChain, type SnpChainInput } from '../../src/workers/attestation/snp/chain/verify-chain.js';
import { CONSTELLATION_ATTESTATION as C, readVector, readVectorText } from '../../test/helpers/vectors.js';

const iterations = Number(process.argv[2] ?? 2000);
const NOW = Date.UTC(2024, 0, 15);

const ders = (pem: string): Uint8Array[] => decodeAllPem(pem).map((b) => new Uint8Array(b.bytes));
const [ask, ark] = ders(readVectorText(`${C}/snp/testdata/certchain.pem`)) as [Uint8Array, Uint8Array];
const vcek = ders(readVectorText(`${C}/snp/testdata/vcek.pem`))[0]!;
const report = readVector(`${C}/snp/testdata/attestation.bin`).subarray(0, 0x4a0);
const arkPem = readVectorText('constellation/internal/config/defaults/amd_ark_milan.pem');
const input: SnpChainInput = { signer: 'VCEK', endorsement: vcek, intermediate: ask, ark };

const x509Vcek = new X509Certificate(Buffer.from(vcek));
const x509Ask = new X509Certificate(Buffer.from(ask));
const x509Ark = new X509Certificate(Buffer.from(ark));
const askKey = x509Ask.publicKey;
const arkKey = x509Ark.publicKey;
const vcekKey = x509Vcek.publicKey;
const vcekTbs = tbsOf(vcek);
const vcekSig = signatureOf(vcek);
const signed = report.subarray(0, 0x2a0);
const p1363 = Buffer.concat([Buffer.from(report.subarray(0x2a0, 0x2a0 + 48)).reverse(), Buffer.from(report.subarray(0x2e8, 0x2e8 + 48)).reverse()]);

/** TBSCertificate bytes (the first element of the certificate SEQUENCE; both lengths long-form 2 bytes here). */
function tbsOf(der: Uint8Array): Uint8Array {
  const len = (der[6]! << 8) | der[7]!;
  return der.subarray(4, 8 + len);
}
/** The signature BIT STRING content (last element; 512 bytes + the unused-bits byte for RSA-4096). */
function signatureOf(der: Uint8Array): Uint8Array {
  return der.subarray(der.length - 512);
}

function time(fn: () => unknown, n: number): number {
  const start = performance.now();
  for (let i = 0; i < n; i++) fn();
  return ((performance.now() - start) * 1000) / n;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

function row(name: string, us: number, extra = ''): void {
  console.log(`${name.padEnd(64)} ${us.toFixed(2).padStart(9)} µs/op${extra}`);
}

/** Interleaved rounds (the machine is shared); medians of per-round times. */
function compare(title: string, fns: Record<string, () => unknown>, n: number, rounds = 20): Record<string, number> {
  const batch = Math.max(1, Math.floor(n / rounds));
  for (const f of Object.values(fns)) time(f, Math.min(200, n));
  const times: Record<string, number[]> = {};
  for (let r = 0; r < rounds; r++) for (const [name, f] of Object.entries(fns)) (times[name] ??= []).push(time(f, batch));
  console.log(`-- ${title} (${rounds} interleaved rounds of ${batch}; medians)`);
  const out: Record<string, number> = {};
  for (const name of Object.keys(fns)) row(name, (out[name] = median(times[name]!)));
  return out;
}

// sanity: the pieces really verify
if (!verify('sha384', vcekTbs, { key: askKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 }, vcekSig)) throw new Error('tbs/signature slicing is wrong');
if (!verify('sha384', signed, { key: vcekKey, dsaEncoding: 'ieee-p1363' }, p1363)) throw new Error('report signature slicing is wrong');

const trustCost = time(() => createAmdTrust({ amdRootKey: arkPem }), 200);
row('createAmdTrust(ARK-Milan PEM): parse + RSA-4096 self-signature', trustCost);

// Full chain verification with nothing remembered: one fresh trust per call, built beforehand.
const fullN = Math.min(iterations, 400);
const trusts = Array.from({ length: fullN }, () => createAmdTrust({ amdRootKey: arkPem }));
let k = 0;
const fullChain = time(() => verifySnpChain(input, trusts[k++]!, NOW), fullN);

const known = createAmdTrust({ amdRootKey: arkPem });
verifySnpChain(input, known, NOW);
const cache = new SnpChainCache();
cache.verify(input, known, NOW);

const crypto = compare(
  'chain',
  {
    'bare RSA-4096 PSS SHA-384 verify (VCEK by ASK)': () => verify('sha384', vcekTbs, { key: askKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 }, vcekSig),
    'bare X509Certificate.verify(ASK by ARK)': () => x509Ask.verify(arkKey),
    'verifySnpChain, ASK known under this trust (new chip)': () => verifySnpChain(input, known, NOW),
    'SnpChainCache.verify hit (hash + lookup + validity)': () => cache.verify(input, known, NOW),
  },
  iterations,
);
row('verifySnpChain, nothing remembered (parse VCEK+ASK, 2 RSA verifies)', fullChain, `   = ${(fullChain / crypto['bare RSA-4096 PSS SHA-384 verify (VCEK by ASK)']!).toFixed(2)}x one bare RSA verify`);

const sig = compare(
  'report signature',
  {
    'bare crypto.verify P-384 SHA-384 ieee-p1363 (pre-converted r‖s)': () => verify('sha384', signed, { key: vcekKey, dsaEncoding: 'ieee-p1363' }, p1363),
    'verifySnpReportSignatureOfReport (R/S LE→BE, range checks)': () => verifySnpReportSignatureOfReport(vcekKey, report),
  },
  iterations,
);
const bare = sig['bare crypto.verify P-384 SHA-384 ieee-p1363 (pre-converted r‖s)']!;
const ours = sig['verifySnpReportSignatureOfReport (R/S LE→BE, range checks)']!;
row('report signature overhead over bare verify', ours - bare, `   ratio ${(ours / bare).toFixed(3)}x`);
const hit = crypto['SnpChainCache.verify hit (hash + lookup + validity)']!;
row('per join for a known chip: cache hit + report signature', hit + ours, `   = ${((hit + ours) / bare).toFixed(3)}x the bare P-384 verify`);

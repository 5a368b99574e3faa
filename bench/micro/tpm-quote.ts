/**
 * Micro-benchmark: verifying a realistic vTPM attestation (RSA-2048 AK,
 * SHA-1 + SHA-256 banks with 24 PCRs each, empty event log, as qemu-vtpm /
 * aws-nitro-tpm send it) next to the bare node:crypto verification of one
 * RSA-2048 PKCS#1 v1.5 signature over the same quote. Budget: the whole
 * verification ≤ 1.3× its cryptography. The AK import is cached per worker,
 * so the steady state is measured (the first call is reported separately).
 *
 *   node_modules/.bin/tsc -p tsconfig.build.json
 *   node_modules/.bin/node dist/bench/micro/tpm-quote.js [iterations]
 */
import { verify } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { clearAkCache, identityFromKeyObject, loadAk } from '../../src/workers/attestation/vtpm/tpm/tpmt-public.js';
import { verifyTpmAttestation } from '../../src/workers/attestation/vtpm/tpm/verify-attestation.js';
import { nonceBinding } from '../../src/workers/attestation/vtpm/tpm/nonce-binding.js';
import { ALG, emptyLogOnly, makeDocument, rsaAk } from '../../test/unit/support/tpm-builder.js';

const iterations = Number(process.argv[2] ?? 20000);
const ak = rsaAk(2048);
const { doc, tpmNonce, nonce } = makeDocument(ak, { banks: [ALG.SHA1, ALG.SHA256] });
const q256 = doc.attestation.quotes[1]!;
const rawSignature = q256.rawSig.subarray(6); // TPMT_SIGNATURE: sigAlg, hashAlg, size, then the 256 signature bytes
const trusted = identityFromKeyObject(ak.publicKey);
const key = ak.publicKey;

/** µs per call of `fn` over `n` calls. */
function time(fn: () => unknown, n: number): number {
  const start = performance.now();
  for (let i = 0; i < n; i++) fn();
  return ((performance.now() - start) * 1000) / n;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/**
 * Interleaved measurement (the machine may be shared): each round times the
 * bare verification and every candidate back to back over `batch` calls;
 * reported are the medians of the per-round times and of the per-round ratios.
 */
function compare(bareFn: () => unknown, candidates: Record<string, () => unknown>, rounds = 40): void {
  const batch = Math.max(1, Math.floor(iterations / rounds));
  for (const f of [bareFn, ...Object.values(candidates)]) time(f, Math.min(2000, iterations)); // warm-up
  const bareTimes: number[] = [];
  const times: Record<string, number[]> = {};
  const ratios: Record<string, number[]> = {};
  for (let r = 0; r < rounds; r++) {
    const b = time(bareFn, batch);
    bareTimes.push(b);
    for (const [name, f] of Object.entries(candidates)) {
      const t = time(f, batch);
      (times[name] ??= []).push(t);
      (ratios[name] ??= []).push(t / b);
    }
  }
  console.log(`${'bare crypto.verify RSA-2048 PKCS#1 SHA-256 (one quote)'.padEnd(58)} ${median(bareTimes).toFixed(2).padStart(8)} µs/op`);
  for (const name of Object.keys(candidates)) {
    console.log(`${name.padEnd(58)} ${median(times[name]!).toFixed(2).padStart(8)} µs/op   ratio ${median(ratios[name]!).toFixed(3)}x`);
  }
  console.log(`(${rounds} interleaved rounds of ${batch} calls; medians; budget: whole verification ≤ 1.3x its crypto)`);
}

clearAkCache();
const t0 = performance.now();
verifyTpmAttestation(doc, { tpmNonce, trustedAk: 'any', processEventLog: emptyLogOnly });
console.log(`${'first verification in this process (cold)'.padEnd(58)} ${((performance.now() - t0) * 1000).toFixed(2).padStart(8)} µs`);
const missRuns = 2000;
const miss = time(() => {
  clearAkCache();
  return loadAk(doc.attestation.akPub).keyObject();
}, missRuns);
console.log(`${'AK cache miss (TPMT_PUBLIC decode + KeyObject import)'.padEnd(58)} ${miss.toFixed(2).padStart(8)} µs/op`);

compare(
  () => {
    if (!verify('sha256', q256.quote, key, rawSignature)) throw new Error('bad signature');
  },
  {
    "verifyTpmAttestation, trustedAk 'any' (qemu-vtpm)": () =>
      verifyTpmAttestation(doc, { tpmNonce, trustedAk: 'any', processEventLog: emptyLogOnly }),
    'verifyTpmAttestation, trusted key (gcp/azure style)': () =>
      verifyTpmAttestation(doc, { tpmNonce, trustedAk: trusted, processEventLog: emptyLogOnly }),
    "nonceBinding + verifyTpmAttestation 'any'": () => {
      const { tpmNonce: n } = nonceBinding(doc.userData, nonce, doc.instanceInfo);
      return verifyTpmAttestation(doc, { tpmNonce: n, trustedAk: 'any', processEventLog: emptyLogOnly });
    },
  },
);

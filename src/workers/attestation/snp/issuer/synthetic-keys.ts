/**
 * Keys of the synthetic AMD PKI, derived from a seed so that every process
 * (test runner, `joinservice issue`, the benchmark's issuer server, the dev
 * service building its attestation config) arrives at the same ARK, ASK and
 * ASVK without sharing files — like vtpm/issuer/deterministic-keys.ts does for
 * the software TPM's AK. The derivation is our own (HMAC-SHA256 counter-mode
 * stream; RSA primes found by sieving a window and testing with OpenSSL's
 * Miller–Rabin via crypto.checkPrimeSync, which is ~30× faster than the
 * BigInt test for 2048-bit primes); it has nothing to do with how AMD makes
 * its keys. Deriving an RSA-4096 key still takes ~0.5–2 s, so keys are cached
 * per (seed, label) for the life of the process, and a PKI directory
 * (synthetic-amd-pki.ts) keeps them as PEM across processes.
 *
 * These keys are public knowledge (anyone with the seed derives them): a
 * configuration that trusts the synthetic ARK accepts forged attestations.
 * Only test and benchmark configs may trust it.
 */
import { checkPrimeSync, type KeyObject } from 'node:crypto';
import { derivePrime, ecKeyFromScalar, rsaKeyFromPrimes, SeedStream, smallPrimes, toBig } from '../../seeded-keys.js';

const SMALL_PRIMES = smallPrimes(8192);

/** One cheap round weeds out composites; 24 more rounds give < 2^-48 error for 2048-bit candidates. */
const isPrime = (cand: bigint): boolean => checkPrimeSync(cand, { checks: 1 }) && checkPrimeSync(cand, { checks: 24 });

const cache = new Map<string, KeyObject>();

function cacheKey(kind: string, seed: Uint8Array, label: string): string {
  return `${kind}:${Buffer.from(seed).toString('hex')}:${label}`;
}

/** An RSA private key (e = 65537) derived from `seed` and `label`; cached per process. */
export function deriveSyntheticRsaKey(seed: Uint8Array, label: string, bits = 4096): KeyObject {
  if (bits % 16 !== 0 || bits < 1024) throw new RangeError(`unsupported RSA size ${bits}`);
  const id = cacheKey(`rsa${bits}`, seed, label);
  const cached = cache.get(id);
  if (cached) return cached;
  const e = 65537n;
  const stream = new SeedStream(seed, `synthetic AMD PKI RSA-${bits} ${label}`);
  let p: bigint;
  let q: bigint;
  do {
    p = derivePrime(stream, bits / 2, e, SMALL_PRIMES, isPrime);
    q = derivePrime(stream, bits / 2, e, SMALL_PRIMES, isPrime);
  } while (p === q);
  if (p < q) [p, q] = [q, p];
  const key = rsaKeyFromPrimes(p, q, e, bits);
  cache.set(id, key);
  return key;
}

const P384_N = 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n;

/** An ECDSA P-384 private key derived from `seed` and `label` (cheap; cached anyway). */
export function deriveSyntheticP384Key(seed: Uint8Array, label: string): KeyObject {
  const id = cacheKey('p384', seed, label);
  const cached = cache.get(id);
  if (cached) return cached;
  const stream = new SeedStream(seed, `synthetic AMD PKI P-384 ${label}`);
  const d = (toBig(stream.bytes(64)) % (P384_N - 1n)) + 1n;
  const key = ecKeyFromScalar('P-384', d);
  cache.set(id, key);
  return key;
}

/**
 * AK key pairs derived from a seed, so a software TPM keeps its AK across
 * restarts and benchmarks/tests are reproducible (like a TPM primary key,
 * which is derived from the hierarchy seed and the template). The derivation
 * is our own (HMAC-SHA256 counter-mode stream, prime search with trial
 * division and Miller–Rabin); it is not meant to match any TPM's KDF. Keys
 * are cached per seed.
 */
import type { KeyObject } from 'node:crypto';
import { derivePrime, ecKeyFromScalar, rsaKeyFromPrimes, SeedStream, smallPrimes, toBig } from '../../seeded-keys.js';

const SMALL_PRIMES = smallPrimes(4096);

function modPow(base: bigint, exp: bigint, mod: bigint): bigint {
  let result = 1n;
  let b = base % mod;
  let e = exp;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % mod;
    b = (b * b) % mod;
    e >>= 1n;
  }
  return result;
}

function millerRabin(n: bigint, rounds: number, stream: SeedStream): boolean {
  let d = n - 1n;
  let r = 0;
  while ((d & 1n) === 0n) {
    d >>= 1n;
    r++;
  }
  const byteLen = Math.ceil(n.toString(16).length / 2);
  for (let i = 0; i < rounds; i++) {
    const a = 2n + (toBig(stream.bytes(byteLen + 8)) % (n - 3n));
    let x = modPow(a, d, n);
    if (x === 1n || x === n - 1n) continue;
    let composite = true;
    for (let j = 1; j < r; j++) {
      x = (x * x) % n;
      if (x === n - 1n) {
        composite = false;
        break;
      }
    }
    if (composite) return false;
  }
  return true;
}

const cache = new Map<string, KeyObject>();

function seedKey(seed: Uint8Array, kind: string): string {
  return `${kind}:${Buffer.from(seed).toString('hex')}`;
}

/** RSA-2048 (e = 65537) private key derived from `seed`. */
export function deriveRsaKey(seed: Uint8Array, bits = 2048): KeyObject {
  const id = seedKey(seed, `rsa${bits}`);
  const cached = cache.get(id);
  if (cached) return cached;
  const e = 65537n;
  const stream = new SeedStream(seed, `software-tpm AK RSA-${bits}`);
  const isPrime = (cand: bigint) => millerRabin(cand, 1, stream) && millerRabin(cand, 40, stream);
  let p: bigint;
  let q: bigint;
  let n: bigint;
  do {
    p = derivePrime(stream, bits / 2, e, SMALL_PRIMES, isPrime);
    q = derivePrime(stream, bits / 2, e, SMALL_PRIMES, isPrime);
    n = p * q;
  } while (p === q || n.toString(2).length !== bits);
  if (p < q) [p, q] = [q, p];
  const key = rsaKeyFromPrimes(p, q, e, bits);
  cache.set(id, key);
  return key;
}

const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

/** ECC P-256 private key derived from `seed`. */
export function deriveEccKey(seed: Uint8Array): KeyObject {
  const id = seedKey(seed, 'p256');
  const cached = cache.get(id);
  if (cached) return cached;
  const stream = new SeedStream(seed, 'software-tpm AK ECC P-256');
  const d = (toBig(stream.bytes(48)) % (P256_N - 1n)) + 1n;
  const key = ecKeyFromScalar('P-256', d);
  cache.set(id, key);
  return key;
}

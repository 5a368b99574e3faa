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
import { checkPrimeSync, createECDH, createHmac, createPrivateKey, type KeyObject } from 'node:crypto';

/** A deterministic byte stream: HMAC-SHA256(seed, label ‖ 0x00 ‖ u32 counter) blocks. */
export class SeedStream {
  private counter = 0;

  constructor(
    private readonly seed: Uint8Array,
    private readonly label: string,
  ) {}

  bytes(n: number): Buffer {
    const out: Buffer[] = [];
    let have = 0;
    while (have < n) {
      const ctr = Buffer.alloc(4);
      ctr.writeUInt32BE(this.counter++);
      const block = createHmac('sha256', this.seed).update(this.label).update(Buffer.of(0)).update(ctr).digest();
      out.push(block);
      have += block.length;
    }
    return Buffer.concat(out).subarray(0, n);
  }
}

const toBig = (b: Uint8Array): bigint => (b.length === 0 ? 0n : BigInt('0x' + Buffer.from(b).toString('hex')));

function toBytes(v: bigint, size: number): Buffer {
  let hex = v.toString(16);
  if (hex.length % 2) hex = '0' + hex;
  const b = Buffer.from(hex, 'hex');
  if (b.length > size) throw new RangeError(`integer does not fit into ${size} bytes`);
  const out = Buffer.alloc(size);
  b.copy(out, size - b.length);
  return out;
}

function minimal(v: bigint): Buffer {
  let hex = v.toString(16);
  if (hex.length % 2) hex = '0' + hex;
  return Buffer.from(hex, 'hex');
}

function modInverse(a: bigint, m: bigint): bigint {
  let [oldR, r] = [((a % m) + m) % m, m];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  if (oldR !== 1n) throw new Error('not invertible');
  return ((oldS % m) + m) % m;
}

const SMALL_PRIMES: number[] = (() => {
  const limit = 8192;
  const sieve = new Uint8Array(limit);
  const primes: number[] = [];
  for (let i = 2; i < limit; i++) {
    if (sieve[i]) continue;
    primes.push(i);
    for (let j = i * i; j < limit; j += i) sieve[j] = 1;
  }
  return primes;
})();

/** A `bits`-bit prime (top two bits set, so p·q has exactly 2·bits bits) with gcd(p − 1, e) = 1. */
function derivePrime(stream: SeedStream, bits: number, e: bigint): bigint {
  const bytes = bits / 8;
  for (;;) {
    const c = stream.bytes(bytes);
    c[0]! |= 0xc0;
    c[bytes - 1]! |= 0x01;
    const start = toBig(c);
    const window = 1 << 14;
    const composite = new Uint8Array(window);
    for (const sp of SMALL_PRIMES) {
      const r = Number(start % BigInt(sp));
      for (let delta = r === 0 ? 0 : sp - r; delta < window; delta += sp) composite[delta] = 1;
    }
    for (let delta = 0; delta < window; delta += 2) {
      if (composite[delta]) continue;
      const cand = start + BigInt(delta);
      if ((cand - 1n) % e === 0n) continue;
      // One cheap round weeds out composites; 24 more rounds give < 2^-48 error for 2048-bit candidates.
      if (checkPrimeSync(cand, { checks: 1 }) && checkPrimeSync(cand, { checks: 24 })) return cand;
    }
  }
}

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
    p = derivePrime(stream, bits / 2, e);
    q = derivePrime(stream, bits / 2, e);
  } while (p === q);
  if (p < q) [p, q] = [q, p];
  const n = p * q;
  const d = modInverse(e, (p - 1n) * (q - 1n));
  const size = bits / 8;
  const b64u = (v: bigint, len: number) => toBytes(v, len).toString('base64url');
  const key = createPrivateKey({
    format: 'jwk',
    key: {
      kty: 'RSA',
      n: b64u(n, size),
      e: minimal(e).toString('base64url'),
      d: b64u(d, size),
      p: b64u(p, size / 2),
      q: b64u(q, size / 2),
      dp: b64u(d % (p - 1n), size / 2),
      dq: b64u(d % (q - 1n), size / 2),
      qi: b64u(modInverse(q, p), size / 2),
    },
  });
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
  const ecdh = createECDH('secp384r1');
  ecdh.setPrivateKey(toBytes(d, 48));
  const pub = ecdh.getPublicKey();
  const key = createPrivateKey({
    format: 'jwk',
    key: {
      kty: 'EC',
      crv: 'P-384',
      d: toBytes(d, 48).toString('base64url'),
      x: pub.subarray(1, 49).toString('base64url'),
      y: pub.subarray(49, 97).toString('base64url'),
    },
  });
  cache.set(id, key);
  return key;
}

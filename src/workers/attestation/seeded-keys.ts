/**
 * Building blocks of the software issuers' seed-derived keys (vtpm/issuer's AK,
 * snp/issuer's synthetic AMD PKI): a deterministic byte stream, a sieved prime
 * search and the assembly of node:crypto KeyObjects from the derived numbers.
 * The derivation is our own and only has to be reproducible; each issuer keeps
 * its own labels and parameters (sieve size, primality test), which fix its keys.
 */
import { createECDH, createHmac, createPrivateKey, type KeyObject } from 'node:crypto';

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

export const toBig = (b: Uint8Array): bigint => (b.length === 0 ? 0n : BigInt('0x' + Buffer.from(b).toString('hex')));

/** Big-endian bytes of `v`, left-padded to `size` (minimal length without it). */
export function toBytes(v: bigint, size?: number): Buffer {
  let hex = v.toString(16);
  if (hex.length % 2) hex = '0' + hex;
  const b = Buffer.from(hex, 'hex');
  if (size === undefined || b.length === size) return b;
  if (b.length > size) throw new RangeError(`integer does not fit into ${size} bytes`);
  const out = Buffer.alloc(size);
  b.copy(out, size - b.length);
  return out;
}

export function modInverse(a: bigint, m: bigint): bigint {
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

/** The primes below `limit` (sieve of Eratosthenes). */
export function smallPrimes(limit: number): number[] {
  const sieve = new Uint8Array(limit);
  const primes: number[] = [];
  for (let i = 2; i < limit; i++) {
    if (sieve[i]) continue;
    primes.push(i);
    for (let j = i * i; j < limit; j += i) sieve[j] = 1;
  }
  return primes;
}

/**
 * A `bits`-bit prime p (top two bits set, so p·q has 2·bits bits) with
 * gcd(p − 1, e) = 1: a random start from the stream, then the odd numbers of a
 * 2^14 window sieved by `sieve` and tested with `isPrime` in order.
 */
export function derivePrime(stream: SeedStream, bits: number, e: bigint, sieve: readonly number[], isPrime: (candidate: bigint) => boolean): bigint {
  const bytes = bits / 8;
  for (;;) {
    const c = stream.bytes(bytes);
    c[0]! |= 0xc0;
    c[bytes - 1]! |= 0x01;
    const start = toBig(c);
    const window = 1 << 14;
    const composite = new Uint8Array(window);
    for (const sp of sieve) {
      const r = Number(start % BigInt(sp));
      for (let delta = r === 0 ? 0 : sp - r; delta < window; delta += sp) composite[delta] = 1;
    }
    for (let delta = 0; delta < window; delta += 2) {
      if (composite[delta]) continue;
      const cand = start + BigInt(delta);
      if ((cand - 1n) % e === 0n) continue;
      if (isPrime(cand)) return cand;
    }
  }
}

/** The RSA private key with primes p > q and public exponent e (CRT parameters computed). */
export function rsaKeyFromPrimes(p: bigint, q: bigint, e: bigint, bits: number): KeyObject {
  const n = p * q;
  const d = modInverse(e, (p - 1n) * (q - 1n));
  const size = bits / 8;
  const b64u = (v: bigint, len?: number) => toBytes(v, len).toString('base64url');
  return createPrivateKey({
    format: 'jwk',
    key: {
      kty: 'RSA',
      n: b64u(n, size),
      e: b64u(e),
      d: b64u(d, size),
      p: b64u(p, size / 2),
      q: b64u(q, size / 2),
      dp: b64u(d % (p - 1n), size / 2),
      dq: b64u(d % (q - 1n), size / 2),
      qi: b64u(modInverse(q, p), size / 2),
    },
  });
}

const CURVES = {
  'P-256': { openssl: 'prime256v1', size: 32 },
  'P-384': { openssl: 'secp384r1', size: 48 },
} as const;

/** The EC private key with scalar `d` on `crv`. */
export function ecKeyFromScalar(crv: keyof typeof CURVES, d: bigint): KeyObject {
  const { openssl, size } = CURVES[crv];
  const ecdh = createECDH(openssl);
  ecdh.setPrivateKey(toBytes(d, size));
  const pub = ecdh.getPublicKey();
  return createPrivateKey({
    format: 'jwk',
    key: {
      kty: 'EC',
      crv,
      d: toBytes(d, size).toString('base64url'),
      x: pub.subarray(1, 1 + size).toString('base64url'),
      y: pub.subarray(1 + size, 1 + 2 * size).toString('base64url'),
    },
  });
}

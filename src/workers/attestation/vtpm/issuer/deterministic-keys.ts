/**
 * AK key pairs derived from a seed, so a software TPM keeps its AK across
 * restarts and benchmarks/tests are reproducible (like a TPM primary key,
 * which is derived from the hierarchy seed and the template). The derivation
 * is our own (HMAC-SHA256 counter-mode stream, prime search with trial
 * division and Miller–Rabin); it is not meant to match any TPM's KDF. Keys
 * are cached per seed.
 */
import { createECDH, createHmac, createPrivateKey, type KeyObject } from 'node:crypto';

/** A deterministic byte stream: HMAC-SHA256(seed, label ‖ 0x00 ‖ u32 counter) blocks. */
class SeedStream {
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

function toBytes(v: bigint, size?: number): Buffer {
  let hex = v.toString(16);
  if (hex.length % 2) hex = '0' + hex;
  const b = Buffer.from(hex, 'hex');
  if (size === undefined || b.length === size) return b;
  const out = Buffer.alloc(size);
  b.copy(out, size - b.length);
  return out;
}

const b64u = (v: bigint, size?: number): string => toBytes(v, size).toString('base64url');

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
  const limit = 4096;
  const sieve = new Uint8Array(limit);
  const primes: number[] = [];
  for (let i = 2; i < limit; i++) {
    if (sieve[i]) continue;
    primes.push(i);
    for (let j = i * i; j < limit; j += i) sieve[j] = 1;
  }
  return primes;
})();

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

/** A `bits`-bit prime p (top two bits set) with gcd(p − 1, e) = 1, searched from the stream. */
function derivePrime(stream: SeedStream, bits: number, e: bigint): bigint {
  const bytes = bits / 8;
  for (;;) {
    const c = stream.bytes(bytes);
    c[0]! |= 0xc0;
    c[bytes - 1]! |= 0x01;
    const start = toBig(c);
    // Incremental search from the random start, sieved by small primes.
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
      if (millerRabin(cand, 1, stream) && millerRabin(cand, 40, stream)) return cand;
    }
  }
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
  let p: bigint;
  let q: bigint;
  let n: bigint;
  do {
    p = derivePrime(stream, bits / 2, e);
    q = derivePrime(stream, bits / 2, e);
    n = p * q;
  } while (p === q || n.toString(2).length !== bits);
  if (p < q) [p, q] = [q, p];
  const d = modInverse(e, (p - 1n) * (q - 1n));
  const size = bits / 8;
  const key = createPrivateKey({
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
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(toBytes(d, 32));
  const pub = ecdh.getPublicKey();
  const key = createPrivateKey({
    format: 'jwk',
    key: { kty: 'EC', crv: 'P-256', d: b64u(d, 32), x: pub.subarray(1, 33).toString('base64url'), y: pub.subarray(33, 65).toString('base64url') },
  });
  cache.set(id, key);
  return key;
}

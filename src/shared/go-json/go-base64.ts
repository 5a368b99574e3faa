/**
 * Go's base64.StdEncoding.Decode (encoding/base64, Go 1.24): standard
 * alphabet, '=' padding required, not strict (non-zero unused trailing bits
 * are accepted), '\r' and '\n' skipped anywhere. Errors carry Go's text
 * `illegal base64 data at input byte N` with Go's offsets.
 */
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const PAD = 0x3d;
const CR = 0x0d;
const LF = 0x0a;

const DECODE_MAP = new Uint8Array(256).fill(0xff);
for (let i = 0; i < ALPHABET.length; i++) DECODE_MAP[ALPHABET.charCodeAt(i)] = i;

export class CorruptInputError extends Error {
  constructor(readonly offset: number) {
    super(`illegal base64 data at input byte ${offset}`);
    this.name = 'CorruptInputError';
  }
}

/** Go's StdEncoding.DecodedLen: the buffer size Go allocates (the capacity of the decoded slice). */
export function goDecodedLen(n: number): number {
  return Math.floor(n / 4) * 3;
}

export function goBase64StdDecode(src: Uint8Array): Uint8Array {
  const dst = new Uint8Array(goDecodedLen(src.length));
  let n = 0;
  let si = 0;
  while (si < src.length) {
    if (src.length - si >= 4) {
      // Fast path (Go's assemble32): four alphabet characters give three bytes.
      const a = DECODE_MAP[src[si]!]!;
      const b = DECODE_MAP[src[si + 1]!]!;
      const c = DECODE_MAP[src[si + 2]!]!;
      const d = DECODE_MAP[src[si + 3]!]!;
      if ((a | b | c | d) <= 0x3f) {
        const val = (a << 18) | (b << 12) | (c << 6) | d;
        dst[n] = val >> 16;
        dst[n + 1] = (val >> 8) & 0xff;
        dst[n + 2] = val & 0xff;
        n += 3;
        si += 4;
        continue;
      }
    }
    const q = decodeQuantum(dst, n, src, si);
    si = q.si;
    n += q.n;
    if (q.err !== undefined) throw new CorruptInputError(q.err);
  }
  return dst.subarray(0, n);
}

/** Port of Go's (*Encoding).decodeQuantum for StdEncoding. */
function decodeQuantum(dst: Uint8Array, at: number, src: Uint8Array, si: number): { si: number; n: number; err?: number } {
  const dbuf = [0, 0, 0, 0];
  let dlen = 4;
  let err: number | undefined;
  for (let j = 0; j < 4; j++) {
    if (si === src.length) {
      if (j === 0) return { si, n: 0 };
      // Padding is required, so any partial quantum at the end is an error.
      return { si, n: 0, err: si - j };
    }
    const c = src[si]!;
    si++;
    const out = DECODE_MAP[c]!;
    if (out !== 0xff) {
      dbuf[j] = out;
      continue;
    }
    if (c === LF || c === CR) {
      j--;
      continue;
    }
    if (c !== PAD) return { si, n: 0, err: si - 1 };

    // Padding reached.
    if (j === 0 || j === 1) return { si, n: 0, err: si - 1 };
    if (j === 2) {
      // "==" is expected; the first '=' is consumed.
      while (si < src.length && (src[si] === LF || src[si] === CR)) si++;
      if (si === src.length) return { si, n: 0, err: src.length };
      if (src[si] !== PAD) return { si, n: 0, err: si - 1 };
      si++;
    }
    while (si < src.length && (src[si] === LF || src[si] === CR)) si++;
    if (si < src.length) err = si; // trailing garbage
    dlen = j;
    break;
  }
  const val = (dbuf[0]! << 18) | (dbuf[1]! << 12) | (dbuf[2]! << 6) | dbuf[3]!;
  const bytes = [(val >> 16) & 0xff, (val >> 8) & 0xff, val & 0xff];
  for (let k = 0; k < dlen - 1; k++) dst[at + k] = bytes[k]!;
  return err === undefined ? { si, n: dlen - 1 } : { si, n: dlen - 1, err };
}

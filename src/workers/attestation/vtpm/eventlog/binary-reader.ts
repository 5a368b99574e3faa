/**
 * A little-endian cursor over a byte buffer whose failures carry the texts Go's
 * `encoding/binary.Read` / `io.ReadFull` produce on a `bytes.Buffer` or
 * `bytes.Reader`: `EOF` when nothing was left, `unexpected EOF` when a read
 * found some but not all of its bytes. A zero-length read always succeeds.
 *
 * Slices are views (subarray), never copies, and a length is always checked
 * against what is left before anything is sliced — so a huge declared size
 * costs nothing.
 */

/** A parse failure carrying Go's error text (callers add Go's wrapping prefixes). */
export class GoParseError extends Error {
  override readonly name = 'GoParseError';
}

export const EOF = 'EOF';
export const UNEXPECTED_EOF = 'unexpected EOF';

export class LeReader {
  private pos = 0;
  constructor(private readonly buf: Uint8Array) {}

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  /** The Go error text a read of `n` bytes fails with, or undefined if it succeeds. */
  shortReadError(n: number): string | undefined {
    if (n === 0 || this.remaining >= n) return undefined;
    return this.remaining === 0 ? EOF : UNEXPECTED_EOF;
  }

  /** Reads `n` bytes (a view); throws GoParseError(prefix + EOF text) when short. */
  bytes(n: number, prefix = ''): Uint8Array {
    const err = this.shortReadError(n);
    if (err !== undefined) throw new GoParseError(prefix + err);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  u8(prefix = ''): number {
    return this.bytes(1, prefix)[0] as number;
  }

  u16(prefix = ''): number {
    const b = this.bytes(2, prefix);
    return (b[0] as number) | ((b[1] as number) << 8);
  }

  u32(prefix = ''): number {
    return readU32(this.bytes(4, prefix), 0);
  }

  u64(prefix = ''): bigint {
    const b = this.bytes(8, prefix);
    return BigInt(readU32(b, 0)) | (BigInt(readU32(b, 4)) << 32n);
  }

  /** The rest of the buffer (a view). */
  rest(): Uint8Array {
    const out = this.buf.subarray(this.pos);
    this.pos = this.buf.length;
    return out;
  }
}

export function readU32(b: Uint8Array, off: number): number {
  return ((b[off] as number) | ((b[off + 1] as number) << 8) | ((b[off + 2] as number) << 16) | ((b[off + 3] as number) << 24)) >>> 0;
}

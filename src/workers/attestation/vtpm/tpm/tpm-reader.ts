/**
 * Bounded big-endian reader for TPM 2.0 wire structures with the error
 * semantics of go-tpm's tpmutil on a bytes.Buffer (tpm-attestation.md §4):
 *
 * - fixed-size integers use binary.Read (io.ReadFull): nothing left → "EOF",
 *   some but not all bytes left → "unexpected EOF";
 * - TPM2B fields use tpmutil.U16Bytes: the u16 size as above, then one
 *   Buffer.Read: nothing left (and size > 0) → "EOF", fewer bytes than the
 *   size → "unexpected EOF"; size 0 always succeeds;
 * - `readUpTo` is a bare bytes.Buffer.Read (partial reads are not errors).
 *
 * Also the error helpers every decoder of this folder uses: all failures are
 * JoinServiceErrors whose message is Go's error text, and wrapping prefixes
 * the text the way Go's fmt.Errorf("…: %v", err) does.
 */
import { ErrorCode, JoinServiceError } from '../../../../shared/errors.js';

/** A failure with Go's text; `code` defaults to AttestationMalformed (decoding). */
export function tpmError(message: string, code: ErrorCode = ErrorCode.AttestationMalformed): JoinServiceError {
  return new JoinServiceError(code, message);
}

/** Go's fmt.Errorf("<prefix>: %v", err), keeping the code of a JoinServiceError. */
export function wrapError(prefix: string, err: unknown, code?: ErrorCode): JoinServiceError {
  const inner = err instanceof Error ? err.message : String(err);
  const c = code ?? (err instanceof JoinServiceError ? err.code : ErrorCode.AttestationMalformed);
  return new JoinServiceError(c, `${prefix}: ${inner}`, err instanceof JoinServiceError ? err.details : undefined);
}

/** Runs `f`, prefixing any failure with `prefix` (Go's `fmt.Errorf("prefix: %v", err)`). */
export function withContext<T>(prefix: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw wrapError(prefix, err);
  }
}

const EOF = 'EOF';
const UNEXPECTED_EOF = 'unexpected EOF';

export class TpmReader {
  private pos: number;
  private readonly end: number;

  constructor(
    private readonly buf: Uint8Array,
    start = 0,
    end = buf.length,
  ) {
    this.pos = Math.max(0, Math.min(start, buf.length));
    this.end = Math.max(this.pos, Math.min(end, buf.length));
  }

  /** Bytes not yet read. */
  get remaining(): number {
    return this.end - this.pos;
  }

  /** Current offset into the underlying buffer. */
  get offset(): number {
    return this.pos;
  }

  /** binary.Read semantics for an n-byte fixed-size field. */
  private take(n: number): number {
    const left = this.end - this.pos;
    if (left >= n) {
      const at = this.pos;
      this.pos += n;
      return at;
    }
    this.pos = this.end;
    throw tpmError(left === 0 ? EOF : UNEXPECTED_EOF);
  }

  u8(): number {
    return this.buf[this.take(1)]!;
  }

  u16(): number {
    const at = this.take(2);
    return (this.buf[at]! << 8) | this.buf[at + 1]!;
  }

  u32(): number {
    const at = this.take(4);
    return ((this.buf[at]! << 24) | (this.buf[at + 1]! << 16) | (this.buf[at + 2]! << 8) | this.buf[at + 3]!) >>> 0;
  }

  u64(): bigint {
    const at = this.take(8);
    const b = this.buf;
    const hi = ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
    const lo = ((b[at + 4]! << 24) | (b[at + 5]! << 16) | (b[at + 6]! << 8) | b[at + 7]!) >>> 0;
    return hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo);
  }

  /** bytes.Buffer.Read: up to n bytes (a view); "EOF" only when nothing is left and n > 0. */
  readUpTo(n: number): Uint8Array {
    const left = this.end - this.pos;
    if (n > 0 && left === 0) throw tpmError(EOF);
    const k = Math.min(n, left);
    // A plain Uint8Array view (cheaper than Buffer#subarray's species construction).
    const out = new Uint8Array(this.buf.buffer, this.buf.byteOffset + this.pos, k);
    this.pos += k;
    return out;
  }

  /** A TPM2B field (tpmutil.U16Bytes): u16 size then exactly that many bytes (a view). */
  sized(): Uint8Array {
    const size = this.u16();
    const got = this.readUpTo(size);
    if (got.length !== size) throw tpmError(UNEXPECTED_EOF);
    return got;
  }
}

/**
 * SSH wire encoding (RFC 4251 §5): `uint32`, `uint64`, `string` and `mpint`,
 * all big-endian, `string` = uint32 length + bytes.
 *
 * The reader never throws: every read returns `undefined` when the input is
 * too short, so that callers can produce the exact error text the Go service
 * gives for the particular field (x/crypto/ssh distinguishes "short read" from
 * "unmarshal error for field …").
 */

export class SshReader {
  private readonly buf: Uint8Array;
  private readonly view: DataView;
  private pos = 0;

  constructor(buf: Uint8Array) {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /** Bytes not consumed yet. */
  get remaining(): number {
    return this.buf.length - this.pos;
  }

  get offset(): number {
    return this.pos;
  }

  uint32(): number | undefined {
    if (this.remaining < 4) return undefined;
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  uint64(): bigint | undefined {
    if (this.remaining < 8) return undefined;
    const v = this.view.getBigUint64(this.pos);
    this.pos += 8;
    return v;
  }

  /** A `string`: a view into the input (not a copy). */
  string(): Uint8Array | undefined {
    if (this.remaining < 4) return undefined;
    const len = this.view.getUint32(this.pos);
    if (this.remaining - 4 < len) return undefined;
    const start = this.pos + 4;
    this.pos = start + len;
    return this.buf.subarray(start, start + len);
  }

  /** Everything not consumed yet (a view). */
  rest(): Uint8Array {
    const r = this.buf.subarray(this.pos);
    this.pos = this.buf.length;
    return r;
  }
}

/** Decoded `mpint` (two's complement, big-endian, RFC 4251 §5). */
export interface Mpint {
  negative: boolean;
  /** |value| as big-endian bytes without leading zero bytes (empty for zero). */
  magnitude: Uint8Array;
}

/**
 * Interprets the contents of an `mpint` string as Go's x/crypto/ssh does:
 * a set top bit means negative; superfluous leading 0x00 (or 0xff) bytes are
 * accepted, i.e. non-minimal encodings are tolerated (and normalised when
 * re-encoded). Linear in the input length (no BigInt conversion).
 */
export function decodeMpint(contents: Uint8Array): Mpint {
  if (contents.length > 0 && (contents[0]! & 0x80) !== 0) {
    // |value| = ~contents + 1
    const mag = new Uint8Array(contents.length);
    let carry = 1;
    for (let i = contents.length - 1; i >= 0; i--) {
      const v = (~contents[i]! & 0xff) + carry;
      mag[i] = v & 0xff;
      carry = v >> 8;
    }
    return { negative: true, magnitude: stripLeadingZeros(mag) };
  }
  return { negative: false, magnitude: stripLeadingZeros(contents) };
}

function stripLeadingZeros(b: Uint8Array): Uint8Array {
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  return b.subarray(i);
}

/** Bit length of a big-endian magnitude (Go's big.Int BitLen of |value|). */
export function bitLength(magnitude: Uint8Array): number {
  const m = stripLeadingZeros(magnitude);
  if (m.length === 0) return 0;
  return (m.length - 1) * 8 + (32 - Math.clz32(m[0]!));
}

/** Compares two big-endian magnitudes (leading zeros ignored): -1, 0 or 1. */
export function compareMagnitudes(a: Uint8Array, b: Uint8Array): number {
  const x = stripLeadingZeros(a);
  const y = stripLeadingZeros(b);
  if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  return Math.sign(Buffer.compare(x, y));
}

/** Minimal `mpint` contents of a non-negative magnitude (a 0x00 is prepended if the top bit is set). */
export function mpintContents(magnitude: Uint8Array): Uint8Array {
  const m = stripLeadingZeros(magnitude);
  if (m.length > 0 && (m[0]! & 0x80) !== 0) {
    const out = new Uint8Array(m.length + 1);
    out.set(m, 1);
    return out;
  }
  return m;
}

/** One field of an SSH message being built. */
type SshField =
  | { kind: 'uint32'; value: number }
  | { kind: 'uint64'; value: bigint }
  | { kind: 'string'; value: Uint8Array }
  | { kind: 'raw'; value: Uint8Array };

/**
 * Writes SSH wire data into a buffer allocated once: callers add fields, then
 * `finish()` computes the exact size, allocates and copies.
 */
export class SshWriter {
  private readonly fields: SshField[] = [];
  private size = 0;

  uint32(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new RangeError(`uint32 out of range: ${value}`);
    this.fields.push({ kind: 'uint32', value });
    this.size += 4;
    return this;
  }

  uint64(value: bigint): this {
    if (value < 0n || value > 0xffffffffffffffffn) throw new RangeError(`uint64 out of range: ${value}`);
    this.fields.push({ kind: 'uint64', value });
    this.size += 8;
    return this;
  }

  /** A `string` field; JS strings are encoded as UTF-8. */
  string(value: Uint8Array | string): this {
    const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    if (bytes.length > 0xffffffff) throw new RangeError('string too long for SSH wire format');
    this.fields.push({ kind: 'string', value: bytes });
    this.size += 4 + bytes.length;
    return this;
  }

  /** An `mpint` of a non-negative magnitude, minimally encoded. */
  mpint(magnitude: Uint8Array): this {
    return this.string(mpintContents(magnitude));
  }

  /** Bytes that are already wire-encoded. */
  raw(value: Uint8Array): this {
    this.fields.push({ kind: 'raw', value });
    this.size += value.length;
    return this;
  }

  get length(): number {
    return this.size;
  }

  /**
   * The encoded bytes. `extra` more bytes are allocated (zeroed) at the end
   * for the caller to fill in (used for the certificate signature).
   */
  finish(extra = 0): Buffer {
    const out = Buffer.alloc(this.size + extra);
    let pos = 0;
    for (const f of this.fields) {
      switch (f.kind) {
        case 'uint32':
          out.writeUInt32BE(f.value, pos);
          pos += 4;
          break;
        case 'uint64':
          out.writeBigUInt64BE(f.value, pos);
          pos += 8;
          break;
        case 'string':
          out.writeUInt32BE(f.value.length, pos);
          out.set(f.value, pos + 4);
          pos += 4 + f.value.length;
          break;
        case 'raw':
          out.set(f.value, pos);
          pos += f.value.length;
          break;
      }
    }
    return out;
  }
}

/** authorized_keys text form: `<type> <base64 std, padded>\n`, no comment (Go's ssh.MarshalAuthorizedKey). */
export function authorizedKeyLine(type: string, blob: Uint8Array): string {
  return `${type} ${Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength).toString('base64')}\n`;
}

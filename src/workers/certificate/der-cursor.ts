/**
 * A forward-only DER reader with the acceptance rules of Go's
 * golang.org/x/crypto/cryptobyte (which crypto/x509 parses with): every read
 * either consumes one well-formed element or reports failure (undefined /
 * false) without moving, so callers can attach Go's error text. Element
 * framing (minimal lengths, no indefinite or high-tag forms, bounds) comes
 * from the shared bounds-checked reader.
 */
import { DerError, readElement, type DerElement } from '../../shared/der/decode.js';

export const T = {
  Boolean: 0x01,
  Integer: 0x02,
  BitString: 0x03,
  OctetString: 0x04,
  Null: 0x05,
  Oid: 0x06,
  Utf8String: 0x0c,
  NumericString: 0x12,
  PrintableString: 0x13,
  T61String: 0x14,
  Ia5String: 0x16,
  UtcTime: 0x17,
  GeneralizedTime: 0x18,
  BmpString: 0x1e,
  Sequence: 0x30,
  Set: 0x31,
} as const;

export class DerCursor {
  constructor(
    readonly buf: Uint8Array,
    private pos: number,
    readonly end: number,
  ) {}

  static of(buf: Uint8Array): DerCursor {
    return new DerCursor(buf, 0, buf.length);
  }

  /** The content of `el` as a new cursor. */
  static inside(el: DerElement): DerCursor {
    return new DerCursor(el.buf, el.contentStart, el.end);
  }

  get offset(): number {
    return this.pos;
  }

  /** Moves back to an offset returned by `offset` (undoing a failed read). */
  rewindTo(offset: number): void {
    this.pos = offset;
  }

  empty(): boolean {
    return this.pos >= this.end;
  }

  /** The tag byte of the next element, if any. */
  peekTag(): number | undefined {
    return this.pos < this.end ? this.buf[this.pos] : undefined;
  }

  /** Reads the next element of any tag (cryptobyte ReadAnyASN1Element). */
  readAny(): DerElement | undefined {
    if (this.end - this.pos < 2) return undefined;
    let el: DerElement;
    try {
      el = readElement(this.buf, this.pos, this.end);
    } catch (err) {
      if (err instanceof DerError) return undefined;
      throw err;
    }
    this.pos = el.end;
    return el;
  }

  /** Reads the next element if it has exactly `tag` (cryptobyte ReadASN1 / ReadASN1Element). */
  read(tag: number): DerElement | undefined {
    if (this.peekTag() !== tag) return undefined;
    return this.readAny();
  }

  /**
   * cryptobyte ReadOptionalASN1: absent when the next tag differs; a present
   * but malformed element is a failure (`false`).
   */
  readOptional(tag: number): DerElement | null | false {
    if (this.peekTag() !== tag) return null;
    return this.readAny() ?? false;
  }

  /** Remaining bytes of this cursor. */
  rest(): Uint8Array {
    return this.buf.subarray(this.pos, this.end);
  }
}

export function contentOf(el: DerElement): Uint8Array {
  return el.buf.subarray(el.contentStart, el.end);
}

export function elementBytes(el: DerElement): Uint8Array {
  return el.buf.subarray(el.start, el.end);
}

/** cryptobyte checkASN1Integer: non-empty and minimally encoded. */
export function isValidInteger(b: Uint8Array): boolean {
  if (b.length === 0) return false;
  if (b.length === 1) return true;
  if (b[0] === 0 && (b[1]! & 0x80) === 0) return false;
  if (b[0] === 0xff && (b[1]! & 0x80) === 0x80) return false;
  return true;
}

/** Reads an INTEGER (with the given tag) as a bigint; undefined when malformed. */
export function readBigInteger(c: DerCursor, tag: number = T.Integer): bigint | undefined {
  const el = c.read(tag);
  if (!el) return undefined;
  const b = contentOf(el);
  if (!isValidInteger(b)) return undefined;
  let v = 0n;
  for (const byte of b) v = (v << 8n) | BigInt(byte);
  if (b[0]! & 0x80) v -= 1n << BigInt(8 * b.length);
  return v;
}

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

/** cryptobyte ReadASN1Int64WithTag / ReadASN1Integer(*int): must fit int64. */
export function readInt64(c: DerCursor, tag: number = T.Integer): bigint | undefined {
  const save = c.offset;
  const v = readBigInteger(c, tag);
  if (v === undefined || v < INT64_MIN || v > INT64_MAX) {
    c.rewindTo(save);
    return undefined;
  }
  return v;
}

/** cryptobyte ReadASN1Integer(*uint): non-negative and fits uint64. */
export function readUint64(c: DerCursor, tag: number = T.Integer): bigint | undefined {
  const save = c.offset;
  const v = readBigInteger(c, tag);
  if (v === undefined || v < 0n || v >= 1n << 64n) {
    c.rewindTo(save);
    return undefined;
  }
  return v;
}

export interface BitString {
  bytes: Uint8Array;
  unusedBits: number;
}

/** cryptobyte ReadASN1BitString: padding count ≤ 7 and the padding bits zero. */
export function readBitString(c: DerCursor): BitString | undefined {
  const save = c.offset;
  const el = c.read(T.BitString);
  if (!el) return undefined;
  const b = contentOf(el);
  const ok =
    b.length > 0 &&
    b[0]! <= 7 &&
    !(b.length === 1 && b[0] !== 0) &&
    !(b.length > 1 && (b[b.length - 1]! & ((1 << b[0]!) - 1)) !== 0);
  if (!ok) {
    c.rewindTo(save);
    return undefined;
  }
  return { bytes: b.subarray(1), unusedBits: b[0]! };
}

/** cryptobyte ReadASN1Boolean: exactly one byte, 0x00 or 0xff. */
export function readBoolean(c: DerCursor): boolean | undefined {
  const save = c.offset;
  const el = c.read(T.Boolean);
  if (!el) return undefined;
  const b = contentOf(el);
  if (b.length !== 1 || (b[0] !== 0 && b[0] !== 0xff)) {
    c.rewindTo(save);
    return undefined;
  }
  return b[0] === 0xff;
}

/**
 * Decodes OBJECT IDENTIFIER content as cryptobyte ReadASN1ObjectIdentifier
 * does: each arc at most 5 base-128 bytes, minimally encoded, below 2^31.
 */
export function decodeGoOid(b: Uint8Array): string | undefined {
  if (b.length === 0) return undefined;
  const arcs: number[] = [];
  let i = 0;
  while (i < b.length) {
    let v = 0;
    let n = 0;
    for (;;) {
      if (i >= b.length || n === 5 || v >= 1 << 24) return undefined;
      const byte = b[i++]!;
      if (n === 0 && byte === 0x80) return undefined;
      v = v * 128 + (byte & 0x7f);
      n++;
      if ((byte & 0x80) === 0) break;
    }
    if (arcs.length === 0) {
      if (v < 80) arcs.push(Math.floor(v / 40), v % 40);
      else arcs.push(2, v - 80);
    } else {
      arcs.push(v);
    }
  }
  return arcs.join('.');
}

export function readOid(c: DerCursor): string | undefined {
  const save = c.offset;
  const el = c.read(T.Oid);
  if (!el) return undefined;
  const oid = decodeGoOid(contentOf(el));
  if (oid === undefined) c.rewindTo(save);
  return oid;
}

/** Go's x509 newOIDFromDER: minimal base-128 arcs of any size, not truncated. */
export function isValidOidDer(b: Uint8Array): boolean {
  if (b.length === 0 || (b[b.length - 1]! & 0x80) !== 0) return false;
  let start = true;
  for (const byte of b) {
    if (start && byte === 0x80) return false;
    start = (byte & 0x80) === 0;
  }
  return true;
}

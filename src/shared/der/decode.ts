/**
 * A minimal, bounds-checked DER reader: just what the aTLS certificate checks
 * need, several times faster than a general ASN.1 schema library on this hot
 * path (see docs/dependencies.md). Every read validates lengths against the
 * enclosing element, so truncated or oversized input raises DerError and never
 * reads out of bounds.
 */
export class DerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DerError';
  }
}

export const Tag = {
  Boolean: 0x01,
  Integer: 0x02,
  BitString: 0x03,
  OctetString: 0x04,
  Null: 0x05,
  Oid: 0x06,
  Utf8String: 0x0c,
  PrintableString: 0x13,
  T61String: 0x14,
  Ia5String: 0x16,
  UtcTime: 0x17,
  GeneralizedTime: 0x18,
  BmpString: 0x1e,
  UniversalString: 0x1c,
  Sequence: 0x30,
  Set: 0x31,
} as const;

export interface DerElement {
  tag: number;
  /** Offset of the first byte of the element (its tag) in `buf`. */
  start: number;
  /** Offset of the first content byte. */
  contentStart: number;
  /** Offset one past the last content byte (== one past the element). */
  end: number;
  buf: Uint8Array;
}

export function content(el: DerElement): Uint8Array {
  return el.buf.subarray(el.contentStart, el.end);
}

export function whole(el: DerElement): Uint8Array {
  return el.buf.subarray(el.start, el.end);
}

/** Reads one element at `offset`, which must lie within [offset, limit). */
export function readElement(buf: Uint8Array, offset: number, limit = buf.length): DerElement {
  if (offset >= limit) throw new DerError(`truncated: expected an element at offset ${offset}`);
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError(`high-tag-number form is not supported (offset ${offset})`);
  let p = offset + 1;
  if (p >= limit) throw new DerError(`truncated length at offset ${p}`);
  const first = buf[p++]!;
  let len: number;
  if (first < 0x80) {
    len = first;
  } else if (first === 0x80) {
    throw new DerError(`indefinite length is not DER (offset ${offset})`);
  } else {
    const n = first & 0x7f;
    if (n > 4) throw new DerError(`length of ${n} bytes is too large (offset ${offset})`);
    if (p + n > limit) throw new DerError(`truncated length at offset ${p}`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p++]!;
    if (len < 0x80 || (n > 1 && buf[p - n] === 0)) throw new DerError(`non-minimal length encoding (offset ${offset})`);
  }
  if (p + len > limit) throw new DerError(`element at offset ${offset} overruns its container (${len} bytes)`);
  return { tag, start: offset, contentStart: p, end: p + len, buf };
}

/** Parses `buf` as exactly one element (no trailing bytes). */
export function readSingle(buf: Uint8Array, expectedTag?: number): DerElement {
  const el = readElement(buf, 0);
  if (el.end !== buf.length) throw new DerError(`${buf.length - el.end} trailing bytes after element`);
  if (expectedTag !== undefined) expectTag(el, expectedTag, 'element');
  return el;
}

export function expectTag(el: DerElement, tag: number, what: string): DerElement {
  if (el.tag !== tag) {
    throw new DerError(`${what}: expected tag 0x${tag.toString(16)}, got 0x${el.tag.toString(16)}`);
  }
  return el;
}

/** The children of a constructed element, in order. */
export function children(el: DerElement): DerElement[] {
  if ((el.tag & 0x20) === 0) throw new DerError(`element with tag 0x${el.tag.toString(16)} is not constructed`);
  const out: DerElement[] = [];
  let p = el.contentStart;
  while (p < el.end) {
    const c = readElement(el.buf, p, el.end);
    out.push(c);
    p = c.end;
  }
  return out;
}

export function decodeOid(el: DerElement): string {
  expectTag(el, Tag.Oid, 'OBJECT IDENTIFIER');
  const b = content(el);
  if (b.length === 0) throw new DerError('empty OBJECT IDENTIFIER');
  const parts: number[] = [];
  let v = 0;
  let started = false;
  for (let i = 0; i < b.length; i++) {
    const byte = b[i]!;
    if (!started && byte === 0x80) throw new DerError('non-minimal OBJECT IDENTIFIER arc');
    started = true;
    v = v * 128 + (byte & 0x7f);
    if (v > Number.MAX_SAFE_INTEGER / 128) throw new DerError('OBJECT IDENTIFIER arc too large');
    if ((byte & 0x80) === 0) {
      parts.push(v);
      v = 0;
      started = false;
    }
  }
  if (started) throw new DerError('truncated OBJECT IDENTIFIER');
  const first = parts[0]!;
  const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80];
  return [...head, ...parts.slice(1)].join('.');
}

export function decodeBoolean(el: DerElement): boolean {
  expectTag(el, Tag.Boolean, 'BOOLEAN');
  const b = content(el);
  if (b.length !== 1 || (b[0] !== 0 && b[0] !== 0xff)) throw new DerError('invalid DER BOOLEAN');
  return b[0] === 0xff;
}

/** Decodes UTCTime or GeneralizedTime (the two forms X.509 validity uses) to ms since epoch. */
export function decodeTime(el: DerElement): number {
  const s = Buffer.from(content(el)).toString('latin1');
  let m: RegExpExecArray | null;
  if (el.tag === Tag.UtcTime) {
    m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s);
    if (!m) throw new DerError(`invalid UTCTime ${JSON.stringify(s)}`);
    const yy = Number(m[1]);
    const year = yy >= 50 ? 1900 + yy : 2000 + yy;
    return utc(year, m);
  }
  if (el.tag === Tag.GeneralizedTime) {
    m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s);
    if (!m) throw new DerError(`invalid GeneralizedTime ${JSON.stringify(s)}`);
    return utc(Number(m[1]), m);
  }
  throw new DerError(`expected a time, got tag 0x${el.tag.toString(16)}`);
}

function utc(year: number, m: RegExpExecArray): number {
  const [mo, d, h, mi, se] = [m[2], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 59) throw new DerError('time field out of range');
  return Date.UTC(year, mo - 1, d, h, mi, se);
}

/** String types Go's x509/pkix accepts as attribute values. */
export function decodeString(el: DerElement): string {
  const b = content(el);
  switch (el.tag) {
    case Tag.Utf8String:
      return new TextDecoder('utf-8', { fatal: true }).decode(b);
    case Tag.PrintableString:
    case Tag.Ia5String:
    case Tag.T61String:
      return Buffer.from(b).toString('latin1');
    default:
      throw new DerError(`unsupported string tag 0x${el.tag.toString(16)}`);
  }
}

/**
 * Validates an X.509 Name the way Go's x509 parseName does: a SEQUENCE of
 * SETs of {type, value} whose values must be well-formed for their ASN.1
 * type. Names carry no meaning for aTLS, so nothing is returned.
 */
import { type DerElement } from '../../shared/der/decode.js';
import { contentOf, DerCursor, readBitString, readBoolean, readInt64, readOid, T } from './der-cursor.js';
import { readGoTime } from './go-time.js';

/**
 * The attributes of a Name element (the whole RDNSequence SEQUENCE) in order,
 * as OID + value tag + value content; stops quietly at the first element that
 * is not well-formed (callers read Names the certificate parser has checked).
 */
export function* nameAttributes(rawName: Uint8Array): Generator<{ oid: string | undefined; tag: number; content: Uint8Array }> {
  const seq = DerCursor.of(rawName).read(T.Sequence);
  if (!seq) return;
  const rdns = DerCursor.inside(seq);
  while (!rdns.empty()) {
    const set = rdns.read(T.Set);
    if (!set) return;
    const atavs = DerCursor.inside(set);
    while (!atavs.empty()) {
      const atav = atavs.read(T.Sequence);
      if (!atav) return;
      const c = DerCursor.inside(atav);
      const oid = readOid(c);
      const value = c.readAny();
      if (value) yield { oid, tag: value.tag, content: contentOf(value) };
    }
  }
}

export function checkName(nameElement: DerElement): Error | undefined {
  if (nameElement.tag !== T.Sequence) return new Error('x509: invalid RDNSequence');
  const rdns = DerCursor.inside(nameElement);
  while (!rdns.empty()) {
    const set = rdns.read(T.Set);
    if (!set) return new Error('x509: invalid RDNSequence');
    const atavs = DerCursor.inside(set);
    while (!atavs.empty()) {
      const atav = atavs.read(T.Sequence);
      if (!atav) return new Error('x509: invalid RDNSequence: invalid attribute');
      const c = DerCursor.inside(atav);
      if (readOid(c) === undefined) return new Error('x509: invalid RDNSequence: invalid attribute type');
      const err = checkAttributeValue(c);
      if (err) return new Error(`x509: invalid RDNSequence: invalid attribute value: ${err}`);
    }
  }
  return undefined;
}

/** Go's readASN1Any: returns the error text, or undefined when the value is acceptable. */
function checkAttributeValue(c: DerCursor): string | undefined {
  const start = c.offset;
  const el = c.readAny();
  if (!el) return 'invalid ASN.1 element';
  const v = contentOf(el);
  const again = (): DerCursor => new DerCursor(c.buf, start, el.end);
  switch (el.tag) {
    case T.T61String:
      return undefined;
    case T.PrintableString:
      return v.every(isPrintable) ? undefined : 'invalid PrintableString';
    case T.Utf8String:
      return isValidUtf8(v) ? undefined : 'invalid UTF-8 string';
    case T.BmpString:
      return isValidBmpString(v) ? undefined : 'invalid BMPString';
    case T.Ia5String:
      return v.every((b) => b < 0x80) ? undefined : 'invalid IA5String';
    case T.NumericString:
      return v.every((b) => (b >= 0x30 && b <= 0x39) || b === 0x20) ? undefined : 'invalid NumericString';
    case T.Integer:
      return readInt64(again()) === undefined ? 'invalid ASN.1 integer' : undefined;
    case T.BitString:
      return readBitString(again()) === undefined ? 'invalid ASN.1 BIT STRING' : undefined;
    case T.Oid:
      return readOid(again()) === undefined ? 'invalid ASN.1 OBJECT IDENTIFIER' : undefined;
    case T.UtcTime:
    case T.GeneralizedTime: {
      const t = readGoTime(again());
      return t instanceof Error ? t.message : undefined;
    }
    case T.Boolean:
      return readBoolean(again()) === undefined ? 'invalid ASN.1 BOOLEAN' : undefined;
    default:
      // OCTET STRING, NULL and any other element are kept as raw values.
      return undefined;
  }
}

/** Go's x509 isPrintable (PrintableString plus the tolerated '*' and '&'). */
function isPrintable(b: number): boolean {
  return (
    (b >= 0x61 && b <= 0x7a) || // a-z
    (b >= 0x41 && b <= 0x5a) || // A-Z
    (b >= 0x30 && b <= 0x39) || // 0-9
    (b >= 0x27 && b <= 0x29) || // ' ( )
    (b >= 0x2b && b <= 0x2f) || // + , - . /
    b === 0x20 ||
    b === 0x3a ||
    b === 0x3d ||
    b === 0x3f ||
    b === 0x2a ||
    b === 0x26
  );
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function isValidUtf8(b: Uint8Array): boolean {
  try {
    strictUtf8.decode(b);
    return true;
  } catch {
    return false;
  }
}

function isValidBmpString(v: Uint8Array): boolean {
  if (v.length % 2 !== 0) return false;
  let n = v.length;
  if (n >= 2 && v[n - 1] === 0 && v[n - 2] === 0) n -= 2;
  for (let i = 0; i < n; i += 2) {
    const u = (v[i]! << 8) | v[i + 1]!;
    if (u === 0xfffe || u === 0xffff || (u >= 0xfdd0 && u <= 0xfdef) || (u >= 0xd800 && u <= 0xdfff)) return false;
  }
  return true;
}

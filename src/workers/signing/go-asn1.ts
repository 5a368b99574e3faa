/**
 * The part of Go's reflection-based encoding/asn1 Unmarshal that the kubelet
 * certificate path runs: x509.ParseCertificateRequest decodes the CSR, its
 * subject (RDNSequence), its attributes and requested extensions with it, and
 * the private-key parsers (PKCS #1, SEC 1, PKCS #8) decode their structures
 * with it. Its rules differ from the cryptobyte-based certificate parser in
 * ../certificate (trailing elements inside a SEQUENCE are ignored, tag numbers
 * in high-tag form are read, strings are decoded to Go strings), and so do its
 * error texts, which reach the joining node verbatim
 * (`Generating kubelet certificate: asn1: structure error: …`).
 *
 * Modelled on encoding/asn1 (asn1.go: parseTagAndLength, parseField,
 * parseSequenceOf and the primitive parsers). A caller describes each Go
 * field it expects with a FieldType (Go's expected tag, the reflect type name
 * and the %+v of its field parameters, which Go prints in "tags don't match"
 * errors).
 *
 * Offsets are absolute indices into `buf`; the `@N` in Go's messages is the
 * offset within the slice being parsed, which GoSlice tracks as `base`.
 */

export class GoAsn1Error extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GoAsn1Error';
  }
}

export const structuralError = (msg: string): GoAsn1Error => new GoAsn1Error(`asn1: structure error: ${msg}`);
export const syntaxError = (msg: string): GoAsn1Error => new GoAsn1Error(`asn1: syntax error: ${msg}`);

export const Class = { Universal: 0, Application: 1, ContextSpecific: 2, Private: 3 } as const;

export const GoTag = {
  Boolean: 1,
  Integer: 2,
  BitString: 3,
  OctetString: 4,
  Null: 5,
  Oid: 6,
  Enum: 10,
  Utf8String: 12,
  Sequence: 16,
  Set: 17,
  NumericString: 18,
  PrintableString: 19,
  T61String: 20,
  Ia5String: 22,
  UtcTime: 23,
  GeneralizedTime: 24,
  GeneralString: 27,
  BmpString: 30,
} as const;

/** Go's tagAndLength, printed with %+v in "tags don't match" errors. */
export interface TagAndLength {
  cls: number;
  tag: number;
  length: number;
  compound: boolean;
}

/** One parsed element (Go's RawValue): header fields plus absolute offsets into `buf`. */
export interface GoElement extends TagAndLength {
  buf: Uint8Array;
  /** Offset of the identifier octet. */
  start: number;
  contentStart: number;
  end: number;
}

export function contentBytes(el: GoElement): Uint8Array {
  return el.buf.subarray(el.contentStart, el.end);
}

/** FullBytes: the whole element including tag and length. */
export function fullBytes(el: GoElement): Uint8Array {
  return el.buf.subarray(el.start, el.end);
}

/** A byte slice being parsed, as Go's `bytes []byte` argument with a moving offset. */
export class GoSlice {
  constructor(
    readonly buf: Uint8Array,
    /** Where Go's slice starts (offset 0 in its error messages). */
    readonly base: number,
    readonly end: number,
    public pos: number = base,
  ) {}

  static of(b: Uint8Array): GoSlice {
    return new GoSlice(b, 0, b.length);
  }

  /** The content of an element as a new slice (Go parses struct fields and SEQUENCE OF elements from innerBytes). */
  static inside(el: GoElement): GoSlice {
    return new GoSlice(el.buf, el.contentStart, el.end);
  }

  atEnd(): boolean {
    return this.pos >= this.end;
  }
}

/** What Go prints for a field's parameters with %+v. */
export const ZERO_PARAMS =
  '{optional:false explicit:false application:false private:false defaultValue:<nil> tag:<nil> stringType:0 timeType:0 set:false omitEmpty:false}';
export const OPTIONAL_PARAMS =
  '{optional:true explicit:false application:false private:false defaultValue:<nil> tag:<nil> stringType:0 timeType:0 set:false omitEmpty:false}';
export const SET_PARAMS =
  '{optional:false explicit:false application:false private:false defaultValue:<nil> tag:<nil> stringType:0 timeType:0 set:true omitEmpty:false}';
/**
 * `asn1:"tag:N"` parameters: Go prints the *int as a heap address, which
 * nobody can reproduce; we print a fixed stand-in of the same shape.
 */
export const implicitTagParams = (_tag: number): string =>
  '{optional:false explicit:false application:false private:false defaultValue:<nil> tag:0xc000010000 stringType:0 timeType:0 set:false omitEmpty:false}';

/** A Go field as encoding/asn1 sees it. */
export interface FieldType {
  /** The tag Go expects (a universal tag unless `cls` says otherwise). */
  tag: number;
  compound: boolean;
  cls?: number;
  /** reflect.Type.Name() of the Go field type ("" for unnamed types such as []byte). */
  name: string;
  /** %+v of the field parameters; ZERO_PARAMS when omitted. */
  params?: string;
  /** `asn1:"optional"`: a missing or differently tagged element is skipped instead of failing. */
  optional?: boolean;
}

function invalidLength(offset: number, length: number, sliceLength: number): boolean {
  return offset + length > sliceLength;
}

/** Go's parseBase128Int: at most 4 continuation bytes, minimal, value ≤ MaxInt32. */
function parseBase128Int(buf: Uint8Array, offset: number, end: number): { value: number; offset: number } {
  let ret = 0;
  for (let shifted = 0; offset < end; shifted++) {
    if (shifted === 5) throw structuralError('base 128 integer too large');
    ret *= 128;
    const b = buf[offset]!;
    if (shifted === 0 && b === 0x80) throw syntaxError('integer is not minimally encoded');
    ret += b & 0x7f;
    offset++;
    if ((b & 0x80) === 0) {
      if (ret > 0x7fffffff) throw structuralError('base 128 integer too large');
      return { value: ret, offset };
    }
  }
  throw syntaxError('truncated base 128 integer');
}

/** Go's parseTagAndLength over buf[..end). */
export function parseTagAndLength(buf: Uint8Array, offset: number, end: number): { t: TagAndLength; offset: number } {
  if (offset >= end) throw new GoAsn1Error('asn1: internal error in parseTagAndLength');
  let b = buf[offset++]!;
  const t: TagAndLength = { cls: b >> 6, compound: (b & 0x20) !== 0, tag: b & 0x1f, length: 0 };
  if (t.tag === 0x1f) {
    const r = parseBase128Int(buf, offset, end);
    t.tag = r.value;
    offset = r.offset;
    if (t.tag < 0x1f) throw syntaxError('non-minimal tag');
  }
  if (offset >= end) throw syntaxError('truncated tag or length');
  b = buf[offset++]!;
  if ((b & 0x80) === 0) {
    t.length = b & 0x7f;
    return { t, offset };
  }
  const numBytes = b & 0x7f;
  if (numBytes === 0) throw syntaxError('indefinite length found (not DER)');
  let length = 0;
  for (let i = 0; i < numBytes; i++) {
    if (offset >= end) throw syntaxError('truncated tag or length');
    b = buf[offset++]!;
    if (length >= 1 << 23) throw structuralError('length too large');
    length = length * 256 + b;
    if (length === 0) throw structuralError('superfluous leading zeros in length');
  }
  if (length < 0x80) throw structuralError('non-minimal length');
  t.length = length;
  return { t, offset };
}

function element(buf: Uint8Array, start: number, t: TagAndLength, contentStart: number): GoElement {
  return { ...t, buf, start, contentStart, end: contentStart + t.length };
}

function describe(t: TagAndLength): string {
  return `{class:${t.cls} tag:${t.tag} length:${t.length} isCompound:${t.compound}}`;
}

/**
 * Go's parseField for a field of a concrete type: reads the next element and
 * checks its class, tag and constructed bit. Returns undefined for an absent
 * optional field (the slice position is left unchanged).
 */
export function readField(s: GoSlice, type: FieldType): GoElement | undefined {
  const init = s.pos;
  if (init === s.end) {
    if (type.optional) return undefined;
    throw syntaxError('sequence truncated');
  }
  const { t, offset } = parseTagAndLength(s.buf, init, s.end);
  const cls = type.cls ?? Class.Universal;
  if (t.cls !== cls || t.tag !== type.tag || t.compound !== type.compound) {
    if (type.optional) return undefined;
    throw structuralError(`tags don't match (${type.tag} vs ${describe(t)}) ${type.params ?? ZERO_PARAMS} ${type.name} @${offset - s.base}`);
  }
  if (invalidLength(offset, t.length, s.end)) throw syntaxError('data truncated');
  s.pos = offset + t.length;
  return element(s.buf, init, t, offset);
}

/** readField for a field that must be present. */
export function readRequired(s: GoSlice, type: FieldType): GoElement {
  return readField(s, { ...type, optional: false })!;
}

/** Go's parseField for an asn1.RawValue field (matches any element). */
export function readRawValue(s: GoSlice, optional = false): GoElement | undefined {
  const init = s.pos;
  if (init === s.end) {
    if (optional) return undefined;
    throw syntaxError('sequence truncated');
  }
  const { t, offset } = parseTagAndLength(s.buf, init, s.end);
  if (invalidLength(offset, t.length, s.end)) throw syntaxError('data truncated');
  s.pos = offset + t.length;
  return element(s.buf, init, t, offset);
}

/** The element type of a SEQUENCE OF / SET OF: any element (RawValue), or a universal tag. */
export type ElementType = 'any' | { tag: number; compound: boolean };

/**
 * Go's parseSequenceOf over the content of `s`: first a pass that checks every
 * element's header (so a bad later element fails before any element is
 * decoded), then the elements, which the caller decodes in order.
 */
export function readSequenceOf(s: GoSlice, elem: ElementType): GoElement[] {
  const out: GoElement[] = [];
  for (let offset = s.pos; offset < s.end; ) {
    const start = offset;
    const r = parseTagAndLength(s.buf, offset, s.end);
    const t = { ...r.t };
    offset = r.offset;
    switch (t.tag) {
      case GoTag.Ia5String:
      case GoTag.GeneralString:
      case GoTag.T61String:
      case GoTag.Utf8String:
      case GoTag.NumericString:
      case GoTag.BmpString:
        t.tag = GoTag.PrintableString;
        break;
      case GoTag.GeneralizedTime:
      case GoTag.UtcTime:
        t.tag = GoTag.UtcTime;
        break;
    }
    if (elem !== 'any' && (t.cls !== Class.Universal || t.compound !== elem.compound || t.tag !== elem.tag)) {
      throw structuralError('sequence tag mismatch');
    }
    if (invalidLength(offset, r.t.length, s.end)) throw syntaxError('truncated sequence');
    out.push(element(s.buf, start, r.t, offset));
    offset += r.t.length;
  }
  s.pos = s.end;
  return out;
}

// ---- primitive values -------------------------------------------------------

function checkInteger(b: Uint8Array): void {
  if (b.length === 0) throw structuralError('empty integer');
  if (b.length === 1) return;
  if ((b[0] === 0 && (b[1]! & 0x80) === 0) || (b[0] === 0xff && (b[1]! & 0x80) === 0x80)) {
    throw structuralError('integer not minimally-encoded');
  }
}

function twosComplement(b: Uint8Array): bigint {
  let v = 0n;
  for (const byte of b) v = (v << 8n) | BigInt(byte);
  if (b.length > 0 && b[0]! & 0x80) v -= 1n << BigInt(8 * b.length);
  return v;
}

/** Go's parseInt64 (the `int` fields). */
export function parseInt64(b: Uint8Array): bigint {
  checkInteger(b);
  if (b.length > 8) throw structuralError('integer too large');
  return twosComplement(b);
}

/** Go's parseBigInt (the *big.Int fields). */
export function parseBigInt(b: Uint8Array): bigint {
  checkInteger(b);
  return twosComplement(b);
}

export function parseBool(b: Uint8Array): boolean {
  if (b.length !== 1 || (b[0] !== 0 && b[0] !== 0xff)) throw syntaxError('invalid boolean');
  return b[0] === 0xff;
}

export interface GoBitString {
  bytes: Uint8Array;
  bitLength: number;
}

export function parseBitString(b: Uint8Array): GoBitString {
  if (b.length === 0) throw syntaxError('zero length BIT STRING');
  const padding = b[0]!;
  if (padding > 7 || (b.length === 1 && padding > 0) || (b[b.length - 1]! & ((1 << padding) - 1)) !== 0) {
    throw syntaxError('invalid padding bits in BIT STRING');
  }
  return { bytes: b.subarray(1), bitLength: (b.length - 1) * 8 - padding };
}

/** BitString.RightAlign: the bits shifted so that any padding goes at the front. */
export function rightAlign(bs: GoBitString): Uint8Array {
  const shift = 8 - (bs.bitLength % 8);
  if (shift === 8 || bs.bytes.length === 0) return bs.bytes;
  const a = new Uint8Array(bs.bytes.length);
  a[0] = bs.bytes[0]! >> shift;
  for (let i = 1; i < bs.bytes.length; i++) {
    a[i] = ((bs.bytes[i - 1]! << (8 - shift)) & 0xff) | (bs.bytes[i]! >> shift);
  }
  return a;
}

/** Go's parseObjectIdentifier, as a dotted string. */
export function parseObjectIdentifier(b: Uint8Array): string {
  if (b.length === 0) throw syntaxError('zero length OBJECT IDENTIFIER');
  let r = parseBase128Int(b, 0, b.length);
  const arcs: number[] = r.value < 80 ? [Math.floor(r.value / 40), r.value % 40] : [2, r.value - 80];
  while (r.offset < b.length) {
    r = parseBase128Int(b, r.offset, b.length);
    arcs.push(r.value);
  }
  return arcs.join('.');
}

// ---- strings ------------------------------------------------------------------

/** Go's isPrintable for decoding (asterisk and ampersand allowed). */
export function isPrintableForParse(b: number): boolean {
  return isPrintableForMarshal(b) || b === 0x2a || b === 0x26;
}

/** Go's isPrintable for marshalling (rejectAsterisk, rejectAmpersand). */
export function isPrintableForMarshal(b: number): boolean {
  return (
    (b >= 0x61 && b <= 0x7a) ||
    (b >= 0x41 && b <= 0x5a) ||
    (b >= 0x30 && b <= 0x39) ||
    (b >= 0x27 && b <= 0x29) ||
    (b >= 0x2b && b <= 0x2f) ||
    b === 0x20 ||
    b === 0x3a ||
    b === 0x3d ||
    b === 0x3f
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

/**
 * The value of an `interface{}` field (Go's ANY, e.g. AttributeTypeAndValue.Value):
 * universal primitive strings decode to a Go string (returned as its bytes);
 * other known primitives are validated and yield a non-string; anything else
 * is skipped. Returns undefined when the value is not a string.
 */
export function readAnyValue(s: GoSlice): Uint8Array | undefined {
  const init = s.pos;
  if (init === s.end) throw syntaxError('sequence truncated');
  const { t, offset } = parseTagAndLength(s.buf, init, s.end);
  if (invalidLength(offset, t.length, s.end)) throw syntaxError('data truncated');
  s.pos = offset + t.length;
  if (t.compound || t.cls !== Class.Universal) return undefined;
  const v = s.buf.subarray(offset, offset + t.length);
  switch (t.tag) {
    case GoTag.PrintableString:
      if (!v.every(isPrintableForParse)) throw syntaxError('PrintableString contains invalid character');
      return v;
    case GoTag.NumericString:
      if (!v.every((b) => (b >= 0x30 && b <= 0x39) || b === 0x20)) throw syntaxError('NumericString contains invalid character');
      return v;
    case GoTag.Ia5String:
      if (!v.every((b) => b < 0x80)) throw syntaxError('IA5String contains invalid character');
      return v;
    case GoTag.T61String:
      return v;
    case GoTag.Utf8String:
      if (!isValidUtf8(v)) throw new GoAsn1Error('asn1: invalid UTF-8 string');
      return v;
    case GoTag.BmpString:
      return decodeBmpString(v);
    case GoTag.Integer:
      parseInt64(v);
      return undefined;
    case GoTag.BitString:
      parseBitString(v);
      return undefined;
    case GoTag.Oid:
      parseObjectIdentifier(v);
      return undefined;
    case GoTag.UtcTime:
    case GoTag.GeneralizedTime:
      checkTime(t.tag, v);
      return undefined;
    default:
      // OCTET STRING ([]byte) and unknown types: not strings.
      return undefined;
  }
}

/** Go's parseBMPString: UTF-16BE, optional 00 00 terminator, unpaired surrogates → U+FFFD. */
function decodeBmpString(v: Uint8Array): Uint8Array {
  if (v.length % 2 !== 0) throw new GoAsn1Error('pkcs12: odd-length BMP string');
  let n = v.length;
  if (n >= 2 && v[n - 1] === 0 && v[n - 2] === 0) n -= 2;
  let s = '';
  for (let i = 0; i < n; i += 2) s += String.fromCharCode((v[i]! << 8) | v[i + 1]!);
  // Buffer's UTF-8 encoder replaces lone surrogates with U+FFFD, as Go's utf16.Decode does.
  return Buffer.from(s, 'utf8');
}

const UTC_TIME = /^\d{10}(\d{2})?(Z|[+-]\d{4})$/;
const GENERALIZED_TIME = /^\d{14}(Z|[+-]\d{4})$/;

/**
 * Time values inside a name are validated only by shape here; Go's exact
 * round-trip check and its time.Parse messages are not reproduced (a time in
 * a CSR subject does not occur in practice).
 */
function checkTime(tag: number, v: Uint8Array): void {
  const s = Buffer.from(v).toString('latin1');
  const ok = tag === GoTag.UtcTime ? UTC_TIME.test(s) : GENERALIZED_TIME.test(s);
  if (!ok) throw new GoAsn1Error(`asn1: time did not serialize back to the original value and may be invalid: given ${JSON.stringify(s)}`);
}

// ---- common structures ----------------------------------------------------------

export const OID_FIELD: FieldType = { tag: GoTag.Oid, compound: false, name: 'ObjectIdentifier' };
export const INT_FIELD: FieldType = { tag: GoTag.Integer, compound: false, name: 'int' };
export const BIG_INT_FIELD: FieldType = { tag: GoTag.Integer, compound: false, name: '' };
export const BIT_STRING_FIELD: FieldType = { tag: GoTag.BitString, compound: false, name: 'BitString' };
export const BYTES_FIELD: FieldType = { tag: GoTag.OctetString, compound: false, name: '' };
export const ALGORITHM_IDENTIFIER_FIELD: FieldType = { tag: GoTag.Sequence, compound: true, name: 'AlgorithmIdentifier' };

/** pkix.AlgorithmIdentifier: an OID and optional parameters of any type (later elements ignored). */
export interface GoAlgorithmIdentifier {
  oid: string;
  /** Parameters.FullBytes; undefined when absent. */
  params: Uint8Array | undefined;
}

/** Decodes the content of an AlgorithmIdentifier element already read with readField. */
export function parseAlgorithmIdentifierContent(el: GoElement): GoAlgorithmIdentifier {
  const s = GoSlice.inside(el);
  const oid = parseObjectIdentifier(contentBytes(readRequired(s, OID_FIELD)));
  const params = readRawValue(s, true);
  return { oid, params: params && fullBytes(params) };
}

/** asn1.Unmarshal(b, &pkix.AlgorithmIdentifier{}), returning the rest. */
export function unmarshalAlgorithmIdentifier(b: Uint8Array): GoAlgorithmIdentifier {
  return parseAlgorithmIdentifierContent(readRequired(GoSlice.of(b), ALGORITHM_IDENTIFIER_FIELD));
}

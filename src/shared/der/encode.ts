/**
 * DER building blocks for the few fixed-shape structures this service emits
 * itself (aTLS server and nonce certificates; test clients). Inputs are
 * trusted and well-formed; no general ASN.1 model is needed.
 */
function lengthBytes(len: number): Uint8Array {
  if (len < 0x80) return Uint8Array.of(len);
  const bytes: number[] = [];
  for (let v = len; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  return Buffer.concat(parts);
}

export function tlv(tag: number, ...body: Uint8Array[]): Uint8Array {
  const c = concat(body);
  return concat([Uint8Array.of(tag), lengthBytes(c.length), c]);
}

export const sequence = (...items: Uint8Array[]) => tlv(0x30, ...items);
export const set = (...items: Uint8Array[]) => tlv(0x31, ...items);
export const octetString = (b: Uint8Array) => tlv(0x04, b);
export const printableString = (s: string) => tlv(0x13, Buffer.from(s, 'latin1'));
export const utf8String = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'));
export const bitString = (b: Uint8Array) => tlv(0x03, Uint8Array.of(0), b);
export const explicit = (n: number, inner: Uint8Array) => tlv(0xa0 | n, inner);
export const boolean = (v: boolean) => tlv(0x01, Uint8Array.of(v ? 0xff : 0));

/** A non-negative INTEGER from big-endian magnitude bytes. */
export function integer(magnitude: Uint8Array | number): Uint8Array {
  let b: Uint8Array;
  if (typeof magnitude === 'number') {
    const bytes: number[] = [];
    for (let v = magnitude; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
    b = Uint8Array.from(bytes.length ? bytes : [0]);
  } else {
    let i = 0;
    while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
    b = magnitude.subarray(i);
    if (b.length === 0) b = Uint8Array.of(0);
  }
  if (b[0]! & 0x80) b = concat([Uint8Array.of(0), b]);
  return tlv(0x02, b);
}

export function oid(dotted: string): Uint8Array {
  const arcs = dotted.split('.').map(Number);
  if (arcs.length < 2 || arcs.some((a) => !Number.isSafeInteger(a) || a < 0)) throw new Error(`bad OID ${dotted}`);
  const out: number[] = [];
  const push = (v: number) => {
    const tmp = [v & 0x7f];
    for (v = Math.floor(v / 128); v > 0; v = Math.floor(v / 128)) tmp.unshift(0x80 | (v & 0x7f));
    out.push(...tmp);
  };
  push(arcs[0]! * 40 + arcs[1]!);
  for (const a of arcs.slice(2)) push(a);
  return tlv(0x06, Uint8Array.from(out));
}

function two(n: number): string {
  return String(n).padStart(2, '0');
}

/** UTCTime for 1950–2049, GeneralizedTime otherwise (RFC 5280 §4.1.2.5). */
export function time(ms: number): Uint8Array {
  const d = new Date(Math.floor(ms / 1000) * 1000);
  const y = d.getUTCFullYear();
  const rest = `${two(d.getUTCMonth() + 1)}${two(d.getUTCDate())}${two(d.getUTCHours())}${two(d.getUTCMinutes())}${two(d.getUTCSeconds())}Z`;
  if (y >= 1950 && y < 2050) return tlv(0x17, Buffer.from(`${two(y % 100)}${rest}`, 'latin1'));
  return tlv(0x18, Buffer.from(`${String(y).padStart(4, '0')}${rest}`, 'latin1'));
}

/** Name with one RDN holding one commonName attribute (PrintableString). */
export function commonNameOnly(cn: string): Uint8Array {
  return sequence(set(sequence(oid('2.5.4.3'), printableString(cn))));
}

export function pem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

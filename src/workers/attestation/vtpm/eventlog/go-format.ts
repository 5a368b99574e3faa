/**
 * The few Go `fmt` renderings that appear in the event-log error texts.
 */

/** `%v` of a `[]byte`: `[0 255 3]`. */
export function goByteSlice(b: Uint8Array): string {
  return `[${Array.from(b).join(' ')}]`;
}

/** `%x` of a byte slice or array: lowercase hex, no separators. */
export function goHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** `%#x` of an unsigned integer: `0x8000000a`. */
export function goHashX(n: number): string {
  return `0x${n.toString(16)}`;
}

/**
 * `string(utf16.Decode(units))`: surrogate pairs are combined, every unpaired
 * surrogate becomes U+FFFD.
 */
export function goUtf16Decode(units: readonly number[]): string {
  let out = '';
  for (let i = 0; i < units.length; i++) {
    const u = units[i] as number;
    if (u >= 0xd800 && u < 0xdc00 && i + 1 < units.length) {
      const next = units[i + 1] as number;
      if (next >= 0xdc00 && next < 0xe000) {
        out += String.fromCharCode(u, next);
        i++;
        continue;
      }
    }
    out += u >= 0xd800 && u < 0xe000 ? '\ufffd' : String.fromCharCode(u);
  }
  return out;
}

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;

/**
 * `%q` of a valid string (strconv.Quote): printable runes as they are (Go's
 * unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the
 * ASCII space), the C escapes, `\xNN` below U+0080, `\uNNNN` / `\UNNNNNNNN`
 * above. (Go 1.24 uses Unicode 15, Node's ICU may be newer: a code point
 * assigned in between is quoted differently — only in an error text.)
 */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0) as number;
    switch (ch) {
      case '"':
        out += '\\"';
        continue;
      case '\\':
        out += '\\\\';
        continue;
      case '\x07':
        out += '\\a';
        continue;
      case '\b':
        out += '\\b';
        continue;
      case '\f':
        out += '\\f';
        continue;
      case '\n':
        out += '\\n';
        continue;
      case '\r':
        out += '\\r';
        continue;
      case '\t':
        out += '\\t';
        continue;
      case '\v':
        out += '\\v';
        continue;
    }
    if (ch === ' ' || PRINTABLE.test(ch)) out += ch;
    else if (cp < 0x80) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else if (cp < 0x10000) out += `\\u${cp.toString(16).padStart(4, '0')}`;
    else out += `\\U${cp.toString(16).padStart(8, '0')}`;
  }
  return out + '"';
}

/**
 * Go's strconv.Quote (the %q verb) for a Go string given as its bytes: the
 * CSR subject values in the kubelet-certificate errors are arbitrary bytes
 * (a T61String is copied byte for byte), so invalid UTF-8 is escaped as \xNN
 * like Go does. Printability follows Go's unicode.IsPrint (letters, marks,
 * numbers, punctuation, symbols and U+0020) through the engine's Unicode
 * property tables, which may be a Unicode version apart from Go's.
 */
const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;

const SHORT_ESCAPES: Readonly<Record<number, string>> = { 7: '\\a', 8: '\\b', 12: '\\f', 10: '\\n', 13: '\\r', 9: '\\t', 11: '\\v' };

export function goQuote(bytes: Uint8Array | string): string {
  const b = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
  let out = '"';
  let i = 0;
  while (i < b.length) {
    const { rune, width } = decodeRune(b, i);
    if (rune < 0) {
      out += `\\x${hex(b[i]!, 2)}`;
      i += 1;
      continue;
    }
    i += width;
    if (rune === 0x22 || rune === 0x5c) {
      out += `\\${String.fromCharCode(rune)}`;
    } else if (rune < 0x80 ? rune >= 0x20 && rune < 0x7f : PRINTABLE.test(String.fromCodePoint(rune))) {
      out += String.fromCodePoint(rune);
    } else if (SHORT_ESCAPES[rune]) {
      out += SHORT_ESCAPES[rune];
    } else if (rune < 0x20 || rune === 0x7f) {
      out += `\\x${hex(rune, 2)}`;
    } else if (rune < 0x10000) {
      out += `\\u${hex(rune, 4)}`;
    } else {
      out += `\\U${hex(rune, 8)}`;
    }
  }
  return `${out}"`;
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/** utf8.DecodeRune: rune -1 for an invalid or truncated sequence (Go's RuneError with width 1). */
function decodeRune(b: Uint8Array, i: number): { rune: number; width: number } {
  const c0 = b[i]!;
  if (c0 < 0x80) return { rune: c0, width: 1 };
  const cont = (k: number): number => {
    const c = b[i + k];
    return c !== undefined && (c & 0xc0) === 0x80 ? c & 0x3f : -1;
  };
  if (c0 >= 0xc2 && c0 <= 0xdf) {
    const c1 = cont(1);
    return c1 < 0 ? { rune: -1, width: 1 } : { rune: ((c0 & 0x1f) << 6) | c1, width: 2 };
  }
  if (c0 >= 0xe0 && c0 <= 0xef) {
    const c1 = cont(1);
    const c2 = cont(2);
    if (c1 < 0 || c2 < 0) return { rune: -1, width: 1 };
    const r = ((c0 & 0x0f) << 12) | (c1 << 6) | c2;
    if (r < 0x800 || (r >= 0xd800 && r <= 0xdfff)) return { rune: -1, width: 1 };
    return { rune: r, width: 3 };
  }
  if (c0 >= 0xf0 && c0 <= 0xf4) {
    const c1 = cont(1);
    const c2 = cont(2);
    const c3 = cont(3);
    if (c1 < 0 || c2 < 0 || c3 < 0) return { rune: -1, width: 1 };
    const r = ((c0 & 0x07) << 18) | (c1 << 12) | (c2 << 6) | c3;
    if (r < 0x10000 || r > 0x10ffff) return { rune: -1, width: 1 };
    return { rune: r, width: 4 };
  }
  return { rune: -1, width: 1 };
}

/**
 * JSON input handling with Go encoding/json semantics (Go 1.24), for
 * attestation documents that Go code produced and Go code would decode:
 *
 * - checkGoJson: Go's validity scanner (json.Unmarshal runs it before
 *   decoding anything), with Go's SyntaxError texts such as
 *   `invalid character 'x' looking for beginning of value` and
 *   `unexpected end of JSON input`, and Go's nesting limit of 10000;
 * - parseGoJson: the document as a tree whose strings are unquoted the way
 *   Go unquotes them (invalid UTF-8 bytes and unpaired surrogate escapes
 *   become U+FFFD, byte by byte) and kept as bytes, object members kept in
 *   order with duplicates (Go lets the last one win, see go-json-decode.ts).
 *
 * Both are iterative, so deep nesting cannot exhaust the stack.
 */

export class GoJsonSyntaxError extends Error {
  constructor(
    message: string,
    /** Bytes read when the error was detected (Go's SyntaxError.Offset). */
    readonly offset: number,
  ) {
    super(message);
    this.name = 'GoJsonSyntaxError';
  }
}

export type GoJsonValue =
  | { kind: 'object'; members: GoJsonMember[] }
  | { kind: 'array'; items: GoJsonValue[] }
  | { kind: 'string'; bytes: Uint8Array }
  | { kind: 'number'; text: string }
  | { kind: 'bool'; value: boolean }
  | { kind: 'null' };

export interface GoJsonMember {
  /** The key as Go unquotes it (bytes, usually UTF-8). */
  key: Uint8Array;
  value: GoJsonValue;
}

export const GO_JSON_MAX_DEPTH = 10000;

// Scanner states (Go's stateXxx functions).
const BEGIN_VALUE_OR_EMPTY = 0;
const BEGIN_VALUE = 1;
const BEGIN_STRING_OR_EMPTY = 2;
const BEGIN_STRING = 3;
const END_VALUE = 4;
const END_TOP = 5;
const IN_STRING = 6;
const IN_STRING_ESC = 7;
const ESC_U = 8; // 8..11: inside a \u escape, after 0, 1, 2 or 3 hex digits
const NEG = 12;
const ONE = 13;
const ZERO = 14;
const DOT = 15;
const DOT0 = 16;
const EXP = 17;
const EXP_SIGN = 18;
const EXP0 = 19;
const LITERAL = 20;
const ERROR = 21;

// Parse-state stack entries.
const OBJECT_KEY = 0;
const OBJECT_VALUE = 1;
const ARRAY_VALUE = 2;

const isSpace = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isHex = (c: number): boolean => isDigit(c) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);

const isNumberByte = (c: number): boolean => isDigit(c) || c === 0x2d || c === 0x2b || c === 0x2e || c === 0x65 || c === 0x45;

const LITERALS: Readonly<Record<number, string>> = { 0x74: 'true', 0x66: 'false', 0x6e: 'null' };

class Scanner {
  private state = BEGIN_VALUE;
  private readonly stack: number[] = [];
  private literal = '';
  private literalPos = 0;
  endTop = false;
  err: GoJsonSyntaxError | undefined;
  bytes = 0;

  private error(c: number, context: string): void {
    this.state = ERROR;
    this.err = new GoJsonSyntaxError(`invalid character ${quoteChar(c)} ${context}`, this.bytes);
  }

  private push(c: number, ps: number): void {
    this.stack.push(ps);
    if (this.stack.length > GO_JSON_MAX_DEPTH) this.error(c, 'exceeded max depth');
  }

  private pop(): void {
    this.stack.pop();
    if (this.stack.length === 0) {
      this.state = END_TOP;
      this.endTop = true;
    } else {
      this.state = END_VALUE;
    }
  }

  inPlainString(): boolean {
    return this.state === IN_STRING;
  }

  step(c: number): void {
    for (;;) {
      switch (this.state) {
        case ERROR:
          return;
        case BEGIN_VALUE_OR_EMPTY:
          if (isSpace(c)) return;
          if (c === 0x5d) {
            this.state = END_VALUE;
            continue;
          }
          this.state = BEGIN_VALUE;
          continue;
        case BEGIN_VALUE:
          if (isSpace(c)) return;
          if (c === 0x7b) {
            this.state = BEGIN_STRING_OR_EMPTY;
            this.push(c, OBJECT_KEY);
          } else if (c === 0x5b) {
            this.state = BEGIN_VALUE_OR_EMPTY;
            this.push(c, ARRAY_VALUE);
          } else if (c === 0x22) {
            this.state = IN_STRING;
          } else if (c === 0x2d) {
            this.state = NEG;
          } else if (c === 0x30) {
            this.state = ZERO;
          } else if (c >= 0x31 && c <= 0x39) {
            this.state = ONE;
          } else if (LITERALS[c] !== undefined) {
            this.state = LITERAL;
            this.literal = LITERALS[c]!;
            this.literalPos = 1;
          } else {
            this.error(c, 'looking for beginning of value');
          }
          return;
        case BEGIN_STRING_OR_EMPTY:
          if (isSpace(c)) return;
          if (c === 0x7d) {
            this.stack[this.stack.length - 1] = OBJECT_VALUE;
            this.state = END_VALUE;
            continue;
          }
          this.state = BEGIN_STRING;
          continue;
        case BEGIN_STRING:
          if (isSpace(c)) return;
          if (c === 0x22) this.state = IN_STRING;
          else this.error(c, 'looking for beginning of object key string');
          return;
        case END_VALUE: {
          const n = this.stack.length;
          if (n === 0) {
            this.state = END_TOP;
            this.endTop = true;
            continue;
          }
          if (isSpace(c)) return;
          const ps = this.stack[n - 1];
          if (ps === OBJECT_KEY) {
            if (c === 0x3a) {
              this.stack[n - 1] = OBJECT_VALUE;
              this.state = BEGIN_VALUE;
            } else this.error(c, 'after object key');
          } else if (ps === OBJECT_VALUE) {
            if (c === 0x2c) {
              this.stack[n - 1] = OBJECT_KEY;
              this.state = BEGIN_STRING;
            } else if (c === 0x7d) this.pop();
            else this.error(c, 'after object key:value pair');
          } else {
            if (c === 0x2c) this.state = BEGIN_VALUE;
            else if (c === 0x5d) this.pop();
            else this.error(c, 'after array element');
          }
          return;
        }
        case END_TOP:
          if (!isSpace(c)) this.error(c, 'after top-level value');
          return;
        case IN_STRING:
          if (c === 0x22) this.state = END_VALUE;
          else if (c === 0x5c) this.state = IN_STRING_ESC;
          else if (c < 0x20) this.error(c, 'in string literal');
          return;
        case IN_STRING_ESC:
          if ('bfnrt\\/"'.includes(String.fromCharCode(c))) this.state = IN_STRING;
          else if (c === 0x75) this.state = ESC_U;
          else this.error(c, 'in string escape code');
          return;
        case ESC_U:
        case ESC_U + 1:
        case ESC_U + 2:
        case ESC_U + 3:
          if (isHex(c)) this.state = this.state === ESC_U + 3 ? IN_STRING : this.state + 1;
          else this.error(c, 'in \\u hexadecimal character escape');
          return;
        case NEG:
          if (c === 0x30) this.state = ZERO;
          else if (c >= 0x31 && c <= 0x39) this.state = ONE;
          else this.error(c, 'in numeric literal');
          return;
        case ONE:
          if (isDigit(c)) return;
          this.state = ZERO;
          continue;
        case ZERO:
          if (c === 0x2e) {
            this.state = DOT;
            return;
          }
          if (c === 0x65 || c === 0x45) {
            this.state = EXP;
            return;
          }
          this.state = END_VALUE;
          continue;
        case DOT:
          if (isDigit(c)) this.state = DOT0;
          else this.error(c, 'after decimal point in numeric literal');
          return;
        case DOT0:
          if (isDigit(c)) return;
          if (c === 0x65 || c === 0x45) {
            this.state = EXP;
            return;
          }
          this.state = END_VALUE;
          continue;
        case EXP:
          if (c === 0x2b || c === 0x2d) {
            this.state = EXP_SIGN;
            return;
          }
          this.state = EXP_SIGN;
          continue;
        case EXP_SIGN:
          if (isDigit(c)) this.state = EXP0;
          else this.error(c, 'in exponent of numeric literal');
          return;
        case EXP0:
          if (isDigit(c)) return;
          this.state = END_VALUE;
          continue;
        case LITERAL: {
          const expected = this.literal.charCodeAt(this.literalPos);
          if (c !== expected) {
            this.error(c, `in literal ${this.literal} (expecting ${quoteChar(expected)})`);
            return;
          }
          this.literalPos++;
          if (this.literalPos === this.literal.length) this.state = END_VALUE;
          return;
        }
      }
    }
  }

  /** Go's scanner.eof: feeds a space to finish a pending number or literal. */
  eof(): void {
    if (this.err || this.endTop) return;
    this.step(0x20);
    if (this.endTop || this.err) return;
    this.err = new GoJsonSyntaxError('unexpected end of JSON input', this.bytes);
  }
}

/** Go's checkValid; throws GoJsonSyntaxError. */
export function checkGoJson(data: Uint8Array): void {
  const s = new Scanner();
  const n = data.length;
  for (let i = 0; i < n; i++) {
    if (s.inPlainString()) {
      // Fast path through string content: only '"', '\\' and control bytes change the state.
      let c = data[i]!;
      while (c !== 0x22 && c !== 0x5c && c >= 0x20) {
        if (++i === n) break;
        c = data[i]!;
      }
      s.bytes = i;
      if (i === n) break;
    }
    s.bytes++;
    s.step(data[i]!);
    if (s.err) throw s.err;
  }
  s.eof();
  if (s.err) throw s.err;
}

/** Go's quoteChar for SyntaxError messages. */
export function quoteChar(c: number): string {
  if (c === 0x27) return `'\\''`;
  if (c === 0x22) return `'"'`;
  return `'${goQuoteRune(c)}'`;
}

const SHORT_ESCAPES: Readonly<Record<number, string>> = { 7: '\\a', 8: '\\b', 12: '\\f', 10: '\\n', 13: '\\r', 9: '\\t', 11: '\\v', 0x5c: '\\\\' };

/** The inside of strconv.Quote(string(rune(c))) for a byte value c. */
function goQuoteRune(c: number): string {
  const short = SHORT_ESCAPES[c];
  if (short) return short;
  if (c < 0x20 || c === 0x7f) return `\\x${c.toString(16).padStart(2, '0')}`;
  if (c < 0x7f) return String.fromCharCode(c);
  // Latin-1 runes: printable per Go's unicode.IsPrint except U+0080–U+00A0 and the soft hyphen U+00AD.
  if (c <= 0xa0 || c === 0xad) return `\\u${c.toString(16).padStart(4, '0')}`;
  return String.fromCharCode(c);
}

/** Validates with Go's scanner, then builds the tree. */
export function parseGoJson(data: Uint8Array): GoJsonValue {
  checkGoJson(data);
  return buildTree(data);
}

type Frame =
  | { kind: 'object'; value: { kind: 'object'; members: GoJsonMember[] }; key: Uint8Array | undefined }
  | { kind: 'array'; value: { kind: 'array'; items: GoJsonValue[] } };

/** Builds the tree of input already accepted by checkGoJson. */
function buildTree(data: Uint8Array): GoJsonValue {
  const stack: Frame[] = [];
  let i = 0;
  let root: GoJsonValue | undefined;
  const skipSpace = (): void => {
    while (i < data.length && isSpace(data[i]!)) i++;
  };
  const attach = (v: GoJsonValue): void => {
    const top = stack[stack.length - 1];
    if (!top) root = v;
    else if (top.kind === 'array') top.value.items.push(v);
    else {
      top.value.members.push({ key: top.key!, value: v });
      top.key = undefined;
    }
  };
  for (;;) {
    skipSpace();
    if (i >= data.length) break;
    const c = data[i]!;
    const top = stack[stack.length - 1];
    if (c === 0x2c || c === 0x3a) {
      i++;
      continue;
    }
    if (c === 0x7d || c === 0x5d) {
      i++;
      stack.pop();
      continue;
    }
    if (c === 0x22) {
      const end = stringEnd(data, i);
      const bytes = unquote(data.subarray(i + 1, end));
      i = end + 1;
      if (top?.kind === 'object' && top.key === undefined) top.key = bytes;
      else attach({ kind: 'string', bytes });
      continue;
    }
    if (c === 0x7b) {
      i++;
      const value = { kind: 'object' as const, members: [] };
      attach(value);
      stack.push({ kind: 'object', value, key: undefined });
      continue;
    }
    if (c === 0x5b) {
      i++;
      const value = { kind: 'array' as const, items: [] };
      attach(value);
      stack.push({ kind: 'array', value });
      continue;
    }
    if (c === 0x74 || c === 0x66 || c === 0x6e) {
      const word = LITERALS[c]!;
      i += word.length;
      attach(word === 'null' ? { kind: 'null' } : { kind: 'bool', value: word === 'true' });
      continue;
    }
    const start = i;
    while (i < data.length && isNumberByte(data[i]!)) i++;
    attach({ kind: 'number', text: Buffer.from(data.subarray(start, i)).toString('latin1') });
  }
  return root!;
}

/** Index of the closing quote of the string starting at `open`. */
function stringEnd(data: Uint8Array, open: number): number {
  let i = open + 1;
  while (data[i] !== 0x22) i += data[i] === 0x5c ? 2 : 1;
  return i;
}

/** Go's encoding/json unquote of a string body (between the quotes). */
export function unquote(s: Uint8Array): Uint8Array {
  let simple = true;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === 0x5c || c >= 0x80) {
      simple = false;
      break;
    }
  }
  if (simple) return s.slice();
  const out: number[] = [];
  let r = 0;
  while (r < s.length) {
    const c = s[r]!;
    if (c === 0x5c) {
      const e = s[r + 1]!;
      switch (e) {
        case 0x62:
          out.push(8);
          break;
        case 0x66:
          out.push(12);
          break;
        case 0x6e:
          out.push(10);
          break;
        case 0x72:
          out.push(13);
          break;
        case 0x74:
          out.push(9);
          break;
        case 0x75: {
          let rr = getU4(s, r);
          r += 6;
          if (rr >= 0xd800 && rr < 0xe000) {
            const rr1 = getU4(s, r);
            if (rr < 0xdc00 && rr1 >= 0xdc00 && rr1 < 0xe000) {
              r += 6;
              pushUtf8(out, 0x10000 + ((rr - 0xd800) << 10) + (rr1 - 0xdc00));
              continue;
            }
            rr = 0xfffd;
          }
          pushUtf8(out, rr);
          continue;
        }
        default: // '"', '\\', '/'
          out.push(e);
      }
      r += 2;
      continue;
    }
    if (c < 0x80) {
      out.push(c);
      r++;
      continue;
    }
    const n = validUtf8SequenceLength(s, r);
    if (n === 0) {
      out.push(0xef, 0xbf, 0xbd);
      r++;
    } else {
      for (let k = 0; k < n; k++) out.push(s[r + k]!);
      r += n;
    }
  }
  return Uint8Array.from(out);
}

function getU4(s: Uint8Array, r: number): number {
  if (r + 6 > s.length || s[r] !== 0x5c || s[r + 1] !== 0x75) return -1;
  let v = 0;
  for (let k = r + 2; k < r + 6; k++) {
    const c = s[k]!;
    if (!isHex(c)) return -1;
    v = v * 16 + parseInt(String.fromCharCode(c), 16);
  }
  return v;
}

function pushUtf8(out: number[], cp: number): void {
  if (cp < 0x80) out.push(cp);
  else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
  else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
  else out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
}

/** Length of the valid UTF-8 sequence at s[i] (Go's utf8.DecodeRune rules), 0 if invalid. */
export function validUtf8SequenceLength(s: Uint8Array, i: number): number {
  const b0 = s[i]!;
  const cont = (k: number, lo = 0x80, hi = 0xbf): boolean => {
    const b = s[i + k];
    return b !== undefined && b >= lo && b <= hi;
  };
  if (b0 < 0x80) return 1;
  if (b0 >= 0xc2 && b0 <= 0xdf) return cont(1) ? 2 : 0;
  if (b0 === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if ((b0 >= 0xe1 && b0 <= 0xec) || b0 === 0xee || b0 === 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (b0 === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (b0 === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (b0 >= 0xf1 && b0 <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (b0 === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}
